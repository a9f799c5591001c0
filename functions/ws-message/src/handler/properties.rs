//! Property tests of the client-message parser: whatever a client sends, the parser neither
//! panics nor answers anything but a client error, and the echoed `client_id` stays bounded.

use super::{ClientMessage, parse};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const TYPES: &[&str] = &[
    "chat_message",
    "typing",
    "read_receipt",
    "edit_message",
    "delete_message",
    "subscribe",
    "unsubscribe",
    "ping",
];

const FIELDS: &[&str] = &[
    "type",
    "community_id",
    "community",
    "message",
    "message_type",
    "message_id",
    "reply_to",
    "client_id",
    "is_typing",
];

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<String>().prop_map(Value::String),
        "[0-9A-HJKMNP-TV-Z]{26}".prop_map(Value::String),
        prop::sample::select(TYPES).prop_map(|t| json!(t)),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Frames shaped like client messages: a known `type` (mostly) and known fields with any values.
fn frame() -> impl Strategy<Value = Value> {
    let kind = prop_oneof![
        8 => prop::sample::select(TYPES).prop_map(|t| json!(t)),
        1 => any_json(),
    ];
    let field = prop_oneof![
        9 => prop::sample::select(FIELDS).prop_map(str::to_string),
        1 => any::<String>(),
    ];
    (
        kind,
        prop::collection::vec((field, any_json()), 0..6),
        any::<bool>(),
    )
        .prop_map(|(kind, fields, typed)| {
            let mut m: Map<String, Value> = fields.into_iter().collect();
            if typed {
                m.insert("type".into(), kind);
            }
            Value::Object(m)
        })
}

fn check(body: &str) {
    let (client_id, parsed) = parse(body);
    assert!(client_id.as_ref().is_none_or(|c| c.chars().count() <= 64));
    let parsed = match parsed {
        Ok(ClientMessage::ChatMessage(deferred)) => deferred.map(drop),
        other => other.map(drop),
    };
    if let Err(e) = parsed {
        assert!(
            matches!(e.status(), 400 | 422),
            "{body:?} answered {} ({e:?})",
            e.status()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn when_a_frame_is_any_text_the_parser_answers_a_message_or_a_client_error(
        body in prop_oneof![any::<String>(), "[{}\\[\\]\":,a-z0-9 ]{0,60}"]
    ) {
        check(&body);
    }

    #[test]
    fn when_a_frame_is_any_json_value_the_parser_answers_a_message_or_a_client_error(
        body in any_json()
    ) {
        check(&body.to_string());
    }

    #[test]
    fn when_a_frame_has_any_fields_the_parser_answers_a_message_or_a_client_error(
        body in frame()
    ) {
        check(&body.to_string());
    }

    #[test]
    fn when_a_frame_is_cut_short_it_answers_a_client_error_and_never_panics(body in frame(), cut in any::<usize>()) {
        let text = body.to_string();
        let at = cut % (text.len() + 1);
        if let Some(prefix) = text.get(..at) {
            check(prefix);
        }
    }

    #[test]
    fn when_a_frame_names_an_unknown_field_it_is_refused_with_422(
        kind in prop::sample::select(TYPES),
        extra in "[a-z]{1,12}".prop_filter("unknown", |f| !FIELDS.contains(&f.as_str())),
    ) {
        let body = json!({ "type": kind, extra: 1 }).to_string();
        let (_, parsed) = parse(&body);
        // A chat message's fields are judged after the sender's right to chat: deferred.
        let status = match parsed {
            Ok(ClientMessage::ChatMessage(deferred)) => deferred.unwrap_err().status(),
            other => other.unwrap_err().status(),
        };
        prop_assert_eq!(status, 422);
    }

    #[test]
    fn when_a_client_id_breaks_the_rule_it_is_refused_on_every_frame_and_never_echoed(
        kind in prop::sample::select(TYPES),
        client_id in "\\PC{65,300}|.*[^A-Za-z0-9_.:-].*|",
    ) {
        let body = json!({ "type": kind, "client_id": client_id }).to_string();
        let (echoed, parsed) = parse(&body);
        prop_assert_eq!(echoed, None);
        prop_assert_eq!(parsed.unwrap_err().status(), 422);
    }

    #[test]
    fn when_a_frame_repeats_a_key_it_is_refused_with_422(
        kind in prop::sample::select(TYPES),
        key in prop::sample::select(FIELDS),
    ) {
        let body = format!(r#"{{"type":"{kind}","{key}":"01JF0C0MMVN1TY000000000000","{key}":"x"}}"#);
        let (_, parsed) = parse(&body);
        prop_assert_eq!(parsed.unwrap_err().status(), 422);
    }
}
