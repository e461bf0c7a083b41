//! The codecs crate's one integration-test binary.

mod sccp;
mod unistim;
