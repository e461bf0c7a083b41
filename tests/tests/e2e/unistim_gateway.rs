//! Simulated UNIStim phones against the in-process gateway's `[unistim] listen`: the "done when"
//! (an avaya-1140e on extension 3001 shows its idle screen, calls SIP user 2002 — a sipp UAS echoing
//! RTP — and SCCP extension 2001 — a phonesim SCCP phone — and is called back, with RTP both ways), calls
//! under 10% loss and reordering, hold and resume, and tshark on everything the gateway sent the phones.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tests::phonesim::fleet;
use tests::phonesim::unistim::{Screen, ToneKind, UnistimEvent};
use tests::phonesim::{Phone, PhoneConfig, RtpCounts};

use crate::harness::{
    Gateway, free_port, have_sipp, tshark_gateway, unistim_config, unistim_idle, unistim_phone,
};

const WAIT: Duration = Duration::from_secs(15);

const FLEET: &str = "extension,domain,password,first_name,mac,model,line\n\
    3001,acme.example.com,pw3001,Una,00:13:65:00:30:01,avaya-1140e,1\n\
    3002,acme.example.com,pw3002,Ivo,00:13:65:00:30:02,nortel-i2004,1\n\
    2001,acme.example.com,pw2001,Ann,00:04:f2:00:20:01,cisco-7960,1\n\
    2002,acme.example.com,bob-secret,Bob,,,\n";

/// Kills sipp when the test ends.
struct SippGuard(Child);

impl Drop for SippGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_rtp(get: impl Fn() -> RtpCounts, n: u64) -> RtpCounts {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let c = get();
        if (c.sent >= n && c.received >= n) || tokio::time::Instant::now() >= deadline {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// 3001's idle screen, fully painted.
fn idle_3001(s: &Screen) -> bool {
    unistim_idle("3001")(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_1140e_on_3001_calls_sip_2002_and_sccp_2001_and_is_called_back() {
    let gw = Gateway::start(FLEET).await;
    let mut una = unistim_phone(FLEET, "3001", unistim_config(&gw, |_| {}));
    // The idle screen: line label 3001, softkeys, nothing ringing.
    let idle = una.wait_screen(idle_3001, WAIT).await;
    assert!(
        idle.is_some(),
        "no idle screen: {:?} {:?}",
        una.screen(),
        una.events()
    );
    assert!(una.is_registered());
    let idle = idle.unwrap();
    println!("idle screen of 3001:\n{}", idle.text());
    assert!(
        idle.softkeys.iter().any(|k| !k.trim().is_empty()),
        "softkeys: {idle:?}"
    );

    // SCCP 2001, answering by itself.
    let sccp_spec = fleet::from_csv(FLEET.as_bytes()).unwrap().remove(0);
    let mut sccp_config = PhoneConfig::new(gw.sccp);
    sccp_config.auto_answer = Some(Duration::from_millis(100));
    let mut ann = Phone::spawn(sccp_spec, Arc::new(sccp_config), None);
    assert!(ann.wait_registered(WAIT).await, "{:?}", ann.events());

    // 1. 3001 calls SCCP 2001: dial tone, digits, 2001 rings and answers, RTP both ways.
    una.off_hook();
    let tone = una
        .wait_for(|e| matches!(e, UnistimEvent::Tone { .. }), WAIT)
        .await;
    assert!(
        matches!(
            tone,
            Some(UnistimEvent::Tone {
                kind: ToneKind::Dial,
                ..
            })
        ),
        "{tone:?}"
    );
    una.dial("2001#");
    let opened = una
        .wait_for(
            |e| {
                matches!(
                    e,
                    UnistimEvent::AudioOpened {
                        remote: Some(_),
                        ..
                    }
                )
            },
            WAIT,
        )
        .await;
    assert!(opened.is_some(), "no audio stream: {:?}", una.events());
    let u = wait_rtp(|| una.rtp_counts(), 20).await;
    let a = wait_rtp(|| ann.rtp_counts(), 20).await;
    assert!(u.sent >= 20 && u.received >= 20, "3001 RTP {u:?}");
    assert!(a.sent >= 20 && a.received >= 20, "2001 RTP {a:?}");
    una.on_hook();
    assert!(
        una.wait_for(|e| *e == UnistimEvent::AudioClosed, WAIT)
            .await
            .is_some()
    );
    assert!(
        una.wait_screen(idle_3001, WAIT).await.is_some(),
        "{:?}",
        una.screen()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    // 2. 2001 calls back: 3001 rings showing the caller, answers, RTP both ways.
    let before = una.rtp_counts();
    ann.off_hook();
    tokio::time::sleep(Duration::from_millis(300)).await;
    ann.dial("3001#");
    let ringing = una.wait_screen(|s| s.ringing, WAIT).await;
    assert!(ringing.is_some(), "3001 never rang: {:?}", una.events());
    let ringing = ringing.unwrap();
    println!("ringing screen of 3001:\n{}", ringing.text());
    assert!(
        ringing.contains("2001") || ringing.contains("Ann"),
        "caller shown: {ringing:?}"
    );
    una.answer();
    assert!(
        una.wait_for(
            |e| matches!(
                e,
                UnistimEvent::AudioOpened {
                    remote: Some(_),
                    ..
                }
            ),
            WAIT
        )
        .await
        .is_some()
    );
    let u = wait_rtp(
        || {
            let c = una.rtp_counts();
            RtpCounts {
                sent: c.sent - before.sent,
                received: c.received - before.received,
            }
        },
        20,
    )
    .await;
    assert!(
        u.sent >= 20 && u.received >= 20,
        "3001 RTP on the call back {u:?}"
    );
    ann.on_hook();
    assert!(
        una.wait_for(|e| *e == UnistimEvent::AudioClosed, WAIT)
            .await
            .is_some(),
        "{:?}",
        una.events()
    );
    una.on_hook();
    assert!(una.wait_screen(idle_3001, WAIT).await.is_some());

    // 3. 3001 calls SIP user 2002 (a sipp UAS that echoes RTP).
    if have_sipp() {
        let bob_port = free_port();
        crate::sip::register_contact(&gw, "2002", "acme.example.com", "bob-secret", bob_port).await;
        let media = free_port();
        let _sipp = SippGuard(
            Command::new("sipp")
                .args([
                    "-sn",
                    "uas",
                    "-i",
                    "127.0.0.1",
                    "-p",
                    &bob_port.to_string(),
                    "-mi",
                    "127.0.0.1",
                    "-mp",
                    &media.to_string(),
                    "-rtp_echo",
                    "-nostdin",
                    "-m",
                    "1",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("sipp"),
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = una.rtp_counts();
        una.off_hook();
        assert!(
            una.wait_for(
                |e| matches!(
                    e,
                    UnistimEvent::Tone {
                        kind: ToneKind::Dial,
                        ..
                    }
                ),
                WAIT
            )
            .await
            .is_some()
        );
        una.dial("2002#");
        assert!(
            una.wait_for(
                |e| matches!(
                    e,
                    UnistimEvent::AudioOpened {
                        remote: Some(_),
                        ..
                    }
                ),
                WAIT
            )
            .await
            .is_some(),
            "2002 never answered: {:?}",
            una.events()
        );
        let u = wait_rtp(
            || {
                let c = una.rtp_counts();
                RtpCounts {
                    sent: c.sent - before.sent,
                    received: c.received - before.received,
                }
            },
            20,
        )
        .await;
        assert!(
            u.sent >= 20 && u.received >= 20,
            "RTP with sipp (echoed) {u:?}"
        );
        println!("3001 <-> sipp 2002: {u:?}");
        una.on_hook();
        assert!(una.wait_screen(idle_3001, WAIT).await.is_some());
    }

    let dir = tempfile::tempdir().unwrap();
    if let Some((from_gateway, malformed)) = tshark_gateway(&una, &gw, dir.path()) {
        assert!(from_gateway > 20, "{from_gateway}");
        assert_eq!(malformed, 0, "tshark: malformed UNIStim from the gateway");
    }
    assert_eq!(
        una.events()
            .iter()
            .filter(|e| matches!(e, UnistimEvent::Malformed { .. }))
            .count(),
        0
    );
    una.stop().await;
    ann.stop().await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unistim_calls_complete_through_the_gateway_under_ten_percent_loss() {
    let gw = Gateway::start(FLEET).await;
    let config = unistim_config(&gw, |c| {
        c.loss = 0.10;
        c.reorder = 0.10;
        c.auto_answer = Some(Duration::from_millis(100));
        c.setup_timeout = Duration::from_secs(20);
        c.record_wire = false;
    });
    let stats = config.stats.clone();
    let una = unistim_phone(FLEET, "3001", config.clone());
    let ivo = unistim_phone(FLEET, "3002", config);
    assert!(
        una.wait_screen(idle_3001, Duration::from_secs(30))
            .await
            .is_some(),
        "{:?}",
        una.screen()
    );
    assert!(
        ivo.wait_screen(
            |s| s.contains("3002") && !s.ringing,
            Duration::from_secs(30)
        )
        .await
        .is_some()
    );
    let calls = 4;
    for i in 0..calls {
        una.place_call("3002", Duration::from_millis(500));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
        while stats.snapshot().calls_connected < i + 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            stats.snapshot().calls_connected > i,
            "call {i}: {:?}",
            stats.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(3000)).await;
    }
    let s = stats.snapshot();
    assert_eq!(s.calls_connected, calls, "{s:?}");
    assert!(s.rtp_received > 0, "{s:?}");
    assert!(s.injected_losses > 0 && s.retransmits > 0, "{s:?}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hold_key_stops_the_audio_stream_and_pressing_it_again_resumes_it() {
    let gw = Gateway::start(FLEET).await;
    let mut una = unistim_phone(FLEET, "3001", unistim_config(&gw, |_| {}));
    assert!(
        una.wait_screen(idle_3001, WAIT).await.is_some(),
        "{:?}",
        una.screen()
    );
    let sccp_spec = fleet::from_csv(FLEET.as_bytes()).unwrap().remove(0);
    let mut sccp_config = PhoneConfig::new(gw.sccp);
    sccp_config.auto_answer = Some(Duration::from_millis(100));
    let mut ann = Phone::spawn(sccp_spec, Arc::new(sccp_config), None);
    assert!(ann.wait_registered(WAIT).await);

    una.off_hook();
    assert!(
        una.wait_for(
            |e| matches!(
                e,
                UnistimEvent::Tone {
                    kind: ToneKind::Dial,
                    ..
                }
            ),
            WAIT
        )
        .await
        .is_some()
    );
    una.dial("2001#");
    assert!(
        una.wait_for(
            |e| matches!(
                e,
                UnistimEvent::AudioOpened {
                    remote: Some(_),
                    ..
                }
            ),
            WAIT
        )
        .await
        .is_some(),
        "{:?}",
        una.events()
    );
    let talking = wait_rtp(|| una.rtp_counts(), 10).await;
    assert!(talking.received >= 10, "{talking:?}");

    una.press(codecs::unistim::msg::key::KeyCode::HOLD);
    assert!(
        una.wait_for(|e| *e == UnistimEvent::AudioClosed, WAIT)
            .await
            .is_some(),
        "hold closes the stream: {:?}",
        una.events()
    );
    // The softkeys are repainted after the stream closes: wait for them rather than look at once.
    let resume_shown = una
        .wait_screen(|s| s.softkeys.iter().any(|k| k.trim() == "Resume"), WAIT)
        .await
        .is_some();
    let held = una.screen();
    assert!(resume_shown, "{held:?}");
    println!(
        "held screen of 3001:\n{}\nicons {:?}",
        held.text(),
        held.icons
    );
    assert!(
        held.softkeys.iter().any(|k| k.trim() == "Resume"),
        "{held:?}"
    );
    let before = una.rtp_counts();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        una.rtp_counts().sent,
        before.sent,
        "no RTP from a held phone"
    );

    una.press(codecs::unistim::msg::key::KeyCode::HOLD);
    assert!(
        una.wait_for(
            |e| matches!(
                e,
                UnistimEvent::AudioOpened {
                    remote: Some(_),
                    ..
                }
            ),
            WAIT
        )
        .await
        .is_some(),
        "resume reopens the stream: {:?}",
        una.events()
    );
    let resumed = wait_rtp(
        || {
            let c = una.rtp_counts();
            RtpCounts {
                sent: c.sent - before.sent,
                received: c.received - before.received,
            }
        },
        10,
    )
    .await;
    assert!(
        resumed.sent >= 10 && resumed.received >= 10,
        "RTP after resume {resumed:?}"
    );
    una.on_hook();
    assert!(una.wait_screen(idle_3001, WAIT).await.is_some());
    una.stop().await;
    ann.stop().await;
    gw.stop().await;
}
