//! The server-frames fuzz corpus (`chaty-proto/fuzz/corpus/server_frames`),
//! replayed as a regression test: every input, line by line from a guest,
//! leaves a server that still answers on that connection and on a new one.

use anyhow::Result;
use chaty_tests::{Client, Config, TestServer};
use serde_json::json;

#[tokio::test]
async fn the_server_frames_corpus_leaves_the_server_answering() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = Config {
        allow_guests: true,
        frames_per_sec: 1_000_000,
        frame_burst: 1_000_000,
        history_per_sec: 1_000_000,
        history_burst: 1_000_000,
        ..Config::default()
    };
    let server = TestServer::start_at(&dir.path().join("chaty.db"), config).await?;
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../chaty-proto/fuzz/corpus/server_frames");
    let mut inputs = 0;
    for entry in std::fs::read_dir(&corpus)? {
        let bytes = std::fs::read(entry?.path())?;
        let Ok(text) = std::str::from_utf8(&bytes) else { continue };
        inputs += 1;
        let mut c = Client::connect(&server.url()).await?;
        c.send(json!({"type": "JOIN_ROOM", "roomId": "fuzz", "userId": "fuzzer"})).await?;
        for line in text.lines().take(16) {
            c.send_text(line).await?;
        }
        if !text.contains("LOGOUT") {
            c.send(json!({"type": "PING", "ref": "fuzz-end"})).await?;
            while c.recv().await?["ref"] != "fuzz-end" {}
        }
        let mut fresh = Client::connect(&server.url()).await?;
        fresh.send(json!({"type": "PING"})).await?;
        assert_eq!(fresh.recv().await?["type"], "PONG");
    }
    assert!(inputs >= 4, "corpus at {}", corpus.display());
    server.stop().await
}
