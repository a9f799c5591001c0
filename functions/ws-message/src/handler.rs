//! WebSocket messages from clients (`$default`), routed on their `type`. A refused message gets
//! an `error` event on its own connection (with its `client_id`); the connection stays open.

use serde::Deserialize;
use serde_json::Value;
use shared::chat::use_cases::{self as chat, MessageAt};
use shared::chat::{EditInput, SendInput};
use shared::connections;
use shared::conversations::use_cases as dm;
use shared::http::parse_json;
use shared::ids::parse_ulid;
use shared::realtime;
use shared::ws::{self, WsEvent, WsResponse};
use shared::{App, Error, Result};

/// A client message, once its `type` is known and its fields parsed.
#[derive(Debug)]
enum ClientMessage {
    /// Its fields are judged after the sender's right to chat (SPEC §8).
    ChatMessage(Result<SendInput>),
    DmMessage(DmInput),
    Typing(TypingInput),
    ReadReceipt(MessageRef),
    EditMessage(EditRequest),
    DeleteMessage(MessageRef),
    Subscribe(CommunityRef),
    Unsubscribe(CommunityRef),
    Ping,
}

/// A direct message: its conversation and the send of the REST body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DmInput {
    conversation_id: String,
    message: Option<String>,
    message_type: Option<shared::chat::MessageType>,
    client_id: Option<String>,
    attachment_id: Option<String>,
}

/// Typing in a community (`community_id`) or a conversation (`conversation_id`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TypingInput {
    /// May be omitted on a connection subscribed to exactly one community.
    #[serde(default)]
    community_id: Option<String>,
    #[serde(default)]
    conversation_id: Option<String>,
    is_typing: bool,
    #[serde(default)]
    #[allow(dead_code)]
    client_id: Option<String>,
}

/// A message named by id; `community_id`, if given, must be the message's community; with
/// `conversation_id`, a direct message of that conversation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageRef {
    message_id: String,
    #[serde(default)]
    community_id: Option<String>,
    #[serde(default)]
    conversation_id: Option<String>,
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

/// A frame's top-level object, refused if a key appears twice (a plain `Value` keeps the last
/// one, so `{"type":"ping","type":"chat_message"}` would be a chat message): frames are parsed
/// as strictly as HTTP bodies, whose typed parsing refuses duplicate fields.
struct StrictObject(serde_json::Map<String, Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = StrictObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<StrictObject, A::Error> {
                let mut out = serde_json::Map::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    if out.contains_key(&key) {
                        return Err(serde::de::Error::custom(format!(
                            "duplicate field `{}`",
                            key.chars().take(40).collect::<String>()
                        )));
                    }
                    out.insert(key, value);
                }
                Ok(StrictObject(out))
            }
        }
        d.deserialize_map(Keys)
    }
}

/// A `ping` carries nothing but its optional `client_id`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PingInput {
    #[serde(default)]
    #[allow(dead_code)]
    client_id: Option<String>,
}

/// The frame's `client_id` (echoed in errors, only once valid) and its parsed message.
fn parse(body: &str) -> (Option<String>, Result<ClientMessage>) {
    let frame: Value = match serde_json::from_str(body) {
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
    drop(frame);
    let mut frame = match serde_json::from_str::<StrictObject>(body) {
        Ok(StrictObject(map)) => Value::Object(map),
        Err(e) => {
            let detail = e.to_string();
            let detail = detail.split(" at line ").next().unwrap_or_default();
            return (None, Err(Error::validation("body", detail)));
        }
    };
    // Every frame type takes a `client_id`, and every one is checked by the one rule.
    let client_id = match frame.get("client_id") {
        None => None,
        Some(Value::String(raw)) => match shared::chat::parse_client_id(raw) {
            Ok(c) => Some(c),
            Err(e) => return (None, Err(Error::Validation(vec![e]))),
        },
        Some(_) => {
            return (
                None,
                Err(Error::validation("client_id", "must be a string")),
            );
        }
    };
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
        "chat_message" => Ok(ClientMessage::ChatMessage(parse_json(&fields))),
        "dm_message" => parse_json(&fields).map(ClientMessage::DmMessage),
        "typing" => parse_json(&fields).map(ClientMessage::Typing),
        "read_receipt" => parse_json(&fields).map(ClientMessage::ReadReceipt),
        "edit_message" => parse_json(&fields).map(ClientMessage::EditMessage),
        "delete_message" => parse_json(&fields).map(ClientMessage::DeleteMessage),
        "subscribe" => parse_json(&fields).map(ClientMessage::Subscribe),
        "unsubscribe" => parse_json(&fields).map(ClientMessage::Unsubscribe),
        "ping" => parse_json::<PingInput>(&fields).map(|_| ClientMessage::Ping),
        other => Err(Error::BadRequest(format!(
            "unknown message type {:?}",
            other.chars().take(40).collect::<String>()
        ))),
    };
    (client_id, parsed)
}

pub async fn message(app: App, ev: WsEvent) -> Result<WsResponse> {
    let connection_id = ws::connection_id(&ev)?;
    let (client_id, parsed) = parse(ev.body.as_deref().unwrap_or_default());
    let outcome = match parsed {
        Ok(msg) => handle(&app, &connection_id, msg, client_id.as_deref()).await,
        Err(e) => Err(e),
    };
    if let Err(e) = outcome {
        if let Error::Internal(cause) = &e {
            tracing::error!(connection_id, error = %cause, "websocket message failed");
        }
        let frame = realtime::error_event(&e, client_id.as_deref(), &app.now_iso());
        realtime::reply(app.push.as_ref(), &connection_id, &frame).await?;
    }
    ws::ok()
}

/// The community a frame without `community_id` means: the connection's, when it is subscribed
/// to exactly one (a client of the seed system opens one connection per community).
fn only_community(conn: &shared::connections::Connection) -> Option<&str> {
    match conn.communities.as_slice() {
        [one] => Some(one.as_str()),
        _ => None,
    }
}

/// Calls the one use case of the message, as the connection's user.
async fn handle(
    app: &App,
    connection_id: &str,
    msg: ClientMessage,
    client_id: Option<&str>,
) -> Result<()> {
    let (db, pusher, now) = (&app.db, app.push.as_ref(), app.clock.now());
    if let ClientMessage::Ping = msg {
        let pong = serde_json::json!({ "client_id": client_id });
        let payload = realtime::event("pong", pong, &app.now_iso());
        return realtime::reply(pusher, connection_id, &payload).await;
    }
    let conn = connections::use_cases::identify(db, connection_id).await?;
    let caller = conn.principal();
    match msg {
        ClientMessage::Ping => Ok(()),
        ClientMessage::ChatMessage(input) => {
            let ids = app.ids.as_ref();
            let only = only_community(&conn);
            chat::send_input(
                db,
                pusher,
                &app.files,
                ids,
                now,
                &caller,
                input,
                only,
                Some(connection_id),
            )
            .await?;
            Ok(())
        }
        ClientMessage::DmMessage(d) => {
            let conversation_id = parse_ulid("conversation", &d.conversation_id)?;
            let new = shared::conversations::SendInput {
                message: d.message,
                message_type: d.message_type,
                client_id: d.client_id,
                attachment_id: d.attachment_id,
            }
            .parse();
            let (ids, files) = (app.ids.as_ref(), &app.files);
            let origin = Some(connection_id);
            dm::send(
                db,
                pusher,
                files,
                ids,
                now,
                &caller,
                &conversation_id,
                new,
                origin,
            )
            .await?;
            Ok(())
        }
        ClientMessage::Typing(t) => match (t.conversation_id, t.community_id) {
            (Some(_), Some(_)) => Err(Error::validation(
                "conversation_id",
                "name a community or a conversation, not both",
            )),
            (Some(conversation_id), None) => {
                let conversation_id = parse_ulid("conversation", &conversation_id)?;
                dm::typing(db, pusher, now, &caller, &conversation_id, t.is_typing).await?;
                Ok(())
            }
            (None, community_id) => {
                let community_id = match (community_id.as_deref(), only_community(&conn)) {
                    (Some(c), _) => parse_ulid("community", c)?,
                    (None, Some(c)) => c.to_string(),
                    (None, None) => return Err(Error::validation("community_id", "is required")),
                };
                chat::typing(db, pusher, now, &caller, &community_id, t.is_typing).await?;
                Ok(())
            }
        },
        ClientMessage::ReadReceipt(MessageRef {
            message_id,
            conversation_id: Some(conversation_id),
            community_id: None,
            ..
        }) => {
            let conversation_id = parse_ulid("conversation", &conversation_id)?;
            let message_id = parse_ulid("message", &message_id)?;
            dm::mark_read(db, pusher, now, &caller, &conversation_id, &message_id).await?;
            Ok(())
        }
        ClientMessage::ReadReceipt(MessageRef {
            conversation_id: Some(_),
            ..
        }) => Err(Error::validation(
            "conversation_id",
            "name a community or a conversation, not both",
        )),
        ClientMessage::ReadReceipt(r) => {
            let at = MessageAt::parse(&r.message_id, r.community_id.as_deref())?;
            chat::mark_read(db, pusher, now, &caller, &at, false).await?;
            Ok(())
        }
        ClientMessage::EditMessage(e) => {
            let text = EditInput { message: e.message }.parse();
            let at = MessageAt::parse(&e.message_id, e.community_id.as_deref())?;
            chat::edit(db, pusher, now, &caller, &at, text, Some(connection_id)).await?;
            Ok(())
        }
        ClientMessage::DeleteMessage(d) => {
            let at = MessageAt::parse(&d.message_id, d.community_id.as_deref())?;
            chat::delete(db, pusher, now, &caller, &at, Some(connection_id)).await?;
            Ok(())
        }
        ClientMessage::Subscribe(c) => {
            let community_id = parse_ulid("community", &c.community_id)?;
            connections::use_cases::subscribe(db, pusher, now, &conn, &community_id, client_id)
                .await
        }
        ClientMessage::Unsubscribe(c) => {
            let community_id = parse_ulid("community", &c.community_id)?;
            connections::use_cases::unsubscribe(db, pusher, now, &conn, &community_id, client_id)
                .await
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
            format!(
                r#"{{"type":"dm_message","conversation_id":"{id}","message":"hi","message_type":"text","client_id":"c1"}}"#
            ),
            format!(r#"{{"type":"typing","conversation_id":"{id}","is_typing":false}}"#),
            format!(r#"{{"type":"read_receipt","conversation_id":"{id}","message_id":"{id}"}}"#),
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
    fn duplicate_keys_unknown_fields_and_bad_client_ids_are_refused_on_every_frame() {
        let id = "01JF0C0MMVN1TY000000000000";
        let dup = format!(
            r#"{{"type":"ping","type":"chat_message","community_id":"{id}","message":"hi"}}"#
        );
        let (_, parsed) = parse(&dup);
        let e = parsed.unwrap_err();
        assert_eq!(e.code(), "validation_failed");
        assert!(
            e.detail().contains("duplicate field `type`"),
            "{}",
            e.detail()
        );
        let (_, parsed) = parse(r#"{"type":"ping","client_id":"a","client_id":"b"}"#);
        assert_eq!(parsed.unwrap_err().code(), "validation_failed");
        let (_, parsed) = parse(r#"{"type":"ping","extra":1}"#);
        let e = parsed.unwrap_err();
        assert_eq!(e.code(), "validation_failed");
        assert!(e.detail().contains("extra"), "{}", e.detail());
        let long = "x".repeat(65);
        for frame in [
            r#"{"type":"ping","client_id":"has space"}"#.to_string(),
            format!(r#"{{"type":"ping","client_id":"{long}"}}"#),
            r#"{"type":"ping","client_id":""}"#.to_string(),
            r#"{"type":"ping","client_id":7}"#.to_string(),
            format!(
                r#"{{"type":"typing","community_id":"{id}","is_typing":true,"client_id":"<b>"}}"#
            ),
            format!(r#"{{"type":"unsubscribe","community_id":"{id}","client_id":"a/b"}}"#),
        ] {
            let (client_id, parsed) = parse(&frame);
            assert_eq!(
                client_id, None,
                "{frame}: an invalid client_id is not echoed"
            );
            let e = parsed.unwrap_err();
            assert_eq!(e.code(), "validation_failed", "{frame}");
            assert!(e.detail().contains("client_id"), "{frame}: {}", e.detail());
        }
        let (client_id, parsed) = parse(r#"{"type":"ping","client_id":"ok-1.a:b_c"}"#);
        assert_eq!(client_id.as_deref(), Some("ok-1.a:b_c"));
        assert!(parsed.is_ok());
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
        assert!(e.detail().contains("is_typing"), "{}", e.detail());
        let (_, parsed) = parse(r#"{"type":"dm_message","message":"hi"}"#);
        let e = parsed.unwrap_err();
        assert_eq!(e.code(), "validation_failed");
        assert!(e.detail().contains("conversation_id"), "{}", e.detail());
        // A chat message's fields are judged once the sender may chat: parsing defers them.
        let (_, parsed) = parse(r#"{"type":"chat_message","message":7}"#);
        assert!(matches!(parsed, Ok(ClientMessage::ChatMessage(Err(_)))));
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
