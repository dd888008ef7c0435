//! The real binary in a pseudo-terminal (util-linux `script` makes it):
//! keys and a bracketed paste go in as the bytes a terminal sends, and
//! another client sees what came of them.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::time::Instant;

use crate::e2e::{Headless, start_server};

/// `chaty-tui` running in a pty, what it draws kept in `screen`.
struct Pty {
    child: Child,
    stdin: ChildStdin,
    screen: Arc<Mutex<Vec<u8>>>,
    _home: tempfile::TempDir,
}

impl Pty {
    fn start(args: &[&str]) -> Result<Self> {
        let home = tempfile::tempdir()?;
        let command = std::iter::once(env!("CARGO_BIN_EXE_chaty-tui").to_string())
            .chain(args.iter().map(|a| format!("'{a}'")))
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = Command::new("script")
            .args(["-qfec", &format!("stty rows 24 cols 80; exec {command}"), "/dev/null"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TERM", "xterm-256color")
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_DATA_HOME", home.path().join("data"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("run script(1)")?;
        let stdin = child.stdin.take().context("stdin")?;
        let mut stdout = child.stdout.take().context("stdout")?;
        let screen = Arc::new(Mutex::new(Vec::new()));
        let sink = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                if let Ok(mut screen) = sink.lock() {
                    screen.extend_from_slice(&buf[..n]);
                }
            }
        });
        Ok(Self { child, stdin, screen, _home: home })
    }

    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.stdin.write_all(bytes)?;
        Ok(self.stdin.flush()?)
    }

    /// Waits until `text` has been drawn.
    async fn drawn(&self, text: &str) -> Result<()> {
        self.written(text.as_bytes()).await
    }

    /// Waits until the client has written `bytes` to the terminal.
    async fn written(&self, bytes: &[u8]) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let seen = self.screen.lock().map(|s| s.windows(bytes.len()).any(|w| w == bytes)).unwrap_or(false);
            if seen {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("timed out waiting for {:?} from the client", String::from_utf8_lossy(bytes));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real server; alice (headless) in #team; carol registered in the
/// real binary in a pty, and in #team too.
struct Team {
    alice: Headless,
    carol: Pty,
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Team {
    /// `None` (the test is skipped) where there is no script(1) to make a pty.
    async fn start() -> Result<Option<Self>> {
        if Command::new("script").arg("--version").output().is_err() {
            eprintln!("skipped: no script(1) to make a pty");
            return Ok(None);
        }
        let dir = tempfile::tempdir()?;
        let (url, stop, task) = start_server("127.0.0.1:0", &dir.path().join("chaty.db")).await?;
        let mut alice = Headless::register(&url, "alice", "a").await?;
        alice.type_line("/join team");
        alice.until("in team", |a| a.current_room().is_some_and(|r| r.id == "team")).await?;
        let mut carol = Pty::start(&["--server", &url, "--user", "carol"])?;
        carol.drawn("register").await?;
        // Register (Ctrl-R) and join.
        carol.send(b"carol-password\x12")?;
        carol.drawn("carol@").await?;
        carol.send(b"/join team\r")?;
        carol.drawn("#team").await?;
        Ok(Some(Self { alice, carol, stop, task, _dir: dir }))
    }

    async fn stop(self) -> Result<()> {
        drop(self.carol);
        self.stop.cancel();
        self.task.await??;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_five_line_bracketed_paste_arrives_as_one_five_line_message() -> Result<()> {
    let Some(mut team) = Team::start().await? else { return Ok(()) };
    let Team { alice, carol, .. } = &mut team;
    // A paste as a terminal sends it: between the bracketed-paste markers,
    // lines end in \r, as Enter does.
    carol.send(b"\x1b[200~one\rtwo\rthree\rfour\rfive\x1b[201~")?;
    // The paste's own line breaks sent nothing; this Enter sends it all.
    tokio::time::sleep(Duration::from_millis(300)).await;
    carol.send(b"\r")?;

    let from_carol = |a: &chaty_tui::app::App| {
        a.rooms
            .iter()
            .find(|r| r.id == "team")
            .map_or(0, |r| r.messages.iter().filter(|m| m.user_id == "carol").count())
    };
    alice.until("carol's message", |a| from_carol(a) >= 1).await?;
    // Anything sent line by line would be right behind it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    alice.until("settled", |_| true).await?;
    let room = alice.app.rooms.iter().find(|r| r.id == "team").context("team")?;
    let got: Vec<&str> = room.messages.iter().filter(|m| m.user_id == "carol").map(|m| m.content.as_str()).collect();
    assert_eq!(got, ["one\ntwo\nthree\nfour\nfive"]);
    team.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mention_from_a_second_client_produces_the_osc_777_bytes() -> Result<()> {
    let Some(mut team) = Team::start().await? else { return Ok(()) };
    // Carol is in #team but looking at #zoo: a mention in #team notifies her.
    // (#zoo, below #team in the sidebar: drawn whole on a blank row.)
    team.carol.send(b"/join zoo\r")?;
    team.carol.drawn("#zoo").await?;
    let in_team = |a: &chaty_tui::app::App| a.rooms.iter().any(|r| r.id == "team" && r.has_member("carol"));
    team.alice.until("carol in team", in_team).await?;

    team.alice.type_line("hey @carol, the deploy is done");
    team.carol.written(b"\x1b]777;notify;alice in #team;hey @carol, the deploy is done\x07").await?;
    team.carol.written(b"\x1b]9;alice in #team: hey @carol, the deploy is done\x07").await?;
    team.stop().await
}
