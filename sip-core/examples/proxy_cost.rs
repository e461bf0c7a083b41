//! Deterministic cost of the checks the proxy makes on every request, for instruction counts under
//! valgrind (see `scripts/bench-sip-cost.sh`): N times an INVITE parsed, validated and checked
//! (`check_request`: validation, Max-Forwards, loop detection over its Vias), its top Via read, the
//! branch of its forwarded copy computed, and the message serialised.
//!
//! Run: `cargo run --release -p sip-core --example proxy_cost -- N`.

use bytes::Bytes;
use sip_core::msg::{Host, SipMessage};
use sip_core::proxy::{Local, branch_for, check_request};
use std::hint::black_box;

#[path = "../benches/support/invite.rs"]
mod invite;
use invite::INVITE;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let local = Local {
        hosts: vec![Host::Name("proxy.example.com".into())],
        ports: vec![5060],
    };
    let data = Bytes::from_static(INVITE.as_bytes());
    for _ in 0..n {
        let req = SipMessage::parse(data.clone()).unwrap();
        assert!(check_request(&req, &local).is_ok());
        black_box(req.top_via().ok());
        black_box(branch_for(&req, 0));
        black_box(req.to_bytes());
    }
}
