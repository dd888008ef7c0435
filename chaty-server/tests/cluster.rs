//! Cluster nodes as processes, killed the way machines die: SIGKILL a node
//! under load behind a real nginx, and its clients fail over through nginx
//! to another node, rejoin with `since`, and lose or double nothing; its
//! other users are seen leaving within 15 s. Also how a node refuses to
//! start without what a cluster needs.

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
        let port = common::free_port();
        let child = Command::new(common::BIN)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--db", db, "--redis", redis, "--allow-guests"])
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
