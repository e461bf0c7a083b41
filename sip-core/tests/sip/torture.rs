//! RFC 4475 and RFC 5118 torture messages with the outcome each RFC states, read from the shared
//! copies (never vendored). Valid messages must parse, validate and round-trip; invalid ones must be
//! rejected by `parse` or `validate` with the status the RFC implies; application-layer cases must
//! parse and give the TU what it needs to decide (416, 420, 415, 483, ...).

use std::net::{IpAddr, Ipv6Addr};

use bytes::Bytes;
use sip_core::msg::{
    Contact, HeaderName, Host, Method, ParseError, RequestUri, Scheme, SipMessage, Uri,
};

const RFC4475: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/sip/rfc4475/");
const RFC5118: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/sip/rfc5118/");

/// What the RFC says should happen.
enum Expect {
    /// Parses, validates; the checks hold.
    Valid(fn(&SipMessage)),
    /// `parse` rejects it.
    ParseFails,
    /// Parses, `validate` rejects it with this status; the checks hold on the parsed message.
    Invalid(u16, fn(&SipMessage)),
}
use Expect::{Invalid, ParseFails, Valid};

fn load(dir: &str, name: &str) -> Bytes {
    let path = format!("{dir}{name}.dat");
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

fn r_uri(m: &SipMessage) -> &Uri {
    match m.request_uri() {
        Some(RequestUri::Parsed(u)) => u,
        other => panic!("not a SIP Request-URI: {other:?}"),
    }
}

fn host(m: &SipMessage) -> Host {
    r_uri(m).host.clone()
}

fn name(s: &str) -> Host {
    Host::Name(s.to_owned())
}

fn v6(s: &str) -> Host {
    Host::V6(s.parse::<Ipv6Addr>().unwrap_or_else(|e| panic!("{s}: {e}")))
}

fn ok<T>(r: Result<T, ParseError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn contacts(m: &SipMessage) -> Vec<sip_core::msg::NameAddr> {
    ok(m.contacts())
        .into_iter()
        .map(|c| match c {
            Contact::Addr(a) => a,
            Contact::Star => panic!("unexpected *"),
        })
        .collect()
}

fn branch(m: &SipMessage, i: usize) -> String {
    ok(m.vias())
        .get(i)
        .and_then(|v| v.branch().map(str::to_owned))
        .unwrap_or_default()
}

/// (file, expectation), RFC 4475 §3.1.1 valid, §3.1.2 invalid, §3.2 transaction, §3.3 application, §3.4.
#[rustfmt::skip]
fn rfc4475() -> Vec<(&'static str, Expect)> {
    vec![
        // §3.1.1 valid messages
        ("wsinv", Valid(|m| {
            assert_eq!(m.method(), Some(&Method::INVITE));
            assert_eq!(host(m), name("chair-dnrc.example.com"));
            assert!(r_uri(m).params.contains("unknownparam"));
            assert_eq!(ok(m.vias()).len(), 3);
            assert_eq!(branch(m, 0), "390skdjuw");
            assert_eq!(ok(m.vias()).get(1).map(|v| v.transport.clone()).as_deref(), Some("TCP"));
            assert_eq!(branch(m, 2), "z9hG4bK30239");
            assert_eq!(ok(m.to()).tag(), Some("1918181833n"));
            let from = ok(m.from());
            assert_eq!((from.tag(), from.display.as_deref()), (Some("98asjd8"), Some(r#"J Rosenberg \""#)));
            assert_eq!(ok(m.max_forwards()), Some(68));
            assert_eq!(ok(m.cseq()).seq, 9);
            assert_eq!(m.call_id(), Some("wsinv.ndaksdj@192.0.2.1"));
            let c = contacts(m);
            assert_eq!(c.len(), 1);
            assert_eq!(c.first().and_then(|c| c.params.get("q")), Some("0.33"));
            assert_eq!(c.first().and_then(|c| c.display.clone()).as_deref(), Some(r#"Quoted string """#));
            assert_eq!(m.headers.get(&HeaderName::new("newfangledheader")), Some("newfangled value continued newfangled value"));
            assert_eq!(m.headers.get(&HeaderName::SUBJECT), Some(""));
            assert_eq!(m.body.len(), 150);
        })),
        ("intmeth", Valid(|m| {
            let method = "!interesting-Method0123456789_*+`.%indeed'~";
            assert_eq!(m.method().map(Method::as_str), Some(method));
            assert_eq!(ok(m.cseq()).method.as_str(), method);
            let u = r_uri(m);
            assert_eq!(u.user.as_deref(), Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"));
            assert_eq!(u.password.as_deref(), Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"));
            assert_eq!(u.host, name("example.com"));
            assert_eq!(branch(m, 0), "z9hG4bK-.!%66*_+`'~");
            assert_eq!(ok(m.to()).display.as_deref(), Some("BEL:\x07 NUL:\0 DEL:\x7f"));
            assert_eq!(ok(m.from()).tag(), Some("_token~1'+`*%!-."));
            assert_eq!(ok(m.from()).display.as_deref(), Some("token1~` token2'+_ token3*%!.-"));
            assert_eq!(ok(m.max_forwards()), Some(255));
            assert_eq!(m.body.len(), 0);
        })),
        ("esc01", Valid(|m| {
            let u = r_uri(m);
            assert_eq!(u.user_unescaped().as_deref(), Some("sips:user@example.com"));
            assert_eq!(u.host, name("example.net"));
            assert_eq!(ok(m.to()).uri.user_unescaped().as_deref(), Some("user"));
            assert_eq!(ok(m.from()).uri.user_unescaped().as_deref(), Some("I have spaces"));
            assert_eq!(m.call_id(), Some("esc01.239409asdfakjkn23onasd0-3234"));
            assert_eq!(contacts(m).len(), 1);
            assert_eq!(m.content_type(), Some("application/sdp"));
            assert_eq!(m.body.len(), 150);
        })),
        ("escnull", Valid(|m| {
            assert_eq!(m.method(), Some(&Method::REGISTER));
            let c = contacts(m);
            assert_eq!(c.len(), 2);
            assert_eq!(c.get(1).and_then(|c| c.uri.user_unescaped().map(|u| u.into_owned())).as_deref(), Some("\0\0"));
            assert_eq!(ok(m.to()).uri.user_unescaped().as_deref(), Some("null-\0-null"));
        })),
        ("esc02", Valid(|m| {
            assert_eq!(m.method().map(Method::as_str), Some("RE%47IST%45R"));
            assert_ne!(m.method(), Some(&Method::REGISTER));
            assert_eq!(contacts(m).len(), 2);
            assert!(m.headers.contains(&HeaderName::new("C%6Fntact")));
            assert_eq!(ok(m.to()).display.as_deref(), Some("%Z%45"));
            assert_eq!(branch(m, 0), "z9hG4bK209%fzsnel234");
        })),
        ("lwsdisp", Valid(|m| {
            let f = ok(m.from());
            assert_eq!((f.display.as_deref(), f.tag()), (Some("caller"), Some("323")));
        })),
        ("longreq", Valid(|m| {
            let vias = ok(m.vias());
            assert_eq!(vias.len(), 34);
            let last = vias.last().map(|v| (v.host.clone(), v.received().map(str::to_owned)));
            assert_eq!(last, Some((name("host.example.com"), Some("192.0.2.5".to_owned()))));
            assert!(ok(m.to()).display.is_some_and(|d| d.len() > 100));
            assert_eq!(ok(m.cseq()).seq, 3882340);
            assert!(m.call_id().is_some_and(|c| c.len() > 100));
            assert_eq!(contacts(m).len(), 1);
            assert_eq!(m.body.len(), 150);
        })),
        ("dblreq", Valid(|m| {
            assert_eq!(m.method(), Some(&Method::REGISTER));
            assert_eq!(m.call_id(), Some("dblreq.0ha0isndaksdj99sdfafnl3lk233412"));
            assert!(m.body.is_empty());
        })),
        ("semiuri", Valid(|m| {
            let u = r_uri(m);
            assert_eq!((u.user.as_deref(), &u.host), (Some("user;par=u%40example.net"), &name("example.com")));
            assert!(u.params.is_empty());
            assert_eq!(m.headers.values(&HeaderName::ACCEPT).len(), 6);
        })),
        ("transports", Valid(|m| {
            let t: Vec<String> = ok(m.vias()).into_iter().map(|v| v.transport).collect();
            assert_eq!(t, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
        })),
        ("mpart01", Valid(|m| {
            assert_eq!(m.method(), Some(&Method::MESSAGE));
            assert_eq!(ok(m.top_via()).rport(), Some(None));
            assert!(m.content_type().is_some_and(|c| c.starts_with("multipart/mixed")));
            assert_eq!(m.body.len(), 553);
        })),
        ("unreason", Valid(|m| {
            assert_eq!(m.code(), Some(200));
            let sip_core::msg::StartLine::Response { reason, .. } = &m.start else { panic!("response") };
            assert!(reason.starts_with("= 2**3 * 5**2 ") && !reason.is_ascii());
            assert_eq!(m.body.len(), 154);
        })),
        ("noreason", Valid(|m| {
            assert_eq!(m.code(), Some(100));
            assert!(matches!(&m.start, sip_core::msg::StartLine::Response { reason, .. } if reason.is_empty()));
            assert_eq!(ok(m.to()).tag(), Some("902jndnke3"));
        })),
        // §3.1.2 invalid messages
        ("badinv01", Invalid(400, |m| assert!(m.vias().is_err() && m.contacts().is_err()))),
        ("clerr", ParseFails),
        ("ncl", ParseFails),
        ("scalar02", Invalid(400, |m| {
            assert!(m.cseq().is_err());
            // Max-Forwards and the expiry values are out of range too; the registrar may default them.
            assert!(m.max_forwards().is_err() && m.expires().is_err());
        })),
        ("scalarlg", Invalid(400, |m| assert!(m.code() == Some(503) && m.cseq().is_err()))),
        ("quotbal", Invalid(400, |m| assert!(m.to().is_err()))),
        ("ltgtruri", ParseFails),
        ("lwsruri", ParseFails),
        ("lwsstart", ParseFails),
        ("trws", ParseFails),
        ("escruri", Invalid(400, |m| assert!(r_uri(m).headers.is_some()))),
        ("baddate", Invalid(400, |m| assert!(m.headers.get(&HeaderName::DATE).is_some_and(|d| d.ends_with("EST"))))),
        ("regbadct", Invalid(400, |m| assert!(m.contacts().is_err()))),
        ("badaspec", Invalid(400, |m| assert!(m.to().is_err() && m.from().is_ok()))),
        ("baddn", Invalid(400, |m| assert!(m.from().is_err() && m.to().is_err()))),
        ("badvers", Invalid(505, |_| {})),
        ("mismatch01", Invalid(400, |m| assert_eq!(ok(m.cseq()).method, Method::INVITE))),
        ("mismatch02", Invalid(400, |m| assert_eq!(m.method().map(Method::as_str), Some("NEWMETHOD")))),
        ("bigcode", ParseFails),
        // §3.2 transaction layer: the bare magic cookie is a valid (if useless) branch.
        ("badbranch", Valid(|m| {
            let v = ok(m.top_via());
            assert_eq!(v.branch(), Some("z9hG4bK"));
            assert!(v.has_magic_cookie());
        })),
        // §3.3 application layer
        ("insuf", Invalid(400, |m| assert!(m.to().is_err() && m.from().is_err() && m.call_id().is_none()))),
        ("unkscm", Valid(|m| {
            assert_eq!(m.request_uri(), Some(&RequestUri::Raw("nobodyKnowsThisScheme:totallyopaquecontent".into())));
            assert_eq!(m.request_uri().map(|u| u.as_sip().map_err(|e| e.status_code())), Some(Err(416)));
        })),
        ("novelsc", Valid(|m| {
            assert_eq!(m.request_uri(), Some(&RequestUri::Raw("soap.beep://192.0.2.103:3002".into())));
            assert_eq!(m.request_uri().map(|u| u.as_sip().map_err(|e| e.status_code())), Some(Err(416)));
        })),
        ("unksm2", Valid(|m| {
            // Syntactically valid; a registrar answers 400 because To is not a SIP AOR.
            assert_eq!(ok(m.to()).uri.scheme, Scheme::Other("isbn".into()));
            assert_eq!(ok(m.from()).uri.scheme, Scheme::Other("http".into()));
            assert_eq!(contacts(m).first().map(|c| c.uri.to_string()).as_deref(), Some("name:John_Smith"));
        })),
        ("bext01", Valid(|m| {
            assert_eq!(m.option_tags(&HeaderName::REQUIRE), ["nothingSupportsThis", "nothingSupportsThisEither"]);
            assert_eq!(m.option_tags(&HeaderName::PROXY_REQUIRE), ["noProxiesSupportThis", "norDoAnyProxiesSupportThis"]);
        })),
        ("invut", Valid(|m| {
            assert_eq!(m.content_type(), Some("application/unknownformat"));
            assert_eq!(m.body.len(), 40);
        })),
        ("regaut01", Valid(|m| {
            assert_eq!(m.headers.get(&HeaderName::AUTHORIZATION), Some("NoOneKnowsThisScheme opaque-data=here"));
        })),
        ("multi01", Invalid(400, |m| assert_eq!(m.headers.count(&HeaderName::CSEQ), 2))),
        ("mcl01", ParseFails),
        ("bcast", Valid(|m| {
            let vias = ok(m.vias());
            assert_eq!(vias.len(), 2);
            assert_eq!(vias.get(1).map(|v| v.host.clone()), Some(Host::V4([255, 255, 255, 255].into())));
        })),
        ("zeromf", Valid(|m| assert_eq!(ok(m.max_forwards()), Some(0)))),
        ("cparam01", Valid(|m| {
            let c = contacts(m);
            assert!(c.first().is_some_and(|c| c.params.contains("unknownparam") && c.uri.params.is_empty()));
        })),
        ("cparam02", Valid(|m| {
            let c = contacts(m);
            assert!(c.first().is_some_and(|c| c.uri.params.contains("unknownparam") && c.params.is_empty()));
        })),
        ("regescrt", Valid(|m| {
            let c = contacts(m);
            assert_eq!(c.first().and_then(|c| c.uri.headers.clone()).as_deref(), Some("Route=%3Csip:sip.example.com%3E"));
        })),
        ("sdp01", Valid(|m| {
            assert_eq!(m.headers.get(&HeaderName::ACCEPT), Some("text/nobodyKnowsThis"));
            assert_eq!(m.content_type(), Some("application/sdp"));
        })),
        // §3.4 RFC 2543 compatibility: no branch, no Max-Forwards, no tag, no Content-Length.
        ("inv2543", Valid(|m| {
            let v = ok(m.top_via());
            assert!(v.branch().is_none() && !v.has_magic_cookie());
            assert_eq!(ok(m.max_forwards()), None);
            assert_eq!(ok(m.from()).tag(), None);
            assert!(!m.headers.contains(&HeaderName::CONTENT_LENGTH));
            assert!(m.body.starts_with(b"v=0"));
            assert_eq!(ok(m.record_routes()).len(), 1);
        })),
    ]
}

/// RFC 5118 §4: all valid except ipv6-bad (§4.2).
#[rustfmt::skip]
fn rfc5118() -> Vec<(&'static str, Expect)> {
    vec![
        ("ipv6-good", Valid(|m| {
            assert_eq!(host(m), v6("2001:db8::10"));
            assert_eq!(ok(m.top_via()).host, v6("2001:db8::9:1"));
            assert_eq!(contacts(m).first().map(|c| c.uri.host.clone()), Some(v6("2001:db8::1")));
        })),
        ("ipv6-bad", ParseFails),
        ("port-ambiguous", Valid(|m| assert_eq!((host(m), r_uri(m).port), (v6("2001:db8::10:5070"), None)))),
        ("port-unambiguous", Valid(|m| assert_eq!((host(m), r_uri(m).port), (v6("2001:db8::10"), Some(5070))))),
        ("via-received-param-with-delim", Valid(|m| {
            assert_eq!(ok(m.top_via()).received_ip(), "2001:db8::9:255".parse::<IpAddr>().ok());
        })),
        ("via-received-param-no-delim", Valid(|m| {
            assert_eq!(ok(m.top_via()).received_ip(), "2001:db8::9:255".parse::<IpAddr>().ok());
        })),
        ("ipv6-in-sdp", Valid(|m| {
            assert_eq!(host(m), v6("2001:db8::10"));
            assert_eq!(m.body.len(), 241);
        })),
        ("mult-ip-in-header", Valid(|m| {
            let vias = ok(m.vias());
            assert_eq!(vias.len(), 3);
            assert_eq!(vias.first().map(|v| (v.host.clone(), v.port)), Some((v6("2001:db8::9:1"), Some(6050))));
            assert_eq!(vias.get(2).and_then(|v| v.received_ip()), "192.0.2.200".parse::<IpAddr>().ok());
        })),
        ("mult-ip-in-sdp", Valid(|m| assert_eq!(m.body.len(), 181))),
        ("ipv4-mapped-ipv6", Valid(|m| {
            let v = ok(m.top_via());
            assert_eq!((v.host, v.port), (v6("::ffff:192.0.2.10"), Some(19823)));
            assert_eq!(contacts(m).first().map(|c| c.uri.host.clone()), Some(v6("::ffff:192.0.2.2")));
        })),
        // §4.10: the 3-colon form is what the buggy RFC 3261 ABNF allows; be robust and read it.
        ("ipv6-bug-abnf-3-colons", Valid(|m| assert_eq!(host(m), v6("2001:db8::192.0.2.1")))),
        ("ipv6-correct-abnf-2-colons", Valid(|m| {
            assert_eq!(host(m), v6("2001:db8::192.0.2.1"));
            assert_eq!(ok(m.to()).uri.host, v6("2001:db8::192.0.2.1"));
        })),
    ]
}

fn run(dir: &str, table: Vec<(&'static str, Expect)>) -> usize {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".dat")
                .map(str::to_owned)
        })
        .collect();
    files.sort();
    let mut listed: Vec<String> = table.iter().map(|(n, _)| (*n).to_owned()).collect();
    listed.sort();
    assert_eq!(files, listed, "the table must cover every file in {dir}");
    for (file, expect) in &table {
        // The fuzzer's oracle holds on every torture message too (no panic, round trips, the
        // borrowed views agree with the typed values, what validates parses).
        sip_core::msg::fuzzing::check(&load(dir, file));
        let parsed = SipMessage::parse(load(dir, file));
        match expect {
            Valid(check) => {
                let m = parsed.unwrap_or_else(|e| panic!("{file}: must parse: {e}"));
                m.validate()
                    .unwrap_or_else(|e| panic!("{file}: must validate: {e}"));
                check(&m);
                let again = SipMessage::parse(m.to_bytes())
                    .unwrap_or_else(|e| panic!("{file}: re-parse: {e}"));
                assert_eq!(again, m, "{file}: round trip");
            }
            ParseFails => {
                let e = parsed
                    .err()
                    .unwrap_or_else(|| panic!("{file}: parse must fail"));
                assert_eq!(e.status_code(), 400, "{file}: {e}");
            }
            Invalid(status, check) => {
                let m = parsed
                    .unwrap_or_else(|e| panic!("{file}: should parse so it can be answered: {e}"));
                let e = m
                    .validate()
                    .err()
                    .unwrap_or_else(|| panic!("{file}: validate must fail"));
                assert_eq!(e.status_code(), *status, "{file}: {e}");
                check(&m);
            }
        }
    }
    table.len()
}

#[test]
fn rfc4475_torture_messages() {
    assert_eq!(run(RFC4475, rfc4475()), 49);
}

#[test]
fn rfc5118_ipv6_torture_messages() {
    assert_eq!(run(RFC5118, rfc5118()), 12);
}
