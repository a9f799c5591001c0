//! Every request push makes outside the table: Web Push to a browser's push service
//! (RFC 8030, encrypted with `aes128gcm` per RFC 8291, signed with VAPID per RFC 8292, all by
//! `web-push-native`), and SNS for phones (`CreatePlatformEndpoint`, `DeleteEndpoint`,
//! `Publish` to a platform endpoint).

use crate::config::Config;
use crate::model::push::{Platform, PushSubscription};
use crate::push::Payload;
use crate::push::validate::base64url;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::time::Duration;
use web_push_native::jwt_simple::algorithms::ES256KeyPair;
use web_push_native::{Auth, WebPushBuilder, p256};

/// How long a push service keeps a message for a browser that is offline (the `TTL` header).
pub const WEB_PUSH_TTL_SECS: u64 = 24 * 3600;
/// How long a VAPID signature is valid (RFC 8292 allows at most 24 hours).
const VAPID_VALIDITY: Duration = Duration::from_secs(12 * 3600);
/// One push service request at most this long: push is best effort, the job must not wait.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The application server's VAPID identity.
struct Vapid {
    key: ES256KeyPair,
    subject: String,
    /// The public key browsers subscribe with (base64url of the uncompressed point).
    public_key: String,
}

/// What became of one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// The subscription is gone for good (a push service's 404 or 410, SNS's
    /// `EndpointDisabled`): remove it.
    Gone,
    /// Anything else (logged; push is best effort).
    Failed(String),
}

/// Sends pushes: Web Push when a VAPID key is configured, SNS for the platform applications
/// configured.
pub struct Sender {
    http: reqwest::Client,
    sns: aws_sdk_sns::Client,
    vapid: Option<Vapid>,
    apns_application_arn: Option<String>,
    fcm_application_arn: Option<String>,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("web", &self.vapid.is_some())
            .field("apns", &self.apns_application_arn)
            .field("fcm", &self.fcm_application_arn)
            .finish_non_exhaustive()
    }
}

/// The public key of a VAPID private key (base64url of the raw 32 bytes), as browsers take it
/// (`applicationServerKey`): base64url of the 65-byte uncompressed point.
pub fn vapid_public_key(private_key: &str) -> Result<String, String> {
    use p256::elliptic_curve::sec1::ToEncodedPoint as _;
    let bytes = base64url(private_key.trim()).ok_or("VAPID_PRIVATE_KEY is not base64url")?;
    let secret = p256::SecretKey::from_slice(&bytes)
        .map_err(|_| "VAPID_PRIVATE_KEY is not a P-256 private key (32 bytes)")?;
    Ok(URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false).as_bytes()))
}

impl Sender {
    /// A sender for what `config` configures; `None` when no push platform is.
    pub fn from_config(
        sdk: &aws_config::SdkConfig,
        config: &Config,
    ) -> Result<Option<Self>, String> {
        let vapid = match &config.vapid {
            None => None,
            Some(v) => {
                let derived = vapid_public_key(&v.private_key)?;
                if let Some(given) = &v.public_key
                    && given.trim().trim_end_matches('=') != derived
                {
                    return Err(
                        "VAPID_PUBLIC_KEY is not the public key of VAPID_PRIVATE_KEY".into(),
                    );
                }
                let raw =
                    base64url(v.private_key.trim()).ok_or("VAPID_PRIVATE_KEY is not base64url")?;
                Some(Vapid {
                    key: ES256KeyPair::from_bytes(&raw).map_err(|e| e.to_string())?,
                    subject: v.subject.clone(),
                    public_key: derived,
                })
            }
        };
        if vapid.is_none()
            && config.apns_application_arn.is_none()
            && config.fcm_application_arn.is_none()
        {
            return Ok(None);
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Some(Self {
            http,
            sns: aws_sdk_sns::Client::new(sdk),
            vapid,
            apns_application_arn: config.apns_application_arn.clone(),
            fcm_application_arn: config.fcm_application_arn.clone(),
        }))
    }

    /// The platforms this sender reaches.
    pub fn platforms(&self) -> Vec<Platform> {
        Platform::ALL
            .into_iter()
            .filter(|p| self.reaches(*p))
            .collect()
    }

    pub fn reaches(&self, platform: Platform) -> bool {
        match platform {
            Platform::Web => self.vapid.is_some(),
            Platform::Apns | Platform::Fcm => self.application_arn(platform).is_some(),
        }
    }

    /// The VAPID public key browsers subscribe with, when Web Push is configured.
    pub fn vapid_public_key(&self) -> Option<&str> {
        self.vapid.as_ref().map(|v| v.public_key.as_str())
    }

    fn application_arn(&self, platform: Platform) -> Option<&str> {
        match platform {
            Platform::Apns => self.apns_application_arn.as_deref(),
            Platform::Fcm => self.fcm_application_arn.as_deref(),
            Platform::Web => None,
        }
    }

    /// Makes the SNS platform endpoint of a device token (`CreatePlatformEndpoint`, idempotent
    /// for a token SNS already knows with the same attributes); answers its ARN. `Err(true)`:
    /// SNS refused the token itself.
    pub async fn create_endpoint(
        &self,
        platform: Platform,
        token: &str,
    ) -> Result<String, (bool, String)> {
        let Some(application) = self.application_arn(platform) else {
            return Err((true, format!("{} is not configured", platform.as_str())));
        };
        match self
            .sns
            .create_platform_endpoint()
            .platform_application_arn(application)
            .token(token)
            .send()
            .await
        {
            Ok(out) => out
                .endpoint_arn
                .ok_or((false, "SNS answered no endpoint ARN".to_string())),
            Err(e) => {
                let refused = e
                    .as_service_error()
                    .is_some_and(|s| s.is_invalid_parameter_exception());
                Err((refused, display(&e)))
            }
        }
    }

    /// Deletes an SNS platform endpoint (`DeleteEndpoint`; deleting one that is gone succeeds).
    pub async fn delete_endpoint(&self, endpoint_arn: &str) -> Result<(), String> {
        self.sns
            .delete_endpoint()
            .endpoint_arn(endpoint_arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| display(&e))
    }

    /// Sends one push to one subscription.
    pub async fn send(&self, subscription: &PushSubscription, payload: &Payload) -> Outcome {
        match subscription.platform {
            Platform::Web => self.send_web(subscription, payload).await,
            Platform::Apns | Platform::Fcm => self.publish(subscription, payload).await,
        }
    }

    async fn send_web(&self, subscription: &PushSubscription, payload: &Payload) -> Outcome {
        let Some(vapid) = &self.vapid else {
            return Outcome::Failed("Web Push is not configured".into());
        };
        let request = match web_request(vapid, subscription, payload) {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(e),
        };
        let (parts, body) = request.into_parts();
        let response = self
            .http
            .post(parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => Outcome::Sent,
            Ok(r) if matches!(r.status().as_u16(), 404 | 410) => Outcome::Gone,
            Ok(r) => Outcome::Failed(format!("push service answered {}", r.status())),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    async fn publish(&self, subscription: &PushSubscription, payload: &Payload) -> Outcome {
        let Some(arn) = &subscription.endpoint_arn else {
            return Outcome::Gone;
        };
        match self
            .sns
            .publish()
            .target_arn(arn)
            .message_structure("json")
            .message(payload.sns_message())
            .send()
            .await
        {
            Ok(_) => Outcome::Sent,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_endpoint_disabled_exception()) =>
            {
                Outcome::Gone
            }
            Err(e) => Outcome::Failed(display(&e)),
        }
    }
}

/// The encrypted, signed Web Push request of one payload to one browser subscription.
fn web_request(
    vapid: &Vapid,
    subscription: &PushSubscription,
    payload: &Payload,
) -> Result<http::Request<Vec<u8>>, String> {
    let (Some(endpoint), Some(p256dh), Some(auth)) = (
        &subscription.endpoint,
        &subscription.p256dh,
        &subscription.auth,
    ) else {
        return Err("a web subscription without its endpoint or keys".into());
    };
    let key = base64url(p256dh)
        .and_then(|b| p256::PublicKey::from_sec1_bytes(&b).ok())
        .ok_or("stored p256dh is not a P-256 point")?;
    let auth: [u8; 16] = base64url(auth)
        .and_then(|b| b.try_into().ok())
        .ok_or("stored auth is not 16 bytes")?;
    let uri: http::Uri = endpoint.parse().map_err(|e| format!("endpoint: {e}"))?;
    let mut request = WebPushBuilder::new(uri, key, Auth::from(auth))
        .with_valid_duration(VAPID_VALIDITY)
        .with_vapid(&vapid.key, &vapid.subject)
        .build(payload.web_body())
        .map_err(|e| e.to_string())?;
    let headers = request.headers_mut();
    headers.insert("ttl", http::HeaderValue::from(WEB_PUSH_TTL_SECS));
    headers.insert("urgency", http::HeaderValue::from_static("normal"));
    Ok(request)
}

fn display<E: std::error::Error + 'static>(e: &E) -> String {
    aws_smithy_types::error::display::DisplayErrorContext(e).to_string()
}
