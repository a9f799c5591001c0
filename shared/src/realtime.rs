//! Pushing events to WebSocket connections through the API Gateway Management API.

use crate::error::{Error, Result};
use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::error::SdkError;
use aws_sdk_apigatewaymanagement::primitives::Blob;

/// What became of one PostToConnection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// API Gateway says the connection is gone (410): its records should be removed.
    Gone,
}

#[derive(Clone)]
pub struct Push {
    client: Client,
}

impl Push {
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: &str) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .build();
        Self {
            client: Client::from_conf(config),
        }
    }

    /// Sends one already-serialized event to one connection.
    pub async fn send(&self, connection_id: &str, payload: Blob) -> Result<Delivery> {
        match self
            .client
            .post_to_connection()
            .connection_id(connection_id)
            .data(payload)
            .send()
            .await
        {
            Ok(_) => Ok(Delivery::Sent),
            Err(SdkError::ServiceError(e)) if e.err().is_gone_exception() => Ok(Delivery::Gone),
            Err(e) => Err(Error::internal(format!(
                "post to connection {connection_id}: {}",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            ))),
        }
    }
}

/// A server -> client event: `{"type": ..., ..., "timestamp": ...}`, serialized once.
pub fn event(kind: &str, mut body: serde_json::Value, timestamp: &str) -> Blob {
    if !body.is_object() {
        body = serde_json::json!({});
    }
    body["type"] = serde_json::json!(kind);
    body["timestamp"] = serde_json::json!(timestamp);
    Blob::new(serde_json::to_vec(&body).expect("a JSON value serializes"))
}

/// The `error` event sent to the one connection whose message was refused.
pub fn error_event(e: &Error, client_id: Option<&str>, timestamp: &str) -> Blob {
    event(
        "error",
        serde_json::json!({ "code": e.code(), "detail": e.detail(), "client_id": client_id }),
        timestamp,
    )
}

/// Tells a community's other connections that a user came online or went offline.
pub async fn announce_presence(
    app: &crate::App,
    conn: &crate::connections::Connection,
    community_id: &str,
    presence: crate::connections::Presence,
) {
    use crate::connections::Presence;
    let kind = match presence {
        Presence::Joined => "user_joined",
        Presence::Left => "user_left",
        Presence::Unchanged => return,
    };
    let Some(push) = &app.push else { return };
    let now = app.clock.now();
    let payload = event(
        kind,
        serde_json::json!({ "community_id": community_id, "user_id": conn.user_id, "name": conn.name }),
        &crate::clock::iso(now),
    );
    let subscribers = match crate::connections::subscribers(&app.db, community_id, now).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(community_id, error = %e, "presence: could not list subscribers");
            return;
        }
    };
    for sub in subscribers
        .iter()
        .filter(|s| s.connection_id != conn.connection_id)
    {
        if let Err(e) = push.send(&sub.connection_id, payload.clone()).await {
            tracing::warn!(connection_id = %sub.connection_id, error = %e, "presence delivery failed");
        }
    }
}
