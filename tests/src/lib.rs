//! Helpers for chaty's end-to-end tests: a server on a loopback port 0 with
//! its database in a temp dir, and a small WebSocket client whose every wait
//! is bounded by a timeout.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

pub use chaty_server::{Config, Registration};

pub mod services;

/// The longest any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// A running server. Dropping it without [`TestServer::stop`] aborts it.
pub struct TestServer {
    pub addr: SocketAddr,
    pub db: PathBuf,
    /// The server's own store, for what tests set up behind its back
    /// (e.g. `set_admin`, which has no frame).
    pub store: chaty_server::Store,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Starts a server on 127.0.0.1:0 with the database at `db`: that SQLite
    /// file, or with `CHATY_TEST_BACKEND=postgres` the PostgreSQL database that
    /// stands for it (made on first use, the same one for a restart).
    /// On PostgreSQL the server is a node of a cluster, with fan-out through
    /// the test binary's shared Redis: the whole suite runs through it.
    pub async fn start_at(db: &Path, config: Config) -> Result<Self> {
        match backend()? {
            Backend::Sqlite => Self::start_with(chaty_server::Store::open(db)?, db, config).await,
            Backend::Postgres => {
                let url = database_for(db).await?;
                let redis = services::Redis::shared().await?.url();
                let mut server = Self::start_node(&url, &redis, config).await?;
                server.db = db.to_path_buf();
                Ok(server)
            }
        }
    }

    /// Starts a server on the SQLite file `db`, whatever the backend: for
    /// tests of what the embedded store does with its files.
    pub async fn start_sqlite_at(db: &Path, config: Config) -> Result<Self> {
        Self::start_with(chaty_server::Store::open(db)?, db, config).await
    }

    /// Starts a server on the PostgreSQL database at `url`.
    pub async fn start_url(url: &str, config: Config) -> Result<Self> {
        Self::start_with(chaty_server::Store::open_url(url, false).await?, Path::new(url), config).await
    }

    /// Starts one node of a cluster: the PostgreSQL database at `url`, fan-out
    /// through the Redis at `redis`.
    pub async fn start_node(url: &str, redis: &str, config: Config) -> Result<Self> {
        let fanout = chaty_server::fanout::redis::Redis::connect(redis, None).await.map_err(anyhow::Error::msg)?;
        Self::start_cluster_node(url, fanout, config).await
    }

    /// [`TestServer::start_node`] with a Redis connection made by the caller.
    pub async fn start_cluster_node(
        url: &str,
        fanout: std::sync::Arc<chaty_server::fanout::redis::Redis>,
        config: Config,
    ) -> Result<Self> {
        let store = chaty_server::Store::open_url(url, true).await?;
        Self::start_on(store, Some(fanout), Path::new(url), config).await
    }

    async fn start_with(store: chaty_server::Store, db: &Path, config: Config) -> Result<Self> {
        Self::start_on(store, None, db, config).await
    }

    async fn start_on(
        store: chaty_server::Store,
        fanout: Option<std::sync::Arc<chaty_server::fanout::redis::Redis>>,
        db: &Path,
        config: Config,
    ) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let task = Some(tokio::spawn(chaty_server::run_on(
            listener,
            store.clone(),
            fanout,
            chaty_server::config::LiveConfig::new(config),
            shutdown.clone(),
        )));
        Ok(Self { addr, db: db.to_path_buf(), store, shutdown, task })
    }

    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// One HTTP/1.1 request; returns the status and the body.
    pub async fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(u16, Vec<u8>)> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tcp = TcpStream::connect(self.addr).await?;
        let mut head =
            format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        tcp.write_all(head.as_bytes()).await?;
        // The server may answer (413) before taking the whole body.
        let _ = tcp.write_all(body).await;
        let mut response = Vec::new();
        let _ = tokio::time::timeout(WAIT, tcp.read_to_end(&mut response)).await?;
        let split = response.windows(4).position(|w| w == b"\r\n\r\n").context("no HTTP head")?;
        let status_line = String::from_utf8_lossy(&response[..split]).lines().next().unwrap_or_default().to_string();
        let status = status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("no status")?;
        Ok((status, response[split + 4..].to_vec()))
    }

    /// `GET /healthz`, parsed.
    pub async fn health(&self) -> Result<Value> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tcp = TcpStream::connect(self.addr).await?;
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await?;
        let mut response = String::new();
        tokio::time::timeout(WAIT, tcp.read_to_string(&mut response)).await??;
        if !response.starts_with("HTTP/1.1 200") {
            bail!("healthz answered {response}");
        }
        Ok(serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap_or(""))?)
    }

    /// Graceful shutdown; waits until the store has committed everything.
    pub async fn stop(mut self) -> Result<()> {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(WAIT, task).await.context("server did not stop in time")???;
        }
        Ok(())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// The store the end-to-end tests run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// `CHATY_TEST_BACKEND`: `sqlite` (the default) or `postgres`. Anything else
/// is an error, not a silent default.
pub fn backend() -> Result<Backend> {
    match std::env::var("CHATY_TEST_BACKEND").as_deref() {
        Err(_) | Ok("") | Ok("sqlite") => Ok(Backend::Sqlite),
        Ok("postgres") => Ok(Backend::Postgres),
        Ok(other) => bail!("CHATY_TEST_BACKEND={other:?}: use sqlite or postgres"),
    }
}

/// The PostgreSQL database that stands for a test's database path (made on
/// first use, the same one for a restart).
async fn database_for(db: &Path) -> Result<String> {
    static DATABASES: std::sync::Mutex<Vec<(PathBuf, String)>> = std::sync::Mutex::new(Vec::new());
    let known = DATABASES
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .iter()
        .find(|(p, _)| p == db)
        .map(|(_, url)| url.clone());
    match known {
        Some(url) => Ok(url),
        None => {
            let url = services::Postgres::shared().await?.database().await?;
            DATABASES.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.push((db.to_path_buf(), url.clone()));
            Ok(url)
        }
    }
}

/// Guest mode on, everything else default.
pub fn guests() -> Config {
    Config { allow_guests: true, ..Config::default() }
}

/// A WebSocket client that speaks JSON frames.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The `WELCOME` frame this connection began with.
    pub welcome: Value,
}

impl Client {
    /// Connects and reads `WELCOME`.
    pub async fn connect(url: &str) -> Result<Self> {
        let (ws, _) =
            tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url)).await.context("connect timed out")??;
        let mut client = Self { ws, welcome: Value::Null };
        client.welcome = client.recv().await?;
        if client.welcome["type"] != "WELCOME" {
            bail!("first frame was not WELCOME: {}", client.welcome);
        }
        Ok(client)
    }

    /// Connects with extra request headers (e.g. `X-Forwarded-For`) and reads `WELCOME`.
    pub async fn connect_with(url: &str, headers: &[(&'static str, &str)]) -> Result<Self> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = url.into_client_request()?;
        for (name, value) in headers {
            request.headers_mut().append(*name, value.parse()?);
        }
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
            .await
            .context("connect timed out")??;
        let mut client = Self { ws, welcome: Value::Null };
        client.welcome = client.recv().await?;
        Ok(client)
    }

    /// Registers `name` (password `name-password`) on a new connection; returns the client and its `AUTH_OK`.
    pub async fn register(url: &str, name: &str) -> Result<(Self, Value)> {
        let mut c = Self::connect(url).await?;
        c.send(json!({"type": "REGISTER", "userName": name, "password": format!("{name}-password")})).await?;
        let ok = c.recv_type("AUTH_OK").await?;
        c.recv_type("ROOMS").await?;
        Ok((c, ok))
    }

    /// Logs `name` in on a new connection (password as in [`Client::register`]).
    pub async fn login(url: &str, name: &str) -> Result<Self> {
        let mut c = Self::connect(url).await?;
        c.send(json!({"type": "LOGIN", "userName": name, "password": format!("{name}-password")})).await?;
        c.recv_type("AUTH_OK").await?;
        c.recv_type("ROOMS").await?;
        Ok(c)
    }

    /// Joins `room` and waits until the join is confirmed.
    pub async fn join(&mut self, room: &str) -> Result<Value> {
        self.send(json!({"type": "JOIN_ROOM", "roomId": room})).await?;
        self.recv_type("ROOM_MEMBERS_UPDATE").await
    }

    pub async fn send(&mut self, frame: Value) -> Result<()> {
        self.send_text(&frame.to_string()).await
    }

    pub async fn send_text(&mut self, text: &str) -> Result<()> {
        self.send_message(Message::Text(text.into())).await
    }

    pub async fn send_message(&mut self, message: Message) -> Result<()> {
        tokio::time::timeout(WAIT, self.ws.send(message)).await.context("send timed out")??;
        Ok(())
    }

    /// The next WebSocket message of any kind (pings skipped).
    pub async fn next_message(&mut self) -> Result<Option<Message>> {
        loop {
            let next = tokio::time::timeout(WAIT, self.ws.next()).await.context("timed out waiting for a frame")?;
            match next {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(msg) => return Ok(Some(msg?)),
                None => return Ok(None),
            }
        }
    }

    /// The next JSON frame.
    pub async fn recv(&mut self) -> Result<Value> {
        match self.next_message().await? {
            Some(Message::Text(text)) => Ok(serde_json::from_str(&text)?),
            other => bail!("expected a text frame, got {other:?}"),
        }
    }

    /// Skips frames until one of `type` arrives.
    pub async fn recv_type(&mut self, kind: &str) -> Result<Value> {
        loop {
            let frame = self.recv().await?;
            if frame["type"] == kind {
                return Ok(frame);
            }
        }
    }

    /// Skips frames until the echo of this connection's message `client_id` arrives.
    pub async fn recv_echo(&mut self, client_id: &str) -> Result<Value> {
        loop {
            let frame = self.recv_type("CHAT_MESSAGE").await?;
            if frame["clientId"] == client_id {
                return Ok(frame);
            }
        }
    }

    /// Asserts that nothing was queued for this client: a `PING` sent now is
    /// answered by the very next frame. (Frames to one connection keep their
    /// order, so anything delivered earlier would come first.)
    pub async fn assert_nothing_pending(&mut self) -> Result<()> {
        self.send(json!({"type": "PING", "ref": "sync"})).await?;
        let next = self.recv().await?;
        if next["type"] != "PONG" {
            bail!("expected nothing before PONG, got {next}");
        }
        Ok(())
    }

    /// Sends `frame` and returns the `ERROR` it must provoke.
    pub async fn expect_error(&mut self, frame: Value) -> Result<Value> {
        self.send(frame).await?;
        self.recv_type("ERROR").await
    }

    /// Waits for the server to close the socket; returns the close code.
    pub async fn closed(&mut self) -> Result<Option<u16>> {
        loop {
            match self.next_message().await {
                Ok(Some(Message::Close(frame))) => return Ok(frame.map(|f| f.code.into())),
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return Ok(None),
            }
        }
    }
}
