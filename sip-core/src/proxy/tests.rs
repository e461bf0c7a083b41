use super::*;
use bytes::Bytes;

fn local() -> Local {
    Local {
        hosts: vec![
            Host::Name("Proxy.Example.com".into()),
            Host::V4("192.0.2.1".parse().unwrap()),
        ],
        ports: vec![5060, 5061],
    }
}

#[test]
fn local_uri_and_via_matching() {
    let l = local();
    let u = |s: &str| Uri::parse(s).unwrap();
    assert!(l.is_local_uri(&u("sip:proxy.example.COM;lr")));
    assert!(l.is_local_uri(&u("sip:192.0.2.1:5060")));
    assert!(
        l.is_local_uri(&u("sips:192.0.2.1")),
        "sips defaults to 5061"
    );
    assert!(!l.is_local_uri(&u("sip:192.0.2.1:5070")));
    assert!(!l.is_local_uri(&u("sip:192.0.2.2")));
    let v = |s: &'static str| ViaRef::parse(s).unwrap();
    assert!(l.is_local_via(&v("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1")));
    assert!(l.is_local_via(&v("SIP/2.0/tls proxy.example.com;branch=z9hG4bK1")));
    assert!(!l.is_local_via(&v("SIP/2.0/UDP 192.0.2.1:5080;branch=z9hG4bK1")));
}

#[test]
fn ranks_follow_the_documented_order() {
    let order = [603, 302, 401, 407, 486, 403, 480, 408, 404, 500, 503];
    for pair in order.windows(2) {
        assert!(rank_of(pair[0]) >= rank_of(pair[1]), "{pair:?}");
    }
    assert!(rank_of(486) > rank_of(404));
    assert!(rank_of(404) > rank_of(500));
}

fn rank_of(code: u16) -> u8 {
    fork::rank_for_tests(code)
}

#[test]
fn local_tag_is_stable_per_request() {
    let text = "OPTIONS sip:192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.3;branch=z9hG4bKa\r\nTo: <sip:192.0.2.1>\r\nFrom: <sip:m@198.51.100.3>;tag=1\r\nCall-ID: o\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let a = SipMessage::parse(Bytes::from(text)).unwrap();
    let b = SipMessage::parse(Bytes::from(
        text.replace("branch=z9hG4bKa", "branch=z9hG4bKb"),
    ))
    .unwrap();
    assert_eq!(local_tag(&a), local_tag(&a.clone()));
    assert_ne!(local_tag(&a), local_tag(&b));
    assert!(local_tag(&a).starts_with("cb"));
}

#[test]
fn combined_via_line_loses_only_our_value() {
    let text = "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKcbx.0, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKup\r\nTo: <sip:b@h>;tag=2\r\nFrom: <sip:a@h>;tag=1\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    let mut m = SipMessage::parse(Bytes::from(text)).unwrap();
    fork::pop_top_via_for_tests(&mut m);
    let vias = m.vias().unwrap();
    assert_eq!(vias.len(), 1);
    assert_eq!(vias[0].branch(), Some("z9hG4bKup"));

    // Ours on a line of its own, then a combined line: the others keep their lines and places.
    let text = "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKcbx.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKup;x=\"a,b\", SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKup2\r\nTo: <sip:b@h>;tag=2\r\nVia: SIP/2.0/TCP 10.0.0.3;branch=z9hG4bKlast\r\nFrom: <sip:a@h>;tag=1\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    let mut m = SipMessage::parse(Bytes::from(text)).unwrap();
    fork::pop_top_via_for_tests(&mut m);
    let branches: Vec<_> = m
        .vias()
        .unwrap()
        .iter()
        .map(|v| v.branch().unwrap().to_owned())
        .collect();
    assert_eq!(branches, ["z9hG4bKup", "z9hG4bKup2", "z9hG4bKlast"]);
    let names: Vec<_> = m
        .headers
        .iter()
        .map(|h| h.name.as_str().to_owned())
        .collect();
    assert_eq!(names[..3], ["Via", "To", "Via"]);
    // A comma inside our own quoted parameter does not split it.
    let text = "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKcbx.0;x=\"a,b\"\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKup\r\nTo: <sip:b@h>;tag=2\r\nFrom: <sip:a@h>;tag=1\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    let mut m = SipMessage::parse(Bytes::from(text)).unwrap();
    fork::pop_top_via_for_tests(&mut m);
    assert_eq!(m.vias().unwrap().len(), 1);
    assert_eq!(m.vias().unwrap()[0].branch(), Some("z9hG4bKup"));
}
