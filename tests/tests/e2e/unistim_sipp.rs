//! A simulated Avaya 1140e (UNIStim, extension 3001) against sipp through the in-process gateway, as
//! `sccp_sipp.rs` does for a Cisco 7960: sipp calls the phone with RTP both ways, keys during a call
//! reach sipp as RFC 4733 events (captured on loopback, decoded by tshark) and the Hold key reaches it
//! as re-INVITEs, blind and attended transfer by the phone (the Transf softkey) to a 7970, and a REFER
//! from sipp. Everything the gateway sent the 1140e is decoded by tshark as UNIStim, nothing malformed.

use std::time::Duration;

use codecs::sccp::CallState;
use codecs::unistim::msg::key::KeyCode;
use tests::phonesim::fleet;
use tests::phonesim::unistim::{Screen, ToneKind, UnistimEvent, UnistimPhone};
use tests::phonesim::{Event, Phone, RtpCounts};

use crate::harness::{
    Capture, Gateway, SippRun, WAIT, bob_calls, bob_refers, bob_uas, expect, free_port, have_sipp,
    is_state, runs_of, sccp_phone, tshark_gateway, unistim_config, unistim_idle, unistim_phone,
};

/// The 1140e on 3001, a SIP user 2002 with a password (sipp), and a 7970 on 2003.
const FLEET: &str = "extension,domain,password,first_name,mac,model,line\n\
    3001,acme.example.com,pw3001,Una,00:13:65:00:30:01,avaya-1140e,1\n\
    2002,acme.example.com,bob-secret,Bob,,,\n\
    2003,acme.example.com,pw2003,Cy,00:04:f2:00:20:03,cisco-7970,1\n";

/// The 1140e, registered and showing its idle screen.
async fn una(gw: &Gateway) -> UnistimPhone {
    let una = unistim_phone(FLEET, "3001", unistim_config(gw, |_| {}));
    assert!(
        una.wait_screen(unistim_idle("3001"), WAIT).await.is_some(),
        "no idle screen: {:?} {:?}",
        una.screen(),
        una.events()
    );
    una
}

/// The 7970 on 2003, registered.
async fn cy(gw: &Gateway) -> Phone {
    let spec = fleet::from_csv(FLEET.as_bytes()).unwrap().remove(0);
    assert_eq!(spec.lines, ["2003"]);
    sccp_phone(gw, spec).await
}

/// The 1140e's next event matching `pred`, or a panic naming `what`.
async fn wait(
    una: &mut UnistimPhone,
    what: &str,
    pred: impl FnMut(&UnistimEvent) -> bool,
) -> UnistimEvent {
    match una.wait_for(pred, WAIT).await {
        Some(e) => e,
        None => panic!("3001: no {what} in {:?}\n{:?}", una.events(), una.screen()),
    }
}

fn audio_open(e: &UnistimEvent) -> bool {
    matches!(
        e,
        UnistimEvent::AudioOpened {
            remote: Some(_),
            ..
        }
    )
}

fn dial_tone(e: &UnistimEvent) -> bool {
    matches!(
        e,
        UnistimEvent::Tone {
            kind: ToneKind::Dial,
            ..
        }
    )
}

/// Presses the softkey labelled `label` once the screen shows it.
async fn softkey(una: &UnistimPhone, label: &str) {
    let shown = |s: &Screen| s.softkeys.iter().position(|k| k.trim() == label);
    let Some(screen) = una.wait_screen(|s| shown(s).is_some(), WAIT).await else {
        panic!("3001: no {label} softkey on {:?}", una.screen());
    };
    let n = shown(&screen).and_then(|n| u8::try_from(n).ok()).unwrap();
    una.softkey(n);
}

/// Lifts the handset, dials `number` on dial tone, and waits for the audio stream to open.
async fn call_out(una: &mut UnistimPhone, number: &str) {
    una.off_hook();
    wait(una, "dial tone", dial_tone).await;
    una.dial(number);
    wait(una, "audio stream", audio_open).await;
}

/// Whether RTP flowed both ways for `ms`: the phone sent packets and got (sipp's echo of) them back.
async fn assert_two_way_rtp(una: &UnistimPhone, ms: u64) {
    let before = una.rtp_counts();
    tokio::time::sleep(Duration::from_millis(ms)).await;
    let after = una.rtp_counts();
    let got = RtpCounts {
        sent: after.sent - before.sent,
        received: after.received - before.received,
    };
    // 50 packets a second each way on an idle machine; bounds that hold on a loaded one.
    let least = ms / 20 / 4;
    assert!(
        got.sent >= least && got.received >= least / 2,
        "3001: {got:?} in {ms} ms"
    );
}

/// Waits for the idle screen (nothing ringing, no tone, the idle softkeys).
async fn assert_idle(una: &UnistimPhone) {
    let idle = una
        .wait_screen(
            |s| unistim_idle("3001")(s) && s.softkeys.iter().any(|k| k.trim() == "Redial"),
            WAIT,
        )
        .await;
    assert!(idle.is_some(), "3001 not idle: {:?}", una.screen());
}

/// sipp as 2002 to be transferred (`sccp_uas_transferee.xml`), called by the 1140e, which presses
/// Transf: the call is held and dial tone plays for the target.
async fn call_and_consult(
    gw: &Gateway,
    una: &mut UnistimPhone,
    tag: &str,
) -> tokio::task::JoinHandle<SippRun> {
    let bob = bob_uas(gw, tag, "sccp_uas_transferee.xml", free_port(), free_port()).await;
    call_out(una, "2002#").await;
    softkey(una, "Transf").await;
    wait(una, "held for the transfer", |e| {
        *e == UnistimEvent::AudioClosed
    })
    .await;
    wait(una, "dial tone", dial_tone).await;
    bob
}

/// The Refer-To header sipp got, once its scenario passed.
async fn refer_to(bob: tokio::task::JoinHandle<SippRun>) -> (String, SippRun) {
    let bob = bob.await.expect("join");
    assert!(bob.ok(), "{}", bob.describe());
    let refer = bob
        .messages
        .lines()
        .find(|l| l.starts_with("Refer-To:"))
        .unwrap_or_default()
        .to_owned();
    (refer, bob)
}

/// Stops the 1140e and fails on anything the gateway sent it that tshark (or the phone) calls malformed.
async fn stop_clean(mut una: UnistimPhone, gw: &Gateway) {
    una.stop().await;
    let malformed = una
        .events()
        .iter()
        .filter(|e| matches!(e, UnistimEvent::Malformed { .. }))
        .count();
    assert_eq!(malformed, 0, "{:?}", una.events());
    let dir = tempfile::tempdir().unwrap();
    if let Some((from_gateway, malformed)) = tshark_gateway(&una, gw, dir.path()) {
        // The connection dialogue and the idle screen alone are more than ten.
        assert!(
            from_gateway > 10,
            "tshark decoded {from_gateway} UNIStim datagrams"
        );
        assert_eq!(malformed, 0, "tshark: malformed UNIStim from the gateway");
    }
}

/// 3001 calling sipp with two-way RTP is `an_1140e_on_3001_calls_sip_2002_and_sccp_2001_and_is_called_back`;
/// the other way: sipp (2002, authenticating) calls 3001, which rings showing 2002, answers, and RTP
/// flows both ways until sipp hangs up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_calls_an_1140e_which_answers_with_two_way_rtp() {
    if !have_sipp() {
        return;
    }
    let gw = Gateway::start(FLEET).await;
    let mut una = una(&gw).await;
    let caller = bob_calls(
        &gw,
        "bob-calls-una",
        "uac_auth.xml",
        "3001",
        &["-d", "2000"],
    );
    let ringing = una.wait_screen(|s| s.ringing, WAIT).await;
    let Some(ringing) = ringing else {
        panic!("3001 never rang: {:?}", una.events());
    };
    assert!(ringing.contains("2002"), "caller shown: {ringing:?}");
    una.answer();
    wait(&mut una, "audio stream", audio_open).await;
    assert_two_way_rtp(&una, 1000).await;
    wait(&mut una, "far end hung up", |e| {
        *e == UnistimEvent::AudioClosed
    })
    .await;
    let run = caller.await.expect("join");
    assert!(run.ok(), "{}", run.describe());
    una.on_hook();
    assert_idle(&una).await;
    stop_clean(una, &gw).await;
    gw.stop().await;
}

/// Keys pressed on the 1140e's keypad during a call reach sipp's media port as RFC 4733 events in
/// order; the Hold key sends sipp an a=sendonly re-INVITE and pressing it again an a=sendrecv one, and
/// RTP flows again after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_1140e_sends_sipp_its_keys_as_rfc_4733_and_holds_and_resumes_it() {
    if !have_sipp() {
        return;
    }
    let gw = Gateway::start(FLEET).await;
    let mut una = una(&gw).await;
    let media_port = free_port();
    let bob = bob_uas(
        &gw,
        "bob-hold",
        "sccp_uas_hold.xml",
        free_port(),
        media_port,
    )
    .await;
    call_out(&mut una, "2002#").await;
    let capture = Capture::start(media_port, 5).await;
    una.dial("5");
    tokio::time::sleep(Duration::from_millis(400)).await;
    una.dial("#");
    tokio::time::sleep(Duration::from_millis(400)).await;

    una.press(KeyCode::HOLD);
    wait(&mut una, "hold closing the stream", |e| {
        *e == UnistimEvent::AudioClosed
    })
    .await;
    let resume = una
        .wait_screen(|s| s.softkeys.iter().any(|k| k.trim() == "Resume"), WAIT)
        .await;
    assert!(resume.is_some(), "{:?}", una.screen());
    tokio::time::sleep(Duration::from_millis(300)).await;
    una.press(KeyCode::HOLD);
    wait(&mut una, "resume reopening the stream", audio_open).await;
    assert_two_way_rtp(&una, 800).await;
    una.on_hook();
    let bob = bob.await.expect("join");
    assert!(bob.ok(), "{}", bob.describe());
    if let Some(capture) = capture {
        let ids = capture.events().await;
        // '5' is event 5 and '#' is event 11 (RFC 4733 section 3.2).
        assert_eq!(runs_of(&ids), [5, 11], "{ids:?}");
    }
    assert_idle(&una).await;
    stop_clean(una, &gw).await;
    gw.stop().await;
}

/// The 1140e transfers sipp to the 7970: blind (Transf, 2003, Transf) sends REFER to 2003 without
/// Replaces; attended (Transf, 2003#, the 7970 answers, Transf) sends REFER with Replaces for the
/// consultation call. After each the 1140e is back on its idle screen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_1140e_transfers_sipp_to_a_7970_blind_and_attended() {
    if !have_sipp() {
        return;
    }
    let gw = Gateway::start(FLEET).await;
    let mut una = una(&gw).await;
    let mut cy = cy(&gw).await;

    // Blind.
    let bob = call_and_consult(&gw, &mut una, "bob-blind").await;
    una.dial("2003");
    // A person takes longer than the hold re-INVITE's 200 and ACK: a REFER sent at once may overtake the
    // ACK (legal, but sipp's script is linear).
    tokio::time::sleep(Duration::from_millis(500)).await;
    softkey(&una, "Transf").await;
    let (refer, bob) = refer_to(bob).await;
    assert!(
        refer.contains("2003@") && !bob.messages.contains("Replaces"),
        "{refer}\n{}",
        bob.messages
    );
    una.on_hook();
    assert_idle(&una).await;

    // Attended.
    let bob = call_and_consult(&gw, &mut una, "bob-attended").await;
    una.dial("2003#");
    expect(&mut cy, "ringing", is_state(CallState::RING_IN)).await;
    cy.answer();
    expect(&mut cy, "connected", is_state(CallState::CONNECTED)).await;
    wait(&mut una, "consultation audio", audio_open).await;
    softkey(&una, "Transf").await;
    let (refer, bob) = refer_to(bob).await;
    assert!(
        refer.contains("2003@") && refer.contains("Replaces"),
        "{refer}\n{}",
        bob.messages
    );
    una.on_hook();
    assert_idle(&una).await;
    cy.on_hook();
    cy.stop().await;
    stop_clean(una, &gw).await;
    gw.stop().await;
}

/// sipp calls the 1140e and REFERs it to 2003: the 1140e's line calls the 7970, which rings showing
/// 3001 and answers; sipp gets the NOTIFYs, and RTP flows between the two phones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refer_from_sipp_makes_the_1140e_call_the_7970() {
    if !have_sipp() {
        return;
    }
    let gw = Gateway::start(FLEET).await;
    let mut una = una(&gw).await;
    let mut cy = cy(&gw).await;
    let caller = bob_refers(&gw, "3001", "2003");
    assert!(
        una.wait_screen(|s| s.ringing, WAIT).await.is_some(),
        "3001 never rang: {:?}",
        una.events()
    );
    una.answer();
    wait(&mut una, "audio stream", audio_open).await;
    expect(&mut cy, "ringing", is_state(CallState::RING_IN)).await;
    let info = expect(&mut cy, "caller id", |e| {
        matches!(e, Event::CallInfo { .. })
    })
    .await;
    assert!(
        matches!(&info, Event::CallInfo { calling, .. } if calling == "3001"),
        "{info:?}"
    );
    cy.answer();
    expect(&mut cy, "connected", is_state(CallState::CONNECTED)).await;
    let run = caller.await.expect("join");
    assert!(run.ok(), "{}", run.describe());
    let notifies = run
        .messages
        .lines()
        .filter(|l| l.starts_with("NOTIFY sip:"))
        .count();
    // 100 Trying, 180 Ringing, 200 OK as sipfrags.
    assert!(notifies >= 3, "{}", run.messages);
    wait(&mut una, "the transferred call's audio", audio_open).await;
    assert_two_way_rtp(&una, 600).await;
    let c = cy.rtp_counts();
    assert!(c.sent > 0 && c.received > 0, "2003 RTP {c:?}");
    cy.on_hook();
    wait(&mut una, "far end hung up", |e| {
        *e == UnistimEvent::AudioClosed
    })
    .await;
    una.on_hook();
    assert_idle(&una).await;
    cy.stop().await;
    stop_clean(una, &gw).await;
    gw.stop().await;
}
