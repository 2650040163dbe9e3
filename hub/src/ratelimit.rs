//! Token-bucket rate limiting, per authenticated device and for unauthenticated endpoints.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Instant;

/// Rate limit settings: `per_second` sustained, bursts up to `burst` requests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Tokens added per second.
    pub per_second: f64,
    /// Bucket capacity.
    pub burst: f64,
}

impl RateLimit {
    /// A limit of `per_second` requests per second with bursts of `burst`.
    pub fn new(per_second: f64, burst: f64) -> Self {
        RateLimit { per_second, burst }
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Buckets keyed by `K`. Buckets that have refilled completely are forgotten when the map
/// grows large, so memory stays bounded by the number of recently active keys.
#[derive(Debug)]
pub struct RateLimiter<K> {
    limit: RateLimit,
    buckets: Mutex<HashMap<K, Bucket>>,
}

const SWEEP_AT: usize = 10_000;

impl<K: Eq + Hash + Clone> RateLimiter<K> {
    /// A limiter applying `limit` to each key.
    pub fn new(limit: RateLimit) -> Self {
        RateLimiter { limit, buckets: Mutex::new(HashMap::new()) }
    }

    /// Take one token for `key` at time `now`; `false` means the request must be refused.
    pub fn allow(&self, key: &K, now: Instant) -> bool {
        let Ok(mut buckets) = self.buckets.lock() else { return false };
        if buckets.len() >= SWEEP_AT {
            let limit = self.limit;
            buckets.retain(|_, b| b.tokens + now.duration_since(b.last).as_secs_f64() * limit.per_second < limit.burst);
        }
        let bucket = buckets.entry(key.clone()).or_insert(Bucket { tokens: self.limit.burst, last: now });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.limit.per_second).min(self.limit.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_burst_then_refills() {
        let limiter = RateLimiter::new(RateLimit::new(2.0, 3.0));
        let t0 = Instant::now();
        assert!((0..3).all(|_| limiter.allow(&"a", t0)));
        assert!(!limiter.allow(&"a", t0));
        // Another key has its own bucket.
        assert!(limiter.allow(&"b", t0));
        // Half a second refills one token at 2/s.
        assert!(limiter.allow(&"a", t0 + Duration::from_millis(500)));
        assert!(!limiter.allow(&"a", t0 + Duration::from_millis(500)));
        // Never more than the burst.
        let later = t0 + Duration::from_secs(60);
        assert!((0..3).all(|_| limiter.allow(&"a", later)));
        assert!(!limiter.allow(&"a", later));
    }
}
