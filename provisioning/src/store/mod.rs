//! The store: one schema on SQLite (the embedded default) or PostgreSQL (several nodes sharing one
//! inventory and location table), through sqlx's `Any` driver.
//!
//! Every query is written once with `$n` parameters, which both backends accept, and only TEXT and BIGINT
//! columns are used, so the same SQL text serves both. Migrations (`provisioning/migrations/`) run when the
//! store is opened. The location writer alone uses the backend's own driver (see [`LocationPool`]).

mod features;
mod inventory;
mod location;
mod secrets;
mod seen;

pub use features::LineFeatures;
pub use location::{
    AorBindings, AorWrite, Credential, RegistrationRef, RegistrationRow, SetChange,
};
pub use seen::{SeenDevice, SeenRow, SeenVia};

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::TryStreamExt as _;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor as _};

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The URL names no backend we have.
    #[error("store URL {url:?} is neither sqlite:// nor postgres://")]
    UnsupportedUrl {
        /// The URL with any password masked.
        url: String,
    },
    /// Connecting failed.
    #[error("cannot open the store {url}: {source}")]
    Connect {
        /// The URL with any password masked.
        url: String,
        /// What sqlx reported.
        source: sqlx::Error,
    },
    /// The schema could not be brought up to date.
    #[error("cannot migrate the store schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("store query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// A row holds a value this version cannot interpret.
    #[error("the store holds {what} {value:?}, which this version does not know")]
    Corrupt {
        /// Which column.
        what: &'static str,
        /// The value found.
        value: String,
    },
}

/// A handle on the store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// One connection of its own for the location writer (see [`Store::open`]).
    location: LocationPool,
    backend: Backend,
}

/// Run on every SQLite connection, of both pools.
const SQLITE_PRAGMAS: [&str; 4] = [
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA busy_timeout = 5000",
    "PRAGMA foreign_keys = ON",
];

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Store {
    /// Opens the store at `url` (`sqlite://PATH` or `postgres://...`), creating a SQLite file if missing,
    /// and runs the migrations.
    ///
    /// # Errors
    /// [`StoreError`] when the URL is unusable, the database unreachable or the schema cannot be migrated.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let masked = mask_password(url);
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl { url: masked });
        };
        let connect_url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let options =
            AnyConnectOptions::from_str(&connect_url).map_err(|source| StoreError::Connect {
                url: masked.clone(),
                source,
            })?;
        let connect = |connections: u32| {
            AnyPoolOptions::new()
                .max_connections(connections)
                .acquire_timeout(Duration::from_secs(10))
                .after_connect(move |conn, _meta| {
                    Box::pin(async move {
                        if backend == Backend::Sqlite {
                            for pragma in SQLITE_PRAGMAS {
                                conn.execute(pragma).await?;
                            }
                        }
                        Ok(())
                    })
                })
                .connect_with(options.clone())
        };
        let connect_error = |source| StoreError::Connect {
            url: masked.clone(),
            source,
        };
        let pool = connect(match backend {
            Backend::Sqlite => 4,
            Backend::Postgres => 16,
        })
        .await
        .map_err(connect_error)?;
        MIGRATOR.run(&pool).await?;
        // The location writer gets a pool of one connection: a SQLite connection drops its whole page
        // cache when another connection has written since its last transaction, so handing the writer
        // whichever of four connections is idle made every write start cold and read its pages back
        // from the file; and the statements it prepares (a few fixed shapes) stay prepared there.
        let location = LocationPool::connect(backend, &connect_url)
            .await
            .map_err(connect_error)?;
        tracing::debug!(store = %masked, "store open, schema up to date");
        Ok(Self {
            pool,
            location,
            backend,
        })
    }

    /// Which database is behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs `query` and hands its rows to `each` one at a time, as they arrive: a large table is never
    /// held as a whole result set (100,000 users read with `fetch_all` left some 90 MiB behind).
    pub(crate) async fn for_each_row(
        &self,
        query: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
        mut each: impl FnMut(&sqlx::any::AnyRow) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut rows = query.fetch(self.pool());
        while let Some(row) = rows.try_next().await? {
            each(&row)?;
        }
        Ok(())
    }

    /// The connection pool, for queries of other modules.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The location writer's connection (see [`Store::open`]).
    pub(crate) fn location_pool(&self) -> &LocationPool {
        &self.location
    }

    /// Closes every connection, waiting for those in use.
    pub async fn close(&self) {
        self.location.close().await;
        self.pool.close().await;
    }
}

/// The location writer's pool of one connection, on the backend's own driver rather than `Any`. The
/// writer binds a dozen values per binding, thousands of bindings a second in a registration storm:
/// `Any` copies every text value into a new `String` and `Arc` when it is bound and again when it is
/// handed to the SQLite driver (five allocations a value), where the SQLite driver takes a shared
/// `Arc<str>` from the location table as it is.
#[derive(Debug, Clone)]
pub(crate) enum LocationPool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl LocationPool {
    /// One connection to `url`, with the same SQLite settings as the main pool's.
    async fn connect(backend: Backend, url: &str) -> Result<Self, sqlx::Error> {
        let timeout = Duration::from_secs(10);
        Ok(match backend {
            Backend::Sqlite => Self::Sqlite(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(timeout)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            for pragma in SQLITE_PRAGMAS {
                                conn.execute(pragma).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect_with(sqlx::sqlite::SqliteConnectOptions::from_str(url)?)
                    .await?,
            ),
            Backend::Postgres => Self::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(timeout)
                    .connect_with(sqlx::postgres::PgConnectOptions::from_str(url)?)
                    .await?,
            ),
        })
    }

    async fn close(&self) {
        match self {
            Self::Sqlite(pool) => pool.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
    }
}

/// The SQLite URL for a file path: `sqlite://` followed by the path, with the characters that would end
/// the path in a URL escaped.
pub fn sqlite_url(path: &Path) -> String {
    let mut url = String::from("sqlite://");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => url.push_str("%25"),
            '?' => url.push_str("%3F"),
            '#' => url.push_str("%23"),
            ' ' => url.push_str("%20"),
            c => url.push(c),
        }
    }
    url
}

/// `url` with the password of its user-info part replaced by `***`, for messages and logs.
pub fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Seconds since the Unix epoch, as the store keeps times.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            mask_password("postgres://crossbar:hunter2@db.example.com:5432/crossbar"),
            "postgres://crossbar:***@db.example.com:5432/crossbar"
        );
        assert_eq!(
            mask_password("postgres://crossbar@db/crossbar"),
            "postgres://crossbar@db/crossbar"
        );
        assert_eq!(
            mask_password("sqlite://crossbar.db"),
            "sqlite://crossbar.db"
        );
    }

    #[test]
    fn sqlite_urls_escape_path_enders() {
        assert_eq!(
            sqlite_url(Path::new("/srv/my dir/a?b#c%.db")),
            "sqlite:///srv/my%20dir/a%3Fb%23c%25.db"
        );
    }
}
