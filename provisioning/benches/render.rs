//! `Renderer::fetch` throughput: configuration files rendered per second from the in-memory snapshot of a
//! 5,000-device fleet (2,500 Cisco 7960, 2,500 Avaya 1140E; 10,000 users), as the TFTP and HTTP servers
//! call it. Each request is a name lookup plus one template render; nothing touches the database.
//!
//! `cargo bench -p provisioning --bench render`. Criterion prints elements/s = files/s for one thread;
//! `boot bundle, 2 threads` renders every file of every device (the whole fleet booting) on two threads.

#[path = "support/fleet.rs"]
mod fleet;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use provisioning::import::{self, ImportOptions};
use provisioning::render::{Endpoint, Fetched, Renderer, ServerAddresses};
use provisioning::{SeenVia, Store};

const USERS: usize = 10_000;

fn servers() -> ServerAddresses {
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

fn bench_fetch(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let url = provisioning::store::sqlite_url(&dir.path().join("bench.db"));
    let renderer = runtime.block_on(async {
        let store = Store::open(&url).await.expect("open");
        let plan = import::plan(
            fleet::csv(USERS).as_bytes(),
            &store.load_inventory().await.expect("load"),
            &ImportOptions {
                default_domain: "crossbar.local".to_owned(),
            },
        )
        .expect("fleet imports");
        store.apply(&plan.changes).await.expect("apply");
        Renderer::new(
            store,
            templates::Templates::builtin().expect("templates"),
            servers(),
        )
        .await
        .expect("renderer")
    });
    let catalog = renderer.catalog();
    let mut macs: Vec<_> = catalog.macs().collect();
    macs.sort_unstable();
    let files: Vec<String> = macs
        .iter()
        .flat_map(|m| catalog.device_files(m).expect("device"))
        .collect();
    let by_suffix = |suffix: &str| -> Vec<String> {
        files
            .iter()
            .filter(|f| f.ends_with(suffix))
            .cloned()
            .collect()
    };
    let cisco = by_suffix(".cnf.xml");
    let cisco: Vec<String> = cisco.into_iter().filter(|f| f.starts_with("SEP")).collect();
    let nortel: Vec<String> = by_suffix(".PRV")
        .into_iter()
        .filter(|f| f.len() == 16)
        .collect();
    let _guard = runtime.enter();

    let mut group = c.benchmark_group("fetch");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(5));
    for (label, names) in [
        ("SEP<MAC>.cnf.xml", &cisco),
        ("<MAC>.PRV", &nortel),
        ("XMLDefault.cnf.xml", &vec!["XMLDefault.cnf.xml".to_owned()]),
    ] {
        let mut i = 0usize;
        group.bench_function(label, |b| {
            b.iter(|| {
                i = (i + 1) % names.len();
                let got = renderer
                    .fetch_via(SeenVia::Http, &names[i], None, None)
                    .expect("render");
                assert!(matches!(got, Fetched::File(_)));
                got
            });
        });
    }
    group.finish();

    let files = Arc::new(files);
    let mut group = c.benchmark_group("boot bundle, 2 threads");
    group.throughput(Throughput::Elements(files.len() as u64));
    group.sample_size(10);
    group.bench_function("every file of 5,000 devices", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                std::thread::scope(|scope| {
                    for half in 0..2 {
                        let (renderer, files) = (renderer.clone(), Arc::clone(&files));
                        scope.spawn(move || {
                            for name in files.iter().skip(half).step_by(2) {
                                let got = renderer
                                    .fetch_via(SeenVia::Tftp, name, None, None)
                                    .expect("render");
                                assert!(matches!(got, Fetched::File(_)));
                            }
                        });
                    }
                });
            }
            start.elapsed()
        });
    });
    group.finish();
}

criterion_group!(benches, bench_fetch);
criterion_main!(benches);
