//! Registrar and digest cost: verifying an MD5 and a SHA-256 digest (RFC 2617 / RFC 8760), and the
//! two requests of a registration end to end as the SIP core handles them: the first (parse,
//! validate, AOR, no credentials, 401 with both challenges serialised) and the authenticated one
//! (parse, validate, AOR, digest, binding update, 200 OK serialised).
//! Run: `cargo bench -p sip-core --bench registrar`.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sip_core::auth::{Algorithm, Challenger, DigestRequest, Ha1};
use sip_core::msg::SipMessage;
use sip_core::registrar::process_register;
use std::hint::black_box;

#[path = "support/register.rs"]
mod register;
use register::{
    NOW, REALM, Registrar, URI, authorization, nonce, register, unauthenticated_register,
};

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
    let registrar = Registrar::new();
    let plain = SipMessage::parse(register("Digest x=y", 2)).unwrap();
    g.bench_function("process_register_refresh_2_contacts", |b| {
        b.iter(|| {
            black_box(
                process_register(
                    &plain,
                    &registrar.current,
                    NOW,
                    &registrar.source,
                    &registrar.policy,
                )
                .unwrap(),
            )
        });
    });
    g.bench_function("challenged_register_end_to_end", |b| {
        let mut ch = Challenger::new([7; 32], 300);
        let datagram = unauthenticated_register();
        b.iter(|| black_box(registrar.challenge(&mut ch, datagram.clone())));
    });
    g.bench_function("authenticated_register_end_to_end", |b| {
        b.iter_batched(
            || {
                let ch = Challenger::new([7; 32], 300);
                let datagram = register(&authorization(Algorithm::Sha256, &nonce(&ch)), 2);
                (ch, datagram)
            },
            |(mut ch, datagram)| black_box(registrar.register(&mut ch, datagram)),
            BatchSize::SmallInput,
        );
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
