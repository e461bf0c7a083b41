//! Per-line features (forwarding, DND) on both backends.

use provisioning::UserId;
use provisioning::store::LineFeatures;

use crate::db::{TestDb, on_both_backends};

async fn features_round_trip(db: &TestDb) {
    let alice = UserId::new("acme.example.com", "2001");
    let bob = UserId::new("acme.example.com", "2002");
    assert_eq!(
        db.store.line_features(&alice).await.unwrap(),
        LineFeatures::default(),
        "nothing stored reads as all off"
    );
    let set = LineFeatures {
        forward_all: Some("3001".to_owned()),
        forward_busy: None,
        forward_no_answer: Some("sip:vm@acme.example.com".to_owned()),
        dnd: true,
    };
    db.store.set_line_features(&alice, &set, 100).await.unwrap();
    assert_eq!(db.store.line_features(&alice).await.unwrap(), set);
    assert_eq!(
        db.store.line_features(&bob).await.unwrap(),
        LineFeatures::default(),
        "another line is untouched"
    );
    // Replacing clears what the new value clears.
    let cleared = LineFeatures {
        forward_busy: Some("3002".to_owned()),
        ..LineFeatures::default()
    };
    db.store
        .set_line_features(&alice, &cleared, 200)
        .await
        .unwrap();
    assert_eq!(db.store.line_features(&alice).await.unwrap(), cleared);
    // The bulk read (the SCCP side's snapshot) sees the same.
    db.store.set_line_features(&bob, &set, 300).await.unwrap();
    let all = db.store.all_line_features().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all.get(&alice), Some(&cleared));
    assert_eq!(all.get(&bob), Some(&set));
}

on_both_backends!(features_round_trip);
