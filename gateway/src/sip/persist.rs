//! Write-behind persistence of the location table: the SIP core queues every changed AOR's binding set
//! in [`Persister`], which hands the queue to a writer task at most every [`FLUSH`] (or at [`BATCH`]
//! AORs), and the writer writes each hand-over in one transaction. A registration storm therefore
//! costs one cross-thread wake-up and one commit per batch instead of one per REGISTER (the wake-ups
//! were measured at over a third of the server's CPU at 5,000 REGISTER/s when the queue went over
//! after every loop turn). At shutdown the queue is drained before the store closes, so a clean
//! restart loses no binding; a crash loses at most the last [`FLUSH`] of changes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use provisioning::Store;
use provisioning::store::{AorWrite, RegistrationRef, SetChange};
use sip_core::location::{Aor, Binding, Location, shared_text};
use tokio::sync::mpsc;

/// Longest a change waits before it is written.
pub const FLUSH: Duration = Duration::from_millis(250);
/// Most AORs written in one transaction.
pub const BATCH: usize = 5000;

/// One AOR's new binding set (shared with the location table: nothing is copied on the SIP core's
/// thread), and how it differs from the set saved before it.
type Change = (Aor, Arc<[Binding]>, SetChange);

/// Sends changed binding sets to the writer task.
#[derive(Debug)]
pub struct Persister {
    tx: mpsc::UnboundedSender<Vec<Change>>,
    /// Changes queued since the last hand-over.
    queued: Vec<Change>,
    /// When the oldest queued change was queued.
    since: Option<Instant>,
}

impl Persister {
    /// Starts the writer task; it ends, after writing everything queued, when every `Persister` clone
    /// is dropped.
    pub fn start(store: Store) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(writer(store, rx));
        (
            Self {
                tx,
                queued: Vec::new(),
                since: None,
            },
            task,
        )
    }

    /// Queues the full binding set of `aor` (empty: all removed); it leaves with the next hand-over
    /// ([`Persister::flush_due`] once [`FLUSH`] has passed, or [`Persister::flush`]). `change`: how
    /// the set differs from the one saved before it ([`SetChange::Pruned`] when a contact is gone).
    pub fn save(&mut self, aor: Aor, bindings: Arc<[Binding]>, change: SetChange) {
        self.since.get_or_insert_with(Instant::now);
        self.queued.push((aor, bindings, change));
    }

    /// When the queue must be handed over: [`FLUSH`] after its oldest change; `None` when empty.
    pub fn deadline(&self) -> Option<Instant> {
        self.since.map(|t| t + FLUSH)
    }

    /// Hands the queue over when its deadline has passed at `now` or it holds [`BATCH`] changes.
    pub fn flush_due(&mut self, now: Instant) {
        if self.queued.len() >= BATCH || self.deadline().is_some_and(|d| d <= now) {
            self.flush();
        }
    }

    /// Hands whatever is queued to the writer task now.
    pub fn flush(&mut self) {
        self.since = None;
        if !self.queued.is_empty() {
            let _ = self.tx.send(std::mem::take(&mut self.queued));
        }
    }
}

impl Drop for Persister {
    fn drop(&mut self) {
        self.flush();
    }
}

async fn writer(store: Store, mut rx: mpsc::UnboundedReceiver<Vec<Change>>) {
    // Whatever arrived while the last transaction ran is written with the next one.
    while let Some(mut changes) = rx.recv().await {
        while let Ok(more) = rx.try_recv() {
            changes.extend(more);
        }
        let changes = coalesce(changes);
        let sets: Vec<AorWrite<'_>> = changes.iter().map(to_write).collect();
        if let Err(e) = store.write_registration_sets(&sets).await {
            tracing::error!(error = %e, aors = sets.len(), "cannot persist registrations");
        }
    }
}

/// The changes as one binding set per AOR, the latest change of each, in AOR order (the store's key
/// order, so a write walks the table from one end to the other), written as the greatest of its
/// changes: a refresh after a removal in the same batch still deletes the removed row, and a refresh
/// after an added contact still inserts it.
fn coalesce(mut changes: Vec<Change>) -> Vec<Change> {
    // Newest first, then a stable sort: of an AOR's changes the newest comes first and stays.
    changes.reverse();
    changes.sort_by(|(a, ..), (b, ..)| aor_order(a, b));
    changes.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            kept.2 = kept.2.max(later.2);
        }
        same
    });
    changes
}

/// The order of the store's primary key (domain, extension), the domain compared as [`Aor`] does.
fn aor_order(a: &Aor, b: &Aor) -> std::cmp::Ordering {
    fn lower(aor: &Aor) -> impl Iterator<Item = u8> + '_ {
        aor.domain.bytes().map(|c| c.to_ascii_lowercase())
    }
    lower(a).cmp(lower(b)).then_with(|| a.user.cmp(&b.user))
}

/// A change as the store writes it, borrowed.
fn to_write((aor, bindings, change): &Change) -> AorWrite<'_> {
    AorWrite {
        domain: &aor.domain,
        extension: &aor.user,
        change: *change,
        rows: bindings
            .iter()
            .map(|b| RegistrationRef {
                contact: &b.contact,
                expires_at: i64::try_from(b.expires_at).unwrap_or(i64::MAX),
                q: i64::from(b.q),
                call_id: &b.call_id,
                cseq: i64::from(b.cseq),
                path: &b.path,
                transport: &b.transport,
                received: &b.received,
                user_agent: &b.user_agent,
                owner: &b.owner,
            })
            .collect(),
    }
}

/// A text as loaded, or the one shared empty text for an empty one (most bindings' `owner`).
fn shared(text: Arc<str>) -> Arc<str> {
    if text.is_empty() {
        shared_text(None, "")
    } else {
        text
    }
}

/// The live bindings in the store at `now`, as a location table; expired rows are deleted first.
///
/// # Errors
/// A failed query.
pub async fn load(store: &Store, now: u64) -> Result<Location, provisioning::StoreError> {
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    // Rows that expired while the gateway was down, and any a refresh write did not prune.
    let expired = store.delete_expired_registrations(now).await?;
    if expired > 0 {
        tracing::info!(expired, "expired registrations removed from the store");
    }
    let rows = store.load_registrations(now).await?;
    let mut location = Location::with_capacity(rows.len());
    for r in rows {
        let aor = Aor::new(r.extension, &r.domain);
        location.add(
            aor,
            Binding {
                contact: shared(r.contact),
                expires_at: u64::try_from(r.expires_at).unwrap_or(0),
                q: u16::try_from(r.q.clamp(0, 1000)).unwrap_or(1000),
                call_id: shared(r.call_id),
                cseq: u32::try_from(r.cseq).unwrap_or(0),
                path: r.path,
                transport: shared(r.transport),
                received: shared(r.received),
                user_agent: shared(r.user_agent),
                owner: shared(r.owner),
            },
        );
    }
    Ok(location)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(contact: &str, call_id: &str) -> Binding {
        Binding {
            contact: contact.into(),
            expires_at: 2_000,
            q: 1000,
            call_id: call_id.into(),
            cseq: 1,
            path: vec!["<sip:edge.example.com;lr>".to_owned()],
            transport: "UDP".into(),
            received: "192.0.2.7:5060".into(),
            user_agent: "sipp".into(),
            owner: "".into(),
        }
    }

    #[test]
    fn coalescing_keeps_the_newest_set_per_aor_in_key_order() {
        let b = Aor::new("1002", "acme.example.com");
        let a = Aor::new("1001", "acme.example.com");
        let g = Aor::new("1001", "globex.example.com");
        let changes = vec![
            (
                g,
                Arc::from(vec![binding("sip:g@192.0.2.3", "g1")]),
                SetChange::Refreshed,
            ),
            (
                b.clone(),
                Arc::from(vec![binding("sip:b@192.0.2.2", "b1")]),
                SetChange::Upserted,
            ),
            (
                a.clone(),
                Arc::from(vec![binding("sip:a@192.0.2.1", "a1")]),
                SetChange::Upserted,
            ),
            (
                b.clone(),
                Arc::from(vec![binding("sip:b@192.0.2.2", "b2")]),
                SetChange::Refreshed,
            ),
            (a, Arc::from([]), SetChange::Pruned),
            (
                b,
                Arc::from(vec![binding("sip:b@192.0.2.9", "b3")]),
                SetChange::Pruned,
            ),
        ];
        let changes = coalesce(changes);
        let sets: Vec<AorWrite<'_>> = changes.iter().map(to_write).collect();
        let keys: Vec<_> = sets.iter().map(|s| (s.domain, s.extension)).collect();
        assert_eq!(
            keys,
            [
                ("acme.example.com", "1001"),
                ("acme.example.com", "1002"),
                ("globex.example.com", "1001")
            ]
        );
        assert!(sets[0].rows.is_empty(), "the removal came last");
        assert_eq!(sets[1].rows.len(), 1);
        let row = &sets[1].rows[0];
        assert_eq!((&**row.contact, &**row.call_id), ("sip:b@192.0.2.9", "b3"));
        assert_eq!(row.path, ["<sip:edge.example.com;lr>"]);
        assert_eq!((&**row.transport, &**row.user_agent), ("UDP", "sipp"));
        assert_eq!(&**sets[2].rows[0].call_id, "g1");
        assert_eq!(
            sets.iter().map(|s| s.change).collect::<Vec<_>>(),
            [SetChange::Pruned, SetChange::Pruned, SetChange::Refreshed]
        );
    }

    #[test]
    fn a_removal_then_a_refresh_in_one_batch_still_prunes() {
        let a = Aor::new("1001", "acme.example.com");
        let changes = vec![
            // The first contact is replaced by another, then the new one is refreshed.
            (
                a.clone(),
                Arc::from(vec![binding("sip:a@192.0.2.2", "a1")]),
                SetChange::Pruned,
            ),
            (
                a,
                Arc::from(vec![binding("sip:a@192.0.2.2", "a2")]),
                SetChange::Refreshed,
            ),
        ];
        let changes = coalesce(changes);
        let sets: Vec<AorWrite<'_>> = changes.iter().map(to_write).collect();
        assert_eq!(sets.len(), 1);
        assert_eq!(
            sets[0].change,
            SetChange::Pruned,
            "the replaced contact's row must still go"
        );
        assert_eq!(&**sets[0].rows[0].call_id, "a2");
    }
}
