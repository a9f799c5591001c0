//! The AWS calls each function makes, as the IAM actions they need: with a calls log configured
//! (`GatewayConfig::calls_log`, or the `IAM_CALLS_LOG` variable), the functions' DynamoDB requests
//! and their requests to the AWS emulator (S3, SES v2, SNS, Secrets Manager) go through small
//! forwarding proxies that name each request's actions, and the Management API names its own.
//! A presigned S3 URL a function signs points at the proxy too, so the upload or download a
//! client makes with it is recorded as the signing function's action, as IAM judges it. Every new (function, action) pair is appended to the file as one line
//! `<function logical id>\t<action>`; runs of many gateways may share one file.
//! `tests/tests/e2e/iam.rs` compares what was called with what the template's policies allow.

use std::collections::HashSet;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::iam::signing_key;

/// The variable naming the calls log when the configuration does not.
pub const CALLS_LOG_VAR: &str = "IAM_CALLS_LOG";

/// Appends each (function, action) pair once.
#[derive(Debug)]
pub struct CallLog {
    file: Mutex<std::fs::File>,
    seen: Mutex<HashSet<(String, String)>>,
}

impl CallLog {
    pub fn open(path: &Path) -> Result<CallLog, Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::Io(format!("{}: {e}", dir.display())))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
        Ok(CallLog {
            file: Mutex::new(file),
            seen: Mutex::new(HashSet::new()),
        })
    }

    /// Records that `function` was allowed `action` (once per gateway; one write per line, so
    /// lines of gateways appending to the same file do not interleave).
    pub fn record(&self, function: &str, action: &str) {
        let pair = (function.to_string(), action.to_string());
        if !self.seen.lock().expect("calls log").insert(pair) {
            return;
        }
        let line = format!("{function}\t{action}\n");
        if let Err(e) = self
            .file
            .lock()
            .expect("calls log")
            .write_all(line.as_bytes())
        {
            tracing::error!(error = %e, "calls log not written");
        }
    }
}

/// The calls log of this configuration: the configured path, else `IAM_CALLS_LOG`.
pub fn configured(path: Option<&PathBuf>) -> Option<PathBuf> {
    path.cloned().or_else(|| {
        std::env::var_os(CALLS_LOG_VAR)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

/// The function that signed a request: its access key is `LOCAL<logical id>`
/// (see [`crate::iam::access_key_id`]), in the `Authorization` header or, for a presigned URL,
/// in `X-Amz-Credential`; other callers are not functions.
pub fn function_of(headers: &axum::http::HeaderMap, query: &str) -> Option<String> {
    signing_key(headers)
        .or_else(|| presigned_credential(query).map(|(key, _)| key))?
        .strip_prefix("LOCAL")
        .filter(|f| !f.is_empty())
        .map(str::to_string)
}

/// `(access key id, service)` of a presigned URL's `X-Amz-Credential`
/// (`<key>/<date>/<region>/<service>/aws4_request`, percent-encoded).
fn presigned_credential(query: &str) -> Option<(String, String)> {
    let raw = query
        .split('&')
        .find_map(|p| p.strip_prefix("X-Amz-Credential="))?;
    let cred = crate::util::percent_decode(raw);
    let parts: Vec<&str> = cred.split('/').collect();
    (parts.len() >= 4 && !parts[0].is_empty()).then(|| (parts[0].to_string(), parts[3].to_string()))
}

/// The service a request was signed for: the credential scope's fourth part.
fn signed_service(headers: &axum::http::HeaderMap, query: &str) -> Option<String> {
    let from_header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| {
            a.split(',').find_map(|p| {
                p.trim()
                    .split_once("Credential=")
                    .map(|(_, c)| c.to_string())
            })
        })
        .and_then(|c| c.split('/').nth(3).map(str::to_string));
    from_header.or_else(|| presigned_credential(query).map(|(_, service)| service))
}

/// The IAM action of one request to the AWS emulator: JSON services by their `X-Amz-Target`
/// (Secrets Manager: `secretsmanager.GetSecretValue`), SNS by its form's `Action`, S3 and
/// SES v2 (REST) by method and path.
pub fn emulator_action(
    method: &axum::http::Method,
    path: &str,
    query: &str,
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> Option<String> {
    use axum::http::Method;
    let service = signed_service(headers, query)?;
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let op = target.rsplit('.').next().unwrap_or(target);
        return Some(format!("{service}:{op}"));
    }
    match service.as_str() {
        "s3" => {
            let has = |param: &str| {
                query
                    .split('&')
                    .any(|p| p == param || p.starts_with(&format!("{param}=")))
            };
            let action = match *method {
                Method::PUT if has("tagging") => "PutObjectTagging",
                Method::PUT => "PutObject",
                Method::GET if has("tagging") => "GetObjectTagging",
                Method::GET | Method::HEAD => "GetObject",
                Method::DELETE => "DeleteObject",
                _ => return None,
            };
            Some(format!("s3:{action}"))
        }
        "ses" => {
            let action = match (method, path.trim_end_matches('/')) {
                (&Method::POST, "/v2/email/outbound-emails") => "SendEmail".to_string(),
                (m, p) => format!("{m} {p}"),
            };
            Some(format!("ses:{action}"))
        }
        _ => {
            let form = std::str::from_utf8(body).ok()?;
            let action = form.split('&').find_map(|p| p.strip_prefix("Action="))?;
            Some(format!("{service}:{action}"))
        }
    }
}

/// The IAM actions one DynamoDB request needs (`X-Amz-Target` `DynamoDB_20120810.<Operation>`):
/// its operation's own action, except for transactions, which IAM authorises item by item
/// (`TransactWriteItems` as the `PutItem`, `UpdateItem`, `DeleteItem` and `ConditionCheckItem` of
/// its items, `TransactGetItems` as `GetItem`).
pub fn dynamodb_actions(target: &str, body: &[u8]) -> Vec<String> {
    let op = target.rsplit('.').next().unwrap_or(target);
    let items = || -> Vec<Value> {
        serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("TransactItems").and_then(Value::as_array).cloned())
            .unwrap_or_default()
    };
    let mut actions: Vec<String> = match op {
        "TransactWriteItems" => items()
            .iter()
            .filter_map(|item| {
                let kind = item.as_object()?.keys().next()?.clone();
                Some(match kind.as_str() {
                    "Put" => "PutItem".to_string(),
                    "Update" => "UpdateItem".to_string(),
                    "Delete" => "DeleteItem".to_string(),
                    "ConditionCheck" => "ConditionCheckItem".to_string(),
                    other => other.to_string(),
                })
            })
            .collect(),
        "TransactGetItems" => vec!["GetItem".to_string()],
        other => vec![other.to_string()],
    };
    actions.sort();
    actions.dedup();
    actions
        .into_iter()
        .map(|a| format!("dynamodb:{a}"))
        .collect()
}

/// What a recording proxy stands in front of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    DynamoDb,
    AwsEmulator,
}

struct Proxy {
    upstream: String,
    kind: Upstream,
    client: reqwest::Client,
    log: Arc<CallLog>,
}

/// Starts the recording proxy in front of `upstream` (DynamoDB Local); answers its URL.
pub async fn start_dynamodb_proxy(
    upstream: &str,
    log: Arc<CallLog>,
    stop: watch::Receiver<bool>,
) -> Result<(String, JoinHandle<()>), Error> {
    start_proxy(upstream, Upstream::DynamoDb, log, stop).await
}

/// Starts a recording proxy in front of `upstream`; answers its URL.
pub async fn start_proxy(
    upstream: &str,
    kind: Upstream,
    log: Arc<CallLog>,
    mut stop: watch::Receiver<bool>,
) -> Result<(String, JoinHandle<()>), Error> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|e| Error::Io(format!("calls proxy: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Io(e.to_string()))?;
    let state = Arc::new(Proxy {
        upstream: upstream.trim_end_matches('/').to_string(),
        kind,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Io(format!("calls proxy: {e}")))?,
        log,
    });
    let app = Router::new().fallback(forward).with_state(state);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
    });
    Ok((format!("http://{addr}"), server))
}

async fn forward(State(proxy): State<Arc<Proxy>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 64 << 20).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "calls proxy: body too large").into_response();
    };
    let query = parts.uri.query().unwrap_or("");
    if let Some(function) = function_of(&parts.headers, query) {
        match proxy.kind {
            Upstream::DynamoDb => {
                if let Some(target) = parts
                    .headers
                    .get("x-amz-target")
                    .and_then(|v| v.to_str().ok())
                {
                    for action in dynamodb_actions(target, &body) {
                        proxy.log.record(&function, &action);
                    }
                }
            }
            Upstream::AwsEmulator => {
                if let Some(action) = emulator_action(
                    &parts.method,
                    parts.uri.path(),
                    query,
                    &parts.headers,
                    &body,
                ) {
                    proxy.log.record(&function, &action);
                }
            }
        }
    }
    let url = format!(
        "{}{}",
        proxy.upstream,
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    // A HEAD answer's Content-Length is the object's size (S3's HeadObject): it passes through.
    let head = parts.method == axum::http::Method::HEAD;
    let mut upstream = proxy.client.request(parts.method, url).body(body);
    for (name, value) in &parts.headers {
        if name != axum::http::header::HOST && name != axum::http::header::CONTENT_LENGTH {
            upstream = upstream.header(name, value);
        }
    }
    match upstream.send().await {
        Ok(answer) => {
            let mut out = Response::builder().status(answer.status());
            for (name, value) in answer.headers() {
                if (head || name != axum::http::header::CONTENT_LENGTH)
                    && name != axum::http::header::TRANSFER_ENCODING
                {
                    out = out.header(name, value);
                }
            }
            let bytes = answer.bytes().await.unwrap_or_default();
            out.body(Body::from(bytes))
                .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
        }
        Err(e) => (StatusCode::BAD_GATEWAY, format!("calls proxy: {e}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transactions_need_the_actions_of_their_items() {
        let body =
            br#"{"TransactItems":[{"Put":{}},{"Update":{}},{"ConditionCheck":{}},{"Put":{}}]}"#;
        assert_eq!(
            dynamodb_actions("DynamoDB_20120810.TransactWriteItems", body),
            [
                "dynamodb:ConditionCheckItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem"
            ]
        );
        assert_eq!(
            dynamodb_actions("DynamoDB_20120810.TransactGetItems", b"{}"),
            ["dynamodb:GetItem"]
        );
        assert_eq!(
            dynamodb_actions("DynamoDB_20120810.BatchWriteItem", b"{}"),
            ["dynamodb:BatchWriteItem"]
        );
    }

    #[test]
    fn names_the_function_by_its_access_key() {
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=LOCALPostsFunction/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00"
                .parse()
                .unwrap(),
        );
        assert_eq!(function_of(&h, "").as_deref(), Some("PostsFunction"));
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00"
                .parse()
                .unwrap(),
        );
        assert_eq!(function_of(&h, ""), None);
    }

    #[test]
    fn emulator_requests_are_named_by_their_service_and_operation() {
        use axum::http::{HeaderMap, Method};
        let signed = |service: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                "authorization",
                format!("AWS4-HMAC-SHA256 Credential=LOCALPostsFunction/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00")
                    .parse()
                    .unwrap(),
            );
            h
        };
        let mut sm = signed("secretsmanager");
        sm.insert(
            "x-amz-target",
            "secretsmanager.GetSecretValue".parse().unwrap(),
        );
        let a = |m: Method, path: &str, q: &str, h: &HeaderMap, body: &[u8]| {
            emulator_action(&m, path, q, h, body)
        };
        assert_eq!(
            a(Method::POST, "/", "", &sm, b"{}").as_deref(),
            Some("secretsmanager:GetSecretValue")
        );
        let s3 = signed("s3");
        assert_eq!(
            a(Method::HEAD, "/b/uploads/x", "", &s3, b"").as_deref(),
            Some("s3:GetObject")
        );
        assert_eq!(
            a(Method::PUT, "/b/uploads/x", "tagging", &s3, b"").as_deref(),
            Some("s3:PutObjectTagging")
        );
        assert_eq!(
            a(
                Method::POST,
                "/v2/email/outbound-emails",
                "",
                &signed("ses"),
                b"{}"
            )
            .as_deref(),
            Some("ses:SendEmail")
        );
        assert_eq!(
            a(
                Method::POST,
                "/",
                "",
                &signed("sns"),
                b"Action=Publish&TopicArn=x"
            )
            .as_deref(),
            Some("sns:Publish")
        );
        // A presigned upload: the signer is in the query.
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=LOCALAttachmentsFunction%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Expires=900";
        let none = HeaderMap::new();
        assert_eq!(
            function_of(&none, q).as_deref(),
            Some("AttachmentsFunction")
        );
        assert_eq!(
            a(Method::PUT, "/b/uploads/x", q, &none, b"data").as_deref(),
            Some("s3:PutObject")
        );
    }

    #[test]
    fn writes_each_pair_once() {
        let dir = std::env::temp_dir().join(format!("calls-{}", fastrand::u64(..)));
        let path = dir.join("calls.log");
        let log = CallLog::open(&path).unwrap();
        log.record("A", "dynamodb:GetItem");
        log.record("A", "dynamodb:GetItem");
        log.record("B", "dynamodb:Query");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "A\tdynamodb:GetItem\nB\tdynamodb:Query\n");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
