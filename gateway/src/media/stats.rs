//! The counters of one relayed call: written by its task (relaxed atomics, one add per packet), read by
//! the handle as a [`RelayStats`] snapshot.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::time::Instant;

use super::task::Leg;

/// Packets and bytes relayed in one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flow {
    /// Datagrams sent on.
    pub packets: u64,
    /// Their bytes (UDP payload).
    pub bytes: u64,
}

/// Packets the relay did not forward, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drops {
    /// From an address other than the latched (or expected) one.
    pub unexpected_source: u64,
    /// Not RTP (or RTCP on the RTCP ports), or a malformed RFC 4733 payload.
    pub malformed: u64,
    /// Toward a side whose address is not known yet.
    pub no_destination: u64,
    /// Toward a side on hold (or whose direction excludes it).
    pub held: u64,
    /// Phone audio replaced by RFC 4733 events while a key is sent.
    pub during_dtmf: u64,
    /// The socket refused the send (buffer full, unreachable).
    pub send_failed: u64,
}

/// A snapshot of a call's counters ([`RelayCall::stats`](super::RelayCall::stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// RTP from the phone, sent to the SIP side (including generated RFC 4733 packets).
    pub phone_to_sip: Flow,
    /// RTP from the SIP side, sent to the phone.
    pub sip_to_phone: Flow,
    /// RTCP from the phone, sent to the SIP side.
    pub rtcp_phone_to_sip: Flow,
    /// RTCP from the SIP side, sent to the phone.
    pub rtcp_sip_to_phone: Flow,
    /// When the first valid RTP packet from the phone arrived.
    pub first_from_phone: Option<Instant>,
    /// When the first valid RTP packet from the SIP side arrived.
    pub first_from_sip: Option<Instant>,
    /// Where the phone leg sends now (announced or latched).
    pub phone_remote: Option<SocketAddr>,
    /// Where the SIP leg sends now (from SDP or latched).
    pub sip_remote: Option<SocketAddr>,
    /// RFC 4733 packets generated toward the SIP side.
    pub dtmf_packets_sent: u64,
    /// Key presses received from the SIP side and reported.
    pub dtmf_received: u64,
    /// What was not forwarded.
    pub dropped: Drops,
}

/// Counters shared with the handle; written by the task only.
#[derive(Debug)]
pub(super) struct Shared {
    created: Instant,
    counters: [AtomicU64; Counter::COUNT],
    remotes: Mutex<[Option<SocketAddr>; 2]>,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Counter {
    PhoneToSipPackets,
    PhoneToSipBytes,
    SipToPhonePackets,
    SipToPhoneBytes,
    RtcpPhoneToSipPackets,
    RtcpPhoneToSipBytes,
    RtcpSipToPhonePackets,
    RtcpSipToPhoneBytes,
    /// Nanoseconds after `created`, plus one; zero until the first packet.
    FirstFromPhone,
    FirstFromSip,
    DtmfSent,
    DtmfReceived,
    UnexpectedSource,
    Malformed,
    NoDestination,
    Held,
    DuringDtmf,
    SendFailed,
}

impl Counter {
    const COUNT: usize = Self::SendFailed as usize + 1;
}

impl Shared {
    pub(super) fn new() -> Self {
        Self {
            created: Instant::now(),
            counters: std::array::from_fn(|_| AtomicU64::new(0)),
            remotes: Mutex::new([None, None]),
        }
    }

    pub(super) fn add(&self, c: Counter, n: u64) {
        if let Some(a) = self.counters.get(c as usize) {
            a.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Takes back what [`Self::add`] counted (a send that then failed).
    pub(super) fn sub(&self, c: Counter, n: u64) {
        if let Some(a) = self.counters.get(c as usize) {
            a.fetch_sub(n, Ordering::Relaxed);
        }
    }

    fn get(&self, c: Counter) -> u64 {
        self.counters
            .get(c as usize)
            .map_or(0, |a| a.load(Ordering::Relaxed))
    }

    pub(super) fn mark_first(&self, c: Counter, now: Instant) {
        if let Some(a) = self.counters.get(c as usize)
            && a.load(Ordering::Relaxed) == 0
        {
            let nanos = u64::try_from((now - self.created).as_nanos()).unwrap_or(u64::MAX - 1);
            a.store(nanos + 1, Ordering::Relaxed);
        }
    }

    fn first(&self, c: Counter) -> Option<Instant> {
        match self.get(c) {
            0 => None,
            n => Some(self.created + std::time::Duration::from_nanos(n - 1)),
        }
    }

    pub(super) fn set_remote(&self, leg: Leg, addr: Option<SocketAddr>) {
        let mut r = self.remotes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = r.get_mut(leg as usize) {
            *slot = addr;
        }
    }

    pub(super) fn snapshot(&self) -> RelayStats {
        use Counter as C;
        let flow = |p, b| Flow {
            packets: self.get(p),
            bytes: self.get(b),
        };
        let [phone_remote, sip_remote] =
            *self.remotes.lock().unwrap_or_else(PoisonError::into_inner);
        RelayStats {
            phone_to_sip: flow(C::PhoneToSipPackets, C::PhoneToSipBytes),
            sip_to_phone: flow(C::SipToPhonePackets, C::SipToPhoneBytes),
            rtcp_phone_to_sip: flow(C::RtcpPhoneToSipPackets, C::RtcpPhoneToSipBytes),
            rtcp_sip_to_phone: flow(C::RtcpSipToPhonePackets, C::RtcpSipToPhoneBytes),
            first_from_phone: self.first(C::FirstFromPhone),
            first_from_sip: self.first(C::FirstFromSip),
            phone_remote,
            sip_remote,
            dtmf_packets_sent: self.get(C::DtmfSent),
            dtmf_received: self.get(C::DtmfReceived),
            dropped: Drops {
                unexpected_source: self.get(C::UnexpectedSource),
                malformed: self.get(C::Malformed),
                no_destination: self.get(C::NoDestination),
                held: self.get(C::Held),
                during_dtmf: self.get(C::DuringDtmf),
                send_failed: self.get(C::SendFailed),
            },
        }
    }
}
