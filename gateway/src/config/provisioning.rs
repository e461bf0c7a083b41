//! `[provisioning]`: how the files phones fetch are rendered, and the safe defaults shared by the TFTP
//! and HTTP provisioning servers.
//!
//! ```toml
//! [provisioning]
//! templates = "templates"         # templates replacing built-in ones of the same name
//! allow = ["10.0.0.0/8"]          # sources that may fetch anything; empty: every source
//! unknown_burst = 20              # misses (unknown files) a source may make at once
//! unknown_per_minute = 30         # misses regained per minute
//! time_zone = "W. Europe Standard/Daylight Time"   # Cisco SCCP and 79x1 SIP time zone name
//! cisco_sip_time_zone = "CET"     # 7940/7960 SIP firmware time zone
//! ntp = "192.0.2.1"               # NTP server (Cisco, Polycom, Yealink)
//! voice_vlan = 20                 # voice VLAN tagged by UNIStim, Polycom and Yealink phones
//! unistim_secondary = "192.0.2.11:5000"   # UNIStim S2 server
//! unistim_retry = 10              # UNIStim retries per server
//! cisco_sip_image = "P0S3-8-12-00"        # 7940/7960 SIP image (OS79XX.TXT)
//! polycom_app_file = "sip.ld"     # Polycom APP_FILE_PATH
//! [provisioning.allow_by_domain]
//! "acme.example.com" = ["10.1.0.0/16"]   # that domain's device files only from these sources
//! [provisioning.loads]
//! "cisco-7960" = "P0030801SR02"   # Cisco loadInformation / image_version per model
//! [provisioning.unistim_firmware]
//! "1140E" = "0625C8A:1140e_0625C8A.bin"  # VERSION:FILE of a UNIStim type's [FW]
//! ```

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use provisioning::Family;
use provisioning::guard::{Cidr, Policy};
use provisioning::render::{Endpoint, Firmware, Settings};

use super::reader::Section;

/// The validated `[provisioning]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisioningConfig {
    /// A directory of templates replacing built-in ones of the same name (absolute); `None` for the
    /// built-in set only.
    pub templates: Option<PathBuf>,
    /// Sources allowed to fetch anything; empty allows every source.
    pub allow: Vec<Cidr>,
    /// Per tenant domain (lower-case): the sources allowed to fetch that domain's device files.
    pub allow_by_domain: Vec<(String, Vec<Cidr>)>,
    /// Misses a source may make at once.
    pub unknown_burst: u32,
    /// Misses a source regains per minute.
    pub unknown_per_minute: u32,
    /// Site settings the rendered files carry: time zones, NTP, voice VLAN, UNIStim S2 and retries,
    /// firmware loads and images.
    pub site: Settings,
}

impl Default for ProvisioningConfig {
    fn default() -> Self {
        let policy = Policy::default();
        Self {
            templates: None,
            allow: policy.allow,
            allow_by_domain: policy.allow_by_domain,
            unknown_burst: policy.unknown_burst,
            unknown_per_minute: policy.unknown_per_minute,
            site: Settings::default(),
        }
    }
}

impl ProvisioningConfig {
    /// The servers' policy.
    pub fn policy(&self) -> Policy {
        Policy {
            allow: self.allow.clone(),
            allow_by_domain: self.allow_by_domain.clone(),
            unknown_burst: self.unknown_burst,
            unknown_per_minute: self.unknown_per_minute,
        }
    }
}

fn domain_name(name: &str) -> Result<String, String> {
    let lower = name.to_ascii_lowercase();
    let ok = !lower.is_empty()
        && lower.len() <= 253
        && lower.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if ok {
        Ok(lower)
    } else {
        Err(format!("{name:?} is not a domain name"))
    }
}

/// A value put into phones' files as it is (a file or load name, an NTP server): 1 to 128 printable
/// characters without spaces, quotes or the separators of the file formats.
fn token(text: &str) -> Result<String, String> {
    if text.is_empty() || text.len() > 128 {
        return Err("expected 1 to 128 characters".to_owned());
    }
    match text
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '"' | '\'' | '<' | '>' | '&' | ';' | '\\'))
    {
        Some(c) => Err(format!("{c:?} is not allowed here")),
        None => Ok(text.to_owned()),
    }
}

/// A time zone name: as [`token`], but spaces are allowed (Cisco's names have them).
fn time_zone(text: &str) -> Result<String, String> {
    token(&text.replace(' ', "_")).map(|_| text.to_owned())
}

/// An NTP server: an IP address or a host name.
fn ntp_server(text: &str) -> Result<String, String> {
    if text.parse::<IpAddr>().is_ok() {
        return Ok(text.to_owned());
    }
    domain_name(text).map_err(|_| "expected an IP address or a host name".to_owned())
}

/// The UNIStim S2 server: an IP address with an optional port (5000 when omitted); phones take no names.
fn unistim_server(text: &str) -> Result<Endpoint, String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(Endpoint {
            host: ip.to_string(),
            port: 5000,
        });
    }
    match text.parse::<SocketAddr>() {
        Ok(addr) if addr.port() != 0 => Ok(Endpoint {
            host: addr.ip().to_string(),
            port: addr.port(),
        }),
        Ok(_) => Err("port 0 is not a port phones can use".to_owned()),
        Err(_) => Err("expected IP or IP:PORT (UNIStim phones take no host names)".to_owned()),
    }
}

/// A model name of the model table whose files carry a Cisco load.
fn cisco_model(name: &str) -> Result<String, String> {
    let cisco: Vec<&str> = provisioning::MODELS
        .iter()
        .filter(|m| {
            matches!(
                m.family,
                Family::CiscoSccp { .. } | Family::CiscoSip | Family::CiscoSip79xx
            )
        })
        .map(|m| m.name)
        .collect();
    let lower = name.to_ascii_lowercase();
    if cisco.contains(&lower.as_str()) {
        Ok(lower)
    } else {
        Err(format!(
            "{name:?} is not a Cisco model (known: {})",
            cisco.join(", ")
        ))
    }
}

/// A UNIStim type name (`1140E`), as its `<TYPE>.PRV` spells it.
fn unistim_type(name: &str) -> Result<String, String> {
    let mut types: Vec<&str> = provisioning::MODELS
        .iter()
        .filter_map(|m| match m.family {
            Family::Unistim { type_name } => Some(type_name),
            _ => None,
        })
        .collect();
    types.sort_unstable();
    types.dedup();
    types
        .iter()
        .find(|t| t.eq_ignore_ascii_case(name))
        .map(|t| (*t).to_owned())
        .ok_or_else(|| {
            format!(
                "{name:?} is not a UNIStim type (known: {})",
                types.join(", ")
            )
        })
}

/// `VERSION:FILE` of a UNIStim firmware image.
fn firmware(text: &str) -> Result<Firmware, String> {
    let Some((version, filename)) = text.split_once(':') else {
        return Err("expected VERSION:FILE, such as \"0625C8A:1140e_0625C8A.bin\"".to_owned());
    };
    Ok(Firmware {
        version: token(version).map_err(|e| format!("version: {e}"))?,
        filename: token(filename).map_err(|e| format!("file: {e}"))?,
    })
}

fn read_site(s: &mut Section<'_, '_>) -> Settings {
    let mut site = Settings::default();
    if let Some(tz) = s.parsed("time_zone", time_zone) {
        site.time_zone = tz;
    }
    if let Some(tz) = s.parsed("cisco_sip_time_zone", time_zone) {
        site.cisco_sip_time_zone = tz;
    }
    site.ntp = s.parsed("ntp", ntp_server);
    site.voice_vlan = s
        .integer("voice_vlan", 1..=4094)
        .and_then(|n| u16::try_from(n).ok());
    site.unistim_secondary = s.parsed("unistim_secondary", unistim_server);
    if let Some(retry) = s
        .integer("unistim_retry", 1..=255)
        .and_then(|n| u8::try_from(n).ok())
    {
        site.unistim_retry = retry;
    }
    site.cisco_sip_image = s.parsed("cisco_sip_image", token);
    if let Some(file) = s.parsed("polycom_app_file", token) {
        site.polycom_app_file = file;
    }
    if let Some(loads) = s.table_of_strings("loads", cisco_model, token) {
        site.loads = loads.into_iter().collect::<BTreeMap<_, _>>();
    }
    if let Some(images) = s.table_of_strings("unistim_firmware", unistim_type, firmware) {
        site.unistim_firmware = images.into_iter().collect::<BTreeMap<_, _>>();
    }
    site
}

pub(super) fn read(mut s: Section<'_, '_>, base: &Path) -> ProvisioningConfig {
    let default = ProvisioningConfig::default();
    let config = ProvisioningConfig {
        templates: s.parsed("templates", |dir| {
            if dir.is_empty() {
                Err("expected a directory".to_owned())
            } else {
                Ok(base.join(dir))
            }
        }),
        allow: s
            .parsed_list("allow", str::parse::<Cidr>)
            .unwrap_or(default.allow),
        allow_by_domain: s
            .table_of_lists("allow_by_domain", domain_name, str::parse::<Cidr>)
            .unwrap_or(default.allow_by_domain),
        unknown_burst: s
            .integer("unknown_burst", 1..=100_000)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(default.unknown_burst),
        unknown_per_minute: s
            .integer("unknown_per_minute", 1..=1_000_000)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(default.unknown_per_minute),
        site: read_site(&mut s),
    };
    s.finish();
    config
}
