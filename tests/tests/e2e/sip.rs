//! The SIP registrar and proxy against sipp as a real peer: digest registration with passwords from the
//! imported CSV, re-registration and removal, calls through the proxy with Record-Route, CANCEL while
//! ringing, a busy callee, unknown and unregistered users, tenant isolation, and a restart that keeps
//! every registration.

use crate::harness::{Gateway, free_port, have_sipp, scenario, settle, shared_scenario, sipp};

/// Three users of acme and one of globex with the same extension as an acme user.
pub(crate) const FLEET: &str = "extension,domain,password,first_name\n\
    2001,acme.example.com,alice-secret,Alice\n\
    2002,acme.example.com,bob-secret,Bob\n\
    2003,acme.example.com,carol-secret,Carol\n\
    2001,globex.example.com,globex-secret,Gus\n";

pub(crate) fn auth(user: &str, password: &str) -> String {
    format!("[authentication username={user} password={password}]")
}

/// sipp against `target` with `scenario_path` and injection file `csv`, one call from a free port on
/// 127.0.0.1, then `extra` options (given again, `-m`, `-i` and `-p` override these).
pub(crate) async fn run_scenario(
    gw: &Gateway,
    tag: &str,
    target: std::net::SocketAddr,
    scenario_path: std::path::PathBuf,
    csv: &std::path::Path,
    extra: &[&str],
) -> crate::harness::SippRun {
    let mut args: Vec<String> = vec![
        target.to_string(),
        "-sf".into(),
        scenario_path.display().to_string(),
        "-inf".into(),
        csv.display().to_string(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        free_port().to_string(),
        "-m".into(),
        "1".into(),
    ];
    // sipp keeps the first -key of a name: the default expiry only when none is given.
    if !extra.contains(&"expires") {
        args.extend(["-key", "expires", "3600"].map(str::to_owned));
    }
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    sipp(gw.dir.path(), tag, args).await
}

/// One digest registration of `user` from `port` (its Contact), with this expiry.
async fn register_run(
    gw: &Gateway,
    tag: &str,
    user: (&str, &str, &str),
    expires: u32,
    port: u16,
) -> crate::harness::SippRun {
    let (name, domain, password) = user;
    let csv = gw.write(
        &format!("{tag}.csv"),
        &format!("SEQUENTIAL\n{name};{domain};{}\n", auth(name, password)),
    );
    let (expires, port) = (expires.to_string(), port.to_string());
    run_scenario(
        gw,
        tag,
        gw.sip_udp,
        scenario("register_auth.xml"),
        &csv,
        &["-key", "expires", &expires, "-p", &port],
    )
    .await
}

/// Registers `user` with its Contact at `contact_port` (a sipp UAS).
pub(crate) async fn register_contact(
    gw: &Gateway,
    user: &str,
    domain: &str,
    password: &str,
    contact_port: u16,
) {
    let tag = format!("reg-{user}-{contact_port}");
    let csv = gw.write(
        &format!("{tag}.csv"),
        &format!("SEQUENTIAL\n{user};{domain};{}\n", auth(user, password)),
    );
    let port = contact_port.to_string();
    let run = run_scenario(
        gw,
        &tag,
        gw.sip_udp,
        scenario("register_contact.xml"),
        &csv,
        &["-key", "contact_port", &port],
    )
    .await;
    assert!(
        run.ok(),
        "registration of {user} failed:\n{}",
        run.describe()
    );
}

/// A sipp UAS running `scenario` on `port` for one call, in the background.
pub(crate) fn uas(
    gw: &Gateway,
    tag: &str,
    scenario_path: std::path::PathBuf,
    port: u16,
) -> tokio::task::JoinHandle<crate::harness::SippRun> {
    let dir = gw.dir.path().to_owned();
    let tag = tag.to_owned();
    tokio::spawn(async move {
        sipp(
            &dir,
            &tag,
            vec![
                "-sf".into(),
                scenario_path.display().to_string(),
                "-i".into(),
                "127.0.0.1".into(),
                "-p".into(),
                port.to_string(),
                "-m".into(),
                "1".into(),
            ],
        )
        .await
    })
}

/// A UAC call from `caller` (acme) to `callee` with `scenario_name`.
pub(crate) async fn call(
    gw: &Gateway,
    tag: &str,
    scenario_name: &str,
    caller: (&str, &str, &str),
    callee: &str,
) -> crate::harness::SippRun {
    let (user, domain, password) = caller;
    let csv = gw.write(
        &format!("{tag}.csv"),
        &format!(
            "SEQUENTIAL\n{user};{domain};{};{callee}\n",
            auth(user, password)
        ),
    );
    run_scenario(
        gw,
        tag,
        gw.sip_udp,
        scenario(scenario_name),
        &csv,
        &["-d", "300"],
    )
    .await
}

const ALICE: (&str, &str, &str) = ("2001", "acme.example.com", "alice-secret");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_softphone_registers_calls_a_registered_user_and_hangs_up() {
    if !have_sipp() {
        return;
    }
    let gw = Gateway::start(FLEET).await;
    // Alice registers like a softphone: REGISTER, 401, REGISTER with her digest, 200.
    let reg = register_run(&gw, "alice-register", ALICE, 3600, free_port()).await;
    assert!(reg.ok(), "{}", reg.describe());
    assert_eq!(
        reg.first_lines()[..3]
            .iter()
            .map(|l| &l[..11.min(l.len())])
            .collect::<Vec<_>>(),
        ["REGISTER si", "SIP/2.0 401", "REGISTER si"]
    );
    assert!(
        reg.messages.contains(";expires=3600"),
        "the 200 lists the binding:\n{}",
        reg.messages
    );
    // Bob is reachable at a sipp UAS; Alice calls him through the proxy and hangs up.
    let bob_port = free_port();
    register_contact(&gw, "2002", "acme.example.com", "bob-secret", bob_port).await;
    let bob = uas(&gw, "bob-uas", shared_scenario("uas_rr.xml"), bob_port);
    settle().await;
    let alice = call(&gw, "alice-calls-bob", "uac_auth.xml", ALICE, "2002").await;
    let bob = bob.await.expect("join");
    assert!(alice.ok(), "{}", alice.describe());
    assert!(bob.ok(), "{}", bob.describe());
    let lines = alice.first_lines();
    assert!(
        lines.iter().any(|l| l.starts_with("SIP/2.0 407")),
        "the caller was challenged: {lines:?}"
    );
    assert!(lines.iter().any(|l| l.starts_with("SIP/2.0 200")));
    // The callee saw the INVITE with our Record-Route, and the ACK and BYE came through us.
    assert!(
        bob.messages.contains("Record-Route: <sip:127.0.0.1:"),
        "{}",
        bob.messages
    );
    let bob_lines = bob.first_lines();
    assert!(
        bob_lines.iter().any(|l| l.starts_with("ACK "))
            && bob_lines.iter().any(|l| l.starts_with("BYE ")),
        "{bob_lines:?}"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_unknown_user_and_short_expiry_are_refused() {
    if !have_sipp() {
        return;
    }
    let gw = Gateway::start(FLEET).await;
    for (tag, user, password, expect) in [
        ("wrong-password", "2001", "not-her-password", "SIP/2.0 403"),
        ("unknown-user", "2999", "whatever", "SIP/2.0 403"),
    ] {
        let run = register_run(
            &gw,
            tag,
            (user, "acme.example.com", password),
            3600,
            free_port(),
        )
        .await;
        assert!(!run.ok(), "{tag} must not register");
        assert!(
            run.first_lines().iter().any(|l| l.starts_with(expect)),
            "{tag}: {}",
            run.describe()
        );
    }
    // Expires below the minimum: 423 with Min-Expires.
    let run = register_run(&gw, "short", ALICE, 5, free_port()).await;
    assert!(
        run.messages.contains("SIP/2.0 423") && run.messages.contains("Min-Expires: 60"),
        "{}",
        run.describe()
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_while_running_reaches_the_registrar() {
    if !have_sipp() {
        return;
    }
    let gw = Gateway::start(FLEET).await;
    let dave = ("2004", "acme.example.com", "dave-secret");
    let run = register_run(&gw, "dave-before", dave, 3600, free_port()).await;
    assert!(!run.ok(), "2004 is not imported yet: {}", run.describe());
    // A new user, and a new password for Alice.
    gw.import(
        &format!("{FLEET}2004,acme.example.com,dave-secret,Dave\n").replace(
            "2001,acme.example.com,alice-secret",
            "2001,acme.example.com,alice-new-secret",
        ),
    )
    .await;
    // The directory looks at the store every few seconds; give it up to three looks.
    let deadline = std::time::Instant::now()
        + 3 * gateway::sip::directory::REFRESH
        + std::time::Duration::from_secs(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let run = register_run(&gw, &format!("dave-{attempt}"), dave, 3600, free_port()).await;
        if run.ok() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the imported user never registered: {}",
            run.describe()
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let new = ("2001", "acme.example.com", "alice-new-secret");
    let run = register_run(&gw, "alice-new", new, 3600, free_port()).await;
    assert!(run.ok(), "{}", run.describe());
    let run = register_run(&gw, "alice-old", ALICE, 3600, free_port()).await;
    assert!(!run.ok(), "the old password is refused: {}", run.describe());
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reregistration_refreshes_and_expires_zero_removes() {
    if !have_sipp() {
        return;
    }
    let gw = Gateway::start(FLEET).await;
    let bob = ("2002", "acme.example.com", "bob-secret");
    let port = free_port();
    for tag in ["bob-first", "bob-refresh"] {
        let run = register_run(&gw, tag, bob, 3600, port).await;
        assert!(run.ok(), "{}", run.describe());
        // One binding, listed once: a refresh replaces, it does not add.
        assert_eq!(
            run.messages.matches(";expires=").count(),
            1,
            "{}",
            run.describe()
        );
    }
    // Removing the binding (same Contact, Expires 0): the next call finds Bob unregistered (480).
    let off = register_run(&gw, "bob-off", bob, 0, port).await;
    assert!(off.ok(), "{}", off.describe());
    let run = call(&gw, "after-unregister", "uac_refused.xml", ALICE, "2002").await;
    assert!(run.ok(), "{}", run.describe());
    assert!(
        run.first_lines()
            .iter()
            .any(|l| l.starts_with("SIP/2.0 480")),
        "{}",
        run.describe()
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_while_ringing_reaches_the_callee() {
    if !have_sipp() {
        return;
    }
    let gw = Gateway::start(FLEET).await;
    let port = free_port();
    register_contact(&gw, "2002", "acme.example.com", "bob-secret", port).await;
    let bob = uas(&gw, "bob-rings", scenario("uas_ring_cancel.xml"), port);
    settle().await;
    let alice = call(&gw, "alice-cancels", "uac_cancel.xml", ALICE, "2002").await;
    let bob = bob.await.expect("join");
    assert!(alice.ok(), "{}", alice.describe());
    assert!(bob.ok(), "{}", bob.describe());
    assert!(
        bob.first_lines().iter().any(|l| l.starts_with("CANCEL ")),
        "{}",
        bob.describe()
    );
    assert!(
        alice
            .first_lines()
            .iter()
            .any(|l| l.starts_with("SIP/2.0 487"))
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timer_c_cancels_a_call_that_rings_too_long() {
    if !have_sipp() {
        return;
    }
    // Timer C at 2 s: bob rings and never answers; the proxy cancels his branch by itself and alice,
    // who never sends CANCEL, gets the 487.
    let gw = Gateway::start_with(FLEET, "invite_timeout_secs = 2").await;
    let port = free_port();
    register_contact(&gw, "2002", "acme.example.com", "bob-secret", port).await;
    let bob = uas(&gw, "bob-rings-on", scenario("uas_ring_cancel.xml"), port);
    settle().await;
    let alice = call(&gw, "alice-waits", "uac_refused.xml", ALICE, "2002").await;
    let bob = bob.await.expect("join");
    assert!(alice.ok(), "{}", alice.describe());
    assert!(bob.ok(), "{}", bob.describe());
    assert!(
        bob.first_lines().iter().any(|l| l.starts_with("CANCEL ")),
        "{}",
        bob.describe()
    );
    assert!(
        alice
            .first_lines()
            .iter()
            .any(|l| l.starts_with("SIP/2.0 487")),
        "{}",
        alice.describe()
    );
    gw.stop().await;
}

/// A name of this machine that the system resolver maps to 127.0.0.1 and that Crossbar does not take
/// for itself (it knows "localhost"): the host name, usually listed in /etc/hosts.
fn loopback_name() -> Option<String> {
    let name = std::fs::read_to_string("/etc/hostname")
        .ok()?
        .trim()
        .to_owned();
    if name.is_empty() || name == "localhost" {
        return None;
    }
    use std::net::ToSocketAddrs as _;
    let resolves = (name.as_str(), 5060)
        .to_socket_addrs()
        .ok()?
        .any(|a| a.ip() == std::net::IpAddr::from([127, 0, 0, 1]));
    resolves.then_some(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_to_a_host_name_is_resolved_and_an_unresolvable_one_gets_478() {
    if !have_sipp() {
        return;
    }
    let gw = Gateway::start(FLEET).await;
    // A host that does not resolve (RFC 6761 reserves .invalid): 478 after the 407 round.
    let csv = gw.write(
        "nowhere.csv",
        &format!(
            "SEQUENTIAL\n{};{};{};carol\n",
            ALICE.0,
            ALICE.1,
            auth(ALICE.0, ALICE.2)
        ),
    );
    let nowhere = run_scenario(
        &gw,
        "alice-calls-nowhere",
        gw.sip_udp,
        scenario("uac_refused_to.xml"),
        &csv,
        &["-key", "callee_domain", "pbx.crossbar-test.invalid"],
    )
    .await;
    assert!(nowhere.ok(), "{}", nowhere.describe());
    assert!(
        nowhere
            .first_lines()
            .iter()
            .any(|l| l.starts_with("SIP/2.0 478")),
        "{}",
        nowhere.describe()
    );
    // A host name of this machine: the INVITE reaches the sipp UAS listening there.
    let Some(name) = loopback_name() else {
        println!("skipped the resolvable half: no host name of this machine resolves to 127.0.0.1");
        gw.stop().await;
        return;
    };
    let port = free_port();
    let carol = uas(&gw, "carol-elsewhere", shared_scenario("uas_rr.xml"), port);
    settle().await;
    let alice = run_scenario(
        &gw,
        "alice-calls-by-name",
        gw.sip_udp,
        scenario("uac_auth_to.xml"),
        &csv,
        &[
            "-key",
            "callee_domain",
            &format!("{name}:{port}"),
            "-d",
            "300",
        ],
    )
    .await;
    let carol = carol.await.expect("join");
    assert!(alice.ok(), "{}", alice.describe());
    assert!(carol.ok(), "{}", carol.describe());
    assert!(
        carol.first_lines()[0].starts_with(&format!("INVITE sip:carol@{name}:{port}")),
        "{}",
        carol.describe()
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_callee_gives_486_and_unknown_or_foreign_users_404() {
    if !have_sipp() {
        return;
    }
    let gw = Gateway::start(FLEET).await;
    let port = free_port();
    register_contact(&gw, "2002", "acme.example.com", "bob-secret", port).await;
    let bob = uas(&gw, "bob-busy", scenario("uas_busy.xml"), port);
    settle().await;
    let busy = call(&gw, "alice-busy", "uac_refused.xml", ALICE, "2002").await;
    assert!(bob.await.expect("join").ok());
    assert!(busy.ok(), "{}", busy.describe());
    assert!(
        busy.first_lines()
            .iter()
            .any(|l| l.starts_with("SIP/2.0 486")),
        "{}",
        busy.describe()
    );
    // Nobody of that extension.
    let unknown = call(&gw, "alice-unknown", "uac_refused.xml", ALICE, "2999").await;
    assert!(
        unknown
            .first_lines()
            .iter()
            .any(|l| l.starts_with("SIP/2.0 404")),
        "{}",
        unknown.describe()
    );
    // Carol exists but is not registered.
    let absent = call(&gw, "alice-carol", "uac_refused.xml", ALICE, "2003").await;
    assert!(
        absent
            .first_lines()
            .iter()
            .any(|l| l.starts_with("SIP/2.0 480")),
        "{}",
        absent.describe()
    );
    // Gus of globex registers his 2001 and is called by acme's Alice at globex: refused, tenants stay apart.
    register_contact(
        &gw,
        "2001",
        "globex.example.com",
        "globex-secret",
        free_port(),
    )
    .await;
    let csv = gw.write(
        "cross.csv",
        &format!(
            "SEQUENTIAL\n2001;acme.example.com;{};2001\n",
            auth("2001", "alice-secret")
        ),
    );
    let cross = run_scenario(
        &gw,
        "cross-domain",
        gw.sip_udp,
        scenario("uac_refused_to.xml"),
        &csv,
        &["-key", "callee_domain", "globex.example.com"],
    )
    .await;
    assert!(
        cross
            .first_lines()
            .iter()
            .any(|l| l.starts_with("SIP/2.0 404")),
        "{}",
        cross.describe()
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_every_registration() {
    if !have_sipp() {
        return;
    }
    let gw = Gateway::start(FLEET).await;
    let port = free_port();
    register_contact(&gw, "2002", "acme.example.com", "bob-secret", port).await;
    let gw = gw.restart().await;
    let bob = uas(
        &gw,
        "bob-after-restart",
        shared_scenario("uas_rr.xml"),
        port,
    );
    settle().await;
    let alice = call(&gw, "alice-after-restart", "uac_auth.xml", ALICE, "2002").await;
    assert!(alice.ok(), "{}", alice.describe());
    assert!(bob.await.expect("join").ok());
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_on_tcp_reaches_a_callee_on_udp() {
    if !have_sipp() {
        return;
    }
    let gw = Gateway::start(FLEET).await;
    let bob_port = free_port();
    register_contact(&gw, "2002", "acme.example.com", "bob-secret", bob_port).await;
    let bob = uas(&gw, "bob-udp", shared_scenario("uas_rr.xml"), bob_port);
    settle().await;
    let csv = gw.write(
        "alice-tcp.csv",
        &format!(
            "SEQUENTIAL\n2001;acme.example.com;{};2002\n",
            auth("2001", "alice-secret")
        ),
    );
    // Alice registers and calls over one TCP connection (sipp -t t1).
    let reg_csv = gw.write(
        "alice-tcp-reg.csv",
        &format!(
            "SEQUENTIAL\n2001;acme.example.com;{}\n",
            auth("2001", "alice-secret")
        ),
    );
    for (tag, scenario_name, csv) in [
        ("alice-tcp-register", "register_auth.xml", &reg_csv),
        ("alice-tcp-call", "uac_auth.xml", &csv),
    ] {
        let run = run_scenario(
            &gw,
            tag,
            gw.sip_tcp,
            scenario(scenario_name),
            csv,
            &["-t", "t1", "-d", "300"],
        )
        .await;
        assert!(run.ok(), "{tag}: {}", run.describe());
        assert!(run.messages.contains("TCP message"), "{tag} went over TCP");
    }
    assert!(bob.await.expect("join").ok());
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_forks_to_every_contact_and_cancels_the_others() {
    if !have_sipp() {
        return;
    }
    let gw = Gateway::start(FLEET).await;
    let (desk, mobile) = (free_port(), free_port());
    register_contact(&gw, "2002", "acme.example.com", "bob-secret", desk).await;
    register_contact(&gw, "2002", "acme.example.com", "bob-secret", mobile).await;
    // The desk phone answers at once; the mobile rings until it is cancelled.
    let answers = uas(&gw, "bob-desk", shared_scenario("uas_rr.xml"), desk);
    let rings = uas(&gw, "bob-mobile", scenario("uas_ring_cancel.xml"), mobile);
    settle().await;
    let alice = call(&gw, "alice-forks", "uac_auth.xml", ALICE, "2002").await;
    let (answers, rings) = (answers.await.expect("join"), rings.await.expect("join"));
    assert!(alice.ok(), "{}", alice.describe());
    assert!(answers.ok(), "{}", answers.describe());
    assert!(
        rings.ok(),
        "the other branch was cancelled: {}",
        rings.describe()
    );
    assert!(rings.first_lines().iter().any(|l| l.starts_with("CANCEL ")));
    // The caller saw one 200 and no 487 (the cancelled branch's final response stays in the proxy).
    let lines = alice.first_lines();
    assert!(
        !lines.iter().any(|l| l.starts_with("SIP/2.0 487")),
        "{lines:?}"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_source_is_throttled_while_others_register() {
    if !have_sipp() {
        return;
    }
    let gw = Gateway::start_with(FLEET, "rate_limit = 20").await;
    // A scanner on 127.0.0.1 tries 600 registrations at 600/s with a wrong password.
    let flood_csv = gw.write(
        "flood.csv",
        &format!(
            "SEQUENTIAL\n2001;acme.example.com;{}\n",
            auth("2001", "guess")
        ),
    );
    let flood = run_scenario(
        &gw,
        "flood",
        gw.sip_udp,
        scenario("register_auth.xml"),
        &flood_csv,
        &[
            "-m",
            "600",
            "-r",
            "600",
            "-l",
            "600",
            "-recv_timeout",
            "2000",
        ],
    );
    // Meanwhile Bob registers from another address and gets through.
    let csv = gw.write(
        "bob-elsewhere.csv",
        &format!(
            "SEQUENTIAL\n2002;acme.example.com;{}\n",
            auth("2002", "bob-secret")
        ),
    );
    let bob = run_scenario(
        &gw,
        "bob-elsewhere",
        gw.sip_udp,
        scenario("register_auth.xml"),
        &csv,
        &["-i", "127.0.0.2"],
    );
    // Both run at once: the flood from 127.0.0.1, Bob from 127.0.0.2.
    let (flood, bob) = tokio::join!(flood, bob);
    assert!(bob.ok(), "{}", bob.describe());
    // Most of the flood got no answer at all: dropped, not even challenged.
    let answered = flood.messages.matches("SIP/2.0 401").count();
    assert!(
        answered < 300,
        "{answered} of 600 flood requests were answered"
    );
    assert!(answered >= 20, "the first burst is answered: {answered}");
    gw.stop().await;
}
