//! Arbitrary bytes as a UNIStim datagram: decoding never panics, anything that decodes re-encodes to the
//! same bytes (and re-decodes equal); the same bytes, split into datagrams, drive a server endpoint.
#![no_main]

use std::sync::OnceLock;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;

/// One fixed origin for the endpoint's fake clock.
fn origin() -> Instant {
    static T: OnceLock<Instant> = OnceLock::new();
    *T.get_or_init(Instant::now)
}

fuzz_target!(|data: &[u8]| {
    codecs::unistim::fuzzing::datagram_roundtrip(data);
    codecs::unistim::fuzzing::endpoint_feed(origin(), data);
});
