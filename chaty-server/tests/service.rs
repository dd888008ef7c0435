//! The server as a service: `--config FILE` (precedence, unknown keys, bad
//! values), SIGHUP reloading it (a good file applies, a broken one is
//! refused and the server keeps going), and systemd's notifications read
//! from a `NOTIFY_SOCKET` the test creates.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{recv_type, send};
use serde_json::json;

type Server = common::Reaped;

fn server(port: u16, dir: &Path, env: &[(&str, &str)]) -> Server {
    common::Reaped(
        Command::new(common::BIN)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--db"])
            .arg(dir.join("chaty.db"))
            .arg("--config")
            .arg(dir.join("chaty.toml"))
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr.log")).expect("log file"))
            .spawn()
            .expect("start chaty-server"),
    )
}

fn signal(server: &Server, name: &str) {
    let status = Command::new("kill").arg(format!("-{name}")).arg(server.0.id().to_string()).status().expect("kill");
    assert!(status.success());
}

/// The code of the answer to a `REGISTER` of `name`: `AUTH_OK` or the `ERROR` code.
async fn register(port: u16, name: &str) -> String {
    let mut ws = common::connect(&format!("ws://127.0.0.1:{port}/ws")).await;
    send(&mut ws, json!({"type": "REGISTER", "userName": name, "password": "long enough"})).await;
    loop {
        let frame = common::next(&mut ws).await.expect("an answer");
        match frame["type"].as_str() {
            Some("AUTH_OK") => return "AUTH_OK".into(),
            Some("ERROR") => return frame["code"].as_str().unwrap_or_default().into(),
            _ => {}
        }
    }
}

/// Waits (up to 10 s) until `stderr.log` in `dir` contains `text`.
async fn logged(dir: &Path, text: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let log = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
        if log.contains(text) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "never logged {text:?}:\n{log}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn a_config_file_is_below_flags_and_environment_and_its_mistakes_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("chaty.toml");
    let run = |toml: &str, extra: &[&str], env: &[(&str, &str)]| {
        std::fs::write(&file, toml).expect("write");
        let out = Command::new(common::BIN)
            .args(["--listen", "127.0.0.1:1", "--config"])
            .arg(&file)
            .args(extra)
            .envs(env.iter().copied())
            .output()
            .expect("run");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).trim().to_string())
    };
    let shown = file.display().to_string();
    let (code, err) = run("rate_limt = 5\n", &[], &[]);
    assert_eq!((code, err), (Some(2), format!("chaty-server: config file {shown}: unknown key `rate_limt`")));
    let (code, err) = run("rate_limit = 0\n", &[], &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("'--rate-limit <FRAMES>'")
            && err.contains(&format!("(from `rate_limit` in the config file {shown})")),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // The flag wins over the file, and so does the environment: the file's
    // bad values are never parsed (they would come first, and fail).
    let (code, err) = run("rate_limit = 0\nlisten = \"nonsense\"\n", &["--rate-limit", "5", "--help"], &[]);
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = run("rate_limit = 0\n", &["--version"], &[("CHATY_RATE_LIMIT", "5")]);
    assert_eq!(code, Some(0), "{err}");
}

#[tokio::test]
async fn sighup_applies_a_good_config_and_keeps_serving_with_a_broken_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("chaty.toml");
    std::fs::write(&file, "registration = \"open\"\n").expect("write");
    let port = common::free_port();
    let child = server(port, dir.path(), &[]);
    common::connect(&format!("ws://127.0.0.1:{port}/ws")).await;
    assert_eq!(register(port, "before").await, "AUTH_OK");

    std::fs::write(&file, "registration = \"closed\"\nlog = \"info\"\n").expect("write");
    signal(&child, "HUP");
    logged(dir.path(), "reloaded the settings: registration Closed").await;
    assert_eq!(register(port, "after").await, "forbidden");

    std::fs::write(&file, "registration = \"maybe\"\n").expect("write");
    signal(&child, "HUP");
    logged(dir.path(), "settings not reloaded, the ones in use stay").await;
    assert_eq!(register(port, "still").await, "forbidden", "the settings in use stayed");
    let mut ws = common::connect(&format!("ws://127.0.0.1:{port}/ws")).await;
    send(&mut ws, json!({"type": "PING"})).await;
    recv_type(&mut ws, "PONG").await;
    drop(child);
}

#[tokio::test]
async fn systemd_hears_ready_watchdog_reloading_and_stopping() {
    use tokio::net::UnixDatagram;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("chaty.toml"), "rate_limit = 50\n").expect("write");
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind NOTIFY_SOCKET");
    let port = common::free_port();
    let notify = socket_path.to_string_lossy().into_owned();
    let mut child = server(port, dir.path(), &[("NOTIFY_SOCKET", &notify), ("WATCHDOG_USEC", "200000")]);
    let mut buf = vec![0u8; 4096];
    let mut next = async || {
        let n = tokio::time::timeout(Duration::from_secs(10), socket.recv(&mut buf))
            .await
            .expect("a notification in time")
            .expect("recv");
        String::from_utf8_lossy(&buf[..n]).trim_end().to_string()
    };
    let ready = next().await;
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready}");
    // Listening by then.
    common::connect(&format!("ws://127.0.0.1:{port}/ws")).await;
    assert_eq!(next().await, "WATCHDOG=1");

    signal(&child, "HUP");
    let mut seen = Vec::new();
    while !seen.iter().any(|m: &String| m.lines().any(|l| l == "READY=1")) {
        let message = next().await;
        if message != "WATCHDOG=1" {
            seen.push(message);
        }
    }
    assert!(seen[0].lines().any(|l| l == "RELOADING=1"), "{seen:?}");
    assert!(seen[0].lines().any(|l| l.starts_with("MONOTONIC_USEC=")), "{seen:?}");

    signal(&child, "TERM");
    loop {
        let message = next().await;
        if message != "WATCHDOG=1" {
            assert_eq!(message, "STOPPING=1");
            break;
        }
    }
    let status = child.0.wait().expect("wait");
    assert!(status.success(), "{status}");
}

/// `deploy/chaty.service` passes `systemd-analyze verify` (with this build's
/// binary as `ExecStart`). `tests/run.sh` installs systemd's tools if missing.
#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/chaty.service")).expect("unit");
    assert!(unit.contains("Type=notify") && unit.contains("WatchdogSec="), "the unit uses what the server speaks");
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("chaty.service");
    std::fs::write(&copy, unit.replace("ExecStart=/usr/local/bin/chaty-server", &format!("ExecStart={}", common::BIN)))
        .expect("write");
    let out = Command::new("systemd-analyze").arg("verify").arg(&copy).output().unwrap_or_else(|e| {
        panic!("systemd-analyze: {e}: install systemd (apt-get install systemd), as tests/run.sh does")
    });
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.trim().is_empty(), "systemd-analyze verify: {said}");
}
