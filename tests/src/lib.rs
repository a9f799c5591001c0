//! End-to-end test harness: each test gets its own DynamoDB table (in DynamoDB Local) and its
//! own local API Gateway running the real function binaries, and talks to it with real HTTP and
//! WebSocket clients.

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

pub use local_gateway::{Faults, Gateway, GatewayConfig, WsLimits};
pub use shared::auth::Role;

/// Local JWT settings (the documented development defaults).
pub const JWT_SECRET: &str = "local-development-secret-change-me-0123456789";
pub const JWT_ISSUER: &str = "https://lms.local";
pub const JWT_AUDIENCE: &str = "course-community";

const WAIT: Duration = Duration::from_secs(5);

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// Where `cargo build --workspace` put the function binaries.
pub fn bin_dir() -> PathBuf {
    match std::env::var("CARGO_TARGET_DIR") {
        Ok(dir) => PathBuf::from(dir).join("debug"),
        Err(_) => workspace().join("target/debug"),
    }
}

pub fn template() -> PathBuf {
    workspace().join("infra/template.yaml")
}

/// DynamoDB Local used by the tests (`make test` starts one in memory).
pub fn dynamodb_endpoint() -> String {
    std::env::var("TEST_DYNAMODB_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:8001".into())
}

/// The AWS service emulator (S3, SES v2, SNS, Secrets Manager) used by the tests (`make test`
/// starts one).
/// Percent-encoding of a query parameter's value (everything but RFC 3986's unreserved).
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A query-protocol call to the AWS emulator's SNS in `region`; answers the response XML and
/// fails the test on an error.
pub async fn sns(region: &str, action: &str, params: &[(&str, &str)]) -> String {
    local_gateway::sns::call(&aws_emulator_endpoint(), region, action, params)
        .await
        .unwrap_or_else(|e| panic!("SNS {action}: {e}"))
}

pub fn aws_emulator_endpoint() -> String {
    std::env::var("TEST_AWS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5001".into())
}

pub async fn dynamodb_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "tests",
        ))
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&config)
}

/// Mints a token for any claims (for the JWT attack tests).
pub fn sign_hs256(secret: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .expect("encodes")
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub name: String,
    pub username: String,
    pub role: Role,
    pub token: String,
}

#[derive(Debug, Clone)]
pub struct Course {
    pub course_id: String,
    pub community_id: String,
    pub instructor: User,
}

pub struct Stack {
    pub gateway: Gateway,
    pub http_url: String,
    pub ws_url: String,
    pub table: String,
    pub ddb: aws_sdk_dynamodb::Client,
    run: String,
    seq: AtomicU32,
    _table_guard: TableGuard,
}

/// Deletes the test's table when the test ends, so DynamoDB Local stays small over a long run.
struct TableGuard {
    endpoint: String,
    table: String,
}

impl Drop for TableGuard {
    fn drop(&mut self) {
        // A client of its own: the test's client belongs to the test's runtime, which is ending.
        let (endpoint, table) = (self.endpoint.clone(), self.table.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let ddb = dynamodb_client(&endpoint).await;
                let _ = ddb.delete_table().table_name(table).send().await;
            });
            Ok::<_, std::io::Error>(())
        })
        .join();
    }
}

/// A fresh table in DynamoDB Local, created as the template defines it, with no gateway: the
/// world of a store test or a use-case test.
pub struct TestTable {
    pub db: shared::db::Db,
    pub name: String,
    _guard: TableGuard,
}

impl TestTable {
    pub async fn new() -> TestTable {
        let name = format!(
            "store-{}",
            ulid::Ulid::generate().to_string().to_lowercase()
        );
        let endpoint = dynamodb_endpoint();
        let ddb = dynamodb_client(&endpoint).await;
        local_gateway::create_table_from_template(&ddb, &template(), &name)
            .await
            .unwrap_or_else(|e| {
                panic!("creating table in DynamoDB Local at {endpoint} (is it running? `make test` starts it): {e}")
            });
        TestTable {
            db: shared::db::Db::new(ddb, &name),
            _guard: TableGuard {
                endpoint,
                table: name.clone(),
            },
            name,
        }
    }
}

impl Stack {
    /// A fresh table and gateway.
    pub async fn start() -> Stack {
        Self::start_with(|_| {}).await
    }

    /// A fresh table and a gateway whose configuration the test adjusts first.
    pub async fn start_with(adjust: impl FnOnce(&mut GatewayConfig)) -> Stack {
        let run = ulid::Ulid::generate().to_string().to_lowercase();
        let table = format!("test-{run}");
        let endpoint = dynamodb_endpoint();
        let ddb = dynamodb_client(&endpoint).await;
        local_gateway::create_table_from_template(&ddb, &template(), &table)
            .await
            .unwrap_or_else(|e| {
                panic!("creating table in DynamoDB Local at {endpoint} (is it running? `make test` starts it): {e}")
            });
        let mut cfg = GatewayConfig::for_tests()
            .template(template())
            .bin_dir(bin_dir())
            .table_name(&table)
            .dynamodb_endpoint(&endpoint)
            .aws_endpoint(aws_emulator_endpoint())
            .env("JWT_SECRET", JWT_SECRET)
            .env("JWT_ISSUER", JWT_ISSUER)
            .env("JWT_AUDIENCE", JWT_AUDIENCE)
            .env("JWKS_URL", "")
            .env("CURSOR_SECRET", "test-cursor-secret")
            .env("RUST_LOG", "warn");
        if std::env::var("E2E_VERBOSE").is_ok() {
            cfg = cfg.quiet(false);
        }
        adjust(&mut cfg);
        let gateway = Gateway::start(cfg).await.expect("gateway starts");
        Stack {
            http_url: gateway.http_url(),
            ws_url: gateway.ws_url(),
            gateway,
            _table_guard: TableGuard {
                endpoint: endpoint.clone(),
                table: table.clone(),
            },
            table,
            ddb,
            run,
            seq: AtomicU32::new(0),
        }
    }

    /// Writes items straight to the test's table (BatchWriteItem, 25 items a call, 8 calls in
    /// flight, unprocessed items sent again): for setups too large to go through the API.
    pub async fn put_items(&self, items: Vec<shared::db::Item>) {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        let chunks: Vec<Vec<shared::db::Item>> = items.chunks(25).map(<[_]>::to_vec).collect();
        futures::stream::iter(chunks)
            .for_each_concurrent(8, |chunk| async move {
                let mut pending: Vec<WriteRequest> = chunk
                    .into_iter()
                    .map(|item| {
                        let put = PutRequest::builder().set_item(Some(item)).build();
                        WriteRequest::builder()
                            .put_request(put.expect("an item"))
                            .build()
                    })
                    .collect();
                while !pending.is_empty() {
                    let out = self
                        .ddb
                        .batch_write_item()
                        .request_items(&self.table, std::mem::take(&mut pending))
                        .send()
                        .await
                        .expect("batch write");
                    pending = out
                        .unprocessed_items
                        .and_then(|mut u| u.remove(&self.table))
                        .unwrap_or_default();
                }
            })
            .await;
    }

    /// A token for arbitrary claims signed with the stack's secret.
    pub fn token_for(&self, id: &str, role: Role, name: &str, username: Option<&str>) -> String {
        let issuer = shared::auth::dev::Issuer {
            secret: JWT_SECRET.as_bytes(),
            issuer: JWT_ISSUER,
            audience: JWT_AUDIENCE,
        };
        let who = shared::auth::Principal {
            user_id: id.into(),
            role,
            name: name.into(),
            username: username.map(str::to_string),
        };
        shared::auth::dev::hs256_token(&issuer, &who, 3600)
    }

    /// A new user with a unique id and username (not yet known to the LMS).
    pub fn user(&self, role: Role) -> User {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let prefix = match role {
            Role::Student => "student",
            Role::Instructor => "instructor",
            Role::Admin => "admin",
        };
        let id = format!("{prefix}-{}-{n}", &self.run[20..]);
        let username = format!("{prefix}{n}");
        let name = format!("{prefix} {n}");
        User {
            token: self.token_for(&id, role, &name, Some(&username)),
            id,
            name,
            username,
            role,
        }
    }

    pub fn admin(&self) -> User {
        self.user(Role::Admin)
    }

    pub fn api(&self, user: &User) -> Api {
        Api {
            base: self.http_url.clone(),
            token: Some(user.token.clone()),
            client: reqwest::Client::new(),
        }
    }

    pub fn api_with_token(&self, token: &str) -> Api {
        Api {
            base: self.http_url.clone(),
            token: Some(token.into()),
            client: reqwest::Client::new(),
        }
    }

    pub fn anonymous(&self) -> Api {
        Api {
            base: self.http_url.clone(),
            token: None,
            client: reqwest::Client::new(),
        }
    }

    /// Pushes a user to the LMS sync (so `@username` resolves).
    pub async fn push_user(&self, user: &User) {
        let r = self
            .api(&self.admin())
            .put(
                &format!("/api/community/lms/users/{}/", user.id),
                json!({ "name": user.name, "username": user.username }),
            )
            .await;
        assert!(r.status == 201 || r.status == 200, "push user: {r:?}");
    }

    /// A course (and so a community) with one instructor, through the LMS API.
    pub async fn course(&self) -> Course {
        let instructor = self.user(Role::Instructor);
        self.push_user(&instructor).await;
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let course_id = format!("course-{n}");
        let r = self
            .api(&self.admin())
            .put(
                &format!("/api/community/lms/courses/{course_id}/"),
                json!({ "title": format!("Course {n}"), "description": "A test course", "instructor_ids": [instructor.id] }),
            )
            .await;
        assert_eq!(r.status, 201, "create course: {r:?}");
        Course {
            course_id,
            community_id: r.body["community_id"]
                .as_str()
                .expect("community_id")
                .into(),
            instructor,
        }
    }

    /// An active enrollment, optionally with an expiry (ISO-8601).
    pub async fn enroll(&self, course: &Course, user: &User, expiry: Option<&str>) {
        let r = self
            .api(&self.admin())
            .put(
                &format!(
                    "/api/community/lms/courses/{}/enrollments/{}/",
                    course.course_id, user.id
                ),
                json!({ "is_active": true, "expiry_date": expiry }),
            )
            .await;
        assert!(r.status == 201 || r.status == 200, "enroll: {r:?}");
    }

    pub async fn join(&self, course: &Course, user: &User) {
        let r = self
            .api(user)
            .post(
                &format!("/api/community/groups/{}/join/", course.community_id),
                json!({}),
            )
            .await;
        assert!(r.status == 201 || r.status == 200, "join: {r:?}");
    }

    /// A new student, pushed to the LMS, enrolled and joined.
    pub async fn member(&self, course: &Course) -> User {
        let user = self.user(Role::Student);
        self.push_user(&user).await;
        self.enroll(course, &user, None).await;
        self.join(course, &user).await;
        user
    }

    /// A member promoted to moderator by the course instructor.
    pub async fn moderator(&self, course: &Course) -> User {
        let user = self.member(course).await;
        let r = self
            .api(&course.instructor)
            .patch(
                &format!(
                    "/api/community/groups/{}/members/{}/",
                    course.community_id, user.id
                ),
                json!({ "role": "moderator" }),
            )
            .await;
        assert_eq!(r.status, 200, "promote: {r:?}");
        user
    }

    /// Opens a WebSocket as `user`; `Err(status)` if the handshake is refused.
    pub async fn ws(&self, user: &User, community_id: Option<&str>) -> Result<Ws, u16> {
        self.ws_with_token(&user.token, community_id).await
    }

    pub async fn ws_with_token(&self, token: &str, community_id: Option<&str>) -> Result<Ws, u16> {
        let mut url = format!("{}/?token={}", self.ws_url, token);
        if let Some(c) = community_id {
            url.push_str(&format!("&community_id={c}"));
        }
        // A handshake over the account's connection rate (429) is tried again with backoff, as a
        // client does; any other refusal is the answer.
        let mut backoff = Duration::from_millis(20);
        let give_up = Instant::now() + Duration::from_secs(30);
        loop {
            match tokio_tungstenite::connect_async(url.as_str()).await {
                Ok((stream, _)) => return Ok(Ws { stream }),
                Err(tokio_tungstenite::tungstenite::Error::Http(r))
                    if r.status().as_u16() == 429 && Instant::now() < give_up =>
                {
                    tokio::time::sleep(backoff.mul_f64(0.5 + fastrand::f64())).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                    return Err(r.status().as_u16());
                }
                Err(e) => panic!("websocket connect failed: {e}"),
            }
        }
    }
}

/// An HTTP API client acting as one user.
#[derive(Clone)]
pub struct Api {
    base: String,
    token: Option<String>,
    client: reqwest::Client,
}

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Api {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(String, &str)>,
    ) -> Resp {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some((b, ct)) = body {
            if !ct.is_empty() {
                req = req.header("content-type", ct);
            }
            req = req.body(b);
        }
        let r = req.send().await.expect("request reaches the gateway");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Resp {
            status,
            body,
            headers,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(
            reqwest::Method::POST,
            path,
            Some((body.to_string(), "application/json")),
        )
        .await
    }

    /// Creates a post (a reply when the body names a `parent`) and answers its id; fails the
    /// test unless the API answers 201.
    pub async fn create_post(&self, body: Value) -> String {
        let r = self.post("/api/community/posts/", body.clone()).await;
        assert_eq!(r.status, 201, "create {body}: {r:?}");
        r.body["id"]
            .as_str()
            .expect("the new post's id")
            .to_string()
    }

    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.send(
            reqwest::Method::PUT,
            path,
            Some((body.to_string(), "application/json")),
        )
        .await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send(
            reqwest::Method::PATCH,
            path,
            Some((body.to_string(), "application/json")),
        )
        .await
    }

    pub async fn post_raw(&self, path: &str, body: &str, content_type: &str) -> Resp {
        self.send(
            reqwest::Method::POST,
            path,
            Some((body.to_string(), content_type)),
        )
        .await
    }

    /// A POST whose body carries no `content-type` header at all.
    pub async fn post_untyped(&self, path: &str, body: &str) -> Resp {
        self.send(reqwest::Method::POST, path, Some((body.to_string(), "")))
            .await
    }

    pub async fn request_raw(
        &self,
        method: &str,
        path: &str,
        body: &str,
        content_type: &str,
    ) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        self.send(method, path, Some((body.to_string(), content_type)))
            .await
    }
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A real WebSocket client of the local gateway.
pub struct Ws {
    pub stream: WsStream,
}

impl Ws {
    pub async fn send(&mut self, v: Value) {
        self.send_text(&v.to_string()).await
    }

    pub async fn send_text(&mut self, s: &str) {
        self.stream
            .send(Message::text(s.to_string()))
            .await
            .expect("websocket send");
    }

    /// The next JSON event, or `None` after `wait`.
    pub async fn try_next(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??;
            match msg.ok()? {
                Message::Text(t) => {
                    return Some(serde_json::from_str(t.as_str()).expect("server sends JSON"));
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// The next JSON event (panics after 5 s).
    pub async fn next(&mut self) -> Value {
        self.try_next(WAIT).await.expect("an event within 5 s")
    }

    /// The next event of a type, skipping others (panics after 5 s).
    pub async fn next_of_type(&mut self, kind: &str) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let ev = self
                .try_next(left)
                .await
                .unwrap_or_else(|| panic!("no {kind} event within 5 s"));
            if ev["type"] == kind {
                return ev;
            }
        }
    }

    /// Panics if any event but `presence` arrives within `wait`. Presence is told by the
    /// stream's consumer, coalesced per batch, whenever its batch is handled: it belongs to no
    /// request a test makes (see [`Ws::expect_none_of`] for presence itself).
    pub async fn expect_silence(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        while let Some(ev) = self
            .try_next(deadline.saturating_duration_since(tokio::time::Instant::now()))
            .await
        {
            if ev["type"] != "presence" {
                panic!("expected no event, got {ev}");
            }
        }
    }

    /// Panics if an event of this type arrives within `wait` and `about(event)` holds; other
    /// events are skipped.
    pub async fn expect_none_of(
        &mut self,
        kind: &str,
        wait: Duration,
        about: impl Fn(&Value) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + wait;
        while let Some(ev) = self
            .try_next(deadline.saturating_duration_since(tokio::time::Instant::now()))
            .await
        {
            if ev["type"] == kind && about(&ev) {
                panic!("expected no {kind} event, got {ev}");
            }
        }
    }

    /// Waits for the server to close the connection (events before the close are skipped);
    /// panics if it is still open after 5 s.
    pub async fn expect_closed(&mut self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => panic!("the connection is still open after 5 s"),
                Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return,
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}
