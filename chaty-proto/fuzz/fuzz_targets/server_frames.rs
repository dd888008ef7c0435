//! The server's frame handling: each input is a few lines, each line one
//! WebSocket text frame from a guest (the first joins a room). The server
//! must answer every frame and stay up: after the input, a PING still gets
//! its PONG, on a new connection too.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use libfuzzer_sys::fuzz_target;
use tokio_tungstenite::tungstenite::Message;

struct Server {
    runtime: tokio::runtime::Runtime,
    url: String,
    _dir: tempfile::TempDir,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let store = chaty_server::Store::open(&dir.path().join("fuzz.db")).expect("store");
        let config = chaty_server::Config {
            allow_guests: true,
            frames_per_sec: 1_000_000,
            frame_burst: 1_000_000,
            history_per_sec: 1_000_000,
            history_burst: 1_000_000,
            ..chaty_server::Config::default()
        };
        let url = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let url = format!("ws://{}/ws", listener.local_addr().expect("addr"));
            tokio::spawn(chaty_server::run(listener, store, config, tokio_util::sync::CancellationToken::new()));
            url
        });
        Server { runtime, url, _dir: dir }
    })
}

async fn pong(ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>) {
    ws.send(Message::Text(r#"{"type":"PING","ref":"fuzz-end"}"#.into())).await.expect("server still reading");
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("server answers").expect("open");
        if let Ok(Message::Text(t)) = msg {
            if t.contains(r#""ref":"fuzz-end""#) {
                return;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let server = server();
    server.runtime.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(server.url.as_str()).await.expect("connect");
        ws.send(Message::Text(r#"{"type":"JOIN_ROOM","roomId":"fuzz","userId":"fuzzer"}"#.into())).await.expect("join");
        for line in text.lines().take(16) {
            if ws.send(Message::Text(line.to_string().into())).await.is_err() {
                break;
            }
        }
        // Invalid frames get ERRORs, valid ones their answers; the connection
        // must still work afterwards, unless the input itself closed it.
        if !text.contains("LOGOUT") {
            pong(&mut ws).await;
        }
        let (mut fresh, _) = tokio_tungstenite::connect_async(server.url.as_str()).await.expect("server still up");
        pong(&mut fresh).await;
    });
});
