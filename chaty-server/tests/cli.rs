//! The `chaty-server` binary as an operator meets it: flags, errors, start and stop.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_chaty-server");

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN).args(args).env_remove("CHATY_LISTEN").output().expect("run chaty-server");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn bad_values_are_one_line_errors_naming_the_value_with_exit_code_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("chaty.db");
    let db = db.to_str().expect("utf-8 path");
    for (args, named) in [
        (vec!["--listen", "nope"], "nope"),
        (vec!["--registration", "maybe"], "maybe"),
        (vec!["--db", db, "--log", "chaty=["], "chaty=["),
        (vec!["--db", "/proc/nonexistent/chaty.db"], "/proc/nonexistent"),
    ] {
        let (code, stderr) = run(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
}

#[test]
fn starts_prints_its_address_and_database_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("data").join("chaty.db");
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(20)).expect("no startup line");
    assert!(line.starts_with("chaty-server listening on ws://127.0.0.1:"), "{line}");
    assert!(line.contains(&db.display().to_string()), "{line}");
    assert!(db.exists(), "database created, with its directory");

    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}
