//! Packet capture reading for tests and `crossbar decode`: pcap and pcapng files, link layers, IP, and
//! TCP reassembly per direction. Knows nothing of SCCP, UNIStim or SIP.
//!
//! The layers, bottom up:
//!
//! - [`parse`] / [`read_file`] turn a classic pcap or a pcapng file into a [`Capture`]: a list of
//!   [`Frame`]s numbered from 1 the way tshark numbers them (every packet record counts).
//! - [`dissect`] looks through one frame's link layer and IP header at its TCP or UDP header.
//! - [`Reassembler`] (and the batch form [`payloads`]) turns frames into [`Payload`]s: whole UDP
//!   datagrams (after IP fragment reassembly) and, per TCP direction, the bytes each frame made
//!   newly contiguous. A consumer that frames an application protocol over those bytes can attribute
//!   each message to the frame in which its last byte arrived, which is the frame tshark reports for
//!   the reassembled PDU.
//!
//! [`write`](mod@write) builds synthetic captures for tests and [`peer`] runs tshark to compare against.
//!
//! Nothing here panics on input: malformed files give a [`CaptureError`], malformed packets a
//! [`DissectError`].
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

mod bytes;
mod error;
mod frag;
mod ip;
mod link;
mod pcap;
mod pcapng;
pub mod peer;
mod tcp;
mod types;
pub mod write;

use std::path::Path;

pub use error::{CaptureError, DissectError, Layer};
pub use ip::{Packet, TcpFlags, TcpSegment, Transport, dissect};
pub use tcp::{DEFAULT_BUFFER_LIMIT, Payload, Proto, Reassembler, payloads};
pub use types::{Capture, Format, Frame, LinkType, Timestamp};

/// Reads and parses a capture file (classic pcap or pcapng, told apart by the magic number).
///
/// # Errors
/// [`CaptureError::Io`] (naming the path) if the file cannot be read, otherwise as [`parse`].
pub fn read_file(path: impl AsRef<Path>) -> Result<Capture, CaptureError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| CaptureError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&bytes)
}

/// Parses a whole capture held in memory, detecting pcap or pcapng by its first four bytes.
///
/// # Errors
/// [`CaptureError::UnknownMagic`] if the bytes are neither format; any structural error in the file
/// (a record or block running past the end, a bad block length, a packet naming an interface the
/// section did not describe) fails the whole parse. Use [`parse_partial`] to keep the frames read
/// before the error.
pub fn parse(bytes: &[u8]) -> Result<Capture, CaptureError> {
    match parse_partial(bytes)? {
        (capture, None) => Ok(capture),
        (_, Some(err)) => Err(err),
    }
}

/// Parses a capture like [`parse`], but keeps the frames read before a structural error, the way
/// tshark shows the packets of a file that was cut short.
///
/// Returns the capture and the error that stopped reading, if any.
///
/// # Errors
/// Only if the file header itself is unusable (unknown magic, too short for a header).
pub fn parse_partial(bytes: &[u8]) -> Result<(Capture, Option<CaptureError>), CaptureError> {
    let magic = bytes
        .get(..4)
        .and_then(|m| <[u8; 4]>::try_from(m).ok())
        .ok_or(CaptureError::Truncated {
            offset: 0,
            what: "file magic",
            needed: 4,
            available: bytes.len(),
        })?;
    if magic == pcapng::SHB_TYPE.to_le_bytes() {
        let (frames, err) = pcapng::parse(bytes);
        Ok((
            Capture {
                format: Format::PcapNg,
                frames,
            },
            err,
        ))
    } else if pcap::Header::is_magic(magic) {
        let (frames, err) = pcap::parse(bytes)?;
        Ok((
            Capture {
                format: Format::Pcap,
                frames,
            },
            err,
        ))
    } else {
        Err(CaptureError::UnknownMagic {
            magic: u32::from_be_bytes(magic),
        })
    }
}
