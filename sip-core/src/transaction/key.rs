//! Transaction identity: which transaction a message belongs to (RFC 3261 §17.1.3 and §17.2.3).

use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;

use crate::msg::text::{Decimal, StackText};
use crate::msg::{HostRef, Method, SipMessage};

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
///
/// A key hashes its parts once, when it is made, with a keyed SipHash (a random key per process,
/// as `HashMap`'s own: the parts come from the network). Maps keyed by it use [`KeyHashing`], which
/// takes that hash as it is: a proxied call looks some sixty keys up, and hashing each key's text
/// again for every lookup was a tenth of the SIP core's instructions per call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionKey {
    /// First, so that keys of different hashes compare unequal at once.
    hash: u64,
    role: Role,
    method: Method,
    id: Id,
}

impl Hash for TransactionKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// The `BuildHasher` of maps and sets keyed by [`TransactionKey`] (see there).
pub type KeyHashing = BuildHasherDefault<KeyHasher>;

/// The hasher of [`KeyHashing`]: a [`TransactionKey`] hands it its own hash, which it returns as it
/// is. Anything else written to it (not done by this crate) is folded in byte by byte.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The text of a key is shared: a key is cloned into the timer queue, the proxy's forks and the
/// events it raises (some thirty clones per proxied call), and a clone is a reference count.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Id {
    /// RFC 3261 style: the branch, then for a server transaction a space and the sent-by
    /// (lower-cased); `branch_len` is where the branch ends. A branch is a token, so it holds no
    /// space.
    Branch { text: Arc<str>, branch_len: usize },
    /// RFC 2543 style (§17.2.3, second half).
    Legacy(Arc<Legacy>),
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
    fn new(role: Role, method: Method, id: Id) -> Self {
        let mut h = crate::keyed::gathered();
        (role, &method, &id).hash(&mut h);
        let hash = h.finish();
        Self {
            hash,
            role,
            method,
            id,
        }
    }

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
            Id::Branch { text, branch_len } => text.get(..*branch_len),
            Id::Legacy(_) => None,
        }
    }

    /// For an RFC 2543 key, the same key with another To tag (the ACK carries the response's tag, the
    /// INVITE usually none).
    pub(crate) fn with_to_tag(&self, to_tag: Option<&str>) -> Option<Self> {
        match &self.id {
            Id::Legacy(legacy) => Some(Self::new(
                self.role,
                self.method.clone(),
                Id::Legacy(Arc::new(Legacy {
                    to_tag: to_tag.map(str::to_owned),
                    ..(**legacy).clone()
                })),
            )),
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
    // Only the branch: a request we send carries the Via we built, and a response is matched by the
    // branch we chose (a forged one finds nothing); its Via is ours and is removed before it goes on.
    let branch = msg.top_via_branch().ok_or_else(|| malformed("Via"))?;
    let cseq = msg.cseq().map_err(|_| malformed("CSeq"))?;
    Ok(TransactionKey::new(
        Role::Client,
        cseq.method,
        Id::Branch {
            text: Arc::from(branch),
            branch_len: branch.len(),
        },
    ))
}

/// The key of the server transaction a request belongs to, with `method` standing in for the request's
/// own (INVITE for an ACK or CANCEL looking for its INVITE).
pub(crate) fn server_key(
    msg: &SipMessage,
    method: Method,
) -> Result<TransactionKey, TransactionError> {
    let via = msg.top_via_ref().map_err(|_| malformed("Via"))?;
    if let Some(branch) = via.branch().filter(|b| is_rfc3261_branch(b)) {
        return Ok(TransactionKey::new(
            Role::Server,
            method,
            Id::Branch {
                text: branch_and_sent_by(branch, via.host, via.port),
                branch_len: branch.len(),
            },
        ));
    }
    let cseq = msg.cseq().map_err(|_| malformed("CSeq"))?;
    let from = msg.from_ref().map_err(|_| malformed("From"))?;
    let to = msg.to_ref().map_err(|_| malformed("To"))?;
    let call_id = msg.call_id().ok_or_else(|| malformed("Call-ID"))?;
    let request_uri = match &msg.start {
        crate::msg::StartLine::Request { uri, .. } => uri.to_string(),
        crate::msg::StartLine::Response { .. } => return Err(malformed("request line")),
    };
    Ok(TransactionKey::new(
        Role::Server,
        method,
        Id::Legacy(Arc::new(Legacy {
            request_uri,
            to_tag: to.tag().map(str::to_owned),
            from_tag: from.tag().map(str::to_owned),
            call_id: call_id.to_owned(),
            seq: cseq.seq,
            top_via: via.to_via().to_string(),
        })),
    ))
}

/// `branch`, a space and the sent-by `host[:port]` lower-cased, in one allocation.
fn branch_and_sent_by(branch: &str, host: HostRef<'_>, port: Option<u16>) -> Arc<str> {
    let mut text = StackText::new();
    let _ = write!(text, "{branch} {host}");
    if let Some(p) = port {
        let _ = write!(text, ":{}", Decimal::new(u64::from(p)).as_str());
    }
    // The branch stays as it is (it compares case-sensitively); the host does not.
    text.lowercase_from(branch.len());
    Arc::from(text.as_str())
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

    #[test]
    fn a_server_key_folds_the_sent_by_but_not_the_branch() {
        let key = |branch: &str, host: &str| {
            let raw = format!(
                "OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP {host};branch={branch}\r\n\
                 From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: c\r\n\
                 CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            );
            let msg = SipMessage::parse(raw.into_bytes().into()).unwrap_or_else(|e| panic!("{e}"));
            server_key(&msg, Method::OPTIONS).unwrap_or_else(|e| panic!("{e}"))
        };
        let a = key("z9hG4bKAbC", "PC33.Example.COM:5060");
        assert_eq!(a, key("z9hG4bKAbC", "pc33.example.com:5060"));
        assert_ne!(a, key("z9hG4bKabc", "pc33.example.com:5060"));
        assert_ne!(a, key("z9hG4bKAbC", "pc33.example.com"));
        assert_ne!(a, key("z9hG4bKAbC", "pc34.example.com:5060"));
        assert_eq!(a.branch(), Some("z9hG4bKAbC"));
        assert_eq!(
            key("z9hG4bK1", "192.0.2.7:5070"),
            key("z9hG4bK1", "192.0.2.7:5070")
        );
        // A sent-by too long for the stack buffer takes the other path to the same key.
        let long = format!("{}.example.com", "h".repeat(200));
        let k = key("z9hG4bKx", &long.to_ascii_uppercase());
        assert_eq!(k, key("z9hG4bKx", &long));
        assert_eq!(k.branch(), Some("z9hG4bKx"));
        // Equal keys made apart hash alike and are found in a map with the pass-through hashing;
        // keys that differ only in the method or the role are different entries.
        let mut map: std::collections::HashMap<TransactionKey, u8, KeyHashing> =
            std::collections::HashMap::default();
        map.insert(a.clone(), 1);
        map.insert(key("z9hG4bKabc", "pc33.example.com:5060"), 2);
        let again = key("z9hG4bKAbC", "pc33.example.com:5060");
        assert_eq!(again.hash, a.hash);
        assert_eq!(map.get(&again), Some(&1));
        let as_invite = TransactionKey::new(Role::Server, Method::INVITE, a.id.clone());
        let as_client = TransactionKey::new(Role::Client, Method::OPTIONS, a.id.clone());
        assert_eq!(
            TransactionKey::new(a.role, a.method.clone(), a.id.clone()),
            a
        );
        assert!(!map.contains_key(&as_invite) && !map.contains_key(&as_client));
    }
}
