//! The location table and credentials on both backends: replace-per-AOR in one transaction, expiry,
//! reload after reopening.

use provisioning::store::{AorBindings, RegistrationRow};
use provisioning::{ChangeSet, Ha1, Inventory, User, UserId};

use crate::db::{TestDb, on_both_backends};

fn row(domain: &str, ext: &str, contact: &str, expires_at: i64, q: i64) -> RegistrationRow {
    RegistrationRow {
        domain: domain.to_owned(),
        extension: ext.to_owned(),
        contact: contact.to_owned(),
        expires_at,
        q,
        call_id: "a84b4c76e66710".to_owned(),
        cseq: 3,
        path: vec![
            "<sip:edge.example.com;lr>".to_owned(),
            "<sip:p2.example.com;lr;x=\"a,b\">".to_owned(),
        ],
        transport: "udp".to_owned(),
        received: "192.0.2.7:5060".to_owned(),
        user_agent: "sipp".to_owned(),
        owner: String::new(),
    }
}

async fn bindings_replace_per_aor_and_expire(db: &TestDb) {
    let store = &db.store;
    let acme = AorBindings {
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

on_both_backends!(bindings_replace_per_aor_and_expire, credentials_and_domains);
