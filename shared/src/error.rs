//! The one error type of the domain, and the one place that maps it to RFC 9457 problem+json.

use lambda_http::{Body, Response};
use serde::Serialize;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A field that failed validation, reported in the problem's `errors` member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: the request cannot be parsed (malformed JSON, unknown field, bad id or cursor).
    #[error("{0}")]
    BadRequest(String),
    /// 401: no token, or a token that does not verify.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the caller may see the object but may not take this action.
    #[error("{0}")]
    Forbidden(String),
    /// 404: the object does not exist, or the caller may not see it.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 405: the path exists but not with this method; the methods it takes (the `Allow`
    /// header, e.g. `"GET, POST"`).
    #[error("method not allowed")]
    MethodNotAllowed(&'static str),
    /// 409: the request conflicts with the object's current state.
    #[error("{0}")]
    Conflict(String),
    /// 409 `archived`: the community is archived, read-only for everyone but admins.
    #[error("the community is archived: it is read-only")]
    Archived,
    /// 413: the body is larger than the endpoint accepts.
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// 415: the body is not JSON.
    #[error("request body must be application/json")]
    UnsupportedMediaType,
    /// 422: well-formed input that breaks a rule, with the fields at fault.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 429: a per-user rate limit was hit.
    #[error("rate limit exceeded, retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// 500: never shown to the client; the cause is logged.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn status(&self) -> u16 {
        match self {
            Error::BadRequest(_) => 400,
            Error::Unauthorized(_) => 401,
            Error::Forbidden(_) => 403,
            Error::NotFound(_) => 404,
            Error::MethodNotAllowed(_) => 405,
            Error::Conflict(_) | Error::Archived => 409,
            Error::PayloadTooLarge(_) => 413,
            Error::UnsupportedMediaType => 415,
            Error::Validation(_) => 422,
            Error::RateLimited { .. } => 429,
            Error::Internal(_) => 500,
        }
    }

    /// Stable machine-readable code, used as the problem `type` suffix and as the WebSocket `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadRequest(_) => "bad_request",
            Error::Unauthorized(_) => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::MethodNotAllowed(_) => "method_not_allowed",
            Error::Conflict(_) => "conflict",
            Error::Archived => "archived",
            Error::PayloadTooLarge(_) => "payload_too_large",
            Error::UnsupportedMediaType => "unsupported_media_type",
            Error::Validation(_) => "validation_failed",
            Error::RateLimited { .. } => "rate_limited",
            Error::Internal(_) => "internal_error",
        }
    }

    fn title(&self) -> &'static str {
        match self.status() {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            409 => "Conflict",
            413 => "Content Too Large",
            415 => "Unsupported Media Type",
            422 => "Unprocessable Content",
            429 => "Too Many Requests",
            _ => "Internal Server Error",
        }
    }

    /// What the client is told. Internal causes stay in the logs.
    pub fn detail(&self) -> String {
        match self {
            Error::Internal(_) => "the server could not complete the request".into(),
            Error::Validation(errors) if errors.len() == 1 => {
                format!("{}: {}", errors[0].field, errors[0].message)
            }
            other => other.to_string(),
        }
    }

    /// The problem+json document (RFC 9457).
    pub fn problem(&self) -> serde_json::Value {
        let mut doc = serde_json::json!({
            "type": format!("urn:course-community:problem:{}", self.code()),
            "title": self.title(),
            "status": self.status(),
            "detail": self.detail(),
            "code": self.code(),
        });
        match self {
            Error::Validation(errors) => doc["errors"] = serde_json::json!(errors),
            Error::RateLimited { retry_after_secs } => {
                doc["retry_after"] = serde_json::json!(retry_after_secs)
            }
            _ => {}
        }
        doc
    }

    /// The one mapping of an error to an HTTP response.
    pub fn into_response(self) -> Response<Body> {
        if let Error::Internal(cause) = &self {
            tracing::error!(error = %cause, "request failed");
        } else {
            tracing::info!(status = self.status(), code = self.code(), detail = %self.detail(), "request refused");
        }
        let mut builder = Response::builder()
            .status(self.status())
            .header("content-type", "application/problem+json");
        if let Error::RateLimited { retry_after_secs } = &self {
            builder = builder.header("retry-after", retry_after_secs.to_string());
        }
        if let Error::MethodNotAllowed(allow) = &self {
            builder = builder.header("allow", *allow);
        }
        builder
            .body(Body::Text(self.problem().to_string()))
            .expect("static response parts are valid")
    }
}

impl From<serde_dynamo::Error> for Error {
    fn from(e: serde_dynamo::Error) -> Self {
        Error::internal(format!("item mapping: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_errors_list_every_field() {
        let e = Error::Validation(vec![
            FieldError::new("title", "must not be empty"),
            FieldError::new("content", "must be at most 40000 characters"),
        ]);
        let doc = e.problem();
        assert_eq!(doc["status"], 422);
        assert_eq!(doc["errors"][1]["field"], "content");
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let e = Error::internal("connection string with secret");
        assert!(!e.problem().to_string().contains("secret"));
        assert_eq!(e.status(), 500);
    }

    #[test]
    fn rate_limit_sets_retry_after_header() {
        let r = Error::RateLimited {
            retry_after_secs: 7,
        }
        .into_response();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "7");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }
}
