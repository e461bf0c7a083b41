//! The location table and the credentials the SIP registrar needs: bindings replaced per address of
//! record in one transaction (so a restart finds exactly the last accepted set), expired ones swept, and
//! every user's digest HA1 for the registrar's and proxy's in-memory caches.

use sqlx::Row as _;

use super::inventory::{Val, insert_rows};
use super::{Store, StoreError};
use crate::digest::Ha1;

/// One binding of the `registrations` table (RFC 3261 §10: an address of record to a contact).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationRow {
    /// The AOR's domain.
    pub domain: String,
    /// The AOR's user part.
    pub extension: String,
    /// The contact URI.
    pub contact: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// q-value in thousandths.
    pub q: i64,
    /// Call-ID of the REGISTER that made it.
    pub call_id: String,
    /// Its CSeq number.
    pub cseq: i64,
    /// Path header values (RFC 3327), in order.
    pub path: Vec<String>,
    /// Transport the REGISTER came over.
    pub transport: String,
    /// Source address it came from.
    pub received: String,
    /// The registering User-Agent.
    pub user_agent: String,
    /// The gateway session owning a legacy line's binding; empty for SIP devices.
    pub owner: String,
}

/// The full binding set of one AOR, to replace what the store has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AorBindings {
    /// The AOR's domain.
    pub domain: String,
    /// The AOR's user part.
    pub extension: String,
    /// Its bindings; empty removes them all.
    pub rows: Vec<RegistrationRow>,
}

/// A user's digest credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The domain (the digest realm).
    pub domain: String,
    /// The extension (the digest username).
    pub extension: String,
    /// The HA1 values; `None` for a user without a SIP password (legacy lines only).
    pub ha1: Option<Ha1>,
}

const COLUMNS: &str = "domain, extension, contact, expires_at, q, call_id, cseq, path, transport, received, \
                       user_agent, owner, updated_at";

impl Store {
    /// Every domain.
    ///
    /// # Errors
    /// [`StoreError`] on a failed query.
    pub async fn domains(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT name FROM domains ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| r.try_get("name").map_err(Into::into))
            .collect()
    }

    /// Every user with its credentials.
    ///
    /// # Errors
    /// [`StoreError`] on a failed query.
    pub async fn credentials(&self) -> Result<Vec<Credential>, StoreError> {
        let rows = sqlx::query("SELECT domain, extension, ha1_md5, ha1_sha256 FROM users")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(credential_from_row).collect()
    }

    /// The number of users and the newest `updated_at` among them: enough to tell whether the users
    /// changed since the last look (a removal changes the count, an import bumps `updated_at`).
    ///
    /// # Errors
    /// [`StoreError`] on a failed query.
    pub async fn users_fingerprint(&self) -> Result<(i64, i64), StoreError> {
        let row =
            sqlx::query("SELECT count(*) AS n, COALESCE(max(updated_at), 0) AS newest FROM users")
                .fetch_one(self.pool())
                .await?;
        Ok((row.try_get("n")?, row.try_get("newest")?))
    }

    /// The users changed at or after `since` (Unix seconds), with their credentials.
    ///
    /// # Errors
    /// [`StoreError`] on a failed query.
    pub async fn credentials_since(&self, since: i64) -> Result<Vec<Credential>, StoreError> {
        let rows = sqlx::query(
            "SELECT domain, extension, ha1_md5, ha1_sha256 FROM users WHERE updated_at >= $1",
        )
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(credential_from_row).collect()
    }

    /// The bindings that have not expired at `now` (Unix seconds).
    ///
    /// # Errors
    /// [`StoreError`] on a failed query.
    pub async fn load_registrations(&self, now: i64) -> Result<Vec<RegistrationRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM registrations WHERE expires_at > $1 ORDER BY domain, extension, q DESC"
        )))
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let path: String = r.try_get("path")?;
                Ok(RegistrationRow {
                    domain: r.try_get("domain")?,
                    extension: r.try_get("extension")?,
                    contact: r.try_get("contact")?,
                    expires_at: r.try_get("expires_at")?,
                    q: r.try_get("q")?,
                    call_id: r.try_get("call_id")?,
                    cseq: r.try_get("cseq")?,
                    path: split_path(&path),
                    transport: r.try_get("transport")?,
                    received: r.try_get("received")?,
                    user_agent: r.try_get("user_agent")?,
                    owner: r.try_get("owner")?,
                })
            })
            .collect()
    }

    /// Replaces the binding sets of these AORs, all in one transaction.
    ///
    /// # Errors
    /// [`StoreError`] on a failed statement; nothing is written then.
    pub async fn write_registrations(&self, sets: &[AorBindings]) -> Result<(), StoreError> {
        if sets.is_empty() {
            return Ok(());
        }
        let now = super::unix_now();
        let mut tx = self.pool().begin().await?;
        // One DELETE per domain and chunk of extensions, not one per AOR: a registration storm writes
        // a thousand AORs per transaction.
        let mut by_domain: std::collections::BTreeMap<&str, Vec<&str>> =
            std::collections::BTreeMap::new();
        for set in sets {
            by_domain
                .entry(&set.domain)
                .or_default()
                .push(&set.extension);
        }
        for (domain, extensions) in by_domain {
            for chunk in extensions.chunks(500) {
                let mut sql = String::from("DELETE FROM registrations WHERE domain = ");
                let placeholder = |n: usize| match self.backend() {
                    super::Backend::Sqlite => "?".to_owned(),
                    super::Backend::Postgres => format!("${n}"),
                };
                sql.push_str(&placeholder(1));
                sql.push_str(" AND extension IN (");
                for i in 0..chunk.len() {
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&placeholder(i + 2));
                }
                sql.push(')');
                // Built from our own column names and numbered placeholders only.
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(domain);
                for extension in chunk {
                    query = query.bind(*extension);
                }
                query.execute(&mut *tx).await?;
            }
        }
        let paths: Vec<String> = sets
            .iter()
            .flat_map(|s| &s.rows)
            .map(|r| r.path.join(","))
            .collect();
        let rows = sets
            .iter()
            .flat_map(|s| &s.rows)
            .zip(&paths)
            .map(|(r, path)| {
                vec![
                    Val::Text(&r.domain),
                    Val::Text(&r.extension),
                    Val::Text(&r.contact),
                    Val::Int(r.expires_at),
                    Val::Int(r.q),
                    Val::Text(&r.call_id),
                    Val::Int(r.cseq),
                    Val::Text(path),
                    Val::Text(&r.transport),
                    Val::Text(&r.received),
                    Val::Text(&r.user_agent),
                    Val::Text(&r.owner),
                    Val::Int(now),
                ]
            })
            .collect();
        insert_rows(self.backend(), &mut tx, "registrations", COLUMNS, rows).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes the bindings expired at `now`; returns how many.
    ///
    /// # Errors
    /// [`StoreError`] on a failed statement.
    pub async fn delete_expired_registrations(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM registrations WHERE expires_at <= $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}

fn credential_from_row(r: &sqlx::any::AnyRow) -> Result<Credential, StoreError> {
    let md5: Option<String> = r.try_get("ha1_md5")?;
    let sha256: Option<String> = r.try_get("ha1_sha256")?;
    let ha1 = match (md5, sha256) {
        (Some(md5), Some(sha256)) => Some(Ha1 { md5, sha256 }),
        _ => None,
    };
    Ok(Credential {
        domain: r.try_get("domain")?,
        extension: r.try_get("extension")?,
        ha1,
    })
}

/// Path values are stored comma-separated; a Path value is a name-addr in `<...>`, so a comma inside
/// angle brackets or quotes does not split.
fn split_path(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(text[start..i].trim().to_owned());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = text[start..].trim();
    if !last.is_empty() {
        out.push(last.to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::split_path;

    #[test]
    fn paths_split_at_top_level_commas() {
        assert_eq!(split_path(""), Vec::<String>::new());
        assert_eq!(
            split_path("<sip:p1.example.com;lr>, <sip:p2.example.com;lr;x=\"a,b\">"),
            vec![
                "<sip:p1.example.com;lr>",
                "<sip:p2.example.com;lr;x=\"a,b\">"
            ]
        );
    }
}
