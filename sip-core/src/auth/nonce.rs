//! Stateless nonces: `hex(timestamp u64 BE ‖ sequence u32 BE ‖ HMAC-SHA256(secret, timestamp ‖ sequence ‖
//! realm)[..16])`, 56 hex digits.
//!
//! The server keeps no per-challenge state: the MAC proves it issued the nonce for this realm, the
//! timestamp gives its age (RFC 2617 §3.2.1 suggests exactly this construction), and the sequence number
//! makes every challenge's nonce distinct, so two phones challenged in the same second never share a nonce
//! (which would make one's nonce count look like a replay of the other's).

use super::hmac::{constant_time_eq, hmac_sha256};
use crate::msg::text::{push_hex, with_ascii_lowercase};

/// Bytes of MAC kept in the nonce (128 bits).
const MAC_LEN: usize = 16;
/// Raw nonce length: timestamp, sequence, MAC.
const RAW_LEN: usize = 8 + 4 + MAC_LEN;

/// What a nonce that carries a valid MAC says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct NonceId {
    /// Issue time, Unix seconds.
    pub(crate) issued: u64,
    /// The per-challenger sequence number.
    pub(crate) seq: u32,
}

fn mac(secret: &[u8; 32], id: NonceId, realm: &str) -> [u8; 32] {
    with_ascii_lowercase(realm, |realm| {
        hmac_sha256(
            secret,
            &[&id.issued.to_be_bytes(), &id.seq.to_be_bytes(), realm],
        )
    })
}

/// Builds the nonce text for `id` in `realm`.
pub(crate) fn encode(secret: &[u8; 32], id: NonceId, realm: &str) -> String {
    let mut text = String::with_capacity(RAW_LEN.saturating_mul(2));
    push_hex(&mut text, &id.issued.to_be_bytes());
    push_hex(&mut text, &id.seq.to_be_bytes());
    push_hex(
        &mut text,
        mac(secret, id, realm).get(..MAC_LEN).unwrap_or_default(),
    );
    text
}

/// Checks a nonce's MAC for `realm`; `None` if it is not one of ours (or was made for another realm).
pub(crate) fn decode(secret: &[u8; 32], nonce: &str, realm: &str) -> Option<NonceId> {
    let mut raw = [0u8; RAW_LEN];
    let digits = nonce.as_bytes();
    if digits.len() != RAW_LEN.checked_mul(2)? {
        return None;
    }
    for (byte, pair) in raw.iter_mut().zip(digits.chunks_exact(2)) {
        let [hi, lo] = pair else { return None };
        *byte = hex_value(*hi)?
            .checked_mul(16)?
            .checked_add(hex_value(*lo)?)?;
    }
    let (ts, rest) = raw.split_first_chunk::<8>()?;
    let (seq, tag) = rest.split_first_chunk::<4>()?;
    let id = NonceId {
        issued: u64::from_be_bytes(*ts),
        seq: u32::from_be_bytes(*seq),
    };
    let expected = mac(secret, id, realm);
    let expected = expected.get(..MAC_LEN)?;
    constant_time_eq(expected, tag).then_some(id)
}

/// The value of one hex digit, either case.
fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|v| u8::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: [u8; 32] = [7; 32];

    #[test]
    fn round_trip_and_realm_binding() {
        let id = NonceId {
            issued: 1_700_000_000,
            seq: 42,
        };
        let n = encode(&SECRET, id, "acme.example.com");
        assert_eq!(n.len(), 56);
        assert_eq!(decode(&SECRET, &n, "acme.example.com"), Some(id));
        assert_eq!(decode(&SECRET, &n, "ACME.example.com"), Some(id));
        assert_eq!(decode(&SECRET, &n, "globex.example.com"), None);
        assert_eq!(decode(&[8; 32], &n, "acme.example.com"), None);
    }

    #[test]
    fn tampering_is_detected() {
        let id = NonceId {
            issued: 1_700_000_000,
            seq: 1,
        };
        let n = encode(&SECRET, id, "r");
        // Move the timestamp forward by one second: the MAC no longer matches.
        let later = encode(
            &SECRET,
            NonceId {
                issued: 1_700_000_001,
                seq: 1,
            },
            "r",
        );
        let forged = format!("{}{}", &later[..16], &n[16..]);
        assert_eq!(decode(&SECRET, &forged, "r"), None);
        assert_eq!(decode(&SECRET, "zz", "r"), None);
        assert_eq!(decode(&SECRET, &n[..54], "r"), None);
    }
}
