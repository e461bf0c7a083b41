//! What the SIP core needs from the inventory, kept in memory: our domains and every user's digest
//! credentials. Loaded at start; every [`REFRESH`] the store's inventory fingerprint (a counter every
//! inventory write bumps) is read, and when it moved the directory is read again and swapped in whole.
//! An import made by `crossbar import` while the gateway runs takes effect within seconds, and an idle
//! gateway costs one single-row query per interval, however many users there are.
//!
//! Each line of a SIP-firmware device (Cisco SIP, Polycom, Yealink) also has a password of its own,
//! derived from the store's SIP line secret (`provisioning::secret`) and carried in that device's
//! provisioning file: its HA1 is accepted for the line's user besides the user's own. These are loaded
//! with the directory.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use provisioning::Store;
use sip_core::auth::Ha1;
use sip_core::location::{Aor, AorKey, AorRef};
use tokio_util::sync::CancellationToken;

/// How often the directory is reloaded from the store.
pub const REFRESH: Duration = Duration::from_secs(5);

/// Domains and users, as last loaded.
#[derive(Debug, Default)]
pub struct Directory {
    domains: HashSet<String>,
    /// `None`: a user without a SIP password (legacy lines only), who cannot register over SIP.
    users: HashMap<Aor, Option<Ha1>>,
    /// The HA1s of the device line passwords of each user on a SIP-firmware device.
    device_lines: HashMap<Aor, Vec<Ha1>>,
    /// The inventory fingerprint this was loaded at.
    inventory: i64,
}

/// The HA1s of every SIP-firmware device line's derived password, by the line's user.
async fn device_lines(store: &Store) -> Result<HashMap<Aor, Vec<Ha1>>, provisioning::StoreError> {
    let secret = store.line_secret().await?;
    let inventory = store.load_device_inventory().await?;
    let mut lines: HashMap<Aor, Vec<Ha1>> = HashMap::new();
    for device in inventory.devices.values() {
        if device.model.protocol != provisioning::Protocol::Sip {
            continue;
        }
        for key in device.lines() {
            let password = secret.line_password(&device.domain, &key.target, device.mac);
            lines
                .entry(Aor::new(key.target.clone(), &device.domain))
                .or_default()
                .push(Ha1::compute(&key.target, &device.domain, &password));
        }
    }
    Ok(lines)
}

impl Directory {
    /// Reads the directory from the store.
    ///
    /// # Errors
    /// A failed query.
    pub async fn load(store: &Store) -> Result<Self, provisioning::StoreError> {
        // Read first: a write between this and the reads below makes the next look load again.
        let inventory = store.inventory_fingerprint().await?;
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
                    md5: h.md5.into(),
                    sha256: h.sha256.into(),
                });
                (Aor::new(c.extension, &c.domain), ha1)
            })
            .collect();
        let device_lines = device_lines(store).await?;
        Ok(Self {
            domains,
            users,
            device_lines,
            inventory,
        })
    }

    /// Whether `domain` is one of ours.
    pub fn is_our_domain(&self, domain: &str) -> bool {
        // Domains are stored lower-cased; the lower-cased copy only when there is upper case.
        if domain.bytes().any(|b| b.is_ascii_uppercase()) {
            self.domains.contains(&domain.to_ascii_lowercase())
        } else {
            self.domains.contains(domain)
        }
    }

    /// Whether the user exists (with or without a SIP password).
    pub fn has_user(&self, aor: &Aor) -> bool {
        self.users.contains_key(aor)
    }

    /// The user's HA1, if it exists and has a SIP password.
    pub fn ha1(&self, aor: &Aor) -> Option<Ha1> {
        self.users.get(aor).cloned().flatten()
    }

    /// Every HA1 accepted for the user: its own password's, then those of its lines on SIP-firmware
    /// devices. Empty for a user that does not exist.
    /// The user is named by reference: no AOR is built per request.
    pub fn ha1s(&self, aor: AorRef<'_>) -> Vec<Ha1> {
        let key: &dyn AorKey = &aor;
        let Some(own) = self.users.get(key) else {
            return Vec::new();
        };
        own.iter()
            .cloned()
            .chain(self.device_lines.get(key).into_iter().flatten().cloned())
            .collect()
    }

    /// Number of users.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }
}

/// The shared, periodically refreshed directory.
pub type SharedDirectory = Arc<RwLock<Directory>>;

/// Keeps `directory` up to date with `store` until `shutdown`.
pub async fn refresh(store: Store, directory: SharedDirectory, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(REFRESH);
    tick.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = refresh_once(&store, &directory).await {
            tracing::warn!(error = %e, "cannot reload users and domains; keeping the last ones");
        }
    }
}

/// One look at the store: when its inventory fingerprint moved, the directory is read again.
async fn refresh_once(
    store: &Store,
    directory: &SharedDirectory,
) -> Result<(), provisioning::StoreError> {
    let current = store.inventory_fingerprint().await?;
    let known = directory.read().ok().map(|d| d.inventory);
    if known == Some(current) {
        return Ok(());
    }
    let fresh = Directory::load(store).await?;
    let old = directory
        .write()
        .map(|mut d| std::mem::replace(&mut *d, fresh));
    // The old directory is dropped here, outside the lock.
    drop(old);
    Ok(())
}
