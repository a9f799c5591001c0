//! HTTP API: routes requests to functions with payload format 2.0 events, plus CORS.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

use crate::events::{self, HttpEventInput, message_response};
use crate::gateway::App;
use crate::runtime::InvokeError;
use crate::template::CorsConfig;
use crate::util;

/// Largest request body the HTTP API accepts.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let origin = parts
        .headers
        .get("origin")
        .and_then(|o| o.to_str().ok())
        .map(str::to_string);
    if let Some(cors) = &app.template.cors
        && parts.method == Method::OPTIONS
        && parts.headers.contains_key("access-control-request-method")
    {
        return preflight(cors, origin.as_deref());
    }
    let mut resp = route(&app, peer, parts, body).await;
    if let (Some(cors), Some(origin)) = (&app.template.cors, origin.as_deref()) {
        add_cors(cors, origin, resp.headers_mut());
    }
    resp
}

async fn route(
    app: &App,
    peer: SocketAddr,
    parts: axum::http::request::Parts,
    body: Body,
) -> Response<Body> {
    let raw_path = parts.uri.path();
    let Some(m) = app.router.find(parts.method.as_str(), raw_path) else {
        return message_response(StatusCode::NOT_FOUND, "Not Found");
    };
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return message_response(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
        }
    };
    let request_id = util::aws_short_id();
    let source_ip = peer.ip().to_string();
    let event = events::http_event(&HttpEventInput {
        method: parts.method.as_str(),
        raw_path,
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body: &body,
        source_ip: &source_ip,
        route_key: m.route_key,
        path_parameters: &m.path_parameters,
        api_id: &app.http_api_id,
        request_id: &request_id,
        time_ms: util::now_ms(),
    });
    let mut resp = match app.invoke(m.function, event).await {
        Ok(payload) => events::http_response(&payload).unwrap_or_else(|| {
            message_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }),
        Err(InvokeError::Timeout) => {
            message_response(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        }
        Err(_) => message_response(StatusCode::BAD_GATEWAY, "Internal Server Error"),
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("apigw-requestid", v);
    }
    resp
}

fn allowed_origin(cors: &CorsConfig, origin: &str) -> Option<String> {
    if cors.allow_origins.iter().any(|o| o == "*") {
        return Some(if cors.allow_credentials {
            origin.to_string()
        } else {
            "*".to_string()
        });
    }
    cors.allow_origins
        .iter()
        .find(|o| o.eq_ignore_ascii_case(origin))
        .cloned()
}

fn preflight(cors: &CorsConfig, origin: Option<&str>) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    let Some(allowed) = origin.and_then(|o| allowed_origin(cors, o)) else {
        return r;
    };
    let h = r.headers_mut();
    let mut set = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    set("access-control-allow-origin", allowed);
    if !cors.allow_methods.is_empty() {
        set("access-control-allow-methods", cors.allow_methods.join(","));
    }
    if !cors.allow_headers.is_empty() {
        set("access-control-allow-headers", cors.allow_headers.join(","));
    }
    if let Some(age) = cors.max_age {
        set("access-control-max-age", age.to_string());
    }
    if cors.allow_credentials {
        set("access-control-allow-credentials", "true".into());
    }
    r
}

fn add_cors(cors: &CorsConfig, origin: &str, h: &mut HeaderMap) {
    let Some(allowed) = allowed_origin(cors, origin) else {
        return;
    };
    if let Ok(v) = HeaderValue::from_str(&allowed) {
        h.insert("access-control-allow-origin", v);
    }
    if !cors.expose_headers.is_empty()
        && let Ok(v) = HeaderValue::from_str(&cors.expose_headers.join(","))
    {
        h.insert("access-control-expose-headers", v);
    }
    if cors.allow_credentials {
        h.insert(
            "access-control-allow-credentials",
            HeaderValue::from_static("true"),
        );
    }
}
