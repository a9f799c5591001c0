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
