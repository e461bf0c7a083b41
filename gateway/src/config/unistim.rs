//! `[unistim]`: the listener for Nortel/Avaya UNIStim phones.

use std::net::SocketAddr;

use super::reader::Section;
use super::socket_addr;

/// The validated `[unistim]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnistimConfig {
    /// UDP address phones send to.
    pub listen: SocketAddr,
}

impl Default for UnistimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 5000)),
        }
    }
}

pub(super) fn read(mut s: Section<'_, '_>) -> UnistimConfig {
    let config = UnistimConfig {
        listen: s
            .parsed("listen", socket_addr)
            .unwrap_or_else(|| UnistimConfig::default().listen),
    };
    s.finish();
    config
}
