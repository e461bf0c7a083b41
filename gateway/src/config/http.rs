//! `[http]`: HTTP provisioning, the REST API and metrics.

use std::net::SocketAddr;

use super::reader::Section;
use super::socket_addr;

/// The validated `[http]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// TCP address of the HTTP server.
    pub listen: SocketAddr,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
        }
    }
}

pub(super) fn read(mut s: Section<'_, '_>) -> HttpConfig {
    let config = HttpConfig {
        listen: s
            .parsed("listen", socket_addr)
            .unwrap_or_else(|| HttpConfig::default().listen),
    };
    s.finish();
    config
}
