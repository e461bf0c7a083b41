//! Writes the benchmark fleet as CSV: `cargo run -p provisioning --example gen_fleet -- 10000 > fleet.csv`
//! (10,000 users on 5,000 devices).

#[path = "../benches/support/fleet.rs"]
mod fleet;

fn main() {
    let users = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    print!("{}", fleet::csv(users));
}
