//! Dialog state of RFC 3261 §12 and the requests built from it: Call-ID, local and remote tags and
//! URIs, the remote target (the far end's Contact), the route set (from Record-Route) and the local
//! CSeq.

use std::net::{IpAddr, SocketAddr};

use sip_core::msg::{HeaderName, Method, NameAddr, SipMessage, Uri, Via};

/// A random token for tags, branches and Call-IDs.
pub(crate) fn token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// A fresh RFC 3261 branch.
pub(crate) fn branch() -> String {
    format!("{}{}", sip_core::msg::MAGIC_COOKIE, token())
}

/// One dialog (or, before a final response, the would-be dialog of an INVITE).
#[derive(Debug, Clone)]
pub(crate) struct Dialog {
    pub(crate) call_id: String,
    pub(crate) local_tag: String,
    pub(crate) remote_tag: Option<String>,
    /// Our address (From of our requests), with its display name.
    pub(crate) local: NameAddr,
    /// The far end's address (To of our requests), without tag.
    pub(crate) remote: NameAddr,
    /// Where in-dialog requests go (the far end's Contact; the Request-URI before there is one).
    pub(crate) remote_target: Uri,
    /// Route set, first hop first.
    pub(crate) route: Vec<NameAddr>,
    pub(crate) local_cseq: u32,
    pub(crate) remote_cseq: Option<u32>,
}

/// The Contact URI of a request or response, if it has one.
pub(crate) fn contact_uri(msg: &SipMessage) -> Option<Uri> {
    msg.contacts().ok()?.into_iter().find_map(|c| match c {
        sip_core::msg::Contact::Addr(a) => Some(a.uri),
        _ => None,
    })
}

impl Dialog {
    /// The dialog a UAC starts with an INVITE.
    pub(crate) fn uac(local: NameAddr, remote: NameAddr, target: Uri) -> Self {
        Self {
            call_id: token(),
            local_tag: token(),
            remote_tag: None,
            local,
            remote,
            remote_target: target,
            route: Vec::new(),
            local_cseq: 1,
            remote_cseq: None,
        }
    }

    /// The dialog of an incoming INVITE (§12.1.1): route set from its Record-Route in order, remote
    /// target from its Contact.
    pub(crate) fn uas(req: &SipMessage) -> Option<Self> {
        let from = req.from().ok()?;
        let to = req.to().ok()?;
        let mut remote = from.clone();
        remote.params.remove("tag");
        let mut local = to;
        local.params.remove("tag");
        Some(Self {
            call_id: req.call_id()?.to_owned(),
            local_tag: token(),
            remote_tag: from.tag().map(str::to_owned),
            local,
            remote,
            remote_target: contact_uri(req).or_else(|| Some(from.uri.clone()))?,
            route: req.record_routes().unwrap_or_default(),
            local_cseq: 1,
            remote_cseq: req.cseq().ok().map(|c| c.seq),
        })
    }

    /// A UAC's dialog confirmed or made early by a response (§12.1.2): remote tag, route set from
    /// Record-Route reversed, remote target from Contact. A later response of the same dialog updates
    /// the target only.
    pub(crate) fn on_response(&mut self, resp: &SipMessage) {
        let tag = resp.to_ref().ok().and_then(|t| t.tag().map(str::to_owned));
        if tag.is_none() {
            return;
        }
        if self.remote_tag.is_none() || resp.code().is_some_and(|c| c >= 200) {
            let mut rr = resp.record_routes().unwrap_or_default();
            rr.reverse();
            if self.remote_tag != tag || !rr.is_empty() {
                self.route = rr;
            }
            self.remote_tag = tag;
        }
        if let Some(c) = contact_uri(resp) {
            self.remote_target = c;
        }
    }

    /// The next local CSeq number (RFC 3261 §12.2.1.1: one more than the last).
    pub(crate) fn next_cseq(&mut self) -> u32 {
        self.local_cseq = self.local_cseq.saturating_add(1);
        self.local_cseq
    }

    /// The From value (with our tag).
    pub(crate) fn local_header(&self) -> String {
        format!("{};tag={}", self.local, self.local_tag)
    }

    /// The To value (with the far end's tag once known).
    pub(crate) fn remote_header(&self) -> String {
        match &self.remote_tag {
            Some(t) => format!("{};tag={t}", self.remote),
            None => self.remote.to_string(),
        }
    }

    /// A request within the dialog (§12.2.1.1) with `cseq`, a fresh branch in our Via and the route
    /// set as Route headers. The Request-URI is the remote target (loose routing: every route we meet
    /// has `lr`; a strict router as first hop gets the classic §12.2.1.1 treatment).
    pub(crate) fn request(&self, method: Method, cseq: u32, via: &ViaOf) -> SipMessage {
        let (ruri, routes) = match self.route.first() {
            Some(first) if !first.uri.params.contains("lr") => {
                let mut rest: Vec<String> =
                    self.route.iter().skip(1).map(|r| r.to_string()).collect();
                rest.push(format!("<{}>", self.remote_target));
                (first.uri.clone(), rest)
            }
            _ => (
                self.remote_target.clone(),
                self.route.iter().map(|r| r.to_string()).collect(),
            ),
        };
        let mut msg = SipMessage::new_request(method.clone(), ruri);
        let h = &mut msg.headers;
        h.push(HeaderName::VIA, via.via(&branch()).to_string());
        h.push(HeaderName::MAX_FORWARDS, "70");
        for r in routes {
            h.push(HeaderName::ROUTE, r);
        }
        h.push(HeaderName::FROM, self.local_header());
        h.push(HeaderName::TO, self.remote_header());
        h.push(HeaderName::CALL_ID, self.call_id.clone());
        h.push(HeaderName::CSEQ, format!("{cseq} {method}"));
        msg
    }

    /// Where a request of this dialog is sent: the first route's address, else the remote target's,
    /// else `fallback` (the outbound proxy).
    pub(crate) fn next_hop(&self, fallback: SocketAddr) -> SocketAddr {
        let uri = self
            .route
            .first()
            .map(|r| &r.uri)
            .unwrap_or(&self.remote_target);
        uri_socket(uri).unwrap_or(fallback)
    }
}

/// The socket address of a URI with an IP host (5060 by default).
pub(crate) fn uri_socket(uri: &Uri) -> Option<SocketAddr> {
    let ip: IpAddr = uri
        .params
        .get("maddr")
        .and_then(|m| m.parse().ok())
        .or_else(|| uri.host.ip())?;
    Some(SocketAddr::new(ip, uri.port.unwrap_or(5060)))
}

/// What our Via says: sent-by host and port.
#[derive(Debug, Clone)]
pub(crate) struct ViaOf {
    pub(crate) host: sip_core::msg::Host,
    pub(crate) port: u16,
}

impl ViaOf {
    pub(crate) fn via(&self, branch: &str) -> Via {
        let mut v = Via::new("UDP", self.host.clone(), Some(self.port), branch);
        v.params.set("rport", None);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use sip_core::msg::Host;

    fn via() -> ViaOf {
        ViaOf {
            host: Host::V4([127, 0, 0, 1].into()),
            port: 5999,
        }
    }

    #[test]
    fn uac_dialog_takes_route_set_reversed_and_target_from_the_2xx() {
        let mut d = Dialog::uac(
            NameAddr::parse("\"A\" <sip:2001@acme.example.com>").unwrap(),
            NameAddr::parse("<sip:2002@acme.example.com>").unwrap(),
            Uri::parse("sip:2002@acme.example.com").unwrap(),
        );
        let ok = SipMessage::parse(Bytes::from_static(
            b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKx\r\n\
Record-Route: <sip:10.0.0.2;lr>, <sip:10.0.0.1:5070;lr>\r\nFrom: <sip:2001@acme.example.com>;tag=a\r\n\
To: <sip:2002@acme.example.com>;tag=b\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContact: <sip:2002@10.0.0.9:5062>\r\n\
Content-Length: 0\r\n\r\n",
        ))
        .unwrap();
        d.on_response(&ok);
        assert_eq!(d.remote_tag.as_deref(), Some("b"));
        assert_eq!(d.remote_target.to_string(), "sip:2002@10.0.0.9:5062");
        assert_eq!(
            d.next_hop("127.0.0.1:1".parse().unwrap()),
            "10.0.0.1:5070".parse().unwrap()
        );
        let cseq = d.next_cseq();
        let bye = d.request(Method::BYE, cseq, &via());
        assert_eq!(
            bye.request_uri().unwrap().to_string(),
            "sip:2002@10.0.0.9:5062"
        );
        let routes: Vec<String> = bye
            .routes()
            .unwrap()
            .iter()
            .map(|r| r.uri.to_string())
            .collect();
        assert_eq!(routes, ["sip:10.0.0.1:5070;lr", "sip:10.0.0.2;lr"]);
        assert_eq!(bye.cseq().unwrap().seq, 2);
        assert!(
            bye.headers
                .get(&HeaderName::TO)
                .unwrap()
                .ends_with(";tag=b")
        );
    }

    #[test]
    fn a_strict_router_first_hop_gets_the_request_uri() {
        let req = SipMessage::parse(Bytes::from_static(
            b"INVITE sip:2001@127.0.0.1:5999 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKy\r\n\
Record-Route: <sip:10.0.0.1>\r\nFrom: \"B\" <sip:2002@acme.example.com>;tag=f\r\n\
To: <sip:2001@acme.example.com>\r\nCall-ID: k\r\nCSeq: 7 INVITE\r\nContact: <sip:2002@10.0.0.5>\r\n\
Content-Length: 0\r\n\r\n",
        ))
        .unwrap();
        let d = Dialog::uas(&req).unwrap();
        assert_eq!(d.remote_cseq, Some(7));
        assert_eq!(d.remote.display.as_deref(), Some("B"));
        let bye = d.request(Method::BYE, 2, &via());
        assert_eq!(bye.request_uri().unwrap().to_string(), "sip:10.0.0.1");
        let routes: Vec<String> = bye
            .routes()
            .unwrap()
            .iter()
            .map(|r| r.uri.to_string())
            .collect();
        assert_eq!(routes, ["sip:2002@10.0.0.5"]);
    }
}
