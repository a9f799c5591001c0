//! The [`Pusher`] of API Gateway's Management API: PostToConnection with its own retries of
//! throttling and 5xx, and DeleteConnection to close a connection that missed an event for good.

use super::{Delivery, Pushed, Pusher};
use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::config::retry::RetryConfig;
use aws_sdk_apigatewaymanagement::config::timeout::TimeoutConfig;
use aws_sdk_apigatewaymanagement::error::SdkError;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use futures::future::BoxFuture;
use std::time::Duration;

/// Retries of one PostToConnection that API Gateway throttled (429, LimitExceededException) or
/// failed on its side (5xx), with jittered exponential backoff (at most about 0.3 s in all).
pub const TRANSIENT_RETRIES: u32 = 5;
/// Time allowed for one PostToConnection attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

enum Attempt {
    Sent,
    Gone,
    /// Throttled (429) or an error on API Gateway's side (5xx): worth another attempt.
    Transient(String),
    Failed(String),
}

/// The Management API client and the fan-out bound.
#[derive(Clone)]
pub struct ManagementApi {
    client: Client,
    concurrency: usize,
}

impl ManagementApi {
    /// SDK retries are off: throttling and 5xx are retried here, per connection, with a small
    /// budget, and other failures are counted rather than retried, so that one slow connection
    /// cannot hold up a fan-out.
    /// `concurrency`: PostToConnection calls in flight at once per fan-out (`FANOUT_CONCURRENCY`).
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: &str, concurrency: usize) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .build(),
            )
            .build();
        Self {
            client: Client::from_conf(config),
            concurrency: concurrency.max(1),
        }
    }

    async fn attempt(&self, connection_id: &str, payload: Blob) -> Attempt {
        match self
            .client
            .post_to_connection()
            .connection_id(connection_id)
            .data(payload)
            .send()
            .await
        {
            Ok(_) => Attempt::Sent,
            Err(SdkError::ServiceError(e)) if e.err().is_gone_exception() => Attempt::Gone,
            // Not a gone connection: this function may not post at all (its role lacks
            // execute-api:ManageConnections on this API and stage). A deployment error.
            Err(SdkError::ServiceError(e)) if e.err().is_forbidden_exception() => {
                tracing::error!(
                    connection_id,
                    error = %aws_smithy_types::error::display::DisplayErrorContext(e.err()),
                    "the Management API refused this function (403): its role needs execute-api:ManageConnections on the WebSocket API's stage"
                );
                Attempt::Failed("forbidden (403): missing execute-api:ManageConnections".into())
            }
            Err(SdkError::ServiceError(e))
                if e.err().is_limit_exceeded_exception()
                    || e.raw().status().as_u16() == 429
                    || e.raw().status().is_server_error() =>
            {
                Attempt::Transient(format!("status {}", e.raw().status().as_u16()))
            }
            Err(e) => Attempt::Failed(
                aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
            ),
        }
    }

    /// Posts to one connection, retrying transient failures with backoff.
    async fn post(&self, connection_id: &str, payload: &Blob) -> Pushed {
        let mut retried = 0;
        loop {
            let delivery = match self.attempt(connection_id, payload.clone()).await {
                Attempt::Transient(_) if retried < TRANSIENT_RETRIES as usize => {
                    retried += 1;
                    crate::db::backoff(retried as u32).await;
                    continue;
                }
                Attempt::Sent => Delivery::Delivered,
                Attempt::Gone => Delivery::Gone,
                Attempt::Transient(cause) => Delivery::Failed {
                    cause: format!("{cause}; retries exhausted"),
                    answered: true,
                },
                Attempt::Failed(cause) => Delivery::Failed {
                    cause,
                    answered: false,
                },
            };
            return Pushed { delivery, retried };
        }
    }
}

impl Pusher for ManagementApi {
    fn send<'a>(&'a self, connection_id: &'a str, payload: &'a Blob) -> BoxFuture<'a, Pushed> {
        Box::pin(self.post(connection_id, payload))
    }

    fn close<'a>(&'a self, connection_id: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Err(e) = self
                .client
                .delete_connection()
                .connection_id(connection_id)
                .send()
                .await
            {
                tracing::warn!(connection_id, error = %aws_smithy_types::error::display::DisplayErrorContext(&e), "could not close the connection");
            }
        })
    }

    fn concurrency(&self) -> usize {
        self.concurrency
    }
}
