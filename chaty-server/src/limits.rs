//! Rate limits and connection caps: a token bucket per connection for frames
//! (and another for history reads), login throttling per user name and per
//! address, and a cap on open connections per address. All refusals are
//! explicit: `ERROR rate_limited` with `retryAfterMs`, or HTTP 429 at the upgrade.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// A classic token bucket: `capacity` tokens, refilled at `per_sec`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(capacity: u32, per_sec: u32, now: Instant) -> Self {
        let capacity = f64::from(capacity.max(1));
        Self { capacity, per_sec: f64::from(per_sec.max(1)), tokens: capacity, last: now }
    }

    /// Takes a token, or says how long until one is there.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.per_sec))
        }
    }
}

/// Failed logins allowed before each further failure locks the key.
pub const FREE_FAILURES: u32 = 5;
/// Longest lock after repeated failures.
const MAX_LOCK: Duration = Duration::from_secs(300);
/// Entries kept before expired ones are swept.
const MAX_KEYS: usize = 100_000;

#[derive(Debug)]
struct Failures {
    count: u32,
    locked_until: Instant,
}

/// How long `failures` failed logins in a row lock a key, if at all.
pub fn lock_after(failures: u32) -> Option<Duration> {
    (failures > FREE_FAILURES).then(|| Duration::from_secs(1 << (failures - FREE_FAILURES - 1).min(9)).min(MAX_LOCK))
}

/// Slows password guessing: after a few failures for a user name (or from an
/// address), each further failure locks it for twice as long, up to 5 minutes.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    keys: Mutex<HashMap<String, Failures>>,
}

impl LoginThrottle {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        self.keys.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether any of `keys` is locked now; the longest remaining wait if so.
    pub fn check(&self, keys: &[String], now: Instant) -> Result<(), Duration> {
        let map = self.lock();
        let wait = keys
            .iter()
            .filter_map(|k| map.get(k))
            .map(|f| f.locked_until.saturating_duration_since(now))
            .max()
            .unwrap_or_default();
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    pub fn failed(&self, keys: &[String], now: Instant) {
        let mut map = self.lock();
        if map.len() >= MAX_KEYS {
            map.retain(|_, f| f.locked_until > now);
        }
        for key in keys {
            let f = map.entry(key.clone()).or_insert(Failures { count: 0, locked_until: now });
            f.count += 1;
            if let Some(lock) = lock_after(f.count) {
                f.locked_until = now + lock;
            }
        }
    }

    pub fn succeeded(&self, key: &str) {
        self.lock().remove(key);
    }
}

/// Open WebSocket connections per address.
#[derive(Debug)]
pub struct IpCaps {
    open: Mutex<HashMap<IpAddr, usize>>,
    per_ip: usize,
}

/// Holds one connection's place; dropping it frees the place.
#[derive(Debug)]
pub struct IpSlot {
    caps: Arc<IpCaps>,
    ip: IpAddr,
}

impl IpCaps {
    pub fn new(per_ip: usize) -> Arc<Self> {
        Arc::new(Self { open: Mutex::new(HashMap::new()), per_ip })
    }

    /// A place for one more connection from `ip`, if under the cap.
    pub fn try_open(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let mut open = self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = open.entry(ip).or_default();
        if *n >= self.per_ip {
            return None;
        }
        *n += 1;
        Some(IpSlot { caps: self.clone(), ip })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.caps.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_the_steady_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3, 10, t0);
        for _ in 0..3 {
            assert!(b.take(t0).is_ok());
        }
        let wait = b.take(t0).expect_err("empty");
        assert!(wait > Duration::from_millis(90) && wait <= Duration::from_millis(100), "{wait:?}");
        assert!(b.take(t0 + Duration::from_millis(100)).is_ok());
        assert!(b.take(t0 + Duration::from_millis(100)).is_err());
        // Refills to capacity, not beyond.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(b.take(later).is_ok());
        }
        assert!(b.take(later).is_err());
    }

    #[test]
    fn logins_lock_after_repeated_failures_and_unlock_in_time() {
        let t0 = Instant::now();
        let throttle = LoginThrottle::default();
        let keys = vec!["user:alice".to_string()];
        for _ in 0..FREE_FAILURES {
            assert!(throttle.check(&keys, t0).is_ok());
            throttle.failed(&keys, t0);
        }
        assert!(throttle.check(&keys, t0).is_ok(), "five free tries");
        throttle.failed(&keys, t0);
        assert_eq!(throttle.check(&keys, t0), Err(Duration::from_secs(1)));
        throttle.failed(&keys, t0);
        assert_eq!(throttle.check(&keys, t0), Err(Duration::from_secs(2)));
        assert!(throttle.check(&keys, t0 + Duration::from_secs(2)).is_ok());
        assert!(throttle.check(&["user:bob".to_string()], t0).is_ok(), "other names are not affected");
        throttle.succeeded("user:alice");
        assert!(throttle.check(&keys, t0).is_ok());
    }

    #[test]
    fn ip_caps_count_open_connections() {
        let caps = IpCaps::new(2);
        let ip: IpAddr = [127, 0, 0, 1].into();
        let a = caps.try_open(ip).expect("first");
        let _b = caps.try_open(ip).expect("second");
        assert!(caps.try_open(ip).is_none());
        assert!(caps.try_open([127, 0, 0, 2].into()).is_some());
        drop(a);
        assert!(caps.try_open(ip).is_some());
    }
}
