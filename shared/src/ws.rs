//! WebSocket API plumbing: the API Gateway WebSocket event, its connection id and query, and
//! responses (a non-2xx answer to `$connect` refuses the connection).

use crate::App;
use crate::error::{Error, Result};
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest,
};
use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};
use std::future::Future;

pub type WsEvent = ApiGatewayWebsocketProxyRequest;
pub type WsResponse = ApiGatewayProxyResponse;

/// Runs a WebSocket route handler as a Lambda function; errors become their HTTP status.
pub async fn serve<F, Fut>(app: App, handler: F) -> std::result::Result<(), lambda_http::Error>
where
    F: Fn(App, WsEvent) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<WsResponse>> + Send,
{
    let handler = &handler;
    let app = &app;
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<WsEvent>| async move {
        app.refresh_keys().await;
        let route = ev.payload.request_context.route_key.clone().unwrap_or_default();
        let connection = ev
            .payload
            .request_context
            .connection_id
            .clone()
            .unwrap_or_default();
        let response = match handler(app.clone(), ev.payload).await {
            Ok(r) => r,
            Err(e) => {
                if let Error::Internal(cause) = &e {
                    tracing::error!(route, connection, error = %cause, "websocket route failed");
                } else {
                    tracing::info!(route, connection, status = e.status(), detail = %e.detail(), "websocket request refused");
                }
                status(e.status(), Some(e.problem().to_string()))
            }
        };
        tracing::info!(route, connection, status = response.status_code, "websocket");
        Ok::<_, std::convert::Infallible>(response)
    }))
    .await
}

pub fn connection_id(ev: &WsEvent) -> Result<String> {
    ev.request_context
        .connection_id
        .clone()
        .ok_or_else(|| Error::BadRequest("event has no connection id".into()))
}

/// A query parameter of the `$connect` request.
pub fn query<'a>(ev: &'a WsEvent, name: &str) -> Option<&'a str> {
    ev.query_string_parameters.first(name)
}

pub fn status(code: u16, body: Option<String>) -> WsResponse {
    let mut response = WsResponse::default();
    response.status_code = i64::from(code);
    response.body = body.map(lambda_http::Body::Text);
    response
}

pub fn ok() -> Result<WsResponse> {
    Ok(status(200, None))
}
