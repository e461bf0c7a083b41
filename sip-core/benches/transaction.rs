//! Cost of whole transactions through the layer (RFC 3261 §17): one iteration creates a transaction,
//! answers it, drains every transmission and event, and runs the clock until it terminates.
//! Run: `cargo bench -p sip-core --bench transaction`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sip_core::msg::SipMessage;
use sip_core::transaction::{Incoming, Reliability, Transactions, TxEvent};

const OPTIONS: &str = "OPTIONS sip:carol@chicago.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bKhjhs8ass877\r\n\
Max-Forwards: 70\r\n\
To: <sip:carol@chicago.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 63104 OPTIONS\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
Accept: application/sdp\r\n\
Content-Length: 0\r\n\r\n";

const OPTIONS_OK: &str = "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bKhjhs8ass877;received=192.0.2.4\r\n\
To: <sip:carol@chicago.example.com>;tag=93810874\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 63104 OPTIONS\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE\r\n\
Content-Length: 0\r\n\r\n";

const INVITE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP proxy.atlanta.example.com:5060;branch=z9hG4bK2d4790.1\r\n\
Max-Forwards: 69\r\n\
Route: <sip:ss2.biloxi.example.com;lr>\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
Call-ID: 3848276298220188511@atlanta.example.com\r\n\
CSeq: 2 INVITE\r\n\
Contact: <sip:alice@client.atlanta.example.com;transport=udp>\r\n\
Content-Length: 0\r\n\r\n";

fn response_to_invite(code: &str) -> String {
    format!(
        "SIP/2.0 {code}\r\n\
Via: SIP/2.0/UDP proxy.atlanta.example.com:5060;branch=z9hG4bK2d4790.1\r\n\
To: Bob <sip:bob@biloxi.example.com>;tag=314159\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
Call-ID: 3848276298220188511@atlanta.example.com\r\n\
CSeq: 2 INVITE\r\n\
Contact: <sip:bob@client.biloxi.example.com>\r\n\
Content-Length: 0\r\n\r\n"
    )
}

fn parse(text: &str) -> SipMessage {
    SipMessage::parse(Bytes::from(text.to_owned())).expect("bench message parses")
}

/// Drains the layer as a driver must, returning how many items came out.
fn drain(layer: &mut Transactions<u32>) -> usize {
    let mut n = 0;
    while let Some(t) = layer.poll_transmit() {
        black_box(t);
        n += 1;
    }
    while let Some(e) = layer.poll_event() {
        black_box(e);
        n += 1;
    }
    n
}

#[allow(clippy::disallowed_methods)] // the bench needs one real origin for its fake clock
fn origin() -> Instant {
    Instant::now()
}

fn transactions(c: &mut Criterion) {
    let t0 = origin();
    let later = t0 + Duration::from_secs(33);
    let mut group = c.benchmark_group("transaction");
    group.throughput(Throughput::Elements(1));

    let request = parse(OPTIONS);
    let ok = parse(OPTIONS_OK);
    group.bench_function("non_invite_server_udp", |b| {
        let mut layer = Transactions::<u32>::new(Default::default());
        b.iter(|| {
            let key = match layer.handle_incoming(t0, request.clone(), 1, Reliability::Unreliable) {
                Ok(Incoming::Request { key, .. }) => key,
                other => panic!("unexpected {other:?}"),
            };
            layer.send_response(t0, &key, ok.clone()).expect("respond");
            drain(&mut layer);
            layer.handle_timeout(later);
            assert_eq!(drain(&mut layer), 1);
            assert!(layer.is_empty());
        });
    });

    let invite = parse(INVITE);
    let ringing = parse(&response_to_invite("180 Ringing"));
    let busy = parse(&response_to_invite("486 Busy Here"));
    let accepted = parse(&response_to_invite("200 OK"));
    for (name, last) in [
        ("invite_client_486_udp", &busy),
        ("invite_client_200_udp", &accepted),
    ] {
        group.bench_function(name, |b| {
            let mut layer = Transactions::<u32>::new(Default::default());
            b.iter(|| {
                let key = layer
                    .send_request(t0, invite.clone(), 2, Reliability::Unreliable)
                    .expect("send");
                for response in [&ringing, last] {
                    let got =
                        layer.handle_incoming(t0, response.clone(), 2, Reliability::Unreliable);
                    assert!(matches!(got, Ok(Incoming::Response { .. })));
                }
                drain(&mut layer);
                layer.handle_timeout(later);
                assert_eq!(layer.poll_event(), Some(TxEvent::Terminated { key }));
            });
        });
    }
    group.finish();
}

criterion_group!(benches, transactions);
criterion_main!(benches);
