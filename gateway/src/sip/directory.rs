//! What the SIP core needs from the inventory, kept in memory: our domains and every user's digest
//! credentials. Loaded at start; every [`REFRESH`] the store is asked whether users changed (their count
//! and newest `updated_at`), and only the users changed since the last look are read again (all of them
//! only when the count changed, i.e. users were removed). An import made by `crossbar import` while the
//! gateway runs takes effect within seconds, and an idle gateway costs one small query per interval.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use provisioning::Store;
use sip_core::auth::Ha1;
use sip_core::location::Aor;
use tokio_util::sync::CancellationToken;

/// How often the directory is reloaded from the store.
pub const REFRESH: Duration = Duration::from_secs(5);

/// Domains and users, as last loaded.
#[derive(Debug, Default)]
pub struct Directory {
    domains: HashSet<String>,
    /// `None`: a user without a SIP password (legacy lines only), who cannot register over SIP.
    users: HashMap<Aor, Option<Ha1>>,
}

impl Directory {
    /// Reads the directory from the store.
    ///
    /// # Errors
    /// A failed query.
    pub async fn load(store: &Store) -> Result<Self, provisioning::StoreError> {
        let domains = store
            .domains()
            .await?
            .into_iter()
            .map(|d| d.to_ascii_lowercase())
            .collect();
        let users = store
            .credentials()
            .await?
            .into_iter()
            .map(|c| {
                let ha1 = c.ha1.map(|h| Ha1 {
                    md5: h.md5,
                    sha256: h.sha256,
                });
                (Aor::new(c.extension, &c.domain), ha1)
            })
            .collect();
        Ok(Self { domains, users })
    }

    fn upsert(&mut self, credentials: Vec<provisioning::store::Credential>) {
        for c in credentials {
            let ha1 = c.ha1.map(|h| Ha1 {
                md5: h.md5,
                sha256: h.sha256,
            });
            self.users.insert(Aor::new(c.extension, &c.domain), ha1);
        }
    }

    /// Whether `domain` is one of ours.
    pub fn is_our_domain(&self, domain: &str) -> bool {
        self.domains.contains(&domain.to_ascii_lowercase())
    }

    /// Whether the user exists (with or without a SIP password).
    pub fn has_user(&self, aor: &Aor) -> bool {
        self.users.contains_key(aor)
    }

    /// The user's HA1, if it exists and has a SIP password.
    pub fn ha1(&self, aor: &Aor) -> Option<Ha1> {
        self.users.get(aor).cloned().flatten()
    }

    /// Number of users.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }
}

/// The shared, periodically refreshed directory.
pub type SharedDirectory = Arc<RwLock<Directory>>;

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Keeps `directory` up to date with `store` until `shutdown`.
pub async fn refresh(store: Store, directory: SharedDirectory, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(REFRESH);
    tick.tick().await;
    let mut last_check = unix_now();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = unix_now();
        if let Err(e) = refresh_once(&store, &directory, last_check).await {
            tracing::warn!(error = %e, "cannot reload users and domains; keeping the last ones");
            continue;
        }
        last_check = now;
    }
}

/// One look at the store: the domains, and the users changed since `last_check` (with a second of
/// overlap, since `updated_at` has one-second resolution); everything if users were removed.
async fn refresh_once(
    store: &Store,
    directory: &SharedDirectory,
    last_check: i64,
) -> Result<(), provisioning::StoreError> {
    let domains: HashSet<String> = store
        .domains()
        .await?
        .into_iter()
        .map(|d| d.to_ascii_lowercase())
        .collect();
    let (count, _newest) = store.users_fingerprint().await?;
    let known = directory.read().map_or(0, |d| d.users.len());
    if usize::try_from(count).unwrap_or(usize::MAX) != known {
        let fresh = Directory::load(store).await?;
        let old = directory
            .write()
            .map(|mut d| std::mem::replace(&mut *d, fresh));
        drop(old);
        return Ok(());
    }
    let changed = store
        .credentials_since(last_check.saturating_sub(1))
        .await?;
    if let Ok(mut d) = directory.write() {
        d.domains = domains;
        d.upsert(changed);
    }
    Ok(())
}
