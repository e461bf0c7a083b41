//! Provisioning through the whole gateway: the fleet imported, `crossbar serve`'s TFTP and HTTP servers
//! fetched from by tftp-hpa's client and a raw HTTP client, as a booting phone would.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::Gateway;

const FLEET: &str = "extension,display_name,mac,model\n\
    2001,Grace Hopper,00:04:f2:ab:cd:ef,cisco-7960\n\
    2002,Edsger Dijkstra,00:1b:ba:11:22:33,avaya-1140e\n";

async fn tftp_get(server: SocketAddr, name: &str) -> Option<String> {
    let tftp = captures::peer::require_tool("tftp")?;
    let dir = tempfile::tempdir().expect("tempdir");
    let local = dir.path().join("got");
    let args = [
        "-m".to_owned(),
        "octet".to_owned(),
        server.ip().to_string(),
        server.port().to_string(),
        "-c".to_owned(),
        "get".to_owned(),
        name.to_owned(),
        local.display().to_string(),
    ];
    let out = tokio::task::spawn_blocking(move || Command::new(tftp).args(args).output())
        .await
        .expect("join")
        .expect("run tftp");
    Some(
        std::fs::read_to_string(&local).unwrap_or_else(|_| {
            panic!("tftp got nothing: {}", String::from_utf8_lossy(&out.stderr))
        }),
    )
}

async fn http_get(server: SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(server)
        .await
        .expect("connect");
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: crossbar\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .expect("write");
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut out))
        .await
        .expect("answer within 5 s")
        .expect("read");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_7960_fetches_a_config_naming_crossbars_sccp_listener() {
    let gateway = Gateway::start_with(FLEET, "advertised_address = \"127.0.0.1\"").await;
    let tftp = gateway.listener("tftp.listen").expect("tftp.listen bound");
    let http = gateway.listener("http.listen").expect("http.listen bound");
    // Until the SCCP listener is bound by the gateway itself, its configured port is what phones are told.
    let sccp_port = gateway.listener("sccp.listen").map_or(2000, |a| a.port());
    let Some(config) = tftp_get(tftp, "SEP0004F2ABCDEF.cnf.xml").await else {
        gateway.stop().await;
        return;
    };
    assert!(
        config.contains("<processNodeName>127.0.0.1</processNodeName>"),
        "{config}"
    );
    assert!(
        config.contains(&format!(
            "<ethernetPhonePort>{sccp_port}</ethernetPhonePort>"
        )),
        "{config}"
    );
    let over_http = http_get(http, "/provision/SEP0004F2ABCDEF.cnf.xml").await;
    assert!(over_http.starts_with("HTTP/1.1 200"), "{over_http}");
    assert!(over_http.ends_with(&config), "{over_http}");
    // The 1140E's device file names the UNIStim server.
    let prv = http_get(http, "/provision/001BBA112233.PRV").await;
    assert!(prv.starts_with("HTTP/1.1 200"), "{prv}");
    assert!(prv.contains("s1ip=127.0.0.1;"), "{prv}");
    // A MAC not in the inventory gets nothing.
    let unknown = http_get(http, "/provision/SEP0004F2000000.cnf.xml").await;
    assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");
    gateway.stop().await;
}
