//! Login throttling for a node: its own [`LoginThrottle`], and in a cluster
//! the same counts shared through Redis, so spreading guesses over nodes
//! does not multiply them. Both are kept; a key is locked when either says
//! so. While Redis is unreachable each node still throttles on its own.

use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::time::Instant;

use crate::limits::{LoginThrottle, lock_after};

/// How long a key's failures are remembered in Redis after the last one.
const REMEMBER: Duration = Duration::from_secs(3600);
/// Longest a throttle check may wait for Redis.
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Default)]
pub struct Logins {
    local: LoginThrottle,
    shared: Option<ConnectionManager>,
    /// The cluster's key prefix.
    prefix: String,
}

impl Logins {
    /// Throttling shared with every node using `redis`, under `prefix`.
    pub fn shared(redis: ConnectionManager, prefix: &str) -> Self {
        Self { local: LoginThrottle::default(), shared: Some(redis), prefix: prefix.to_string() }
    }

    fn count_key(&self, key: &str) -> String {
        format!("{}login:{key}:failures", self.prefix)
    }

    fn lock_key(&self, key: &str) -> String {
        format!("{}login:{key}:locked", self.prefix)
    }

    /// Whether any of `keys` is locked; the longest remaining wait if so.
    pub async fn check(&self, keys: &[String]) -> Result<(), Duration> {
        let local = self.local.check(keys, Instant::now()).err().unwrap_or_default();
        let mut shared = Duration::ZERO;
        if let Some(redis) = &self.shared {
            let mut pipe = redis::pipe();
            for key in keys {
                pipe.pttl(self.lock_key(key));
            }
            let ttls = tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async::<Vec<i64>>(&mut redis.clone())).await;
            if let Ok(Ok(ttls)) = ttls {
                let longest = ttls.into_iter().max().unwrap_or_default();
                shared = Duration::from_millis(u64::try_from(longest).unwrap_or_default());
            }
        }
        let wait = local.max(shared);
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    pub async fn failed(&self, keys: &[String]) {
        self.local.failed(keys, Instant::now());
        let Some(redis) = &self.shared else { return };
        let mut pipe = redis::pipe();
        for key in keys {
            pipe.incr(self.count_key(key), 1).pexpire(self.count_key(key), REMEMBER.as_millis() as i64).ignore();
        }
        let counts = tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async::<Vec<u32>>(&mut redis.clone())).await;
        let Ok(Ok(counts)) = counts else { return };
        let mut locks = redis::pipe();
        for (key, count) in keys.iter().zip(counts) {
            if let Some(lock) = lock_after(count) {
                locks.set_options(
                    self.lock_key(key),
                    1,
                    redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(lock.as_millis() as u64)),
                );
            }
        }
        let _ = tokio::time::timeout(REDIS_TIMEOUT, locks.query_async::<()>(&mut redis.clone())).await;
    }

    pub async fn succeeded(&self, key: &str) {
        self.local.succeeded(key);
        if let Some(redis) = &self.shared {
            let mut pipe = redis::pipe();
            pipe.del(self.count_key(key)).del(self.lock_key(key));
            let _ = tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async::<()>(&mut redis.clone())).await;
        }
    }
}
