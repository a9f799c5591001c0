//! Bad input never crashes a parser and never becomes a server error: property tests over the
//! request bodies of every endpoint, pagination cursors, query parameters, ids and mentions.
//!
//! Every refusal must be a client error: 400 (malformed), 413 (too big), 415 (not JSON) or 422
//! (well-formed but breaking a rule). A 500 for any input is a bug.

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_http::Body;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use shared::Error;
use shared::cursor::Cursors;
use shared::db::Item;
use shared::http::{MAX_BODY_BYTES, MAX_PAGE, flag, json_body, page_params, parse_json};
use shared::ids::{parse_external, parse_ulid};
use shared::validate::{MAX_CONTENT, MAX_MESSAGE};
use std::collections::HashMap;

const CLIENT_ERRORS: [u16; 4] = [400, 413, 415, 422];

fn assert_client_error(e: &Error, input: &dyn std::fmt::Debug) {
    assert!(
        CLIENT_ERRORS.contains(&e.status()),
        "{input:?} answered {} ({e:?}), not a client error",
        e.status()
    );
}

// ---------------------------------------------------------------- generators

/// Any JSON value, nested a few levels, with strings that include control characters,
/// escapes, non-BMP characters and lookalikes of valid values.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
        interesting_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Strings near the edges of what the parsers accept.
fn interesting_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(" \t\n ".to_string()),
        Just("01JF6R000000000000000P0ST1".to_string()),
        Just("01jf6r000000000000000p0st1".to_string()),
        Just("7ZZZZZZZZZZZZZZZZZZZZZZZZZ".to_string()),
        Just("80000000000000000000000000".to_string()),
        Just("like".to_string()),
        Just("text".to_string()),
        Just("moderator".to_string()),
        Just("2030-01-02".to_string()),
        Just("2030-02-30".to_string()),
        Just("+275760-09-13T00:00:00Z".to_string()),
        Just("9999-12-31T23:59:59.999999999+14:00".to_string()),
        Just("\u{0}".to_string()),
        Just("\u{feff}\u{200b}".to_string()),
        Just("https://".to_string()),
        Just("@".repeat(50)),
        (0usize..3).prop_map(|n| "x".repeat([200, 201, 4001][n])),
        (0usize..3).prop_map(|n| "é".repeat([1000, 1001, 4000][n])),
        "[A-Za-z0-9_.:-]{0,70}",
        "[0-9A-HJKMNP-TV-Z]{25,27}",
    ]
}

/// The field names of every input type, so objects often hit real fields with wrong values.
const FIELDS: &[&str] = &[
    "title",
    "content",
    "community",
    "community_id",
    "parent",
    "reason",
    "note",
    "reaction_type",
    "description",
    "visibility",
    "banner_image",
    "require_post_approval",
    "name",
    "username",
    "avatar_url",
    "instructor_ids",
    "is_active",
    "expiry_date",
    "message",
    "message_type",
    "reply_to",
    "client_id",
    "role",
    "new_post",
    "new_mention",
];

/// Objects shaped like request bodies: known fields (and sometimes unknown ones) with any values.
fn body_like() -> impl Strategy<Value = Value> {
    let field = prop_oneof![
        9 => prop::sample::select(FIELDS).prop_map(str::to_string),
        1 => any::<String>(),
    ];
    let value = prop_oneof![
        3 => interesting_string().prop_map(Value::String),
        1 => any_json(),
        1 => prop::collection::vec(interesting_string().prop_map(Value::String), 0..4)
            .prop_map(Value::Array),
    ];
    prop::collection::vec((field, value), 0..6)
        .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>()))
}

/// Raw bodies: random bytes, truncated JSON, deep nesting, huge numbers.
fn raw_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        body_like().prop_flat_map(|v| {
            let text = v.to_string();
            let len = text.len();
            (Just(text), 0..=len).prop_map(|(t, cut)| t.as_bytes()[..cut].to_vec())
        }),
        (1usize..400).prop_map(|depth| {
            let mut s = "[".repeat(depth);
            s.push_str(&"]".repeat(depth));
            s.into_bytes()
        }),
        Just(b"{\"title\": 1e999999}".to_vec()),
        Just(b"{\"title\": \"\\ud800\"}".to_vec()),
        Just(b"\xef\xbb\xbf{}".to_vec()),
        Just(b"{\"title\":\"a\",\"title\":\"b\"}".to_vec()),
    ]
}

// ---------------------------------------------------------------- request bodies

/// Parses `bytes` as `T` and runs the input's own checks (the part that needs no database);
/// any refusal must be a client error.
macro_rules! check_body {
    ($bytes:expr, $t:ty) => {
        check_body!($bytes, $t, |_v: $t| Ok::<(), Error>(()))
    };
    ($bytes:expr, $t:ty, $then:expr) => {{
        let bytes: &[u8] = $bytes;
        let outcome = parse_json::<$t>(bytes).and_then($then);
        if let Err(e) = &outcome {
            assert_client_error(e, &(stringify!($t), String::from_utf8_lossy(bytes)));
        }
    }};
}

fn check_every_input(bytes: &[u8]) {
    use shared::chat::{EditInput, SendInput};
    use shared::communities::{CreateCommunity, UpdateCommunity};
    use shared::lms::{CourseInput, EnrollmentInput, UserInput};
    use shared::notifications::settings::{State, apply};
    use shared::posts::moderation::{NoteInput, ReasonInput};
    use shared::posts::reactions::ReactionInput;
    use shared::posts::{NewPost, PostEdit};

    check_body!(bytes, NewPost);
    check_body!(bytes, PostEdit);
    check_body!(bytes, ReasonInput);
    check_body!(bytes, NoteInput);
    check_body!(bytes, ReactionInput, |r: ReactionInput| r
        .reaction_type()
        .map(drop));
    check_body!(bytes, CreateCommunity);
    check_body!(bytes, UpdateCommunity);
    check_body!(bytes, UserInput);
    check_body!(bytes, CourseInput);
    check_body!(bytes, EnrollmentInput);
    check_body!(bytes, serde_json::Value, |v: serde_json::Value| apply(
        &mut State::default(),
        &v
    ));
    check_body!(bytes, EditInput, |e: EditInput| e.parse().map(|text| {
        assert!(!text.is_empty() && text.chars().count() <= MAX_MESSAGE);
        assert_eq!(text.trim(), text);
    }));
    check_body!(bytes, SendInput, |s: SendInput| s.parse().map(|m| {
        assert!(!m.message.is_empty() && m.message.chars().count() <= MAX_MESSAGE);
        assert!(parse_ulid("community", &m.community_id).is_ok());
        assert!(m.client_id.as_ref().is_none_or(|c| c.len() <= 64));
    }));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn when_a_body_has_any_shape_every_input_type_accepts_it_or_answers_a_client_error(
        body in body_like()
    ) {
        check_every_input(body.to_string().as_bytes());
    }

    #[test]
    fn when_a_body_is_any_json_value_every_input_type_accepts_it_or_answers_a_client_error(
        body in any_json()
    ) {
        check_every_input(body.to_string().as_bytes());
    }

    #[test]
    fn when_a_body_is_not_even_json_every_input_type_answers_400_or_422(bytes in raw_body()) {
        check_every_input(&bytes);
    }

    #[test]
    fn when_a_request_has_any_content_type_and_body_json_body_answers_a_client_error(
        content_type in prop::option::of(prop_oneof![
            Just("application/json".to_string()),
            Just("application/json; charset=utf-8".to_string()),
            Just("application/problem+json".to_string()),
            Just("text/plain".to_string()),
            Just("multipart/form-data; boundary=x".to_string()),
            "[ -~]{0,40}",
        ]),
        body in raw_body(),
    ) {
        let mut req = lambda_http::Request::new(Body::Binary(body.clone()));
        if let Some(v) = content_type.as_deref().and_then(|ct| http::HeaderValue::from_str(ct).ok()) {
            req.headers_mut().insert("content-type", v);
        }
        if let Err(e) = json_body::<shared::posts::NewPost>(&req) {
            assert_client_error(&e, &(&content_type, String::from_utf8_lossy(&body)));
        }
    }
}

#[test]
fn when_a_body_is_over_the_limit_it_is_a_413_before_any_parsing() {
    let body = format!("{{\"content\": \"{}\"}}", "x".repeat(MAX_BODY_BYTES));
    let req = lambda_http::Request::new(Body::Text(body));
    let e = json_body::<shared::posts::NewPost>(&req).unwrap_err();
    assert_eq!(e.status(), 413);
    // The largest content a post may have (4 bytes per character) still fits.
    let body = json!({ "community": "01JF6R0000000000000000C0MM", "title": "t",
                       "content": "\u{1F600}".repeat(MAX_CONTENT) })
    .to_string();
    assert!(body.len() <= MAX_BODY_BYTES);
    let mut req = lambda_http::Request::new(Body::Text(body));
    // A body must say it is JSON.
    req.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    assert!(json_body::<shared::posts::NewPost>(&req).is_ok());
}

// ---------------------------------------------------------------- query parameters and ids

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn when_limit_or_flags_are_anything_they_parse_within_bounds_or_answer_400(
        limit in prop_oneof![any::<String>(), "[+-]?[0-9]{0,12}"],
        raw_flag in any::<String>(),
        cursor in any::<String>(),
    ) {
        let q = HashMap::from([
            ("limit".to_string(), limit.clone()),
            ("cursor".to_string(), cursor),
            ("mine".to_string(), raw_flag.clone()),
        ]);
        match page_params(&q) {
            Ok(p) => prop_assert!((1..=MAX_PAGE).contains(&p.limit), "{limit:?}"),
            Err(e) => prop_assert_eq!(e.status(), 400),
        }
        match flag(&q, "mine") {
            Ok(v) => prop_assert!(v.is_some()),
            Err(e) => prop_assert_eq!(e.status(), 400),
        }
    }

    #[test]
    fn when_an_id_is_anything_it_is_canonical_or_a_400(
        raw in prop_oneof![any::<String>(), interesting_string()]
    ) {
        match parse_ulid("post", &raw) {
            Ok(id) => {
                prop_assert_eq!(id.len(), 26);
                prop_assert_eq!(parse_ulid("post", &id).unwrap(), id.clone());
                prop_assert!(id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
            }
            Err(e) => prop_assert_eq!(e.status(), 400),
        }
        match parse_external("user", &raw) {
            Ok(id) => {
                prop_assert!(!id.is_empty() && id.len() <= 64);
                prop_assert!(!id.contains('#') && !id.contains('/'));
            }
            Err(e) => prop_assert_eq!(e.status(), 400),
        }
    }
}

// ---------------------------------------------------------------- cursors

fn cursors() -> Cursors {
    Cursors::new(b"property-test-cursor-secret")
}

/// A LastEvaluatedKey as our queries return them: a few string attributes.
fn last_key() -> impl Strategy<Value = Item> {
    prop::collection::btree_map(
        prop::sample::select(vec!["PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK"]),
        any::<String>(),
        1..5,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(|(k, v)| (k.to_string(), AttributeValue::S(v)))
            .collect()
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    /// Replaces the character at a position with another base64url character.
    Replace(usize, char),
    Insert(usize, char),
    Remove(usize),
    Truncate(usize),
    Append(String),
    /// Flips one bit of the decoded bytes and encodes them again (a well-formed but forged cursor).
    FlipBit(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let b64 = prop::sample::select(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/. "
            .chars()
            .collect::<Vec<_>>(),
    );
    prop_oneof![
        (any::<usize>(), b64.clone()).prop_map(|(i, c)| Mutation::Replace(i, c)),
        (any::<usize>(), b64).prop_map(|(i, c)| Mutation::Insert(i, c)),
        any::<usize>().prop_map(Mutation::Remove),
        any::<usize>().prop_map(Mutation::Truncate),
        "[A-Za-z0-9_-]{1,8}".prop_map(Mutation::Append),
        (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
    ]
}

fn mutate(cursor: &str, m: &Mutation) -> String {
    let mut chars: Vec<char> = cursor.chars().collect();
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
    match m {
        Mutation::Replace(i, c) => {
            let i = at(*i, chars.len());
            chars[i] = *c;
        }
        Mutation::Insert(i, c) => chars.insert(at(*i, chars.len() + 1), *c),
        Mutation::Remove(i) => {
            chars.remove(at(*i, chars.len()));
        }
        Mutation::Truncate(i) => chars.truncate(at(*i, chars.len())),
        Mutation::Append(s) => chars.extend(s.chars()),
        Mutation::FlipBit(i, bit) => {
            let mut bytes = URL_SAFE_NO_PAD
                .decode(cursor)
                .expect("a valid cursor decodes");
            let i = at(*i, bytes.len());
            bytes[i] ^= 1 << bit;
            return URL_SAFE_NO_PAD.encode(bytes);
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn when_a_cursor_is_any_string_decoding_it_answers_400(
        raw in prop_oneof![any::<String>(), "[A-Za-z0-9_-]{0,200}", "[A-Za-z0-9_-]{2040,2060}"]
    ) {
        let e = cursors().decode("posts:1", &raw).unwrap_err();
        prop_assert_eq!(e.status(), 400);
    }

    #[test]
    fn when_a_valid_cursor_is_mutated_it_never_decodes(
        key in last_key(),
        m in mutation(),
    ) {
        let c = cursors();
        let cursor = c.encode("posts:1", &key);
        prop_assert_eq!(c.decode("posts:1", &cursor).unwrap(), key);
        let forged = mutate(&cursor, &m);
        prop_assume!(forged != cursor);
        match c.decode("posts:1", &forged) {
            Ok(item) => prop_assert!(false, "{m:?} turned {cursor} into {forged}, which decoded to {item:?}"),
            Err(e) => prop_assert_eq!(e.status(), 400),
        }
    }

    #[test]
    fn when_a_cursor_is_used_on_another_listing_or_with_another_key_it_answers_400(
        key in last_key(),
        scope in "[a-z]{1,8}:[A-Z0-9]{0,26}",
        other in "[a-z]{1,8}:[A-Z0-9]{0,26}",
    ) {
        prop_assume!(scope != other);
        let cursor = cursors().encode(&scope, &key);
        prop_assert_eq!(cursors().decode(&other, &cursor).unwrap_err().status(), 400);
        let foreign = Cursors::new(b"another-deployment");
        prop_assert_eq!(foreign.decode(&scope, &cursor).unwrap_err().status(), 400);
    }
}

// ---------------------------------------------------------------- mentions

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_.-".contains(c)
}

/// Usernames as the LMS may push them and as a mention can name them.
fn username() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_]([A-Za-z0-9_.-]{0,20}[A-Za-z0-9_])?"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn when_text_is_anything_mentions_are_well_formed_names_found_in_it(
        text in prop_oneof![any::<String>(), "[@a-zA-Z0-9_.\\- \n]{0,200}", interesting_string()]
    ) {
        let found = shared::posts::mentions(&text);
        prop_assert!(found.len() <= 20);
        for (i, name) in found.iter().enumerate() {
            prop_assert!(!name.is_empty());
            prop_assert!(name.chars().all(is_name_char), "{name:?}");
            prop_assert!(!name.ends_with('.') && !name.ends_with('-'), "{name:?}");
            prop_assert!(text.contains(&format!("@{name}")), "{name:?} not in {text:?}");
            prop_assert!(
                !found[..i].iter().any(|f| f.eq_ignore_ascii_case(name)),
                "{name:?} twice"
            );
        }
    }

    #[test]
    fn when_usernames_are_mentioned_in_running_text_each_is_found_once_in_order(
        names in prop::collection::vec(username(), 1..30),
        separators in prop::collection::vec(
            prop::sample::select(vec![" ", ", ", "! ", "\n", " (", "? ", ": "]), 30),
    ) {
        let text: String = names
            .iter()
            .zip(&separators)
            .map(|(n, sep)| format!("@{n}{sep}"))
            .collect();
        let mut expected: Vec<String> = Vec::new();
        for n in &names {
            if expected.len() < 20 && !expected.iter().any(|e| e.eq_ignore_ascii_case(n)) {
                expected.push(n.clone());
            }
        }
        prop_assert_eq!(shared::posts::mentions(&text), expected);
    }

    #[test]
    fn when_an_at_sign_follows_a_name_character_it_is_an_address_not_a_mention(
        local in "[a-z0-9]{1,10}",
        domain in "[a-z]{1,10}\\.[a-z]{2,3}",
    ) {
        let text = format!("write to {local}@{domain}");
        prop_assert!(shared::posts::mentions(&text).is_empty());
    }
}

#[test]
fn a_huge_text_full_of_at_signs_is_scanned_quickly_and_yields_at_most_20_mentions() {
    let text = "@a @b ".repeat(10_000) + &"@".repeat(40_000);
    let started = std::time::Instant::now();
    assert_eq!(shared::posts::mentions(&text), ["a", "b"]);
    let many: String = (0..100).map(|i| format!("@user{i} ")).collect();
    assert_eq!(shared::posts::mentions(&many).len(), 20);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}
