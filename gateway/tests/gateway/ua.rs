//! The line user agents' registration against a scripted registrar (a UDP socket in the test): refresh
//! before expiry, backoff after a failure, 423 Min-Expires, removal of a previous run's stale binding,
//! unregistration on detach, and malformed datagrams survived.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gateway::call::types::{CallRefs, LineId, LineIdentity, UaEvent};
use gateway::ua::{Agent, DeviceUa, UaSettings};
use sip_core::msg::{HeaderName, SipMessage, response_to};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

struct Registrar {
    socket: UdpSocket,
}

impl Registrar {
    async fn bind() -> Self {
        Self {
            socket: UdpSocket::bind("127.0.0.1:0").await.expect("bind"),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.socket.local_addr().expect("addr")
    }

    /// The next request, within `secs`.
    async fn recv(&self, secs: u64) -> (SipMessage, SocketAddr) {
        let mut buf = vec![0u8; 65_535];
        let (n, from) =
            tokio::time::timeout(Duration::from_secs(secs), self.socket.recv_from(&mut buf))
                .await
                .expect("a request in time")
                .expect("recv");
        let msg = SipMessage::parse(Bytes::copy_from_slice(&buf[..n])).expect("parses");
        (msg, from)
    }

    async fn answer(&self, req: &SipMessage, to: SocketAddr, code: u16, extra: &[(&str, String)]) {
        let mut resp = response_to(req, code, "").with_to_tag("reg");
        for (name, value) in extra {
            resp.headers.push(HeaderName::new(name), value.clone());
        }
        self.socket
            .send_to(&resp.to_bytes(), to)
            .await
            .expect("send");
    }
}

fn contact_of(req: &SipMessage) -> String {
    req.headers
        .get(&HeaderName::CONTACT)
        .expect("Contact")
        .trim_matches(|c| c == '<' || c == '>')
        .to_owned()
}

async fn event(ua: &mut DeviceUa) -> UaEvent {
    tokio::time::timeout(Duration::from_secs(5), ua.recv())
        .await
        .expect("an event in time")
        .expect("agent running")
}

fn line() -> Vec<(LineId, LineIdentity)> {
    vec![(
        LineId(1),
        LineIdentity {
            extension: "2001".to_owned(),
            domain: "acme.example.com".to_owned(),
            display_name: "Alice".to_owned(),
            ha1: None,
        },
    )]
}

async fn start(registrar: SocketAddr, expires: u32) -> (Agent, CancellationToken) {
    let mut settings = UaSettings::local(registrar).with_expires(expires);
    settings.retry_min = Duration::from_millis(200);
    let shutdown = CancellationToken::new();
    let (agent, _task) = Agent::start(settings, shutdown.clone())
        .await
        .expect("agent");
    (agent, shutdown)
}

#[tokio::test]
async fn lines_refresh_back_off_clean_stale_bindings_and_unregister() {
    let reg = Registrar::bind().await;
    let (agent, shutdown) = start(reg.addr(), 2).await;
    let mut ua = agent.attach("SEP0004F2ABCDEF".to_owned(), line(), CallRefs::new());

    let (first, from) = reg.recv(2).await;
    assert_eq!(from, agent.local_addr());
    let ours = contact_of(&first);
    assert!(
        ours.starts_with(&format!("sip:2001@{}", agent.local_addr()))
            && ours.contains(";line=xb-SEP0004F2ABCDEF-1"),
        "{ours}"
    );
    assert_eq!(first.headers.get(&HeaderName::EXPIRES), Some("2"));
    // The registrar still holds a binding of a previous run (same line token, another port).
    let stale = "sip:2001@127.0.0.1:9;line=xb-SEP0004F2ABCDEF-1";
    let t0 = Instant::now();
    reg.answer(
        &first,
        from,
        200,
        &[
            ("Contact", format!("<{ours}>;expires=2")),
            ("Contact", format!("<{stale}>;expires=900")),
        ],
    )
    .await;
    assert_eq!(
        event(&mut ua).await,
        UaEvent::Registered { line: LineId(1) }
    );

    // First the cleanup of the stale binding, then the refresh at about 85 % of 2 s.
    let (cleanup, _) = reg.recv(2).await;
    assert_eq!(contact_of(&cleanup), stale);
    assert_eq!(cleanup.headers.get(&HeaderName::EXPIRES), Some("0"));
    assert_eq!(cleanup.call_id(), first.call_id());
    reg.answer(&cleanup, from, 200, &[]).await;
    let (refresh, _) = reg.recv(3).await;
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_millis(2000),
        "refresh after {waited:?}"
    );
    assert_eq!(contact_of(&refresh), ours);
    assert!(refresh.cseq().unwrap().seq > cleanup.cseq().unwrap().seq);

    // A failed refresh is reported and retried after the first backoff step (200 ms here).
    reg.answer(&refresh, from, 503, &[]).await;
    assert_eq!(
        event(&mut ua).await,
        UaEvent::RegistrationFailed {
            line: LineId(1),
            code: 503
        }
    );
    let t1 = Instant::now();
    let (retry, _) = reg.recv(2).await;
    assert!(
        t1.elapsed() < Duration::from_millis(600),
        "{:?}",
        t1.elapsed()
    );
    // 423 Interval Too Brief: the line asks again with the registrar's minimum.
    reg.answer(&retry, from, 423, &[("Min-Expires", "60".to_owned())])
        .await;
    let (again, _) = reg.recv(2).await;
    assert_eq!(again.headers.get(&HeaderName::EXPIRES), Some("60"));
    reg.answer(
        &again,
        from,
        200,
        &[("Contact", format!("<{ours}>;expires=60"))],
    )
    .await;
    assert_eq!(
        event(&mut ua).await,
        UaEvent::Registered { line: LineId(1) }
    );

    // Detaching unregisters the line.
    ua.detach();
    let (bye, _) = reg.recv(2).await;
    assert_eq!(contact_of(&bye), ours);
    assert_eq!(bye.headers.get(&HeaderName::EXPIRES), Some("0"));
    shutdown.cancel();
}

#[tokio::test]
async fn a_challenge_without_credentials_fails_and_garbage_is_survived() {
    let reg = Registrar::bind().await;
    let (agent, shutdown) = start(reg.addr(), 60).await;
    let mut ua = agent.attach("SEP0004F2ABCDEF".to_owned(), line(), CallRefs::new());
    let (first, from) = reg.recv(2).await;
    reg.answer(
        &first,
        from,
        401,
        &[(
            "WWW-Authenticate",
            "Digest realm=\"acme.example.com\", nonce=\"abc\"".to_owned(),
        )],
    )
    .await;
    assert_eq!(
        event(&mut ua).await,
        UaEvent::RegistrationFailed {
            line: LineId(1),
            code: 401
        }
    );
    // Malformed datagrams are dropped; the agent still answers an OPTIONS afterwards.
    for junk in [
        &b"\x00\x01garbage"[..],
        b"INVITE sip:x SIP/2.0\r\n\r\n",
        b"SIP/2.0 999\r\n\r\n",
    ] {
        reg.socket
            .send_to(junk, agent.local_addr())
            .await
            .expect("send");
    }
    let options = format!(
        "OPTIONS sip:2001@{a} SIP/2.0\r\nVia: SIP/2.0/UDP {r};branch=z9hG4bKopt1\r\nMax-Forwards: 70\r\n\
         From: <sip:probe@{r}>;tag=p\r\nTo: <sip:2001@{a}>\r\nCall-ID: opt1\r\nCSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n",
        a = agent.local_addr(),
        r = reg.addr()
    );
    reg.socket
        .send_to(options.as_bytes(), agent.local_addr())
        .await
        .expect("send");
    loop {
        let mut buf = vec![0u8; 65_535];
        let (n, _) = tokio::time::timeout(Duration::from_secs(3), reg.socket.recv_from(&mut buf))
            .await
            .expect("an answer")
            .expect("recv");
        let msg = SipMessage::parse(Bytes::copy_from_slice(&buf[..n])).expect("parses");
        if msg.cseq().is_ok_and(|c| c.method.as_str() == "OPTIONS") {
            assert_eq!(msg.code(), Some(200));
            assert!(
                msg.headers
                    .get(&HeaderName::ALLOW)
                    .is_some_and(|a| a.contains("REFER"))
            );
            break;
        }
    }
    shutdown.cancel();
}

fn media() -> gateway::call::types::MediaOffer {
    gateway::call::types::MediaOffer {
        rtp: "127.0.0.1:40000".parse().unwrap(),
        codecs: vec![gateway::call::types::Codec::Pcmu],
        ptime_ms: 20,
        telephone_event: Some(101),
        direction: gateway::call::types::Direction::SendRecv,
    }
}

const SDP: &str = "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 30000 RTP/AVP 0\r\n";

/// A registered line on an agent whose registrar and proxy is the scripted socket, with short timers.
async fn registered_line() -> (Registrar, Agent, DeviceUa, CallRefs, CancellationToken) {
    let reg = Registrar::bind().await;
    let mut settings = UaSettings::local(reg.addr()).with_expires(3600);
    settings.timers.t1 = Duration::from_millis(50);
    let shutdown = CancellationToken::new();
    let (agent, _task) = Agent::start(settings, shutdown.clone())
        .await
        .expect("agent");
    let calls = CallRefs::new();
    let mut ua = agent.attach("SEP0004F2ABCDEF".to_owned(), line(), calls.clone());
    let (first, from) = reg.recv(2).await;
    let contact = format!("<{}>;expires=3600", contact_of(&first));
    reg.answer(&first, from, 200, &[("Contact", contact)]).await;
    assert_eq!(
        event(&mut ua).await,
        UaEvent::Registered { line: LineId(1) }
    );
    (reg, agent, ua, calls, shutdown)
}

#[tokio::test]
async fn retransmitted_2xx_are_acked_again() {
    use gateway::call::types::UaCommand;
    let (peer, agent, mut ua, calls, shutdown) = registered_line().await;
    let call = calls.next();
    ua.send(UaCommand::Invite {
        call,
        line: LineId(1),
        target: "2002".to_owned(),
        offer: media(),
    });
    let (invite, from) = peer.recv(2).await;
    assert_eq!(from, agent.local_addr());
    assert_eq!(invite.content_type(), Some("application/sdp"));
    let contact = format!("<sip:2002@{}>", peer.addr());
    let mut ok = response_to(&invite, 200, "").with_to_tag("callee");
    ok.headers.push(HeaderName::CONTACT, contact);
    ok.headers.push(HeaderName::CONTENT_TYPE, "application/sdp");
    ok.body = Bytes::from_static(SDP.as_bytes());
    peer.socket
        .send_to(&ok.to_bytes(), from)
        .await
        .expect("send");
    let (ack, _) = peer.recv(2).await;
    assert_eq!(ack.method().map(|m| m.as_str()), Some("ACK"));
    assert_eq!(ack.cseq().unwrap().seq, invite.cseq().unwrap().seq);
    assert!(matches!(event(&mut ua).await, UaEvent::Answered { .. }));
    // The ACK was "lost": the 200 comes again and is ACKed again, with no second event.
    peer.socket
        .send_to(&ok.to_bytes(), from)
        .await
        .expect("send");
    let (again, _) = peer.recv(2).await;
    assert_eq!(again.method().map(|m| m.as_str()), Some("ACK"));
    assert_eq!(again.call_id(), ack.call_id());
    assert!(
        tokio::time::timeout(Duration::from_millis(200), ua.recv())
            .await
            .is_err()
    );
    shutdown.cancel();
}

#[tokio::test]
async fn our_2xx_is_retransmitted_until_the_ack_and_the_call_ends_without_one() {
    use gateway::call::types::UaCommand;
    let (peer, agent, mut ua, _calls, shutdown) = registered_line().await;
    let invite = |call_id: &str| {
        format!(
            "INVITE sip:2001@{a};line=xb-SEP0004F2ABCDEF-1 SIP/2.0\r\nVia: SIP/2.0/UDP {p};branch=z9hG4bK{call_id}\r\n\
             Max-Forwards: 70\r\nFrom: \"Bob\" <sip:2002@acme.example.com>;tag=caller\r\nTo: <sip:2001@acme.example.com>\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:2002@{p}>\r\nContent-Type: application/sdp\r\n\
             Content-Length: {len}\r\n\r\n{SDP}",
            a = agent.local_addr(),
            p = peer.addr(),
            len = SDP.len()
        )
    };
    // 1. Answered, then ACKed after two retransmissions: the retransmissions stop.
    peer.socket
        .send_to(invite("acked").as_bytes(), agent.local_addr())
        .await
        .expect("send");
    let UaEvent::Incoming {
        call, from_name, ..
    } = event(&mut ua).await
    else {
        panic!("not an incoming call")
    };
    assert_eq!(from_name, "Bob");
    ua.send(UaCommand::Answer {
        call,
        media: media(),
    });
    let mut oks = Vec::new();
    while oks.len() < 3 {
        let mut buf = vec![0u8; 65_535];
        let (n, _) = tokio::time::timeout(Duration::from_secs(2), peer.socket.recv_from(&mut buf))
            .await
            .expect("a response")
            .expect("recv");
        let msg = SipMessage::parse(Bytes::copy_from_slice(&buf[..n])).expect("parses");
        if msg.code() == Some(200) {
            oks.push(msg);
        }
    }
    let ok = &oks[0];
    let to = ok.headers.get(&HeaderName::TO).expect("To").to_owned();
    let ack = format!(
        "ACK sip:2001@{a};line=xb-SEP0004F2ABCDEF-1 SIP/2.0\r\nVia: SIP/2.0/UDP {p};branch=z9hG4bKack1\r\n\
         Max-Forwards: 70\r\nFrom: \"Bob\" <sip:2002@acme.example.com>;tag=caller\r\nTo: {to}\r\n\
         Call-ID: acked\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
        a = agent.local_addr(),
        p = peer.addr(),
    );
    peer.socket
        .send_to(ack.as_bytes(), agent.local_addr())
        .await
        .expect("send");
    let mut buf = vec![0u8; 65_535];
    let quiet =
        tokio::time::timeout(Duration::from_millis(600), peer.socket.recv_from(&mut buf)).await;
    assert!(quiet.is_err(), "no 200 after the ACK");
    // 2. Answered and never ACKed: after 64·T1 (3.2 s here) the agent gives up, BYEs and reports Ended.
    peer.socket
        .send_to(invite("unacked").as_bytes(), agent.local_addr())
        .await
        .expect("send");
    let UaEvent::Incoming { call, .. } = event(&mut ua).await else {
        panic!("not an incoming call")
    };
    ua.send(UaCommand::Answer {
        call,
        media: media(),
    });
    let ended = tokio::time::timeout(Duration::from_secs(6), ua.recv())
        .await
        .expect("Ended in time")
        .expect("agent");
    assert_eq!(ended, UaEvent::Ended { call });
    let mut saw_bye = false;
    for _ in 0..200 {
        let mut buf = vec![0u8; 65_535];
        match tokio::time::timeout(Duration::from_millis(300), peer.socket.recv_from(&mut buf))
            .await
        {
            Ok(Ok((n, _))) => {
                let msg = SipMessage::parse(Bytes::copy_from_slice(&buf[..n])).expect("parses");
                if msg.method().is_some_and(|m| m.as_str() == "BYE") {
                    saw_bye = true;
                    break;
                }
            }
            _ => break,
        }
    }
    assert!(saw_bye, "the agent hung up the unacknowledged call");
    shutdown.cancel();
}

/// Receives responses and requests on the scripted peer until one matches `want`.
async fn recv_until(peer: &Registrar, want: impl Fn(&SipMessage) -> bool) -> SipMessage {
    loop {
        let mut buf = vec![0u8; 65_535];
        let (n, _) = tokio::time::timeout(Duration::from_secs(2), peer.socket.recv_from(&mut buf))
            .await
            .expect("a message in time")
            .expect("recv");
        let msg = SipMessage::parse(Bytes::copy_from_slice(&buf[..n])).expect("parses");
        if want(&msg) {
            return msg;
        }
    }
}

#[tokio::test]
async fn an_offerless_reinvite_gets_our_offer_and_the_answer_in_the_ack_tells_hold() {
    use gateway::call::types::{Direction, UaCommand};
    let (peer, agent, mut ua, _calls, shutdown) = registered_line().await;
    let (a, p) = (agent.local_addr(), peer.addr());
    let request = |method: &str, cseq: u32, to: &str, body: &str, branch: &str| {
        let ct = if body.is_empty() {
            String::new()
        } else {
            "Content-Type: application/sdp\r\n".to_owned()
        };
        format!(
            "{method} sip:2001@{a};line=xb-SEP0004F2ABCDEF-1 SIP/2.0\r\nVia: SIP/2.0/UDP {p};branch=z9hG4bK{branch}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:2002@acme.example.com>;tag=caller\r\nTo: {to}\r\nCall-ID: reinv\r\n\
             CSeq: {cseq} {method}\r\nContact: <sip:2002@{p}>\r\n{ct}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let send = |text: String| {
        let socket = &peer.socket;
        async move { socket.send_to(text.as_bytes(), a).await.expect("send") }
    };
    send(request(
        "INVITE",
        1,
        "<sip:2001@acme.example.com>",
        SDP,
        "i1",
    ))
    .await;
    let UaEvent::Incoming { call, .. } = event(&mut ua).await else {
        panic!("not an incoming call")
    };
    ua.send(UaCommand::Answer {
        call,
        media: media(),
    });
    let ok = recv_until(&peer, |m| m.code() == Some(200)).await;
    let to = ok.headers.get(&HeaderName::TO).expect("To").to_owned();
    send(request("ACK", 1, &to, "", "a1")).await;
    // Re-INVITE without SDP: our offer comes in the 200; the far end's answer, in the ACK, holds.
    send(request("INVITE", 2, &to, "", "i2")).await;
    let ok2 = recv_until(&peer, |m| {
        m.code() == Some(200) && m.cseq().is_ok_and(|c| c.seq == 2)
    })
    .await;
    let offer = String::from_utf8_lossy(&ok2.body).into_owned();
    assert!(offer.contains("m=audio 40000 RTP/AVP 0 101"), "{offer}");
    let held = SDP.replace(
        "m=audio 30000 RTP/AVP 0\r\n",
        "m=audio 30000 RTP/AVP 0\r\na=sendonly\r\n",
    );
    send(request("ACK", 2, &to, &held, "a2")).await;
    let e = event(&mut ua).await;
    assert!(
        matches!(&e, UaEvent::MediaChanged { call: c, media } if *c == call && media.direction == Direction::SendOnly),
        "{e:?}"
    );
    // UPDATE is not supported: 501 with Allow.
    send(request("UPDATE", 3, &to, "", "u3")).await;
    let resp = recv_until(&peer, |m| m.cseq().is_ok_and(|c| c.seq == 3)).await;
    assert_eq!(resp.code(), Some(501));
    assert!(resp.headers.get(&HeaderName::ALLOW).is_some());
    // An out-of-order CSeq is refused (RFC 3261 §12.2.2).
    send(request("INFO", 1, &to, "", "x1")).await;
    let resp = recv_until(&peer, |m| {
        m.cseq().is_ok_and(|c| c.method.as_str() == "INFO")
    })
    .await;
    assert_eq!(resp.code(), Some(500));
    // BYE ends it.
    send(request("BYE", 4, &to, "", "b4")).await;
    let resp = recv_until(&peer, |m| m.cseq().is_ok_and(|c| c.seq == 4)).await;
    assert_eq!(resp.code(), Some(200));
    assert_eq!(event(&mut ua).await, UaEvent::Ended { call });
    shutdown.cancel();
}

#[tokio::test]
async fn in_local_mode_requests_from_other_hosts_are_refused() {
    let (_peer, agent, mut ua, _calls, shutdown) = registered_line().await;
    // 127.0.0.2 is another loopback address: not Crossbar's SIP server.
    let Ok(stranger) = UdpSocket::bind("127.0.0.2:0").await else {
        eprintln!("skipped: cannot bind 127.0.0.2");
        return;
    };
    let invite = format!(
        "INVITE sip:2001@{a};line=xb-SEP0004F2ABCDEF-1 SIP/2.0\r\nVia: SIP/2.0/UDP {p};branch=z9hG4bKs1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:evil@example.net>;tag=e\r\nTo: <sip:2001@acme.example.com>\r\n\
         Call-ID: stranger\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        a = agent.local_addr(),
        p = stranger.local_addr().expect("addr"),
    );
    stranger
        .send_to(invite.as_bytes(), agent.local_addr())
        .await
        .expect("send");
    let mut buf = vec![0u8; 65_535];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), stranger.recv_from(&mut buf))
        .await
        .expect("an answer")
        .expect("recv");
    let resp = SipMessage::parse(Bytes::copy_from_slice(&buf[..n])).expect("parses");
    assert_eq!(resp.code(), Some(403));
    assert!(
        tokio::time::timeout(Duration::from_millis(200), ua.recv())
            .await
            .is_err(),
        "the phone never rang"
    );
    shutdown.cancel();
}

/// Whether a request arrives within `ms`.
async fn quiet(reg: &Registrar, ms: u64) -> Option<SipMessage> {
    let mut buf = vec![0u8; 65_535];
    match tokio::time::timeout(Duration::from_millis(ms), reg.socket.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => SipMessage::parse(Bytes::copy_from_slice(&buf[..n])).ok(),
        _ => None,
    }
}

/// A phone unregistering and registering again at once (a mass unregister then re-register): the new
/// attachment continues the REGISTER dialog of the old one (same Call-ID, higher CSeq), so the old
/// attachment's `expires=0`, still in flight or retransmitted, is refused by the registrar
/// (RFC 3261 §10.3 step 7) instead of removing the new binding, which has the same contact.
#[tokio::test]
async fn a_line_attached_again_while_its_unregistration_is_in_flight_continues_its_dialog() {
    let reg = Registrar::bind().await;
    let (agent, shutdown) = start(reg.addr(), 60).await;
    let ua = agent.attach("SEP0004F2ABCDEF".to_owned(), line(), CallRefs::new());
    let (first, from) = reg.recv(2).await;
    reg.answer(&first, from, 200, &[]).await;
    ua.detach();
    let (unregister, _) = reg.recv(2).await;
    assert_eq!(unregister.headers.get(&HeaderName::EXPIRES), Some("0"));
    // Not answered yet: the device comes back.
    let mut ua = agent.attach("SEP0004F2ABCDEF".to_owned(), line(), CallRefs::new());
    let (again, _) = reg.recv(2).await;
    assert_eq!(again.headers.get(&HeaderName::EXPIRES), Some("60"));
    assert_eq!(contact_of(&again), contact_of(&unregister));
    assert_eq!(again.call_id(), unregister.call_id());
    assert!(again.cseq().unwrap().seq > unregister.cseq().unwrap().seq);
    reg.answer(&again, from, 200, &[]).await;
    assert_eq!(
        event(&mut ua).await,
        UaEvent::Registered { line: LineId(1) }
    );
    reg.answer(&unregister, from, 200, &[]).await;
    // Once the unregistration is over, a later attachment may start afresh: nothing else is sent.
    assert!(quiet(&reg, 300).await.is_none());
    shutdown.cancel();
}

/// The new attachment of a device processed before the old one's detach (the two come from different
/// tasks): the old detach sends no `expires=0` for the line the new attachment took over.
#[tokio::test]
async fn a_detach_processed_after_the_same_line_attached_again_does_not_unregister_it() {
    let reg = Registrar::bind().await;
    let (agent, shutdown) = start(reg.addr(), 60).await;
    let old = agent.attach("SEP0004F2ABCDEF".to_owned(), line(), CallRefs::new());
    let (first, from) = reg.recv(2).await;
    reg.answer(&first, from, 200, &[]).await;
    let mut new = agent.attach("SEP0004F2ABCDEF".to_owned(), line(), CallRefs::new());
    let (again, _) = reg.recv(2).await;
    assert_eq!(again.call_id(), first.call_id());
    assert!(again.cseq().unwrap().seq > first.cseq().unwrap().seq);
    reg.answer(&again, from, 200, &[]).await;
    assert_eq!(
        event(&mut new).await,
        UaEvent::Registered { line: LineId(1) }
    );
    old.detach();
    if let Some(late) = quiet(&reg, 500).await {
        panic!(
            "the old attachment sent {}",
            String::from_utf8_lossy(&late.to_bytes())
        );
    }
    // The line is still ours: the new attachment's detach unregisters it.
    new.detach();
    let (bye, _) = reg.recv(2).await;
    assert_eq!(bye.headers.get(&HeaderName::EXPIRES), Some("0"));
    assert_eq!(bye.call_id(), first.call_id());
    shutdown.cancel();
}

/// An incoming offer is agreed against the device's codecs: a caller offering G.729 first and PCMA
/// second to a device without G.729 gets PCMA described in `Incoming` (not G.729, which the phone
/// would refuse with 488); an offer with none of the device's codecs gets 488 at once.
#[tokio::test]
async fn an_incoming_offer_is_agreed_against_the_device_s_codecs() {
    use gateway::call::types::Codec;
    let (peer, agent, mut ua, _calls, shutdown) = registered_line().await;
    ua.set_codecs(vec![Codec::Pcmu, Codec::Pcma]);
    let invite = |call_id: &str, payloads: &str| {
        let sdp = format!(
            "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio 30000 RTP/AVP {payloads}\r\n"
        );
        format!(
            "INVITE sip:2001@{a};line=xb-SEP0004F2ABCDEF-1 SIP/2.0\r\nVia: SIP/2.0/UDP {p};branch=z9hG4bK{call_id}\r\n\
             Max-Forwards: 70\r\nFrom: \"Bob\" <sip:2002@acme.example.com>;tag=caller\r\nTo: <sip:2001@acme.example.com>\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:2002@{p}>\r\nContent-Type: application/sdp\r\n\
             Content-Length: {len}\r\n\r\n{sdp}",
            a = agent.local_addr(),
            p = peer.addr(),
            len = sdp.len()
        )
    };
    peer.socket
        .send_to(invite("g729-first", "18 8").as_bytes(), agent.local_addr())
        .await
        .expect("send");
    let UaEvent::Incoming { offer, .. } = event(&mut ua).await else {
        panic!("not an incoming call")
    };
    let offer = offer.expect("an offer");
    assert_eq!(offer.codec, Codec::Pcma);
    assert_eq!(offer.payload_type, 8);

    peer.socket
        .send_to(invite("g729-only", "18").as_bytes(), agent.local_addr())
        .await
        .expect("send");
    let resp = recv_until(&peer, |m| {
        m.call_id() == Some("g729-only") && m.code().is_some_and(|c| c >= 200)
    })
    .await;
    assert_eq!(resp.code(), Some(488));
    assert!(
        tokio::time::timeout(Duration::from_millis(200), ua.recv())
            .await
            .is_err(),
        "no event for the refused call"
    );
    shutdown.cancel();
}
