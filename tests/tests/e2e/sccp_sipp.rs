//! phonesim SCCP phones against sipp through the in-process gateway: the "done when" call both
//! ways with RTP echoed by sipp and counted by the phone, keys during a call arriving at sipp as RFC 4733
//! events (captured on loopback and decoded by tshark), hold and resume from either side, blind and
//! attended transfer by the phone, a REFER from sipp, and upstream mode through Kamailio. Everything the
//! gateway sends the phones is decoded by tshark with nothing malformed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use codecs::sccp::{CallState, SoftKeyEvent};
use tests::phonesim::fleet::{self, PhoneSpec};
use tests::phonesim::{Event, Phone, PhoneConfig};

use crate::harness::{Gateway, SippRun, free_port, have_sipp, scenario, settle, sipp};
use crate::sip::{auth, register_contact, run_scenario};

const WAIT: Duration = Duration::from_secs(10);
const DOMAIN: &str = "acme.example.com";

/// The fleet: a 7960 on 2001, a SIP user 2002 with a password, and a 7970 on 2003.
const FLEET: &str = "extension,first_name,last_name,password,mac,model,line\n\
                     2001,Ann,Lee,,00:04:f2:00:00:01,cisco-7960,1\n\
                     2002,Bob,Ray,bob-secret,,,\n\
                     2003,Cy,Orr,,0004f2000002,cisco-7970,1\n";

fn is_state(want: CallState) -> impl FnMut(&Event) -> bool {
    move |e| matches!(e, Event::CallState { state, .. } if *state == want)
}

fn specs() -> (PhoneSpec, PhoneSpec) {
    let mut specs = fleet::from_csv(FLEET.as_bytes()).unwrap();
    let cy = specs.remove(1);
    let ann = specs.remove(0);
    (ann, cy)
}

/// A registered phone (recording its wire).
async fn phone(gw: &Gateway, spec: PhoneSpec) -> Phone {
    let mut config = PhoneConfig::new(gw.sccp);
    config.record_wire = true;
    let mut phone = Phone::spawn(spec, Arc::new(config), None);
    assert!(phone.wait_registered(WAIT).await, "{:?}", phone.events());
    phone
}

async fn expect(phone: &mut Phone, what: &str, pred: impl FnMut(&Event) -> bool) -> Event {
    match phone.wait_for(pred, WAIT).await {
        Some(e) => e,
        None => panic!("{}: no {what} in {:?}", phone.device_name(), phone.events()),
    }
}

/// sipp as 2002: registered with its digest password at `sip_port`, then running `name` there as a UAS
/// for one call, echoing RTP on `media_port`.
async fn bob_uas(
    gw: &Gateway,
    tag: &str,
    name: &str,
    sip_port: u16,
    media_port: u16,
) -> tokio::task::JoinHandle<SippRun> {
    register_contact(gw, "2002", DOMAIN, "bob-secret", sip_port).await;
    let dir = gw.dir.path().to_owned();
    let tag = tag.to_owned();
    let path = scenario(name);
    let task = tokio::spawn(async move {
        sipp(
            &dir,
            &tag,
            vec![
                "-sf".into(),
                path.display().to_string(),
                "-i".into(),
                "127.0.0.1".into(),
                "-p".into(),
                sip_port.to_string(),
                "-mp".into(),
                media_port.to_string(),
                "-rtp_echo".into(),
                "-m".into(),
                "1".into(),
            ],
        )
        .await
    });
    settle().await;
    task
}

/// sipp as 2002 (authenticating) calling `callee` with scenario `name`, echoing RTP, in the background.
fn bob_calls(
    gw: &Gateway,
    tag: &str,
    name: &str,
    callee: &str,
    extra: &[&str],
) -> tokio::task::JoinHandle<SippRun> {
    let csv = gw.write(
        &format!("{tag}.csv"),
        &format!(
            "SEQUENTIAL\n2002;{DOMAIN};{};{callee}\n",
            auth("2002", "bob-secret")
        ),
    );
    let mut args: Vec<String> = ["-mp", &free_port().to_string(), "-rtp_echo"]
        .iter()
        .chain(extra)
        .map(|s| (*s).to_owned())
        .collect();
    let sc = scenario(name);
    let target = gw.sip_udp;
    let tag = tag.to_owned();
    // The gateway outlives the task: its directory is only borrowed for the run.
    let gw_dir = gw.dir.path().to_owned();
    args.push("-inf".into());
    args.push(csv.display().to_string());
    tokio::spawn(async move {
        let mut all: Vec<String> = vec![
            target.to_string(),
            "-sf".into(),
            sc.display().to_string(),
            "-i".into(),
            "127.0.0.1".into(),
            "-p".into(),
            free_port().to_string(),
            "-m".into(),
            "1".into(),
            "-key".into(),
            "expires".into(),
            "3600".into(),
        ];
        all.extend(args);
        sipp(&gw_dir, &tag, all).await
    })
}

/// The phone dials `number` and waits for the call to connect and media to flow.
async fn call_out(phone: &mut Phone, number: &str) {
    phone.off_hook();
    expect(phone, "off hook", is_state(CallState::OFF_HOOK)).await;
    phone.dial(number);
    expect(phone, "connected", is_state(CallState::CONNECTED)).await;
    expect(phone, "media started", |e| {
        matches!(e, Event::MediaStarted { .. })
    })
    .await;
}

/// The phone rings with 2002 calling, answers, and media flows.
async fn answer_bob(phone: &mut Phone) {
    expect(phone, "ringing", is_state(CallState::RING_IN)).await;
    let info = expect(phone, "caller id", |e| matches!(e, Event::CallInfo { .. })).await;
    assert!(
        matches!(&info, Event::CallInfo { calling, .. } if calling == "2002"),
        "{info:?}"
    );
    phone.answer();
    expect(phone, "connected", is_state(CallState::CONNECTED)).await;
    expect(phone, "media started", |e| {
        matches!(e, Event::MediaStarted { .. })
    })
    .await;
}

/// RTP flows both ways for `ms`: the phone sent packets and got (sipp's echo of) them back.
async fn assert_two_way_rtp(phone: &Phone, ms: u64) {
    let before = phone.rtp_counts();
    tokio::time::sleep(Duration::from_millis(ms)).await;
    let after = phone.rtp_counts();
    let (sent, received) = (after.sent - before.sent, after.received - before.received);
    // 50 packets a second each way on an idle machine; bounds that hold on a loaded one.
    let least = ms / 20 / 4;
    assert!(
        sent >= least && received >= least / 2,
        "{}: sent {sent}, received {received} in {ms} ms",
        phone.device_name()
    );
}

/// Writes the recorded conversations as a pcap and fails on anything tshark calls malformed.
fn tshark_clean(phones: &[&Phone], name: &str) {
    let conversations: Vec<_> = phones.iter().flat_map(|p| p.recorded()).collect();
    assert!(!conversations.is_empty(), "the phones recorded their wire");
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join(name);
    tests::phonesim::wire::write_pcap(&pcap, [127, 0, 0, 1].into(), &conversations).unwrap();
    if captures::peer::require_tool("tshark").is_none() {
        return;
    }
    let skinny = captures::peer::tshark_fields(
        &pcap,
        &[],
        "skinny && tcp.srcport == 2000",
        &["frame.number"],
    )
    .unwrap();
    assert!(!skinny.is_empty(), "tshark decodes the gateway's messages");
    let complaints = captures::peer::tshark_fields(
        &pcap,
        &[],
        "_ws.malformed || _ws.expert.severity >= 0x00800000",
        &["frame.number", "skinny.messageId", "_ws.expert.message"],
    )
    .unwrap();
    if !complaints.is_empty() {
        let keep = std::env::temp_dir().join(name);
        let _ = std::fs::copy(&pcap, &keep);
        panic!(
            "tshark complaints (capture kept at {}): {complaints:?}",
            keep.display()
        );
    }
}

/// tshark capturing UDP to `port` on loopback for `secs` seconds, in the background.
struct Capture {
    task: tokio::task::JoinHandle<std::process::Output>,
    path: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Capture {
    async fn start(port: u16, secs: u32) -> Option<Self> {
        captures::peer::require_tool("tshark")?;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rtp.pcapng");
        let args = vec![
            "-i".to_owned(),
            "lo".into(),
            "-f".into(),
            format!("udp dst port {port}"),
            "-a".into(),
            format!("duration:{secs}"),
            "-w".into(),
            path.display().to_string(),
        ];
        let task = tokio::task::spawn_blocking(move || {
            std::process::Command::new("tshark")
                .args(&args)
                .output()
                .expect("tshark runs")
        });
        // tshark needs a moment before it captures.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        Some(Self {
            task,
            path,
            port,
            _dir: dir,
        })
    }

    /// The RFC 4733 event ids (one per packet) in the capture, once it ended.
    async fn events(self) -> Vec<u32> {
        let out = self.task.await.expect("join");
        assert!(
            self.path.exists(),
            "tshark captured: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let decode = format!("udp.port=={},rtp", self.port);
        captures::peer::tshark_fields(
            &self.path,
            &["-d", &decode],
            "rtpevent",
            &["rtpevent.event_id"],
        )
        .expect("tshark reads the capture")
        .into_iter()
        .flatten()
        .filter_map(|f| f.parse().ok())
        .collect()
    }
}

/// The ids with repeats (one event spans several packets) collapsed.
fn runs_of(ids: &[u32]) -> Vec<u32> {
    let mut distinct: Vec<u32> = ids.to_vec();
    distinct.dedup();
    distinct
}

/// The "done when": the 7960 on 2001 registers, calls 2002 (registered from sipp with its
/// password from the CSV) with two-way RTP, then is called by 2002 and answers, two-way RTP again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_7960_on_2001_calls_sipp_2002_and_is_called_by_it_with_two_way_rtp() {
    if !have_sipp() {
        return;
    }
    let gw = Gateway::start(FLEET).await;
    let (ann, _) = specs();
    let mut ann = phone(&gw, ann).await;

    let bob = bob_uas(
        &gw,
        "bob-echo",
        "sccp_uas_echo.xml",
        free_port(),
        free_port(),
    )
    .await;
    call_out(&mut ann, "2002#").await;
    assert_two_way_rtp(&ann, 1000).await;
    ann.on_hook();
    expect(&mut ann, "on hook", is_state(CallState::ON_HOOK)).await;
    let bob = bob.await.expect("join");
    assert!(bob.ok(), "{}", bob.describe());
    assert!(
        bob.messages.contains("From: \"Line 2001\"") || bob.messages.contains("sip:2001@"),
        "the call came from 2001:\n{}",
        bob.messages
    );

    let caller = bob_calls(
        &gw,
        "bob-calls-ann",
        "uac_auth.xml",
        "2001",
        &["-d", "2000"],
    );
    answer_bob(&mut ann).await;
    assert_two_way_rtp(&ann, 1000).await;
    expect(&mut ann, "far end hung up", is_state(CallState::ON_HOOK)).await;
    let run = caller.await.expect("join");
    assert!(run.ok(), "{}", run.describe());
    ann.stop().await;
    gw.stop().await;
    tshark_clean(&[&ann], "done-when.pcap");
}

/// Keys pressed during a call reach sipp's media port as RFC 4733 events; the phone's Hold and Resume
/// soft keys send sipp a=sendonly and then a=sendrecv re-INVITEs, and RTP flows again after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_reach_sipp_as_rfc_4733_and_the_phone_holds_and_resumes_it() {
    if !have_sipp() {
        return;
    }
    let gw = Gateway::start(FLEET).await;
    let (ann, _) = specs();
    let mut ann = phone(&gw, ann).await;
    let media_port = free_port();
    let bob = bob_uas(
        &gw,
        "bob-hold",
        "sccp_uas_hold.xml",
        free_port(),
        media_port,
    )
    .await;
    call_out(&mut ann, "2002#").await;
    let capture = Capture::start(media_port, 5).await;
    ann.key('5');
    tokio::time::sleep(Duration::from_millis(400)).await;
    ann.key('#');
    tokio::time::sleep(Duration::from_millis(400)).await;

    ann.softkey(SoftKeyEvent::HOLD);
    expect(&mut ann, "hold", is_state(CallState::HOLD)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    ann.softkey(SoftKeyEvent::RESUME);
    expect(&mut ann, "resumed", is_state(CallState::CONNECTED)).await;
    expect(&mut ann, "media again", |e| {
        matches!(e, Event::MediaStarted { .. })
    })
    .await;
    assert_two_way_rtp(&ann, 800).await;
    ann.on_hook();
    let bob = bob.await.expect("join");
    assert!(bob.ok(), "{}", bob.describe());
    if let Some(capture) = capture {
        let ids = capture.events().await;
        // '5' is event 5 and '#' is event 11 (RFC 4733 section 3.2).
        assert_eq!(runs_of(&ids), [5, 11], "{ids:?}");
    }
    ann.stop().await;
    gw.stop().await;
    tshark_clean(&[&ann], "keys-hold.pcap");
}

/// sipp calls the phone and holds it: the phone shows Remote Hold, then Connected on the resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_from_sipp_shows_remote_hold_on_the_phone() {
    if !have_sipp() {
        return;
    }
    let gw = Gateway::start(FLEET).await;
    let (ann, _) = specs();
    let mut ann = phone(&gw, ann).await;
    let caller = bob_calls(&gw, "bob-holds-ann", "sccp_uac_hold.xml", "2001", &[]);
    answer_bob(&mut ann).await;
    expect(&mut ann, "remote hold", is_state(CallState::REMOTE_HOLD)).await;
    expect(&mut ann, "resumed", is_state(CallState::CONNECTED)).await;
    expect(&mut ann, "far end hung up", is_state(CallState::ON_HOOK)).await;
    let run = caller.await.expect("join");
    assert!(run.ok(), "{}", run.describe());
    ann.stop().await;
    gw.stop().await;
    tshark_clean(&[&ann], "remote-hold.pcap");
}

/// The 7960 transfers sipp to the 7970: blind (Transfer, 2003, Transfer) sends REFER to 2003; attended
/// (Transfer, 2003#, the 7970 answers, Transfer) sends REFER with Replaces for the consultation call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phone_transfers_sipp_to_another_phone_blind_and_attended() {
    if !have_sipp() {
        return;
    }
    let gw = Gateway::start(FLEET).await;
    let (ann, cy) = specs();
    let mut ann = phone(&gw, ann).await;
    let mut cy = phone(&gw, cy).await;

    // Blind.
    let bob = bob_uas(
        &gw,
        "bob-blind",
        "sccp_uas_transferee.xml",
        free_port(),
        free_port(),
    )
    .await;
    call_out(&mut ann, "2002#").await;
    ann.softkey(SoftKeyEvent::TRANSFER);
    expect(&mut ann, "held for the transfer", is_state(CallState::HOLD)).await;
    expect(&mut ann, "dial tone", is_state(CallState::OFF_HOOK)).await;
    ann.dial("2003");
    // A person takes longer than the hold re-INVITE's 200 and ACK: a REFER sent at once may overtake the
    // ACK (legal, but sipp's script is linear).
    tokio::time::sleep(Duration::from_millis(500)).await;
    ann.softkey(SoftKeyEvent::TRANSFER);
    let bob = bob.await.expect("join");
    assert!(bob.ok(), "{}", bob.describe());
    assert!(!bob.messages.contains("Replaces"), "{}", bob.messages);
    for _ in 0..100 {
        if ann.is_idle() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ann.is_idle(), "{:?}", ann.calls());

    // Attended.
    let bob = bob_uas(
        &gw,
        "bob-attended",
        "sccp_uas_transferee.xml",
        free_port(),
        free_port(),
    )
    .await;
    call_out(&mut ann, "2002#").await;
    ann.softkey(SoftKeyEvent::TRANSFER);
    expect(&mut ann, "held for the transfer", is_state(CallState::HOLD)).await;
    expect(&mut ann, "dial tone", is_state(CallState::OFF_HOOK)).await;
    ann.dial("2003#");
    expect(&mut cy, "ringing", is_state(CallState::RING_IN)).await;
    cy.answer();
    expect(&mut cy, "connected", is_state(CallState::CONNECTED)).await;
    expect(&mut ann, "consultation", is_state(CallState::CONNECTED)).await;
    ann.softkey(SoftKeyEvent::TRANSFER);
    let bob = bob.await.expect("join");
    assert!(bob.ok(), "{}", bob.describe());
    let refer = bob
        .messages
        .lines()
        .find(|l| l.starts_with("Refer-To:"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        refer.contains("2003@") && refer.contains("Replaces"),
        "{refer}\n{}",
        bob.messages
    );
    cy.on_hook();
    ann.on_hook();
    ann.stop().await;
    cy.stop().await;
    gw.stop().await;
    tshark_clean(&[&ann, &cy], "phone-transfers.pcap");
}

/// sipp calls the 7960 and REFERs it to 2003: the 7960's line calls the 7970, which rings and answers,
/// and sipp gets the NOTIFYs (100, 180, 200).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refer_from_sipp_makes_the_phone_call_the_other_phone() {
    if !have_sipp() {
        return;
    }
    let gw = Gateway::start(FLEET).await;
    let (ann, cy) = specs();
    let mut ann = phone(&gw, ann).await;
    let mut cy = phone(&gw, cy).await;
    let csv = gw.write(
        "bob-refers.csv",
        &format!(
            "SEQUENTIAL\n2002;{DOMAIN};{};2001;2003\n",
            auth("2002", "bob-secret")
        ),
    );
    let caller = tokio::spawn({
        let dir = gw.dir.path().to_owned();
        let target = gw.sip_udp;
        async move {
            sipp(
                &dir,
                "bob-refers",
                vec![
                    target.to_string(),
                    "-sf".into(),
                    scenario("ua_uac_refer.xml").display().to_string(),
                    "-inf".into(),
                    csv.display().to_string(),
                    "-i".into(),
                    "127.0.0.1".into(),
                    "-p".into(),
                    free_port().to_string(),
                    "-mp".into(),
                    free_port().to_string(),
                    "-m".into(),
                    "1".into(),
                ],
            )
            .await
        }
    });
    answer_bob(&mut ann).await;
    let ring = expect(&mut cy, "ringing", is_state(CallState::RING_IN)).await;
    let info = expect(&mut cy, "caller id", |e| {
        matches!(e, Event::CallInfo { .. })
    })
    .await;
    assert!(
        matches!(&info, Event::CallInfo { calling, .. } if calling == "2001"),
        "{ring:?} {info:?}"
    );
    cy.answer();
    expect(&mut cy, "connected", is_state(CallState::CONNECTED)).await;
    let run = caller.await.expect("join");
    assert!(run.ok(), "{}", run.describe());
    expect(&mut ann, "transferred call", is_state(CallState::CONNECTED)).await;
    expect(&mut ann, "media", |e| {
        matches!(e, Event::MediaStarted { .. })
    })
    .await;
    assert_two_way_rtp(&ann, 600).await;
    assert_two_way_rtp(&cy, 600).await;
    cy.on_hook();
    expect(&mut ann, "on hook", is_state(CallState::ON_HOOK)).await;
    ann.stop().await;
    cy.stop().await;
    gw.stop().await;
    tshark_clean(&[&ann, &cy], "sipp-refers.pcap");
}

/// Upstream mode: the phone's line registers with Kamailio (Debian's), and the phone calls 2002,
/// registered at Kamailio from sipp, through it (Record-Route), with two-way RTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_mode_the_phone_registers_with_kamailio_and_calls_sipp_through_it() {
    if !have_sipp() {
        return;
    }
    let Some(kamailio) = crate::ua::Kamailio::start() else {
        return;
    };
    let upstream = format!("upstream = \"sip:{}\"", kamailio.addr);
    let gw = Gateway::start_with(FLEET, &upstream).await;
    let (ann, _) = specs();
    let mut ann = phone(&gw, ann).await;

    let (sip_port, media_port) = (free_port(), free_port());
    let csv = gw.write("bob-kam.csv", &format!("SEQUENTIAL\n2002;{DOMAIN}\n"));
    let reg = run_scenario(
        &gw,
        "bob-at-kamailio",
        kamailio.addr,
        scenario("register_noauth.xml"),
        &csv,
        &["-key", "contact_port", &sip_port.to_string()],
    )
    .await;
    assert!(reg.ok(), "{}", reg.describe());
    let bob = tokio::spawn({
        let dir: &Path = gw.dir.path();
        let dir = dir.to_owned();
        async move {
            sipp(
                &dir,
                "bob-uas-kam",
                vec![
                    "-sf".into(),
                    scenario("sccp_uas_echo.xml").display().to_string(),
                    "-i".into(),
                    "127.0.0.1".into(),
                    "-p".into(),
                    sip_port.to_string(),
                    "-mp".into(),
                    media_port.to_string(),
                    "-rtp_echo".into(),
                    "-m".into(),
                    "1".into(),
                ],
            )
            .await
        }
    });
    settle().await;
    // The line registers upstream on its own (retrying while Kamailio binds): calls wait for it.
    let mut connected = false;
    for _ in 0..10 {
        ann.off_hook();
        expect(&mut ann, "off hook", is_state(CallState::OFF_HOOK)).await;
        ann.dial("2002#");
        let state = ann
            .wait_for(
                |e| {
                    matches!(e, Event::CallState { state, .. }
                    if *state == CallState::CONNECTED || *state == CallState::CONGESTION
                        || *state == CallState::INVALID_NUMBER
                        || *state == CallState::BUSY)
                },
                WAIT,
            )
            .await;
        if matches!(
            state,
            Some(Event::CallState {
                state: CallState::CONNECTED,
                ..
            })
        ) {
            connected = true;
            break;
        }
        ann.on_hook();
        expect(&mut ann, "on hook", is_state(CallState::ON_HOOK)).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(connected, "{:?}", ann.events());
    expect(&mut ann, "media", |e| {
        matches!(e, Event::MediaStarted { .. })
    })
    .await;
    assert_two_way_rtp(&ann, 1000).await;
    ann.on_hook();
    let bob = bob.await.expect("join");
    assert!(bob.ok(), "{}", bob.describe());
    assert!(
        bob.messages.contains("Record-Route:"),
        "the call went through Kamailio:\n{}",
        bob.messages
    );
    ann.stop().await;
    gw.stop().await;
    tshark_clean(&[&ann], "upstream.pcap");
}
