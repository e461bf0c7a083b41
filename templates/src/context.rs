//! The typed contexts, one per template. Each names its template through [`Context::TEMPLATE`].
//!
//! Contexts hold what a phone is told, already decided: addresses as text, labels as shown. Optional
//! values are `Option`s, which templates leave out when `None` rather than writing an empty element.

use serde::Serialize;

/// A context type and the template it renders.
pub trait Context: Serialize {
    /// The name of the template (an entry of [`crate::BUILTINS`]).
    const TEMPLATE: &'static str;
}

/// A server address as phones are given it: a host name or IP address, and a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Endpoint {
    /// Host name or IP address literal (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

/// Clock settings shared by the Cisco formats.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct DateTime {
    /// Cisco `dateTemplate`, such as `D/M/YA` or `M/D/YA`.
    pub date_template: String,
    /// Cisco time zone name, such as `GMT Standard/Daylight Time`.
    pub time_zone: String,
    /// NTP server, if any.
    pub ntp: Option<String>,
}

/// Cisco locale settings: user locale directory and language, network locale (tones).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Locale {
    /// `userLocale/name`, such as `English_United_States`.
    pub user_locale: String,
    /// `userLocale/langCode`, such as `en_US`.
    pub lang_code: String,
    /// `networkLocale`, such as `United_States`.
    pub network_locale: String,
}

/// `SEP<MAC>.cnf.xml` for Cisco SCCP firmware (7940/7960 P00308 loads, 79x1/79x2/79x5/797x, 69xx, 89xx).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct CiscoSccpDevice {
    /// `SEP` + 12 upper-case hex digits.
    pub device_name: String,
    /// The model name (for the header comment).
    pub model: String,
    /// The SCCP call managers, in priority order: Crossbar's SCCP listener first.
    pub call_managers: Vec<Endpoint>,
    /// Clock.
    pub date_time: DateTime,
    /// Locale.
    pub locale: Locale,
    /// Firmware load to run (`loadInformation`, no extension); `None` keeps the phone's own.
    pub load_information: Option<String>,
    /// Where the phone fetches its directory (`directoryURL`), if any.
    pub directory_url: Option<String>,
    /// Where the phone fetches XML services (`servicesURL`), if any.
    pub services_url: Option<String>,
    /// `versionStamp`: changes whenever the rendered settings do, so the phone notices.
    pub version_stamp: String,
}

impl Context for CiscoSccpDevice {
    const TEMPLATE: &'static str = "cisco-sccp/SEP.cnf.xml.j2";
}

/// One `loadInformation<deviceType>` row of `XMLDefault.cnf.xml`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct LoadRow {
    /// The SCCP device type number (the `DeviceType` of `RegisterReq`), such as 7 for the 7960.
    pub device_type: u32,
    /// The model as Cisco names it, such as `Cisco 7960`.
    pub model: String,
    /// The load name.
    pub load: String,
}

/// `XMLDefault.cnf.xml`: what a Cisco SCCP phone without its own file is told.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct CiscoXmlDefault {
    /// The SCCP call managers, in priority order.
    pub call_managers: Vec<Endpoint>,
    /// Loads per device type.
    pub loads: Vec<LoadRow>,
}

impl Context for CiscoXmlDefault {
    const TEMPLATE: &'static str = "cisco-sccp/XMLDefault.cnf.xml.j2";
}

/// A SIP line as a SIP-firmware phone is given it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct SipLine {
    /// Button / account number, 1-based.
    pub button: u16,
    /// The extension (SIP user part).
    pub extension: String,
    /// The digest user name.
    pub auth_name: String,
    /// The digest password, when one is known; `None` leaves it out. Crossbar's store keeps only HA1
    /// (docs/ARCHITECTURE.md), so the renderer sets it only from an operator-supplied secret.
    pub password: Option<String>,
    /// Name shown for the line.
    pub display_name: String,
    /// Short label beside the button.
    pub label: String,
    /// The SIP domain (realm).
    pub domain: String,
    /// The voicemail box to dial for messages, if any.
    pub voicemail: Option<String>,
}

/// `SEP<MAC>.cnf.xml` for Cisco SIP firmware on 79x1/79x2/79x5/797x/89xx (`sipProfile`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct CiscoSipDevice {
    /// `SEP` + 12 upper-case hex digits.
    pub device_name: String,
    /// The model name.
    pub model: String,
    /// Crossbar's SIP server (registrar and proxy).
    pub sip_server: Endpoint,
    /// Clock.
    pub date_time: DateTime,
    /// Locale.
    pub locale: Locale,
    /// Firmware load, if set.
    pub load_information: Option<String>,
    /// Label at the top of the screen.
    pub phone_label: String,
    /// The lines.
    pub lines: Vec<SipLine>,
    /// See [`CiscoSccpDevice::version_stamp`].
    pub version_stamp: String,
}

impl Context for CiscoSipDevice {
    const TEMPLATE: &'static str = "cisco-sip/SEP.cnf.xml.j2";
}

/// `SIP<MAC>.cnf` for Cisco 7940/7960 SIP firmware (P0S3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Cisco79xxSipDevice {
    /// The model name.
    pub model: String,
    /// Label at the top of the screen.
    pub phone_label: String,
    /// The lines (the 7940 has 2, the 7960 6).
    pub lines: Vec<SipLine>,
    /// Crossbar's SIP server (`proxy1_address`, repeated per line so a per-MAC file stands alone).
    pub sip_server: Endpoint,
}

impl Context for Cisco79xxSipDevice {
    const TEMPLATE: &'static str = "cisco-sip/SIP.cnf.j2";
}

/// `SIPDefault.cnf` for Cisco 7940/7960 SIP firmware.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Cisco79xxSipDefault {
    /// Firmware image (`image_version`), if set.
    pub image_version: Option<String>,
    /// Crossbar's SIP server.
    pub sip_server: Endpoint,
    /// NTP server, if any.
    pub ntp: Option<String>,
    /// Time zone abbreviation for the P0S3 firmware, such as `GMT`.
    pub time_zone: String,
}

impl Context for Cisco79xxSipDefault {
    const TEMPLATE: &'static str = "cisco-sip/SIPDefault.cnf.j2";
}

/// `OS79XX.TXT`: one line, the SIP image a 7940/7960 loader boots.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Cisco79xxOs {
    /// The image name, such as `P0S3-8-12-00`.
    pub image: String,
}

impl Context for Cisco79xxOs {
    const TEMPLATE: &'static str = "cisco-sip/OS79XX.TXT.j2";
}

/// The UNIStim connect-server settings of a provisioning info block.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct UnistimServer {
    /// IP address (`s1ip` / `s2ip`).
    pub ip: String,
    /// UDP port (`p1` / `p2`).
    pub port: u16,
    /// Action code (`a1` / `a2`); 1 is the UNIStim Hello.
    pub action: u8,
    /// Retries before trying the next server (`r1` / `r2`).
    pub retry: u8,
}

/// Voice VLAN and priority settings of an info block.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Vlan {
    /// Voice VLAN id when tagging is wanted (`vq=y` with `vcp`/`vmp`; the id goes out by DHCP or LLDP).
    pub voice_vlan: Option<u16>,
    /// 802.1p priority of signalling (`vcp`).
    pub control_priority: u8,
    /// 802.1p priority of media (`vmp`).
    pub media_priority: u8,
    /// LLDP-MED on (`lldp`).
    pub lldp: bool,
}

/// `SYSTEM.PRV`: the system-level UNIStim info block every phone fetches first.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct UnistimSystem {
    /// The primary server (Crossbar's UNIStim listener).
    pub s1: UnistimServer,
    /// The secondary server, if any.
    pub s2: Option<UnistimServer>,
    /// VLAN settings.
    pub vlan: Vlan,
}

impl Context for UnistimSystem {
    const TEMPLATE: &'static str = "unistim/SYSTEM.PRV.j2";
}

/// `<TYPE>.PRV`: the per-model UNIStim info block.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct UnistimType {
    /// The type name, such as `1140E`.
    pub type_name: String,
    /// The model name.
    pub model: String,
    /// The primary server.
    pub s1: UnistimServer,
    /// The secondary server, if any.
    pub s2: Option<UnistimServer>,
}

impl Context for UnistimType {
    const TEMPLATE: &'static str = "unistim/TYPE.PRV.j2";
}

/// A line as the UNIStim device file describes it, for the operator reading the file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct LineLabel {
    /// Line number.
    pub line: u16,
    /// Extension.
    pub extension: String,
    /// Shown name.
    pub label: String,
}

/// `<MAC>.PRV`: the device-level UNIStim info block.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct UnistimDevice {
    /// 12 upper-case hex digits.
    pub mac: String,
    /// The model name.
    pub model: String,
    /// The primary server.
    pub s1: UnistimServer,
    /// The secondary server, if any.
    pub s2: Option<UnistimServer>,
    /// VLAN settings.
    pub vlan: Vlan,
    /// The lines the gateway will show (information; UNIStim lines are drawn over UNIStim).
    pub lines: Vec<LineLabel>,
}

impl Context for UnistimDevice {
    const TEMPLATE: &'static str = "unistim/MAC.PRV.j2";
}

/// `<type>.cfg`: the per-model UNIStim system file (firmware section).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct UnistimFirmware {
    /// The type name, such as `1140E`.
    pub type_name: String,
    /// The model name.
    pub model: String,
    /// Firmware version to run (`[FW] VERSION`), if set; `None` writes no `[FW]` section.
    pub version: Option<String>,
    /// Firmware file name (`[FW] FILENAME`), with the version.
    pub filename: Option<String>,
    /// Where the phone fetches the firmware from (`SERVER_IP`): Crossbar's TFTP server.
    pub tftp: Endpoint,
}

impl Context for UnistimFirmware {
    const TEMPLATE: &'static str = "unistim/TYPE.cfg.j2";
}

/// `000000000000.cfg` or `<mac>.cfg`: the Polycom master file naming the files to load.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct PolycomMaster {
    /// `APP_FILE_PATH`: the application image.
    pub app_file: String,
    /// `CONFIG_FILES`, left-most wins.
    pub config_files: Vec<String>,
}

impl Context for PolycomMaster {
    const TEMPLATE: &'static str = "polycom/master.cfg.j2";
}

/// `<mac>-sip.cfg`: a Polycom phone's registrations.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct PolycomDevice {
    /// The model name.
    pub model: String,
    /// Crossbar's SIP server.
    pub sip_server: Endpoint,
    /// The lines.
    pub lines: Vec<SipLine>,
    /// NTP server, if any.
    pub ntp: Option<String>,
}

impl Context for PolycomDevice {
    const TEMPLATE: &'static str = "polycom/sip.cfg.j2";
}

/// `y0000000000XX.cfg`: the Yealink common file of one model family.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct YealinkCommon {
    /// The family id `XX`.
    pub family: String,
    /// Crossbar's HTTP provisioning URL (`auto_provision.server.url`).
    pub provisioning_url: String,
    /// NTP server, if any.
    pub ntp: Option<String>,
    /// Voice VLAN, if tagged.
    pub voice_vlan: Option<u16>,
}

impl Context for YealinkCommon {
    const TEMPLATE: &'static str = "yealink/common.cfg.j2";
}

/// `<mac>.cfg`: a Yealink phone's accounts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct YealinkDevice {
    /// The model name.
    pub model: String,
    /// Crossbar's SIP server.
    pub sip_server: Endpoint,
    /// The lines (accounts).
    pub lines: Vec<SipLine>,
}

impl Context for YealinkDevice {
    const TEMPLATE: &'static str = "yealink/mac.cfg.j2";
}
