//! The per-device SIP line password of SIP-firmware phones.
//!
//! The store keeps only digest HA1 of users' passwords (never a password in clear once imported), and no
//! phone firmware accepts an HA1, so the files of SIP phones (Cisco SIP, Polycom, Yealink) cannot carry the
//! user's own password. Instead each line of such a device gets a password derived from a server secret
//! kept in the store (migration `0005_secrets.sql`, created by the first node to start, the same on every
//! node sharing the store):
//!
//! `password = base32(HMAC-SHA256(secret, "sip-line" 0 domain 0 extension 0 mac)[..10])`
//!
//! (lower-case RFC 4648 alphabet, 16 characters, 80 bits; the domain lower-cased, the MAC as 12 lower-case
//! hex digits). Crossbar's registrar and proxy accept it for that user besides the user's own password, so
//! the phone registers, and a phone moved to another MAC, extension or domain gets another one. Changing
//! the secret (deleting its row) re-keys every phone.

use sha2::{Digest as _, Sha256};

use crate::mac::Mac;

/// The name of the line secret's row in `server_secrets`.
pub const LINE_SECRET_NAME: &str = "sip-line";

/// Length of a derived password, in characters.
pub const PASSWORD_LEN: usize = 16;

/// The server secret SIP line passwords are derived from. Its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct LineSecret([u8; 32]);

impl std::fmt::Debug for LineSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LineSecret(..)")
    }
}

impl LineSecret {
    /// A secret from its bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A fresh random secret.
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        Self(bytes)
    }

    /// Reads the stored form (64 hex digits); `None` if `text` is not that.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).ok()?;
        Some(Self(bytes))
    }

    /// The stored form: 64 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The SIP password of `extension`@`domain` on the device `mac`.
    pub fn line_password(&self, domain: &str, extension: &str, mac: Mac) -> String {
        let domain = domain.to_ascii_lowercase();
        let mac = mac.to_string().to_ascii_lowercase();
        let tag = hmac_sha256(
            &self.0,
            &[
                b"sip-line",
                &[0],
                domain.as_bytes(),
                &[0],
                extension.as_bytes(),
                &[0],
                mac.as_bytes(),
            ],
        );
        base32(&tag[..10])
    }
}

/// HMAC-SHA256 (RFC 2104, 64-byte block) over the concatenation of `parts`; the key is at most a block.
fn hmac_sha256(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut padded = [0u8; 64];
    padded[..32].copy_from_slice(key);
    let mut inner = Sha256::new();
    inner.update(padded.map(|b| b ^ 0x36));
    for part in parts {
        inner.update(part);
    }
    let inner: [u8; 32] = inner.finalize().into();
    let mut outer = Sha256::new();
    outer.update(padded.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

/// RFC 4648 base32, lower case, without padding.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2_shape() {
        // RFC 4231 test case 2 uses a 4-byte key ("Jefe"); zero-padded to 32 bytes it is the same key
        // for HMAC (keys shorter than a block are zero-padded).
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        let tag = hmac_sha256(&key, &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(tag),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn base32_matches_rfc_4648_vectors() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "my");
        assert_eq!(base32(b"fooba"), "mzxw6ytb");
        assert_eq!(base32(b"foobar"), "mzxw6ytboi");
    }

    #[test]
    fn passwords_depend_on_every_input_and_have_a_fixed_length() {
        let secret = LineSecret::from_bytes([7; 32]);
        let mac: Mac = "0004f2abcdef".parse().expect("mac");
        let other_mac: Mac = "0004f2abcdee".parse().expect("mac");
        let base = secret.line_password("acme.example.com", "2001", mac);
        assert_eq!(base.len(), PASSWORD_LEN);
        assert!(
            base.bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
        );
        assert_eq!(base, secret.line_password("ACME.example.com", "2001", mac));
        for other in [
            secret.line_password("globex.example.com", "2001", mac),
            secret.line_password("acme.example.com", "2002", mac),
            secret.line_password("acme.example.com", "2001", other_mac),
            LineSecret::from_bytes([8; 32]).line_password("acme.example.com", "2001", mac),
            // The separators keep "20" + "01x" apart from "200" + "1x".
            secret.line_password("acme.example.com2", "001", mac),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn the_stored_form_round_trips_and_bad_forms_are_refused() {
        let secret = LineSecret::random();
        assert_eq!(LineSecret::from_hex(&secret.to_hex()), Some(secret.clone()));
        assert_eq!(LineSecret::from_hex("abc"), None);
        assert_eq!(LineSecret::from_hex(&"zz".repeat(32)), None);
        assert_ne!(secret, LineSecret::random());
        assert_eq!(format!("{secret:?}"), "LineSecret(..)");
    }
}
