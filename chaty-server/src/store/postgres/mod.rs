//! The PostgreSQL backend: a connection pool (deadpool), TLS with rustls and
//! the platform's roots, migrations under an advisory lock, and the SQL in
//! the submodules (`users`, `profiles`, `rooms`, `messages`, `files`). Every
//! write runs in one transaction; `synchronous_commit` is on, so COMMIT
//! returning means the message is durable before anyone is told.
//!
//! Order: the node's writer takes its posts in arrival order, stores what
//! has queued up in one transaction (`posting`, `batch`), and runs each
//! completion before the next batch, so on one node completions run in
//! `seq` order per room, as the SQLite writer guarantees; posting never
//! blocks the connection.

pub mod admin;
mod batch;
pub mod files;
pub mod invites;
pub mod messages;
pub mod moderation;
pub mod nodes;
mod posting;
pub mod profiles;
pub mod retention;
pub mod rooms;
mod schema;
pub mod search;
pub mod users;

use std::sync::{Arc, Mutex};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};

use crate::error::StoreError;

/// Connections per node.
const POOL_SIZE: usize = 16;

/// Whether the URL's host is this machine (or a Unix socket).
fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    matches!(host, "localhost" | "127.0.0.1" | "::1" | "") || host.starts_with('/')
}

#[derive(Clone)]
pub struct Postgres {
    pool: Pool,
    epoch: Arc<str>,
    /// This node's registration; the heartbeat stops with it.
    node: nodes::Node,
    heartbeat: tokio_util::sync::CancellationToken,
    /// Since when every heartbeat has gone through (none while they fail):
    /// a node only takes others for departed once its own heartbeats have
    /// gone through for longer than a node may be silent, so a database
    /// outage, where every heartbeat stops, never reads as everyone leaving.
    beating_since: Arc<Mutex<Option<std::time::Instant>>>,
    /// Set when this node found its row gone (see [`nodes::heartbeat`]).
    revived: Arc<std::sync::atomic::AtomicBool>,
    /// The session holding this node's advisory lock (see `nodes`): the lock
    /// lives exactly as long as this connection, so a node that dies frees it.
    lock_session: Arc<Mutex<Arc<tokio_postgres::Client>>>,
    /// How to open the lock session again after the database restarted.
    lock_config: Arc<(tokio_postgres::Config, tokio_postgres_rustls::MakeRustlsConnect)>,
    /// Posts under way, waited for at a clean stop.
    in_flight: tokio_util::task::TaskTracker,
    /// The node's writer's queue (see the module docs).
    posting: Arc<Mutex<posting::Posting>>,
}

/// `url` without its password (in the user part or as `?password=`), for
/// messages and logs.
pub fn redact(url: &str) -> String {
    let (url, _) = take_param(url, "password");
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            if user.is_empty() {
                // `redis://:password@host/`: no user name to keep.
                format!("{}{}", &url[..scheme + 3], &url[at + 1..])
            } else {
                format!("{}{user}{}", &url[..scheme + 3], &url[at..])
            }
        }
        _ => url,
    }
}

/// Removes query parameter `name` from `url` (tokio-postgres does not know
/// it), returning the rest and its value.
fn take_param(url: &str, name: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else { return (url.to_string(), None) };
    let mut value = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some((key, v)) if key == name => {
                value = Some(v.to_string());
                false
            }
            _ => true,
        })
        .collect();
    let url = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    (url, value)
}

/// A connection of the node's own that holds its liveness lock (see `nodes`).
async fn open_lock_session(
    config: &tokio_postgres::Config,
    tls: &tokio_postgres_rustls::MakeRustlsConnect,
) -> Result<tokio_postgres::Client, StoreError> {
    let (session, connection) = config.connect(tls.clone()).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!("the node's lock session ended: {e}");
        }
    });
    Ok(session)
}

/// Whether `db` names a PostgreSQL database rather than a SQLite file.
pub fn is_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// TLS as libpq's `verify-full`: the platform's roots, or only the CA
/// certificates in `sslrootcert` when the URL names that file.
fn tls(root_cert: Option<&str>) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    match root_cert {
        Some(path) => {
            use rustls_pki_types::pem::PemObject;
            let unreadable = |e: &dyn std::fmt::Display| {
                StoreError::Io(std::io::Error::other(format!("cannot read sslrootcert {path}: {e}")))
            };
            let certs: Vec<_> = rustls_pki_types::CertificateDer::pem_file_iter(path)
                .map_err(|e| unreadable(&e))?
                .collect::<Result<_, _>>()
                .map_err(|e| unreadable(&e))?;
            for cert in certs {
                roots.add(cert).map_err(|e| unreadable(&e))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Io(std::io::Error::other(e)))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

impl Postgres {
    /// Connects, migrates and reads the epoch. `sslmode=require` and
    /// `verify-full` both verify the server's certificate against the
    /// platform's roots (rustls does not do unverified TLS).
    pub async fn connect(url: &str, shared_fanout: bool) -> Result<Self, StoreError> {
        Self::connect_as(url, Some(shared_fanout)).await
    }

    /// Connects for the admin CLI: migrates, but registers no node and
    /// beats no heartbeat, so it runs beside the servers.
    pub async fn connect_admin(url: &str) -> Result<Self, StoreError> {
        Self::connect_as(url, None).await
    }

    /// `node`: `Some(shared_fanout)` for a server node, `None` for the admin CLI.
    async fn connect_as(url: &str, node: Option<bool>) -> Result<Self, StoreError> {
        let (url, root_cert) = take_param(url, "sslrootcert");
        let mut normalised =
            url.replace("sslmode=verify-full", "sslmode=require").replace("sslmode=verify-ca", "sslmode=require");
        if !normalised.contains("sslmode=") && is_loopback(&normalised) {
            // libpq's default `prefer` would try TLS, and a loopback server's
            // snakeoil certificate would then fail verification: on loopback,
            // without an sslmode, connect in plain text as libpq effectively does.
            normalised.push_str(if normalised.contains('?') { "&sslmode=disable" } else { "?sslmode=disable" });
        }
        let mut config: tokio_postgres::Config = normalised
            .parse()
            .map_err(|e: tokio_postgres::Error| StoreError::Io(std::io::Error::other(e.to_string())))?;
        // A database host that stops answering fails requests in seconds, not hours.
        config.connect_timeout(std::time::Duration::from_secs(5)).keepalives_idle(std::time::Duration::from_secs(30));
        let tls = tls(root_cert.as_deref())?;
        let lock_session = open_lock_session(&config, &tls).await?;
        let lock_config = Arc::new((config.clone(), tls.clone()));
        let manager = Manager::from_config(config, tls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        // Bounded waits: while the database is down, requests fail quickly
        // (ERROR internal) instead of piling up.
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(std::time::Duration::from_secs(5)))
            .create_timeout(Some(std::time::Duration::from_secs(5)))
            .recycle_timeout(Some(std::time::Duration::from_secs(5)))
            .build()
            .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))?;
        let mut client = pool.get().await?;
        let epoch = schema::migrate(&mut client).await?;
        let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
        let serving = node.is_some();
        let node = nodes::Node {
            id: crate::store::random_hex(8),
            label: format!("{host} pid {}", std::process::id()),
            shared_fanout: node.unwrap_or(false),
        };
        if serving {
            nodes::register(&lock_session, &**client, &node).await?;
        }
        drop(client);
        let db = Self {
            pool,
            epoch: epoch.into(),
            node,
            heartbeat: Default::default(),
            beating_since: Arc::new(Mutex::new(Some(std::time::Instant::now()))),
            revived: Arc::default(),
            lock_session: Arc::new(Mutex::new(Arc::new(lock_session))),
            lock_config,
            in_flight: Default::default(),
            posting: Arc::default(),
        };
        if serving {
            db.keep_alive();
        }
        Ok(db)
    }

    /// Beats the node's heartbeat until [`Postgres::close`].
    fn keep_alive(&self) {
        let (db, stop) = (self.clone(), self.heartbeat.clone());
        tokio::spawn(async move {
            let period = std::time::Duration::from_millis(nodes::HEARTBEAT_MS as u64);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(period) => {}
                }
                db.renew_lock_session().await;
                let beat = async { nodes::heartbeat(&**db.client().await?, &db.node).await }.await;
                let mut since = db.beating_since.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                match beat {
                    Ok(present) => {
                        since.get_or_insert_with(std::time::Instant::now);
                        if !present {
                            tracing::warn!("this node was taken for departed (its heartbeat was late); it is back");
                            db.revived.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    Err(e) => {
                        *since = None;
                        tracing::warn!("node heartbeat: {e}");
                    }
                }
            }
        });
    }

    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    fn session(&self) -> Arc<tokio_postgres::Client> {
        self.lock_session.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// After the database restarted (or the session dropped), opens the
    /// lock session again and takes the liveness lock back.
    async fn renew_lock_session(&self) {
        if !self.session().is_closed() {
            return;
        }
        let (config, tls) = &*self.lock_config;
        let session = match open_lock_session(config, tls).await {
            Ok(session) => session,
            Err(e) => return tracing::debug!("reopening the node's lock session: {e}"),
        };
        match nodes::take_lock(&session, &self.node).await {
            Ok(true) => {
                tracing::info!("the node's lock session is back");
                *self.lock_session.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(session);
            }
            Ok(false) => tracing::error!(
                "while this node's lock session was down, a node without a shared fan-out started on the same \
                 database: rooms are split between them; stop one of them"
            ),
            Err(e) => tracing::debug!("taking the node lock back: {e}"),
        }
    }

    /// This node's id in the `nodes` table.
    pub fn node_id(&self) -> &str {
        &self.node.id
    }

    /// Whether this node's heartbeats have gone through for longer than a
    /// node may be silent (see `beating_since`).
    pub fn settled(&self) -> bool {
        let since = *self.beating_since.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        since.is_some_and(|t| t.elapsed() >= std::time::Duration::from_millis(nodes::STALE_MS as u64))
    }

    /// True once after this node found itself taken for departed.
    pub fn take_revived(&self) -> bool {
        self.revived.swap(false, std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits for posts under way, leaves the node registry (lock and row)
    /// and closes the pool.
    pub async fn close(self) {
        // The writer finishes what is queued, then ends (its queue closes).
        self.posting().take();
        self.in_flight.close();
        self.in_flight.wait().await;
        self.heartbeat.cancel();
        if let Err(e) = self.session().execute("SELECT pg_advisory_unlock_all()", &[]).await {
            tracing::warn!("releasing the node lock: {e}");
        }
        // A node of a cluster leaves its row for another node to claim, as
        // if it had crashed: that node announces whoever of its users did
        // not come back elsewhere (see `connection/departed.rs`).
        if !self.node.shared_fanout {
            let left = async { nodes::leave(&**self.client().await?, &self.node.id).await };
            if let Err(e) = left.await {
                tracing::warn!("leaving the node registry: {e}");
            }
        }
        self.pool.close();
    }

    /// A pooled connection.
    pub async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        Ok(self.pool.get().await?)
    }
}
