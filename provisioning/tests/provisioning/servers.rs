//! The TFTP and HTTP servers against real clients (tftp-hpa's `tftp`, `atftp`) and raw UDP/TCP clients,
//! with a fake file source standing in for the renderer and a static root on disk.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use provisioning::files::{Body, FileSource, Lookup, Served, StaticRoot, WithStatic, content_type};
use provisioning::guard::{Guard, Policy};
use provisioning::http::HttpSettings;
use provisioning::store::SeenVia;
use provisioning::tftp::packet::{self, ErrorCode, Packet};
use provisioning::tftp::{self, TftpSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;

pub(crate) const KNOWN: &str = "SEP0004F2ABCDEF.cnf.xml";

/// Rendered files by name; `SEP…` names it does not have are unknown devices, recorded.
#[derive(Default)]
pub(crate) struct Fake {
    files: HashMap<String, Bytes>,
    seen: Mutex<Vec<(String, IpAddr, Option<String>)>>,
    domain: Option<String>,
}

impl Fake {
    fn with(files: &[(&str, &[u8])]) -> Self {
        Self {
            files: files
                .iter()
                .map(|(n, b)| ((*n).to_owned(), Bytes::copy_from_slice(b)))
                .collect(),
            ..Self::default()
        }
    }
}

impl FileSource for Fake {
    async fn fetch(
        &self,
        name: &str,
        client: IpAddr,
        _via: SeenVia,
        user_agent: Option<&str>,
    ) -> Lookup {
        if let Some(body) = self.files.get(name) {
            return Lookup::Found(Served {
                etag: format!("\"{:x}\"", body.len() * 31 + name.len()),
                content_type: content_type(name),
                body: Body::Bytes(body.clone()),
                domain: self.domain.clone(),
            });
        }
        if name.starts_with("SEP") {
            self.seen.lock().unwrap().push((
                name.to_owned(),
                client,
                user_agent.map(str::to_owned),
            ));
            return Lookup::UnknownDevice;
        }
        Lookup::NotFound
    }
}

pub(crate) fn config_body() -> Vec<u8> {
    let mut body = b"<device><devicePool><callManagerGroup><members><member><callManager><ports><ethernetPhonePort>2000</ethernetPhonePort></ports><processNodeName>127.0.0.1</processNodeName></callManager></member></members></callManagerGroup></devicePool>".to_vec();
    while body.len() < 2900 {
        body.extend_from_slice(b"<!-- padding to a realistic size -->");
    }
    body.extend_from_slice(b"</device>\n");
    body
}

/// Deterministic bytes of `len`, so a corrupted offset shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ (i / 251) as u8)
        .collect()
}

struct Servers {
    tftp: SocketAddr,
    http: SocketAddr,
    fake: Arc<Fake>,
    root: tempfile::TempDir,
    token: CancellationToken,
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

async fn start_with(policy: Policy, domain: Option<&str>) -> Servers {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("firmware")).unwrap();
    std::fs::write(root.path().join("firmware/small.bin"), pattern(200_000)).unwrap();
    std::fs::write(root.path().join("ring.raw"), pattern(1024)).unwrap();
    let mut fake = Fake::with(&[(KNOWN, &config_body()), ("empty.cfg", b"")]);
    fake.domain = domain.map(str::to_owned);
    let fake = Arc::new(fake);
    let guard = Arc::new(Guard::new(policy));
    let token = CancellationToken::new();
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let servers = Servers {
        tftp: udp.local_addr().unwrap(),
        http: tcp.local_addr().unwrap(),
        fake: Arc::clone(&fake),
        token: token.clone(),
        root,
    };
    let source = WithStatic::new(Arc::clone(&fake), StaticRoot::new(servers.root.path()));
    tokio::spawn(tftp::serve(
        udp,
        source.clone(),
        Arc::clone(&guard),
        TftpSettings::default(),
        token.clone(),
    ));
    tokio::spawn(provisioning::http::serve(
        tcp,
        Arc::new(source),
        guard,
        HttpSettings {
            header_read_timeout: Duration::from_millis(500),
            ..HttpSettings::default()
        },
        token,
    ));
    servers
}

async fn start() -> Servers {
    start_with(Policy::default(), None).await
}

/// Runs a client program to completion off the runtime; returns (success, stdout + stderr).
async fn client(program: PathBuf, args: Vec<String>) -> (bool, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(&program).args(&args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    })
    .await
    .unwrap()
}

fn s(x: impl ToString) -> String {
    x.to_string()
}

async fn hpa_get(server: SocketAddr, remote: &str, local: &Path) -> (bool, String) {
    let tftp = captures::peer::require_tool("tftp").expect("tftp");
    client(
        tftp,
        vec![
            s("-m"),
            s("octet"),
            s(server.ip()),
            s(server.port()),
            s("-c"),
            s("get"),
            s(remote),
            s(local.display()),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tftp_hpa_fetches_a_rendered_config_and_a_static_file() {
    if captures::peer::require_tool("tftp").is_none() {
        return;
    }
    let servers = start().await;
    let out = tempfile::tempdir().unwrap();
    let local = out.path().join("cnf.xml");
    let (_, text) = hpa_get(servers.tftp, KNOWN, &local).await;
    assert_eq!(std::fs::read(&local).unwrap(), config_body(), "{text}");
    let local = out.path().join("small.bin");
    let (_, text) = hpa_get(servers.tftp, "firmware/small.bin", &local).await;
    assert_eq!(std::fs::read(&local).unwrap(), pattern(200_000), "{text}");
    // A zero-length file is one empty DATA block.
    let local = out.path().join("empty.cfg");
    let (_, text) = hpa_get(servers.tftp, "empty.cfg", &local).await;
    assert_eq!(std::fs::read(&local).unwrap(), b"", "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tftp_hpa_is_refused_traversal_writes_and_unknown_files() {
    let Some(tftp) = captures::peer::require_tool("tftp") else {
        return;
    };
    let servers = start().await;
    let out = tempfile::tempdir().unwrap();
    let local = out.path().join("x");
    let (_, text) = hpa_get(servers.tftp, "../../../../etc/passwd", &local).await;
    assert!(text.contains("Error code 2"), "{text}");
    let (_, text) = hpa_get(servers.tftp, "/etc/passwd", &local).await;
    assert!(text.contains("Error code 2"), "{text}");
    let (_, text) = hpa_get(servers.tftp, "nothing-here.bin", &local).await;
    assert!(text.contains("Error code 1"), "{text}");
    // A write attempt: refused, nothing planted in the root.
    let planted = out.path().join("SEP001122334455.cnf.xml");
    std::fs::write(&planted, b"<rogue/>").unwrap();
    let (_, text) = client(
        tftp,
        vec![
            s("-m"),
            s("octet"),
            s(servers.tftp.ip()),
            s(servers.tftp.port()),
            s("-c"),
            s("put"),
            s(planted.display()),
            s("SEP001122334455.cnf.xml"),
        ],
    )
    .await;
    assert!(text.contains("Error code 2"), "{text}");
    assert!(!servers.root.path().join("SEP001122334455.cnf.xml").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atftp_negotiates_blksize_tsize_and_windowsize() {
    let Some(atftp) = captures::peer::require_tool("atftp") else {
        return;
    };
    let servers = start().await;
    let out = tempfile::tempdir().unwrap();
    for (remote, expected) in [
        ("firmware/small.bin", pattern(200_000)),
        (KNOWN, config_body()),
    ] {
        let local = out.path().join("got");
        let (ok, text) = client(
            atftp.clone(),
            vec![
                s("--option"),
                s("blksize 1428"),
                s("--option"),
                s("tsize"),
                s("--option"),
                s("windowsize 8"),
                s("--trace"),
                s("-g"),
                s("-r"),
                s(remote),
                s("-l"),
                s(local.display()),
                s(servers.tftp.ip()),
                s(servers.tftp.port()),
            ],
        )
        .await;
        assert!(ok, "{text}");
        assert_eq!(std::fs::read(&local).unwrap(), expected, "{remote}: {text}");
        // The trace shows the OACK with what was granted.
        assert!(text.contains("blksize: 1428"), "{text}");
        assert!(text.contains("windowsize: 8"), "{text}");
        assert!(
            text.contains(&format!("tsize: {}", expected.len())),
            "{text}"
        );
    }
}

/// A large static file needs more than 65,535 blocks of 512 bytes: block numbers roll over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_past_65535_blocks_rolls_block_numbers_over() {
    if captures::peer::require_tool("tftp").is_none() {
        return;
    }
    let servers = start().await;
    let big = pattern(512 * 66_000 + 100);
    std::fs::write(servers.root.path().join("firmware/big.sbn"), &big).unwrap();
    let out = tempfile::tempdir().unwrap();
    let local = out.path().join("big");
    let (_, text) = hpa_get(servers.tftp, "firmware/big.sbn", &local).await;
    let got = std::fs::read(&local).unwrap();
    assert_eq!(got.len(), big.len(), "{text}");
    assert!(got == big, "content differs");
}

async fn recv(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = vec![0u8; 70_000];
    let (len, from) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    buf.truncate(len);
    (buf, from)
}

async fn expect_error(socket: &UdpSocket, code: ErrorCode) -> String {
    let (bytes, _) = recv(socket).await;
    match packet::decode(&bytes) {
        Ok(Packet::Error { code: got, message }) => {
            assert_eq!(got, code, "{message}");
            message
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_ack_is_retransmitted_once_per_timeout_and_duplicates_are_not_answered() {
    let servers = start().await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client
        .send_to(
            &packet::encode_rrq("ring.raw", &[("timeout", "1")]),
            servers.tftp,
        )
        .await
        .unwrap();
    let (oack, tid) = recv(&client).await;
    assert_eq!(packet::decode(&oack), Ok(Packet::Oack));
    assert_ne!(tid, servers.tftp, "the transfer runs on a port of its own");
    client.send_to(&packet::encode_ack(0), tid).await.unwrap();
    let (first, _) = recv(&client).await;
    assert!(
        matches!(packet::decode(&first), Ok(Packet::Data { block: 1, data }) if data.len() == 512)
    );
    // Drop the ACK of block 1: the server sends block 1 again after its 1 s timeout.
    let started = std::time::Instant::now();
    let (again, _) = recv(&client).await;
    assert_eq!(again, first);
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "{:?}",
        started.elapsed()
    );
    // Two ACKs of block 1 (the late one and ours): exactly one block 2.
    client.send_to(&packet::encode_ack(1), tid).await.unwrap();
    client.send_to(&packet::encode_ack(1), tid).await.unwrap();
    let (second, _) = recv(&client).await;
    assert!(
        matches!(packet::decode(&second), Ok(Packet::Data { block: 2, data }) if data.len() == 512)
    );
    let mut buf = [0u8; 1024];
    let extra = tokio::time::timeout(Duration::from_millis(400), client.recv_from(&mut buf)).await;
    assert!(extra.is_err(), "a duplicate ACK was answered");
    // Another transfer ID is told off without disturbing the transfer.
    let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    stranger.send_to(&packet::encode_ack(2), tid).await.unwrap();
    expect_error(&stranger, ErrorCode::UNKNOWN_TID).await;
    client.send_to(&packet::encode_ack(2), tid).await.unwrap();
    let (last, _) = recv(&client).await;
    assert!(
        matches!(packet::decode(&last), Ok(Packet::Data { block: 3, data }) if data.is_empty())
    );
    client.send_to(&packet::encode_ack(3), tid).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_requests_for_odd_names_writes_and_garbage_get_errors() {
    let servers = start().await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for name in ["../x", "/etc/passwd", "a\\b", "dir//x", "firmware"] {
        client
            .send_to(&packet::encode_rrq(name, &[]), servers.tftp)
            .await
            .unwrap();
        let code = if name == "firmware" {
            // A directory is not a file: no listing, just "not found".
            ErrorCode::FILE_NOT_FOUND
        } else {
            ErrorCode::ACCESS_VIOLATION
        };
        expect_error(&client, code).await;
    }
    let mut wrq = packet::encode_rrq("SEP001122334455.cnf.xml", &[]);
    wrq[1] = 2;
    client.send_to(&wrq, servers.tftp).await.unwrap();
    expect_error(&client, ErrorCode::ACCESS_VIOLATION).await;
    client
        .send_to(b"\x00\x01no-terminator", servers.tftp)
        .await
        .unwrap();
    expect_error(&client, ErrorCode::ILLEGAL_OPERATION).await;
    // The server still serves afterwards.
    client
        .send_to(&packet::encode_rrq(KNOWN, &[]), servers.tftp)
        .await
        .unwrap();
    let (data, _) = recv(&client).await;
    assert!(matches!(
        packet::decode(&data),
        Ok(Packet::Data { block: 1, .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_devices_are_recorded_and_misses_rate_limited_per_source() {
    let servers = start_with(
        Policy {
            unknown_burst: 3,
            unknown_per_minute: 1,
            ..Policy::default()
        },
        None,
    )
    .await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..3 {
        client
            .send_to(
                &packet::encode_rrq(&format!("SEP00000000000{i}.cnf.xml"), &[]),
                servers.tftp,
            )
            .await
            .unwrap();
        expect_error(&client, ErrorCode::FILE_NOT_FOUND).await;
    }
    // The burst is spent: refused without a lookup, even for a file that exists.
    client
        .send_to(&packet::encode_rrq(KNOWN, &[]), servers.tftp)
        .await
        .unwrap();
    let message = expect_error(&client, ErrorCode::ACCESS_VIOLATION).await;
    assert!(message.contains("too many"), "{message}");
    let seen = servers.fake.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].0, "SEP000000000000.cnf.xml");
    assert_eq!(seen[0].1, IpAddr::from([127, 0, 0, 1]));
    // HTTP shares the limit: the same source gets 429.
    let response = http(
        servers.http,
        &format!("GET /provision/{KNOWN} HTTP/1.1\r\nHost: x\r\n\r\n"),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 429"), "{response}");
    assert!(
        response.to_ascii_lowercase().contains("retry-after: 60"),
        "{response}"
    );
    // Another source is served.
    let other = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    other
        .send_to(&packet::encode_rrq(KNOWN, &[]), servers.tftp)
        .await
        .unwrap();
    let (data, _) = recv(&other).await;
    assert!(matches!(
        packet::decode(&data),
        Ok(Packet::Data { block: 1, .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_lists_refuse_other_sources_in_both_servers() {
    let servers = start_with(
        Policy {
            allow_by_domain: vec![(
                "acme.example.com".into(),
                vec!["127.0.0.2".parse().unwrap()],
            )],
            ..Policy::default()
        },
        Some("acme.example.com"),
    )
    .await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client
        .send_to(&packet::encode_rrq(KNOWN, &[]), servers.tftp)
        .await
        .unwrap();
    expect_error(&client, ErrorCode::ACCESS_VIOLATION).await;
    let response = http(
        servers.http,
        &format!("GET /provision/{KNOWN} HTTP/1.1\r\nHost: x\r\n\r\n"),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    let allowed = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    allowed
        .send_to(&packet::encode_rrq(KNOWN, &[]), servers.tftp)
        .await
        .unwrap();
    let (data, _) = recv(&allowed).await;
    assert!(matches!(
        packet::decode(&data),
        Ok(Packet::Data { block: 1, .. })
    ));

    let global = start_with(
        Policy {
            allow: vec!["10.0.0.0/8".parse().unwrap()],
            ..Policy::default()
        },
        None,
    )
    .await;
    let response = http(
        global.http,
        "GET /provision/ring.raw HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
}

/// Sends one raw request (the connection is closed after it) and returns the whole response as text.
pub(crate) async fn http(server: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(server).await.unwrap();
    let request = request.replacen("\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out))
        .await
        .expect("response within 5 s")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_get_head_etag_and_errors() {
    let servers = start().await;
    let get = http(
        servers.http,
        &format!(
            "GET /provision/{KNOWN} HTTP/1.1\r\nHost: x\r\nUser-Agent: Cisco-CP7960G/8.0\r\n\r\n"
        ),
    )
    .await;
    assert!(get.starts_with("HTTP/1.1 200"), "{get}");
    assert_eq!(
        header(&get, "content-type"),
        Some("text/xml; charset=utf-8")
    );
    assert_eq!(body(&get).as_bytes(), config_body());
    let etag = header(&get, "etag").expect("an etag").to_owned();
    assert_eq!(
        header(&get, "content-length"),
        Some(config_body().len().to_string().as_str())
    );

    let head = http(
        servers.http,
        &format!("HEAD /provision/{KNOWN} HTTP/1.1\r\nHost: x\r\n\r\n"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(header(&head, "etag"), Some(etag.as_str()));
    assert_eq!(
        header(&head, "content-length"),
        Some(config_body().len().to_string().as_str())
    );
    assert_eq!(body(&head), "");

    let cached = http(
        servers.http,
        &format!(
            "GET /provision/{KNOWN} HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"other\", {etag}\r\n\r\n"
        ),
    )
    .await;
    assert!(cached.starts_with("HTTP/1.1 304"), "{cached}");
    assert_eq!(header(&cached, "etag"), Some(etag.as_str()));
    assert_eq!(body(&cached), "");
    let stale = http(
        servers.http,
        &format!("GET /provision/{KNOWN} HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"other\"\r\n\r\n"),
    )
    .await;
    assert!(stale.starts_with("HTTP/1.1 200"), "{stale}");

    // A static file is streamed.
    let file = http(
        servers.http,
        "GET /provision/firmware/small.bin HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert!(file.starts_with("HTTP/1.1 200"), "{}", &file[..100]);
    assert_eq!(
        header(&file, "content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(header(&file, "content-length"), Some("200000"));

    for (request, status) in [
        ("GET /provision/nothing.cfg HTTP/1.1", "404"),
        ("GET /provision/firmware HTTP/1.1", "404"),
        ("GET /provision/firmware/ HTTP/1.1", "404"),
        ("GET /provision/ HTTP/1.1", "404"),
        ("GET /provision/../../etc/passwd HTTP/1.1", "404"),
        ("GET /provision/%2e%2e/etc/passwd HTTP/1.1", "404"),
        ("GET / HTTP/1.1", "404"),
        ("GET /other HTTP/1.1", "404"),
        ("POST /provision/SEP0004F2ABCDEF.cnf.xml HTTP/1.1", "405"),
        ("PUT /provision/SEP0004F2ABCDEF.cnf.xml HTTP/1.1", "405"),
        ("DELETE /provision/x HTTP/1.1", "405"),
    ] {
        let response = http(
            servers.http,
            &format!("{request}\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
        )
        .await;
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status}")),
            "{request}: {response}"
        );
        if status == "405" {
            assert_eq!(header(&response, "allow"), Some("GET, HEAD"));
        }
    }
    // The unknown device was recorded with its User-Agent.
    let _ = http(
        servers.http,
        "GET /provision/SEP00000000BEEF.cnf.xml HTTP/1.1\r\nHost: x\r\nUser-Agent: Cisco-CP7960G/8.0\r\n\r\n",
    )
    .await;
    let seen = servers.fake.seen.lock().unwrap().clone();
    assert_eq!(
        seen.last().map(|(n, _, ua)| (n.as_str(), ua.as_deref())),
        Some(("SEP00000000BEEF.cnf.xml", Some("Cisco-CP7960G/8.0")))
    );
    // Garbage is answered 400 and does not take the server down.
    let garbage = http(servers.http, "\x01\x02 nonsense\r\n\r\n").await;
    assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");
}

mod rendered {
    //! The real renderer behind both servers: rendered per request from an imported inventory.

    use super::*;
    use provisioning::import::{self, ImportOptions};
    use provisioning::render::{Endpoint, Renderer, ServerAddresses};

    const FLEET: &str = "extension,display_name,password,mac,model\n\
        1001,Ada Lovelace,s3cret-1001,00:04:f2:ab:cd:ef,cisco-7960\n\
        1002,Alan Turing,s3cret-1002,80:5e:c0:11:22:33,yealink-t4x\n";

    fn endpoint(port: u16) -> Endpoint {
        Endpoint {
            host: "192.0.2.10".into(),
            port,
        }
    }

    struct Rendered {
        tftp: SocketAddr,
        http: SocketAddr,
        db: crate::db::TestDb,
        _root: tempfile::TempDir,
        token: CancellationToken,
    }

    impl Drop for Rendered {
        fn drop(&mut self) {
            self.token.cancel();
        }
    }

    async fn start() -> Rendered {
        let db = crate::db::TestDb::sqlite().await;
        let current = db.store.load_inventory().await.unwrap();
        let plan = import::plan(
            FLEET.as_bytes(),
            &current,
            &ImportOptions {
                default_domain: "acme.example.com".into(),
            },
        )
        .unwrap();
        db.store.apply(&plan.changes).await.unwrap();
        let servers = ServerAddresses {
            sccp: endpoint(2000),
            unistim: endpoint(5000),
            sip: endpoint(5060),
            tftp: endpoint(69),
            http: endpoint(8080),
        };
        let renderer = Renderer::new(
            db.store.clone(),
            templates::Templates::builtin().unwrap(),
            servers,
        )
        .await
        .unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("RINGLIST.DAT"), b"Ring1.raw\tClassic\n").unwrap();
        let source = Arc::new(WithStatic::new(renderer, StaticRoot::new(root.path())));
        let guard = Arc::new(Guard::new(Policy::default()));
        let token = CancellationToken::new();
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let rendered = Rendered {
            tftp: udp.local_addr().unwrap(),
            http: tcp.local_addr().unwrap(),
            db,
            _root: root,
            token: token.clone(),
        };
        tokio::spawn(tftp::serve(
            udp,
            Arc::clone(&source),
            Arc::clone(&guard),
            TftpSettings::default(),
            token.clone(),
        ));
        tokio::spawn(provisioning::http::serve(
            tcp,
            source,
            guard,
            HttpSettings::default(),
            token,
        ));
        rendered
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_7960_gets_its_config_naming_the_sccp_listener_over_tftp_and_http() {
        if captures::peer::require_tool("tftp").is_none() {
            return;
        }
        let servers = start().await;
        let out = tempfile::tempdir().unwrap();
        let local = out.path().join("sep.xml");
        let (_, text) = hpa_get(servers.tftp, "SEP0004F2ABCDEF.cnf.xml", &local).await;
        let file = std::fs::read_to_string(&local).unwrap_or_else(|_| panic!("{text}"));
        assert!(file.contains("192.0.2.10"), "{file}");
        assert!(file.contains("2000"), "{file}");
        let response = http(
            servers.http,
            "GET /provision/SEP0004F2ABCDEF.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert_eq!(body(&response), file);
        assert!(header(&response, "content-type").is_some_and(|t| t.contains("xml")));
        // A static file behind the rendered ones.
        let local = out.path().join("ringlist");
        let (_, text) = hpa_get(servers.tftp, "RINGLIST.DAT", &local).await;
        assert_eq!(
            std::fs::read(&local).unwrap(),
            b"Ring1.raw\tClassic\n",
            "{text}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn credentials_only_reach_inventory_macs_and_unknown_macs_are_recorded() {
        let servers = start().await;
        // The inventory's Yealink gets its file (with its line) over both servers.
        let known = http(
            servers.http,
            "GET /provision/805ec0112233.cfg HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .await;
        assert!(known.starts_with("HTTP/1.1 200"), "{known}");
        assert!(body(&known).contains("1002"), "{known}");
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client
            .send_to(
                &packet::encode_rrq("805ec0112233.cfg", &[("tsize", "0")]),
                servers.tftp,
            )
            .await
            .unwrap();
        let (oack, _) = recv(&client).await;
        assert_eq!(packet::decode(&oack), Ok(Packet::Oack));
        // A MAC that is not in the inventory gets nothing over either server, whatever it claims.
        for name in ["805ec0aabbcc.cfg", "805EC0AABBCC.cfg"] {
            let response = http(
                servers.http,
                &format!(
                    "GET /provision/{name} HTTP/1.1\r\nHost: x\r\nUser-Agent: Yealink SIP-T46S 66.86.0.15 80:5e:c0:aa:bb:cc\r\n\r\n"
                ),
            )
            .await;
            assert!(response.starts_with("HTTP/1.1 404"), "{response}");
            assert!(
                !response.contains("s3cret") && !response.contains("1002"),
                "{response}"
            );
        }
        let fresh = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        fresh
            .send_to(&packet::encode_rrq("805ec0aabbcc.cfg", &[]), servers.tftp)
            .await
            .unwrap();
        expect_error(&fresh, ErrorCode::FILE_NOT_FOUND).await;
        client
            .send_to(
                &packet::encode_rrq("SEP0004F2000001.cnf.xml", &[]),
                servers.tftp,
            )
            .await
            .unwrap();
        // (The OACK transfer above is abandoned by this client; its next datagram is an error or data.)
        let mut found = false;
        for _ in 0..3 {
            let (bytes, _) = recv(&client).await;
            if let Ok(Packet::Error { code, .. }) = packet::decode(&bytes) {
                assert_eq!(code, ErrorCode::FILE_NOT_FOUND);
                found = true;
                break;
            }
        }
        assert!(found, "no file-not-found for the unknown 7960");
        // Both unknown devices were recorded as seen, with the address they came from.
        let mut seen = Vec::new();
        for _ in 0..50 {
            seen = servers.db.store.seen_devices(true).await.unwrap();
            if seen.len() >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let macs: Vec<String> = seen.iter().map(|s| s.seen.mac.to_string()).collect();
        assert!(macs.contains(&"805ec0aabbcc".to_owned()), "{seen:?}");
        assert!(macs.contains(&"0004f2000001".to_owned()), "{seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_http_client_is_closed_and_keep_alive_serves_several_requests() {
    let servers = start().await;
    let mut silent = TcpStream::connect(servers.http).await.unwrap();
    silent
        .write_all(b"GET /provision/ring.raw HTTP/1.1\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let started = std::time::Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(5), silent.read_to_end(&mut out)).await;
    assert!(
        closed.is_ok(),
        "a client that never finishes its headers is kept open"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    // Two requests on one connection.
    let mut stream = TcpStream::connect(servers.http).await.unwrap();
    stream
        .write_all(
            format!(
                "GET /provision/{KNOWN} HTTP/1.1\r\nHost: x\r\n\r\nHEAD /provision/ring.raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut both = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut both))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&both);
    assert_eq!(text.matches("HTTP/1.1 200").count(), 2, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_windows_and_block_sizes_are_as_negotiated_and_a_refused_oack_ends_the_transfer() {
    let servers = start().await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client
        .send_to(
            &packet::encode_rrq(
                "firmware/small.bin",
                &[("blksize", "1000"), ("windowsize", "4"), ("tsize", "0")],
            ),
            servers.tftp,
        )
        .await
        .unwrap();
    let (oack, tid) = recv(&client).await;
    assert_eq!(
        oack,
        b"\x00\x06blksize\x001000\x00tsize\x00200000\x00windowsize\x004\x00"
    );
    client.send_to(&packet::encode_ack(0), tid).await.unwrap();
    // A whole window of 4 blocks of 1000 bytes arrives without an ACK in between.
    for expected in 1..=4u16 {
        let (data, _) = recv(&client).await;
        match packet::decode(&data) {
            Ok(Packet::Data { block, data }) => {
                assert_eq!(block, expected);
                assert_eq!(data.len(), 1000);
                assert_eq!(
                    data,
                    &pattern(200_000)[(usize::from(block) - 1) * 1000..][..1000]
                );
            }
            other => panic!("{other:?}"),
        }
    }
    // Refusing the transfer with an ERROR ends it: nothing more comes.
    client
        .send_to(&packet::encode_error(ErrorCode::UNDEFINED, "enough"), tid)
        .await
        .unwrap();
    let mut buf = [0u8; 2048];
    let late = tokio::time::timeout(Duration::from_millis(1500), client.recv_from(&mut buf)).await;
    assert!(
        late.is_err(),
        "the server kept sending after the client's error"
    );

    // A client that refuses the OACK itself (error 8, RFC 2347) gets nothing more either.
    let refuser = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    refuser
        .send_to(
            &packet::encode_rrq(KNOWN, &[("blksize", "9000")]),
            servers.tftp,
        )
        .await
        .unwrap();
    let (oack, tid) = recv(&refuser).await;
    assert_eq!(packet::decode(&oack), Ok(Packet::Oack));
    refuser
        .send_to(&packet::encode_error(ErrorCode::OPTION_REFUSED, "no"), tid)
        .await
        .unwrap();
    let silent =
        tokio::time::timeout(Duration::from_millis(1500), refuser.recv_from(&mut buf)).await;
    assert!(
        silent.is_err(),
        "the OACK was retransmitted after the client refused it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tftp_serves_over_ipv6_from_a_transfer_port_on_the_same_address() {
    let Ok(udp) = UdpSocket::bind("[::1]:0").await else {
        eprintln!("skipping: no IPv6 loopback");
        return;
    };
    let server = udp.local_addr().unwrap();
    let token = CancellationToken::new();
    let fake = Arc::new(Fake::with(&[(KNOWN, &config_body())]));
    tokio::spawn(tftp::serve(
        udp,
        fake,
        Arc::new(Guard::new(Policy::default())),
        TftpSettings::default(),
        token.clone(),
    ));
    let client = UdpSocket::bind("[::1]:0").await.unwrap();
    client
        .send_to(&packet::encode_rrq(KNOWN, &[("blksize", "1428")]), server)
        .await
        .unwrap();
    let (oack, tid) = recv(&client).await;
    assert_eq!(packet::decode(&oack), Ok(Packet::Oack));
    assert_eq!(tid.ip(), server.ip());
    client.send_to(&packet::encode_ack(0), tid).await.unwrap();
    let mut got = Vec::new();
    for block in 1..=3u16 {
        let (data, _) = recv(&client).await;
        let Ok(Packet::Data { block: b, data }) = packet::decode(&data) else {
            panic!("not data")
        };
        assert_eq!(b, block);
        got.extend_from_slice(data);
        client.send_to(&packet::encode_ack(b), tid).await.unwrap();
        if data.len() < 1428 {
            break;
        }
    }
    assert_eq!(got, config_body());
    token.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_beyond_the_limit_wait_and_beyond_the_queue_are_dropped() {
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let server = udp.local_addr().unwrap();
    let token = CancellationToken::new();
    let fake = Arc::new(Fake::with(&[(KNOWN, &config_body()), ("empty.cfg", b"")]));
    tokio::spawn(tftp::serve(
        udp,
        fake,
        Arc::new(Guard::new(Policy::default())),
        TftpSettings {
            max_transfers: 1,
            ..TftpSettings::default()
        },
        token.clone(),
    ));
    // One transfer holds the only slot (its client does not acknowledge).
    let holder = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    holder
        .send_to(&packet::encode_rrq(KNOWN, &[]), server)
        .await
        .unwrap();
    let (_, holder_tid) = recv(&holder).await;
    // Five more: three wait in the queue (four requests per slot), two are dropped.
    let mut clients = Vec::new();
    for _ in 0..5 {
        let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        c.send_to(&packet::encode_rrq("empty.cfg", &[]), server)
            .await
            .unwrap();
        clients.push(c);
    }
    let mut buf = [0u8; 1024];
    for c in &clients {
        let waiting = tokio::time::timeout(Duration::from_millis(200), c.recv_from(&mut buf)).await;
        assert!(
            waiting.is_err(),
            "a request was served while the slot was taken"
        );
    }
    // The holder gives up: the queued requests are served one after the other.
    holder
        .send_to(
            &packet::encode_error(ErrorCode::UNDEFINED, "bye"),
            holder_tid,
        )
        .await
        .unwrap();
    let served = clients.into_iter().map(|c| {
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let Ok(Ok((len, tid))) =
                tokio::time::timeout(Duration::from_secs(2), c.recv_from(&mut buf)).await
            else {
                return false;
            };
            assert!(matches!(packet::decode(&buf[..len]), Ok(Packet::Data { block: 1, data }) if data.is_empty()));
            c.send_to(&packet::encode_ack(1), tid).await.unwrap();
            true
        })
    });
    let mut count = 0;
    for s in served.collect::<Vec<_>>() {
        count += usize::from(s.await.unwrap());
    }
    assert_eq!(count, 3);
    token.cancel();
}
