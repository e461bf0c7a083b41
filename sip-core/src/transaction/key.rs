//! Transaction identity: which transaction a message belongs to (RFC 3261 §17.1.3 and §17.2.3).

use crate::msg::{Method, SipMessage};

use super::TransactionError;

/// The magic cookie that marks an RFC 3261 branch (§8.1.1.7).
pub(crate) const MAGIC_COOKIE: &str = "z9hG4bK";

/// Which side of a transaction this layer is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// We sent the request (§17.1).
    Client,
    /// We received the request (§17.2).
    Server,
}

/// The identity of one transaction, as handed to the TU and used to answer it.
///
/// For a client transaction it is the branch of the top Via plus the method (§17.1.3). For a server
/// transaction it is branch, sent-by and method when the branch carries the RFC 3261 cookie, and otherwise
/// the RFC 2543 tuple of Request-URI, tags, Call-ID, CSeq and top Via (§17.2.3). An ACK for a non-2xx and a
/// CANCEL are looked up with the INVITE's method, so neither the ACK nor the CANCEL can be confused with
/// the transaction they refer to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TransactionKey {
    role: Role,
    method: Method,
    id: Id,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Id {
    /// RFC 3261 style; `sent_by` only for server transactions.
    Branch {
        branch: String,
        sent_by: Option<String>,
    },
    /// RFC 2543 style (§17.2.3, second half).
    Legacy(Box<Legacy>),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Legacy {
    request_uri: String,
    to_tag: Option<String>,
    from_tag: Option<String>,
    call_id: String,
    seq: u32,
    top_via: String,
}

impl TransactionKey {
    /// Whether this is a client or a server transaction.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The method of the request that created the transaction.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The top-Via branch, for RFC 3261-style transactions; `None` for RFC 2543 fallback matching.
    pub fn branch(&self) -> Option<&str> {
        match &self.id {
            Id::Branch { branch, .. } => Some(branch),
            Id::Legacy(_) => None,
        }
    }

    /// For an RFC 2543 key, the same key with another To tag (the ACK carries the response's tag, the
    /// INVITE usually none).
    pub(crate) fn with_to_tag(&self, to_tag: Option<&str>) -> Option<Self> {
        match &self.id {
            Id::Legacy(legacy) => Some(Self {
                role: self.role,
                method: self.method.clone(),
                id: Id::Legacy(Box::new(Legacy {
                    to_tag: to_tag.map(str::to_owned),
                    ..(**legacy).clone()
                })),
            }),
            Id::Branch { .. } => None,
        }
    }

    /// The To tag an RFC 2543 key was built with.
    pub(crate) fn legacy_to_tag(&self) -> Option<&str> {
        match &self.id {
            Id::Legacy(legacy) => legacy.to_tag.as_deref(),
            Id::Branch { .. } => None,
        }
    }
}

/// Whether `branch` is a usable RFC 3261 transaction id: the cookie followed by at least one character.
/// The bare cookie of RFC 4475 §3.2.1 does not identify anything and falls back to RFC 2543 matching.
pub(crate) fn is_rfc3261_branch(branch: &str) -> bool {
    branch.len() > MAGIC_COOKIE.len() && branch.starts_with(MAGIC_COOKIE)
}

fn malformed(header: &'static str) -> TransactionError {
    TransactionError::Malformed { header }
}

/// The key of the client transaction a message belongs to: its top-Via branch and CSeq method. Used both
/// when sending a request and when matching a response.
pub(crate) fn client_key(msg: &SipMessage) -> Result<TransactionKey, TransactionError> {
    let via = msg.top_via_ref().map_err(|_| malformed("Via"))?;
    let cseq = msg.cseq().map_err(|_| malformed("CSeq"))?;
    let branch = via.branch().ok_or_else(|| malformed("Via"))?;
    Ok(TransactionKey {
        role: Role::Client,
        method: cseq.method,
        id: Id::Branch {
            branch: branch.to_owned(),
            sent_by: None,
        },
    })
}

/// The key of the server transaction a request belongs to, with `method` standing in for the request's
/// own (INVITE for an ACK or CANCEL looking for its INVITE).
pub(crate) fn server_key(
    msg: &SipMessage,
    method: Method,
) -> Result<TransactionKey, TransactionError> {
    let via = msg.top_via_ref().map_err(|_| malformed("Via"))?;
    if let Some(branch) = via.branch().filter(|b| is_rfc3261_branch(b)) {
        let mut sent_by = match via.port {
            Some(port) => format!("{}:{port}", via.host),
            None => via.host.to_string(),
        };
        sent_by.make_ascii_lowercase();
        return Ok(TransactionKey {
            role: Role::Server,
            method,
            id: Id::Branch {
                branch: branch.to_owned(),
                sent_by: Some(sent_by),
            },
        });
    }
    let cseq = msg.cseq().map_err(|_| malformed("CSeq"))?;
    let from = msg.from_ref().map_err(|_| malformed("From"))?;
    let to = msg.to_ref().map_err(|_| malformed("To"))?;
    let call_id = msg.call_id().ok_or_else(|| malformed("Call-ID"))?;
    let request_uri = match &msg.start {
        crate::msg::StartLine::Request { uri, .. } => uri.to_string(),
        crate::msg::StartLine::Response { .. } => return Err(malformed("request line")),
    };
    Ok(TransactionKey {
        role: Role::Server,
        method,
        id: Id::Legacy(Box::new(Legacy {
            request_uri,
            to_tag: to.tag().map(str::to_owned),
            from_tag: from.tag().map(str::to_owned),
            call_id: call_id.to_owned(),
            seq: cseq.seq,
            top_via: via.to_via().to_string(),
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cookie_plus_something_is_an_rfc3261_branch() {
        assert!(is_rfc3261_branch("z9hG4bK776asdhds"));
        assert!(!is_rfc3261_branch("z9hG4bK"));
        assert!(!is_rfc3261_branch("776asdhds"));
        assert!(!is_rfc3261_branch("Z9HG4BK776asdhds"));
        assert!(!is_rfc3261_branch(""));
    }
}
