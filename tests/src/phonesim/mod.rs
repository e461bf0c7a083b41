//! `phonesim`: simulated Cisco SCCP phones and Nortel/Avaya UNIStim phones ([`unistim`]), for the
//! end-to-end tests (spawn phones, drive them, observe them) and for load runs from the command line (`tests/src/bin/phonesim.rs`).
//!
//! - [`fleet`]: who the phones are: an inventory CSV (ARCHITECTURE.md import format) or generated MACs,
//!   with the device type and protocol version of each model (`docs/protocols/sccp.md` §4).
//! - [`Phone`] / [`Fleet`]: running phones. Each is one tokio task holding one TCP connection; it
//!   registers as the captured phones do (§5.1, §5.4), keeps alive, reconnects with jitter when the
//!   connection is lost, unregisters on [`Phone::stop`], places and answers calls, opens real UDP
//!   ports for OpenReceiveChannel and sends G.711 RTP on StartMediaTransmission.
//! - [`Stats`]: fleet-wide counters and setup latencies.
//! - [`responder`]: a small scripted call manager that answers registration and plays simple calls,
//!   for testing phonesim itself and measuring its own footprint without a gateway.
//! - [`unistim`]: the UNIStim phones (i2002, i2004, 1120E, 1140E) with the same abilities, over
//!   `codecs::unistim`, sharing [`PhoneConfig`], [`Stats`] and the RTP legs.
//!
//! The wire format of the SCCP phones is `codecs::sccp`.

pub mod fleet;
pub(crate) mod media;
pub(crate) mod phone;
pub mod responder;
mod session;
pub(crate) mod stats;
pub mod unistim;
pub mod wire;

pub use fleet::{ModelInfo, PhoneSpec};
pub use media::{LegCounts, RtpCounts};
pub use phone::{CallView, Event, Fleet, Phone, PhoneConfig};
pub use stats::{Snapshot, Stats};
