//! Configuration: one TOML file (`crossbar.toml`), every key optional, unknown keys an error.
//!
//! The whole file is checked before anything is bound, and every problem is reported with its line,
//! column and key, not just the first. Relative paths (the SQLite file, the TFTP root) are taken from the
//! directory of the configuration file, or the working directory when running on the built-in defaults.
//! The keys are those of docs/ARCHITECTURE.md, "Configuration"; `examples/crossbar.toml` documents each.

mod dialplan;
mod http;
mod media;
mod provisioning;
pub(crate) mod reader;
mod sccp;
mod sip;
mod store;
mod tftp;
mod unistim;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use dialplan::DialplanConfig;
pub use http::HttpConfig;
pub use media::{MediaConfig, MediaMode};
pub use provisioning::ProvisioningConfig;
pub use reader::Problem;
pub use sccp::SccpConfig;
pub use sip::{SipConfig, SipListen, Transport};
pub use store::StoreConfig;
pub use tftp::TftpConfig;
pub use unistim::UnistimConfig;

use reader::Reader;

/// A complete, validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The file it was read from; `None` for the built-in defaults.
    pub origin: Option<PathBuf>,
    /// `[store]`
    pub store: StoreConfig,
    /// `[sip]`
    pub sip: SipConfig,
    /// `[sccp]`
    pub sccp: SccpConfig,
    /// `[unistim]`
    pub unistim: UnistimConfig,
    /// `[tftp]`
    pub tftp: TftpConfig,
    /// `[http]`
    pub http: HttpConfig,
    /// `[media]`
    pub media: MediaConfig,
    /// `[dialplan]`
    pub dialplan: DialplanConfig,
    /// `[provisioning]`
    pub provisioning: ProvisioningConfig,
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file has problems; all of them are listed.
    #[error("{}", Listing { origin, problems })]
    Invalid {
        /// The file's name as given.
        origin: String,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

struct Listing<'a> {
    origin: &'a str,
    problems: &'a [Problem],
}

impl fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "{}: {n} problem{}",
            self.origin,
            if n == 1 { "" } else { "s" }
        )?;
        for problem in self.problems {
            let sep = if problem.location.is_some() {
                ":"
            } else {
                ": "
            };
            write!(f, "\n  {}{sep}{problem}", self.origin)?;
        }
        Ok(())
    }
}

/// Parses `ADDRESS:PORT`.
pub(crate) fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| "expected ADDRESS:PORT, such as 0.0.0.0:2000 or [::]:2000".to_owned())
}

fn working_dir() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}

impl Config {
    /// The built-in defaults, with relative paths taken from `base`.
    pub fn defaults(base: &Path) -> Self {
        Self {
            origin: None,
            store: store::default(base),
            sip: SipConfig::default(),
            sccp: SccpConfig::default(),
            unistim: UnistimConfig::default(),
            tftp: tftp::default(base),
            http: HttpConfig::default(),
            media: MediaConfig::default(),
            dialplan: DialplanConfig::default(),
            provisioning: ProvisioningConfig::default(),
        }
    }

    /// Reads `path`, or returns the built-in defaults (relative to the working directory) for `None`.
    ///
    /// # Errors
    /// [`ConfigError`] if the file cannot be read or has any problem.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let Some(path) = path else {
            return Ok(Self::defaults(&working_dir()));
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, Some(path))
    }

    /// Parses configuration text; `origin` names the file in messages and anchors relative paths.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] listing every problem.
    pub fn parse(text: &str, origin: Option<&Path>) -> Result<Self, ConfigError> {
        let name = origin.map_or_else(|| "<config>".to_owned(), |p| p.display().to_string());
        let base = origin
            .and_then(Path::parent)
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(working_dir, |p| {
                std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
            });
        let invalid = |problems| ConfigError::Invalid {
            origin: name.clone(),
            problems,
        };
        let mut reader = Reader::parse(text).map_err(invalid)?;
        let config = Self {
            origin: origin.map(Path::to_owned),
            store: store::read(reader.section("store"), &base),
            sip: sip::read(reader.section("sip")),
            sccp: sccp::read(reader.section("sccp")),
            unistim: unistim::read(reader.section("unistim")),
            tftp: tftp::read(reader.section("tftp"), &base),
            http: http::read(reader.section("http")),
            media: media::read(reader.section("media")),
            dialplan: dialplan::read(reader.section("dialplan")),
            provisioning: provisioning::read(reader.section("provisioning"), &base),
        };
        if !reader.has_problems() {
            // Conflicts are only meaningful between values that were themselves valid.
            config.check_conflicts(&mut reader);
        }
        let problems = reader.finish();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(invalid(problems))
        }
    }

    /// Every socket Crossbar would bind, named by its key: (key, is_udp, address).
    fn sockets(&self) -> Vec<(String, bool, SocketAddr)> {
        let mut sockets: Vec<(String, bool, SocketAddr)> = self
            .sip
            .listen
            .iter()
            .enumerate()
            .map(|(i, l)| {
                (
                    format!("sip.listen[{i}]"),
                    l.transport == Transport::Udp,
                    l.addr,
                )
            })
            .collect();
        sockets.push(("sccp.listen".into(), false, self.sccp.listen));
        sockets.push(("unistim.listen".into(), true, self.unistim.listen));
        sockets.push(("tftp.listen".into(), true, self.tftp.listen));
        sockets.push(("http.listen".into(), false, self.http.listen));
        sockets
    }

    /// Two listeners on one port and protocol, or a UDP listener inside the RTP range, cannot both bind.
    fn check_conflicts(&self, reader: &mut Reader<'_>) {
        let sockets = self.sockets();
        let overlap = |a: &SocketAddr, b: &SocketAddr| {
            a.port() == b.port()
                && a.port() != 0
                && a.is_ipv4() == b.is_ipv4()
                && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
        };
        for (i, (key, udp, addr)) in sockets.iter().enumerate() {
            let proto = if *udp { "udp" } else { "tcp" };
            if let Some((other, ..)) = sockets[..i]
                .iter()
                .find(|(_, other_udp, other_addr)| other_udp == udp && overlap(addr, other_addr))
            {
                reader.problem(
                    key.clone(),
                    format!("{proto} {addr} is also taken by {other}"),
                );
            }
            if *udp && self.media.rtp_ports.contains(&addr.port()) {
                reader.problem(
                    key.clone(),
                    format!(
                        "udp port {} lies inside media.rtp_ports {}-{}",
                        addr.port(),
                        self.media.rtp_ports.start(),
                        self.media.rtp_ports.end()
                    ),
                );
            }
        }
    }
}
