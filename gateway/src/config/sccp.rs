//! `[sccp]`: the listener for Cisco SCCP phones.

use std::net::SocketAddr;
use std::time::Duration;

use super::reader::Section;
use super::socket_addr;

/// The validated `[sccp]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SccpConfig {
    /// TCP address phones connect to.
    pub listen: SocketAddr,
    /// Keepalive interval given to phones in RegisterAck; a phone silent for about twice this is dead.
    pub keepalive: Duration,
}

impl Default for SccpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 2000)),
            keepalive: Duration::from_secs(30),
        }
    }
}

pub(super) fn read(mut s: Section<'_, '_>) -> SccpConfig {
    let default = SccpConfig::default();
    let config = SccpConfig {
        listen: s.parsed("listen", socket_addr).unwrap_or(default.listen),
        keepalive: s
            .integer("keepalive_secs", 5..=3600)
            .map_or(default.keepalive, |n| Duration::from_secs(n.unsigned_abs())),
    };
    s.finish();
    config
}
