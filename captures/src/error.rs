//! The two error seams: reading a file ([`CaptureError`]) and dissecting a frame ([`DissectError`]).

use std::path::PathBuf;

/// Why a capture file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// The file could not be read from disk.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file that was being read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The first four bytes are neither a pcap nor a pcapng magic number.
    #[error("not a pcap or pcapng file (magic {magic:#010x})")]
    UnknownMagic {
        /// The first four bytes, read big-endian.
        magic: u32,
    },
    /// A header, record or block runs past the end of the file.
    #[error("file cut short at offset {offset}: {what} needs {needed} bytes, {available} left")]
    Truncated {
        /// Byte offset in the file where the structure starts.
        offset: u64,
        /// What was being read.
        what: &'static str,
        /// Bytes the structure needs.
        needed: usize,
        /// Bytes left in the file from `offset`.
        available: usize,
    },
    /// A pcap record claims more captured bytes than any sane packet (or than its original length
    /// allows).
    #[error("pcap record at offset {offset} has an implausible captured length {incl_len}")]
    RecordTooLarge {
        /// Byte offset of the record header.
        offset: u64,
        /// The captured length it claims.
        incl_len: u32,
    },
    /// A pcapng block length is below the minimum or not a multiple of four.
    #[error("pcapng block at offset {offset} has a bad total length {length}")]
    BadBlockLength {
        /// Byte offset of the block.
        offset: u64,
        /// The block total length it claims.
        length: u32,
    },
    /// A pcapng block's trailing length does not repeat its leading one.
    #[error(
        "pcapng block at offset {offset}: leading length {leading} but trailing length {trailing}"
    )]
    BlockLengthMismatch {
        /// Byte offset of the block.
        offset: u64,
        /// The block total length at the start of the block.
        leading: u32,
        /// The copy at the end of the block.
        trailing: u32,
    },
    /// A Section Header Block has an unrecognised byte-order magic.
    #[error("pcapng section header at offset {offset} has a bad byte-order magic {magic:#010x}")]
    BadByteOrderMagic {
        /// Byte offset of the block.
        offset: u64,
        /// The byte-order magic as found.
        magic: u32,
    },
    /// A Section Header Block has a major version this reader does not know.
    #[error("pcapng section header at offset {offset} has unsupported version {major}.{minor}")]
    UnsupportedVersion {
        /// Byte offset of the block.
        offset: u64,
        /// Major version.
        major: u16,
        /// Minor version.
        minor: u16,
    },
    /// A packet block's captured length exceeds the block that holds it.
    #[error("pcapng block at offset {offset}: captured length {caplen} exceeds the block body")]
    BadCapturedLength {
        /// Byte offset of the block.
        offset: u64,
        /// The captured length it claims.
        caplen: u32,
    },
    /// A packet block names an interface the section has not described.
    #[error("pcapng block at offset {offset} refers to undescribed interface {interface}")]
    UnknownInterface {
        /// Byte offset of the block.
        offset: u64,
        /// The interface id it names.
        interface: u32,
    },
    /// An Interface Description Block's `if_tsresol` cannot be represented.
    #[error("pcapng interface block at offset {offset} has unusable if_tsresol {value:#04x}")]
    BadTimestampResolution {
        /// Byte offset of the block.
        offset: u64,
        /// The option byte.
        value: u8,
    },
}

/// The protocol layer a [`DissectError`] occurred in.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Layer {
    /// An Ethernet header or VLAN tag.
    Ethernet,
    /// A Linux cooked (SLL v1) header.
    LinuxSll,
    /// A Linux cooked v2 (SLL2) header.
    LinuxSll2,
    /// A BSD loopback (NULL / LOOP) header.
    Loopback,
    /// The IPv4 header.
    Ipv4,
    /// The IPv6 fixed header.
    Ipv6,
    /// An IPv6 extension header.
    Ipv6Extension,
    /// The TCP header.
    Tcp,
    /// The UDP header.
    Udp,
}

/// Why a frame's headers could not be dissected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DissectError {
    /// A header is cut short.
    #[error("{layer:?} header truncated: needs {needed} bytes, {available} captured")]
    Truncated {
        /// The layer whose header is short.
        layer: Layer,
        /// Bytes the header needs.
        needed: usize,
        /// Bytes there are.
        available: usize,
    },
    /// The IP version nibble does not match the link layer's claim.
    #[error("{layer:?} packet has version {version}")]
    BadIpVersion {
        /// The layer that was expected.
        layer: Layer,
        /// The version nibble found.
        version: u8,
    },
    /// A header length field is impossible (IPv4 IHL below 5, TCP data offset below 5 or past the
    /// segment, UDP length below 8, IPv4 total length below its header).
    #[error("{layer:?} header has an impossible length {length}")]
    BadHeaderLength {
        /// The layer of the header.
        layer: Layer,
        /// The length it claims, in bytes.
        length: usize,
    },
}
