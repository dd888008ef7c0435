//! `--local`: join the chaty server already on the port, or the one another
//! client started (recorded in `server.json`), or start one with its own
//! database — on another port, said on screen, when something that is not
//! chaty holds it.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Result;
use chaty_tui::local::{Probe, Record, find_or_start, probe, read_record};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

async fn chaty_server(dir: &std::path::Path) -> Result<(SocketAddr, CancellationToken)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let store = chaty_server::Store::open(&dir.join("theirs.db"))?;
    let stop = CancellationToken::new();
    tokio::spawn(chaty_server::run(listener, store, chaty_server::Config::default(), stop.clone()));
    Ok((addr, stop))
}

/// A listener that is not chaty: it accepts, writes `reply` (if any), and
/// otherwise keeps quiet.
async fn not_chaty(reply: &'static [u8]) -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            if !reply.is_empty() {
                let _ = socket.write_all(reply).await;
                let _ = socket.shutdown().await;
            }
            open.push(socket);
        }
    });
    Ok(addr)
}

const SHORT: Duration = Duration::from_millis(500);

#[tokio::test]
async fn the_probe_knows_chaty_from_anything_else() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (addr, stop) = chaty_server(dir.path()).await?;
    assert_eq!(probe(addr, SHORT).await, Probe::Chaty { version: env!("CARGO_PKG_VERSION").to_string() });
    stop.cancel();

    let silent = not_chaty(b"").await?;
    assert!(matches!(probe(silent, SHORT).await, Probe::Other(why) if why.contains("no answer")));
    let garbage = not_chaty(b"SSH-2.0-OpenSSH_9.6\r\n").await?;
    assert!(matches!(probe(garbage, SHORT).await, Probe::Other(_)));
    let other_http = not_chaty(b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{\"status\":\"up\"}").await?;
    assert!(matches!(probe(other_http, SHORT).await, Probe::Other(why) if why.contains("status")));
    let not_found = not_chaty(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").await?;
    assert!(matches!(probe(not_found, SHORT).await, Probe::Other(why) if why.contains("404")));
    Ok(())
}

#[tokio::test]
async fn local_joins_a_chaty_server_already_on_the_port() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (addr, stop) = chaty_server(dir.path()).await?;
    let db = dir.path().join("local").join("chaty.db");
    let local = find_or_start(addr, &db, CancellationToken::new()).await?;
    assert_eq!(local.url, format!("ws://{addr}/ws"));
    assert!(!local.embedded() && local.status.contains(&addr.to_string()), "{local:?}");
    assert!(!db.exists(), "no second server, no second database");
    stop.cancel();
    Ok(())
}

#[tokio::test]
async fn local_starts_its_own_server_on_another_port_when_the_port_is_not_chaty() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let taken = not_chaty(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").await?;
    let db = dir.path().join("local").join("chaty.db");
    let shutdown = CancellationToken::new();
    let local = find_or_start(taken, &db, shutdown.clone()).await?;
    assert!(local.embedded());
    let at: SocketAddr = local.url.trim_start_matches("ws://").trim_end_matches("/ws").parse()?;
    assert_ne!(at.port(), taken.port());
    assert_eq!(local.status, format!("local server {at} ({} is taken, not by chaty)", taken.port()));
    assert!(db.exists(), "its own database, in the file it was given");
    assert!(matches!(probe(at, SHORT).await, Probe::Chaty { .. }), "and it is a chaty server");
    shutdown.cancel();
    Ok(())
}

#[tokio::test]
async fn local_starts_on_the_port_when_it_is_free() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let free = TcpListener::bind("127.0.0.1:0").await?.local_addr()?;
    let db = dir.path().join("local").join("chaty.db");
    let shutdown = CancellationToken::new();
    let local = find_or_start(free, &db, shutdown.clone()).await?;
    assert_eq!((local.url.as_str(), local.embedded()), (format!("ws://{free}/ws").as_str(), true));
    assert_eq!(local.status, format!("local server {free}"));
    shutdown.cancel();
    Ok(())
}

fn mode(path: &std::path::Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).ok().map(|m| m.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(path).ok().map(|_| 0o600)
    }
}

fn addr_of(url: &str) -> Result<SocketAddr> {
    Ok(url.trim_start_matches("ws://").trim_end_matches("/ws").parse()?)
}

#[tokio::test]
async fn a_second_client_joins_the_first_ones_server_when_the_port_is_not_chaty() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let taken = not_chaty(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").await?;
    let local_dir = dir.path().join("local");
    let db = local_dir.join("chaty.db");
    let (alice_stop, bob_stop) = (CancellationToken::new(), CancellationToken::new());
    let alice = find_or_start(taken, &db, alice_stop.clone()).await?;
    assert!(alice.embedded());
    let record = local_dir.join("server.json");
    assert_eq!(read_record(&record), Some(Record { url: alice.url.clone(), pid: std::process::id() }));
    // Private whatever the umask: the directory and the record.
    assert_eq!(mode(&local_dir), Some(0o700), "{}", local_dir.display());
    assert_eq!(mode(&record), Some(0o600));

    let bob = find_or_start(taken, &db, bob_stop.clone()).await?;
    assert!(!bob.embedded(), "no second server on the same database: {bob:?}");
    assert_eq!(bob.url, alice.url, "bob joins alice's server");
    let at = addr_of(&alice.url)?;
    assert_eq!(bob.status, format!("local: the chaty server on {at} (another chaty-tui runs it)"));

    // When alice quits, her server stops and its record goes.
    alice.host.expect("alice hosts").stop().await;
    assert!(!record.exists(), "the record is removed");
    assert!(matches!(probe(at, SHORT).await, Probe::Other(_)), "and the server is gone");
    // The next client starts its own again.
    let carol = find_or_start(taken, &db, CancellationToken::new()).await?;
    assert!(carol.embedded());
    assert_eq!(read_record(&record).map(|r| r.url), Some(carol.url.clone()));
    carol.host.expect("carol hosts").stop().await;
    bob_stop.cancel();
    Ok(())
}

#[tokio::test]
async fn a_stale_record_is_ignored_and_replaced() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let taken = not_chaty(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").await?;
    let local_dir = dir.path().join("local");
    std::fs::create_dir_all(&local_dir)?;
    let record = local_dir.join("server.json");
    // Left by a client that is gone: one address where nothing listens, and
    // one where a chaty server answers that no client of this database runs.
    let nothing = TcpListener::bind("127.0.0.1:0").await?.local_addr()?;
    let (elsewhere, stop_elsewhere) = chaty_server(dir.path()).await?;
    for gone in [nothing, elsewhere] {
        let stale = Record { url: format!("ws://{gone}/ws"), pid: 1 };
        std::fs::write(&record, serde_json::to_string(&stale)?)?;
        let local = find_or_start(taken, &local_dir.join("chaty.db"), CancellationToken::new()).await?;
        assert!(local.embedded(), "{gone}: starts its own: {local:?}");
        assert_ne!(addr_of(&local.url)?, gone);
        assert_eq!(read_record(&record).map(|r| r.url), Some(local.url.clone()), "the record is replaced");
        local.host.expect("hosts").stop().await;
    }
    stop_elsewhere.cancel();
    Ok(())
}
