//! Gateway configuration, WebSocket limits and Management API fault settings.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// API Gateway WebSocket limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsLimits {
    /// Largest message (after reassembly of frames). Over it: close 1009.
    pub max_message_bytes: usize,
    /// Largest single frame. Over it: close 1009.
    pub max_frame_bytes: usize,
    /// A connection with no incoming frame for this long is closed (1001).
    pub idle_timeout: Duration,
    /// A connection is closed (1001) after this long whatever it does.
    pub max_connection_duration: Duration,
}

impl Default for WsLimits {
    fn default() -> Self {
        WsLimits {
            max_message_bytes: 128 * 1024,
            max_frame_bytes: 32 * 1024,
            idle_timeout: Duration::from_secs(600),
            max_connection_duration: Duration::from_secs(2 * 3600),
        }
    }
}

/// Fault injection into the Management API's PostToConnection (`POST /@connections/{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Added latency per call.
    pub latency_ms: u64,
    /// Share of PostToConnection calls (0.0..=1.0) answered with `fail_status` without doing
    /// anything (an injected 410 also drops the connection, as only a gone one gets a 410).
    pub fail_rate: f64,
    /// 410 (GoneException), 429 (LimitExceededException), 500 or any other status.
    pub fail_status: u16,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency_ms: 0,
            fail_rate: 0.0,
            fail_status: 500,
        }
    }
}

/// API Gateway's account throttles (see `throttle`). A rate of 0 turns that bucket off.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Throttles {
    /// New WebSocket connections a second (also the burst), AWS's 500.
    pub connections_per_second: f64,
    /// Requests a second shared by HTTP API requests, WebSocket messages and `@connections`
    /// calls, AWS's 10,000.
    pub requests_per_second: f64,
    /// The shared bucket's burst, AWS's 5,000.
    pub request_burst: f64,
}

impl Default for Throttles {
    /// AWS's default account quotas.
    fn default() -> Self {
        Throttles {
            connections_per_second: 500.0,
            requests_per_second: 10_000.0,
            request_burst: 5_000.0,
        }
    }
}

impl Throttles {
    /// No throttling at all.
    pub fn off() -> Self {
        Throttles {
            connections_per_second: 0.0,
            requests_per_second: 0.0,
            request_burst: 0.0,
        }
    }
}

/// Everything needed to start a [`crate::Gateway`].
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Path of `template.yaml`.
    pub template: PathBuf,
    /// Directory holding the function binaries (named as `Metadata.BuildProperties.Binary`).
    pub bin_dir: PathBuf,
    /// HTTP API listen address (port 0 picks one).
    pub http_addr: SocketAddr,
    /// WebSocket + Management API listen address (port 0 picks one).
    pub ws_addr: SocketAddr,
    pub table_name: String,
    pub dynamodb_endpoint: String,
    /// The AWS service emulator for what DynamoDB Local does not cover (S3, SES v2, SNS,
    /// Secrets Manager): every function gets it as `AWS_ENDPOINT_URL_<SERVICE>` of those
    /// services. `None`: the functions get no endpoint for them.
    pub aws_endpoint: Option<String>,
    pub region: String,
    /// Function environment values that win over everything else.
    pub env_overrides: BTreeMap<String, String>,
    /// Most instances of one function running at once.
    pub max_instances_per_function: usize,
    pub limits: WsLimits,
    pub faults: Faults,
    /// Account throttles (AWS's defaults unless told otherwise).
    pub throttles: Throttles,
    /// `AWS_LAMBDA_LOG_FORMAT` for the functions; `None` keeps the template's (or JSON).
    pub log_format: Option<String>,
    /// Discard function output.
    pub quiet: bool,
    /// Write function output to this file instead of stderr (each line prefixed with the function name).
    pub log_file: Option<PathBuf>,
    /// Time allowed for a new instance's init (process start to its first `/next`), as Lambda's
    /// own init limit; the handler then gets exactly the function's `Timeout`.
    pub init_timeout: Duration,
    /// HTTP API integration timeout: past it the client gets 503 while the function runs on.
    pub http_integration_timeout: Duration,
    /// Handle one connection's frames one at a time, in order (a debugging aid: API Gateway
    /// invokes the integration for each frame independently, so they may run concurrently).
    pub ordered_frames: bool,
    /// Template parameter values over the defaults (as `sam deploy --parameter-overrides`).
    pub parameter_overrides: BTreeMap<String, String>,
    /// How often the table's stream is polled for the `Type: DynamoDB` event sources.
    pub stream_poll_interval: Duration,
    /// Record the AWS actions each function calls into this file (see `calls`); `None`: the
    /// `IAM_CALLS_LOG` variable, when set.
    pub calls_log: Option<PathBuf>,
    /// Run the template's `Type: Schedule` / `ScheduleV2` events on their timers (on by
    /// default, off in [`GatewayConfig::for_tests`]); they can be run on request either way.
    pub run_schedules: bool,
    /// Delays before the retries of a failed asynchronous invocation (schedule runs, SNS
    /// messages): Lambda's two retries, after 1 and then 2 minutes.
    pub async_retry_delays: Vec<Duration>,
}

/// The workspace root: the nearest directory, from the current one upwards, holding
/// `infra/template.yaml`.
pub fn workspace_root() -> Option<PathBuf> {
    let mut dir = std::env::current_dir().ok()?;
    loop {
        if dir.join("infra/template.yaml").is_file() {
            return Some(dir);
        }
        if !dir.pop() {
            return None;
        }
    }
}

/// `target/debug` of the running test or binary when it lives there, else of the workspace root.
fn default_bin_dir(root: Option<&PathBuf>) -> PathBuf {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(PathBuf::from));
    if let Some(dir) = exe_dir {
        let dir = if dir.ends_with("deps") || dir.ends_with("examples") {
            dir.parent().map(PathBuf::from)
        } else {
            Some(dir)
        };
        if let Some(dir) = dir.filter(|d| d.ends_with("debug") || d.ends_with("release")) {
            return dir;
        }
    }
    root.map(|r| r.join("target/debug"))
        .unwrap_or_else(|| PathBuf::from("target/debug"))
}

impl Default for GatewayConfig {
    /// Paths resolved from the workspace root (found upwards from the current directory),
    /// binaries from the `target/debug` (or `release`) this program runs from.
    fn default() -> Self {
        let root = workspace_root();
        GatewayConfig {
            template: root
                .as_ref()
                .map(|r| r.join("infra/template.yaml"))
                .unwrap_or_else(|| PathBuf::from("infra/template.yaml")),
            bin_dir: default_bin_dir(root.as_ref()),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            ws_addr: SocketAddr::from(([127, 0, 0, 1], 3001)),
            table_name: "community-local".into(),
            dynamodb_endpoint: "http://127.0.0.1:8000".into(),
            aws_endpoint: None,
            region: "us-east-1".into(),
            env_overrides: BTreeMap::new(),
            max_instances_per_function: 10,
            limits: WsLimits::default(),
            faults: Faults::default(),
            throttles: Throttles::default(),
            log_format: None,
            quiet: false,
            log_file: None,
            init_timeout: Duration::from_secs(10),
            http_integration_timeout: Duration::from_secs(30),
            ordered_frames: false,
            parameter_overrides: BTreeMap::new(),
            stream_poll_interval: Duration::from_millis(100),
            calls_log: None,
            run_schedules: true,
            async_retry_delays: crate::schedules::ASYNC_RETRY_DELAYS.to_vec(),
        }
    }
}

impl GatewayConfig {
    /// Defaults for tests: both servers on port 0 of 127.0.0.1, function output discarded, no
    /// schedule timers.
    pub fn for_tests() -> Self {
        GatewayConfig {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            ws_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            quiet: true,
            run_schedules: false,
            ..Default::default()
        }
    }
    pub fn template(mut self, p: impl Into<PathBuf>) -> Self {
        self.template = p.into();
        self
    }
    pub fn bin_dir(mut self, p: impl Into<PathBuf>) -> Self {
        self.bin_dir = p.into();
        self
    }
    pub fn http_addr(mut self, a: SocketAddr) -> Self {
        self.http_addr = a;
        self
    }
    pub fn ws_addr(mut self, a: SocketAddr) -> Self {
        self.ws_addr = a;
        self
    }
    pub fn table_name(mut self, t: impl Into<String>) -> Self {
        self.table_name = t.into();
        self
    }
    pub fn dynamodb_endpoint(mut self, e: impl Into<String>) -> Self {
        self.dynamodb_endpoint = e.into();
        self
    }
    pub fn aws_endpoint(mut self, e: impl Into<String>) -> Self {
        self.aws_endpoint = Some(e.into());
        self
    }
    pub fn region(mut self, r: impl Into<String>) -> Self {
        self.region = r.into();
        self
    }
    /// Sets one function environment override.
    pub fn env(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.env_overrides.insert(k.into(), v.into());
        self
    }
    pub fn max_instances_per_function(mut self, n: usize) -> Self {
        self.max_instances_per_function = n.max(1);
        self
    }
    pub fn limits(mut self, l: WsLimits) -> Self {
        self.limits = l;
        self
    }
    pub fn throttles(mut self, t: Throttles) -> Self {
        self.throttles = t;
        self
    }

    pub fn faults(mut self, f: Faults) -> Self {
        self.faults = f;
        self
    }
    pub fn log_format(mut self, f: impl Into<String>) -> Self {
        self.log_format = Some(f.into());
        self
    }
    pub fn log_file(mut self, p: impl Into<PathBuf>) -> Self {
        self.log_file = Some(p.into());
        self
    }
    pub fn stream_poll_interval(mut self, every: Duration) -> Self {
        self.stream_poll_interval = every;
        self
    }
    pub fn init_timeout(mut self, t: Duration) -> Self {
        self.init_timeout = t;
        self
    }
    pub fn http_integration_timeout(mut self, t: Duration) -> Self {
        self.http_integration_timeout = t;
        self
    }
    /// Frames of one connection one at a time, in order (see [`GatewayConfig::ordered_frames`]).
    pub fn ordered_frames(mut self, ordered: bool) -> Self {
        self.ordered_frames = ordered;
        self
    }
    /// Sets one template parameter (over its default).
    pub fn parameter(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.parameter_overrides.insert(k.into(), v.into());
        self
    }
    /// Runs the schedules on their timers (see [`GatewayConfig::run_schedules`]).
    pub fn run_schedules(mut self, run: bool) -> Self {
        self.run_schedules = run;
        self
    }
    /// Delays before the retries of a failed asynchronous invocation (one retry per delay).
    pub fn async_retry_delays(mut self, delays: Vec<Duration>) -> Self {
        self.async_retry_delays = delays;
        self
    }
    /// Discards function output.
    pub fn quiet(mut self, quiet: bool) -> Self {
        self.quiet = quiet;
        self
    }
}

/// Parses `sam deploy --parameter-overrides` syntax: `Key=Value` pairs separated by spaces, a
/// value in double or single quotes may hold spaces (`Origins="http://a, http://b" Stage=dev`).
pub fn parse_parameter_overrides(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        let mut assigned = false;
        for c in chars.by_ref() {
            if c == '=' {
                assigned = true;
                break;
            }
            key.push(c);
        }
        if !assigned || key.is_empty() || key.contains(char::is_whitespace) {
            return Err(format!(
                "parameter overrides: expected Key=Value, got {key:?}"
            ));
        }
        let mut value = String::new();
        match chars.peek().copied() {
            Some(q @ ('"' | '\'')) => {
                chars.next();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == q {
                        closed = true;
                        break;
                    }
                    value.push(c);
                }
                if !closed {
                    return Err(format!("parameter overrides: unclosed quote in {key}"));
                }
            }
            _ => {
                while let Some(c) = chars.peek().copied() {
                    if c.is_whitespace() {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        out.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_overrides_parse_like_sam() {
        let p = parse_parameter_overrides(
            r#" AllowedOrigins="http://127.0.0.1:5173,https://app.example.com" Stage=dev Empty= Q='a b' "#,
        )
        .unwrap();
        assert_eq!(
            p["AllowedOrigins"],
            "http://127.0.0.1:5173,https://app.example.com"
        );
        assert_eq!(p["Stage"], "dev");
        assert_eq!(p["Empty"], "");
        assert_eq!(p["Q"], "a b");
        assert!(parse_parameter_overrides("novalue").is_err());
        assert!(parse_parameter_overrides("A=\"open").is_err());
        assert!(parse_parameter_overrides("").unwrap().is_empty());
    }
}
