//! Arbitrary bytes through SCCP framing and body decoding, under every protocol version band.
//! Oracle (`codecs::sccp::fuzzing::check_stream`): nothing panics; a body that decodes re-encodes to
//! the same bytes, and those decode to the same value (after hickory's fuzz/fuzz_targets/message.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| codecs::sccp::fuzzing::check_stream(data));
