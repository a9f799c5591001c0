//! Helpers shared by the gateway's integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use local_gateway::{Gateway, GatewayConfig};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// A client WebSocket of the tests.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Next text frame (skipping pings), or panics after 5 s.
pub async fn next_text(ws: &mut Ws) -> Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("no frame in time")
        {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Where cargo put the `echo` example next to this test binary. `cargo test -p local-gateway`
/// builds it; a run filtered with `--test` does not, hence the staleness check.
pub fn examples_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/echo.rs");
    let modified = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (modified(&dir.join("echo")), modified(&source)) {
        (Some(bin), Some(src)) if bin >= src => dir,
        _ => {
            panic!("the echo example is missing or stale: cargo build -p local-gateway --examples")
        }
    }
}

pub fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/template.yaml")
}

/// A test gateway plus the file its functions record their events in.
pub struct TestGateway {
    pub gw: Gateway,
    pub events_file: PathBuf,
}

pub fn config() -> GatewayConfig {
    GatewayConfig::for_tests()
        .template(fixture())
        .bin_dir(examples_dir())
}

pub async fn start(cfg: GatewayConfig) -> TestGateway {
    let dir = std::env::temp_dir().join(format!(
        "local-gateway-test-{}-{}",
        std::process::id(),
        fastrand_id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let events_file = dir.join("events.jsonl");
    let quiet = std::env::var("GATEWAY_TEST_LOGS").is_err();
    let gw = Gateway::start(
        cfg.quiet(quiet)
            .env("ECHO_EVENTS_FILE", events_file.to_string_lossy()),
    )
    .await
    .unwrap();
    TestGateway { gw, events_file }
}

fn fastrand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed) * 1000
        + (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64
            % 1000)
}

impl TestGateway {
    /// Events recorded by the functions so far (each `{request_id, deadline, arn, event}`).
    pub fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.events_file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits until an event matching `pred` was recorded.
    pub async fn wait_event(&self, pred: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..500 {
            if let Some(e) = self.events().into_iter().find(|e| pred(&e["event"])) {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("event not recorded; have {:#?}", self.events());
    }
}

/// A SigV4 `Authorization` header for the Management API (the gateway reads the access key id
/// in it and checks no signature): a caller that is not one of the template's functions.
pub fn sigv4_header(access_key_id: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={access_key_id}/20260101/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=0"
    )
}

/// An HTTP client for the Management API that signs as the tests (an operator, not a function).
pub fn management_client() -> reqwest::Client {
    management_client_builder().build().unwrap()
}

pub fn management_client_builder() -> reqwest::ClientBuilder {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert("authorization", sigv4_header("TESTS").parse().unwrap());
    reqwest::Client::builder().default_headers(h)
}
