//! Abuse and limits: every refusal is explicit and the server stays up and
//! bounded for everyone else.

use std::time::Duration;

use anyhow::Result;
use chaty_tests::{Client, Config, TestServer, WAIT};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

async fn server(config: Config) -> Result<(TestServer, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_at(&dir.path().join("chaty.db"), config).await?;
    Ok((server, dir))
}

#[tokio::test]
async fn frames_over_the_rate_are_refused_with_retry_after() -> Result<()> {
    let (server, _dir) = server(Config { frame_burst: 50, frames_per_sec: 10, ..Config::default() }).await?;
    let mut c = Client::connect(&server.url()).await?;
    for i in 0..60 {
        c.send(json!({"type": "PING", "ref": format!("p{i}")})).await?;
    }
    let (mut pongs, mut limited) = (0, None);
    for _ in 0..60 {
        let f = c.recv().await?;
        match f["type"].as_str() {
            Some("PONG") => pongs += 1,
            Some("ERROR") => limited = Some(f),
            _ => {}
        }
    }
    assert!((50..60).contains(&pongs), "{pongs} answered");
    let e = limited.expect("a refusal");
    assert_eq!(e["code"], "rate_limited");
    assert!(e["retryAfterMs"].as_u64().is_some_and(|ms| ms > 0 && ms <= 100), "{e}");
    assert!(e["ref"].as_str().is_some_and(|r| r.starts_with('p')), "the refusal names the frame: {e}");
    // After waiting as told, frames are accepted again.
    let told = e["retryAfterMs"].as_u64().unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(told)).await;
    c.send(json!({"type": "PING"})).await?;
    assert_eq!(c.recv().await?["type"], "PONG");
    server.stop().await
}

#[tokio::test]
async fn binary_and_malformed_frames_count_against_the_rate_too() -> Result<()> {
    let (server, _dir) = server(Config { frame_burst: 5, frames_per_sec: 1, ..Config::default() }).await?;
    let mut c = Client::connect(&server.url()).await?;
    for _ in 0..4 {
        c.send_message(Message::Binary(vec![0u8; 8].into())).await?;
    }
    c.send_text(r#"{"type":"NOPE","ref":"x1"}"#).await?;
    c.send_text(r#"{"type":"NOPE","ref":"x2"}"#).await?;
    let codes: Vec<String> = {
        let mut codes = Vec::new();
        for _ in 0..6 {
            codes.push(c.recv().await?["code"].as_str().unwrap_or_default().to_string());
        }
        codes
    };
    assert_eq!(codes, ["bad_frame", "bad_frame", "bad_frame", "bad_frame", "unknown_type", "rate_limited"]);
    server.stop().await
}

#[tokio::test]
async fn ten_thousand_frames_in_one_burst_are_each_answered_and_the_server_stays_up() -> Result<()> {
    let (server, _dir) = server(Config::default()).await?;
    let mut c = Client::connect(&server.url()).await?;
    let burst = 10_000;
    for i in 0..burst {
        c.send(json!({"type": "PING", "ref": format!("p{i}")})).await?;
    }
    // Every frame gets exactly one answer: a PONG, or an explicit refusal.
    let (mut pongs, mut limited) = (0, 0);
    for _ in 0..burst {
        match c.recv().await? {
            f if f["type"] == "PONG" => pongs += 1,
            f if f["code"] == "rate_limited" => limited += 1,
            other => anyhow::bail!("unexpected {other}"),
        }
    }
    assert_eq!(pongs + limited, burst);
    assert!(pongs >= 400 && limited > 0, "{pongs} answered, {limited} refused");
    let mut other = Client::connect(&server.url()).await?;
    other.send(json!({"type": "PING"})).await?;
    assert_eq!(other.recv().await?["type"], "PONG");
    server.stop().await
}

#[tokio::test]
async fn repeated_failed_logins_are_throttled() -> Result<()> {
    let (server, _dir) = server(Config::default()).await?;
    Client::register(&server.url(), "alice").await?;
    let mut c = Client::connect(&server.url()).await?;
    for _ in 0..6 {
        let e = c.expect_error(json!({"type": "LOGIN", "userName": "alice", "password": "guess"})).await?;
        assert_eq!(e["code"], "unauthorized");
    }
    // Locked now, even with the right password.
    let e = c.expect_error(json!({"type": "LOGIN", "userName": "alice", "password": "alice-password"})).await?;
    assert_eq!(e["code"], "rate_limited");
    assert!(e["retryAfterMs"].as_u64().is_some_and(|ms| ms > 0 && ms <= 1000), "{e}");
    server.stop().await
}

#[tokio::test]
async fn connection_caps_are_refused_at_the_upgrade() -> Result<()> {
    let (server, _dir) = server(Config { max_connections_per_ip: 2, ..Config::default() }).await?;
    let _a = Client::connect(&server.url()).await?;
    let _b = Client::connect(&server.url()).await?;
    match tokio_tungstenite::connect_async(server.url()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 429),
        other => panic!("third connection from one address was not refused: {:?}", other.map(|_| ())),
    }
    drop(_a);
    // The place is freed when a connection closes.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if Client::connect(&server.url()).await.is_ok() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "place never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await
}

#[tokio::test]
async fn invalid_utf8_closes_with_1007() -> Result<()> {
    let (server, _dir) = server(Config::default()).await?;
    let mut c = Client::connect(&server.url()).await?;
    let frame = Frame::message(vec![0x7b, 0xff, 0xfe, 0x7d], OpCode::Data(Data::Text), true);
    c.send_message(Message::Frame(frame)).await?;
    assert_eq!(c.closed().await?, Some(1007));
    server.stop().await
}

#[tokio::test]
async fn a_trickled_handshake_is_cut_off() -> Result<()> {
    let config = Config { handshake_timeout: Duration::from_millis(300), ..Config::default() };
    let (server, _dir) = server(config).await?;
    let mut tcp = TcpStream::connect(server.addr).await?;
    let head = b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
    let started = tokio::time::Instant::now();
    let mut closed = false;
    for byte in head {
        if tcp.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 256];
        if let Ok(read) = tokio::time::timeout(Duration::from_millis(50), tcp.read(&mut buf)).await {
            // The server answered (408) or closed: either way it gave up on us.
            let _ = read;
            closed = true;
            break;
        }
    }
    assert!(closed, "the server waited for the whole trickled head");
    assert!(started.elapsed() < WAIT);
    server.stop().await
}

#[tokio::test]
async fn an_oversized_request_head_is_refused_with_431() -> Result<()> {
    let (server, _dir) = server(Config::default()).await?;
    // Just over the 16 KiB limit on the request head; the server answers 431
    // and does not upgrade.
    let start = "GET /ws HTTP/1.1\r\nHost: x\r\nX-Pad: ";
    let end = "\r\n\r\n";
    let pad = 16 * 1024 + 1 - start.len() - end.len();
    let head = format!("{start}{}{end}", "a".repeat(pad));
    assert_eq!(head.len(), 16 * 1024 + 1);
    let mut tcp = TcpStream::connect(server.addr).await?;
    tcp.write_all(head.as_bytes()).await?;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(WAIT, tcp.read_to_end(&mut response)).await?;
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
    // A head just under the limit is served.
    let fits =
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: {}\r\n\r\n", "a".repeat(15 * 1024));
    let mut tcp = TcpStream::connect(server.addr).await?;
    tcp.write_all(fits.as_bytes()).await?;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(WAIT, tcp.read_to_end(&mut response)).await?;
    assert!(String::from_utf8_lossy(&response).starts_with("HTTP/1.1 200"));
    server.stop().await
}

#[tokio::test]
async fn permessage_deflate_is_not_negotiated() -> Result<()> {
    let (server, _dir) = server(Config::default()).await?;
    let mut request = server.url().into_client_request()?;
    request.headers_mut().insert("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits".parse()?);
    let (_ws, response) = tokio_tungstenite::connect_async(request).await?;
    assert_eq!(response.status().as_u16(), 101);
    assert!(response.headers().get("Sec-WebSocket-Extensions").is_none());
    server.stop().await
}

#[tokio::test]
async fn a_silent_client_is_closed_after_the_idle_timeout() -> Result<()> {
    let config = Config {
        ping_interval: Duration::from_millis(100),
        idle_timeout: Duration::from_millis(300),
        ..Config::default()
    };
    let (server, _dir) = server(config).await?;
    // A raw socket that completes the handshake and then never answers pings.
    let (ws, _) = tokio_tungstenite::client_async(server.url(), TcpStream::connect(server.addr).await?).await?;
    let tcp = ws.into_inner();
    let mut tcp = tcp;
    let mut buf = Vec::new();
    let n = tokio::time::timeout(WAIT, tcp.read_to_end(&mut buf)).await??;
    // WELCOME, pings, then a close frame (opcode 0x8) with code 1001.
    let close = buf.windows(2).position(|w| w[0] == 0x88).map(|i| &buf[i + 2..]);
    assert!(close.is_some_and(|c| c.starts_with(&1001u16.to_be_bytes())), "{n} bytes: {buf:?}");
    server.stop().await
}

#[tokio::test]
async fn hostile_json_values_are_refused_and_the_connection_survives() -> Result<()> {
    let (server, _dir) = server(Config::default()).await?;
    let (mut c, _) = Client::register(&server.url(), "alice").await?;
    c.join("general").await?;
    for (text, code) in [
        (r#"{"type":"JOIN_ROOM","roomId":"general","since":18446744073709551616}"#.to_string(), "invalid"),
        (r#"{"type":"HISTORY","roomId":"general","after":NaN}"#.to_string(), "bad_frame"),
        (r#"{"type":"HISTORY","roomId":"general","after":9007199254740993}"#.to_string(), "HISTORY"),
        (format!(r#"{{"type":"CHAT_MESSAGE","roomId":"general","content":"{}"}}"#, "y".repeat(60_000)), "invalid"),
        (r#"{"type":"JOIN_ROOM","roomId":"gen.eral"}"#.to_string(), "invalid"),
        (r#"{"type":"JOIN_ROOM","roomId":"a/b"}"#.to_string(), "invalid"),
    ] {
        c.send_text(&text).await?;
        let reply = c.recv().await?;
        let got = if reply["type"] == "ERROR" { reply["code"].clone() } else { reply["type"].clone() };
        assert_eq!(got, code, "{}: {reply}", &text[..text.len().min(80)]);
    }
    let name = "%_'; DROP TABLE users; --";
    c.send(json!({"type": "CHAT_MESSAGE", "roomId": "general", "content": name, "clientId": "sql"})).await?;
    assert_eq!(c.recv_echo("sql").await?["content"], name);
    server.stop().await
}
