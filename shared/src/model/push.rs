//! Push subscriptions as stored: one row per browser (Web Push) or phone (an SNS platform
//! endpoint of APNs or FCM) a user registered, in the user's own partition
//! (`keys::push_subscription`).

use serde::{Deserialize, Serialize};

/// Where a subscription's pushes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// A browser's Web Push endpoint (RFC 8030), encrypted to its keys (RFC 8291).
    Web,
    /// Apple Push Notification service, through an SNS platform application.
    Apns,
    /// Firebase Cloud Messaging, through an SNS platform application.
    Fcm,
}

impl Platform {
    pub const ALL: [Platform; 3] = [Platform::Web, Platform::Apns, Platform::Fcm];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Web => "web",
            Platform::Apns => "apns",
            Platform::Fcm => "fcm",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// One push subscription of a user: a browser's endpoint and keys (`web`), or a phone's
/// device token and the SNS platform endpoint made for it (`apns`, `fcm`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushSubscription {
    /// A ULID: subscriptions sort oldest first.
    pub id: String,
    pub user_id: String,
    pub platform: Platform,
    pub created_at: String,
    /// Web: the push service's endpoint URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Web: the subscription's P-256 public key (base64url, 65 bytes uncompressed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p256dh: Option<String>,
    /// Web: the subscription's authentication secret (base64url, 16 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    /// Mobile: the device token the app registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Mobile: the SNS platform endpoint of the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_arn: Option<String>,
}

impl PushSubscription {
    /// The endpoint or the device token: what makes two registrations the same subscription.
    pub fn address(&self) -> &str {
        self.endpoint
            .as_deref()
            .or(self.token.as_deref())
            .unwrap_or_default()
    }
}
