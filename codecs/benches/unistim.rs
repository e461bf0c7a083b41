//! UNIStim figures for BENCHMARKS.md: datagram decode throughput over both shared captures (messages per
//! second), decode + re-encode, and the RUDP endpoint's cost per acknowledged message.
//!
//! Run with `cargo bench -p codecs --bench unistim`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use codecs::unistim::msg::key::{KeyCode, KeyEvent, KeyPhone};
use codecs::unistim::msg::network::{NetworkSwitch, ResetWatchdog};
use codecs::unistim::{Config, Datagram, Endpoint, Message, RudpHeader};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Every UDP datagram on port 5000 of both shared UNIStim captures.
fn corpus() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/captures/unistim");
    let mut out = Vec::new();
    for name in [
        "wiresharkwiki-via-realjimmy__unistim_phone_startup.pcap",
        "wiresharkwiki-via-realjimmy__unistim-call.pcap",
    ] {
        let cap = captures::read_file(dir.join(name)).expect("capture");
        out.extend(
            captures::payloads(&cap)
                .into_iter()
                .filter(|p| p.src.port() == 5000 || p.dst.port() == 5000)
                .map(|p| p.data),
        );
    }
    out
}

fn decode(c: &mut Criterion) {
    let corpus = corpus();
    let messages: usize = corpus
        .iter()
        .map(|d| Datagram::decode(d).expect("decodes").messages.len())
        .sum();
    let mut g = c.benchmark_group("unistim");
    g.throughput(Throughput::Elements(messages as u64));
    g.bench_function(
        format!("decode {} datagrams / {messages} messages", corpus.len()),
        |b| {
            b.iter(|| {
                for d in &corpus {
                    black_box(Datagram::decode(black_box(d)).expect("decodes"));
                }
            })
        },
    );
    g.bench_function("decode + encode", |b| {
        b.iter(|| {
            for d in &corpus {
                let dg = Datagram::decode(black_box(d)).expect("decodes");
                black_box(dg.encode());
            }
        })
    });
    g.finish();
}

#[allow(clippy::disallowed_methods)]
fn endpoint(c: &mut Criterion) {
    let start = Instant::now();
    let mut g = c.benchmark_group("unistim endpoint");
    g.throughput(Throughput::Elements(1));
    g.bench_function("send + transmit + phone ACK, per message", |b| {
        let mut ep = Endpoint::new(Config {
            keepalive: None,
            ..Config::default()
        });
        ep.handle_datagram(
            start,
            &Datagram::header_only(RudpHeader::phone_payload(u32::MAX, u32::MAX)).encode(),
        )
        .expect("hello");
        while ep.poll_transmit().is_some() {}
        while ep.poll_event().is_some() {}
        let ping = Message::from(NetworkSwitch::ResetWatchdog(ResetWatchdog::new(120)));
        let mut now = start;
        b.iter(|| {
            now += Duration::from_micros(1);
            let seq = ep.send(now, [ping.clone()]).expect("send");
            black_box(ep.poll_transmit());
            let ack = Datagram::header_only(RudpHeader::phone_ack(seq, 0xd3, false)).encode();
            ep.handle_datagram(now, &ack).expect("ack");
        })
    });
    g.bench_function("phone payload in + ACK out + delivery, per message", |b| {
        let mut ep = Endpoint::new(Config {
            keepalive: None,
            ..Config::default()
        });
        ep.handle_datagram(
            start,
            &Datagram::header_only(RudpHeader::phone_payload(u32::MAX, u32::MAX)).encode(),
        )
        .expect("hello");
        while ep.poll_transmit().is_some() {}
        while ep.poll_event().is_some() {}
        let key = Message::from(KeyPhone::KeyEvent(KeyEvent::pressed(KeyCode::DIAL_5)));
        let mut seq = 0u32;
        b.iter(|| {
            let mut d = Datagram::header_only(RudpHeader::phone_payload(seq, 0xd3));
            d.messages.push(key.clone());
            ep.handle_datagram(start, &d.encode()).expect("payload");
            black_box(ep.poll_transmit());
            black_box(ep.poll_event());
            seq = codecs::unistim::endpoint::next_seq(seq);
        })
    });
    g.finish();
}

criterion_group!(benches, decode, endpoint);
criterion_main!(benches);
