//! Phones seen but perhaps not in the inventory (migration `0002_seen_devices.sql`), and reset requests
//! for devices whose configuration changed (migration `0003_device_resets.sql`).

use std::fmt;

use sqlx::Row as _;

use super::{Store, StoreError};
use crate::mac::Mac;
use crate::models::Protocol;

/// How a device was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SeenVia {
    /// It fetched a file over TFTP.
    Tftp,
    /// It fetched a file over HTTP.
    Http,
    /// It tried to register over SCCP.
    Sccp,
    /// It tried to register over UNIStim.
    Unistim,
}

impl SeenVia {
    /// The name used in the store and in listings.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Tftp => "tftp",
            Self::Http => "http",
            Self::Sccp => "sccp",
            Self::Unistim => "unistim",
        }
    }

    /// Parses [`SeenVia::as_str`]'s spelling.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Tftp, Self::Http, Self::Sccp, Self::Unistim]
            .into_iter()
            .find(|v| v.as_str() == name)
    }
}

impl fmt::Display for SeenVia {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One sighting of a device, as the provisioning servers and the SCCP and UNIStim gateways report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenDevice {
    /// Its MAC.
    pub mac: Mac,
    /// A model of the model table it probably is (from the file name, User-Agent or device type).
    pub model_guess: Option<String>,
    /// The protocol it spoke or asked for, if known.
    pub protocol: Option<Protocol>,
    /// Where it came from (IP or IP:port).
    pub address: Option<String>,
    /// How it was seen.
    pub source: SeenVia,
    /// Its HTTP User-Agent, if any.
    pub user_agent: Option<String>,
}

/// A seen device with its first and last sighting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRow {
    /// The latest sighting (a model guess or protocol once known is kept when later sightings lack it).
    pub seen: SeenDevice,
    /// Unix seconds of the first sighting.
    pub first_seen: i64,
    /// Unix seconds of the latest sighting.
    pub last_seen: i64,
    /// How many sightings were recorded.
    pub sightings: i64,
    /// Whether the MAC is in the inventory.
    pub in_inventory: bool,
}

impl Store {
    /// Records a sighting: a new MAC gets a row, a known one keeps its `first_seen` and has the rest
    /// updated (a model guess, protocol or User-Agent already known is kept if this sighting has none).
    ///
    /// # Errors
    /// [`StoreError`] on a failed statement.
    pub async fn record_seen(&self, seen: &SeenDevice, now_unix: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO seen_devices \
             (mac, model_guess, protocol, address, via, user_agent, first_seen, last_seen, sightings) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 1) \
             ON CONFLICT (mac) DO UPDATE SET \
             model_guess = COALESCE(excluded.model_guess, seen_devices.model_guess), \
             protocol = COALESCE(excluded.protocol, seen_devices.protocol), \
             address = COALESCE(excluded.address, seen_devices.address), \
             via = excluded.via, \
             user_agent = COALESCE(excluded.user_agent, seen_devices.user_agent), \
             last_seen = CASE WHEN excluded.last_seen > seen_devices.last_seen \
                 THEN excluded.last_seen ELSE seen_devices.last_seen END, \
             first_seen = CASE WHEN excluded.first_seen < seen_devices.first_seen \
                 THEN excluded.first_seen ELSE seen_devices.first_seen END, \
             sightings = seen_devices.sightings + 1",
        )
        .bind(seen.mac.to_string())
        .bind(seen.model_guess.as_deref())
        .bind(seen.protocol.map(Protocol::as_str))
        .bind(seen.address.as_deref())
        .bind(seen.source.as_str())
        .bind(seen.user_agent.as_deref())
        .bind(now_unix)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The seen devices, most recently seen first; with `unknown_only`, only those whose MAC is not in
    /// the inventory.
    ///
    /// # Errors
    /// [`StoreError`] on a failed query or a row this version cannot read.
    pub async fn seen_devices(&self, unknown_only: bool) -> Result<Vec<SeenRow>, StoreError> {
        let filter = if unknown_only {
            "WHERE d.mac IS NULL"
        } else {
            ""
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT s.mac, s.model_guess, s.protocol, s.address, s.via, s.user_agent, s.first_seen, \
             s.last_seen, s.sightings, d.mac AS known_mac \
             FROM seen_devices s LEFT JOIN devices d ON d.mac = s.mac {filter} \
             ORDER BY s.last_seen DESC, s.mac"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let mac: String = r.try_get("mac")?;
                let via: String = r.try_get("via")?;
                let protocol: Option<String> = r.try_get("protocol")?;
                let known: Option<String> = r.try_get("known_mac")?;
                Ok(SeenRow {
                    seen: SeenDevice {
                        mac: mac.parse().map_err(|_| StoreError::Corrupt {
                            what: "MAC",
                            value: mac.clone(),
                        })?,
                        model_guess: r.try_get("model_guess")?,
                        protocol: protocol
                            .map(|p| {
                                Protocol::from_name(&p).ok_or(StoreError::Corrupt {
                                    what: "protocol",
                                    value: p.clone(),
                                })
                            })
                            .transpose()?,
                        address: r.try_get("address")?,
                        source: SeenVia::from_name(&via).ok_or(StoreError::Corrupt {
                            what: "seen via",
                            value: via.clone(),
                        })?,
                        user_agent: r.try_get("user_agent")?,
                    },
                    first_seen: r.try_get("first_seen")?,
                    last_seen: r.try_get("last_seen")?,
                    sightings: r.try_get("sightings")?,
                    in_inventory: known.is_some(),
                })
            })
            .collect()
    }

    /// Asks for these devices to be reset (a request already pending is refreshed).
    ///
    /// # Errors
    /// [`StoreError`] on a failed statement; then nothing is written.
    pub async fn request_resets(&self, macs: &[Mac], now_unix: i64) -> Result<(), StoreError> {
        if macs.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool().begin().await?;
        for mac in macs {
            sqlx::query(
                "INSERT INTO device_resets (mac, requested_at) VALUES ($1, $2) \
                 ON CONFLICT (mac) DO UPDATE SET requested_at = excluded.requested_at",
            )
            .bind(mac.to_string())
            .bind(now_unix)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The pending reset requests, oldest first; they are deleted as they are returned, so each is taken
    /// once even with several gateway nodes polling one PostgreSQL store.
    ///
    /// # Errors
    /// [`StoreError`] on a failed statement.
    pub async fn take_reset_requests(&self) -> Result<Vec<Mac>, StoreError> {
        let rows = sqlx::query("DELETE FROM device_resets RETURNING mac, requested_at")
            .fetch_all(self.pool())
            .await?;
        let mut taken = rows
            .iter()
            .map(|r| {
                let mac: String = r.try_get("mac")?;
                let at: i64 = r.try_get("requested_at")?;
                let mac: Mac = mac.parse().map_err(|_| StoreError::Corrupt {
                    what: "MAC",
                    value: mac.clone(),
                })?;
                Ok((at, mac))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        taken.sort_unstable();
        Ok(taken.into_iter().map(|(_, mac)| mac).collect())
    }

    /// A number that changes with every write to the inventory (domains, users, devices and their
    /// keys): what the running servers compare to tell whether to reload. One row, read in
    /// microseconds however large the inventory.
    ///
    /// # Errors
    /// [`StoreError`] on a failed query.
    pub async fn inventory_fingerprint(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT serial FROM inventory_serial WHERE id = 1")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("serial")?)
    }
}
