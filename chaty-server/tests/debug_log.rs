//! What `--log chaty_server=debug` tells an operator about one connection.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

/// The server with debug logging (and `extra` flags) on a free port, its
/// stderr going to a file; the process, the port and the file.
fn start(dir: &std::path::Path, extra: &[&str]) -> (std::process::Child, u16, std::path::PathBuf) {
    let log = dir.join("stderr.log");
    let port = common::free_port();
    let child = Command::new(common::BIN)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--log", "chaty_server=debug", "--db"])
        .arg(dir.join("chaty.db"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn");
    (child, port, log)
}

/// The log once `done` says it holds what the test waits for (10 s at most).
async fn log_when(log: &std::path::Path, done: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if done(&text) || tokio::time::Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn debug_logging_follows_a_connection_in_its_own_span() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, port, log) = start(dir.path(), &[]);
    let mut ws = common::connect(&format!("ws://127.0.0.1:{port}/ws")).await;
    common::send(&mut ws, json!({"type": "REGISTER", "userName": "alice", "password": "correct horse"})).await;
    common::recv_type(&mut ws, "ROOMS").await;
    common::send(&mut ws, json!({"type": "JOIN_ROOM", "roomId": "general"})).await;
    common::recv_type(&mut ws, "ROOM_MEMBERS_UPDATE").await;
    common::send(&mut ws, json!({"type": "HISTORY", "roomId": "nowhere"})).await;
    common::recv_type(&mut ws, "ERROR").await;
    ws.close(None).await.expect("close");
    // A second client that just vanishes, without a close frame.
    let mut gone = common::connect(&format!("ws://127.0.0.1:{port}/ws")).await;
    common::send(&mut gone, json!({"type": "PING"})).await;
    common::recv_type(&mut gone, "PONG").await;
    drop(gone);
    // The close is the last thing a connection logs.
    let text = log_when(&log, |t| t.matches("close code=").count() >= 2).await;
    let _ = child.kill();
    let _ = child.wait();
    let conn = text.lines().filter(|l| l.contains("conn{id=1 peer=127.0.0.1:")).collect::<Vec<_>>();
    for wanted in [
        "open",
        "signed in guest=false",
        "joined room=general",
        "refused frame=\"HISTORY\" code=not_found why=no room \"nowhere\"",
        "close code=1000",
    ] {
        assert!(conn.iter().any(|l| l.contains(wanted)), "no {wanted:?} in:\n{text}");
    }
    // Once signed in, every line names the user.
    let signed_in = conn.iter().position(|l| l.contains("signed in")).unwrap_or(0);
    assert!(conn[signed_in..].iter().all(|l| l.contains("user=\"alice\"")), "{text}");
    let lost = "conn{id=2 peer=127.0.0.1:";
    assert!(
        text.lines().any(|l| l.contains(lost) && l.contains("close code=1006 reason=\"connection lost\"")),
        "a vanished client is logged as lost:\n{text}"
    );
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_with_the_connection_span() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, port, log) = start(dir.path(), &["--log-format", "json"]);
    let mut ws = common::connect(&format!("ws://127.0.0.1:{port}/ws")).await;
    common::send(&mut ws, json!({"type": "REGISTER", "userName": "alice", "password": "correct horse"})).await;
    common::recv_type(&mut ws, "ROOMS").await;
    ws.close(None).await.expect("close");
    let text = log_when(&log, |t| t.contains("\"close\"")).await;
    let _ = child.kill();
    let _ = child.wait();
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    let signed_in = lines.iter().find(|l| l["fields"]["message"] == "signed in").expect("a sign-in line");
    assert_eq!(signed_in["level"], "DEBUG");
    assert_eq!(
        (&signed_in["span"]["name"], &signed_in["span"]["user"]),
        (&json!("conn"), &json!("alice")),
        "{signed_in}"
    );
    assert!(signed_in["span"]["peer"].as_str().is_some_and(|p| p.starts_with("127.0.0.1:")), "{signed_in}");
}
