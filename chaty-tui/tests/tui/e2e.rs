//! Two clients against a real server: they chat, see each other type, the
//! server restarts, they reconnect, and both end with the same messages.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use chaty_tui::app::{App, Cmd, Msg};
use chaty_tui::net::Net;
use crossterm::event::KeyCode;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(15);

fn tls() -> std::sync::Arc<rustls::ClientConfig> {
    chaty_tui::tls::client_config(None).expect("tls config")
}

/// An app wired to a real network task, without a terminal.
pub(crate) struct Headless {
    pub(crate) app: App,
    net: Net,
    events: mpsc::Sender<Msg>,
    rx: mpsc::Receiver<Msg>,
}

impl Headless {
    fn start(url: &str, user: &str, prefix: &str) -> Self {
        let (events, rx) = mpsc::channel(1024);
        let mut app = App::new(url, user, None, prefix);
        app.update(Msg::Resize(100, 30), Instant::now());
        let net = Net::spawn(url.to_string(), tls(), events.clone());
        Self { app, net, events, rx }
    }

    /// A new account `user` (password `user-password`), signed in.
    pub(crate) async fn register(url: &str, user: &str, prefix: &str) -> Result<Self> {
        let mut client = Self::start(url, user, prefix);
        client.until("connected", |a| a.conn == chaty_tui::app::Conn::Connected).await?;
        for c in format!("{user}-password").chars() {
            client.input(key(KeyCode::Char(c)));
        }
        client.input(ctrl('r'));
        client.until("signed in", |a| a.screen == chaty_tui::app::Screen::Chat).await?;
        Ok(client)
    }

    fn apply(&mut self, cmds: Vec<Cmd>) {
        for cmd in cmds {
            match cmd {
                Cmd::Send(frame, reference) => self.net.send(&frame, reference.as_deref()),
                Cmd::Connect(url) => self.net = Net::spawn(url, tls(), self.events.clone()),
                _ => {}
            }
        }
    }

    fn input(&mut self, msg: Msg) {
        let cmds = self.app.update(msg, Instant::now());
        self.apply(cmds);
    }

    pub(crate) fn type_line(&mut self, text: &str) {
        for c in text.chars() {
            self.input(key(KeyCode::Char(c)));
        }
        self.input(key(KeyCode::Enter));
    }

    /// Handles network events until `done` holds.
    pub(crate) async fn until(&mut self, what: &str, done: impl Fn(&App) -> bool) -> Result<()> {
        let deadline = Instant::now() + WAIT;
        while !done(&self.app) {
            let msg = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .with_context(|| format!("timed out waiting until {what}"))?
                .context("network task ended")?;
            self.input(msg);
        }
        Ok(())
    }

    fn contents(&self, room: &str) -> Vec<(u64, String, String)> {
        self.app
            .rooms
            .iter()
            .find(|r| r.id == room)
            .map(|r| r.messages.iter().map(|m| (m.seq, m.user_id.clone(), m.content.clone())).collect())
            .unwrap_or_default()
    }
}

pub(crate) async fn start_server(
    addr: &str,
    db: &std::path::Path,
) -> Result<(String, CancellationToken, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = TcpListener::bind(addr).await?;
    let url = format!("ws://{}/ws", listener.local_addr()?);
    let store = chaty_server::Store::open(db)?;
    let stop = CancellationToken::new();
    let task = tokio::spawn(chaty_server::run(listener, store, chaty_server::Config::default(), stop.clone()));
    Ok((url, stop, task))
}

fn in_room(room: &'static str, n: usize) -> impl Fn(&App) -> bool {
    move |app| app.rooms.iter().any(|r| r.id == room && r.messages.len() >= n && r.pending.is_empty())
}

#[tokio::test]
async fn two_clients_chat_through_a_server_restart() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("chaty.db");
    let (url, stop, task) = start_server("127.0.0.1:0", &db).await?;
    let addr = url.trim_start_matches("ws://").trim_end_matches("/ws").to_string();

    let mut alice = Headless::register(&url, "alice", "a").await?;
    let mut bob = Headless::register(&url, "bob", "b").await?;
    alice.type_line("/create lobby where we meet");
    alice.until("in the lobby", |a| a.current_room().is_some_and(|r| r.id == "lobby")).await?;
    bob.type_line("/join lobby");
    bob.until("in the lobby", |a| a.current_room().is_some_and(|r| r.id == "lobby" && r.topic == "where we meet"))
        .await?;

    alice.type_line("hello bob");
    bob.until("alice's message", in_room("lobby", 1)).await?;
    for c in "typing…".chars() {
        bob.input(key(KeyCode::Char(c)));
    }
    alice.until("bob is typing", |a| a.typing_text().as_deref() == Some("bob is typing…")).await?;
    bob.input(ctrl('u'));
    bob.type_line("hi alice");
    alice.until("bob's message", in_room("lobby", 2)).await?;

    // The server goes away and comes back on the same address and database.
    stop.cancel();
    task.await??;
    alice.until("alice notices", |a| !a.online()).await?;
    bob.until("bob notices", |a| !a.online()).await?;
    alice.type_line("sent while the server was down");
    let (_, stop, task) = start_server(&addr, &db).await?;
    let started = Instant::now();
    alice.until("alice is back and her message went out", in_room("lobby", 3)).await?;
    bob.until("bob is back with everything", in_room("lobby", 3)).await?;
    let reconnect = started.elapsed();
    if reconnect > Duration::from_secs(5) {
        bail!("reconnecting took {reconnect:?}");
    }
    bob.type_line("welcome back");
    alice.until("bob's last message", in_room("lobby", 4)).await?;
    bob.until("bob's own echo", in_room("lobby", 4)).await?;

    let seen_by_alice = alice.contents("lobby");
    assert_eq!(seen_by_alice, bob.contents("lobby"));
    let texts: Vec<&str> = seen_by_alice.iter().map(|(_, _, t)| t.as_str()).collect();
    assert_eq!(texts, ["hello bob", "hi alice", "sent while the server was down", "welcome back"]);
    assert_eq!(seen_by_alice.iter().map(|(s, _, _)| *s).collect::<Vec<_>>(), [1, 2, 3, 4]);
    stop.cancel();
    task.await??;
    Ok(())
}

#[tokio::test]
async fn two_people_find_each_other_by_name_and_talk_in_private() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (url, stop, task) = start_server("127.0.0.1:0", &dir.path().join("chaty.db")).await?;
    let mut alice = Headless::register(&url, "alice", "a").await?;
    let mut bob = Headless::register(&url, "bob", "b").await?;

    alice.type_line("/nick Alice Liddell");
    alice.until("alice is renamed", |a| a.my_name() == "Alice Liddell").await?;
    alice.type_line("/status down the rabbit hole");
    alice.until("alice's status", |a| a.people.status_text == "down the rabbit hole").await?;
    bob.type_line("/nick Bob 🎸");
    bob.until("bob is renamed", |a| a.my_name() == "Bob 🎸").await?;

    // Bob finds her by a word of her display name, and opens a DM from the list.
    bob.type_line("/users lidd");
    let found = |a: &App| a.people.picker.as_ref().is_some_and(|p| p.shown().iter().any(|u| u.user_id == "alice"));
    bob.until("alice in the list", found).await?;
    let listed = bob.app.people.picker.as_ref().map(|p| p.shown()[0].clone()).context("picker")?;
    assert_eq!((listed.display_name.as_str(), listed.status_text.as_str()), ("Alice Liddell", "down the rabbit hole"));
    bob.input(key(KeyCode::Enter));
    bob.until("in the DM", |a| a.current_room().is_some_and(|r| r.id == "dm:alice:bob")).await?;
    bob.type_line("hi Alice");
    alice.until("bob's DM", in_room("dm:alice:bob", 1)).await?;
    let dm = alice.app.rooms.iter().find(|r| r.id == "dm:alice:bob").context("dm")?;
    assert_eq!(dm.messages[0].user_name, "Bob 🎸", "the name he goes by");

    // Alice looks him up; he renames, and her member list follows.
    alice.type_line("/whois bob");
    alice.until("the card", |a| a.people.whois.as_ref().is_some_and(|w| w.person.display_name == "Bob 🎸")).await?;
    bob.type_line("/nick Robert");
    alice
        .until("the new name", |a| a.rooms.iter().any(|r| r.id == "dm:alice:bob" && r.display_name("bob") == "Robert"))
        .await?;
    stop.cancel();
    task.await??;
    Ok(())
}
