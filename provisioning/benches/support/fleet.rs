//! A large generated fleet for benchmarks: `users` users over four domains, two per device (so
//! `users / 2` devices), every fifth device with two busy-lamp keys, every user with a password.

use std::fmt::Write as _;

/// The CSV text of the fleet.
pub(crate) fn csv(users: usize) -> String {
    const DOMAINS: [&str; 4] = [
        "acme.example.com",
        "globex.example.com",
        "initech.example.com",
        "umbrella.example.com",
    ];
    let mut out = String::from(
        "domain,extension,first_name,last_name,display_name,password,email,department,voicemail,mac,model,line,blf\n",
    );
    for u in 0..users {
        let domain = DOMAINS[u % DOMAINS.len()];
        let ext = 10_000 + u / DOMAINS.len();
        // Users u and u + 4 (same domain) share device u / 8 * 4 + u % 4.
        let device = (u / 8) * 4 + u % 4;
        let line = (u / 4) % 2 + 1;
        let model = if device % 2 == 0 {
            "cisco-7960"
        } else {
            "avaya-1140e"
        };
        let blf = if device % 5 == 0 && line == 1 {
            format!("{};{}", ext + 2, ext + 3)
        } else {
            String::new()
        };
        let blf = if u + 3 * DOMAINS.len() * 2 < users {
            blf
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{domain},{ext},First{u},Last{u},,secret-{u},user{u}@{domain},Dept {},{},{:012x},{model},{line},{blf}",
            u % 17,
            if u % 3 == 0 {
                format!("8{u}")
            } else {
                String::new()
            },
            0x0004_f200_0000_u64 + device as u64,
        );
    }
    out
}
