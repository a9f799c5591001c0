//! API Gateway's account throttles: token buckets, refilled continuously.
//!
//! One bucket for new WebSocket connections (AWS: 500 a second per account and region) and one
//! shared by every request (AWS: 10,000 a second with a burst of 5,000, for HTTP API requests,
//! WebSocket messages and `@connections` calls together). A request that finds its bucket empty
//! is refused at once with 429, as API Gateway does; nothing queues.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::Serialize;

use crate::config::Throttles;

/// A token bucket: `rate` tokens a second, at most `burst` held. A rate of 0 never refuses.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: f64) -> Self {
        let burst = burst.max(1.0);
        TokenBucket {
            rate,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Takes one token if there is one, at `now`.
    pub fn try_take_at(&self, now: Instant) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = now.saturating_duration_since(s.1).as_secs_f64();
        s.0 = (s.0 + elapsed * self.rate).min(self.burst);
        s.1 = now.max(s.1);
        if s.0 >= 1.0 {
            s.0 -= 1.0;
            true
        } else {
            false
        }
    }

    pub fn try_take(&self) -> bool {
        self.try_take_at(Instant::now())
    }
}

/// What was refused, by kind.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct ThrottleStats {
    pub http_requests: u64,
    pub ws_connects: u64,
    pub ws_messages: u64,
    pub management_calls: u64,
}

/// Where a request came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    HttpRequest,
    WsConnect,
    WsMessage,
    ManagementCall,
}

/// The gateway's buckets and what they refused.
#[derive(Debug)]
pub struct Throttle {
    connects: TokenBucket,
    requests: TokenBucket,
    refused: [AtomicU64; 4],
}

impl Throttle {
    pub fn new(t: &Throttles) -> Self {
        Throttle {
            connects: TokenBucket::new(t.connections_per_second, t.connections_per_second),
            requests: TokenBucket::new(t.requests_per_second, t.request_burst),
            refused: Default::default(),
        }
    }

    /// Whether a request of `kind` may go on now. A `$connect` needs a token of both buckets
    /// (it is a new connection and a request).
    pub fn admit(&self, kind: Kind) -> bool {
        let ok = match kind {
            Kind::WsConnect => self.connects.try_take() && self.requests.try_take(),
            _ => self.requests.try_take(),
        };
        if !ok {
            self.refused[kind as usize].fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    pub fn stats(&self) -> ThrottleStats {
        let n = |k: Kind| self.refused[k as usize].load(Ordering::Relaxed);
        ThrottleStats {
            http_requests: n(Kind::HttpRequest),
            ws_connects: n(Kind::WsConnect),
            ws_messages: n(Kind::WsMessage),
            management_calls: n(Kind::ManagementCall),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_gives_its_burst_then_refills_at_its_rate() {
        let b = TokenBucket::new(10.0, 5.0);
        let t0 = Instant::now();
        assert_eq!((0..7).filter(|_| b.try_take_at(t0)).count(), 5);
        // 10 a second: one more every 100 ms, never more than the burst.
        assert!(!b.try_take_at(t0 + Duration::from_millis(50)));
        assert!(b.try_take_at(t0 + Duration::from_millis(150)));
        assert!(!b.try_take_at(t0 + Duration::from_millis(150)));
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..10).filter(|_| b.try_take_at(later)).count(), 5);
    }

    #[test]
    fn a_rate_of_zero_never_refuses() {
        let b = TokenBucket::new(0.0, 0.0);
        let t0 = Instant::now();
        assert!((0..100_000).all(|_| b.try_take_at(t0)));
    }

    #[test]
    fn a_connect_takes_from_both_buckets_and_refusals_are_counted_by_kind() {
        let t = Throttle::new(&Throttles {
            connections_per_second: 2.0,
            requests_per_second: 1.0,
            request_burst: 3.0,
        });
        assert!(t.admit(Kind::WsConnect));
        assert!(t.admit(Kind::WsConnect));
        // The connection bucket is empty; the request bucket has one token left.
        assert!(!t.admit(Kind::WsConnect));
        assert!(t.admit(Kind::HttpRequest));
        assert!(!t.admit(Kind::ManagementCall));
        assert!(!t.admit(Kind::WsMessage));
        assert_eq!(
            t.stats(),
            ThrottleStats {
                http_requests: 0,
                ws_connects: 1,
                ws_messages: 1,
                management_calls: 1
            }
        );
    }
}
