//! Bulk import and export, against in-memory inventories.

use provisioning::import::{self, ImportOptions, Plan, Problem, Rejection, Warning};
use provisioning::mac::{MacError, MacWarning};
use provisioning::{ChangeSet, Ha1, Inventory, KeyKind, Mac, UserId};

fn options() -> ImportOptions {
    ImportOptions {
        default_domain: "crossbar.local".to_owned(),
    }
}

fn accept(csv: &str, current: &Inventory) -> Plan {
    import::plan(csv.as_bytes(), current, &options()).unwrap_or_else(|r| panic!("rejected:\n{r}"))
}

fn reject(csv: &str, current: &Inventory) -> Rejection {
    match import::plan(csv.as_bytes(), current, &options()) {
        Ok(plan) => panic!("accepted: {}", plan.changes),
        Err(rejection) => rejection,
    }
}

fn export(inventory: &Inventory) -> String {
    let mut out = Vec::new();
    provisioning::export::export(inventory, &mut out).expect("export");
    String::from_utf8(out).expect("utf-8")
}

fn mac(text: &str) -> Mac {
    text.parse().expect("mac")
}

/// A CSV, the line of its one problem, and a check of that problem.
type Case = (&'static str, u64, fn(&Problem) -> bool);

const HEADER: &str = "domain,extension,first_name,last_name,password,mac,model,line,blf";

#[test]
fn each_rejection_reason_is_reported_with_its_line() {
    let cases: Vec<Case> = vec![
        ("", 1, |p| *p == Problem::Empty),
        ("extension,nickname\n1001,x\n", 1, |p| {
            *p == Problem::UnknownColumn("nickname".into())
        }),
        ("extension,Extension\n1001,1002\n", 1, |p| {
            *p == Problem::DuplicateColumn("extension".into())
        }),
        ("first_name\nAlice\n", 1, |p| {
            *p == Problem::MissingColumn("extension")
        }),
        ("extension,first_name\n1001,Alice,extra\n", 2, |p| {
            *p == Problem::FieldCount {
                expected: 2,
                found: 3,
            }
        }),
        ("extension,first_name\n,Alice\n", 2, |p| {
            *p == Problem::Required("extension")
        }),
        ("extension\n10 01\n", 2, |p| {
            matches!(
                p,
                Problem::Invalid {
                    column: "extension",
                    ..
                }
            )
        }),
        ("domain,extension\nacme_corp.com,1001\n", 2, |p| {
            matches!(
                p,
                Problem::Invalid {
                    column: "domain",
                    ..
                }
            )
        }),
        ("extension,email\n1001,alice-at-acme\n", 2, |p| {
            matches!(
                p,
                Problem::Invalid {
                    column: "email",
                    ..
                }
            )
        }),
        (
            "extension,mac,model\n1001,00:04:f2:aa:bb,cisco-7960\n",
            2,
            |p| {
                matches!(
                    p,
                    Problem::Mac {
                        error: MacError::Length(10),
                        ..
                    }
                )
            },
        ),
        ("extension,mac,model\n1001,0004f2aabbcc,\n", 2, |p| {
            matches!(p, Problem::MacWithoutModel(_))
        }),
        (
            "extension,mac,model\n1001,0004f2aabbcc,cisco-7941-sccp\n",
            2,
            |p| *p == Problem::UnknownModel("cisco-7941-sccp".into()),
        ),
        (
            "extension,mac,model,line\n1001,0004f2aabbcc,cisco-7960,zero\n",
            2,
            |p| matches!(p, Problem::Invalid { column: "line", .. }),
        ),
        ("extension,mac,line\n1001,,2\n", 2, |p| {
            *p == Problem::NeedsMac("line")
        }),
        ("extension,mac,blf\n1001,,1002\n", 2, |p| {
            *p == Problem::NeedsMac("blf")
        }),
        ("extension,password\n1001,ha1:abcd:ef\n", 2, |p| {
            matches!(
                p,
                Problem::Invalid {
                    column: "password",
                    ..
                }
            )
        }),
        ("extension,first_name\n1001,Alice\n1001,Alicia\n", 3, |p| {
            matches!(p, Problem::DuplicateUser { first_line: 2, .. })
        }),
        (
            "extension,mac,model,line\n1001,0004f2aabbcc,cisco-7960,1\n1002,0004f2aabbcc,cisco-7960,1\n",
            3,
            |p| {
                matches!(
                    p,
                    Problem::LineClash {
                        line: 1,
                        first_line: 2,
                        ..
                    }
                )
            },
        ),
        (
            "extension,mac,model\n1001,0004f2aabbcc,cisco-7960\n1002,0004f2aabbcc,cisco-7965\n",
            3,
            |p| {
                matches!(
                    p,
                    Problem::DeviceMismatch {
                        field: "model",
                        first_line: 2,
                        ..
                    }
                )
            },
        ),
        (
            "domain,extension,mac,model\na.example.com,1001,0004f2aabbcc,cisco-7960\nb.example.com,1002,0004f2aabbcc,cisco-7960\n",
            3,
            |p| {
                matches!(
                    p,
                    Problem::DeviceMismatch {
                        field: "domain",
                        ..
                    }
                )
            },
        ),
        (
            "extension,mac,model,blf\n1001,0004f2aabbcc,cisco-7940,1002\n1002,0004f2aabbcc,cisco-7940,\n",
            3,
            |p| {
                matches!(
                    p,
                    Problem::TooManyKeys {
                        max: 2,
                        needed: 3,
                        ..
                    }
                )
            },
        ),
        (
            "extension,mac,model,line\n1001,0004f2aabbcc,cisco-7940,3\n",
            2,
            |p| {
                matches!(
                    p,
                    Problem::TooManyKeys {
                        max: 2,
                        needed: 3,
                        ..
                    }
                )
            },
        ),
        (
            "extension,mac,model,blf\n1001,0004f2aabbcc,cisco-7960,1009\n",
            2,
            |p| matches!(p, Problem::UnknownBlfTarget { .. }),
        ),
        ("extension,first_name\n1001,\"Alice\nSmith\"\n", 2, |p| {
            matches!(
                p,
                Problem::Invalid {
                    column: "first_name",
                    ..
                }
            )
        }),
        ("extension,first_name\n1001,\"Alice\n", 2, |p| {
            matches!(p, Problem::Syntax(_))
        }),
    ];
    for (csv, line, expected) in cases {
        let rejection = reject(csv, &Inventory::default());
        assert_eq!(rejection.problems.len(), 1, "{csv:?}:\n{rejection}");
        let problem = &rejection.problems[0];
        assert_eq!(problem.line, line, "{csv:?}: {problem}");
        assert!(expected(&problem.what), "{csv:?}: unexpected {problem}");
    }
}

#[test]
fn four_mistakes_are_all_listed_and_nothing_is_planned() {
    let csv = format!(
        "{HEADER}\n\
         acme.example.com,1001,Alice,Martin,pw1,00:04:f2:aa:bb:cc,cisco-7960,1,\n\
         acme.example.com,1002,Bob,Dupont,pw2,00:04:f2:aa:bb:zz,cisco-7960,2,\n\
         acme.example.com,1003,Chen,Li,pw3,00:1b:54:ca:49:9b,cisco-7999,,\n\
         acme.example.com,1001,Dana,Weiss,pw4,,,,\n\
         acme.example.com,1005,Eve,Nguyen,pw5,00:04:f2:aa:bb:cc,cisco-7960,1,\n"
    );
    let rejection = reject(&csv, &Inventory::default());
    let lines: Vec<u64> = rejection.problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [3, 4, 5, 6], "{rejection}");
    let text = rejection.to_string();
    for needle in [
        "line 3: mac \"00:04:f2:aa:bb:zz\"",
        "line 4: unknown model \"cisco-7999\"",
        "line 5: duplicate user 1001@acme.example.com: already on line 2",
        "line 6: line 1 of device 0004f2aabbcc is already taken by line 2",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

#[test]
fn the_shared_clusterpbx_sample_is_refused_for_its_unknown_columns() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/provisioning-examples/bulk/inventory-sample.csv"
    );
    let Ok(csv) = std::fs::read_to_string(path) else {
        assert!(std::env::var_os("CI").is_none(), "{path} missing");
        eprintln!("skipping: {path} not found");
        return;
    };
    let rejection = reject(&csv, &Inventory::default());
    assert_eq!(
        rejection
            .problems
            .iter()
            .map(|p| &p.what)
            .collect::<Vec<_>>(),
        [
            &Problem::UnknownColumn("Profile".into()),
            &Problem::UnknownColumn("Login".into())
        ]
    );
}

#[test]
fn a_clusterpbx_style_export_imports_as_is() {
    let csv = "Extension,First name,Last name,Email,Mac,Department,Password,Model\n\
               1001,Alice,Martin,alice@acme.example.com,00:1B:54:CA:49:9B,Sales,pw1,cisco-7941\n\
               1002,Bob,Dupont,bob@acme.example.com,001b.baf8.820d,Support,pw2,avaya-1140e\n\
               1003,\"Chen, Jr.\",Li,chen@acme.example.com,0004F2AABBCC,Sales,pw3,cisco-7960\n\
               1004,Dana,Weiß,dana@acme.example.com,00-1b-4f-aa-bb-cc,R&D,pw4,nortel-i2004\n\
               1005,Eve,Nguyen,eve@acme.example.com,,Support,pw5,\n";
    let plan = accept(csv, &Inventory::default());
    assert_eq!(plan.changes.domains_added, ["crossbar.local"]);
    assert_eq!(plan.changes.users_added.len(), 5);
    assert_eq!(plan.changes.devices_added.len(), 4);
    let chen = &plan.after.users[&UserId::new("crossbar.local", "1003")];
    assert_eq!(chen.first_name, "Chen, Jr.");
    assert_eq!(chen.department, "Sales");
    assert_eq!(
        chen.ha1,
        Some(Ha1::compute("1003", "crossbar.local", "pw3"))
    );
    let dana = &plan.after.devices[&mac("001b4faabbcc")];
    assert_eq!(dana.model.name, "nortel-i2004");
    assert_eq!(dana.keys[0].target, "1004");
}

#[test]
fn semicolons_a_byte_order_mark_and_sep_names_are_accepted() {
    let csv = "\u{feff}extension;first_name;mac;model;blf\n\
               1001;Alice;SEP0004F2AABBCC;cisco-7960;\"1002;1003\"\n\
               1002;Bob;;;\n1003;Chen;;;\n";
    let plan = accept(csv, &Inventory::default());
    assert_eq!(plan.warnings.len(), 1);
    assert_eq!(plan.warnings[0].line, 2);
    assert!(matches!(
        plan.warnings[0].what,
        Warning::Mac {
            warning: MacWarning::DeviceNamePrefix,
            ..
        }
    ));
    let device = &plan.after.devices[&mac("0004f2aabbcc")];
    let blf: Vec<(u16, &str)> = device
        .keys
        .iter()
        .filter(|k| k.kind == KeyKind::Blf)
        .map(|k| (k.position, k.target.as_str()))
        .collect();
    assert_eq!(blf, [(2, "1002"), (3, "1003")]);
}

#[test]
fn four_spellings_of_one_mac_are_one_device_with_four_lines() {
    let csv = "extension,mac,model\n\
               1001,00:04:f2:ab:cd:ef,cisco-7960\n\
               1002,00-04-F2-AB-CD-EF,cisco-7960\n\
               1003,0004.f2ab.cdef,cisco-7960\n\
               1004,0004F2ABCDEF,cisco-7960\n";
    let plan = accept(csv, &Inventory::default());
    assert_eq!(plan.after.devices.len(), 1);
    let lines: Vec<(u16, &str)> = plan.after.devices[&mac("0004f2abcdef")]
        .lines()
        .map(|k| (k.line, k.target.as_str()))
        .collect();
    assert_eq!(lines, [(1, "1001"), (2, "1002"), (3, "1003"), (4, "1004")]);
}

#[test]
fn explicit_lines_are_kept_and_the_rest_fill_the_gaps() {
    let csv = "extension,mac,model,line\n\
               1001,0004f2aabbcc,cisco-7960,3\n\
               1002,0004f2aabbcc,cisco-7960,\n\
               1003,0004f2aabbcc,cisco-7960,1\n\
               1004,0004f2aabbcc,cisco-7960,\n";
    let plan = accept(csv, &Inventory::default());
    let lines: Vec<(u16, &str)> = plan.after.devices[&mac("0004f2aabbcc")]
        .lines()
        .map(|k| (k.line, k.target.as_str()))
        .collect();
    assert_eq!(lines, [(1, "1003"), (2, "1002"), (3, "1001"), (4, "1004")]);
}

#[test]
fn upsert_sets_present_columns_and_keeps_the_others() {
    let first = accept(
        "extension,first_name,last_name,email,password,voicemail\n1001,Alice,Martin,alice@a.example,pw,8001\n",
        &Inventory::default(),
    );
    let id = UserId::new("crossbar.local", "1001");
    let second = accept(
        "extension,last_name,email,password\n1001,Martin-Durand,,\n",
        &first.after,
    );
    let user = &second.after.users[&id];
    assert_eq!(user.first_name, "Alice", "absent column kept");
    assert_eq!(user.voicemail, "8001", "absent column kept");
    assert_eq!(user.last_name, "Martin-Durand", "present column set");
    assert_eq!(user.email, "", "empty cell clears");
    assert_eq!(user.ha1, first.after.users[&id].ha1, "empty password keeps");
    assert_eq!(second.changes.users_updated.len(), 1);
    assert!(
        second
            .changes
            .to_string()
            .contains("~ user 1001@crossbar.local: last_name, email")
    );
}

#[test]
fn moving_a_user_empties_and_removes_its_old_device() {
    let first = accept(
        "extension,mac,model,blf\n1001,0004f2aabbcc,cisco-7960,1002\n1002,001b54ca499b,cisco-7941,\n",
        &Inventory::default(),
    );
    // 1001 moves to 1002's phone; its old phone is left without lines.
    let second = accept(
        "extension,mac,model,line\n1001,001b54ca499b,cisco-7941,2\n",
        &first.after,
    );
    assert_eq!(second.changes.devices_removed.len(), 1);
    assert_eq!(second.changes.devices_removed[0].mac, mac("0004f2aabbcc"));
    // 1002's phone is named in the file, so it has exactly the file's lines now.
    let lines: Vec<(u16, &str)> = second.after.devices[&mac("001b54ca499b")]
        .lines()
        .map(|k| (k.line, k.target.as_str()))
        .collect();
    assert_eq!(lines, [(2, "1001")]);
    // An empty mac takes a user off its device.
    let third = accept("extension,mac\n1001,\n", &second.after);
    assert!(third.after.devices.is_empty());
}

#[test]
fn export_then_import_changes_nothing() {
    let csv = format!(
        "{HEADER},display_name,email,department,voicemail\n\
         acme.example.com,1001,Alice,Martin,pw1,00:04:f2:aa:bb:cc,cisco-7960,1,1003;1002,Reception,alice@acme.example.com,Front desk,8001\n\
         acme.example.com,1002,Bob,Dupont,,00:04:f2:aa:bb:cc,cisco-7960,3,1001,,,,\n\
         acme.example.com,1003,\"Chen, Jr.\",Li,pw3,,,,,,,,\n\
         globex.example.com,1001,Weiß,Ünal,pw4,001b.baf8.820d,avaya-1140e,,,,,,\n"
    );
    let plan = accept(&csv, &Inventory::default());
    let exported = export(&plan.after);
    let again = accept(&exported, &plan.after);
    assert!(again.changes.is_empty(), "{}", again.changes);
    assert_eq!(export(&again.after), exported);
    // Imported into an empty inventory, the export rebuilds the same inventory.
    let fresh = accept(&exported, &Inventory::default());
    assert_eq!(fresh.after, plan.after);
    assert_eq!(
        ChangeSet::between(&Inventory::default(), &fresh.after),
        fresh.changes
    );
    let first_row = exported.lines().nth(1).expect("row");
    assert_eq!(
        first_row,
        format!(
            "acme.example.com,1001,Alice,Martin,Reception,{},alice@acme.example.com,Front desk,8001,0004f2aabbcc,cisco-7960,1,1003;1002",
            Ha1::compute("1001", "acme.example.com", "pw1").export_form()
        )
    );
}
