//! Runs function binaries as AWS does: one process per instance, each with its own Lambda Runtime API.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::util;

/// Largest synchronous response payload Lambda accepts.
const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// Why an invocation produced no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvokeError {
    /// Ran past the function's timeout; the instance was killed.
    Timeout,
    /// The process exited (or failed init) before answering.
    Crashed(String),
    /// The function reported an error through `/error` (its JSON body).
    Function(String),
    /// The binary could not be started.
    Spawn(String),
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvokeError::Timeout => write!(f, "task timed out"),
            InvokeError::Crashed(m) => write!(f, "runtime exited: {m}"),
            InvokeError::Function(m) => write!(f, "function error: {m}"),
            InvokeError::Spawn(m) => write!(f, "cannot start: {m}"),
        }
    }
}

/// Where child output goes.
#[derive(Clone)]
pub enum LogSink {
    Stderr,
    File(Arc<Mutex<std::fs::File>>),
    Quiet,
}

impl LogSink {
    fn write_line(&self, prefix: &str, line: &str) {
        match self {
            LogSink::Stderr => {
                let _ = writeln!(std::io::stderr().lock(), "[{prefix}] {line}");
            }
            LogSink::File(f) => {
                if let Ok(mut f) = f.lock() {
                    let _ = writeln!(f, "[{prefix}] {line}");
                }
            }
            LogSink::Quiet => {}
        }
    }
}

/// Counters of one function.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct FunctionStats {
    pub instances_started: u64,
    pub instances_live: usize,
    pub invocations: u64,
    pub errors: u64,
    pub timeouts: u64,
    /// Inits that ran past the init limit (Lambda then runs init again within the invocation).
    pub init_timeouts: u64,
    pub crashes: u64,
    /// Per instance: time from spawn to its first `/next`, in milliseconds.
    pub init_times_ms: Vec<f64>,
}

enum Outcome {
    Response(Bytes),
    Error(Bytes),
    Died(String),
}

struct Event {
    request_id: String,
    body: Bytes,
    /// The handler's time: the deadline is set when the runtime takes the event.
    timeout: Duration,
    trace_id: String,
    /// Told when the runtime takes the event (its init, if any, is over).
    taken: Option<oneshot::Sender<()>>,
}

/// State shared by an instance's Runtime API server, its watcher and the pool.
struct InstanceShared {
    events: tokio::sync::Mutex<mpsc::Receiver<Event>>,
    /// Pending invocations; `None` once the process is gone.
    pending: Mutex<Option<HashMap<String, oneshot::Sender<Outcome>>>>,
    spawned_at: Instant,
    first_next: AtomicBool,
    init_error: Mutex<Option<String>>,
    arn: String,
    func: Arc<FnShared>,
}

impl InstanceShared {
    fn finish(&self, id: &str, outcome: Outcome) -> bool {
        let tx = self
            .pending
            .lock()
            .ok()
            .and_then(|mut p| p.as_mut().and_then(|p| p.remove(id)));
        match tx {
            Some(tx) => {
                let _ = tx.send(outcome);
                true
            }
            None => false,
        }
    }
    fn is_dead(&self) -> bool {
        self.pending.lock().map(|p| p.is_none()).unwrap_or(true)
    }
}

struct Instance {
    shared: Arc<InstanceShared>,
    events: mpsc::Sender<Event>,
    kill: Mutex<Option<oneshot::Sender<()>>>,
    server: JoinHandle<()>,
}

impl Instance {
    fn kill(&self) {
        if let Some(k) = self.kill.lock().ok().and_then(|mut k| k.take()) {
            let _ = k.send(());
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
        self.server.abort();
    }
}

/// Per-function shared state (counters and the set of live instances).
struct FnShared {
    name: String,
    log_prefix: String,
    stats: Mutex<FunctionStats>,
    invocations: AtomicU64,
    live: Mutex<HashMap<u64, Arc<Instance>>>,
}

/// Static settings of one function.
#[derive(Debug, Clone)]
pub struct FunctionSettings {
    /// Logical id, used as `AWS_LAMBDA_FUNCTION_NAME`.
    pub name: String,
    pub binary: PathBuf,
    pub timeout: Duration,
    pub memory_mb: u32,
    /// Environment (without the Runtime API address).
    pub env: Vec<(String, String)>,
    pub region: String,
    pub max_instances: usize,
    pub init_timeout: Duration,
}

/// A function and its pool of warm instances.
pub struct FunctionPool {
    settings: FunctionSettings,
    shared: Arc<FnShared>,
    idle: Mutex<Vec<Arc<Instance>>>,
    permits: Arc<Semaphore>,
    next_id: AtomicU64,
    log: LogSink,
    closed: AtomicBool,
}

impl FunctionPool {
    pub fn new(settings: FunctionSettings, log: LogSink) -> Self {
        let log_prefix = settings
            .binary
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| settings.name.clone());
        FunctionPool {
            shared: Arc::new(FnShared {
                name: settings.name.clone(),
                log_prefix,
                stats: Mutex::new(FunctionStats::default()),
                invocations: AtomicU64::new(0),
                live: Mutex::new(HashMap::new()),
            }),
            permits: Arc::new(Semaphore::new(settings.max_instances.max(1))),
            idle: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            settings,
            log,
            closed: AtomicBool::new(false),
        }
    }

    pub fn settings(&self) -> &FunctionSettings {
        &self.settings
    }

    /// Counters so far.
    pub fn stats(&self) -> FunctionStats {
        let mut s = self
            .shared
            .stats
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        s.invocations = self.shared.invocations.load(Ordering::Relaxed);
        s.instances_live = self.shared.live.lock().map(|l| l.len()).unwrap_or(0);
        s
    }

    fn count(&self, f: impl FnOnce(&mut FunctionStats)) {
        if let Ok(mut s) = self.shared.stats.lock() {
            f(&mut s);
        }
    }

    /// Invokes the function with a JSON payload and returns its response payload.
    pub async fn invoke(&self, payload: Bytes) -> Result<Bytes, InvokeError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(InvokeError::Spawn("gateway is shutting down".into()));
        }
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| InvokeError::Spawn("pool closed".into()))?;
        self.shared.invocations.fetch_add(1, Ordering::Relaxed);
        let warm = loop {
            let popped = self.idle.lock().ok().and_then(|mut i| i.pop());
            match popped {
                Some(i) if i.shared.is_dead() => continue,
                other => break other,
            }
        };
        let mut inst = warm;
        // An invocation given up on (its caller's future dropped: a client that went away during
        // `$connect`, a timeout around it) kills its instance, as Lambda does: otherwise the
        // process would run on after its permit was released, past the concurrency limit.
        let mut abandoned = KillIfAbandoned(None);
        // Lambda gives init a limit of its own (10 s). An init that runs past it is run again
        // as part of the invocation, and then init and handler share the function's timeout.
        let mut init_retried = false;
        let started = Instant::now();
        loop {
            let instance = match inst.take() {
                Some(i) => i,
                None => self
                    .spawn()
                    .await
                    .inspect_err(|_| self.count(|s| s.crashes += 1))?,
            };
            abandoned.0 = Some(instance.clone());
            let request_id = util::uuid_v4();
            let (tx, mut rx) = oneshot::channel();
            {
                let mut pending = instance
                    .shared
                    .pending
                    .lock()
                    .map_err(|_| InvokeError::Crashed("poisoned".into()))?;
                match pending.as_mut() {
                    Some(p) => {
                        p.insert(request_id.clone(), tx);
                    }
                    None => {
                        drop(pending);
                        self.count(|s| s.crashes += 1);
                        return Err(InvokeError::Crashed("instance exited".into()));
                    }
                }
            }
            let handler_time = if init_retried {
                self.settings.timeout.saturating_sub(started.elapsed())
            } else {
                self.settings.timeout
            };
            let (taken_tx, taken_rx) = oneshot::channel();
            let event = Event {
                request_id: request_id.clone(),
                body: payload.clone(),
                timeout: handler_time,
                trace_id: util::trace_id(),
                taken: Some(taken_tx),
            };
            if instance.events.send(event).await.is_err() {
                instance.kill();
                self.count(|s| s.crashes += 1);
                return Err(InvokeError::Crashed("instance gone".into()));
            }
            let init_limit = if init_retried {
                handler_time
            } else {
                self.settings.init_timeout
            };
            // Phase 1: the runtime takes the event (at once when warm; after init when cold).
            let early = tokio::select! {
                outcome = &mut rx => Some(outcome),
                taken = tokio::time::timeout(init_limit, taken_rx) => match taken {
                    Ok(_) => None,
                    Err(_) if !init_retried => {
                        self.log.write_line(
                            &self.shared.log_prefix,
                            &format!(
                                "INIT_REPORT Init Duration: {:.2} ms Phase: init Status: timeout",
                                init_limit.as_secs_f64() * 1000.0
                            ),
                        );
                        instance.kill();
                        self.count(|s| s.init_timeouts += 1);
                        init_retried = true;
                        continue;
                    }
                    Err(_) => {
                        return Err(self.timed_out(&instance, &request_id, self.settings.timeout));
                    }
                },
            };
            // Phase 2: the handler gets exactly its time from then on.
            let outcome = match early {
                Some(o) => Ok(o),
                None => tokio::time::timeout(handler_time, rx).await,
            };
            abandoned.0 = None;
            return match outcome {
                Ok(Ok(Outcome::Response(b))) => {
                    self.release(instance);
                    Ok(b)
                }
                Ok(Ok(Outcome::Error(b))) => {
                    self.release(instance);
                    self.count(|s| s.errors += 1);
                    Err(InvokeError::Function(
                        String::from_utf8_lossy(&b).into_owned(),
                    ))
                }
                Ok(Ok(Outcome::Died(m))) => {
                    instance.kill();
                    self.count(|s| s.crashes += 1);
                    Err(InvokeError::Crashed(m))
                }
                Ok(Err(_)) => {
                    instance.kill();
                    self.count(|s| s.crashes += 1);
                    Err(InvokeError::Crashed("instance exited".into()))
                }
                Err(_) => Err(self.timed_out(&instance, &request_id, self.settings.timeout)),
            };
        }
    }

    fn timed_out(&self, inst: &Instance, request_id: &str, limit: Duration) -> InvokeError {
        self.log.write_line(
            &self.shared.log_prefix,
            &format!(
                "{request_id} Task timed out after {:.2} seconds",
                limit.as_secs_f64()
            ),
        );
        inst.kill();
        self.count(|s| s.timeouts += 1);
        InvokeError::Timeout
    }

    fn release(&self, inst: Arc<Instance>) {
        if self.closed.load(Ordering::Relaxed) || inst.shared.is_dead() {
            inst.kill();
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(inst);
        }
    }

    async fn spawn(&self) -> Result<Arc<Instance>, InvokeError> {
        let s = &self.settings;
        if !s.binary.is_file() {
            let msg = format!("binary {} not found (build it first)", s.binary.display());
            self.log.write_line(&self.shared.log_prefix, &msg);
            return Err(InvokeError::Spawn(msg));
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| InvokeError::Spawn(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| InvokeError::Spawn(e.to_string()))?;
        let (ev_tx, ev_rx) = mpsc::channel(1);
        let shared = Arc::new(InstanceShared {
            events: tokio::sync::Mutex::new(ev_rx),
            pending: Mutex::new(Some(HashMap::new())),
            spawned_at: Instant::now(),
            first_next: AtomicBool::new(false),
            init_error: Mutex::new(None),
            arn: format!(
                "arn:aws:lambda:{}:123456789012:function:{}",
                s.region, s.name
            ),
            func: self.shared.clone(),
        });
        let app = runtime_api(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });

        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut cmd = tokio::process::Command::new(&s.binary);
        cmd.env_clear();
        for k in [
            "PATH",
            "LLVM_PROFILE_FILE",
            "RUST_BACKTRACE",
            "CARGO_LLVM_COV",
            "LANG",
        ] {
            if let Ok(v) = std::env::var(k) {
                cmd.env(k, v);
            }
        }
        cmd.envs(s.env.iter().map(|(k, v)| (k, v)));
        cmd.env("AWS_LAMBDA_RUNTIME_API", addr.to_string());
        let stream = format!(
            "{}/[$LATEST]{:032x}",
            chrono::Utc::now().format("%Y/%m/%d"),
            fastrand::u128(..)
        );
        cmd.env("AWS_LAMBDA_LOG_STREAM_NAME", stream);
        cmd.stdin(Stdio::null()).kill_on_drop(true);
        let quiet = matches!(self.log, LogSink::Quiet);
        if quiet {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        } else {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                server.abort();
                return Err(InvokeError::Spawn(format!("{}: {e}", s.binary.display())));
            }
        };
        if let Some(out) = child.stdout.take() {
            forward(out, self.log.clone(), self.shared.log_prefix.clone());
        }
        if let Some(err) = child.stderr.take() {
            forward(err, self.log.clone(), self.shared.log_prefix.clone());
        }
        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        let inst = Arc::new(Instance {
            shared: shared.clone(),
            events: ev_tx,
            kill: Mutex::new(Some(kill_tx)),
            server,
        });
        if let Ok(mut live) = self.shared.live.lock() {
            live.insert(id, inst.clone());
        }
        self.count(|st| st.instances_started += 1);

        // Watcher: owns the child, kills it on request (or when the instance is dropped),
        // then fails whatever was pending.
        let func = self.shared.clone();
        let log = self.log.clone();
        tokio::spawn(async move {
            let reason = tokio::select! {
                status = child.wait() => match status {
                    Ok(st) => format!("exited with {st}"),
                    Err(e) => format!("wait failed: {e}"),
                },
                _ = kill_rx => {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    "killed".to_string()
                }
            };
            let init_error = shared.init_error.lock().ok().and_then(|e| e.clone());
            let reason = match init_error {
                Some(e) => format!("init error: {e}"),
                None => reason,
            };
            let pending = shared.pending.lock().ok().and_then(|mut p| p.take());
            if let Some(pending) = pending {
                if !pending.is_empty() && reason != "killed" {
                    log.write_line(&func.log_prefix, &format!("runtime {reason}"));
                }
                for (_, tx) in pending {
                    let _ = tx.send(Outcome::Died(reason.clone()));
                }
            }
            if let Ok(mut live) = func.live.lock() {
                live.remove(&id);
            }
        });
        Ok(inst)
    }

    /// Kills (SIGKILL) one instance that is in the middle of an invocation, as a crash would;
    /// answers whether one was. Its invocation fails as Lambda's would; the next one starts a new
    /// instance.
    pub fn kill_busy(&self) -> bool {
        let live: Vec<Arc<Instance>> = self
            .shared
            .live
            .lock()
            .map(|l| l.values().cloned().collect())
            .unwrap_or_default();
        let busy = live.into_iter().find(|i| {
            i.shared
                .pending
                .lock()
                .is_ok_and(|p| p.as_ref().is_some_and(|p| !p.is_empty()))
        });
        match busy {
            Some(inst) => {
                self.log
                    .write_line(&self.shared.log_prefix, "instance killed mid-invocation");
                inst.kill();
                true
            }
            None => false,
        }
    }

    /// Kills every instance; later invocations fail.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.permits.close();
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
        let live: Vec<_> = self
            .shared
            .live
            .lock()
            .map(|l| l.values().cloned().collect())
            .unwrap_or_default();
        for i in live {
            i.kill();
        }
    }

    /// Waits until every instance process is gone (after [`close`](Self::close)).
    pub async fn wait_closed(&self, max: Duration) {
        let start = Instant::now();
        while start.elapsed() < max {
            if self
                .shared
                .live
                .lock()
                .map(|l| l.is_empty())
                .unwrap_or(true)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Logical id.
    pub fn name(&self) -> &str {
        &self.shared.name
    }
}

impl Drop for FunctionPool {
    fn drop(&mut self) {
        self.close();
    }
}

fn forward<R: AsyncRead + Unpin + Send + 'static>(r: R, log: LogSink, prefix: String) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            log.write_line(&prefix, &line);
        }
    });
}

fn runtime_api(shared: Arc<InstanceShared>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

async fn next(State(s): State<Arc<InstanceShared>>) -> Response {
    if !s.first_next.swap(true, Ordering::Relaxed) {
        let ms = s.spawned_at.elapsed().as_secs_f64() * 1000.0;
        if let Ok(mut st) = s.func.stats.lock() {
            st.init_times_ms.push(ms);
        }
    }
    let ev = s.events.lock().await.recv().await;
    let Some(mut ev) = ev else {
        return (StatusCode::GONE, "instance retired").into_response();
    };
    let deadline_ms = util::now_ms() + ev.timeout.as_millis() as i64;
    if let Some(taken) = ev.taken.take() {
        let _ = taken.send(());
    }
    let mut h = HeaderMap::new();
    let hv = |v: &str| HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static(""));
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("lambda-runtime-aws-request-id", hv(&ev.request_id));
    h.insert("lambda-runtime-deadline-ms", hv(&deadline_ms.to_string()));
    h.insert("lambda-runtime-invoked-function-arn", hv(&s.arn));
    h.insert("lambda-runtime-trace-id", hv(&ev.trace_id));
    (StatusCode::OK, h, ev.body).into_response()
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        [("content-type", "application/json")],
        r#"{"status":"OK"}"#,
    )
        .into_response()
}

fn unknown_request() -> Response {
    (
        StatusCode::BAD_REQUEST,
        [("content-type", "application/json")],
        r#"{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}"#,
    )
        .into_response()
}

async fn response(
    State(s): State<Arc<InstanceShared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let outcome = if body.len() > MAX_RESPONSE_BYTES {
        Outcome::Error(Bytes::from_static(
            br#"{"errorMessage":"Response payload size exceeded maximum allowed payload size (6291556 bytes).","errorType":"Function.ResponseSizeTooLarge"}"#,
        ))
    } else {
        Outcome::Response(body)
    };
    if s.finish(&id, outcome) {
        accepted()
    } else {
        unknown_request()
    }
}

async fn error(
    State(s): State<Arc<InstanceShared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if s.finish(&id, Outcome::Error(body)) {
        accepted()
    } else {
        unknown_request()
    }
}

async fn init_error(State(s): State<Arc<InstanceShared>>, body: Bytes) -> Response {
    if let Ok(mut e) = s.init_error.lock() {
        *e = Some(String::from_utf8_lossy(&body).into_owned());
    }
    accepted()
}

/// Kills the instance it holds when dropped holding it: the invocation on it was abandoned.
struct KillIfAbandoned(Option<Arc<Instance>>);

impl Drop for KillIfAbandoned {
    fn drop(&mut self) {
        if let Some(inst) = self.0.take() {
            inst.kill();
        }
    }
}
