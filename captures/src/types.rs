//! The capture model: a file's format and its frames.

use std::fmt;

/// Which container format a capture was read from.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Classic libpcap format (tcpdump's `pcap-savefile(5)`), microsecond or nanosecond variant.
    Pcap,
    /// pcapng, as described by the IETF OPSAWG draft "PCAP Next Generation (pcapng) Capture File Format".
    PcapNg,
}

/// A whole capture file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capture {
    /// The container format the frames came from.
    pub format: Format,
    /// Every packet record of the file, in file order.
    pub frames: Vec<Frame>,
}

/// One packet record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// 1-based position among all packet records of the file, the number tshark shows as `frame.number`.
    pub number: u64,
    /// When the packet was captured.
    pub ts: Timestamp,
    /// The link-layer header type of `data`.
    pub link: LinkType,
    /// The captured bytes, starting with the link-layer header. May be shorter than `orig_len` when the
    /// capture used a snapshot length.
    pub data: Vec<u8>,
    /// The packet's length on the wire.
    pub orig_len: u32,
}

/// A capture timestamp: seconds since the Unix epoch and nanoseconds within the second.
///
/// `Display` gives the form of tshark's `frame.time_epoch`: seconds, a dot and nine digits.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Whole seconds since 1970-01-01T00:00:00Z.
    pub secs: i64,
    /// Nanoseconds, always below 1 000 000 000.
    pub nanos: u32,
}

impl Timestamp {
    /// Builds a timestamp from seconds and a fraction counted in `units_per_sec` units, carrying a
    /// fraction of a second or more into the seconds.
    pub(crate) fn from_parts(secs: i64, frac: u64, units_per_sec: u64) -> Self {
        let units = u128::from(units_per_sec.max(1));
        let frac = u128::from(frac);
        let carry = i64::try_from(frac.checked_div(units).unwrap_or(0)).unwrap_or(i64::MAX);
        let rem = frac.checked_rem(units).unwrap_or(0);
        let nanos = rem
            .saturating_mul(1_000_000_000)
            .checked_div(units)
            .unwrap_or(0);
        Self {
            secs: secs.saturating_add(carry),
            nanos: u32::try_from(nanos).unwrap_or(0),
        }
    }

    /// Builds a timestamp from a count of `units_per_sec` ticks since the epoch (the pcapng form),
    /// truncating below a nanosecond as Wireshark does.
    pub(crate) fn from_ticks(ticks: u64, units_per_sec: u128) -> Self {
        let units = units_per_sec.max(1);
        let ticks = u128::from(ticks);
        let secs = i64::try_from(ticks.checked_div(units).unwrap_or(0)).unwrap_or(i64::MAX);
        let rem = ticks.checked_rem(units).unwrap_or(0);
        let nanos = rem
            .saturating_mul(1_000_000_000)
            .checked_div(units)
            .unwrap_or(0);
        Self {
            secs,
            nanos: u32::try_from(nanos).unwrap_or(0),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09}", self.secs, self.nanos)
    }
}

/// A link-layer header type, as numbered in tcpdump.org's LINKTYPE list (the values pcap and pcapng
/// store). Open: any value is representable; the consts name the ones [`crate::dissect`] understands.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    /// `LINKTYPE_NULL`: BSD loopback, a 4-byte address family in the capturing host's byte order.
    pub const NULL: Self = Self(0);
    /// `LINKTYPE_ETHERNET`: IEEE 802.3 Ethernet, possibly with 802.1Q / 802.1ad VLAN tags.
    pub const ETHERNET: Self = Self(1);
    /// `LINKTYPE_RAW`: a bare IPv4 or IPv6 packet, told apart by the version nibble.
    pub const RAW: Self = Self(101);
    /// `LINKTYPE_LOOP`: OpenBSD loopback, a 4-byte address family in network byte order.
    pub const LOOP: Self = Self(108);
    /// `LINKTYPE_LINUX_SLL`: Linux "cooked" capture, version 1 (16-byte header).
    pub const LINUX_SLL: Self = Self(113);
    /// `LINKTYPE_IPV4`: a bare IPv4 packet.
    pub const IPV4: Self = Self(228);
    /// `LINKTYPE_IPV6`: a bare IPv6 packet.
    pub const IPV6: Self = Self(229);
    /// `LINKTYPE_LINUX_SLL2`: Linux "cooked" capture, version 2 (20-byte header).
    pub const LINUX_SLL2: Self = Self(276);

    /// The LINKTYPE_ name of a known value, without the prefix.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::NULL => "NULL",
            Self::ETHERNET => "ETHERNET",
            Self::RAW => "RAW",
            Self::LOOP => "LOOP",
            Self::LINUX_SLL => "LINUX_SLL",
            Self::IPV4 => "IPV4",
            Self::IPV6 => "IPV6",
            Self::LINUX_SLL2 => "LINUX_SLL2",
            _ => return None,
        })
    }
}

impl fmt::Debug for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "LinkType::{name}"),
            None => write!(f, "LinkType({})", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_nine_digits() {
        let ts = Timestamp {
            secs: 1_318_083_853,
            nanos: 123_456,
        };
        assert_eq!(ts.to_string(), "1318083853.000123456");
    }

    #[test]
    fn parts_carry_and_scale() {
        assert_eq!(
            Timestamp::from_parts(5, 1_500_000, 1_000_000),
            Timestamp {
                secs: 6,
                nanos: 500_000_000
            }
        );
        assert_eq!(
            Timestamp::from_ticks(3 * 1024 + 512, 1024),
            Timestamp {
                secs: 3,
                nanos: 500_000_000
            }
        );
        assert_eq!(Timestamp::from_ticks(u64::MAX, 0).nanos, 0);
    }

    #[test]
    fn link_type_debug() {
        assert_eq!(format!("{:?}", LinkType::ETHERNET), "LinkType::ETHERNET");
        assert_eq!(format!("{:?}", LinkType(9999)), "LinkType(9999)");
    }
}
