//! Throughput (not a test): requests per second and p50/p99 latency of a mixed forum workload at
//! a fixed concurrency through the local gateway, and of the same work done straight against
//! DynamoDB Local from this process, in the same run. Writes `bench/results/throughput.{json,md}`.
//!
//! The workload: 60% list a community's posts, 20% read a post with its thread, 15% create a post
//! or a reply (half each), 5% react. "Direct" runs the same `shared` calls the posts function makes
//! (the same Query/GetItem/BatchGetItem/UpdateItem/TransactWriteItems requests, through
//! aws-sdk-dynamodb) without API Gateway, the Lambda Runtime API, the function process and the JWT
//! check: the store's floor on this machine. Each phase has its own users, so the per-user write
//! rate limits are those of a real class, not of one user hammering.
//!
//! `BENCH_CONCURRENCY` (default 16), `BENCH_DURATION_S` (default 20), `BENCH_WARMUP_S` (default 3).
//! Uses the release function binaries when they are all built, else the debug ones (and says so).
//! Needs DynamoDB Local (`TEST_DYNAMODB_ENDPOINT`, default port 8001).

mod common;

use e2e::*;
use futures::{StreamExt, stream};
use serde_json::{Value, json};
use shared::access::Access;
use shared::auth::Principal;
use shared::cursor::Cursors;
use shared::db::{Db, to_item};
use shared::http::PageParams;
use shared::lms::Enrollment;
use shared::membership::{CommunityRole, Member};
use shared::posts::reactions::{self, ReactionType};
use shared::posts::{self, ListFilter, NewPost};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const USERS_PER_PHASE: usize = 400;
const SEED_POSTS: usize = 40;
const OPS: [&str; 5] = ["list", "read", "create", "reply", "react"];

#[derive(Clone, Copy)]
enum Op {
    List,
    Read,
    Create,
    Reply,
    React,
}

impl Op {
    /// 60 / 20 / 15 / 5.
    fn pick() -> Op {
        match fastrand::u32(0..100) {
            0..60 => Op::List,
            60..80 => Op::Read,
            80..88 => Op::Create,
            88..95 => Op::Reply,
            _ => Op::React,
        }
    }

    fn name(self) -> &'static str {
        OPS[self as usize]
    }
}

struct Student {
    principal: Principal,
    token: String,
}

/// What the workers share in one phase.
struct World {
    community: String,
    posts: Vec<String>,
    users: Vec<Student>,
}

impl World {
    fn user(&self) -> &Student {
        &self.users[fastrand::usize(..self.users.len())]
    }
    fn post(&self) -> &str {
        &self.posts[fastrand::usize(..self.posts.len())]
    }
}

/// How a phase sends the work.
#[derive(Clone)]
enum Target {
    Gateway { http: reqwest::Client, base: String },
    Direct { db: Db, cursors: Cursors },
}

fn reaction() -> ReactionType {
    ReactionType::ALL[fastrand::usize(..ReactionType::ALL.len())]
}

impl Target {
    /// Runs one operation; answers its HTTP status (or the status its error maps to).
    async fn run(&self, world: &World, op: Op) -> u16 {
        let user = world.user();
        let n = fastrand::u32(..);
        match self {
            Target::Gateway { http, base } => {
                let req = match op {
                    Op::List => http.get(format!(
                        "{base}/api/community/posts/?community={}",
                        world.community
                    )),
                    Op::Read => http.get(format!("{base}/api/community/posts/{}/", world.post())),
                    Op::Create => http
                        .post(format!("{base}/api/community/posts/"))
                        .json(&json!({
                            "community": world.community, "title": format!("Load {n}"),
                            "content": "A question of a typical length, asked under load.",
                        })),
                    Op::Reply => http
                        .post(format!("{base}/api/community/posts/"))
                        .json(&json!({
                            "community": world.community, "parent": world.post(),
                            "content": "A reply of a typical length, written under load.",
                        })),
                    Op::React => http
                        .post(format!(
                            "{base}/api/community/posts/{}/react/",
                            world.post()
                        ))
                        .json(&json!({ "reaction_type": reaction() })),
                };
                match req.bearer_auth(&user.token).send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let _ = r.bytes().await;
                        status
                    }
                    Err(_) => 599,
                }
            }
            Target::Direct { db, cursors } => {
                let now = chrono::Utc::now();
                let p = &user.principal;
                let outcome: shared::Result<u16> = async {
                    match op {
                        Op::List => {
                            let access = Access::load(db, p, &world.community, now).await?;
                            let page = PageParams {
                                limit: 20,
                                cursor: None,
                            };
                            posts::list(db, cursors, &access, &ListFilter::default(), &page)
                                .await?;
                            Ok(200)
                        }
                        Op::Read => {
                            let pa = posts::load(db, p, world.post(), now).await?;
                            let page = PageParams {
                                limit: posts::THREAD_PAGE,
                                cursor: None,
                            };
                            posts::read(db, cursors, &pa, &page).await?;
                            Ok(200)
                        }
                        Op::Create | Op::Reply => {
                            let input = NewPost {
                                title: matches!(op, Op::Create).then(|| format!("Load {n}")),
                                content: Some(
                                    "A question of a typical length, asked under load.".into(),
                                ),
                                community: Some(world.community.clone()),
                                parent: matches!(op, Op::Reply).then(|| world.post().to_string()),
                                ..NewPost::default()
                            };
                            posts::create(db, p, None, input, now).await?;
                            Ok(201)
                        }
                        Op::React => {
                            let pa = posts::load(db, p, world.post(), now).await?;
                            let (_, added) = reactions::add(db, &pa, reaction(), now).await?;
                            Ok(if added { 201 } else { 200 })
                        }
                    }
                }
                .await;
                outcome.unwrap_or_else(|e| e.status())
            }
        }
    }
}

/// Latencies (ms) and statuses of one phase, by operation.
#[derive(Default)]
struct Tally {
    latencies: BTreeMap<&'static str, Vec<f64>>,
    statuses: BTreeMap<u16, u64>,
}

async fn phase(
    target: &Target,
    world: &Arc<World>,
    concurrency: usize,
    duration: Duration,
) -> (Tally, f64) {
    let started = Instant::now();
    let deadline = started + duration;
    let tallies = stream::iter(0..concurrency)
        .map(|_| {
            let target = target.clone();
            let world = world.clone();
            tokio::spawn(async move {
                let mut t = Tally::default();
                while Instant::now() < deadline {
                    let op = Op::pick();
                    let began = Instant::now();
                    let status = target.run(&world, op).await;
                    let ms = began.elapsed().as_secs_f64() * 1000.0;
                    t.latencies.entry(op.name()).or_default().push(ms);
                    *t.statuses.entry(status).or_default() += 1;
                }
                t
            })
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut all = Tally::default();
    for t in tallies.into_iter().map(|t| t.expect("worker")) {
        for (op, l) in t.latencies {
            all.latencies.entry(op).or_default().extend(l);
        }
        for (s, n) in t.statuses {
            *all.statuses.entry(s).or_default() += n;
        }
    }
    (all, elapsed)
}

fn summary(tally: &Tally, elapsed: f64) -> Value {
    let all: Vec<f64> = tally.latencies.values().flatten().copied().collect();
    let by_op: serde_json::Map<String, Value> = tally
        .latencies
        .iter()
        .map(|(op, l)| {
            (
                op.to_string(),
                json!({
                    "requests": l.len(),
                    "p50_ms": common::percentile(l, 50.0),
                    "p99_ms": common::percentile(l, 99.0),
                }),
            )
        })
        .collect();
    let ok: u64 = tally
        .statuses
        .iter()
        .filter(|(s, _)| (200..300).contains(*s))
        .map(|(_, n)| n)
        .sum();
    json!({
        "requests": all.len(),
        "seconds": elapsed,
        "requests_per_s": all.len() as f64 / elapsed,
        "p50_ms": common::percentile(&all, 50.0),
        "p99_ms": common::percentile(&all, 99.0),
        "ok_share": ok as f64 / all.len().max(1) as f64,
        "statuses": tally.statuses.iter().map(|(s, n)| (s.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "by_op": by_op,
    })
}

/// `n` enrolled members of the course, written straight to the table.
async fn students(stack: &Stack, course: &Course, tag: &str, n: usize) -> Vec<Student> {
    let cid = &course.community_id;
    let now = shared::clock::iso(chrono::Utc::now());
    let mut items = Vec::new();
    let mut out = Vec::new();
    for i in 0..n {
        let id = format!("load-{tag}-{i}-{}", &cid[20..]);
        let name = format!("Load {tag} {i}");
        let member = Member {
            community_id: cid.clone(),
            user_id: id.clone(),
            name: name.clone(),
            username: None,
            role: CommunityRole::Member,
            joined_at: now.clone(),
        };
        let enrollment = Enrollment {
            course_id: course.course_id.clone(),
            community_id: cid.clone(),
            user_id: id.clone(),
            is_active: true,
            expiry_date: None,
            updated_at: now.clone(),
        };
        items.push(to_item(&shared::keys::member(cid, &id), &member).unwrap());
        items.push(to_item(&shared::keys::enrollment(cid, &id), &enrollment).unwrap());
        out.push(Student {
            token: stack.token_for(&id, Role::Student, &name, None),
            principal: Principal {
                user_id: id,
                role: Role::Student,
                name,
                username: None,
            },
        });
    }
    stack.put_items(items).await;
    out
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let concurrency = common::env_usize("BENCH_CONCURRENCY", 16).max(1);
    let duration = Duration::from_secs(common::env_usize("BENCH_DURATION_S", 20) as u64);
    let warmup = Duration::from_secs(common::env_usize("BENCH_WARMUP_S", 3) as u64);
    let (bins, build) = common::function_binaries();
    let stack = Stack::start_with(|cfg| {
        cfg.bin_dir = bins.clone();
        cfg.max_instances_per_function = concurrency;
    })
    .await;
    let course = stack.course().await;
    let db = Db::new(dynamodb_client(&dynamodb_endpoint()).await, &stack.table);
    let cursors = Cursors::new(b"test-cursor-secret");

    // Published posts to read and react to, each by its own author (not measured).
    let authors = students(&stack, &course, "seed", SEED_POSTS).await;
    let mut seeded = Vec::new();
    for a in &authors {
        let input = NewPost {
            title: Some("A seeded question".into()),
            content: Some("Some content of a typical length for a forum post. ".repeat(6)),
            community: Some(course.community_id.clone()),
            parent: None,
            ..NewPost::default()
        };
        let (view, _) = posts::create(&db, &a.principal, None, input, chrono::Utc::now())
            .await
            .expect("seed post");
        seeded.push(
            serde_json::to_value(&view).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }

    let targets = [
        (
            "gateway",
            Target::Gateway {
                http: reqwest::Client::builder()
                    .pool_max_idle_per_host(concurrency)
                    .build()
                    .unwrap(),
                base: stack.http_url.clone(),
            },
        ),
        (
            "direct",
            Target::Direct {
                db: db.clone(),
                cursors,
            },
        ),
    ];
    println!(
        "{build} binaries, concurrency {concurrency}, {}s per phase after {}s of warm-up\n",
        duration.as_secs(),
        warmup.as_secs()
    );
    let mut phases = serde_json::Map::new();
    for (name, target) in &targets {
        let world = Arc::new(World {
            community: course.community_id.clone(),
            posts: seeded.clone(),
            users: students(&stack, &course, name, USERS_PER_PHASE).await,
        });
        phase(target, &world, concurrency, warmup).await;
        let (tally, elapsed) = phase(target, &world, concurrency, duration).await;
        let s = summary(&tally, elapsed);
        println!(
            "{name:<8} {:>8.0} req/s  p50 {:>7} ms  p99 {:>7} ms  statuses {}",
            s["requests_per_s"].as_f64().unwrap_or(0.0),
            common::ms(s["p50_ms"].as_f64().unwrap_or(f64::NAN)),
            common::ms(s["p99_ms"].as_f64().unwrap_or(f64::NAN)),
            s["statuses"]
        );
        phases.insert(name.to_string(), s);
    }
    let g = &phases["gateway"];
    let d = &phases["direct"];
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let ratio = json!({
        "throughput_direct_over_gateway": f(d, "requests_per_s") / f(g, "requests_per_s"),
        "p50_gateway_over_direct": f(g, "p50_ms") / f(d, "p50_ms"),
        "p99_gateway_over_direct": f(g, "p99_ms") / f(d, "p99_ms"),
    });

    let mut md = String::from("## Throughput\n\n");
    md.push_str(&format!(
        "`tests/benches/throughput.rs`: a mixed forum workload (60% list a community's posts, 20% read \
         a post and its thread, 8% create a post, 7% reply, 5% react) from {concurrency} concurrent \
         clients for {}s (after {}s of warm-up), {} users per phase, on this machine ({} cores, shared \
         by DynamoDB Local, the gateway, the functions and the clients; 1-minute load average {load} at \
         the end, other work included). \"Through the gateway\": HTTP \
         -> local API Gateway -> Lambda Runtime API -> the posts function ({build} binary, up to \
         {concurrency} instances) -> DynamoDB Local. \"Direct\": the same `shared` calls (the same \
         DynamoDB requests) made from the bench process straight to DynamoDB Local.\n\n",
        duration.as_secs(),
        warmup.as_secs(),
        USERS_PER_PHASE,
        common::machine()["cores"],
        load = common::load_average().map_or("?".into(), |l| format!("{l:.1}")),
    ));
    md.push_str("| Path | Requests/s | p50 ms | p99 ms | 2xx share |\n| --- | ---: | ---: | ---: | ---: |\n");
    for (name, label) in [
        ("gateway", "Through the gateway"),
        ("direct", "Direct to DynamoDB Local"),
    ] {
        let p = &phases[name];
        md.push_str(&format!(
            "| {label} | {:.0} | {} | {} | {:.1}% |\n",
            f(p, "requests_per_s"),
            common::ms(f(p, "p50_ms")),
            common::ms(f(p, "p99_ms")),
            f(p, "ok_share") * 100.0
        ));
    }
    md.push_str(&format!(
        "| Gateway / direct | {:.2}x | {:.2}x | {:.2}x | |\n\n",
        1.0 / f(&ratio, "throughput_direct_over_gateway"),
        f(&ratio, "p50_gateway_over_direct"),
        f(&ratio, "p99_gateway_over_direct"),
    ));
    md.push_str(
        "| Operation | Gateway p50 / p99 ms | Direct p50 / p99 ms |\n| --- | ---: | ---: |\n",
    );
    for op in OPS {
        let cell = |p: &Value| {
            let o = &p["by_op"][op];
            format!(
                "{} / {}",
                common::ms(f(o, "p50_ms")),
                common::ms(f(o, "p99_ms"))
            )
        };
        md.push_str(&format!("| {op} | {} | {} |\n", cell(g), cell(d)));
    }
    let report = json!({
        "benchmark": "throughput",
        "generated_at": shared::clock::iso(chrono::Utc::now()),
        "machine": common::machine(),
        "build": build,
        "concurrency": concurrency,
        "duration_s": duration.as_secs(),
        "warmup_s": warmup.as_secs(),
        "users_per_phase": USERS_PER_PHASE,
        "seed_posts": SEED_POSTS,
        "mix": { "list": 60, "read": 20, "create": 8, "reply": 7, "react": 5 },
        "phases": phases,
        "ratio": ratio,
    });
    common::write_results("throughput", &report, &md);
}
