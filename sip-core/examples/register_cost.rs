//! Deterministic cost of one registration through the registrar's code path, for instruction and
//! allocation counts under valgrind (the development VMs' CPU time is too noisy to compare small
//! changes): N times the two requests of a registration as the SIP core handles them, the first
//! challenged (parse, validate, AOR, 401 serialised) and the second authenticated (parse, validate,
//! AOR, MD5 digest, binding refresh, 200 serialised). `scripts/bench-sip-cost.sh` runs it.
//!
//! Run: `cargo run --release -p sip-core --example register_cost -- N`.

use bytes::Bytes;
use sip_core::auth::{Algorithm, Challenger};
use std::hint::black_box;
#[path = "../benches/support/register.rs"]
mod register;
use register::{Registrar, authorization, nonce, register, unauthenticated_register};

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let registrar = Registrar::new();
    let mut ch = Challenger::new([7; 32], 300);
    let first = unauthenticated_register();
    let datagrams: Vec<Bytes> = (0..n)
        .map(|_| register(&authorization(Algorithm::Md5, &nonce(&ch)), 2))
        .collect();
    for datagram in datagrams {
        black_box(registrar.challenge(&mut ch, first.clone()));
        black_box(registrar.register(&mut ch, datagram));
    }
}
