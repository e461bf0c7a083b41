use super::*;

#[test]
fn rfc_2617_section_3_5_md5_vector() {
    // Mufasa / "Circle Of Life" / testrealm@host.com, GET /dir/index.html.
    let ha1 = Ha1::compute("Mufasa", "testrealm@host.com", "Circle Of Life");
    assert_eq!(&*ha1.md5, "939e7578ed9e3c518a452acee763bce9");
    let response = request_digest(
        Algorithm::Md5,
        &ha1.md5,
        "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        Some(("00000001", "0a4f113b")),
        "GET",
        "/dir/index.html",
    );
    assert_eq!(response, "6629fae49393a05397450978507c4ef1");
}

#[test]
fn sha256_vector_from_python_hashlib() {
    // python3: h=lambda s: hashlib.sha256(s.encode()).hexdigest()
    //   ha1=h("1001:acme.example.com:s3cret"); ha2=h("REGISTER:sip:acme.example.com")
    //   h(f"{ha1}:{nonce}:00000001:0a4f113b:auth:{ha2}"), and h(f"{ha1}:{nonce}:{ha2}") without qop
    let ha1 = Ha1::compute("1001", "acme.example.com", "s3cret");
    assert_eq!(
        &*ha1.sha256,
        "4d62e7f650cbceebcf086d95fc44afc3b34cd2337ecb244f6bd37fa6b0619d98"
    );
    assert_eq!(&*ha1.md5, "c4923d7dc16b049f95355321b541063f");
    let nonce = "000000006553f100000000074c1c1a1e1f6e9e8a0b0ef2a4c2c3c4c5";
    let with_qop = |alg, ha1| {
        request_digest(
            alg,
            ha1,
            nonce,
            Some(("00000001", "0a4f113b")),
            "REGISTER",
            "sip:acme.example.com",
        )
    };
    assert_eq!(
        with_qop(Algorithm::Sha256, &ha1.sha256),
        "bebf9d7774a5779a43d03bcee09879233804810b3ac6529d1d575205941be5dd"
    );
    assert_eq!(
        with_qop(Algorithm::Md5, &ha1.md5),
        "5c5be68a473ea448fc4e07ba784d060f"
    );
    assert_eq!(
        request_digest(
            Algorithm::Sha256,
            &ha1.sha256,
            nonce,
            None,
            "REGISTER",
            "sip:acme.example.com"
        ),
        "3ad179d9178cd1fed3c1f196c6a66dc187a8d7f9f1867a9a77592eb3483d9bd0"
    );
}

#[test]
fn algorithm_tokens() {
    assert_eq!(Algorithm::from_token("sha-256"), Some(Algorithm::Sha256));
    assert_eq!(Algorithm::from_token("SHA256"), Some(Algorithm::Sha256));
    assert_eq!(Algorithm::from_token("md5"), Some(Algorithm::Md5));
    assert_eq!(Algorithm::from_token("MD5-sess"), None);
    assert_eq!(Algorithm::from_token("SHA-512-256"), None);
}

#[test]
fn challenges_are_distinct_and_sha256_first() {
    let c = Challenger::new([1; 32], 300);
    let a = c.challenge("acme.example.com", 1000, false);
    let b = c.challenge("acme.example.com", 1000, true);
    assert_eq!(a.len(), 2);
    assert!(a[0].contains("algorithm=SHA-256"), "{}", a[0]);
    assert!(a[1].contains("algorithm=MD5"), "{}", a[1]);
    assert!(a[0].contains("realm=\"acme.example.com\"") && a[0].contains("qop=\"auth\""));
    assert!(!a[0].contains("stale") && b[1].ends_with(", stale=true"));
    let legacy =
        Challenger::new([7; 32], 300)
            .md5_first(true)
            .challenge("acme.example.com", 1000, false);
    assert!(legacy[0].contains("algorithm=MD5") && legacy[1].contains("algorithm=SHA-256"));
    let nonce_of = |s: &str| {
        s.split("nonce=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(nonce_of(&a[0]), nonce_of(&a[1]));
    assert_ne!(nonce_of(&a[0]), nonce_of(&b[0]));
}

#[test]
fn quote_escapes() {
    assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
}
