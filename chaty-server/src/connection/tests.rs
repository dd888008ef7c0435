//! The connection driven through in-memory channels instead of a socket,
//! so virtual time can be paused without any real I/O in flight.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::*;
use crate::config::Config;
use crate::store::Store;

struct FakeSocket {
    incoming: mpsc::UnboundedReceiver<Result<Message, axum::Error>>,
    outgoing: mpsc::UnboundedSender<Message>,
}

impl Stream for FakeSocket {
    type Item = Result<Message, axum::Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.incoming.poll_recv(cx)
    }
}

impl Sink<Message> for FakeSocket {
    type Error = axum::Error;
    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
        self.outgoing.send(item).map_err(axum::Error::new)
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
}

struct Peer {
    to_server: mpsc::UnboundedSender<Result<Message, axum::Error>>,
    from_server: mpsc::UnboundedReceiver<Message>,
}

impl Peer {
    fn connect(shared: &Arc<crate::connection::Context>) -> Self {
        let (to_server, incoming) = mpsc::unbounded_channel();
        let (outgoing, from_server) = mpsc::unbounded_channel();
        tokio::spawn(serve(FakeSocket { incoming, outgoing }, shared.clone(), None, ([127, 0, 0, 1], 9).into()));
        Self { to_server, from_server }
    }

    fn send(&self, frame: Value) {
        let _ = self.to_server.send(Ok(Message::Text(frame.to_string().into())));
    }

    async fn recv_type(&mut self, kind: &str) -> Value {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(60), self.from_server.recv())
                .await
                .expect("timed out")
                .expect("connection ended");
            if let Message::Text(text) = msg {
                let v: Value = serde_json::from_str(&text).expect("json");
                if v["type"] == kind {
                    return v;
                }
            }
        }
    }
}

#[tokio::test]
async fn an_idle_connection_is_a_small_task() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("chaty.db")).expect("store");
    let shared = crate::connection::Context::new(
        store,
        crate::fanout::Fanout::local(),
        crate::config::LiveConfig::new(Config::default()),
        Default::default(),
    );
    let (_to_server, incoming) = mpsc::unbounded_channel();
    let (outgoing, _from_server) = mpsc::unbounded_channel();
    let task = serve(FakeSocket { incoming, outgoing }, shared, None, ([127, 0, 0, 1], 9).into());
    // Every connection's task holds this much while it waits for a frame.
    let size = std::mem::size_of_val(&task);
    assert!(size < 2048, "the connection future is {size} bytes");
}

#[tokio::test(flavor = "current_thread")]
async fn typing_expires_six_seconds_after_the_last_refresh() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("chaty.db")).expect("store");
    let shared = crate::connection::Context::new(
        store,
        crate::fanout::Fanout::local(),
        crate::config::LiveConfig::new(Config { allow_guests: true, ..Config::default() }),
        Default::default(),
    );
    let (mut alice, mut bob) = (Peer::connect(&shared), Peer::connect(&shared));
    alice.send(json!({"type": "JOIN_ROOM", "roomId": "general", "userId": "alice"}));
    alice.recv_type("ROOM_MEMBERS_UPDATE").await;
    bob.send(json!({"type": "JOIN_ROOM", "roomId": "general", "userId": "bob"}));
    bob.recv_type("ROOM_MEMBERS_UPDATE").await;
    alice.recv_type("ROOM_MEMBERS_UPDATE").await;

    // Only in-memory work from here: virtual time moves only when told to,
    // or when every task is idle.
    tokio::time::pause();
    alice.send(json!({"type": "TYPING", "roomId": "general", "typing": true}));
    assert_eq!(bob.recv_type("TYPING").await["typing"], true);
    tokio::time::advance(Duration::from_secs(4)).await;
    alice.send(json!({"type": "TYPING", "roomId": "general", "typing": true}));
    assert_eq!(bob.recv_type("TYPING").await["typing"], true, "a refresh is relayed, not an expiry");
    let refreshed = tokio::time::Instant::now();
    let stop = bob.recv_type("TYPING").await;
    assert_eq!(
        stop,
        json!({"type": "TYPING", "roomId": "general", "userId": "alice", "userName": "alice", "typing": false})
    );
    let after = refreshed.elapsed();
    assert!(
        after >= Duration::from_secs(6) && after < Duration::from_millis(6100),
        "expired {after:?} after the refresh"
    );
    // The typer is not told about their own typing.
    alice.send(json!({"type": "PING"}));
    let next = alice.recv_type("PONG").await;
    assert_eq!(next["type"], "PONG");
    assert!(alice.from_server.try_recv().is_err());
}
