//! User ids follow one rule, at token verification and on every path: an id that could name
//! another user's partition is refused, and every id a token may carry can be managed.

use e2e::*;
use serde_json::json;

const API: &str = "/api/community";

fn with_id(stack: &Stack, id: &str, role: Role) -> User {
    User {
        token: stack.token_for(id, role, "Odd Id", None),
        id: id.into(),
        name: "Odd Id".into(),
        username: String::new(),
        role,
    }
}

/// Path segment of a user id, percent-encoded as a client sends it.
fn encoded(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn a_subject_with_a_key_separator_is_refused_everywhere_and_writes_nothing() {
    let stack = Stack::start().await;
    let victim = stack.user(Role::Student);
    let victim_api = stack.api(&victim);
    assert_eq!(
        victim_api
            .get(&format!("{API}/notifications/"))
            .await
            .status,
        200
    );
    for sub in [
        format!("{}#NOTIFS", victim.id),
        format!("{}#CONN#x", victim.id),
        "a/b".to_string(),
        "trailing ".to_string(),
        "bidi\u{202E}x".to_string(),
    ] {
        let attacker = with_id(&stack, &sub, Role::Student);
        let api = stack.api(&attacker);
        let r = api
            .patch(
                &format!("{API}/notifications/preferences/"),
                json!({ "new_post": false }),
            )
            .await;
        assert_eq!(r.status, 401, "{sub:?}: {r:?}");
        assert_eq!(r.body["code"], "unauthorized");
        assert_eq!(
            stack.ws(&attacker, None).await.err(),
            Some(401),
            "{sub:?} opens no socket"
        );
    }
    // The victim's partition is untouched: their notifications still answer.
    let r = victim_api.get(&format!("{API}/notifications/")).await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = victim_api
        .get(&format!("{API}/notifications/unread-count/"))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
}

#[tokio::test]
async fn a_member_with_any_valid_subject_can_be_re_roled_and_removed() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let instructor = stack.api(&course.instructor);
    for id in [
        "auth0|abc123".to_string(),
        "Zoë Müller".to_string(),
        "x".repeat(128),
    ] {
        let user = with_id(&stack, &id, Role::Student);
        stack.enroll(&course, &user, None).await;
        stack.join(&course, &user).await;
        let path = format!(
            "{API}/groups/{}/members/{}/",
            course.community_id,
            encoded(&id)
        );
        let r = instructor
            .patch(&path, json!({ "role": "moderator" }))
            .await;
        assert_eq!(r.status, 200, "{id:?}: {r:?}");
        assert_eq!(r.body["user_id"], id.as_str());
        assert_eq!(r.body["role"], "moderator");
        let r = instructor.delete(&path).await;
        assert_eq!(r.status, 204, "{id:?}: {r:?}");
        let members = instructor
            .get(&format!("{API}/groups/{}/members/", course.community_id))
            .await;
        assert!(
            !members.body["results"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["user_id"] == id.as_str()),
            "{id:?} is gone"
        );
    }
}
