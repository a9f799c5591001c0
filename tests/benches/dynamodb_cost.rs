//! DynamoDB cost per operation (not a test): for every HTTP endpoint and WebSocket action, the
//! DynamoDB requests it makes (by operation) and the read/write capacity they consume, measured
//! through the real stack. Writes `bench/results/dynamodb_cost.{json,md}`.
//!
//! A counting proxy in this process sits between the functions and DynamoDB Local (the gateway's
//! `dynamodb_endpoint` points at it). It adds `"ReturnConsumedCapacity": "INDEXES"` to each
//! data-plane request (DynamoDB Local does not check SigV4 signatures), counts requests by
//! `X-Amz-Target`, sums `ConsumedCapacity` from the answers, and names the calling function from
//! the process that owns the client socket. Operations run one at a time; everything the
//! functions ask of DynamoDB until the store has been quiet for `BENCH_SETTLE_MS` (default 500)
//! belongs to the operation, including the notifier's work on the table's stream (shown apart).
//! Stream reads and table descriptions (the gateway's own polling) are not counted.
//! A `Scan` from any function fails the run.
//!
//! Search: the small community's searches are rows of the table; then a community of 10,000
//! posts (`BENCH_SEARCH_POSTS`) is written through the store layer and indexed with the
//! indexer's code, and the index write cost of posts created through the API and the cost and
//! latency of searches through the gateway go to `bench/results/search.{json,md}`
//! (`BENCH_SEARCH_ONLY=1` runs that part alone).
//!
//! Needs DynamoDB Local (`TEST_DYNAMODB_ENDPOINT`, default port 8001) and the function binaries
//! (release when all are built, else debug: the counts are the same, the latencies are not). `BENCH_LOG=<file>` keeps the functions' logs.

mod common;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use e2e::*;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DATA_PLANE: [&str; 13] = [
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
    "ExecuteStatement",
    "BatchExecuteStatement",
    "ExecuteTransaction",
];
const WRITES: [&str; 6] = [
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "ExecuteTransaction",
];
/// Functions that run after the request has been answered (the table's stream consumers).
const ASYNC_CALLERS: [&str; 2] = ["notify", "search-indexer"];
/// Times each read is sent for its median latency (only the first is counted).
const READ_REPEATS: usize = 5;
/// The name given to requests from this process (the gateway's own stream polling).
const SELF: &str = "(gateway)";

/// One DynamoDB request a function made.
#[derive(Debug, Clone)]
struct Call {
    caller: String,
    op: String,
    rcu: f64,
    /// The write units counted: DynamoDB Local's figure, or for transactions the computed one.
    wcu: f64,
    /// What DynamoDB Local reported for a write.
    reported_wcu: f64,
    /// Write units computed from the items' sizes by DynamoDB's rules.
    computed_wcu: Option<f64>,
    /// The error type of a refused request (e.g. `ConditionalCheckFailedException`).
    error: Option<String>,
}

type Attrs = Map<String, Value>;

/// Bytes of one attribute value (wire JSON form) by DynamoDB's item-size rules.
fn value_size(v: &Value) -> usize {
    let Some((kind, x)) = v.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    let text = |x: &Value| x.as_str().map_or(0, str::len);
    let binary = |x: &Value| text(x) * 3 / 4;
    let list = |x: &Value| x.as_array().cloned().unwrap_or_default();
    match kind.as_str() {
        "S" => text(x),
        "N" => number_size(x.as_str().unwrap_or("0")),
        "B" => binary(x),
        "BOOL" | "NULL" => 1,
        "SS" => list(x).iter().map(text).sum(),
        "NS" => list(x)
            .iter()
            .map(|n| number_size(n.as_str().unwrap_or("0")))
            .sum(),
        "BS" => list(x).iter().map(binary).sum(),
        "L" => 3 + list(x).iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        "M" => {
            3 + x.as_object().map_or(0, |m| {
                m.iter().map(|(k, e)| 1 + k.len() + value_size(e)).sum()
            })
        }
        _ => 0,
    }
}

/// A number takes one byte per two significant digits, plus one.
fn number_size(n: &str) -> usize {
    let mantissa = n.split(['e', 'E']).next().unwrap_or(n);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    digits
        .trim_start_matches('0')
        .trim_end_matches('0')
        .len()
        .div_ceil(2)
        + 1
}

fn item_size(item: &Attrs) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

/// Write units for a size: 1 KB each, at least one.
fn kb_units(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

/// One item a write request touches.
struct Written {
    table: String,
    key: Attrs,
    /// The new item of a Put.
    put: Option<Attrs>,
    deletes: bool,
    /// A transaction's ConditionCheck (writes nothing).
    check: bool,
}

/// The counting proxy's state.
struct Counter {
    upstream: String,
    port: u16,
    client: reqwest::Client,
    /// Key attribute names of the table, and of each global index (projection ALL).
    table_key: Vec<String>,
    indexes: Vec<Vec<String>>,
    callers: Mutex<HashMap<SocketAddr, String>>,
    calls: Mutex<Vec<Call>>,
    /// Requests not counted, by `caller target`: stream reads, control plane, the gateway's own.
    uncounted: Mutex<BTreeMap<String, u64>>,
    in_flight: AtomicUsize,
    last_activity: Mutex<Instant>,
}

impl Counter {
    fn touch(&self) {
        *self.last_activity.lock().unwrap() = Instant::now();
    }

    fn mark(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    fn since(&self, mark: usize) -> Vec<Call> {
        self.calls.lock().unwrap()[mark..].to_vec()
    }

    /// The function whose process owns the client end of this connection.
    fn caller(&self, peer: SocketAddr) -> String {
        if let Some(c) = self.callers.lock().unwrap().get(&peer) {
            return c.clone();
        }
        let name = socket_owner(peer.port(), self.port).unwrap_or_else(|| "unknown".into());
        self.callers.lock().unwrap().insert(peer, name.clone());
        name
    }

    /// The items a write request touches (none for reads).
    fn written(&self, op: &str, body: &Value) -> Vec<Written> {
        let one = |kind: &str, w: &Value| -> Option<Written> {
            let table = w["TableName"].as_str()?.to_string();
            let put = (kind == "Put")
                .then(|| w["Item"].as_object().cloned())
                .flatten();
            let key = match &put {
                Some(item) => self
                    .table_key
                    .iter()
                    .filter_map(|k| item.get(k).map(|v| (k.clone(), v.clone())))
                    .collect(),
                None => w["Key"].as_object()?.clone(),
            };
            Some(Written {
                table,
                key,
                put,
                deletes: kind == "Delete",
                check: kind == "ConditionCheck",
            })
        };
        match op {
            "PutItem" => one("Put", body).into_iter().collect(),
            "UpdateItem" => one("Update", body).into_iter().collect(),
            "DeleteItem" => one("Delete", body).into_iter().collect(),
            "TransactWriteItems" => body["TransactItems"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|t| {
                            let (kind, w) = t.as_object()?.iter().next()?;
                            one(kind, w)
                        })
                        .collect()
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// The item as stored now (strongly consistent, straight from DynamoDB Local).
    async fn fetch(&self, headers: &HeaderMap, table: &str, key: &Attrs) -> Option<Attrs> {
        let body = json!({ "TableName": table, "Key": key, "ConsistentRead": true });
        let mut req = self
            .client
            .post(format!("{}/", self.upstream))
            .header("x-amz-target", "DynamoDB_20120810.GetItem")
            .header("content-type", "application/x-amz-json-1.0");
        if let Some(auth) = headers.get("authorization") {
            req = req.header("authorization", auth);
        }
        let v: Value = req
            .body(body.to_string())
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        v.get("Item")?.as_object().cloned()
    }

    fn index_key(&self, index: usize, item: Option<&Attrs>) -> Option<Vec<Value>> {
        let item = item?;
        self.indexes[index]
            .iter()
            .map(|n| item.get(n).cloned())
            .collect()
    }

    /// Write units of one item by DynamoDB's rules (before doubling for transactions): the
    /// larger of its sizes before and after, in 1 KB units, and the same for every index entry
    /// written (an entry whose key changes is a delete and a put).
    fn write_units(&self, pre: Option<&Attrs>, post: Option<&Attrs>) -> f64 {
        let size = |i: Option<&Attrs>| i.map_or(0, item_size);
        let larger = kb_units(size(pre).max(size(post)));
        let mut units = larger;
        for index in 0..self.indexes.len() {
            match (self.index_key(index, pre), self.index_key(index, post)) {
                (Some(a), Some(b)) if a == b => units += larger,
                (a, b) => {
                    if a.is_some() {
                        units += kb_units(size(pre));
                    }
                    if b.is_some() {
                        units += kb_units(size(post));
                    }
                }
            }
        }
        units
    }
}

/// Inode of the local TCP socket `local_port -> remote_port` from `/proc/net/tcp{,6}`.
fn socket_inode(local_port: u16, remote_port: u16) -> Option<String> {
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 {
                continue;
            }
            let port = |addr: &str| {
                addr.rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
            };
            if port(f[1]) == Some(local_port) && port(f[2]) == Some(remote_port) {
                return Some(f[9].to_string());
            }
        }
    }
    None
}

/// Name of the process (a child of this one, or this one) holding the socket.
fn socket_owner(peer_port: u16, proxy_port: u16) -> Option<String> {
    let inode = socket_inode(peer_port, proxy_port)?;
    let target = format!("socket:[{inode}]");
    let holds = |pid: u32| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| {
                d.flatten().any(|fd| {
                    std::fs::read_link(fd.path())
                        .is_ok_and(|l| l.to_string_lossy() == target.as_str())
                })
            })
            .unwrap_or(false)
    };
    if let Some((_, name)) = common::children().into_iter().find(|(pid, _)| holds(*pid)) {
        return Some(name);
    }
    holds(std::process::id()).then(|| SELF.to_string())
}

/// Total `CapacityUnits` of a `ConsumedCapacity` (an object, or a list for batches/transactions).
fn capacity_units(v: Option<&Value>) -> f64 {
    match v {
        Some(Value::Array(list)) => list.iter().map(|c| capacity_units(Some(c))).sum(),
        Some(Value::Object(o)) => o
            .get("CapacityUnits")
            .and_then(Value::as_f64)
            .unwrap_or(0.0),
        _ => 0.0,
    }
}

async fn proxy(
    State(c): State<Arc<Counter>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let op = target
        .strip_prefix("DynamoDB_20120810.")
        .filter(|op| DATA_PLANE.contains(op))
        .map(str::to_string);
    let caller = c.caller(peer);
    let counted = op.is_some() && caller != SELF;
    let mut body = body.to_vec();
    let mut request = Value::Null;
    if let Some(Ok(Value::Object(mut o))) =
        op.as_ref().map(|_| serde_json::from_slice::<Value>(&body))
    {
        o.insert("ReturnConsumedCapacity".into(), json!("INDEXES"));
        request = Value::Object(o);
        body = serde_json::to_vec(&request).expect("serializes");
    }
    if counted {
        c.in_flight.fetch_add(1, Ordering::SeqCst);
        c.touch();
    }
    let op = op.unwrap_or_default();
    let written = if counted {
        c.written(&op, &request)
    } else {
        Vec::new()
    };
    let mut before = Vec::with_capacity(written.len());
    for w in &written {
        before.push(c.fetch(&parts.headers, &w.table, &w.key).await);
    }
    let mut upstream = c.client.post(format!("{}{}", c.upstream, parts.uri));
    for (name, value) in &parts.headers {
        if !matches!(name.as_str(), "host" | "content-length") {
            upstream = upstream.header(name, value);
        }
    }
    let response = match upstream.body(body).send().await {
        Ok(r) => {
            let status = r.status();
            let headers = r.headers().clone();
            let bytes = r.bytes().await.unwrap_or_default();
            if counted {
                let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let units = capacity_units(v.get("ConsumedCapacity"));
                let write = WRITES.contains(&op.as_str());
                let error = (!status.is_success()).then(|| {
                    v.get("__type")
                        .and_then(Value::as_str)
                        .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
                        .unwrap_or_else(|| status.to_string())
                });
                let computed = if written.is_empty() {
                    None
                } else if error.is_none() {
                    let mut total = 0.0;
                    for (w, pre) in written.iter().zip(&before) {
                        total += if w.check {
                            kb_units(pre.as_ref().map_or(0, item_size))
                        } else {
                            let post = match (&w.put, w.deletes) {
                                (Some(item), _) => Some(item.clone()),
                                (None, true) => None,
                                (None, false) => c.fetch(&parts.headers, &w.table, &w.key).await,
                            };
                            c.write_units(pre.as_ref(), post.as_ref())
                        };
                    }
                    Some(if op == "TransactWriteItems" {
                        2.0 * total
                    } else {
                        total
                    })
                } else if op != "TransactWriteItems" {
                    // A refused conditional write still costs the units of the item it checked.
                    Some(kb_units(before[0].as_ref().map_or(0, item_size)))
                } else {
                    None
                };
                if op == "Scan" {
                    eprintln!("!!! {caller} sent a Scan to DynamoDB");
                }
                let reported_wcu = if write { units } else { 0.0 };
                // DynamoDB Local under-reports transactions (equal per-item amounts count once)
                // and reports nothing for refused writes: those take the computed units.
                let wcu = match (op.as_str(), computed, &error) {
                    ("TransactWriteItems", Some(units), _) | (_, Some(units), Some(_)) => units,
                    _ => reported_wcu,
                };
                c.calls.lock().unwrap().push(Call {
                    caller: caller.clone(),
                    op: op.clone(),
                    rcu: if write { 0.0 } else { units },
                    wcu,
                    reported_wcu,
                    computed_wcu: computed,
                    error,
                });
            } else {
                *c.uncounted
                    .lock()
                    .unwrap()
                    .entry(format!("{caller} {target}"))
                    .or_default() += 1;
            }
            let mut out = Response::builder().status(status);
            for (name, value) in &headers {
                if !matches!(name.as_str(), "content-length" | "transfer-encoding") {
                    out = out.header(name, value);
                }
            }
            out.body(Body::from(bytes)).expect("response")
        }
        Err(e) => Response::builder()
            .status(502)
            .body(Body::from(format!("proxy: {e}")))
            .expect("response"),
    };
    if counted {
        c.touch();
        c.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
    response
}

/// Starts the counting proxy in front of `upstream`; answers its URL and state.
async fn start_proxy(upstream: &str) -> (String, Arc<Counter>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind proxy");
    let addr = listener.local_addr().expect("proxy address");
    let table = local_gateway::Template::load(&template())
        .expect("template")
        .table
        .expect("the template has a table");
    let names = |schema: &[(String, String)]| schema.iter().map(|(n, _)| n.clone()).collect();
    let counter = Arc::new(Counter {
        upstream: upstream.trim_end_matches('/').to_string(),
        port: addr.port(),
        client: reqwest::Client::new(),
        table_key: names(&table.key_schema),
        indexes: table
            .global_indexes
            .iter()
            .map(|i| names(&i.key_schema))
            .collect(),
        callers: Mutex::new(HashMap::new()),
        calls: Mutex::new(Vec::new()),
        uncounted: Mutex::new(BTreeMap::new()),
        in_flight: AtomicUsize::new(0),
        last_activity: Mutex::new(Instant::now()),
    });
    let app = axum::Router::new()
        .fallback(proxy)
        .with_state(counter.clone());
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("proxy serves");
    });
    (format!("http://{addr}"), counter)
}

/// What one operation cost.
struct Row {
    section: &'static str,
    endpoint: String,
    status: String,
    latency_ms: f64,
    calls: Vec<Call>,
    /// Events pushed to WebSocket clients through the Management API.
    pushes: u64,
}

/// The requests of one operation type within one row.
#[derive(Debug, Default)]
struct OpTotal {
    requests: u64,
    rcu: f64,
    wcu: f64,
    refused: u64,
}

impl Row {
    fn ok(&self) -> bool {
        self.status.starts_with('2') || ["101", "sent", "closed"].contains(&self.status.as_str())
    }

    /// By caller, then by operation.
    fn by_caller(&self) -> BTreeMap<String, BTreeMap<String, OpTotal>> {
        let mut out: BTreeMap<String, BTreeMap<String, OpTotal>> = BTreeMap::new();
        for c in &self.calls {
            let e = out
                .entry(c.caller.clone())
                .or_default()
                .entry(c.op.clone())
                .or_default();
            e.requests += 1;
            e.rcu += c.rcu;
            e.wcu += c.wcu;
            e.refused += u64::from(c.error.is_some());
        }
        out
    }

    fn rcu(&self) -> f64 {
        self.calls.iter().map(|c| c.rcu).sum::<f64>() + 0.0
    }

    fn wcu(&self) -> f64 {
        self.calls.iter().map(|c| c.wcu).sum::<f64>() + 0.0
    }

    /// `Query 2, TransactWriteItems 1 (+ notify: GetItem 1)`.
    fn requests_text(&self) -> String {
        let ops = |calls: Vec<&Call>| {
            let mut by_op: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
            for c in calls {
                let e = by_op.entry(c.op.as_str()).or_default();
                e.0 += 1;
                e.1 += u64::from(c.error.is_some());
            }
            by_op
                .into_iter()
                .map(|(op, (n, failed))| match failed {
                    0 => format!("{op} {n}"),
                    f => format!("{op} {n} ({f} refused)"),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let sync: Vec<&Call> = self
            .calls
            .iter()
            .filter(|c| !ASYNC_CALLERS.contains(&c.caller.as_str()))
            .collect();
        let mut text = if sync.is_empty() {
            "none".to_string()
        } else {
            ops(sync)
        };
        for a in ASYNC_CALLERS {
            let calls: Vec<&Call> = self.calls.iter().filter(|c| c.caller == a).collect();
            if !calls.is_empty() {
                text.push_str(&format!(" (+ {a}: {})", ops(calls)));
            }
        }
        text
    }

    fn json(&self) -> Value {
        let mut requests: BTreeMap<String, u64> = BTreeMap::new();
        for c in &self.calls {
            *requests.entry(c.op.clone()).or_default() += 1;
        }
        let by_caller: Map<String, Value> = self
            .by_caller()
            .into_iter()
            .map(|(caller, ops)| {
                let ops: Map<String, Value> = ops
                    .into_iter()
                    .map(|(op, t)| {
                        (
                            op,
                            json!({ "requests": t.requests, "rcu": t.rcu, "wcu": t.wcu, "refused": t.refused }),
                        )
                    })
                    .collect();
                (caller, Value::Object(ops))
            })
            .collect();
        let refused: Vec<Value> = self
            .calls
            .iter()
            .filter_map(|c| {
                c.error
                    .as_ref()
                    .map(|e| json!({ "caller": c.caller, "op": c.op, "error": e }))
            })
            .collect();
        json!({
            "section": self.section,
            "endpoint": self.endpoint,
            "status": self.status,
            "latency_ms": self.latency_ms,
            "requests": requests,
            "rcu": self.rcu(),
            "wcu": self.wcu(),
            "dynamodb_local_reported_wcu": self.calls.iter().map(|c| c.reported_wcu).sum::<f64>(),
            "pushes": self.pushes,
            "by_caller": by_caller,
            "refused": refused,
        })
    }
}

struct Meter<'a> {
    stack: &'a Stack,
    counter: Arc<Counter>,
    settle: Duration,
    rows: Vec<Row>,
    section: &'static str,
}

impl Meter<'_> {
    /// Waits until no function has spoken to DynamoDB for the settle time.
    async fn quiesce(&self) {
        let started = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(25)).await;
            let idle = self.counter.last_activity.lock().unwrap().elapsed();
            let busy = self.counter.in_flight.load(Ordering::SeqCst) > 0;
            if (!busy && idle >= self.settle && started.elapsed() >= self.settle)
                || started.elapsed() > Duration::from_secs(20)
            {
                return;
            }
        }
    }

    /// For a WebSocket message (no answer to time): from sending it to DynamoDB's last answer.
    fn until_last_answer(&self, started: Instant) -> Option<Duration> {
        let last = *self.counter.last_activity.lock().unwrap();
        (last > started).then(|| last - started)
    }

    /// Management API posts so far (events pushed to WebSocket clients).
    fn pushes(&self) -> u64 {
        serde_json::to_value(self.stack.gateway.stats()).unwrap_or_default()["management"]
            ["delivered"]
            .as_u64()
            .unwrap_or(0)
    }

    fn record(
        &mut self,
        endpoint: &str,
        status: String,
        latency: Option<Duration>,
        mark: (usize, u64),
    ) {
        let end = self.counter.mark();
        self.record_until(endpoint, status, latency, mark, end);
    }

    /// Records the calls from `mark` up to `end` (the ones the operation made).
    fn record_until(
        &mut self,
        endpoint: &str,
        status: String,
        latency: Option<Duration>,
        mark: (usize, u64),
        end: usize,
    ) {
        let calls = self.counter.since(mark.0)[..end - mark.0].to_vec();
        let row = Row {
            section: self.section,
            endpoint: endpoint.to_string(),
            status,
            latency_ms: latency.map_or(f64::NAN, |l| l.as_secs_f64() * 1000.0),
            calls,
            pushes: self.pushes() - mark.1,
        };
        if !row.ok() {
            eprintln!("warning: {endpoint} answered {}", row.status);
        }
        println!(
            "{:<58} {:>6} {:>7.1}ms  RCU {:>5.1}  WCU {:>5.1}  {}",
            row.endpoint,
            row.status,
            row.latency_ms,
            row.rcu(),
            row.wcu(),
            row.requests_text()
        );
        self.rows.push(row);
    }

    /// One HTTP request, measured.
    async fn http(
        &mut self,
        endpoint: &str,
        api: &Api,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Resp {
        self.quiesce().await;
        let mark = (self.counter.mark(), self.pushes());
        let started = Instant::now();
        let r = match (method, body) {
            ("GET", _) => api.get(path).await,
            ("DELETE", _) => api.delete(path).await,
            ("POST", b) => api.post(path, b.unwrap_or_else(|| json!({}))).await,
            ("PUT", b) => api.put(path, b.unwrap_or_else(|| json!({}))).await,
            ("PATCH", b) => api.patch(path, b.unwrap_or_else(|| json!({}))).await,
            (m, _) => panic!("method {m}"),
        };
        let mut latencies = vec![started.elapsed().as_secs_f64()];
        self.quiesce().await;
        let calls_end = self.counter.mark();
        // Reads run a few more times (not counted) so the latency is a median, not one sample.
        if method == "GET" {
            for _ in 1..READ_REPEATS {
                let again = Instant::now();
                api.get(path).await;
                latencies.push(again.elapsed().as_secs_f64());
            }
            self.quiesce().await;
        }
        let latency = Duration::from_secs_f64(common::median(&latencies));
        self.record_until(
            endpoint,
            r.status.to_string(),
            Some(latency),
            mark,
            calls_end,
        );
        r
    }

    /// One WebSocket message, measured; an `error` event on the socket marks it refused.
    async fn ws_send(&mut self, endpoint: &str, ws: &mut Ws, message: Value) {
        self.quiesce().await;
        let mark = (self.counter.mark(), self.pushes());
        let started = Instant::now();
        ws.send(message).await;
        self.quiesce().await;
        let mut status = "sent".to_string();
        while let Some(ev) = ws.try_next(Duration::from_millis(20)).await {
            if ev["type"] == "error" {
                status = format!("error {}", ev["code"]);
            }
        }
        let latency = self.until_last_answer(started);
        self.record(endpoint, status, latency, mark);
    }

    /// `$connect`, measured: the open socket or the refusal.
    async fn ws_connect(
        &mut self,
        endpoint: &str,
        stack: &Stack,
        user: &User,
        community: Option<&str>,
    ) -> Ws {
        self.quiesce().await;
        let mark = (self.counter.mark(), self.pushes());
        let started = Instant::now();
        let ws = stack.ws(user, community).await;
        let latency = Some(started.elapsed());
        self.quiesce().await;
        let status = match &ws {
            Ok(_) => "101".to_string(),
            Err(s) => s.to_string(),
        };
        self.record(endpoint, status, latency, mark);
        ws.expect("websocket connects")
    }

    /// `$disconnect`, measured (the client closes).
    async fn ws_close(&mut self, endpoint: &str, ws: Ws) {
        self.quiesce().await;
        let mark = (self.counter.mark(), self.pushes());
        let started = Instant::now();
        ws.close().await;
        self.quiesce().await;
        let latency = self.until_last_answer(started);
        self.record(endpoint, "closed".into(), latency, mark);
    }
}

/// Keeps a listener's socket drained so that deliveries never back up.
fn drain(mut ws: Ws) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move { while ws.try_next(Duration::from_secs(3600)).await.is_some() {} })
}

fn id_of(r: &Resp) -> String {
    r.body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("an id in {r:?}"))
        .to_string()
}

/// DynamoDB Local's capacity accounting checked against DynamoDB's rules on known items:
/// writes 1 WCU per KB (per index too), transactions twice that, reads 1 RCU per 4 KB strongly
/// consistent and half of that eventually consistent.
async fn capacity_check(stack: &Stack) -> Value {
    use aws_sdk_dynamodb::types::{
        AttributeValue, Put, ReturnConsumedCapacity, TransactWriteItem, Update,
    };
    let s = |v: &str| AttributeValue::S(v.into());
    let item = |pk: &str| {
        HashMap::from([
            ("PK".to_string(), s(pk)),
            ("SK".to_string(), s("CAPACITY")),
            ("GSI1PK".to_string(), s("CAPACITY")),
            ("GSI1SK".to_string(), s(pk)),
            ("data".to_string(), s(&"x".repeat(3000))),
        ])
    };
    let (ddb, table) = (&stack.ddb, &stack.table);
    let units = |c: Option<&aws_sdk_dynamodb::types::ConsumedCapacity>| {
        c.and_then(|c| c.capacity_units).unwrap_or(f64::NAN)
    };
    let put = ddb
        .put_item()
        .table_name(table)
        .set_item(Some(item("BENCH#a")))
        .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
        .send()
        .await
        .expect("put");
    let get = |consistent: bool| {
        ddb.get_item()
            .table_name(table)
            .key("PK", s("BENCH#a"))
            .key("SK", s("CAPACITY"))
            .consistent_read(consistent)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
    };
    let eventual = get(false).await.expect("get");
    let strong = get(true).await.expect("get");
    let transact = ddb
        .transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(table)
                        .set_item(Some(item("BENCH#b")))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .transact_items(
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name(table)
                        .key("PK", s("BENCH#a"))
                        .key("SK", s("CAPACITY"))
                        .update_expression("ADD n :one")
                        .expression_attribute_values(":one", AttributeValue::N("1".into()))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
        .send()
        .await
        .expect("transact");
    let checks = [
        (
            "PutItem, 3 KB item in the table and GSI1",
            6.0,
            units(put.consumed_capacity()),
        ),
        (
            "GetItem, 3 KB, eventually consistent",
            0.5,
            units(eventual.consumed_capacity()),
        ),
        (
            "GetItem, 3 KB, strongly consistent",
            1.0,
            units(strong.consumed_capacity()),
        ),
        (
            "TransactWriteItems, Put and Update of 3 KB items, both in GSI1",
            24.0,
            transact
                .consumed_capacity()
                .iter()
                .map(|c| units(Some(c)))
                .sum(),
        ),
    ];
    let all_match = checks.iter().all(|(_, want, got)| want == got);
    for (what, want, got) in &checks {
        if want != got {
            println!(
                "DynamoDB Local reports {got} units for {what}; DynamoDB's rules say {want} \
                 (transactions are computed from item sizes instead)"
            );
        }
    }
    json!({
        "all_match": all_match,
        "checks": checks.iter().map(|(what, want, got)| json!({
            "what": what, "by_the_rules": want, "dynamodb_local": got,
        })).collect::<Vec<_>>(),
    })
}

fn markdown(rows: &[Row], audience: usize, write_check: &Value) -> String {
    let mut md = String::from("## DynamoDB requests and capacity per operation\n\n");
    md.push_str(&format!(
        "Measured through the local stack (`tests/benches/dynamodb_cost.rs`): a counting proxy between the \
         functions and DynamoDB Local, one operation at a time, on a community with 25 posts, a thread \
         of 10 replies, 30 chat messages and {audience} listening WebSocket connections (chat sends \
         over the WebSocket have one more: the sender's). RCU and WCU are on-demand read and write \
         request units: reads and single-item writes as DynamoDB Local reports them in \
         `ConsumedCapacity` ({} of {} single-item writes also equal the units computed from the \
         items' sizes); `TransactWriteItems`, which DynamoDB Local under-reports, and writes a \
         condition refused (billed, but reported as nothing) are computed from the sizes of the \
         items before and after, by DynamoDB's rules (1 KB units per item and per index entry, x2 \
         in a transaction; a ConditionCheck as a write of the item it checks). \"(+ notify: ...)\" \
         is the work the table's stream hands to the notifier after the answer. \
         Stream reads by Lambda are free and not counted.\n\n",
        write_check["computed_equals_reported"],
        write_check["single_item_writes"],
    ));
    let mut sections: Vec<&str> = Vec::new();
    for r in rows {
        if !sections.contains(&r.section) {
            sections.push(r.section);
        }
    }
    for section in sections {
        md.push_str(&format!(
            "**{section}**\n\n| Endpoint | DynamoDB requests | RCU | WCU |\n| --- | --- | ---: | ---: |\n"
        ));
        for r in rows.iter().filter(|r| r.section == section) {
            let endpoint = match r.endpoint.split_once(" (") {
                Some((path, note)) => format!("`{path}` ({note}"),
                None => format!("`{}`", r.endpoint),
            };
            let endpoint = if r.ok() {
                endpoint
            } else {
                format!("{endpoint} (answered {})", r.status)
            };
            md.push_str(&format!(
                "| {endpoint} | {} | {} | {} |\n",
                r.requests_text(),
                units(r.rcu()),
                units(r.wcu())
            ));
        }
        md.push('\n');
    }
    md
}

fn units(v: f64) -> String {
    if v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let settle = Duration::from_millis(common::env_usize("BENCH_SETTLE_MS", 500) as u64);
    let (proxy_url, counter) = start_proxy(&dynamodb_endpoint()).await;
    let (bins, build) = common::function_binaries();
    let stack = Stack::start_with(|cfg| {
        cfg.bin_dir = bins.clone();
        cfg.dynamodb_endpoint = proxy_url.clone();
        // `BENCH_LOG=<file>` keeps the functions' logs (`BENCH_LOG_LEVEL`, default info).
        if let Ok(path) = std::env::var("BENCH_LOG") {
            cfg.quiet = false;
            cfg.log_file = Some(path.into());
            let level = std::env::var("BENCH_LOG_LEVEL").unwrap_or_else(|_| "info".into());
            cfg.env_overrides.insert("RUST_LOG".into(), level);
        }
    })
    .await;
    let capacity = capacity_check(&stack).await;
    let mut m = Meter {
        stack: &stack,
        counter: counter.clone(),
        settle,
        rows: Vec::new(),
        section: "",
    };
    // `BENCH_DIGEST_ONLY=1`: only the digest run of a course (printed, not written).
    if std::env::var("BENCH_DIGEST_ONLY").is_ok_and(|v| v == "1") {
        m.section = "Email";
        let digest = digest_of_a_course(&mut m, &proxy_url, &bins).await;
        println!(
            "{}",
            serde_json::to_string_pretty(&digest).unwrap_or_default()
        );
        println!("{}", digest_markdown(&digest));
        return;
    }
    // `BENCH_SEARCH_ONLY=1`: only the search at scale (its own results file).
    if std::env::var("BENCH_SEARCH_ONLY").is_ok_and(|v| v == "1") {
        let search_report = search_at_scale(&mut m).await;
        write_search_results(&search_report, build);
        return;
    }

    // ---------------------------------------------------------------- the world (not measured)
    let admin = stack.admin();
    let admin_api = stack.api(&admin);
    let course = stack.course().await;
    let cid = course.community_id.clone();
    let instructor = stack.api(&course.instructor);
    let moderator = stack.moderator(&course).await;
    let mod_api = stack.api(&moderator);
    let mut members = Vec::new();
    for _ in 0..5 {
        members.push(stack.member(&course).await);
    }
    let leaver = stack.member(&course).await;
    let alice = members[0].clone();
    let bob = members[1].clone();
    let alice_api = stack.api(&alice);
    let bob_api = stack.api(&bob);
    // 25 posts by five authors (the post rate limit is per user), one of them with 10 replies.
    let mut posts = Vec::new();
    for i in 0..25 {
        let api = stack.api(&members[i % 5]);
        let r = api
            .post(
                "/api/community/posts/",
                json!({ "community": cid, "title": format!("Post {i}"),
                        "content": format!("Some content of a typical length for post {i}. ").repeat(6) }),
            )
            .await;
        assert_eq!(r.status, 201, "seed post: {r:?}");
        posts.push(id_of(&r));
    }
    let thread = posts[0].clone();
    for i in 0..10 {
        let api = stack.api(&members[1 + i % 4]);
        let r = api
            .post(
                "/api/community/posts/",
                json!({ "community": cid, "parent": thread,
                        "content": format!("Reply {i} @{} with some words in it.", alice.username) }),
            )
            .await;
        assert_eq!(r.status, 201, "seed reply: {r:?}");
    }
    for (i, u) in members.iter().enumerate().skip(1) {
        let t = ["like", "love", "helpful", "wow"][i % 4];
        stack
            .api(u)
            .post(
                &format!("/api/community/posts/{thread}/react/"),
                json!({ "reaction_type": t }),
            )
            .await;
    }
    let mut messages = Vec::new();
    for i in 0..30 {
        let api = stack.api(&members[i % 5]);
        let r = api
            .post(
                "/api/community/messages/",
                json!({ "community": cid, "message": format!("Chat message number {i}"), "message_type": "text" }),
            )
            .await;
        assert_eq!(r.status, 201, "seed message: {r:?}");
        messages.push(id_of(&r));
    }
    // Listeners: the audience of every chat event.
    let mut listeners = Vec::new();
    for u in &members[2..] {
        listeners.push(drain(
            stack.ws(u, Some(&cid)).await.expect("listener connects"),
        ));
    }
    listeners.push(drain(
        stack
            .ws(&moderator, Some(&cid))
            .await
            .expect("listener connects"),
    ));
    let audience = listeners.len();
    // Warm every HTTP function once so latencies are those of warm instances.
    alice_api
        .get("/api/community/notifications/unread-count/")
        .await;

    // ---------------------------------------------------------------- LMS sync
    m.section = "LMS sync (admin)";
    let newcomer = stack.user(Role::Student);
    let user_path = format!("/api/community/lms/users/{}/", newcomer.id);
    let user_body = json!({ "name": newcomer.name, "username": newcomer.username });
    m.http(
        "PUT /lms/users/{id}/ (new user)",
        &admin_api,
        "PUT",
        &user_path,
        Some(user_body.clone()),
    )
    .await;
    m.http(
        "PUT /lms/users/{id}/ (unchanged)",
        &admin_api,
        "PUT",
        &user_path,
        Some(user_body),
    )
    .await;
    let course_id = format!("bench-course-{}", &cid[16..]);
    m.http(
        "PUT /lms/courses/{id}/ (new course and community)",
        &admin_api,
        "PUT",
        &format!("/api/community/lms/courses/{course_id}/"),
        Some(
            json!({ "title": "Benchmarks 101", "description": "Counting requests",
                         "instructor_ids": [course.instructor.id] }),
        ),
    )
    .await;
    let enrollment_path = format!(
        "/api/community/lms/courses/{}/enrollments/{}/",
        course.course_id, newcomer.id
    );
    m.http(
        "PUT /lms/courses/{id}/enrollments/{user}/",
        &admin_api,
        "PUT",
        &enrollment_path,
        Some(json!({ "is_active": true, "expiry_date": null })),
    )
    .await;

    // ---------------------------------------------------------------- communities
    m.section = "Communities";
    let newcomer_api = stack.api(&newcomer);
    m.http(
        "GET /groups/",
        &alice_api,
        "GET",
        "/api/community/groups/",
        None,
    )
    .await;
    m.http(
        "GET /groups/?mine=true",
        &alice_api,
        "GET",
        "/api/community/groups/?mine=true",
        None,
    )
    .await;
    m.http(
        "POST /groups/ (admin)",
        &admin_api,
        "POST",
        "/api/community/groups/",
        Some(
            json!({ "title": "Study hall", "description": "Open to all", "visibility": "public" }),
        ),
    )
    .await;
    let group = format!("/api/community/groups/{cid}/");
    m.http("GET /groups/{id}/", &alice_api, "GET", &group, None)
        .await;
    m.http(
        "PATCH /groups/{id}/ (instructor)",
        &instructor,
        "PATCH",
        &group,
        Some(json!({ "description": "Weekly Q&A on Fridays" })),
    )
    .await;
    m.http(
        "POST /groups/{id}/join/",
        &newcomer_api,
        "POST",
        &format!("{group}join/"),
        None,
    )
    .await;
    m.http(
        "GET /groups/{id}/members/",
        &alice_api,
        "GET",
        &format!("{group}members/"),
        None,
    )
    .await;
    m.http(
        "PATCH /groups/{id}/members/{user}/ (role)",
        &instructor,
        "PATCH",
        &format!("{group}members/{}/", newcomer.id),
        Some(json!({ "role": "moderator" })),
    )
    .await;
    m.http(
        "POST /groups/{id}/leave/",
        &newcomer_api,
        "POST",
        &format!("{group}leave/"),
        None,
    )
    .await;
    m.http(
        "DELETE /groups/{id}/members/{user}/",
        &instructor,
        "DELETE",
        &format!("{group}members/{}/", leaver.id),
        None,
    )
    .await;
    m.section = "LMS sync (admin)";
    m.http(
        "DELETE /lms/courses/{id}/enrollments/{user}/",
        &admin_api,
        "DELETE",
        &enrollment_path,
        None,
    )
    .await;

    // ---------------------------------------------------------------- posts
    m.section = "Posts";
    m.http(
        "GET /posts/?community= (page of 20)",
        &alice_api,
        "GET",
        &format!("/api/community/posts/?community={cid}"),
        None,
    )
    .await;
    m.http(
        "GET /groups/{id}/posts/",
        &alice_api,
        "GET",
        &format!("{group}posts/"),
        None,
    )
    .await;
    let created = m
        .http(
            "POST /posts/ (new post)",
            &alice_api,
            "POST",
            "/api/community/posts/",
            Some(json!({ "community": cid, "title": "Question about lesson 5",
                         "content": format!("I don't understand the second exercise. @{} could you help?", bob.username) })),
        )
        .await;
    let post = id_of(&created);
    let post_path = format!("/api/community/posts/{post}/");
    m.http(
        "POST /groups/{id}/posts/",
        &alice_api,
        "POST",
        &format!("{group}posts/"),
        Some(json!({ "title": "Study group on Friday?", "content": "Anyone up for a study session?" })),
    )
    .await;
    m.http(
        "POST /posts/ (reply)",
        &bob_api,
        "POST",
        "/api/community/posts/",
        Some(json!({ "community": cid, "parent": post, "content": "Same question here." })),
    )
    .await;
    m.http(
        "GET /posts/{id}/ (thread of 10 replies)",
        &bob_api,
        "GET",
        &format!("/api/community/posts/{thread}/"),
        None,
    )
    .await;
    m.http(
        "PATCH /posts/{id}/",
        &alice_api,
        "PATCH",
        &post_path,
        Some(json!({ "content": "Never mind, I got it." })),
    )
    .await;
    m.http(
        "PUT /posts/{id}/",
        &alice_api,
        "PUT",
        &post_path,
        Some(json!({ "title": "Solved: lesson 5", "content": "Never mind, I got it. Thanks!" })),
    )
    .await;
    m.http(
        "GET /posts/{id}/edits/",
        &alice_api,
        "GET",
        &format!("{post_path}edits/"),
        None,
    )
    .await;
    m.http(
        "POST /posts/{id}/react/",
        &alice_api,
        "POST",
        &format!("/api/community/posts/{thread}/react/"),
        Some(json!({ "reaction_type": "helpful" })),
    )
    .await;
    m.http(
        "DELETE /posts/{id}/react/?reaction_type=",
        &alice_api,
        "DELETE",
        &format!("/api/community/posts/{thread}/react/?reaction_type=helpful"),
        None,
    )
    .await;
    m.http(
        "POST /posts/{id}/pin/ (moderator)",
        &mod_api,
        "POST",
        &format!("{post_path}pin/"),
        None,
    )
    .await;
    m.http(
        "POST /posts/{id}/unpin/ (moderator)",
        &mod_api,
        "POST",
        &format!("{post_path}unpin/"),
        None,
    )
    .await;
    m.http(
        "POST /posts/{id}/flag/",
        &bob_api,
        "POST",
        &format!("{post_path}flag/"),
        Some(json!({ "reason": "Contains the exam answers." })),
    )
    .await;
    m.http(
        "GET /posts/{id}/flags/ (moderator)",
        &mod_api,
        "GET",
        &format!("{post_path}flags/"),
        None,
    )
    .await;
    m.http(
        "POST /posts/{id}/resolve-flags/ (moderator)",
        &mod_api,
        "POST",
        &format!("{post_path}resolve-flags/"),
        Some(json!({ "note": "Answers removed by the author." })),
    )
    .await;
    m.http(
        "POST /posts/{id}/notes/ (moderator)",
        &mod_api,
        "POST",
        &format!("{post_path}notes/"),
        Some(json!({ "note": "Second warning for this user." })),
    )
    .await;
    m.http(
        "GET /posts/{id}/notes/ (moderator)",
        &mod_api,
        "GET",
        &format!("{post_path}notes/"),
        None,
    )
    .await;
    // Two posts held for approval (not measured), then the queue, approve and reject.
    instructor
        .patch(&group, json!({ "require_post_approval": true }))
        .await;
    let carol_api = stack.api(&members[3]);
    let mut pending = Vec::new();
    for i in 0..2 {
        let r = carol_api
            .post(
                "/api/community/posts/",
                json!({ "community": cid, "title": format!("Pending {i}"), "content": "Waiting." }),
            )
            .await;
        pending.push(id_of(&r));
    }
    instructor
        .patch(&group, json!({ "require_post_approval": false }))
        .await;
    m.http(
        "GET /groups/{id}/moderation/ (moderator)",
        &mod_api,
        "GET",
        &format!("{group}moderation/"),
        None,
    )
    .await;
    m.http(
        "POST /posts/{id}/approve/ (moderator)",
        &mod_api,
        "POST",
        &format!("/api/community/posts/{}/approve/", pending[0]),
        Some(json!({ "reason": "Welcome!" })),
    )
    .await;
    m.http(
        "POST /posts/{id}/reject/ (moderator)",
        &mod_api,
        "POST",
        &format!("/api/community/posts/{}/reject/", pending[1]),
        Some(json!({ "reason": "Please post this in the course Q&A." })),
    )
    .await;
    m.http(
        "DELETE /posts/{id}/ (author)",
        &alice_api,
        "DELETE",
        &post_path,
        None,
    )
    .await;

    // ---------------------------------------------------------------- chat over REST
    m.section = "Chat (REST)";
    m.http(
        "GET /messages/?community= (page of 20)",
        &alice_api,
        "GET",
        &format!("/api/community/messages/?community={cid}"),
        None,
    )
    .await;
    m.http(
        "GET /groups/{id}/messages/",
        &alice_api,
        "GET",
        &format!("{group}messages/"),
        None,
    )
    .await;
    m.http(
        "GET /messages/?community=&after= (5 newer)",
        &alice_api,
        "GET",
        &format!(
            "/api/community/messages/?community={cid}&after={}",
            messages[messages.len() - 6]
        ),
        None,
    )
    .await;
    let sent = m
        .http(
            &format!("POST /messages/ ({audience} subscribers)"),
            &alice_api,
            "POST",
            "/api/community/messages/",
            Some(
                json!({ "community": cid, "message": "Has anyone started exercise 3?",
                         "message_type": "text", "client_id": "bench-1" }),
            ),
        )
        .await;
    let message = id_of(&sent);
    let message_path = format!("/api/community/messages/{message}/");
    m.http(
        "GET /messages/{id}/",
        &alice_api,
        "GET",
        &message_path,
        None,
    )
    .await;
    m.http(
        "PATCH /messages/{id}/",
        &alice_api,
        "PATCH",
        &message_path,
        Some(json!({ "message": "Has anyone finished exercise 3?" })),
    )
    .await;
    m.http(
        "POST /messages/{id}/mark-as-read/",
        &bob_api,
        "POST",
        &format!("{message_path}mark-as-read/"),
        None,
    )
    .await;
    m.http(
        "GET /messages/unread-count/?community=",
        &bob_api,
        "GET",
        &format!("/api/community/messages/unread-count/?community={cid}"),
        None,
    )
    .await;
    m.http(
        "GET /groups/{id}/online/",
        &alice_api,
        "GET",
        &format!("{group}online/"),
        None,
    )
    .await;
    m.http(
        "DELETE /messages/{id}/",
        &alice_api,
        "DELETE",
        &message_path,
        None,
    )
    .await;

    // ---------------------------------------------------------------- notifications
    m.section = "Notifications";
    let listed = m
        .http(
            "GET /notifications/",
            &alice_api,
            "GET",
            "/api/community/notifications/",
            None,
        )
        .await;
    m.http(
        "GET /notifications/?unread=true",
        &alice_api,
        "GET",
        "/api/community/notifications/?unread=true",
        None,
    )
    .await;
    m.http(
        "GET /notifications/unread-count/",
        &alice_api,
        "GET",
        "/api/community/notifications/unread-count/",
        None,
    )
    .await;
    match listed.body["results"]
        .as_array()
        .and_then(|r| r.first())
        .and_then(|n| n["id"].as_str())
    {
        Some(n) => {
            let path = format!("/api/community/notifications/{n}/");
            m.http("GET /notifications/{id}/", &alice_api, "GET", &path, None)
                .await;
            m.http(
                "POST /notifications/{id}/mark-as-read/",
                &alice_api,
                "POST",
                &format!("{path}mark-as-read/"),
                None,
            )
            .await;
        }
        None => eprintln!(
            "warning: no notification was generated for the seed's replies and mentions; \
             GET /notifications/{{id}}/ and its mark-as-read are not measured"
        ),
    }
    m.http(
        "POST /notifications/mark-all-as-read/",
        &alice_api,
        "POST",
        "/api/community/notifications/mark-all-as-read/",
        None,
    )
    .await;
    m.http(
        "GET /notifications/preferences/",
        &alice_api,
        "GET",
        "/api/community/notifications/preferences/",
        None,
    )
    .await;
    m.http(
        "PUT /notifications/preferences/",
        &alice_api,
        "PUT",
        "/api/community/notifications/preferences/",
        Some(json!({ "new_post": false, "new_mention": true })),
    )
    .await;
    m.http(
        "GET /groups/{id}/watch/",
        &alice_api,
        "GET",
        &format!("{group}watch/"),
        None,
    )
    .await;
    m.http(
        "POST /groups/{id}/watch/",
        &alice_api,
        "POST",
        &format!("{group}watch/"),
        None,
    )
    .await;
    m.http(
        "DELETE /groups/{id}/watch/",
        &alice_api,
        "DELETE",
        &format!("{group}watch/"),
        None,
    )
    .await;

    // ---------------------------------------------------------------- WebSocket
    m.section = "WebSocket";
    let mut ws = m
        .ws_connect("$connect ?community_id=", &stack, &alice, Some(&cid))
        .await;
    let mut second_ws = m
        .ws_connect("$connect (no community)", &stack, &alice, None)
        .await;
    m.ws_send(
        "subscribe",
        &mut second_ws,
        json!({ "type": "subscribe", "community_id": cid }),
    )
    .await;
    m.ws_send(
        "unsubscribe",
        &mut second_ws,
        json!({ "type": "unsubscribe", "community_id": cid }),
    )
    .await;
    m.ws_send("ping", &mut ws, json!({ "type": "ping" })).await;
    m.ws_send(
        &format!("chat_message ({} subscribers)", audience + 1),
        &mut ws,
        json!({ "type": "chat_message", "community_id": cid, "message": "Has anyone started exercise 3?",
                "message_type": "text", "client_id": "bench-ws-1" }),
    )
    .await;
    let last = alice_api
        .get(&format!("/api/community/messages/?community={cid}&limit=1"))
        .await;
    let own = last.body["results"][0]["id"]
        .as_str()
        .expect("the message just sent")
        .to_string();
    m.ws_send(
        "chat_message (reply_to)",
        &mut ws,
        json!({ "type": "chat_message", "community_id": cid, "message": "Yes, question 2 is tricky",
                "message_type": "text", "reply_to": messages[0], "client_id": "bench-ws-2" }),
    )
    .await;
    m.ws_send(
        &format!("typing ({} subscribers)", audience + 1),
        &mut ws,
        json!({ "type": "typing", "community_id": cid, "is_typing": true }),
    )
    .await;
    m.ws_send(
        "read_receipt",
        &mut ws,
        json!({ "type": "read_receipt", "message_id": messages[messages.len() - 1] }),
    )
    .await;
    m.ws_send(
        "edit_message",
        &mut ws,
        json!({ "type": "edit_message", "message_id": own, "message": "Has anyone started exercise 4?" }),
    )
    .await;
    m.ws_send(
        "delete_message",
        &mut ws,
        json!({ "type": "delete_message", "message_id": own }),
    )
    .await;
    // The same chat events with 10 more listeners: what each further subscriber adds.
    for _ in 0..10 {
        let u = stack.member(&course).await;
        listeners.push(drain(
            stack.ws(&u, Some(&cid)).await.expect("listener connects"),
        ));
    }
    let crowd = listeners.len() + 1;
    m.ws_send(
        &format!("chat_message ({crowd} subscribers)"),
        &mut ws,
        json!({ "type": "chat_message", "community_id": cid, "message": "And exercise 5?",
                "message_type": "text", "client_id": "bench-ws-3" }),
    )
    .await;
    m.ws_send(
        &format!("typing ({crowd} subscribers)"),
        &mut ws,
        json!({ "type": "typing", "community_id": cid, "is_typing": true }),
    )
    .await;
    m.section = "Chat (REST)";
    m.http(
        &format!("POST /messages/ ({crowd} subscribers)"),
        &alice_api,
        "POST",
        "/api/community/messages/",
        Some(
            json!({ "community": cid, "message": "Sent over REST to a larger room",
                     "message_type": "text" }),
        ),
    )
    .await;
    // ---------------------------------------------------------------- education forum
    m.section = "Education forum";
    let groups_path = format!("/api/community/groups/{cid}/");
    m.http(
        "PUT /groups/{id}/tags/",
        &instructor,
        "PUT",
        &format!("{groups_path}tags/"),
        Some(json!({ "tags": ["hw1", "exam", "lecture"] })),
    )
    .await;
    let question = m
        .http(
            "POST /posts/ (a question with a tag)",
            &alice_api,
            "POST",
            "/api/community/posts/",
            Some(json!({ "community": cid, "kind": "question", "title": "Why does the borrow end here?",
                         "content": "The compiler says the borrow lives too long.", "tags": ["hw1"] })),
        )
        .await;
    let question = id_of(&question);
    let answer = m
        .http(
            "POST /posts/ (an answer to a question)",
            &bob_api,
            "POST",
            "/api/community/posts/",
            Some(json!({ "community": cid, "parent": question,
                         "content": "Because the reference is used after the loop." })),
        )
        .await;
    let answer = id_of(&answer);
    m.http(
        "POST /posts/{id}/accept/ (by the question's author)",
        &alice_api,
        "POST",
        &format!("/api/community/posts/{answer}/accept/"),
        None,
    )
    .await;
    m.http(
        "POST /posts/{id}/endorse/",
        &mod_api,
        "POST",
        &format!("/api/community/posts/{answer}/endorse/"),
        None,
    )
    .await;
    m.http(
        "POST /posts/{id}/resolve/",
        &alice_api,
        "POST",
        &format!("/api/community/posts/{question}/resolve/"),
        None,
    )
    .await;
    let twin = stack
        .api(&members[2])
        .post(
            "/api/community/posts/",
            json!({ "community": cid, "kind": "question", "title": "Borrow ends too late?",
                    "content": "Same question again." }),
        )
        .await;
    let twin = id_of(&twin);
    m.http(
        "POST /posts/{id}/duplicate/",
        &mod_api,
        "POST",
        &format!("/api/community/posts/{twin}/duplicate/"),
        Some(json!({ "of": question })),
    )
    .await;
    m.http(
        "GET /posts/?community=&kind=question&unanswered=true",
        &bob_api,
        "GET",
        &format!("/api/community/posts/?community={cid}&kind=question&unanswered=true"),
        None,
    )
    .await;
    m.http(
        "GET /posts/?community=&tag=",
        &bob_api,
        "GET",
        &format!("/api/community/posts/?community={cid}&tag=hw1"),
        None,
    )
    .await;
    m.http(
        "POST /posts/ (an announcement to every member)",
        &instructor,
        "POST",
        "/api/community/posts/",
        Some(
            json!({ "community": cid, "kind": "announcement", "title": "Exam on Friday",
                     "content": "Room 4, 9 am." }),
        ),
    )
    .await;
    m.http(
        "GET /groups/{id}/audit/",
        &instructor,
        "GET",
        &format!("{groups_path}audit/"),
        None,
    )
    .await;
    m.http(
        "PATCH /groups/{id}/ (archive)",
        &instructor,
        "PATCH",
        &groups_path,
        Some(json!({ "is_archived": true })),
    )
    .await;
    m.http(
        "POST /posts/ (refused: archived)",
        &alice_api,
        "POST",
        "/api/community/posts/",
        Some(json!({ "community": cid, "title": "Late", "content": "Too late" })),
    )
    .await;
    m.http(
        "PATCH /groups/{id}/ (unarchive)",
        &instructor,
        "PATCH",
        &groups_path,
        Some(json!({ "is_archived": false })),
    )
    .await;
    // ---------------------------------------------------------------- direct messages
    m.section = "Direct messages";
    let conversations = "/api/community/conversations";
    let created = m
        .http(
            "POST /conversations/ (a pair)",
            &alice_api,
            "POST",
            &format!("{conversations}/"),
            Some(json!({ "members": [bob.id] })),
        )
        .await;
    let conversation = id_of(&created);
    m.http(
        "POST /conversations/ (the pair's existing one)",
        &bob_api,
        "POST",
        &format!("{conversations}/"),
        Some(json!({ "members": [alice.id] })),
    )
    .await;
    let dm_path = format!("{conversations}/{conversation}/messages/");
    let dm_body = json!({ "message": "Can we go over question 2?", "client_id": "bench-dm-1" });
    let sent = m
        .http(
            "POST /conversations/{id}/messages/ (the other not connected)",
            &alice_api,
            "POST",
            &dm_path,
            Some(dm_body.clone()),
        )
        .await;
    let dm = id_of(&sent);
    m.http(
        "POST /conversations/{id}/messages/ (retried client_id)",
        &alice_api,
        "POST",
        &dm_path,
        Some(dm_body),
    )
    .await;
    m.ws_send(
        "dm_message",
        &mut ws,
        json!({ "type": "dm_message", "conversation_id": conversation, "message": "And question 3?",
                "message_type": "text", "client_id": "bench-dm-2" }),
    )
    .await;
    m.ws_send(
        "typing (conversation)",
        &mut ws,
        json!({ "type": "typing", "conversation_id": conversation, "is_typing": true }),
    )
    .await;
    m.http(
        "GET /conversations/",
        &bob_api,
        "GET",
        &format!("{conversations}/"),
        None,
    )
    .await;
    m.http(
        "GET /conversations/{id}/messages/",
        &bob_api,
        "GET",
        &dm_path,
        None,
    )
    .await;
    m.http(
        "POST /conversations/{id}/messages/{id}/mark-as-read/",
        &bob_api,
        "POST",
        &format!("{dm_path}{dm}/mark-as-read/"),
        None,
    )
    .await;
    m.http(
        "PATCH /conversations/{id}/messages/{id}/",
        &alice_api,
        "PATCH",
        &format!("{dm_path}{dm}/"),
        Some(json!({ "message": "Can we go over question 4?" })),
    )
    .await;
    let block = format!("/api/community/users/{}/block/", alice.id);
    m.http("POST /users/{id}/block/", &bob_api, "POST", &block, None)
        .await;
    m.http(
        "DELETE /users/{id}/block/",
        &bob_api,
        "DELETE",
        &block,
        None,
    )
    .await;
    m.section = "WebSocket";
    // A room of 25 (the cost model's evening room) and one of 100: the send's reads should not
    // grow with the receivers beyond the subscription Query's pages.
    for _ in 0..(24 - listeners.len() - 1) {
        let u = stack.member(&course).await;
        listeners.push(drain(
            stack.ws(&u, Some(&cid)).await.expect("listener connects"),
        ));
    }
    let newcomer = stack.member(&course).await;
    let room = listeners.len() + 2;
    let joined = m
        .ws_connect(
            &format!("$connect ?community_id= ({room} in the room)"),
            &stack,
            &newcomer,
            Some(&cid),
        )
        .await;
    listeners.push(drain(joined));
    for (size, extra) in [(listeners.len() + 1, 0), (100, 100 - listeners.len() - 1)] {
        for _ in 0..extra {
            let u = stack.member(&course).await;
            listeners.push(drain(
                stack.ws(&u, Some(&cid)).await.expect("listener connects"),
            ));
        }
        m.ws_send(
            &format!("chat_message ({size} subscribers)"),
            &mut ws,
            json!({ "type": "chat_message", "community_id": cid, "message": format!("A room of {size}"),
                    "message_type": "text", "client_id": format!("bench-ws-room-{size}") }),
        )
        .await;
        m.ws_send(
            &format!("typing ({size} subscribers)"),
            &mut ws,
            json!({ "type": "typing", "community_id": cid, "is_typing": true }),
        )
        .await;
    }
    let crowd = listeners.len() + 1;
    m.ws_close("$disconnect (another connection stays)", second_ws)
        .await;
    m.ws_close(
        &format!("$disconnect (the user's last connection, {crowd} in the room)"),
        ws,
    )
    .await;

    // ---------------------------------------------------------------- search
    m.section = "Search";
    // The small community's posts and chat were indexed from the stream as they were written.
    m.http(
        "GET /search/?community=&q= (one word)",
        &bob_api,
        "GET",
        &format!("/api/community/search/?community={cid}&q=content"),
        None,
    )
    .await;
    m.http(
        "GET /search/?community=&q= (two words, the last a prefix)",
        &bob_api,
        "GET",
        &format!("/api/community/search/?community={cid}&q=typical%20len"),
        None,
    )
    .await;
    let search_report = search_at_scale(&mut m).await;
    m.section = "Email";
    let digest = digest_of_a_course(&mut m, &proxy_url, &bins).await;

    // ---------------------------------------------------------------- results
    for l in listeners {
        l.abort();
    }
    let scans: Vec<&str> = m
        .rows
        .iter()
        .filter(|r| r.calls.iter().any(|c| c.op == "Scan"))
        .map(|r| r.endpoint.as_str())
        .collect();
    let failed: Vec<&str> = m
        .rows
        .iter()
        .filter(|r| !r.ok())
        .map(|r| r.endpoint.as_str())
        .collect();
    let uncounted = counter.uncounted.lock().unwrap().clone();
    // Single-item writes: DynamoDB Local's figure against the one computed from item sizes.
    let singles: Vec<&Call> = m
        .rows
        .iter()
        .flat_map(|r| &r.calls)
        .filter(|c| {
            ["PutItem", "UpdateItem", "DeleteItem"].contains(&c.op.as_str()) && c.error.is_none()
        })
        .collect();
    let mismatched: Vec<Value> = singles
        .iter()
        .filter(|c| c.computed_wcu != Some(c.reported_wcu))
        .map(|c| json!({ "caller": c.caller, "op": c.op, "dynamodb_local": c.reported_wcu, "computed": c.computed_wcu }))
        .collect();
    let write_check = json!({
        "single_item_writes": singles.len(),
        "computed_equals_reported": singles.len() - mismatched.len(),
        "mismatched": mismatched,
    });
    let report = json!({
        "benchmark": "dynamodb_cost",
        "generated_at": shared::clock::iso(chrono::Utc::now()),
        "machine": common::machine(),
        "method": "counting proxy between the functions and DynamoDB Local; ReturnConsumedCapacity=INDEXES added to every data-plane request; one operation at a time",
        "build": build,
        "settle_ms": settle.as_millis() as u64,
        "dataset": { "posts": 25, "thread_replies": 10, "chat_messages": 30, "subscribed_connections": audience },
        "capacity_check": capacity,
        "digest_of_a_course": digest,
        "write_units_check": write_check,
        "operations": m.rows.iter().map(Row::json).collect::<Vec<_>>(),
        "not_counted": uncounted,
        "scans": scans,
        "not_2xx": failed,
        "gateway_stats": serde_json::to_value(stack.gateway.stats()).unwrap_or(Value::Null),
    });
    let mut md = markdown(&m.rows, audience, &write_check);
    md.push_str(&digest_markdown(&digest));
    common::write_results("dynamodb_cost", &report, &md);
    write_search_results(&search_report, build);
    assert!(
        scans.is_empty(),
        "a Scan reached DynamoDB from {scans:?}: no request path may scan"
    );
}

// ---------------------------------------------------------------- search at scale

/// Posts of the large community (`BENCH_SEARCH_POSTS`, default 10,000).
const SEARCH_POSTS: usize = 10_000;
/// Timed runs of each query for its latency percentiles.
const SEARCH_RUNS: usize = 40;

/// A small deterministic generator (xorshift), so that every run indexes the same text.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A rank from 0 to `n - 1`, low ranks far more likely (about Zipf's law of word use).
    fn zipf(&mut self, n: usize) -> usize {
        let u = (self.next() % 1_000_000) as f64 / 1_000_000.0;
        ((n as f64).powf(u) - 1.0) as usize
    }
}

/// A vocabulary of pronounceable made-up words (stems of their own), most common first.
fn vocabulary(n: usize) -> Vec<String> {
    const SYLLABLES: [&str; 24] = [
        "ka", "lo", "mi", "re", "tu", "sa", "ve", "no", "di", "po", "ga", "ri", "be", "fu", "zo",
        "te", "la", "mo", "ni", "ke", "su", "ra", "vi", "do",
    ];
    (0..n)
        .map(|i| {
            let (a, b, c) = (i % 24, (i / 24) % 24, (i / 576) % 24);
            format!("{}{}{}n", SYLLABLES[a], SYLLABLES[b], SYLLABLES[c])
        })
        .collect()
}

/// A community of [`SEARCH_POSTS`] posts written through the store layer and indexed with the
/// indexer's own code (`search::index::apply`), straight to DynamoDB Local (not counted); then
/// the index write cost of posts created through the API (the indexer's work on the stream,
/// counted), and searches through the gateway: their requests, capacity and latency.
async fn search_at_scale(m: &mut Meter<'_>) -> Value {
    use shared::posts::{Post, PostStatus};
    use shared::search::index::{self, Doc};
    let stack = m.stack;
    let n = common::env_usize("BENCH_SEARCH_POSTS", SEARCH_POSTS);
    let course = stack.course().await;
    let cid = course.community_id.clone();
    let mut authors = Vec::new();
    for _ in 0..5 {
        authors.push(stack.member(&course).await);
    }
    let reader = stack.api(&authors[0]);
    let db = shared::db::Db {
        client: stack.ddb.clone(),
        table: stack.table.clone(),
    };
    let words = vocabulary(5000);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let started = Instant::now();
    let base = chrono::Utc::now() - chrono::Duration::days(30);
    let posts: Vec<Post> = (0..n)
        .map(|i| {
            let title: Vec<&str> = (0..5)
                .map(|_| words[rng.zipf(words.len())].as_str())
                .collect();
            let len = 40 + (rng.next() % 60) as usize;
            let body: Vec<&str> = (0..len)
                .map(|_| words[rng.zipf(words.len())].as_str())
                .collect();
            let at = base + chrono::Duration::seconds(i as i64 * 60);
            let id = ulid::Ulid::from_datetime(at.into()).to_string();
            let author = &authors[i % authors.len()];
            Post {
                id: id.clone(),
                community_id: cid.clone(),
                root_id: id.clone(),
                path: id,
                author_id: author.id.clone(),
                author_name: author.name.clone(),
                title: Some(title.join(" ")),
                content: body.join(" ") + ".",
                status: PostStatus::Approved,
                created_at: shared::clock::iso(at),
                updated_at: shared::clock::iso(at),
                ..Default::default()
            }
        })
        .collect();
    let seeded: Vec<shared::db::Item> = posts
        .iter()
        .map(|p| shared::store::posts::post_item(p).expect("post item"))
        .collect();
    stack.put_items(seeded).await;
    let indexed = futures::stream::iter(posts.iter().map(|p| {
        let db = &db;
        async move {
            index::apply(db, None, Some(Doc::Post(Box::new(p.clone()))))
                .await
                .expect("index")
        }
    }));
    let reindexed: Vec<index::Reindexed> =
        futures::StreamExt::collect(futures::StreamExt::buffer_unordered(indexed, 8)).await;
    let postings: usize = reindexed.iter().map(|r| r.written).sum();
    stack
        .ddb
        .update_item()
        .table_name(&stack.table)
        .set_key(Some(shared::db::key_item(&shared::keys::community(&cid))))
        .update_expression("SET post_count = :n")
        .expression_attribute_values(":n", shared::db::n(n as i64))
        .send()
        .await
        .expect("post count");
    let seed_seconds = started.elapsed().as_secs_f64();
    println!(
        "search: {n} posts, {postings} postings written and indexed in {seed_seconds:.0} s (not counted)"
    );

    // Index write cost of a post of typical length, created through the API: what the indexer
    // writes once the stream hands it the new post.
    let mut per_post = Vec::new();
    for i in 0..10 {
        let text: Vec<&str> = (0..70)
            .map(|_| words[rng.zipf(words.len())].as_str())
            .collect();
        let title: Vec<&str> = (0..5)
            .map(|_| words[rng.zipf(words.len())].as_str())
            .collect();
        let api = stack.api(&authors[i % authors.len()]);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mark = m.counter.mark();
        let body = json!({ "community": cid, "title": title.join(" "), "content": text.join(" ") });
        let mut r = api.post("/api/community/posts/", body.clone()).await;
        if r.status >= 500 {
            // A loaded machine may time the function out once: the post is retried (the
            // window then also holds the failed attempt's requests).
            r = api.post("/api/community/posts/", body).await;
        }
        assert_eq!(r.status, 201, "post: {r:?}");
        let calls = calls_of(m, mark, "search-indexer", Duration::from_millis(500)).await;
        let indexer: Vec<&Call> = calls
            .iter()
            .filter(|c| c.caller == "search-indexer")
            .collect();
        per_post.push(json!({
            "distinct_words": text.iter().chain(&title).collect::<std::collections::BTreeSet<_>>().len(),
            "index_requests": indexer.len(),
            "index_wcu": indexer.iter().map(|c| c.wcu).sum::<f64>(),
            "post_wcu": calls.iter().filter(|c| c.caller == "posts").map(|c| c.wcu).sum::<f64>(),
        }));
    }
    let avg = |k: &str| {
        per_post
            .iter()
            .map(|p| p[k].as_f64().unwrap_or(0.0))
            .sum::<f64>()
            / per_post.len() as f64
    };
    let (index_wcu, index_requests, post_wcu) =
        (avg("index_wcu"), avg("index_requests"), avg("post_wcu"));
    println!(
        "search: a post of ~70 words: {index_wcu:.1} WCU in {index_requests:.1} BatchWriteItems to index ({post_wcu:.1} WCU to write the post)"
    );

    // Searches through the gateway: one counted, then timed.
    let common_word = &words[0];
    let mid_word = &words[40];
    let rare_word = &words[3000];
    let prefix: String = words[1].chars().take(4).collect();
    let queries = [
        ("a common word (in most posts)", common_word.clone()),
        ("a mid-frequency word", mid_word.clone()),
        ("a rare word", rare_word.clone()),
        ("two words", format!("{common_word} {mid_word}")),
        ("a prefix of 4 letters", prefix),
        (
            "three words, the last a prefix",
            format!("{mid_word} {common_word} {}", &words[2][..3]),
        ),
    ];
    let mut rows = Vec::new();
    for (what, q) in queries {
        let path = format!(
            "/api/community/search/?community={cid}&q={}",
            q.replace(' ', "%20")
        );
        let mark = m.counter.mark();
        let r = reader.get(&path).await;
        assert_eq!(r.status, 200, "{what}: {r:?}");
        let calls: Vec<Call> = calls_of(m, mark, "posts", Duration::from_millis(300))
            .await
            .into_iter()
            .filter(|c| c.caller == "posts")
            .collect();
        let mut samples = Vec::new();
        for _ in 0..SEARCH_RUNS {
            let t = Instant::now();
            let r = reader.get(&path).await;
            assert_eq!(r.status, 200);
            samples.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let by_op: BTreeMap<String, usize> = calls.iter().fold(BTreeMap::new(), |mut acc, c| {
            *acc.entry(c.op.clone()).or_default() += 1;
            acc
        });
        rows.push(json!({
            "query": what,
            "q": q,
            "results": r.body["results"].as_array().map_or(0, Vec::len),
            "has_next": r.body["next"].is_string(),
            "requests": by_op,
            "rcu": calls.iter().map(|c| c.rcu).sum::<f64>(),
            "median_ms": common::median(&samples),
            "p95_ms": common::percentile(&samples, 95.0),
        }));
    }
    json!({
        "posts": n,
        "postings": postings,
        "postings_per_post": postings as f64 / n as f64,
        "seeded_in_s": seed_seconds,
        "runs_per_query": SEARCH_RUNS,
        "index_write_per_post": {
            "posts_measured": per_post.len(),
            "mean_index_wcu": index_wcu,
            "mean_index_requests": index_requests,
            "mean_post_wcu": post_wcu,
            "each": per_post,
        },
        "queries": rows,
    })
}

fn write_search_results(report: &Value, build: &str) {
    common::write_results(
        "search",
        &json!({
            "benchmark": "search",
            "generated_at": shared::clock::iso(chrono::Utc::now()),
            "machine": common::machine(),
            "build": build,
            "report": report,
        }),
        &search_markdown(report, build),
    );
}

/// Waits until `caller` has made a request since `mark` and then fell quiet for `quiet`
/// (within 30 s): the calls since `mark`.
async fn calls_of(m: &Meter<'_>, mark: usize, caller: &str, quiet: Duration) -> Vec<Call> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = 0;
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let n = m
            .counter
            .since(mark)
            .iter()
            .filter(|c| c.caller == caller)
            .count();
        if n != seen {
            seen = n;
            since = Instant::now();
        }
        if (seen > 0 && since.elapsed() >= quiet) || Instant::now() > deadline {
            return m.counter.since(mark);
        }
    }
}

fn search_markdown(report: &Value, build: &str) -> String {
    let w = &report["index_write_per_post"];
    let mut md = format!(
        "## Search on a community of {} posts\n\nMeasured by `tests/benches/dynamodb_cost.rs` ({build} binaries): {} posts of 40-100 made-up words drawn by Zipf's law from 5,000 (titles of 5), written through the store layer and indexed with the indexer's code ({:.1} postings a post, not counted); then posts created through the API, whose index the indexer writes from the stream, and searches through the local gateway as a member. RCU from the counting proxy; latency over {} runs of each query on one machine (DynamoDB Local, not the service: compare the shapes, not the milliseconds).\n\n",
        report["posts"],
        report["posts"],
        report["postings_per_post"].as_f64().unwrap_or(0.0),
        report["runs_per_query"],
    );
    md.push_str(&format!(
        "**Index write cost per post** (mean of {}, ~70 words and a title): {:.1} WCU in {:.1} BatchWriteItem calls by `search-indexer` (the post itself: {:.1} WCU).\n\n",
        w["posts_measured"],
        w["mean_index_wcu"].as_f64().unwrap_or(0.0),
        w["mean_index_requests"].as_f64().unwrap_or(0.0),
        w["mean_post_wcu"].as_f64().unwrap_or(0.0),
    ));
    md.push_str("| Query | Results (page) | DynamoDB requests | RCU | median ms | p95 ms |\n| --- | ---: | --- | ---: | ---: | ---: |\n");
    for q in report["queries"].as_array().into_iter().flatten() {
        let reqs: Vec<String> = q["requests"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(op, n)| format!("{op} {n}"))
            .collect();
        md.push_str(&format!(
            "| {} | {}{} | {} | {} | {} | {} |\n",
            q["query"].as_str().unwrap_or(""),
            q["results"],
            if q["has_next"] == true {
                " (+ next)"
            } else {
                ""
            },
            reqs.join(", "),
            units(q["rcu"].as_f64().unwrap_or(0.0)),
            common::ms(q["median_ms"].as_f64().unwrap_or(0.0)),
            common::ms(q["p95_ms"].as_f64().unwrap_or(0.0)),
        ));
    }
    md
}

/// Students of the course whose daily digest is measured.
const DIGEST_STUDENTS: usize = 500;
/// New threads in the course since the period began.
const DIGEST_THREADS: usize = 10;

/// One hourly digest run for a course of 500 students who all chose the daily digest, with 10
/// new threads since the period began: the requests and units of the whole run (one row), the
/// emails sent, and what it costs. Its own stack (email on: the web app's URL; digests due from
/// midnight UTC), its DynamoDB requests through the same counting proxy.
async fn digest_of_a_course(m: &mut Meter<'_>, proxy_url: &str, bins: &std::path::Path) -> Value {
    use futures::{StreamExt, stream};
    let stack = Stack::start_with(|cfg| {
        cfg.bin_dir = bins.to_path_buf();
        cfg.dynamodb_endpoint = proxy_url.to_string();
        cfg.parameter_overrides
            .insert("WebAppUrl".into(), "https://community.example.edu".into());
        cfg.env_overrides
            .insert("DIGEST_HOUR_UTC".into(), "0".into());
    })
    .await;
    let course = stack.course().await;
    let cid = course.community_id.clone();
    let admin = stack.api(&stack.admin());
    let students: Vec<User> = (0..DIGEST_STUDENTS)
        .map(|_| stack.user(Role::Student))
        .collect();
    stream::iter(&students)
        .map(|u| {
            let (stack, admin, course) = (&stack, &admin, &course);
            async move {
                let r = admin
                    .put(
                        &format!("/api/community/lms/users/{}/", u.id),
                        json!({ "name": u.name, "username": u.username, "email": format!("{}@school.test", u.id) }),
                    )
                    .await;
                assert!(r.status < 300, "user: {r:?}");
                stack.enroll(course, u, None).await;
                stack.join(course, u).await;
                let r = stack
                    .api(u)
                    .patch(
                        "/api/community/notifications/preferences/",
                        json!({ "digest": "daily" }),
                    )
                    .await;
                assert_eq!(r.status, 200, "digest: {r:?}");
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    let instructor = stack.api(&course.instructor);
    for i in 0..DIGEST_THREADS {
        let r = instructor
            .post(
                "/api/community/posts/",
                json!({ "community": cid, "kind": "discussion", "title": format!("Week {i} notes"),
                        "content": "What we covered this week, and what to read next. ".repeat(4) }),
            )
            .await;
        assert_eq!(r.status, 201, "thread: {r:?}");
    }
    // The notifier's work of seeding (watchers of new posts) is done before the run starts.
    m.quiesce().await;
    let mark = (m.counter.mark(), m.pushes());
    let started = Instant::now();
    let report = stack
        .gateway
        .run_schedule("EmailFunction.Digest")
        .await
        .expect("the digest run");
    let took = started.elapsed();
    m.quiesce().await;
    m.record(
        &format!("EmailFunction.Digest ({DIGEST_STUDENTS} daily subscribers, {DIGEST_THREADS} new threads)"),
        "200".into(),
        Some(took),
        mark,
    );
    let row = m.rows.last().expect("the row");
    let (rcu, wcu) = (row.rcu(), row.wcu());
    let requests = row.calls.len();
    let sent = report["sent"].as_u64().unwrap_or(0);
    assert_eq!(
        sent as usize, DIGEST_STUDENTS,
        "every student gets a digest: {report}"
    );
    let again = stack
        .gateway
        .run_schedule("EmailFunction.Digest")
        .await
        .expect("the run again");
    assert_eq!(
        again["sent"], 0,
        "a second run of the hour sends nothing: {again}"
    );
    // On-demand prices of docs/cost-model.md; SES 0.10 USD per 1,000 emails; Lambda arm64
    // 0.0000133334 USD per GB-second at the function's 256 MB, with the run's local duration.
    let dynamodb_usd = rcu * 0.125e-6 + wcu * 0.625e-6;
    let ses_usd = sent as f64 * 0.10e-3;
    let lambda_usd = took.as_secs_f64() * 0.25 * 0.000_013_333_4 + 0.20e-6;
    json!({
        "students": DIGEST_STUDENTS,
        "new_threads": DIGEST_THREADS,
        "report": report,
        "dynamodb_requests": requests,
        "rcu": rcu,
        "wcu": wcu,
        "emails": sent,
        "seconds_locally": took.as_secs_f64(),
        "usd": { "dynamodb": dynamodb_usd, "ses": ses_usd, "lambda": lambda_usd,
                 "total": dynamodb_usd + ses_usd + lambda_usd },
        "second_run_sent": again["sent"],
    })
}

fn digest_markdown(d: &Value) -> String {
    format!(
        "## One digest run for a course of {} students\n\n\
         All {} chose the daily digest; {} new threads since the period began. The hourly run \
         (`EmailFunction.Digest`) made {} DynamoDB requests ({} RCU, {} WCU) and sent {} emails in \
         {:.1} s locally; a second run of the same hour sent {}. Cost of the run: DynamoDB USD {:.5}, \
         SES USD {:.4}, Lambda USD {:.5} (256 MB for the local duration): **USD {:.4}**, almost all \
         of it SES's price per email.\n\n",
        d["students"],
        d["students"],
        d["new_threads"],
        d["dynamodb_requests"],
        units(d["rcu"].as_f64().unwrap_or(0.0)),
        units(d["wcu"].as_f64().unwrap_or(0.0)),
        d["emails"],
        d["seconds_locally"].as_f64().unwrap_or(0.0),
        d["second_run_sent"],
        d["usd"]["dynamodb"].as_f64().unwrap_or(0.0),
        d["usd"]["ses"].as_f64().unwrap_or(0.0),
        d["usd"]["lambda"].as_f64().unwrap_or(0.0),
        d["usd"]["total"].as_f64().unwrap_or(0.0),
    )
}
