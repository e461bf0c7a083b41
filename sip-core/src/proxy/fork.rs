//! The response context of one forked request (RFC 3261 §16.7): which responses go upstream, when to
//! CANCEL the other branches, and which final response wins when none succeeded.
//!
//! ```text
//!  per branch:  Calling ──1xx──► Proceeding ──final──► Done
//!                  │                                    ▲
//!                  └───────────final / timeout (408)────┘
//!
//!  context:  Collecting ──first 2xx──► Succeeded (later 2xx still forwarded; other branches CANCELled)
//!                │
//!                ├─6xx──► Collecting, no new branches, other branches CANCELled
//!                └─all branches Done──► Finished (best final forwarded)
//! ```
//!
//! Feed responses exactly as received from downstream (our Via still on top: the context removes it,
//! §16.7 step 3) and client-transaction timeouts; drain [`ResponseContext::poll_action`] after each
//! call. A CANCEL is emitted for a branch only once it has had a provisional response (RFC 3261
//! §9.1); a branch cancelled earlier gets its CANCEL when its first provisional arrives.
//!
//! Best-response choice (§16.7 step 6) when every branch failed: a 6xx beats everything; otherwise
//! the lowest class (3xx before 4xx before 5xx); within 4xx, 401/407 (the caller can fix it; all
//! their challenges are merged, step 7), then 486 Busy Here, then other specific refusals, then 480,
//! 408 and last 404, so a stale contact's "not here" or "no answer" never masks a real device's busy.
//! A chosen 503 is sent as 500 (§16.7 step 6), since 503 would make the caller think *we* are
//! overloaded. Ties go to the response received first.

use std::collections::VecDeque;

use crate::msg::{HeaderName, SipMessage};

use super::local_tag;

/// Something the driver must do for the forked request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForkAction {
    /// Send this response upstream through the server transaction.
    Forward(Box<SipMessage>),
    /// Send a CANCEL on this branch's client transaction (§9.1 / §16.10).
    Cancel(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Branch {
    /// No response yet; `cancel` says a CANCEL is owed once a provisional arrives.
    Calling { cancel: bool },
    /// A provisional arrived; `cancelled` says a CANCEL was already emitted.
    Proceeding { cancelled: bool },
    /// Final response received (or timed out).
    Done,
}

/// The §16.7 response context of one request forwarded to one or more branches.
#[derive(Debug, Clone)]
pub struct ResponseContext {
    /// The request, for the 408s of timed-out branches; dropped once a final response is decided (the
    /// context lives as long as the server transaction, 32 s after a 2xx).
    request: Option<SipMessage>,
    branches: Vec<Branch>,
    best: Option<(u8, SipMessage)>,
    challenges: Vec<(HeaderName, bytes::Bytes)>,
    succeeded: bool,
    saw_6xx: bool,
    finished: bool,
    actions: VecDeque<ForkAction>,
}

impl ResponseContext {
    /// A context for `request` as received from upstream (kept to build 408s for timed-out branches).
    pub fn new(request: &SipMessage) -> Self {
        Self {
            request: Some(request.clone()),
            branches: Vec::new(),
            best: None,
            challenges: Vec::new(),
            succeeded: false,
            saw_6xx: false,
            finished: false,
            actions: VecDeque::new(),
        }
    }

    /// Opens a branch and returns its index, or `None` once no new branch may be created (after a
    /// 2xx or 6xx, §16.7 step 5, or once the context is finished).
    pub fn add_branch(&mut self) -> Option<usize> {
        if self.succeeded || self.saw_6xx || self.finished {
            return None;
        }
        self.branches.push(Branch::Calling { cancel: false });
        Some(self.branches.len().saturating_sub(1))
    }

    /// Number of branches opened.
    pub fn branch_count(&self) -> usize {
        self.branches.len()
    }

    /// Whether the upstream transaction has its final answer (a 2xx forwarded, or the best final
    /// chosen) and every branch is done.
    pub fn is_complete(&self) -> bool {
        (self.succeeded || self.finished) && self.branches.iter().all(|b| *b == Branch::Done)
    }

    /// A response from downstream on `branch` (our Via still on top). Unknown branches are ignored.
    pub fn handle_response(&mut self, branch: usize, mut resp: SipMessage) {
        let Some(code) = resp.code() else { return };
        let Some(state) = self.branches.get(branch).copied() else {
            return;
        };
        pop_top_via(&mut resp);
        if (200..300).contains(&code) {
            // Every 2xx goes upstream, even on a finished branch (§16.7 step 5).
            self.set(branch, Branch::Done);
            self.actions.push_back(ForkAction::Forward(Box::new(resp)));
            if !self.succeeded {
                self.succeeded = true;
                self.request = None;
                self.cancel_pending();
            }
            return;
        }
        if state == Branch::Done {
            return;
        }
        if code < 200 {
            if let Branch::Calling { cancel } = state {
                self.set(branch, Branch::Proceeding { cancelled: cancel });
                if cancel {
                    self.actions.push_back(ForkAction::Cancel(branch));
                }
            }
            if code != 100 && !self.succeeded && !self.finished {
                self.actions.push_back(ForkAction::Forward(Box::new(resp)));
            }
            return;
        }
        self.set(branch, Branch::Done);
        self.store_final(code, resp);
        if code >= 600 && !self.saw_6xx {
            self.saw_6xx = true;
            self.cancel_pending();
        }
        self.maybe_finish();
    }

    /// The client transaction of `branch` timed out (Timer B/F, or the driver's Timer C after its
    /// CANCEL went unanswered): counted as a 408 from that branch.
    pub fn handle_timeout(&mut self, branch: usize) {
        if self.branches.get(branch).is_none_or(|b| *b == Branch::Done) {
            return;
        }
        self.set(branch, Branch::Done);
        // After a 2xx nothing of this branch goes upstream any more.
        if let Some(resp) = self.local_response(408) {
            self.store_final(408, resp);
        }
        self.maybe_finish();
    }

    /// The caller CANCELled the request (§16.10): CANCEL every pending branch. Their 487s then make the
    /// final response.
    pub fn handle_cancel(&mut self) {
        self.cancel_pending();
    }

    /// The next thing to do; call until `None` after every `handle_*`.
    pub fn poll_action(&mut self) -> Option<ForkAction> {
        self.actions.pop_front()
    }

    fn set(&mut self, branch: usize, state: Branch) {
        if let Some(b) = self.branches.get_mut(branch) {
            *b = state;
        }
    }

    fn cancel_pending(&mut self) {
        for (i, b) in self.branches.iter_mut().enumerate() {
            match *b {
                Branch::Calling { .. } => *b = Branch::Calling { cancel: true },
                Branch::Proceeding { cancelled: false } => {
                    *b = Branch::Proceeding { cancelled: true };
                    self.actions.push_back(ForkAction::Cancel(i));
                }
                Branch::Proceeding { cancelled: true } | Branch::Done => {}
            }
        }
    }

    fn local_response(&self, code: u16) -> Option<SipMessage> {
        let request = self.request.as_ref()?;
        Some(crate::msg::response_to(request, code, "").with_to_tag(&local_tag(request)))
    }

    fn store_final(&mut self, code: u16, resp: SipMessage) {
        if code == 401 || code == 407 {
            for h in resp.headers.iter() {
                if h.name == HeaderName::WWW_AUTHENTICATE
                    || h.name == HeaderName::PROXY_AUTHENTICATE
                {
                    self.challenges.push((h.name.clone(), h.value.clone()));
                }
            }
        }
        let r = rank(code);
        if self.best.as_ref().is_none_or(|(best, _)| r > *best) {
            self.best = Some((r, resp));
        }
    }

    fn maybe_finish(&mut self) {
        if self.succeeded || self.finished || self.branches.iter().any(|b| *b != Branch::Done) {
            return;
        }
        self.finished = true;
        self.request = None;
        let Some((_, mut best)) = self.best.take() else {
            return;
        };
        match best.code() {
            Some(401 | 407) => {
                best.headers.remove_all(&HeaderName::WWW_AUTHENTICATE);
                best.headers.remove_all(&HeaderName::PROXY_AUTHENTICATE);
                for (name, value) in self.challenges.drain(..) {
                    best.headers.push(name, value);
                }
            }
            Some(503) => {
                let mut converted = SipMessage::new_response(500, "");
                converted.headers = best.headers;
                converted.body = best.body;
                best = converted;
            }
            _ => {}
        }
        self.actions.push_back(ForkAction::Forward(Box::new(best)));
    }
}

/// Preference of a final non-2xx response; higher wins.
fn rank(code: u16) -> u8 {
    match code {
        600..=699 => 100,
        300..=399 => 90,
        401 | 407 => 86,
        486 => 85,
        480 => 82,
        408 => 81,
        404 => 80,
        400..=499 => 84,
        500..=599 => 70,
        _ => 0,
    }
}

/// Removes the first Via value (ours), also when several share one header line; every other Via
/// stays where it is. Only the first line is looked at.
fn pop_top_via(resp: &mut SipMessage) {
    let Some(line) = resp.headers.get(&HeaderName::VIA) else {
        return;
    };
    // Nearly always ours is a line of its own.
    let rest = if line.contains(',') {
        let mut values = Vec::new();
        crate::msg::push_list_values(line, &mut values);
        values.get(1..).unwrap_or_default().join(", ")
    } else {
        String::new()
    };
    if rest.is_empty() {
        resp.headers.remove_first(&HeaderName::VIA);
    } else {
        resp.headers.set_first(&HeaderName::VIA, rest);
    }
}

#[cfg(test)]
pub(super) fn rank_for_tests(code: u16) -> u8 {
    rank(code)
}

#[cfg(test)]
pub(super) fn pop_top_via_for_tests(resp: &mut SipMessage) {
    pop_top_via(resp);
}
