//! Pure per-phone session state machines (HOUSE-STYLE §2.3): no tokio, no sockets, time passed in.

pub mod sccp;
pub mod unistim;
