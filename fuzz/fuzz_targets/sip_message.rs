//! Arbitrary bytes through the SIP datagram parser, the typed header parsers and the stream framer.
//! Oracle (`sip_core::msg::fuzzing::check`): nothing panics; a message that parses re-parses from
//! its serialization to an equal message, and typed Via/From/To/Request-URI values survive their
//! own Display/parse round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sip_core::msg::fuzzing::check(data));
