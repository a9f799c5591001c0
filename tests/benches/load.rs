//! Soak and fault run (`make load`; not a test, not part of `make bench`): 1,000 real WebSocket
//! clients in 20 course communities chat through the local gateway for 10 minutes at a steady
//! rate, while connections churn and, in windows of the run, the Management API answers 410, 429
//! or 500 for a share of pushes, function processes are killed mid-invocation and DynamoDB Local is
//! restarted. Every client behaves as the documented client does (retry a send with its
//! `client_id` until acknowledged, catch up from the history after a reconnect, keep one copy per
//! message id) and records every message it gets; at the end each community's stored history is
//! checked against every acknowledgement and every client's view. Writes `bench/results/load.json`
//! and `load.md` and prints the table; exits non-zero if an accepted message was lost or stored
//! twice.
//!
//! Needs DynamoDB Local with a database on disk, so that a restart keeps the data
//! (`TEST_DYNAMODB_ENDPOINT`; `LOAD_DYNAMODB_PORT` and `LOAD_DYNAMODB_PATH` tell this run how to
//! restart it with `scripts/dynamodb-local.sh`). `make load` sets all of it up.
//!
//! Knobs: `LOAD_DURATION_SECS` (600), `LOAD_CONNECTIONS` (1000), `LOAD_COMMUNITIES` (20),
//! `LOAD_RATE` (messages per second in all, 20), `LOAD_CHURN` (reconnects per second, 2),
//! `LOAD_REST_SHARE` (share of sends over REST, 0.1), `LOAD_FAULTS` (`0` for a soak without
//! faults), `LOAD_LOG` (file for the functions' warnings).

mod common;

use common::{env_usize, machine, ms, percentile, write_results};
use e2e::*;
use futures::{SinkExt, StreamExt, stream};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A send not acknowledged within this long is sent again (same `client_id`).
const ACK_TIMEOUT: Duration = Duration::from_secs(4);
/// A send still not accepted after this long is given up (and reported).
const GIVE_UP: Duration = Duration::from_secs(120);
/// A client resumes its catch-up from a message this much older than the newest it holds: ids
/// are assigned before the write commits, so a message can land just after a newer one.
const RESUME_MARGIN_MS: u64 = 5_000;
/// A client with nothing sent for this long pings (API Gateway closes idle connections at 10 min).
const KEEPALIVE: Duration = Duration::from_secs(240);
/// Time for the last deliveries to land before the final check.
const DRAIN: Duration = Duration::from_secs(5);

fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

#[derive(Debug, Clone)]
struct Settings {
    duration: Duration,
    connections: usize,
    communities: usize,
    rate: f64,
    churn: f64,
    rest_share: f64,
    faults: bool,
    dynamodb_port: Option<u16>,
    dynamodb_path: String,
}

impl Settings {
    fn from_env() -> Self {
        Settings {
            duration: Duration::from_secs(env_usize("LOAD_DURATION_SECS", 600) as u64),
            connections: env_usize("LOAD_CONNECTIONS", 1000).max(2),
            communities: env_usize("LOAD_COMMUNITIES", 20).max(1),
            rate: env_f64("LOAD_RATE", 20.0).max(0.1),
            churn: env_f64("LOAD_CHURN", 2.0).max(0.0),
            rest_share: env_f64("LOAD_REST_SHARE", 0.1).clamp(0.0, 1.0),
            faults: std::env::var("LOAD_FAULTS").map_or(true, |v| v != "0"),
            dynamodb_port: std::env::var("LOAD_DYNAMODB_PORT")
                .ok()
                .and_then(|p| p.parse().ok()),
            dynamodb_path: std::env::var("LOAD_DYNAMODB_PATH")
                .unwrap_or_else(|_| ".local/load/dynamodb".into()),
        }
    }
}

// ---------------------------------------------------------------- the run's timeline

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    None,
    Management { status: u16, rate: f64 },
    KillFunctions,
    RestartDynamoDb,
}

struct Phase {
    name: &'static str,
    /// Start, as a share of the run.
    start: f64,
    fault: Fault,
}

fn phases(faults: bool) -> Vec<Phase> {
    let p = |name, start, fault| Phase { name, start, fault };
    if !faults {
        return vec![p("steady", 0.0, Fault::None)];
    }
    vec![
        p("steady", 0.0, Fault::None),
        p(
            "410 Gone on 0.2% of pushes",
            0.15,
            Fault::Management {
                status: 410,
                rate: 0.002,
            },
        ),
        p("recovery", 0.25, Fault::None),
        p(
            "429 on 30% of pushes",
            0.30,
            Fault::Management {
                status: 429,
                rate: 0.30,
            },
        ),
        p(
            "500 on 20% of pushes",
            0.40,
            Fault::Management {
                status: 500,
                rate: 0.20,
            },
        ),
        p("recovery", 0.50, Fault::None),
        p(
            "functions killed mid-invocation",
            0.55,
            Fault::KillFunctions,
        ),
        p("recovery", 0.65, Fault::None),
        p("DynamoDB Local restarted", 0.70, Fault::RestartDynamoDb),
        p("steady after the faults", 0.80, Fault::None),
    ]
}

/// Functions whose processes the kill phase kills mid-invocation, in turn.
const KILLED: [&str; 3] = ["WsMessageFunction", "MessagesFunction", "WsConnectFunction"];

// ---------------------------------------------------------------- shared state

#[derive(Debug, Clone)]
struct SendRecord {
    community: usize,
    phase: usize,
    first_attempt_us: u64,
    attempts: u32,
    accepted: Option<(String, u64)>,
    abandoned: bool,
}

struct Run {
    t0: Instant,
    phase: AtomicUsize,
    sends: Mutex<HashMap<String, SendRecord>>,
    in_flight: AtomicUsize,
    connected: Vec<AtomicBool>,
    stopping: AtomicBool,
    kills: AtomicU64,
    dynamodb_down_ms: AtomicU64,
}

impl Run {
    fn now_us(&self) -> u64 {
        self.t0.elapsed().as_micros() as u64
    }

    fn begin(&self, client_id: &str, community: usize) -> u64 {
        let now = self.now_us();
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.sends.lock().unwrap().insert(
            client_id.to_string(),
            SendRecord {
                community,
                phase: self.phase.load(Ordering::Relaxed),
                first_attempt_us: now,
                attempts: 0,
                accepted: None,
                abandoned: false,
            },
        );
        now
    }

    fn attempt(&self, client_id: &str) {
        if let Some(r) = self.sends.lock().unwrap().get_mut(client_id) {
            r.attempts += 1;
        }
    }

    fn accept(&self, client_id: &str, message_id: &str) {
        let now = self.now_us();
        let mut sends = self.sends.lock().unwrap();
        if let Some(r) = sends.get_mut(client_id)
            && r.accepted.is_none()
            && !r.abandoned
        {
            r.accepted = Some((message_id.to_string(), now));
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn abandon(&self, client_id: &str) {
        let mut sends = self.sends.lock().unwrap();
        if let Some(r) = sends.get_mut(client_id)
            && r.accepted.is_none()
            && !r.abandoned
        {
            r.abandoned = true;
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The send's text carries its `client_id` and the time of its first attempt, so a receiver
/// can measure latency without asking anyone.
fn text_of(client_id: &str, first_attempt_us: u64) -> String {
    format!("load {client_id} {first_attempt_us}")
}

fn first_attempt_of(text: &str) -> Option<u64> {
    text.strip_prefix("load ")?.split(' ').nth(1)?.parse().ok()
}

fn ulid_ms(id: &str) -> u64 {
    ulid::Ulid::from_string(id).map_or(0, |u| u.timestamp_ms())
}

// ---------------------------------------------------------------- one client

#[derive(Debug, Clone, Copy, PartialEq)]
enum Seen {
    Live { latency_us: u64 },
    CatchUp,
}

#[derive(Debug, Default)]
struct SlotReport {
    community: usize,
    subscribed_at_us: Option<u64>,
    seen: HashMap<String, Seen>,
    /// The same message id arriving live twice on one connection.
    duplicate_frames: u64,
    /// Connected periods, in µs since the start.
    intervals: Vec<(u64, u64)>,
    connects: u64,
    connect_failures: u64,
    dropped_by_server: u64,
    churned: u64,
    catch_up_pages: u64,
    catch_up_failures: u64,
    error_events: BTreeMap<String, u64>,
    gateway_errors: u64,
}

enum Cmd {
    Send { rest: bool },
    Bounce,
}

struct Client {
    slot: usize,
    community: usize,
    community_id: String,
    token: String,
    ws_url: String,
    http_url: String,
    http: reqwest::Client,
    run: Arc<Run>,
}

struct Pending {
    text: String,
    next_try: Instant,
    since: Instant,
}

impl Client {
    async fn connect(&self) -> Result<Socket, String> {
        let url = format!(
            "{}/?token={}&community_id={}",
            self.ws_url, self.token, self.community_id
        );
        match tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async(url),
        )
        .await
        {
            Ok(Ok((s, _))) => Ok(s),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".into()),
        }
    }

    /// Reads the history after `after`, oldest first, into `seen`; retried until it works or the
    /// run is over.
    async fn catch_up(&self, after: &str, rep: &mut SlotReport) {
        let mut cursor: Option<String> = None;
        let mut failures = 0u32;
        loop {
            let mut url = format!(
                "{}/api/community/groups/{}/messages/?after={after}&limit=100",
                self.http_url, self.community_id
            );
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let page = match self
                .http
                .get(url)
                .bearer_auth(&self.token)
                .timeout(Duration::from_secs(10))
                .send()
                .await
            {
                Ok(r) if r.status() == 200 => r.json::<Value>().await.ok(),
                _ => None,
            };
            let Some(page) = page else {
                rep.catch_up_failures += 1;
                failures += 1;
                if failures > 60 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            };
            rep.catch_up_pages += 1;
            for m in page["results"].as_array().into_iter().flatten() {
                if let Some(id) = m["id"].as_str() {
                    rep.seen.entry(id.to_string()).or_insert(Seen::CatchUp);
                }
            }
            match page["next"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return,
            }
        }
    }

    /// Where a catch-up starts: the newest held id at least `RESUME_MARGIN_MS` older than the
    /// newest held one.
    fn resume_point(seen: &HashMap<String, Seen>, seed: &str) -> String {
        let newest = seen.keys().map(|id| ulid_ms(id)).max().unwrap_or(0);
        let bound = newest.saturating_sub(RESUME_MARGIN_MS);
        seen.keys()
            .filter(|id| ulid_ms(id) <= bound)
            .max()
            .cloned()
            .unwrap_or_else(|| seed.to_string())
    }

    async fn send_rest(self: Arc<Self>, client_id: String, text: String) {
        let started = Instant::now();
        let url = format!("{}/api/community/messages/", self.http_url);
        let body =
            json!({ "community": self.community_id, "message": text, "client_id": client_id });
        let mut failures = 0u32;
        loop {
            self.run.attempt(&client_id);
            let r = self
                .http
                .post(&url)
                .bearer_auth(&self.token)
                .json(&body)
                .timeout(Duration::from_secs(10))
                .send()
                .await;
            let wait = match r {
                Ok(r) if r.status() == 201 || r.status() == 200 => {
                    if let Ok(v) = r.json::<Value>().await
                        && let Some(id) = v["id"].as_str()
                    {
                        self.run.accept(&client_id, id);
                        return;
                    }
                    Duration::from_millis(500)
                }
                Ok(r) if r.status() == 429 => Duration::from_secs(
                    r.headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()?.parse().ok())
                        .unwrap_or(1),
                ),
                Ok(r) if r.status().is_client_error() => {
                    self.run.abandon(&client_id);
                    return;
                }
                _ => {
                    failures += 1;
                    Duration::from_millis((100u64 << failures.min(5)).min(3000))
                }
            };
            if started.elapsed() > GIVE_UP {
                self.run.abandon(&client_id);
                return;
            }
            tokio::time::sleep(wait).await;
        }
    }

    fn on_frame(
        &self,
        text: &str,
        rep: &mut SlotReport,
        pending: &mut HashMap<String, Pending>,
    ) -> bool {
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            return false;
        };
        match v["type"].as_str() {
            Some("chat_message") => {
                let (Some(id), Some(body)) = (v["id"].as_str(), v["message"].as_str()) else {
                    return false;
                };
                if let Some(client_id) = v["client_id"].as_str()
                    && pending.remove(client_id).is_some()
                {
                    self.run.accept(client_id, id);
                }
                let now = self.run.now_us();
                match rep.seen.get(id) {
                    Some(Seen::Live { .. }) => rep.duplicate_frames += 1,
                    Some(Seen::CatchUp) => {}
                    None => {
                        let latency_us =
                            first_attempt_of(body).map_or(0, |t| now.saturating_sub(t));
                        rep.seen.insert(id.to_string(), Seen::Live { latency_us });
                    }
                }
                false
            }
            Some("error") => {
                let code = v["code"].as_str().unwrap_or("?").to_string();
                *rep.error_events.entry(code.clone()).or_default() += 1;
                if let Some(p) = v["client_id"].as_str().and_then(|c| pending.get_mut(c)) {
                    let wait = match code.as_str() {
                        "rate_limited" => {
                            Duration::from_secs(v["retry_after"].as_u64().unwrap_or(1))
                        }
                        _ => Duration::from_millis(500),
                    };
                    p.next_try = Instant::now() + wait;
                }
                // An unregistered connection (pruned as gone) must reconnect.
                code == "unauthorized"
            }
            Some(_) => false,
            None => {
                // API Gateway's own frame when the integration failed: try again shortly.
                rep.gateway_errors += 1;
                for p in pending.values_mut() {
                    p.next_try = p.next_try.min(Instant::now() + Duration::from_millis(500));
                }
                false
            }
        }
    }

    async fn run(
        self: Arc<Self>,
        mut cmds: mpsc::UnboundedReceiver<Cmd>,
        seed: String,
    ) -> SlotReport {
        let mut rep = SlotReport {
            community: self.community,
            ..Default::default()
        };
        rep.seen.insert(seed.clone(), Seen::CatchUp);
        let mut pending: HashMap<String, Pending> = HashMap::new();
        let mut seq = 0u64;
        let mut failures = 0u32;
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        'connection: while !self.run.stopping.load(Ordering::Relaxed) {
            let mut ws = match self.connect().await {
                Ok(ws) => ws,
                Err(_) => {
                    // Exponential backoff with full jitter, as a client should: a crowd of
                    // clients retrying in step would keep an overloaded stack down.
                    rep.connect_failures += 1;
                    failures += 1;
                    let cap = (250u64 << failures.min(6)).min(15_000);
                    tokio::time::sleep(Duration::from_millis(100 + fastrand::u64(..cap))).await;
                    continue;
                }
            };
            failures = 0;
            rep.connects += 1;
            let since = self.run.now_us();
            if rep.subscribed_at_us.is_none() {
                rep.subscribed_at_us = Some(since);
            } else {
                let after = Self::resume_point(&rep.seen, &seed);
                self.catch_up(&after, &mut rep).await;
            }
            self.run.connected[self.slot].store(true, Ordering::Relaxed);
            let mut last_sent = Instant::now();
            // Sends queued while away go out now.
            for p in pending.values_mut() {
                p.next_try = Instant::now();
            }
            let mut bounce = false;
            loop {
                tokio::select! {
                    frame = ws.next() => match frame {
                        Some(Ok(Message::Text(t))) => {
                            if self.on_frame(t.as_str(), &mut rep, &mut pending) {
                                rep.dropped_by_server += 1;
                                break;
                            }
                        }
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                            rep.dropped_by_server += 1;
                            break;
                        }
                        Some(Ok(_)) => {}
                    },
                    cmd = cmds.recv() => match cmd {
                        Some(Cmd::Send { rest }) => {
                            seq += 1;
                            let client_id = format!("s{}n{seq}", self.slot);
                            let first = self.run.begin(&client_id, self.community);
                            let text = text_of(&client_id, first);
                            if rest {
                                tokio::spawn(self.clone().send_rest(client_id, text));
                            } else {
                                pending.insert(client_id, Pending { text, next_try: Instant::now(), since: Instant::now() });
                            }
                        }
                        Some(Cmd::Bounce) => {
                            bounce = true;
                            break;
                        }
                        None => {}
                    },
                    _ = tick.tick() => {
                        if self.run.stopping.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                }
                // Sends due now (new, or unacknowledged for too long).
                let now = Instant::now();
                let mut broken = false;
                let mut given_up = Vec::new();
                for (client_id, p) in pending.iter_mut() {
                    if p.since.elapsed() > GIVE_UP {
                        given_up.push(client_id.clone());
                        continue;
                    }
                    if p.next_try > now {
                        continue;
                    }
                    p.next_try = now + ACK_TIMEOUT;
                    self.run.attempt(client_id);
                    let frame = json!({ "type": "chat_message", "community_id": self.community_id,
                                        "message": p.text, "client_id": client_id });
                    if ws.send(Message::text(frame.to_string())).await.is_err() {
                        broken = true;
                        break;
                    }
                    last_sent = now;
                }
                for client_id in given_up {
                    pending.remove(&client_id);
                    self.run.abandon(&client_id);
                }
                if broken {
                    rep.dropped_by_server += 1;
                    break;
                }
                if last_sent.elapsed() > KEEPALIVE {
                    let _ = ws
                        .send(Message::text(json!({ "type": "ping" }).to_string()))
                        .await;
                    last_sent = Instant::now();
                }
            }
            self.run.connected[self.slot].store(false, Ordering::Relaxed);
            rep.intervals.push((since, self.run.now_us()));
            let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
            if self.run.stopping.load(Ordering::Relaxed) {
                break 'connection;
            }
            if bounce {
                rep.churned += 1;
                tokio::time::sleep(Duration::from_millis(500 + fastrand::u64(..1500))).await;
            } else {
                tokio::time::sleep(Duration::from_millis(100 + fastrand::u64(..400))).await;
            }
        }
        // The final catch-up, as on the next reconnect.
        let after = Self::resume_point(&rep.seen, &seed);
        self.catch_up(&after, &mut rep).await;
        for client_id in pending.keys() {
            self.run.abandon(client_id);
        }
        rep
    }
}

// ---------------------------------------------------------------- the fault controller

async fn restart_dynamodb(settings: &Settings) -> Result<Duration, String> {
    let port = settings
        .dynamodb_port
        .ok_or("LOAD_DYNAMODB_PORT is not set: cannot restart DynamoDB Local")?
        .to_string();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = root.join("scripts/dynamodb-local.sh");
    let started = Instant::now();
    let run = |args: Vec<&str>| {
        let mut c = tokio::process::Command::new(&script);
        c.current_dir(&root).args(args);
        c
    };
    let out = run(vec!["stop", "--port", &port])
        .output()
        .await
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let out = run(vec![
        "start",
        "--port",
        &port,
        "--db-path",
        &settings.dynamodb_path,
    ])
    .output()
    .await
    .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(started.elapsed())
}

async fn control(
    stack: Arc<Stack>,
    run: Arc<Run>,
    settings: Settings,
    phases: Arc<Vec<Phase>>,
    started: Instant,
) {
    let at = |share: f64| started + settings.duration.mul_f64(share);
    for (i, phase) in phases.iter().enumerate() {
        tokio::time::sleep_until(at(phase.start).into()).await;
        run.phase.store(i, Ordering::Relaxed);
        println!(
            "[{:>5.0} s] phase {}: {}",
            started.elapsed().as_secs_f64(),
            i + 1,
            phase.name
        );
        let end = at(phases.get(i + 1).map_or(1.0, |n| n.start));
        match phase.fault {
            Fault::None => stack.gateway.set_faults(Faults::default()),
            Fault::Management { status, rate } => stack.gateway.set_faults(Faults {
                latency_ms: 0,
                fail_rate: rate,
                fail_status: status,
            }),
            Fault::KillFunctions => {
                stack.gateway.set_faults(Faults::default());
                let mut n = 0;
                while Instant::now() < end {
                    if stack.gateway.kill_busy_instance(KILLED[n % KILLED.len()]) {
                        run.kills.fetch_add(1, Ordering::Relaxed);
                        n += 1;
                        tokio::time::sleep(Duration::from_millis(1500)).await;
                    } else {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        // Nothing of that function in flight this time: try the next one later.
                        if fastrand::u8(..100) == 0 {
                            n += 1;
                        }
                    }
                }
            }
            Fault::RestartDynamoDb => {
                stack.gateway.set_faults(Faults::default());
                match restart_dynamodb(&settings).await {
                    Ok(down) => {
                        run.dynamodb_down_ms
                            .store(down.as_millis() as u64, Ordering::Relaxed);
                        println!(
                            "          DynamoDB Local back after {:.1} s",
                            down.as_secs_f64()
                        );
                    }
                    Err(e) => eprintln!("          DynamoDB Local restart failed: {e}"),
                }
            }
        }
    }
}

// ---------------------------------------------------------------- setup

async fn setup(stack: &Stack, settings: &Settings) -> (Vec<Course>, Vec<User>, Vec<String>) {
    let courses: Vec<Course> = stream::iter(0..settings.communities)
        .map(|_| stack.course())
        .buffered(8)
        .collect()
        .await;
    let users: Vec<User> = stream::iter(0..settings.connections)
        .map(|i| {
            let course = &courses[i % settings.communities];
            async move {
                let user = stack.user(Role::Student);
                stack.push_user(&user).await;
                stack.enroll(course, &user, None).await;
                stack.join(course, &user).await;
                user
            }
        })
        .buffered(32)
        .collect()
        .await;
    // One message per community before the clients arrive: where their catch-ups can start.
    let seeds: Vec<String> = stream::iter(courses.iter())
        .map(|c| async move {
            let r = stack
                .api(&c.instructor)
                .post(
                    "/api/community/messages/",
                    json!({ "community": c.community_id, "message": "Welcome to the course chat" }),
                )
                .await;
            assert_eq!(r.status, 201, "seed message: {r:?}");
            r.body["id"].as_str().expect("id").to_string()
        })
        .buffered(8)
        .collect()
        .await;
    (courses, users, seeds)
}

/// Every stored message of a community, as its instructor reads it: `client_id -> ids`.
async fn stored(stack: &Stack, course: &Course) -> HashMap<String, Vec<String>> {
    let api = stack.api(&course.instructor);
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    let mut cursor = String::new();
    loop {
        let r = api
            .get(&format!(
                "/api/community/groups/{}/messages/?limit=100{cursor}",
                course.community_id
            ))
            .await;
        assert_eq!(r.status, 200, "history: {r:?}");
        for m in r.body["results"].as_array().into_iter().flatten() {
            if let (Some(c), Some(id)) = (m["client_id"].as_str(), m["id"].as_str()) {
                out.entry(c.to_string()).or_default().push(id.to_string());
            }
        }
        match r.body["next"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return out,
        }
    }
}

// ---------------------------------------------------------------- the report

#[derive(Default)]
struct PhaseStats {
    accepted: u64,
    abandoned: u64,
    retried_sends: u64,
    ack_ms: Vec<f64>,
    expected: u64,
    live: u64,
    caught_up: u64,
    missed_while_connected: u64,
    lost: u64,
    latency_ms: Vec<f64>,
}

fn connected_throughout(intervals: &[(u64, u64)], from: u64, to: u64) -> bool {
    intervals.iter().any(|(a, b)| *a <= from && to <= *b)
}

fn pct(n: u64, of: u64) -> String {
    if of == 0 {
        "-".into()
    } else {
        format!("{:.2}%", 100.0 * n as f64 / of as f64)
    }
}

#[tokio::main]
async fn main() {
    let settings = Settings::from_env();
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let (bins, build) = common::function_binaries();
    println!(
        "load: {} connections in {} communities, {} messages/s, {} reconnects/s, {} s{}; {build} binaries",
        settings.connections,
        settings.communities,
        settings.rate,
        settings.churn,
        settings.duration.as_secs(),
        if settings.faults { ", with faults" } else { "" }
    );
    let log = std::env::var("LOAD_LOG").ok();
    let stack = Arc::new(
        Stack::start_with(|cfg| {
            cfg.bin_dir = bins.clone();
            cfg.max_instances_per_function = 16;
            if let Some(path) = &log {
                cfg.quiet = false;
                cfg.log_file = Some(path.into());
            }
        })
        .await,
    );
    let setup_started = Instant::now();
    let (courses, users, seeds) = setup(&stack, &settings).await;
    println!(
        "set up {} users in {} communities in {:.1} s",
        users.len(),
        courses.len(),
        setup_started.elapsed().as_secs_f64()
    );

    let run = Arc::new(Run {
        t0: Instant::now(),
        phase: AtomicUsize::new(0),
        sends: Mutex::new(HashMap::new()),
        in_flight: AtomicUsize::new(0),
        connected: (0..settings.connections)
            .map(|_| AtomicBool::new(false))
            .collect(),
        stopping: AtomicBool::new(false),
        kills: AtomicU64::new(0),
        dynamodb_down_ms: AtomicU64::new(0),
    });
    let http = reqwest::Client::new();
    let mut senders = Vec::new();
    let mut clients = Vec::new();
    for (slot, user) in users.iter().enumerate() {
        let community = slot % settings.communities;
        let client = Arc::new(Client {
            slot,
            community,
            community_id: courses[community].community_id.clone(),
            token: user.token.clone(),
            ws_url: stack.ws_url.clone(),
            http_url: stack.http_url.clone(),
            http: http.clone(),
            run: run.clone(),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        senders.push(tx);
        clients.push(tokio::spawn(client.run(rx, seeds[community].clone())));
        // Arrive over about 10 s rather than all at once.
        if slot % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let connected = |run: &Run| {
        run.connected
            .iter()
            .filter(|c| c.load(Ordering::Relaxed))
            .count()
    };
    let waiting = Instant::now();
    while connected(&run) < settings.connections && waiting.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("{} clients connected; the run starts", connected(&run));

    let started = Instant::now();
    let phases = Arc::new(phases(settings.faults));
    let controller = tokio::spawn(control(
        stack.clone(),
        run.clone(),
        settings.clone(),
        phases.clone(),
        started,
    ));

    // Steady sends and churn until the end.
    let end = started + settings.duration;
    let send_every = Duration::from_secs_f64(1.0 / settings.rate);
    let churn_every = (settings.churn > 0.0).then(|| Duration::from_secs_f64(1.0 / settings.churn));
    let mut next_send = started;
    let mut next_churn = churn_every.map(|d| started + d);
    let mut next_report = started + Duration::from_secs(30);
    let pick = |run: &Run| -> Option<usize> {
        (0..20)
            .map(|_| fastrand::usize(..run.connected.len()))
            .find(|s| run.connected[*s].load(Ordering::Relaxed))
    };
    while Instant::now() < end {
        let now = Instant::now();
        if now >= next_send {
            if let Some(s) = pick(&run) {
                let _ = senders[s].send(Cmd::Send {
                    rest: fastrand::f64() < settings.rest_share,
                });
            }
            next_send += send_every;
        }
        if let (Some(at), Some(every)) = (next_churn, churn_every)
            && now >= at
        {
            if let Some(s) = pick(&run) {
                let _ = senders[s].send(Cmd::Bounce);
            }
            next_churn = Some(at + every);
        }
        if now >= next_report {
            let sends = run.sends.lock().unwrap();
            let accepted = sends.values().filter(|r| r.accepted.is_some()).count();
            drop(sends);
            println!(
                "[{:>5.0} s] {accepted} messages accepted, {} in flight, {} connected",
                started.elapsed().as_secs_f64(),
                run.in_flight.load(Ordering::Relaxed),
                connected(&run)
            );
            next_report += Duration::from_secs(30);
        }
        let wake = next_churn.map_or(next_send, |c| c.min(next_send));
        tokio::time::sleep_until(wake.min(next_report).into()).await;
    }
    let _ = controller.await;
    stack.gateway.set_faults(Faults::default());
    println!("sending stopped; settling the sends still in flight");
    let settle = Instant::now();
    while run.in_flight.load(Ordering::Relaxed) > 0 && settle.elapsed() < GIVE_UP {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(DRAIN).await;
    run.stopping.store(true, Ordering::Relaxed);
    let reports: Vec<SlotReport> = futures::future::join_all(clients)
        .await
        .into_iter()
        .map(|r| r.expect("client task"))
        .collect();

    // ------------------------------------------------------------ the checks
    let stored: Vec<HashMap<String, Vec<String>>> = stream::iter(courses.iter())
        .map(|c| stored(&stack, c))
        .buffered(4)
        .collect()
        .await;
    let sends = run.sends.lock().unwrap().clone();
    let mut per_phase: Vec<PhaseStats> = phases.iter().map(|_| PhaseStats::default()).collect();
    let (mut stored_missing, mut stored_twice, mut id_mismatch, mut stored_unacknowledged) =
        (0u64, 0u64, 0u64, 0u64);
    for (client_id, r) in &sends {
        let p = &mut per_phase[r.phase];
        if r.attempts > 1 {
            p.retried_sends += 1;
        }
        let ids = stored[r.community].get(client_id);
        match &r.accepted {
            Some((id, at)) => {
                p.accepted += 1;
                p.ack_ms.push((at - r.first_attempt_us) as f64 / 1000.0);
                match ids.map(Vec::as_slice) {
                    None | Some([]) => stored_missing += 1,
                    Some([one]) if one == id => {}
                    Some([_]) => id_mismatch += 1,
                    Some(_) => stored_twice += 1,
                }
            }
            None => {
                p.abandoned += 1;
                if ids.is_some_and(|v| !v.is_empty()) {
                    stored_unacknowledged += 1;
                }
            }
        }
    }
    // Every client against every accepted message of its community sent after it arrived.
    let mut by_community: Vec<Vec<(&SendRecord, &str)>> = vec![Vec::new(); settings.communities];
    for r in sends.values() {
        if let Some((id, _)) = &r.accepted {
            by_community[r.community].push((r, id.as_str()));
        }
    }
    let mut duplicate_frames = 0;
    for rep in &reports {
        duplicate_frames += rep.duplicate_frames;
        let Some(since) = rep.subscribed_at_us else {
            continue;
        };
        for (r, id) in &by_community[rep.community] {
            if r.first_attempt_us < since {
                continue;
            }
            let p = &mut per_phase[r.phase];
            p.expected += 1;
            match rep.seen.get(*id) {
                Some(Seen::Live { latency_us }) => {
                    p.live += 1;
                    p.latency_ms.push(*latency_us as f64 / 1000.0);
                }
                Some(Seen::CatchUp) => {
                    p.caught_up += 1;
                    let acked = r.accepted.as_ref().map_or(0, |(_, at)| *at);
                    if connected_throughout(&rep.intervals, r.first_attempt_us, acked + 1_000_000) {
                        p.missed_while_connected += 1;
                    }
                }
                None => p.lost += 1,
            }
        }
    }
    let total = |f: &dyn Fn(&PhaseStats) -> u64| per_phase.iter().map(f).sum::<u64>();
    let lost = total(&|p| p.lost);
    let abandoned = total(&|p| p.abandoned);
    let all_latency: Vec<f64> = per_phase
        .iter()
        .flat_map(|p| p.latency_ms.clone())
        .collect();
    let all_ack: Vec<f64> = per_phase.iter().flat_map(|p| p.ack_ms.clone()).collect();
    let sum = |f: &dyn Fn(&SlotReport) -> u64| reports.iter().map(f).sum::<u64>();
    let stats = stack.gateway.stats();

    // ------------------------------------------------------------ output
    let phase_rows: Vec<Value> = phases
        .iter()
        .zip(&per_phase)
        .map(|(ph, p)| {
            json!({
                "phase": ph.name,
                "from_s": (settings.duration.as_secs_f64() * ph.start).round(),
                "accepted": p.accepted,
                "abandoned": p.abandoned,
                "sends_retried": p.retried_sends,
                "ack_ms": { "p50": percentile(&p.ack_ms, 50.0), "p99": percentile(&p.ack_ms, 99.0) },
                "deliveries_expected": p.expected,
                "live": p.live,
                "caught_up": p.caught_up,
                "missed_live_while_connected": p.missed_while_connected,
                "lost": p.lost,
                "latency_ms": {
                    "p50": percentile(&p.latency_ms, 50.0),
                    "p95": percentile(&p.latency_ms, 95.0),
                    "p99": percentile(&p.latency_ms, 99.0),
                    "max": percentile(&p.latency_ms, 100.0),
                },
            })
        })
        .collect();
    let passed = lost == 0 && stored_missing == 0 && stored_twice == 0 && id_mismatch == 0;
    let report = json!({
        "settings": {
            "duration_s": settings.duration.as_secs(),
            "connections": settings.connections,
            "communities": settings.communities,
            "messages_per_s": settings.rate,
            "reconnects_per_s": settings.churn,
            "rest_share": settings.rest_share,
            "faults": settings.faults,
            "binaries": build,
        },
        "machine": machine(),
        "phases": phase_rows,
        "totals": {
            "sends": sends.len(),
            "accepted": total(&|p| p.accepted),
            "abandoned": abandoned,
            "deliveries_expected": total(&|p| p.expected),
            "live": total(&|p| p.live),
            "caught_up": total(&|p| p.caught_up),
            "missed_live_while_connected": total(&|p| p.missed_while_connected),
            "lost": lost,
            "duplicate_frames": duplicate_frames,
            "latency_ms": {
                "p50": percentile(&all_latency, 50.0),
                "p95": percentile(&all_latency, 95.0),
                "p99": percentile(&all_latency, 99.0),
                "max": percentile(&all_latency, 100.0),
            },
            "ack_ms": { "p50": percentile(&all_ack, 50.0), "p99": percentile(&all_ack, 99.0) },
        },
        "store": {
            "accepted_not_stored": stored_missing,
            "stored_twice": stored_twice,
            "acknowledged_id_differs": id_mismatch,
            "stored_but_never_acknowledged": stored_unacknowledged,
        },
        "clients": {
            "connects": sum(&|r| r.connects),
            "connect_failures": sum(&|r| r.connect_failures),
            "churned": sum(&|r| r.churned),
            "dropped_by_server": sum(&|r| r.dropped_by_server),
            "catch_up_pages": sum(&|r| r.catch_up_pages),
            "catch_up_failures": sum(&|r| r.catch_up_failures),
            "gateway_error_frames": sum(&|r| r.gateway_errors),
            "error_events": reports.iter().fold(BTreeMap::<String, u64>::new(), |mut m, r| {
                for (k, v) in &r.error_events { *m.entry(k.clone()).or_default() += v; }
                m
            }),
        },
        "faults": {
            "function_processes_killed": run.kills.load(Ordering::Relaxed),
            "dynamodb_restart_s": run.dynamodb_down_ms.load(Ordering::Relaxed) as f64 / 1000.0,
            "management_injected": stats.management.injected_faults,
            "management_by_status": stats.management.by_status,
        },
        "gateway": stats,
        "passed": passed,
    });

    let mut md = String::from("## Load and faults (`make load`)\n\n");
    md.push_str(&format!(
        "{} WebSocket clients in {} communities, {} messages/s ({}% over REST), {} reconnects/s, \
         {} s; {build} binaries; {} cores.\n\n",
        settings.connections,
        settings.communities,
        settings.rate,
        (settings.rest_share * 100.0).round(),
        settings.churn,
        settings.duration.as_secs(),
        report["machine"]["cores"]
    ));
    md.push_str(
        "| phase | from | accepted | retried | ack p50 / p99 ms | deliveries | live | caught up | lost | latency p50 / p95 / p99 ms |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (ph, p) in phases.iter().zip(&per_phase) {
        md.push_str(&format!(
            "| {} | {:.0} s | {} | {} | {} / {} | {} | {} | {} | {} | {} / {} / {} |\n",
            ph.name,
            settings.duration.as_secs_f64() * ph.start,
            p.accepted,
            p.retried_sends,
            ms(percentile(&p.ack_ms, 50.0)),
            ms(percentile(&p.ack_ms, 99.0)),
            p.expected,
            pct(p.live, p.expected),
            p.caught_up,
            p.lost,
            ms(percentile(&p.latency_ms, 50.0)),
            ms(percentile(&p.latency_ms, 95.0)),
            ms(percentile(&p.latency_ms, 99.0)),
        ));
    }
    md.push_str(&format!(
        "| **all** | | **{}** | {} | {} / {} | **{}** | **{}** | {} | **{}** | **{} / {} / {}** |\n\n",
        total(&|p| p.accepted),
        total(&|p| p.retried_sends),
        ms(percentile(&all_ack, 50.0)),
        ms(percentile(&all_ack, 99.0)),
        total(&|p| p.expected),
        pct(total(&|p| p.live), total(&|p| p.expected)),
        total(&|p| p.caught_up),
        lost,
        ms(percentile(&all_latency, 50.0)),
        ms(percentile(&all_latency, 95.0)),
        ms(percentile(&all_latency, 99.0)),
    ));
    md.push_str(&format!(
        "- Accepted and stored exactly once: {} of {} accepted (not stored: {stored_missing}, \
         stored twice: {stored_twice}, other id than acknowledged: {id_mismatch}); sends given \
         up: {abandoned} (of which stored: {stored_unacknowledged}).\n",
        total(&|p| p.accepted) - stored_missing - stored_twice - id_mismatch,
        total(&|p| p.accepted),
    ));
    md.push_str(&format!(
        "- Lost (a client never had a message it should see): **{lost}**. Caught up from the \
         history: {} (of which {} while connected throughout). The same id pushed twice to one \
         connection: {duplicate_frames} (clients keep one copy per id).\n",
        total(&|p| p.caught_up),
        total(&|p| p.missed_while_connected),
    ));
    md.push_str(&format!(
        "- Clients: {} connects ({} churned, {} dropped by the server), {} failed connects, {} \
         catch-up pages ({} failed reads retried), {} `Internal server error` frames.\n",
        sum(&|r| r.connects),
        sum(&|r| r.churned),
        sum(&|r| r.dropped_by_server),
        sum(&|r| r.connect_failures),
        sum(&|r| r.catch_up_pages),
        sum(&|r| r.catch_up_failures),
        sum(&|r| r.gateway_errors),
    ));
    if settings.faults {
        md.push_str(&format!(
            "- Faults: {} Management API answers injected, {} function processes killed \
             mid-invocation, DynamoDB Local down and back in {:.1} s.\n",
            stats.management.injected_faults,
            run.kills.load(Ordering::Relaxed),
            run.dynamodb_down_ms.load(Ordering::Relaxed) as f64 / 1000.0
        ));
    }
    md.push_str(&format!(
        "- Result: **{}**.\n",
        if passed {
            "nothing accepted was lost or stored twice"
        } else {
            "FAILED: see the counts above"
        }
    ));
    println!("\n{md}");
    write_results("load", &report, &md);
    let stack = Arc::try_unwrap(stack).ok();
    if let Some(stack) = stack {
        let Stack { gateway, .. } = stack;
        gateway.shutdown().await;
    }
    if !passed {
        std::process::exit(1);
    }
}
