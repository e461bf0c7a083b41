//! The line user agents against real peers: a test driver attaches a device to the gateway's
//! [`gateway::ua::Agent`] and plays the phone session's part, while sipp plays SIP phones registered
//! with Crossbar, and Kamailio (or a second Crossbar) plays an upstream registrar.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::time::Duration;

use gateway::call::types::{
    CallRef, CallRefs, Codec, Direction, Dtmf, LineId, LineIdentity, MediaOffer, UaCommand, UaEvent,
};
use gateway::ua::{Agent, DeviceUa, UaSettings};
use tokio_util::sync::CancellationToken;

use crate::harness::{Gateway, free_port, have_sipp, scenario, settle, shared_scenario, sipp};
use crate::sip::{FLEET, auth, register_contact, run_scenario, uas};

const DOMAIN: &str = "acme.example.com";
const BOB: (&str, &str, &str) = ("2002", DOMAIN, "bob-secret");

/// Line 1 of a device: extension `ext` of acme, without a SIP password (Crossbar trusts its agent).
fn line(ext: &str, ha1: Option<provisioning::Ha1>) -> Vec<(LineId, LineIdentity)> {
    vec![(
        LineId(1),
        LineIdentity {
            extension: ext.to_owned(),
            domain: DOMAIN.to_owned(),
            display_name: format!("Line {ext}"),
            ha1,
        },
    )]
}

fn media(port: u16) -> MediaOffer {
    MediaOffer {
        rtp: SocketAddr::from(([127, 0, 0, 1], port)),
        codecs: vec![Codec::Pcmu, Codec::Pcma],
        ptime_ms: 20,
        telephone_event: Some(101),
        direction: Direction::SendRecv,
    }
}

/// The next event, within 15 s.
async fn next(ua: &mut DeviceUa) -> UaEvent {
    tokio::time::timeout(Duration::from_secs(15), ua.recv())
        .await
        .expect("an event in time")
        .expect("the agent runs")
}

/// Skips events until one matches `want`; returns it.
async fn until(ua: &mut DeviceUa, what: &str, want: impl Fn(&UaEvent) -> bool) -> UaEvent {
    loop {
        let e = next(ua).await;
        if want(&e) {
            return e;
        }
        eprintln!("({what}) skipping {e:?}");
    }
}

async fn attach_registered(agent: &Agent, device: &str, ext: &str) -> (DeviceUa, CallRefs) {
    let calls = CallRefs::new();
    let mut ua = agent.attach(device.to_owned(), line(ext, None), calls.clone());
    let e = next(&mut ua).await;
    assert_eq!(e, UaEvent::Registered { line: LineId(1) });
    (ua, calls)
}

/// sipp `user` (authenticating) calls `callee` with the repository scenario `name` and `extra` CSV fields.
async fn sipp_call(
    gw: &Gateway,
    tag: &str,
    name: &str,
    callee: &str,
    extra_fields: &str,
) -> crate::harness::SippRun {
    let (user, domain, password) = BOB;
    let csv = gw.write(
        &format!("{tag}.csv"),
        &format!(
            "SEQUENTIAL\n{user};{domain};{};{callee}{extra_fields}\n",
            auth(user, password)
        ),
    );
    run_scenario(gw, tag, gw.sip_udp, scenario(name), &csv, &["-d", "300"]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_registers_without_password_and_answers_a_sipp_call() {
    if !have_sipp() {
        return;
    }
    let gw = Gateway::start(FLEET).await;
    let (mut ua, _) = attach_registered(&gw.agent, "SEP0004F2000001", "2001").await;
    let caller = tokio::spawn({
        let gw_dir = gw.dir.path().to_owned();
        let csv = gw.write(
            "bob-calls.csv",
            &format!(
                "SEQUENTIAL\n2002;{DOMAIN};{};2001\n",
                auth("2002", "bob-secret")
            ),
        );
        let target = gw.sip_udp;
        async move {
            let args = vec![
                target.to_string(),
                "-sf".into(),
                scenario("uac_auth.xml").display().to_string(),
                "-inf".into(),
                csv.display().to_string(),
                "-i".into(),
                "127.0.0.1".into(),
                "-p".into(),
                free_port().to_string(),
                "-m".into(),
                "1".into(),
                "-d".into(),
                "500".into(),
            ];
            sipp(&gw_dir, "bob-calls-line", args).await
        }
    });
    let UaEvent::Incoming {
        call,
        line,
        from_name,
        from_number,
        offer,
        replaces,
    } = until(&mut ua, "incoming", |e| {
        matches!(e, UaEvent::Incoming { .. })
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(line, LineId(1));
    assert_eq!((from_name.as_str(), from_number.as_str()), ("2002", "2002"));
    assert_eq!(replaces, None);
    let offer = offer.expect("sipp offers SDP");
    assert_eq!(offer.codec, Codec::Pcmu);
    assert_eq!(offer.telephone_event, Some(101));
    ua.send(UaCommand::Ringing { call });
    ua.send(UaCommand::Answer {
        call,
        media: media(40_000),
    });
    let e = until(&mut ua, "ended", |e| matches!(e, UaEvent::Ended { .. })).await;
    assert_eq!(e, UaEvent::Ended { call });
    let run = caller.await.expect("join");
    assert!(run.ok(), "{}", run.describe());
    assert!(
        run.messages.contains("SIP/2.0 180")
            && run.messages.contains("m=audio 40000 RTP/AVP 0 101"),
        "the caller saw ringing and our answer:\n{}",
        run.messages
    );
    // Detaching unregisters: the line is then unreachable (480 for a known user).
    ua.detach();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = sipp_call(&gw, "after-detach", "uac_refused.xml", "2001", "").await;
    assert!(
        after.messages.contains("SIP/2.0 480"),
        "{}",
        after.describe()
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_calls_a_sip_phone_holds_resumes_sends_dtmf_and_transfers() {
    if !have_sipp() {
        return;
    }
    let gw = Gateway::start(FLEET).await;
    let (mut ua, calls) = attach_registered(&gw.agent, "SEP0004F2000001", "2001").await;
    let bob_port = free_port();
    register_contact(&gw, "2002", DOMAIN, "bob-secret", bob_port).await;
    let bob = uas(
        &gw,
        "bob-features",
        scenario("ua_uas_features.xml"),
        bob_port,
    );
    settle().await;
    let call = calls.next();
    ua.send(UaCommand::Invite {
        call,
        line: LineId(1),
        target: "2002".to_owned(),
        offer: media(40_002),
    });
    let e = until(&mut ua, "progress", |e| {
        matches!(e, UaEvent::Progress { .. })
    })
    .await;
    assert_eq!(
        e,
        UaEvent::Progress {
            call,
            code: 180,
            media: None
        }
    );
    let UaEvent::Answered { media: far, .. } = until(&mut ua, "answered", |e| {
        matches!(e, UaEvent::Answered { .. })
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(far.codec, Codec::Pcmu);
    assert_eq!(far.telephone_event, Some(101));
    ua.send(UaCommand::Hold {
        call,
        on: true,
        media: media(40_002),
    });
    let UaEvent::MediaChanged { media: held, .. } = until(&mut ua, "hold answer", |e| {
        matches!(e, UaEvent::MediaChanged { .. })
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(held.direction, Direction::RecvOnly);
    ua.send(UaCommand::Hold {
        call,
        on: false,
        media: media(40_002),
    });
    let UaEvent::MediaChanged { media: resumed, .. } = until(&mut ua, "resume answer", |e| {
        matches!(e, UaEvent::MediaChanged { .. })
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(resumed.direction, Direction::SendRecv);
    ua.send(UaCommand::Info {
        call,
        dtmf: Dtmf {
            digit: '5',
            duration_ms: 160,
        },
    });
    ua.send(UaCommand::Transfer {
        call,
        target: "2003".to_owned(),
    });
    let e = until(&mut ua, "transfer", |e| {
        matches!(e, UaEvent::TransferResult { .. })
    })
    .await;
    assert_eq!(e, UaEvent::TransferResult { call, code: 200 });
    ua.send(UaCommand::Hangup { call });
    let bob = bob.await.expect("join");
    assert!(bob.ok(), "{}", bob.describe());
    assert!(bob.messages.contains("Referred-By: "), "{}", bob.messages);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_and_cancelled_outgoing_calls() {
    if !have_sipp() {
        return;
    }
    let gw = Gateway::start(FLEET).await;
    let (mut ua, calls) = attach_registered(&gw.agent, "SEP0004F2000001", "2001").await;
    // Busy.
    let bob_port = free_port();
    register_contact(&gw, "2002", DOMAIN, "bob-secret", bob_port).await;
    let bob = uas(&gw, "bob-busy", scenario("uas_busy.xml"), bob_port);
    settle().await;
    let call = calls.next();
    ua.send(UaCommand::Invite {
        call,
        line: LineId(1),
        target: "2002".to_owned(),
        offer: media(40_004),
    });
    let e = until(&mut ua, "busy", |e| matches!(e, UaEvent::Failed { .. })).await;
    assert_eq!(
        e,
        UaEvent::Failed {
            call,
            code: 486,
            reason: "Busy Here".to_owned()
        }
    );
    assert!(bob.await.expect("join").ok());
    // Early media (183 with SDP), then busy.
    let bob = uas(
        &gw,
        "bob-early",
        scenario("ua_uas_early_busy.xml"),
        bob_port,
    );
    settle().await;
    let call = calls.next();
    ua.send(UaCommand::Invite {
        call,
        line: LineId(1),
        target: "2002".to_owned(),
        offer: media(40_005),
    });
    let e = until(&mut ua, "early media", |e| {
        matches!(e, UaEvent::Progress { .. })
    })
    .await;
    let UaEvent::Progress {
        code: 183,
        media: Some(early),
        ..
    } = e
    else {
        panic!("{e:?}")
    };
    assert_eq!((early.codec, early.rtp.port()), (Codec::Pcma, 30_000));
    let e = until(&mut ua, "busy", |e| matches!(e, UaEvent::Failed { .. })).await;
    assert!(matches!(e, UaEvent::Failed { code: 486, .. }), "{e:?}");
    assert!(bob.await.expect("join").ok());
    // Ringing, then the phone hangs up: CANCEL, 487, and no event for the cancelled call.
    let carol_port = free_port();
    register_contact(&gw, "2003", DOMAIN, "carol-secret", carol_port).await;
    let carol = uas(
        &gw,
        "carol-ring",
        scenario("uas_ring_cancel.xml"),
        carol_port,
    );
    settle().await;
    let call = calls.next();
    ua.send(UaCommand::Invite {
        call,
        line: LineId(1),
        target: "sip:2003@acme.example.com".to_owned(),
        offer: media(40_006),
    });
    let e = until(&mut ua, "ringing", |e| {
        matches!(e, UaEvent::Progress { .. })
    })
    .await;
    assert!(matches!(e, UaEvent::Progress { code: 180, .. }));
    ua.send(UaCommand::Hangup { call });
    let carol = carol.await.expect("join");
    assert!(carol.ok(), "{}", carol.describe());
    assert!(
        tokio::time::timeout(Duration::from_millis(500), ua.recv())
            .await
            .is_err(),
        "no event after our own hangup"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refer_from_sipp_transfers_the_line_to_another_sip_phone() {
    if !have_sipp() {
        return;
    }
    let gw = Gateway::start(FLEET).await;
    let (mut ua, _) = attach_registered(&gw.agent, "SEP0004F2000001", "2001").await;
    let carol_port = free_port();
    register_contact(&gw, "2003", DOMAIN, "carol-secret", carol_port).await;
    let carol = uas(
        &gw,
        "carol-target",
        shared_scenario("uas_rr.xml"),
        carol_port,
    );
    settle().await;
    let bob = tokio::spawn({
        let (user, domain, password) = BOB;
        let csv = gw.write(
            "bob-refers.csv",
            &format!(
                "SEQUENTIAL\n{user};{domain};{};2001;2003\n",
                auth(user, password)
            ),
        );
        let (dir, target) = (gw.dir.path().to_owned(), gw.sip_udp);
        async move {
            let args = vec![
                target.to_string(),
                "-sf".into(),
                scenario("ua_uac_refer.xml").display().to_string(),
                "-inf".into(),
                csv.display().to_string(),
                "-i".into(),
                "127.0.0.1".into(),
                "-p".into(),
                free_port().to_string(),
                "-m".into(),
                "1".into(),
            ];
            sipp(&dir, "bob-refers", args).await
        }
    });
    let UaEvent::Incoming { call, .. } = until(&mut ua, "incoming", |e| {
        matches!(e, UaEvent::Incoming { .. })
    })
    .await
    else {
        unreachable!()
    };
    ua.send(UaCommand::Answer {
        call,
        media: media(40_008),
    });
    let UaEvent::TransferRequested {
        call: on,
        new_call,
        target,
    } = until(&mut ua, "refer", |e| {
        matches!(e, UaEvent::TransferRequested { .. })
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(on, call);
    assert_eq!(target, "sip:2003@acme.example.com");
    ua.send(UaCommand::Invite {
        call: new_call,
        line: LineId(1),
        target,
        offer: media(40_010),
    });
    let e = until(&mut ua, "answered", |e| {
        matches!(e, UaEvent::Answered { .. })
    })
    .await;
    assert!(matches!(e, UaEvent::Answered { call, .. } if call == new_call));
    // The transferor hangs up once it has the 200 sipfrag.
    let e = until(&mut ua, "ended", |e| matches!(e, UaEvent::Ended { .. })).await;
    assert_eq!(e, UaEvent::Ended { call });
    let bob = bob.await.expect("join");
    assert!(bob.ok(), "{}", bob.describe());
    ua.send(UaCommand::Hangup { call: new_call });
    let carol = carol.await.expect("join");
    assert!(carol.ok(), "{}", carol.describe());
    gw.stop().await;
}

/// Kamailio from Debian as the upstream registrar and proxy, with the shared in-memory, no-auth
/// configuration on a free port.
pub(crate) struct Kamailio {
    child: std::process::Child,
    pub(crate) addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Kamailio {
    pub(crate) fn start() -> Option<Self> {
        captures::peer::require_tool("kamailio")?;
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let cfg = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../shared/sip/kamailio/kamailio-registrar-proxy.cfg"),
        )
        .expect("the shared Kamailio config")
        .replace("127.0.0.1:5072", &format!("127.0.0.1:{port}"))
        .replace("children=4", "children=1");
        std::fs::create_dir_all(dir.path().join("run")).expect("run dir");
        let path = dir.path().join("kamailio.cfg");
        std::fs::write(&path, cfg).expect("config written");
        let child = std::process::Command::new("kamailio")
            .args([
                "-f",
                &path.display().to_string(),
                "-DD",
                "-E",
                "-m",
                "64",
                "-M",
                "8",
            ])
            .args([
                "-P",
                &dir.path().join("run/kamailio.pid").display().to_string(),
            ])
            .args(["-w", &dir.path().display().to_string()])
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            // Its own process group, so that stopping it stops its worker processes too.
            .process_group(0)
            .spawn()
            .expect("kamailio starts");
        Some(Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            _dir: dir,
        })
    }
}

impl Drop for Kamailio {
    /// SIGTERM to the whole group: Kamailio's main process then ends its workers. A SIGKILL to the
    /// main process alone left the workers running after the test, one set per run. If the group
    /// is still there after 3 s, it gets SIGKILL.
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let signal = |sig: &str| {
            let _ = std::process::Command::new("kill")
                .args([sig, "--", &group])
                .stderr(std::process::Stdio::null())
                .status();
        };
        signal("-TERM");
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        while std::time::Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        signal("-KILL");
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_mode_registers_with_kamailio_and_calls_both_ways_through_it() {
    if !have_sipp() {
        return;
    }
    let Some(kamailio) = Kamailio::start() else {
        return;
    };
    let shutdown = CancellationToken::new();
    let upstream = sip_core::msg::Uri::parse(&format!("sip:{}", kamailio.addr)).expect("uri");
    let settings = UaSettings::upstream(
        upstream,
        [127, 0, 0, 1].into(),
        sip_core::msg::Host::V4([127, 0, 0, 1].into()),
    )
    .with_expires(120);
    // Kamailio needs a moment to bind; the line retries on its own (1 s backoff) if it is early.
    let (agent, task) = Agent::start(settings, shutdown.clone())
        .await
        .expect("agent");
    let mut ua = agent.attach(
        "SEP0004F2000009".to_owned(),
        line("2001", None),
        CallRefs::new(),
    );
    let e = until(&mut ua, "registered upstream", |e| {
        matches!(e, UaEvent::Registered { .. })
    })
    .await;
    assert_eq!(e, UaEvent::Registered { line: LineId(1) });
    let dir = tempfile::tempdir().expect("tempdir");
    let caller = tokio::spawn({
        let dir = dir.path().to_owned();
        let target = kamailio.addr;
        async move {
            let args = vec![
                target.to_string(),
                "-sn".into(),
                "uac".into(),
                "-s".into(),
                "2001".into(),
                "-i".into(),
                "127.0.0.1".into(),
                "-p".into(),
                free_port().to_string(),
                "-m".into(),
                "1".into(),
                "-d".into(),
                "300".into(),
            ];
            sipp(&dir, "via-kamailio", args).await
        }
    });
    let UaEvent::Incoming { call, .. } = until(&mut ua, "incoming", |e| {
        matches!(e, UaEvent::Incoming { .. })
    })
    .await
    else {
        unreachable!()
    };
    ua.send(UaCommand::Answer {
        call,
        media: media(40_012),
    });
    let e = until(&mut ua, "ended", |e| matches!(e, UaEvent::Ended { .. })).await;
    assert_eq!(e, UaEvent::Ended { call });
    let run = caller.await.expect("join");
    assert!(run.ok(), "{}", run.describe());
    // And out through it: a sipp UAS registered at Kamailio as 2002 answers the line's call.
    let bob_port = free_port();
    let csv = dir.path().join("bob.csv");
    std::fs::write(&csv, format!("SEQUENTIAL\n2002;{DOMAIN}\n")).expect("csv");
    let reg = sipp(
        dir.path(),
        "bob-at-kamailio",
        vec![
            kamailio.addr.to_string(),
            "-sf".into(),
            scenario("register_noauth.xml").display().to_string(),
            "-inf".into(),
            csv.display().to_string(),
            "-key".into(),
            "contact_port".into(),
            bob_port.to_string(),
            "-i".into(),
            "127.0.0.1".into(),
            "-p".into(),
            free_port().to_string(),
            "-m".into(),
            "1".into(),
        ],
    )
    .await;
    assert!(reg.ok(), "{}", reg.describe());
    let bob = tokio::spawn({
        let dir = dir.path().to_owned();
        async move {
            sipp(
                &dir,
                "bob-uas-kamailio",
                vec![
                    "-sf".into(),
                    shared_scenario("uas_rr.xml").display().to_string(),
                    "-i".into(),
                    "127.0.0.1".into(),
                    "-p".into(),
                    bob_port.to_string(),
                    "-m".into(),
                    "1".into(),
                ],
            )
            .await
        }
    });
    settle().await;
    let out = CallRef(1_000);
    ua.send(UaCommand::Invite {
        call: out,
        line: LineId(1),
        target: "2002".to_owned(),
        offer: media(40_016),
    });
    let e = until(&mut ua, "answered", |e| {
        matches!(e, UaEvent::Answered { .. })
    })
    .await;
    assert!(
        matches!(e, UaEvent::Answered { call, .. } if call == out),
        "{e:?}"
    );
    ua.send(UaCommand::Hangup { call: out });
    let bob = bob.await.expect("join");
    assert!(bob.ok(), "{}", bob.describe());
    assert!(
        bob.messages.contains("Record-Route:"),
        "the call went through Kamailio:\n{}",
        bob.messages
    );
    shutdown.cancel();
    task.await.expect("agent stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_mode_answers_digest_challenges_with_the_stored_ha1() {
    if !have_sipp() {
        return;
    }
    // The upstream is a Crossbar that does not trust this agent: REGISTER gets 401, INVITE 407.
    let upstream = Gateway::start(FLEET).await;
    let shutdown = CancellationToken::new();
    let uri = sip_core::msg::Uri::parse(&format!("sip:{}", upstream.sip_udp)).expect("uri");
    let settings = UaSettings::upstream(
        uri,
        [127, 0, 0, 1].into(),
        sip_core::msg::Host::V4([127, 0, 0, 1].into()),
    );
    let (agent, task) = Agent::start(settings, shutdown.clone())
        .await
        .expect("agent");
    let ha1 = provisioning::Ha1::compute("2001", DOMAIN, "alice-secret");
    let calls = CallRefs::new();
    let mut ua = agent.attach(
        "SEP0004F2000010".to_owned(),
        line("2001", Some(ha1)),
        calls.clone(),
    );
    assert_eq!(next(&mut ua).await, UaEvent::Registered { line: LineId(1) });
    let bob_port = free_port();
    register_contact(&upstream, "2002", DOMAIN, "bob-secret", bob_port).await;
    let bob = uas(
        &upstream,
        "bob-upstream",
        shared_scenario("uas_rr.xml"),
        bob_port,
    );
    settle().await;
    let call: CallRef = calls.next();
    ua.send(UaCommand::Invite {
        call,
        line: LineId(1),
        target: "2002".to_owned(),
        offer: media(40_014),
    });
    let e = until(&mut ua, "answered", |e| {
        matches!(e, UaEvent::Answered { .. })
    })
    .await;
    assert!(matches!(e, UaEvent::Answered { .. }));
    ua.send(UaCommand::Hangup { call });
    let bob = bob.await.expect("join");
    assert!(bob.ok(), "{}", bob.describe());
    // A wrong HA1 is refused and reported.
    let wrong = provisioning::Ha1::compute("2003", DOMAIN, "not-carol");
    let mut bad = agent.attach(
        "SEP0004F2000011".to_owned(),
        line("2003", Some(wrong)),
        CallRefs::new(),
    );
    let e = next(&mut bad).await;
    assert!(
        matches!(e, UaEvent::RegistrationFailed { code: 403, .. }),
        "{e:?}"
    );
    shutdown.cancel();
    task.await.expect("agent stops");
    upstream.stop().await;
}

/// Answers the next incoming call on `ua`; returns its reference and its `replaces`.
async fn answer_next(ua: &mut DeviceUa, port: u16) -> (CallRef, Option<CallRef>) {
    let UaEvent::Incoming { call, replaces, .. } =
        until(ua, "incoming", |e| matches!(e, UaEvent::Incoming { .. })).await
    else {
        unreachable!()
    };
    ua.send(UaCommand::Answer {
        call,
        media: media(port),
    });
    (call, replaces)
}

async fn answered(ua: &mut DeviceUa, call: CallRef) {
    let e = until(ua, "answered", |e| matches!(e, UaEvent::Answered { .. })).await;
    assert!(
        matches!(e, UaEvent::Answered { call: c, .. } if c == call),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attended_transfer_between_three_lines_replaces_the_consultation_call() {
    let gw = Gateway::start(FLEET).await;
    let (mut alice, alice_calls) = attach_registered(&gw.agent, "SEP0004F2000001", "2001").await;
    let (mut bob, bob_calls) = attach_registered(&gw.agent, "SEP0004F2000002", "2002").await;
    let (mut carol, _) = attach_registered(&gw.agent, "SEP0004F2000003", "2003").await;
    // Bob calls Alice; Alice holds him and consults Carol.
    let b1 = bob_calls.next();
    bob.send(UaCommand::Invite {
        call: b1,
        line: LineId(1),
        target: "2001".to_owned(),
        offer: media(41_000),
    });
    let (a1, _) = answer_next(&mut alice, 41_002).await;
    answered(&mut bob, b1).await;
    alice.send(UaCommand::Hold {
        call: a1,
        on: true,
        media: media(41_002),
    });
    let e = until(&mut bob, "held", |e| {
        matches!(e, UaEvent::MediaChanged { .. })
    })
    .await;
    assert!(
        matches!(&e, UaEvent::MediaChanged { media, .. } if media.direction == Direction::SendOnly),
        "{e:?}"
    );
    // Bob's agent answered the hold offer recvonly.
    let e = until(&mut alice, "hold answered", |e| {
        matches!(e, UaEvent::MediaChanged { .. })
    })
    .await;
    assert!(
        matches!(&e, UaEvent::MediaChanged { media, .. } if media.direction == Direction::RecvOnly),
        "{e:?}"
    );
    let a2 = alice_calls.next();
    alice.send(UaCommand::Invite {
        call: a2,
        line: LineId(1),
        target: "2003".to_owned(),
        offer: media(41_004),
    });
    // Carol's phone has only A-law: the answer picks PCMA from Alice's offer (PCMU first), and both
    // sides learn it.
    let UaEvent::Incoming {
        call: c1, offer, ..
    } = until(&mut carol, "incoming", |e| {
        matches!(e, UaEvent::Incoming { .. })
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(offer.map(|o| o.codec), Some(Codec::Pcmu));
    let mut alaw = media(41_006);
    alaw.codecs = vec![Codec::Pcma];
    carol.send(UaCommand::Answer {
        call: c1,
        media: alaw,
    });
    let e = next(&mut carol).await;
    assert!(
        matches!(&e, UaEvent::MediaChanged { call, media } if *call == c1 && media.codec == Codec::Pcma),
        "{e:?}"
    );
    let e = until(&mut alice, "answered", |e| {
        matches!(e, UaEvent::Answered { .. })
    })
    .await;
    assert!(
        matches!(&e, UaEvent::Answered { call, media } if *call == a2 && media.codec == Codec::Pcma),
        "{e:?}"
    );
    // Alice transfers Bob to Carol, replacing her consultation call.
    alice.send(UaCommand::TransferAttended {
        call: a1,
        consult: a2,
    });
    let UaEvent::TransferRequested {
        call: on,
        new_call,
        target,
    } = until(&mut bob, "refer", |e| {
        matches!(e, UaEvent::TransferRequested { .. })
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(on, b1);
    assert!(target.contains("?Replaces="), "{target}");
    bob.send(UaCommand::Invite {
        call: new_call,
        line: LineId(1),
        target,
        offer: media(41_008),
    });
    let (c2, replaces) = answer_next(&mut carol, 41_010).await;
    assert_eq!(
        replaces,
        Some(c1),
        "Carol's new call replaces the consultation"
    );
    answered(&mut bob, new_call).await;
    let e = until(&mut alice, "transfer result", |e| {
        matches!(e, UaEvent::TransferResult { .. })
    })
    .await;
    assert_eq!(
        e,
        UaEvent::TransferResult {
            call: a1,
            code: 200
        }
    );
    // Alice leaves both calls; Carol's session drops the replaced one.
    alice.send(UaCommand::Hangup { call: a1 });
    alice.send(UaCommand::Hangup { call: a2 });
    assert_eq!(
        until(&mut bob, "ended", |e| matches!(e, UaEvent::Ended { .. })).await,
        UaEvent::Ended { call: b1 }
    );
    assert_eq!(
        until(&mut carol, "ended", |e| matches!(e, UaEvent::Ended { .. })).await,
        UaEvent::Ended { call: c1 }
    );
    bob.send(UaCommand::Hangup { call: new_call });
    assert_eq!(
        until(&mut carol, "ended", |e| matches!(e, UaEvent::Ended { .. })).await,
        UaEvent::Ended { call: c2 }
    );
    gw.stop().await;
}

/// sipp `2002` calls line 2001 in the background with scenario `name`.
fn bob_calls_line(
    gw: &Gateway,
    tag: &str,
    name: &str,
) -> tokio::task::JoinHandle<crate::harness::SippRun> {
    let csv = gw.write(
        &format!("{tag}.csv"),
        &format!(
            "SEQUENTIAL\n2002;{DOMAIN};{};2001\n",
            auth("2002", "bob-secret")
        ),
    );
    let (dir, target, tag, path) = (
        gw.dir.path().to_owned(),
        gw.sip_udp,
        tag.to_owned(),
        scenario(name),
    );
    tokio::spawn(async move {
        let args = vec![
            target.to_string(),
            "-sf".into(),
            path.display().to_string(),
            "-inf".into(),
            csv.display().to_string(),
            "-i".into(),
            "127.0.0.1".into(),
            "-p".into(),
            free_port().to_string(),
            "-m".into(),
            "1".into(),
            "-d".into(),
            "300".into(),
        ];
        sipp(&dir, &tag, args).await
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_calls_rejected_cancelled_and_with_a_late_offer() {
    if !have_sipp() {
        return;
    }
    let gw = Gateway::start(FLEET).await;
    let (mut ua, _) = attach_registered(&gw.agent, "SEP0004F2000001", "2001").await;
    // The session rejects: 486 reaches the caller.
    let run = bob_calls_line(&gw, "rejected", "uac_refused.xml");
    let UaEvent::Incoming { call, .. } = until(&mut ua, "incoming", |e| {
        matches!(e, UaEvent::Incoming { .. })
    })
    .await
    else {
        unreachable!()
    };
    ua.send(UaCommand::Reject { call, code: 486 });
    let run = run.await.expect("join");
    assert!(
        run.ok() && run.messages.contains("SIP/2.0 486"),
        "{}",
        run.describe()
    );
    // The caller cancels while the phone rings: Cancelled, and the caller gets its 487.
    let run = bob_calls_line(&gw, "cancelled", "uac_cancel.xml");
    let UaEvent::Incoming { call, .. } = until(&mut ua, "incoming", |e| {
        matches!(e, UaEvent::Incoming { .. })
    })
    .await
    else {
        unreachable!()
    };
    ua.send(UaCommand::Ringing { call });
    assert_eq!(
        until(&mut ua, "cancelled", |e| matches!(
            e,
            UaEvent::Cancelled { .. }
        ))
        .await,
        UaEvent::Cancelled { call }
    );
    let run = run.await.expect("join");
    assert!(run.ok(), "{}", run.describe());
    // No SDP in the INVITE: we offer in the 200, the caller answers in the ACK.
    let run = bob_calls_line(&gw, "late-offer", "ua_uac_late_offer.xml");
    let UaEvent::Incoming { call, offer, .. } = until(&mut ua, "incoming", |e| {
        matches!(e, UaEvent::Incoming { .. })
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(offer, None);
    ua.send(UaCommand::Answer {
        call,
        media: media(40_020),
    });
    let UaEvent::MediaChanged { media: far, .. } = until(&mut ua, "answer in ACK", |e| {
        matches!(e, UaEvent::MediaChanged { .. })
    })
    .await
    else {
        unreachable!()
    };
    assert_eq!(far.codec, Codec::Pcma);
    assert_eq!(
        until(&mut ua, "ended", |e| matches!(e, UaEvent::Ended { .. })).await,
        UaEvent::Ended { call }
    );
    let run = run.await.expect("join");
    assert!(run.ok(), "{}", run.describe());
    gw.stop().await;
}

/// Registration storm and call setup through Crossbar, for the figures in the notes. Lines register
/// with the gateway's own registrar (trusted, no digest); calls go line to line through the proxy, the
/// callee's "session" answering at once, so the latency is what Crossbar adds (two user agents and the
/// proxy, both ways).
///
/// `CROSSBAR_UA_LINES` (default 20,000 devices of one line), `CROSSBAR_UA_CPS` (default 200 calls/s)
/// and `CROSSBAR_UA_CALL_SECS` (default 5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "load figure: cargo test --release -p tests --test e2e ua::load -- --ignored --nocapture"]
async fn load_registration_storm_and_call_setup() {
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let lines = usize::try_from(env("CROSSBAR_UA_LINES", 20_000)).expect("lines");
    let cps = env("CROSSBAR_UA_CPS", 200);
    let secs = env("CROSSBAR_UA_CALL_SECS", 5);
    let gw = Gateway::start(FLEET).await;
    let started = std::time::Instant::now();
    let mut devices: Vec<DeviceUa> = (0..lines)
        .map(|i| {
            gw.agent.attach(
                format!("SEP{i:012X}"),
                line(&format!("{}", 100_000 + i), None),
                CallRefs::new(),
            )
        })
        .collect();
    for ua in &mut devices {
        assert_eq!(next(ua).await, UaEvent::Registered { line: LineId(1) });
    }
    let storm = started.elapsed();
    println!(
        "registration storm: {lines} lines registered in {:.2} s ({:.0} registrations/s)",
        storm.as_secs_f64(),
        lines as f64 / storm.as_secs_f64()
    );
    // Callees: the first 100 lines answer every call at once.
    let pairs = 100usize.min(lines / 2);
    let mut rest = devices.split_off(pairs);
    for mut callee in devices {
        tokio::spawn(async move {
            while let Some(e) = callee.recv().await {
                if let UaEvent::Incoming { call, .. } = e {
                    callee.send(UaCommand::Answer {
                        call,
                        media: media(42_000),
                    });
                }
            }
        });
    }
    // Callers: the next 100 lines, each placing a call every pairs/cps seconds.
    let period = Duration::from_secs_f64(pairs as f64 / cps as f64);
    let rounds = (secs as f64 / period.as_secs_f64()).ceil() as usize;
    let mut tasks = Vec::new();
    for (i, mut caller) in rest.drain(..pairs).enumerate() {
        let calls = CallRefs::new();
        tasks.push(tokio::spawn(async move {
            // Spread the callers over the period.
            tokio::time::sleep(period.mul_f64(i as f64 / pairs as f64)).await;
            let mut tick = tokio::time::interval(period);
            let mut latencies = Vec::new();
            for _ in 0..rounds {
                tick.tick().await;
                let call = calls.next();
                let t = std::time::Instant::now();
                caller.send(UaCommand::Invite {
                    call,
                    line: LineId(1),
                    target: format!("{}", 100_000 + i),
                    offer: media(42_002),
                });
                loop {
                    match next(&mut caller).await {
                        UaEvent::Answered { call: c, .. } if c == call => break,
                        UaEvent::Failed { code, .. } => panic!("call failed with {code}"),
                        _ => {}
                    }
                }
                latencies.push(t.elapsed());
                caller.send(UaCommand::Hangup { call });
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("caller"));
    }
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    println!(
        "call setup at {cps} calls/s for {secs} s: {} calls, INVITE to Answered p50 {:?}, p99 {:?}, max {:?}",
        all.len(),
        pct(0.50),
        pct(0.99),
        all[all.len() - 1]
    );
    drop(rest);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_drops_the_bindings_of_the_previous_line_user_agents() {
    if !have_sipp() {
        return;
    }
    let gw = Gateway::start(FLEET).await;
    // A binding as a line user agent of a crashed run leaves it: its port is dead.
    let csv = gw.write(
        "stale.csv",
        &format!(
            "SEQUENTIAL\n2001;{DOMAIN};{}\n",
            auth("2001", "alice-secret")
        ),
    );
    let run = run_scenario(
        &gw,
        "stale-line",
        gw.sip_udp,
        scenario("register_contact.xml"),
        &csv,
        &["-key", "contact_port", "9;line=xb-SEP0004F2000001-1"],
    )
    .await;
    assert!(run.ok(), "{}", run.describe());
    let gw = gw.restart().await;
    // The line binding is gone: the caller gets 480 at once, not a timeout on the dead port.
    let call = sipp_call(&gw, "after-restart", "uac_refused.xml", "2001", "").await;
    assert!(call.messages.contains("SIP/2.0 480"), "{}", call.describe());
    gw.stop().await;
}
