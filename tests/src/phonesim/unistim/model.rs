//! The UNIStim models phonesim simulates and what each reports about itself when the server asks
//! (`docs/protocols/unistim.md` §3.3 Basic manager, §5.1 models and firmware), plus the fleet of an
//! inventory CSV.

use std::collections::BTreeMap;
use std::io::Read;

use codecs::unistim::msg::basic::ItType;

use crate::phonesim::fleet::{FleetError, parse_mac};

/// What a model answers to the server's queries and how its display is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnistimModel {
    /// The model name of the CSV (`avaya-1140e`).
    pub name: &'static str,
    /// The IT type byte (Basic 0x9A/0x03). The 1140E of the startup capture reports 0x02 (i2004), as
    /// the whole i2004 family does; the i2002 reports 0x03.
    pub it_type: ItType,
    /// Firmware version (Basic 0x9A/0x02), seven ASCII characters.
    pub firmware: &'static str,
    /// Product engineering code (Basic 0x9A/0x08).
    pub product_code: &'static str,
    /// Text lines of the display.
    pub display_lines: u8,
    /// Characters per text line.
    pub line_width: u8,
    /// Context-sensitive softkeys.
    pub softkeys: u8,
    /// Programmable (line/feature) keys.
    pub prog_keys: u8,
    /// Vocoder ids the phone can open a stream with (= RTP payload types: 0 PCMU, 8 PCMA, 18 G.729,
    /// 9 G.722 on the 11xxE).
    pub vocoders: &'static [u8],
}

/// The simulated models. Firmware: the 1140E is `0625C8J` (a current 0625C load, §5.1; the capture's
/// set ran 0625C1B), i2004 Phase II `0604DCN` (UNIStim 3.4), i2002 the same load family, 1120E `0624C8J`.
/// Product codes: NTYS05AA (1140E, from the startup capture); NTDU92 (i2004 Phase II), NTDU91 (i2002
/// Phase II) and NTYS03 (1120E) are the catalogue numbers of those sets (not seen in a capture).
/// Geometry: 3 lines of 24 characters (chan_unistim's `TEXT_LENGTH_MAX`), 4 softkeys; line keys: 6 on
/// the i2004/1140E/1120E, 4 on the i2002 (which has one display line, §5.1).
pub static UNISTIM_MODELS: &[UnistimModel] = &[
    UnistimModel {
        name: "avaya-1140e",
        it_type: ItType::I2004,
        firmware: "0625C8J",
        product_code: "NTYS05AA",
        display_lines: 3,
        line_width: 24,
        softkeys: 4,
        prog_keys: 6,
        vocoders: &[0, 8, 18, 9],
    },
    UnistimModel {
        name: "avaya-1120e",
        it_type: ItType::I2004,
        firmware: "0624C8J",
        product_code: "NTYS03AA",
        display_lines: 3,
        line_width: 24,
        softkeys: 4,
        prog_keys: 4,
        vocoders: &[0, 8, 18, 9],
    },
    UnistimModel {
        name: "nortel-i2004",
        it_type: ItType::I2004,
        firmware: "0604DCN",
        product_code: "NTDU92BA",
        display_lines: 3,
        line_width: 24,
        softkeys: 4,
        prog_keys: 6,
        vocoders: &[0, 8, 18],
    },
    UnistimModel {
        name: "nortel-i2002",
        it_type: ItType::I2002,
        firmware: "0604DCN",
        product_code: "NTDU91BA",
        display_lines: 1,
        line_width: 24,
        softkeys: 4,
        prog_keys: 4,
        vocoders: &[0, 8, 18],
    },
];

impl UnistimModel {
    /// Looks a model up by its CSV name (`avaya-1140e`) or bare name (`1140e`, `i2004`), ignoring case.
    pub fn find(name: &str) -> Option<&'static Self> {
        let name = name.trim();
        UNISTIM_MODELS.iter().find(|m| {
            m.name.eq_ignore_ascii_case(name)
                || m.name
                    .split_once('-')
                    .is_some_and(|(_, bare)| bare.eq_ignore_ascii_case(name))
        })
    }

    /// The Hardware ID answer (Basic 0x9A/0x07): two bytes, the MAC, two bytes, the layout of the
    /// startup capture's 1140E (`31 38` MAC `66 25`).
    pub fn hardware_id(&self, mac: [u8; 6]) -> Vec<u8> {
        let mut id = Vec::with_capacity(10);
        id.extend_from_slice(b"18");
        id.extend_from_slice(&mac);
        id.extend_from_slice(&[0x66, 0x25]);
        id
    }
}

/// One simulated UNIStim phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnistimSpec {
    /// The MAC address.
    pub mac: [u8; 6],
    /// The model.
    pub model: &'static UnistimModel,
    /// The extensions of its lines (informational for the phone: the server paints them).
    pub lines: Vec<String>,
}

impl UnistimSpec {
    /// The MAC as 12 lower-case hex digits (the inventory's form).
    pub fn mac_hex(&self) -> String {
        self.mac.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The first line's extension, if any.
    pub fn extension(&self) -> Option<&str> {
        self.lines.first().map(String::as_str)
    }
}

/// The UNIStim phones of an inventory CSV (rows whose model is in [`UNISTIM_MODELS`]), grouped by MAC,
/// lines in `line` order; other rows are skipped.
///
/// # Errors
///
/// [`FleetError`] for an unreadable CSV, a missing `mac`/`model`/`extension` column, or a bad MAC.
pub fn from_csv(input: impl Read) -> Result<Vec<UnistimSpec>, FleetError> {
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
    type Rows = (usize, &'static UnistimModel, Vec<(u32, String)>);
    let mut phones: BTreeMap<[u8; 6], Rows> = BTreeMap::new();
    for (index, record) in reader.records().enumerate() {
        let record = record?;
        let line_no = record.position().map_or(index as u64 + 2, |p| p.line());
        let Some(model) = UnistimModel::find(record.get(model_col).unwrap_or_default()) else {
            continue;
        };
        let mac_text = record.get(mac_col).unwrap_or_default();
        let mac = parse_mac(mac_text).ok_or_else(|| FleetError::BadMac {
            line: line_no,
            mac: mac_text.to_owned(),
        })?;
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
            UnistimSpec {
                mac,
                model,
                lines: lines.into_iter().map(|(_, e)| e).collect(),
            }
        })
        .collect())
}

/// `count` phones of `model` with consecutive MACs from `mac_base`, one line each, extensions from
/// `ext_base` up.
pub fn generate(
    count: usize,
    mac_base: [u8; 6],
    model: &'static UnistimModel,
    ext_base: u64,
) -> Vec<UnistimSpec> {
    let base = mac_base
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    (0..count as u64)
        .map(|i| {
            let bytes = (base.wrapping_add(i) & 0xffff_ffff_ffff).to_be_bytes();
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&bytes[2..]);
            UnistimSpec {
                mac,
                model,
                lines: vec![(ext_base + i).to_string()],
            }
        })
        .collect()
}

/// The import CSV of a generated fleet.
pub fn to_csv(phones: &[UnistimSpec]) -> String {
    let mut out = String::from("extension,mac,model,line\n");
    for p in phones {
        for (i, ext) in p.lines.iter().enumerate() {
            out.push_str(&format!(
                "{ext},{},{},{}\n",
                p.mac_hex(),
                p.model.name,
                i + 1
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_are_found_by_full_and_bare_name() {
        assert_eq!(
            UnistimModel::find("AVAYA-1140E").unwrap().product_code,
            "NTYS05AA"
        );
        assert_eq!(UnistimModel::find("i2004").unwrap().name, "nortel-i2004");
        assert_eq!(UnistimModel::find("i2002").unwrap().it_type, ItType::I2002);
        assert!(UnistimModel::find("cisco-7960").is_none());
        let id = UnistimModel::find("1140e")
            .unwrap()
            .hardware_id([0, 0x13, 0x65, 0xff, 0xb0, 0x2a]);
        // Frame 21 of the startup capture.
        assert_eq!(
            id,
            [0x31, 0x38, 0, 0x13, 0x65, 0xff, 0xb0, 0x2a, 0x66, 0x25]
        );
    }

    #[test]
    fn csv_keeps_unistim_rows_only() {
        let csv = "extension,mac,model,line\n\
                   3001,00:13:65:00:00:01,avaya-1140e,1\n\
                   2001,0004f2000001,cisco-7960,1\n\
                   2002,,,\n\
                   3002,001365000002,nortel-i2004,\n\
                   3003,00:13:65:00:00:01,avaya-1140e,2\n";
        let phones = from_csv(csv.as_bytes()).unwrap();
        assert_eq!(phones.len(), 2);
        assert_eq!(phones[0].lines, ["3001", "3003"]);
        assert_eq!(phones[0].mac_hex(), "001365000001");
        assert_eq!(phones[1].model.name, "nortel-i2004");
        let generated = generate(3, phones[0].mac, phones[0].model, 7000);
        assert_eq!(generated[2].mac_hex(), "001365000003");
        assert_eq!(from_csv(to_csv(&generated).as_bytes()).unwrap(), generated);
    }
}
