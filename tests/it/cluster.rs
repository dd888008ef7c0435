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
    assert!(refused.contains("need a shared fan-out"), "{refused}");
    // One with a shared fan-out is refused too while a node without one runs.
    let mixed = Store::open_url(&url, true).await.err().map(|e| e.reason()).unwrap_or_default();
    assert!(mixed.contains("that node delivers to its own clients only"), "{mixed}");
    // A node that stops cleanly leaves the registry: the next one starts.
    first.close().await;
    let second = Store::open_url(&url, false).await?;
    second.close().await;
    Ok(())
}

#[tokio::test]
async fn nodes_with_a_shared_fanout_share_a_database_and_a_dead_one_is_forgotten() -> Result<()> {
    let pg = Postgres::shared().await?;
    let url = pg.database().await?;
    let a = Store::open_url(&url, true).await?;
    let b = Store::open_url(&url, true).await?;
    // A node that died long ago (its heartbeat is old) does not block a single node.
    b.close().await;
    a.close().await;
    pg.psql(&url, "INSERT INTO nodes VALUES ('ghost', 'gone pid 1', 0, 0, false)").await?;
    let single = Store::open_url(&url, false).await?;
    single.close().await;
    Ok(())
}
