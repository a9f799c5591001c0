//! API Gateway event JSON (HTTP API payload 2.0, WebSocket events) and response mapping.

use std::collections::{BTreeMap, HashMap};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use base64::Engine;
use serde_json::{Map, Value, json};

use crate::util;

/// Account id used in every event.
pub const ACCOUNT_ID: &str = "123456789012";

/// What the HTTP API event is built from.
#[derive(Debug, Clone)]
pub struct HttpEventInput<'a> {
    pub method: &'a str,
    pub raw_path: &'a str,
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The content type is one API Gateway passes as text (see
    /// [`crate::http_api::is_text_content_type`]); other bodies are base64-encoded.
    pub body_is_text: bool,
    pub source_ip: &'a str,
    pub route_key: &'a str,
    pub path_parameters: &'a HashMap<String, String>,
    pub api_id: &'a str,
    /// Stage name (`$default` or the template's `StageName`); `raw_path` includes a named stage.
    pub stage: &'a str,
    pub request_id: &'a str,
    pub time_ms: i64,
}

/// Builds an HTTP API payload format 2.0 event.
pub fn http_event(i: &HttpEventInput<'_>) -> Value {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies: Vec<String> = Vec::new();
    for (name, value) in i.headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == "cookie" {
            cookies.extend(
                v.split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_string),
            );
            continue;
        }
        headers
            .entry(name.as_str().to_string())
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v);
            })
            .or_insert(v);
    }
    let host = headers
        .get("host")
        .cloned()
        .unwrap_or_else(|| "localhost".into());
    let port = host
        .rsplit_once(':')
        .map(|(_, p)| p.to_string())
        .unwrap_or_else(|| "80".into());
    headers
        .entry("x-forwarded-for".into())
        .and_modify(|e| {
            e.push_str(", ");
            e.push_str(i.source_ip);
        })
        .or_insert_with(|| i.source_ip.to_string());
    headers.entry("x-forwarded-port".into()).or_insert(port);
    headers
        .entry("x-forwarded-proto".into())
        .or_insert_with(|| "http".into());
    headers.entry("x-amzn-trace-id".into()).or_insert_with(|| {
        util::trace_id()
            .split(';')
            .next()
            .unwrap_or_default()
            .to_string()
    });
    let user_agent = headers.get("user-agent").cloned().unwrap_or_default();

    let query: Map<String, Value> = util::parse_query(i.raw_query)
        .into_iter()
        .map(|(k, v)| (k, Value::String(v.join(","))))
        .collect();

    let mut ev = json!({
        "version": "2.0",
        "routeKey": i.route_key,
        "rawPath": i.raw_path,
        "rawQueryString": i.raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": i.api_id,
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or_default(),
            "http": {
                "method": i.method,
                "path": i.raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": i.source_ip,
                "userAgent": user_agent,
            },
            "requestId": i.request_id,
            "routeKey": i.route_key,
            "stage": i.stage,
            "time": util::clf_time(i.time_ms),
            "timeEpoch": i.time_ms,
        },
        "isBase64Encoded": false,
    });
    let obj = ev.as_object_mut().expect("object");
    if !cookies.is_empty() {
        obj.insert("cookies".into(), json!(cookies));
    }
    if !query.is_empty() {
        obj.insert("queryStringParameters".into(), Value::Object(query));
    }
    if !i.path_parameters.is_empty() {
        obj.insert("pathParameters".into(), json!(i.path_parameters));
    }
    if !i.body.is_empty() {
        match std::str::from_utf8(i.body).ok().filter(|_| i.body_is_text) {
            Some(s) => {
                obj.insert("body".into(), Value::String(s.to_string()));
            }
            None => {
                obj.insert(
                    "body".into(),
                    Value::String(base64::engine::general_purpose::STANDARD.encode(i.body)),
                );
                obj.insert("isBase64Encoded".into(), Value::Bool(true));
            }
        }
    }
    ev
}

/// Error body API Gateway uses: `{"message": "..."}`.
pub fn message_response(status: StatusCode, message: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(json!({ "message": message }).to_string()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

fn value_to_header_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Maps a function's payload (v2 response format) to an HTTP response, as the HTTP API does.
/// `None` when the payload is malformed (the caller answers 502).
pub fn http_response(payload: &[u8]) -> Option<Response<Body>> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    let Some(obj) = v.as_object().filter(|o| o.contains_key("statusCode")) else {
        // Valid JSON without statusCode: 200 with the payload as the body.
        let mut r = Response::new(Body::from(payload.to_vec()));
        r.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json"));
        return Some(r);
    };
    let status = obj
        .get("statusCode")
        .and_then(|s| s.as_u64().or_else(|| s.as_str()?.parse().ok()))?;
    let status = StatusCode::from_u16(u16::try_from(status).ok()?).ok()?;
    let mut headers = HeaderMap::new();
    if let Some(Value::Object(mv)) = obj.get("multiValueHeaders") {
        for (k, vals) in mv {
            let Ok(name) = HeaderName::from_bytes(k.as_bytes()) else {
                continue;
            };
            for val in vals
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(value_to_header_string)
            {
                if let Ok(hv) = HeaderValue::from_str(&val) {
                    headers.append(name.clone(), hv);
                }
            }
        }
    }
    if let Some(Value::Object(h)) = obj.get("headers") {
        for (k, val) in h {
            let Ok(name) = HeaderName::from_bytes(k.as_bytes()) else {
                continue;
            };
            if headers.contains_key(&name) {
                continue;
            }
            if let Some(val) = value_to_header_string(val)
                && let Ok(hv) = HeaderValue::from_str(&val)
            {
                headers.insert(name, hv);
            }
        }
    }
    for c in obj
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if let Ok(hv) = HeaderValue::from_str(c) {
            headers.append("set-cookie", hv);
        }
    }
    let body = match obj.get("body") {
        Some(Value::String(s)) => {
            if obj
                .get("isBase64Encoded")
                .and_then(Value::as_bool)
                .unwrap_or(false)
            {
                base64::engine::general_purpose::STANDARD.decode(s).ok()?
            } else {
                s.clone().into_bytes()
            }
        }
        Some(Value::Null) | None => Vec::new(),
        Some(other) => other.to_string().into_bytes(),
    };
    if !headers.contains_key("content-type") && !body.is_empty() {
        headers.insert("content-type", HeaderValue::from_static("application/json"));
    }
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    Some(r)
}

/// Facts about one WebSocket connection that go into each of its events.
#[derive(Debug, Clone)]
pub struct WsConnContext {
    pub connection_id: String,
    pub connected_at_ms: i64,
    pub source_ip: String,
    pub user_agent: String,
    pub domain_name: String,
    pub stage: String,
    pub api_id: String,
    /// `requestContext.authorizer` from a `$connect` authorizer.
    pub authorizer: Option<Value>,
}

fn title_case(name: &str) -> String {
    match name {
        "sec-websocket-key" => "Sec-WebSocket-Key".into(),
        "sec-websocket-version" => "Sec-WebSocket-Version".into(),
        "sec-websocket-extensions" => "Sec-WebSocket-Extensions".into(),
        "sec-websocket-protocol" => "Sec-WebSocket-Protocol".into(),
        _ => name
            .split('-')
            .map(|w| {
                let mut c = w.chars();
                match c.next() {
                    Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                    None => String::new(),
                }
            })
            .collect::<Vec<_>>()
            .join("-"),
    }
}

impl WsConnContext {
    fn request_context(
        &self,
        route_key: &str,
        event_type: &str,
        now_ms: i64,
    ) -> Map<String, Value> {
        let mut rc = json!({
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": util::aws_short_id(),
            "requestTime": util::clf_time(now_ms),
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": self.connected_at_ms,
            "requestTimeEpoch": now_ms,
            "identity": { "sourceIp": self.source_ip, "userAgent": self.user_agent },
            "requestId": util::aws_short_id(),
            "domainName": self.domain_name,
            "connectionId": self.connection_id,
            "apiId": self.api_id,
        });
        let m = rc.as_object_mut().expect("object");
        if let Some(a) = &self.authorizer {
            m.insert("authorizer".into(), a.clone());
        }
        std::mem::take(m)
    }

    /// `$connect` event.
    pub fn connect_event(&self, headers: &HeaderMap, raw_query: &str) -> Value {
        let now = util::now_ms();
        let mut single = Map::new();
        let mut multi: Map<String, Value> = Map::new();
        for (name, value) in headers {
            let key = title_case(name.as_str());
            let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
            single.insert(key.clone(), Value::String(v.clone()));
            multi
                .entry(key)
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .expect("array")
                .push(Value::String(v));
        }
        for (k, v) in [
            ("X-Forwarded-For", self.source_ip.clone()),
            ("X-Forwarded-Proto", "http".into()),
        ] {
            single.entry(k).or_insert_with(|| Value::String(v.clone()));
            multi.entry(k).or_insert_with(|| json!([v]));
        }
        let mut ev = Map::new();
        ev.insert("headers".into(), Value::Object(single));
        ev.insert("multiValueHeaders".into(), Value::Object(multi));
        let q = util::parse_query(raw_query);
        if !q.is_empty() {
            let single: Map<String, Value> = q
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        Value::String(v.last().cloned().unwrap_or_default()),
                    )
                })
                .collect();
            ev.insert("queryStringParameters".into(), Value::Object(single));
            ev.insert("multiValueQueryStringParameters".into(), json!(q));
        }
        ev.insert(
            "requestContext".into(),
            Value::Object(self.request_context("$connect", "CONNECT", now)),
        );
        ev.insert("isBase64Encoded".into(), Value::Bool(false));
        Value::Object(ev)
    }

    /// MESSAGE event for a text frame.
    pub fn message_event(&self, route_key: &str, body: &str) -> Value {
        let now = util::now_ms();
        let mut rc = self.request_context(route_key, "MESSAGE", now);
        rc.insert("messageId".into(), Value::String(util::aws_short_id()));
        json!({ "requestContext": rc, "body": body, "isBase64Encoded": false })
    }

    /// `$disconnect` event.
    pub fn disconnect_event(&self, status_code: u16, reason: &str) -> Value {
        let now = util::now_ms();
        let mut rc = self.request_context("$disconnect", "DISCONNECT", now);
        rc.insert("disconnectStatusCode".into(), json!(status_code));
        rc.insert("disconnectReason".into(), Value::String(reason.to_string()));
        json!({
            "headers": { "Host": self.domain_name, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": "" },
            "multiValueHeaders": {
                "Host": [self.domain_name], "x-api-key": [""], "X-Forwarded-For": [""], "x-restapi": [""]
            },
            "requestContext": rc,
            "isBase64Encoded": false,
        })
    }

    /// REQUEST authorizer event for `$connect` (WebSocket authorizers use payload 1.0).
    pub fn authorizer_event(&self, headers: &HeaderMap, raw_query: &str) -> Value {
        let connect = self.connect_event(headers, raw_query);
        let mut ev = connect.as_object().cloned().unwrap_or_default();
        ev.insert("type".into(), json!("REQUEST"));
        ev.insert(
            "methodArn".into(),
            json!(format!(
                "arn:aws:execute-api:us-east-1:{ACCOUNT_ID}:{}/{}/$connect",
                self.api_id, self.stage
            )),
        );
        Value::Object(ev)
    }
}

/// Status code of a WebSocket integration response (a proxy response or anything else = 200).
pub fn ws_status(payload: &[u8]) -> u16 {
    serde_json::from_slice::<Value>(payload)
        .ok()
        .and_then(|v| {
            v.get("statusCode")
                .and_then(|s| s.as_u64().or_else(|| s.as_str()?.parse().ok()))
        })
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(200)
}
