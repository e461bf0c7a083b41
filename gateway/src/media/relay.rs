//! [`MediaRelay`] (the port pool of `[media] rtp_ports`) and [`RelayCall`] (the handle of one call's
//! relay task).

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::mpsc;

use super::stats::Shared;
use super::task::{Command, Engine};
use super::{MediaError, MediaEvent, PortPool, RelayStats, rfc4733};
use crate::call::{Direction, Dtmf, MediaDescription};
use crate::config::{MediaConfig, MediaMode, SipLatching};

/// How the relay treats addresses and events; the defaults suit phones behind NAT and SIP peers on
/// public addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayOptions {
    /// Latch the SIP leg to the first packet's source even when its IP differs from the SDP address
    /// (a SIP peer behind NAT that put its private address in SDP). Off: only the port may differ.
    pub latch_any_sip_source: bool,
    /// How long after the last packet of an RFC 4733 event whose end never arrived it is reported anyway.
    pub dtmf_expiry: Duration,
}

impl Default for RelayOptions {
    fn default() -> Self {
        Self {
            latch_any_sip_source: false,
            dtmf_expiry: Duration::from_millis(800),
        }
    }
}

/// The media relay: hands out [`RelayCall`]s bound on `bind_ip` with ports from a range. Cheap to
/// clone; clones share the ports.
#[derive(Debug, Clone)]
pub struct MediaRelay {
    pool: PortPool,
    options: Arc<RelayOptions>,
}

impl MediaRelay {
    /// A relay over `ports` (`[media] rtp_ports`) on `bind_ip`. Binds nothing until [`Self::open`].
    pub fn new(bind_ip: IpAddr, ports: RangeInclusive<u16>) -> Self {
        Self::with_options(bind_ip, ports, RelayOptions::default())
    }

    /// The relay `[media]` asks for (its ports and `sip_latching`): `None` in direct mode, where RTP
    /// does not pass through Crossbar.
    pub fn for_config(config: &MediaConfig, bind_ip: IpAddr) -> Option<Self> {
        match config.mode {
            MediaMode::Relay => Some(Self::with_options(
                bind_ip,
                config.rtp_ports.clone(),
                RelayOptions {
                    latch_any_sip_source: config.sip_latching == SipLatching::Any,
                    ..RelayOptions::default()
                },
            )),
            MediaMode::Direct => None,
        }
    }

    /// The same with non-default options.
    pub fn with_options(
        bind_ip: IpAddr,
        ports: RangeInclusive<u16>,
        options: RelayOptions,
    ) -> Self {
        // The media threads start now, not with the first call: building them took 10-20 ms, and
        // the first calls (and the signalling worker threads they ran on) waited for it.
        let _ = media_runtime();
        Self {
            pool: PortPool::new(bind_ip, ports),
            options: Arc::new(options),
        }
    }

    /// The options it was built with.
    pub fn options(&self) -> &RelayOptions {
        &self.options
    }

    /// The port pool (capacity and use).
    pub fn ports(&self) -> &PortPool {
        &self.pool
    }

    /// Binds two RTP/RTCP pairs (the phone leg and the SIP leg) and starts the call's relay task.
    ///
    /// # Errors
    /// [`MediaError::PortsExhausted`] or [`MediaError::Bind`] (see [`PortPool::allocate`]).
    ///
    /// # Panics
    /// Outside a tokio runtime, when the media threads could not be started.
    pub fn open(&self) -> Result<RelayCall, MediaError> {
        let phone = self.pool.allocate()?;
        let sip = self.pool.allocate()?;
        let (phone_local, sip_local) = (phone.local(), sip.local());
        let shared = Arc::new(Shared::new());
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (event_tx, events) = mpsc::channel(32);
        let runtime = media_runtime();
        // The sockets and the timer register with the runtime current when they are made.
        let entered = runtime.map(Handle::enter);
        let engine = Engine::new(
            phone,
            sip,
            command_rx,
            event_tx,
            Arc::clone(&shared),
            &self.options,
        )
        .map_err(|source| MediaError::Bind {
            addr: phone_local,
            source,
        })?;
        drop(entered);
        match runtime {
            Some(runtime) => drop(runtime.spawn(engine.run())),
            None => drop(tokio::spawn(engine.run())),
        }
        Ok(RelayCall {
            phone_local,
            sip_local,
            commands,
            events,
            shared,
            telephone_event: AtomicU16::new(NO_TELEPHONE_EVENT),
        })
    }
}

const NO_TELEPHONE_EVENT: u16 = u16::MAX;

/// The runtime every relay task runs on: worker threads of their own (named `media`, one per core),
/// not the runtime of the signalling tasks. A relay task wakes for every packet (50 a
/// second each way per call); sharing workers with the phones' sessions and the line user agents put
/// a call's signalling in the queue behind hundreds of RTP wake-ups, which is where call setup's tail
/// latency came from under load. On threads of their own, the relay's load is the OS scheduler's to
/// share out, and a signalling thread that wakes is run at once.
///
/// Built when the first [`MediaRelay`] is made and kept for the life of the process (relay tasks end when their
/// [`RelayCall`] drops). `None` when the threads cannot be started: the relay then runs on the
/// caller's runtime, as it did before.
fn media_runtime() -> Option<&'static Handle> {
    static MEDIA: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    MEDIA
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(cores.max(1))
                .thread_name("media")
                .enable_all()
                .build()
                .inspect_err(|e| {
                    tracing::warn!(error = %e, "cannot start the media threads; relaying on the signalling runtime");
                })
                .ok()
        })
        .as_ref()
        .map(tokio::runtime::Runtime::handle)
}

/// One call through the relay. Dropping it (or [`Self::close`]) stops the relay task and gives the
/// ports back.
#[derive(Debug)]
pub struct RelayCall {
    phone_local: SocketAddr,
    sip_local: SocketAddr,
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::Receiver<MediaEvent>,
    shared: Arc<Shared>,
    telephone_event: AtomicU16,
}

impl RelayCall {
    /// The phone leg's RTP address: give it to the phone in StartMediaTransmission. When the relay is
    /// bound to an unspecified address (`0.0.0.0`), use the port with the address the phone reached us on.
    pub fn phone_local(&self) -> SocketAddr {
        self.phone_local
    }

    /// The SIP leg's RTP address: put it in SDP (with the advertised address when bound to `0.0.0.0`).
    pub fn sip_local(&self) -> SocketAddr {
        self.sip_local
    }

    /// Where the phone receives RTP, from OpenReceiveChannelAck. The phone's first RTP packet corrects
    /// it when it comes from elsewhere (NAT). An unspecified address or port 0 is ignored.
    pub fn set_phone_remote(&self, addr: SocketAddr) {
        if addr.port() == 0 || addr.ip().is_unspecified() {
            tracing::debug!(%addr, "ignoring an unusable phone RTP address");
            return;
        }
        self.send(Command::PhoneRemote(addr));
    }

    /// Restricts the phone leg to RTP from `ip` (the address the phone's signalling comes from; behind a
    /// NAT, that NAT's address): before latching, packets from other addresses are dropped as strangers.
    /// `None` (the default) latches to the first packet from anywhere.
    pub fn set_phone_source_ip(&self, ip: Option<IpAddr>) {
        self.send(Command::PhoneSourceIp(ip));
    }

    /// The SIP side's media from the offer/answer: where to send, its `telephone-event` payload type,
    /// and its direction (`sendonly` stops forwarding toward it, `recvonly` toward the phone,
    /// `inactive` both), and the payload type it uses for the codec (rewritten both ways when it is not
    /// the codec's static one, so the phone always sees its own). Port 0 (a rejected stream) or address `0.0.0.0` (RFC 2543 hold) stops sending
    /// toward it.
    pub fn set_sip_remote(&self, media: &MediaDescription) {
        let te = media.telephone_event.map_or(NO_TELEPHONE_EVENT, u16::from);
        self.telephone_event.store(te, Ordering::Relaxed);
        self.send(Command::SipRemote {
            rtp: (media.rtp.port() != 0 && !media.rtp.ip().is_unspecified()).then_some(media.rtp),
            telephone_event: media.telephone_event,
            direction: media.direction,
            payload_map: (media.payload_type != media.codec.payload_type())
                .then_some((media.codec.payload_type(), media.payload_type)),
        });
    }

    /// Changes only the SIP side's direction (a re-INVITE that moved nothing else).
    pub fn set_sip_direction(&self, direction: Direction) {
        self.send(Command::SipDirection(direction));
    }

    /// The phone holds the call (true) or resumes it: while held nothing is forwarded either way (the
    /// phone has closed its channels and the far end gets no audio from it).
    pub fn hold(&self, on: bool) {
        self.send(Command::Hold(on));
    }

    /// Sends a key pressed on the phone to the SIP side as RFC 4733 events, after any keys still being
    /// sent. The phone's audio toward the SIP side is replaced by the events while they last.
    ///
    /// # Errors
    /// [`MediaError::NoTelephoneEvent`] when the SIP side negotiated no `telephone-event` (use SIP INFO);
    /// [`MediaError::NotDtmf`] for a key with no event code.
    pub fn send_dtmf(&self, dtmf: Dtmf) -> Result<(), MediaError> {
        if self.telephone_event.load(Ordering::Relaxed) == NO_TELEPHONE_EVENT {
            return Err(MediaError::NoTelephoneEvent);
        }
        if rfc4733::event_for_digit(dtmf.digit).is_none() {
            return Err(MediaError::NotDtmf(dtmf.digit));
        }
        self.send(Command::Dtmf(dtmf));
        Ok(())
    }

    /// The next event (keys received from the SIP side); `None` once the relay task has ended.
    /// Cancel-safe, for `select!`.
    pub async fn next_event(&mut self) -> Option<MediaEvent> {
        self.events.recv().await
    }

    /// The next event if one is waiting.
    pub fn try_next_event(&mut self) -> Option<MediaEvent> {
        self.events.try_recv().ok()
    }

    /// Waits until the relay has applied every command given before (addresses, directions, hold).
    /// The relay runs on threads of its own, so a packet sent right after a command may otherwise
    /// still meet the state before it.
    pub async fn applied(&self) {
        let (done, applied) = tokio::sync::oneshot::channel();
        self.send(Command::Applied(done));
        let _ = applied.await;
    }

    /// The counters so far.
    pub fn stats(&self) -> RelayStats {
        self.shared.snapshot()
    }

    /// Stops relaying and gives the ports back (the same as dropping the handle).
    pub fn close(self) {}

    fn send(&self, command: Command) {
        // The task ends only when this handle drops, so the channel is open while `self` lives.
        let _ = self.commands.send(command);
    }
}
