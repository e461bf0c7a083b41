//! Registrar (RFC 3261 §10.3, RFC 3327) driven by REGISTER texts as softphones send them, parsed by
//! the crate's own parser.

use bytes::Bytes;
use sip_core::auth::{Algorithm, Authenticated};
use sip_core::location::{Aor, Binding, Location};
use sip_core::msg::{HeaderName, SipMessage};
use sip_core::registrar::{
    RegisterError, RegistrarPolicy, RequestSource, aor_of, authorize, process_register,
};

const NOW: u64 = 1_700_000_000;

fn msg(text: &str) -> SipMessage {
    SipMessage::parse(Bytes::from(text.replace('\n', "\r\n"))).unwrap()
}

fn source() -> RequestSource<'static> {
    RequestSource {
        transport: "UDP",
        received: "203.0.113.7:5062",
        owner: "",
    }
}

fn ours(d: &str) -> bool {
    d == "acme.example.com" || d == "globex.example.com"
}

/// A Zoiper-style REGISTER with two contacts and q-values.
fn two_contacts(cseq: u32, call_id: &str) -> SipMessage {
    msg(&format!(
        "REGISTER sip:acme.example.com SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK-524287-1---a1b2c3d4;rport
Max-Forwards: 70
Contact: <sip:1001@192.168.1.20:5062;transport=UDP>;q=0.9, <sip:1001@10.8.0.2:5062;ob>;q=0.4;expires=1800
To: <sip:1001@acme.example.com>
From: \"Ann\" <sip:1001@acme.example.com>;tag=4f9c1b2a
Call-ID: {call_id}
CSeq: {cseq} REGISTER
Expires: 3600
Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE
User-Agent: Z 5.6.1 v2.10.20.3
Content-Length: 0

"
    ))
}

fn register(cseq: u32, call_id: &str, extra: &str) -> SipMessage {
    msg(&format!(
        "REGISTER sip:acme.example.com SIP/2.0
v: SIP/2.0/TCP 192.168.1.30:49152;branch=z9hG4bKxyz{cseq}
Max-Forwards: 70
t: <sip:1001@ACME.example.com>
f: <sip:1001@acme.example.com>;tag=77
i: {call_id}
CSeq: {cseq} REGISTER
{extra}l: 0

"
    ))
}

fn run(req: &SipMessage, current: &[Binding]) -> Result<Vec<Binding>, RegisterError> {
    process_register(req, current, NOW, &source(), &RegistrarPolicy::default()).map(|o| o.bindings)
}

#[test]
fn a_refresh_keeps_the_text_it_does_not_change() {
    use std::sync::Arc;
    let first = run(&two_contacts(1, "cid-1"), &[]).unwrap();
    let same = run(&two_contacts(2, "cid-1"), &first).unwrap();
    let other = run(&two_contacts(1, "cid-2"), &first).unwrap();
    assert_eq!(same.len(), 2);
    for (old, new) in first.iter().zip(&same) {
        assert_eq!(old.contact, new.contact);
        assert_eq!(new.cseq, 2);
        for (a, b) in [
            (&old.contact, &new.contact),
            (&old.call_id, &new.call_id),
            (&old.transport, &new.transport),
            (&old.received, &new.received),
            (&old.user_agent, &new.user_agent),
        ] {
            assert!(Arc::ptr_eq(a, b), "{a} was copied, not kept");
        }
    }
    // Another Call-ID is new text; the rest is still kept.
    for (old, new) in first.iter().zip(&other) {
        assert_eq!(&*new.call_id, "cid-2");
        assert!(!Arc::ptr_eq(&old.call_id, &new.call_id));
        assert!(Arc::ptr_eq(&old.contact, &new.contact));
    }
}

#[test]
fn two_contacts_with_q_and_per_contact_expires() {
    let req = two_contacts(1, "cid-1");
    assert_eq!(
        aor_of(&req, ours).unwrap(),
        Aor::new("1001", "acme.example.com")
    );
    let out = process_register(&req, &[], NOW, &source(), &RegistrarPolicy::default()).unwrap();
    let got: Vec<_> = out
        .bindings
        .iter()
        .map(|b| (b.contact.as_ref(), b.q, b.expires_at - NOW))
        .collect();
    assert_eq!(
        got,
        [
            ("sip:1001@192.168.1.20:5062;transport=UDP", 900, 3600),
            ("sip:1001@10.8.0.2:5062;ob", 400, 1800)
        ]
    );
    let b = &out.bindings[0];
    assert_eq!(
        (b.call_id.as_ref(), b.cseq, b.user_agent.as_ref()),
        ("cid-1", 1, "Z 5.6.1 v2.10.20.3")
    );
    assert_eq!(
        (b.transport.as_ref(), b.received.as_ref()),
        ("UDP", "203.0.113.7:5062")
    );

    let resp = out.response(&req, NOW + 100);
    assert_eq!(resp.code(), Some(200));
    let contacts: Vec<_> = resp.headers.get_all(&HeaderName::CONTACT).collect();
    assert_eq!(
        contacts,
        [
            "<sip:1001@192.168.1.20:5062;transport=UDP>;expires=3500;q=0.9",
            "<sip:1001@10.8.0.2:5062;ob>;expires=1700;q=0.4"
        ]
    );
    assert!(
        resp.to().unwrap().tag().is_some(),
        "a 200 to REGISTER carries a To tag"
    );
    // The response serialises and parses back.
    let back = SipMessage::parse(resp.to_bytes()).unwrap();
    assert_eq!(back.contacts().unwrap().len(), 2);
}

#[test]
fn refresh_same_call_id_higher_cseq_updates_in_place() {
    let first = run(&two_contacts(1, "cid-1"), &[]).unwrap();
    let again = run(&two_contacts(2, "cid-1"), &first).unwrap();
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|b| b.cseq == 2));
}

#[test]
fn the_outcome_says_when_a_contact_went_away() {
    let policy = RegistrarPolicy::default();
    let outcome = |req: &SipMessage, current: &[Binding], now: u64| {
        process_register(req, current, now, &source(), &policy).unwrap()
    };
    let first = outcome(&two_contacts(1, "cid-1"), &[], NOW);
    assert!(first.changed && !first.removed, "new contacts only");
    let refresh = outcome(&two_contacts(2, "cid-1"), &first.bindings, NOW);
    assert!(refresh.changed && !refresh.removed, "a refresh keeps both");
    let one_gone = register(3, "cid-1", "m: <sip:1001@10.8.0.2:5062;ob>;expires=0\n");
    assert!(
        outcome(&one_gone, &first.bindings, NOW).removed,
        "expires=0"
    );
    // At NOW+1800 the second contact has lapsed: refreshing the first drops it.
    let lapsed = register(
        3,
        "cid-1",
        "m: <sip:1001@192.168.1.20:5062;transport=UDP>\n",
    );
    assert!(
        outcome(&lapsed, &first.bindings, NOW + 1800).removed,
        "lapsed"
    );
    let star = register(3, "cid-1", "m: *\nExpires: 0\n");
    assert!(outcome(&star, &first.bindings, NOW).removed, "Contact: *");
}

#[test]
fn a_retransmitted_register_gets_the_same_bindings_back() {
    let first = run(&two_contacts(5, "cid-1"), &[]).unwrap();
    let again = run(&two_contacts(5, "cid-1"), &first).unwrap();
    assert_eq!(
        again, first,
        "answered with the current bindings, nothing changed"
    );
}

#[test]
fn same_call_id_lower_cseq_is_500() {
    let first = run(&two_contacts(5, "cid-1"), &[]).unwrap();
    for cseq in [4, 1] {
        let err = run(&two_contacts(cseq, "cid-1"), &first).unwrap_err();
        assert!(
            matches!(err, RegisterError::OutOfOrder { stored: 5, .. }),
            "{err:?}"
        );
        assert_eq!(err.status(), 500);
    }
    // Another Call-ID (a rebooted phone) may use any CSeq.
    assert_eq!(run(&two_contacts(1, "cid-2"), &first).unwrap().len(), 2);
}

#[test]
fn contact_matching_uses_uri_equivalence() {
    let first = run(
        &register(1, "c", "m: <sip:1001@192.168.1.30:49152;transport=tcp>\n"),
        &[],
    )
    .unwrap();
    // Same URI with the transport in another case and an extra unknown parameter: a refresh.
    let next = run(
        &register(
            2,
            "c",
            "m: <sip:1001@192.168.1.30:49152;Transport=TCP;x=1>;expires=600\n",
        ),
        &first,
    )
    .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].expires_at, NOW + 600);
    // An explicit default port is another contact (RFC 3261 §19.1.4).
    let third = run(
        &register(3, "c", "m: <sip:1001@192.168.1.30:5060;transport=tcp>\n"),
        &next,
    )
    .unwrap();
    assert_eq!(third.len(), 2);
}

#[test]
fn expiry_sources_and_limits() {
    let policy = RegistrarPolicy {
        min_expires: 60,
        max_expires: 3600,
        default_expires: 1200,
        max_contacts: 10,
    };
    let exp = |extra: &str| {
        process_register(&register(1, "c", extra), &[], NOW, &source(), &policy)
            .map(|o| o.bindings[0].expires_at - NOW)
    };
    assert_eq!(exp("m: <sip:a@h>\n").unwrap(), 1200, "default");
    assert_eq!(exp("m: <sip:a@h>\nExpires: 300\n").unwrap(), 300, "header");
    assert_eq!(
        exp("m: <sip:a@h>;expires=90\nExpires: 300\n").unwrap(),
        90,
        "param beats header"
    );
    assert_eq!(
        exp("m: <sip:a@h>\nExpires: 86400\n").unwrap(),
        3600,
        "clamped to max"
    );
    let err = exp("m: <sip:a@h>;expires=30\n").unwrap_err();
    assert_eq!(
        err,
        RegisterError::IntervalTooBrief {
            requested: 30,
            min_expires: 60
        }
    );
    let req = register(1, "c", "m: <sip:a@h>;expires=30\n");
    let resp = err.response(&req);
    assert_eq!(
        (resp.code(), resp.headers.get(&HeaderName::MIN_EXPIRES)),
        (Some(423), Some("60"))
    );
    assert_eq!(
        exp("m: <sip:a@h>\nExpires: soon\n").unwrap_err().status(),
        400
    );
    assert_eq!(exp("m: <sip:a@h>;q=1.5\n").unwrap_err().status(), 400);
}

#[test]
fn expires_zero_removes_one_contact() {
    let first = run(&two_contacts(1, "cid-1"), &[]).unwrap();
    let req = register(2, "cid-1", "m: <sip:1001@10.8.0.2:5062;ob>;expires=0\n");
    let left = run(&req, &first).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(
        &*left[0].contact,
        "sip:1001@192.168.1.20:5062;transport=UDP"
    );
}

#[test]
fn star_removes_all_only_with_expires_zero_and_alone() {
    let first = run(&two_contacts(2, "cid-1"), &[]).unwrap();
    assert!(
        run(&register(3, "cid-1", "m: *\nExpires: 0\n"), &first)
            .unwrap()
            .is_empty()
    );
    for bad in [
        "m: *\n",
        "m: *\nExpires: 60\n",
        "m: *, <sip:a@h>\nExpires: 0\n",
    ] {
        let err = run(&register(3, "cid-1", bad), &first).unwrap_err();
        assert_eq!(err.status(), 400, "{bad}");
    }
    // `*` with a stale CSeq of the same Call-ID is out of order.
    assert_eq!(
        run(&register(1, "cid-1", "m: *\nExpires: 0\n"), &first)
            .unwrap_err()
            .status(),
        500
    );
}

#[test]
fn query_without_contact_lists_and_changes_nothing() {
    let first = run(&two_contacts(1, "cid-1"), &[]).unwrap();
    let req = register(2, "cid-9", "");
    let out = process_register(
        &req,
        &first,
        NOW + 10,
        &source(),
        &RegistrarPolicy::default(),
    )
    .unwrap();
    assert!(!out.changed);
    assert_eq!(out.bindings, first);
    assert_eq!(
        out.response(&req, NOW + 10)
            .headers
            .get_all(&HeaderName::CONTACT)
            .count(),
        2
    );
}

#[test]
fn lapsed_bindings_are_dropped() {
    let first = run(&two_contacts(1, "cid-1"), &[]).unwrap();
    // At NOW+1800 the second contact (expires=1800) has lapsed; a query shows only the first.
    let out = process_register(
        &register(9, "x", ""),
        &first,
        NOW + 1800,
        &source(),
        &RegistrarPolicy::default(),
    )
    .unwrap();
    assert_eq!(out.bindings.len(), 1);
}

#[test]
fn path_is_stored_and_echoed_when_supported() {
    let extra = "m: <sip:1001@192.168.1.30:49152;transport=tcp>\nPath: <sip:edge1.example.net;lr>\nPath: <sip:edge2.example.net;lr;ob>\nk: path, outbound\n";
    let req = register(1, "p", extra);
    let out = process_register(&req, &[], NOW, &source(), &RegistrarPolicy::default()).unwrap();
    assert_eq!(
        out.bindings[0].path,
        [
            "<sip:edge1.example.net;lr>",
            "<sip:edge2.example.net;lr;ob>"
        ]
    );
    let resp = out.response(&req, NOW);
    let paths: Vec<_> = resp.headers.get_all(&HeaderName::PATH).collect();
    assert_eq!(
        paths,
        [
            "<sip:edge1.example.net;lr>",
            "<sip:edge2.example.net;lr;ob>"
        ]
    );
    // Without Supported: path the path is still stored but not echoed.
    let req = register(1, "p", "m: <sip:a@h>\nPath: <sip:edge1.example.net;lr>\n");
    let out = process_register(&req, &[], NOW, &source(), &RegistrarPolicy::default()).unwrap();
    assert_eq!(out.bindings[0].path.len(), 1);
    assert!(
        out.response(&req, NOW)
            .headers
            .get(&HeaderName::PATH)
            .is_none()
    );
    // The column form round-trips.
    assert_eq!(
        Binding::parse_path_column(&out.bindings[0].path_column()),
        out.bindings[0].path
    );
}

#[test]
fn require_unknown_extension_is_420() {
    let req = register(1, "r", "m: <sip:a@h>\nRequire: path, foo\n");
    let err = run(&req, &[]).unwrap_err();
    assert_eq!(
        err,
        RegisterError::Unsupported {
            options: vec!["foo".into()]
        }
    );
    let resp = err.response(&req);
    assert_eq!(
        (resp.code(), resp.headers.get(&HeaderName::UNSUPPORTED)),
        (Some(420), Some("foo"))
    );
}

#[test]
fn max_contacts_is_403() {
    let policy = RegistrarPolicy {
        max_contacts: 1,
        ..RegistrarPolicy::default()
    };
    let err = process_register(&two_contacts(1, "c"), &[], NOW, &source(), &policy).unwrap_err();
    assert_eq!(err, RegisterError::TooManyContacts { count: 2, max: 1 });
    assert_eq!(err.status(), 403);
}

#[test]
fn domain_checks_and_authorization() {
    let req = msg("REGISTER sip:evil.example.org SIP/2.0
Via: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bK1
To: <sip:1001@evil.example.org>
From: <sip:1001@evil.example.org>;tag=1
Call-ID: x
CSeq: 1 REGISTER
Contact: <sip:1001@198.51.100.1>
Content-Length: 0

");
    let err = aor_of(&req, ours).unwrap_err();
    assert_eq!(err.status(), 403);
    assert!(
        matches!(err, RegisterError::NotOurDomain { ref domain } if domain == "evil.example.org")
    );

    let aor = Aor::new("1001", "acme.example.com");
    let who = |u: &str, r: &str| Authenticated {
        username: u.into(),
        realm: r.into(),
        algorithm: Algorithm::Sha256,
    };
    assert!(authorize(&aor, &who("1001", "acme.example.com")).is_ok());
    // Another user of the same domain, or the same extension of another tenant: 403.
    assert_eq!(
        authorize(&aor, &who("1002", "acme.example.com"))
            .unwrap_err()
            .status(),
        403
    );
    assert_eq!(
        authorize(&aor, &who("1001", "globex.example.com"))
            .unwrap_err()
            .status(),
        403
    );
}

#[test]
fn tenants_never_see_each_other() {
    let mut table = Location::new();
    let acme = Aor::new("1001", "acme.example.com");
    let globex = Aor::new("1001", "globex.example.com");
    table.replace(acme.clone(), run(&two_contacts(1, "c"), &[]).unwrap());
    assert!(table.lookup(&globex, NOW).is_empty());
    // globex's REGISTER starts from globex's (empty) set and leaves acme's alone.
    let req = msg("REGISTER sip:globex.example.com SIP/2.0
Via: SIP/2.0/UDP 198.51.100.9;branch=z9hG4bK9
To: <sip:1001@globex.example.com>
From: <sip:1001@globex.example.com>;tag=9
Call-ID: g
CSeq: 1 REGISTER
Contact: <sip:1001@198.51.100.9>
Content-Length: 0

");
    let aor = aor_of(&req, ours).unwrap();
    assert_eq!(aor, globex);
    let set = process_register(
        &req,
        table.bindings(&aor),
        NOW,
        &source(),
        &RegistrarPolicy::default(),
    )
    .unwrap();
    table.replace(aor, set.bindings);
    assert_eq!(table.lookup(&acme, NOW).len(), 2);
    let g: Vec<_> = table
        .lookup(&globex, NOW)
        .iter()
        .map(|b| b.contact.to_string())
        .collect();
    assert_eq!(g, ["sip:1001@198.51.100.9"]);
}
