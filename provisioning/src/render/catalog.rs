//! The rendering core, without I/O: an inventory snapshot turned into per-device template contexts,
//! and a file name turned into bytes.
//!
//! [`Catalog::new`] does all the per-device work once (users looked up, labels chosen, version stamps
//! hashed), so [`Catalog::render`] is a hash-map lookup plus one template render.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use bytes::Bytes;
use templates::context::{
    Cisco79xxOs, Cisco79xxSipDefault, Cisco79xxSipDevice, CiscoSccpDevice, CiscoSipDevice,
    CiscoXmlDefault, DateTime, Endpoint, LineLabel, LoadRow, Locale, PolycomDevice, PolycomMaster,
    SipLine, UnistimDevice, UnistimFirmware, UnistimServer, UnistimSystem, UnistimType, Vlan,
    YealinkCommon, YealinkDevice,
};
use templates::{Context, Templates};

use super::names::{Request, classify, guess_model};
use crate::models::Protocol;
use crate::secret::LineSecret;

use super::{Fetched, RenderError, RenderedFile, ServerAddresses, Settings};
use crate::inventory::{Device, Inventory, UserId};
use crate::mac::Mac;
use crate::models::{Family, MODELS, Model};

/// FNV-1a, 64 bits: a hash that stays the same across Rust releases, for ETags and version stamps.
struct Fnv(u64);

impl Fnv {
    const fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// The ETag of a body: a quoted FNV-1a hash.
pub(crate) fn etag_of(body: &[u8]) -> String {
    let mut h = Fnv::new();
    h.write(body);
    format!("\"{:016x}\"", h.finish())
}

fn stamp_of(value: &impl Hash) -> String {
    let mut h = Fnv::new();
    value.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// One device, ready to render.
#[derive(Debug, Clone)]
struct Entry {
    model: &'static Model,
    mac: Mac,
    domain: String,
    sip_lines: Vec<SipLine>,
    labels: Vec<LineLabel>,
    phone_label: String,
}

/// An inventory snapshot with everything needed to render any file of any device.
#[derive(Debug, Clone)]
pub struct Catalog {
    templates: Templates,
    servers: ServerAddresses,
    settings: Settings,
    devices: HashMap<Mac, Entry>,
}

fn entry(inventory: &Inventory, device: &Device) -> Entry {
    let mut sip_lines = Vec::new();
    let mut labels = Vec::new();
    for key in device.lines() {
        let user = inventory
            .users
            .get(&UserId::new(device.domain.clone(), key.target.clone()));
        let shown = user.map_or_else(|| key.target.clone(), crate::inventory::User::shown_name);
        let label = if key.label.is_empty() {
            shown.clone()
        } else {
            key.label.clone()
        };
        sip_lines.push(SipLine {
            button: key.line,
            extension: key.target.clone(),
            auth_name: key.target.clone(),
            password: None,
            display_name: shown,
            label: label.clone(),
            domain: device.domain.clone(),
            voicemail: user.map(|u| u.voicemail.clone()).filter(|v| !v.is_empty()),
        });
        labels.push(LineLabel {
            line: key.line,
            extension: key.target.clone(),
            label,
        });
    }
    let phone_label = sip_lines
        .first()
        .map_or_else(|| device.mac.to_string(), |l| l.display_name.clone());
    Entry {
        model: device.model,
        mac: device.mac,
        domain: device.domain.clone(),
        sip_lines,
        labels,
        phone_label,
    }
}

fn upper(mac: Mac) -> String {
    mac.to_string().to_ascii_uppercase()
}

impl Catalog {
    /// Builds the snapshot of `inventory`.
    pub fn new(
        inventory: &Inventory,
        templates: Templates,
        servers: ServerAddresses,
        settings: Settings,
    ) -> Self {
        let devices = inventory
            .devices
            .values()
            .map(|d| (d.mac, entry(inventory, d)))
            .collect();
        Self {
            templates,
            servers,
            settings,
            devices,
        }
    }

    /// Gives every line of every SIP-firmware device its SIP password, derived from `secret`
    /// ([`crate::secret`]), so the device files carry it. Without this the files carry none.
    #[must_use]
    pub fn with_line_secret(mut self, secret: &LineSecret) -> Self {
        for e in self.devices.values_mut() {
            if e.model.protocol != Protocol::Sip {
                continue;
            }
            for line in &mut e.sip_lines {
                line.password = Some(secret.line_password(&line.domain, &line.extension, e.mac));
            }
        }
        self
    }

    /// The server addresses phones are told.
    pub fn servers(&self) -> &ServerAddresses {
        &self.servers
    }

    /// How many devices the snapshot holds.
    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// The MACs of the snapshot, in no particular order.
    pub fn macs(&self) -> impl Iterator<Item = Mac> + '_ {
        self.devices.keys().copied()
    }

    /// The tenant domain of `mac`, for the provisioning servers' per-domain allow-lists.
    pub fn domain(&self, mac: &Mac) -> Option<&str> {
        self.devices.get(mac).map(|e| e.domain.as_str())
    }

    /// Whether `mac` is in the snapshot.
    pub fn contains(&self, mac: &Mac) -> bool {
        self.devices.contains_key(mac)
    }

    /// The names of the files the device fetches from Crossbar, in boot order, spelt as its family
    /// spells them; `None` for a MAC not in the inventory. Fallbacks a known phone never needs
    /// (`XMLDefault.cnf.xml`, Polycom's `000000000000.cfg`) are not listed; [`Catalog::shared_files`] has them.
    pub fn device_files(&self, mac: &Mac) -> Option<Vec<String>> {
        let entry = self.devices.get(mac)?;
        let (up, low) = (upper(*mac), mac.to_string());
        let names = match entry.model.family {
            Family::CiscoSccp { .. } | Family::CiscoSip => vec![format!("SEP{up}.cnf.xml")],
            Family::CiscoSip79xx => {
                let mut v = Vec::new();
                if self.settings.cisco_sip_image.is_some() {
                    v.push("OS79XX.TXT".to_owned());
                }
                v.push("SIPDefault.cnf".to_owned());
                v.push(format!("SIP{up}.cnf"));
                v
            }
            Family::Unistim { type_name } => vec![
                "SYSTEM.PRV".to_owned(),
                format!("{type_name}.PRV"),
                format!("{up}.PRV"),
                format!("{}.cfg", type_name.to_ascii_lowercase()),
            ],
            Family::Polycom => vec![format!("{low}.cfg"), format!("{low}-sip.cfg")],
            Family::Yealink { family } => {
                vec![format!("y0000000000{family}.cfg"), format!("{low}.cfg")]
            }
        };
        Some(names)
    }

    /// Every file that renders without a device, for the model table as it is: `XMLDefault.cnf.xml`,
    /// `SIPDefault.cnf`, `OS79XX.TXT` (with a SIP image set), `SYSTEM.PRV`, each UNIStim type's `.PRV` and
    /// `.cfg`, `000000000000.cfg` and each Yealink family's common file.
    pub fn shared_files(&self) -> Vec<String> {
        let mut names = vec!["XMLDefault.cnf.xml".to_owned(), "SIPDefault.cnf".to_owned()];
        if self.settings.cisco_sip_image.is_some() {
            names.push("OS79XX.TXT".to_owned());
        }
        names.push("SYSTEM.PRV".to_owned());
        for model in MODELS {
            if let Family::Unistim { type_name } = model.family {
                names.push(format!("{type_name}.PRV"));
                names.push(format!("{}.cfg", type_name.to_ascii_lowercase()));
            }
        }
        names.push("000000000000.cfg".to_owned());
        for model in MODELS {
            if let Family::Yealink { family } = model.family {
                names.push(format!("y0000000000{family}.cfg"));
            }
        }
        names.dedup();
        names
    }

    /// Renders the file `name` asks for, if it is one Crossbar renders and, for a device file, the
    /// device is in the inventory with a model that fetches that file.
    ///
    /// # Errors
    /// [`RenderError::Template`] when a template fails (only with operator overrides).
    pub fn render(&self, name: &str, user_agent: Option<&str>) -> Result<Fetched, RenderError> {
        let Some(request) = classify(name) else {
            return Ok(Fetched::NotFound);
        };
        if let Some(mac) = request.mac() {
            let Some(entry) = self.devices.get(&mac) else {
                return Ok(Fetched::UnknownDevice {
                    mac,
                    model_guess: guess_model(request, user_agent),
                });
            };
            return self.render_device(request, entry);
        }
        self.render_shared(request)
    }

    fn file<C: Context>(
        &self,
        ctx: &C,
        carries_credentials: bool,
        mac: Option<Mac>,
    ) -> Result<Fetched, RenderError> {
        let body = self.templates.render(ctx)?;
        let body = Bytes::from(body.into_bytes());
        Ok(Fetched::File(RenderedFile {
            etag: etag_of(&body),
            body,
            content_type: Templates::format_of::<C>().content_type(),
            carries_credentials,
            mac,
        }))
    }

    fn date_time(&self) -> DateTime {
        DateTime {
            date_template: self.settings.date_template.clone(),
            time_zone: self.settings.time_zone.clone(),
            ntp: self.settings.ntp.clone(),
        }
    }

    fn locale(&self, legacy: bool) -> Locale {
        if legacy {
            Locale {
                user_locale: self.settings.legacy_user_locale.clone(),
                lang_code: self.settings.lang_code.clone(),
                network_locale: self.settings.legacy_network_locale.clone(),
            }
        } else {
            Locale {
                user_locale: self.settings.user_locale.clone(),
                lang_code: self.settings.lang_code.clone(),
                network_locale: self.settings.network_locale.clone(),
            }
        }
    }

    fn call_managers(&self) -> Vec<Endpoint> {
        vec![self.servers.sccp.clone()]
    }

    fn unistim_s1(&self) -> UnistimServer {
        UnistimServer {
            ip: self.servers.unistim.host.clone(),
            port: self.servers.unistim.port,
            action: 1,
            retry: self.settings.unistim_retry,
        }
    }

    fn unistim_s2(&self) -> Option<UnistimServer> {
        self.settings
            .unistim_secondary
            .as_ref()
            .map(|e| UnistimServer {
                ip: e.host.clone(),
                port: e.port,
                action: 1,
                retry: self.settings.unistim_retry,
            })
    }

    fn vlan(&self) -> Vlan {
        Vlan {
            voice_vlan: self.settings.voice_vlan,
            control_priority: 3,
            media_priority: 5,
            lldp: true,
        }
    }

    fn load(&self, model: &Model) -> Option<String> {
        self.settings.loads.get(model.name).cloned()
    }

    fn render_device(&self, request: Request, e: &Entry) -> Result<Fetched, RenderError> {
        let mac = Some(e.mac);
        let model = e.model.name.to_owned();
        match (request, e.model.family) {
            (Request::CiscoDevice(_), Family::CiscoSccp { legacy_locale, .. }) => {
                let mut ctx = CiscoSccpDevice {
                    device_name: e.mac.device_name(),
                    model,
                    call_managers: self.call_managers(),
                    date_time: self.date_time(),
                    locale: self.locale(legacy_locale),
                    load_information: self.load(e.model),
                    directory_url: None,
                    services_url: None,
                    version_stamp: String::new(),
                };
                ctx.version_stamp = stamp_of(&ctx);
                self.file(&ctx, false, mac)
            }
            (Request::CiscoDevice(_), Family::CiscoSip) => {
                let mut ctx = CiscoSipDevice {
                    device_name: e.mac.device_name(),
                    model,
                    sip_server: self.servers.sip.clone(),
                    date_time: self.date_time(),
                    locale: self.locale(false),
                    load_information: self.load(e.model),
                    phone_label: e.phone_label.clone(),
                    lines: e.sip_lines.clone(),
                    version_stamp: String::new(),
                };
                ctx.version_stamp = stamp_of(&ctx);
                self.file(&ctx, true, mac)
            }
            (Request::Cisco79xxSip(_), Family::CiscoSip79xx) => {
                let ctx = Cisco79xxSipDevice {
                    model,
                    phone_label: e.phone_label.clone(),
                    lines: e.sip_lines.clone(),
                    sip_server: self.servers.sip.clone(),
                };
                self.file(&ctx, true, mac)
            }
            (Request::UnistimDevice(_), Family::Unistim { .. }) => {
                let ctx = UnistimDevice {
                    mac: upper(e.mac),
                    model,
                    s1: self.unistim_s1(),
                    s2: self.unistim_s2(),
                    vlan: self.vlan(),
                    lines: e.labels.clone(),
                };
                self.file(&ctx, false, mac)
            }
            (Request::MacCfg(_), Family::Polycom) => {
                let ctx = PolycomMaster {
                    app_file: self.settings.polycom_app_file.clone(),
                    config_files: vec![format!("{}-sip.cfg", e.mac)],
                };
                self.file(&ctx, false, mac)
            }
            (Request::PolycomSip(_), Family::Polycom) => {
                let ctx = PolycomDevice {
                    model,
                    sip_server: self.servers.sip.clone(),
                    lines: e.sip_lines.clone(),
                    ntp: self.settings.ntp.clone(),
                };
                self.file(&ctx, true, mac)
            }
            (Request::MacCfg(_), Family::Yealink { .. }) => {
                let ctx = YealinkDevice {
                    model,
                    sip_server: self.servers.sip.clone(),
                    lines: e.sip_lines.clone(),
                };
                self.file(&ctx, true, mac)
            }
            _ => Ok(Fetched::NotFound),
        }
    }

    fn render_shared(&self, request: Request) -> Result<Fetched, RenderError> {
        let type_model = |type_name: &str| {
            MODELS
                .iter()
                .find(|m| matches!(m.family, Family::Unistim { type_name: t } if t == type_name))
        };
        match request {
            Request::XmlDefault => {
                let mut loads: BTreeMap<u32, LoadRow> = BTreeMap::new();
                for model in MODELS {
                    if let (Family::CiscoSccp { device_type, .. }, Some(load)) =
                        (model.family, self.load(model))
                    {
                        let number = model.name.trim_start_matches("cisco-");
                        loads.insert(
                            device_type,
                            LoadRow {
                                device_type,
                                model: format!("Cisco {number}"),
                                load,
                            },
                        );
                    }
                }
                let ctx = CiscoXmlDefault {
                    call_managers: self.call_managers(),
                    loads: loads.into_values().collect(),
                };
                self.file(&ctx, false, None)
            }
            Request::SipDefault => {
                let ctx = Cisco79xxSipDefault {
                    image_version: self.settings.cisco_sip_image.clone(),
                    sip_server: self.servers.sip.clone(),
                    ntp: self.settings.ntp.clone(),
                    time_zone: self.settings.cisco_sip_time_zone.clone(),
                };
                self.file(&ctx, false, None)
            }
            Request::Os79xx => match &self.settings.cisco_sip_image {
                Some(image) => self.file(
                    &Cisco79xxOs {
                        image: image.clone(),
                    },
                    false,
                    None,
                ),
                None => Ok(Fetched::NotFound),
            },
            Request::UnistimSystem => {
                let ctx = UnistimSystem {
                    s1: self.unistim_s1(),
                    s2: self.unistim_s2(),
                    vlan: self.vlan(),
                };
                self.file(&ctx, false, None)
            }
            Request::UnistimType(type_name) => {
                let ctx = UnistimType {
                    type_name: type_name.to_owned(),
                    model: type_model(type_name).map_or_else(String::new, |m| m.name.to_owned()),
                    s1: self.unistim_s1(),
                    s2: self.unistim_s2(),
                };
                self.file(&ctx, false, None)
            }
            Request::UnistimFirmware(type_name) => {
                let firmware = self.settings.unistim_firmware.get(type_name);
                let ctx = UnistimFirmware {
                    type_name: type_name.to_owned(),
                    model: type_model(type_name).map_or_else(String::new, |m| m.name.to_owned()),
                    version: firmware.map(|f| f.version.clone()),
                    filename: firmware.map(|f| f.filename.clone()),
                    tftp: self.servers.tftp.clone(),
                };
                self.file(&ctx, false, None)
            }
            Request::PolycomDefault => {
                let ctx = PolycomMaster {
                    app_file: self.settings.polycom_app_file.clone(),
                    config_files: vec!["[PHONE_MAC_ADDRESS]-sip.cfg".to_owned()],
                };
                self.file(&ctx, false, None)
            }
            Request::YealinkCommon(family) => {
                let ctx = YealinkCommon {
                    family: family.to_owned(),
                    provisioning_url: format!(
                        "http://{}/provision/",
                        host_port(&self.servers.http)
                    ),
                    ntp: self.settings.ntp.clone(),
                    voice_vlan: self.settings.voice_vlan,
                };
                self.file(&ctx, false, None)
            }
            _ => Ok(Fetched::NotFound),
        }
    }
}

/// `host:port`, with an IPv6 literal in brackets.
fn host_port(e: &Endpoint) -> String {
    if e.host.contains(':') {
        format!("[{}]:{}", e.host, e.port)
    } else {
        format!("{}:{}", e.host, e.port)
    }
}
