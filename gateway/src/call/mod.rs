//! Protocol-neutral calls: the vocabulary between phone sessions, line user agents and the media relay
//! ([`types`]), and the per-device call logic every phone protocol shares ([`phone`]).

pub mod phone;
pub mod types;

pub use types::{
    CallRef, CallRefs, Codec, Direction, Dtmf, LineId, LineIdentity, MediaDescription, MediaOffer,
    UaCommand, UaEvent,
};
