//! What every connection shares: the hub, the store, the settings, the
//! shutdown signal and the login throttle. The listener builds one and hands
//! it to each connection, so connections depend on nothing of the listener.

use tokio_util::sync::CancellationToken;

use crate::config::{Config, LiveConfig};
use crate::fanout::Fanout;
use crate::logins::Logins;
use crate::store::Store;

pub struct Context {
    /// Where frames go: this node's connections, and in a cluster the others'.
    pub fanout: Fanout,
    pub store: Store,
    config: std::sync::Arc<LiveConfig>,
    /// Cancelled when the server shuts down: every connection closes with 1001.
    pub shutdown: CancellationToken,
    pub logins: Logins,
    /// How late the runtime runs: past a bound, new messages are refused.
    pub busy: std::sync::Arc<crate::busy::Busy>,
}

impl Context {
    pub fn new(
        store: Store,
        fanout: Fanout,
        config: std::sync::Arc<LiveConfig>,
        shutdown: CancellationToken,
    ) -> std::sync::Arc<Self> {
        let logins =
            fanout.cluster().map_or_else(Logins::default, |redis| Logins::shared(redis.manager(), redis.prefix()));
        let busy = std::sync::Arc::default();
        std::sync::Arc::new(Self { fanout, store, config, shutdown, logins, busy })
    }

    /// The settings in use now (a reload may replace them).
    pub fn config(&self) -> std::sync::Arc<Config> {
        self.config.get()
    }
}
