use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

fn problems(text: &str) -> Vec<String> {
    match Config::parse(text, Some(Path::new("/etc/crossbar/crossbar.toml"))) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(ConfigError::Invalid { problems, .. }) => {
            problems.iter().map(ToString::to_string).collect()
        }
        Err(e) => panic!("{e}"),
    }
}

fn parse(text: &str) -> Config {
    Config::parse(text, Some(Path::new("/etc/crossbar/crossbar.toml")))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn empty_file_is_the_defaults() {
    let config = parse("");
    let mut defaults = Config::defaults(Path::new("/etc/crossbar"));
    defaults.origin = Some(PathBuf::from("/etc/crossbar/crossbar.toml"));
    assert_eq!(config, defaults);
    assert_eq!(config.store.url, "sqlite:///etc/crossbar/crossbar.db");
    assert_eq!(config.tftp.root, Path::new("/etc/crossbar/firmware"));
    assert_eq!(config.sccp.keepalive, Duration::from_secs(30));
    assert_eq!(config.sip.default_domain, "crossbar.local");
    assert_eq!(config.sip.listen.len(), 2);
}

#[test]
fn every_example_config_parses() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).expect("examples/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            Config::load(Some(&path)).unwrap_or_else(|e| panic!("{e}"));
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} example configs");
}

#[test]
fn the_full_example_is_the_defaults() {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/crossbar.toml"
    ));
    let config = Config::load(Some(path)).expect("example");
    let base = std::path::absolute(path.parent().expect("dir")).expect("absolute");
    let mut defaults = Config::defaults(&base);
    defaults.origin = config.origin.clone();
    assert_eq!(
        config, defaults,
        "examples/crossbar.toml drifted from the defaults"
    );
}

#[test]
fn unknown_keys_and_sections_are_named() {
    let found = problems("[sip]\nlisten = []\nlisen = 5\n\n[sccpp]\nx = 1\n");
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].starts_with("3:1: sip.lisen: unknown key"),
        "{found:?}"
    );
    assert!(
        found[1].starts_with("5:2: sccpp: unknown section"),
        "{found:?}"
    );
}

#[test]
fn every_problem_is_listed_with_its_place() {
    let text = r#"
[store]
url = "mysql://db/crossbar"

[sip]
listen = ["udp:0.0.0.0:5060", "sctp:0.0.0.0:5060", "tcp:nowhere"]
default_domain = "bad_domain"
upstream = "http://pbx"

[sccp]
keepalive_secs = 1

[media]
mode = "bridge"
rtp_ports = "40000-30000"

[dialplan]
interdigit_ms = "4000"
"#;
    let found = problems(text);
    let expected = [
        "3:7: store.url",
        "6:31: sip.listen[1]",
        "6:52: sip.listen[2]",
        "7:18: sip.default_domain",
        "8:12: sip.upstream",
        "11:18: sccp.keepalive_secs",
        "14:8: media.mode",
        "15:13: media.rtp_ports",
        "18:17: dialplan.interdigit_ms: expected an integer, found a string",
    ];
    assert_eq!(found.len(), expected.len(), "{found:#?}");
    for (problem, prefix) in found.iter().zip(expected) {
        assert!(
            problem.starts_with(prefix),
            "{problem:?} should start {prefix:?}"
        );
    }
}

#[test]
fn syntax_errors_are_reported_with_their_place() {
    let found = problems("[sip\nlisten = 1\n");
    assert!(!found.is_empty());
    assert!(found[0].starts_with("1:"), "{found:?}");
}

#[test]
fn a_section_that_is_not_a_table_is_refused() {
    let found = problems("sip = 5\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("expected a table [sip]"), "{found:?}");
}

#[test]
fn listeners_that_cannot_all_bind_are_refused() {
    let found = problems(
        "[sip]\nlisten = [\"tcp:127.0.0.1:2000\", \"udp:0.0.0.0:20000\"]\n\
         [sccp]\nlisten = \"0.0.0.0:2000\"\n\
         [media]\nrtp_ports = \"20000-20999\"\n",
    );
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found
            .iter()
            .any(|p| p.contains("sip.listen[1]: udp port 20000 lies inside"))
    );
    assert!(
        found
            .iter()
            .any(|p| p == "sccp.listen: tcp 0.0.0.0:2000 is also taken by sip.listen[0]")
    );
    // Port 0 (tests) and different protocols never conflict.
    parse(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\", \"tcp:127.0.0.1:0\"]\n[sccp]\nlisten = \"127.0.0.1:0\"\n",
    );
    parse(
        "[sip]\nlisten = [\"udp:127.0.0.1:5000\"]\n[sccp]\nlisten = \"127.0.0.1:5000\"\n[unistim]\nlisten = \"127.0.0.1:5001\"\n",
    );
}

#[test]
fn values_are_read() {
    let config = parse(
        r#"
[store]
url = "postgres://crossbar:secret@db.example.com/crossbar"
[sip]
listen = ["udp:[::1]:5070"]
default_domain = "Acme.Example.COM"
advertised_address = "192.0.2.10"
upstream = "sip:[2001:db8::1]:5060;transport=tcp"
rate_limit = 0
[sccp]
listen = "127.0.0.1:2001"
keepalive_secs = 60
[media]
mode = "direct"
rtp_ports = "10000-10099"
[dialplan]
interdigit_ms = 2500
"#,
    );
    assert_eq!(
        config.store.url,
        "postgres://crossbar:secret@db.example.com/crossbar"
    );
    assert_eq!(config.sip.listen[0].to_string(), "udp:[::1]:5070");
    assert_eq!(config.sip.default_domain, "acme.example.com");
    assert_eq!(config.sip.advertised_address.as_deref(), Some("192.0.2.10"));
    assert!(config.sip.upstream.is_some());
    assert_eq!(config.sip.rate_limit, 0);
    assert_eq!(parse("").sip.rate_limit, sip::DEFAULT_RATE_LIMIT);
    assert!(problems("[sip]\nrate_limit = -1\n")[0].contains("sip.rate_limit"));
    assert_eq!(config.sccp.keepalive, Duration::from_secs(60));
    assert_eq!(config.media.mode, MediaMode::Direct);
    assert_eq!(config.media.rtp_ports, 10000..=10099);
    assert_eq!(config.dialplan.interdigit, Duration::from_millis(2500));
}

#[test]
fn sqlite_paths_are_taken_from_the_config_directory() {
    assert_eq!(
        parse("[store]\nurl = \"sqlite://data/fleet.db?cache=shared\"\n")
            .store
            .url,
        "sqlite:///etc/crossbar/data/fleet.db?cache=shared"
    );
    assert_eq!(
        parse("[store]\nurl = \"sqlite:///var/lib/crossbar/x.db\"\n")
            .store
            .url,
        "sqlite:///var/lib/crossbar/x.db"
    );
    assert!(problems("[store]\nurl = \"sqlite::memory:\"\n")[0].contains("needs a file path"));
}

#[test]
fn a_missing_file_is_a_read_error() {
    let err = Config::load(Some(Path::new("/nonexistent/crossbar.toml"))).expect_err("missing");
    assert!(matches!(err, ConfigError::Read { .. }), "{err}");
}

#[test]
fn provisioning_templates_directory_is_taken_from_the_config_directory() {
    assert_eq!(parse("").provisioning.templates, None);
    let config = parse("[provisioning]\ntemplates = \"phone-templates\"\n");
    assert_eq!(
        config.provisioning.templates.as_deref(),
        Some(Path::new("/etc/crossbar/phone-templates"))
    );
    let absolute = parse("[provisioning]\ntemplates = \"/srv/templates\"\n");
    assert_eq!(
        absolute.provisioning.templates.as_deref(),
        Some(Path::new("/srv/templates"))
    );
    let found = problems("[provisioning]\ntemplates = \"\"\ntemplate = \"x\"\n");
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].contains("provisioning.templates"), "{found:?}");
    assert!(
        found[1].contains("provisioning.template: unknown key"),
        "{found:?}"
    );
}
