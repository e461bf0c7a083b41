//! The location service (RFC 3261 §10.2, §16.5): addresses of record and their bindings, and a pure
//! in-memory table of them.
//!
//! A [`Binding`] maps one to one onto a row of the store's `registrations` table; the row's `domain`
//! and `extension` are the [`Aor`] it belongs to and `updated_at` is the store's own. The table here is
//! the cache the proxy reads on every call; the driver writes each AOR's new binding set to the store
//! (replace all rows of the AOR in one transaction) and loads all rows back at start, so a restart
//! loses no registration.
//!
//! **Tenancy.** An AOR is always the pair (user, domain), and every lookup is by that pair, so a user of
//! `acme.example.com` and one of `globex.example.com` with the same extension are unrelated entries and
//! nothing keyed by one ever returns the other.
//!
//! **Size.** A binding's strings are exact-size shared slices and each AOR's set is one shared slice.
//! The size test (100,000 AORs, 150,000 bindings with softphone-like values and empty Path/owner)
//! counts about 620 bytes per AOR, some 58 MiB in all before allocator overhead (the reference
//! counts included), well under the 200 MiB budget.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

/// An address of record: a user (extension) in one of our domains (one domain per tenant).
///
/// The domain compares case-insensitively (RFC 3261 §19.1.4: hosts are case-insensitive) and is stored
/// lower-cased by [`Aor::new`]; the user compares case-sensitively, as the user part of a SIP URI does.
#[derive(Debug, Clone, Eq)]
pub struct Aor {
    /// The user part, unescaped (`1001`).
    pub user: String,
    /// The domain (`acme.example.com`).
    pub domain: String,
}

impl Aor {
    /// An AOR with the domain lower-cased.
    pub fn new(user: impl Into<String>, domain: &str) -> Self {
        Self {
            user: user.into(),
            domain: domain.to_ascii_lowercase(),
        }
    }
}

impl PartialEq for Aor {
    fn eq(&self, other: &Self) -> bool {
        self.user == other.user && self.domain.eq_ignore_ascii_case(&other.domain)
    }
}

impl Hash for Aor {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_aor(&self.user, &self.domain, state);
    }
}

/// The hash of an AOR, owned or borrowed.
fn hash_aor<H: Hasher>(user: &str, domain: &str, state: &mut H) {
    user.hash(state);
    // The domain lower-cased in one write (one byte at a time was a SipHash round trip per byte).
    crate::msg::text::with_ascii_lowercase(domain, |lower| state.write(lower));
    state.write_u8(0xff);
}

/// An AOR borrowed from elsewhere, to look one up in a map keyed by [`Aor`] without building it:
/// `map.get(&AorRef { user, domain } as &dyn AorKey)`. Compares and hashes as [`Aor`] does.
#[derive(Debug, Clone, Copy)]
pub struct AorRef<'a> {
    /// The user part, unescaped.
    pub user: &'a str,
    /// The domain, in any case.
    pub domain: &'a str,
}

/// The parts of an AOR, owned ([`Aor`]) or borrowed ([`AorRef`]): the key form of maps keyed by [`Aor`].
pub trait AorKey {
    /// The user part.
    fn user(&self) -> &str;
    /// The domain.
    fn domain(&self) -> &str;
}

impl AorKey for Aor {
    fn user(&self) -> &str {
        &self.user
    }
    fn domain(&self) -> &str {
        &self.domain
    }
}

impl AorKey for AorRef<'_> {
    fn user(&self) -> &str {
        self.user
    }
    fn domain(&self) -> &str {
        self.domain
    }
}

impl<'a> std::borrow::Borrow<dyn AorKey + 'a> for Aor {
    fn borrow(&self) -> &(dyn AorKey + 'a) {
        self
    }
}

impl PartialEq for dyn AorKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.user() == other.user() && self.domain().eq_ignore_ascii_case(other.domain())
    }
}

impl Eq for dyn AorKey + '_ {}

impl Hash for dyn AorKey + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_aor(self.user(), self.domain(), state);
    }
}

impl fmt::Display for Aor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.user, self.domain)
    }
}

/// One registered contact of an AOR: a row of the `registrations` table (without its AOR columns).
///
/// The text fields are shared (`Arc<str>`): a refresh that keeps a contact's text, Call-ID,
/// transport, source address or User-Agent keeps the same allocation (a reference count) instead of
/// freeing a string written minutes ago and allocating its copy, the registrar's most frequent work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The Contact URI as text (no header parameters: those are the fields below). Column `contact`.
    pub contact: Arc<str>,
    /// When the binding lapses, Unix seconds. Column `expires_at`.
    pub expires_at: u64,
    /// Preference in thousandths (`q=0.5` is 500; 1000 when the contact named none). Column `q`.
    pub q: u16,
    /// Call-ID of the REGISTER that last refreshed it (§10.3 step 7). Column `call_id`.
    pub call_id: Arc<str>,
    /// CSeq number of that REGISTER. Column `cseq`.
    pub cseq: u32,
    /// Path header values (RFC 3327) in order, each a `<uri>` name-addr; become the Route set of
    /// requests to this contact. Column `path`, joined by [`Binding::path_column`].
    pub path: Vec<String>,
    /// Transport the REGISTER arrived on (`UDP`, `TCP`, `TLS`). Column `transport`.
    pub transport: Arc<str>,
    /// Source address of the REGISTER (`203.0.113.7:5062`), where NATed contacts are reached. Column
    /// `received`.
    pub received: Arc<str>,
    /// The registering device's User-Agent. Column `user_agent`.
    pub user_agent: Arc<str>,
    /// The gateway session owning a legacy line's binding; empty for SIP devices. Column `owner`.
    pub owner: Arc<str>,
}

/// The strong and weak counts an `Arc` keeps in front of its value.
const ARC_COUNTS: usize = 2 * size_of::<usize>();

/// `text` as a shared string: `kept`'s own allocation when it already holds that text, one empty
/// string for every empty field (a SIP device's `owner`).
pub fn shared_text(kept: Option<&Arc<str>>, text: &str) -> Arc<str> {
    static EMPTY: OnceLock<Arc<str>> = OnceLock::new();
    match kept {
        Some(k) if **k == *text => Arc::clone(k),
        _ if text.is_empty() => Arc::clone(EMPTY.get_or_init(|| Arc::from(""))),
        _ => Arc::from(text),
    }
}

impl Binding {
    /// Whether `self` is `old` refreshed: the same contact and the same columns but for `expires_at`,
    /// `call_id` and `cseq`, the only ones a phone's periodic REGISTER moves. A store then needs
    /// only those written. (A refresh keeps the unchanged texts' allocations, so the comparisons
    /// mostly end at the pointer.)
    pub fn refreshes(&self, old: &Self) -> bool {
        fn same(a: &Arc<str>, b: &Arc<str>) -> bool {
            Arc::ptr_eq(a, b) || a == b
        }
        same(&self.contact, &old.contact)
            && self.q == old.q
            && self.path == old.path
            && same(&self.transport, &old.transport)
            && same(&self.received, &old.received)
            && same(&self.user_agent, &old.user_agent)
            && same(&self.owner, &old.owner)
    }

    /// Whether the binding is still in force at `now` (Unix seconds).
    pub fn is_live(&self, now: u64) -> bool {
        self.expires_at > now
    }

    /// Seconds left at `now` (0 once lapsed): the `expires` parameter of the 200 OK's Contact.
    pub fn remaining(&self, now: u64) -> u64 {
        self.expires_at.saturating_sub(now)
    }

    /// The `path` column text: the values joined by `,`.
    pub fn path_column(&self) -> String {
        self.path.join(",")
    }

    /// Splits a `path` column back into values, at commas outside `<…>` and quotes.
    pub fn parse_path_column(column: &str) -> Vec<String> {
        let mut out = Vec::new();
        let (mut angle, mut quoted, mut start) = (false, false, 0usize);
        for (i, c) in column.char_indices() {
            match c {
                '"' => quoted = !quoted,
                '<' if !quoted => angle = true,
                '>' if !quoted => angle = false,
                ',' if !quoted && !angle => {
                    push_trimmed(&mut out, column.get(start..i));
                    start = i.saturating_add(1);
                }
                _ => {}
            }
        }
        push_trimmed(&mut out, column.get(start..));
        out
    }

    /// The q-value as written in a Contact parameter (`1`, `0.5`, `0.125`).
    pub fn q_text(&self) -> String {
        let mut out = String::new();
        self.push_q(&mut out);
        out
    }

    /// Appends [`Binding::q_text`] to `out`.
    pub fn push_q(&self, out: &mut String) {
        match self.q.min(1000) {
            1000 => out.push('1'),
            0 => out.push('0'),
            q => {
                // 1..=999 thousandths: three digits, the trailing zeros dropped (a non-zero one stays).
                let _ = write!(out, "0.{q:03}");
                while out.ends_with('0') {
                    out.pop();
                }
            }
        }
    }

    fn shrink(&mut self) {
        self.path.iter_mut().for_each(String::shrink_to_fit);
        self.path.shrink_to_fit();
    }

    fn heap_bytes(&self) -> usize {
        // An `Arc<str>` holds its two counts before the text; one shared by several bindings is
        // counted for each.
        let strings = [
            &self.contact,
            &self.call_id,
            &self.transport,
            &self.received,
            &self.user_agent,
            &self.owner,
        ];
        let path: usize = self.path.iter().map(String::capacity).sum();
        strings
            .iter()
            .map(|s| s.len().saturating_add(ARC_COUNTS))
            .sum::<usize>()
            .saturating_add(path)
            .saturating_add(self.path.capacity().saturating_mul(size_of::<String>()))
    }
}

fn push_trimmed(out: &mut Vec<String>, part: Option<&str>) {
    if let Some(p) = part.map(str::trim).filter(|p| !p.is_empty()) {
        out.push(p.to_owned());
    }
}

/// Orders a binding set for forking: q descending, ties in their existing (registration) order.
pub fn sort_by_q(bindings: &mut [Binding]) {
    bindings.sort_by_key(|b| std::cmp::Reverse(b.q));
}

/// The in-memory location table: each AOR's binding set, kept sorted by q (descending).
///
/// A set is shared ([`Location::shared`]): the write-behind persister holds the same set until it is
/// written, instead of a copy of every string in it made on the SIP core's thread and freed on the
/// writer's.
#[derive(Debug, Default, Clone)]
pub struct Location {
    aors: HashMap<Aor, Arc<[Binding]>>,
    bindings: usize,
}

impl Location {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty table with room for `aors` AORs.
    pub fn with_capacity(aors: usize) -> Self {
        Self {
            aors: HashMap::with_capacity(aors),
            bindings: 0,
        }
    }

    /// Replaces the binding set of `aor` (as the registrar computed it) and
    /// returns the previous one. An empty set removes the AOR.
    pub fn replace(&mut self, aor: Aor, bindings: Vec<Binding>) -> Vec<Binding> {
        let (_, old) = self.swap(Cow::Owned(aor), bindings);
        old.map(|old| old.to_vec()).unwrap_or_default()
    }

    /// [`Location::replace`] that returns the new set, shared (empty if the AOR was removed), and
    /// drops the old one. `aor` is copied only when the table does not hold it yet.
    pub fn replace_shared(&mut self, aor: &Aor, bindings: Vec<Binding>) -> Arc<[Binding]> {
        self.swap(Cow::Borrowed(aor), bindings).0
    }

    fn swap(
        &mut self,
        aor: Cow<'_, Aor>,
        mut bindings: Vec<Binding>,
    ) -> (Arc<[Binding]>, Option<Arc<[Binding]>>) {
        sort_by_q(&mut bindings);
        bindings.iter_mut().for_each(Binding::shrink);
        self.bindings = self.bindings.saturating_add(bindings.len());
        let set: Arc<[Binding]> = Arc::from(bindings);
        let old = if set.is_empty() {
            self.aors.remove(&*aor)
        } else if let Some(slot) = self.aors.get_mut(&*aor) {
            Some(std::mem::replace(slot, Arc::clone(&set)))
        } else {
            self.aors.insert(aor.into_owned(), Arc::clone(&set))
        };
        self.bindings = self
            .bindings
            .saturating_sub(old.as_ref().map_or(0, |o| o.len()));
        (set, old)
    }

    /// The stored set of `aor`, shared (empty if it has none).
    pub fn shared(&self, aor: &Aor) -> Arc<[Binding]> {
        self.aors.get(aor).map_or_else(|| Arc::from([]), Arc::clone)
    }

    /// Adds one binding to `aor`'s set, replacing one with the same contact text (used when loading
    /// the store's rows at start).
    pub fn add(&mut self, aor: Aor, binding: Binding) {
        let mut set = self.bindings(&aor).to_vec();
        set.retain(|b| b.contact != binding.contact);
        set.push(binding);
        self.swap(Cow::Owned(aor), set);
    }

    /// The whole stored set of `aor`, lapsed bindings included (what the registrar starts from).
    pub fn bindings(&self, aor: &Aor) -> &[Binding] {
        self.aors.get(aor).map_or(&[], |b| b)
    }

    /// The bindings of `aor` still live at `now`, highest q first: the proxy's fork targets.
    pub fn lookup(&self, aor: &Aor, now: u64) -> Vec<&Binding> {
        self.bindings(aor)
            .iter()
            .filter(|b| b.is_live(now))
            .collect()
    }

    /// Whether `aor` has any stored binding (live or not); with [`Location::lookup`] empty this tells
    /// "known but unregistered" (480) from a table miss.
    pub fn contains(&self, aor: &Aor) -> bool {
        self.aors.contains_key(aor)
    }

    /// Removes every binding lapsed at `now` and returns them with their AOR, so the driver can delete
    /// the rows and log. A full scan: call it every few seconds, not per request.
    pub fn sweep(&mut self, now: u64) -> Vec<(Aor, Binding)> {
        let mut expired = Vec::new();
        self.aors.retain(|aor, set| {
            if set.iter().all(|b| b.is_live(now)) {
                return true;
            }
            let (live, dead): (Vec<Binding>, Vec<Binding>) =
                set.iter().cloned().partition(|b| b.is_live(now));
            expired.extend(dead.into_iter().map(|b| (aor.clone(), b)));
            *set = Arc::from(live);
            !set.is_empty()
        });
        self.bindings = self.bindings.saturating_sub(expired.len());
        expired
    }

    /// Number of AORs with at least one stored binding.
    pub fn aor_count(&self) -> usize {
        self.aors.len()
    }

    /// Number of stored bindings.
    pub fn binding_count(&self) -> usize {
        self.bindings
    }

    /// Every AOR and its set (e.g. for a full dump to the store or the admin API).
    pub fn iter(&self) -> impl Iterator<Item = (&Aor, &[Binding])> {
        self.aors.iter().map(|(a, b)| (a, &**b))
    }

    /// A rough count of the bytes the table holds: hash-table slots at capacity plus every heap
    /// allocation's capacity (allocator overhead not included).
    pub fn approx_bytes(&self) -> usize {
        // An `Arc` adds its two counts to each set.
        let slot = size_of::<(Aor, Arc<[Binding]>)>()
            .saturating_add(1)
            .saturating_add(ARC_COUNTS);
        let table = self.aors.capacity().saturating_mul(slot);
        self.aors.iter().fold(table, |acc, (aor, set)| {
            let own = aor.user.capacity().saturating_add(aor.domain.capacity());
            let sets = set
                .iter()
                .map(|b| b.heap_bytes().saturating_add(size_of::<Binding>()))
                .sum::<usize>();
            acc.saturating_add(own).saturating_add(sets)
        })
    }
}

#[cfg(test)]
mod tests;
