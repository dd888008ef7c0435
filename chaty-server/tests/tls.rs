//! `wss://` and `https://` with a private CA made at test time, and a
//! renewed certificate served after SIGHUP.

mod common;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::Connector;

struct Pki {
    ca: CertificateDer<'static>,
    dir: tempfile::TempDir,
}

/// A CA, and a certificate for `localhost`/127.0.0.1 signed by it, as PEM files.
fn pki() -> Pki {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca_params = CertificateParams::new(Vec::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let key = KeyPair::generate().expect("key");
    let params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).expect("params");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let cert = params.signed_by(&key, &issuer).expect("cert");
    std::fs::write(dir.path().join("cert.pem"), cert.pem()).expect("write");
    std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).expect("write");
    std::fs::write(dir.path().join("ca.pem"), ca.pem()).expect("write");
    Pki { ca: ca.der().clone(), dir }
}

fn client_config(ca: Option<&CertificateDer<'static>>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = ca {
        roots.add(ca.clone()).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

#[tokio::test]
async fn wss_and_https_work_with_a_private_ca_and_fail_without_it() {
    let pki = pki();
    let tls = chaty_server::tls::server_config(&pki.dir.path().join("cert.pem"), &pki.dir.path().join("key.pem"))
        .expect("tls");
    let store = chaty_server::Store::open(&pki.dir.path().join("chaty.db")).expect("store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = tokio_util::sync::CancellationToken::new();
    let config = chaty_server::Config { tls: Some(tls), ..chaty_server::Config::default() };
    let server = tokio::spawn(chaty_server::run(listener, store, config, stop.clone()));

    let url = format!("wss://localhost:{}/ws", addr.port());
    let trusted = Connector::Rustls(client_config(Some(&pki.ca)));
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async_tls_with_config(&url, None, false, Some(trusted)),
    )
    .await
    .expect("in time")
    .expect("wss connects");
    let welcome = ws.next().await.expect("frame").expect("ok");
    assert!(welcome.to_text().expect("text").contains("WELCOME"));

    // A client that does not trust the CA is refused by its own TLS check.
    let untrusted = Connector::Rustls(client_config(None));
    assert!(tokio_tungstenite::connect_async_tls_with_config(&url, None, false, Some(untrusted)).await.is_err());

    // Plain HTTP on the TLS port gets nowhere; HTTPS answers /healthz.
    let connector = tokio_rustls::TlsConnector::from(client_config(Some(&pki.ca)));
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("tcp");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let mut https = connector.connect(name, tcp).await.expect("tls");
    https.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.expect("write");
    let mut response = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), https.read_to_string(&mut response)).await.expect("in time");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    stop.cancel();
    server.await.expect("join").expect("server");
}

/// Whether a `wss://` handshake with `port` succeeds trusting only `ca`.
async fn trusted_by(port: u16, ca: &CertificateDer<'static>) -> bool {
    let url = format!("wss://localhost:{port}/ws");
    let connector = Connector::Rustls(client_config(Some(ca)));
    let connect = tokio_tungstenite::connect_async_tls_with_config(&url, None, false, Some(connector));
    matches!(tokio::time::timeout(Duration::from_secs(10), connect).await, Ok(Ok(_)))
}

#[tokio::test]
async fn sighup_serves_a_renewed_certificate_without_a_restart() {
    let (old, new) = (pki(), pki());
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let install = |from: &Pki| {
        std::fs::copy(from.dir.path().join("cert.pem"), &cert).expect("cert");
        std::fs::copy(from.dir.path().join("key.pem"), &key).expect("key");
    };
    install(&old);
    let port = common::free_port();
    let log = dir.path().join("stderr.log");
    let child = common::Reaped(
        std::process::Command::new(common::BIN)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--db"])
            .arg(dir.path().join("chaty.db"))
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start"),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !trusted_by(port, &old.ca).await {
        assert!(tokio::time::Instant::now() < deadline, "the server never served its first certificate");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!trusted_by(port, &new.ca).await);

    install(&new);
    let hup = std::process::Command::new("kill").arg("-HUP").arg(child.0.id().to_string()).status().expect("kill");
    assert!(hup.success());
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("reloaded the settings") {
        assert!(tokio::time::Instant::now() < deadline, "never reloaded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(trusted_by(port, &new.ca).await, "the renewed certificate is served");
    assert!(!trusted_by(port, &old.ca).await, "the old one is not");
    drop(child);
}
