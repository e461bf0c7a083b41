//! The fleet inventory as plain values: domains, users, devices and their keys.
//!
//! The store loads and saves these; bulk import plans its changes as a difference between two of them.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::digest::Ha1;
use crate::mac::Mac;
use crate::models::Model;

/// A user is identified by its domain and extension: its address of record is `sip:EXT@DOMAIN`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId {
    /// The SIP domain (tenant), lower case.
    pub domain: String,
    /// The extension, the user part of the AOR.
    pub extension: String,
}

impl UserId {
    /// Builds an id from its parts.
    pub fn new(domain: impl Into<String>, extension: impl Into<String>) -> Self {
        Self {
            domain: domain.into(),
            extension: extension.into(),
        }
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.extension, self.domain)
    }
}

/// A user: a person or a place with an extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Domain and extension.
    pub id: UserId,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Name shown to callers; when empty, first and last name are shown.
    pub display_name: String,
    /// E-mail address.
    pub email: String,
    /// Department, free text.
    pub department: String,
    /// Voicemail box, empty for none.
    pub voicemail: String,
    /// SIP digest credentials; `None` when the user has no SIP password (legacy lines only).
    pub ha1: Option<Ha1>,
}

impl User {
    /// A user with only an id.
    pub fn new(id: UserId) -> Self {
        Self {
            id,
            first_name: String::new(),
            last_name: String::new(),
            display_name: String::new(),
            email: String::new(),
            department: String::new(),
            voicemail: String::new(),
            ha1: None,
        }
    }

    /// The name to show for this user: the display name, else first and last name, else the extension.
    pub fn shown_name(&self) -> String {
        if !self.display_name.is_empty() {
            return self.display_name.clone();
        }
        let full = format!("{} {}", self.first_name, self.last_name);
        let full = full.trim();
        if full.is_empty() {
            self.id.extension.clone()
        } else {
            full.to_owned()
        }
    }
}

/// What a key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyKind {
    /// A line: the user's extension appears on the phone.
    Line,
    /// A speed dial.
    SpeedDial,
    /// A busy-lamp field watching another extension of the domain.
    Blf,
}

impl KeyKind {
    /// The name used in the store.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Line => "line",
            Self::SpeedDial => "speed_dial",
            Self::Blf => "blf",
        }
    }

    /// Parses [`KeyKind::as_str`]'s spelling.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Line, Self::SpeedDial, Self::Blf]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
}

/// One button of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// Button position, 1-based; line keys sit at their line number.
    pub position: u16,
    /// What the button does.
    pub kind: KeyKind,
    /// For a line key its line number; for other keys the line they belong to (the line used when the key
    /// places a call, and the CSV row they were listed on).
    pub line: u16,
    /// The extension (in the device's domain) the key shows, watches or dials.
    pub target: String,
    /// Label shown beside the key; empty means the target's name.
    pub label: String,
}

/// A phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Its MAC, the inventory key.
    pub mac: Mac,
    /// Its model (which fixes the protocol).
    pub model: &'static Model,
    /// The domain its lines belong to.
    pub domain: String,
    /// Its buttons, ordered by position.
    pub keys: Vec<Key>,
}

impl Device {
    /// The line keys, in line order.
    pub fn lines(&self) -> impl Iterator<Item = &Key> {
        self.keys.iter().filter(|k| k.kind == KeyKind::Line)
    }
}

/// A whole inventory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Every domain.
    pub domains: BTreeSet<String>,
    /// Every user, by id.
    pub users: BTreeMap<UserId, User>,
    /// Every device, by MAC.
    pub devices: BTreeMap<Mac, Device>,
}

impl Inventory {
    /// The device and line where a user appears, if any.
    pub fn line_of(&self, user: &UserId) -> Option<(&Device, &Key)> {
        self.devices
            .values()
            .filter(|d| d.domain == user.domain)
            .find_map(|d| {
                d.lines()
                    .find(|k| k.target == user.extension)
                    .map(|k| (d, k))
            })
    }
}

/// Whether `text` can be an extension (the user part of an AOR that phones can dial or show):
/// a letter, digit or `+` first, then up to 63 letters, digits, `.`, `_`, `-` or `+`.
pub fn is_extension(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '+')
        && text.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
}

/// Whether `text` is a usable domain name: dot-separated labels of letters, digits and inner hyphens.
pub fn is_domain(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Orders extensions as people read them: digit runs by value, so `999` sorts before `1000`.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let run = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, nb) = (run(a), run(b));
                let (da, db) = (&a[..na], &b[..nb]);
                let strip = |d: &[u8]| {
                    let zeros = d.iter().take_while(|&&c| c == b'0').count();
                    d.len() - zeros
                };
                let ordering = strip(da)
                    .cmp(&strip(db))
                    .then_with(|| da[da.len() - strip(da)..].cmp(&db[db.len() - strip(db)..]))
                    .then_with(|| na.cmp(&nb));
                if ordering != Ordering::Equal {
                    return ordering;
                }
                (a, b) = (&a[na..], &b[nb..]);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                (a, b) = (&a[1..], &b[1..]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut v = vec!["1000", "999", "a10", "a9", "0100", "100", "b", "a"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["100", "0100", "999", "1000", "a", "a9", "a10", "b"]);
    }

    #[test]
    fn shown_name_falls_back() {
        let mut user = User::new(UserId::new("d", "1001"));
        assert_eq!(user.shown_name(), "1001");
        user.last_name = "Martin".into();
        assert_eq!(user.shown_name(), "Martin");
        user.first_name = "Alice".into();
        assert_eq!(user.shown_name(), "Alice Martin");
        user.display_name = "Reception".into();
        assert_eq!(user.shown_name(), "Reception");
    }

    #[test]
    fn extension_and_domain_syntax() {
        assert!(is_extension("1001"));
        assert!(is_extension("+4930123456"));
        assert!(is_extension("alice.smith"));
        assert!(!is_extension(""));
        assert!(!is_extension("10 01"));
        assert!(!is_extension("-1"));
        assert!(!is_extension("a@b"));
        assert!(is_domain("acme.example.com"));
        assert!(is_domain("crossbar.local"));
        assert!(is_domain("192.0.2.10"));
        assert!(!is_domain("acme..com"));
        assert!(!is_domain("-acme.com"));
        assert!(!is_domain("acme_corp.com"));
    }
}
