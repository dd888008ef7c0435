//! The `chaty-server` binary as an operator meets it: flags, errors, start and stop.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_chaty-server");

fn run(args: &[&str]) -> (i32, String) {
    run_with(args, &[])
}

/// Runs the binary to completion with `env` set (and no stray CHATY_ variables).
fn run_with(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("CHATY_LISTEN").env_remove("CHATY_ALLOW_GUESTS").envs(env.iter().copied());
    let out = cmd.output().expect("run chaty-server");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A started server: its process and the lines it printed on stdout at startup.
struct Started {
    child: std::process::Child,
    lines: Vec<String>,
}

/// Starts the binary through `sh -c` (so a test can set the umask) and reads
/// stdout up to the `listening` line, and the guest line if guests are on.
fn start_with(shell_prefix: &str, args: &[&str], env: &[(&str, &str)]) -> Started {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let script = format!("{shell_prefix} exec '{BIN}' {}", quoted.join(" "));
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .env_remove("CHATY_LISTEN")
        .env_remove("CHATY_ALLOW_GUESTS")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut lines = vec![rx.recv_timeout(Duration::from_secs(20)).expect("no startup line")];
    // The guest notice, if any, follows at once.
    if let Ok(line) = rx.recv_timeout(Duration::from_millis(300)) {
        lines.push(line);
    }
    Started { child, lines }
}

/// SIGTERM, then the exit code (bounded wait).
fn terminate(child: &mut std::process::Child) -> Option<i32> {
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code();
        }
        assert!(Instant::now() < deadline, "did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
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
        (vec!["--listen", "127.0.0.1:0", "--db", "/proc/nonexistent/chaty.db"], "/proc/nonexistent"),
        (vec!["--rate-limit", "lots"], "lots"),
        (vec!["--tls-cert", "cert.pem"], "--tls-key"),
        (vec!["--registration", "maybe"], "one of: open, closed"),
        (vec!["--bogus"], "--bogus"),
    ] {
        let (code, stderr) = run(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: one line, got {stderr}");
        assert!(!stderr.contains("os error") && !stderr.contains("Error code"), "{args:?}: {stderr}");
    }
}

#[test]
fn an_unreachable_postgres_url_is_one_line_without_its_password() {
    let (code, stderr) = run(&["--listen", "127.0.0.1:0", "--db", "postgres://alice:s3cret@127.0.0.1:1/chaty"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.starts_with("chaty-server: cannot open the database postgres://alice@127.0.0.1:1/chaty: "),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "the password is never shown: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

#[test]
fn a_bad_boolean_from_the_environment_names_the_variable() {
    let (code, stderr) = run_with(&[], &[("CHATY_ALLOW_GUESTS", "maybe")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("'maybe'") && stderr.contains("CHATY_ALLOW_GUESTS"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

#[test]
fn boolean_variables_take_the_usual_spellings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("chaty.db");
    let db = db.to_str().expect("utf-8 path");
    for (value, guests) in
        [("1", true), ("yes", true), ("on", true), ("true", true), ("0", false), ("off", false), ("no", false)]
    {
        let mut started = start_with("", &["--listen", "127.0.0.1:0", "--db", db], &[("CHATY_ALLOW_GUESTS", value)]);
        let said_guests = started.lines.iter().any(|l| l.starts_with("guests allowed"));
        assert_eq!(said_guests, guests, "CHATY_ALLOW_GUESTS={value}: {:?}", started.lines);
        assert_eq!(terminate(&mut started.child), Some(0));
    }
}

#[test]
fn listen_takes_host_names_and_a_bare_port() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("chaty.db");
    let db = db.to_str().expect("utf-8 path");
    for (listen, shown) in [("localhost:0", ["ws://127.0.0.1:", "ws://[::1]:"]), (":0", ["ws://0.0.0.0:"; 2])] {
        let mut started = start_with("", &["--listen", listen, "--db", db], &[]);
        assert!(
            shown.iter().any(|s| started.lines[0].starts_with(&format!("chaty-server listening on {s}"))),
            "{listen}: {:?}",
            started.lines
        );
        assert_eq!(terminate(&mut started.child), Some(0));
    }
}

#[test]
fn a_start_that_fails_creates_no_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("new").join("chaty.db");
    let db_arg = db.to_str().expect("utf-8 path");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = busy.local_addr().expect("addr").to_string();
    let (code, stderr) = run(&["--listen", &taken, "--db", db_arg]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(&format!("cannot listen on {taken}: Address already in use")), "{stderr}");
    let key = dir.path().join("key.pem");
    std::fs::write(&key, "not a key").expect("write");
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, "not a cert").expect("write");
    let (code, stderr) = run(&[
        "--listen",
        "127.0.0.1:0",
        "--db",
        db_arg,
        "--tls-cert",
        cert.to_str().expect("p"),
        "--tls-key",
        key.to_str().expect("p"),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(!db.exists() && !db.parent().expect("dir").exists(), "a failed start left {} behind", db.display());
}

#[cfg(unix)]
#[test]
fn the_database_and_its_directory_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777).ok();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let db = data.join("chaty.db");
    let mut started = start_with("umask 000;", &["--listen", "127.0.0.1:0", "--db", db.to_str().expect("p")], &[]);
    assert_eq!(mode(&data), Some(0o700));
    for file in ["chaty.db", "chaty.db-wal", "chaty.db-shm"] {
        assert_eq!(mode(&data.join(file)), Some(0o600), "{file}");
    }
    assert_eq!(terminate(&mut started.child), Some(0));
    assert_eq!(mode(&db), Some(0o600));
}

#[test]
fn starts_prints_its_address_and_database_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("data").join("chaty.db");
    let mut started = start_with("", &["--listen", "127.0.0.1:0", "--db", db.to_str().expect("utf-8 path")], &[]);
    let line = &started.lines[0];
    assert!(line.starts_with("chaty-server listening on ws://127.0.0.1:"), "{line}");
    assert!(line.contains(&db.display().to_string()), "{line}");
    assert!(db.exists(), "database created, with its directory");
    assert_eq!(terminate(&mut started.child), Some(0));
}

#[test]
fn healthcheck_says_whether_a_server_is_ready_by_its_exit_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("chaty.db");
    // `serve` is the same as no command.
    let mut started = start_with("", &["serve", "--listen", "127.0.0.1:0", "--db", db.to_str().expect("p")], &[]);
    let line = &started.lines[0];
    let addr = line.split("ws://").nth(1).and_then(|r| r.split('/').next()).expect("an address").to_string();
    for url in [format!("http://{addr}"), format!("http://{addr}/readyz"), format!("http://{addr}/healthz")] {
        let (code, stderr) = run(&["healthcheck", "--url", &url]);
        assert_eq!(code, 0, "{url}: {stderr}");
    }
    assert_eq!(terminate(&mut started.child), Some(0));
    let (code, stderr) = run(&["healthcheck", "--url", &format!("http://{addr}")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.starts_with("chaty-server healthcheck: not ready: cannot connect to "), "{stderr}");
    let (code, stderr) = run(&["healthcheck", "--url", "127.0.0.1:8181"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("\"127.0.0.1:8181\" is not a URL"), "{stderr}");
}
