//! Several nodes on one PostgreSQL database: what a node does at startup.
//! (These run on PostgreSQL whatever `CHATY_TEST_BACKEND` says.)

use anyhow::Result;
use chaty_server::Store;
use chaty_tests::services::Postgres;

#[tokio::test]
async fn a_second_node_without_a_shared_fanout_refuses_to_start_and_says_why() -> Result<()> {
    let url = Postgres::shared().await?.database().await?;
    let first = Store::open_url(&url, false).await?;
    let refused = Store::open_url(&url, false).await.err().map(|e| e.reason()).unwrap_or_default();
    assert!(refused.starts_with("another chaty-server node ("), "{refused}");
    assert!(refused.contains("pid ") && refused.contains("need a shared fan-out"), "{refused}");
    // One with a shared fan-out is refused too while a node without one runs.
    let mixed = Store::open_url(&url, true).await.err().map(|e| e.reason()).unwrap_or_default();
    assert!(mixed.contains("need a shared fan-out"), "{mixed}");
    // A node that stops cleanly leaves: the next one starts.
    first.close().await;
    let second = Store::open_url(&url, false).await?;
    second.close().await;
    Ok(())
}

#[tokio::test]
async fn a_node_that_dies_frees_the_database_at_once() -> Result<()> {
    let pg = Postgres::shared().await?;
    let url = pg.database().await?;
    let name = url.rsplit('/').next().unwrap_or_default().to_string();
    let crashed = Store::open_url(&url, false).await?;
    // The node's database sessions end as they do when its process is killed.
    pg.psql(
        "postgres",
        &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"),
    )
    .await?;
    // No wait for a heartbeat to go stale: a restart is let in straight away.
    let restarted = Store::open_url(&url, false).await?;
    restarted.close().await;
    drop(crashed);
    Ok(())
}

#[tokio::test]
async fn nodes_with_a_shared_fanout_share_a_database_and_a_dead_one_is_forgotten() -> Result<()> {
    let pg = Postgres::shared().await?;
    let url = pg.database().await?;
    let a = Store::open_url(&url, true).await?;
    let b = Store::open_url(&url, true).await?;
    b.close().await;
    a.close().await;
    // A row left by a node that died long ago does not block anyone.
    pg.psql(&url, "INSERT INTO nodes VALUES ('ghost', 'gone pid 1', 0, 0, false)").await?;
    let single = Store::open_url(&url, false).await?;
    single.close().await;
    Ok(())
}

/// PostgreSQL stops (`pg_ctl stop -m immediate`) and starts again under a
/// running two-node cluster: writes meanwhile are refused with `internal`,
/// never acknowledged without being stored; `/healthz` says 503; the nodes
/// recover by themselves, and deliver across each other again.
#[tokio::test]
async fn a_database_outage_is_survived_and_nothing_unstored_is_acknowledged() -> Result<()> {
    use chaty_tests::{Client, Config, TestServer, WAIT};
    use serde_json::json;

    let pg = Postgres::dedicated().await?;
    let url = pg.database().await?;
    let redis = chaty_tests::services::Redis::shared().await?.url();
    let server = TestServer::start_node(&url, &redis, Config::default()).await?;
    let other = TestServer::start_node(&url, &redis, Config::default()).await?;
    let (mut alice, _) = Client::register(&server.url(), "alice").await?;
    alice.join("ops").await?;
    let (mut bob, _) = Client::register(&other.url(), "bob").await?;
    bob.join("ops").await?;
    let mut acked = Vec::new();
    for i in 0..3 {
        let id = format!("before-{i}");
        alice.send(json!({"type": "CHAT_MESSAGE", "roomId": "ops", "content": "up", "clientId": id})).await?;
        acked.push(alice.recv_echo(&id).await?["seq"].as_u64().unwrap_or(0));
    }

    pg.stop_immediate().await?;
    for i in 0..3 {
        let frame = json!({"type": "CHAT_MESSAGE", "roomId": "ops", "content": "down", "clientId": format!("during-{i}"), "ref": format!("d{i}")});
        alice.send(frame).await?;
        let reply = alice.recv().await?;
        assert_eq!((&reply["type"], &reply["code"]), (&json!("ERROR"), &json!("internal")), "{reply}");
        assert_eq!(reply["ref"], format!("d{i}"));
    }
    assert_eq!(server.http("GET", "/healthz", &[], b"").await?.0, 503);
    assert_eq!(other.http("GET", "/healthz", &[], b"").await?.0, 503);

    pg.start().await?;
    // The node reconnects by itself; a client retries with the same clientId.
    let deadline = tokio::time::Instant::now() + WAIT;
    let echo = loop {
        alice
            .send(json!({"type": "CHAT_MESSAGE", "roomId": "ops", "content": "back", "clientId": "after", "ref": "a"}))
            .await?;
        let reply = alice.recv().await?;
        if reply["type"] == "CHAT_MESSAGE" {
            break reply;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "never recovered: {reply}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    acked.push(echo["seq"].as_u64().unwrap_or(0));
    assert_eq!(server.http("GET", "/healthz", &[], b"").await?.0, 200);

    alice.send(json!({"type": "HISTORY", "roomId": "ops"})).await?;
    let history = alice.recv_type("HISTORY").await?;
    let stored: Vec<u64> =
        history["messages"].as_array().into_iter().flatten().filter_map(|m| m["seq"].as_u64()).collect();
    assert_eq!(stored, acked, "every acknowledged message, once, gap-free");
    let contents: Vec<&str> =
        history["messages"].as_array().into_iter().flatten().filter_map(|m| m["content"].as_str()).collect();
    assert!(!contents.contains(&"down"), "a refused message was stored: {contents:?}");
    // The other node delivered exactly the stored messages, in order.
    let mut live = Vec::new();
    while live.len() < acked.len() {
        live.push(bob.recv_type("CHAT_MESSAGE").await?["seq"].as_u64().unwrap_or(0));
    }
    assert_eq!(live, acked);
    assert_eq!(other.http("GET", "/healthz", &[], b"").await?.0, 200);
    // Both nodes took their liveness locks back: a node without a shared
    // fan-out is still kept out.
    let deadline = tokio::time::Instant::now() + WAIT;
    let sql = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND mode = 'ShareLock' AND granted";
    while pg.psql("postgres", sql).await?.trim() != "2" {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the nodes never took their locks back");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let refused = Store::open_url(&url, false).await.err().map(|e| e.reason()).unwrap_or_default();
    assert!(refused.contains("need a shared fan-out"), "{refused}");
    other.stop().await?;
    server.stop().await
}

/// A CA of the test's own and a certificate it signed for localhost and
/// 127.0.0.1: (CA PEM, certificate PEM, key PEM).
fn private_ca() -> Result<(String, String, String)> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key)?;
    let key = KeyPair::generate()?;
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?
        .signed_by(&key, &rcgen::Issuer::new(ca_params, ca_key))?;
    Ok((ca.pem(), leaf.pem(), key.serialize_pem()))
}

/// `rediss://` is TLS (rustls) verified against `--redis-ca` when given,
/// else the platform's roots; nodes on a TLS Redis deliver to each other.
#[tokio::test]
async fn tls_to_redis_verifies_the_server_certificate_and_carries_the_cluster() -> Result<()> {
    use chaty_server::fanout::redis::Redis as Fanout;
    use chaty_tests::{Client, Config, TestServer};
    let (ca, leaf, key) = private_ca()?;
    let redis = chaty_tests::services::Redis::start_tls(&leaf, &key).await?;
    let dir = tempfile::tempdir()?;
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca)?;
    let url = redis.tls_url();

    let unknown = Fanout::connect(&url, None).await.err().unwrap_or_default();
    assert!(unknown.starts_with(&format!("cannot reach Redis at {url}")), "{unknown}");
    let missing = Fanout::connect(&url, Some(std::path::Path::new("/nonexistent.pem"))).await.err();
    assert!(missing.unwrap_or_default().contains("cannot read --redis-ca /nonexistent.pem"));

    let db = Postgres::shared().await?.database().await?;
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let fanout = Fanout::connect(&url, Some(&ca_path)).await.map_err(anyhow::Error::msg)?;
        nodes.push(TestServer::start_cluster_node(&db, fanout, Config::default()).await?);
    }
    let (mut alice, _) = Client::register(&nodes[0].url(), "alice").await?;
    let (mut bob, _) = Client::register(&nodes[1].url(), "bob").await?;
    alice.join("tls").await?;
    bob.join("tls").await?;
    alice.send(serde_json::json!({"type": "CHAT_MESSAGE", "roomId": "tls", "content": "sealed"})).await?;
    assert_eq!(bob.recv_type("CHAT_MESSAGE").await?["content"], "sealed");
    for node in nodes {
        node.stop().await?;
    }
    Ok(())
}

/// `sslmode=require` connects with TLS (rustls) and verifies the server's
/// certificate: against `sslrootcert` when given, else the platform's roots.
#[tokio::test]
async fn tls_to_postgres_verifies_the_server_certificate() -> Result<()> {
    let pg = Postgres::dedicated().await?;
    let (ca, leaf, key) = private_ca()?;
    pg.enable_tls(&leaf, &key).await?;
    let dir = tempfile::tempdir()?;
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca)?;
    let base = pg.database().await?;

    let url = format!("{base}?sslmode=require&sslrootcert={}", ca_path.display());
    let store = Store::open_url(&url, false).await?;
    let encrypted =
        pg.psql("postgres", "SELECT count(*) FROM pg_stat_ssl WHERE ssl AND pid <> pg_backend_pid()").await?;
    assert!(encrypted.trim().parse::<u32>()? >= 1, "no TLS connection from the store: {encrypted}");
    store.close().await;

    let refused = Store::open_url(&format!("{base}?sslmode=require"), false).await.err().map(|e| e.reason());
    let refused = refused.unwrap_or_default();
    assert!(!refused.is_empty(), "a certificate from an unknown CA was accepted");
    let missing = Store::open_url(&format!("{base}?sslmode=require&sslrootcert=/nonexistent.pem"), false).await.err();
    let missing = missing.map(|e| e.reason()).unwrap_or_default();
    assert!(missing.contains("cannot read sslrootcert /nonexistent.pem"), "{missing}");
    Ok(())
}
