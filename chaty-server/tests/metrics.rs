//! `--metrics-listen`: Prometheus text on a listener of its own, with the
//! documented names, moving as traffic flows.

mod common;

use std::collections::HashMap;

use common::{http_get, recv_type, send};
use serde_json::json;

async fn get(port: u16, path: &str) -> (u16, String) {
    http_get(([127, 0, 0, 1], port).into(), path).await
}

/// Parses Prometheus text exposition: every sample by `name{labels}`, and
/// checks that each sample's family was declared with `# TYPE`.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut types = HashMap::new();
    let mut samples = HashMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            types.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("a sample line: {line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("a number: {line}"));
        let name = series.split('{').next().unwrap_or_default();
        let family = ["_total", "_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix).filter(|f| types.contains_key(*f)))
            .unwrap_or(name);
        assert!(types.contains_key(family), "{name} has no # TYPE");
        samples.insert(series.to_string(), value);
    }
    samples
}

#[tokio::test]
async fn metrics_are_served_apart_with_the_documented_names_and_move_with_traffic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (port, metrics_port) = (common::free_port(), common::free_port());
    let metrics_flag = format!("127.0.0.1:{metrics_port}");
    let _server =
        common::Reaped(common::start(port, &dir.path().join("chaty.db"), &["--metrics-listen", &metrics_flag]));
    let mut ws = common::connect(&format!("ws://127.0.0.1:{port}/ws")).await;
    // The upgrade's answer can arrive before the connection's task runs;
    // WELCOME comes from that task, after it is counted.
    recv_type(&mut ws, "WELCOME").await;
    let (status, body) = get(metrics_port, "/metrics").await;
    assert_eq!(status, 200);
    let before = parse(&body);
    for name in [
        "chaty_connections",
        "chaty_messages_stored_total",
        "chaty_deliveries_total",
        "chaty_commit_seconds_count",
        "chaty_slow_consumers_total",
        "chaty_rate_limited_total",
        "chaty_logins_failed_total",
    ] {
        assert!(before.contains_key(name), "{name} missing from:\n{body}");
    }
    assert_eq!(before["chaty_connections"], 1.0);
    // Not on the chat port.
    assert_eq!(get(port, "/metrics").await.0, 404);

    send(&mut ws, json!({"type": "REGISTER", "userName": "alice", "password": "long enough"})).await;
    recv_type(&mut ws, "ROOMS").await;
    send(&mut ws, json!({"type": "JOIN_ROOM", "roomId": "general"})).await;
    recv_type(&mut ws, "ROOM_MEMBERS_UPDATE").await;
    for i in 0..3 {
        send(
            &mut ws,
            json!({"type": "CHAT_MESSAGE", "roomId": "general", "content": "hi", "clientId": format!("c{i}")}),
        )
        .await;
        recv_type(&mut ws, "CHAT_MESSAGE").await;
    }
    send(&mut ws, json!({"type": "NO_SUCH_FRAME"})).await;
    recv_type(&mut ws, "ERROR").await;
    // A known frame with a bad field counts under its type; not JSON at all is `unparsed`.
    send(&mut ws, json!({"type": "JOIN_ROOM"})).await;
    recv_type(&mut ws, "ERROR").await;
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::Text("hello".into())).await.expect("send");
    recv_type(&mut ws, "ERROR").await;
    let mut intruder = common::connect(&format!("ws://127.0.0.1:{port}/ws")).await;
    send(&mut intruder, json!({"type": "LOGIN", "userName": "alice", "password": "wrong guess"})).await;
    recv_type(&mut intruder, "ERROR").await;

    let after = parse(&get(metrics_port, "/metrics").await.1);
    let moved = |name: &str| after.get(name).copied().unwrap_or(0.0) - before.get(name).copied().unwrap_or(0.0);
    assert_eq!(after["chaty_connections"], 2.0);
    assert_eq!(moved("chaty_messages_stored_total"), 3.0);
    assert_eq!(moved("chaty_commit_seconds_count"), 3.0);
    assert_eq!(moved("chaty_frames_received_total{type=\"CHAT_MESSAGE\"}"), 3.0);
    assert_eq!(moved("chaty_errors_sent_total{code=\"unknown_type\"}"), 1.0);
    assert_eq!(moved("chaty_frames_received_total{type=\"unknown\"}"), 1.0);
    assert_eq!(moved("chaty_frames_received_total{type=\"unparsed\"}"), 1.0);
    assert_eq!(moved("chaty_frames_received_total{type=\"JOIN_ROOM\"}"), 2.0);
    assert_eq!(moved("chaty_errors_sent_total{code=\"unauthorized\"}"), 1.0);
    assert_eq!(moved("chaty_logins_failed_total"), 1.0);
    assert!(moved("chaty_deliveries_total") >= 3.0 + 3.0, "echoes and replies are deliveries");
}
