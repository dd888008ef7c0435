//! The server as a service: signals (SIGINT/SIGTERM stop it, SIGHUP reloads
//! its settings) and systemd's readiness protocol (`Type=notify`): READY=1
//! once it listens, RELOADING=1 … READY=1 around a reload, STOPPING=1 when it
//! begins to stop, and WATCHDOG=1 at half the unit's `WatchdogSec`. Outside
//! systemd (no `NOTIFY_SOCKET`) the notifications are nothing.

use std::time::Duration;

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;

fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!("telling systemd {states:?}: {e}");
    }
}

/// Tells systemd the server is up (listening, database open).
pub fn ready() {
    notify(&[NotifyState::Ready, NotifyState::Status("serving")]);
}

/// Pings systemd's watchdog at half its interval while the runtime runs: a
/// server whose runtime is stuck stops pinging and is restarted.
pub fn keep_watchdog(shutdown: CancellationToken) {
    let Some(interval) = sd_notify::watchdog_enabled() else { return };
    let every = (interval / 2).max(Duration::from_millis(100));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => notify(&[NotifyState::Watchdog]),
            }
        }
    });
}

/// A reload: re-reads the settings and applies what can change live.
/// `Ok` says what changed; `Err` why nothing was (the settings in use stay).
pub type Reload = Box<dyn Fn() -> Result<String, String> + Send + Sync>;

/// Cancels `shutdown` on SIGINT or SIGTERM, and runs `reload` on SIGHUP.
/// The handlers are in place when this returns, so a signal sent right
/// after "listening" is not missed.
pub fn watch_signals(shutdown: CancellationToken, reload: Reload) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = int.recv() => break,
                _ = term.recv() => break,
                _ = hup.recv() => {
                    let now = NotifyState::monotonic_usec_now().ok();
                    notify(&[Some(NotifyState::Reloading), now].into_iter().flatten().collect::<Vec<_>>());
                    match reload() {
                        Ok(what) => tracing::info!("reloaded the settings: {what}"),
                        Err(e) => tracing::error!("settings not reloaded, the ones in use stay: {e}"),
                    }
                    ready();
                }
            }
        }
        notify(&[NotifyState::Stopping]);
        tracing::info!("shutting down: closing connections, committing queued messages");
        shutdown.cancel();
    });
    Ok(())
}
