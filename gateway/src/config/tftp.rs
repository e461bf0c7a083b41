//! `[tftp]`: the TFTP provisioning server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::reader::Section;
use super::socket_addr;

/// The validated `[tftp]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TftpConfig {
    /// UDP address phones fetch from.
    pub listen: SocketAddr,
    /// Directory of static files (firmware, ring tones), absolute.
    pub root: PathBuf,
}

pub(super) fn default(base: &Path) -> TftpConfig {
    TftpConfig {
        listen: SocketAddr::from(([0, 0, 0, 0], 69)),
        root: base.join("firmware"),
    }
}

pub(super) fn read(mut s: Section<'_, '_>, base: &Path) -> TftpConfig {
    let default = default(base);
    let config = TftpConfig {
        listen: s.parsed("listen", socket_addr).unwrap_or(default.listen),
        root: s
            .parsed("root", |root| {
                if root.is_empty() {
                    Err("expected a directory".to_owned())
                } else {
                    Ok(base.join(root))
                }
            })
            .unwrap_or(default.root),
    };
    s.finish();
    config
}
