//! Typed configuration, read once from the environment at cold start.

use crate::auth::JwtConfig;
use crate::keyring::KeySource;

/// PostToConnection calls in flight at once per fan-out unless `FANOUT_CONCURRENCY` says.
pub const DEFAULT_FANOUT_CONCURRENCY: usize = 256;

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub jwt: JwtConfig,
    /// Where the HS256 and cursor keys come from: the secret `KEYS_SECRET_ARN` (read again
    /// after `KEYS_TTL_SECS`), else `JWT_SECRET` and `CURSOR_SECRET` (`JWT_SECRET` if unset).
    pub keys: KeySource,
    /// Base URL of the WebSocket API's Management API (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`).
    pub ws_management_endpoint: Option<String>,
    pub notification_retention_days: u32,
    /// Recipients one notifier invocation handles before splitting a job into parts
    /// (`NOTIFY_PART_SIZE`, default 500).
    pub notify_part_size: usize,
    /// PostToConnection calls in flight per fan-out (`FANOUT_CONCURRENCY`, default 256).
    pub fanout_concurrency: usize,
    /// The write rate limits (`RATE_LIMIT_*`, `<max>/<seconds>`; template parameters).
    pub rate_limits: crate::ratelimit::Limits,
    /// The private bucket of attachments (`ATTACHMENTS_BUCKET`); attachments answer 500 without.
    pub attachments_bucket: Option<String>,
    /// Largest attachment in bytes (`ATTACHMENT_MAX_BYTES`, default 10 MiB; a template parameter).
    pub attachment_max_bytes: u64,
    /// Email, when `EMAIL_FROM` is set (a sender address of a verified SES identity).
    pub email: Option<EmailSettings>,
    /// Web Push's VAPID key pair and contact, when `VAPID_PRIVATE_KEY` is set.
    pub vapid: Option<VapidSettings>,
    /// SNS platform applications for mobile push (`APNS_PLATFORM_APPLICATION_ARN`,
    /// `FCM_PLATFORM_APPLICATION_ARN`).
    pub apns_application_arn: Option<String>,
    pub fcm_application_arn: Option<String>,
}

/// Where email comes from and where its links go.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// `EMAIL_FROM`, e.g. `Course Community <community@example.edu>`.
    pub from: String,
    /// `EMAIL_CONFIGURATION_SET`: its bounce and complaint events suppress addresses.
    pub configuration_set: Option<String>,
    /// `WEB_APP_URL`: links in emails go to its `#/...` routes.
    pub web_app_url: String,
    /// `API_URL`: the HTTP API with its stage, where one-click unsubscribe is. Only the function
    /// that writes emails needs it (the API's own functions cannot name their API in the template).
    pub api_url: Option<String>,
    /// `DIGEST_HOUR_UTC` (0-23, default 7).
    pub digest_hour: u32,
}

/// Web Push (VAPID, RFC 8292).
#[derive(Clone)]
pub struct VapidSettings {
    /// `VAPID_PRIVATE_KEY`: the P-256 private key, base64url (the raw 32 bytes).
    pub private_key: String,
    /// `VAPID_SUBJECT`: a `mailto:` or `https:` contact for push services.
    pub subject: String,
    /// `VAPID_PUBLIC_KEY`: the public key browsers subscribe with (base64url, the 65-byte
    /// uncompressed point); derived from the private key when unset.
    pub public_key: Option<String>,
}

impl std::fmt::Debug for VapidSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidSettings")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |k: &str| {
            get(k)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| ConfigError(format!("{k} is required")))
        };
        let optional = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let jwks_url = optional("JWKS_URL");
        // A function with no key at all verifies no token and signs no cursor that must
        // outlive it (the notifier, the WebSocket message and disconnect routes).
        let keys = match optional("KEYS_SECRET_ARN") {
            Some(id) => KeySource::Secret {
                id,
                ttl: std::time::Duration::from_secs(match optional("KEYS_TTL_SECS") {
                    Some(v) => v.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                        ConfigError("KEYS_TTL_SECS must be a positive number".into())
                    })?,
                    None => crate::keyring::DEFAULT_TTL_SECS,
                }),
            },
            None => {
                let jwt = optional("JWT_SECRET");
                if jwt
                    .as_ref()
                    .is_some_and(|s| s.len() < crate::keyring::MIN_JWT_KEY_BYTES)
                {
                    return Err(ConfigError("JWT_SECRET must be at least 32 bytes".into()));
                }
                KeySource::Fixed {
                    cursor: optional("CURSOR_SECRET")
                        .or_else(|| jwt.clone())
                        .map(String::into_bytes),
                    jwt: jwt.map(String::into_bytes),
                }
            }
        };
        let jwt_secret = match &keys {
            KeySource::Fixed { jwt, .. } => jwt.clone(),
            KeySource::Secret { .. } => None,
        };
        let retention = match optional("NOTIFICATION_RETENTION_DAYS") {
            Some(v) => v
                .parse()
                .map_err(|_| ConfigError("NOTIFICATION_RETENTION_DAYS must be a number".into()))?,
            None => 90,
        };
        let number = |k: &str, default: usize| match optional(k) {
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ConfigError(format!("{k} must be a positive number"))),
            None => Ok(default),
        };
        let email = match (optional("EMAIL_FROM"), optional("WEB_APP_URL")) {
            (None, _) => None,
            // Links in emails need the web app; a stack the template made always names it.
            (Some(_), None) => {
                tracing::warn!("EMAIL_FROM is set without WEB_APP_URL: no email is sent");
                None
            }
            (Some(from), Some(web_app_url)) => Some(EmailSettings {
                from,
                configuration_set: optional("EMAIL_CONFIGURATION_SET"),
                web_app_url,
                api_url: optional("API_URL"),
                digest_hour: match optional("DIGEST_HOUR_UTC") {
                    Some(v) => v.parse::<u32>().ok().filter(|h| *h < 24).ok_or_else(|| {
                        ConfigError("DIGEST_HOUR_UTC must be an hour, 0 to 23".into())
                    })?,
                    None => 7,
                },
            }),
        };
        let vapid = optional("VAPID_PRIVATE_KEY").map(|private_key| VapidSettings {
            private_key,
            subject: optional("VAPID_SUBJECT").unwrap_or_else(|| "mailto:admin@localhost".into()),
            public_key: optional("VAPID_PUBLIC_KEY"),
        });
        Ok(Self {
            email,
            vapid,
            apns_application_arn: optional("APNS_PLATFORM_APPLICATION_ARN"),
            fcm_application_arn: optional("FCM_PLATFORM_APPLICATION_ARN"),
            attachments_bucket: optional("ATTACHMENTS_BUCKET"),
            attachment_max_bytes: number(
                "ATTACHMENT_MAX_BYTES",
                crate::attachments::DEFAULT_MAX_BYTES as usize,
            )? as u64,
            rate_limits: crate::ratelimit::Limits::from_lookup(&get).map_err(ConfigError)?,
            notify_part_size: number("NOTIFY_PART_SIZE", 500)?,
            fanout_concurrency: number("FANOUT_CONCURRENCY", DEFAULT_FANOUT_CONCURRENCY)?,
            table_name: required("TABLE_NAME")?,
            jwt: JwtConfig {
                secret: jwt_secret,
                issuer: required("JWT_ISSUER")?,
                audience: required("JWT_AUDIENCE")?,
                jwks_url,
                max_lifetime_secs: match optional("JWT_MAX_LIFETIME_SECS") {
                    Some(v) => v.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                        ConfigError("JWT_MAX_LIFETIME_SECS must be a positive number".into())
                    })?,
                    None => crate::auth::DEFAULT_MAX_LIFETIME_SECS,
                },
            },
            keys,
            ws_management_endpoint: optional("WS_MANAGEMENT_ENDPOINT"),
            notification_retention_days: retention,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn when_secret_is_short_config_is_refused() {
        let err = Config::from_lookup(env(&[
            ("TABLE_NAME", "t"),
            ("JWT_SECRET", "short"),
            ("JWT_ISSUER", "i"),
            ("JWT_AUDIENCE", "a"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("32 bytes"));
    }

    #[test]
    fn when_no_key_is_given_the_function_has_none() {
        let c = Config::from_lookup(env(&[
            ("TABLE_NAME", "t"),
            ("JWT_ISSUER", "i"),
            ("JWT_AUDIENCE", "a"),
        ]))
        .unwrap();
        assert_eq!(
            c.keys,
            KeySource::Fixed {
                jwt: None,
                cursor: None
            }
        );
        assert!(c.jwt.secret.is_none());
    }

    #[test]
    fn when_a_keys_secret_is_named_it_wins_over_the_environment_keys() {
        let base = [
            ("TABLE_NAME", "t"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("JWT_ISSUER", "i"),
            ("JWT_AUDIENCE", "a"),
            (
                "KEYS_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:1:secret:keys-AbCdEf",
            ),
        ];
        let c = Config::from_lookup(env(&base)).unwrap();
        assert_eq!(
            c.keys,
            KeySource::Secret {
                id: "arn:aws:secretsmanager:us-east-1:1:secret:keys-AbCdEf".into(),
                ttl: std::time::Duration::from_secs(300)
            }
        );
        assert!(c.jwt.secret.is_none(), "the secret's keys, not JWT_SECRET");
        let with_ttl = |v: &'static str| {
            let mut pairs = base.to_vec();
            pairs.push(("KEYS_TTL_SECS", v));
            Config::from_lookup(env(&pairs))
        };
        match with_ttl("2").unwrap().keys {
            KeySource::Secret { ttl, .. } => assert_eq!(ttl.as_secs(), 2),
            other => panic!("{other:?}"),
        }
        for bad in ["0", "-5", "soon"] {
            assert!(with_ttl(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn when_complete_config_loads_with_defaults() {
        let c = Config::from_lookup(env(&[
            ("TABLE_NAME", "t"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("JWT_ISSUER", "i"),
            ("JWT_AUDIENCE", "a"),
        ]))
        .unwrap();
        assert_eq!(c.table_name, "t");
        assert_eq!(c.notification_retention_days, 90);
        // Without CURSOR_SECRET the JWT key signs cursors too.
        assert_eq!(
            c.keys,
            KeySource::Fixed {
                jwt: Some(b"0123456789abcdef0123456789abcdef".to_vec()),
                cursor: Some(b"0123456789abcdef0123456789abcdef".to_vec()),
            }
        );
        assert!(c.ws_management_endpoint.is_none());
        assert_eq!((c.notify_part_size, c.fanout_concurrency), (500, 256));
        assert_eq!(c.jwt.max_lifetime_secs, 24 * 3600);
        assert_eq!(c.attachment_max_bytes, 10 * 1024 * 1024);
        assert!(c.attachments_bucket.is_none());
    }

    #[test]
    fn when_a_max_token_lifetime_is_set_it_is_used_and_checked() {
        let base = [
            ("TABLE_NAME", "t"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("JWT_ISSUER", "i"),
            ("JWT_AUDIENCE", "a"),
        ];
        let with = |v: &'static str| {
            let mut pairs = base.to_vec();
            pairs.push(("JWT_MAX_LIFETIME_SECS", v));
            Config::from_lookup(env(&pairs))
        };
        assert_eq!(with("3600").unwrap().jwt.max_lifetime_secs, 3600);
        for bad in ["0", "-1", "a day"] {
            assert!(with(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn when_a_number_is_not_one_config_is_refused() {
        let err = Config::from_lookup(env(&[
            ("TABLE_NAME", "t"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("JWT_ISSUER", "i"),
            ("JWT_AUDIENCE", "a"),
            ("NOTIFY_PART_SIZE", "0"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("NOTIFY_PART_SIZE"));
    }
}
