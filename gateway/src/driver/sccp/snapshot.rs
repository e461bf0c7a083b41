//! The inventory as the SCCP side reads it at registration, kept in memory so a registration storm
//! (thousands of phones reconnecting at once) does not queue on the store's connection pool: the
//! devices with their keys, the users those keys name and every line's stored features. Loaded at start and reloaded
//! when the store's inventory fingerprint (a counter every inventory write bumps) moves, checked
//! every [`RESET_POLL`](super::RESET_POLL) before any reset is sent, so a phone reset after an import
//! registers with its new configuration. Line features the phones change are written through (memory
//! and store). A device not in the snapshot (imported since the last look, or unknown) is read from
//! the store, so a new phone never waits for a reload.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use provisioning::store::LineFeatures;
use provisioning::{Inventory, Mac, Store, StoreError, UserId};

/// One loaded copy of the inventory.
#[derive(Debug, Default)]
pub struct Snapshot {
    fingerprint: i64,
    inventory: Inventory,
    features: HashMap<UserId, LineFeatures>,
}

impl Snapshot {
    /// Reads everything from the store.
    ///
    /// # Errors
    /// A failed query.
    pub async fn load(store: &Store) -> Result<Self, StoreError> {
        let fingerprint = store.inventory_fingerprint().await?;
        let inventory = store.load_device_inventory().await?;
        let features = store.all_line_features().await?;
        Ok(Self {
            fingerprint,
            inventory,
            features,
        })
    }

    /// The device's configuration, if the device is in this snapshot; `written` overrides the
    /// stored features.
    fn device_config(
        &self,
        mac: &Mac,
        written: &HashMap<UserId, LineFeatures>,
    ) -> Option<super::DeviceConfig> {
        let device = self.inventory.devices.get(mac)?;
        Some(super::build_config(
            device,
            |id| self.inventory.users.get(id).cloned(),
            |id| {
                written
                    .get(id)
                    .or_else(|| self.features.get(id))
                    .cloned()
                    .unwrap_or_default()
            },
        ))
    }

    /// How many devices it holds.
    pub fn device_count(&self) -> usize {
        self.inventory.devices.len()
    }
}

/// The current snapshot, shared by every phone task.
#[derive(Debug, Default)]
pub struct Inventories {
    current: RwLock<Option<Arc<Snapshot>>>,
    /// Features written by the phones since start, newer than any snapshot's.
    written: Mutex<HashMap<UserId, LineFeatures>>,
}

impl Inventories {
    /// The snapshot in use, if one was loaded.
    pub fn current(&self) -> Option<Arc<Snapshot>> {
        self.current.read().ok().and_then(|c| c.clone())
    }

    /// Loads a snapshot if there is none or the store's fingerprint moved; true if it reloaded.
    ///
    /// # Errors
    /// A failed query (the previous snapshot stays).
    pub async fn refresh(&self, store: &Store) -> Result<bool, StoreError> {
        if let Some(current) = self.current() {
            let now = store.inventory_fingerprint().await?;
            if now == current.fingerprint {
                return Ok(false);
            }
        }
        let fresh = Arc::new(Snapshot::load(store).await?);
        tracing::debug!(
            devices = fresh.device_count(),
            "SCCP inventory snapshot loaded"
        );
        if let Ok(mut c) = self.current.write() {
            *c = Some(fresh);
        }
        Ok(true)
    }

    /// Records a line's features written by a phone, so the next registration sees them. Kept
    /// apart from the snapshots (the phones are the features' only writer), so a reload racing with
    /// a write cannot bring back the old value.
    pub fn set_features(&self, user: &UserId, features: &LineFeatures) {
        if let Ok(mut o) = self.written.lock() {
            o.insert(user.clone(), features.clone());
        }
    }

    /// The device's configuration from the current snapshot, if the device is in it.
    pub fn device_config(&self, mac: &Mac) -> Option<super::DeviceConfig> {
        let snapshot = self.current()?;
        let written = self.written.lock().ok()?;
        snapshot.device_config(mac, &written)
    }
}
