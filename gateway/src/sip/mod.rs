//! The SIP side of Crossbar on tokio: transports, the SIP core task (registrar and stateful proxy over
//! sip-core's sans-IO parts), the in-memory directory of users and domains, and write-behind persistence
//! of the location table.

pub mod directory;
pub mod persist;
pub mod server;
pub mod transport;

pub use server::{Settings, SipServer};
pub use transport::{Inbound, Payload, Peer, SipListeners, Transports};
