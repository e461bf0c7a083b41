//! The location table and the credentials the SIP registrar needs: bindings replaced per address of
//! record in one transaction (so a restart finds exactly the last accepted set), expired ones swept, and
//! every user's digest HA1 for the registrar's and proxy's in-memory caches.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

use sqlx::{AssertSqlSafe, Row as _};

use super::{Backend, LocationPool, Store, StoreError};
use crate::digest::Ha1;

/// One binding of the `registrations` table (RFC 3261 §10: an address of record to a contact).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationRow {
    /// The AOR's domain.
    pub domain: String,
    /// The AOR's user part.
    pub extension: String,
    /// The contact URI.
    pub contact: Arc<str>,
    /// Unix seconds.
    pub expires_at: i64,
    /// q-value in thousandths.
    pub q: i64,
    /// Call-ID of the REGISTER that made it.
    pub call_id: Arc<str>,
    /// Its CSeq number.
    pub cseq: i64,
    /// Path header values (RFC 3327), in order.
    pub path: Vec<String>,
    /// Transport the REGISTER came over.
    pub transport: Arc<str>,
    /// Source address it came from.
    pub received: Arc<str>,
    /// The registering User-Agent.
    pub user_agent: Arc<str>,
    /// The gateway session owning a legacy line's binding; empty for SIP devices.
    pub owner: Arc<str>,
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
    /// How `rows` differ from the set last written: the write touches no more than that.
    pub change: SetChange,
}

/// How an AOR's binding set differs from the one last written to the store.
///
/// The variants are ordered by how much a write must do; several changes of one AOR written together
/// are written as the greatest of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SetChange {
    /// The same contacts, with only `expires_at`, `call_id` and `cseq` moved: a phone's periodic
    /// refresh, the common case. Those columns are updated in place; a row the store turns out not to
    /// have (an earlier write failed) is upserted whole.
    Refreshed,
    /// A contact added, or another of its columns changed, and none gone: every row is upserted.
    Upserted,
    /// A contact the store may hold is gone (removed, replaced or expired): the rows are upserted and
    /// the AOR's other rows deleted.
    Pruned,
}

/// One binding to write, borrowed from wherever the caller keeps it (the SIP core's location table
/// hands its shared binding sets to the writer). Its texts are shared: on SQLite they are bound as
/// they are, without a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationRef<'a> {
    /// The contact URI.
    pub contact: &'a Arc<str>,
    /// Unix seconds.
    pub expires_at: i64,
    /// q-value in thousandths.
    pub q: i64,
    /// Call-ID of the REGISTER that made it.
    pub call_id: &'a Arc<str>,
    /// Its CSeq number.
    pub cseq: i64,
    /// Path header values (RFC 3327), in order.
    pub path: &'a [String],
    /// Transport the REGISTER came over.
    pub transport: &'a Arc<str>,
    /// Source address it came from.
    pub received: &'a Arc<str>,
    /// The registering User-Agent.
    pub user_agent: &'a Arc<str>,
    /// The gateway session owning a legacy line's binding; empty for SIP devices.
    pub owner: &'a Arc<str>,
}

/// [`AorBindings`], borrowed: what [`Store::write_registration_sets`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AorWrite<'a> {
    /// The AOR's domain.
    pub domain: &'a str,
    /// The AOR's user part.
    pub extension: &'a str,
    /// Its bindings; empty removes them all.
    pub rows: Vec<RegistrationRef<'a>>,
    /// As [`AorBindings::change`].
    pub change: SetChange,
}

impl RegistrationRow {
    /// The row borrowed (its AOR columns are the set's).
    pub fn as_ref(&self) -> RegistrationRef<'_> {
        RegistrationRef {
            contact: &self.contact,
            expires_at: self.expires_at,
            q: self.q,
            call_id: &self.call_id,
            cseq: self.cseq,
            path: &self.path,
            transport: &self.transport,
            received: &self.received,
            user_agent: &self.user_agent,
            owner: &self.owner,
        }
    }
}

impl AorBindings {
    /// The set borrowed. Its rows' own `domain` and `extension` are not read: the set's are written.
    pub fn as_write(&self) -> AorWrite<'_> {
        AorWrite {
            domain: &self.domain,
            extension: &self.extension,
            rows: self.rows.iter().map(RegistrationRow::as_ref).collect(),
            change: self.change,
        }
    }
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
        let mut out = Vec::new();
        let query = sqlx::query("SELECT domain, extension, ha1_md5, ha1_sha256 FROM users");
        self.for_each_row(query, |row| {
            out.push(credential_from_row(row)?);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// The bindings that have not expired at `now` (Unix seconds).
    ///
    /// # Errors
    /// [`StoreError`] on a failed query.
    pub async fn load_registrations(&self, now: i64) -> Result<Vec<RegistrationRow>, StoreError> {
        let mut out = Vec::new();
        let query = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM registrations WHERE expires_at > $1 ORDER BY domain, extension, q DESC"
        )))
        .bind(now);
        self.for_each_row(query, |r| {
            let path: String = r.try_get("path")?;
            out.push(RegistrationRow {
                domain: r.try_get("domain")?,
                extension: r.try_get("extension")?,
                contact: shared(r, "contact")?,
                expires_at: r.try_get("expires_at")?,
                q: r.try_get("q")?,
                call_id: shared(r, "call_id")?,
                cseq: r.try_get("cseq")?,
                path: split_path(&path),
                transport: shared(r, "transport")?,
                received: shared(r, "received")?,
                user_agent: shared(r, "user_agent")?,
                owner: shared(r, "owner")?,
            });
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// Replaces the binding sets of these AORs, all in one transaction, on the store's location
    /// connection (see [`Store::open`]).
    ///
    /// The bindings of [`SetChange::Refreshed`] sets get their expiry, Call-ID and CSeq updated in
    /// place; any the store does not have are upserted with the rest. Every other binding is upserted
    /// (a changed one rewrites its row in place, the cheapest change a B-tree allows). Then, of the
    /// [`SetChange::Pruned`] sets, the rows this write did not touch are deleted: the transaction's
    /// unique write stamp tells them apart. Rows go in the order given; in AOR order they walk the
    /// table's primary key from one end to the other.
    ///
    /// Each AOR appears at most once in `sets`, and its contacts are distinct (as the registrar keeps
    /// them): PostgreSQL rejects an upsert that touches one row twice.
    ///
    /// # Errors
    /// [`StoreError`] on a failed statement; nothing is written then.
    pub async fn write_registrations(&self, sets: &[AorBindings]) -> Result<(), StoreError> {
        let sets: Vec<AorWrite<'_>> = sets.iter().map(AorBindings::as_write).collect();
        self.write_registration_sets(&sets).await
    }

    /// [`Store::write_registrations`] of borrowed sets.
    ///
    /// # Errors
    /// As [`Store::write_registrations`].
    pub async fn write_registration_sets(&self, sets: &[AorWrite<'_>]) -> Result<(), StoreError> {
        if sets.is_empty() {
            return Ok(());
        }
        match self.location_pool() {
            LocationPool::Sqlite(pool) => {
                write_sets(pool, Backend::Sqlite, sets, |r| r.rows_affected()).await
            }
            LocationPool::Postgres(pool) => {
                write_sets(pool, Backend::Postgres, sets, |r| r.rows_affected()).await
            }
        }
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

/// A binding to write and the set it belongs to.
type Row<'s, 'a> = (&'s AorWrite<'a>, &'s RegistrationRef<'a>);

/// [`Store::write_registration_sets`] on the location writer's own pool, whichever driver it is
/// (`affected`: the rows a statement changed, which each driver reports in its own type).
async fn write_sets<DB>(
    pool: &sqlx::Pool<DB>,
    backend: Backend,
    sets: &[AorWrite<'_>],
    affected: fn(&DB::QueryResult) -> u64,
) -> Result<(), StoreError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Arc<str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let now = super::unix_now();
    let stamp = write_stamp();
    let mut tx = pool.begin().await?;
    let (refreshed, mut upserted): (Vec<Row<'_, '_>>, Vec<Row<'_, '_>>) = sets
        .iter()
        .flat_map(|s| s.rows.iter().map(move |r| (s, r)))
        .partition(|(s, _)| s.change == SetChange::Refreshed);
    for chunk in fixed_chunks(&refreshed) {
        let mut query = sqlx::query::<DB>(AssertSqlSafe(refresh_sql(backend, chunk.len())))
            .bind(now)
            .bind(stamp);
        for &(set, r) in chunk {
            query = bind_key(query, set, r)
                .bind(r.expires_at)
                .bind(Arc::clone(r.call_id))
                .bind(r.cseq);
        }
        let done = query.execute(&mut *tx).await?;
        if usize::try_from(affected(&done)).ok() != Some(chunk.len()) {
            // Some row is missing; upserting the whole chunk again writes it and changes nothing else.
            upserted.extend_from_slice(chunk);
        }
    }
    for chunk in fixed_chunks(&upserted) {
        let mut query = sqlx::query::<DB>(AssertSqlSafe(upsert_sql(backend, chunk.len())));
        for &(set, r) in chunk {
            query = bind_key(query, set, r)
                .bind(r.expires_at)
                .bind(r.q)
                .bind(Arc::clone(r.call_id))
                .bind(r.cseq)
                .bind(path_column(r.path))
                .bind(Arc::clone(r.transport))
                .bind(Arc::clone(r.received))
                .bind(Arc::clone(r.user_agent))
                .bind(Arc::clone(r.owner))
                .bind(now)
                .bind(stamp);
        }
        query.execute(&mut *tx).await?;
    }
    // One DELETE per domain and chunk of extensions, not one per AOR.
    let mut by_domain: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for set in sets.iter().filter(|s| s.change == SetChange::Pruned) {
        by_domain.entry(set.domain).or_default().push(set.extension);
    }
    for (domain, extensions) in by_domain {
        for chunk in fixed_chunks(&extensions) {
            let mut query =
                sqlx::query::<DB>(AssertSqlSafe(delete_stale_sql(backend, chunk.len())))
                    .bind(domain)
                    .bind(stamp);
            for extension in chunk {
                query = query.bind(*extension);
            }
            query.execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Binds a binding's primary key: domain, extension, contact.
fn bind_key<'q, DB>(
    query: sqlx::query::Query<'q, DB, DB::Arguments>,
    set: &AorWrite<'q>,
    r: &RegistrationRef<'q>,
) -> sqlx::query::Query<'q, DB, DB::Arguments>
where
    DB: sqlx::Database,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Arc<str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query
        .bind(set.domain)
        .bind(set.extension)
        .bind(Arc::clone(r.contact))
}

/// The `path` column of these Path values: comma-separated, the one shared empty text for none (the
/// common case, bound without an allocation).
fn path_column(path: &[String]) -> Arc<str> {
    static EMPTY: OnceLock<Arc<str>> = OnceLock::new();
    if path.is_empty() {
        Arc::clone(EMPTY.get_or_init(|| Arc::from("")))
    } else {
        Arc::from(path.join(","))
    }
}

/// A text column as a shared string.
fn shared(r: &sqlx::any::AnyRow, column: &str) -> Result<Arc<str>, StoreError> {
    Ok(Arc::from(r.try_get::<String, _>(column)?))
}

/// Statement sizes of the location writer: a write is cut into chunks of these many rows (or AORs)
/// only, largest first, so its statements take a handful of shapes that stay prepared on the
/// connection instead of one new shape for every odd-sized remainder.
const CHUNKS: [usize; 5] = [500, 100, 25, 5, 1];

/// `items` cut into chunks of [`CHUNKS`] sizes, largest first.
fn fixed_chunks<T>(mut items: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        let size = CHUNKS.iter().copied().find(|&n| n <= items.len())?;
        let (chunk, rest) = items.split_at(size);
        items = rest;
        Some(chunk)
    })
}

/// A stamp no earlier write of this process used: the time in nanoseconds, or one more than the last
/// stamp if the clock has not moved on. Another node sharing a PostgreSQL store draws from its own
/// clock; the two would have to write the same AOR in the same nanosecond for a stale row to survive.
fn write_stamp() -> i64 {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    let previous = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(now.max(last.saturating_add(1)))
        })
        .unwrap_or(0);
    now.max(previous.saturating_add(1))
}

/// Placeholder number `n` (from 1): SQLite gets anonymous `?`, bound in order (binding a numbered
/// `$n` makes sqlx look its name up, a linear scan per parameter), PostgreSQL `$n`.
pub(super) fn push_placeholder(sql: &mut String, backend: Backend, n: usize) {
    match backend {
        Backend::Sqlite => sql.push('?'),
        Backend::Postgres => {
            sql.push('$');
            sql.push_str(&n.to_string());
        }
    }
}

/// The statement text for `rows` rows (one of [`CHUNKS`]), built once per backend and size.
fn cached_sql(
    cache: &'static [OnceLock<Arc<str>>; 2 * CHUNKS.len()],
    backend: Backend,
    rows: usize,
    build: impl FnOnce() -> String,
) -> Arc<str> {
    let size = CHUNKS.iter().position(|&n| n == rows);
    let slot = size.map(|i| match backend {
        Backend::Sqlite => i,
        Backend::Postgres => CHUNKS.len() + i,
    });
    match slot.and_then(|i| cache.get(i)) {
        Some(cell) => Arc::clone(cell.get_or_init(|| build().into())),
        None => build().into(),
    }
}

/// Columns written per binding, in bind order.
const UPSERT_COLUMNS: &str = "domain, extension, contact, expires_at, q, call_id, cseq, path, transport, \
                              received, user_agent, owner, updated_at, write_stamp";
const UPSERT_WIDTH: usize = 14;
/// Values per binding of [`refresh_sql`]'s list.
const REFRESH_WIDTH: usize = 6;

/// `INSERT ... ON CONFLICT (primary key) DO UPDATE` of `rows` bindings.
fn upsert_sql(backend: Backend, rows: usize) -> Arc<str> {
    static CACHE: [OnceLock<Arc<str>>; 2 * CHUNKS.len()] =
        [const { OnceLock::new() }; 2 * CHUNKS.len()];
    cached_sql(&CACHE, backend, rows, || {
        let mut sql = format!("INSERT INTO registrations ({UPSERT_COLUMNS}) VALUES ");
        push_rows(&mut sql, backend, 0, rows, UPSERT_WIDTH);
        sql.push_str(
            " ON CONFLICT (domain, extension, contact) DO UPDATE SET \
             expires_at = excluded.expires_at, q = excluded.q, call_id = excluded.call_id, \
             cseq = excluded.cseq, path = excluded.path, transport = excluded.transport, \
             received = excluded.received, user_agent = excluded.user_agent, owner = excluded.owner, \
             updated_at = excluded.updated_at, write_stamp = excluded.write_stamp",
        );
        sql
    })
}

/// `UPDATE` of the expiry, Call-ID and CSeq of `rows` bindings, joined to a `VALUES` list by primary
/// key: parameters `updated_at`, `write_stamp`, then per binding domain, extension, contact,
/// expires_at, call_id, cseq. Six values a binding, not the upsert's fourteen; SQLite (3.33 and
/// later) and PostgreSQL both name the list's columns `column1`, `column2`, ...
fn refresh_sql(backend: Backend, rows: usize) -> Arc<str> {
    static CACHE: [OnceLock<Arc<str>>; 2 * CHUNKS.len()] =
        [const { OnceLock::new() }; 2 * CHUNKS.len()];
    cached_sql(&CACHE, backend, rows, || {
        let mut sql = String::from(
            "UPDATE registrations SET expires_at = v.column4, call_id = v.column5, cseq = v.column6, updated_at = ",
        );
        push_placeholder(&mut sql, backend, 1);
        sql.push_str(", write_stamp = ");
        push_placeholder(&mut sql, backend, 2);
        sql.push_str(" FROM (VALUES ");
        push_rows(&mut sql, backend, 2, rows, REFRESH_WIDTH);
        sql.push_str(
            ") AS v WHERE registrations.domain = v.column1 AND registrations.extension = v.column2 \
             AND registrations.contact = v.column3",
        );
        sql
    })
}

/// `rows` parenthesised lists of `width` placeholders each, numbered on from `before`.
fn push_rows(sql: &mut String, backend: Backend, before: usize, rows: usize, width: usize) {
    let mut n = before;
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..width {
            n += 1;
            if column > 0 {
                sql.push_str(", ");
            }
            push_placeholder(sql, backend, n);
        }
        sql.push(')');
    }
}

/// `DELETE` of the rows of `extensions` AORs of one domain that a write with another stamp left:
/// parameters domain, stamp, then the extensions.
fn delete_stale_sql(backend: Backend, extensions: usize) -> Arc<str> {
    static CACHE: [OnceLock<Arc<str>>; 2 * CHUNKS.len()] =
        [const { OnceLock::new() }; 2 * CHUNKS.len()];
    cached_sql(&CACHE, backend, extensions, || {
        let mut sql = String::from("DELETE FROM registrations WHERE domain = ");
        push_placeholder(&mut sql, backend, 1);
        sql.push_str(" AND write_stamp <> ");
        push_placeholder(&mut sql, backend, 2);
        sql.push_str(" AND extension IN (");
        for i in 0..extensions {
            if i > 0 {
                sql.push_str(", ");
            }
            push_placeholder(&mut sql, backend, i + 3);
        }
        sql.push(')');
        sql
    })
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
    use super::{fixed_chunks, split_path};

    #[test]
    fn chunks_take_the_fixed_sizes_largest_first() {
        let items: Vec<usize> = (0..1_138).collect();
        let sizes: Vec<usize> = fixed_chunks(&items).map(<[usize]>::len).collect();
        assert_eq!(sizes, [500, 500, 100, 25, 5, 5, 1, 1, 1]);
        assert!(fixed_chunks::<usize>(&[]).next().is_none());
        let flat: Vec<usize> = fixed_chunks(&items).flatten().copied().collect();
        assert_eq!(flat, items);
    }

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
