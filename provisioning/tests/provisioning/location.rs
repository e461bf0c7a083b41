//! The location table and credentials on both backends: replace-per-AOR in one transaction, expiry,
//! reload after reopening.

use provisioning::store::{AorBindings, RegistrationRow, SetChange};
use provisioning::{ChangeSet, Ha1, Inventory, User, UserId};

use crate::db::{TestDb, on_both_backends};

fn row(domain: &str, ext: &str, contact: &str, expires_at: i64, q: i64) -> RegistrationRow {
    RegistrationRow {
        domain: domain.to_owned(),
        extension: ext.to_owned(),
        contact: contact.into(),
        expires_at,
        q,
        call_id: "a84b4c76e66710".into(),
        cseq: 3,
        path: vec![
            "<sip:edge.example.com;lr>".to_owned(),
            "<sip:p2.example.com;lr;x=\"a,b\">".to_owned(),
        ],
        transport: "udp".into(),
        received: "192.0.2.7:5060".into(),
        user_agent: "sipp".into(),
        owner: "".into(),
    }
}

async fn bindings_replace_per_aor_and_expire(db: &TestDb) {
    let store = &db.store;
    let acme = AorBindings {
        change: SetChange::Pruned,
        domain: "acme.example.com".to_owned(),
        extension: "1001".to_owned(),
        rows: vec![
            row(
                "acme.example.com",
                "1001",
                "sip:1001@192.0.2.7:5060",
                2_000,
                1000,
            ),
            row(
                "acme.example.com",
                "1001",
                "sip:1001@198.51.100.9:5062",
                1_500,
                500,
            ),
        ],
    };
    let globex = AorBindings {
        change: SetChange::Pruned,
        domain: "globex.example.com".to_owned(),
        extension: "1001".to_owned(),
        rows: vec![row(
            "globex.example.com",
            "1001",
            "sip:1001@203.0.113.5",
            900,
            1000,
        )],
    };
    store
        .write_registrations(&[acme.clone(), globex.clone()])
        .await
        .unwrap();
    let all = store.load_registrations(0).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(
        all[0], acme.rows[0],
        "sorted by AOR, then q descending; every column kept"
    );
    // Replacing an AOR's set leaves the other domain's same extension alone.
    let fewer = AorBindings {
        rows: vec![acme.rows[1].clone()],
        ..acme.clone()
    };
    store.write_registrations(&[fewer]).await.unwrap();
    let all = store.load_registrations(0).await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().any(|r| r.domain == "globex.example.com"));
    // A refresh without pruning rewrites its rows and leaves any other row of the AOR alone: the
    // SIP core sends one only when no contact of the AOR went away.
    let mut refreshed = acme.rows[0].clone();
    refreshed.cseq += 1;
    store
        .write_registrations(&[AorBindings {
            rows: vec![refreshed.clone()],
            change: SetChange::Upserted,
            ..acme.clone()
        }])
        .await
        .unwrap();
    let all = store.load_registrations(0).await.unwrap();
    assert_eq!(all.len(), 3, "the other acme row stays: {all:?}");
    assert!(all.contains(&refreshed));
    // The same write with pruning takes the other row away again.
    store
        .write_registrations(&[AorBindings {
            rows: vec![acme.rows[1].clone()],
            ..acme.clone()
        }])
        .await
        .unwrap();
    assert_eq!(store.load_registrations(0).await.unwrap().len(), 2);
    // Expired bindings are not loaded, and the sweep deletes them.
    assert_eq!(store.load_registrations(1_000).await.unwrap().len(), 1);
    assert_eq!(store.delete_expired_registrations(1_000).await.unwrap(), 1);
    assert_eq!(store.load_registrations(0).await.unwrap().len(), 1);
    // An empty set removes the AOR.
    store
        .write_registrations(&[AorBindings {
            rows: Vec::new(),
            ..acme
        }])
        .await
        .unwrap();
    assert!(store.load_registrations(0).await.unwrap().is_empty());
}

fn aor(ext: &str, rows: Vec<RegistrationRow>) -> AorBindings {
    AorBindings {
        domain: "acme.example.com".to_owned(),
        extension: ext.to_owned(),
        rows,
        change: SetChange::Pruned,
    }
}

/// AOR `n` of acme.example.com with one binding to `contact`.
fn one_contact(n: usize, contact: &str) -> AorBindings {
    let ext = n.to_string();
    aor(
        &ext,
        vec![row("acme.example.com", &ext, contact, 2_000, 1000)],
    )
}

fn sorted(mut rows: Vec<RegistrationRow>) -> Vec<RegistrationRow> {
    rows.sort_by(|a, b| (&a.extension, &a.contact).cmp(&(&b.extension, &b.contact)));
    rows
}

/// A write replaces the set: a refreshed binding is updated in place, a contact that went away is
/// deleted, a new one added, and an AOR not in the write is left alone.
async fn refresh_updates_removes_and_adds_contacts(db: &TestDb) {
    let store = &db.store;
    let contacts = [
        "sip:1001@192.0.2.1",
        "sip:1001@192.0.2.2",
        "sip:1001@192.0.2.3",
    ];
    let three: Vec<_> = contacts
        .iter()
        .map(|c| row("acme.example.com", "1001", c, 2_000, 1000))
        .collect();
    let other = vec![row(
        "acme.example.com",
        "1002",
        "sip:1002@192.0.2.9",
        2_000,
        1000,
    )];
    store
        .write_registrations(&[aor("1001", three.clone()), aor("1002", other.clone())])
        .await
        .unwrap();
    // One REGISTER refreshes the first contact with a new Call-ID, removes the second and adds one.
    let mut refreshed = three[0].clone();
    refreshed.call_id = "new-call-id".into();
    refreshed.cseq = 1;
    refreshed.expires_at = 3_000;
    refreshed.path = Vec::new();
    refreshed.q = 700;
    let added = row(
        "acme.example.com",
        "1001",
        "sip:1001@192.0.2.4",
        2_500,
        1000,
    );
    let now = vec![refreshed, three[2].clone(), added];
    store
        .write_registrations(&[aor("1001", now.clone())])
        .await
        .unwrap();
    let mut want = now.clone();
    want.extend(other.clone());
    assert_eq!(
        sorted(store.load_registrations(0).await.unwrap()),
        sorted(want)
    );
    // The same set written again (a retransmission, a second hand-over) changes nothing.
    store
        .write_registrations(&[aor("1001", now.clone())])
        .await
        .unwrap();
    assert_eq!(store.load_registrations(0).await.unwrap().len(), 4);
    // A changed contact (the phone moved) replaces the old one.
    let moved = vec![row(
        "acme.example.com",
        "1002",
        "sip:1002@203.0.113.1",
        2_000,
        1000,
    )];
    store
        .write_registrations(&[aor("1002", moved.clone())])
        .await
        .unwrap();
    let mut want = now;
    want.extend(moved);
    assert_eq!(
        sorted(store.load_registrations(0).await.unwrap()),
        sorted(want)
    );
}

/// A refresh writes only the expiry, Call-ID and CSeq, in place, for every statement size; a refreshed
/// binding the store does not have (an earlier write was lost) is written whole.
async fn refreshes_update_in_place_and_insert_what_is_missing(db: &TestDb) {
    let store = &db.store;
    // 637 AORs: every statement size of the writer (500 + 100 + 25 + 5 + 5 + 1 + 1).
    let first: Vec<_> = (0..637)
        .map(|n| one_contact(n, &format!("sip:{n}@192.0.2.1")))
        .collect();
    store.write_registrations(&first).await.unwrap();
    let refresh = |set: &AorBindings, n: usize| {
        let mut rows = set.rows.clone();
        for r in &mut rows {
            r.expires_at = 3_000 + i64::try_from(n).unwrap();
            r.call_id = format!("refresh-{n}").into();
            r.cseq = 9;
        }
        AorBindings {
            rows,
            change: SetChange::Refreshed,
            ..set.clone()
        }
    };
    let second: Vec<_> = first
        .iter()
        .enumerate()
        .map(|(n, set)| refresh(set, n))
        .collect();
    store.write_registrations(&second).await.unwrap();
    let want: Vec<RegistrationRow> = second.iter().flat_map(|s| s.rows.clone()).collect();
    assert_eq!(
        sorted(store.load_registrations(0).await.unwrap()),
        sorted(want.clone()),
        "expiry, Call-ID and CSeq moved; every other column kept"
    );
    // Only those three are written: a refresh is sent only when nothing else changed.
    let mut other_agent = refresh(&second[7], 7_000);
    other_agent.rows[0].user_agent = "another agent".into();
    store.write_registrations(&[other_agent]).await.unwrap();
    let stored = store.load_registrations(0).await.unwrap();
    let seven = stored.iter().find(|r| r.extension == "7").unwrap();
    assert_eq!((seven.expires_at, &*seven.user_agent), (10_000, "sipp"));
    store.write_registrations(&second[7..8]).await.unwrap();
    // Two AORs' rows are gone from the store (a failed write, say): their refreshes, in one write
    // with others, put them back whole.
    store
        .write_registrations(&[aor("5", Vec::new()), aor("600", Vec::new())])
        .await
        .unwrap();
    assert_eq!(store.load_registrations(0).await.unwrap().len(), 635);
    let third: Vec<_> = second
        .iter()
        .enumerate()
        .map(|(n, set)| refresh(set, n + 1_000))
        .collect();
    store.write_registrations(&third).await.unwrap();
    let want: Vec<RegistrationRow> = third.iter().flat_map(|s| s.rows.clone()).collect();
    assert_eq!(
        sorted(store.load_registrations(0).await.unwrap()),
        sorted(want)
    );
}

/// Writes of every statement size the writer uses (637 AORs: 500 + 100 + 25 + 5 + 5 + 1 + 1), then a
/// rewrite of every other AOR with a changed contact and of every third with none, survive closing
/// and reopening the store.
async fn large_writes_survive_reopening(db: &TestDb) {
    let contact = |n: usize, round: &str| format!("sip:{n}@{round}.example.com");
    let set = |n: usize, round: &str| one_contact(n, &contact(n, round));
    let first: Vec<_> = (0..637).map(|n| set(n, "a")).collect();
    db.store.write_registrations(&first).await.unwrap();
    assert_eq!(db.store.load_registrations(0).await.unwrap().len(), 637);
    let second: Vec<_> = (0..637)
        .filter(|n| n % 2 == 0 || n % 3 == 0)
        .map(|n| {
            if n % 3 == 0 {
                aor(&n.to_string(), Vec::new())
            } else {
                set(n, "b")
            }
        })
        .collect();
    db.store.write_registrations(&second).await.unwrap();
    let want: Vec<RegistrationRow> = (0..637)
        .filter(|n| n % 3 != 0)
        .flat_map(|n| set(n, if n % 2 == 0 { "b" } else { "a" }).rows)
        .collect();
    db.store.close().await;
    let reopened = provisioning::Store::open(&db.url).await.unwrap();
    assert_eq!(
        sorted(reopened.load_registrations(0).await.unwrap()),
        sorted(want)
    );
    reopened.close().await;
}

async fn credentials_and_domains(db: &TestDb) {
    let mut inventory = Inventory::default();
    for d in ["acme.example.com", "globex.example.com"] {
        inventory.domains.insert(d.to_owned());
    }
    let mut alice = User::new(UserId::new("acme.example.com", "1001"));
    alice.ha1 = Some(Ha1::compute("1001", "acme.example.com", "pw"));
    let bob = User::new(UserId::new("globex.example.com", "2002"));
    for u in [alice, bob] {
        inventory.users.insert(u.id.clone(), u);
    }
    db.store
        .apply(&ChangeSet::between(&Inventory::default(), &inventory))
        .await
        .unwrap();
    assert_eq!(
        db.store.domains().await.unwrap(),
        vec!["acme.example.com", "globex.example.com"]
    );
    let mut creds = db.store.credentials().await.unwrap();
    creds.sort_by(|a, b| a.domain.cmp(&b.domain));
    assert_eq!(creds.len(), 2);
    assert_eq!(
        creds[0].ha1,
        Some(Ha1::compute("1001", "acme.example.com", "pw"))
    );
    assert_eq!(creds[1].ha1, None);
}

on_both_backends!(
    bindings_replace_per_aor_and_expire,
    refresh_updates_removes_and_adds_contacts,
    refreshes_update_in_place_and_insert_what_is_missing,
    large_writes_survive_reopening,
    credentials_and_domains
);
