//! Deleting expired messages in the background (`--retention-days`, and
//! rooms' own limits; see `store/retention.rs`): at start and then every
//! minute, so a message is gone from `HISTORY` within a minute of expiring.
//! The limit is read from the settings in use each time, so a reload applies.

use std::sync::Arc;
use std::time::Duration;

use chaty_proto::time::now_millis;
use tokio_util::sync::CancellationToken;

use crate::config::LiveConfig;
use crate::store::Store;

/// How often expired messages are looked for.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

pub async fn run(store: Store, config: Arc<LiveConfig>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match store.expire(now_millis(), config.get().retention_days).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "deleted messages past their retention"),
            Err(e) => tracing::warn!("deleting expired messages: {e}"),
        }
    }
}
