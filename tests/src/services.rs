//! Real PostgreSQL, Redis and nginx servers for the end-to-end tests: no mocks,
//! no containers, nothing downloaded. Each runs from the machine's own binaries
//! (Debian's `postgresql`, `redis-server` and `nginx` packages, which `.ci/run`
//! installs), in its own temp dir, on a free loopback port, so the system
//! instances and the default ports are never used. A missing binary fails the
//! test with the `apt-get install` line that brings it; nothing is skipped.
//!
//! - [`Postgres::shared`]: one cluster per test binary, started on first use;
//!   [`Postgres::database`] gives each test a fresh database in it.
//!   [`Postgres::dedicated`] is a cluster of one test's own, the only kind that
//!   [`Postgres::stop_immediate`] and [`Postgres::start`] work on (fault tests).
//! - [`Redis::start`]: a `redis-server` child, with [`Redis::kill`] (SIGKILL)
//!   and [`Redis::restart`] on the same port.
//! - [`Nginx::start`]: a reverse proxy in front of some servers, forwarding
//!   WebSocket upgrades, skipping a dead upstream.
//!
//! Every wait is bounded by [`START_TIMEOUT`]; its error says what it waited
//! for and ends with the tail of the service's log.
//!
//! # Cleanup, even when the test process dies
//!
//! Statics are never dropped, and a panic that aborts or a SIGKILL skips every
//! `Drop`, so the cleanup of each service lives in a *watchdog*: a small `sh`,
//! started next to the service in a process group of its own (a Ctrl-C to the
//! tests doesn't reach it), that blocks reading a pipe whose only writer is
//! the test process. The pipe closes when the test process lets go of it —
//! a `Drop`, the process's exit, a panic, a kill, whatever the cause — and
//! the watchdog then stops the service (`pg_ctl stop -m immediate` for
//! PostgreSQL; SIGKILL by the PID in the temp dir for the others) and removes
//! the temp dir. So the normal path and the crash path are the same script,
//! exercised by every test. A `Drop` closes the pipe and waits for the
//! watchdog, so the service is gone when the drop returns (redis and nginx
//! are this process's children: their `Drop` kills and reaps them first, and
//! the watchdog's SIGKILL is for the crash path). The shared cluster sits in
//! a static and goes when the test binary exits.
//!
//! PostgreSQL's `initdb` and `pg_ctl` refuse to run as root, so as root they
//! run as the `postgres` user (`runuser -u postgres --`) in a temp dir that
//! user owns. Clusters are UTF8 with the C locale (an unset `LANG` would make
//! initdb pick SQL_ASCII) and run with `fsync = off`. nginx runs as a single
//! process (`master_process off`), so one SIGKILL leaves no worker behind.
//!
//! The waits poll the real clock: not for tests on tokio's paused clock.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::OnceCell;

/// The longest a service may take to start, stop or answer a command.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;

// ---------------------------------------------------------------- PostgreSQL

/// A PostgreSQL cluster in a temp dir, listening on 127.0.0.1 only, with
/// `trust` authentication for the `postgres` superuser.
pub struct Postgres {
    /// The temp dir: `data/`, `postgres.log` and the Unix socket.
    dir: PathBuf,
    /// The directory holding `initdb`, `pg_ctl` and `postgres`.
    bin: PathBuf,
    psql: PathBuf,
    port: u16,
    /// Running as root: initdb and pg_ctl run as the `postgres` user.
    as_postgres: bool,
    dedicated: bool,
    next_database: AtomicU32,
    _watchdog: Watchdog,
}

static SHARED_POSTGRES: OnceCell<Postgres> = OnceCell::const_new();

impl Postgres {
    /// The test binary's one shared cluster, started on first use and stopped
    /// (its temp dir removed) when the test process exits.
    pub async fn shared() -> Result<&'static Postgres> {
        SHARED_POSTGRES.get_or_try_init(|| Self::launch(false)).await
    }

    /// A cluster of the calling test's own, for fault tests
    /// ([`Postgres::stop_immediate`], [`Postgres::start`]); stopped and removed on drop.
    pub async fn dedicated() -> Result<Postgres> {
        Self::launch(true).await
    }

    async fn launch(dedicated: bool) -> Result<Postgres> {
        let bin = postgres_bin()?;
        let psql = [bin.join("psql")]
            .into_iter()
            .find(|p| is_executable(p))
            .or_else(|| find_in_path("psql"))
            .ok_or_else(|| anyhow!("{POSTGRES_MISSING} (initdb is in {}, psql nowhere)", bin.display()))?;
        let as_postgres = is_root();
        let runuser = if as_postgres { Some(find_program("runuser", "util-linux")?) } else { None };
        let dir = temp_dir("chaty-pg-")?;
        let port = free_port()?;

        let mut postgres = Postgres {
            bin,
            psql,
            port,
            as_postgres,
            dedicated,
            next_database: AtomicU32::new(1),
            _watchdog: Watchdog::inert(),
            dir,
        };
        // The watchdog first, so a crash from here on leaves nothing behind.
        let stop = postgres.pg_ctl_shell(&runuser, &["stop", "-m", "immediate", "-w", "-t", "10"]);
        postgres._watchdog = Watchdog::spawn(&format!("{stop} >/dev/null 2>&1\nrm -rf {}", sh_quote(&postgres.dir)))?;

        if as_postgres {
            let mut chown = Command::new("chown");
            chown.arg("postgres:").arg(&postgres.dir);
            run(&mut chown, "chown postgres: (as root, PostgreSQL runs as the postgres user)", START_TIMEOUT)
                .await
                .context("is there a postgres user? apt-get install postgresql creates it")?;
        }
        let data = postgres.data();
        let mut initdb = postgres.as_owner("initdb");
        initdb.arg("-D").arg(&data).args([
            "--auth=trust",
            "-U",
            "postgres",
            "--no-sync",
            "--encoding=UTF8",
            "--locale=C",
        ]);
        run(&mut initdb, "initdb", START_TIMEOUT).await?;

        // Settings live in postgresql.conf, so start() after stop_immediate()
        // comes back with the same port and socket. fsync is off: the fault
        // tests crash the server, never the machine, and a commit's WAL is
        // written to the OS before the client hears of it, so nothing
        // committed is lost. (synchronous_commit stays on: off, a crash loses
        // the last commits, which a real server doesn't.)
        let settings = format!(
            "\n# chaty tests (tests/src/services.rs)\n\
             port = {port}\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{socket}'\n\
             max_connections = 200\n\
             fsync = off\n\
             full_page_writes = off\n",
            socket = postgres.dir.display(),
        );
        OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .and_then(|mut conf| conf.write_all(settings.as_bytes()))
            .context("writing postgresql.conf")?;
        postgres.pg_ctl_start().await?;
        Ok(postgres)
    }

    /// The cluster's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `name` in this cluster.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates a fresh, empty database (`t_<n>`) and returns its URL.
    pub async fn database(&self) -> Result<String> {
        let name = format!("t_{}", self.next_database.fetch_add(1, Ordering::Relaxed));
        self.psql("postgres", &format!("CREATE DATABASE {name}")).await?;
        Ok(self.url(&name))
    }

    /// Runs `sql` with psql in `database` (a name in this cluster, or a URL)
    /// and returns what it printed: unaligned, tuples only.
    pub async fn psql(&self, database: &str, sql: &str) -> Result<String> {
        let mut psql = Command::new(&self.psql);
        psql.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres"])
            .args(["-p", &self.port.to_string(), "-d", database, "-c", sql])
            .env("PGCONNECT_TIMEOUT", "10");
        run(&mut psql, &format!("psql -d {database} -c {sql:?}"), START_TIMEOUT).await
    }

    /// `pg_ctl stop -m immediate`: the server dies as if it crashed. Only on a
    /// [`Postgres::dedicated`] cluster.
    pub async fn stop_immediate(&self) -> Result<()> {
        self.fault_test_only("stop_immediate")?;
        let mut stop = self.pg_ctl(&["stop", "-m", "immediate", "-w", "-t", "20"]);
        run(&mut stop, "pg_ctl stop -m immediate", START_TIMEOUT + Duration::from_secs(5))
            .await
            .map(drop)
            .map_err(|e| anyhow!("{e:#}\n{}", self.log_tail()))
    }

    /// Starts the server again on the same port with the same data (after
    /// [`Postgres::stop_immediate`]). Only on a [`Postgres::dedicated`] cluster.
    pub async fn start(&self) -> Result<()> {
        self.fault_test_only("start")?;
        self.pg_ctl_start().await
    }

    /// Turns on TLS with this certificate chain and key (PEM), as
    /// `server.crt`/`server.key` in the data dir, owned by the server's user,
    /// key mode 0600. Only on a [`Postgres::dedicated`] cluster.
    pub async fn enable_tls(&self, cert_pem: &str, key_pem: &str) -> Result<()> {
        self.fault_test_only("enable_tls")?;
        for (name, pem) in [("server.crt", cert_pem), ("server.key", key_pem)] {
            let path = self.data().join(name);
            fs::write(&path, pem).with_context(|| format!("writing {}", path.display()))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
            }
            if self.as_postgres {
                let mut chown = Command::new("chown");
                chown.arg("postgres:").arg(&path);
                run(&mut chown, "chown postgres: server.crt/server.key", START_TIMEOUT).await?;
            }
        }
        self.psql("postgres", "ALTER SYSTEM SET ssl = on").await?;
        self.psql("postgres", "SELECT pg_reload_conf()").await?;
        Ok(())
    }

    fn fault_test_only(&self, what: &str) -> Result<()> {
        if !self.dedicated {
            bail!("Postgres::{what} on the shared cluster would break every other test: use Postgres::dedicated()");
        }
        Ok(())
    }

    async fn pg_ctl_start(&self) -> Result<()> {
        let log = self.dir.join("postgres.log");
        let mut start = self.pg_ctl(&["start", "-w", "-t", &START_TIMEOUT.as_secs().to_string(), "-l"]);
        start.arg(&log);
        run(&mut start, &format!("pg_ctl start (port {})", self.port), START_TIMEOUT + Duration::from_secs(5))
            .await
            .map_err(|e| anyhow!("{e:#}\n{}", self.log_tail()))?;
        Ok(())
    }

    fn log_tail(&self) -> String {
        format!("--- postgres.log ---\n{}", tail(&self.dir.join("postgres.log")))
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `program` from the PostgreSQL bin dir, run as the data dir's owner.
    fn as_owner(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut runuser = Command::new("runuser");
            runuser.args(["-u", "postgres", "--"]).arg(program);
            runuser
        } else {
            Command::new(program)
        };
        // The user's own cwd may be out of postgres's reach.
        command.current_dir(&self.dir);
        command
    }

    fn pg_ctl(&self, args: &[&str]) -> Command {
        let mut pg_ctl = self.as_owner("pg_ctl");
        pg_ctl.arg("-D").arg(self.data()).args(args);
        pg_ctl
    }

    /// The same as [`Postgres::pg_ctl`], as a shell command for the watchdog.
    fn pg_ctl_shell(&self, runuser: &Option<PathBuf>, args: &[&str]) -> String {
        let mut words = Vec::new();
        if let Some(runuser) = runuser {
            words.extend([sh_quote(runuser), "-u postgres --".to_string()]);
        }
        words.extend([sh_quote(&self.bin.join("pg_ctl")), "-D".to_string(), sh_quote(&self.data())]);
        words.extend(args.iter().map(|a| sh_quote(Path::new(a))));
        format!("cd {} && {}", sh_quote(&self.dir), words.join(" "))
    }
}

const POSTGRES_MISSING: &str = "PostgreSQL is not installed: apt-get install postgresql (.ci/run installs it)";

/// The directory with `initdb`, `pg_ctl` and `postgres`: the one `initdb` in
/// PATH resolves to, else the newest `/usr/lib/postgresql/<version>/bin`.
fn postgres_bin() -> Result<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(initdb) = find_in_path("initdb") {
        let initdb = fs::canonicalize(&initdb).unwrap_or(initdb);
        candidates.extend(initdb.parent().map(Path::to_path_buf));
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| Some((entry.file_name().to_str()?.parse().ok()?, entry.path().join("bin"))))
        .collect();
    versions.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    candidates.extend(versions.into_iter().map(|(_, bin)| bin));
    candidates
        .into_iter()
        .find(|bin| ["initdb", "pg_ctl", "postgres"].iter().all(|p| is_executable(&bin.join(p))))
        .ok_or_else(|| {
            anyhow!("{POSTGRES_MISSING} (no initdb, pg_ctl and postgres in PATH or /usr/lib/postgresql/*/bin)")
        })
}

// --------------------------------------------------------------------- Redis

/// A `redis-server` on 127.0.0.1, no persistence, in a temp dir.
pub struct Redis {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    /// The TLS port, for [`Redis::start_tls`].
    tls_port: Option<u16>,
    child: Option<Child>,
    _watchdog: Watchdog,
}

static SHARED_REDIS: OnceCell<Redis> = OnceCell::const_new();

impl Redis {
    /// The test binary's shared `redis-server`, started on first use (nodes
    /// on different databases do not hear each other: their keys and
    /// channels carry the database's epoch).
    pub async fn shared() -> Result<&'static Redis> {
        SHARED_REDIS.get_or_try_init(Redis::start).await
    }

    /// Starts `redis-server` on a free port and waits until it answers `PING`.
    pub async fn start() -> Result<Redis> {
        let bin = find_program("redis-server", "redis-server")?;
        let dir = temp_dir("chaty-redis-")?;
        let watchdog = Watchdog::for_pid_file(&dir)?;
        let mut redis = Redis { port: free_port()?, tls_port: None, dir, bin, child: None, _watchdog: watchdog };
        redis.spawn()?;
        redis.wait_ready().await?;
        Ok(redis)
    }

    /// Like [`Redis::start`], also serving TLS (no client certificates) with
    /// this certificate and key on a second port: [`Redis::tls_url`].
    pub async fn start_tls(cert_pem: &str, key_pem: &str) -> Result<Redis> {
        let bin = find_program("redis-server", "redis-server")?;
        let dir = temp_dir("chaty-redis-")?;
        fs::write(dir.join("server.crt"), cert_pem)?;
        fs::write(dir.join("server.key"), key_pem)?;
        let watchdog = Watchdog::for_pid_file(&dir)?;
        let tls_port = Some(free_port()?);
        let mut redis = Redis { port: free_port()?, tls_port, dir, bin, child: None, _watchdog: watchdog };
        redis.spawn()?;
        redis.wait_ready().await?;
        Ok(redis)
    }

    /// `rediss://127.0.0.1:port/` (after [`Redis::start_tls`]).
    pub fn tls_url(&self) -> String {
        format!("rediss://127.0.0.1:{}/", self.tls_port.unwrap_or_default())
    }

    /// Its address, 127.0.0.1:port.
    pub fn addr(&self) -> SocketAddr {
        (LOOPBACK, self.port).into()
    }

    /// `redis://127.0.0.1:port/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// One `PING` over a fresh connection; `Ok` on `+PONG`.
    pub async fn ping(&self) -> Result<()> {
        redis_ping(self.addr()).await
    }

    /// SIGKILL: the server is gone at once, nothing saved (fault tests).
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().context("killing redis-server")?;
            child.wait().context("reaping redis-server")?;
        }
        remove_pid_file(&self.dir);
        Ok(())
    }

    /// Starts the server again on the same port (killing it first if it still
    /// runs) and waits until it answers `PING`. It comes back empty.
    pub async fn restart(&mut self) -> Result<()> {
        self.kill()?;
        self.spawn()?;
        self.wait_ready().await
    }

    fn spawn(&mut self) -> Result<()> {
        let log = append(&self.dir.join("redis.log"))?;
        let mut command = Command::new(&self.bin);
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--logfile", ""]);
        if let Some(tls_port) = self.tls_port {
            command.args(["--tls-port", &tls_port.to_string(), "--tls-auth-clients", "no"]).args([
                "--tls-cert-file",
                "server.crt",
                "--tls-key-file",
                "server.key",
            ]);
        }
        command
            .arg("--dir")
            .arg(&self.dir)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        self.child = Some(spawn_with_pid_file(&mut command, &self.dir, "redis-server")?);
        Ok(())
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let (addr, log) = (self.addr(), self.dir.join("redis.log"));
        let what = format!("redis-server on port {} to answer PING", self.port);
        wait_for(&what, &mut self.child, &log, || redis_ping(addr)).await
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        // The watchdog (dropped next) removes the temp dir.
        let _ = self.kill();
    }
}

// --------------------------------------------------------------------- nginx

/// nginx on 127.0.0.1 as a reverse proxy (WebSocket upgrades included) in
/// front of a set of upstream servers.
pub struct Nginx {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
    _watchdog: Watchdog,
}

impl Nginx {
    /// Starts nginx on a free port, proxying everything (`/ws` included) to
    /// `upstreams` round-robin, each `max_fails=1 fail_timeout=1s`, trying the
    /// next one on a connection error or timeout; waits until the port accepts.
    pub async fn start(upstreams: &[SocketAddr]) -> Result<Nginx> {
        if upstreams.is_empty() {
            bail!("Nginx::start needs at least one upstream");
        }
        let bin = find_program("nginx", "nginx")?;
        let dir = temp_dir("chaty-nginx-")?;
        let watchdog = Watchdog::for_pid_file(&dir)?;
        let port = free_port()?;
        fs::write(dir.join("nginx.conf"), nginx_conf(&dir, port, upstreams)).context("writing nginx.conf")?;

        let log = append(&dir.join("error.log"))?;
        let mut command = Command::new(bin);
        command
            .arg("-p")
            .arg(format!("{}/", dir.display()))
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .args(["-g", "daemon off;"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = spawn_with_pid_file(&mut command, &dir, "nginx")?;
        let mut nginx = Nginx { dir, port, child: Some(child), _watchdog: watchdog };
        nginx.wait_ready().await?;
        Ok(nginx)
    }

    /// Its address, 127.0.0.1:port.
    pub fn addr(&self) -> SocketAddr {
        (LOOPBACK, self.port).into()
    }

    /// The chat endpoint through the proxy: `ws://127.0.0.1:port/ws`.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let (addr, log) = (self.addr(), self.dir.join("error.log"));
        let what = format!("nginx to accept connections on port {}", self.port);
        wait_for(&what, &mut self.child, &log, || async move {
            let connect = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(addr));
            connect.await.map_err(|_| anyhow!("connect timed out"))??;
            Ok(())
        })
        .await
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        remove_pid_file(&self.dir);
    }
}

fn nginx_conf(dir: &Path, port: u16, upstreams: &[SocketAddr]) -> String {
    let d = dir.display();
    let servers: String =
        upstreams.iter().map(|addr| format!("        server {addr} max_fails=1 fail_timeout=1s;\n")).collect();
    // As root nginx would switch its workers to `nobody`, who can't read the
    // temp dir; single-process mode switches to no one, `user root` says so.
    let user = if is_root() { "user root;\n" } else { "" };
    format!(
        "# chaty tests (tests/src/services.rs): everything in this dir, nothing system-wide.
{user}master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    upstream chaty {{
{servers}    }}
    server {{
        listen 127.0.0.1:{port};
        # `/` covers `/ws` and the HTTP routes (/healthz, files).
        location / {{
            proxy_pass http://chaty;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 120s;
            # A dead node on loopback refuses at once; a hung one costs 2 s.
            proxy_connect_timeout 2s;
            proxy_next_upstream error timeout;
        }}
    }}
}}
"
    )
}

// ------------------------------------------------------------------- helpers

/// One `PING` to the redis at `addr` over a fresh connection; `Ok` on `+PONG`.
async fn redis_ping(addr: SocketAddr) -> Result<()> {
    let exchange = async {
        let mut tcp = TcpStream::connect(addr).await?;
        tcp.write_all(b"*1\r\n$4\r\nPING\r\n").await?;
        let mut reply = Vec::new();
        let mut chunk = [0; 256];
        while !reply.ends_with(b"\r\n") && reply.len() < 4096 {
            let n = tcp.read(&mut chunk).await?;
            if n == 0 {
                bail!("connection closed after {:?}", String::from_utf8_lossy(&reply));
            }
            reply.extend_from_slice(&chunk[..n]);
        }
        if reply != b"+PONG\r\n" {
            bail!("PING answered {:?}", String::from_utf8_lossy(&reply));
        }
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .map_err(|_| anyhow!("no answer to PING within 5 s"))?
        .with_context(|| format!("PING to redis at {addr}"))
}

/// Polls `probe` until it succeeds: an error if `child` exits first, or after
/// [`START_TIMEOUT`]; either ends with the tail of `log`.
async fn wait_for<F, Fut>(what: &str, child: &mut Option<Child>, log: &Path, mut probe: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let Err(error) = probe().await else { return Ok(()) };
        let log = || format!("--- {} ---\n{}", log.display(), tail(log));
        if let Some(status) = exited(child)? {
            bail!("waiting for {what}: it exited ({status})\n{}", log());
        }
        if Instant::now() >= deadline {
            bail!("waiting for {what}: nothing within {START_TIMEOUT:?}, last {error:#}\n{}", log());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A `sh` that runs a cleanup script once the pipe from this process closes:
/// on drop, or when the test process ends in any way (see the module docs).
struct Watchdog {
    stdin: Option<ChildStdin>,
    child: Option<Child>,
}

impl Watchdog {
    fn spawn(cleanup: &str) -> Result<Watchdog> {
        // `read` returns at end of input, whatever closed the pipe.
        let script = format!("read -r _ignored\n{cleanup}\n");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("starting the cleanup watchdog (sh)")?;
        Ok(Watchdog { stdin: child.stdin.take(), child: Some(child) })
    }

    /// SIGKILL to the PID in `dir/pid` (if any), then `rm -rf dir`.
    fn for_pid_file(dir: &Path) -> Result<Watchdog> {
        let pid = sh_quote(&dir.join("pid"));
        Watchdog::spawn(&format!(
            "if [ -f {pid} ]; then kill -9 \"$(cat {pid})\" 2>/dev/null; fi\nrm -rf {}",
            sh_quote(dir)
        ))
    }

    /// A placeholder until the real one is spawned.
    fn inert() -> Watchdog {
        Watchdog { stdin: None, child: None }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Some(mut child) = self.child.take() {
            // Bounded: its script has bounded waits only.
            let _ = child.wait();
        }
    }
}

/// Spawns `command` and records its PID in `dir/pid` for the watchdog.
fn spawn_with_pid_file(command: &mut Command, dir: &Path, what: &str) -> Result<Child> {
    let mut child = command.spawn().with_context(|| format!("starting {what}: {command:?}"))?;
    if let Err(e) = fs::write(dir.join("pid"), child.id().to_string()) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e).context("writing the PID file");
    }
    Ok(child)
}

/// Once the process is reaped, its PID may be someone else's: forget it.
fn remove_pid_file(dir: &Path) {
    let _ = fs::remove_file(dir.join("pid"));
}

/// `Some(status)` if the child has exited.
fn exited(child: &mut Option<Child>) -> Result<Option<std::process::ExitStatus>> {
    match child {
        Some(child) => Ok(child.try_wait()?),
        None => Ok(None),
    }
}

/// Runs a short command to completion within `timeout`; returns its output
/// (stdout and stderr together), or an error that shows it.
async fn run(command: &mut Command, what: &str, timeout: Duration) -> Result<String> {
    // A file, not a pipe: nothing to drain while waiting, and a daemon the
    // command leaves behind can't hold the wait open.
    let mut output = tempfile::tempfile().context("creating a file for a command's output")?;
    command.stdin(Stdio::null()).stdout(output.try_clone()?).stderr(output.try_clone()?);
    let mut child = command.spawn().with_context(|| format!("starting {what}: {command:?}"))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{what} did not finish within {timeout:?}: {command:?}\n{}", read_all(&mut output));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let text = read_all(&mut output);
    if !status.success() {
        bail!("{what} failed ({status}): {command:?}\n{text}");
    }
    Ok(text)
}

fn read_all(file: &mut File) -> String {
    let mut bytes = Vec::new();
    let _ = file.seek(SeekFrom::Start(0)).and_then(|_| file.read_to_end(&mut bytes));
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The last 30 lines of a log file.
fn tail(path: &Path) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(30)..].join("\n")
        }
        Err(e) => format!("({}: {e})", path.display()),
    }
}

fn append(path: &Path) -> Result<File> {
    OpenOptions::new().create(true).append(true).open(path).with_context(|| format!("opening {}", path.display()))
}

/// A new temp dir that stays until its watchdog removes it.
fn temp_dir(prefix: &str) -> Result<PathBuf> {
    Ok(tempfile::Builder::new().prefix(prefix).tempdir().context("creating a temp dir")?.keep())
}

/// A loopback port nobody listens on right now.
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind((LOOPBACK, 0)).context("binding 127.0.0.1:0 to find a free port")?;
    Ok(listener.local_addr()?.port())
}

fn is_root() -> bool {
    // /proc/self belongs to the process's effective user.
    fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| is_executable(p))
}

/// `name` from PATH, or from the sbin dirs a non-root PATH may lack.
fn find_program(name: &str, package: &str) -> Result<PathBuf> {
    find_in_path(name)
        .or_else(|| {
            ["/usr/sbin", "/usr/bin", "/sbin"].iter().map(|d| Path::new(d).join(name)).find(|p| is_executable(p))
        })
        .ok_or_else(|| anyhow!("{name} is not installed: apt-get install {package} (.ci/run installs it)"))
}

/// `path` as one single-quoted shell word.
fn sh_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_says_how_to_install_it() {
        let missing = find_program("chaty-no-such-program", "redis-server").expect_err("found a program that isn't");
        assert_eq!(
            missing.to_string(),
            "chaty-no-such-program is not installed: apt-get install redis-server (.ci/run installs it)"
        );
        assert!(POSTGRES_MISSING.starts_with("PostgreSQL is not installed: apt-get install postgresql"));
    }

    #[test]
    fn shell_words_survive_quotes_and_spaces() {
        assert_eq!(sh_quote(Path::new("/tmp/it's here")), r"'/tmp/it'\''s here'");
    }
}
