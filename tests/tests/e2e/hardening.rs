//! The hardening rules, end to end: one ULID rule (out-of-range ids are 400, never an alias),
//! hidden objects answer like missing ones, WebSocket frames parsed strictly, notifications that
//! show the live object (deleted, edited, no longer readable), token lifetimes, text rules.

use e2e::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const API: &str = "/api/community";

async fn new_post(api: &Api, community: &str, title: &str, content: &str) -> Value {
    let r = api
        .post(
            &format!("{API}/posts/"),
            json!({ "community": community, "title": title, "content": content }),
        )
        .await;
    assert_eq!(r.status, 201, "post {title}: {r:?}");
    r.body
}

async fn new_message(api: &Api, community: &str, text: &str) -> Value {
    let r = api
        .post(
            &format!("{API}/messages/"),
            json!({ "community": community, "message": text }),
        )
        .await;
    assert_eq!(r.status, 201, "message {text}: {r:?}");
    r.body
}

fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}

/// The same id with its first character replaced: `81M8…` for `01M8…`, out of the 128-bit range.
fn out_of_range(id: &str, first: char) -> String {
    format!("{first}{}", &id[1..])
}

#[tokio::test]
async fn out_of_range_ulids_are_400_and_never_alias_a_real_id() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let member = stack.member(&course).await;
    let api = stack.api(&member);
    let post = id_of(&new_post(&api, &course.community_id, "Aliased?", "body").await);
    let message = id_of(&new_message(&api, &course.community_id, "aliased?").await);
    assert_eq!(api.get(&format!("{API}/posts/{post}/")).await.status, 200);
    for first in ['8', 'Z', 'z'] {
        for path in [
            format!("{API}/posts/{}/", out_of_range(&post, first)),
            format!("{API}/messages/{}/", out_of_range(&message, first)),
            format!(
                "{API}/groups/{}/",
                out_of_range(&course.community_id, first)
            ),
            format!(
                "{API}/groups/{}/posts/",
                out_of_range(&course.community_id, first)
            ),
            format!(
                "{API}/groups/{}/messages/",
                out_of_range(&course.community_id, first)
            ),
            format!("{API}/notifications/{}/", out_of_range(&post, first)),
        ] {
            let r = api.get(&path).await;
            assert_eq!(r.status, 400, "{path}: {r:?}");
            assert_eq!(r.body["code"], "bad_request", "{path}");
        }
    }
    // In a body too: a reply to `81M8…` is refused as invalid, not stored under `01M8…`.
    let r = api
        .post(
            &format!("{API}/posts/"),
            json!({ "community": course.community_id, "parent": out_of_range(&post, '8'), "content": "x" }),
        )
        .await;
    assert_eq!(r.status, 422, "{r:?}");
    let r = api
        .post(
            &format!("{API}/messages/"),
            json!({ "community": course.community_id, "message": "x", "reply_to": out_of_range(&message, '8') }),
        )
        .await;
    assert_eq!(r.status, 422, "{r:?}");
    let r = api
        .get(&format!(
            "{API}/groups/{}/messages/?after={}",
            course.community_id,
            out_of_range(&message, 'Z')
        ))
        .await;
    assert_eq!(r.status, 400, "{r:?}");
}

// ---------------------------------------------------------------- notifications show the live object

/// Time allowed for a job to travel the stream and the notifier.
const ARRIVAL: Duration = Duration::from_secs(20);

async fn notifications(api: &Api) -> Vec<Value> {
    let r = api.get(&format!("{API}/notifications/?limit=100")).await;
    assert_eq!(r.status, 200, "{r:?}");
    r.body["results"].as_array().expect("results").clone()
}

async fn wait_for(api: &Api, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + ARRIVAL;
    loop {
        let got = notifications(api).await;
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} notifications: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn about<'a>(list: &'a [Value], target: &str) -> &'a Value {
    list.iter()
        .find(|n| n["target"]["id"] == target)
        .unwrap_or_else(|| panic!("no notification about {target}: {list:?}"))
}

/// Everything a notification shows, as one string, to look for a text in any field.
fn shown(n: &Value) -> String {
    n.to_string()
}

#[tokio::test]
async fn notifications_show_the_live_object_never_a_deleted_or_old_text() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let author = stack.member(&course).await;
    let reader = stack.member(&course).await;
    let (a, b) = (stack.api(&author), stack.api(&reader));
    let instructor = stack.api(&course.instructor);
    let c = &course.community_id;
    let post = id_of(
        &new_post(
            &a,
            c,
            "Secret plan for the exam",
            &format!("hello @{}", reader.username),
        )
        .await,
    );
    let message = id_of(&new_message(&a, c, &format!("@{} secret words", reader.username)).await);
    let edited = id_of(&new_message(&a, c, &format!("@{} first draft", reader.username)).await);
    let list = wait_for(&b, 3).await;
    assert!(
        shown(about(&list, &post)).contains("Secret plan"),
        "{list:?}"
    );
    assert!(shown(about(&list, &message)).contains("secret words"));
    assert!(shown(about(&list, &edited)).contains("first draft"));
    let staff = wait_for(&instructor, 1).await;
    assert!(
        shown(about(&staff, &post)).contains("Secret plan"),
        "{staff:?}"
    );

    // Edit one message, delete the other and the post.
    let r = a
        .patch(
            &format!("{API}/messages/{edited}/"),
            json!({ "message": format!("@{} final words", reader.username) }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        a.delete(&format!("{API}/messages/{message}/")).await.status,
        204
    );
    assert_eq!(a.delete(&format!("{API}/posts/{post}/")).await.status, 204);

    let list = notifications(&b).await;
    assert_eq!(list.len(), 3, "nothing disappears: {list:?}");
    let n = about(&list, &post);
    assert_eq!(n["title"], "This post was deleted", "{n}");
    assert_eq!(n["message"], "");
    assert!(!shown(n).contains("Secret plan"), "{n}");
    let n = about(&list, &message);
    assert_eq!(n["title"], "This message was deleted", "{n}");
    assert!(!shown(n).contains("secret words"), "{n}");
    let n = about(&list, &edited);
    assert!(shown(n).contains("final words"), "{n}");
    assert!(!shown(n).contains("first draft"), "{n}");
    // One notification answers the same as the list, and so does marking it read.
    let id = about(&list, &post)["id"].as_str().unwrap().to_string();
    let one = b.get(&format!("{API}/notifications/{id}/")).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["title"], "This post was deleted");
    let marked = b
        .post(
            &format!("{API}/notifications/{id}/mark-as-read/"),
            json!({}),
        )
        .await;
    assert_eq!(marked.status, 200);
    assert_eq!(marked.body["title"], "This post was deleted");
    assert!(!shown(&marked.body).contains("Secret plan"));
    let staff = notifications(&instructor).await;
    let n = about(&staff, &post);
    assert_eq!(n["title"], "This post was deleted", "{n}");
    assert!(!shown(n).contains("Secret plan"), "{n}");
}

#[tokio::test]
async fn a_reader_who_lost_the_community_sees_no_text_of_it() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let author = stack.member(&course).await;
    let reader = stack.member(&course).await;
    let (a, b) = (stack.api(&author), stack.api(&reader));
    let c = &course.community_id;
    let message = id_of(&new_message(&a, c, &format!("@{} course gossip", reader.username)).await);
    let list = wait_for(&b, 1).await;
    assert!(shown(about(&list, &message)).contains("course gossip"));
    let unread = b.get(&format!("{API}/notifications/unread-count/")).await;
    assert_eq!(unread.body["unread_count"], 1);

    stack
        .enroll(&course, &reader, Some("2020-01-01T00:00:00Z"))
        .await;
    let list = notifications(&b).await;
    let n = about(&list, &message);
    assert_eq!(
        n["title"], "You no longer have access to this community",
        "{n}"
    );
    assert_eq!(n["message"], "");
    assert!(n["actor"].is_null(), "{n}");
    for hidden in ["course gossip", &author.name, "Course "] {
        assert!(!shown(n).contains(hidden), "{hidden:?} in {n}");
    }
    // It still counts and can be marked read.
    let id = n["id"].as_str().unwrap();
    let r = b
        .post(
            &format!("{API}/notifications/{id}/mark-as-read/"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(!shown(&r.body).contains("course gossip"));
    let unread = b.get(&format!("{API}/notifications/unread-count/")).await;
    assert_eq!(unread.body["unread_count"], 0);
}

// ---------------------------------------------------------------- strict WebSocket frames

#[tokio::test]
async fn websocket_frames_refuse_duplicate_keys_unknown_fields_and_bad_client_ids() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let sender = stack.member(&course).await;
    let listener = stack.member(&course).await;
    let c = course.community_id.clone();
    let mut ws = stack.ws(&sender, Some(&c)).await.expect("connects");
    let mut other = stack.ws(&listener, Some(&c)).await.expect("connects");
    // Two `type` keys: refused, not processed as the last one.
    ws.send_text(&format!(
        r#"{{"type":"ping","type":"chat_message","community_id":"{c}","message":"smuggled","client_id":"d1"}}"#
    ))
    .await;
    let err = ws.next_of_type("error").await;
    assert_eq!(err["code"], "validation_failed", "{err}");
    assert!(
        err["detail"].to_string().contains("duplicate field `type`"),
        "{err}"
    );
    // Unknown fields on a ping.
    ws.send(json!({ "type": "ping", "extra": true, "client_id": "p1" }))
        .await;
    let err = ws.next_of_type("error").await;
    assert_eq!(err["code"], "validation_failed", "{err}");
    // A client_id outside the rule on every frame type, and never echoed.
    let bad = "x".repeat(65);
    for frame in [
        json!({ "type": "ping", "client_id": bad }),
        json!({ "type": "ping", "client_id": "<script>" }),
        json!({ "type": "typing", "community_id": c, "is_typing": true, "client_id": "a b" }),
        json!({ "type": "unsubscribe", "community_id": c, "client_id": "" }),
        json!({ "type": "subscribe", "community_id": c, "client_id": "é" }),
    ] {
        ws.send(frame.clone()).await;
        let err = ws.next_of_type("error").await;
        assert_eq!(err["code"], "validation_failed", "{frame}: {err}");
        assert!(err["client_id"].is_null(), "{frame}: {err}");
    }
    // A good ping still answers.
    ws.send(json!({ "type": "ping", "client_id": "ok-1" }))
        .await;
    let pong = ws.next_of_type("pong").await;
    assert_eq!(pong["client_id"], "ok-1", "{pong}");
    // Nothing was stored or broadcast.
    other.expect_silence(Duration::from_millis(500)).await;
    let history = stack
        .api(&sender)
        .get(&format!("{API}/groups/{c}/messages/"))
        .await;
    assert_eq!(history.status, 200);
    assert_eq!(history.body["results"], json!([]), "{history:?}");
}

// ---------------------------------------------------------------- no existence oracle

/// A hidden object and an unknown id of the same kind answer alike: same status, same body.
fn same_answer(hidden: &Resp, unknown: &Resp, what: &str) {
    assert_eq!(
        hidden.status, unknown.status,
        "{what}: {hidden:?} vs {unknown:?}"
    );
    assert_eq!(hidden.body, unknown.body, "{what}");
}

#[tokio::test]
async fn an_object_in_a_community_the_caller_cannot_see_answers_like_an_unknown_id() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let member = stack.member(&course).await;
    let api = stack.api(&member);
    let c = &course.community_id;
    let post = id_of(&new_post(&api, c, "Private", "body").await);
    let message = id_of(&new_message(&api, c, "private words").await);
    let unknown = shared::ids::new_id();
    let r = stack
        .api(&course.instructor)
        .patch(
            &format!("{API}/groups/{c}/"),
            json!({ "visibility": "private" }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    // A student of the platform who is not enrolled: the private community is hidden from them.
    // (A public community is seen by all, so there a non-member's 403 says only what its
    // listing says already.)
    let stranger = stack.user(Role::Student);
    let s = stack.api(&stranger);
    for (method, path, body) in [
        ("GET", "messages/{}/", None),
        ("PATCH", "messages/{}/", Some(json!({ "message": "x" }))),
        ("DELETE", "messages/{}/", None),
        ("POST", "messages/{}/mark-as-read/", Some(json!({}))),
        ("GET", "posts/{}/", None),
        ("PATCH", "posts/{}/", Some(json!({ "content": "x" }))),
        ("DELETE", "posts/{}/", None),
        ("GET", "posts/{}/edits/", None),
        (
            "POST",
            "posts/{}/react/",
            Some(json!({ "reaction_type": "like" })),
        ),
        ("POST", "posts/{}/flag/", Some(json!({ "reason": "x" }))),
        ("GET", "posts/{}/flags/", None),
        ("GET", "posts/{}/notes/", None),
        ("POST", "posts/{}/notes/", Some(json!({ "note": "x" }))),
        ("GET", "notifications/{}/", None),
    ] {
        let real = if path.starts_with("messages") {
            &message
        } else {
            &post
        };
        let send = |id: &str| {
            let url = format!("{API}/{}", path.replace("{}", id));
            let body = body.clone();
            let s = &s;
            async move {
                match (method, body) {
                    ("GET", _) => s.get(&url).await,
                    ("DELETE", _) => s.delete(&url).await,
                    ("PATCH", Some(b)) => s.patch(&url, b).await,
                    (_, b) => s.post(&url, b.unwrap_or(json!({}))).await,
                }
            }
        };
        let hidden = send(real).await;
        let missing = send(&unknown).await;
        assert_eq!(hidden.status, 404, "{method} {path}: {hidden:?}");
        same_answer(&hidden, &missing, &format!("{method} {path}"));
    }
    // The same over the WebSocket: an error event alike, but for its timestamp.
    let mut ws = stack.ws(&stranger, None).await.expect("connects");
    for kind in ["read_receipt", "delete_message", "edit_message"] {
        let mut answers = Vec::new();
        for id in [&message, &unknown] {
            let mut frame = json!({ "type": kind, "message_id": id, "client_id": "o1" });
            if kind == "edit_message" {
                frame["message"] = json!("x");
            }
            ws.send(frame).await;
            let mut err = ws.next_of_type("error").await;
            err.as_object_mut().unwrap().remove("timestamp");
            answers.push(err);
        }
        assert_eq!(answers[0]["code"], "not_found", "{kind}: {answers:?}");
        assert_eq!(answers[0], answers[1], "{kind}");
    }
}

// ---------------------------------------------------------------- token lifetime and the name claim

fn claims_of(sub: &str, name: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({ "sub": sub, "role": "student", "name": name, "iss": JWT_ISSUER,
            "aud": JWT_AUDIENCE, "iat": now, "exp": now + 600 })
}

fn set(mut c: Value, key: &str, v: Value) -> Value {
    c[key] = v;
    c
}

#[tokio::test]
async fn tokens_live_at_most_the_configured_maximum_and_never_start_in_the_future() {
    let stack = Stack::start().await;
    let now = chrono::Utc::now().timestamp();
    let good = claims_of("lifetime-user", "Lee");
    let secret = JWT_SECRET.as_bytes();
    let accepted = [
        ("ten minutes", good.clone()),
        (
            "24 hours from iat",
            set(good.clone(), "exp", json!(now + 24 * 3600)),
        ),
        ("no iat, an hour left", {
            let mut c = set(good.clone(), "exp", json!(now + 3600));
            c.as_object_mut().unwrap().remove("iat");
            c
        }),
    ];
    for (what, claims) in accepted {
        let token = sign_hs256(secret, &claims);
        let r = stack
            .api_with_token(&token)
            .get(&format!("{API}/notifications/unread-count/"))
            .await;
        assert_eq!(r.status, 200, "{what}: {r:?}");
    }
    let refused = [
        (
            "ten years",
            set(good.clone(), "exp", json!(now + 10 * 365 * 86_400)),
        ),
        (
            "exp = 2^53",
            set(good.clone(), "exp", json!(9_007_199_254_740_992i64)),
        ),
        (
            "iat in the future",
            set(good.clone(), "iat", json!(now + 3600)),
        ),
        (
            "an old iat",
            set(good.clone(), "iat", json!(now - 3 * 86_400)),
        ),
        ("no iat, two days left", {
            let mut c = set(good.clone(), "exp", json!(now + 2 * 86_400));
            c.as_object_mut().unwrap().remove("iat");
            c
        }),
    ];
    for (what, claims) in refused {
        let token = sign_hs256(secret, &claims);
        let r = stack
            .api_with_token(&token)
            .get(&format!("{API}/notifications/unread-count/"))
            .await;
        assert_eq!(r.status, 401, "{what}: {r:?}");
        assert_eq!(r.body["code"], "unauthorized", "{what}");
        assert_eq!(
            stack.ws_with_token(&token, None).await.err(),
            Some(401),
            "{what}"
        );
    }
}

#[tokio::test]
async fn a_huge_name_claim_is_cut_to_200_characters_before_it_is_shown_or_stored() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let member = stack.member(&course).await;
    let long = "N".repeat(5_000);
    let token = sign_hs256(JWT_SECRET.as_bytes(), &claims_of(&member.id, &long));
    let api = stack.api_with_token(&token);
    let post = new_post(&api, &course.community_id, "Named", "body").await;
    let shown_name = post["author"]["name"]
        .as_str()
        .or(post["author_name"].as_str())
        .unwrap_or_else(|| panic!("no author name in {post}"))
        .to_string();
    assert_eq!(shown_name, "N".repeat(200));
    let message = new_message(&api, &course.community_id, "named").await;
    assert_eq!(message["sender_name"], "N".repeat(200), "{message}");
}

// ---------------------------------------------------------------- text rules and media types

#[tokio::test]
async fn invisible_control_and_bidi_texts_are_refused_and_nothing_is_stored() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let member = stack.member(&course).await;
    let api = stack.api(&member);
    let c = &course.community_id;
    for (title, content) in [
        ("\u{200B}", "body"),
        ("\u{200B}\u{FEFF} \u{2060}", "body"),
        ("nul\u{0}title", "body"),
        ("report\u{202E}fdp.exe", "body"),
        ("A fine title", "body with a NUL \u{0} inside"),
        ("A fine title", "\u{200B}\u{200B}"),
        ("A fine title", "escape \u{1b}[31m red"),
    ] {
        let r = api
            .post(
                &format!("{API}/posts/"),
                json!({ "community": c, "title": title, "content": content }),
            )
            .await;
        assert_eq!(r.status, 422, "{title:?} / {content:?}: {r:?}");
        assert_eq!(r.body["code"], "validation_failed");
    }
    for text in ["\u{200B}", "a\u{0}b", "\u{202D}x"] {
        let r = api
            .post(
                &format!("{API}/messages/"),
                json!({ "community": c, "message": text }),
            )
            .await;
        assert_eq!(r.status, 422, "{text:?}: {r:?}");
    }
    let listing = api.get(&format!("{API}/groups/{c}/posts/")).await;
    assert_eq!(listing.body["results"], json!([]), "{listing:?}");
    let history = api.get(&format!("{API}/groups/{c}/messages/")).await;
    assert_eq!(history.body["results"], json!([]), "{history:?}");
    // Newlines and tabs in a body, and right-to-left text, stay welcome.
    new_post(&api, c, "مرحبا", "line one\n\tline two").await;
}

#[tokio::test]
async fn a_body_without_a_json_content_type_is_415_and_writes_nothing() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let member = stack.member(&course).await;
    let api = stack.api(&member);
    let c = &course.community_id;
    let body = json!({ "community": c, "title": "Typed?", "content": "x" }).to_string();
    let path = format!("{API}/posts/");
    let r = api.post_untyped(&path, &body).await;
    assert_eq!(r.status, 415, "no content-type: {r:?}");
    assert_eq!(r.body["code"], "unsupported_media_type");
    for ct in [
        "application/jsonfoo",
        "text/json",
        "application/json-seq",
        "text/plain",
    ] {
        let r = api.post_raw(&path, &body, ct).await;
        assert_eq!(r.status, 415, "{ct}: {r:?}");
    }
    let listing = api.get(&format!("{API}/groups/{c}/posts/")).await;
    assert_eq!(listing.body["results"], json!([]), "{listing:?}");
    for ct in [
        "application/json; charset=utf-8",
        "application/merge-patch+json",
    ] {
        let r = api.post_raw(&path, &body, ct).await;
        assert_eq!(r.status, 201, "{ct}: {r:?}");
    }
    // A bare POST with no body needs no type.
    let r = api
        .post_untyped(&format!("{API}/groups/{c}/watch/"), "")
        .await;
    assert_eq!(r.status, 200, "{r:?}");
}

// ---------------------------------------------------------------- presence and typing

#[tokio::test]
async fn a_member_whose_enrollment_ended_leaves_the_online_list_while_their_socket_is_open() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let leaving = stack.member(&course).await;
    let staying = stack.member(&course).await;
    let c = course.community_id.clone();
    let _a = stack.ws(&leaving, Some(&c)).await.expect("connects");
    let _b = stack.ws(&staying, Some(&c)).await.expect("connects");
    let _i = stack
        .ws(&course.instructor, Some(&c))
        .await
        .expect("connects");
    let path = format!("{API}/groups/{c}/online/");
    let online = |api: Api| {
        let path = path.clone();
        async move {
            let r = api.get(&path).await;
            assert_eq!(r.status, 200, "{r:?}");
            let mut ids: Vec<String> = r.body["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["user_id"].as_str().unwrap().to_string())
                .collect();
            ids.sort();
            ids
        }
    };
    let mut all = vec![
        leaving.id.clone(),
        staying.id.clone(),
        course.instructor.id.clone(),
    ];
    all.sort();
    assert_eq!(online(stack.api(&staying)).await, all);
    stack
        .enroll(&course, &leaving, Some("2020-01-01T00:00:00Z"))
        .await;
    let mut left = vec![staying.id.clone(), course.instructor.id.clone()];
    left.sort();
    assert_eq!(online(stack.api(&staying)).await, left);
}

#[tokio::test]
async fn typing_is_rate_limited_per_user_with_an_error_event() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let typist = stack.member(&course).await;
    let watcher = stack.member(&course).await;
    let c = course.community_id.clone();
    let mut ws = stack.ws(&typist, Some(&c)).await.expect("connects");
    let mut other = stack.ws(&watcher, Some(&c)).await.expect("connects");
    // Sent at once: whatever the handling takes, more than 30 land in one 10-second window.
    let start = Instant::now();
    for i in 0..70 {
        ws.send(json!({ "type": "typing", "community_id": c, "is_typing": true, "client_id": format!("t{i}") }))
            .await;
    }
    let mut refused = 0;
    while let Some(ev) = ws.try_next(Duration::from_secs(10)).await {
        if ev["type"] == "error" {
            assert_eq!(ev["code"], "rate_limited", "{ev}");
            refused += 1;
        }
    }
    let mut seen = 0;
    while let Some(ev) = other.try_next(Duration::from_millis(500)).await {
        if ev["type"] == "typing" {
            seen += 1;
        }
    }
    eprintln!("70 typing frames handled in {:?}", start.elapsed());
    assert!(refused > 0, "some refused");
    assert_eq!(
        seen + refused,
        70,
        "each frame either reached the others or was refused"
    );
    let windows = start.elapsed().as_secs() / 10 + 2;
    assert!(seen as u64 <= 30 * windows, "at most 30 a window: {seen}");
}

// ---------------------------------------------------------------- 405 says what is allowed

#[tokio::test]
async fn a_405_names_the_methods_the_path_takes_in_allow() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let member = stack.member(&course).await;
    let api = stack.api(&member);
    let c = &course.community_id;
    let post = id_of(&new_post(&api, c, "Allow", "body").await);
    let message = id_of(&new_message(&api, c, "allow").await);
    let any = shared::ids::new_id();
    for (method, path, allow) in [
        ("DELETE", format!("{API}/posts/"), "GET, POST"),
        (
            "POST",
            format!("{API}/posts/{post}/"),
            "GET, PUT, PATCH, DELETE",
        ),
        ("GET", format!("{API}/posts/{post}/approve/"), "POST"),
        ("PUT", format!("{API}/posts/{post}/react/"), "POST, DELETE"),
        ("DELETE", format!("{API}/messages/"), "GET, POST"),
        (
            "POST",
            format!("{API}/messages/{message}/"),
            "GET, PUT, PATCH, DELETE",
        ),
        (
            "GET",
            format!("{API}/messages/{message}/mark-as-read/"),
            "POST",
        ),
        ("DELETE", format!("{API}/groups/"), "GET, POST"),
        ("POST", format!("{API}/groups/{c}/"), "GET, PUT, PATCH"),
        ("GET", format!("{API}/groups/{c}/join/"), "POST"),
        ("DELETE", format!("{API}/groups/{c}/members/"), "GET"),
        (
            "PUT",
            format!("{API}/notifications/mark-all-as-read/"),
            "POST",
        ),
        (
            "DELETE",
            format!("{API}/notifications/preferences/"),
            "GET, PUT, PATCH",
        ),
        ("DELETE", format!("{API}/notifications/{any}/"), "GET"),
    ] {
        let r = api
            .request_raw(method, &path, "{}", "application/json")
            .await;
        assert_eq!(r.status, 405, "{method} {path}: {r:?}");
        assert_eq!(r.body["code"], "method_not_allowed");
        assert_eq!(
            r.headers.get("allow").and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
    }
}
