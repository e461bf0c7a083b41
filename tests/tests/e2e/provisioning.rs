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

/// SIP-firmware phones of three makers; 2103 also has a password of its own.
const SIP_FLEET: &str = "extension,display_name,mac,model,password\n\
    2101,Ada Lovelace,00:04:f2:11:11:11,polycom-vvx,\n\
    2102,Alan Turing,80:5e:c0:22:22:22,yealink-t4x,\n\
    2103,Barbara Liskov,00:1e:4a:33:33:33,cisco-7961-sip,liskov-own\n";

/// The value after `key` up to the next `end` in `text`.
fn value_after<'t>(text: &'t str, key: &str, end: char) -> &'t str {
    let start = text.find(key).unwrap_or_else(|| panic!("{key} in {text}")) + key.len();
    let rest = &text[start..];
    rest[..rest.find(end).unwrap_or(rest.len())].trim()
}

/// One digest REGISTER of `user` in acme with `password`, from sipp.
async fn register(gateway: &Gateway, tag: &str, user: &str, password: &str) -> bool {
    let csv = gateway.write(
        &format!("{tag}.csv"),
        &format!(
            "SEQUENTIAL\n{user};acme.example.com;{}\n",
            crate::sip::auth(user, password)
        ),
    );
    let run = crate::sip::run_scenario(
        gateway,
        tag,
        gateway.sip_udp,
        crate::harness::scenario("register_auth.xml"),
        &csv,
        &[],
    )
    .await;
    if !run.ok() {
        assert!(
            run.first_lines()
                .iter()
                .any(|l| l.starts_with("SIP/2.0 403")),
            "{tag}: refused with 403: {}",
            run.describe()
        );
    }
    run.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_phones_register_with_the_password_of_their_provisioning_file() {
    if !crate::harness::have_sipp() {
        return;
    }
    let gateway = Gateway::start_with(SIP_FLEET, "advertised_address = \"127.0.0.1\"").await;
    let http = gateway.listener("http.listen").expect("http.listen bound");
    let polycom = http_get(http, "/provision/0004f2111111-sip.cfg").await;
    let yealink = http_get(http, "/provision/805ec0222222.cfg").await;
    let cisco = http_get(http, "/provision/SEP001E4A333333.cnf.xml").await;
    for file in [&polycom, &yealink, &cisco] {
        assert!(file.starts_with("HTTP/1.1 200"), "{file}");
    }
    let passwords = [
        ("2101", value_after(&polycom, "reg.1.auth.password=\"", '"')),
        ("2102", value_after(&yealink, "account.1.password = ", '\n')),
        ("2103", value_after(&cisco, "<authPassword>", '<')),
    ];
    for (user, password) in passwords {
        assert_eq!(password.len(), provisioning::secret::PASSWORD_LEN, "{user}");
        assert!(
            register(&gateway, &format!("file-{user}"), user, password).await,
            "{user} registers with its file's password"
        );
    }
    // The user's own password still works; a wrong one, another line's, or one changed by a character
    // do not.
    assert!(register(&gateway, "own-2103", "2103", "liskov-own").await);
    let (_, polycom_password) = passwords[0];
    let mut altered = polycom_password.to_owned();
    let last = if altered.ends_with('a') { "b" } else { "a" };
    altered.replace_range(altered.len() - 1.., last);
    for (tag, user, password) in [
        ("wrong-2101", "2101", "not-the-password"),
        ("altered-2101", "2101", altered.as_str()),
        ("other-line-2102", "2102", polycom_password),
    ] {
        assert!(
            !register(&gateway, tag, user, password).await,
            "{tag} must not register"
        );
    }
    // The secret is kept in the store: after a restart the same files still register.
    let gateway = gateway.restart().await;
    let http = gateway.listener("http.listen").expect("http.listen bound");
    let again = http_get(http, "/provision/805ec0222222.cfg").await;
    let (_, yealink_password) = passwords[1];
    assert_eq!(
        value_after(&again, "account.1.password = ", '\n'),
        yealink_password
    );
    assert!(register(&gateway, "after-restart-2102", "2102", yealink_password).await);
    gateway.stop().await;
}
