//! HTTP plumbing shared by the functions: routing on path segments, strict JSON bodies,
//! pagination parameters, JSON responses, and the one place errors become problem+json.

use crate::App;
use crate::auth::Principal;
use crate::error::{Error, FieldError, Result};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::{Serialize, de::DeserializeOwned};
use std::collections::HashMap;
use std::future::Future;

/// Largest JSON body accepted (posts are at most 40,000 characters; 4 bytes each in the worst case).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

const API_PREFIX: &str = "/api/community/";

/// Runs a function's router as a Lambda handler: errors are mapped to problem+json in one place.
pub async fn serve<F, Fut>(app: App, handler: F) -> std::result::Result<(), lambda_http::Error>
where
    F: Fn(App, Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Body>>> + Send,
{
    let handler = &handler;
    let app = &app;
    lambda_http::run(lambda_http::service_fn(move |req: Request| async move {
        app.refresh_keys().await;
        Ok::<_, std::convert::Infallible>(handle(app.clone(), req, handler).await)
    }))
    .await
}

/// One request through a router, with its access log line.
pub async fn handle<F, Fut>(app: App, req: Request, handler: &F) -> Response<Body>
where
    F: Fn(App, Request) -> Fut,
    Fut: Future<Output = Result<Response<Body>>>,
{
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let request_id = req
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_default();
    let started = std::time::Instant::now();
    let response = match handler(app, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    tracing::info!(
        request_id,
        method = %method,
        path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

/// The path below `/api/community/`, split on `/`, with any stage prefix and trailing slash
/// ignored, each segment percent-decoded (API Gateway passes the raw path: a user id such as
/// `auth0|abc` arrives as `auth0%7Cabc`).
pub fn segments(req: &Request) -> Vec<String> {
    let path = req.uri().path();
    let tail = match path.find(API_PREFIX) {
        Some(i) => &path[i + API_PREFIX.len()..],
        None => path.strip_prefix("/api/community").unwrap_or(path),
    };
    tail.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

/// The caller, from `Authorization: Bearer`.
pub fn principal(app: &App, req: &Request) -> Result<Principal> {
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    app.auth.verify_bearer(header)
}

/// Query string parameters (first value of each).
pub fn query(req: &Request) -> HashMap<String, String> {
    req.query_string_parameters()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Parses a boolean query flag (`true`/`false`/`1`/`0`).
pub fn flag(q: &HashMap<String, String>, name: &str) -> Result<Option<bool>> {
    match q.get(name).map(String::as_str) {
        None => Ok(None),
        Some("true" | "1") => Ok(Some(true)),
        Some("false" | "0") => Ok(Some(false)),
        Some(_) => Err(Error::BadRequest(format!("{name} must be true or false"))),
    }
}

pub use crate::cursor::{DEFAULT_PAGE, MAX_PAGE, Page, PageParams, page_params};

/// `application/json` or `application/<anything>+json`, with optional parameters
/// (`; charset=utf-8`), in any case; not `application/jsonfoo` or `text/json`.
pub fn is_json_media_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.strip_prefix("application/") {
        Some("json") => true,
        Some(sub) => sub
            .strip_suffix("+json")
            .is_some_and(|s| !s.is_empty() && !s.contains(['/', ' '])),
        None => false,
    }
}

/// Parses a JSON body strictly: 415 if not JSON (a non-empty body must carry a JSON
/// content-type), 413 if too big, 400 if malformed,
/// 422 (with the field) if it does not fit the expected shape (unknown fields included).
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => b"",
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => b"",
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Error::PayloadTooLarge(MAX_BODY_BYTES));
    }
    let empty = bytes.iter().all(u8::is_ascii_whitespace);
    match req.headers().get("content-type") {
        Some(ct) if !is_json_media_type(ct.to_str().unwrap_or_default()) => {
            return Err(Error::UnsupportedMediaType);
        }
        // A body must say it is JSON; a request without one (a bare POST) needs no type.
        None if !empty => return Err(Error::UnsupportedMediaType),
        _ => {}
    }
    let bytes = if empty { b"{}".as_slice() } else { bytes };
    parse_json(bytes)
}

/// Strict JSON parsing with the error mapping of [`json_body`] (also used for WebSocket frames).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if path == "." { "body".into() } else { path };
                Error::Validation(vec![FieldError::new(field, strip_position(&inner))])
            }
            _ => Error::BadRequest(format!("malformed JSON: {}", strip_position(&inner))),
        }
    })
}

fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.find(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// A JSON response.
pub fn json<T: Serialize>(status: u16, value: &T) -> Result<Response<Body>> {
    let body = serde_json::to_string(value).map_err(Error::internal)?;
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::Text(body))
        .map_err(Error::internal)
}

pub fn ok<T: Serialize>(value: &T) -> Result<Response<Body>> {
    json(200, value)
}

pub fn created<T: Serialize>(value: &T) -> Result<Response<Body>> {
    json(201, value)
}

/// 302 Found to `location` (a presigned download), never cached.
pub fn found(location: &str) -> Result<Response<Body>> {
    Response::builder()
        .status(302)
        .header("location", location)
        .header("cache-control", "no-store")
        .body(Body::Empty)
        .map_err(Error::internal)
}

/// 303 See Other to `location` (a page of the web app).
pub fn see_other(location: &str) -> Result<Response<Body>> {
    Response::builder()
        .status(303)
        .header("location", location)
        .header("cache-control", "no-store")
        .body(Body::Empty)
        .map_err(Error::internal)
}

pub fn no_content() -> Result<Response<Body>> {
    Response::builder()
        .status(204)
        .body(Body::Empty)
        .map_err(Error::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_media_types_are_json() {
        for good in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/merge-patch+json",
            "application/problem+json;charset=UTF-8",
        ] {
            assert!(is_json_media_type(good), "{good}");
        }
        for bad in [
            "",
            "application/jsonfoo",
            "application/json-seq",
            "text/json",
            "text/plain",
            "application/+json",
            "application/x+jsonx",
            "multipart/form-data; boundary=+json",
            "application/xml; q=+json",
        ] {
            assert!(!is_json_media_type(bad), "{bad}");
        }
    }
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body1 {
        title: String,
        count: Option<u32>,
    }

    #[test]
    fn malformed_json_is_a_bad_request() {
        let e = parse_json::<Body1>(b"{\"title\": ").unwrap_err();
        assert_eq!(e.status(), 400);
    }

    #[test]
    fn unknown_or_mistyped_fields_name_the_field() {
        let e = parse_json::<Body1>(br#"{"title":"a","extra":1}"#).unwrap_err();
        assert_eq!(e.status(), 422);
        assert!(e.detail().contains("extra"), "{}", e.detail());
        let e = parse_json::<Body1>(br#"{"title":"a","count":"x"}"#).unwrap_err();
        assert!(e.detail().starts_with("count"), "{}", e.detail());
    }

    #[test]
    fn limits_outside_the_range_are_refused() {
        let q = |v: &str| HashMap::from([("limit".to_string(), v.to_string())]);
        assert_eq!(page_params(&HashMap::new()).unwrap().limit, 20);
        assert_eq!(page_params(&q("100")).unwrap().limit, 100);
        assert!(page_params(&q("101")).is_err());
        assert!(page_params(&q("0")).is_err());
        assert!(page_params(&q("x")).is_err());
    }
}
