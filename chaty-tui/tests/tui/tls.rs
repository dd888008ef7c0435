//! `--ca` against a real `chaty-server` over TLS: a self-signed certificate
//! (CA:TRUE, as `openssl req -x509` makes) given with `--ca` is trusted as
//! itself; another one is refused, once, as a certificate problem and not
//! retried; the right certificate under the wrong host name is refused too;
//! a real CA in the file still signs servers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use chaty_tui::app::{Msg, NetEvent};
use chaty_tui::net::Net;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(15);

/// A certificate and its key as PEM files in `dir`, named `name.pem` and `name.key`.
struct Pem {
    cert: PathBuf,
    key: PathBuf,
}

fn write_pem(dir: &Path, name: &str, cert: &rcgen::Certificate, key: &KeyPair) -> Pem {
    let pem = Pem { cert: dir.join(format!("{name}.pem")), key: dir.join(format!("{name}.key")) };
    std::fs::write(&pem.cert, cert.pem()).expect("write cert");
    std::fs::write(&pem.key, key.serialize_pem()).expect("write key");
    pem
}

/// A self-signed certificate marked CA:TRUE for `names`, like `openssl req -x509` makes.
fn self_signed(dir: &Path, name: &str, names: &[&str]) -> Pem {
    let key = KeyPair::generate().expect("key");
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_string()).collect::<Vec<_>>()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).expect("cert");
    write_pem(dir, name, &cert, &key)
}

/// A CA (its certificate only) and a server certificate it signed for localhost.
fn ca_signed(dir: &Path) -> (PathBuf, Pem) {
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca.pem()).expect("write ca");
    let key = KeyPair::generate().expect("key");
    let params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    let cert = params.signed_by(&key, &rcgen::Issuer::new(ca_params, ca_key)).expect("cert");
    (ca_path, write_pem(dir, "leaf", &cert, &key))
}

/// A chaty-server with TLS on a free loopback port; its port and its stop switch.
async fn tls_server(pem: &Pem) -> Result<(u16, CancellationToken)> {
    let tls = chaty_server::tls::server_config(&pem.cert, &pem.key)?;
    let store = chaty_server::Store::open(&pem.cert.with_extension("db"))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let stop = CancellationToken::new();
    let config = chaty_server::Config { tls: Some(tls), ..chaty_server::Config::default() };
    tokio::spawn(chaty_server::run(listener, store, config, stop.clone()));
    Ok((port, stop))
}

/// Connects the client's network task to `url` trusting `ca`: the task, or
/// the reason it gave up — after checking it then gave up for good: no
/// retry, nothing more.
async fn connect(url: &str, ca: &Path) -> Result<Result<Net, String>> {
    connect_with(url, Some(ca)).await
}

/// [`connect`], trusting `ca` if given (the platform's roots only without).
async fn connect_with(url: &str, ca: Option<&Path>) -> Result<Result<Net, String>> {
    let tls = chaty_tui::tls::Trust::new(ca)?;
    let (events, mut rx) = mpsc::channel(64);
    let net = Net::spawn(url.to_string(), tls, events);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let msg = tokio::time::timeout_at(deadline, rx.recv()).await.context("timed out")?.context("task ended")?;
        match msg {
            Msg::Net(NetEvent::Connected) => return Ok(Ok(net)),
            Msg::Net(NetEvent::Failed { reason }) => {
                let next = tokio::time::timeout(Duration::from_secs(3), rx.recv()).await;
                anyhow::ensure!(matches!(next, Ok(None)), "the network task went on after failing");
                return Ok(Err(reason));
            }
            Msg::Net(NetEvent::Disconnected { reason, .. }) => anyhow::bail!("retried instead of failing: {reason}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn a_pinned_self_signed_ca_certificate_connects() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let pem = self_signed(dir.path(), "server", &["localhost", "127.0.0.1"]);
    let (port, stop) = tls_server(&pem).await?;
    for host in ["localhost", "127.0.0.1"] {
        connect(&format!("wss://{host}:{port}/ws"), &pem.cert).await?.map_err(anyhow::Error::msg)?;
    }
    stop.cancel();
    Ok(())
}

#[tokio::test]
async fn another_self_signed_certificate_is_refused_once_and_not_retried() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let pem = self_signed(dir.path(), "server", &["localhost", "127.0.0.1"]);
    let other = self_signed(dir.path(), "other", &["localhost", "127.0.0.1"]);
    let (port, stop) = tls_server(&pem).await?;
    let Err(reason) = connect(&format!("wss://localhost:{port}/ws"), &other.cert).await? else {
        panic!("connected with the wrong certificate")
    };
    assert!(reason.starts_with("the server's certificate is not trusted: "), "{reason}");
    assert!(reason.contains("--ca FILE"), "says what to do: {reason}");
    assert!(!reason.contains("OtherError"), "readable: {reason}");
    assert!(reason.ends_with(&format!("(tried --ca {})", other.cert.display())), "names the file: {reason}");
    stop.cancel();
    Ok(())
}

/// The README: the client "remembers the server and your name… so the next
/// start signs in by itself" — over wss:// with its own CA, too.
#[tokio::test]
async fn the_ca_given_once_is_remembered_for_the_next_start() -> Result<()> {
    use chaty_tui::config;
    let dir = tempfile::tempdir()?;
    let pem = self_signed(dir.path(), "fullchain", &["localhost"]);
    let (port, stop) = tls_server(&pem).await?;
    let url = format!("wss://localhost:{port}/ws");
    let config_file = dir.path().join("config").join("config.toml");

    // Without any CA: refused, and the message names no --ca file.
    let Err(reason) = connect_with(&url, None).await? else { panic!("trusted without --ca") };
    assert!(!reason.contains("tried --ca"), "{reason}");

    // First start: --ca given; the sign-in remembers it with the server.
    let first = config::load_config(&config_file)?;
    let ca = config::resolve_ca(Some(&pem.cert), &first, &url, &config_file)?;
    connect_with(&url, ca.as_deref()).await?.map_err(anyhow::Error::msg)?;
    config::remember(&config_file, Some(url.clone()), "dave".into(), ca.as_deref())?;

    // Next start: no --ca, and it connects.
    let next = config::load_config(&config_file)?;
    assert_eq!(next.ca.as_deref(), Some(pem.cert.as_path()));
    let ca = config::resolve_ca(None, &next, &url, &config_file)?;
    connect_with(&url, ca.as_deref()).await?.map_err(anyhow::Error::msg)?;

    // The remembered file gone: a clear error before connecting.
    std::fs::remove_file(&pem.cert)?;
    let err = config::resolve_ca(None, &next, &url, &config_file).expect_err("gone");
    assert!(format!("{err:#}").contains(&pem.cert.display().to_string()), "{err:#}");
    stop.cancel();
    Ok(())
}

#[tokio::test]
async fn the_pinned_certificate_under_another_name_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let pem = self_signed(dir.path(), "server", &["chat.example"]);
    let (port, stop) = tls_server(&pem).await?;
    let Err(reason) = connect(&format!("wss://localhost:{port}/ws"), &pem.cert).await? else {
        panic!("connected under the wrong name")
    };
    assert!(reason.contains("it is not for localhost (it is for chat.example)"), "{reason}");
    stop.cancel();
    Ok(())
}

#[tokio::test]
async fn a_ca_in_the_file_still_signs_servers() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (ca, leaf) = ca_signed(dir.path());
    let (port, stop) = tls_server(&leaf).await?;
    let url = format!("wss://localhost:{port}/ws");
    connect(&url, &ca).await?.map_err(anyhow::Error::msg)?;
    // The leaf alone, without its CA, is pinned: it connects as itself too
    // (rcgen gives both the same subject, so webpki even finds a "CA").
    connect(&url, &leaf.cert).await?.map_err(anyhow::Error::msg)?;
    stop.cancel();
    Ok(())
}

/// docs/deploy.md's openssl recipe, run as written (with `localhost` for
/// `chat.example.com`): the server takes the key, and `--ca fullchain.pem`
/// connects. `.ci/run` installs openssl where it is missing.
#[tokio::test]
async fn the_openssl_recipe_in_deploy_md_works_as_written() -> Result<()> {
    let deploy = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/deploy.md"))?;
    let recipe = deploy
        .split("```sh\n")
        .find_map(|block| block.split("```").next().filter(|b| b.starts_with("openssl req -x509")))
        .context("no openssl recipe in docs/deploy.md")?
        .replace("\\\n", " ")
        .replace("chat.example.com", "localhost");
    let dir = tempfile::tempdir()?;
    let status = std::process::Command::new("sh")
        .args(["-c", &recipe])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .context("cannot run openssl: install it (apt-get install openssl)")?;
    anyhow::ensure!(status.success(), "the recipe failed: {recipe}");
    let pem = Pem { cert: dir.path().join("fullchain.pem"), key: dir.path().join("privkey.pem") };
    let (port, stop) = tls_server(&pem).await?;
    let net = connect(&format!("wss://localhost:{port}/ws"), &pem.cert).await?;
    assert!(net.is_ok(), "refused: {:?}", net.err());
    stop.cancel();
    Ok(())
}
