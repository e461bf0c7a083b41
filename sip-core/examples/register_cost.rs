//! Deterministic cost of one registration through the registrar's code path, for instruction and
//! allocation counts under valgrind (the development VMs' CPU time is too noisy to compare small
//! changes): N times the two requests of a registration as the SIP core handles them, the first
//! challenged (parse, validate, AOR, 401 serialised) and the second authenticated (parse, validate,
//! AOR, MD5 digest, binding refresh, 200 serialised). `scripts/bench-sip-cost.sh` runs it.
//!
//! Run: `cargo run --release -p sip-core --example register_cost -- N`.

use bytes::Bytes;
use sip_core::auth::{Algorithm, Challenger, Challenging, Ha1};
use sip_core::location::Binding;
use sip_core::msg::SipMessage;
use sip_core::registrar::{RegistrarPolicy, RequestSource, aor_of, authorize, process_register};
use std::hint::black_box;
#[path = "../benches/support/register.rs"]
mod register;
use register::{NOW, REALM, authorization, nonce, register, unauthenticated_register};

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let ha1 = Ha1::compute("1001", REALM, "s3cret");
    let source = RequestSource {
        transport: "UDP".into(),
        received: "203.0.113.7:5062".into(),
        owner: String::new(),
    };
    let policy = RegistrarPolicy::default();
    let earlier = SipMessage::parse(register("Digest x=y", 1)).unwrap();
    let current: Vec<Binding> = process_register(&earlier, &[], NOW - 1000, &source, &policy)
        .unwrap()
        .bindings;
    let mut ch = Challenger::new([7; 32], 300);
    let first = unauthenticated_register();
    let datagrams: Vec<Bytes> = (0..n)
        .map(|_| register(&authorization(Algorithm::Md5, &nonce(&ch)), 2))
        .collect();
    for datagram in datagrams {
        let req = SipMessage::parse(first.clone()).unwrap();
        req.validate().unwrap();
        let aor = aor_of(&req, |d| d == REALM).unwrap();
        assert!(
            ch.verify_request(&req, Challenging::Registrar, &aor.domain, NOW, |_| Some(
                ha1.clone()
            ))
            .is_err()
        );
        black_box(
            ch.challenge_response(&req, Challenging::Registrar, &aor.domain, NOW, false)
                .to_bytes(),
        );
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
        black_box(out.response(&req, NOW).to_bytes());
    }
}
