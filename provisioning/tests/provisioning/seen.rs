//! Seen devices, reset requests and the store-backed renderer, on both backends.

use std::time::Duration;

use provisioning::render::{Fetched, Renderer};
use provisioning::{ChangeSet, Inventory, Mac, Protocol, SeenDevice, SeenVia};

use crate::db::{TestDb, on_both_backends};
use crate::render::{fixture, mac_of, servers, settings};

fn sighting(mac: &str, via: SeenVia) -> SeenDevice {
    SeenDevice {
        mac: mac.parse().expect("mac"),
        model_guess: None,
        protocol: None,
        address: Some("192.0.2.50".to_owned()),
        source: via,
        user_agent: None,
    }
}

async fn seen_devices_upsert(db: &TestDb) {
    let store = &db.store;
    let mut first = sighting("00:04:f2:aa:bb:cc", SeenVia::Tftp);
    first.model_guess = Some("cisco-7960".to_owned());
    first.protocol = Some(Protocol::Sccp);
    store.record_seen(&first, 1_000).await.expect("record");
    // A later sighting without a guess keeps the guess, updates address, via and last_seen.
    let mut again = sighting("0004f2aabbcc", SeenVia::Sccp);
    again.address = Some("192.0.2.51:51234".to_owned());
    store.record_seen(&again, 1_060).await.expect("record");
    // An out-of-order older report moves first_seen back but not last_seen.
    store
        .record_seen(&sighting("0004f2aabbcc", SeenVia::Http), 990)
        .await
        .expect("record");
    store
        .record_seen(&sighting("001565000001", SeenVia::Http), 1_030)
        .await
        .expect("record");

    let rows = store.seen_devices(false).await.expect("list");
    assert_eq!(rows.len(), 2, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row.seen.mac.to_string(), "0004f2aabbcc");
    assert_eq!(row.seen.model_guess.as_deref(), Some("cisco-7960"));
    assert_eq!(row.seen.protocol, Some(Protocol::Sccp));
    assert_eq!(row.seen.address.as_deref(), Some("192.0.2.50"));
    assert_eq!(row.seen.source, SeenVia::Http);
    assert_eq!(
        (row.first_seen, row.last_seen, row.sightings),
        (990, 1_060, 3)
    );
    assert!(!row.in_inventory);
    assert_eq!(rows[1].seen.mac.to_string(), "001565000001");

    // Once the MAC is in the inventory, --unknown no longer lists it.
    let inventory = fixture();
    store
        .apply(&ChangeSet::between(&Inventory::default(), &inventory))
        .await
        .expect("apply");
    store
        .record_seen(&sighting(&mac_of(0).to_string(), SeenVia::Sccp), 1_100)
        .await
        .expect("record");
    let all = store.seen_devices(false).await.expect("list");
    assert_eq!(all.len(), 3);
    assert!(all[0].in_inventory);
    let unknown = store.seen_devices(true).await.expect("list");
    assert_eq!(unknown.len(), 2);
    assert!(unknown.iter().all(|r| !r.in_inventory));
}

async fn reset_requests_are_taken_once(db: &TestDb) {
    let store = &db.store;
    assert!(store.take_reset_requests().await.expect("take").is_empty());
    let a: Mac = "0004f2000002".parse().expect("mac");
    let b: Mac = "0004f2000001".parse().expect("mac");
    store.request_resets(&[a], 10).await.expect("request");
    store.request_resets(&[b, a], 20).await.expect("request");
    store.request_resets(&[], 30).await.expect("nothing");
    let taken = store.take_reset_requests().await.expect("take");
    assert_eq!(taken.len(), 2);
    assert!(taken.contains(&a) && taken.contains(&b));
    assert!(store.take_reset_requests().await.expect("take").is_empty());
}

/// The SIP line secret is created once and read alike by every node on the store; forgetting it makes
/// the next reader create another, and a renderer puts passwords derived from it in SIP phones' files.
async fn line_secret_is_shared_by_nodes_and_reaches_sip_files(db: &TestDb) {
    assert_eq!(db.store.stored_line_secret().await.expect("read"), None);
    let first = db.store.line_secret().await.expect("created");
    let other_node = provisioning::Store::open(&db.url)
        .await
        .expect("second node");
    assert_eq!(other_node.line_secret().await.expect("read"), first);
    assert_eq!(
        db.store.stored_line_secret().await.expect("read"),
        Some(first.clone())
    );
    // A Polycom of the fixture gets its line password derived from the store's secret.
    let inventory = fixture();
    db.store
        .apply(&ChangeSet::between(&Inventory::default(), &inventory))
        .await
        .expect("import");
    let polycom = inventory
        .devices
        .values()
        .find(|d| d.model.name == "polycom-vvx")
        .expect("fixture has a Polycom");
    let line = polycom.lines().next().expect("a line");
    let expected = first.line_password(&polycom.domain, &line.target, polycom.mac);
    let templates = templates::Templates::builtin().expect("templates");
    let renderer = Renderer::with_settings(other_node.clone(), templates, servers(), settings())
        .await
        .expect("renderer");
    let name = format!("{}-sip.cfg", polycom.mac);
    let Fetched::File(file) = renderer.fetch(&name, None, None).await.expect("render") else {
        panic!("{name} renders");
    };
    let body = String::from_utf8_lossy(&file.body).into_owned();
    assert!(
        body.contains(&format!("reg.1.auth.password=\"{expected}\"")),
        "{body}"
    );
    drop(renderer);
    // Rotation: forgotten, the next reader creates a different one.
    db.store.forget_line_secret().await.expect("forget");
    let second = other_node.line_secret().await.expect("re-created");
    assert_ne!(second, first);
    assert_eq!(db.store.line_secret().await.expect("read"), second);
    other_node.close().await;
}

async fn wait_for<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn renderer_serves_the_snapshot_and_records_strangers(db: &TestDb) {
    let store = db.store.clone();
    let templates = templates::Templates::builtin().expect("templates");
    let renderer = Renderer::with_settings(store.clone(), templates, servers(), settings())
        .await
        .expect("renderer");
    let n = provisioning::MODELS
        .iter()
        .position(|m| m.name == "yealink-t4x")
        .expect("yealink");
    let name = format!("{}.cfg", mac_of(n));
    let ip = "192.0.2.77".parse().ok();
    // Not in the inventory yet: no file, a seen row, and only one row for a burst of requests.
    for _ in 0..50 {
        let got = renderer
            .fetch(
                &name,
                ip,
                Some("Yealink SIP-T46G 28.72.0.1 00:04:f2:10:00:1d"),
            )
            .await
            .expect("fetch");
        assert!(
            matches!(
                got,
                Fetched::UnknownDevice {
                    model_guess: Some("yealink-t4x"),
                    ..
                }
            ),
            "{got:?}"
        );
    }
    assert!(
        wait_for(|| async { !store.seen_devices(true).await.expect("list").is_empty() }).await,
        "the unknown device was not recorded"
    );
    let rows = store.seen_devices(true).await.expect("list");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].sightings, 1,
        "a burst must be throttled to one write"
    );
    assert_eq!(rows[0].seen.source, SeenVia::Http);
    assert_eq!(rows[0].seen.address.as_deref(), Some("192.0.2.77"));
    assert_eq!(rows[0].seen.protocol, Some(Protocol::Sip));

    // Imported: refresh() makes it visible at once, with its credentials-bearing file.
    store
        .apply(&ChangeSet::between(&Inventory::default(), &fixture()))
        .await
        .expect("apply");
    renderer.refresh().await.expect("refresh");
    let Fetched::File(file) = renderer.fetch(&name, ip, None).await.expect("fetch") else {
        panic!("{name} not served after import");
    };
    assert!(file.carries_credentials);
    assert_eq!(file.content_type, "text/plain; charset=utf-8");
    assert!(store.seen_devices(true).await.expect("list").is_empty());

    // A change in the store is picked up by the background refresh without refresh().
    let mut changed = fixture();
    let user = changed
        .users
        .values_mut()
        .find(|u| u.id.extension == (2000 + n * 2).to_string())
        .expect("user");
    user.display_name = "Renamed Person".to_owned();
    tokio::time::sleep(Duration::from_millis(1100)).await; // a new updated_at second
    store
        .apply(&ChangeSet::between(&fixture(), &changed))
        .await
        .expect("apply");
    assert!(
        wait_for(|| async {
            matches!(renderer.fetch(&name, ip, None).await,
                Ok(Fetched::File(f)) if std::str::from_utf8(&f.body).is_ok_and(|t| t.contains("Renamed Person")))
        })
        .await,
        "the background refresh did not pick the change up"
    );

    // Without a User-Agent the request counts as TFTP, and a .PRV file says UNIStim.
    let stranger: Mac = "0004f2ffff01".parse().expect("mac");
    let got = renderer
        .fetch("0004F2FFFF01.PRV", ip, None)
        .await
        .expect("fetch");
    assert_eq!(
        got,
        Fetched::UnknownDevice {
            mac: stranger,
            model_guess: None
        }
    );
    assert!(
        wait_for(|| async {
            store
                .seen_devices(true)
                .await
                .expect("list")
                .iter()
                .any(|r| r.seen.mac == stranger)
        })
        .await,
        "the UNIStim stranger was not recorded"
    );
    let rows = store.seen_devices(true).await.expect("list");
    let row = rows.iter().find(|r| r.seen.mac == stranger).expect("row");
    assert_eq!(row.seen.protocol, Some(Protocol::Unistim));
    assert_eq!(row.seen.source, SeenVia::Tftp);
}

on_both_backends!(
    seen_devices_upsert,
    reset_requests_are_taken_once,
    line_secret_is_shared_by_nodes_and_reaches_sip_files,
    renderer_serves_the_snapshot_and_records_strangers
);
