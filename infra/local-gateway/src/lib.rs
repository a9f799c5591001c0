//! Local API Gateway: HTTP API, WebSocket API and Management API in front of the real function
//! binaries, run through the Lambda Runtime API, with the routes read from `infra/template.yaml`,
//! the table's stream fed to the functions it triggers, scheduled functions run on their timers,
//! and the functions subscribed to SNS topics invoked with what is published to them.

pub mod calls;
pub mod config;
mod connections;
pub mod devstack;
pub mod error;
pub mod events;
mod gateway;
pub mod http_api;
pub mod iam;
pub mod routes;
pub mod runtime;
pub mod schedules;
pub mod sns;
mod state;
pub mod stream_stats;
pub mod streams;
pub mod table;
pub mod template;
pub mod throttle;
pub mod util;
mod ws;

pub use config::{
    Faults, GatewayConfig, Throttles, WsLimits, parse_parameter_overrides, workspace_root,
};
pub use connections::ManagementStats;
pub use error::Error;
pub use gateway::{EMULATED_SERVICES, Gateway, Stats, function_env};
pub use runtime::FunctionStats;
pub use streams::StreamStats;
pub use table::{TableOutcome, create_table, create_table_from_template, local_client};
pub use template::Template;
