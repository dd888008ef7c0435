//! What every connection shares: the hub, the store, the settings, the
//! shutdown signal and the login throttle. The listener builds one and hands
//! it to each connection, so connections depend on nothing of the listener.

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::hub::Hub;
use crate::limits::LoginThrottle;
use crate::store::Store;

pub struct Context {
    pub hub: Hub,
    pub store: Store,
    pub config: Config,
    /// Cancelled when the server shuts down: every connection closes with 1001.
    pub shutdown: CancellationToken,
    pub logins: LoginThrottle,
}

impl Context {
    pub fn new(store: Store, config: Config, shutdown: CancellationToken) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self { hub: Hub::new(), store, config, shutdown, logins: LoginThrottle::default() })
    }
}
