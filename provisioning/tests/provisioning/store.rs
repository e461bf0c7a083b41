//! The store suite: each test runs on SQLite and on PostgreSQL.

use provisioning::import::{self, ImportOptions};
use provisioning::models::Model;
use provisioning::{ChangeSet, Device, Ha1, Inventory, Key, KeyKind, Mac, Store, User, UserId};
use sqlx::Row as _;

use crate::db::{TestDb, on_both_backends};

fn user(domain: &str, ext: &str, name: &str, password: Option<&str>) -> User {
    let mut user = User::new(UserId::new(domain, ext));
    user.first_name = name.to_owned();
    user.last_name = "Tester".to_owned();
    user.email = format!("{name}@{domain}").to_lowercase();
    user.ha1 = password.map(|p| Ha1::compute(ext, domain, p));
    user
}

fn line(position: u16, target: &str) -> Key {
    Key {
        position,
        kind: KeyKind::Line,
        line: position,
        target: target.to_owned(),
        label: String::new(),
    }
}

fn sample() -> Inventory {
    let mut inventory = Inventory::default();
    for domain in ["acme.example.com", "globex.example.com"] {
        inventory.domains.insert(domain.to_owned());
    }
    for u in [
        user("acme.example.com", "1001", "Alice", Some("alice-pw")),
        user("acme.example.com", "1002", "Bob", None),
        user("globex.example.com", "1001", "Weiß", Some("ünïcode")),
    ] {
        inventory.users.insert(u.id.clone(), u);
    }
    let mac: Mac = "00:04:f2:aa:bb:cc".parse().expect("mac");
    inventory.devices.insert(
        mac,
        Device {
            mac,
            model: Model::find("cisco-7960").expect("model"),
            domain: "acme.example.com".to_owned(),
            keys: vec![
                line(1, "1001"),
                line(2, "1002"),
                Key {
                    position: 3,
                    kind: KeyKind::Blf,
                    line: 1,
                    target: "1002".to_owned(),
                    label: "Bob".to_owned(),
                },
            ],
        },
    );
    inventory
}

async fn writes_and_reads_back(db: &TestDb) {
    let empty = db.store.load_inventory().await.expect("load");
    assert_eq!(empty, Inventory::default());
    let inventory = sample();
    db.store
        .apply(&ChangeSet::between(&empty, &inventory))
        .await
        .expect("apply");
    assert_eq!(db.store.load_inventory().await.expect("load"), inventory);
    let alice = UserId::new("acme.example.com", "1001");
    assert_eq!(
        db.store.user(&alice).await.expect("user").as_ref(),
        inventory.users.get(&alice)
    );
    assert!(
        db.store
            .user(&UserId::new("acme.example.com", "9999"))
            .await
            .expect("user")
            .is_none()
    );
    let mac: Mac = "0004f2aabbcc".parse().expect("mac");
    assert_eq!(
        db.store.device(&mac).await.expect("device").as_ref(),
        inventory.devices.get(&mac)
    );
}

async fn updates_and_removals(db: &TestDb) {
    let before = sample();
    db.store
        .apply(&ChangeSet::between(&Inventory::default(), &before))
        .await
        .expect("apply");
    let mut after = before.clone();
    let bob = UserId::new("acme.example.com", "1002");
    after.users.get_mut(&bob).expect("bob").ha1 =
        Some(Ha1::compute("1002", "acme.example.com", "x"));
    after.users.get_mut(&bob).expect("bob").department = "Support".to_owned();
    let mac: Mac = "0004f2aabbcc".parse().expect("mac");
    let device = after.devices.get_mut(&mac).expect("device");
    device.keys.retain(|k| k.target != "1002");
    device.model = Model::find("cisco-7965").expect("model");
    let other: Mac = "001b54ca499b".parse().expect("mac");
    after.devices.insert(
        other,
        Device {
            mac: other,
            model: Model::find("avaya-1140e").expect("model"),
            domain: "globex.example.com".to_owned(),
            keys: vec![line(1, "1001")],
        },
    );
    let changes = ChangeSet::between(&before, &after);
    assert_eq!(changes.users_updated.len(), 1);
    assert_eq!(changes.devices_updated.len(), 1);
    assert_eq!(changes.devices_added.len(), 1);
    db.store.apply(&changes).await.expect("apply");
    assert_eq!(db.store.load_inventory().await.expect("load"), after);

    let mut removed = after.clone();
    removed.devices.remove(&mac);
    db.store
        .apply(&ChangeSet::between(&after, &removed))
        .await
        .expect("apply");
    assert_eq!(db.store.load_inventory().await.expect("load"), removed);
    let orphans = sqlx::query("SELECT COUNT(*) AS n FROM device_keys WHERE mac = $1")
        .bind(mac.to_string())
        .fetch_one(db.store.pool())
        .await
        .expect("count");
    assert_eq!(orphans.try_get::<i64, _>("n").expect("n"), 0);
}

async fn a_failed_change_writes_nothing(db: &TestDb) {
    let inventory = sample();
    db.store
        .apply(&ChangeSet::between(&Inventory::default(), &inventory))
        .await
        .expect("apply");
    // A new user in a domain the change set does not create violates the foreign key, after other
    // rows of the same change set were written.
    let mut changes = ChangeSet::default();
    changes.domains_added.push("initech.example.com".to_owned());
    changes
        .users_added
        .push(user("initech.example.com", "2001", "Peter", None));
    changes
        .users_added
        .push(user("nowhere.example.com", "2002", "Milton", None));
    assert!(db.store.apply(&changes).await.is_err());
    assert_eq!(db.store.load_inventory().await.expect("load"), inventory);
}

async fn reopening_keeps_everything(db: &TestDb) {
    let inventory = sample();
    db.store
        .apply(&ChangeSet::between(&Inventory::default(), &inventory))
        .await
        .expect("apply");
    // Opening again runs the migrations again: nothing is lost, nothing fails.
    let again = Store::open(&db.url).await.expect("reopen");
    assert_eq!(again.load_inventory().await.expect("load"), inventory);
    again.close().await;
}

async fn import_is_idempotent_and_keeps_no_clear_password(db: &TestDb) {
    let csv = "domain,extension,first_name,last_name,password,mac,model,line,blf\n\
               acme.example.com,1001,Alice,Martin,CorrectHorse1,00:04:f2:aa:bb:cc,cisco-7960,1,1002;1003\n\
               acme.example.com,1002,Bob,Dupont,CorrectHorse2,00:04:f2:aa:bb:cc,cisco-7960,2,\n\
               acme.example.com,1003,Chen,Li,CorrectHorse3,001b.baf8.820d,avaya-1140e,,\n";
    let options = ImportOptions {
        default_domain: "crossbar.local".to_owned(),
    };
    let current = db.store.load_inventory().await.expect("load");
    let plan = import::plan(csv.as_bytes(), &current, &options).expect("accepted");
    db.store.apply(&plan.changes).await.expect("apply");
    let loaded = db.store.load_inventory().await.expect("load");
    assert_eq!(loaded, plan.after);
    let second = import::plan(csv.as_bytes(), &loaded, &options).expect("accepted");
    assert!(second.changes.is_empty(), "{}", second.changes);

    let rows = sqlx::query(
        "SELECT domain, extension, first_name, last_name, display_name, email, department, \
         voicemail, ha1_md5, ha1_sha256 FROM users",
    )
    .fetch_all(db.store.pool())
    .await
    .expect("users");
    assert_eq!(rows.len(), 3);
    for row in rows {
        for i in 0..10 {
            let value: Option<String> = row.try_get(i).expect("column");
            assert!(
                !value.unwrap_or_default().contains("CorrectHorse"),
                "a clear password reached the store"
            );
        }
        let ext: String = row.try_get("extension").expect("extension");
        let md5: String = row.try_get("ha1_md5").expect("md5");
        let n = ext.chars().last().expect("digit");
        assert_eq!(
            md5,
            Ha1::compute(&ext, "acme.example.com", &format!("CorrectHorse{n}")).md5
        );
    }
}

async fn the_device_inventory_holds_only_the_users_keys_name(db: &TestDb) {
    let mut inventory = sample();
    let carol = user("acme.example.com", "1003", "Carol", Some("carol-pw"));
    inventory.users.insert(carol.id.clone(), carol);
    db.store
        .apply(&ChangeSet::between(&Inventory::default(), &inventory))
        .await
        .expect("apply");
    let loaded = db.store.load_device_inventory().await.expect("load");
    assert_eq!(loaded.domains, inventory.domains);
    assert_eq!(loaded.devices, inventory.devices);
    // 1001 and 1002 of acme are on the 7960's keys; acme's 1003 is on none, and globex's 1001 has
    // the extension of a key but not the device's domain.
    let users: Vec<_> = loaded.users.keys().cloned().collect();
    assert_eq!(
        users,
        [
            UserId::new("acme.example.com", "1001"),
            UserId::new("acme.example.com", "1002")
        ]
    );
    assert_eq!(
        loaded.users.get(&UserId::new("acme.example.com", "1001")),
        inventory
            .users
            .get(&UserId::new("acme.example.com", "1001"))
    );
}

async fn every_inventory_write_moves_the_fingerprint(db: &TestDb) {
    let start = db.store.inventory_fingerprint().await.expect("fingerprint");
    let inventory = sample();
    db.store
        .apply(&ChangeSet::between(&Inventory::default(), &inventory))
        .await
        .expect("apply");
    let imported = db.store.inventory_fingerprint().await.expect("fingerprint");
    assert_ne!(imported, start);
    // Nothing written: the fingerprint stays, so the servers polling it reload nothing.
    assert_eq!(
        db.store.inventory_fingerprint().await.expect("fingerprint"),
        imported
    );
    // A changed display name only (same count of users, and within the same second).
    let mut renamed = inventory.clone();
    let id = UserId::new("acme.example.com", "1002");
    if let Some(u) = renamed.users.get_mut(&id) {
        u.first_name = "Robert".to_owned();
    }
    db.store
        .apply(&ChangeSet::between(&inventory, &renamed))
        .await
        .expect("apply");
    assert_ne!(
        db.store.inventory_fingerprint().await.expect("fingerprint"),
        imported
    );
    // A failed write leaves it where it was.
    let before_failure = db.store.inventory_fingerprint().await.expect("fingerprint");
    let mut bad = ChangeSet::default();
    bad.users_added
        .push(user("nowhere.example.com", "2002", "Milton", None));
    assert!(db.store.apply(&bad).await.is_err());
    assert_eq!(
        db.store.inventory_fingerprint().await.expect("fingerprint"),
        before_failure
    );
}

on_both_backends!(
    every_inventory_write_moves_the_fingerprint,
    the_device_inventory_holds_only_the_users_keys_name,
    writes_and_reads_back,
    updates_and_removals,
    a_failed_change_writes_nothing,
    reopening_keeps_everything,
    import_is_idempotent_and_keeps_no_clear_password,
);
