//! SCCP decode and re-encode throughput over every message of the shared captures (531 messages from
//! 13 files), on one core. Run: `cargo bench -p codecs --bench sccp`.

use std::hint::black_box;
use std::path::Path;

use bytes::BytesMut;
use codecs::sccp::stream::{Conversation, Event, Side};
use codecs::sccp::{Ctx, Message, RawFrame};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Every SCCP frame of the shared captures with the context it decodes under.
fn corpus() -> Vec<(RawFrame, Ctx)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/captures/sccp");
    let mut frames = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("shared/captures/sccp")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    for file in files {
        let capture = captures::read_file(&file).expect("capture");
        let mut conversations = std::collections::HashMap::new();
        for p in captures::payloads(&capture) {
            let (side, key) = match (p.src.port(), p.dst.port()) {
                (_, 2000) => (Side::Client, (p.src, p.dst)),
                (2000, _) => (Side::Server, (p.dst, p.src)),
                _ => continue,
            };
            let conv: &mut Conversation = conversations.entry(key).or_default();
            for event in conv.push(side, &p.data, p.gap > 0) {
                if let Event::Message(d) = event {
                    frames.push((d.raw, d.ctx));
                }
            }
        }
    }
    frames
}

fn bench(c: &mut Criterion) {
    let corpus = corpus();
    let mut group = c.benchmark_group("sccp");
    group.throughput(Throughput::Elements(corpus.len() as u64));
    group.bench_function("decode", |b| {
        b.iter(|| {
            for (raw, ctx) in &corpus {
                black_box(Message::from_frame(black_box(raw), *ctx).ok());
            }
        });
    });
    let mut out = BytesMut::with_capacity(64 * 1024);
    group.bench_function("decode+encode", |b| {
        b.iter(|| {
            out.clear();
            for (raw, ctx) in &corpus {
                if let Ok(m) = Message::from_frame(black_box(raw), *ctx) {
                    m.encode_frame(*ctx, &mut out);
                }
            }
            black_box(out.len());
        });
    });
    let mut stream = BytesMut::new();
    for (raw, _) in &corpus {
        raw.encode(&mut stream);
    }
    group.throughput(Throughput::Elements(corpus.len() as u64));
    group.bench_function("frame+decode from bytes", |b| {
        b.iter(|| {
            let mut buf = stream.clone();
            let mut n = 0usize;
            while let Ok(Some(raw)) = codecs::sccp::frame::decode(&mut buf) {
                n += usize::from(Message::from_frame(&raw, Ctx::new(20)).is_ok());
            }
            black_box(n)
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
