//! Counters of the stream event sources (the pollers are in `streams`).

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Counters of the stream event sources.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct StreamStats {
    /// Records read from the stream.
    pub records_read: u64,
    /// Of those, records that passed the filter criteria.
    pub records_matched: u64,
    pub invocations: u64,
    /// Invocations that failed or reported failed records.
    pub failed_batches: u64,
    /// Records dropped after the last retry.
    pub records_dropped: u64,
}

#[derive(Default)]
pub(crate) struct StreamCounters {
    pub(crate) records_read: AtomicU64,
    pub(crate) records_matched: AtomicU64,
    pub(crate) invocations: AtomicU64,
    pub(crate) failed_batches: AtomicU64,
    pub(crate) records_dropped: AtomicU64,
}

impl StreamCounters {
    pub(crate) fn snapshot(&self) -> StreamStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StreamStats {
            records_read: get(&self.records_read),
            records_matched: get(&self.records_matched),
            invocations: get(&self.invocations),
            failed_batches: get(&self.failed_batches),
            records_dropped: get(&self.records_dropped),
        }
    }
}
