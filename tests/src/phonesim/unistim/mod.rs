//! Simulated Nortel/Avaya UNIStim phones (i2002, i2004, 1120E, 1140E): the same abilities as the SCCP
//! phones of [`crate::phonesim`], over UNIStim's reliable UDP.
//!
//! - [`model`]: the models and what each answers to the server's queries; fleets from a CSV.
//! - [`link`]: the phone's side of reliable UDP (hello, ACK/NAK, retransmission), sans-IO.
//! - [`Screen`]: what the display, key icons, LEDs, tones and ringer show.
//! - [`UnistimPhone`] / [`UnistimFleet`]: running phones (one task and one UDP socket each), with key
//!   presses in and events out, RTP on Open Audio Stream, and injected loss/reordering
//!   ([`crate::phonesim::PhoneConfig::loss`], [`crate::phonesim::PhoneConfig::reorder`]).
//! - [`responder`]: a small scripted UNIStim server for testing the phones without the gateway.

pub mod link;
pub mod model;
mod phone;
pub mod responder;
mod screen;
mod session;

pub use model::{UNISTIM_MODELS, UnistimModel, UnistimSpec};
pub use phone::{Datagram, Key, UnistimEvent, UnistimFleet, UnistimPhone, dial_key};
pub use screen::{Screen, ToneKind};
