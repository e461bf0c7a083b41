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
sip_latching = "any"
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
    assert_eq!(
        parse("").sip.invite_timeout_secs,
        sip::DEFAULT_INVITE_TIMEOUT_SECS
    );
    assert_eq!(
        parse("[sip]\ninvite_timeout_secs = 30\n")
            .sip
            .invite_timeout_secs,
        30
    );
    assert!(problems("[sip]\ninvite_timeout_secs = 0\n")[0].contains("sip.invite_timeout_secs"));
    assert_eq!(config.sccp.keepalive, Duration::from_secs(60));
    assert_eq!(config.media.mode, MediaMode::Direct);
    assert_eq!(config.media.rtp_ports, 10000..=10099);
    assert_eq!(config.media.sip_latching, SipLatching::Any);
    assert_eq!(parse("").media.sip_latching, SipLatching::SameIp);
    assert!(problems("[media]\nsip_latching = \"sometimes\"\n")[0].contains("media.sip_latching"));
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
fn provisioning_safe_defaults_are_read_and_checked() {
    let defaults = parse("");
    assert!(defaults.provisioning.allow.is_empty());
    assert!(defaults.provisioning.allow_by_domain.is_empty());
    assert_eq!(defaults.provisioning.unknown_burst, 20);
    assert_eq!(defaults.provisioning.unknown_per_minute, 30);
    let config = parse(
        r#"
[provisioning]
allow = ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]
unknown_burst = 5
unknown_per_minute = 2
[provisioning.allow_by_domain]
"Acme.Example.com" = ["10.1.0.0/16"]
"beta.example.com" = []
"#,
    );
    let p = &config.provisioning;
    assert_eq!(
        p.allow.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]
    );
    assert_eq!(p.unknown_burst, 5);
    assert_eq!(p.unknown_per_minute, 2);
    assert_eq!(p.allow_by_domain.len(), 2);
    assert_eq!(p.allow_by_domain[0].0, "acme.example.com");
    assert_eq!(p.allow_by_domain[0].1[0].to_string(), "10.1.0.0/16");
    assert!(p.allow_by_domain[1].1.is_empty());

    let found = problems(
        r#"[provisioning]
allow = ["10.0.0.0/33", "10.1.2.3/16", "office"]
unknown_burst = 0
unknown_per_minute = "fast"
[provisioning.allow_by_domain]
"not a domain" = ["10.0.0.0/8"]
"acme.example.com" = ["10.0.0.0/8", 7]
"beta.example.com" = "10.0.0.0/8"
"#,
    );
    assert_eq!(found.len(), 8, "{found:#?}");
    assert!(
        found[0].contains("provisioning.allow[0]") && found[0].contains("0..=32"),
        "{found:?}"
    );
    assert!(
        found[1].contains("provisioning.allow[1]") && found[1].contains("did you mean 10.1.0.0/16"),
        "{found:?}"
    );
    assert!(found[2].contains("provisioning.allow[2]"), "{found:?}");
    assert!(
        found[3].contains("provisioning.unknown_burst") && found[3].contains("out of range"),
        "{found:?}"
    );
    assert!(
        found[4].contains("provisioning.unknown_per_minute") && found[4].contains("an integer"),
        "{found:?}"
    );
    assert!(
        found[5].contains("provisioning.allow_by_domain.not a domain")
            && found[5].contains("not a domain name"),
        "{found:?}"
    );
    assert!(
        found[6].contains("provisioning.allow_by_domain.acme.example.com[1]"),
        "{found:?}"
    );
    assert!(
        found[7].contains("provisioning.allow_by_domain.beta.example.com")
            && found[7].contains("array"),
        "{found:?}"
    );
    assert!(problems("[provisioning]\nallow_by_domain = 3\n")[0].contains("expected a table"));
    assert!(problems("[provisioning]\nallow_list = []\n")[0].contains("unknown key"));
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

#[test]
fn provisioning_site_settings_are_read_and_checked() {
    let defaults = parse("").provisioning.site;
    assert_eq!(defaults, ::provisioning::render::Settings::default());
    let config = parse(
        r#"
[provisioning]
time_zone = "W. Europe Standard/Daylight Time"
cisco_sip_time_zone = "CET"
ntp = "ntp.example.com"
voice_vlan = 20
unistim_secondary = "192.0.2.11"
unistim_retry = 4
cisco_sip_image = "P0S3-8-12-00"
polycom_app_file = "sip-6.4.ld"
[provisioning.loads]
"Cisco-7960" = "P0030801SR02"
"cisco-7961-sip" = "SIP41.9-4-2SR3-1S"
[provisioning.unistim_firmware]
"1140e" = "0625C8A:1140e_0625C8A.bin"
"#,
    );
    let site = &config.provisioning.site;
    assert_eq!(site.time_zone, "W. Europe Standard/Daylight Time");
    assert_eq!(site.cisco_sip_time_zone, "CET");
    assert_eq!(site.ntp.as_deref(), Some("ntp.example.com"));
    assert_eq!(site.voice_vlan, Some(20));
    let s2 = site.unistim_secondary.as_ref().expect("s2");
    assert_eq!((s2.host.as_str(), s2.port), ("192.0.2.11", 5000));
    assert_eq!(site.unistim_retry, 4);
    assert_eq!(site.cisco_sip_image.as_deref(), Some("P0S3-8-12-00"));
    assert_eq!(site.polycom_app_file, "sip-6.4.ld");
    assert_eq!(
        site.loads.get("cisco-7960").map(String::as_str),
        Some("P0030801SR02")
    );
    assert_eq!(site.loads.len(), 2);
    let fw = site
        .unistim_firmware
        .get("1140E")
        .expect("type name as the models spell it");
    assert_eq!(
        (fw.version.as_str(), fw.filename.as_str()),
        ("0625C8A", "1140e_0625C8A.bin")
    );
    let with_port = parse("[provisioning]\nunistim_secondary = \"[2001:db8::5]:5100\"\n");
    let s2 = with_port.provisioning.site.unistim_secondary.expect("s2");
    assert_eq!((s2.host.as_str(), s2.port), ("2001:db8::5", 5100));

    let found = problems(
        r#"[provisioning]
time_zone = ""
ntp = "ntp server"
voice_vlan = 4095
unistim_secondary = "s2.example.com"
unistim_retry = 0
cisco_sip_image = "P0S3\"x"
polycom_app_file = 7
[provisioning.loads]
"cisco-9999" = "X"
"cisco-7960" = "has space"
[provisioning.unistim_firmware]
"1140E" = "0625C8A"
"2099" = "a:b"
"#,
    );
    assert_eq!(found.len(), 11, "{found:#?}");
    for (i, (key, what)) in [
        ("provisioning.time_zone", "1 to 128"),
        ("provisioning.ntp", "host name"),
        ("provisioning.voice_vlan", "1..=4094"),
        ("provisioning.unistim_secondary", "no host names"),
        ("provisioning.unistim_retry", "1..=255"),
        ("provisioning.cisco_sip_image", "not allowed"),
        ("provisioning.polycom_app_file", "a string"),
        ("provisioning.loads.cisco-9999", "not a Cisco model"),
        ("provisioning.loads.cisco-7960", "not allowed"),
        ("provisioning.unistim_firmware.1140E", "VERSION:FILE"),
        ("provisioning.unistim_firmware.2099", "not a UNIStim type"),
    ]
    .into_iter()
    .enumerate()
    {
        assert!(
            found[i].contains(key) && found[i].contains(what),
            "{i}: {key} / {what}: {found:#?}"
        );
    }
    assert!(problems("[provisioning]\nloads = \"P003\"\n")[0].contains("expected a table"));
    assert!(problems("[provisioning]\ntimezone = \"CET\"\n")[0].contains("unknown key"));
}
