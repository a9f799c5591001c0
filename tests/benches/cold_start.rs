//! Cold start and footprint of every function (not a test): init time (process start to its
//! first `/next` poll of the Lambda Runtime API), first-invocation latency, warm latency, peak
//! resident memory, and the deployment package size. Writes `bench/results/cold_start.{json,md}`.
//!
//! Runs the release binaries (`cargo build --release --workspace --bins`; the workspace's release
//! profile) when every function has one in `target/release`, else the debug ones (and says so),
//! through the local gateway. Each cold sample starts a fresh gateway, so the first request of a
//! function spawns a new instance; the warm requests then go to that instance. Peak RSS is the
//! instance's `VmHWM` after the warm requests. The package size is the arm64 `bootstrap` that
//! `make package` leaves in `infra/.aws-sam/build/` (raw and deflated, as Lambda stores the zip), else the
//! x86_64 release binary, marked as such.
//!
//! `BENCH_COLD_RUNS` (default 5) and `BENCH_WARM_RUNS` (default 50) set the sample counts.
//! Needs DynamoDB Local (`TEST_DYNAMODB_ENDPOINT`, default port 8001).

mod common;

use e2e::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

const TARGET_INIT_MS: f64 = 30.0;
/// 40 MB and 4 MB (decimal); sizes are shown in MiB.
const TARGET_RSS_BYTES: f64 = 40e6;
const TARGET_PACKAGE_BYTES: u64 = 4_000_000;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// What one request to a function is.
#[derive(Clone)]
enum Probe {
    Http {
        method: &'static str,
        path: String,
        body: Option<Value>,
        token: String,
    },
    /// `$connect` (the socket is closed again at once).
    WsConnect { token: String },
    /// A `ping` on an open socket, answered by `pong`.
    WsPing { token: String },
    /// A direct invocation with an event (as `aws lambda invoke` would).
    Invoke(Value),
}

impl Probe {
    fn describe(&self) -> String {
        match self {
            Probe::Http { method, path, .. } => {
                let path = path.split('?').next().unwrap_or(path);
                let path = path.trim_start_matches("/api/community");
                let template: Vec<&str> = path
                    .split('/')
                    .map(|s| {
                        if s.chars().any(|c| c.is_ascii_digit()) {
                            "{id}"
                        } else {
                            s
                        }
                    })
                    .collect();
                format!("{method} {}", template.join("/"))
            }
            Probe::WsConnect { .. } => "WebSocket $connect".into(),
            Probe::WsPing { .. } => "WebSocket ping -> pong".into(),
            Probe::Invoke(_) => "direct invoke with a sample event".into(),
        }
    }
}

/// A probe bound to one gateway, with whatever it keeps open between requests.
struct Driver {
    http: reqwest::Client,
    http_url: String,
    ws_url: String,
    socket: Option<Ws>,
}

impl Driver {
    fn new(gateway: &Gateway) -> Driver {
        Driver {
            http: reqwest::Client::new(),
            http_url: gateway.http_url(),
            ws_url: gateway.ws_url(),
            socket: None,
        }
    }

    async fn connect(&self, token: &str) -> Ws {
        let url = format!("{}/?token={token}", self.ws_url);
        let (stream, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        Ws { stream }
    }

    /// Runs the probe once; answers its latency and whether it succeeded.
    async fn run(&mut self, gateway: &Gateway, function: &str, probe: &Probe) -> (f64, bool) {
        match probe {
            Probe::WsPing { token } => {
                if self.socket.is_none() {
                    self.socket = Some(self.connect(token).await);
                }
                let ws = self.socket.as_mut().expect("socket");
                let started = Instant::now();
                ws.send(json!({ "type": "ping" })).await;
                let ok = loop {
                    match ws.try_next(Duration::from_secs(15)).await {
                        Some(ev) if ev["type"] == "pong" => break true,
                        Some(_) => continue,
                        None => break false,
                    }
                };
                (started.elapsed().as_secs_f64() * 1000.0, ok)
            }
            Probe::WsConnect { token } => {
                let started = Instant::now();
                let ws = self.connect(token).await;
                let elapsed = started.elapsed().as_secs_f64() * 1000.0;
                ws.close().await;
                (elapsed, true)
            }
            Probe::Http {
                method,
                path,
                body,
                token,
            } => {
                let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
                let mut req = self
                    .http
                    .request(method, format!("{}{path}", self.http_url))
                    .bearer_auth(token);
                if let Some(b) = body {
                    req = req.json(b);
                }
                let started = Instant::now();
                let r = req.send().await.expect("gateway answers");
                let status = r.status();
                let _ = r.bytes().await;
                (
                    started.elapsed().as_secs_f64() * 1000.0,
                    status.is_success(),
                )
            }
            Probe::Invoke(event) => {
                let started = Instant::now();
                let out = gateway.invoke(function, event.clone()).await;
                (started.elapsed().as_secs_f64() * 1000.0, out.is_ok())
            }
        }
    }
}

/// The init of one fresh instance of the hello-world baseline (`tests/hello-lambda`: nothing but
/// `lambda_runtime`), run by the gateway's own runtime, the same Runtime API the functions have,
/// with the environment Lambda gives every function.
async fn hello_world_init(bins: &Path) -> Option<f64> {
    use local_gateway::runtime::{FunctionPool, FunctionSettings, LogSink};
    let env = [
        ("AWS_LAMBDA_FUNCTION_NAME", "HelloWorld"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/HelloWorld"),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
        ("AWS_REGION", "us-east-1"),
    ];
    let pool = FunctionPool::new(
        FunctionSettings {
            name: "HelloWorld".into(),
            binary: bins.join(HELLO_WORLD),
            timeout: Duration::from_secs(10),
            memory_mb: 128,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            region: "us-east-1".into(),
            max_instances: 1,
            init_timeout: Duration::from_secs(10),
        },
        LogSink::Quiet,
    );
    let answered = pool.invoke(axum::body::Bytes::from_static(b"{}")).await;
    let init = pool.stats().init_times_ms.last().copied();
    pool.close();
    pool.wait_closed(Duration::from_secs(5)).await;
    answered.ok().and(init)
}

/// The baseline binary (`tests/hello-lambda`).
const HELLO_WORLD: &str = "hello-lambda";
/// Every function's init at most this many times the hello-world's, measured in the same run.
const TARGET_INIT_RATIO: f64 = 1.5;

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Newest source file of the shared crate and of one function crate.
fn newest_source(binary: &str) -> Option<SystemTime> {
    let mut newest = None;
    let mut dirs = vec![
        workspace().join("shared/src"),
        workspace().join(format!("functions/{binary}/src")),
    ];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                newest = newest.max(modified(&p));
            }
        }
    }
    newest
}

/// Size of the file deflated as the zip of `make package` stores it (`gzip -9`), if gzip is there.
fn deflated(p: &Path) -> Option<u64> {
    let out = std::process::Command::new("gzip")
        .args(["-9", "-c"])
        .arg(p)
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout.len() as u64)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The deployment package: arm64 from `make package` if present, else the x86_64 release binary.
fn package(logical_id: &str, binary: &str) -> Value {
    let arm = ["infra/.aws-sam/build", ".aws-sam/build"]
        .iter()
        .map(|dir| workspace().join(format!("{dir}/{logical_id}/bootstrap")))
        .find(|p| p.is_file())
        .unwrap_or_default();
    let x86 = workspace().join(format!("target/release/{binary}"));
    let describe = |p: &Path, what: &str| {
        std::fs::metadata(p).ok().map(|m| {
            json!({
                "what": what,
                "bytes": m.len(),
                "deflated_bytes": deflated(p),
            })
        })
    };
    match describe(&arm, "arm64 bootstrap (make package)") {
        Some(v) => v,
        None => describe(
            &x86,
            "x86_64 release binary (NOT the arm64 package: run `make package`)",
        )
        .unwrap_or(Value::Null),
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let cold_runs = common::env_usize("BENCH_COLD_RUNS", 5).max(1);
    let warm_runs = common::env_usize("BENCH_WARM_RUNS", 50).max(1);
    let template = local_gateway::Template::load(&template()).expect("template");
    let functions: Vec<(String, String)> = template
        .functions
        .values()
        .map(|f| (f.logical_id.clone(), f.binary.clone()))
        .collect();
    let (bins, build) = common::function_binaries();
    let stack = Stack::start_with(|cfg| {
        cfg.bin_dir = bins.clone();
        cfg.max_instances_per_function = 1;
    })
    .await;

    // A community with a member, a post and a message to read (not measured).
    let course = stack.course().await;
    let cid = course.community_id.clone();
    let member = stack.member(&course).await;
    let admin = stack.admin();
    let api = stack.api(&member);
    let post = api
        .post(
            "/api/community/posts/",
            json!({ "community": cid, "title": "Cold start", "content": "Measuring." }),
        )
        .await;
    let post_id = post.body["id"].as_str().unwrap_or_default().to_string();
    api.post(
        "/api/community/messages/",
        json!({ "community": cid, "message": "hello", "message_type": "text" }),
    )
    .await;
    let sample = |path: &str| {
        std::fs::read_to_string(workspace().join("events").join(path)).unwrap_or_default()
    };
    let job = sample("notifications/stream-job.json")
        .replace("01KAZ3ZQ0000000000000000AB", &cid)
        .replace("01KAZ4MZZ8Y2W3X4Y5Z6A7B8C8", &post_id)
        .replace("demo-student-1", &member.id);
    let disconnect = sample("ws/disconnect.json");
    let probe_of = |binary: &str| -> Probe {
        let http = |method, path: String, body, token: &str| Probe::Http {
            method,
            path,
            body,
            token: token.to_string(),
        };
        match binary {
            "groups" => http(
                "GET",
                format!("/api/community/groups/{cid}/"),
                None,
                &member.token,
            ),
            "lms" => http(
                "PUT",
                format!("/api/community/lms/users/{}/", member.id),
                Some(json!({ "name": member.name, "username": member.username })),
                &admin.token,
            ),
            "posts" => http(
                "GET",
                format!("/api/community/posts/?community={cid}"),
                None,
                &member.token,
            ),
            "messages" => http(
                "GET",
                format!("/api/community/messages/?community={cid}"),
                None,
                &member.token,
            ),
            "notifications" => http(
                "GET",
                "/api/community/notifications/unread-count/".into(),
                None,
                &member.token,
            ),
            "ws-connect" => Probe::WsConnect {
                token: member.token.clone(),
            },
            "ws-message" => Probe::WsPing {
                token: member.token.clone(),
            },
            "ws-disconnect" => {
                Probe::Invoke(serde_json::from_str(&disconnect).unwrap_or_else(|_| json!({})))
            }
            "notify" => Probe::Invoke(serde_json::from_str(&job).unwrap_or_else(|_| json!({}))),
            _ => Probe::Invoke(json!({})),
        }
    };

    println!(
        "{build} binaries; {cold_runs} cold starts and {warm_runs} warm requests per function\n"
    );
    println!(
        "{:<14} {:>9} {:>11} {:>9} {:>9} {:>10} {:>12}",
        "function", "init ms", "1st req ms", "warm p50", "warm p90", "peak RSS", "package"
    );
    let mut rows = Vec::new();
    // The baseline is sampled between the functions' samples, so both see the same machine.
    let mut hello_inits = Vec::new();
    if !bins.join(HELLO_WORLD).is_file() {
        eprintln!(
            "warning: no {HELLO_WORLD} in {} (cargo build{} --workspace --bins); no baseline",
            bins.display(),
            if build == "release" { " --release" } else { "" }
        );
    }
    for (logical_id, binary) in &functions {
        let spec = &template.functions[logical_id];
        let probe = probe_of(binary);
        let mut inits = Vec::new();
        let mut firsts = Vec::new();
        let mut firsts_ok = true;
        let mut warm = Vec::new();
        let mut warm_failures = 0;
        let mut peak_rss_kb = None;
        for run in 0..cold_runs {
            let before: BTreeSet<u32> = common::children().into_iter().map(|(p, _)| p).collect();
            let gateway = Gateway::start(stack.gateway.config().clone())
                .await
                .expect("gateway starts");
            let mut driver = Driver::new(&gateway);
            let (first, ok) = driver.run(&gateway, logical_id, &probe).await;
            firsts_ok &= ok;
            firsts.push(first);
            if let Some(init) = gateway
                .stats()
                .functions
                .get(logical_id)
                .and_then(|f| f.init_times_ms.last().copied())
            {
                inits.push(init);
            }
            if run + 1 == cold_runs {
                for _ in 0..warm_runs {
                    let (t, ok) = driver.run(&gateway, logical_id, &probe).await;
                    warm.push(t);
                    warm_failures += usize::from(!ok);
                }
                let comm = common::comm_of(binary);
                peak_rss_kb = common::children()
                    .into_iter()
                    .filter(|(pid, name)| name == comm && !before.contains(pid))
                    .filter_map(|(pid, _)| common::proc_kb(pid, "VmHWM:"))
                    .max();
            }
            if let Some(ws) = driver.socket.take() {
                ws.close().await;
            }
            gateway.shutdown().await;
            if bins.join(HELLO_WORLD).is_file()
                && let Some(init) = hello_world_init(&bins).await
            {
                hello_inits.push(init);
            }
        }
        let bin_path = bins.join(binary);
        let stale = match (modified(&bin_path), newest_source(binary)) {
            (Some(b), Some(s)) => s > b,
            _ => false,
        };
        if stale {
            eprintln!("warning: {} is older than its sources", bin_path.display());
        }
        let pkg = package(logical_id, binary);
        let init = common::median(&inits);
        let first = common::median(&firsts);
        let (p50, p90) = (
            common::percentile(&warm, 50.0),
            common::percentile(&warm, 90.0),
        );
        let rss_mb = peak_rss_kb.map(|k| k as f64 / 1024.0);
        let pkg_bytes = pkg["deflated_bytes"]
            .as_u64()
            .or_else(|| pkg["bytes"].as_u64());
        println!(
            "{:<14} {:>9} {:>11} {:>9} {:>9} {:>10} {:>12}",
            binary,
            common::ms(init),
            common::ms(first),
            common::ms(p50),
            common::ms(p90),
            rss_mb.map_or("-".into(), |m| format!("{m:.1} MiB")),
            pkg_bytes.map_or("-".into(), |b| format!("{:.2} MiB", mb(b))),
        );
        rows.push(json!({
            "function": logical_id,
            "binary": binary,
            "memory_mb": spec.memory_mb,
            "probe": probe.describe(),
            "init_ms": inits,
            "init_ms_median": init,
            "first_invocation_ms": firsts,
            "first_invocation_ms_median": first,
            "first_invocations_succeeded": firsts_ok,
            "warm_ms_p50": p50,
            "warm_ms_p90": p90,
            "warm_ms_min": warm.iter().copied().fold(f64::INFINITY, f64::min),
            "warm_runs": warm.len(),
            "warm_failures": warm_failures,
            "peak_rss_kb": peak_rss_kb,
            "binary_older_than_sources": stale,
            "package": pkg,
            "meets": {
                "init_under_30_ms": init < TARGET_INIT_MS,
                "peak_rss_under_40_mb": peak_rss_kb.is_some_and(|k| ((k * 1024) as f64) < TARGET_RSS_BYTES),
                "package_under_4_mb": pkg_bytes.is_some_and(|b| b < TARGET_PACKAGE_BYTES),
            },
        }));
    }

    let hello = (!hello_inits.is_empty()).then(|| common::median(&hello_inits));
    if let Some(h) = hello {
        println!(
            "{:<14} {:>9}   (baseline: lambda_runtime only)",
            HELLO_WORLD,
            common::ms(h)
        );
        for r in &mut rows {
            let ratio = r["init_ms_median"].as_f64().map(|i| i / h);
            r["init_vs_hello_world"] = json!(ratio);
            r["meets"]["init_within_1_5x_hello_world"] =
                json!(ratio.is_some_and(|x| x <= TARGET_INIT_RATIO));
        }
    }
    let arm64 = rows.iter().all(|r| {
        r["package"]["what"]
            .as_str()
            .is_some_and(|w| w.starts_with("arm64"))
    });
    let mut md = String::from("## Cold start and footprint\n\n");
    md.push_str(&format!(
        "`tests/benches/cold_start.rs`, {build} binaries ({}) on this machine ({} cores, shared: 1-minute load average {} at the end), through \
         the local gateway's Lambda Runtime API. Init: process start to the first `/next` poll \
         (median of {cold_runs} fresh instances). First request: the client's latency of the request \
         that started the instance (init included). Warm: {warm_runs} requests to that instance. \
         Peak RSS: `VmHWM` of the instance after them. Package: {}. Init vs hello-world: the \
         function's median init over the median init of `tests/hello-lambda` (nothing but \
         `lambda_runtime`), sampled between the functions' samples in this run ({}). Targets: init \
         < 30 ms and within 1.5x hello-world, peak RSS < 40 MB, package < 4 MB.\n\n",
        if build == "release" {
            "opt-level s, LTO, 1 codegen unit, panic=abort, stripped"
        } else {
            "NOT the release profile"
        },
        common::machine()["cores"],
        common::load_average().map_or("?".into(), |l| format!("{l:.1}")),
        if arm64 {
            "the arm64 `bootstrap` from `make package`, deflated as in the zip (raw size in brackets)"
        } else {
            "x86_64 release binary, deflated as in a zip (raw in brackets): NOT the arm64 package, run `make package` for it"
        },
        match hello {
            Some(h) => format!("{} samples, median {} ms", hello_inits.len(), common::ms(h)),
            None => "not measured: no hello-lambda binary".into(),
        },
    ));
    md.push_str(
        "| Function | Memory | Probe | Init ms | Init vs hello-world | First request ms | Warm p50 ms | Warm p90 ms | Peak RSS | Package |\n\
         | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    let mark = |ok: bool| if ok { "" } else { " (over)" };
    for r in &rows {
        let rss = r["peak_rss_kb"].as_u64().map(|k| k as f64 / 1024.0);
        let pkg = &r["package"];
        let pkg_text = match (pkg["deflated_bytes"].as_u64(), pkg["bytes"].as_u64()) {
            (Some(d), Some(b)) => format!(
                "{:.2} MiB ({:.1} MiB){}",
                mb(d),
                mb(b),
                mark(d < TARGET_PACKAGE_BYTES)
            ),
            (None, Some(b)) => format!("{:.1} MiB{}", mb(b), mark(b < TARGET_PACKAGE_BYTES)),
            _ => "-".into(),
        };
        let init = r["init_ms_median"].as_f64().unwrap_or(f64::NAN);
        let ratio = r["init_vs_hello_world"].as_f64().map_or("-".into(), |x| {
            format!("{x:.2}x{}", mark(x <= TARGET_INIT_RATIO))
        });
        md.push_str(&format!(
            "| {} | {} MB | {} | {}{} | {} | {} | {} | {} | {} | {} |\n",
            r["binary"].as_str().unwrap_or_default(),
            r["memory_mb"],
            r["probe"].as_str().unwrap_or_default(),
            common::ms(init),
            mark(init < TARGET_INIT_MS),
            ratio,
            common::ms(r["first_invocation_ms_median"].as_f64().unwrap_or(f64::NAN)),
            common::ms(r["warm_ms_p50"].as_f64().unwrap_or(f64::NAN)),
            common::ms(r["warm_ms_p90"].as_f64().unwrap_or(f64::NAN)),
            rss.map_or("-".into(), |m| format!(
                "{m:.1} MiB{}",
                mark(m * 1024.0 * 1024.0 < TARGET_RSS_BYTES)
            )),
            pkg_text,
        ));
    }
    let report = json!({
        "benchmark": "cold_start",
        "generated_at": shared::clock::iso(chrono::Utc::now()),
        "machine": common::machine(),
        "build": build,
        "binaries": format!("target/{build}"),
        "cold_runs": cold_runs,
        "warm_runs": warm_runs,
        "targets": { "init_ms": TARGET_INIT_MS, "init_vs_hello_world": TARGET_INIT_RATIO, "peak_rss_bytes": TARGET_RSS_BYTES, "package_bytes": TARGET_PACKAGE_BYTES },
        "hello_world": { "binary": HELLO_WORLD, "init_ms": hello_inits, "init_ms_median": hello },
        "functions": rows,
    });
    common::write_results("cold_start", &report, &md);
}
