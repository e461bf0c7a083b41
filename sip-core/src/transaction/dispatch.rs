//! Matching what arrives to transactions (RFC 3261 §17.1.3, §17.2.3) and feeding it to their machines.

use std::time::Instant;

use crate::msg::{Method, SipMessage};

use super::key::{client_key, server_key};
use super::layer::{Machine, Transactions, parts};
use super::server_invite::ServerInvite;
use super::server_non_invite::ServerNonInvite;
use super::timers::{Reliability, TimerTable};
use super::{Ctx, Delivery, Incoming, Rejected, TransactionError, TransactionKey, generate};

impl<P: Clone> Transactions<P> {
    /// A request other than ACK: a retransmission of a live server transaction, or a new one.
    pub(super) fn on_request(
        &mut self,
        now: Instant,
        msg: SipMessage,
        method: Method,
        from: P,
        reliability: Reliability,
    ) -> Result<Incoming<P>, Rejected<P>> {
        let key = match server_key(&msg, method.clone()) {
            Ok(key) => key,
            Err(error) => return Err(Rejected::new(error, msg, from)),
        };
        if let Some(txn) = self.txns.get_mut(&key) {
            let (machine, mut ctx) = parts(txn, &self.config.timers, &mut self.outbox, now);
            match machine {
                Machine::InviteServer(m, ..) => m.on_retransmission(&mut ctx),
                Machine::NonInviteServer(m) => m.on_retransmission(&mut ctx),
                Machine::InviteClient(..) | Machine::NonInviteClient(_) => {}
            }
            self.settle(&key);
            return Ok(Incoming::Absorbed { key });
        }
        if self.servers >= self.config.max_server {
            let error = TransactionError::Full {
                limit: self.config.max_server,
            };
            return Err(Rejected::new(error, msg, from));
        }
        let mut table = TimerTable::default();
        let machine = if method == Method::INVITE {
            let auto = self.config.auto_trying;
            let mut ctx = Ctx {
                now,
                timers: &self.config.timers,
                reliability,
                table: &mut table,
                send: &mut self.outbox,
            };
            let m = ServerInvite::start(&mut ctx, auto);
            let trying = auto.then(|| Box::new(generate::trying_for(&msg)));
            Machine::InviteServer(m, trying, None)
        } else {
            Machine::NonInviteServer(ServerNonInvite::start())
        };
        let invite = if method == Method::CANCEL {
            self.cancelled_invite(&msg)
        } else {
            None
        };
        self.servers = self.servers.saturating_add(1);
        self.insert(key.clone(), from.clone(), reliability, table, machine);
        Ok(if method == Method::CANCEL {
            Incoming::Cancel {
                invite,
                key,
                msg,
                from,
            }
        } else {
            Incoming::Request { key, msg, from }
        })
    }

    /// The INVITE server transaction a CANCEL refers to: the CANCEL's own identity with the method taken
    /// as INVITE (§9.2).
    fn cancelled_invite(&self, cancel: &SipMessage) -> Option<TransactionKey> {
        let key = server_key(cancel, Method::INVITE).ok()?;
        match self.txns.get(&key)?.machine {
            Machine::InviteServer(..) => Some(key),
            _ => None,
        }
    }

    /// An ACK: for a non-2xx it matches the INVITE server transaction (by branch, or the RFC 2543 way by
    /// the INVITE's identity and the To tag of the response); for a 2xx it matches nothing and goes up.
    pub(super) fn on_ack(
        &mut self,
        now: Instant,
        msg: SipMessage,
        from: P,
    ) -> Result<Incoming<P>, Rejected<P>> {
        let key = match server_key(&msg, Method::INVITE) {
            Ok(key) => key,
            Err(error) => return Err(Rejected::new(error, msg, from)),
        };
        let ack_tag = msg.to_ref().ok().and_then(|t| t.tag().map(str::to_owned));
        let untagged = key.legacy_to_tag().and_then(|_| key.with_to_tag(None));
        for candidate in [Some(key), untagged].into_iter().flatten() {
            let Some(txn) = self.txns.get_mut(&candidate) else {
                continue;
            };
            let (machine, mut ctx) = parts(txn, &self.config.timers, &mut self.outbox, now);
            let Machine::InviteServer(m, _, response_tag) = machine else {
                continue;
            };
            let legacy = candidate.branch().is_none();
            if legacy && response_tag.is_some() && *response_tag != ack_tag {
                continue;
            }
            let delivery = m.on_ack(&mut ctx);
            self.settle(&candidate);
            return Ok(match delivery {
                Delivery::PassUp => Incoming::Ack { msg, from },
                Delivery::Absorbed => Incoming::Absorbed { key: candidate },
            });
        }
        Ok(Incoming::Ack { msg, from })
    }

    /// A response: matched to a client transaction by branch and CSeq method (§17.1.3), or stray.
    pub(super) fn on_response(
        &mut self,
        now: Instant,
        msg: SipMessage,
        from: P,
    ) -> Result<Incoming<P>, Rejected<P>> {
        let key = match client_key(&msg) {
            Ok(key) => key,
            Err(error) => return Err(Rejected::new(error, msg, from)),
        };
        let Some(code) = msg.code().filter(|c| (100..=699).contains(c)) else {
            let error = TransactionError::Malformed {
                header: "status line",
            };
            return Err(Rejected::new(error, msg, from));
        };
        let Some(txn) = self.txns.get_mut(&key) else {
            return Ok(Incoming::StrayResponse { msg, from });
        };
        let (machine, mut ctx) = parts(txn, &self.config.timers, &mut self.outbox, now);
        let delivery = match machine {
            Machine::InviteClient(m, request) => {
                let delivery = m.on_response(&mut ctx, code, || match request.as_deref() {
                    Some(request) => generate::ack_for(request, &msg).to_bytes(),
                    // Not reached: the request goes only after the final response, whose ACK
                    // this built.
                    None => bytes::Bytes::new(),
                });
                if m.has_final() {
                    *request = None;
                }
                delivery
            }
            Machine::NonInviteClient(m) => m.on_response(&mut ctx, code),
            Machine::InviteServer(..) | Machine::NonInviteServer(_) => Delivery::Absorbed,
        };
        self.settle(&key);
        Ok(match delivery {
            Delivery::PassUp => Incoming::Response { key, msg },
            Delivery::Absorbed => Incoming::Absorbed { key },
        })
    }
}
