//! What a registration must be: a browser's `PushSubscription` (an https endpoint and its two
//! keys) or a phone's device token, for a platform this deployment reaches.

use crate::error::{Error, FieldError, Result};
use crate::model::push::Platform;
use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::Value;

/// Longest endpoint URL or device token accepted.
pub const MAX_ADDRESS_CHARS: usize = 4096;
/// An uncompressed P-256 point (`0x04 || x || y`).
const P256DH_BYTES: usize = 65;
const AUTH_BYTES: usize = 16;

/// A registration that passed the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    Web {
        endpoint: String,
        p256dh: String,
        auth: String,
    },
    Mobile {
        platform: Platform,
        token: String,
    },
}

impl Registration {
    pub fn platform(&self) -> Platform {
        match self {
            Registration::Web { .. } => Platform::Web,
            Registration::Mobile { platform, .. } => *platform,
        }
    }

    /// The endpoint or token: registering it again is the same subscription.
    pub fn address(&self) -> &str {
        match self {
            Registration::Web { endpoint, .. } => endpoint,
            Registration::Mobile { token, .. } => token,
        }
    }
}

/// Base64url, with or without padding (browsers give it without; some libraries pad).
pub fn base64url(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(s)
        .or_else(|_| URL_SAFE.decode(s))
        .ok()
}

/// Whether an endpoint may receive pushes: https, or plain http to this machine only (local
/// development and tests).
fn endpoint_problem(endpoint: &str) -> Option<&'static str> {
    if endpoint.chars().count() > MAX_ADDRESS_CHARS {
        return Some("must be at most 4096 characters");
    }
    let Ok(url) = reqwest::Url::parse(endpoint) else {
        return Some("must be an https URL");
    };
    let local = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        _ if url.host_str().is_none_or(str::is_empty) => Some("must be an https URL"),
        _ if !url.username().is_empty() || url.password().is_some() => {
            Some("must not carry credentials")
        }
        "https" => None,
        "http" if local => None,
        _ => Some("must be an https URL"),
    }
}

/// Parses and checks a registration body against the platforms configured; every problem is a
/// 422 naming its field.
pub fn registration(body: &Value, configured: &[Platform]) -> Result<Registration> {
    let Some(obj) = body.as_object() else {
        return Err(Error::validation("body", "must be a JSON object"));
    };
    let platform = match obj.get("platform") {
        None | Some(Value::Null) => return Err(Error::validation("platform", "is required")),
        Some(Value::String(s)) => match Platform::parse(s) {
            Some(p) => p,
            None => {
                return Err(Error::validation(
                    "platform",
                    "must be one of web, apns, fcm",
                ));
            }
        },
        Some(_) => return Err(Error::validation("platform", "must be a string")),
    };
    if !configured.contains(&platform) {
        return Err(Error::validation(
            "platform",
            format!("{} push is not configured", platform.as_str()),
        ));
    }
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let mut problems = Vec::new();
    let registration = match platform {
        Platform::Web => {
            let endpoint = text(obj.get("endpoint"));
            match &endpoint {
                None => problems.push(FieldError::new("endpoint", "is required")),
                Some(e) => {
                    if let Some(why) = endpoint_problem(e) {
                        problems.push(FieldError::new("endpoint", why));
                    }
                }
            }
            let keys = obj.get("keys");
            let key = |name: &str| text(keys.and_then(|k| k.get(name)));
            let p256dh = key("p256dh");
            match p256dh.as_deref().map(base64url) {
                None => problems.push(FieldError::new("keys.p256dh", "is required")),
                Some(Some(b))
                    if b.len() == P256DH_BYTES
                        && b[0] == 4
                        && web_push_native::p256::PublicKey::from_sec1_bytes(&b).is_ok() => {}
                Some(_) => problems.push(FieldError::new(
                    "keys.p256dh",
                    "must be base64url of an uncompressed P-256 public key (65 bytes)",
                )),
            }
            let auth = key("auth");
            match auth.as_deref().map(base64url) {
                None => problems.push(FieldError::new("keys.auth", "is required")),
                Some(Some(b)) if b.len() == AUTH_BYTES => {}
                Some(_) => problems.push(FieldError::new(
                    "keys.auth",
                    "must be base64url of 16 bytes",
                )),
            }
            match (endpoint, p256dh, auth) {
                (Some(endpoint), Some(p256dh), Some(auth)) => Registration::Web {
                    endpoint,
                    p256dh,
                    auth,
                },
                _ => return Err(Error::Validation(problems)),
            }
        }
        Platform::Apns | Platform::Fcm => {
            let token = text(obj.get("token")).map(|t| t.trim().to_string());
            match &token {
                None => problems.push(FieldError::new("token", "is required")),
                Some(t) if t.is_empty() => {
                    problems.push(FieldError::new("token", "must not be empty"))
                }
                Some(t) if t.chars().count() > MAX_ADDRESS_CHARS => {
                    problems.push(FieldError::new("token", "must be at most 4096 characters"))
                }
                Some(_) => {}
            }
            match token {
                Some(token) => Registration::Mobile { platform, token },
                None => return Err(Error::Validation(problems)),
            }
        }
    };
    if problems.is_empty() {
        Ok(registration)
    } else {
        Err(Error::Validation(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ALL: &[Platform] = &[Platform::Web, Platform::Apns, Platform::Fcm];
    /// A browser subscription's key and auth secret (web-push-native's example).
    const P256DH: &str =
        "BLn9b-VR0ca83knDNZ32dCHGyjJp-1riX9ZTN40MqV8K_LpQmLqxC_DoHvqvFXO_nGdAB4W9dogZb_sM-uV4JbY";
    const AUTH: &str = "_ordMnz7uTCmrpBTeUV4Bw";

    fn fields(e: Error) -> Vec<String> {
        match e {
            Error::Validation(v) => v.into_iter().map(|f| f.field).collect(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    fn web(endpoint: &str, p256dh: &str, auth: &str) -> Value {
        json!({ "platform": "web", "endpoint": endpoint, "expirationTime": null,
                "keys": { "p256dh": p256dh, "auth": auth } })
    }

    #[test]
    fn a_browser_subscription_is_accepted_as_the_browser_gives_it() {
        let r = registration(&web("https://push.example.net/send/abc", P256DH, AUTH), ALL).unwrap();
        assert_eq!(r.platform(), Platform::Web);
        assert_eq!(r.address(), "https://push.example.net/send/abc");
        // Local endpoints may be plain http.
        for local in ["http://127.0.0.1:9000/push", "http://localhost/push"] {
            assert!(
                registration(&web(local, P256DH, AUTH), ALL).is_ok(),
                "{local}"
            );
        }
    }

    #[test]
    fn endpoints_must_be_https_urls_without_credentials() {
        for bad in [
            "http://push.example.net/x",
            "ftp://push.example.net/x",
            "not a url",
            "https://user:pw@push.example.net/x",
            "",
        ] {
            let e = registration(&web(bad, P256DH, AUTH), ALL).unwrap_err();
            assert_eq!(fields(e), ["endpoint"], "{bad}");
        }
        let long = format!("https://push.example.net/{}", "a".repeat(4100));
        assert_eq!(
            fields(registration(&web(&long, P256DH, AUTH), ALL).unwrap_err()),
            ["endpoint"]
        );
    }

    #[test]
    fn keys_must_decode_to_a_p256_point_and_a_16_byte_secret() {
        let short_point = URL_SAFE_NO_PAD.encode([4u8; 33]);
        let not_on_curve = URL_SAFE_NO_PAD.encode({
            let mut b = [1u8; 65];
            b[0] = 4;
            b
        });
        for bad in ["", "!!!", short_point.as_str(), not_on_curve.as_str()] {
            let e = registration(&web("https://p.example/x", bad, AUTH), ALL).unwrap_err();
            assert_eq!(fields(e), ["keys.p256dh"], "{bad:?}");
        }
        let auth_15 = URL_SAFE_NO_PAD.encode([7u8; 15]);
        let e = registration(&web("https://p.example/x", P256DH, &auth_15), ALL).unwrap_err();
        assert_eq!(fields(e), ["keys.auth"]);
        // Padded base64url is the same key.
        let padded = format!("{AUTH}==");
        assert!(registration(&web("https://p.example/x", P256DH, &padded), ALL).is_ok());
        // Everything wrong at once: every field named.
        let e = registration(&json!({ "platform": "web" }), ALL).unwrap_err();
        assert_eq!(fields(e), ["endpoint", "keys.p256dh", "keys.auth"]);
    }

    #[test]
    fn platforms_must_be_known_and_configured() {
        for body in [
            json!({ "endpoint": "https://p.example/x" }),
            json!({ "platform": "pager", "token": "t" }),
            json!({ "platform": 3, "token": "t" }),
        ] {
            assert_eq!(
                fields(registration(&body, ALL).unwrap_err()),
                ["platform"],
                "{body}"
            );
        }
        let e = registration(
            &json!({ "platform": "fcm", "token": "t" }),
            &[Platform::Web],
        )
        .unwrap_err();
        assert_eq!(fields(e), ["platform"]);
        let e = registration(&web("https://p.example/x", P256DH, AUTH), &[]).unwrap_err();
        assert_eq!(fields(e), ["platform"]);
        assert_eq!(
            fields(registration(&json!([1]), ALL).unwrap_err()),
            ["body"]
        );
    }

    #[test]
    fn tokens_must_be_present_and_bounded() {
        let ok = registration(&json!({ "platform": "apns", "token": " abc123 " }), ALL).unwrap();
        assert_eq!(
            ok,
            Registration::Mobile {
                platform: Platform::Apns,
                token: "abc123".into()
            }
        );
        for bad in [
            json!({ "platform": "fcm" }),
            json!({ "platform": "fcm", "token": "  " }),
            json!({ "platform": "fcm", "token": "x".repeat(4097) }),
        ] {
            assert_eq!(fields(registration(&bad, ALL).unwrap_err()), ["token"]);
        }
    }
}
