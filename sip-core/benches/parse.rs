//! Parser and serializer cost for a typical REGISTER and an INVITE with SDP.
//! Run: `cargo bench -p sip-core --bench parse`.

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sip_core::msg::SipMessage;
use std::hint::black_box;

const REGISTER: &str = "REGISTER sip:registrar.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds7;rport\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@example.com>\r\n\
From: Bob <sip:bob@example.com>;tag=456248\r\n\
Call-ID: 843817637684230@998sdasdh09\r\n\
CSeq: 1826 REGISTER\r\n\
Contact: <sip:bob@192.0.2.10:5060>;expires=3600\r\n\
User-Agent: Crossbar-bench/1.0\r\n\
Content-Length: 0\r\n\r\n";

#[path = "support/invite.rs"]
mod invite;
use invite::INVITE;

fn bench(c: &mut Criterion) {
    for (name, text) in [("register", REGISTER), ("invite_sdp", INVITE)] {
        let input = Bytes::from_static(text.as_bytes());
        let msg = SipMessage::parse(input.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(1));
        g.bench_function("parse", |b| {
            b.iter(|| SipMessage::parse(black_box(input.clone())))
        });
        g.bench_function("parse+typed", |b| {
            b.iter(|| {
                let m =
                    SipMessage::parse(black_box(input.clone())).unwrap_or_else(|e| panic!("{e}"));
                black_box((
                    m.top_via().ok(),
                    m.from().ok(),
                    m.to().ok(),
                    m.cseq().ok(),
                    m.call_id().map(str::len),
                ))
            })
        });
        g.bench_function("to_bytes", |b| b.iter(|| black_box(&msg).to_bytes()));
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
