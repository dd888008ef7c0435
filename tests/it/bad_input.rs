//! Every bad input gets an ERROR with the right code, and the connection keeps working.

use anyhow::Result;
use chaty_tests::{Client, Config, TestServer};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn bad_input_table() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TestServer::start_at(&dir.path().join("chaty.db"), Config::default()).await?;
    let (mut c, _) = Client::register(&server.url(), "alice").await?;
    c.join("general").await?;

    let long = "x".repeat(4001);
    let cases: Vec<(String, &str, &str)> = vec![
        ("not json".into(), "bad_frame", "not valid JSON"),
        ("[1,2,3]".into(), "bad_frame", "JSON object"),
        ("{}".into(), "bad_frame", "missing field `type`"),
        (r#"{"type":"SHOUT"}"#.into(), "unknown_type", "SHOUT"),
        (r#"{"type":"CHAT_MESSAGE","roomId":"general"}"#.into(), "invalid", "missing field `content`"),
        (r#"{"type":"CHAT_MESSAGE","roomId":"general","content":42}"#.into(), "invalid", "`content` must be a string"),
        (r#"{"type":"JOIN_ROOM","roomId":"../etc"}"#.into(), "invalid", "roomId"),
        (json!({"type": "CHAT_MESSAGE", "roomId": "general", "content": long}).to_string(), "invalid", "limit is 4000"),
        (r#"{"type":"CHAT_MESSAGE","roomId":"general","content":"a\u0000b"}"#.into(), "invalid", "NUL"),
        (r#"{"type":"HISTORY","roomId":"general","limit":-5}"#.into(), "invalid", "`limit`"),
        (r#"{"type":"HISTORY","roomId":"general","before":1e400}"#.into(), "invalid", "`before`: number out of range"),
        (r#"{"type":"REACT","messageId":99,"emoji":"x"}"#.into(), "not_found", "no message 99"),
    ];
    for (text, code, words) in cases {
        c.send_text(&text).await?;
        let e = c.recv_type("ERROR").await?;
        assert_eq!(e["code"], code, "{text}: {e}");
        assert!(e["message"].as_str().is_some_and(|m| m.contains(words)), "{text}: {e}");
    }
    c.send_message(Message::Binary(vec![1, 2, 3].into())).await?;
    assert_eq!(c.recv_type("ERROR").await?["code"], "bad_frame");

    // A huge HISTORY limit is clamped, not refused.
    for i in 0..3 {
        c.send(json!({"type": "CHAT_MESSAGE", "roomId": "general", "content": format!("m{i}")})).await?;
        c.recv_type("CHAT_MESSAGE").await?;
    }
    c.send(json!({"type": "HISTORY", "roomId": "general", "limit": 1_000_000_000u64})).await?;
    let page = c.recv_type("HISTORY").await?;
    assert_eq!(page["messages"].as_array().map(Vec::len), Some(3));

    // Still a working connection.
    c.send(json!({"type": "CHAT_MESSAGE", "roomId": "general", "content": "still here", "clientId": "z"})).await?;
    assert_eq!(c.recv_type("CHAT_MESSAGE").await?["content"], "still here");
    server.stop().await
}
