//! WebSocket messages from clients (`$default`), routed on their `type`. A refused message gets
//! an `error` event on its own connection (with its `client_id`); the connection stays open.

use serde::Deserialize;
use serde_json::Value;
use shared::access::{Access, Action};
use shared::chat::{self, EditInput, SendInput};
use shared::connections::{self, Connection};
use shared::http::parse_json;
use shared::ids::parse_ulid;
use shared::realtime;
use shared::ws::{self, WsEvent, WsResponse};
use shared::{App, Error, Result};

/// A client message, once its `type` is known and its fields parsed.
#[derive(Debug)]
enum ClientMessage {
    ChatMessage(SendInput),
    Typing(TypingInput),
    ReadReceipt(MessageRef),
    EditMessage(EditRequest),
    DeleteMessage(MessageRef),
    Subscribe(CommunityRef),
    Unsubscribe(CommunityRef),
    Ping,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TypingInput {
    community_id: String,
    is_typing: bool,
    #[serde(default)]
    #[allow(dead_code)]
    client_id: Option<String>,
}

/// A message named by id; `community_id`, if given, must be the message's community.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageRef {
    message_id: String,
    #[serde(default)]
    community_id: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    client_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EditRequest {
    message_id: String,
    #[serde(default)]
    community_id: Option<String>,
    message: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    client_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommunityRef {
    community_id: String,
    #[serde(default)]
    #[allow(dead_code)]
    client_id: Option<String>,
}

/// The frame's `client_id` (echoed in errors) and its parsed message.
fn parse(body: &str) -> (Option<String>, Result<ClientMessage>) {
    let mut frame: Value = match serde_json::from_str(body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return (
                None,
                Err(Error::BadRequest("a message must be a JSON object".into())),
            );
        }
        Err(e) => {
            let detail = e.to_string();
            let detail = detail.split(" at line ").next().unwrap_or_default();
            return (
                None,
                Err(Error::BadRequest(format!("malformed JSON: {detail}"))),
            );
        }
    };
    let client_id = frame
        .get("client_id")
        .and_then(Value::as_str)
        .map(|c| c.chars().take(chat::MAX_CLIENT_ID).collect());
    let kind = match frame.as_object_mut().and_then(|o| o.remove("type")) {
        Some(Value::String(kind)) => kind,
        Some(_) => {
            return (
                client_id,
                Err(Error::validation("type", "must be a string")),
            );
        }
        None => return (client_id, Err(Error::validation("type", "is required"))),
    };
    let fields = serde_json::to_vec(&frame).expect("a JSON value serializes");
    let parsed = match kind.as_str() {
        "chat_message" => parse_json(&fields).map(ClientMessage::ChatMessage),
        "typing" => parse_json(&fields).map(ClientMessage::Typing),
        "read_receipt" => parse_json(&fields).map(ClientMessage::ReadReceipt),
        "edit_message" => parse_json(&fields).map(ClientMessage::EditMessage),
        "delete_message" => parse_json(&fields).map(ClientMessage::DeleteMessage),
        "subscribe" => parse_json(&fields).map(ClientMessage::Subscribe),
        "unsubscribe" => parse_json(&fields).map(ClientMessage::Unsubscribe),
        "ping" => Ok(ClientMessage::Ping),
        other => Err(Error::BadRequest(format!(
            "unknown message type {:?}",
            other.chars().take(40).collect::<String>()
        ))),
    };
    (client_id, parsed)
}

pub async fn message(app: App, ev: WsEvent) -> Result<WsResponse> {
    let connection_id = ws::connection_id(&ev)?;
    let Some(push) = app.push.clone() else {
        return Err(Error::internal("WS_MANAGEMENT_ENDPOINT is not configured"));
    };
    let (client_id, parsed) = parse(ev.body.as_deref().unwrap_or_default());
    let outcome = match parsed {
        Ok(msg) => handle(&app, &connection_id, msg, client_id.as_deref()).await,
        Err(e) => Err(e),
    };
    if let Err(e) = outcome {
        if let Error::Internal(cause) = &e {
            tracing::error!(connection_id, error = %cause, "websocket message failed");
        }
        let reply = realtime::error_event(&e, client_id.as_deref(), &app.now_iso());
        push.send(&connection_id, reply).await?;
    }
    ws::ok()
}

/// The connection's record: who is speaking, as their token said at `$connect`.
async fn connection(app: &App, connection_id: &str) -> Result<Connection> {
    connections::get(&app.db, connection_id)
        .await?
        .ok_or_else(|| Error::Unauthorized("connection is not registered; reconnect".into()))
}

async fn reply(app: &App, connection_id: &str, kind: &str, body: Value) -> Result<()> {
    if let Some(push) = &app.push {
        push.send(connection_id, realtime::event(kind, body, &app.now_iso()))
            .await?;
    }
    Ok(())
}

/// Loads the access to a message's community; 404 if `claimed` names another community.
async fn message_access(
    app: &App,
    conn: &Connection,
    message_id: &str,
    claimed: Option<&str>,
) -> Result<(Access, String)> {
    let message_id = parse_ulid("message", message_id)?;
    let community_id = chat::locate(&app.db, &message_id).await?;
    if claimed.is_some_and(|c| c != community_id) {
        return Err(Error::NotFound("message"));
    }
    let access = Access::load(&app.db, &conn.principal(), &community_id, app.clock.now()).await?;
    Ok((access, message_id))
}

async fn handle(
    app: &App,
    connection_id: &str,
    msg: ClientMessage,
    client_id: Option<&str>,
) -> Result<()> {
    if let ClientMessage::Ping = msg {
        return reply(
            app,
            connection_id,
            "pong",
            serde_json::json!({ "client_id": client_id }),
        )
        .await;
    }
    let conn = connection(app, connection_id).await?;
    let now = app.clock.now();
    match msg {
        ClientMessage::Ping => Ok(()),
        ClientMessage::ChatMessage(input) => {
            let new = input.parse()?;
            let access = Access::load(&app.db, &conn.principal(), &new.community_id, now).await?;
            let sent = chat::send(&app.db, &access, new, now).await?;
            if sent.needs_delivery() {
                chat::deliver_sent(app, &access, &sent.message, Some(connection_id)).await;
            } else {
                chat::acknowledge(app, &sent.message, connection_id).await;
            }
            shared::notifications::publish_chat_events(app, &sent.events).await;
            Ok(())
        }
        ClientMessage::Typing(t) => {
            let community_id = parse_ulid("community", &t.community_id)?;
            let access = Access::load(&app.db, &conn.principal(), &community_id, now).await?;
            chat::typing(app, &access, t.is_typing).await?;
            Ok(())
        }
        ClientMessage::ReadReceipt(r) => {
            let (access, message_id) =
                message_access(app, &conn, &r.message_id, r.community_id.as_deref()).await?;
            let receipt = chat::mark_read(&app.db, &access, &message_id, now).await?;
            chat::deliver_receipt(app, &receipt).await;
            Ok(())
        }
        ClientMessage::EditMessage(e) => {
            let text = EditInput { message: e.message }.parse()?;
            let (access, message_id) =
                message_access(app, &conn, &e.message_id, e.community_id.as_deref()).await?;
            let edited = chat::edit(&app.db, &access, &message_id, text, now).await?;
            chat::deliver_edit(app, &access, &edited, Some(connection_id)).await;
            Ok(())
        }
        ClientMessage::DeleteMessage(d) => {
            let (access, message_id) =
                message_access(app, &conn, &d.message_id, d.community_id.as_deref()).await?;
            if let Some(deleted) = chat::delete(&app.db, &access, &message_id, now).await? {
                chat::deliver_delete(app, &access, &deleted, Some(connection_id)).await;
            }
            Ok(())
        }
        ClientMessage::Subscribe(c) => {
            let community_id = parse_ulid("community", &c.community_id)?;
            let access = Access::load(&app.db, &conn.principal(), &community_id, now).await?;
            access.require(Action::Read)?;
            let presence = connections::subscribe(&app.db, &conn, &community_id).await?;
            realtime::announce_presence(app, &conn, &community_id, presence).await;
            let body = serde_json::json!({ "community_id": community_id, "client_id": client_id });
            reply(app, connection_id, "subscribed", body).await
        }
        ClientMessage::Unsubscribe(c) => {
            let community_id = parse_ulid("community", &c.community_id)?;
            let presence = connections::unsubscribe(&app.db, &conn, &community_id).await?;
            realtime::announce_presence(app, &conn, &community_id, presence).await;
            let body = serde_json::json!({ "community_id": community_id, "client_id": client_id });
            reply(app, connection_id, "unsubscribed", body).await
        }
    }
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_message_type_parses() {
        let id = "01JF0C0MMVN1TY000000000000";
        let frames = [
            format!(
                r#"{{"type":"chat_message","community_id":"{id}","message":"hi","message_type":"text","client_id":"c1"}}"#
            ),
            format!(r#"{{"type":"typing","community_id":"{id}","is_typing":true}}"#),
            format!(r#"{{"type":"read_receipt","message_id":"{id}"}}"#),
            format!(r#"{{"type":"edit_message","message_id":"{id}","message":"new"}}"#),
            format!(r#"{{"type":"delete_message","message_id":"{id}"}}"#),
            format!(r#"{{"type":"subscribe","community_id":"{id}"}}"#),
            format!(r#"{{"type":"unsubscribe","community_id":"{id}"}}"#),
            r#"{"type":"ping"}"#.to_string(),
        ];
        for frame in frames {
            let (_, parsed) = parse(&frame);
            assert!(parsed.is_ok(), "{frame}: {parsed:?}");
        }
    }

    #[test]
    fn bad_frames_are_refused_with_the_client_id_kept() {
        let (client_id, parsed) = parse(r#"{"type":"dance","client_id":"c9"}"#);
        assert_eq!(client_id.as_deref(), Some("c9"));
        assert_eq!(parsed.unwrap_err().code(), "bad_request");
        let (_, parsed) = parse("{not json");
        assert_eq!(parsed.unwrap_err().code(), "bad_request");
        let (_, parsed) = parse(r#"{"message":"no type"}"#);
        assert_eq!(parsed.unwrap_err().code(), "validation_failed");
        let (client_id, parsed) = parse(r#"{"type":"typing","client_id":"c2"}"#);
        assert_eq!(client_id.as_deref(), Some("c2"));
        let e = parsed.unwrap_err();
        assert_eq!(e.code(), "validation_failed");
        assert!(e.detail().contains("community_id"), "{}", e.detail());
    }
}

#[cfg(test)]
mod sample_events {
    use super::*;

    /// Every MESSAGE sample event is a valid API Gateway WebSocket event whose body parses.
    #[test]
    fn every_sample_message_event_parses() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/ws");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).expect("events/ws") {
            let path = entry.unwrap().path();
            let ev: WsEvent = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if ev.request_context.event_type.as_deref() != Some("MESSAGE") {
                continue;
            }
            assert!(ev.request_context.connection_id.is_some());
            let (_, parsed) = parse(ev.body.as_deref().unwrap_or_default());
            assert!(parsed.is_ok(), "{}: {parsed:?}", path.display());
            seen += 1;
        }
        assert!(seen >= 8);
    }
}
