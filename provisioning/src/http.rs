//! HTTP provisioning (hyper 1, HTTP/1.1): `GET /provision/<file>` and `HEAD`, with the lookup of the TFTP
//! server, content types, strong ETags and `If-None-Match` → 304.
//!
//! Anything else under `/provision/` that is not a file is 404 (no directory listings); methods other
//! than GET and HEAD are 405 with `Allow`. Other top-level paths are 404 here; `/api/v1/` and `/metrics`
//! are routed by [`route`] once they exist. Sources outside the allow-list get 403, sources over the
//! unknown-file limit 429 with `Retry-After`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::files::{Body, FileSource, Lookup, check_name};
use crate::guard::{Guard, Refusal};
use crate::store::SeenVia;

/// The path prefix of provisioning files.
pub const PREFIX: &str = "/provision/";

/// Settings of the HTTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpSettings {
    /// Connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers (a slow or silent client is closed).
    pub header_read_timeout: std::time::Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            header_read_timeout: std::time::Duration::from_secs(10),
        }
    }
}

/// A response body: in memory, streamed from a file, or empty.
#[derive(Debug)]
#[non_exhaustive]
pub enum ResponseBody {
    /// Whole content (or nothing once sent).
    Full(Option<Bytes>),
    /// A static file streamed in chunks.
    File {
        /// The open file.
        file: tokio::fs::File,
        /// Bytes still to send.
        remaining: u64,
        /// Read buffer.
        buf: Vec<u8>,
    },
}

impl ResponseBody {
    fn empty() -> Self {
        Self::Full(None)
    }

    fn text(text: &'static str) -> Self {
        Self::Full(Some(Bytes::from_static(text.as_bytes())))
    }
}

const CHUNK: usize = 64 * 1024;

impl hyper::body::Body for ResponseBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            Self::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::File {
                file,
                remaining,
                buf,
            } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let want = usize::try_from(*remaining).unwrap_or(CHUNK).min(CHUNK);
                buf.resize(want, 0);
                let mut read = ReadBuf::new(buf);
                ready!(Pin::new(file).poll_read(cx, &mut read))?;
                let filled = read.filled();
                if filled.is_empty() {
                    return Poll::Ready(Some(Err(std::io::ErrorKind::UnexpectedEof.into())));
                }
                *remaining = remaining.saturating_sub(filled.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(filled)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(b) => b.is_none(),
            Self::File { remaining, .. } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Self::File { remaining, .. } => SizeHint::with_exact(*remaining),
        }
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::text(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Whether an `If-None-Match` value matches `etag` (weak comparison, RFC 9110 §13.1.2).
fn none_match(header: &HeaderValue, etag: &str) -> bool {
    let Ok(text) = header.to_str() else {
        return false;
    };
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    text.split(',').any(|t| t.trim() == "*" || strip(t) == etag)
}

/// Answers one request.
pub async fn route<S: FileSource>(
    source: &S,
    guard: &Guard,
    peer: SocketAddr,
    request: &Request<hyper::body::Incoming>,
) -> Response<ResponseBody> {
    let path = request.uri().path();
    let Some(name) = path.strip_prefix(PREFIX) else {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    };
    let head = match *request.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
    };
    let ip = peer.ip();
    match guard.admit(ip, Instant::now().into_std()) {
        Ok(()) => {}
        Err(Refusal::NotAllowed) => return plain(StatusCode::FORBIDDEN, "forbidden\n"),
        Err(_) => {
            let mut response = plain(
                StatusCode::TOO_MANY_REQUESTS,
                "too many requests for unknown files\n",
            );
            if let Ok(v) = HeaderValue::from_str(&guard.retry_after().as_secs().to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return response;
        }
    }
    if let Err(e) = check_name(name) {
        tracing::warn!(%peer, file = name, reason = %e, "http file name refused");
        guard.record_miss(ip, name, Instant::now().into_std());
        return plain(StatusCode::NOT_FOUND, "not found\n");
    }
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let served = match source.fetch(name, ip, SeenVia::Http, user_agent).await {
        Lookup::Found(served) => served,
        miss => {
            tracing::debug!(outcome = ?miss, "http miss");
            guard.record_miss(ip, name, Instant::now().into_std());
            return plain(StatusCode::NOT_FOUND, "not found\n");
        }
    };
    if guard.admit_domain(served.domain.as_deref(), ip).is_err() {
        tracing::info!(%peer, file = name, "http source not allowed for this device's domain");
        return plain(StatusCode::FORBIDDEN, "forbidden\n");
    }
    let etag = HeaderValue::from_str(&served.etag).ok();
    let not_modified = etag.is_some()
        && request
            .headers()
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .any(|h| none_match(h, &served.etag));
    let len = served.body.len();
    let body = if head || not_modified {
        ResponseBody::empty()
    } else {
        match served.body {
            Body::Bytes(b) => ResponseBody::Full(Some(b)),
            Body::File { file, len } => ResponseBody::File {
                file,
                remaining: len,
                buf: Vec::new(),
            },
        }
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    if let Some(etag) = etag {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if not_modified {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        return response;
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(served.content_type),
    );
    if head {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    response
}

/// Serves `listener` until `shutdown` is cancelled; open connections finish their request and close.
pub async fn serve<S: FileSource>(
    listener: TcpListener,
    source: Arc<S>,
    guard: Arc<Guard>,
    settings: HttpSettings,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    loop {
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => return,
            r = listener.accept() => match r {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(error = %e, "http accept");
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let source = Arc::clone(&source);
        let guard = Arc::clone(&guard);
        let shutdown = shutdown.clone();
        let span = tracing::debug_span!("http", %peer);
        tokio::spawn(
            async move {
                let _permit = permit;
                let service = hyper::service::service_fn(move |request| {
                    let source = Arc::clone(&source);
                    let guard = Arc::clone(&guard);
                    async move {
                        Ok::<_, Infallible>(route(&*source, &guard, peer, &request).await)
                    }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(settings.header_read_timeout)
                    .serve_connection(TokioIo::new(stream), service);
                let mut conn = std::pin::pin!(conn);
                tokio::select! {
                    r = conn.as_mut() => {
                        if let Err(e) = r {
                            tracing::debug!(error = %e, "http connection");
                        }
                    }
                    () = shutdown.cancelled() => {
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.await;
                    }
                }
            }
            .instrument(span),
        );
    }
}
