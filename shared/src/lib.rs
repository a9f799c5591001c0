//! Course communities: the domain, its storage and its access rules, shared by every function.
//!
//! Function crates stay thin: they parse the event, call into these modules and map the result.

pub mod access;
pub mod attachments;
pub mod audit;
pub mod auth;
pub mod chat;
pub mod clock;
pub mod communities;
pub mod config;
pub mod connections;
pub mod conversations;
pub mod cursor;
pub mod data_rights;
pub mod email;
pub mod error;
pub mod http;
pub mod ids;
pub mod keyring;
pub mod keys;
pub mod lms;
pub mod membership;
pub mod metrics;
pub mod model;
pub mod notifications;
pub mod posts;
pub mod push;
pub mod ratelimit;
pub mod realtime;
pub mod search;
pub mod store;
pub mod telemetry;
pub mod validate;
pub mod ws;

pub use error::{Error, Result};
pub use store::db;

/// Everything a handler needs, built once at cold start and shared by every invocation.
#[derive(Clone)]
pub struct App {
    pub config: std::sync::Arc<config::Config>,
    pub db: db::Db,
    pub auth: std::sync::Arc<auth::Verifier>,
    pub clock: clock::SharedClock,
    pub ids: ids::SharedIds,
    pub cursors: cursor::Cursors,
    /// The signing keys behind `auth` and `cursors`; [`App::refresh_keys`] reloads them.
    pub keys: std::sync::Arc<keyring::Keyring>,
    /// Pushes to WebSocket connections (the Management API; a no-op without a WebSocket API).
    pub push: std::sync::Arc<dyn realtime::Pusher>,
    /// The attachments bucket (presigned uploads and downloads, HeadObject).
    pub files: store::objects::Files,
    /// SES, when email is configured (`EMAIL_FROM`).
    pub mailer: Option<email::Mailer>,
    /// Web Push and SNS mobile push, when a VAPID key or a platform application is configured.
    pub devices: Option<std::sync::Arc<push::Sender>>,
}

impl App {
    /// Loads configuration, builds the AWS clients and the token verifier; fails fast.
    pub async fn from_env() -> std::result::Result<Self, lambda_http::Error> {
        let config = config::Config::from_env()?;
        let sdk = aws_config::load_from_env().await;
        let db = db::Db::new(aws_sdk_dynamodb::Client::new(&sdk), &config.table_name);
        let keys = keyring::Keyring::load(&config.keys, &sdk)
            .await
            .map_err(|e| format!("loading the signing keys: {e}"))?;
        let auth = auth::Verifier::from_config(&config.jwt, keys.jwt.clone()).await?;
        let push: std::sync::Arc<dyn realtime::Pusher> = match &config.ws_management_endpoint {
            Some(endpoint) => std::sync::Arc::new(realtime::ManagementApi::new(
                &sdk,
                endpoint,
                config.fanout_concurrency,
            )),
            None => std::sync::Arc::new(realtime::NoopPusher),
        };
        let files = store::objects::Files::from_sdk(&sdk, config.attachments_bucket.clone());
        let mailer = config
            .email
            .as_ref()
            .map(|e| email::Mailer::new(&sdk, e.from.clone(), e.configuration_set.clone()));
        let devices = push::Sender::from_config(&sdk, &config)
            .map_err(|e| format!("push: {e}"))?
            .map(std::sync::Arc::new);
        Ok(Self {
            files,
            mailer,
            devices,
            cursors: cursor::Cursors::rotating(keys.cursor.clone()),
            keys: std::sync::Arc::new(keys),
            config: std::sync::Arc::new(config),
            db,
            auth: std::sync::Arc::new(auth),
            clock: clock::system(),
            ids: ids::ulids(),
            push,
        })
    }

    /// Reads the keys secret again if the keys in hand are older than its TTL (before each
    /// invocation; see [`keyring::Keyring::refresh`]).
    pub async fn refresh_keys(&self) {
        self.keys.refresh().await;
    }

    /// Email's links and names, when email is configured with the API's URL (`API_URL`).
    pub fn email_config(&self) -> Option<email::EmailConfig> {
        let e = self.config.email.as_ref()?;
        Some(email::EmailConfig {
            web_app_url: e.web_app_url.clone(),
            api_url: e.api_url.clone()?,
            product: "Course Community".into(),
        })
    }

    /// The current time as the API writes it.
    pub fn now_iso(&self) -> String {
        clock::iso(self.clock.now())
    }
}
