//! The SCCP listener: bound with a large listen backlog, so a registration storm (thousands of phones
//! connecting at once) is not throttled by SYNs dropped from a full accept queue. `ss` reads the
//! backlog back (its Send-Q column of a listening socket).

use gateway::serve::{SCCP_BACKLOG, bind_sccp};

#[tokio::test]
async fn the_sccp_listener_has_a_large_backlog() {
    if captures::peer::require_tool("ss").is_none() {
        return;
    }
    let listener = bind_sccp("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4096);
    let want = SCCP_BACKLOG.min(somaxconn);
    assert!(
        want > 128,
        "somaxconn {somaxconn} leaves no room above the default"
    );
    let out =
        captures::peer::run("ss", &["-tlnH", "sport", "=", &format!(":{port}")]).expect("ss runs");
    // State Recv-Q Send-Q Local Peer: Send-Q is the backlog of a listening socket.
    let backlog: u32 = out
        .split_whitespace()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no backlog in {out:?}"));
    assert_eq!(backlog, want, "{out}");
    // And it accepts.
    let client = tokio::net::TcpStream::connect(("127.0.0.1", port));
    let (accepted, connected) = tokio::join!(listener.accept(), client);
    accepted.expect("accept");
    connected.expect("connect");
}
