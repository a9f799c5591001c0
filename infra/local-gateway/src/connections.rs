//! The WebSocket API's state: open connections, injected faults and the Management API's
//! counters (the handlers are in `ws`).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::body::Bytes;
use axum::http::StatusCode;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::config::Faults;
use crate::events::WsConnContext;

/// Counters of the Management API.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ManagementStats {
    /// Calls answered, by HTTP status.
    pub by_status: BTreeMap<u16, u64>,
    /// Calls answered with an injected fault.
    pub injected_faults: u64,
    /// Frames handed to a connection (successful POSTs).
    pub delivered: u64,
}

pub(crate) enum Out {
    Text(String),
    Binary(Bytes),
    Close(u16, String),
    Stop,
}

pub(crate) struct Conn {
    pub(crate) ctx: WsConnContext,
    pub(crate) out: mpsc::UnboundedSender<Out>,
    pub(crate) close: Mutex<Option<oneshot::Sender<(u16, String)>>>,
    pub(crate) last_active_ms: AtomicI64,
}

impl Conn {
    pub(crate) fn request_close(&self, code: u16, reason: &str) {
        if let Some(tx) = self.close.lock().ok().and_then(|mut c| c.take()) {
            let _ = tx.send((code, reason.to_string()));
        }
    }
}

/// Connection registry, faults and counters.
pub(crate) struct WsState {
    pub(crate) conns: RwLock<HashMap<String, Arc<Conn>>>,
    pub(crate) faults: RwLock<Faults>,
    pub(crate) by_status: Box<[AtomicU64]>,
    pub(crate) injected: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) total_connections: AtomicU64,
    /// Connections still being served or wound down (their `$disconnect` not yet done).
    pub(crate) active_tasks: AtomicUsize,
}

impl WsState {
    pub(crate) fn new(faults: Faults) -> Self {
        WsState {
            conns: RwLock::new(HashMap::new()),
            faults: RwLock::new(faults),
            by_status: (0..600).map(|_| AtomicU64::new(0)).collect(),
            injected: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            total_connections: AtomicU64::new(0),
            active_tasks: AtomicUsize::new(0),
        }
    }

    pub(crate) fn faults(&self) -> Faults {
        self.faults.read().map(|f| *f).unwrap_or_default()
    }

    pub(crate) fn set_faults(&self, f: Faults) {
        if let Ok(mut g) = self.faults.write() {
            *g = f;
        }
    }

    pub(crate) fn management_stats(&self) -> ManagementStats {
        ManagementStats {
            by_status: self
                .by_status
                .iter()
                .enumerate()
                .filter_map(|(s, c)| {
                    let n = c.load(Ordering::Relaxed);
                    (n > 0).then_some((s as u16, n))
                })
                .collect(),
            injected_faults: self.injected.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn open_connections(&self) -> usize {
        self.conns.read().map(|c| c.len()).unwrap_or(0)
    }

    pub(crate) fn connection_ids(&self) -> Vec<String> {
        self.conns
            .read()
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<Conn>> {
        self.conns.read().ok()?.get(id).cloned()
    }

    pub(crate) fn remove(&self, id: &str) -> Option<Arc<Conn>> {
        self.conns.write().ok()?.remove(id)
    }

    /// Closes every connection (1001 Going away).
    pub(crate) fn close_all(&self) {
        let all: Vec<_> = self
            .conns
            .read()
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default();
        for c in all {
            c.request_close(1001, "Going away");
        }
    }

    pub(crate) fn count(&self, status: StatusCode) {
        if let Some(c) = self.by_status.get(status.as_u16() as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }
}
