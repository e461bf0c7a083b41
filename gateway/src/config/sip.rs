//! `[sip]`: the SIP listeners and domain settings.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use provisioning::inventory::is_domain;

use super::reader::Section;

/// A SIP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// SIP over UDP.
    Udp,
    /// SIP over TCP.
    Tcp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
        })
    }
}

/// One `[sip] listen` entry, such as `udp:0.0.0.0:5060`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipListen {
    /// The transport.
    pub transport: Transport,
    /// The local address.
    pub addr: SocketAddr,
}

impl fmt::Display for SipListen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.transport, self.addr)
    }
}

/// The validated `[sip]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipConfig {
    /// Where SIP is received.
    pub listen: Vec<SipListen>,
    /// The domain of CSV rows without one.
    pub default_domain: String,
    /// The address put in Via, Contact and SDP when it differs from the bound one.
    pub advertised_address: Option<String>,
    /// A registrar legacy lines register and call through instead of ours.
    pub upstream: Option<String>,
    /// Flood protection: requests per second allowed from one source address (bursts of five times
    /// that); 0 turns it off.
    pub rate_limit: u32,
    /// Timer C of the proxy (RFC 3261 §16.6): seconds an INVITE branch may ring without a final
    /// response before it is cancelled.
    pub invite_timeout_secs: u32,
}

/// The default `[sip] invite_timeout_secs`: just over the three minutes RFC 3261 §16.6 asks for.
pub(crate) const DEFAULT_INVITE_TIMEOUT_SECS: u32 = 181;

/// The default `[sip] rate_limit`: generous enough for an office of phones behind one NAT address
/// re-registering at once, low enough that a scanner is slowed to a trickle.
pub(crate) const DEFAULT_RATE_LIMIT: u32 = 200;

impl Default for SipConfig {
    fn default() -> Self {
        let any = SocketAddr::from(([0, 0, 0, 0], 5060));
        Self {
            listen: vec![
                SipListen {
                    transport: Transport::Udp,
                    addr: any,
                },
                SipListen {
                    transport: Transport::Tcp,
                    addr: any,
                },
            ],
            default_domain: "crossbar.local".to_owned(),
            advertised_address: None,
            upstream: None,
            rate_limit: DEFAULT_RATE_LIMIT,
            invite_timeout_secs: DEFAULT_INVITE_TIMEOUT_SECS,
        }
    }
}

/// Parses `TRANSPORT:ADDRESS:PORT`; IPv6 addresses in brackets (`udp:[::]:5060`).
pub(super) fn listen(text: &str) -> Result<SipListen, String> {
    let (transport, addr) = text
        .split_once(':')
        .ok_or_else(|| "expected TRANSPORT:ADDRESS:PORT, such as udp:0.0.0.0:5060".to_owned())?;
    let transport = match transport {
        "udp" => Transport::Udp,
        "tcp" => Transport::Tcp,
        _ => return Err(format!("transport {transport:?} is not udp or tcp")),
    };
    let addr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not ADDRESS:PORT (IPv6 in brackets: [::1]:5060)"))?;
    Ok(SipListen { transport, addr })
}

fn host(text: &str) -> bool {
    text.parse::<IpAddr>().is_ok() || is_domain(&text.to_ascii_lowercase())
}

/// Checks `sip:HOST[:PORT][;params]` / `sips:...` with a host that is a name, an IPv4 or a bracketed IPv6
/// address.
pub(super) fn upstream(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("sip:")
        .or_else(|| text.strip_prefix("sips:"))
        .ok_or_else(|| {
            "expected a sip: or sips: URI, such as sip:pbx.example.com:5060".to_owned()
        })?;
    let hostport = rest.split(';').next().unwrap_or_default();
    let hostport = hostport.rsplit_once('@').map_or(hostport, |(_, h)| h);
    let (host_part, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or("unclosed '[' in the host")?;
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("{addr:?} is not an IPv6 address"));
        }
        (None, after.strip_prefix(':'))
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(hostport), None),
        }
    };
    if let Some(h) = host_part
        && !host(h)
    {
        return Err(format!("{h:?} is not a host name or address"));
    }
    if let Some(p) = port
        && !p.parse::<u16>().is_ok_and(|p| p > 0)
    {
        return Err(format!("{p:?} is not a port"));
    }
    Ok(text.to_owned())
}

pub(super) fn read(mut s: Section<'_, '_>) -> SipConfig {
    let default = SipConfig::default();
    let config = SipConfig {
        listen: s.parsed_list("listen", listen).unwrap_or(default.listen),
        default_domain: s
            .parsed("default_domain", |d| {
                let d = d.to_ascii_lowercase();
                if is_domain(&d) {
                    Ok(d)
                } else {
                    Err("not a domain name".to_owned())
                }
            })
            .unwrap_or(default.default_domain),
        advertised_address: s.parsed("advertised_address", |a| {
            if host(a) {
                Ok(a.to_owned())
            } else {
                Err("not an IP address or host name".to_owned())
            }
        }),
        upstream: s.parsed("upstream", upstream),
        rate_limit: s
            .integer("rate_limit", 0..=1_000_000)
            .map_or(default.rate_limit, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        invite_timeout_secs: s
            .integer("invite_timeout_secs", 1..=3600)
            .map_or(default.invite_timeout_secs, |n| {
                u32::try_from(n).unwrap_or(DEFAULT_INVITE_TIMEOUT_SECS)
            }),
    };
    s.finish();
    config
}
