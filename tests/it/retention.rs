//! Retention: messages past their room's limit (or the server's) leave
//! `HISTORY` and search, with their reactions, and `seq` goes on where it
//! was. The clock is passed in (`Store::expire(now, …)`), so nothing sleeps.

use anyhow::Result;
use chaty_proto::time::now_millis;
use chaty_server::store::retention::DAY_MS;
use chaty_tests::{Client, Config, TestServer};
use serde_json::json;

async fn seqs(client: &mut Client, room: &str) -> Result<Vec<u64>> {
    client.send(json!({"type": "HISTORY", "roomId": room, "after": 0})).await?;
    let page = client.recv_type("HISTORY").await?;
    Ok(page["messages"].as_array().into_iter().flatten().filter_map(|m| m["seq"].as_u64()).collect())
}

#[tokio::test]
async fn expired_messages_leave_history_and_search_and_seq_goes_on() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_at(&dir.path().join("chaty.db"), Config::default()).await?;
    let (mut alice, _) = Client::register(&server.url(), "alice").await?;
    for room in ["old", "kept"] {
        alice.join(room).await?;
        for n in 0..3 {
            let id = format!("{room}-{n}");
            alice.send(json!({"type": "CHAT_MESSAGE", "roomId": room, "content": format!("aardvark {id}"), "clientId": id})).await?;
            alice.recv_echo(&id).await?;
        }
    }
    alice.send(json!({"type": "REACT", "messageId": 1, "emoji": "👍"})).await?;
    alice.recv_type("REACTION").await?;

    // A month later, with a 30-day limit: "kept" keeps its messages forever.
    server.store.set_retention("kept".into(), Some(0)).await?;
    assert_eq!(server.store.expire(now_millis() + 31 * DAY_MS, 30).await?, 3);
    assert_eq!(seqs(&mut alice, "old").await?, Vec::<u64>::new());
    assert_eq!(seqs(&mut alice, "kept").await?, [1, 2, 3]);
    alice.send(json!({"type": "SEARCH", "query": "aardvark", "ref": "s"})).await?;
    let hits = alice.recv_type("SEARCH_RESULTS").await?;
    let rooms: Vec<&str> =
        hits["messages"].as_array().into_iter().flatten().filter_map(|h| h["roomId"].as_str()).collect();
    assert_eq!(rooms, ["kept", "kept", "kept"], "{hits}");

    // Numbering goes on.
    alice.send(json!({"type": "CHAT_MESSAGE", "roomId": "old", "content": "again", "clientId": "again"})).await?;
    assert_eq!(alice.recv_echo("again").await?["seq"], 4);
    // A room's own, shorter limit applies with no server limit at all.
    server.store.set_retention("old".into(), Some(1)).await?;
    assert_eq!(server.store.expire(now_millis() + 2 * DAY_MS, 0).await?, 1);
    assert_eq!(seqs(&mut alice, "old").await?, Vec::<u64>::new());
    assert_eq!(seqs(&mut alice, "kept").await?, [1, 2, 3]);

    let unknown = server.store.set_retention("nowhere".into(), Some(3)).await.err().map(|e| e.to_refusal().code);
    assert_eq!(unknown, Some(chaty_proto::ErrorCode::NotFound));
    server.stop().await
}
