//! The relay with sipp as the SIP peer: its RTP echo, and its own RFC 4733 pcaps played into the SIP leg.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gateway::call::{Direction, Dtmf};
use gateway::media::MediaEvent;
use tokio::time::{Instant, sleep, timeout};

use super::media::{LOOPBACK, QUIET, description, free_range, relay, wired};

/// sipp as the SIP peer: its RTP echo sends our audio and our RFC 4733 events straight back to the
/// SIP leg; the audio reaches the phone, the echoed events come back as key presses.
#[tokio::test]
async fn sipp_echoes_rtp_through_the_relay() {
    let Some(sipp) = captures::peer::require_tool("sipp") else {
        return;
    };
    let relay = relay();
    let (mut call, mut phone, _unused) = wired(&relay).await;
    let media_port = free_range(4);
    let sip_port = free_range(1);
    let mut child = SippGuard(
        Command::new(sipp)
            .args([
                "-sn",
                "uas",
                "-i",
                "127.0.0.1",
                "-p",
                &sip_port.start().to_string(),
                "-mi",
                "127.0.0.1",
                "-mp",
                &media_port.start().to_string(),
                "-rtp_echo",
                "-nostdin",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sipp"),
    );
    let echo = SocketAddr::new(LOOPBACK, *media_port.start());
    call.set_sip_remote(&description(echo, Direction::SendRecv));
    // sipp needs a moment to open its echo socket; retry the first packet until it comes back.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        phone.send_audio(call.phone_local(), 0).await;
        if phone.recv(Duration::from_millis(100)).await.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "sipp never echoed");
    }
    // A retried first packet may still be echoing. The relay runs on its own threads and counts a
    // packet just after sending it, so let it go quiet before reading the counters.
    phone.drain(Duration::from_millis(200)).await;
    let warmup = call.stats();
    for i in 0..100u8 {
        phone.send_audio(call.phone_local(), i).await;
        sleep(Duration::from_millis(2)).await;
    }
    let back = phone.drain(Duration::from_millis(300)).await;
    assert_eq!(back.len(), 100, "every packet echoed back to the phone");
    let s = call.stats();
    assert_eq!(s.phone_to_sip.packets - warmup.phone_to_sip.packets, 100);
    assert_eq!(s.sip_to_phone.packets - warmup.sip_to_phone.packets, 100);
    assert_eq!(s.sip_remote, Some(echo));
    // Our events, echoed, are received as a key press (and not passed to the phone).
    call.send_dtmf(Dtmf {
        digit: '9',
        duration_ms: 120,
    })
    .expect("dtmf");
    let ev = timeout(Duration::from_secs(2), call.next_event())
        .await
        .expect("echoed key");
    assert_eq!(
        ev,
        Some(MediaEvent::Dtmf(Dtmf {
            digit: '9',
            duration_ms: 120
        }))
    );
    assert!(phone.drain(QUIET).await.is_empty());
    child.stop();
}

/// Kills sipp when the test ends, even on failure.
struct SippGuard(Child);

impl SippGuard {
    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for SippGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

const SIPP_UAS: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="answers with the relay's SIP leg in SDP">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=relay 1 1 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio RELAY_PORT RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000

]]></send>
  <recv request="ACK"/>
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
"#;

const SIPP_UAC: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="calls and plays RFC 4733 keys from sipp's own pcaps">
  <send retrans="500"><![CDATA[
INVITE sip:relay@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:relay@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:sipp@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=sipp 1 1 IN IP4 [media_ip]
s=-
c=IN IP4 [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000

]]></send>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
ACK sip:relay@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:relay@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
  <nop><action><exec play_pcap_audio="PCAP_ONE"/></action></nop>
  <pause milliseconds="600"/>
  <nop><action><exec play_pcap_audio="PCAP_POUND"/></action></nop>
  <pause milliseconds="600"/>
  <send retrans="500"><![CDATA[
BYE sip:relay@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:relay@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200" crlf="true"/>
</scenario>
"#;

/// sipp's own RFC 4733 encoder as the SIP peer: a sipp uac calls a sipp uas whose answer points at the
/// relay's SIP leg, then plays sipp's `dtmf_2833_1.pcap` and `dtmf_2833_pound.pcap` into it. The relay
/// reports each key once, with the duration sipp's packets carry (2240 units = 280 ms).
#[tokio::test]
async fn sipp_plays_rfc4733_keys_into_the_sip_leg() {
    let Some(sipp) = captures::peer::require_tool("sipp") else {
        return;
    };
    let pcaps = std::path::Path::new("/usr/share/sip-tester");
    let (one, pound) = (
        pcaps.join("dtmf_2833_1.pcap"),
        pcaps.join("dtmf_2833_pound.pcap"),
    );
    if !one.exists() || !pound.exists() {
        assert!(
            std::env::var("CI").is_err(),
            "sipp's pcaps are required in CI"
        );
        eprintln!(
            "skipping: sipp's RFC 4733 pcaps not found in {}",
            pcaps.display()
        );
        return;
    }
    let relay = relay();
    let (mut call, phone, _unused) = wired(&relay).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let uas = dir.path().join("uas.xml");
    let uac = dir.path().join("uac.xml");
    std::fs::write(
        &uas,
        SIPP_UAS.replace("RELAY_PORT", &call.sip_local().port().to_string()),
    )
    .expect("write uas");
    std::fs::write(
        &uac,
        SIPP_UAC
            .replace("PCAP_ONE", &one.to_string_lossy())
            .replace("PCAP_POUND", &pound.to_string_lossy()),
    )
    .expect("write uac");
    let (uas_port, uac_port, uac_media) = (
        *free_range(1).start(),
        *free_range(1).start(),
        *free_range(4).start(),
    );
    // The uac's SDP offer: the relay's SIP leg sends there (and accepts its packets from that IP).
    call.set_sip_remote(&description(
        SocketAddr::new(LOOPBACK, uac_media),
        Direction::SendRecv,
    ));
    let sipp_cmd = |scenario: &std::path::Path, port: u16, extra: &[String]| {
        let mut c = Command::new(&sipp);
        c.arg("-sf")
            .arg(scenario)
            .args([
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-m",
                "1",
                "-nostdin",
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    let mut uas_child = SippGuard(
        sipp_cmd(&uas, uas_port, &[])
            .spawn()
            .expect("spawn sipp uas"),
    );
    sleep(Duration::from_millis(300)).await;
    let mut uac_child = SippGuard(
        sipp_cmd(
            &uac,
            uac_port,
            &[
                format!("127.0.0.1:{uas_port}"),
                "-mi".into(),
                "127.0.0.1".into(),
                "-mp".into(),
                uac_media.to_string(),
            ],
        )
        .spawn()
        .expect("spawn sipp uac"),
    );
    let mut got = Vec::new();
    for _ in 0..2 {
        match timeout(Duration::from_secs(10), call.next_event()).await {
            Ok(Some(ev)) => got.push(ev),
            _ => break,
        }
    }
    let uac_status = tokio::task::spawn_blocking(move || {
        let status = uac_child.0.wait();
        (uac_child, status)
    })
    .await
    .expect("join");
    let d = |digit| {
        MediaEvent::Dtmf(Dtmf {
            digit,
            duration_ms: 280,
        })
    };
    assert_eq!(got, [d('1'), d('#')], "stats: {:?}", call.stats());
    assert!(uac_status.1.is_ok_and(|s| s.success()), "sipp uac failed");
    assert!(
        phone.recv(QUIET).await.is_none(),
        "events are not sent to the phone"
    );
    assert_eq!(call.stats().dtmf_received, 2);
    uas_child.stop();
}
