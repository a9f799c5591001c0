//! The gateway: loads the template, binds both ports, owns the function pools and serves.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{Faults, GatewayConfig};
use crate::connections::WsState;
use crate::error::Error;
use crate::routes;
use crate::runtime::{FunctionPool, FunctionSettings, LogSink};
use crate::state::App;
pub use crate::state::Stats;
use crate::template::{FunctionSpec, Template};

/// The endpoint variables (read by the AWS SDK itself) of the services the AWS emulator serves.
pub const EMULATED_SERVICES: [&str; 4] = [
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_SESV2",
    "AWS_ENDPOINT_URL_SNS",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
];

/// The functions' key variables of local use, not in the template (a deployed stack reads its
/// keys from the secret `KeysSecretArn`): passed from the gateway's own environment when set.
pub const LOCAL_KEY_VARIABLES: [&str; 3] = ["JWT_SECRET", "CURSOR_SECRET", "KEYS_SECRET_ARN"];

/// Environment of one function, resolved as described in [`GatewayConfig`]: an override wins,
/// then the gateway's own environment, then the template's literal or parameter default;
/// the Lambda and local-stack variables are always set, among them the two APIs' URLs with
/// their stages (`WS_MANAGEMENT_ENDPOINT`, and `API_URL` for a function the template gives one).
pub fn function_env(
    cfg: &GatewayConfig,
    f: &FunctionSpec,
    ws_base_url: &str,
    http_base_url: &str,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (k, default) in &f.environment {
        if let Some(v) = std::env::var(k).ok().or_else(|| default.clone()) {
            env.insert(k.clone(), v);
        }
    }
    for k in LOCAL_KEY_VARIABLES {
        if let Some(v) = std::env::var(k).ok().filter(|v| !v.is_empty()) {
            env.insert(k.to_string(), v);
        }
    }
    let log_format = cfg
        .log_format
        .clone()
        .or_else(|| f.log_format.clone())
        .unwrap_or_else(|| "JSON".into());
    let fixed = [
        ("AWS_LAMBDA_FUNCTION_NAME", f.logical_id.clone()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", f.memory_mb.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", f.logical_id),
        ),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("AWS_REGION", cfg.region.clone()),
        ("AWS_DEFAULT_REGION", cfg.region.clone()),
        // A key of its own, by which the Management API knows the caller (see `iam`).
        (
            "AWS_ACCESS_KEY_ID",
            crate::iam::access_key_id(&f.logical_id),
        ),
        ("AWS_SECRET_ACCESS_KEY", "local".into()),
        ("AWS_ENDPOINT_URL_DYNAMODB", cfg.dynamodb_endpoint.clone()),
        ("TABLE_NAME", cfg.table_name.clone()),
        ("WS_MANAGEMENT_ENDPOINT", ws_base_url.to_string()),
        ("AWS_LAMBDA_LOG_FORMAT", log_format),
    ];
    for (k, v) in fixed {
        env.insert(k.to_string(), v);
    }
    if f.environment.contains_key("API_URL") {
        env.insert("API_URL".into(), http_base_url.to_string());
    }
    if let Some(endpoint) = &cfg.aws_endpoint {
        for k in EMULATED_SERVICES {
            env.insert(k.to_string(), endpoint.clone());
        }
    }
    for (k, v) in &cfg.env_overrides {
        env.insert(k.clone(), v.clone());
    }
    env
}

/// Creates a sending identity in the AWS emulator's SES (v2 CreateEmailIdentity; the emulator
/// verifies it at once), as CloudFormation would have: one that exists already is fine.
async fn create_email_identity(endpoint: &str, region: &str, identity: &str) -> Result<(), Error> {
    let url = format!("{}/v2/email/identities", endpoint.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&url)
        // The emulator reads the service and region from a header of SigV4's shape.
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=local/20260101/{region}/ses/aws4_request, SignedHeaders=host, Signature=0"
            ),
        )
        .json(&serde_json::json!({ "EmailIdentity": identity }))
        .send()
        .await
        .map_err(|e| Error::Io(format!("creating email identity {identity} at {endpoint}: {e}")))?;
    match response.status().as_u16() {
        200..=299 | 409 => Ok(()),
        status => Err(Error::Io(format!(
            "creating email identity {identity} at {endpoint}: HTTP {status}"
        ))),
    }
}

/// Creates a bucket in the AWS emulator (which takes unsigned requests), as CloudFormation
/// would have: one that exists already is fine.
async fn create_bucket(endpoint: &str, name: &str) -> Result<(), Error> {
    let url = format!("{}/{name}", endpoint.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .put(&url)
        .send()
        .await
        .map_err(|e| Error::Io(format!("creating bucket {name} at {endpoint}: {e}")))?;
    match response.status().as_u16() {
        200..=299 | 409 => Ok(()),
        status => Err(Error::Io(format!(
            "creating bucket {name} at {endpoint}: HTTP {status}"
        ))),
    }
}

/// A running local API Gateway (HTTP API + WebSocket API + Management API).
pub struct Gateway {
    app: Arc<App>,
    http_addr: SocketAddr,
    ws_addr: SocketAddr,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<()>>,
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, Error> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Bind {
            addr: addr.to_string(),
            reason: e.to_string(),
        })
}

/// `/dev` for stage `dev`, nothing for `$default`.
fn stage_path(stage: &str) -> String {
    if stage == "$default" {
        String::new()
    } else {
        format!("/{stage}")
    }
}

fn random_api_id() -> String {
    (0..10)
        .map(|_| fastrand::alphanumeric().to_ascii_lowercase())
        .collect()
}

impl Gateway {
    /// Loads the template, binds both ports and starts serving. Function instances start lazily.
    pub async fn start(cfg: GatewayConfig) -> Result<Gateway, Error> {
        let template = Template::load_in(&cfg.template, &cfg.parameter_overrides, &cfg.region)?;
        let http_listener = bind(cfg.http_addr).await?;
        let ws_listener = bind(cfg.ws_addr).await?;
        let http_addr = http_listener
            .local_addr()
            .map_err(|e| Error::Io(e.to_string()))?;
        let ws_addr = ws_listener
            .local_addr()
            .map_err(|e| Error::Io(e.to_string()))?;
        let ws_base = format!("http://{ws_addr}{}", stage_path(&template.websocket.stage));
        let http_base = format!("http://{http_addr}{}", stage_path(&template.http_stage));

        let log = if cfg.quiet {
            LogSink::Quiet
        } else if let Some(path) = &cfg.log_file {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::Io(format!("{}: {e}", dir.display())))?;
            }
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
            LogSink::File(Arc::new(std::sync::Mutex::new(f)))
        } else {
            LogSink::Stderr
        };

        if let Some(endpoint) = &cfg.aws_endpoint {
            for bucket in &template.buckets {
                create_bucket(endpoint, &crate::template::local_bucket_name(bucket)).await?;
            }
            for topic in &template.topics {
                crate::sns::create_topic(endpoint, &cfg.region, topic).await?;
            }
            for identity in &template.email_identities {
                create_email_identity(endpoint, &cfg.region, identity).await?;
            }
        }

        // With a calls log, the functions reach DynamoDB through the recording proxy.
        let (stop, stop_rx) = watch::channel(false);
        let mut servers = Vec::new();
        let calls = match crate::calls::configured(cfg.calls_log.as_ref()) {
            Some(path) => Some(Arc::new(crate::calls::CallLog::open(&path)?)),
            None => None,
        };
        let mut fn_cfg = cfg.clone();
        if let Some(log) = &calls {
            let (url, server) = crate::calls::start_dynamodb_proxy(
                &cfg.dynamodb_endpoint,
                log.clone(),
                stop_rx.clone(),
            )
            .await?;
            fn_cfg.dynamodb_endpoint = url;
            servers.push(server);
            if let Some(endpoint) = &cfg.aws_endpoint {
                let (url, server) = crate::calls::start_proxy(
                    endpoint,
                    crate::calls::Upstream::AwsEmulator,
                    log.clone(),
                    stop_rx.clone(),
                )
                .await?;
                fn_cfg.aws_endpoint = Some(url);
                servers.push(server);
            }
        }

        let mut pools = HashMap::new();
        for (id, f) in &template.functions {
            let binary = cfg.bin_dir.join(&f.binary);
            if !binary.is_file() {
                tracing::warn!(function = %id, binary = %binary.display(), "function binary not built yet");
            }
            let settings = FunctionSettings {
                name: id.clone(),
                binary,
                timeout: f.timeout,
                memory_mb: f.memory_mb,
                env: function_env(&fn_cfg, f, &ws_base, &http_base)
                    .into_iter()
                    .collect(),
                region: cfg.region.clone(),
                max_instances: f
                    .reserved_concurrency
                    .map_or(cfg.max_instances_per_function, |r| {
                        r.min(cfg.max_instances_per_function)
                    }),
                init_timeout: cfg.init_timeout,
            };
            pools.insert(
                id.clone(),
                Arc::new(FunctionPool::new(settings, log.clone())),
            );
        }

        let ws_api_id = random_api_id();
        let schedule_counters = template
            .schedules
            .iter()
            .map(|_| Default::default())
            .collect();
        let app = Arc::new(App {
            policies: crate::iam::Policies::new(&template, &ws_api_id, &cfg.region),
            router: routes::Router::new(&template.http_routes),
            ws: WsState::new(cfg.faults),
            template,
            pools,
            http_api_id: random_api_id(),
            ws_api_id,
            streams: Default::default(),
            throttle: crate::throttle::Throttle::new(&cfg.throttles),
            calls,
            started_at: chrono::Utc::now(),
            schedule_counters,
            sns_subscriptions: Default::default(),
            stop: stop_rx.clone(),
            cfg,
        });

        let http_app = Router::new()
            .fallback(crate::http_api::handle)
            .with_state(app.clone());
        let ws_app = Router::new()
            .fallback(crate::ws::handle)
            .with_state(app.clone());
        for (listener, router) in [(http_listener, http_app), (ws_listener, ws_app)] {
            let mut rx = stop_rx.clone();
            servers.push(tokio::spawn(async move {
                let _ = axum::serve(
                    listener,
                    router.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(async move {
                    let _ = rx.wait_for(|s| *s).await;
                })
                .await;
            }));
        }
        servers.extend(crate::streams::start(app.clone(), stop_rx.clone()));
        servers.extend(crate::schedules::start(app.clone(), stop_rx.clone()));
        if app.cfg.aws_endpoint.is_none() && !app.template.sns_sources.is_empty() {
            tracing::warn!(
                events = app.template.sns_sources.len(),
                "no AWS emulator: the Type: SNS events are not subscribed to their topics"
            );
        }
        // Subscribed once the control endpoint serves (an SNS subscription may be confirmed
        // right away).
        if let Some(endpoint) = &app.cfg.aws_endpoint
            && !app.template.sns_sources.is_empty()
        {
            let arns =
                crate::sns::subscribe_all(&app, endpoint, &format!("http://{ws_addr}")).await;
            match arns {
                Ok(arns) => *app.sns_subscriptions.lock().unwrap() = arns,
                Err(e) => {
                    let _ = stop.send(true);
                    for p in app.pools.values() {
                        p.close();
                    }
                    return Err(e);
                }
            }
        }
        tracing::info!(http = %http_addr, ws = %ws_addr, "local API Gateway listening");
        Ok(Gateway {
            app,
            http_addr,
            ws_addr,
            stop,
            servers,
        })
    }

    /// The HTTP API's invoke URL, with its stage as on AWS: `http://127.0.0.1:<port>/dev`
    /// (no path for a `$default` stage). Paths of routes follow it.
    pub fn http_url(&self) -> String {
        format!(
            "http://{}{}",
            self.http_addr,
            stage_path(&self.app.template.http_stage)
        )
    }

    /// The WebSocket API's URL with its stage: `ws://127.0.0.1:<port>/dev`.
    pub fn ws_url(&self) -> String {
        format!(
            "ws://{}{}",
            self.ws_addr,
            stage_path(&self.app.template.websocket.stage)
        )
    }

    /// The Management API endpoint (`WS_MANAGEMENT_ENDPOINT`): `http://127.0.0.1:<port>/dev`.
    pub fn management_url(&self) -> String {
        format!(
            "http://{}{}",
            self.ws_addr,
            stage_path(&self.app.template.websocket.stage)
        )
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    pub fn ws_addr(&self) -> SocketAddr {
        self.ws_addr
    }

    /// The parsed template.
    pub fn template(&self) -> &Template {
        &self.app.template
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &GatewayConfig {
        &self.app.cfg
    }

    /// Environment given to a function (by logical id).
    pub fn function_env(&self, function: &str) -> Option<BTreeMap<String, String>> {
        self.app
            .pools
            .get(function)
            .map(|p| p.settings().env.iter().cloned().collect())
    }

    /// Replaces the Management API fault settings.
    pub fn set_faults(&self, faults: Faults) {
        self.app.ws.set_faults(faults);
    }

    pub fn faults(&self) -> Faults {
        self.app.ws.faults()
    }

    /// Kills one instance of `function` (logical id) that is serving an invocation, as a crash
    /// would; `false` if none was busy.
    pub fn kill_busy_instance(&self, function: &str) -> bool {
        self.app.pools.get(function).is_some_and(|p| p.kill_busy())
    }

    /// Counters: Management API calls by status, connections, per-function instances and init times.
    pub fn stats(&self) -> Stats {
        self.app.stats()
    }

    /// Ids of the open WebSocket connections.
    pub fn connection_ids(&self) -> Vec<String> {
        self.app.ws.connection_ids()
    }

    /// Invokes a function directly with any event (as `aws lambda invoke` would).
    pub async fn invoke(&self, function: &str, event: Value) -> Result<Value, Error> {
        let out = self
            .app
            .invoke(function, event)
            .await
            .map_err(|e| Error::Config(format!("{function}: {e}")))?;
        serde_json::from_slice(&out)
            .map_err(|e| Error::Config(format!("{function}: bad response: {e}")))
    }

    /// Runs a schedule now, once, as `POST /@gateway/schedules/{id}` does (`id`: the event name,
    /// or `Function.Event`), and answers the function's output.
    pub async fn run_schedule(&self, id: &str) -> Result<Value, Error> {
        let index = crate::schedules::find(&self.app.template.schedules, id)
            .map_err(|e| Error::Config(format!("schedule {id}: {e:?}")))?;
        let out = crate::schedules::run_now(&self.app, index)
            .await
            .map_err(|e| Error::Config(format!("schedule {id}: {e}")))?;
        serde_json::from_slice(&out)
            .map_err(|e| Error::Config(format!("schedule {id}: bad response: {e}")))
    }

    /// The ARN of a template topic (by logical id) locally: what `!Ref` to it gives.
    pub fn topic_arn(&self, logical_id: &str) -> Option<String> {
        self.app
            .template
            .topics
            .iter()
            .any(|t| t == logical_id)
            .then(|| crate::template::local_topic_arn(&self.app.cfg.region, logical_id))
    }

    /// Closes WebSocket connections (1001, with `$disconnect`), stops serving and kills every function.
    pub async fn shutdown(mut self) {
        self.app.ws.close_all();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self
            .app
            .ws
            .active_tasks
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let subscriptions = std::mem::take(&mut *self.app.sns_subscriptions.lock().unwrap());
        if let Some(endpoint) = &self.app.cfg.aws_endpoint {
            crate::sns::unsubscribe_all(endpoint, &self.app.cfg.region, &subscriptions).await;
        }
        let _ = self.stop.send(true);
        for s in self.servers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(2), s).await;
        }
        for p in self.app.pools.values() {
            p.close();
        }
        for p in self.app.pools.values() {
            p.wait_closed(Duration::from_secs(2)).await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let subscriptions = std::mem::take(&mut *self.app.sns_subscriptions.lock().unwrap());
        if let Some(endpoint) = &self.app.cfg.aws_endpoint
            && !subscriptions.is_empty()
        {
            crate::sns::unsubscribe_blocking(endpoint, &self.app.cfg.region, &subscriptions);
        }
        let _ = self.stop.send(true);
        for s in &self.servers {
            s.abort();
        }
        for p in self.app.pools.values() {
            p.close();
        }
    }
}
