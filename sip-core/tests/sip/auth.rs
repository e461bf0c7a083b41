//! Digest authentication (RFC 3261 §22.4, RFC 2617, RFC 8760) through real REGISTER/INVITE texts.

use bytes::Bytes;
use sip_core::auth::{
    Algorithm, AuthError, Challenger, Challenging, DigestRequest, Ha1, remove_credentials,
    request_digest,
};
use sip_core::msg::{HeaderName, SipMessage};

const NOW: u64 = 1_700_000_000;
const REALM: &str = "acme.example.com";
const URI: &str = "sip:acme.example.com";

fn ha1(user: &str) -> Option<Ha1> {
    (user == "1001").then(|| Ha1::compute("1001", REALM, "s3cret"))
}

fn nonce_of(challenge: &str) -> String {
    challenge
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned()
}

/// What a phone sends after a challenge: the digest computed from the password.
fn answer(alg: Algorithm, password: &str, realm: &str, nonce: &str, nc: &str) -> String {
    let ha1 = Ha1::compute("1001", realm, password);
    let key = if alg == Algorithm::Md5 {
        ha1.md5
    } else {
        ha1.sha256
    };
    let resp = request_digest(alg, &key, nonce, Some((nc, "0a4f113b")), "REGISTER", URI);
    format!(
        "Digest username=\"1001\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{URI}\", response=\"{resp}\", algorithm={}, cnonce=\"0a4f113b\", qop=auth, nc={nc}",
        alg.token()
    )
}

fn req(now: u64) -> DigestRequest<'static> {
    DigestRequest {
        method: "REGISTER",
        uri: URI,
        realm: REALM,
        now_unix: now,
    }
}

#[test]
fn sha256_and_md5_challenges_verify() {
    let mut c = Challenger::new([9; 32], 300);
    for alg in [Algorithm::Sha256, Algorithm::Md5] {
        // Both challenges of one 401 share a nonce; each round here is a fresh 401.
        let ch = c.challenge(REALM, NOW, false);
        assert!(ch[0].contains("algorithm=SHA-256") && ch[1].contains("algorithm=MD5"));
        let n = nonce_of(&ch[if alg == Algorithm::Sha256 { 0 } else { 1 }]);
        let ok = c
            .verify(
                &answer(alg, "s3cret", REALM, &n, "00000001"),
                &req(NOW + 10),
                ha1,
            )
            .unwrap();
        assert_eq!((ok.username.as_str(), ok.algorithm), ("1001", alg));
        // The same nonce with a higher count is fine (phones reuse nonces).
        c.verify(
            &answer(alg, "s3cret", REALM, &n, "00000002"),
            &req(NOW + 20),
            ha1,
        )
        .unwrap();
    }
}

#[test]
fn expired_nonce_with_right_password_is_stale() {
    let mut c = Challenger::new([9; 32], 300);
    let n = nonce_of(&c.challenge(REALM, NOW, false)[0]);
    let err = c
        .verify(
            &answer(Algorithm::Sha256, "s3cret", REALM, &n, "00000001"),
            &req(NOW + 301),
            ha1,
        )
        .unwrap_err();
    assert!(
        matches!(err, AuthError::Stale { .. }) && err.is_stale(),
        "{err:?}"
    );
    // The new challenge says stale=true.
    assert!(c.challenge(REALM, NOW + 301, err.is_stale())[0].ends_with("stale=true"));
    // A nonce from another secret (before a restart) is also only stale.
    let mut restarted = Challenger::new([10; 32], 300);
    let err = restarted
        .verify(
            &answer(Algorithm::Md5, "s3cret", REALM, &n, "00000001"),
            &req(NOW + 1),
            ha1,
        )
        .unwrap_err();
    assert!(err.is_stale());
}

#[test]
fn wrong_password_unknown_user_and_wrong_realm() {
    let mut c = Challenger::new([9; 32], 300);
    let n = nonce_of(&c.challenge(REALM, NOW, false)[0]);
    let err = c
        .verify(
            &answer(Algorithm::Sha256, "guess", REALM, &n, "00000001"),
            &req(NOW),
            ha1,
        )
        .unwrap_err();
    assert!(matches!(err, AuthError::WrongResponse { .. }) && !err.is_stale());
    // An expired nonce with a wrong password is a wrong password, not stale.
    let err = c
        .verify(
            &answer(Algorithm::Sha256, "guess", REALM, &n, "00000001"),
            &req(NOW + 900),
            ha1,
        )
        .unwrap_err();
    assert!(matches!(err, AuthError::WrongResponse { .. }));
    let unknown =
        answer(Algorithm::Sha256, "s3cret", REALM, &n, "00000001").replace("\"1001\"", "\"1009\"");
    assert!(matches!(
        c.verify(&unknown, &req(NOW), ha1),
        Err(AuthError::UnknownUser { .. })
    ));
    // globex credentials for an acme AOR: refused before any lookup.
    let other = answer(
        Algorithm::Sha256,
        "s3cret",
        "globex.example.com",
        &n,
        "00000001",
    );
    let err = c
        .verify(&other, &req(NOW), |_| {
            panic!("no lookup for a foreign realm")
        })
        .unwrap_err();
    assert!(matches!(err, AuthError::RealmMismatch { .. }));
    // A nonce issued for globex cannot be used in acme even with acme's digest: stale, re-challenged.
    let g = nonce_of(&c.challenge("globex.example.com", NOW, false)[0]);
    let err = c
        .verify(
            &answer(Algorithm::Sha256, "s3cret", REALM, &g, "00000001"),
            &req(NOW),
            ha1,
        )
        .unwrap_err();
    assert!(err.is_stale());
}

#[test]
fn replayed_nonce_count_is_refused() {
    let mut c = Challenger::new([9; 32], 300);
    let n = nonce_of(&c.challenge(REALM, NOW, false)[0]);
    let a = answer(Algorithm::Sha256, "s3cret", REALM, &n, "00000003");
    c.verify(&a, &req(NOW), ha1).unwrap();
    let err = c.verify(&a, &req(NOW + 1), ha1).unwrap_err();
    assert_eq!(
        err,
        AuthError::Replay {
            username: "1001".into(),
            nc: 3
        }
    );
    let lower = answer(Algorithm::Sha256, "s3cret", REALM, &n, "00000002");
    assert!(matches!(
        c.verify(&lower, &req(NOW + 1), ha1),
        Err(AuthError::Replay { nc: 2, .. })
    ));
    assert_eq!(c.tracked_nonces(), 1);
}

#[test]
fn missing_garbled_and_unsupported() {
    let mut c = Challenger::new([9; 32], 300);
    for garbled in [
        "",
        "Basic MTAwMTpzM2NyZXQ=",
        "Digest username=\"1001",
        "Digest realm=acme.example.com",
    ] {
        assert!(
            matches!(
                c.verify(garbled, &req(NOW), ha1),
                Err(AuthError::Malformed(_))
            ),
            "{garbled}"
        );
    }
    let n = nonce_of(&c.challenge(REALM, NOW, false)[0]);
    let a = answer(Algorithm::Sha256, "s3cret", REALM, &n, "00000001");
    let sess = a.replace("algorithm=SHA-256", "algorithm=SHA-256-sess");
    assert!(matches!(
        c.verify(&sess, &req(NOW), ha1),
        Err(AuthError::UnsupportedAlgorithm(_))
    ));
    let int = a.replace("qop=auth", "qop=auth-int");
    assert!(matches!(
        c.verify(&int, &req(NOW), ha1),
        Err(AuthError::UnsupportedQop(_))
    ));
    let bad_nc = a.replace("nc=00000001", "nc=1");
    assert!(matches!(
        c.verify(&bad_nc, &req(NOW), ha1),
        Err(AuthError::Malformed(_))
    ));
    let other_uri = DigestRequest {
        uri: "sip:globex.example.com",
        ..req(NOW)
    };
    assert!(matches!(
        c.verify(&a, &other_uri, ha1),
        Err(AuthError::UriMismatch { .. })
    ));
}

#[test]
fn rfc_2069_style_without_qop() {
    let mut c = Challenger::new([9; 32], 300);
    let n = nonce_of(&c.challenge(REALM, NOW, false)[1]);
    let h = Ha1::compute("1001", REALM, "s3cret");
    let resp = request_digest(Algorithm::Md5, &h.md5, &n, None, "REGISTER", URI);
    let v = format!(
        "Digest username=\"1001\",realm=\"{REALM}\",nonce=\"{n}\",uri=\"{URI}\",response=\"{resp}\""
    );
    c.verify(&v, &req(NOW), ha1).unwrap();
    let mut strict = Challenger::new([9; 32], 300).require_qop(true);
    assert!(matches!(
        strict.verify(&v, &req(NOW), ha1),
        Err(AuthError::UnsupportedQop(None))
    ));
}

fn parse(text: &str) -> SipMessage {
    SipMessage::parse(Bytes::from(text.replace('\n', "\r\n"))).unwrap()
}

#[test]
fn register_round_trip_through_messages() {
    let mut c = Challenger::new([3; 32], 300);
    let base = "REGISTER sip:acme.example.com SIP/2.0
v: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK776asdhds
t: <sip:1001@acme.example.com>
f: <sip:1001@acme.example.com>;tag=1928301774
i: a84b4c76e66710
CSeq: 1 REGISTER
m: <sip:1001@192.168.1.20:5062>
";
    let first = parse(&format!("{base}l: 0\n\n"));
    let err = c
        .verify_request(&first, Challenging::Registrar, REALM, NOW, ha1)
        .unwrap_err();
    assert_eq!(
        err,
        AuthError::Missing {
            realm: REALM.into()
        }
    );
    let resp = c.challenge_response(&first, Challenging::Registrar, REALM, NOW, false);
    assert_eq!(resp.code(), Some(401));
    let challenges: Vec<_> = resp
        .headers
        .get_all(&HeaderName::WWW_AUTHENTICATE)
        .collect();
    assert_eq!(challenges.len(), 2);
    assert!(resp.to().unwrap().tag().is_some());
    let n = nonce_of(challenges[0]);
    // An unrelated realm's credentials come first; ours must still be found.
    let second = parse(&format!(
        "{base}Authorization: Digest username=\"x\", realm=\"elsewhere\", nonce=\"n\", uri=\"{URI}\", response=\"0\"\nAuthorization: {}\nl: 0\n\n",
        answer(Algorithm::Sha256, "s3cret", REALM, &n, "00000001")
    ));
    let ok = c
        .verify_request(&second, Challenging::Registrar, REALM, NOW + 1, ha1)
        .unwrap();
    assert_eq!(ok.username, "1001");
    // A proxy challenge uses 407 and Proxy-Authenticate.
    let p = c.challenge_response(&first, Challenging::Proxy, REALM, NOW, true);
    assert_eq!(p.code(), Some(407));
    assert!(
        p.headers
            .get(&HeaderName::PROXY_AUTHENTICATE)
            .unwrap()
            .ends_with("stale=true")
    );
}

#[test]
fn consumed_proxy_credentials_are_removed_others_kept() {
    let mut m = parse(&format!(
        "INVITE sip:1002@acme.example.com SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK1
To: <sip:1002@acme.example.com>
From: <sip:1001@acme.example.com>;tag=1
Call-ID: c
CSeq: 2 INVITE
Proxy-Authorization: Digest username=\"1001\", realm=\"{REALM}\", nonce=\"n\", uri=\"sip:1002@acme.example.com\", response=\"0\"
Proxy-Authorization: Digest username=\"a\", realm=\"carrier.example.net\", nonce=\"n\", uri=\"u\", response=\"0\"
Content-Length: 0

"
    ));
    remove_credentials(&mut m, Challenging::Proxy, REALM);
    let left: Vec<_> = m
        .headers
        .get_all(&HeaderName::PROXY_AUTHORIZATION)
        .collect();
    assert_eq!(left.len(), 1);
    assert!(left[0].contains("carrier.example.net"));
}

/// Credentials whose digest uri is the server's address rather than the Request-URI (what sipp sends)
/// verify only when the caller says that address is ours.
#[test]
fn a_digest_uri_naming_the_server_is_accepted_only_when_allowed() {
    let mut c = Challenger::new([5; 32], 300);
    let n = nonce_of(&c.challenge(REALM, NOW, false)[0]);
    let server_uri = "sip:192.0.2.1:5060";
    let h = Ha1::compute("1001", REALM, "s3cret");
    let resp = request_digest(
        Algorithm::Md5,
        &h.md5,
        &n,
        Some(("00000001", "0a4f113b")),
        "REGISTER",
        server_uri,
    );
    let text = format!(
        "REGISTER sip:acme.example.com SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.9:5062;branch=z9hG4bKsipp1\n\
         To: <sip:1001@acme.example.com>\nFrom: <sip:1001@acme.example.com>;tag=1\nCall-ID: sipp-1\nCSeq: 2 REGISTER\n\
         Authorization: Digest username=\"1001\", realm=\"{REALM}\", nonce=\"{n}\", uri=\"{server_uri}\", response=\"{resp}\", \
         algorithm=MD5, cnonce=\"0a4f113b\", qop=auth, nc=00000001\nContent-Length: 0\n\n"
    );
    let msg = parse(&text);
    let refused = c.verify_request(&msg, Challenging::Registrar, REALM, NOW, ha1);
    assert!(
        matches!(refused, Err(AuthError::UriMismatch { .. })),
        "{refused:?}"
    );
    let other = c.verify_request_with(
        &msg,
        Challenging::Registrar,
        REALM,
        NOW,
        |u| u == "sip:198.51.100.1",
        ha1,
    );
    assert!(
        matches!(other, Err(AuthError::UriMismatch { .. })),
        "{other:?}"
    );
    let ok = c
        .verify_request_with(
            &msg,
            Challenging::Registrar,
            REALM,
            NOW,
            |u| u == server_uri,
            ha1,
        )
        .unwrap();
    assert_eq!(ok.username, "1001");
}

#[test]
fn a_user_with_two_passwords_is_accepted_with_either_and_refused_with_neither() {
    let mut c = Challenger::new([9; 32], 300);
    let both = |user: &str| -> Vec<Ha1> {
        if user == "1001" {
            vec![
                Ha1::compute("1001", REALM, "s3cret"),
                Ha1::compute("1001", REALM, "device-pw"),
            ]
        } else {
            Vec::new()
        }
    };
    for alg in [Algorithm::Sha256, Algorithm::Md5] {
        for (i, password) in ["s3cret", "device-pw"].into_iter().enumerate() {
            let n = nonce_of(&c.challenge(REALM, NOW, false)[0]);
            let header = answer(alg, password, REALM, &n, "00000001");
            let creds = sip_core::auth::Credentials::parse(&header).unwrap();
            let ok = c
                .verify_credentials_any(&creds, &req(NOW + 1 + i as u64), both)
                .unwrap();
            assert_eq!((ok.username.as_str(), ok.algorithm), ("1001", alg));
        }
        let n = nonce_of(&c.challenge(REALM, NOW, false)[0]);
        let header = answer(alg, "neither", REALM, &n, "00000001");
        let creds = sip_core::auth::Credentials::parse(&header).unwrap();
        assert!(matches!(
            c.verify_credentials_any(&creds, &req(NOW + 5), both),
            Err(AuthError::WrongResponse { .. })
        ));
        // No HA1 at all: an unknown user, as with the one-password lookup.
        assert!(matches!(
            c.verify_credentials_any(&creds, &req(NOW + 5), |_| Vec::new()),
            Err(AuthError::UnknownUser { .. })
        ));
    }
}
