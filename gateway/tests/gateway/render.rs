//! `crossbar render`, `crossbar devices [--unknown [--csv]]` and `crossbar import --reset-changed`.

use provisioning::{Mac, SeenDevice, SeenVia, Store};

use crate::support::{Scratch, stderr, stdout};

const FLEET: &str = "extension,first_name,last_name,mac,model\n\
                     1001,Alice,Martin,00:04:f2:aa:bb:cc,cisco-7960\n\
                     1002,Bob,Stone,001b4f0a0b0c,avaya-1140e\n\
                     1003,Chen,Li,001565aabbcc,yealink-t4x\n";

/// Announce the SCCP and UNIStim listeners on real ports (render binds nothing).
fn with_real_ports(scratch: &Scratch) {
    let text = std::fs::read_to_string(&scratch.config).expect("config");
    let text = text
        .replace(
            "[sccp]\nlisten = \"127.0.0.1:0\"",
            "[sccp]\nlisten = \"127.0.0.1:2000\"",
        )
        .replace(
            "[unistim]\nlisten = \"127.0.0.1:0\"",
            "[unistim]\nlisten = \"127.0.0.1:5000\"",
        );
    std::fs::write(&scratch.config, text).expect("config");
}

/// The scratch store, opened directly.
async fn store_of(scratch: &Scratch) -> Store {
    let text = std::fs::read_to_string(&scratch.config).expect("config");
    let url = text
        .lines()
        .find_map(|l| l.strip_prefix("url = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("store url");
    let url = match url.strip_prefix("sqlite://") {
        Some(path) => provisioning::store::sqlite_url(&scratch.dir.path().join(path)),
        None => url.to_owned(),
    };
    Store::open(&url).await.expect("open the scratch store")
}

fn import(scratch: &Scratch, name: &str, csv: &str, extra: &[&str]) -> String {
    let path = scratch.write(name, csv);
    let mut args = vec!["import", path.to_str().expect("path")];
    args.extend_from_slice(extra);
    let output = scratch.run(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}

async fn render_shows_what_phones_get(scratch: &Scratch) {
    with_real_ports(scratch);
    import(scratch, "fleet.csv", FLEET, &[]);

    let all = scratch.run(&["render", "00:04:f2:aa:bb:cc"]);
    assert!(all.status.success(), "{}", stderr(&all));
    let text = stdout(&all);
    assert!(
        text.starts_with("==> SEP0004F2AABBCC.cnf.xml <==\n<?xml"),
        "{text}"
    );
    assert_eq!(
        text.matches("==> ").count(),
        1,
        "a known 7960 fetches only its own file: {text}"
    );
    assert!(
        text.contains("<processNodeName>127.0.0.1</processNodeName>"),
        "{text}"
    );
    assert!(
        text.contains("<ethernetPhonePort>2000</ethernetPhonePort>"),
        "{text}"
    );

    let nortel = stdout(&scratch.run(&["render", "001B4F0A0B0C"]));
    for header in ["SYSTEM.PRV", "1140E.PRV", "001B4F0A0B0C.PRV", "1140e.cfg"] {
        assert!(
            nortel.contains(&format!("==> {header} <==\n")),
            "{header}: {nortel}"
        );
    }
    assert!(
        nortel.contains("s1ip=127.0.0.1;\np1=5000;\na1=1;"),
        "{nortel}"
    );

    let one = scratch.run(&["render", "SEP0004F2AABBCC", "sep0004f2aabbcc.cnf.xml"]);
    assert!(one.status.success(), "{}", stderr(&one));
    assert!(
        stdout(&one).starts_with("<?xml"),
        "a single file has no header line"
    );

    let unknown = scratch.run(&["render", "00:04:f2:00:00:01"]);
    assert_eq!(unknown.status.code(), Some(65), "{}", stderr(&unknown));
    assert!(
        stderr(&unknown).contains("0004f2000001 is not in the inventory"),
        "{}",
        stderr(&unknown)
    );
    assert!(stdout(&unknown).is_empty());

    let bad = scratch.run(&["render", "not-a-mac"]);
    assert_eq!(bad.status.code(), Some(64));
    let wrong_file = scratch.run(&["render", "0004f2aabbcc", "001B4F0A0B0C.PRV"]);
    assert_eq!(wrong_file.status.code(), Some(64));
    assert!(
        stderr(&wrong_file).contains("its files: SEP0004F2AABBCC.cnf.xml (and the shared"),
        "{}",
        stderr(&wrong_file)
    );
}

async fn reset_changed_requests_only_changed_devices(scratch: &Scratch) {
    import(scratch, "fleet.csv", FLEET, &[]);
    // Alice's name is not in a 7960's file (SCCP lines come over SCCP); Chen's is in the Yealink's.
    let renamed = FLEET
        .replace("Alice,Martin", "Alicia,Martin")
        .replace("Chen,Li", "Chen,Wang");
    let dry = import(
        scratch,
        "renamed.csv",
        &renamed,
        &["--reset-changed", "--dry-run"],
    );
    assert!(
        dry.contains("would request a reset of 1 device: 001565aabbcc"),
        "{dry}"
    );
    let store = store_of(scratch).await;
    assert!(
        store.take_reset_requests().await.expect("take").is_empty(),
        "a dry run wrote"
    );

    let out = import(scratch, "renamed.csv", &renamed, &["--reset-changed"]);
    assert!(
        out.contains("reset requested for 1 device: 001565aabbcc"),
        "{out}"
    );
    let mac: Mac = "001565aabbcc".parse().expect("mac");
    assert_eq!(store.take_reset_requests().await.expect("take"), vec![mac]);

    // A model change rewrites the Cisco file; an unchanged import requests nothing.
    let swapped = renamed.replace("cisco-7960", "cisco-7965");
    let out = import(scratch, "swapped.csv", &swapped, &["--reset-changed"]);
    assert!(
        out.contains("reset requested for 1 device: 0004f2aabbcc"),
        "{out}"
    );
    let again = import(scratch, "swapped.csv", &swapped, &["--reset-changed"]);
    assert!(again.contains("reset requested for 0 devices\n"), "{again}");
    store.close().await;
}

async fn unknown_devices_are_listed_and_adopted(scratch: &Scratch) {
    import(scratch, "fleet.csv", FLEET, &[]);
    let store = store_of(scratch).await;
    let stranger: Mac = "0004f2123456".parse().expect("mac");
    for (mac, via, guess) in [
        (stranger, SeenVia::Tftp, Some("cisco-7965")),
        ("001b4f0a0b0c".parse().expect("mac"), SeenVia::Unistim, None),
    ] {
        store
            .record_seen(
                &SeenDevice {
                    mac,
                    model_guess: guess.map(str::to_owned),
                    protocol: None,
                    address: Some("192.0.2.61".to_owned()),
                    source: via,
                    user_agent: None,
                },
                1_796_083_199,
            )
            .await
            .expect("record");
    }
    store.close().await;

    let listed = stdout(&scratch.run(&["devices", "--unknown"]));
    let rows: Vec<&str> = listed.lines().collect();
    assert_eq!(rows.len(), 2, "only the stranger is unknown: {listed}");
    for field in [
        "0004f2123456",
        "cisco-7965",
        "192.0.2.61",
        "2026-11-30 23:59:59Z",
        "tftp",
    ] {
        assert!(rows[1].contains(field), "{field} missing: {listed}");
    }
    let csv = stdout(&scratch.run(&["devices", "--unknown", "--csv"]));
    assert_eq!(
        csv,
        "extension,first_name,last_name,mac,model\n,,,0004f2123456,cisco-7965\n"
    );

    // Completing the row and importing it adopts the phone.
    import(
        scratch,
        "adopt.csv",
        &csv.replace(",,,0004f2123456", "1004,Dana,,0004f2123456"),
        &[],
    );
    assert_eq!(
        stdout(&scratch.run(&["devices", "--unknown"]))
            .lines()
            .count(),
        1
    );
    let devices = stdout(&scratch.run(&["devices"]));
    assert_eq!(devices.lines().count(), 5, "{devices}");
    let line = devices
        .lines()
        .find(|l| l.starts_with("0004f2123456"))
        .expect("adopted");
    assert!(
        line.contains("cisco-7965") && line.contains("sccp") && line.contains("0/1 lines"),
        "{line}"
    );
    let bad = scratch.run(&["devices", "--csv"]);
    assert_eq!(bad.status.code(), Some(64), "--csv needs --unknown");
}

#[test]
fn operator_templates_replace_built_in_ones_and_broken_ones_are_config_errors() {
    let scratch = Scratch::sqlite();
    let dir = scratch.path("phone-templates/unistim");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("SYSTEM.PRV.j2"),
        "s1ip={{ s1.ip }};\np1={{ s1.port }};\nmenulock=f;\n",
    )
    .expect("write");
    let text = std::fs::read_to_string(&scratch.config).expect("config");
    std::fs::write(
        &scratch.config,
        format!("{text}\n[provisioning]\ntemplates = \"phone-templates\"\n"),
    )
    .expect("config");
    let check = scratch.run(&["check-config"]);
    assert!(check.status.success(), "{}", stderr(&check));
    import(&scratch, "fleet.csv", FLEET, &[]);
    let out = scratch.run(&["render", "001b4f0a0b0c", "SYSTEM.PRV"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "s1ip=127.0.0.1;\np1=0;\nmenulock=f;\n");

    // A misnamed override and a broken one are reported by check-config, with exit 64.
    std::fs::write(dir.join("SYSTEM.prv.j2"), "x").expect("write");
    let misnamed = scratch.run(&["check-config"]);
    assert_eq!(misnamed.status.code(), Some(64), "{}", stderr(&misnamed));
    assert!(
        stderr(&misnamed).contains("SYSTEM.prv.j2"),
        "{}",
        stderr(&misnamed)
    );
    std::fs::remove_file(dir.join("SYSTEM.prv.j2")).expect("rm");
    std::fs::write(dir.join("SYSTEM.PRV.j2"), "s1ip={{ s1.ip ;\n").expect("write");
    let broken = scratch.run(&["check-config"]);
    assert_eq!(broken.status.code(), Some(64), "{}", stderr(&broken));
    assert!(
        stderr(&broken).contains("SYSTEM.PRV.j2"),
        "{}",
        stderr(&broken)
    );
}

#[test]
fn site_settings_of_the_config_reach_the_rendered_files() {
    let scratch = Scratch::sqlite();
    let text = std::fs::read_to_string(&scratch.config).expect("config");
    std::fs::write(
        &scratch.config,
        format!(
            "{text}\n[provisioning]\ntime_zone = \"Tokyo Standard Time\"\nntp = \"198.51.100.123\"\n\
             voice_vlan = 321\nunistim_secondary = \"198.51.100.77:5077\"\nunistim_retry = 3\n\
             [provisioning.loads]\n\"cisco-7960\" = \"P00308010400\"\n\
             [provisioning.unistim_firmware]\n\"1140E\" = \"0C00AB1:1140e_0C00AB1.bin\"\n"
        ),
    )
    .expect("config");
    let check = scratch.run(&["check-config"]);
    assert!(check.status.success(), "{}", stderr(&check));
    import(&scratch, "fleet.csv", FLEET, &[]);

    let cisco = stdout(&scratch.run(&["render", "0004f2aabbcc", "SEP0004F2AABBCC.cnf.xml"]));
    for want in [
        "<timeZone>Tokyo Standard Time</timeZone>",
        "198.51.100.123",
        "<loadInformation>P00308010400</loadInformation>",
    ] {
        assert!(cisco.contains(want), "{want}: {cisco}");
    }
    let prv = stdout(&scratch.run(&["render", "001b4f0a0b0c", "001B4F0A0B0C.PRV"]));
    for want in ["s2ip=198.51.100.77;", "p2=5077;", "r1=3;", "VLAN-A:321."] {
        assert!(prv.contains(want), "{want}: {prv}");
    }
    let cfg = stdout(&scratch.run(&["render", "001b4f0a0b0c", "1140e.cfg"]));
    assert!(
        cfg.contains("0C00AB1") && cfg.contains("1140e_0C00AB1.bin"),
        "{cfg}"
    );
    let yealink = stdout(&scratch.run(&["render", "001565aabbcc"]));
    for want in [
        "local_time.ntp_server1 = 198.51.100.123",
        "network.vlan.internet_port_vid = 321",
    ] {
        assert!(yealink.contains(want), "{want}: {yealink}");
    }
    // The Yealink's line has its derived SIP password; the 7960 (SCCP) carries none.
    assert!(yealink.contains("account.1.password = "), "{yealink}");
    assert!(!cisco.to_ascii_lowercase().contains("password"), "{cisco}");

    // A bad value is a config problem naming the key.
    std::fs::write(
        &scratch.config,
        format!(
            "{text}\n[provisioning]\nvoice_vlan = 5000\nunistim_secondary = \"s2.example.com\"\n"
        ),
    )
    .expect("config");
    let bad = scratch.run(&["check-config"]);
    assert_eq!(bad.status.code(), Some(64), "{}", stderr(&bad));
    for want in ["provisioning.voice_vlan", "provisioning.unistim_secondary"] {
        assert!(stderr(&bad).contains(want), "{want}: {}", stderr(&bad));
    }
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name(&crate::support::Scratch::sqlite()).await;
                }

                #[tokio::test]
                async fn postgres() {
                    let Some(scratch) = crate::support::Scratch::postgres().await else { return };
                    super::$name(&scratch).await;
                    scratch.finish().await;
                }
            }
        )*
    };
}

on_both_backends!(
    render_shows_what_phones_get,
    reset_changed_requests_only_changed_devices,
    unknown_devices_are_listed_and_adopted
);
