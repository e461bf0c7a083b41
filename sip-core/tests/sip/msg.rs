//! Behaviour of the `msg` API beyond the torture files: compact forms, folding, zero copy,
//! serialization, responses, stream framing, and a property test over generated renderings.

use bytes::Bytes;
use proptest::prelude::*;
use sip_core::msg::{
    Contact, Frame, FrameError, HeaderName, Host, Method, NameAddr, ParseError, RequestUri,
    SipMessage, StreamFramer, Uri, Via, reason_phrase, response_to,
};

const INVITE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
v: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
t: Bob <sip:bob@biloxi.example.com>\r\n\
f: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
i: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
m: <sip:alice@pc33.atlanta.example.com>\r\n\
c: application/sdp\r\n\
l: 4\r\n\
\r\n\
v=0\r\n";

fn parse(s: &str) -> SipMessage {
    SipMessage::parse(Bytes::copy_from_slice(s.as_bytes())).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn compact_forms_and_accessors() {
    let m = parse(INVITE);
    assert!(m.validate().is_ok());
    assert_eq!(m.method(), Some(&Method::INVITE));
    assert_eq!(m.call_id(), Some("a84b4c76e66710@pc33.atlanta.example.com"));
    assert_eq!(
        m.from()
            .ok()
            .and_then(|f| f.tag().map(str::to_owned))
            .as_deref(),
        Some("1928301774")
    );
    assert_eq!(
        m.top_via()
            .ok()
            .and_then(|v| v.branch().map(str::to_owned))
            .as_deref(),
        Some("z9hG4bK776asdhds")
    );
    assert_eq!(m.contacts().map(|c| c.len()), Ok(1));
    assert_eq!(m.content_type(), Some("application/sdp"));
    assert_eq!(&m.body[..], b"v=0\r");
    let out = String::from_utf8(m.to_bytes().to_vec()).unwrap_or_default();
    assert!(
        out.contains("\r\nVia: SIP/2.0/UDP") && out.contains("\r\nContent-Length: 4\r\n\r\nv=0\r")
    );
}

/// The branch a response is matched by, read without a full Via parse: the same as the parsed top
/// Via's wherever that parses, and taken from the first value of the first line only.
#[test]
fn the_top_via_branch_is_found_without_parsing_the_via() {
    let with_via = |via: &str| {
        parse(&format!(
            "SIP/2.0 200 OK\r\n{via}\r\nCSeq: 1 INVITE\r\nCall-ID: c\r\n\r\n"
        ))
    };
    for (via, branch) in [
        (
            "v: SIP/2.0/UDP a.example.com;branch=z9hG4bK1",
            Some("z9hG4bK1"),
        ),
        (
            "Via: SIP/2.0/UDP a.example.com ; rport ; BRANCH = z9hG4bK2 ",
            Some("z9hG4bK2"),
        ),
        (
            "Via: SIP/2.0/UDP [2001:db8::1]:5060;x=\"a;branch=no\";branch=z9hG4bK3",
            Some("z9hG4bK3"),
        ),
        (
            "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK4, SIP/2.0/UDP b;branch=z9hG4bK5",
            Some("z9hG4bK4"),
        ),
        (
            "Via: SIP/2.0/UDP a.example.com, SIP/2.0/UDP b;branch=z9hG4bK6",
            None,
        ),
        ("Via: SIP/2.0/UDP a.example.com;branch=", None),
        ("Via: SIP/2.0/UDP a.example.com;branch", None),
        ("Via: SIP/2.0/UDP a.example.com;rport", None),
    ] {
        let m = with_via(via);
        assert_eq!(m.top_via_branch(), branch, "{via}");
        assert_eq!(
            m.top_via_ref().ok().and_then(|v| v.branch()),
            branch,
            "{via}: the full parse agrees"
        );
    }
    let two_lines =
        with_via("Via: SIP/2.0/UDP a;branch=z9hG4bK7\r\nVia: SIP/2.0/UDP b;branch=z9hG4bK8");
    assert_eq!(two_lines.top_via_branch(), Some("z9hG4bK7"));
    let none = parse("SIP/2.0 200 OK\r\nCSeq: 1 INVITE\r\n\r\n");
    assert_eq!(none.top_via_branch(), None);
}

#[test]
fn header_values_are_slices_of_the_input() {
    let input = Bytes::from_static(INVITE.as_bytes());
    let range = input.as_ptr() as usize..input.as_ptr() as usize + input.len();
    let m = SipMessage::parse(input).unwrap_or_else(|e| panic!("{e}"));
    for h in m.headers.iter() {
        assert!(
            range.contains(&(h.value.as_ptr() as usize)) || h.value.is_empty(),
            "{} copied",
            h.name
        );
    }
    assert!(range.contains(&(m.body.as_ptr() as usize)));
}

/// The start line and headers must be UTF-8 and the body need not be; the error names the line with
/// the bad byte (the start line is line 1, after any empty lines before it), unless a line before it
/// fails first.
#[test]
fn text_errors_name_their_line_and_the_body_may_be_binary() {
    let parse_raw = |b: &[u8]| SipMessage::parse(Bytes::copy_from_slice(b));
    let head = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n".to_vec();
    let with = |tail: &[u8]| [head.as_slice(), tail].concat();
    assert_eq!(
        parse_raw(&with(b"Subject: caf\xe9\r\nCall-ID: 1\r\n\r\n")).err(),
        Some(ParseError::NotUtf8 { line: 3 })
    );
    assert_eq!(
        parse_raw(&with(b"Subject: a\r\n \xff folded\r\n\r\n")).err(),
        Some(ParseError::NotUtf8 { line: 4 })
    );
    assert_eq!(
        parse_raw(b"\r\n\r\nOPTIONS sip:\xc3@b SIP/2.0\r\n\r\n").err(),
        Some(ParseError::NotUtf8 { line: 1 })
    );
    assert!(matches!(
        parse_raw(&with(b"no colon here\r\nSubject: \xff\r\n\r\n")).err(),
        Some(ParseError::HeaderLine { line: 3, .. })
    ));
    let binary = parse_raw(&with(b"Content-Length: 4\r\n\r\n\xff\x00\xfe\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(binary.body.as_ref(), b"\xff\x00\xfe\n");
    // A bare LF ends the header section as CRLF does, and what follows is the body.
    let lf = parse_raw(b"OPTIONS sip:a@b SIP/2.0\nCall-ID: 1\n\n\xff\xff")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (lf.call_id(), lf.body.as_ref()),
        (Some("1"), &b"\xff\xff"[..])
    );
}

#[test]
fn folding_case_and_lws() {
    let m = parse(
        "OPTIONS sip:a@b SIP/2.0\r\nvIA  :  SIP/2.0/TCP h;\r\n  branch=z9hG4bK1 ,\r\n\tSIP/2.0/UDP [::1]:5062\r\n\
         TO:<sip:a@b>\r\nFROM:<sip:c@d>;TAG=x\r\nCALL-id: 1\r\ncseq: 1\r\n  OPTIONS\r\nRequire: a,\r\n b\r\nL: 0\r\n\r\n",
    );
    assert_eq!(m.validate(), Ok(()));
    let vias = m.vias().unwrap_or_default();
    assert_eq!(vias.len(), 2);
    assert_eq!(
        vias.get(1).map(|v| (v.host.clone(), v.port)),
        Some((Host::V6(std::net::Ipv6Addr::LOCALHOST), Some(5062)))
    );
    assert_eq!(
        m.from()
            .ok()
            .and_then(|f| f.tag().map(str::to_owned))
            .as_deref(),
        Some("x")
    );
    assert_eq!(m.option_tags(&HeaderName::REQUIRE), ["a", "b"]);
    assert_eq!(m.headers.get(&HeaderName::CSEQ), Some("1 OPTIONS"));
}

#[test]
fn rejections_carry_status_codes() {
    let bad = |s: &str| {
        SipMessage::parse(Bytes::copy_from_slice(s.as_bytes()))
            .map(|_| ())
            .map_err(|e| e.status_code())
    };
    assert_eq!(bad(""), Err(400));
    assert_eq!(bad("\r\n\r\n"), Err(400));
    assert_eq!(bad("INVITE sip:a@b SIP/2.0\r\nNoColon\r\n\r\n"), Err(400));
    assert_eq!(
        bad("INVITE sip:a@b SIP/2.0\r\n folded-first: x\r\n\r\n"),
        Err(400)
    );
    assert_eq!(
        bad("INVITE sip:a@b SIP/2.0\r\nBad Name: x\r\n\r\n"),
        Err(400)
    );
    assert_eq!(
        SipMessage::parse(Bytes::from_static(
            b"INVITE sip:a@b SIP/2.0\r\nX: \xff\r\n\r\n"
        ))
        .map_err(|e| e.status_code())
        .err(),
        Some(400)
    );
    assert_eq!(bad("SIP/2.0 99 Low\r\n\r\n"), Err(400));
    assert_eq!(bad("SIP/2.0 700 High\r\n\r\n"), Err(400));
    assert_eq!(bad("INVITE sip:a@b SIP/2.0\r\nl: 5\r\n\r\nabc"), Err(400));
    let v = parse("OPTIONS sip:a@b SIP/3.1\r\n\r\n").validate();
    assert_eq!(v, Err(ParseError::Version { major: 3, minor: 1 }));
    assert_eq!(v.map_err(|e| e.status_code()), Err(505));
    // Leading CRLFs are ignored (RFC 3261 §7.5) and bare LF ends lines.
    assert_eq!(
        parse("\r\n\r\nOPTIONS sip:a@b SIP/2.0\nl: 0\n\n").method(),
        Some(&Method::OPTIONS)
    );
}

#[test]
fn responses_are_built_per_rfc3261_8_2_6() {
    let req = parse(INVITE);
    let r = response_to(&req, 486, "").with_to_tag("as83kd");
    assert_eq!(r.code(), Some(486));
    assert!(
        matches!(&r.start, sip_core::msg::StartLine::Response { reason, .. } if reason == "Busy Here")
    );
    assert_eq!(
        r.headers.get(&HeaderName::VIA),
        req.headers.get(&HeaderName::VIA)
    );
    assert_eq!(
        r.to()
            .ok()
            .and_then(|t| t.tag().map(str::to_owned))
            .as_deref(),
        Some("as83kd")
    );
    assert_eq!(r.cseq().map(|c| c.method), Ok(Method::INVITE));
    assert!(r.headers.get(&HeaderName::CONTACT).is_none());
    assert_eq!(r.validate(), Ok(()));
    // An existing tag is kept.
    let again = r.clone().with_to_tag("other");
    assert_eq!(
        again
            .to()
            .ok()
            .and_then(|t| t.tag().map(str::to_owned))
            .as_deref(),
        Some("as83kd")
    );
    let reparsed = SipMessage::parse(r.to_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reparsed, r);
    assert_eq!(reason_phrase(416), "Unsupported URI Scheme");
    assert_eq!(reason_phrase(499), "Bad Request");
}

#[test]
fn building_requests_and_typed_values() {
    let uri =
        Uri::parse("sip:bob@[2001:db8::1]:5070;transport=tcp").unwrap_or_else(|e| panic!("{e}"));
    let mut req = SipMessage::new_request(Method::REGISTER, uri.clone());
    req.headers.push(
        HeaderName::VIA,
        Via::new(
            "udp",
            Host::V4([192, 0, 2, 1].into()),
            Some(5060),
            "z9hG4bKx",
        )
        .to_string(),
    );
    let mut to = NameAddr::new(uri);
    to.display = Some(r#"Bob "B" \ Smith"#.into());
    req.headers.push(HeaderName::TO, to.to_string());
    req.headers.push(HeaderName::FROM, format!("{to};tag=1"));
    req.headers.push(HeaderName::CALL_ID, "c1");
    req.headers.push(HeaderName::CSEQ, "1 REGISTER");
    req.headers.push(HeaderName::CONTACT, "*");
    req.headers.push(HeaderName::EXPIRES, "0");
    let m = SipMessage::parse(req.to_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m, req);
    assert_eq!(m.validate(), Ok(()));
    assert_eq!(m.to().ok().and_then(|t| t.display), to.display);
    assert_eq!(m.contacts(), Ok(vec![Contact::Star]));
    assert_eq!(m.expires(), Ok(Some(0)));
    assert_eq!(m.top_via().map(|v| v.transport), Ok("UDP".to_owned()));
    let RequestUri::Parsed(u) = m
        .request_uri()
        .cloned()
        .unwrap_or(RequestUri::Raw(String::new()))
    else {
        panic!("sip uri")
    };
    assert_eq!(
        (u.port, u.params.get("transport")),
        (Some(5070), Some("tcp"))
    );
}

fn framed(f: &mut StreamFramer) -> Vec<Frame> {
    let mut out = Vec::new();
    while let Ok(Some(fr)) = f.next_frame() {
        out.push(fr);
    }
    out
}

#[test]
fn framer_cuts_at_content_length_and_answers_pings() {
    let mut f = StreamFramer::new();
    let stream = format!("\r\n\r\n{INVITE}\r\n{INVITE}");
    let bytes = stream.as_bytes();
    // Byte by byte: nothing is lost or duplicated at any split point.
    let mut frames = Vec::new();
    for b in bytes {
        f.push(std::slice::from_ref(b));
        frames.extend(framed(&mut f));
    }
    assert_eq!(frames.first(), Some(&Frame::Ping));
    let msgs: Vec<_> = frames
        .iter()
        .filter(|x| matches!(x, Frame::Message(_)))
        .collect();
    assert_eq!(msgs.len(), 2);
    assert_eq!(f.buffered(), 0);
    // A malformed but framable message does not end the stream.
    let mut f = StreamFramer::new();
    f.push(b"GARBAGE\r\nContent-Length: 2\r\n\r\nxyOPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n");
    let fr = framed(&mut f);
    assert!(matches!(fr.first(), Some(Frame::Malformed { raw, .. }) if raw.len() == 32));
    assert!(matches!(fr.get(1), Some(Frame::Message(m)) if m.method() == Some(&Method::OPTIONS)));
}

#[test]
fn framer_fatal_errors() {
    let err = |data: &[u8], max: usize| {
        let mut f = StreamFramer::with_max(max);
        f.push(data);
        f.next_frame().err()
    };
    assert_eq!(
        err(b"OPTIONS sip:a@b SIP/2.0\r\nTo: x\r\n\r\n", 1024),
        Some(FrameError::MissingContentLength)
    );
    assert_eq!(
        err(b"OPTIONS sip:a@b SIP/2.0\r\nl: -1\r\n\r\n", 1024),
        Some(FrameError::BadContentLength)
    );
    assert_eq!(
        err(
            b"OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\n",
            1024
        ),
        Some(FrameError::BadContentLength)
    );
    assert_eq!(
        err(b"OPTIONS sip:a@b SIP/2.0\r\nl: 2000\r\n\r\n", 1024),
        Some(FrameError::TooLarge {
            len: 2036,
            max: 1024
        })
    );
    assert_eq!(
        err(&[b'a'; 2000], 1024),
        Some(FrameError::HeadTooLarge { max: 1024 })
    );
    // Incomplete input is not an error.
    assert_eq!(
        err(b"OPTIONS sip:a@b SIP/2.0\r\nl: 10\r\n\r\nabc", 1024),
        None
    );
    assert_eq!(err(b"\r\n", 1024), None);
}

/// One header of a generated message: long name, compact letter (if any), value with single spaces.
fn headers_strategy() -> impl Strategy<Value = Vec<(&'static str, Option<&'static str>, String)>> {
    let tag = "[a-z0-9]{1,8}";
    (
        tag,
        tag,
        "[a-z0-9.]{1,12}",
        1u32..100_000,
        0u32..=255,
        prop::collection::vec("[A-Za-z0-9.]{1,6}", 1..4),
    )
        .prop_map(|(t1, br, cid, seq, mf, words)| {
            vec![
                (
                    "Via",
                    Some("v"),
                    format!("SIP/2.0/UDP host.example.com:5060;branch=z9hG4bK{br}"),
                ),
                (
                    "Via",
                    Some("v"),
                    "SIP/2.0/TCP [2001:db8::1];received=192.0.2.1;rport=5060".to_owned(),
                ),
                (
                    "From",
                    Some("f"),
                    format!("\"Al Ice\" <sip:alice@example.com>;tag={t1}"),
                ),
                (
                    "To",
                    Some("t"),
                    "<sip:bob@example.com;transport=tcp>".to_owned(),
                ),
                ("Call-ID", Some("i"), format!("{cid}@host")),
                ("CSeq", None, format!("{seq} INVITE")),
                ("Max-Forwards", None, mf.to_string()),
                (
                    "Contact",
                    Some("m"),
                    "<sip:alice@192.0.2.1:5070>;expires=60, sip:a2@example.com;q=0.5".to_owned(),
                ),
                ("Subject", Some("s"), words.join(" ")),
                ("X-Extension", None, words.join(" ")),
            ]
        })
        .prop_shuffle()
}

fn random_case(s: &str, mask: u64) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask >> (i % 64) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

proptest! {
    #[test]
    fn renderings_parse_to_the_canonical_form(
        headers in headers_strategy(),
        compact in any::<u16>(),
        mask in any::<u64>(),
        fold in any::<u16>(),
        lws in 0usize..3,
        body in "[a-z=0-9 ]{0,40}",
    ) {
        let mut canonical = String::from("INVITE sip:bob@example.com SIP/2.0\r\n");
        let mut wire = String::from("\r\nINVITE sip:bob@example.com SIP/2.0\r\n");
        for (i, (long, short, value)) in headers.iter().enumerate() {
            canonical.push_str(&format!("{long}: {value}\r\n"));
            let name = match short {
                Some(c) if compact >> (i % 16) & 1 == 1 => random_case(c, mask.rotate_left(i as u32)),
                _ => random_case(long, mask.rotate_left(i as u32)),
            };
            let value = if fold >> (i % 16) & 1 == 1 { value.replacen(' ', "\r\n \t", 1) } else { value.clone() };
            wire.push_str(&format!("{name}{}:{}{value}{}\r\n", " ".repeat(lws), " ".repeat(lws + 1), " ".repeat(lws)));
        }
        for s in [&mut canonical, &mut wire] {
            s.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        }
        let want = SipMessage::parse(Bytes::from(canonical)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let got = SipMessage::parse(Bytes::from(wire)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(got.validate(), Ok(()));
        prop_assert_eq!(got.vias().map(|v| v.len()), Ok(2));
        prop_assert_eq!(got.contacts().map(|c| c.len()), Ok(2));
        let again = SipMessage::parse(got.to_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(again, want);
    }
}
