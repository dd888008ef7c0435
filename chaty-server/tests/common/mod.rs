//! What the binary-level tests share: starting `chaty-server` as a process,
//! and a small JSON-over-WebSocket client whose waits are all bounded.
#![allow(dead_code)] // each test binary uses its own part of this

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

pub const BIN: &str = env!("CARGO_BIN_EXE_chaty-server");

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A free loopback port (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Starts the server binary on `port` with `db` and extra flags.
pub fn start(port: u16, db: &std::path::Path, extra: &[&str]) -> Child {
    Command::new(BIN)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--db"])
        .arg(db)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chaty-server")
}

/// Connects, retrying while the server starts (up to 30 s).
pub async fn connect(url: &str) -> Ws {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((ws, _)) = tokio_tungstenite::connect_async(url).await {
            return ws;
        }
        assert!(tokio::time::Instant::now() < deadline, "server never came up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn send(ws: &mut Ws, frame: Value) -> bool {
    ws.send(Message::Text(frame.to_string().into())).await.is_ok()
}

/// The next JSON frame; `None` when the socket closed or 10 s passed.
pub async fn next(ws: &mut Ws) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(&t).ok(),
            Ok(Some(Ok(Message::Close(_)) | Err(_))) | Ok(None) | Err(_) => return None,
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Skips frames until one of `kind`; panics if the socket closes first.
pub async fn recv_type(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let frame = next(ws).await.unwrap_or_else(|| panic!("closed while waiting for {kind}"));
        if frame["type"] == kind {
            return frame;
        }
    }
}

/// Resident memory of a process, KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// One GET; the status and the body.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    tokio::time::timeout(std::time::Duration::from_secs(20), tcp.read_to_string(&mut response))
        .await
        .expect("an answer in time")
        .expect("read");
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, response.split("\r\n\r\n").nth(1).unwrap_or_default().to_string())
}

/// A child process killed (and reaped) when dropped, so a failing test
/// leaves no server behind.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
