//! A mass unregister and re-register (issue 5: after 19,700 phones unregistered and the same devices
//! re-registered at once, two thirds of the calls between them failed): a few hundred phonesim
//! phones register, all unregister, the same devices register again at once, and every call between
//! them then connects. The old attachments' `expires=0` must not undo the new bindings.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tests::phonesim::fleet::{self, ModelInfo};
use tests::phonesim::{Fleet, PhoneConfig};

use crate::harness::Gateway;

const PHONES: usize = 200;

#[tokio::test]
async fn calls_connect_after_every_phone_unregistered_and_registered_again() {
    let model = ModelInfo::find("cisco-7960").expect("model");
    let specs = fleet::generate(PHONES, [0x00, 0x04, 0xf2, 0x10, 0x00, 0x00], model, 3000);
    let gw = Gateway::start(&fleet::to_csv(&specs)).await;
    let config = || {
        let mut c = PhoneConfig::new(gw.sccp);
        c.reconnect_jitter = Duration::from_millis(50);
        c.auto_answer = Some(Duration::from_millis(50));
        c.record_events = false;
        c
    };
    let first = Fleet::spawn(specs.clone(), config());
    assert!(
        first.wait_registered(Duration::from_secs(60)).await,
        "{} of {PHONES} registered",
        first.registered()
    );
    // Let the line user agents register every line before the phones go.
    tokio::time::sleep(Duration::from_secs(2)).await;
    first.stop().await;
    let again = Fleet::spawn(specs.clone(), config());
    assert!(
        again.wait_registered(Duration::from_secs(60)).await,
        "{} of {PHONES} registered again",
        again.registered()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Each even phone calls the next one.
    for pair in again.phones.chunks(2) {
        let callee = pair[1].spec().extension().expect("extension").to_owned();
        pair[0].place_call(&callee, Duration::from_millis(300), false);
    }
    let stats = &again.config.stats;
    let want = (PHONES / 2) as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while stats.calls_connected.load(Ordering::Relaxed) + stats.calls_failed.load(Ordering::Relaxed)
        < want
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s = stats.snapshot();
    assert_eq!(s.calls_connected, want, "{s:?}");
    assert_eq!(s.calls_failed, 0, "{s:?}");
    again.stop().await;
    gw.stop().await;
}
