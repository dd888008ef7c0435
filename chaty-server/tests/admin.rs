//! The admin CLI as processes, against a server process running on the same
//! database: users, bans, deletion and export, rooms and invites on both
//! backends; bad input exits 2 with one line.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use chaty_tests::Client;
use chaty_tests::services::Postgres;
use serde_json::{Value, json};

/// What a CLI run gave: exit code, stdout, stderr.
pub struct Ran {
    pub code: i32,
    pub out: String,
    pub err: String,
}

/// Runs `chaty-server ARGS --db DB`, with `stdin` on its standard input.
pub fn cli(db: &str, args: &[&str], stdin: &str) -> Ran {
    use std::io::Write;
    let mut child = Command::new(common::BIN)
        .args(args)
        .args(["--db", db])
        .env_remove("CHATY_DB")
        .env_remove("CHATY_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run chaty-server");
    let _ = child.stdin.take().expect("stdin").write_all(stdin.as_bytes());
    let out = child.wait_with_output().expect("wait");
    Ran {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs a command that must succeed; its stdout.
fn ok(db: &str, args: &[&str], stdin: &str) -> String {
    let ran = cli(db, args, stdin);
    assert_eq!(ran.code, 0, "{args:?}: {}", ran.err);
    ran.out
}

/// Runs a command that must fail with exit 2 and one line naming `naming`.
fn bad(db: &str, args: &[&str], stdin: &str, naming: &str) {
    let ran = cli(db, args, stdin);
    assert_eq!(ran.code, 2, "{args:?} should fail: {}", ran.out);
    assert_eq!(ran.err.lines().count(), 1, "{args:?}: {}", ran.err);
    assert!(ran.err.contains(naming), "{args:?}: {}", ran.err);
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn serve(db: &str, extra: &[&str]) -> (Server, String) {
    let port = common::free_port();
    let server = Server(common::start(port, std::path::Path::new(db), extra));
    let url = format!("ws://127.0.0.1:{port}/ws");
    common::connect(&url).await;
    (server, url)
}

/// A LOGIN on a new connection: the reply (`AUTH_OK` or `ERROR`).
async fn login(url: &str, name: &str, password: &str) -> Result<Value> {
    let mut c = Client::connect(url).await?;
    c.send(json!({"type": "LOGIN", "userName": name, "password": password})).await?;
    loop {
        let frame = c.recv().await?;
        if frame["type"] == "AUTH_OK" || frame["type"] == "ERROR" {
            return Ok(frame);
        }
    }
}

/// Waits for the server to close `c`; how long it took.
async fn closed_within(c: &mut Client) -> Result<Duration> {
    let started = Instant::now();
    c.closed().await?;
    Ok(started.elapsed())
}

/// Every user, room and invite command against a running server on `db`.
async fn exercise(db: &str) -> Result<()> {
    let (_server, url) = serve(db, &["--registration", "invite"]).await;
    ok(db, &["user", "add", "alice", "--display-name", "Alice A", "--password-stdin"], "alice-password\n");
    ok(db, &["user", "add", "bob", "--admin", "--password-stdin"], "bob-password\n");
    let mut alice = Client::login(&url, "alice").await?;
    let mut bob = Client::login(&url, "bob").await?;
    alice.join("general").await?;
    bob.join("general").await?;

    // Bad input: one line, exit 2.
    bad(db, &["user", "add", "weak", "--password-stdin"], "short\n", "password");
    bad(db, &["user", "add", "empty", "--password-stdin"], "", "password");
    bad(db, &["user", "ban", "nobody"], "", "no user \"nobody\"");
    bad(db, &["user", "set", "nobody", "--admin"], "", "nobody");
    bad(db, &["room", "delete", "nowhere"], "", "no room \"nowhere\"");
    bad(db, &["invite", "create", "--expires", "7x"], "", "7x");
    bad(db, &["user", "add", "alice", "--password-stdin"], "alice-password\n", "taken");

    // The list, in both forms.
    let list: Value = serde_json::from_str(&ok(db, &["user", "list", "--json"], ""))?;
    let names: Vec<&str> = list.as_array().into_iter().flatten().filter_map(|u| u["name"].as_str()).collect();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!((list[0]["displayName"].clone(), list[1]["admin"].clone()), (json!("Alice A"), json!(true)));
    assert!(ok(db, &["user", "list"], "").contains("Alice A"));
    ok(db, &["user", "set", "bob", "--no-admin", "--display-name", "Bobby"], "");
    let list: Value = serde_json::from_str(&ok(db, &["user", "list", "--json"], ""))?;
    assert_eq!((list[1]["admin"].clone(), list[1]["displayName"].clone()), (json!(false), json!("Bobby")));

    // A topic set by the CLI reaches the room.
    ok(db, &["room", "set", "general", "--topic", "from the admin"], "");
    assert_eq!(alice.recv_type("ROOM").await?["topic"], "from the admin");
    let rooms: Value = serde_json::from_str(&ok(db, &["room", "list", "--json"], ""))?;
    assert_eq!((rooms[0]["roomId"].clone(), rooms[0]["members"].clone()), (json!("general"), json!(2)));
    // A room's own retention, and back to the server's.
    assert!(ok(db, &["room", "set", "general", "--retention-days", "7"], "").contains("for 7 days"));
    assert!(ok(db, &["room", "set", "general", "--retention-days", "default"], "").contains("server's"));
    bad(db, &["room", "set", "general", "--retention-days", "soon"], "", "soon");
    bad(db, &["room", "set", "nowhere", "--retention-days", "3"], "", "nowhere");

    // A new password ends every session of the user.
    ok(db, &["user", "passwd", "bob", "--password-stdin"], "bob-new-password\n");
    ensure!(closed_within(&mut bob).await? < Duration::from_secs(5), "bob's socket stayed open");
    assert_eq!(login(&url, "bob", "bob-password").await?["code"], "unauthorized");
    assert_eq!(login(&url, "bob", "bob-new-password").await?["type"], "AUTH_OK");

    // A ban closes the sockets within 5 s, and refuses LOGIN, AUTH and REFRESH.
    let mut again = Client::connect(&url).await?;
    again.send(json!({"type": "LOGIN", "userName": "alice", "password": "alice-password"})).await?;
    let tokens = again.recv_type("AUTH_OK").await?;
    ok(db, &["user", "ban", "alice", "--reason", "spam"], "");
    ensure!(closed_within(&mut alice).await? < Duration::from_secs(5), "alice's socket stayed open");
    ensure!(closed_within(&mut again).await? < Duration::from_secs(5), "her second socket stayed open");
    let refused = login(&url, "alice", "alice-password").await?;
    assert_eq!(
        (refused["code"].as_str(), refused["message"].as_str()),
        (Some("forbidden"), Some("this account is banned: spam"))
    );
    let mut c = Client::connect(&url).await?;
    assert_eq!(c.expect_error(json!({"type": "AUTH", "token": tokens["token"]})).await?["code"], "forbidden");
    let refresh = json!({"type": "REFRESH", "refreshToken": tokens["refreshToken"]});
    assert_eq!(c.expect_error(refresh.clone()).await?["code"], "forbidden");
    ok(db, &["user", "unban", "alice"], "");
    // Her old tokens stay revoked; a LOGIN works again.
    assert_eq!(c.expect_error(refresh).await?["code"], "token_expired");
    let mut alice = Client::login(&url, "alice").await?;

    // Export, then deletion with erasure: tombstones keep `seq` gap-free.
    let mut bob = Client::connect(&url).await?;
    bob.send(json!({"type": "LOGIN", "userName": "bob", "password": "bob-new-password"})).await?;
    bob.recv_type("ROOMS").await?;
    for (who, text) in [(&mut bob, "b1"), (&mut alice, "a1")] {
        who.send(json!({"type": "CHAT_MESSAGE", "roomId": "general", "content": text, "clientId": text})).await?;
        who.recv_echo(text).await?;
    }
    bob.send(json!({"type": "CHAT_MESSAGE", "roomId": "general", "content": "b2", "clientId": "b2"})).await?;
    bob.recv_echo("b2").await?;
    let export: Value = serde_json::from_str(&ok(db, &["user", "export", "bob"], ""))?;
    assert_eq!(export["user"]["name"], "bob");
    assert_eq!(export["memberships"][0]["roomId"], "general");
    let written: Vec<&str> =
        export["messages"].as_array().into_iter().flatten().filter_map(|m| m["content"].as_str()).collect();
    assert_eq!(written, ["b1", "b2"]);
    assert!(ok(db, &["user", "del", "bob", "--erase"], "").contains("erased 2 messages"));
    ensure!(closed_within(&mut bob).await? < Duration::from_secs(5), "a deleted user's socket stayed open");
    assert_eq!(login(&url, "bob", "bob-new-password").await?["code"], "unauthorized");
    alice.send(json!({"type": "HISTORY", "roomId": "general", "limit": 50})).await?;
    let history = alice.recv_type("HISTORY").await?;
    let seen: Vec<(u64, bool, &str)> = history["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["seq"].as_u64().unwrap_or(0),
                m["deleted"].as_bool().unwrap_or(false),
                m["content"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(seen, [(1, true, ""), (2, false, "a1"), (3, true, "")]);
    bad(db, &["user", "export", "bob"], "", "no user \"bob\"");

    // Invites: required, used up, expired.
    let mut c = Client::connect(&url).await?;
    let register = |name: &str, invite: Option<&str>| {
        let mut frame = json!({"type": "REGISTER", "userName": name, "password": "long enough password"});
        if let Some(invite) = invite {
            frame["invite"] = invite.into();
        }
        frame
    };
    assert_eq!(c.expect_error(register("carol", None)).await?["code"], "forbidden");
    let once = ok(db, &["invite", "create"], "").trim().to_string();
    c.send(register("carol", Some(&once))).await?;
    c.recv_type("AUTH_OK").await?;
    let mut d = Client::connect(&url).await?;
    let used = d.expect_error(register("dave", Some(&once))).await?;
    assert_eq!(used["code"], "forbidden");
    assert!(used["message"].as_str().unwrap_or_default().contains("used up"), "{used}");
    let brief = ok(db, &["invite", "create", "--expires", "1s", "--uses", "5"], "").trim().to_string();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(d.expect_error(register("dave", Some(&brief))).await?["code"], "forbidden");

    // A deleted room: its connected members are told, and it is gone.
    ok(db, &["room", "delete", "general"], "");
    let kicked = alice.recv_type("KICKED").await?;
    assert_eq!((kicked["roomId"].as_str(), kicked["by"].as_str()), (Some("general"), Some("server admin")));
    let rooms: Value = serde_json::from_str(&ok(db, &["room", "list", "--json"], ""))?;
    assert_eq!(rooms, json!([]));
    Ok(())
}

#[tokio::test]
async fn every_command_against_a_running_server_on_sqlite() -> Result<()> {
    let dir = tempfile::tempdir()?;
    exercise(&dir.path().join("chaty.db").to_string_lossy()).await
}

#[tokio::test]
async fn every_command_against_a_running_server_on_postgres() -> Result<()> {
    let db = Postgres::shared().await?.database().await?;
    exercise(&db).await
}

#[tokio::test]
async fn a_missing_database_and_a_config_file_db() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("none.db");
    bad(&missing.to_string_lossy(), &["user", "list"], "", "no database at");
    ensure!(!missing.exists(), "an admin command never creates a database");
    let db = dir.path().join("chaty.db");
    chaty_server::Store::open(&db)?.close().await;
    ok(&db.to_string_lossy(), &["user", "add", "zoe", "--password-stdin"], "zoe-password\n");
    // No --db: the config file's `db`.
    let config = dir.path().join("chaty.toml");
    std::fs::write(&config, format!("db = {:?}\nrate_limit = 5\n", db.to_string_lossy()))?;
    let out = Command::new(common::BIN)
        .args(["user", "list", "--json", "--config"])
        .arg(&config)
        .env_remove("CHATY_DB")
        .env_remove("CHATY_CONFIG")
        .output()?;
    ensure!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let list: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(list[0]["name"], "zoe");
    Ok(())
}
