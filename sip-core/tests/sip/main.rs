//! The sip-core integration tests: one module per area.

mod auth;
mod msg;
mod proxy;
mod registrar;
mod torture;
mod transaction;
