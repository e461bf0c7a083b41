//! Requested file names → what they ask for.
//!
//! Phones name their files with the MAC in the case their family uses (Cisco upper case, Polycom and
//! Yealink lower case, Nortel either; shared/provisioning-examples/detection-signatures.tsv and
//! docs/protocols/provisioning.md §3.3), and some prefix a directory or use `\`. Names are matched ignoring
//! ASCII case after one leading `/` is dropped; a name with a directory part, `..`, a NUL or over 255
//! bytes asks for nothing we render (the static-file servers deal with directories themselves).

use crate::mac::Mac;
use crate::models::{Family, MODELS};

/// What a file name asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// `SEP<MAC>.cnf.xml`: a Cisco device file (SCCP or SIP firmware).
    CiscoDevice(Mac),
    /// `XMLDefault.cnf.xml`.
    XmlDefault,
    /// `SIP<MAC>.cnf`: a Cisco 7940/7960 SIP device file.
    Cisco79xxSip(Mac),
    /// `SIPDefault.cnf`.
    SipDefault,
    /// `OS79XX.TXT`.
    Os79xx,
    /// `SYSTEM.PRV`.
    UnistimSystem,
    /// `<TYPE>.PRV` of a UNIStim model type.
    UnistimType(&'static str),
    /// `<MAC>.PRV`.
    UnistimDevice(Mac),
    /// `<type>.cfg` of a UNIStim model type.
    UnistimFirmware(&'static str),
    /// `<mac>.cfg`: a Polycom master file or a Yealink device file, by the device's model.
    MacCfg(Mac),
    /// `<mac>-sip.cfg`: a Polycom phone's registrations.
    PolycomSip(Mac),
    /// `000000000000.cfg`: the Polycom master file for every phone.
    PolycomDefault,
    /// `y0000000000XX.cfg`: the Yealink common file of family `XX`.
    YealinkCommon(&'static str),
}

impl Request {
    /// The MAC the name carries, if it names one device.
    pub const fn mac(self) -> Option<Mac> {
        match self {
            Self::CiscoDevice(m)
            | Self::Cisco79xxSip(m)
            | Self::UnistimDevice(m)
            | Self::MacCfg(m)
            | Self::PolycomSip(m) => Some(m),
            _ => None,
        }
    }
}

/// 12 hex digits as a MAC; `None` for anything else, the all-zero and the broadcast address.
fn hex_mac(text: &str) -> Option<Mac> {
    if text.len() != 12 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut octets = [0u8; 6];
    for (i, slot) in octets.iter_mut().enumerate() {
        *slot = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    (octets != [0; 6] && octets != [0xff; 6]).then(|| Mac::from_octets(octets))
}

/// Strips one leading `/` (TFTP clients and the HTTP path), refuses directories, traversal, NUL and
/// over-long names.
pub fn normalise(name: &str) -> Option<&str> {
    let name = name.strip_prefix('/').unwrap_or(name);
    let bad = name.is_empty()
        || name.len() > 255
        || name.contains(['/', '\\', '\0'])
        || name.contains("..")
        || name.chars().any(char::is_control);
    (!bad).then_some(name)
}

fn unistim_type(name: &str) -> Option<&'static str> {
    MODELS.iter().find_map(|m| match m.family {
        Family::Unistim { type_name } if type_name.eq_ignore_ascii_case(name) => Some(type_name),
        _ => None,
    })
}

fn yealink_family(id: &str) -> Option<&'static str> {
    MODELS.iter().find_map(|m| match m.family {
        Family::Yealink { family } if family == id => Some(family),
        _ => None,
    })
}

/// Classifies a requested name; `None` when it is nothing Crossbar renders.
pub fn classify(name: &str) -> Option<Request> {
    let name = normalise(name)?;
    let lower = name.to_ascii_lowercase();
    let lower = lower.as_str();
    if let Some(hex) = lower
        .strip_prefix("sep")
        .and_then(|r| r.strip_suffix(".cnf.xml"))
    {
        return hex_mac(hex).map(Request::CiscoDevice);
    }
    if let Some(hex) = lower
        .strip_prefix("sip")
        .and_then(|r| r.strip_suffix(".cnf"))
        && let Some(mac) = hex_mac(hex)
    {
        return Some(Request::Cisco79xxSip(mac));
    }
    match lower {
        "xmldefault.cnf.xml" => return Some(Request::XmlDefault),
        "sipdefault.cnf" => return Some(Request::SipDefault),
        "os79xx.txt" => return Some(Request::Os79xx),
        "system.prv" => return Some(Request::UnistimSystem),
        "000000000000.cfg" => return Some(Request::PolycomDefault),
        _ => {}
    }
    if let Some(stem) = lower.strip_suffix(".prv") {
        return hex_mac(stem)
            .map(Request::UnistimDevice)
            .or_else(|| unistim_type(stem).map(Request::UnistimType));
    }
    if let Some(hex) = lower.strip_suffix("-sip.cfg") {
        return hex_mac(hex).map(Request::PolycomSip);
    }
    if let Some(stem) = lower.strip_suffix(".cfg") {
        if let Some(id) = stem.strip_prefix("y0000000000")
            && let Some(family) = yealink_family(id)
        {
            return Some(Request::YealinkCommon(family));
        }
        return hex_mac(stem)
            .map(Request::MacCfg)
            .or_else(|| unistim_type(stem).map(Request::UnistimFirmware));
    }
    None
}

/// A model of the model table an unknown phone probably is, from the file it asked for and its
/// User-Agent (detection-signatures.tsv: `Yealink SIP-T46G ...`, `FileTransport PolycomVVX-...`,
/// Cisco `CP-7960G` style names).
pub fn guess_model(request: Request, user_agent: Option<&str>) -> Option<&'static str> {
    let ua = user_agent.unwrap_or_default().to_ascii_lowercase();
    let by_ua = if ua.contains("polycom") {
        Some("polycom-vvx")
    } else if ua.contains("yealink") {
        Some("yealink-t4x")
    } else {
        MODELS
            .iter()
            .filter(|m| m.vendor == "Cisco")
            .find(|m| {
                m.name
                    .strip_prefix("cisco-")
                    .and_then(|n| n.split('-').next())
                    .is_some_and(|number| ua.contains(number))
            })
            .map(|m| m.name)
    };
    by_ua.or(match request {
        Request::PolycomSip(_) => Some("polycom-vvx"),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(text: &str) -> Mac {
        text.parse().unwrap()
    }

    #[test]
    fn names_are_matched_ignoring_case() {
        let m = mac("0004f2aabbcc");
        for name in [
            "SEP0004F2AABBCC.cnf.xml",
            "/sep0004f2aabbcc.CNF.XML",
            "SEP0004f2AaBbCc.cnf.xml",
        ] {
            assert_eq!(classify(name), Some(Request::CiscoDevice(m)), "{name}");
        }
        assert_eq!(
            classify("SIP0004F2AABBCC.cnf"),
            Some(Request::Cisco79xxSip(m))
        );
        assert_eq!(
            classify("0004F2AABBCC.PRV"),
            Some(Request::UnistimDevice(m))
        );
        assert_eq!(
            classify("0004f2aabbcc.prv"),
            Some(Request::UnistimDevice(m))
        );
        assert_eq!(classify("0004f2aabbcc.cfg"), Some(Request::MacCfg(m)));
        assert_eq!(classify("0004F2AABBCC.cfg"), Some(Request::MacCfg(m)));
        assert_eq!(
            classify("0004f2aabbcc-sip.cfg"),
            Some(Request::PolycomSip(m))
        );
        assert_eq!(classify("XmlDefault.cnf.xml"), Some(Request::XmlDefault));
        assert_eq!(classify("SYSTEM.PRV"), Some(Request::UnistimSystem));
        assert_eq!(classify("1140E.PRV"), Some(Request::UnistimType("1140E")));
        assert_eq!(
            classify("1140e.cfg"),
            Some(Request::UnistimFirmware("1140E"))
        );
        assert_eq!(classify("1220.cfg"), Some(Request::UnistimFirmware("1220")));
        assert_eq!(classify("000000000000.cfg"), Some(Request::PolycomDefault));
        assert_eq!(
            classify("y000000000066.cfg"),
            Some(Request::YealinkCommon("66"))
        );
        assert_eq!(classify("OS79XX.TXT"), Some(Request::Os79xx));
        assert_eq!(classify("SIPDefault.cnf"), Some(Request::SipDefault));
    }

    #[test]
    fn other_names_ask_for_nothing() {
        for name in [
            "",
            "/",
            "CTLSEP0004F2AABBCC.tlv",
            "SEP0004F2AABBC.cnf.xml",
            "SEP0004F2AABBCCDD.cnf.xml",
            "SEPFFFFFFFFFFFF.cnf.xml",
            "../SEP0004F2AABBCC.cnf.xml",
            "firmware/SEP0004F2AABBCC.cnf.xml",
            "..\\SYSTEM.PRV",
            "SYSTEM.PRV\0",
            "y000000000099.cfg",
            "9999.cfg",
            "term61.default.loads",
        ] {
            assert_eq!(classify(name), None, "{name:?}");
        }
        assert_eq!(classify(&"a".repeat(300)), None);
    }

    #[test]
    fn models_are_guessed_from_user_agents() {
        let r = Request::MacCfg(mac("001565aabbcc"));
        assert_eq!(
            guess_model(r, Some("Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37")),
            Some("yealink-t4x")
        );
        assert_eq!(
            guess_model(r, Some("FileTransport PolycomVVX-VVX_400-UA/4.1.4.7430")),
            Some("polycom-vvx")
        );
        assert_eq!(
            guess_model(r, Some("Cisco-CP7965G/9.4")),
            Some("cisco-7965")
        );
        assert_eq!(guess_model(r, None), None);
        assert_eq!(
            guess_model(Request::PolycomSip(mac("0004f2aabbcc")), None),
            Some("polycom-vvx")
        );
    }
}
