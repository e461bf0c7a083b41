//! phonesim phones against the in-process gateway's SCCP listener: phones of the imported fleet
//! register (each at its model's protocol version), keep alive and unregister; an unknown phone is
//! refused; a phone that loses its connection comes back.

use std::sync::Arc;
use std::time::Duration;

use codecs::sccp::{CallState, MessageId, Tone};
use tests::phonesim::fleet::{self, ModelInfo};
use tests::phonesim::{Event, Phone, PhoneConfig};

use crate::harness::Gateway;

const WAIT: Duration = Duration::from_secs(10);

const FLEET: &str = "extension,first_name,last_name,password,mac,model,line\n\
                     2001,Ann,Lee,pw2001,00:04:f2:00:00:01,cisco-7960,1\n\
                     2002,Bob,Ray,pw2002,,,\n\
                     2003,Cy,Orr,pw2003,0004f2000002,cisco-7970,1\n\
                     2004,Di,Orr,pw2004,0004f2000002,cisco-7970,2\n\
                     2005,Eve,Ng,pw2005,0004f2000003,cisco-7962,1\n";

#[tokio::test]
async fn phonesim_phones_register_keep_alive_and_unregister_with_the_gateway() {
    let gw = Gateway::start_full(FLEET, "", "keepalive_secs = 5").await;
    let mut config = PhoneConfig::new(gw.sccp);
    config.reconnect_jitter = Duration::from_millis(100);
    config.record_wire = true;
    let config = Arc::new(config);
    let mut specs = fleet::from_csv(FLEET.as_bytes()).unwrap();
    assert_eq!(specs[1].lines, ["2003", "2004"]);
    let caller = specs.pop().unwrap();
    let mut phones: Vec<Phone> = specs
        .into_iter()
        .map(|s| Phone::spawn(s, config.clone(), None))
        .collect();
    for phone in &mut phones {
        let registered = phone.wait_registered(WAIT).await;
        assert!(registered, "{}: {:?}", phone.device_name(), phone.events());
        let ack = phone
            .wait_for(|e| matches!(e, Event::RegisterAck { .. }), WAIT)
            .await;
        let want = phone.spec().version;
        assert!(
            matches!(ack, Some(Event::RegisterAck { version, keepalive_secs: 5 }) if version == want),
            "{}: {ack:?}",
            phone.device_name()
        );
    }
    let stats = config.stats.snapshot();
    assert_eq!(stats.registered, 2, "{stats:?}");
    assert_eq!(
        stats.malformed, 0,
        "the gateway sends nothing phonesim cannot decode"
    );
    // The 7970 asked about both its lines and got answers, nothing timed out.
    assert_eq!(stats.unanswered, 0, "{stats:?}");
    assert!(
        phones[1]
            .wait_for(|e| *e == Event::KeepAliveAck, Duration::from_secs(8))
            .await
            .is_some(),
        "keepalive answered"
    );

    // Off hook on a phone of its own: the off-hook state and dial tone; digits and '#' end dialing and
    // the gateway proceeds with the dialled number (2002 is a SIP user with no registration).
    let mut caller_config = PhoneConfig::new(gw.sccp);
    caller_config.record_wire = true;
    let mut caller = Phone::spawn(caller, Arc::new(caller_config), None);
    assert!(caller.wait_registered(WAIT).await, "{:?}", caller.events());
    caller.off_hook();
    let off_hook = caller.wait_for(is_state(CallState::OFF_HOOK), WAIT).await;
    assert!(off_hook.is_some(), "{:?}", caller.events());
    let tone = caller
        .wait_for(|e| matches!(e, Event::Tone { .. }), WAIT)
        .await;
    assert_eq!(
        tone,
        Some(Event::Tone {
            tone: Tone::INSIDE_DIAL_TONE
        })
    );
    caller.dial("2002#");
    assert!(
        caller
            .wait_for(is_state(CallState::PROCEED), WAIT)
            .await
            .is_some()
    );
    let info = caller
        .wait_for(|e| matches!(e, Event::CallInfo { .. }), WAIT)
        .await;
    assert!(
        matches!(&info, Some(Event::CallInfo { called, .. }) if called == "2002"),
        "{info:?}"
    );
    caller.on_hook();
    assert!(
        caller
            .wait_for(is_state(CallState::ON_HOOK), WAIT)
            .await
            .is_some()
    );
    caller.stop().await;
    let mut conversations = caller.recorded();

    // An unknown phone is refused.
    let model = ModelInfo::find("cisco-7970").unwrap();
    let stranger = fleet::generate(1, [0, 4, 0xf2, 0, 0, 0xff], model, 9999).remove(0);
    let mut stranger = Phone::spawn(stranger, config.clone(), None);
    let rejected = stranger
        .wait_for(|e| matches!(e, Event::Rejected { .. }), WAIT)
        .await;
    assert!(rejected.is_some(), "{:?}", stranger.events());
    assert!(!stranger.is_registered());
    conversations.extend(stranger.recorded());
    drop(stranger);

    // A phone whose connection dies registers again.
    phones[0].drop_connection(Duration::from_millis(50));
    assert!(
        phones[0]
            .wait_for(|e| *e == Event::Disconnected, WAIT)
            .await
            .is_some()
    );
    assert!(
        phones[0]
            .wait_for(|e| *e == Event::Registered, WAIT)
            .await
            .is_some(),
        "{:?}",
        phones[0].events()
    );
    for phone in &mut phones {
        phone.stop().await;
        conversations.extend(phone.recorded());
    }
    assert_eq!(config.stats.snapshot().registered, 0);
    gw.stop().await;

    // Everything the gateway sent these phones, decoded by tshark: nothing malformed, and the
    // registration answers are there.
    if captures::peer::require_tool("tshark").is_none() {
        return;
    }
    let (_dir, pcap) = tshark_clean(&conversations, "gateway-sccp.pcap");
    let ids: Vec<MessageId> = captures::peer::tshark_fields(
        &pcap,
        &[],
        "skinny && tcp.srcport == 2000",
        &["skinny.messageId"],
    )
    .unwrap()
    .into_iter()
    .flatten()
    .flat_map(|f| {
        f.split(',')
            .filter_map(|n| n.parse().ok())
            .collect::<Vec<u32>>()
    })
    .map(MessageId)
    .collect();
    for id in [
        MessageId::REGISTER_ACK,
        MessageId::REGISTER_REJECT,
        MessageId::CAPABILITIES_REQ,
        MessageId::BUTTON_TEMPLATE_RES,
        MessageId::SOFT_KEY_TEMPLATE_RES,
        MessageId::SOFT_KEY_SET_RES,
        MessageId::TIME_DATE_RES,
        MessageId::KEEP_ALIVE_ACK,
        MessageId::UNREGISTER_ACK,
    ] {
        assert!(ids.contains(&id), "{id:?} in {ids:?}");
    }
    assert!(
        ids.contains(&MessageId::LINE_STAT_RES) || ids.contains(&MessageId::LINE_STAT_V2_RES),
        "{ids:?}"
    );
}

/// Writes the conversations as a pcap and fails on anything tshark calls malformed or an error.
fn tshark_clean(
    conversations: &[tests::phonesim::wire::Recorded],
    name: &str,
) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join(name);
    tests::phonesim::wire::write_pcap(&pcap, gw_ip(), conversations).unwrap();
    if captures::peer::require_tool("tshark").is_none() {
        return (dir, pcap);
    }
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
    (dir, pcap)
}

fn is_state(want: CallState) -> impl FnMut(&Event) -> bool {
    move |e| matches!(e, Event::CallState { state, .. } if *state == want)
}

fn gw_ip() -> std::net::IpAddr {
    std::net::IpAddr::from([127, 0, 0, 1])
}

/// Two phonesim phones call each other through the gateway (line user agents, proxy, relay): ringing
/// with the caller's number, answer, RTP counted both ways, hang-up returning the other phone to idle.
#[tokio::test]
async fn two_phonesim_phones_call_each_other_through_the_gateway_with_rtp_both_ways() {
    let gw = Gateway::start(FLEET).await;
    let mut config = PhoneConfig::new(gw.sccp);
    config.record_wire = true;
    let config = Arc::new(config);
    let mut specs = fleet::from_csv(FLEET.as_bytes()).unwrap();
    let caller_spec = specs.remove(1); // the 7970, lines 2003 and 2004
    let callee_spec = specs.remove(0); // the 7960 on 2001
    let mut caller = Phone::spawn(caller_spec, config.clone(), None);
    let mut callee = Phone::spawn(callee_spec, config.clone(), None);
    assert!(caller.wait_registered(WAIT).await, "{:?}", caller.events());
    assert!(callee.wait_registered(WAIT).await, "{:?}", callee.events());

    caller.off_hook();
    assert!(
        caller
            .wait_for(is_state(CallState::OFF_HOOK), WAIT)
            .await
            .is_some()
    );
    caller.dial("2001#");
    let ring = callee.wait_for(is_state(CallState::RING_IN), WAIT).await;
    assert!(
        ring.is_some(),
        "callee: {:?}\ncaller: {:?}",
        callee.events(),
        caller.events()
    );
    let info = callee
        .wait_for(|e| matches!(e, Event::CallInfo { .. }), WAIT)
        .await;
    assert!(
        matches!(&info, Some(Event::CallInfo { calling, .. }) if calling == "2003"),
        "{info:?}"
    );
    assert!(
        caller
            .wait_for(is_state(CallState::RING_OUT), WAIT)
            .await
            .is_some()
    );
    callee.answer();
    assert!(
        callee
            .wait_for(is_state(CallState::CONNECTED), WAIT)
            .await
            .is_some()
    );
    assert!(
        caller
            .wait_for(is_state(CallState::CONNECTED), WAIT)
            .await
            .is_some()
    );
    for phone in [&mut caller, &mut callee] {
        let started = phone
            .wait_for(|e| matches!(e, Event::MediaStarted { .. }), WAIT)
            .await;
        assert!(started.is_some(), "{:?}", phone.events());
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (a, b) = (caller.rtp_counts(), callee.rtp_counts());
    // 30 packets each in 600 ms on an idle machine.
    assert!(a.sent >= 10 && b.sent >= 10, "{a:?} {b:?}");
    assert!(
        a.received >= 5 && b.received >= 5,
        "relayed both ways: {a:?} {b:?}"
    );

    caller.on_hook();
    assert!(
        callee
            .wait_for(is_state(CallState::ON_HOOK), WAIT)
            .await
            .is_some()
    );
    assert!(
        caller
            .wait_for(is_state(CallState::ON_HOOK), WAIT)
            .await
            .is_some()
    );
    let stats = config.stats.snapshot();
    assert_eq!(stats.malformed, 0);
    caller.stop().await;
    callee.stop().await;
    gw.stop().await;
    let mut conversations = caller.recorded();
    conversations.extend(callee.recorded());
    tshark_clean(&conversations, "gateway-sccp-call.pcap");
}

/// Whether the gateway sent `phone` an SCCP Reset (decoded from the recorded connection).
fn got_reset(phone: &Phone) -> bool {
    phone.recorded().iter().any(|conversation| {
        let mut decoder = codecs::sccp::stream::Conversation::new();
        conversation
            .chunks
            .iter()
            .filter(|(side, _)| *side == captures::write::Side::Server)
            .flat_map(|(_, bytes)| decoder.push(codecs::sccp::stream::Side::Server, bytes, false))
            .any(|event| {
                matches!(event, codecs::sccp::stream::Event::Message(d)
                    if matches!(d.message, Ok(codecs::sccp::Message::Reset(_))))
            })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_reset_changed_resets_the_registered_phone_whose_files_changed() {
    const BEFORE: &str = "extension,first_name,last_name,password,mac,model\n\
                          2001,Ann,Lee,pw2001,00:04:f2:00:00:11,cisco-7962\n\
                          2002,Bob,Ray,pw2002,00:04:f2:00:00:12,cisco-7962\n";
    let gw = Gateway::start(BEFORE).await;
    let mut config = PhoneConfig::new(gw.sccp);
    config.reconnect_jitter = Duration::from_millis(100);
    config.record_wire = true;
    let config = Arc::new(config);
    let mut phones: Vec<Phone> = fleet::from_csv(BEFORE.as_bytes())
        .unwrap()
        .into_iter()
        .map(|s| Phone::spawn(s, config.clone(), None))
        .collect();
    for phone in &mut phones {
        assert!(phone.wait_registered(WAIT).await, "{:?}", phone.events());
    }

    // The operator swaps Ann's phone model (her SEP file changes) and renames Bob (his does not:
    // SCCP names come over SCCP), with `crossbar import --reset-changed`, while the gateway runs.
    let after = BEFORE
        .replace(
            "00:04:f2:00:00:11,cisco-7962",
            "00:04:f2:00:00:11,cisco-7965",
        )
        .replace("Bob,Ray", "Robert,Ray");
    let csv = gw.write("after.csv", &after);
    let import = gateway::cli::ImportArgs {
        file: csv,
        dry_run: false,
        reset_changed: true,
        config: gateway::cli::ConfigArg {
            config: Some(gw.config_file()),
        },
    };
    gateway::cli::run(gateway::cli::Command::Import(import))
        .await
        .expect("crossbar import --reset-changed");

    // The driver polls the requests every 5 s: Ann's phone is reset, drops its connection and
    // registers again; Bob's stays connected.
    let reset_wait = gateway::driver::sccp::RESET_POLL + WAIT;
    assert!(
        phones[0]
            .wait_for(|e| *e == Event::Disconnected, reset_wait)
            .await
            .is_some(),
        "{:?}",
        phones[0].events()
    );
    assert!(got_reset(&phones[0]), "the gateway sent Reset");
    assert!(
        phones[0]
            .wait_for(|e| *e == Event::Registered, WAIT)
            .await
            .is_some(),
        "the reset phone registers again: {:?}",
        phones[0].events()
    );
    assert!(!got_reset(&phones[1]), "an unchanged device is not reset");
    assert!(phones[1].is_registered());
    assert!(!phones[1].events().contains(&Event::Disconnected));
    for phone in &mut phones {
        phone.stop().await;
    }
    gw.stop().await;
}
