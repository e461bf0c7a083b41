//! Numbers and IP addresses as text, without `core::fmt`'s machinery.
//!
//! The serializer prints a port, an address, a status code or a Content-Length into every message
//! it builds. Through `{}` each of those goes through `core::fmt`: `Ipv4Addr`'s `Display` formats
//! into a buffer of its own and pads it, an integer goes through `pad_integral`. In callgrind that
//! printing was a fifth of a proxied call's instructions (`BENCHMARKS.md`, run 14); these write the
//! same digits into a buffer on the stack.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bytes::Bytes;

/// The decimal digits of an unsigned number, on the stack.
#[derive(Clone, Copy)]
pub struct Decimal {
    buf: [u8; 20],
    start: usize,
}

impl Decimal {
    /// The digits of `n` (`0` for zero).
    pub fn new(mut n: u64) -> Self {
        let mut buf = [b'0'; 20];
        let mut start = buf.len();
        loop {
            start = start.saturating_sub(1);
            // n % 10 is below 10, so the digit is an ASCII digit.
            let digit = u8::try_from(n % 10).unwrap_or(0);
            if let Some(slot) = buf.get_mut(start) {
                *slot = b'0'.saturating_add(digit);
            }
            n /= 10;
            if n == 0 || start == 0 {
                break;
            }
        }
        Self { buf, start }
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever written.
        std::str::from_utf8(self.buf.get(self.start..).unwrap_or_default()).unwrap_or("0")
    }
}

/// A dotted quad (`192.0.2.7`), on the stack: the text `Ipv4Addr`'s `Display` gives.
#[derive(Clone, Copy)]
pub struct DottedQuad {
    buf: [u8; 15],
    len: usize,
}

impl DottedQuad {
    /// The text of `addr`.
    pub fn new(addr: Ipv4Addr) -> Self {
        let mut buf = [0u8; 15];
        let mut len = 0usize;
        let mut put = |b: u8| {
            if let Some(slot) = buf.get_mut(len) {
                *slot = b;
                len = len.saturating_add(1);
            }
        };
        for (i, octet) in addr.octets().into_iter().enumerate() {
            if i > 0 {
                put(b'.');
            }
            if octet >= 100 {
                put(b'0'.saturating_add(octet / 100));
            }
            if octet >= 10 {
                put(b'0'.saturating_add(octet / 10 % 10));
            }
            put(b'0'.saturating_add(octet % 10));
        }
        Self { buf, len }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and dots are ever written.
        std::str::from_utf8(self.buf.get(..self.len).unwrap_or_default()).unwrap_or("")
    }
}

/// Appends `ip` as `Display` writes it (IPv4 without `fmt`).
pub fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => out.push_str(DottedQuad::new(v4).as_str()),
        IpAddr::V6(v6) => {
            let _ = fmt::Write::write_fmt(out, format_args!("{v6}"));
        }
    }
}

/// Appends `addr` as `Display` writes it: `192.0.2.7:5060`, `[2001:db8::1]:5060`.
pub fn push_socket_addr(out: &mut String, addr: SocketAddr) {
    if addr.is_ipv6() {
        out.push('[');
        push_ip(out, addr.ip());
        out.push(']');
    } else {
        push_ip(out, addr.ip());
    }
    out.push(':');
    out.push_str(Decimal::new(u64::from(addr.port())).as_str());
}

/// `s` as a header value without spare capacity: a `Bytes` made from a `String` with room to spare
/// allocates once more for its shared header; shrinking first is a `realloc` in place.
pub fn exact(s: String) -> Bytes {
    Bytes::from(s.into_bytes().into_boxed_slice())
}

/// Lower-case hex of `bytes`, in a string of exactly that length (the `hex` crate's `encode` pushes
/// one `char` at a time into a growing `String`).
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().saturating_mul(2));
    push_hex(&mut out, bytes);
    out
}

/// Appends `bytes` as lower-case hex digits.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len().saturating_mul(2));
    for b in bytes {
        for nibble in [b >> 4, b & 0x0f] {
            out.push(char::from(hex_digit(nibble)));
        }
    }
}

/// Calls `f` with `s` lower-cased (ASCII): in a stack buffer when it fits (host names, realms), in a
/// copy otherwise.
pub(crate) fn with_ascii_lowercase<R>(s: &str, f: impl FnOnce(&[u8]) -> R) -> R {
    let mut buf = [0u8; 128];
    match buf.get_mut(..s.len()) {
        Some(lower) => {
            lower.copy_from_slice(s.as_bytes());
            lower.make_ascii_lowercase();
            f(lower)
        }
        None => f(s.to_ascii_lowercase().as_bytes()),
    }
}

/// The lower-case hex digit of a nibble (the low four bits of `nibble`).
pub(crate) fn hex_digit(nibble: u8) -> u8 {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    *DIGITS.get(usize::from(nibble & 0x0f)).unwrap_or(&b'0')
}

/// A text buffer on the stack that `write!` fills; what does not fit goes to a `String`.
pub(crate) struct StackText {
    buf: [u8; 256],
    len: usize,
    spill: Option<String>,
}

impl StackText {
    pub(crate) fn new() -> Self {
        Self {
            buf: [0; 256],
            len: 0,
            spill: None,
        }
    }

    /// Lower-cases (ASCII) what was written from byte `start` on.
    pub(crate) fn lowercase_from(&mut self, start: usize) {
        match &mut self.spill {
            Some(s) => {
                if let Some(tail) = s.get_mut(start..) {
                    tail.make_ascii_lowercase();
                }
            }
            None => {
                if let Some(tail) = self.buf.get_mut(start..self.len) {
                    tail.make_ascii_lowercase();
                }
            }
        }
    }

    /// What was written.
    pub(crate) fn as_str(&self) -> &str {
        match &self.spill {
            Some(s) => s,
            // Only whole `&str`s are ever copied in.
            None => std::str::from_utf8(self.buf.get(..self.len).unwrap_or_default()).unwrap_or(""),
        }
    }
}

impl fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if let Some(spill) = &mut self.spill {
            spill.push_str(s);
            return Ok(());
        }
        let end = self.len.saturating_add(s.len());
        match self.buf.get_mut(self.len..end) {
            Some(slot) => {
                slot.copy_from_slice(s.as_bytes());
                self.len = end;
            }
            None => {
                let mut spill = String::with_capacity(end.saturating_mul(2));
                spill.push_str(self.as_str());
                spill.push_str(s);
                self.spill = Some(spill);
            }
        }
        Ok(())
    }
}

/// `v` printed, as a header value: one allocation of exactly its length (what a proxy pushes its
/// Via and Record-Route with).
///
/// `to_string()` grows its `String` by doubling (four allocations for a Via), and a `Bytes` made from
/// a `String` with spare capacity allocates once more for its shared header.
pub fn shown(v: &dyn fmt::Display) -> Bytes {
    let mut text = StackText::new();
    let _ = fmt::Write::write_fmt(&mut text, format_args!("{v}"));
    Bytes::copy_from_slice(text.as_str().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_match_display() {
        for n in [
            0u64,
            1,
            9,
            10,
            99,
            100,
            5060,
            65_535,
            4_294_967_295,
            u64::MAX,
        ] {
            assert_eq!(Decimal::new(n).as_str(), n.to_string());
        }
    }

    #[test]
    fn shown_text_matches_display_at_any_length() {
        for n in [0usize, 1, 255, 256, 257, 1000] {
            let text = "v".repeat(n);
            assert_eq!(shown(&text), text.as_bytes());
            let mut stack = StackText::new();
            let _ = fmt::Write::write_fmt(&mut stack, format_args!("{text}-{n}"));
            assert_eq!(stack.as_str(), format!("{text}-{n}"));
        }
    }

    #[test]
    fn hex_is_lower_case_and_two_digits_a_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let text = hex(&all);
        assert_eq!(text.len(), 512);
        assert_eq!(text.get(..8), Some("00010203"));
        assert_eq!(text.get(504..), Some("fcfdfeff"));
        assert_eq!(hex(&[0x5a, 0x0f, 0xa0]), "5a0fa0");
        assert_eq!(hex(&[]), "");
        assert_eq!(text.capacity(), 512);
    }

    #[test]
    fn addresses_match_display() {
        for addr in [
            "192.0.2.7:5060",
            "[2001:db8::1]:5061",
            "0.0.0.0:0",
            "[::ffff:192.0.2.1]:1",
        ] {
            let addr: SocketAddr = addr.parse().unwrap_or_else(|e| panic!("{addr}: {e}"));
            let mut out = String::from("x");
            push_socket_addr(&mut out, addr);
            assert_eq!(out, format!("x{addr}"));
            let mut ip = String::new();
            push_ip(&mut ip, addr.ip());
            assert_eq!(ip, addr.ip().to_string());
        }
    }

    #[test]
    fn dotted_quads_match_display() {
        for a in [
            Ipv4Addr::new(0, 0, 0, 0),
            Ipv4Addr::new(127, 0, 0, 1),
            Ipv4Addr::new(192, 0, 2, 7),
            Ipv4Addr::new(10, 99, 100, 255),
            Ipv4Addr::new(255, 255, 255, 255),
        ] {
            assert_eq!(DottedQuad::new(a).as_str(), a.to_string());
        }
        // Every octet value in every position.
        for o in 0..=255u8 {
            let a = Ipv4Addr::new(o, 255 - o, o / 2, o ^ 0x5a);
            assert_eq!(DottedQuad::new(a).as_str(), a.to_string());
        }
    }
}
