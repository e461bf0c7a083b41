//! Test databases: a SQLite file in a temporary directory, or a fresh schema on the PostgreSQL server at
//! `CROSSBAR_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`).
//!
//! Without a PostgreSQL server the PostgreSQL variants skip with a printed reason, except under CI
//! (`CI=true`), where they fail.

use std::sync::atomic::{AtomicU32, Ordering};

use provisioning::Store;
use sqlx::Connection as _;

pub(crate) struct TestDb {
    pub(crate) store: Store,
    pub(crate) url: String,
    cleanup: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

pub(crate) fn postgres_admin_url() -> String {
    std::env::var("CROSSBAR_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

impl TestDb {
    pub(crate) async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = provisioning::store::sqlite_url(&dir.path().join("test.db"));
        let store = Store::open(&url).await.expect("open sqlite store");
        Self {
            store,
            url,
            cleanup: None,
            _dir: Some(dir),
        }
    }

    /// A store in a schema of its own, or `None` (after printing why) when PostgreSQL is unavailable
    /// outside CI.
    pub(crate) async fn postgres() -> Option<Self> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        sqlx::any::install_default_drivers();
        let admin = postgres_admin_url();
        let mut conn = match sqlx::AnyConnection::connect(&admin).await {
            Ok(conn) => conn,
            Err(e) => {
                assert!(
                    std::env::var("CI").is_err(),
                    "PostgreSQL at {admin} is required in CI: {e}"
                );
                eprintln!("skipping PostgreSQL test: {admin} unreachable: {e}");
                return None;
            }
        };
        let schema = format!(
            "cb_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut conn)
            .await
            .expect("create schema");
        conn.close().await.ok();
        let sep = if admin.contains('?') { '&' } else { '?' };
        let url = format!("{admin}{sep}options=-c%20search_path%3D{schema}");
        let store = Store::open(&url).await.expect("open postgres store");
        Some(Self {
            store,
            url,
            cleanup: Some((admin, schema)),
            _dir: None,
        })
    }

    /// Closes the store and drops a PostgreSQL schema.
    pub(crate) async fn finish(self) {
        self.store.close().await;
        if let Some((admin, schema)) = self.cleanup {
            let mut conn = sqlx::AnyConnection::connect(&admin).await.expect("connect");
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&mut conn)
                .await
                .expect("drop schema");
        }
    }
}

/// Runs `$body` (an async fn taking `&TestDb`) as a `_sqlite` and a `_postgres` test.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    let db = $crate::db::TestDb::sqlite().await;
                    super::$name(&db).await;
                    db.finish().await;
                }

                #[tokio::test]
                async fn postgres() {
                    let Some(db) = $crate::db::TestDb::postgres().await else { return };
                    super::$name(&db).await;
                    db.finish().await;
                }
            }
        )*
    };
}
pub(crate) use on_both_backends;
