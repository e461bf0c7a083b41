//! Which phones to simulate: from an inventory CSV (the import format of ARCHITECTURE.md) or generated
//! from a MAC base, with each model's device type and protocol version (`docs/protocols/sccp.md` §4).

use std::collections::BTreeMap;
use std::io::Read;

use codecs::sccp::DeviceType;

/// What a model sends when it registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelInfo {
    /// The model name of the CSV (`cisco-7960`).
    pub name: &'static str,
    /// The RegisterReq deviceType.
    pub device_type: DeviceType,
    /// The protocol version the model offers (the captures' and issue logs' value, sccp.md §4).
    pub version: u8,
    /// The firmware load name put in RegisterReq.
    pub firmware: &'static str,
    /// Whether the phone keeps header version 0 after negotiating (the 7960 on protocol 11, sccp.md §2.3).
    pub header_zero: bool,
    /// Speed-dial keys asked for when the button template has none to say.
    pub line_keys: u8,
}

const fn m(
    name: &'static str,
    device_type: u32,
    version: u8,
    firmware: &'static str,
    header_zero: bool,
    line_keys: u8,
) -> ModelInfo {
    ModelInfo {
        name,
        device_type: DeviceType(device_type),
        version,
        firmware,
        header_zero,
        line_keys,
    }
}

/// The SCCP models of the project's model table. Versions: 7940/7960 11 (issue log, sccp-rs manifest),
/// 7961/7962/7965 22 (captures, manifest), 7970 20 (CUCM capture); 7941/7942/7945/7975/8945 run the same
/// 9.x SCCP loads as the 7961/7962/7965 and are given 22; the 6921 is given 20 like the 6911 (issue #335).
pub static MODELS: &[ModelInfo] = &[
    m("cisco-7940", 8, 11, "P0030801SR02", true, 2),
    m("cisco-7960", 7, 11, "P0030801SR02", true, 6),
    m("cisco-7941", 115, 22, "SCCP41.9-4-2SR3-1S", false, 2),
    m("cisco-7961", 30018, 22, "SCCP41.9-4-2SR3-1S", false, 6),
    m("cisco-7942", 434, 22, "SCCP42.9-4-2SR3-1S", false, 2),
    m("cisco-7962", 404, 22, "SCCP42.9-4-2SR3-1S", false, 6),
    m("cisco-7945", 435, 22, "SCCP45.9-4-2SR3-1S", false, 2),
    m("cisco-7965", 436, 22, "SCCP45.9-4-2SR3-1S", false, 6),
    m("cisco-7970", 30006, 20, "SCCP70.9-2-3S", false, 8),
    m("cisco-7975", 437, 22, "SCCP75.9-4-2SR3-1S", false, 8),
    m("cisco-6921", 495, 20, "SCCP69xx.9-3-1-SR1-3", false, 2),
    m("cisco-8945", 585, 22, "SCCP894x.9-4-2SR3-1S", false, 4),
];

impl ModelInfo {
    /// Looks a model up by its CSV name (`cisco-7960`) or bare number (`7960`), ignoring case.
    pub fn find(name: &str) -> Option<&'static Self> {
        let name = name.trim();
        MODELS.iter().find(|m| {
            m.name.eq_ignore_ascii_case(name) || m.name.strip_prefix("cisco-") == Some(name)
        })
    }
}

/// One simulated phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneSpec {
    /// The MAC address.
    pub mac: [u8; 6],
    /// The model.
    pub model: &'static ModelInfo,
    /// The protocol version offered in RegisterReq.
    pub version: u8,
    /// The extensions of lines 1, 2 ... (what the phone dials from; informational for the phone).
    pub lines: Vec<String>,
}

impl PhoneSpec {
    /// A phone of this model with its default protocol version.
    pub fn new(mac: [u8; 6], model: &'static ModelInfo, lines: Vec<String>) -> Self {
        Self {
            mac,
            model,
            version: model.version,
            lines,
        }
    }

    /// `SEP` and the MAC in upper-case hex.
    pub fn device_name(&self) -> String {
        let mut name = String::from("SEP");
        for b in self.mac {
            name.push_str(&format!("{b:02X}"));
        }
        name
    }

    /// The first line's extension, if any.
    pub fn extension(&self) -> Option<&str> {
        self.lines.first().map(String::as_str)
    }
}

/// Why a fleet could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// The CSV is not readable.
    #[error("CSV: {0}")]
    Csv(#[from] csv::Error),
    /// A required column is missing.
    #[error("CSV has no `{0}` column")]
    MissingColumn(&'static str),
    /// A MAC that is not 12 hex digits (separators allowed).
    #[error("line {line}: bad MAC {mac:?}")]
    BadMac {
        /// The CSV line.
        line: u64,
        /// The text.
        mac: String,
    },
    /// A model that is not an SCCP model.
    #[error("line {line}: {model:?} is not an SCCP model phonesim knows")]
    UnknownModel {
        /// The CSV line.
        line: u64,
        /// The text.
        model: String,
    },
}

/// Parses a MAC in any of the import formats (`00:04:f2:ab:cd:ef`, `0004.f2ab.cdef`, `0004F2ABCDEF`).
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let hex: String = text
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect();
    if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let mut mac = [0u8; 6];
    for (i, byte) in mac.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(mac)
}

/// The SCCP phones of an inventory CSV: rows with a `mac` of an SCCP model, grouped by MAC, lines in
/// `line` order (rows without `line` take the next one). Rows without a MAC (SIP users) and rows of
/// other protocols' models are skipped.
///
/// # Errors
///
/// [`FleetError`] for an unreadable CSV, a missing `mac`/`model`/`extension` column, or a bad MAC.
pub fn from_csv(input: impl Read) -> Result<Vec<PhoneSpec>, FleetError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(input);
    let headers = reader.headers()?.clone();
    let column = |name: &'static str| {
        headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .ok_or(FleetError::MissingColumn(name))
    };
    let (mac_col, model_col, ext_col) = (column("mac")?, column("model")?, column("extension")?);
    let line_col = column("line").ok();
    // MAC -> (order of first row, model, (line, extension) pairs)
    type Rows = (usize, &'static ModelInfo, Vec<(u32, String)>);
    let mut phones: BTreeMap<[u8; 6], Rows> = BTreeMap::new();
    for (index, record) in reader.records().enumerate() {
        let record = record?;
        let line_no = record.position().map_or(index as u64 + 2, |p| p.line());
        let mac_text = record.get(mac_col).unwrap_or_default();
        if mac_text.is_empty() {
            continue;
        }
        let mac = parse_mac(mac_text).ok_or_else(|| FleetError::BadMac {
            line: line_no,
            mac: mac_text.to_owned(),
        })?;
        let model_text = record.get(model_col).unwrap_or_default();
        let Some(model) = ModelInfo::find(model_text) else {
            if model_text.starts_with("cisco-") {
                return Err(FleetError::UnknownModel {
                    line: line_no,
                    model: model_text.to_owned(),
                });
            }
            continue; // a UNIStim or SIP phone
        };
        let extension = record.get(ext_col).unwrap_or_default().to_owned();
        let order = phones.len();
        let entry = phones.entry(mac).or_insert((order, model, Vec::new()));
        let line = line_col
            .and_then(|c| record.get(c))
            .and_then(|l| l.parse().ok())
            .unwrap_or_else(|| entry.2.iter().map(|(l, _)| *l).max().unwrap_or(0) + 1);
        entry.2.push((line, extension));
    }
    let mut out: Vec<_> = phones.into_iter().collect();
    out.sort_by_key(|(_, (order, ..))| *order);
    Ok(out
        .into_iter()
        .map(|(mac, (_, model, mut lines))| {
            lines.sort_by_key(|(l, _)| *l);
            PhoneSpec::new(mac, model, lines.into_iter().map(|(_, e)| e).collect())
        })
        .collect())
}

/// `count` phones of `model` with consecutive MACs from `mac_base`, one line each, extensions from
/// `ext_base` up.
pub fn generate(
    count: usize,
    mac_base: [u8; 6],
    model: &'static ModelInfo,
    ext_base: u64,
) -> Vec<PhoneSpec> {
    let base = mac_base
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    (0..count as u64)
        .map(|i| {
            let n = base.wrapping_add(i) & 0xffff_ffff_ffff;
            let bytes = n.to_be_bytes();
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&bytes[2..]);
            PhoneSpec::new(mac, model, vec![(ext_base + i).to_string()])
        })
        .collect()
}

/// The import CSV of a generated fleet (for `crossbar import` before a load run).
pub fn to_csv(phones: &[PhoneSpec]) -> String {
    let mut out = String::from("extension,mac,model,line\n");
    for p in phones {
        let mac: String = p.mac.iter().map(|b| format!("{b:02x}")).collect();
        for (i, ext) in p.lines.iter().enumerate() {
            out.push_str(&format!("{ext},{mac},{},{}\n", p.model.name, i + 1));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_group_into_phones_and_skip_sip_users() {
        let csv = "extension,first_name,mac,model,line\n\
                   2001,Ann,00:04:f2:00:00:01,cisco-7960,1\n\
                   2002,Bob,,,\n\
                   2003,Cy,0004.F200.0001,cisco-7960,2\n\
                   2004,Di,0004f2000002,cisco-7970,\n\
                   2005,Ed,0004f2000003,nortel-i2004,\n";
        let phones = from_csv(csv.as_bytes()).unwrap();
        assert_eq!(phones.len(), 2);
        assert_eq!(phones[0].device_name(), "SEP0004F2000001");
        assert_eq!(phones[0].lines, ["2001", "2003"]);
        assert_eq!(phones[0].model.device_type, DeviceType(7));
        assert_eq!(phones[0].version, 11);
        assert_eq!(phones[1].model.device_type, DeviceType::CISCO_7970);
        assert_eq!(phones[1].version, 20);
        let bad = "extension,mac,model\n2001,00:04:f2,cisco-7960\n";
        assert!(matches!(
            from_csv(bad.as_bytes()),
            Err(FleetError::BadMac { line: 2, .. })
        ));
        assert!(matches!(
            from_csv("extension,model\n".as_bytes()),
            Err(FleetError::MissingColumn("mac"))
        ));
    }

    #[test]
    fn generated_macs_count_up_and_round_trip_through_csv() {
        let model = ModelInfo::find("7940").unwrap();
        let phones = generate(3, parse_mac("0004f20000ff").unwrap(), model, 5000);
        assert_eq!(phones[1].device_name(), "SEP0004F2000100");
        assert_eq!(phones[2].extension(), Some("5002"));
        assert_eq!(from_csv(to_csv(&phones).as_bytes()).unwrap(), phones);
    }
}
