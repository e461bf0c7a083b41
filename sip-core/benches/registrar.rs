//! Registrar and digest cost: verifying an MD5 and a SHA-256 digest (RFC 2617 / RFC 8760), and the
//! two requests of a registration end to end as the SIP core handles them: the first (parse,
//! validate, AOR, no credentials, 401 with both challenges serialised) and the authenticated one
//! (parse, validate, AOR, digest, binding update, 200 OK serialised).
//! Run: `cargo bench -p sip-core --bench registrar`.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sip_core::auth::{Algorithm, Challenger, Challenging, DigestRequest, Ha1};
use sip_core::location::Binding;
use sip_core::msg::SipMessage;
use sip_core::registrar::{RegistrarPolicy, RequestSource, aor_of, authorize, process_register};
use std::hint::black_box;

#[path = "support/register.rs"]
mod register;
use register::{NOW, REALM, URI, authorization, nonce, register, unauthenticated_register};

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
    g.bench_function("challenged_register_end_to_end", |b| {
        let mut ch = Challenger::new([7; 32], 300);
        let datagram = unauthenticated_register();
        b.iter(|| {
            let req = SipMessage::parse(datagram.clone()).unwrap();
            req.validate().unwrap();
            let aor = aor_of(&req, |d| d == REALM).unwrap();
            let refused = ch.verify_request(&req, Challenging::Registrar, &aor.domain, NOW, |_| {
                Some(ha1.clone())
            });
            assert!(refused.is_err());
            let resp = ch.challenge_response(&req, Challenging::Registrar, &aor.domain, NOW, false);
            black_box(resp.to_bytes())
        });
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
                req.validate().unwrap();
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
