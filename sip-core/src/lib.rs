//! The SIP half of Crossbar: message model and parser, transactions (RFC 3261 §17), registrar, stateful
//! proxy and presence logic, as sans-IO state machines with time passed in.
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

pub mod auth;
mod keyed;
pub mod location;
pub mod msg;
pub mod proxy;
pub mod registrar;
pub mod transaction;
