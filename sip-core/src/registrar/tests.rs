use super::*;
use bytes::Bytes;

fn req(extra: &str) -> SipMessage {
    let text = format!(
        "REGISTER sip:acme.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKr\r\nTo: <sip:%31001@acme.example.com>\r\nFrom: <sip:1001@acme.example.com>;tag=a\r\nCall-ID: c\r\nCSeq: 7 REGISTER\r\n{extra}Content-Length: 0\r\n\r\n"
    );
    SipMessage::parse(Bytes::from(text)).unwrap()
}

#[test]
fn aor_user_is_unescaped_and_domain_checked() {
    let r = req("");
    assert_eq!(
        aor_of(&r, |d| d == "acme.example.com").unwrap(),
        Aor::new("1001", "acme.example.com")
    );
    assert!(matches!(
        aor_of(&r, |_| false),
        Err(RegisterError::NotOurDomain { .. })
    ));
    let no_user = Uri::parse("sip:acme.example.com").unwrap();
    assert_eq!(aor_of_uri(&no_user, |_| true).unwrap_err().status(), 400);
}

#[test]
fn status_codes_and_reasons() {
    let cases: [(RegisterError, u16); 6] = [
        (RegisterError::BadRequest { reason: "x" }, 400),
        (RegisterError::NotOurDomain { domain: "d".into() }, 403),
        (
            RegisterError::Unsupported {
                options: vec!["foo".into()],
            },
            420,
        ),
        (
            RegisterError::IntervalTooBrief {
                requested: 1,
                min_expires: 60,
            },
            423,
        ),
        (RegisterError::TooManyContacts { count: 3, max: 2 }, 403),
        (
            RegisterError::OutOfOrder {
                call_id: "c".into(),
                cseq: 1,
                stored: 2,
            },
            500,
        ),
    ];
    let r = req("");
    for (err, code) in cases {
        assert_eq!(err.status(), code);
        let resp = err.response(&r);
        assert_eq!(resp.code(), Some(code));
        assert!(resp.to().unwrap().tag().is_some());
    }
}

#[test]
fn mixed_expire_forms_validate_all_before_applying() {
    // The second contact is too brief: nothing from the first may be applied either.
    let r = req("Contact: <sip:a@10.0.0.5>, <sip:b@10.0.0.5>;expires=5\r\n");
    let err = process_register(
        &r,
        &[],
        100,
        &RequestSource::default(),
        &RegistrarPolicy::default(),
    )
    .unwrap_err();
    assert_eq!(err.status(), 423);
    // Expires 0 needs no minimum.
    let r = req("Contact: <sip:a@10.0.0.5>;expires=0\r\n");
    let out = process_register(
        &r,
        &[],
        100,
        &RequestSource::default(),
        &RegistrarPolicy::default(),
    )
    .unwrap();
    assert!(out.bindings.is_empty() && out.changed);
}

#[test]
fn duplicate_contact_in_one_request_is_not_out_of_order() {
    let r = req("Contact: <sip:a@10.0.0.5>;expires=100, <sip:a@10.0.0.5>;expires=200\r\n");
    let out = process_register(
        &r,
        &[],
        0,
        &RequestSource::default(),
        &RegistrarPolicy::default(),
    )
    .unwrap();
    assert_eq!(out.bindings.len(), 1);
    assert_eq!(out.bindings[0].expires_at, 200, "last one wins");
}

#[test]
fn a_refresh_is_told_apart_from_any_other_change() {
    let policy = RegistrarPolicy::default();
    let source = RequestSource {
        transport: "UDP",
        received: "10.0.0.5:5060",
        owner: "",
    };
    let register = |extra: &str, current: &[Binding], source: &RequestSource<'_>| {
        process_register(&req(extra), current, 100, source, &policy).unwrap()
    };
    let first = register("Contact: <sip:a@10.0.0.5>\r\n", &[], &source);
    assert!(
        first.changed && !first.refreshed,
        "a new contact is no refresh"
    );
    // The stored binding came from an earlier REGISTER of the same Call-ID.
    let mut current = first.bindings;
    current[0].cseq = 6;
    let again = register("Contact: <sip:a@10.0.0.5>\r\n", &current, &source);
    assert!(again.refreshed && !again.removed);
    assert!(again.bindings[0].refreshes(&current[0]));
    // Anything but the expiry, Call-ID and CSeq moving makes it a full write.
    let moved = RequestSource {
        received: "10.0.0.6:5060",
        ..source
    };
    for (extra, source) in [
        (
            "Contact: <sip:a@10.0.0.5>\r\nUser-Agent: phone/2\r\n",
            &source,
        ),
        ("Contact: <sip:a@10.0.0.5>;q=0.5\r\n", &source),
        (
            "Contact: <sip:a@10.0.0.5>\r\nPath: <sip:edge.example.com;lr>\r\n",
            &source,
        ),
        ("Contact: <sip:a@10.0.0.5>, <sip:b@10.0.0.5>\r\n", &source),
        ("Contact: <sip:a@10.0.0.5>\r\n", &moved),
    ] {
        let out = register(extra, &current, source);
        assert!(
            out.changed && !out.refreshed,
            "{extra:?} from {}",
            source.received
        );
    }
    let gone = register("Contact: <sip:a@10.0.0.5>;expires=0\r\n", &current, &source);
    assert!(gone.removed && !gone.refreshed);
    // A retransmission changes nothing and is no write at all.
    let mut same = current.clone();
    same[0].cseq = 7;
    let retransmitted = register("Contact: <sip:a@10.0.0.5>\r\n", &same, &source);
    assert!(!retransmitted.changed && !retransmitted.refreshed);
}
