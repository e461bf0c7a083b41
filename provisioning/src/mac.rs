//! MAC addresses as the inventory keeps them: 12 lower-case hex digits.
//!
//! Operators paste MACs in every spelling their tools print. [`Mac::parse`] accepts the four common ones
//! (`00:04:f2:ab:cd:ef`, `00-04-F2-AB-CD-EF`, `0004.f2ab.cdef`, `0004F2ABCDEF`) and, with a warning, the
//! sloppier ones seen in real exports (space-separated octets, unpadded octets such as `0:4:f2:ab:cd:ef`, a
//! pasted Cisco device name `SEP0004F2ABCDEF`). It refuses what cannot be a phone: the wrong number of
//! digits, non-hex characters, the all-zero address (Polycom's default master file name) and broadcast.
//! Cases: `../shared/provisioning-examples/bulk/mac-normalisation-cases.tsv`.

use std::fmt;
use std::str::FromStr;

/// A unicast MAC address, normalised.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mac([u8; 6]);

/// Why a MAC was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MacError {
    /// Nothing was given.
    #[error("MAC address is empty")]
    Empty,
    /// A character other than a hex digit or a separator.
    #[error("MAC address contains {0:?}, which is not a hex digit")]
    NotHex(char),
    /// Not 12 hex digits once separators are removed.
    #[error("MAC address has {0} hex digits, expected 12")]
    Length(usize),
    /// Separators that fit none of the accepted spellings.
    #[error(
        "MAC address is not in a recognised spelling (aa:bb:cc:dd:ee:ff, aa-bb-.., aabb.ccdd.eeff or aabbccddeeff)"
    )]
    Spelling,
    /// `00:00:00:00:00:00`.
    #[error("MAC address 000000000000 is reserved")]
    Zero,
    /// `ff:ff:ff:ff:ff:ff`.
    #[error("MAC address ffffffffffff is the broadcast address")]
    Broadcast,
}

/// Something accepted but worth telling the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MacWarning {
    /// A `SEP` (or `ATA`/`SIP`) device-name prefix was stripped.
    DeviceNamePrefix,
    /// Octets written without their leading zero.
    UnpaddedOctets,
    /// The multicast bit is set: this is not a network card's address.
    Multicast,
}

impl fmt::Display for MacWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::DeviceNamePrefix => "a device-name prefix (SEP/SIP/ATA) was removed from the MAC",
            Self::UnpaddedOctets => "MAC octets were written without leading zeros",
            Self::Multicast => {
                "the MAC has the multicast bit set; it is not a network card's address"
            }
        })
    }
}

impl Mac {
    /// Builds a MAC from its six octets.
    pub const fn from_octets(octets: [u8; 6]) -> Self {
        Self(octets)
    }

    /// The six octets.
    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// Parses any accepted spelling; returns the MAC and what was noticed on the way.
    ///
    /// # Errors
    /// [`MacError`] names the first reason the text cannot be a phone's MAC.
    pub fn parse(input: &str) -> Result<(Self, Vec<MacWarning>), MacError> {
        let mut warnings = Vec::new();
        let mut text = input.trim();
        if text.is_empty() {
            return Err(MacError::Empty);
        }
        for prefix in ["SEP", "SIP", "ATA"] {
            if let Some(head) = text.get(..3)
                && head.eq_ignore_ascii_case(prefix)
                && text.len() > 3
            {
                text = &text[3..];
                warnings.push(MacWarning::DeviceNamePrefix);
                break;
            }
        }
        if let Some(bad) = text
            .chars()
            .find(|c| !c.is_ascii_hexdigit() && !matches!(c, ':' | '-' | '.' | ' '))
        {
            return Err(MacError::NotHex(bad));
        }
        let separators: Vec<char> = text.chars().filter(|c| !c.is_ascii_hexdigit()).collect();
        let groups: Vec<&str> = text.split([':', '-', '.', ' ']).collect();
        let digits: String = text.chars().filter(char::is_ascii_hexdigit).collect();
        let octets_text: Vec<String> = match separators.first() {
            None => {
                if digits.len() != 12 {
                    return Err(MacError::Length(digits.len()));
                }
                digits
                    .as_bytes()
                    .chunks(2)
                    .map(|pair| String::from_utf8_lossy(pair).into_owned())
                    .collect()
            }
            Some(&sep) if separators.iter().any(|&c| c != sep) => return Err(MacError::Spelling),
            Some('.') => {
                if groups.len() != 3 || groups.iter().any(|g| g.len() != 4) {
                    return if digits.len() == 12 {
                        Err(MacError::Spelling)
                    } else {
                        Err(MacError::Length(digits.len()))
                    };
                }
                digits
                    .as_bytes()
                    .chunks(2)
                    .map(|pair| String::from_utf8_lossy(pair).into_owned())
                    .collect()
            }
            Some(_) => {
                if groups.len() != 6 || groups.iter().any(|g| g.is_empty() || g.len() > 2) {
                    return if groups.iter().all(|g| g.len() == 2) || digits.len() != 12 {
                        Err(MacError::Length(digits.len()))
                    } else {
                        Err(MacError::Spelling)
                    };
                }
                if groups.iter().any(|g| g.len() == 1) {
                    warnings.push(MacWarning::UnpaddedOctets);
                }
                groups.iter().map(|g| (*g).to_owned()).collect()
            }
        };
        let mut octets = [0u8; 6];
        for (slot, text) in octets.iter_mut().zip(&octets_text) {
            *slot = u8::from_str_radix(text, 16).map_err(|_| MacError::Spelling)?;
        }
        let mac = Self(octets);
        if octets == [0; 6] {
            return Err(MacError::Zero);
        }
        if octets == [0xff; 6] {
            return Err(MacError::Broadcast);
        }
        if octets[0] & 1 == 1 {
            warnings.push(MacWarning::Multicast);
        }
        Ok((mac, warnings))
    }

    /// The Cisco device name for this MAC: `SEP` and 12 upper-case hex digits.
    pub fn device_name(&self) -> String {
        format!("SEP{}", self.to_string().to_ascii_uppercase())
    }
}

impl FromStr for Mac {
    type Err = MacError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).map(|(mac, _)| mac)
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for octet in self.0 {
            write!(f, "{octet:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mac({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &str) -> (String, Vec<MacWarning>) {
        let (mac, warnings) = Mac::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        (mac.to_string(), warnings)
    }

    #[test]
    fn the_four_spellings_normalise_alike() {
        for input in [
            "00:04:f2:ab:cd:ef",
            "00-04-F2-AB-CD-EF",
            "0004.f2ab.cdef",
            "0004F2ABCDEF",
        ] {
            assert_eq!(ok(input), ("0004f2abcdef".to_owned(), vec![]), "{input}");
        }
    }

    #[test]
    fn sloppy_spellings_warn() {
        assert_eq!(ok("00 04 f2 aa bb cc"), ("0004f2aabbcc".to_owned(), vec![]));
        assert_eq!(
            ok("SEP0004F2AABBCC"),
            (
                "0004f2aabbcc".to_owned(),
                vec![MacWarning::DeviceNamePrefix]
            )
        );
        assert_eq!(
            ok("0:4:f2:aa:bb:cc"),
            ("0004f2aabbcc".to_owned(), vec![MacWarning::UnpaddedOctets])
        );
        assert_eq!(
            ok("010203040506"),
            ("010203040506".to_owned(), vec![MacWarning::Multicast])
        );
    }

    #[test]
    fn refusals_name_the_reason() {
        assert_eq!(Mac::parse(""), Err(MacError::Empty));
        assert_eq!(Mac::parse("0004f2aabbc"), Err(MacError::Length(11)));
        assert_eq!(Mac::parse("0004f2aabbcg"), Err(MacError::NotHex('g')));
        assert_eq!(Mac::parse("000000000000"), Err(MacError::Zero));
        assert_eq!(Mac::parse("ff:ff:ff:ff:ff:ff"), Err(MacError::Broadcast));
        assert_eq!(Mac::parse("00:04-f2:aa:bb:cc"), Err(MacError::Spelling));
        assert_eq!(Mac::parse("0004f.2aab.bcc"), Err(MacError::Spelling));
        assert_eq!(Mac::parse("00:04:f2:aa:bb"), Err(MacError::Length(10)));
        assert_eq!(Mac::parse("000:4f2:aa:bb:cc:dd"), Err(MacError::Length(14)));
        assert_eq!(Mac::parse("0004:f2aa:bbcc"), Err(MacError::Spelling));
    }

    #[test]
    fn shared_normalisation_cases_hold() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/provisioning-examples/bulk/mac-normalisation-cases.tsv"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            assert!(std::env::var_os("CI").is_none(), "{path} is missing");
            eprintln!("skipping: {path} not found");
            return;
        };
        let mut checked = 0;
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            let [input, normalised, verdict, ..] = cols[..] else {
                continue;
            };
            if input.starts_with('(') {
                continue; // "(duplicate of row 3)" is a file-level rule, tested with the importer
            }
            match verdict {
                "ok" | "ok-with-warning" | "warn" => {
                    let (mac, warnings) = ok(input);
                    if normalised != "-" {
                        assert_eq!(mac, normalised, "{input}");
                    }
                    assert_eq!(
                        warnings.is_empty(),
                        verdict == "ok",
                        "{input}: {warnings:?}"
                    );
                }
                "error" => assert!(Mac::parse(input).is_err(), "{input} must be refused"),
                other => panic!("unknown verdict {other}"),
            }
            checked += 1;
        }
        assert!(checked >= 12, "only {checked} cases read");
    }

    #[test]
    fn device_name_is_upper_case() {
        let mac: Mac = "00:04:f2:ab:cd:ef".parse().unwrap();
        assert_eq!(mac.device_name(), "SEP0004F2ABCDEF");
    }
}
