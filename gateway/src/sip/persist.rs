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
use sip_core::location::{Aor, AorRef, Binding, Location, shared_text};
use tokio::sync::mpsc;

/// Longest a change waits before it is written.
pub const FLUSH: Duration = Duration::from_millis(250);
/// Most AORs written in one transaction.
pub const BATCH: usize = 5000;

/// Changes queued together and handed to the writer as one.
///
/// The AORs' texts are copied into one buffer rather than queued as [`Aor`]s: the SIP core keeps its
/// own small allocations (the writer thread frees one buffer a hand-over, not two strings a
/// registration), and a refresh queues its AOR without a copy of its own.
#[derive(Debug, Default)]
struct Batch {
    /// Every queued AOR's domain and user, one after the other.
    text: String,
    changes: Vec<Queued>,
}

/// One AOR's new binding set (shared with the location table: nothing is copied on the SIP core's
/// thread), and how it differs from the set saved before it.
#[derive(Debug)]
struct Queued {
    /// Where the AOR's domain, then its user, are in [`Batch::text`].
    domain: std::ops::Range<usize>,
    user: std::ops::Range<usize>,
    bindings: Arc<[Binding]>,
    change: SetChange,
}

impl Batch {
    fn push(&mut self, aor: &Aor, bindings: Arc<[Binding]>, change: SetChange) {
        let mut part = |s: &str| {
            let start = self.text.len();
            self.text.push_str(s);
            start..self.text.len()
        };
        let domain = part(&aor.domain);
        let user = part(&aor.user);
        self.changes.push(Queued {
            domain,
            user,
            bindings,
            change,
        });
    }

    /// The queued changes, borrowed, in the order they were queued.
    fn changes(&self) -> impl Iterator<Item = Change<'_>> {
        self.changes.iter().map(|q| Change {
            aor: AorRef {
                user: self.text.get(q.user.clone()).unwrap_or_default(),
                domain: self.text.get(q.domain.clone()).unwrap_or_default(),
            },
            bindings: &q.bindings,
            change: q.change,
        })
    }
}

/// A queued change, borrowed from its [`Batch`].
#[derive(Debug, Clone, Copy)]
struct Change<'a> {
    aor: AorRef<'a>,
    bindings: &'a Arc<[Binding]>,
    change: SetChange,
}

/// Sends changed binding sets to the writer task.
#[derive(Debug)]
pub struct Persister {
    tx: mpsc::UnboundedSender<Batch>,
    /// Changes queued since the last hand-over.
    queued: Batch,
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
                queued: Batch::default(),
                since: None,
            },
            task,
        )
    }

    /// Queues the full binding set of `aor` (empty: all removed); it leaves with the next hand-over
    /// ([`Persister::flush_due`] once [`FLUSH`] has passed, or [`Persister::flush`]). `change`: how
    /// the set differs from the one saved before it ([`SetChange::Pruned`] when a contact is gone).
    pub fn save(&mut self, aor: &Aor, bindings: Arc<[Binding]>, change: SetChange) {
        self.since.get_or_insert_with(Instant::now);
        self.queued.push(aor, bindings, change);
    }

    /// When the queue must be handed over: [`FLUSH`] after its oldest change; `None` when empty.
    pub fn deadline(&self) -> Option<Instant> {
        self.since.map(|t| t + FLUSH)
    }

    /// Hands the queue over when its deadline has passed at `now` or it holds [`BATCH`] changes.
    pub fn flush_due(&mut self, now: Instant) {
        if self.queued.changes.len() >= BATCH || self.deadline().is_some_and(|d| d <= now) {
            self.flush();
        }
    }

    /// Hands whatever is queued to the writer task now.
    pub fn flush(&mut self) {
        self.since = None;
        if !self.queued.changes.is_empty() {
            let _ = self.tx.send(std::mem::take(&mut self.queued));
        }
    }
}

impl Drop for Persister {
    fn drop(&mut self) {
        self.flush();
    }
}

async fn writer(store: Store, mut rx: mpsc::UnboundedReceiver<Batch>) {
    // Whatever arrived while the last transaction ran is written with the next one.
    while let Some(first) = rx.recv().await {
        let mut batches = vec![first];
        while let Ok(more) = rx.try_recv() {
            batches.push(more);
        }
        let changes = coalesce(batches.iter().flat_map(Batch::changes).collect());
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
fn coalesce(mut changes: Vec<Change<'_>>) -> Vec<Change<'_>> {
    // Newest first, then a stable sort: of an AOR's changes the newest comes first and stays.
    changes.reverse();
    changes.sort_by(|a, b| aor_order(&a.aor, &b.aor));
    changes.dedup_by(|later, kept| {
        let same = aor_order(&later.aor, &kept.aor).is_eq();
        if same {
            kept.change = kept.change.max(later.change);
        }
        same
    });
    changes
}

/// The order of the store's primary key (domain, extension), the domain compared as [`Aor`] does.
fn aor_order(a: &AorRef<'_>, b: &AorRef<'_>) -> std::cmp::Ordering {
    fn lower<'a>(aor: &AorRef<'a>) -> impl Iterator<Item = u8> + 'a {
        aor.domain.bytes().map(|c| c.to_ascii_lowercase())
    }
    lower(a).cmp(lower(b)).then_with(|| a.user.cmp(b.user))
}

/// A change as the store writes it, borrowed.
fn to_write<'a>(change: &Change<'a>) -> AorWrite<'a> {
    let Change {
        aor,
        bindings,
        change,
    } = *change;
    AorWrite {
        domain: aor.domain,
        extension: aor.user,
        change,
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

    /// The changes queued in one batch, in order.
    fn batch(changes: Vec<(Aor, Arc<[Binding]>, SetChange)>) -> Batch {
        let mut batch = Batch::default();
        for (aor, set, change) in changes {
            batch.push(&aor, set, change);
        }
        batch
    }

    #[test]
    fn coalescing_keeps_the_newest_set_per_aor_in_key_order() {
        let b = Aor::new("1002", "acme.example.com");
        let a = Aor::new("1001", "acme.example.com");
        let g = Aor::new("1001", "globex.example.com");
        // Two hand-overs the writer takes together.
        let mut changes = vec![
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
        let later = batch(changes.split_off(3));
        let earlier = batch(changes);
        let changes = coalesce(earlier.changes().chain(later.changes()).collect());
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
        let changes = batch(changes);
        let changes = coalesce(changes.changes().collect());
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
