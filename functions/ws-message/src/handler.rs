//! WebSocket messages from clients, routed on their `type`.

use serde::Deserialize;
use shared::ws::{self, WsEvent, WsResponse};
use shared::{App, Error, Result};

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    Ping {
        #[serde(default)]
        client_id: Option<String>,
    },
}

pub async fn message(app: App, ev: WsEvent) -> Result<WsResponse> {
    let connection_id = ws::connection_id(&ev)?;
    let body = ev.body.as_deref().unwrap_or_default();
    let reply = match shared::http::parse_json::<ClientMessage>(body.as_bytes()) {
        Ok(ClientMessage::Ping { client_id }) => shared::realtime::event(
            "pong",
            serde_json::json!({ "client_id": client_id }),
            &app.now_iso(),
        ),
        Err(e) => shared::realtime::error_event(&e, None, &app.now_iso()),
    };
    if let Some(push) = &app.push {
        push.send(&connection_id, reply).await?;
    } else {
        return Err(Error::internal("WS_MANAGEMENT_ENDPOINT is not configured"));
    }
    ws::ok()
}
