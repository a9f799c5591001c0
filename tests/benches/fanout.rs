//! Fan-out benchmark (not a test): the time from sending one chat message over REST until every
//! one of N real WebSocket clients of the local gateway has it, for N = 100, 1,000 and 5,000, with
//! 0 ms and 30 ms of latency injected into every Management API call. Writes
//! `bench/results/fanout.json` and prints a table.
//!
//! Needs DynamoDB Local (`TEST_DYNAMODB_ENDPOINT`, default port 8001) and the function binaries
//! (`cargo build --workspace`). `BENCH_SIZES=100,1000` and `BENCH_RUNS=5` override the defaults;
//! `BENCH_LOG=<file>` keeps the functions' logs (each broadcast logs its phases).
//! Each connection is a distinct student (membership and enrollment written directly to the
//! table, so the receive-side access re-check is measured as it would run); subscriptions are
//! written directly too, since subscribing one by one would announce presence N^2 times.

use e2e::*;
use futures::{StreamExt, stream};
use serde_json::{Value, json};
use shared::connections::Subscription;
use shared::db::to_item;
use shared::lms::Enrollment;
use shared::membership::{CommunityRole, Member};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const LATENCIES_MS: [u64; 2] = [0, 30];
const CONNECT_IN_FLIGHT: usize = 64;
const WAIT_FOR_ALL: Duration = Duration::from_secs(30);

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| default.to_vec())
}

/// N members of one course community, each with one open, subscribed WebSocket.
struct Audience {
    course: Course,
    sender: User,
    received: mpsc::UnboundedReceiver<(String, Instant)>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

async fn connection_id_of(stack: &Stack, user_id: &str) -> String {
    let out = stack
        .ddb
        .query()
        .table_name(&stack.table)
        .key_condition_expression("PK = :pk AND begins_with(SK, :sk)")
        .expression_attribute_values(":pk", shared::db::s(format!("USER#{user_id}")))
        .expression_attribute_values(":sk", shared::db::s(shared::keys::USER_CONNECTION_PREFIX))
        .send()
        .await
        .expect("query connections");
    out.items
        .unwrap_or_default()
        .first()
        .and_then(|i| shared::db::attr_s(i, "connection_id"))
        .expect("a registered connection")
}

impl Audience {
    async fn open(stack: &Stack, n: usize) -> Audience {
        let course = stack.course().await;
        let cid = course.community_id.clone();
        let now = chrono::Utc::now();
        let now_iso = shared::clock::iso(now);
        let users: Vec<(String, String)> = (0..n)
            .map(|i| {
                (
                    format!("bench-{n}-{i}-{}", &cid[20..]),
                    format!("Bench {i}"),
                )
            })
            .collect();
        let mut items = Vec::with_capacity(2 * n);
        for (id, name) in &users {
            let member = Member {
                community_id: cid.clone(),
                user_id: id.clone(),
                name: name.clone(),
                username: None,
                role: CommunityRole::Member,
                joined_at: now_iso.clone(),
            };
            let enrollment = Enrollment {
                course_id: course.course_id.clone(),
                community_id: cid.clone(),
                user_id: id.clone(),
                is_active: true,
                expiry_date: None,
                updated_at: now_iso.clone(),
            };
            items.push(to_item(&shared::keys::member(&cid, id), &member).unwrap());
            items.push(to_item(&shared::keys::enrollment(&cid, id), &enrollment).unwrap());
        }
        stack.put_items(items).await;

        let (tx, received) = mpsc::unbounded_channel();
        let sockets: Vec<Ws> = stream::iter(users.iter())
            .map(|(id, name)| {
                let token = stack.token_for(id, Role::Student, name, None);
                async move { stack.ws_with_token(&token, None).await.expect("connects") }
            })
            .buffered(CONNECT_IN_FLIGHT)
            .collect()
            .await;
        let connection_ids: Vec<String> = stream::iter(users.iter())
            .map(|(id, _)| connection_id_of(stack, id))
            .buffered(CONNECT_IN_FLIGHT)
            .collect()
            .await;
        let ttl = now.timestamp() + 3600;
        let subscriptions = users
            .iter()
            .zip(&connection_ids)
            .map(|((user_id, _), connection_id)| {
                let row = Subscription {
                    connection_id: connection_id.clone(),
                    user_id: user_id.clone(),
                    role: Some(Role::Student),
                    ttl,
                    access_until: None,
                };
                to_item(&shared::keys::subscription(&cid, connection_id), &row).unwrap()
            })
            .collect();
        stack.put_items(subscriptions).await;

        let readers = sockets
            .into_iter()
            .map(|mut ws| {
                let tx = tx.clone();
                tokio::spawn(async move {
                    while let Some(ev) = ws.try_next(Duration::from_secs(3600)).await {
                        if ev["type"] == "chat_message" {
                            let text = ev["message"].as_str().unwrap_or_default().to_string();
                            if tx.send((text, Instant::now())).is_err() {
                                break;
                            }
                        }
                    }
                })
            })
            .collect();
        let (sender_id, sender_name) = &users[0];
        let sender = User {
            token: stack.token_for(sender_id, Role::Student, sender_name, None),
            id: sender_id.clone(),
            name: sender_name.clone(),
            username: String::new(),
            role: Role::Student,
        };
        Audience {
            course,
            sender,
            received,
            readers,
        }
    }

    async fn close(self, stack: &Stack) {
        for r in &self.readers {
            r.abort();
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while stack.gateway.stats().connections_open > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// One message to all N: seconds until the last client had it, and until the REST answer.
struct Run {
    fanout_s: f64,
    response_s: f64,
    received: usize,
}

async fn one_message(stack: &Stack, audience: &mut Audience, n: usize, label: &str) -> Run {
    let api = stack.api(&audience.sender);
    let started = Instant::now();
    let r = api
        .post(
            "/api/community/messages/",
            json!({ "community": audience.course.community_id, "message": label }),
        )
        .await;
    let response_s = started.elapsed().as_secs_f64();
    assert_eq!(r.status, 201, "send: {r:?}");
    let mut received = 0;
    let mut last = started;
    let deadline = tokio::time::Instant::now() + WAIT_FOR_ALL;
    while received < n {
        match tokio::time::timeout_at(deadline, audience.received.recv()).await {
            Ok(Some((text, at))) if text == label => {
                received += 1;
                last = last.max(at);
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    Run {
        fanout_s: last.duration_since(started).as_secs_f64(),
        response_s,
        received,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Peak resident memory (kB) of the `messages` function processes this benchmark started.
fn messages_peak_rss_kb() -> Option<u64> {
    let me = std::process::id().to_string();
    let mut peak = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let dir = entry.path();
        let Ok(status) = std::fs::read_to_string(dir.join("status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .map(|l| l[name.len()..].trim().to_string())
        };
        if field("Name:").as_deref() == Some("messages") && field("PPid:").as_deref() == Some(&me) {
            let kb =
                field("VmHWM:").and_then(|v| v.trim_end_matches(" kB").trim().parse::<u64>().ok());
            peak = peak.max(kb);
        }
    }
    peak
}

/// The function binaries to run: release builds, as Lambda runs them (`BENCH_BIN_DIR` overrides).
fn bench_bin_dir() -> std::path::PathBuf {
    let dir = std::env::var("BENCH_BIN_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| e2e::bin_dir().with_file_name("release"));
    for binary in ["messages", "ws-connect", "ws-disconnect", "lms"] {
        assert!(
            dir.join(binary).is_file(),
            "{} has no {binary}: build the functions first (cargo build --release --workspace --bins)",
            dir.display()
        );
    }
    dir
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let sizes = env_list("BENCH_SIZES", &[100, 1000, 5000]);
    let runs = env_list("BENCH_RUNS", &[5])[0].max(1);
    let bin_dir = bench_bin_dir();
    let stack = Stack::start_with(|cfg| {
        cfg.bin_dir = bin_dir.clone();
        match std::env::var("BENCH_LOG") {
            // The functions' logs (with the phases of each broadcast) go to this file.
            Ok(path) => {
                cfg.quiet = false;
                cfg.log_file = Some(path.into());
                cfg.env_overrides.insert("RUST_LOG".into(), "info".into());
            }
            Err(_) => cfg.quiet = true,
        }
    })
    .await;
    let mut scenarios = Vec::new();
    println!(
        "{:>12} {:>8} {:>12} {:>12} {:>14} {:>10}",
        "connections", "latency", "fan-out s", "response s", "deliveries/s", "received"
    );
    for &n in &sizes {
        let mut audience = Audience::open(&stack, n).await;
        // Warm the function instance once (cold start is not fan-out).
        stack.gateway.set_faults(Faults::default());
        one_message(&stack, &mut audience, n, &format!("warm-up {n}")).await;
        for latency_ms in LATENCIES_MS {
            stack.gateway.set_faults(Faults {
                latency_ms,
                ..Faults::default()
            });
            let before = stack.gateway.stats().management;
            let mut all = Vec::new();
            for run in 0..runs {
                let label = format!("bench {n} {latency_ms}ms #{run}");
                all.push(one_message(&stack, &mut audience, n, &label).await);
            }
            let after = stack.gateway.stats().management;
            let fanout = median(all.iter().map(|r| r.fanout_s).collect());
            let response = median(all.iter().map(|r| r.response_s).collect());
            let received = all.iter().map(|r| r.received).min().unwrap_or(0);
            let per_sec = n as f64 / fanout;
            println!(
                "{n:>12} {latency_ms:>6}ms {fanout:>12.3} {response:>12.3} {per_sec:>14.0} {received:>10}"
            );
            scenarios.push(json!({
                "connections": n,
                "latency_ms": latency_ms,
                "runs": all.iter().map(|r| json!({
                    "fanout_s": r.fanout_s, "response_s": r.response_s, "received": r.received,
                })).collect::<Vec<Value>>(),
                "fanout_s_median": fanout,
                "response_s_median": response,
                "deliveries_per_s": per_sec,
                "all_received": received == n,
                "management_posts": after.delivered - before.delivered,
            }));
        }
        audience.close(&stack).await;
    }
    stack.gateway.set_faults(Faults::default());
    let report = json!({
        "benchmark": "fanout",
        "generated_at": shared::clock::iso(chrono::Utc::now()),
        "fanout_concurrency": std::env::var("FANOUT_CONCURRENCY").ok().and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(shared::realtime::DEFAULT_CONCURRENCY),
        "messages_function_peak_rss_kb": messages_peak_rss_kb(),
        "scenarios": scenarios,
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/results");
    std::fs::create_dir_all(&dir).expect("bench/results");
    let path = dir.join("fanout.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).expect("write results");
    println!("wrote {}", path.display());
}
