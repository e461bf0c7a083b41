//! The phone models Crossbar knows: what protocol their firmware speaks and how many keys they have.
//!
//! Import validates every `model` against this table; the gateways use it to lay out button templates and
//! line keys; provisioning picks templates by it. Key counts are the programmable line/feature buttons on the
//! phone itself (Cisco and Nortel/Avaya data sheets and administration guides), and the key expansion modules
//! each model accepts (Cisco 7914: 14 keys, 7915/7916: 24 keys; Nortel/Avaya KEM: 18 keys; the 1200-series
//! expansion module: 18 keys).

use std::fmt;

/// The protocol a phone's firmware speaks to its call server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// Cisco Skinny Client Control Protocol, TCP 2000.
    Sccp,
    /// Nortel/Avaya UNIStim over reliable UDP, port 5000.
    Unistim,
    /// SIP firmware.
    Sip,
}

impl Protocol {
    /// The name used in the store and on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sccp => "sccp",
            Self::Unistim => "unistim",
            Self::Sip => "sip",
        }
    }

    /// Parses [`Protocol::as_str`]'s spelling.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Sccp, Self::Unistim, Self::Sip]
            .into_iter()
            .find(|p| p.as_str() == name)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Key expansion modules a model accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expansion {
    /// How many modules can be attached.
    pub modules: u8,
    /// Keys on each module.
    pub keys_per_module: u8,
}

/// One row of the model table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Model {
    /// The model name used in CSV files and the store, such as `cisco-7960`.
    pub name: &'static str,
    /// Maker, as printed for operators.
    pub vendor: &'static str,
    /// What its firmware speaks.
    pub protocol: Protocol,
    /// Programmable line/feature keys on the phone itself.
    pub line_keys: u8,
    /// Expansion modules it accepts, if any.
    pub expansion: Option<Expansion>,
    /// Which configuration files it fetches, and the per-model facts they need.
    pub family: Family,
}

/// The provisioning family of a model: which files its firmware fetches at boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Family {
    /// Cisco SCCP firmware: `SEP<MAC>.cnf.xml`, `XMLDefault.cnf.xml`.
    CiscoSccp {
        /// The SCCP device type it reports in `RegisterReq` (the `loadInformation<N>` of XMLDefault).
        device_type: u32,
        /// Whether it uses the 7940/7960 (P003) locale directory names.
        legacy_locale: bool,
    },
    /// Cisco 7940/7960 SIP firmware (P0S3): `OS79XX.TXT`, `SIPDefault.cnf`, `SIP<MAC>.cnf`.
    CiscoSip79xx,
    /// Cisco 79x1/79x2/79x5 SIP firmware: `SEP<MAC>.cnf.xml` with `sipProfile`.
    CiscoSip,
    /// Nortel/Avaya UNIStim firmware: `SYSTEM.PRV`, `<TYPE>.PRV`, `<MAC>.PRV`, `<type>.cfg`.
    Unistim {
        /// The type name of its `<TYPE>.PRV` and `<type>.cfg` files, such as `1140E`.
        type_name: &'static str,
    },
    /// Polycom UC software: `000000000000.cfg`, `<mac>.cfg`, `<mac>-sip.cfg`.
    Polycom,
    /// Yealink: `y0000000000XX.cfg`, `<mac>.cfg`.
    Yealink {
        /// The family id `XX` of its common file.
        family: &'static str,
    },
}

impl Family {
    /// The files a phone of this family fetches from Crossbar, as file-name patterns (`<MAC>` upper-case
    /// hex, `<mac>` lower-case), in the order it fetches them.
    pub const fn files(self) -> &'static [&'static str] {
        match self {
            Self::CiscoSccp { .. } => &["SEP<MAC>.cnf.xml", "XMLDefault.cnf.xml"],
            Self::CiscoSip79xx => &["OS79XX.TXT", "SIPDefault.cnf", "SIP<MAC>.cnf"],
            Self::CiscoSip => &["SEP<MAC>.cnf.xml"],
            Self::Unistim { .. } => &["SYSTEM.PRV", "<TYPE>.PRV", "<MAC>.PRV", "<type>.cfg"],
            Self::Polycom => &["000000000000.cfg", "<mac>.cfg", "<mac>-sip.cfg"],
            Self::Yealink { .. } => &["y0000000000XX.cfg", "<mac>.cfg"],
        }
    }
}

impl Model {
    /// Every key the phone can show: its own line keys plus fully populated expansion modules.
    pub fn max_keys(&self) -> u16 {
        let expansion = self
            .expansion
            .map_or(0, |e| u16::from(e.modules) * u16::from(e.keys_per_module));
        u16::from(self.line_keys) + expansion
    }

    /// Looks a model up by name, ignoring ASCII case.
    pub fn find(name: &str) -> Option<&'static Self> {
        MODELS
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case(name.trim()))
    }
}

const fn kem(modules: u8, keys_per_module: u8) -> Option<Expansion> {
    Some(Expansion {
        modules,
        keys_per_module,
    })
}

const fn model(
    name: &'static str,
    vendor: &'static str,
    protocol: Protocol,
    line_keys: u8,
    expansion: Option<Expansion>,
    family: Family,
) -> Model {
    Model {
        name,
        vendor,
        protocol,
        line_keys,
        expansion,
        family,
    }
}

const fn sccp(device_type: u32) -> Family {
    Family::CiscoSccp {
        device_type,
        legacy_locale: false,
    }
}

const fn unistim(type_name: &'static str) -> Family {
    Family::Unistim { type_name }
}

use Protocol::{Sccp, Sip, Unistim};

/// The model table, in the order `crossbar models` lists it.
pub static MODELS: &[Model] = &[
    model(
        "cisco-7940",
        "Cisco",
        Sccp,
        2,
        None,
        Family::CiscoSccp {
            device_type: 8,
            legacy_locale: true,
        },
    ),
    model(
        "cisco-7960",
        "Cisco",
        Sccp,
        6,
        kem(2, 14),
        Family::CiscoSccp {
            device_type: 7,
            legacy_locale: true,
        },
    ),
    model("cisco-7941", "Cisco", Sccp, 2, None, sccp(115)),
    model("cisco-7961", "Cisco", Sccp, 6, kem(2, 14), sccp(30018)),
    model("cisco-7942", "Cisco", Sccp, 2, None, sccp(434)),
    model("cisco-7962", "Cisco", Sccp, 6, kem(2, 24), sccp(404)),
    model("cisco-7945", "Cisco", Sccp, 2, None, sccp(435)),
    model("cisco-7965", "Cisco", Sccp, 6, kem(2, 24), sccp(436)),
    model("cisco-7970", "Cisco", Sccp, 8, kem(2, 14), sccp(30006)),
    model("cisco-7975", "Cisco", Sccp, 8, kem(2, 24), sccp(437)),
    model("cisco-6921", "Cisco", Sccp, 2, None, sccp(495)),
    model("cisco-8945", "Cisco", Sccp, 4, None, sccp(585)),
    model("nortel-i2002", "Nortel", Unistim, 4, None, unistim("2002")),
    model(
        "nortel-i2004",
        "Nortel",
        Unistim,
        6,
        kem(2, 18),
        unistim("2004"),
    ),
    model(
        "nortel-i2007",
        "Nortel",
        Unistim,
        6,
        kem(2, 18),
        unistim("2007"),
    ),
    model("avaya-1120e", "Avaya", Unistim, 4, None, unistim("1120E")),
    model(
        "avaya-1140e",
        "Avaya",
        Unistim,
        6,
        kem(3, 18),
        unistim("1140E"),
    ),
    model("avaya-1150e", "Avaya", Unistim, 4, None, unistim("1150E")),
    model(
        "avaya-1165e",
        "Avaya",
        Unistim,
        10,
        kem(3, 18),
        unistim("1165E"),
    ),
    model(
        "avaya-1220",
        "Avaya",
        Unistim,
        12,
        kem(7, 18),
        unistim("1220"),
    ),
    model(
        "avaya-1230",
        "Avaya",
        Unistim,
        24,
        kem(7, 18),
        unistim("1230"),
    ),
    // SIP firmware: the phones that replace the legacy ones, provisioned from the same inventory.
    model(
        "cisco-7940-sip",
        "Cisco",
        Sip,
        2,
        None,
        Family::CiscoSip79xx,
    ),
    model(
        "cisco-7960-sip",
        "Cisco",
        Sip,
        6,
        None,
        Family::CiscoSip79xx,
    ),
    model("cisco-7941-sip", "Cisco", Sip, 2, None, Family::CiscoSip),
    model("cisco-7961-sip", "Cisco", Sip, 6, None, Family::CiscoSip),
    model("cisco-7962-sip", "Cisco", Sip, 6, None, Family::CiscoSip),
    model("cisco-7965-sip", "Cisco", Sip, 6, None, Family::CiscoSip),
    model(
        "polycom-vvx",
        "Polycom",
        Sip,
        6,
        kem(3, 28),
        Family::Polycom,
    ),
    model(
        "yealink-t4x",
        "Yealink",
        Sip,
        10,
        kem(3, 20),
        Family::Yealink { family: "66" },
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_canonical() {
        let mut names: Vec<_> = MODELS.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), MODELS.len());
        assert!(MODELS.iter().all(|m| m.name == m.name.to_ascii_lowercase()));
    }

    #[test]
    fn lookup_ignores_case() {
        assert_eq!(Model::find("Cisco-7960").map(|m| m.line_keys), Some(6));
        assert_eq!(
            Model::find("avaya-1140e").map(|m| m.max_keys()),
            Some(6 + 54)
        );
        assert!(Model::find("cisco-9999").is_none());
    }

    #[test]
    fn every_contract_model_is_known() {
        // The model names of docs/ARCHITECTURE.md "Model names" for legacy firmware.
        for name in [
            "cisco-7940",
            "cisco-7960",
            "cisco-7941",
            "cisco-7961",
            "cisco-7942",
            "cisco-7962",
            "cisco-7945",
            "cisco-7965",
            "cisco-7970",
            "cisco-7975",
            "cisco-6921",
            "cisco-8945",
            "nortel-i2002",
            "nortel-i2004",
            "nortel-i2007",
            "avaya-1120e",
            "avaya-1140e",
            "avaya-1150e",
            "avaya-1165e",
            "avaya-1220",
            "avaya-1230",
        ] {
            assert!(Model::find(name).is_some(), "{name}");
        }
    }
}
