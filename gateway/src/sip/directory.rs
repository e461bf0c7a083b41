//! What the SIP core needs from the inventory, kept in memory: our domains and every user's digest
//! credentials. Loaded at start and reloaded from the store every [`REFRESH`], so an import made by
//! `crossbar import` while the gateway runs takes effect within seconds without touching the hot path.

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

/// Reloads `directory` from `store` every [`REFRESH`] until `shutdown`.
pub async fn refresh(store: Store, directory: SharedDirectory, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(REFRESH);
    tick.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match Directory::load(&store).await {
            Ok(fresh) => {
                if let Ok(mut d) = directory.write() {
                    *d = fresh;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot reload users and domains; keeping the last ones")
            }
        }
    }
}
