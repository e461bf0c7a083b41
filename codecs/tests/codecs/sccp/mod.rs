//! SCCP: vectors per message family, property round trips per version band, and goldens against the
//! real captures (with tshark as the reference decoder) and the sccp-rs fixtures.

mod golden;
mod roundtrip;
mod tshark_encode;
mod vectors;

use bytes::{Bytes, BytesMut};
use codecs::sccp::{Ctx, Message, MessageId};
use codecs::{Fields, Value};

/// Decodes a body, checks it re-encodes to the same bytes, and returns the message.
pub(crate) fn decode_exact(id: MessageId, body: &[u8], ctx: Ctx) -> Message {
    let body = Bytes::copy_from_slice(body);
    let message = Message::decode(id, &body, ctx).unwrap_or_else(|e| panic!("{e}"));
    let mut again = BytesMut::new();
    message.encode_body(&mut again, ctx);
    assert_eq!(
        &again[..],
        &body[..],
        "{id:?} at v{} does not re-encode",
        ctx.version
    );
    message
}

/// Every (name, value) of a description, groups and lists of groups flattened, in order.
pub(crate) fn flatten(fields: &Fields) -> Vec<(&'static str, Value)> {
    fn walk(name: &'static str, value: &Value, out: &mut Vec<(&'static str, Value)>) {
        match value {
            Value::Group(g) => g.iter().for_each(|(k, v)| walk(k, v, out)),
            Value::List(items) => items.iter().for_each(|v| walk(name, v, out)),
            other => out.push((name, other.clone())),
        }
    }
    let mut out = Vec::new();
    fields.iter().for_each(|(k, v)| walk(k, v, &mut out));
    out
}

pub(crate) fn shared(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared")
        .join(rel)
}
