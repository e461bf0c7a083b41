//! Registrar and digest cost: verifying an MD5 and a SHA-256 digest (RFC 2617 / RFC 8760), and one
//! authenticated REGISTER end to end (parse, AOR, digest, binding update, 200 OK serialised).
//! Run: `cargo bench -p sip-core --bench registrar`.

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sip_core::auth::{Algorithm, Challenger, Challenging, DigestRequest, Ha1, request_digest};
use sip_core::location::Binding;
use sip_core::msg::SipMessage;
use sip_core::registrar::{RegistrarPolicy, RequestSource, aor_of, authorize, process_register};
use std::hint::black_box;

const NOW: u64 = 1_700_000_000;
const REALM: &str = "acme.example.com";
const URI: &str = "sip:acme.example.com";

fn nonce(c: &Challenger) -> String {
    let ch = c.challenge(REALM, NOW, false);
    ch[0]
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned()
}

fn authorization(alg: Algorithm, nonce: &str) -> String {
    let ha1 = Ha1::compute("1001", REALM, "s3cret");
    let key = if alg == Algorithm::Md5 {
        ha1.md5
    } else {
        ha1.sha256
    };
    let resp = request_digest(
        alg,
        &key,
        nonce,
        Some(("00000001", "0a4f113b")),
        "REGISTER",
        URI,
    );
    format!(
        "Digest username=\"1001\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{URI}\", response=\"{resp}\", algorithm={}, cnonce=\"0a4f113b\", qop=auth, nc=00000001",
        alg.token()
    )
}

fn register(auth: &str, cseq: u32) -> Bytes {
    Bytes::from(format!(
        "REGISTER sip:acme.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK-524287-1---a1b2c3d4;rport\r\n\
Max-Forwards: 70\r\n\
Contact: <sip:1001@192.168.1.20:5062;transport=UDP>;q=0.9, <sip:1001@10.8.0.2:5062;ob>;q=0.4;expires=1800\r\n\
To: <sip:1001@acme.example.com>\r\n\
From: \"Ann\" <sip:1001@acme.example.com>;tag=4f9c1b2a\r\n\
Call-ID: 5d7a0c1e9b3f\r\n\
CSeq: {cseq} REGISTER\r\n\
Expires: 3600\r\n\
User-Agent: Z 5.6.1 v2.10.20.3\r\n\
Authorization: {auth}\r\n\
Content-Length: 0\r\n\r\n"
    ))
}

fn bench(c: &mut Criterion) {
    let ha1 = Ha1::compute("1001", REALM, "s3cret");
    let mut g = c.benchmark_group("digest");
    g.throughput(Throughput::Elements(1));
    for alg in [Algorithm::Md5, Algorithm::Sha256] {
        g.bench_function(format!("verify_{}", alg.token()), |b| {
            b.iter_batched(
                || {
                    let ch = Challenger::new([7; 32], 300);
                    let header = authorization(alg, &nonce(&ch));
                    (ch, header)
                },
                |(mut ch, header)| {
                    let req = DigestRequest {
                        method: "REGISTER",
                        uri: URI,
                        realm: REALM,
                        now_unix: NOW,
                    };
                    black_box(ch.verify(&header, &req, |_| Some(ha1.clone())).unwrap())
                },
                BatchSize::SmallInput,
            );
        });
    }
    g.bench_function("challenge", |b| {
        let ch = Challenger::new([7; 32], 300);
        b.iter(|| black_box(ch.challenge(REALM, NOW, false)));
    });
    g.finish();

    let mut g = c.benchmark_group("registrar");
    g.throughput(Throughput::Elements(1));
    let source = RequestSource {
        transport: "UDP".into(),
        received: "203.0.113.7:5062".into(),
        owner: String::new(),
    };
    let policy = RegistrarPolicy::default();
    let plain = SipMessage::parse(register("Digest x=y", 2)).unwrap();
    let earlier = SipMessage::parse(register("Digest x=y", 1)).unwrap();
    let current: Vec<Binding> = process_register(&earlier, &[], NOW - 1000, &source, &policy)
        .unwrap()
        .bindings;
    g.bench_function("process_register_refresh_2_contacts", |b| {
        b.iter(|| black_box(process_register(&plain, &current, NOW, &source, &policy).unwrap()));
    });
    g.bench_function("authenticated_register_end_to_end", |b| {
        b.iter_batched(
            || {
                let ch = Challenger::new([7; 32], 300);
                let datagram = register(&authorization(Algorithm::Sha256, &nonce(&ch)), 2);
                (ch, datagram)
            },
            |(mut ch, datagram)| {
                let req = SipMessage::parse(datagram).unwrap();
                let aor = aor_of(&req, |d| d == REALM).unwrap();
                let who = ch
                    .verify_request(&req, Challenging::Registrar, &aor.domain, NOW, |_| {
                        Some(ha1.clone())
                    })
                    .unwrap();
                authorize(&aor, &who).unwrap();
                let out = process_register(&req, &current, NOW, &source, &policy).unwrap();
                black_box(out.response(&req, NOW).to_bytes())
            },
            BatchSize::SmallInput,
        );
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
