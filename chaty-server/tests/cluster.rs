//! Cluster nodes as processes, killed the way machines die: SIGKILL a node
//! under load behind a real nginx, and its clients fail over through nginx
//! to another node, rejoin with `since`, and lose or double nothing; its
//! other users are seen leaving within 15 s. Posts of every kind sent at
//! once (stored together) each get their own answer, and a node counts what
//! its cluster costs (`--metrics-listen`). Also how a node refuses to start
//! without what a cluster needs.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use chaty_tests::services::{Nginx, Postgres, Redis};
use chaty_tests::{Client, WAIT};
use serde_json::{Value, json};

/// A `chaty-server` process, one node of a cluster.
struct Node {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Node {
    async fn start(db: &str, redis: &str, log: &Path) -> Result<Node> {
        Self::start_with(db, redis, log, &[]).await
    }

    /// [`Node::start`] with more arguments.
    async fn start_with(db: &str, redis: &str, log: &Path, extra: &[&str]) -> Result<Node> {
        let port = common::free_port();
        let child = Command::new(common::BIN)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--db", db, "--redis", redis, "--allow-guests"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log)?)
            .spawn()
            .context("starting chaty-server")?;
        let node = Node { child, port, log: log.to_path_buf() };
        common::connect(&node.url()).await;
        Ok(node)
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    fn addr(&self) -> std::net::SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }

    /// Open WebSocket connections, from `/healthz`.
    async fn connections(&self) -> Result<u64> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tcp = tokio::net::TcpStream::connect(self.addr()).await?;
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await?;
        let mut response = String::new();
        tokio::time::timeout(WAIT, tcp.read_to_string(&mut response)).await??;
        let body: Value = serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap_or_default())?;
        body["connections"].as_u64().context("no connection count")
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- {}:\n{}", self.log.display(), std::fs::read_to_string(&self.log).unwrap_or_default());
        }
    }
}

/// Sends `content` as clientId `id` and waits for its echo; the echo's seq,
/// or `None` if the connection dropped first.
async fn send_acked(client: &mut Client, id: &str) -> Option<u64> {
    let frame = json!({"type": "CHAT_MESSAGE", "roomId": "ops", "content": id, "clientId": id});
    client.send(frame).await.ok()?;
    client.recv_echo(id).await.ok().and_then(|m| m["seq"].as_u64())
}

#[tokio::test]
async fn a_node_killed_under_load_behind_nginx_loses_nothing_and_its_users_leave_within_15_s() -> Result<()> {
    let db = Postgres::shared().await?.database().await?;
    let redis = Redis::start().await?;
    let dir = tempfile::tempdir()?;
    let mut nodes = [
        Node::start(&db, &redis.url(), &dir.path().join("a.log")).await?,
        Node::start(&db, &redis.url(), &dir.path().join("b.log")).await?,
    ];
    let nginx = Nginx::start(&[nodes[0].addr(), nodes[1].addr()]).await?;

    // One user straight on each node, and a writer through nginx.
    let mut direct = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let (mut c, _) = Client::register(&node.url(), &format!("user{i}")).await?;
        c.join("ops").await?;
        direct.push(c);
    }
    let (mut writer, ok) = Client::register(&nginx.url(), "writer").await?;
    writer.join("ops").await?;
    let token = ok["token"].as_str().unwrap_or_default().to_string();
    // The node the writer landed on is the one to die.
    let victim = if nodes[0].connections().await? == 2 { 0 } else { 1 };
    let survivor = 1 - victim;
    let mut watcher = direct.swap_remove(survivor);
    let gone_user = format!("user{victim}");
    // A seed-protocol guest on the dying node: their membership ends with it.
    let mut guest = Client::connect(&nodes[victim].url()).await?;
    guest.send(json!({"type": "JOIN_ROOM", "roomId": "ops", "userId": "visitor"})).await?;
    guest.recv_type("ROOM_MEMBERS_UPDATE").await?;

    // Steady traffic from the survivor too, across the kill.
    let (mut steady, _) = Client::register(&nodes[survivor].url(), "steady").await?;
    steady.join("ops").await?;
    let steady = tokio::spawn(async move {
        let mut acked = Vec::new();
        for n in 0..60 {
            let id = format!("steady-{n}");
            acked.push(send_acked(&mut steady, &id).await.context("the survivor dropped a sender")?);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        anyhow::Ok(acked.len())
    });

    let mut sent = Vec::new();
    let mut last_seq = 0;
    for n in 0..30 {
        let id = format!("w-{n}");
        last_seq = send_acked(&mut writer, &id).await.context("writer lost before the kill")?;
        sent.push(id);
    }
    // One more in flight as the node dies: acknowledged or not, it must end
    // up stored exactly once after the retry.
    let in_flight = "w-30".to_string();
    writer.send(json!({"type": "CHAT_MESSAGE", "roomId": "ops", "content": in_flight, "clientId": in_flight})).await?;
    sent.push(in_flight.clone());
    nodes[victim].kill();
    let killed = Instant::now();

    // The writer's socket ends; it reconnects through nginx to the other
    // node, signs in with its token, rejoins with `since` and retries what
    // was not acknowledged.
    while writer.recv().await.is_ok() {}
    let mut writer = Client::connect(&nginx.url()).await?;
    writer.send(json!({"type": "AUTH", "token": token})).await?;
    writer.recv_type("AUTH_OK").await?;
    writer.send(json!({"type": "JOIN_ROOM", "roomId": "ops", "since": last_seq})).await?;
    let missed = writer.recv_type("HISTORY").await?;
    let missed_ids: Vec<&str> =
        missed["messages"].as_array().into_iter().flatten().filter_map(|m| m["clientId"].as_str()).collect();
    if !missed_ids.contains(&in_flight.as_str()) {
        ensure!(send_acked(&mut writer, &in_flight).await.is_some(), "the retry was not acknowledged");
    }
    for n in 31..50 {
        let id = format!("w-{n}");
        ensure!(send_acked(&mut writer, &id).await.is_some(), "writer lost after failing over");
        sent.push(id);
    }
    let steady_sent = steady.await??;

    // The watcher, on the survivor, saw every message live in `seq` order,
    // and the dead node's other user leave within 15 s.
    let total = sent.len() + steady_sent;
    let (mut live, mut offline_at, mut left_at, mut guest_left_at) = (Vec::new(), None, None, None);
    while live.len() < total || offline_at.is_none() || left_at.is_none() || guest_left_at.is_none() {
        let frame = watcher.recv().await?;
        match frame["type"].as_str() {
            Some("CHAT_MESSAGE") => live.push(frame["seq"].as_u64().unwrap_or_default()),
            Some("PRESENCE") if frame["userId"] == gone_user.as_str() && frame["status"] == "offline" => {
                offline_at = Some(killed.elapsed());
            }
            Some("USER_LEFT") if frame["userId"] == gone_user.as_str() && frame["roomId"] == "ops" => {
                left_at = Some(killed.elapsed());
            }
            Some("USER_LEFT") if frame["userId"] == "visitor" => guest_left_at = Some(killed.elapsed()),
            _ => {}
        }
        if killed.elapsed() > Duration::from_secs(30) {
            bail!(
                "after 30 s: {} of {total} messages, offline {offline_at:?}, left {left_at:?}, guest {guest_left_at:?}",
                live.len()
            );
        }
    }
    assert_eq!(live, (1..=total as u64).collect::<Vec<_>>(), "live delivery on the survivor is gap-free");
    for at in [offline_at, left_at, guest_left_at].into_iter().flatten() {
        assert!(at <= Duration::from_secs(15), "the dead node's user left after {at:?}");
    }

    // Stored: gap-free, every writer's message exactly once.
    watcher.send(json!({"type": "HISTORY", "roomId": "ops", "after": 0, "limit": 200})).await?;
    let history = watcher.recv_type("HISTORY").await?;
    let stored: Vec<&Value> = history["messages"].as_array().into_iter().flatten().collect();
    let seqs: Vec<u64> = stored.iter().filter_map(|m| m["seq"].as_u64()).collect();
    assert_eq!(seqs, (1..=total as u64).collect::<Vec<_>>());
    for id in &sent {
        let copies = stored.iter().filter(|m| m["clientId"] == id.as_str()).count();
        assert_eq!(copies, 1, "{id} stored {copies} times");
    }
    // The guest is no longer a member.
    watcher.send(json!({"type": "JOIN_ROOM", "roomId": "ops"})).await?;
    let members = watcher.recv_type("ROOM_MEMBERS_UPDATE").await?;
    assert!(!members["members"].to_string().contains("visitor"), "{members}");
    drop((nginx, guest));
    Ok(())
}

/// Frames until `done` says everything expected arrived (each wait bounded
/// by the client's timeout, the whole by 20 s).
async fn collect(client: &mut Client, mut done: impl FnMut(&[Value]) -> bool) -> Result<Vec<Value>> {
    let started = Instant::now();
    let mut frames = Vec::new();
    while !done(&frames) {
        ensure!(started.elapsed() < Duration::from_secs(20), "after 20 s: {frames:?}");
        frames.push(client.recv().await?);
    }
    Ok(frames)
}

fn with_ref<'a>(frames: &'a [Value], reference: &str) -> Option<&'a Value> {
    frames.iter().find(|f| f["ref"] == reference)
}

#[tokio::test]
async fn posts_of_every_kind_sent_at_once_each_get_their_own_answer_and_are_stored_once() -> Result<()> {
    let db = Postgres::shared().await?.database().await?;
    let redis = Redis::start().await?;
    let dir = tempfile::tempdir()?;
    let a = Node::start(&db, &redis.url(), &dir.path().join("a.log")).await?;
    let b = Node::start(&db, &redis.url(), &dir.path().join("b.log")).await?;
    let (mut alice, _) = Client::register(&a.url(), "alice").await?;
    alice.join("one").await?;
    alice.join("two").await?;
    let (mut watcher, _) = Client::register(&b.url(), "watcher").await?;
    watcher.join("one").await?;
    let mut guest = Client::connect(&a.url()).await?;
    guest.send(json!({"type": "JOIN_ROOM", "roomId": "one", "userId": "visitor"})).await?;
    guest.recv_type("ROOM_MEMBERS_UPDATE").await?;

    // All sent before any answer: the node stores whatever queued up together.
    let chat = |room: &str, id: &str| json!({"type": "CHAT_MESSAGE", "roomId": room, "content": id, "clientId": id});
    let burst = [
        chat("one", "c1"),
        chat("two", "c2"),
        json!({"type": "CHAT_MESSAGE", "roomId": "nowhere", "content": "x", "ref": "not-a-member"}),
        json!({"type": "CHAT_MESSAGE", "roomId": "one", "content": "x", "replyTo": 999_999, "ref": "bad-reply"}),
        json!({"type": "CHAT_MESSAGE", "roomId": "one", "content": "c1", "clientId": "c1", "ref": "retry"}),
        chat("one", "c3"),
    ];
    for frame in burst {
        alice.send(frame).await?;
    }
    guest
        .send(json!({"type": "CHAT_MESSAGE", "roomId": "one", "userId": "visitor", "userName": "Alice",
            "content": "x", "ref": "taken"}))
        .await?;

    let chats = |frames: &[Value]| -> Vec<String> {
        frames
            .iter()
            .filter(|f| f["type"] == "CHAT_MESSAGE" && f["ref"].is_null())
            .filter_map(|f| f["clientId"].as_str().map(str::to_string))
            .collect()
    };
    let frames = collect(&mut alice, |f| {
        chats(f).len() == 3 && ["not-a-member", "bad-reply", "retry"].iter().all(|r| with_ref(f, r).is_some())
    })
    .await?;
    let mut got = chats(&frames);
    let in_one: Vec<&String> = got.iter().filter(|id| *id != "c2").collect();
    assert_eq!(in_one, ["c1", "c3"], "room one's in the order sent (rooms need not keep each other's order)");
    got.sort();
    assert_eq!(got, ["c1", "c2", "c3"], "each message once");
    for reference in ["not-a-member", "bad-reply"] {
        let refusal = with_ref(&frames, reference).context("refused")?;
        assert_eq!((&refusal["type"], &refusal["code"]), (&json!("ERROR"), &json!("not_found")), "{refusal}");
    }
    let first = frames.iter().find(|f| f["clientId"] == "c1" && f["ref"].is_null()).context("c1")?;
    let retry = with_ref(&frames, "retry").context("the retry's answer")?;
    assert_eq!((&retry["id"], &retry["seq"]), (&first["id"], &first["seq"]), "the retry is answered with the original");
    let taken = guest.recv_type("ERROR").await?;
    assert_eq!((&taken["code"], &taken["ref"]), (&json!("conflict"), &json!("taken")), "{taken}");

    // The other node's member got room one's two, in order; the store has each once, gap-free.
    let seen = collect(&mut watcher, |f| chats(f).len() == 2).await?;
    assert_eq!(chats(&seen), ["c1", "c3"]);
    watcher.send(json!({"type": "HISTORY", "roomId": "one", "after": 0, "limit": 50})).await?;
    let history = watcher.recv_type("HISTORY").await?;
    let stored: Vec<(u64, &str)> = history["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| Some((m["seq"].as_u64()?, m["clientId"].as_str()?)))
        .collect();
    assert_eq!(stored, [(1, "c1"), (2, "c3")]);
    drop((a, b));
    Ok(())
}

/// Every sample of a Prometheus text exposition, by `name{labels}`.
fn samples(text: &str) -> std::collections::HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter_map(|(series, value)| Some((series.to_string(), value.parse().ok()?)))
        .collect()
}

#[tokio::test]
async fn a_node_counts_its_commits_what_redis_brought_and_what_its_sequencer_did() -> Result<()> {
    let db = Postgres::shared().await?.database().await?;
    let redis = Redis::start().await?;
    let dir = tempfile::tempdir()?;
    let ports = [common::free_port(), common::free_port()];
    let listen = |port: u16| format!("127.0.0.1:{port}");
    let a = Node::start_with(&db, &redis.url(), &dir.path().join("a.log"), &["--metrics-listen", &listen(ports[0])])
        .await?;
    let b = Node::start_with(&db, &redis.url(), &dir.path().join("b.log"), &["--metrics-listen", &listen(ports[1])])
        .await?;
    let (mut writer, _) = Client::register(&a.url(), "writer").await?;
    writer.join("ops").await?;
    let (mut reader, _) = Client::register(&b.url(), "reader").await?;
    reader.join("ops").await?;
    for n in 0..20 {
        writer.send(json!({"type": "CHAT_MESSAGE", "roomId": "ops", "content": n.to_string()})).await?;
    }
    let got = collect(&mut reader, |f| f.iter().filter(|f| f["type"] == "CHAT_MESSAGE").count() == 20).await?;
    let seqs: Vec<u64> = got.iter().filter(|f| f["type"] == "CHAT_MESSAGE").filter_map(|f| f["seq"].as_u64()).collect();
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());

    let scrape = |port: u16| async move {
        let (status, body) = common::http_get(([127, 0, 0, 1], port).into(), "/metrics").await;
        assert_eq!(status, 200);
        samples(&body)
    };
    let (wrote, read) = (scrape(ports[0]).await, scrape(ports[1]).await);
    let at = |m: &std::collections::HashMap<String, f64>, name: &str| m.get(name).copied().unwrap_or(-1.0);
    assert!(at(&wrote, "chaty_pg_commit_seconds_count") >= 1.0, "the writer's node committed: {wrote:?}");
    assert_eq!(at(&wrote, "chaty_pg_batch_posts_sum"), 20.0, "20 posts in its batches");
    assert_eq!(at(&read, "chaty_pg_batch_posts_sum"), 0.0, "the reader's node stored nothing");
    assert!(at(&read, "chaty_redis_deliver_seconds_count") >= 20.0, "20 messages came through Redis: {read:?}");
    for name in [
        "chaty_redis_dropped_total",
        "chaty_sequencer_held_total",
        "chaty_sequencer_hold_seconds_count",
        "chaty_sequencer_fills_total",
        "chaty_sequencer_filled_total",
        "chaty_sequencer_duplicates_total",
    ] {
        assert!(at(&read, name) >= 0.0, "{name} is served");
    }
    drop((a, b));
    Ok(())
}

/// Runs the binary with `args`; its exit code and stderr.
fn run(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(common::BIN).args(args).output().expect("run chaty-server");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_node_that_cannot_have_a_cluster_refuses_to_start_and_says_why() {
    let port = common::free_port();
    let dead_redis = format!("redis://:hunter2@127.0.0.1:{port}/");
    let listen = format!("127.0.0.1:{}", common::free_port());
    let (code, err) = run(&["--listen", &listen, "--db", "postgres://chaty@127.0.0.1:1/chaty", "--redis", &dead_redis]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains(&format!("cannot reach Redis at redis://127.0.0.1:{port}/")), "{err}");
    assert!(!err.contains("hunter2"), "the password is not shown: {err}");

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("chaty.db");
    let (code, err) =
        run(&["--listen", &listen, "--db", &file.to_string_lossy(), "--redis", "redis://127.0.0.1:6379/"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--redis needs a PostgreSQL --db"), "{err}");
    assert!(!file.exists(), "nothing was created");

    let (code, err) = run(&["--listen", &listen, "--redis", "http://127.0.0.1/"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("http://127.0.0.1/") && err.contains("redis://"), "{err}");
}
