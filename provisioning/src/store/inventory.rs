//! Inventory queries: load it whole, look up one user or device, write a [`ChangeSet`] atomically.

use std::collections::BTreeMap;

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, AssertSqlSafe, Row as _};

use super::{Backend, Store, StoreError, unix_now};
use crate::changes::ChangeSet;
use crate::digest::Ha1;
use crate::inventory::{Device, Inventory, Key, KeyKind, User, UserId};
use crate::mac::Mac;
use crate::models::Model;

/// A value bound into a batched statement.
pub(super) enum Val<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i64),
}

/// Rows per multi-row INSERT: far below SQLite's and PostgreSQL's parameter limits for our widest table.
const BATCH_ROWS: usize = 500;

const USER_COLUMNS: &str = "domain, extension, first_name, last_name, display_name, email, department, \
                            voicemail, ha1_md5, ha1_sha256, updated_at";

fn user_values(user: &User, now: i64) -> Vec<Val<'_>> {
    vec![
        Val::Text(&user.id.domain),
        Val::Text(&user.id.extension),
        Val::Text(&user.first_name),
        Val::Text(&user.last_name),
        Val::Text(&user.display_name),
        Val::Text(&user.email),
        Val::Text(&user.department),
        Val::Text(&user.voicemail),
        Val::OptText(user.ha1.as_ref().map(|h| h.md5.as_str())),
        Val::OptText(user.ha1.as_ref().map(|h| h.sha256.as_str())),
        Val::Int(now),
    ]
}

fn key_values<'a>(mac: &'a str, key: &'a Key) -> Vec<Val<'a>> {
    vec![
        Val::Text(mac),
        Val::Int(i64::from(key.position)),
        Val::Text(key.kind.as_str()),
        Val::Int(i64::from(key.line)),
        Val::Text(&key.target),
        Val::Text(&key.label),
    ]
}

fn bind<'q>(query: Query<'q, Any, AnyArguments>, value: &Val<'q>) -> Query<'q, Any, AnyArguments> {
    match value {
        Val::Text(s) => query.bind(*s),
        Val::OptText(s) => query.bind(*s),
        Val::Int(i) => query.bind(*i),
    }
}

/// Inserts `rows` into `table` with multi-row INSERTs of [`BATCH_ROWS`] rows.
///
/// SQLite gets anonymous `?` placeholders: binding a numbered `$n` makes sqlx look its name up, a
/// linear scan per parameter that turns a 5,000-parameter statement quadratic.
pub(super) async fn insert_rows(
    backend: Backend,
    conn: &mut AnyConnection,
    table: &str,
    columns: &str,
    rows: Vec<Vec<Val<'_>>>,
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(BATCH_ROWS) {
        let mut sql = format!("INSERT INTO {table} ({columns}) VALUES ");
        let mut n = 0;
        for (i, row) in chunk.iter().enumerate() {
            sql.push_str(if i == 0 { "(" } else { ", (" });
            for j in 0..row.len() {
                n += 1;
                sql.push_str(if j == 0 { "" } else { ", " });
                super::location::push_placeholder(&mut sql, backend, n);
            }
            sql.push(')');
        }
        // Built from our own table and column names and numbered placeholders only.
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for value in chunk.iter().flatten() {
            query = bind(query, value);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

fn user_from_row(row: &AnyRow) -> Result<User, StoreError> {
    let ha1 = match (
        row.try_get::<Option<String>, _>("ha1_md5")?,
        row.try_get::<Option<String>, _>("ha1_sha256")?,
    ) {
        (Some(md5), Some(sha256)) => Some(Ha1 { md5, sha256 }),
        _ => None,
    };
    Ok(User {
        id: UserId::new(
            row.try_get::<String, _>("domain")?,
            row.try_get::<String, _>("extension")?,
        ),
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        display_name: row.try_get("display_name")?,
        email: row.try_get("email")?,
        department: row.try_get("department")?,
        voicemail: row.try_get("voicemail")?,
        ha1,
    })
}

fn key_from_row(row: &AnyRow) -> Result<(String, Key), StoreError> {
    let kind: String = row.try_get("kind")?;
    let number = |column: &'static str| -> Result<u16, StoreError> {
        let value: i64 = row.try_get(column)?;
        u16::try_from(value).map_err(|_| StoreError::Corrupt {
            what: column,
            value: value.to_string(),
        })
    };
    let key = Key {
        position: number("position")?,
        kind: KeyKind::from_name(&kind).ok_or(StoreError::Corrupt {
            what: "key kind",
            value: kind.clone(),
        })?,
        line: number("line")?,
        target: row.try_get("target")?,
        label: row.try_get("label")?,
    };
    Ok((row.try_get("mac")?, key))
}

fn device_from_row(row: &AnyRow, keys: Vec<Key>) -> Result<Device, StoreError> {
    let mac: String = row.try_get("mac")?;
    let model: String = row.try_get("model")?;
    Ok(Device {
        mac: mac.parse().map_err(|_| StoreError::Corrupt {
            what: "MAC",
            value: mac.clone(),
        })?,
        model: Model::find(&model).ok_or(StoreError::Corrupt {
            what: "model",
            value: model.clone(),
        })?,
        domain: row.try_get("domain")?,
        keys,
    })
}

const KEY_COLUMNS: &str = "mac, position, kind, line, target, label";

impl Store {
    /// Loads the whole inventory.
    ///
    /// Rows are read one at a time, never held as a result set: a 100,000-user table is read without
    /// a transient copy of itself.
    ///
    /// # Errors
    /// [`StoreError`] on a failed query or a row this version cannot read.
    pub async fn load_inventory(&self) -> Result<Inventory, StoreError> {
        self.load_inventory_with_users(&format!("SELECT {USER_COLUMNS} FROM users"))
            .await
    }

    /// Loads every domain and device with its keys, and only the users a key names (a key's target
    /// in its device's domain): what the device-facing servers (provisioning files, SCCP and UNIStim
    /// sessions) need. A site of SIP users without legacy phones then holds none of them twice.
    ///
    /// # Errors
    /// [`StoreError`] on a failed query or a row this version cannot read.
    pub async fn load_device_inventory(&self) -> Result<Inventory, StoreError> {
        self.load_inventory_with_users(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE EXISTS (SELECT 1 FROM device_keys k \
             JOIN devices d ON d.mac = k.mac \
             WHERE k.target = users.extension AND d.domain = users.domain)"
        ))
        .await
    }

    async fn load_inventory_with_users(&self, users_sql: &str) -> Result<Inventory, StoreError> {
        let mut inventory = Inventory::default();
        self.for_each_row(sqlx::query("SELECT name FROM domains"), |row| {
            inventory.domains.insert(row.try_get("name")?);
            Ok(())
        })
        .await?;
        // Built from our own column names only.
        self.for_each_row(sqlx::query(AssertSqlSafe(users_sql.to_owned())), |row| {
            let user = user_from_row(row)?;
            inventory.users.insert(user.id.clone(), user);
            Ok(())
        })
        .await?;
        let mut keys: BTreeMap<String, Vec<Key>> = BTreeMap::new();
        let keys_sql = format!("SELECT {KEY_COLUMNS} FROM device_keys ORDER BY mac, position");
        self.for_each_row(sqlx::query(AssertSqlSafe(keys_sql)), |row| {
            let (mac, key) = key_from_row(row)?;
            keys.entry(mac).or_default().push(key);
            Ok(())
        })
        .await?;
        self.for_each_row(
            sqlx::query("SELECT mac, domain, model FROM devices"),
            |row| {
                let mac: String = row.try_get("mac")?;
                let device = device_from_row(row, keys.remove(&mac).unwrap_or_default())?;
                inventory.devices.insert(device.mac, device);
                Ok(())
            },
        )
        .await?;
        Ok(inventory)
    }

    /// One user, if it exists.
    ///
    /// # Errors
    /// [`StoreError`] on a failed query.
    pub async fn user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE domain = $1 AND extension = $2"
        )))
        .bind(&id.domain)
        .bind(&id.extension)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// One device with its keys, if it exists.
    ///
    /// # Errors
    /// [`StoreError`] on a failed query or a row this version cannot read.
    pub async fn device(&self, mac: &Mac) -> Result<Option<Device>, StoreError> {
        let mac_text = mac.to_string();
        let Some(row) = sqlx::query("SELECT mac, domain, model FROM devices WHERE mac = $1")
            .bind(&mac_text)
            .fetch_optional(self.pool())
            .await?
        else {
            return Ok(None);
        };
        let mut keys = Vec::new();
        for key_row in sqlx::query(AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM device_keys WHERE mac = $1 ORDER BY position"
        )))
        .bind(&mac_text)
        .fetch_all(self.pool())
        .await?
        {
            keys.push(key_from_row(&key_row)?.1);
        }
        device_from_row(&row, keys).map(Some)
    }

    /// Writes `changes` in one transaction: all of it or, on any error, nothing.
    ///
    /// # Errors
    /// [`StoreError`] on a failed statement; the transaction is then rolled back.
    pub async fn apply(&self, changes: &ChangeSet) -> Result<(), StoreError> {
        let now = unix_now();
        let mut tx = self.pool().begin().await?;
        let conn = &mut *tx;

        let domains = changes
            .domains_added
            .iter()
            .map(|d| vec![Val::Text(d), Val::Int(now)])
            .collect();
        insert_rows(self.backend(), conn, "domains", "name, created_at", domains).await?;

        let users = changes
            .users_added
            .iter()
            .map(|u| user_values(u, now))
            .collect();
        insert_rows(self.backend(), conn, "users", USER_COLUMNS, users).await?;
        for (_, user) in &changes.users_updated {
            let values = user_values(user, now);
            let mut query = sqlx::query(
                "UPDATE users SET first_name = $3, last_name = $4, display_name = $5, email = $6, \
                 department = $7, voicemail = $8, ha1_md5 = $9, ha1_sha256 = $10, updated_at = $11 \
                 WHERE domain = $1 AND extension = $2",
            );
            for value in &values {
                query = bind(query, value);
            }
            query.execute(&mut *conn).await?;
        }

        let stale = changes
            .devices_removed
            .iter()
            .chain(changes.devices_updated.iter().map(|(old, _)| old));
        for device in stale {
            sqlx::query("DELETE FROM device_keys WHERE mac = $1")
                .bind(device.mac.to_string())
                .execute(&mut *conn)
                .await?;
        }
        for device in &changes.devices_removed {
            sqlx::query("DELETE FROM devices WHERE mac = $1")
                .bind(device.mac.to_string())
                .execute(&mut *conn)
                .await?;
        }
        for (_, device) in &changes.devices_updated {
            sqlx::query(
                "UPDATE devices SET domain = $2, model = $3, protocol = $4, updated_at = $5 \
                 WHERE mac = $1",
            )
            .bind(device.mac.to_string())
            .bind(&device.domain)
            .bind(device.model.name)
            .bind(device.model.protocol.as_str())
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        let macs: Vec<String> = changes
            .devices_added
            .iter()
            .map(|d| d.mac.to_string())
            .collect();
        let devices = changes
            .devices_added
            .iter()
            .zip(&macs)
            .map(|(d, mac)| {
                vec![
                    Val::Text(mac),
                    Val::Text(&d.domain),
                    Val::Text(d.model.name),
                    Val::Text(d.model.protocol.as_str()),
                    Val::Int(now),
                ]
            })
            .collect();
        insert_rows(
            self.backend(),
            conn,
            "devices",
            "mac, domain, model, protocol, updated_at",
            devices,
        )
        .await?;

        let keyed: Vec<(String, &Device)> = changes
            .devices_added
            .iter()
            .chain(changes.devices_updated.iter().map(|(_, new)| new))
            .map(|d| (d.mac.to_string(), d))
            .collect();
        let keys = keyed
            .iter()
            .flat_map(|(mac, d)| d.keys.iter().map(move |k| key_values(mac, k)))
            .collect();
        insert_rows(self.backend(), conn, "device_keys", KEY_COLUMNS, keys).await?;

        sqlx::query("UPDATE inventory_serial SET serial = serial + 1 WHERE id = 1")
            .execute(&mut *conn)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
