//! Stateful proxy helpers (RFC 3261 §16) and the forking response context, on parsed message texts.

use bytes::Bytes;
use sip_core::location::{Aor, Binding};
use sip_core::msg::{HeaderName, Host, NameAddr, RequestUri, SipMessage, Uri, Via};
use sip_core::proxy::{
    Checked, ForkAction, Local, ProxyReject, ResponseContext, branch_for, check_request,
    forward_to_binding, loose_route, prepare_forward, target_aor,
};

fn parse(text: &str) -> SipMessage {
    SipMessage::parse(Bytes::from(text.replace('\n', "\r\n"))).unwrap()
}

fn local() -> Local {
    Local {
        hosts: vec![
            Host::V4("192.0.2.1".parse().unwrap()),
            Host::Name("proxy.example.com".into()),
        ],
        ports: vec![5060],
    }
}

fn invite(extra: &str) -> SipMessage {
    parse(&invite_text(extra))
}

fn invite_text(extra: &str) -> String {
    format!(
        "INVITE sip:1002@acme.example.com SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK74bf9;rport
Max-Forwards: 70
To: <sip:1002@acme.example.com>
From: \"Ann\" <sip:1001@acme.example.com>;tag=9fxced76sl
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: 2 INVITE
Contact: <sip:1001@192.168.1.20:5062>
{extra}Content-Length: 0

"
    )
}

fn our_via(req: &SipMessage, i: usize) -> Via {
    Via::new(
        "UDP",
        Host::V4("192.0.2.1".parse().unwrap()),
        Some(5060),
        &branch_for(req, i),
    )
}

fn ruri(m: &SipMessage) -> String {
    m.request_uri().unwrap().to_string()
}

#[test]
fn check_request_rules() {
    assert_eq!(check_request(&invite(""), &local()), Ok(Checked::Forward));
    let zero = parse(&invite_text("").replace("Max-Forwards: 70", "Max-Forwards: 0"));
    assert_eq!(
        check_request(&zero, &local()),
        Err(ProxyReject::TooManyHops)
    );
    assert_eq!(ProxyReject::TooManyHops.response(&zero).code(), Some(483));
    let options = parse(
        "OPTIONS sip:192.0.2.1 SIP/2.0
Via: SIP/2.0/UDP 198.51.100.3;branch=z9hG4bKopt
Max-Forwards: 0
To: <sip:192.0.2.1>
From: <sip:mon@198.51.100.3>;tag=1
Call-ID: o
CSeq: 1 OPTIONS
Content-Length: 0

",
    );
    assert_eq!(
        check_request(&options, &local()),
        Ok(Checked::AnswerLocally)
    );
    let pr = invite("Proxy-Require: foo, bar\n");
    let err = check_request(&pr, &local()).unwrap_err();
    assert_eq!(
        err,
        ProxyReject::BadExtension {
            options: vec!["foo".into(), "bar".into()]
        }
    );
    let resp = err.response(&pr);
    assert_eq!(
        (resp.code(), resp.headers.get(&HeaderName::UNSUPPORTED)),
        (Some(420), Some("foo, bar"))
    );
    let tel = parse(
        "INVITE tel:+15551234567 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20;branch=z9hG4bKtel
Max-Forwards: 70
To: <tel:+15551234567>
From: <sip:1001@acme.example.com>;tag=1
Call-ID: t
CSeq: 1 INVITE
Content-Length: 0

",
    );
    assert_eq!(check_request(&tel, &local()).unwrap_err().status(), 416);
}

#[test]
fn loop_is_detected_but_spiral_is_not() {
    let req = invite("");
    let fwd = prepare_forward(&req, None, &[], &our_via(&req, 0), None)
        .unwrap()
        .msg;
    // Something downstream sends it straight back to us, unchanged but for its own Via.
    let mut back = fwd;
    back.headers.push_front(
        HeaderName::VIA,
        "SIP/2.0/UDP 203.0.113.5;branch=z9hG4bKdown",
    );
    assert_eq!(
        check_request(&back, &local()),
        Err(ProxyReject::LoopDetected)
    );
    assert_eq!(ProxyReject::LoopDetected.response(&back).code(), Some(482));
    // A spiral: the next hop rewrote the Request-URI (call forwarding to 1003): allowed.
    let mut spiral = back.clone();
    spiral.start = match spiral.start {
        sip_core::msg::StartLine::Request {
            method, version, ..
        } => sip_core::msg::StartLine::Request {
            method,
            uri: RequestUri::Parsed(Uri::parse("sip:1003@acme.example.com").unwrap()),
            version,
        },
        other => other,
    };
    assert_eq!(check_request(&spiral, &local()), Ok(Checked::Forward));
}

#[test]
fn branch_is_deterministic_and_cancel_matches_invite() {
    let req = invite("");
    assert_eq!(branch_for(&req, 0), branch_for(&req.clone(), 0));
    assert_ne!(branch_for(&req, 0), branch_for(&req, 1));
    assert!(branch_for(&req, 0).starts_with("z9hG4bK"));
    let cancel = parse(
        "CANCEL sip:1002@acme.example.com SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK74bf9;rport
Max-Forwards: 70
To: <sip:1002@acme.example.com>
From: \"Ann\" <sip:1001@acme.example.com>;tag=9fxced76sl
Call-ID: 3848276298220188511@atlanta.example.com
CSeq: 2 CANCEL
Content-Length: 0

",
    );
    assert_eq!(branch_for(&cancel, 1), branch_for(&req, 1));
    let other = parse(&invite_text("").replace("z9hG4bK74bf9", "z9hG4bK74bfa"));
    assert_ne!(branch_for(&other, 0), branch_for(&req, 0));
}

#[test]
fn loose_routing_strips_our_route_and_fixes_strict_routers() {
    let mut req = invite(
        "Route: <sip:192.0.2.1;lr>, <sip:proxy.example.com;lr>\nRoute: <sip:edge.example.net;lr>\n",
    );
    let d = loose_route(&mut req, &local()).unwrap();
    assert_eq!((d.removed, d.strict_fixup), (2, false));
    assert_eq!(
        d.next_route.unwrap().uri.to_string(),
        "sip:edge.example.net;lr"
    );
    assert_eq!(req.routes().unwrap().len(), 1);
    // A strict router put our Record-Route URI in the Request-URI and the real target last in Route.
    let text = invite_text("Route: <sip:1002@10.0.0.9:5060>\n");
    let mut strict = parse(&text.replacen(
        "INVITE sip:1002@acme.example.com",
        "INVITE sip:192.0.2.1;lr",
        1,
    ));
    let d = loose_route(&mut strict, &local()).unwrap();
    assert!(d.strict_fixup && d.next_route.is_none());
    assert_eq!(ruri(&strict), "sip:1002@10.0.0.9:5060");
    assert!(strict.routes().unwrap().is_empty());
    // No Route: nothing to do.
    let mut plain = invite("");
    assert_eq!(loose_route(&mut plain, &local()).unwrap().next_route, None);
}

fn binding(contact: &str, path: &[&str]) -> Binding {
    Binding {
        contact: contact.into(),
        expires_at: u64::MAX,
        q: 1000,
        call_id: "c".into(),
        cseq: 1,
        path: path.iter().map(|p| (*p).to_owned()).collect(),
        transport: "UDP".into(),
        received: "198.51.100.20:5062".into(),
        user_agent: "".into(),
        owner: "".into(),
    }
}

#[test]
fn prepare_forward_to_a_binding() {
    let req = invite("");
    let rr = NameAddr::parse("<sip:192.0.2.1:5060>").unwrap();
    let b = binding(
        "sip:1002@10.0.0.7:5062;transport=udp",
        &["<sip:edge1.example.net;lr>", "<sip:edge2.example.net;lr>"],
    );
    let f = forward_to_binding(&req, &b, &our_via(&req, 0), Some(&rr)).unwrap();
    assert_eq!(ruri(&f.msg), "sip:1002@10.0.0.7:5062;transport=udp");
    assert_eq!(f.msg.max_forwards().unwrap(), Some(69));
    let routes: Vec<_> = f
        .msg
        .routes()
        .unwrap()
        .iter()
        .map(|r| r.uri.to_string())
        .collect();
    assert_eq!(
        routes,
        ["sip:edge1.example.net;lr", "sip:edge2.example.net;lr"]
    );
    assert_eq!(f.next_hop.to_string(), "sip:edge1.example.net;lr");
    assert_eq!(
        f.msg.record_routes().unwrap()[0].uri.to_string(),
        "sip:192.0.2.1:5060;lr"
    );
    let vias = f.msg.vias().unwrap();
    assert_eq!(vias.len(), 2);
    assert_eq!(vias[0].branch(), Some(branch_for(&req, 0).as_str()));
    // Serialises and parses back.
    assert!(SipMessage::parse(f.msg.to_bytes()).is_ok());

    // Without Max-Forwards: set to 70; without path: next hop is the contact.
    let nomf = parse(&invite_text("").replace("Max-Forwards: 70\n", ""));
    let f = forward_to_binding(
        &nomf,
        &binding("sip:1002@10.0.0.7:5062", &[]),
        &our_via(&nomf, 1),
        None,
    )
    .unwrap();
    assert_eq!(f.msg.max_forwards().unwrap(), Some(70));
    assert_eq!(f.next_hop.to_string(), "sip:1002@10.0.0.7:5062");
    assert!(f.msg.record_routes().unwrap().is_empty());
}

#[test]
fn strict_next_hop_is_rewritten() {
    let req = invite("Route: <sip:old-strict.example.net>\n");
    let f = prepare_forward(&req, None, &[], &our_via(&req, 0), None).unwrap();
    assert_eq!(ruri(&f.msg), "sip:old-strict.example.net");
    let routes: Vec<_> = f
        .msg
        .routes()
        .unwrap()
        .iter()
        .map(|r| r.uri.to_string())
        .collect();
    assert_eq!(routes, ["sip:1002@acme.example.com"]);
    assert_eq!(f.next_hop.to_string(), "sip:old-strict.example.net");
}

#[test]
fn targets_stay_inside_their_tenant() {
    let ours = |d: &str| d == "acme.example.com" || d == "globex.example.com";
    let u = |s: &str| Uri::parse(s).unwrap();
    let l = local();
    assert_eq!(
        target_aor(
            &u("sip:1002@acme.example.com"),
            Some("acme.example.com"),
            &l,
            ours
        )
        .unwrap(),
        Some(Aor::new("1002", "acme.example.com"))
    );
    // acme caller, globex callee: not found (and the same answer as a missing user).
    let err = target_aor(
        &u("sip:1002@globex.example.com"),
        Some("acme.example.com"),
        &l,
        ours,
    )
    .unwrap_err();
    assert_eq!(err, ProxyReject::NotFound);
    assert_eq!(err.status(), 404);
    // Dialled at the proxy's address: the caller's own domain.
    assert_eq!(
        target_aor(
            &u("sip:1002@192.0.2.1"),
            Some("globex.example.com"),
            &l,
            ours
        )
        .unwrap(),
        Some(Aor::new("1002", "globex.example.com"))
    );
    assert_eq!(
        target_aor(&u("sip:1002@192.0.2.1"), None, &l, ours),
        Err(ProxyReject::NotFound)
    );
    // A trunk (no caller domain) may reach any of our domains; a foreign domain is not ours to resolve.
    assert!(
        target_aor(&u("sip:1002@globex.example.com"), None, &l, ours)
            .unwrap()
            .is_some()
    );
    assert_eq!(
        target_aor(
            &u("sip:bob@biloxi.example.org"),
            Some("acme.example.com"),
            &l,
            ours
        ),
        Ok(None)
    );
    assert_eq!(ProxyReject::Unavailable.status(), 480);
}

// ---- forking (§16.7) ----

fn response(
    req: &SipMessage,
    code: u16,
    branch: usize,
    extra: &[(&HeaderName, &str)],
) -> SipMessage {
    // What a downstream UAS answers: our Via on top of the upstream ones.
    let fwd = prepare_forward(req, None, &[], &our_via(req, branch), None)
        .unwrap()
        .msg;
    let mut r = sip_core::msg::response_to(&fwd, code, "").with_to_tag(&format!("uas{branch}"));
    for (n, v) in extra {
        r.headers.push((*n).clone(), v.to_string());
    }
    r
}

fn drain(ctx: &mut ResponseContext) -> Vec<ForkAction> {
    std::iter::from_fn(|| ctx.poll_action()).collect()
}

fn forwarded_codes(actions: &[ForkAction]) -> Vec<u16> {
    actions
        .iter()
        .filter_map(|a| {
            if let ForkAction::Forward(m) = a {
                m.code()
            } else {
                None
            }
        })
        .collect()
}

fn cancels(actions: &[ForkAction]) -> Vec<usize> {
    actions
        .iter()
        .filter_map(|a| {
            if let ForkAction::Cancel(i) = a {
                Some(*i)
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn busy_then_answer_forwards_the_200_only() {
    let req = invite("");
    let mut ctx = ResponseContext::new(&req);
    let (a, b) = (ctx.add_branch().unwrap(), ctx.add_branch().unwrap());
    ctx.handle_response(a, response(&req, 100, a, &[]));
    ctx.handle_response(a, response(&req, 180, a, &[]));
    ctx.handle_response(b, response(&req, 180, b, &[]));
    let acts = drain(&mut ctx);
    assert_eq!(
        forwarded_codes(&acts),
        [180, 180],
        "100 is absorbed, 180s forwarded"
    );
    // The forwarded response has lost our Via.
    let ForkAction::Forward(first) = &acts[0] else {
        unreachable!()
    };
    assert_eq!(first.vias().unwrap().len(), 1);
    ctx.handle_response(a, response(&req, 486, a, &[]));
    assert!(
        drain(&mut ctx).is_empty(),
        "a 4xx waits for the other branch"
    );
    ctx.handle_response(b, response(&req, 200, b, &[]));
    let acts = drain(&mut ctx);
    assert_eq!(forwarded_codes(&acts), [200]);
    assert!(cancels(&acts).is_empty(), "nothing left to cancel");
    assert!(ctx.is_complete());
    assert_eq!(ctx.add_branch(), None);
}

#[test]
fn first_2xx_cancels_others_and_later_2xx_still_forwarded() {
    let req = invite("");
    let mut ctx = ResponseContext::new(&req);
    let (a, b, c) = (
        ctx.add_branch().unwrap(),
        ctx.add_branch().unwrap(),
        ctx.add_branch().unwrap(),
    );
    ctx.handle_response(b, response(&req, 183, b, &[]));
    ctx.handle_response(a, response(&req, 200, a, &[]));
    let acts = drain(&mut ctx);
    assert_eq!(forwarded_codes(&acts), [183, 200]);
    assert_eq!(cancels(&acts), [b], "b had a provisional: CANCEL now");
    // c had no provisional yet: its CANCEL waits for one (RFC 3261 §9.1).
    ctx.handle_response(c, response(&req, 180, c, &[]));
    let acts = drain(&mut ctx);
    assert_eq!(
        (cancels(&acts), forwarded_codes(&acts)),
        (vec![c], vec![]),
        "no 180 after the 200"
    );
    // Both answered before the CANCEL landed: every 2xx goes upstream.
    ctx.handle_response(b, response(&req, 200, b, &[]));
    ctx.handle_response(c, response(&req, 487, c, &[]));
    assert_eq!(forwarded_codes(&drain(&mut ctx)), [200]);
    assert!(ctx.is_complete());
}

#[test]
fn after_a_2xx_a_branch_timing_out_sends_nothing_upstream() {
    let req = invite("");
    let mut ctx = ResponseContext::new(&req);
    let (a, b) = (ctx.add_branch().unwrap(), ctx.add_branch().unwrap());
    ctx.handle_response(b, response(&req, 180, b, &[]));
    ctx.handle_response(a, response(&req, 200, a, &[]));
    assert_eq!(forwarded_codes(&drain(&mut ctx)), [180, 200]);
    // b's CANCEL went unanswered and its transaction timed out: no 408 follows the 200.
    ctx.handle_timeout(b);
    assert_eq!(forwarded_codes(&drain(&mut ctx)), Vec::<u16>::new());
    assert!(ctx.is_complete());
}

#[test]
fn not_found_and_busy_gives_busy() {
    let req = invite("");
    let mut ctx = ResponseContext::new(&req);
    let (a, b) = (ctx.add_branch().unwrap(), ctx.add_branch().unwrap());
    ctx.handle_response(a, response(&req, 404, a, &[]));
    ctx.handle_response(b, response(&req, 486, b, &[]));
    assert_eq!(forwarded_codes(&drain(&mut ctx)), [486]);
    assert!(ctx.is_complete());
}

#[test]
fn challenges_of_401_and_407_are_merged() {
    let req = invite("");
    let mut ctx = ResponseContext::new(&req);
    let (a, b, c) = (
        ctx.add_branch().unwrap(),
        ctx.add_branch().unwrap(),
        ctx.add_branch().unwrap(),
    );
    ctx.handle_response(
        a,
        response(
            &req,
            401,
            a,
            &[(
                &HeaderName::WWW_AUTHENTICATE,
                "Digest realm=\"a\", nonce=\"1\"",
            )],
        ),
    );
    ctx.handle_response(
        b,
        response(
            &req,
            407,
            b,
            &[(
                &HeaderName::PROXY_AUTHENTICATE,
                "Digest realm=\"b\", nonce=\"2\"",
            )],
        ),
    );
    ctx.handle_response(c, response(&req, 404, c, &[]));
    let acts = drain(&mut ctx);
    let [ForkAction::Forward(best)] = acts.as_slice() else {
        panic!("{acts:?}")
    };
    assert!(matches!(best.code(), Some(401 | 407)));
    assert_eq!(
        best.headers.get(&HeaderName::WWW_AUTHENTICATE),
        Some("Digest realm=\"a\", nonce=\"1\"")
    );
    assert_eq!(
        best.headers.get(&HeaderName::PROXY_AUTHENTICATE),
        Some("Digest realm=\"b\", nonce=\"2\"")
    );
    assert_eq!(
        best.headers.get_all(&HeaderName::WWW_AUTHENTICATE).count(),
        1,
        "no duplicates"
    );
}

#[test]
fn all_timeouts_give_408_built_from_the_request() {
    let req = invite("");
    let mut ctx = ResponseContext::new(&req);
    let (a, b) = (ctx.add_branch().unwrap(), ctx.add_branch().unwrap());
    ctx.handle_timeout(a);
    assert!(drain(&mut ctx).is_empty());
    ctx.handle_timeout(b);
    ctx.handle_timeout(b);
    let acts = drain(&mut ctx);
    let [ForkAction::Forward(r)] = acts.as_slice() else {
        panic!("{acts:?}")
    };
    assert_eq!(r.code(), Some(408));
    assert_eq!(
        r.top_via().unwrap().branch(),
        Some("z9hG4bK74bf9"),
        "addressed to the upstream client"
    );
    assert!(r.to().unwrap().tag().is_some());
}

#[test]
fn six_xx_cancels_the_others_and_wins() {
    let req = invite("");
    let mut ctx = ResponseContext::new(&req);
    let (a, b) = (ctx.add_branch().unwrap(), ctx.add_branch().unwrap());
    ctx.handle_response(a, response(&req, 180, a, &[]));
    ctx.handle_response(b, response(&req, 603, b, &[]));
    let acts = drain(&mut ctx);
    assert_eq!(
        (forwarded_codes(&acts), cancels(&acts)),
        (vec![180], vec![a])
    );
    assert_eq!(ctx.add_branch(), None, "no new branches after a 6xx");
    ctx.handle_response(a, response(&req, 487, a, &[]));
    assert_eq!(forwarded_codes(&drain(&mut ctx)), [603]);
}

#[test]
fn service_unavailable_becomes_500_and_upstream_cancel() {
    let req = invite("");
    let mut ctx = ResponseContext::new(&req);
    let a = ctx.add_branch().unwrap();
    ctx.handle_response(a, response(&req, 503, a, &[]));
    let acts = drain(&mut ctx);
    assert_eq!(forwarded_codes(&acts), [500]);

    let mut ctx = ResponseContext::new(&req);
    let (a, b) = (ctx.add_branch().unwrap(), ctx.add_branch().unwrap());
    ctx.handle_response(a, response(&req, 180, a, &[]));
    drain(&mut ctx);
    ctx.handle_cancel();
    assert_eq!(cancels(&drain(&mut ctx)), [a]);
    ctx.handle_response(b, response(&req, 100, b, &[]));
    assert_eq!(cancels(&drain(&mut ctx)), [b]);
    ctx.handle_response(a, response(&req, 487, a, &[]));
    ctx.handle_response(b, response(&req, 487, b, &[]));
    assert_eq!(forwarded_codes(&drain(&mut ctx)), [487]);
    assert!(ctx.is_complete());
}
