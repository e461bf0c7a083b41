//! The TFTP provisioning server (RFC 1350, options RFC 2347/2348/2349/7440).
//!
//! Read requests arrive on the listening socket; each accepted one becomes a task with an ephemeral
//! socket of its own (the server's transfer ID, RFC 1350 §4) driving a sans-IO [`transfer::Transfer`].
//! Rendered files come from the [`FileSource`] in memory, static files are streamed from disk. Write
//! requests are refused (error 2), names are checked by [`crate::files::check_name`], misses count
//! against the per-source limit of the [`Guard`], and a retransmitted read request of a transfer already
//! running (same client address and port, same name) is ignored rather than started twice; a request for
//! another name from the same port starts at once (some phones reuse one port for every file).
//!
//! Why our own server: `tftp_server` 0.0.3 has no options (512-byte blocks only), serves files from a
//! directory (no per-request rendering), always accepts writes, has no retry cap and stalls under
//! concurrency; `async-tftp` 0.4 has the options and a handler API but holds one lock across every open
//! (so a rendering that awaits the store serialises the whole server) and keys transfers by peer port.
//! Numbers: `docs/protocols/provisioning.md` §4.2–4.3.

pub mod packet;
pub mod transfer;

use std::collections::HashSet;
use std::io::SeekFrom;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncSeekExt, BufReader};
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::files::{Body, FileSource, Lookup, check_name};
use crate::guard::{Guard, Refusal};
use crate::store::SeenVia;
use packet::{ErrorCode, Packet, Request};
use transfer::{Finished, Limits, Output, Transfer};

/// Requests accepted at once, running or waiting for a transfer slot, per slot.
const QUEUE_FACTOR: usize = 4;

/// Settings of the TFTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TftpSettings {
    /// Negotiation limits and retransmission.
    pub limits: Limits,
    /// Transfers running at once; further requests wait for a slot, up to four times as many, beyond
    /// which requests are dropped (clients retransmit them).
    pub max_transfers: usize,
}

impl Default for TftpSettings {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            max_transfers: 8192,
        }
    }
}

/// Why a transfer could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TftpError {
    /// The ephemeral socket could not be bound or used.
    #[error("transfer socket: {0}")]
    Io(#[from] std::io::Error),
}

struct Shared<S> {
    socket: UdpSocket,
    source: S,
    guard: Arc<Guard>,
    settings: TftpSettings,
    slots: Arc<Semaphore>,
    queue: Arc<Semaphore>,
    active: Mutex<HashSet<(SocketAddr, String)>>,
}

/// Serves `socket` until `shutdown` is cancelled.
pub async fn serve<S: FileSource>(
    socket: UdpSocket,
    source: S,
    guard: Arc<Guard>,
    settings: TftpSettings,
    shutdown: CancellationToken,
) {
    let shared = Arc::new(Shared {
        socket,
        source,
        guard,
        settings,
        slots: Arc::new(Semaphore::new(settings.max_transfers.max(1))),
        queue: Arc::new(Semaphore::new(
            settings.max_transfers.max(1).saturating_mul(QUEUE_FACTOR),
        )),
        active: Mutex::new(HashSet::new()),
    });
    let mut buf = vec![0u8; 2048];
    loop {
        let (len, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            r = shared.socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(e) => {
                    // ICMP port unreachable from an earlier send shows up here on some systems.
                    tracing::debug!(error = %e, "tftp receive");
                    continue;
                }
            },
        };
        let datagram = buf.get(..len).unwrap_or_default();
        match packet::decode(datagram) {
            Ok(Packet::Rrq(request)) => {
                let Ok(queued) = Arc::clone(&shared.queue).try_acquire_owned() else {
                    // Far more requests than transfers: drop; the client retransmits its request.
                    tracing::debug!(%peer, "tftp request queue full");
                    continue;
                };
                let shared = Arc::clone(&shared);
                let shutdown = shutdown.clone();
                let span = tracing::debug_span!("tftp", %peer, file = %request.filename);
                tokio::spawn(
                    async move {
                        let _queued = queued;
                        read_request(shared, peer, request, shutdown).await;
                    }
                    .instrument(span),
                );
            }
            Ok(Packet::Wrq(request)) => {
                // A write counts as a miss: a source planting files is limited, and logged, like a sweep.
                let now = Instant::now().into_std();
                if shared.guard.admit(peer.ip(), now).is_ok() {
                    tracing::info!(%peer, file = %request.filename, "tftp write request refused");
                    shared.guard.record_miss(peer.ip(), &request.filename, now);
                }
                send_error(
                    &shared.socket,
                    peer,
                    ErrorCode::ACCESS_VIOLATION,
                    "writes are not accepted",
                )
                .await;
            }
            Ok(other) => {
                tracing::debug!(%peer, packet = ?other, "tftp packet without a request on the server port");
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, "malformed tftp packet");
                send_error(
                    &shared.socket,
                    peer,
                    ErrorCode::ILLEGAL_OPERATION,
                    "malformed request",
                )
                .await;
            }
        }
    }
}

async fn send_error(socket: &UdpSocket, peer: SocketAddr, code: ErrorCode, message: &str) {
    let _ = socket
        .send_to(&packet::encode_error(code, message), peer)
        .await;
}

/// Removes the peer from the active set when the transfer ends, however it ends.
struct ActiveGuard<'a> {
    active: &'a Mutex<HashSet<(SocketAddr, String)>>,
    key: (SocketAddr, String),
}

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

async fn read_request<S: FileSource>(
    shared: Arc<Shared<S>>,
    peer: SocketAddr,
    request: Request,
    shutdown: CancellationToken,
) {
    let ip = peer.ip();
    let name = request.filename.as_str();
    if let Err(refusal) = shared.guard.admit(ip, Instant::now().into_std()) {
        let message = match refusal {
            Refusal::NotAllowed => "access denied",
            _ => "too many requests for unknown files",
        };
        send_error(&shared.socket, peer, ErrorCode::ACCESS_VIOLATION, message).await;
        return;
    }
    if let Err(e) = check_name(name) {
        tracing::warn!(%peer, file = name, reason = %e, "tftp file name refused");
        shared
            .guard
            .record_miss(ip, name, Instant::now().into_std());
        send_error(
            &shared.socket,
            peer,
            ErrorCode::ACCESS_VIOLATION,
            "file name not allowed",
        )
        .await;
        return;
    }
    if !shared
        .active
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert((peer, name.to_owned()))
    {
        // The client retransmitted its request; the first transfer answers it.
        return;
    }
    let _active = ActiveGuard {
        active: &shared.active,
        key: (peer, name.to_owned()),
    };
    let Ok(_slot) = Arc::clone(&shared.slots).acquire_owned().await else {
        return;
    };
    let served = match shared.source.fetch(name, ip, SeenVia::Tftp, None).await {
        Lookup::Found(served) => served,
        miss => {
            tracing::debug!(outcome = ?miss, "tftp miss");
            shared
                .guard
                .record_miss(ip, name, Instant::now().into_std());
            send_error(
                &shared.socket,
                peer,
                ErrorCode::FILE_NOT_FOUND,
                "file not found",
            )
            .await;
            return;
        }
    };
    if shared
        .guard
        .admit_domain(served.domain.as_deref(), ip)
        .is_err()
    {
        tracing::info!(%peer, file = name, "tftp source not allowed for this device's domain");
        send_error(
            &shared.socket,
            peer,
            ErrorCode::ACCESS_VIOLATION,
            "access denied",
        )
        .await;
        return;
    }
    let local = shared
        .socket
        .local_addr()
        .map(|a| SocketAddr::new(a.ip(), 0))
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    match run_transfer(
        local,
        peer,
        &request,
        served.body,
        &shared.settings.limits,
        &shutdown,
    )
    .await
    {
        Ok(Finished::Complete) => tracing::debug!("tftp transfer complete"),
        Ok(other) => tracing::debug!(outcome = ?other, "tftp transfer ended"),
        Err(e) => tracing::warn!(%peer, file = name, error = %e, "tftp transfer failed"),
    }
}

/// The content of one transfer, read at block offsets.
enum Reader {
    Bytes(bytes::Bytes),
    File {
        file: BufReader<tokio::fs::File>,
        pos: u64,
    },
}

impl Reader {
    async fn read(&mut self, offset: u64, len: usize, out: &mut Vec<u8>) -> std::io::Result<()> {
        match self {
            Self::Bytes(b) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX);
                let chunk = start
                    .checked_add(len)
                    .and_then(|end| b.get(start..end))
                    .ok_or(std::io::ErrorKind::UnexpectedEof)?;
                out.extend_from_slice(chunk);
            }
            Self::File { file, pos } => {
                if *pos != offset {
                    file.seek(SeekFrom::Start(offset)).await?;
                }
                let start = out.len();
                out.resize(start + len, 0);
                file.read_exact(out.get_mut(start..).unwrap_or_default())
                    .await?;
                *pos = offset + len as u64;
            }
        }
        Ok(())
    }
}

async fn run_transfer(
    local: SocketAddr,
    peer: SocketAddr,
    request: &Request,
    body: Body,
    limits: &Limits,
    shutdown: &CancellationToken,
) -> Result<Finished, TftpError> {
    let socket = UdpSocket::bind(local).await?;
    let size = body.len();
    let mut reader = match body {
        Body::Bytes(b) => Reader::Bytes(b),
        Body::File { file, .. } => Reader::File {
            file: BufReader::with_capacity(64 * 1024, file),
            pos: 0,
        },
    };
    let mut transfer = Transfer::new(Instant::now().into_std(), size, &request.options, limits);
    let mut out = Vec::with_capacity(4 + usize::from(transfer.blksize()));
    let mut buf = [0u8; 1024];
    loop {
        while let Some(output) = transfer.poll_output() {
            match output {
                Output::Oack(pairs) => {
                    socket.send_to(&packet::encode_oack(&pairs), peer).await?;
                }
                Output::Data { block, offset, len } => {
                    packet::encode_data_header(&mut out, block);
                    if let Err(e) = reader.read(offset, len, &mut out).await {
                        let _ = socket
                            .send_to(
                                &packet::encode_error(ErrorCode::UNDEFINED, "read error"),
                                peer,
                            )
                            .await;
                        return Err(e.into());
                    }
                    socket.send_to(&out, peer).await?;
                }
            }
        }
        if let Some(finished) = transfer.finished() {
            return Ok(finished.clone());
        }
        let Some(deadline) = transfer.poll_timeout() else {
            return Ok(Finished::TimedOut);
        };
        tokio::select! {
            () = shutdown.cancelled() => {
                let _ = socket
                    .send_to(&packet::encode_error(ErrorCode::UNDEFINED, "server shutting down"), peer)
                    .await;
                return Ok(Finished::TimedOut);
            }
            () = tokio::time::sleep_until(Instant::from_std(deadline)) => {
                transfer.handle_timeout(Instant::now().into_std());
            }
            r = socket.recv_from(&mut buf) => {
                let Ok((len, from)) = r else { continue };
                if from != peer {
                    // Another transfer ID: tell it, leave this transfer alone (RFC 1350 §4).
                    let _ = socket
                        .send_to(&packet::encode_error(ErrorCode::UNKNOWN_TID, "unknown transfer id"), from)
                        .await;
                    continue;
                }
                match packet::decode(buf.get(..len).unwrap_or_default()) {
                    Ok(Packet::Ack { block }) => transfer.handle_ack(Instant::now().into_std(), block),
                    Ok(Packet::Error { code, message }) => {
                        tracing::debug!(code = code.0, message, "tftp client aborted");
                        transfer.handle_error();
                    }
                    Ok(other) => tracing::debug!(packet = ?other, "unexpected tftp packet in a transfer"),
                    Err(e) => tracing::debug!(error = %e, "malformed tftp packet in a transfer"),
                }
            }
        }
    }
}
