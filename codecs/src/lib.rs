//! Wire formats of the legacy phone protocols Crossbar terminates: SCCP ("Skinny") and UNIStim.
//!
//! This crate is pure: no sockets, no clock, no runtime. Decoding is bounds-checked and never panics on
//! input; encoding well-typed values is (nearly) infallible.
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

pub mod fields;
mod macros;
pub mod sccp;
pub mod unistim;
mod wire;

pub use fields::{Describe, Fields, Value};
pub use wire::DecodeError;
