//! Protocol-neutral calls: the vocabulary between phone sessions, line user agents and the media relay.

pub mod types;

pub use types::{
    CallRef, CallRefs, Codec, Direction, Dtmf, LineId, LineIdentity, MediaDescription, MediaOffer,
    UaCommand, UaEvent,
};
