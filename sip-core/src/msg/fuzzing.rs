//! Fuzzing oracle for `fuzz/fuzz_targets/sip_message.rs` (not a stable API).
//!
//! The checks follow hickory's `fuzz/fuzz_targets/message.rs`: nothing panics on any input, and
//! whatever parses survives a serialize/parse round trip unchanged.

use bytes::Bytes;

use super::{Frame, NameAddr, SipMessage, StreamFramer, Uri, Via};

/// Runs every parser over `data`; panics (the fuzzer's signal) only if an invariant breaks:
/// a parsed message must re-parse from [`SipMessage::to_bytes`] to an equal message, and typed
/// values obtained from it must survive their own `Display`/parse round trip; a message that
/// passes [`SipMessage::validate`] (which checks the values where they lie) must give every typed
/// value it checked, and the borrowed views (and the top Via's branch found without a full parse) must
/// read as the owned values do.
pub fn check(data: &[u8]) {
    if let Ok(msg) = SipMessage::parse(Bytes::copy_from_slice(data)) {
        let again = SipMessage::parse(msg.to_bytes());
        assert_eq!(
            again.as_ref().ok(),
            Some(&msg),
            "round trip changed the message"
        );
        if msg.validate().is_ok() {
            assert!(msg.vias().is_ok(), "validated Via does not parse");
            assert!(
                msg.from().is_ok() && msg.to().is_ok(),
                "validated From/To does not parse"
            );
            assert!(msg.contacts().is_ok(), "validated Contact does not parse");
            assert!(
                msg.routes().is_ok() && msg.record_routes().is_ok() && msg.paths().is_ok(),
                "validated route set does not parse"
            );
        }
        if let (Ok(view), Ok(owned)) = (msg.top_via_ref(), msg.top_via()) {
            assert_eq!(view.to_via(), owned, "Via view");
            assert_eq!(msg.top_via_branch(), view.branch(), "top Via branch");
            for (name, _) in owned.params.iter() {
                assert_eq!(
                    view.params.get(name),
                    owned.params.get(name),
                    "Via parameter view"
                );
            }
        }
        if let (Ok(view), Ok(owned)) = (msg.to_ref(), msg.to()) {
            assert_eq!(view.to_name_addr().ok(), Some(owned), "To view");
        }
        if let Ok(vias) = msg.vias() {
            for v in vias {
                assert_eq!(Via::parse(&v.to_string()).ok(), Some(v), "Via round trip");
            }
        }
        for addr in [msg.from(), msg.to()].into_iter().flatten() {
            assert_eq!(
                NameAddr::parse(&addr.to_string()).ok(),
                Some(addr),
                "name-addr round trip"
            );
        }
        if let Some(super::RequestUri::Parsed(u)) = msg.request_uri() {
            assert_eq!(
                Uri::parse(&u.to_string()).ok().as_ref(),
                Some(u),
                "URI round trip"
            );
        }
        let _ = (
            msg.contacts(),
            msg.cseq(),
            msg.max_forwards(),
            msg.expires(),
            msg.routes(),
            msg.record_routes(),
        );
        let _ = super::response_to(&msg, 200, "")
            .with_to_tag("x")
            .to_bytes();
    }
    // The same bytes as a stream, split in two pushes at a data-dependent point.
    let cut = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let (a, b) = data.split_at(cut);
    let mut framer = StreamFramer::with_max(4096);
    for part in [a, b] {
        framer.push(part);
        while let Ok(Some(frame)) = framer.next_frame() {
            if let Frame::Message(m) = frame {
                let _ = m.to_bytes();
            }
        }
    }
}
