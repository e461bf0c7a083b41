//! The REGISTER requests the registrar benchmark and the `register_cost` example share: a Zoiper-style
//! REGISTER with two contacts, without credentials (the first request) and with a digest answer.

use bytes::Bytes;
use sip_core::auth::{Algorithm, Challenger, Challenging, Ha1, request_digest};
use sip_core::location::Binding;
use sip_core::msg::SipMessage;
use sip_core::registrar::{RegistrarPolicy, RequestSource, aor_of, authorize, process_register};

pub(crate) const NOW: u64 = 1_700_000_000;
pub(crate) const REALM: &str = "acme.example.com";
pub(crate) const URI: &str = "sip:acme.example.com";

pub(crate) fn nonce(c: &Challenger) -> String {
    let ch = c.challenge(REALM, NOW, false);
    ch[0]
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned()
}

pub(crate) fn authorization(alg: Algorithm, nonce: &str) -> String {
    let ha1 = Ha1::compute("1001", REALM, "s3cret");
    let key = if alg == Algorithm::Md5 {
        ha1.md5
    } else {
        ha1.sha256
    };
    let resp = request_digest(
        alg,
        &key,
        nonce,
        Some(("00000001", "0a4f113b")),
        "REGISTER",
        URI,
    );
    format!(
        "Digest username=\"1001\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{URI}\", response=\"{resp}\", algorithm={}, cnonce=\"0a4f113b\", qop=auth, nc=00000001",
        alg.token()
    )
}

pub(crate) fn register(auth: &str, cseq: u32) -> Bytes {
    Bytes::from(format!(
        "REGISTER sip:acme.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK-524287-1---a1b2c3d4;rport\r\n\
Max-Forwards: 70\r\n\
Contact: <sip:1001@192.168.1.20:5062;transport=UDP>;q=0.9, <sip:1001@10.8.0.2:5062;ob>;q=0.4;expires=1800\r\n\
To: <sip:1001@acme.example.com>\r\n\
From: \"Ann\" <sip:1001@acme.example.com>;tag=4f9c1b2a\r\n\
Call-ID: 5d7a0c1e9b3f\r\n\
CSeq: {cseq} REGISTER\r\n\
Expires: 3600\r\n\
User-Agent: Z 5.6.1 v2.10.20.3\r\n\
Authorization: {auth}\r\n\
Content-Length: 0\r\n\r\n"
    ))
}

/// The REGISTER a phone sends first, without credentials (sipp's `register_auth.xml` shape).
pub(crate) fn unauthenticated_register() -> Bytes {
    let text = String::from_utf8(register("x", 1).to_vec()).unwrap();
    let without: String = text
        .split_inclusive("\r\n")
        .filter(|line| !line.starts_with("Authorization:"))
        .collect();
    Bytes::from(without)
}

/// What the registrar side holds: user 1001's HA1, its two bindings (made by an earlier REGISTER),
/// where requests come from, and the default policy.
pub(crate) struct Registrar {
    pub(crate) ha1: Ha1,
    pub(crate) current: Vec<Binding>,
    pub(crate) source: RequestSource<'static>,
    pub(crate) policy: RegistrarPolicy,
}

impl Registrar {
    pub(crate) fn new() -> Self {
        let source = RequestSource {
            transport: "UDP",
            received: "203.0.113.7:5062",
            owner: "",
        };
        let policy = RegistrarPolicy::default();
        let earlier = SipMessage::parse(register("Digest x=y", 1)).unwrap();
        let current = process_register(&earlier, &[], NOW - 1000, &source, &policy)
            .unwrap()
            .bindings;
        Self {
            ha1: Ha1::compute("1001", REALM, "s3cret"),
            current,
            source,
            policy,
        }
    }

    /// The first request as the SIP core handles it: parse, validate, AOR, no credentials, the 401
    /// with both challenges and a To tag, serialised.
    pub(crate) fn challenge(&self, ch: &mut Challenger, datagram: Bytes) -> Bytes {
        let req = SipMessage::parse(datagram).unwrap();
        req.validate().unwrap();
        let aor = aor_of(&req, |d| d == REALM).unwrap();
        let refused = ch.verify_request(&req, Challenging::Registrar, &aor.domain, NOW, |_| {
            Some(self.ha1.clone())
        });
        assert!(refused.is_err());
        ch.challenge_response(&req, Challenging::Registrar, &aor.domain, NOW, false)
            .to_bytes()
    }

    /// The authenticated request: parse, validate, AOR, digest, authorisation, the bindings
    /// refreshed, the 200 serialised.
    pub(crate) fn register(&self, ch: &mut Challenger, datagram: Bytes) -> Bytes {
        let req = SipMessage::parse(datagram).unwrap();
        req.validate().unwrap();
        let aor = aor_of(&req, |d| d == REALM).unwrap();
        let who = ch
            .verify_request(&req, Challenging::Registrar, &aor.domain, NOW, |_| {
                Some(self.ha1.clone())
            })
            .unwrap();
        authorize(&aor, &who).unwrap();
        let out = process_register(&req, &self.current, NOW, &self.source, &self.policy).unwrap();
        out.response(&req, NOW).to_bytes()
    }
}
