//! Entry points for the fuzz targets and the regression tests that replay their findings (rustls'
//! `fuzzing` module pattern). Not a stable API.

use bytes::BytesMut;

use super::stream::{Conversation, Side};
use super::{Ctx, Message, frame};

/// The version bands whose layouts differ: 0, 11, 15/16, 17, 18, 19/20, 21/22.
pub const VERSION_BANDS: [u8; 8] = [0, 11, 15, 16, 17, 18, 20, 22];

/// Arbitrary bytes as an SCCP stream. Panics (the fuzzer's finding) if a body that decodes does not
/// re-encode to the same bytes, or those bytes decode to something else.
pub fn check_stream(data: &[u8]) {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(raw)) = frame::decode(&mut buf) {
        for version in VERSION_BANDS {
            let ctx = Ctx::new(version);
            if let Ok(message) = Message::from_frame(&raw, ctx) {
                let again = message.to_frame_with_header(raw.header_version, ctx);
                assert_eq!(again, raw, "re-encoding differs at v{version}");
                let twice = Message::from_frame(&again, ctx);
                assert_eq!(
                    twice.as_ref(),
                    Ok(&message),
                    "re-decoding differs at v{version}"
                );
            }
        }
    }
    // As a conversation split at an arbitrary point, with resynchronisation after a gap.
    let split = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let (a, b) = data.split_at(split);
    let mut conv = Conversation::new();
    conv.push(Side::Client, a, false);
    conv.push(Side::Client, b, split % 2 == 1);
    conv.push(Side::Server, data, false);
}
