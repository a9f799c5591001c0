//! What a push says: a small JSON object built from a notification as
//! `notifications::shown::sendable` rendered it for its recipient (so an anonymous author stays
//! "Anonymous" and nothing of a deleted post or a lost community is in it), with the web app's
//! route of its object.

use crate::model::notification::Notification;
use serde::Serialize;
use serde_json::json;

/// Longest message text a push carries (a push service takes about 4 KB of payload).
const MAX_MESSAGE_CHARS: usize = 1000;

/// The payload of one push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Payload {
    /// Always `notification`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    pub notification_type: String,
    pub title: String,
    pub message: String,
    /// The web app's route of the notification's object (`#/c/{community}/post/{root}`).
    pub link: String,
}

/// The web app's hash route of a notification's object.
pub fn route_of(n: &Notification) -> String {
    match n.target.kind.as_str() {
        "post" => format!(
            "#/c/{}/post/{}",
            n.community_id,
            n.target.root_id.as_deref().unwrap_or(&n.target.id)
        ),
        "message" => format!("#/c/{}/chat", n.community_id),
        "community" => format!("#/c/{}", n.community_id),
        _ => "#/notifications".to_string(),
    }
}

impl Payload {
    /// The payload of a notification as rendered for its recipient.
    pub fn of(n: &Notification) -> Self {
        Self {
            kind: "notification",
            id: n.id.clone(),
            notification_type: n.notification_type.as_str().to_string(),
            title: n.title.clone(),
            message: n.message.chars().take(MAX_MESSAGE_CHARS).collect(),
            link: route_of(n),
        }
    }

    /// The plaintext of a Web Push message (encrypted by the sender).
    pub fn web_body(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The `Message` of an SNS `Publish` with `MessageStructure: json`: one text per platform
    /// (APNs' `aps` alert, FCM's notification with string data), and `default` for the rest.
    pub fn sns_message(&self) -> String {
        let data = json!({
            "type": self.kind,
            "id": self.id,
            "notification_type": self.notification_type,
            "link": self.link,
        });
        let apns = json!({
            "aps": { "alert": { "title": self.title, "body": self.message }, "sound": "default" },
            "data": data,
        })
        .to_string();
        let fcm = json!({
            "notification": { "title": self.title, "body": self.message },
            "data": data,
        })
        .to_string();
        json!({
            "default": format!("{}: {}", self.title, self.message),
            "APNS": apns,
            "APNS_SANDBOX": apns,
            "GCM": fcm,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn notification(target: Value) -> Notification {
        serde_json::from_value(json!({
            "id": "01JF6R0000000000000000N0T1", "recipient_id": "u", "notification_type": "new_reply",
            "title": "New reply", "message": "Anonymous replied in \"Lab 3\": try this",
            "actor": { "id": null, "name": "Anonymous" },
            "community_id": "C1", "target": target,
            "is_read": false, "created_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap()
    }

    #[test]
    fn a_reply_links_to_its_thread_and_carries_only_the_rendered_texts() {
        let n = notification(
            json!({ "type": "post", "id": "P2", "root_id": "P1", "link": "/api/community/posts/P2/" }),
        );
        let p = Payload::of(&n);
        let body: Value = serde_json::from_slice(&p.web_body()).unwrap();
        assert_eq!(
            body,
            json!({ "type": "notification", "id": "01JF6R0000000000000000N0T1",
                    "notification_type": "new_reply", "title": "New reply",
                    "message": "Anonymous replied in \"Lab 3\": try this", "link": "#/c/C1/post/P1" })
        );
        // No actor, recipient or community fields: only what the rendering let through.
        assert!(body.get("actor").is_none() && body.get("recipient_id").is_none());
    }

    #[test]
    fn routes_follow_the_object() {
        let top = notification(json!({ "type": "post", "id": "P1", "link": "x" }));
        assert_eq!(route_of(&top), "#/c/C1/post/P1");
        let chat = notification(json!({ "type": "message", "id": "M1", "link": "x" }));
        assert_eq!(route_of(&chat), "#/c/C1/chat");
        let dm = notification(
            json!({ "type": "direct_message", "id": "M1", "conversation_id": "D1", "link": "x" }),
        );
        assert_eq!(route_of(&dm), "#/notifications");
    }

    #[test]
    fn the_sns_message_has_a_text_per_platform() {
        let n = notification(json!({ "type": "post", "id": "P2", "root_id": "P1", "link": "x" }));
        let m: Value = serde_json::from_str(&Payload::of(&n).sns_message()).unwrap();
        let apns: Value = serde_json::from_str(m["APNS"].as_str().unwrap()).unwrap();
        assert_eq!(apns["aps"]["alert"]["title"], "New reply");
        assert_eq!(apns["data"]["link"], "#/c/C1/post/P1");
        let fcm: Value = serde_json::from_str(m["GCM"].as_str().unwrap()).unwrap();
        assert_eq!(
            fcm["notification"]["body"],
            "Anonymous replied in \"Lab 3\": try this"
        );
        // FCM data values are strings.
        assert!(
            fcm["data"]
                .as_object()
                .unwrap()
                .values()
                .all(Value::is_string)
        );
        assert!(m["default"].as_str().unwrap().starts_with("New reply"));
    }

    #[test]
    fn a_long_message_is_cut_to_fit_a_push() {
        let mut n = notification(json!({ "type": "post", "id": "P1", "link": "x" }));
        n.message = "é".repeat(5000);
        let p = Payload::of(&n);
        assert_eq!(p.message.chars().count(), MAX_MESSAGE_CHARS);
        assert!(p.web_body().len() < 3000);
    }
}
