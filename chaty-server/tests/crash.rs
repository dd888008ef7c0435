//! Jepsen-style, bounded: clients send as fast as the server acknowledges
//! while the server is killed with SIGKILL at random moments and restarted on
//! the same database. Afterwards every acknowledged message is in history
//! exactly once, `seq` is gap-free in commit order, and every client saw the
//! same order that `HISTORY` shows.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

mod common;

use common::{connect, free_port, next};
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

const CLIENTS: usize = 3;
const PER_CLIENT: usize = 250;
/// Unacknowledged messages a client keeps in flight.
const WINDOW: usize = 16;
const KILLS: usize = 3;
const DEADLINE: Duration = Duration::from_secs(120);

/// What one client saw and had acknowledged.
#[derive(Default)]
struct Seen {
    /// seq → clientId of every message seen, live or caught up.
    by_seq: BTreeMap<u64, String>,
    /// clientId → (id, seq) from its echo.
    acked: HashMap<String, (u64, u64)>,
}

impl Seen {
    fn record(&mut self, m: &Value) {
        let (seq, cid) = (m["seq"].as_u64().unwrap_or(0), m["clientId"].as_str().unwrap_or("").to_string());
        if let Some(previous) = self.by_seq.insert(seq, cid.clone()) {
            assert_eq!(previous, cid, "seq {seq} seen with two different messages");
        }
    }
}

/// One session: sign in, catch up, resend what is unacknowledged, send more. Returns when the socket dies or all is done.
async fn session(
    url: &str,
    me: usize,
    seen: &mut Seen,
    sent: &mut usize,
    unacked: &mut Vec<String>,
    acked_total: &AtomicUsize,
) -> bool {
    let mut ws = connect(url).await;
    let name = format!("writer{me}");
    let login = json!({"type": "LOGIN", "userName": name, "password": "crash-test-pw"});
    if ws.send(Message::Text(login.to_string().into())).await.is_err() {
        return false;
    }
    loop {
        match next(&mut ws).await {
            Some(f) if f["type"] == "AUTH_OK" => break,
            Some(f) if f["type"] == "ERROR" => panic!("login refused: {f}"),
            Some(_) => {}
            None => return false,
        }
    }
    let since = seen.by_seq.keys().next_back().copied().unwrap_or(0);
    let join = json!({"type": "JOIN_ROOM", "roomId": "jepsen", "since": since});
    if ws.send(Message::Text(join.to_string().into())).await.is_err() {
        return false;
    }
    for cid in unacked.clone() {
        let frame = json!({"type": "CHAT_MESSAGE", "roomId": "jepsen", "content": cid, "clientId": cid});
        if ws.send(Message::Text(frame.to_string().into())).await.is_err() {
            return false;
        }
    }
    loop {
        while unacked.len() < WINDOW && *sent < PER_CLIENT {
            let cid = format!("w{me}-{}", *sent);
            *sent += 1;
            unacked.push(cid.clone());
            let frame = json!({"type": "CHAT_MESSAGE", "roomId": "jepsen", "content": cid, "clientId": cid});
            if ws.send(Message::Text(frame.to_string().into())).await.is_err() {
                return false;
            }
        }
        if unacked.is_empty() && *sent == PER_CLIENT {
            return true;
        }
        let Some(frame) = next(&mut ws).await else { return false };
        let messages: Vec<Value> = match frame["type"].as_str() {
            Some("CHAT_MESSAGE") => vec![frame],
            Some("HISTORY") => {
                if frame["hasMore"] == true {
                    let after = frame["messages"].as_array().and_then(|m| m.last()).map(|m| m["seq"].clone());
                    let more = json!({"type": "HISTORY", "roomId": "jepsen", "after": after, "limit": 200});
                    if ws.send(Message::Text(more.to_string().into())).await.is_err() {
                        return false;
                    }
                }
                frame["messages"].as_array().cloned().unwrap_or_default()
            }
            Some("ERROR") => panic!("refused: {frame}"),
            _ => Vec::new(),
        };
        for m in messages {
            seen.record(&m);
            let cid = m["clientId"].as_str().unwrap_or("").to_string();
            if let Some(pos) = unacked.iter().position(|u| *u == cid) {
                unacked.remove(pos);
                let id_seq = (m["id"].as_u64().unwrap_or(0), m["seq"].as_u64().unwrap_or(0));
                if let Some(before) = seen.acked.insert(cid.clone(), id_seq) {
                    assert_eq!(before, id_seq, "{cid} acknowledged twice with different ids");
                }
                acked_total.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("chaty.db");
    let port = free_port();
    let url = format!("ws://127.0.0.1:{port}/ws");
    let server = Arc::new(Mutex::new(common::start(port, &db, &[])));

    // Accounts and the room exist before the chaos starts.
    for me in 0..CLIENTS {
        let mut ws = connect(&url).await;
        let register = json!({"type": "REGISTER", "userName": format!("writer{me}"), "password": "crash-test-pw"});
        ws.send(Message::Text(register.to_string().into())).await.expect("send");
        while next(&mut ws).await.is_some_and(|f| f["type"] != "ROOMS") {}
        ws.send(Message::Text(json!({"type": "JOIN_ROOM", "roomId": "jepsen"}).to_string().into()))
            .await
            .expect("send");
        while next(&mut ws).await.is_some_and(|f| f["type"] != "ROOM_MEMBERS_UPDATE") {}
    }

    let acked_total = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let killer = {
        let (server, acked_total, done, db) = (server.clone(), acked_total.clone(), done.clone(), db.clone());
        tokio::spawn(async move {
            let mut kills = 0;
            let step = CLIENTS * PER_CLIENT / (KILLS + 1);
            while kills < KILLS && !done.load(Ordering::Relaxed) {
                if acked_total.load(Ordering::Relaxed) >= step * (kills + 1) {
                    let mut jitter = [0u8; 1];
                    let _ = getrandom::fill(&mut jitter);
                    tokio::time::sleep(Duration::from_millis(u64::from(jitter[0]) / 8)).await;
                    let mut child = server.lock().await;
                    child.kill().expect("SIGKILL");
                    let _ = child.wait();
                    *child = common::start(port, &db, &[]);
                    kills += 1;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            kills
        })
    };

    let mut clients = Vec::new();
    for me in 0..CLIENTS {
        let (url, acked_total) = (url.clone(), acked_total.clone());
        clients.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            let (mut sent, mut unacked) = (0, Vec::new());
            while !session(&url, me, &mut seen, &mut sent, &mut unacked, &acked_total).await {}
            seen
        }));
    }
    let mut seen = Vec::new();
    for c in clients {
        seen.push(tokio::time::timeout(DEADLINE, c).await.expect("clients finished in time").expect("client task"));
    }
    done.store(true, Ordering::Relaxed);
    let kills = killer.await.expect("killer");
    assert_eq!(kills, KILLS, "the server was killed {kills} times");

    // The truth: the whole history, paged.
    let mut ws = connect(&url).await;
    let login = json!({"type": "LOGIN", "userName": "writer0", "password": "crash-test-pw"});
    ws.send(Message::Text(login.to_string().into())).await.expect("send");
    let mut history: Vec<Value> = Vec::new();
    loop {
        let after = history.last().map_or(0, |m| m["seq"].as_u64().unwrap_or(0));
        let page = json!({"type": "HISTORY", "roomId": "jepsen", "after": after, "limit": 200});
        ws.send(Message::Text(page.to_string().into())).await.expect("send");
        let frame = loop {
            let f = next(&mut ws).await.expect("history");
            if f["type"] == "HISTORY" {
                break f;
            }
        };
        history.extend(frame["messages"].as_array().cloned().unwrap_or_default());
        if frame["hasMore"] != true {
            break;
        }
    }
    server.lock().await.kill().expect("stop");

    let seqs: Vec<u64> = history.iter().map(|m| m["seq"].as_u64().unwrap_or(0)).collect();
    assert_eq!(seqs, (1..=history.len() as u64).collect::<Vec<_>>(), "seq is gap-free");
    let ids: Vec<u64> = history.iter().map(|m| m["id"].as_u64().unwrap_or(0)).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase with seq (commit order)");
    let mut stored = HashSet::new();
    for m in &history {
        assert!(stored.insert(m["clientId"].as_str().unwrap_or("").to_string()), "stored twice: {m}");
    }
    assert_eq!(history.len(), CLIENTS * PER_CLIENT, "every message stored once");
    let truth: BTreeMap<u64, String> = history
        .iter()
        .map(|m| (m["seq"].as_u64().unwrap_or(0), m["clientId"].as_str().unwrap_or("").to_string()))
        .collect();
    let stored_ids: HashMap<String, u64> = history
        .iter()
        .map(|m| (m["clientId"].as_str().unwrap_or("").to_string(), m["id"].as_u64().unwrap_or(0)))
        .collect();
    for (me, s) in seen.iter().enumerate() {
        assert_eq!(s.acked.len(), PER_CLIENT, "client {me} got every ack");
        for (cid, (id, seq)) in &s.acked {
            assert_eq!(truth.get(seq), Some(cid), "client {me}: ack for {cid} names seq {seq}");
            assert_eq!(stored_ids.get(cid), Some(id), "client {me}: ack for {cid} names id {id}");
        }
        for (seq, cid) in &s.by_seq {
            assert_eq!(truth.get(seq), Some(cid), "client {me} saw seq {seq} as {cid}");
        }
    }
}
