//! The media relay: RTP and RTCP of every legacy call pass through a [`RelayCall`] with two legs, the
//! **phone leg** (the address given to the phone in StartMediaTransmission; the phone sends to it) and
//! the **SIP leg** (the address put in SDP). Keys pressed on the phone go out on the SIP leg as RFC 4733
//! events ([`RelayCall::send_dtmf`]); RFC 4733 events arriving on the SIP leg are reported once per key
//! press as [`MediaEvent::Dtmf`] and not forwarded (legacy phones do not play them; the session plays
//! the tone).
//!
//! ```text
//!   phone ──RTP──▶ phone_local ┐            ┌ sip_local ◀──RTP── SIP peer
//!   phone ◀─RTP─── (leg) ──────┴─ RelayCall ┴─ (leg) ───RTP──▶ SIP peer
//!                              RTCP on each port + 1, relayed the same way
//! ```
//!
//! **Latching** (symmetric RTP, for phones behind NAT): the phone leg sends to the source of the first
//! RTP packet the phone sends, whatever [`RelayCall::set_phone_remote`] announced; the SIP leg sends to
//! the SDP address until the first packet arrives from the same IP (any IP with
//! [`RelayOptions::latch_any_sip_source`]). After latching, packets from other sources are dropped and
//! counted. A new remote address (re-INVITE, a reopened receive channel) starts latching again.
//!
//! **Cost**: one task per call, polling its four sockets in one future; each packet is received into
//! the task's own buffer, rewritten in place and sent with one `sendto`, with no allocation.
//!
//! In `[media] mode = "direct"` no relay is built: the session puts the phone's own address in SDP and
//! sends keys as SIP INFO.

pub mod ports;
pub mod relay;
pub mod rfc4733;
pub mod rtp;
mod stats;
mod task;

use std::net::SocketAddr;
use std::ops::RangeInclusive;

pub use ports::{PortPair, PortPool};
pub use relay::{MediaRelay, RelayCall, RelayOptions};
pub use stats::{Drops, Flow, RelayStats};

use crate::call::Dtmf;

/// Why the relay could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// Every RTP/RTCP pair of the range is in use (or refused by the OS).
    #[error(
        "no free RTP port pair in {}-{} ({in_use} pairs in use by Crossbar; widen [media] rtp_ports)",
        range.start(),
        range.end()
    )]
    PortsExhausted {
        /// The configured range.
        range: RangeInclusive<u16>,
        /// Pairs Crossbar holds.
        in_use: usize,
    },
    /// A socket could not be bound for another reason than the port being taken.
    #[error("cannot bind an RTP socket on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The SIP side did not negotiate `telephone-event`: send the key as SIP INFO instead.
    #[error("the SIP side has no telephone-event payload type")]
    NoTelephoneEvent,
    /// The key has no RFC 4733 event code.
    #[error("{0:?} is not a DTMF key")]
    NotDtmf(char),
}

/// Something the relay observed that the phone session acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaEvent {
    /// A key press received from the SIP side as RFC 4733 events (reported once, at its end).
    Dtmf(Dtmf),
}
