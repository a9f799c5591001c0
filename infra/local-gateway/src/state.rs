//! The gateway's shared state, built at start-up by `gateway` and read by every server
//! (`http_api`, `ws`, `streams`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use serde::Serialize;
use serde_json::Value;

use crate::config::GatewayConfig;
use crate::connections::{ManagementStats, WsState};
use crate::routes;
use crate::runtime::{FunctionPool, FunctionStats, InvokeError};
use crate::stream_stats::{StreamCounters, StreamStats};
use crate::template::Template;

/// A snapshot of the gateway's counters.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stats {
    pub management: ManagementStats,
    pub connections_open: usize,
    pub connections_total: u64,
    /// By function logical id.
    pub functions: BTreeMap<String, FunctionStats>,
    /// DynamoDB stream event sources (all of them together).
    pub streams: StreamStats,
    /// Requests refused with 429 by the account throttles, by kind.
    pub throttled: crate::throttle::ThrottleStats,
}

/// Shared state of both servers.
pub(crate) struct App {
    pub(crate) cfg: GatewayConfig,
    pub(crate) template: Template,
    pub(crate) router: routes::Router,
    pub(crate) pools: HashMap<String, Arc<FunctionPool>>,
    pub(crate) ws: WsState,
    pub(crate) http_api_id: String,
    pub(crate) ws_api_id: String,
    pub(crate) streams: StreamCounters,
    pub(crate) policies: crate::iam::Policies,
    pub(crate) throttle: crate::throttle::Throttle,
    /// Where the functions' allowed calls are recorded (`calls`), when they are.
    pub(crate) calls: Option<Arc<crate::calls::CallLog>>,
    /// When the gateway started (rate schedules count their periods from it).
    pub(crate) started_at: chrono::DateTime<chrono::Utc>,
    /// Per schedule of `template.schedules`.
    pub(crate) schedule_counters: Vec<crate::schedules::ScheduleCounters>,
    /// Subscription ARNs in the AWS emulator, per event of `template.sns_sources` (empty
    /// without an emulator).
    pub(crate) sns_subscriptions: std::sync::Mutex<Vec<String>>,
    /// Turns true when the gateway stops.
    pub(crate) stop: tokio::sync::watch::Receiver<bool>,
}

impl App {
    pub(crate) async fn invoke(&self, function: &str, event: Value) -> Result<Bytes, InvokeError> {
        let pool = self
            .pools
            .get(function)
            .ok_or_else(|| InvokeError::Spawn(format!("unknown function {function}")))?;
        pool.invoke(Bytes::from(event.to_string())).await
    }

    pub(crate) fn stats(&self) -> Stats {
        Stats {
            management: self.ws.management_stats(),
            connections_open: self.ws.open_connections(),
            connections_total: self
                .ws
                .total_connections
                .load(std::sync::atomic::Ordering::Relaxed),
            functions: self
                .pools
                .iter()
                .map(|(k, p)| (k.clone(), p.stats()))
                .collect(),
            streams: self.streams.snapshot(),
            throttled: self.throttle.stats(),
        }
    }
}
