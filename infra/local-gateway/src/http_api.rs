//! HTTP API: serves the template's stage, routes requests to functions with payload format 2.0
//! events, maps errors as API Gateway does, and answers CORS from the template's
//! `CorsConfiguration`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

use crate::events::{self, HttpEventInput, message_response};
use crate::state::App;
use crate::template::CorsConfig;
use crate::throttle::Kind;
use crate::util;

/// Largest request body the HTTP API accepts.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let raw_path = parts.uri.path().to_string();
    // A stage other than `$default` is the first path segment, as in the stage's invoke URL.
    let Some(route_path) = strip_stage(&raw_path, &app.template.http_stage) else {
        return message_response(StatusCode::NOT_FOUND, "Not Found");
    };
    let origin = parts
        .headers
        .get("origin")
        .and_then(|o| o.to_str().ok())
        .map(str::to_string);
    if let Some(cors) = &app.template.cors
        && parts.method == Method::OPTIONS
        && origin.is_some()
        && parts.headers.contains_key("access-control-request-method")
    {
        return preflight(cors, origin.as_deref(), &parts.headers);
    }
    // Over the account's request rate: 429 at once, with the CORS headers a browser needs to read it.
    let mut resp = if app.throttle.admit(Kind::HttpRequest) {
        route(&app, peer, parts, body, route_path).await
    } else {
        message_response(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests")
    };
    if let Some(cors) = &app.template.cors {
        // With a CORS configuration, API Gateway ignores the integration's CORS headers.
        strip_cors_headers(resp.headers_mut());
        if let Some(origin) = origin.as_deref() {
            add_cors(cors, origin, resp.headers_mut());
        }
    }
    resp
}

/// The path below the stage (`/dev/api/x` -> `/api/x` for stage `dev`); `None` outside it.
fn strip_stage<'a>(raw_path: &'a str, stage: &str) -> Option<&'a str> {
    if stage == "$default" {
        return Some(raw_path);
    }
    let rest = raw_path.strip_prefix('/')?.strip_prefix(stage)?;
    match rest {
        "" => Some("/"),
        r if r.starts_with('/') => Some(r),
        _ => None,
    }
}

/// Whether API Gateway passes a request body of this content type as text; every other body
/// (and one without a content type) reaches the function base64-encoded.
pub fn is_text_content_type(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    kind == "text"
        || (kind == "application"
            && matches!(
                sub,
                "json" | "xml" | "javascript" | "x-javascript" | "ecmascript"
            ))
        || sub.ends_with("+json")
        || sub.ends_with("+xml")
}

async fn route(
    app: &Arc<App>,
    peer: SocketAddr,
    parts: axum::http::request::Parts,
    body: Body,
    route_path: &str,
) -> Response<Body> {
    let raw_path = parts.uri.path();
    let Some(m) = app.router.find(parts.method.as_str(), route_path) else {
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
    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    let event = events::http_event(&HttpEventInput {
        method: parts.method.as_str(),
        raw_path,
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body: &body,
        body_is_text: is_text_content_type(content_type),
        source_ip: &source_ip,
        route_key: m.route_key,
        path_parameters: &m.path_parameters,
        api_id: &app.http_api_id,
        stage: &app.template.http_stage,
        request_id: &request_id,
        time_ms: util::now_ms(),
    });
    // The invocation runs on by itself: past the integration timeout API Gateway answers 503
    // while the function goes on until its own timeout.
    let invocation = {
        let app = app.clone();
        let function = m.function.to_string();
        tokio::spawn(async move { app.invoke(&function, event).await })
    };
    let mut resp = match tokio::time::timeout(app.cfg.http_integration_timeout, invocation).await {
        Ok(Ok(Ok(payload))) => events::http_response(&payload).unwrap_or_else(|| {
            message_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }),
        // A function error, a crash or a Lambda timeout: API Gateway sees a failed
        // invocation and answers 500.
        Ok(_) => message_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        Err(_) => message_response(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("apigw-requestid", v);
    }
    resp
}

/// Whether `origin` matches one `AllowOrigins` entry: `*`, a prefix ending in `*` (such as
/// `https://*`), or the origin itself (case-insensitive).
fn origin_matches(pattern: &str, origin: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_suffix('*') {
        Some(prefix) => origin
            .to_ascii_lowercase()
            .starts_with(&prefix.to_ascii_lowercase()),
        None => pattern.eq_ignore_ascii_case(origin),
    }
}

/// `Access-Control-Allow-Origin` for an allowed origin: `*` when every origin is allowed without
/// credentials, else the origin itself.
fn allowed_origin(cors: &CorsConfig, origin: &str) -> Option<String> {
    if cors.allow_origins.iter().any(|o| o == "*") && !cors.allow_credentials {
        return Some("*".to_string());
    }
    cors.allow_origins
        .iter()
        .any(|p| origin_matches(p, origin))
        .then(|| origin.to_string())
}

fn has(list: &[String], item: &str) -> bool {
    list.iter()
        .any(|x| x == "*" || x.eq_ignore_ascii_case(item))
}

/// API Gateway's answer to a preflight (any path, no function invoked): 204, with the CORS
/// headers only when the origin, the method and every requested header are allowed.
fn preflight(cors: &CorsConfig, origin: Option<&str>, req: &HeaderMap) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    let Some(allowed) = origin.and_then(|o| allowed_origin(cors, o)) else {
        return r;
    };
    let header = |k: &str| req.get(k).and_then(|v| v.to_str().ok()).unwrap_or("");
    let method = header("access-control-request-method").trim().to_string();
    let requested: Vec<String> = header("access-control-request-headers")
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    if !has(&cors.allow_methods, &method) || !requested.iter().all(|h| has(&cors.allow_headers, h))
    {
        return r;
    }
    let h = r.headers_mut();
    let mut set = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    set("access-control-allow-origin", allowed);
    // A wildcard is answered with what was asked for (browsers ignore `*` with credentials).
    let methods = if cors.allow_methods.iter().any(|m| m == "*") {
        method
    } else {
        cors.allow_methods.join(",")
    };
    set("access-control-allow-methods", methods);
    if !requested.is_empty() {
        let headers = if cors.allow_headers.iter().any(|h| h == "*") {
            requested.join(",")
        } else {
            cors.allow_headers.join(",")
        };
        set("access-control-allow-headers", headers);
    }
    if let Some(age) = cors.max_age {
        set("access-control-max-age", age.to_string());
    }
    if cors.allow_credentials {
        set("access-control-allow-credentials", "true".into());
    }
    r
}

fn strip_cors_headers(h: &mut HeaderMap) {
    let names: Vec<_> = h
        .keys()
        .filter(|k| k.as_str().starts_with("access-control-"))
        .cloned()
        .collect();
    for n in names {
        h.remove(n);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_and_content_types() {
        assert_eq!(strip_stage("/dev/api/x", "dev"), Some("/api/x"));
        assert_eq!(strip_stage("/dev", "dev"), Some("/"));
        assert_eq!(strip_stage("/dev/", "dev"), Some("/"));
        assert_eq!(strip_stage("/devx/api", "dev"), None);
        assert_eq!(strip_stage("/api/x", "dev"), None);
        assert_eq!(strip_stage("/api/x", "$default"), Some("/api/x"));
        for text in [
            "application/json",
            "application/json; charset=utf-8",
            "Text/Plain",
            "text/html",
            "application/problem+json",
            "application/xml",
            "image/svg+xml",
            "application/javascript",
        ] {
            assert!(is_text_content_type(Some(text)), "{text}");
        }
        for binary in [
            "application/octet-stream",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "image/png",
            "garbage",
        ] {
            assert!(!is_text_content_type(Some(binary)), "{binary}");
        }
        assert!(!is_text_content_type(None));
    }

    #[test]
    fn origins() {
        assert!(origin_matches("*", "http://a"));
        assert!(origin_matches("https://*", "https://app.example.com"));
        assert!(!origin_matches("https://*", "http://app.example.com"));
        assert!(origin_matches(
            "http://127.0.0.1:5173",
            "HTTP://127.0.0.1:5173"
        ));
        assert!(!origin_matches(
            "http://127.0.0.1:5173",
            "http://127.0.0.1:5174"
        ));
    }
}
