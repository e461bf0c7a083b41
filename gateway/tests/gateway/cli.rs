//! The command-line contract: import, export, check-config, serve, exit codes.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::fleet;
use crate::support::{CROSSBAR, Scratch, run_bare, stderr, stdout};

async fn fleet_round_trip(scratch: &Scratch) {
    let rows = fleet::rows();
    let csv = scratch.write("fleet.csv", &fleet::csv(&rows));
    let csv = csv.to_str().expect("path");

    let dry = scratch.run(&["import", csv, "--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(stdout(&dry).contains("dry run, nothing written: domains: 3 added; users: 50 added"));
    let empty = scratch.run(&["export"]);
    assert_eq!(stdout(&empty), fleet::HEADER, "a dry run wrote something");

    let import = scratch.run(&["import", csv]);
    assert!(import.status.success(), "{}", stderr(&import));
    assert!(
        stdout(&import).contains(
            "imported: domains: 3 added; users: 50 added, 0 updated; devices: 30 added, 0 updated, 0 removed"
        ),
        "{}",
        stdout(&import)
    );

    let export = scratch.run(&["export"]);
    assert!(export.status.success(), "{}", stderr(&export));
    let exported = stdout(&export);
    assert_eq!(exported, fleet::expected_export(&rows));

    // Importing the export changes nothing, and exports the same bytes again.
    let again = scratch.write("export.csv", &exported);
    let reimport = scratch.run(&["import", again.to_str().expect("path")]);
    assert!(reimport.status.success(), "{}", stderr(&reimport));
    assert_eq!(stdout(&reimport), "no changes\n");
    let reimport_original = scratch.run(&["import", csv]);
    assert_eq!(stdout(&reimport_original), "no changes\n");
    assert_eq!(stdout(&scratch.run(&["export"])), exported);
}

async fn four_mistakes_are_rejected_and_nothing_is_written(scratch: &Scratch) {
    let good = scratch.write(
        "good.csv",
        "extension,first_name,mac,model\n1001,Alice,0004f2aabbcc,cisco-7960\n",
    );
    assert!(
        scratch
            .run(&["import", good.to_str().expect("path")])
            .status
            .success()
    );
    let before = stdout(&scratch.run(&["export"]));

    let bad = scratch.write(
        "bad.csv",
        "extension,first_name,mac,model,line\n\
         1001,Alicia,0004f2aabbcc,cisco-7960,1\n\
         1002,Bob,00:04:f2:aa:bb,cisco-7960,\n\
         1003,Chen,001b54ca499b,cisco-7999,\n\
         1001,Again,,,\n\
         1004,Dana,0004f2aabbcc,cisco-7960,1\n",
    );
    let output = scratch.run(&["import", bad.to_str().expect("path")]);
    assert_eq!(output.status.code(), Some(65), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("rejected, nothing written: 4 problems"),
        "{err}"
    );
    for line in ["line 3:", "line 4:", "line 5:", "line 6:"] {
        assert!(err.contains(line), "{line} missing from {err}");
    }
    assert!(!err.contains("line 2:"), "{err}");
    assert_eq!(
        stdout(&scratch.run(&["export"])),
        before,
        "a rejected file wrote something"
    );
}

#[tokio::test]
async fn fleet_round_trip_sqlite() {
    fleet_round_trip(&Scratch::sqlite()).await;
}

#[tokio::test]
async fn fleet_round_trip_postgres() {
    let Some(scratch) = Scratch::postgres().await else {
        return;
    };
    fleet_round_trip(&scratch).await;
    scratch.finish().await;
}

#[tokio::test]
async fn four_mistakes_sqlite() {
    four_mistakes_are_rejected_and_nothing_is_written(&Scratch::sqlite()).await;
}

#[tokio::test]
async fn four_mistakes_postgres() {
    let Some(scratch) = Scratch::postgres().await else {
        return;
    };
    four_mistakes_are_rejected_and_nothing_is_written(&scratch).await;
    scratch.finish().await;
}

#[test]
fn check_config_lists_every_problem_and_exits_64() {
    let scratch = Scratch::sqlite();
    let ok = scratch.run(&["check-config"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(stdout(&ok).ends_with("crossbar.toml: ok\n"));

    let bad = scratch.write(
        "bad.toml",
        "[sip]\nlisten = [\"udp:0.0.0.0:5060\", \"sctp:0.0.0.0:5060\"]\nlisen = 3\n[sccp]\nkeepalive_secs = 0\n",
    );
    let output = Command::new(CROSSBAR)
        .args(["check-config", "--config"])
        .arg(&bad)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(64));
    let err = stderr(&output);
    assert!(err.contains("3 problems"), "{err}");
    assert!(err.contains("bad.toml:2:31: sip.listen[1]"), "{err}");
    assert!(
        err.contains("bad.toml:3:1: sip.lisen: unknown key"),
        "{err}"
    );
    assert!(err.contains("bad.toml:5:18: sccp.keepalive_secs"), "{err}");

    let missing = run_bare(
        scratch.dir.path(),
        &["check-config", "--config", "nope.toml"],
    );
    assert_eq!(missing.status.code(), Some(64));
    assert!(stderr(&missing).contains("cannot read nope.toml"));
}

#[test]
fn usage_errors_exit_64_and_help_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(
        run_bare(dir.path(), &["frobnicate"]).status.code(),
        Some(64)
    );
    assert_eq!(run_bare(dir.path(), &["import"]).status.code(), Some(64));
    let help = run_bare(dir.path(), &["--help"]);
    assert_eq!(help.status.code(), Some(0));
    for command in ["serve", "check-config", "import", "export", "models"] {
        assert!(
            stdout(&help).contains(command),
            "{command} missing from --help"
        );
    }
    let missing = run_bare(dir.path(), &["import", "absent.csv"]);
    assert_eq!(missing.status.code(), Some(64));
    assert!(stderr(&missing).contains("cannot read absent.csv"));
}

#[test]
fn models_lists_every_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = stdout(&run_bare(dir.path(), &["models"]));
    for model in provisioning::MODELS {
        assert!(out.contains(model.name), "{} missing", model.name);
    }
}

#[test]
fn defaults_put_the_store_in_the_working_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = run_bare(dir.path(), &["export"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(dir.path().join("crossbar.db").exists());
}

/// Starts `crossbar serve`, waits until it is up, sends `signal`, and expects a clean exit.
fn serve_stops_cleanly_on(signal: &str) {
    let scratch = Scratch::sqlite();
    let mut child = Command::new(CROSSBAR)
        .args(["serve", "--config"])
        .arg(&scratch.config)
        .current_dir(scratch.dir.path())
        .env("CROSSBAR_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("line");
        seen.push(line.clone());
        if line.contains("store ready") {
            break;
        }
    }
    assert!(seen.iter().any(|l| l.contains("store ready")), "{seen:#?}");
    let killed = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "crossbar did not stop after {signal}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(status.success(), "{status}: {rest:#?}");
    assert!(
        rest.iter().any(|l| l.contains("crossbar stopped")),
        "{rest:#?}"
    );
}

#[test]
fn serve_stops_cleanly_on_sigterm() {
    serve_stops_cleanly_on("-TERM");
}

#[test]
fn serve_stops_cleanly_on_sigint() {
    serve_stops_cleanly_on("-INT");
}

#[test]
fn json_logs_on_request() {
    let scratch = Scratch::sqlite();
    let output = Command::new(CROSSBAR)
        .args(["--log-format", "json", "export", "--config"])
        .arg(&scratch.config)
        .env("CROSSBAR_LOG", "debug")
        .output()
        .expect("run");
    assert!(output.status.success());
    let err = stderr(&output);
    let line = err
        .lines()
        .find(|l| l.contains("store open"))
        .unwrap_or_else(|| panic!("no store log line in {err}"));
    assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
    assert!(line.contains("\"level\":\"DEBUG\""), "{line}");
}

#[test]
fn serve_names_a_provisioning_listener_that_cannot_be_bound() {
    let scratch = Scratch::sqlite();
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let config = std::fs::read_to_string(&scratch.config)
        .expect("config")
        .replace(
            "[tftp]\nlisten = \"127.0.0.1:0\"",
            &format!("[tftp]\nlisten = \"127.0.0.1:{port}\""),
        );
    assert!(config.contains(&format!("127.0.0.1:{port}")), "{config}");
    std::fs::write(&scratch.config, config).expect("write");
    let serve = scratch.run(&["serve"]);
    assert_eq!(serve.status.code(), Some(1), "{}", stderr(&serve));
    assert!(
        stderr(&serve).contains(&format!("tftp.listen udp 127.0.0.1:{port}")),
        "{}",
        stderr(&serve)
    );
}
