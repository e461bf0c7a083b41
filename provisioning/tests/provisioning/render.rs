//! Rendering: a golden file per model (every file a device of that model fetches, as `crossbar render`
//! prints them), XML well-formedness, shared files, and what unknown MACs get.
//!
//! Set `UPDATE_GOLDENS=1` to rewrite the goldens in `provisioning/tests/goldens/` after a deliberate
//! template change, then review the diff.

use std::collections::BTreeMap;
use std::path::PathBuf;

use provisioning::import::{self, ImportOptions};
use provisioning::models::MODELS;
use provisioning::render::{
    Catalog, Endpoint, Fetched, Firmware, ServerAddresses, Settings, device_bundle, listing,
    shared_bundle,
};
use provisioning::{Inventory, Mac};

pub(crate) fn servers() -> ServerAddresses {
    let at = |port| Endpoint {
        host: "192.0.2.10".to_owned(),
        port,
    };
    ServerAddresses {
        sccp: at(2000),
        unistim: at(5000),
        sip: at(5060),
        tftp: at(69),
        http: at(8080),
    }
}

pub(crate) fn settings() -> Settings {
    let mut s = Settings::default();
    s.ntp = Some("192.0.2.1".to_owned());
    s.time_zone = "W. Europe Standard/Daylight Time".to_owned();
    s.cisco_sip_time_zone = "CET".to_owned();
    s.loads = BTreeMap::from([
        ("cisco-7960".to_owned(), "P0030801SR02".to_owned()),
        ("cisco-7940".to_owned(), "P0030801SR02".to_owned()),
        ("cisco-7965".to_owned(), "SCCP45.9-4-2SR3-1S".to_owned()),
    ]);
    s.cisco_sip_image = Some("P0S3-8-12-00".to_owned());
    s.unistim_firmware = BTreeMap::from([(
        "1140E".to_owned(),
        Firmware {
            version: "0625C8A".to_owned(),
            filename: "1140e_0625C8A.bin".to_owned(),
        },
    )]);
    s.unistim_secondary = Some(Endpoint {
        host: "192.0.2.11".to_owned(),
        port: 5000,
    });
    s.voice_vlan = Some(20);
    s
}

/// The fixture MAC of the `n`-th model of the table.
pub(crate) fn mac_of(n: usize) -> Mac {
    Mac::from_octets([
        0x00,
        0x04,
        0xf2,
        0x10,
        0x00,
        u8::try_from(n + 1).expect("few models"),
    ])
}

/// One device of every model, each with two lines (one for single-line models is enough: two users
/// still fit every model), a busy-lamp key, names with characters that need escaping in XML.
pub(crate) fn fixture_csv() -> String {
    let mut csv =
        String::from("extension,first_name,last_name,voicemail,password,mac,model,line,blf\n");
    for (n, model) in MODELS.iter().enumerate() {
        let ext = 2000 + n * 2;
        let mac = mac_of(n);
        csv.push_str(&format!(
            "{ext},Ann & Bob,O'Neil <{n}>,8{ext},pw-{ext},{mac},{},1,{}\n",
            model.name,
            if model.max_keys() > 2 {
                (ext + 1).to_string()
            } else {
                String::new()
            }
        ));
        csv.push_str(&format!(
            "{},Carl,Dupont,,,{mac},{},2,\n",
            ext + 1,
            model.name
        ));
    }
    csv
}

pub(crate) fn fixture() -> Inventory {
    let plan = import::plan(
        fixture_csv().as_bytes(),
        &Inventory::default(),
        &ImportOptions {
            default_domain: "acme.example.com".to_owned(),
        },
    )
    .expect("fixture CSV imports");
    plan.after
}

pub(crate) fn catalog(inventory: &Inventory) -> Catalog {
    Catalog::new(
        inventory,
        templates::Templates::builtin().expect("templates"),
        servers(),
        settings(),
    )
    .with_line_secret(&LINE_SECRET)
}

/// The SIP line secret of the goldens (a store creates a random one).
pub(crate) const LINE_SECRET: provisioning::LineSecret =
    provisioning::LineSecret::from_bytes([0x5a; 32]);

fn goldens_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/goldens")
}

#[test]
fn every_model_matches_its_golden() {
    let catalog = catalog(&fixture());
    let update = std::env::var_os("UPDATE_GOLDENS").is_some();
    let mut failures = Vec::new();
    for (n, model) in MODELS.iter().enumerate() {
        let files = device_bundle(&catalog, &mac_of(n))
            .expect("renders")
            .expect("device in the fixture");
        assert!(!files.is_empty(), "{}: no files", model.name);
        let text = listing(&files);
        let path = goldens_dir().join(format!("{}.txt", model.name));
        if update {
            std::fs::create_dir_all(goldens_dir()).expect("mkdir");
            std::fs::write(&path, &text).expect("write golden");
            continue;
        }
        match std::fs::read(&path) {
            Ok(golden) if golden == text => {}
            Ok(_) => failures.push(format!(
                "{} differs from {} (UPDATE_GOLDENS=1 rewrites it); got:\n{}",
                model.name,
                path.display(),
                String::from_utf8_lossy(&text)
            )),
            Err(e) => failures.push(format!("{}: {e}", path.display())),
        }
    }
    let shared = listing(&shared_bundle(&catalog).expect("renders"));
    let path = goldens_dir().join("shared.txt");
    if update {
        std::fs::write(&path, &shared).expect("write golden");
    } else if std::fs::read(&path).ok().as_deref() != Some(&shared[..]) {
        failures.push(format!(
            "the shared files differ from {} (UPDATE_GOLDENS=1 rewrites it); got:\n{}",
            path.display(),
            String::from_utf8_lossy(&shared)
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn xml_files_are_well_formed_and_escaped() {
    let catalog = catalog(&fixture());
    let mut checked = 0;
    for (n, model) in MODELS.iter().enumerate() {
        for (name, file) in device_bundle(&catalog, &mac_of(n))
            .expect("renders")
            .expect("device")
        {
            if !file.content_type.starts_with("text/xml") {
                continue;
            }
            let text = std::str::from_utf8(&file.body).expect("UTF-8");
            assert!(
                text.starts_with("<?xml"),
                "{name}: the XML declaration must come first"
            );
            let doc = roxmltree::Document::parse(text)
                .unwrap_or_else(|e| panic!("{name} is not well-formed XML: {e}\n{text}"));
            let all_text: String = doc
                .descendants()
                .flat_map(|n| {
                    n.text()
                        .into_iter()
                        .map(str::to_owned)
                        .chain(n.attributes().map(|a| a.value().to_owned()))
                })
                .collect();
            if name.ends_with("-sip.cfg") || name.starts_with("SEP") && model.name.ends_with("-sip")
            {
                assert!(
                    all_text.contains("Ann & Bob O'Neil <"),
                    "{name}: the display name must survive escaping: {text}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 14, "only {checked} XML files checked");
    let shared: Vec<_> = shared_bundle(&catalog)
        .expect("renders")
        .into_iter()
        .filter(|(_, f)| f.content_type.starts_with("text/xml"))
        .collect();
    assert_eq!(shared.len(), 2, "XMLDefault.cnf.xml and 000000000000.cfg");
    for (name, file) in shared {
        let text = std::str::from_utf8(&file.body).expect("UTF-8");
        assert!(text.starts_with("<?xml"), "{name}");
        roxmltree::Document::parse(text)
            .unwrap_or_else(|e| panic!("{name} is not well-formed XML: {e}\n{text}"));
    }
}

#[test]
fn call_manager_is_our_sccp_listener() {
    let catalog = catalog(&fixture());
    let n = MODELS
        .iter()
        .position(|m| m.name == "cisco-7960")
        .expect("7960");
    let name = format!("SEP{}.cnf.xml", mac_of(n).to_string().to_ascii_uppercase());
    let Fetched::File(file) = catalog.render(&name, None).expect("render") else {
        panic!("{name} not rendered");
    };
    let doc =
        roxmltree::Document::parse(std::str::from_utf8(&file.body).expect("utf8")).expect("xml");
    let text_of = |tag: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name(tag))
            .and_then(|n| n.text())
            .map(str::to_owned)
    };
    assert_eq!(text_of("processNodeName").as_deref(), Some("192.0.2.10"));
    assert_eq!(text_of("ethernetPhonePort").as_deref(), Some("2000"));
    assert_eq!(text_of("loadInformation").as_deref(), Some("P0030801SR02"));
    assert!(!file.carries_credentials);
    assert_eq!(file.mac, Some(mac_of(n)));
    // The lower-case spelling and a leading slash reach the same file.
    assert_eq!(
        catalog
            .render(&format!("/{}", name.to_ascii_lowercase()), None)
            .expect("render"),
        Fetched::File(file)
    );
}

#[test]
fn unistim_files_name_both_servers_and_the_vlan() {
    let catalog = catalog(&fixture());
    let Fetched::File(system) = catalog.render("SYSTEM.PRV", None).expect("render") else {
        panic!("SYSTEM.PRV");
    };
    let text = std::str::from_utf8(&system.body).expect("utf8");
    for item in [
        "s1ip=192.0.2.10;",
        "p1=5000;",
        "a1=1;",
        "r1=10;",
        "s2ip=192.0.2.11;",
        "vq=y;",
    ] {
        assert!(text.contains(item), "{item} missing from {text}");
    }
    // Every parameter line ends with ';' (the phone ignores the file otherwise).
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        assert!(line.ends_with(';'), "{line:?}");
    }
    let Fetched::File(fw) = catalog.render("1140e.cfg", None).expect("render") else {
        panic!("1140e.cfg");
    };
    assert!(
        std::str::from_utf8(&fw.body)
            .expect("utf8")
            .contains("VERSION 0625C8A")
    );
    let Fetched::File(plain) = catalog.render("1120e.cfg", None).expect("render") else {
        panic!("1120e.cfg");
    };
    assert!(
        !std::str::from_utf8(&plain.body)
            .expect("utf8")
            .contains("[FW]")
    );
}

#[test]
fn credentials_are_never_rendered_for_unknown_macs() {
    let inventory = fixture();
    let catalog = catalog(&inventory);
    let unknown: Mac = "00:15:65:aa:bb:cc".parse().expect("mac");
    let up = unknown.to_string().to_ascii_uppercase();
    for name in [
        format!("SEP{up}.cnf.xml"),
        format!("SIP{up}.cnf"),
        format!("{unknown}.cfg"),
        format!("{unknown}-sip.cfg"),
        format!("{up}.PRV"),
    ] {
        match catalog.render(&name, Some("Yealink SIP-T46G 28.72.0.1 00:15:65:aa:bb:cc")) {
            Ok(Fetched::UnknownDevice { mac, model_guess }) => {
                assert_eq!(mac, unknown, "{name}");
                assert_eq!(model_guess, Some("yealink-t4x"), "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    // Files that carry credentials are exactly the SIP device files, and only inventory MACs get them.
    for (n, model) in MODELS.iter().enumerate() {
        for (name, file) in device_bundle(&catalog, &mac_of(n))
            .expect("render")
            .expect("device")
        {
            let sip_device_file = file.mac.is_some()
                && model.protocol == provisioning::Protocol::Sip
                && !(name.ends_with(".cfg")
                    && !name.ends_with("-sip.cfg")
                    && model.name == "polycom-vvx");
            assert_eq!(
                file.carries_credentials, sip_device_file,
                "{} {name}",
                model.name
            );
            assert!(
                inventory
                    .devices
                    .contains_key(&file.mac.unwrap_or_else(|| mac_of(n)))
            );
        }
    }
}

#[test]
fn a_known_mac_asking_for_another_familys_file_gets_nothing() {
    let catalog = catalog(&fixture());
    let n = MODELS
        .iter()
        .position(|m| m.name == "avaya-1140e")
        .expect("1140e");
    let up = mac_of(n).to_string().to_ascii_uppercase();
    assert_eq!(
        catalog
            .render(&format!("SEP{up}.cnf.xml"), None)
            .expect("render"),
        Fetched::NotFound
    );
    assert_eq!(
        catalog
            .render(&format!("{}.cfg", mac_of(n)), None)
            .expect("render"),
        Fetched::NotFound
    );
    assert_eq!(
        catalog
            .render("CTLSEP0004F2100001.tlv", None)
            .expect("render"),
        Fetched::NotFound
    );
    assert_eq!(
        catalog.render("../etc/passwd", None).expect("render"),
        Fetched::NotFound
    );
}

#[test]
fn etags_follow_the_bytes() {
    let inventory = fixture();
    let a = catalog(&inventory);
    let b = catalog(&inventory);
    let n = MODELS
        .iter()
        .position(|m| m.name == "yealink-t4x")
        .expect("yealink");
    let name = format!("{}.cfg", mac_of(n));
    let (Fetched::File(x), Fetched::File(y)) = (
        a.render(&name, None).expect("a"),
        b.render(&name, None).expect("b"),
    ) else {
        panic!("not rendered");
    };
    assert_eq!(x.etag, y.etag);
    let mut renamed = inventory;
    let user = renamed
        .users
        .values_mut()
        .find(|u| u.id.extension == format!("{}", 2000 + n * 2))
        .expect("user");
    user.display_name = "Someone Else".to_owned();
    let Fetched::File(z) = catalog(&renamed).render(&name, None).expect("c") else {
        panic!("not rendered");
    };
    assert_ne!(x.etag, z.etag);
    assert!(
        std::str::from_utf8(&z.body)
            .expect("utf8")
            .contains("Someone Else")
    );
}

#[test]
fn overrides_replace_a_builtin_and_typos_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("unistim")).expect("mkdir");
    std::fs::write(
        dir.path().join("unistim/SYSTEM.PRV.j2"),
        "s1ip={{ s1.ip }};\np1={{ s1.port }};\nmenulock=f;\n",
    )
    .expect("write");
    let templates = templates::Templates::with_overrides(dir.path()).expect("overrides");
    assert_eq!(templates.overridden(), ["unistim/SYSTEM.PRV.j2"]);
    let catalog = Catalog::new(&fixture(), templates, servers(), settings());
    let Fetched::File(file) = catalog.render("SYSTEM.PRV", None).expect("render") else {
        panic!("SYSTEM.PRV");
    };
    assert_eq!(&file.body[..], b"s1ip=192.0.2.10;\np1=5000;\nmenulock=f;\n");

    std::fs::write(
        dir.path().join("unistim/SYSTEM.PRV.j2"),
        "s1ip={{ s1.addr }};\n",
    )
    .expect("write");
    let strict = Catalog::new(
        &fixture(),
        templates::Templates::with_overrides(dir.path()).expect("compiles"),
        servers(),
        settings(),
    );
    assert!(
        strict.render("SYSTEM.PRV", None).is_err(),
        "an unknown variable must fail, not render empty"
    );

    std::fs::write(dir.path().join("unistim/SYSTEM.prv.j2"), "x").expect("write");
    let err = templates::Templates::with_overrides(dir.path()).expect_err("typo refused");
    assert!(err.to_string().contains("SYSTEM.prv.j2"), "{err}");
}
