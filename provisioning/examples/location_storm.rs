//! A registration storm against the location table: `N` AORs (default 100,000) written once, then
//! re-registered in batches of `B` (default 2,500, what 10,000 REGISTER/s hand the writer every 250 ms)
//! with a new Call-ID each, as the gateway's writer does. Prints the time per binding of the refreshes.
//!
//! `cargo run --release -p provisioning --example location_storm -- [STORE_URL] [N] [B] [ROUNDS]`
//! (default a SQLite file in a temporary directory).

use std::time::Instant;

use provisioning::Store;
use provisioning::store::{AorBindings, RegistrationRow, SetChange};

fn set(n: usize, round: usize) -> AorBindings {
    let ext = format!("u{n:06}");
    AorBindings {
        domain: "bench.example.com".to_owned(),
        extension: ext.clone(),
        rows: vec![RegistrationRow {
            domain: "bench.example.com".to_owned(),
            extension: ext.clone(),
            contact: format!("sip:{ext}@127.0.0.1:5461;transport=UDP").into(),
            expires_at: 1_796_150_246 + i64::try_from(round).unwrap_or(0),
            q: 1000,
            call_id: format!("{n}-{round}@127.0.0.1").into(),
            cseq: 2,
            path: Vec::new(),
            transport: "UDP".into(),
            received: "127.0.0.1:5461".into(),
            user_agent: "sipp".into(),
            owner: "".into(),
        }],
        // The fill adds every AOR's contact; the storm refreshes it.
        change: if round == 0 {
            SetChange::Upserted
        } else {
            SetChange::Refreshed
        },
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let url = args
        .get(1)
        .cloned()
        .filter(|u| u != "-")
        .unwrap_or_else(|| provisioning::store::sqlite_url(&dir.path().join("storm.db")));
    let arg =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (aors, batch, rounds) = (arg(2, 100_000), arg(3, 2_500), arg(4, 2));
    let store = Store::open(&url).await.expect("open the store");
    let all: Vec<usize> = (1..=aors).collect();
    for chunk in all.chunks(5_000) {
        let sets: Vec<AorBindings> = chunk.iter().map(|&n| set(n, 0)).collect();
        store.write_registrations(&sets).await.expect("fill");
    }
    let started = Instant::now();
    let mut written = 0usize;
    for round in 1..=rounds {
        for chunk in all.chunks(batch) {
            let sets: Vec<AorBindings> = chunk.iter().map(|&n| set(n, round)).collect();
            store.write_registrations(&sets).await.expect("refresh");
            written += sets.len();
        }
    }
    let elapsed = started.elapsed();
    println!(
        "{written} refreshes in {:.2} s: {:.2} us per binding",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / written as f64
    );
    store.close().await;
}
