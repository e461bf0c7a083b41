//! TFTP packets (RFC 1350) with the option extension (RFC 2347) and the options Crossbar honours:
//! `blksize` (RFC 2348), `timeout` and `tsize` (RFC 2349), `windowsize` (RFC 7440).
//!
//! Decoding is a bounds-checked walk over the datagram; every malformed packet is a [`PacketError`],
//! never a panic. Encoding writes into a caller's buffer so a transfer reuses one allocation.

use std::fmt;

/// An opcode as sent on the wire (RFC 1350 §5, RFC 2347 for OACK).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Opcode(pub u16);

impl Opcode {
    /// Read request.
    pub const RRQ: Self = Self(1);
    /// Write request.
    pub const WRQ: Self = Self(2);
    /// A data block.
    pub const DATA: Self = Self(3);
    /// Acknowledgement of a block.
    pub const ACK: Self = Self(4);
    /// An error; ends the transfer.
    pub const ERROR: Self = Self(5);
    /// Option acknowledgement (RFC 2347).
    pub const OACK: Self = Self(6);
}

impl fmt::Debug for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::RRQ => f.write_str("RRQ"),
            Self::WRQ => f.write_str("WRQ"),
            Self::DATA => f.write_str("DATA"),
            Self::ACK => f.write_str("ACK"),
            Self::ERROR => f.write_str("ERROR"),
            Self::OACK => f.write_str("OACK"),
            Self(n) => write!(f, "Opcode({n})"),
        }
    }
}

/// A TFTP error code (RFC 1350 appendix, RFC 2347 for 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub u16);

impl ErrorCode {
    /// Not defined, see the message.
    pub const UNDEFINED: Self = Self(0);
    /// File not found.
    pub const FILE_NOT_FOUND: Self = Self(1);
    /// Access violation.
    pub const ACCESS_VIOLATION: Self = Self(2);
    /// Illegal TFTP operation.
    pub const ILLEGAL_OPERATION: Self = Self(4);
    /// Unknown transfer ID.
    pub const UNKNOWN_TID: Self = Self(5);
    /// The options were refused (RFC 2347).
    pub const OPTION_REFUSED: Self = Self(8);
}

/// The transfer mode of a request. Files are served byte for byte in either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// `octet`: raw bytes.
    Octet,
    /// `netascii`: served as is (configuration files are already text with the line ends the phone expects).
    Netascii,
}

/// The options of a request that Crossbar understands; unknown ones are ignored (RFC 2347).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestOptions {
    /// `blksize`, as asked (RFC 2348 range 8..=65464 checked).
    pub blksize: Option<u16>,
    /// `timeout` in seconds (RFC 2349 range 1..=255 checked).
    pub timeout: Option<u8>,
    /// `tsize` was asked (its value in a read request is 0 and ignored).
    pub tsize: bool,
    /// `windowsize` (RFC 7440 range 1..=65535 checked).
    pub windowsize: Option<u16>,
}

/// A read or write request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The file name as sent (not yet validated as a name to serve).
    pub filename: String,
    /// The transfer mode.
    pub mode: Mode,
    /// The options understood.
    pub options: RequestOptions,
}

/// A decoded packet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Packet<'a> {
    /// Read request.
    Rrq(Request),
    /// Write request.
    Wrq(Request),
    /// A data block.
    Data {
        /// Block number.
        block: u16,
        /// Payload.
        data: &'a [u8],
    },
    /// Acknowledgement.
    Ack {
        /// Block number (0 acknowledges an OACK).
        block: u16,
    },
    /// Error from the peer.
    Error {
        /// Code.
        code: ErrorCode,
        /// Message, lossily decoded.
        message: String,
    },
    /// Option acknowledgement (servers send these; a client never should).
    Oack,
}

/// Why a datagram is not a TFTP packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PacketError {
    /// Fewer bytes than the opcode and fixed fields need.
    #[error("packet too short: {len} bytes")]
    Short {
        /// Bytes received.
        len: usize,
    },
    /// An opcode RFC 1350/2347 does not define.
    #[error("unknown opcode {0}")]
    UnknownOpcode(u16),
    /// A string field without its terminating NUL.
    #[error("{field} is not NUL-terminated")]
    Unterminated {
        /// Which field.
        field: &'static str,
    },
    /// A string field that is not ASCII text.
    #[error("{field} is not ASCII text")]
    NotText {
        /// Which field.
        field: &'static str,
    },
    /// A mode other than octet or netascii (`mail` is obsolete).
    #[error("unsupported transfer mode {0:?}")]
    Mode(String),
    /// A request longer than RFC 2347's 512 octets.
    #[error("request is {0} bytes, longer than 512")]
    TooLong(usize),
}

/// Splits one NUL-terminated ASCII string off `bytes`.
fn take_str<'a>(bytes: &'a [u8], field: &'static str) -> Result<(&'a str, &'a [u8]), PacketError> {
    let end = bytes
        .iter()
        .position(|&b| b == 0)
        .ok_or(PacketError::Unterminated { field })?;
    let (text, rest) = bytes.split_at(end);
    let text = std::str::from_utf8(text)
        .ok()
        .filter(|t| t.is_ascii())
        .ok_or(PacketError::NotText { field })?;
    Ok((text, rest.get(1..).unwrap_or_default()))
}

fn request(body: &[u8]) -> Result<Request, PacketError> {
    let (filename, rest) = take_str(body, "filename")?;
    let (mode, mut rest) = take_str(rest, "mode")?;
    let mode = if mode.eq_ignore_ascii_case("octet") {
        Mode::Octet
    } else if mode.eq_ignore_ascii_case("netascii") {
        Mode::Netascii
    } else {
        return Err(PacketError::Mode(mode.to_owned()));
    };
    let mut options = RequestOptions::default();
    // Options are name/value pairs; an incomplete trailing pair is ignored, as are unknown names and
    // out-of-range values (the server then simply does not acknowledge that option).
    while !rest.is_empty() {
        let Ok((name, after)) = take_str(rest, "option name") else {
            break;
        };
        let Ok((value, after)) = take_str(after, "option value") else {
            break;
        };
        rest = after;
        let number = value.parse::<u32>().ok();
        if name.eq_ignore_ascii_case("blksize") {
            options.blksize = number
                .filter(|n| (8..=65464).contains(n))
                .and_then(|n| u16::try_from(n).ok());
        } else if name.eq_ignore_ascii_case("timeout") {
            options.timeout = number
                .filter(|n| (1..=255).contains(n))
                .and_then(|n| u8::try_from(n).ok());
        } else if name.eq_ignore_ascii_case("tsize") {
            options.tsize = number.is_some();
        } else if name.eq_ignore_ascii_case("windowsize") {
            options.windowsize = number
                .filter(|n| *n >= 1)
                .and_then(|n| u16::try_from(n).ok());
        }
    }
    Ok(Request {
        filename: filename.to_owned(),
        mode,
        options,
    })
}

/// Decodes one datagram.
///
/// # Errors
/// [`PacketError`] for anything that is not a well-formed packet.
pub fn decode(bytes: &[u8]) -> Result<Packet<'_>, PacketError> {
    let short = || PacketError::Short { len: bytes.len() };
    let (op, body) = bytes.split_first_chunk::<2>().ok_or_else(short)?;
    let opcode = Opcode(u16::from_be_bytes(*op));
    match opcode {
        Opcode::RRQ | Opcode::WRQ => {
            if bytes.len() > 512 {
                return Err(PacketError::TooLong(bytes.len()));
            }
            let request = request(body)?;
            Ok(if opcode == Opcode::RRQ {
                Packet::Rrq(request)
            } else {
                Packet::Wrq(request)
            })
        }
        Opcode::DATA => {
            let (block, data) = body.split_first_chunk::<2>().ok_or_else(short)?;
            Ok(Packet::Data {
                block: u16::from_be_bytes(*block),
                data,
            })
        }
        Opcode::ACK => {
            let (block, _) = body.split_first_chunk::<2>().ok_or_else(short)?;
            Ok(Packet::Ack {
                block: u16::from_be_bytes(*block),
            })
        }
        Opcode::ERROR => {
            let (code, rest) = body.split_first_chunk::<2>().ok_or_else(short)?;
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            let message = String::from_utf8_lossy(rest.get(..end).unwrap_or_default()).into_owned();
            Ok(Packet::Error {
                code: ErrorCode(u16::from_be_bytes(*code)),
                message,
            })
        }
        Opcode::OACK => Ok(Packet::Oack),
        Opcode(n) => Err(PacketError::UnknownOpcode(n)),
    }
}

/// Writes a DATA header (opcode and block) into `out`, which is cleared first; the caller appends the payload.
pub fn encode_data_header(out: &mut Vec<u8>, block: u16) {
    out.clear();
    out.extend_from_slice(&Opcode::DATA.0.to_be_bytes());
    out.extend_from_slice(&block.to_be_bytes());
}

/// Encodes an ERROR packet.
pub fn encode_error(code: ErrorCode, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + message.len());
    out.extend_from_slice(&Opcode::ERROR.0.to_be_bytes());
    out.extend_from_slice(&code.0.to_be_bytes());
    out.extend(message.bytes().filter(|&b| b != 0));
    out.push(0);
    out
}

/// Encodes an ACK (used by test clients).
pub fn encode_ack(block: u16) -> [u8; 4] {
    let [a, b] = Opcode::ACK.0.to_be_bytes();
    let [c, d] = block.to_be_bytes();
    [a, b, c, d]
}

/// Encodes an OACK with `(name, value)` pairs.
pub fn encode_oack(options: &[(&str, String)]) -> Vec<u8> {
    let mut out = Opcode::OACK.0.to_be_bytes().to_vec();
    for (name, value) in options {
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.extend_from_slice(value.as_bytes());
        out.push(0);
    }
    out
}

/// Encodes a read request with options (used by test clients and the load client).
pub fn encode_rrq(filename: &str, options: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Opcode::RRQ.0.to_be_bytes().to_vec();
    for part in [filename, "octet"]
        .into_iter()
        .chain(options.iter().flat_map(|(n, v)| [*n, *v]))
    {
        out.extend_from_slice(part.as_bytes());
        out.push(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_requests_with_options() {
        let bytes = b"\x00\x01SEP0004F2ABCDEF.cnf.xml\x00octet\x00blksize\x001428\x00tsize\x000\x00windowsize\x008\x00timeout\x003\x00foo\x00bar\x00";
        let Packet::Rrq(r) = decode(bytes).unwrap() else {
            panic!("not an RRQ")
        };
        assert_eq!(r.filename, "SEP0004F2ABCDEF.cnf.xml");
        assert_eq!(r.mode, Mode::Octet);
        assert_eq!(
            r.options,
            RequestOptions {
                blksize: Some(1428),
                timeout: Some(3),
                tsize: true,
                windowsize: Some(8),
            }
        );
    }

    #[test]
    fn out_of_range_options_are_ignored() {
        let bytes = b"\x00\x01f\x00NETASCII\x00blksize\x007\x00timeout\x00256\x00windowsize\x000\x00tsize\x00x\x00";
        let Packet::Rrq(r) = decode(bytes).unwrap() else {
            panic!("not an RRQ")
        };
        assert_eq!(r.mode, Mode::Netascii);
        assert_eq!(r.options, RequestOptions::default());
    }

    #[test]
    fn malformed_packets_are_errors() {
        assert_eq!(decode(b""), Err(PacketError::Short { len: 0 }));
        assert_eq!(decode(b"\x00\x04\x00"), Err(PacketError::Short { len: 3 }));
        assert_eq!(decode(b"\x00\x09"), Err(PacketError::UnknownOpcode(9)));
        assert_eq!(
            decode(b"\x00\x01file"),
            Err(PacketError::Unterminated { field: "filename" })
        );
        assert_eq!(
            decode(b"\x00\x01file\x00mail\x00"),
            Err(PacketError::Mode("mail".into()))
        );
        assert_eq!(
            decode(b"\x00\x01f\xc3\xa9\x00octet\x00"),
            Err(PacketError::NotText { field: "filename" })
        );
        let mut long = b"\x00\x01".to_vec();
        long.extend(std::iter::repeat_n(b'a', 600));
        long.extend(b"\x00octet\x00");
        assert_eq!(decode(&long), Err(PacketError::TooLong(long.len())));
    }

    #[test]
    fn round_trips_the_packets_we_send() {
        assert_eq!(decode(&encode_ack(7)), Ok(Packet::Ack { block: 7 }));
        assert_eq!(
            decode(&encode_error(ErrorCode::ACCESS_VIOLATION, "no\0writes")),
            Ok(Packet::Error {
                code: ErrorCode::ACCESS_VIOLATION,
                message: "nowrites".into()
            })
        );
        let mut data = Vec::new();
        encode_data_header(&mut data, 65535);
        data.extend_from_slice(b"xyz");
        assert_eq!(
            decode(&data),
            Ok(Packet::Data {
                block: 65535,
                data: b"xyz"
            })
        );
        let rrq = encode_rrq("a.cfg", &[("blksize", "1024")]);
        let Ok(Packet::Rrq(r)) = decode(&rrq) else {
            panic!("not an RRQ")
        };
        assert_eq!(r.options.blksize, Some(1024));
        assert_eq!(
            encode_oack(&[("tsize", "12".into())]),
            b"\x00\x06tsize\x0012\x00"
        );
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..700)) {
            let _ = decode(&bytes);
        }
    }
}
