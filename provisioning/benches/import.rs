//! Import of 10,000 users on 5,000 devices into an empty store, on SQLite and PostgreSQL: what
//! `crossbar import` does after reading the file (load the inventory, plan, write in one transaction).
//! A re-import of the same file (planning only, nothing to write) is measured too.
//!
//! `cargo bench -p provisioning --bench import` (PostgreSQL at CROSSBAR_TEST_POSTGRES, default
//! postgres://postgres@127.0.0.1:5432/test; skipped when unreachable).

#[path = "support/fleet.rs"]
mod fleet;

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use provisioning::Store;
use provisioning::import::{self, ImportOptions};
use sqlx::Connection as _;

const USERS: usize = 10_000;

fn options() -> ImportOptions {
    ImportOptions {
        default_domain: "crossbar.local".to_owned(),
    }
}

async fn import_into(store: &Store, csv: &[u8]) {
    let current = store.load_inventory().await.expect("load");
    let plan = import::plan(csv, &current, &options()).expect("accepted");
    assert_eq!(
        plan.changes.users_added.len() + plan.changes.users_updated.len(),
        USERS
    );
    store.apply(&plan.changes).await.expect("apply");
}

async fn postgres_store() -> Option<(Store, String)> {
    let admin = std::env::var("CROSSBAR_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&admin).await.ok()?;
    let schema = format!("cb_bench_{}", rand::random::<u32>());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .ok()?;
    let url = format!("{admin}?options=-c%20search_path%3D{schema}");
    Some((Store::open(&url).await.ok()?, schema))
}

async fn drop_schema(schema: &str) {
    let admin = std::env::var("CROSSBAR_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let mut conn = sqlx::AnyConnection::connect(&admin).await.expect("connect");
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut conn)
        .await
        .expect("drop");
}

fn bench(c: &mut Criterion) {
    let csv = fleet::csv(USERS);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("import_10k_users_5k_devices");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));

    group.bench_function("sqlite", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let url = provisioning::store::sqlite_url(&dir.path().join("bench.db"));
                    let store = Store::open(&url).await.expect("open");
                    let start = Instant::now();
                    import_into(&store, csv.as_bytes()).await;
                    total += start.elapsed();
                    store.close().await;
                }
                total
            })
        });
    });

    if rt.block_on(postgres_store()).is_some_and(|(_, schema)| {
        rt.block_on(drop_schema(&schema));
        true
    }) {
        group.bench_function("postgres", |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let (store, schema) = postgres_store().await.expect("postgres");
                        let start = Instant::now();
                        import_into(&store, csv.as_bytes()).await;
                        total += start.elapsed();
                        store.close().await;
                        drop_schema(&schema).await;
                    }
                    total
                })
            });
        });
    } else {
        eprintln!("PostgreSQL unreachable: postgres variant skipped");
    }

    // Re-importing the same file: everything is compared, nothing is written.
    group.bench_function("sqlite_reimport_unchanged", |b| {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = provisioning::store::sqlite_url(&dir.path().join("bench.db"));
        let store = rt.block_on(async {
            let store = Store::open(&url).await.expect("open");
            import_into(&store, csv.as_bytes()).await;
            store
        });
        b.iter(|| {
            rt.block_on(async {
                let current = store.load_inventory().await.expect("load");
                let plan = import::plan(csv.as_bytes(), &current, &options()).expect("accepted");
                assert!(plan.changes.is_empty());
            })
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
