//! The tokio drivers of the pure session machines.

pub mod sccp;
pub mod unistim;
