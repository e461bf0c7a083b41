//! Write-behind persistence of the location table: the SIP core hands every changed AOR's binding set
//! to [`Persister`], which writes batches in one transaction each (at most [`BATCH`] AORs or every
//! [`FLUSH`]), so a registration storm costs one commit per batch instead of one per REGISTER. At
//! shutdown the queue is drained before the store closes, so a clean restart loses no binding; a crash
//! loses at most the last [`FLUSH`] of changes.

use std::collections::HashMap;
use std::time::Duration;

use provisioning::Store;
use provisioning::store::{AorBindings, RegistrationRow};
use sip_core::location::{Aor, Binding, Location};
use tokio::sync::mpsc;

/// Longest a change waits before it is written.
pub const FLUSH: Duration = Duration::from_millis(20);
/// Most AORs written in one transaction.
pub const BATCH: usize = 1000;

/// Sends changed binding sets to the writer task.
#[derive(Debug)]
pub struct Persister {
    tx: mpsc::UnboundedSender<Vec<(Aor, Vec<Binding>)>>,
    /// Changes queued since the last [`Persister::flush`].
    queued: Vec<(Aor, Vec<Binding>)>,
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
            },
            task,
        )
    }

    /// Queues the full binding set of `aor` (empty: all removed); nothing leaves before
    /// [`Persister::flush`], so a batch of requests costs one hand-over to the writer, not one each.
    pub fn save(&mut self, aor: &Aor, bindings: &[Binding]) {
        self.queued.push((aor.clone(), bindings.to_vec()));
    }

    /// Hands what was queued to the writer task.
    pub fn flush(&mut self) {
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

async fn writer(store: Store, mut rx: mpsc::UnboundedReceiver<Vec<(Aor, Vec<Binding>)>>) {
    let mut pending: HashMap<Aor, Vec<Binding>> = HashMap::new();
    loop {
        let Some(batch) = rx.recv().await else {
            break;
        };
        pending.extend(batch);
        let deadline = tokio::time::sleep(FLUSH);
        tokio::pin!(deadline);
        while pending.len() < BATCH {
            tokio::select! {
                () = &mut deadline => break,
                next = rx.recv() => match next {
                    Some(batch) => pending.extend(batch),
                    None => break,
                },
            }
        }
        flush(&store, &mut pending).await;
    }
    flush(&store, &mut pending).await;
}

async fn flush(store: &Store, pending: &mut HashMap<Aor, Vec<Binding>>) {
    if pending.is_empty() {
        return;
    }
    let sets: Vec<AorBindings> = pending
        .drain()
        .map(|(aor, bindings)| to_rows(&aor, &bindings))
        .collect();
    if let Err(e) = store.write_registrations(&sets).await {
        tracing::error!(error = %e, aors = sets.len(), "cannot persist registrations");
    }
}

fn to_rows(aor: &Aor, bindings: &[Binding]) -> AorBindings {
    AorBindings {
        domain: aor.domain.clone(),
        extension: aor.user.clone(),
        rows: bindings
            .iter()
            .map(|b| RegistrationRow {
                domain: aor.domain.clone(),
                extension: aor.user.clone(),
                contact: b.contact.clone(),
                expires_at: i64::try_from(b.expires_at).unwrap_or(i64::MAX),
                q: i64::from(b.q),
                call_id: b.call_id.clone(),
                cseq: i64::from(b.cseq),
                path: b.path.clone(),
                transport: b.transport.clone(),
                received: b.received.clone(),
                user_agent: b.user_agent.clone(),
                owner: b.owner.clone(),
            })
            .collect(),
    }
}

/// The live bindings in the store at `now`, as a location table.
///
/// # Errors
/// A failed query.
pub async fn load(store: &Store, now: u64) -> Result<Location, provisioning::StoreError> {
    let rows = store
        .load_registrations(i64::try_from(now).unwrap_or(i64::MAX))
        .await?;
    let mut location = Location::with_capacity(rows.len());
    for r in rows {
        let aor = Aor::new(r.extension, &r.domain);
        location.add(
            aor,
            Binding {
                contact: r.contact,
                expires_at: u64::try_from(r.expires_at).unwrap_or(0),
                q: u16::try_from(r.q.clamp(0, 1000)).unwrap_or(1000),
                call_id: r.call_id,
                cseq: u32::try_from(r.cseq).unwrap_or(0),
                path: r.path,
                transport: r.transport,
                received: r.received,
                user_agent: r.user_agent,
                owner: r.owner,
            },
        );
    }
    Ok(location)
}
