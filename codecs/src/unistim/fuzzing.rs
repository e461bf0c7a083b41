//! Entry points for the fuzz targets (`fuzz/fuzz_targets/unistim_packet.rs`); not a stable API.

use std::time::{Duration, Instant};

use super::{Config, Datagram, Endpoint};

/// Decodes `data` as a datagram; if it decodes, checks that encoding gives the same bytes and that the
/// re-encoded bytes decode to an equal datagram.
///
/// # Panics
/// When the round trip is not exact: that is the finding the fuzzer looks for.
pub fn datagram_roundtrip(data: &[u8]) {
    if let Ok(d) = Datagram::decode(data) {
        let again = d.encode();
        assert_eq!(&again[..], data, "re-encoding changed the datagram");
        let d2 = Datagram::decode(&again);
        assert_eq!(d2.as_ref(), Ok(&d), "re-decoding changed the datagram");
        let _ = crate::fields::Fields::of(&d).to_string();
    }
}

/// Splits `data` into datagrams (a length byte, then that many bytes) and feeds them to a server
/// endpoint with time advancing 100 ms per datagram, draining every output; checks that the endpoint's
/// own datagrams decode and that its deadline never lies in the past after a timeout was handled.
///
/// # Panics
/// When one of those checks fails.
pub fn endpoint_feed(start: Instant, data: &[u8]) {
    let mut ep = Endpoint::new(Config {
        phone_start_seq: 0xe554,
        first_send_seq: 0x9af9,
        ..Config::default()
    });
    let mut now = start;
    let mut rest = data;
    while let Some((&n, tail)) = rest.split_first() {
        let n = usize::from(n).min(tail.len());
        let (dgram, tail) = tail.split_at(n);
        rest = tail;
        now = now.checked_add(Duration::from_millis(100)).unwrap_or(now);
        let _ = ep.handle_datagram(now, dgram);
        if dgram.first().is_some_and(|b| b & 1 == 1) {
            let _ = ep.send(
                now,
                Datagram::decode(dgram)
                    .map(|d| d.messages)
                    .unwrap_or_default(),
            );
        }
        if ep.poll_timeout().is_some_and(|t| t <= now) {
            ep.handle_timeout(now);
            assert!(
                ep.poll_timeout().is_none_or(|t| t > now),
                "deadline not advanced"
            );
        }
        while let Some(out) = ep.poll_transmit() {
            assert!(
                Datagram::decode(&out).is_ok(),
                "endpoint sent an undecodable datagram"
            );
        }
        while ep.poll_event().is_some() {}
    }
}
