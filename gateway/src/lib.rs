//! The `crossbar` gateway: configuration, the command line and the wiring of the subsystems.

pub mod call;
pub mod cli;
pub mod config;
pub mod decode;
pub mod driver;
mod fleet;
pub mod logging;
pub mod media;
pub mod provision;
pub mod serve;
pub mod session;
pub mod sip;
pub mod ua;

pub use config::{Config, ConfigError};
