//! The sip-core integration tests: one module per area.

mod msg;
mod torture;
