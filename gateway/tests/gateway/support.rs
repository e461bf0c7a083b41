//! Running the built binary in a scratch directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) const CROSSBAR: &str = env!("CARGO_BIN_EXE_crossbar");

/// A scratch directory with a configuration file whose store is SQLite in that directory, or a fresh
/// PostgreSQL schema.
pub(crate) struct Scratch {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) config: PathBuf,
    pg_schema: Option<String>,
}

pub(crate) fn postgres_admin_url() -> String {
    std::env::var("CROSSBAR_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

impl Scratch {
    pub(crate) fn sqlite() -> Self {
        Self::with_store("sqlite://crossbar.db", None)
    }

    /// `None` (after printing why) when PostgreSQL is unreachable outside CI.
    pub(crate) async fn postgres() -> Option<Self> {
        use sqlx::Connection as _;
        sqlx::any::install_default_drivers();
        let admin = postgres_admin_url();
        let mut conn = match sqlx::AnyConnection::connect(&admin).await {
            Ok(c) => c,
            Err(e) => {
                assert!(
                    std::env::var("CI").is_err(),
                    "PostgreSQL at {admin} is required in CI: {e}"
                );
                eprintln!("skipping PostgreSQL test: {admin} unreachable: {e}");
                return None;
            }
        };
        let schema = format!("cb_e2e_{}_{}", std::process::id(), rand::random::<u32>());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut conn)
            .await
            .expect("create schema");
        let sep = if admin.contains('?') { '&' } else { '?' };
        let url = format!("{admin}{sep}options=-c%20search_path%3D{schema}");
        Some(Self::with_store(&url, Some(schema)))
    }

    fn with_store(url: &str, pg_schema: Option<String>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("crossbar.toml");
        std::fs::write(
            &config,
            format!(
                "[store]\nurl = \"{url}\"\n\n[sip]\ndefault_domain = \"acme.example.com\"\n\
                 listen = [\"udp:127.0.0.1:0\", \"tcp:127.0.0.1:0\"]\n\n\
                 [sccp]\nlisten = \"127.0.0.1:0\"\n\n[unistim]\nlisten = \"127.0.0.1:0\"\n\n\
                 [tftp]\nlisten = \"127.0.0.1:0\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n"
            ),
        )
        .expect("write config");
        Self {
            dir,
            config,
            pg_schema,
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("write");
        path
    }

    /// Runs `crossbar ARGS --config <scratch config>` in the scratch directory.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        let mut command = Command::new(CROSSBAR);
        command
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .current_dir(self.dir.path())
            .env_remove("CROSSBAR_LOG")
            .env_remove("RUST_LOG");
        command.output().expect("run crossbar")
    }

    pub(crate) async fn finish(self) {
        use sqlx::Connection as _;
        if let Some(schema) = self.pg_schema {
            let mut conn = sqlx::AnyConnection::connect(&postgres_admin_url())
                .await
                .expect("connect");
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&mut conn)
                .await
                .expect("drop schema");
        }
    }
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `crossbar ARGS` with no configuration file, in `dir`.
pub(crate) fn run_bare(dir: &Path, args: &[&str]) -> Output {
    Command::new(CROSSBAR)
        .args(args)
        .current_dir(dir)
        .env_remove("CROSSBAR_CONFIG")
        .output()
        .expect("run crossbar")
}
