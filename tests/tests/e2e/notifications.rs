//! Notifications end to end: an action over HTTP or WebSocket -> a job on the table's stream ->
//! the notifier -> notifications stored for the right users and pushed live to their open
//! connections -> unread count -> mark as read. Also: never to the actor, one per recipient and
//! event, mentions only of users who can see the community, watch/mute and preferences, the
//! counter exact under concurrency, isolation between users, and a retried job.

use e2e::*;
use futures::future::join_all;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const NOTIFICATIONS: &str = "/api/community/notifications";
const POSTS: &str = "/api/community/posts";
/// Time allowed for a job to travel the stream and the notifier.
const ARRIVAL: Duration = Duration::from_secs(20);

fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}

async fn list(api: &Api) -> Vec<Value> {
    let r = api.get(&format!("{NOTIFICATIONS}/?limit=100")).await;
    assert_eq!(r.status, 200, "list: {r:?}");
    r.body["results"].as_array().expect("results").clone()
}

async fn unread(api: &Api) -> i64 {
    let r = api.get(&format!("{NOTIFICATIONS}/unread-count/")).await;
    assert_eq!(r.status, 200, "unread-count: {r:?}");
    r.body["unread_count"].as_i64().expect("unread_count")
}

/// Waits until the user has at least `n` notifications; answers them, newest first.
async fn wait_for(api: &Api, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + ARRIVAL;
    loop {
        let got = list(api).await;
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} notifications, have {}: {got:?}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn types(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|n| n["notification_type"].as_str().unwrap_or("?").to_string())
        .collect()
}

async fn post(api: &Api, community: &str, title: &str, content: &str) -> Value {
    let r = api
        .post(
            &format!("{POSTS}/"),
            json!({ "community": community, "title": title, "content": content }),
        )
        .await;
    assert_eq!(r.status, 201, "post {title}: {r:?}");
    r.body
}

async fn reply(api: &Api, community: &str, parent: &str, content: &str) -> Value {
    let r = api
        .post(
            &format!("{POSTS}/"),
            json!({ "community": community, "parent": parent, "content": content }),
        )
        .await;
    assert_eq!(r.status, 201, "reply: {r:?}");
    r.body
}

async fn watch(stack: &Stack, user: &User, course: &Course, on: bool) -> Value {
    let api = stack.api(user);
    let path = format!("/api/community/groups/{}/watch/", course.community_id);
    let r = if on {
        api.post(&path, json!({})).await
    } else {
        api.delete(&path).await
    };
    assert_eq!(r.status, 200, "watch {on}: {r:?}");
    r.body
}

async fn require_approval(stack: &Stack, course: &Course) {
    let r = stack
        .api(&course.instructor)
        .patch(
            &format!("/api/community/groups/{}/", course.community_id),
            json!({ "require_post_approval": true }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
}

/// The next `notification` event on a connection (other events skipped), allowing for the
/// stream and the notifier.
async fn notification_event(ws: &mut Ws) -> Value {
    let deadline = Instant::now() + ARRIVAL;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match ws.try_next(left).await {
            Some(ev) if ev["type"] == "notification" => return ev,
            Some(_) => continue,
            None => panic!("no notification event within {ARRIVAL:?}"),
        }
    }
}

/// A user's own connection (no community): it receives notifications only.
async fn inbox(stack: &Stack, user: &User) -> Ws {
    stack.ws(user, None).await.expect("connects")
}

#[tokio::test]
async fn a_new_post_notifies_its_watchers_live_and_never_its_author() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let author = stack.member(&course).await;
    let watcher = stack.member(&course).await;
    let bystander = stack.member(&course).await;
    let moderator = stack.moderator(&course).await;
    let w = watch(&stack, &watcher, &course, true).await;
    assert_eq!(w["watching"], true);
    assert_eq!(w["source"], "explicit");
    let mut watcher_ws = inbox(&stack, &watcher).await;
    let mut moderator_ws = inbox(&stack, &moderator).await;
    let mut author_ws = inbox(&stack, &author).await;

    let p = post(&stack.api(&author), &c, "Week 3", "Recursion questions").await;

    for ws in [&mut watcher_ws, &mut moderator_ws] {
        let ev = notification_event(ws).await;
        assert_eq!(ev["notification"]["notification_type"], "new_post");
        assert_eq!(ev["notification"]["target"]["id"], p["id"]);
        assert_eq!(ev["notification"]["actor"]["id"], author.id.as_str());
        assert_eq!(ev["notification"]["is_read"], false);
        assert_eq!(ev["unread_count"], 1);
        assert!(ev["timestamp"].is_string());
    }
    // The instructor watches by default too; the author and a member who does not watch do not.
    let instructor = wait_for(&stack.api(&course.instructor), 1).await;
    assert_eq!(types(&instructor), ["new_post"]);
    author_ws.expect_silence(Duration::from_millis(300)).await;
    assert!(list(&stack.api(&author)).await.is_empty());
    assert!(list(&stack.api(&bystander)).await.is_empty());
    assert_eq!(unread(&stack.api(&bystander)).await, 0);

    // Read it: the count follows, the list shows it read, reading again changes nothing.
    let api = stack.api(&watcher);
    let n = &wait_for(&api, 1).await[0];
    assert_eq!(unread(&api).await, 1);
    assert!(n["title"].as_str().unwrap().contains("Course"), "{n}");
    assert_eq!(
        n["target"]["link"],
        format!("/api/community/posts/{}/", id_of(&p))
    );
    let path = format!("{NOTIFICATIONS}/{}/mark-as-read/", id_of(n));
    let r = api.post(&path, json!({})).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["is_read"], true);
    assert!(r.body["read_at"].is_string());
    assert_eq!(unread(&api).await, 0);
    assert_eq!(api.post(&path, json!({})).await.status, 200);
    assert_eq!(unread(&api).await, 0);
    let got = api.get(&format!("{NOTIFICATIONS}/{}/", id_of(n))).await;
    assert_eq!(got.body["is_read"], true);
    let unread_list = api.get(&format!("{NOTIFICATIONS}/?unread=true")).await;
    assert_eq!(unread_list.body["results"], json!([]));
}

#[tokio::test]
async fn a_pending_post_notifies_moderators_and_its_approval_notifies_author_and_watchers() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    require_approval(&stack, &course).await;
    let author = stack.member(&course).await;
    let watcher = stack.member(&course).await;
    let moderator = stack.moderator(&course).await;
    watch(&stack, &watcher, &course, true).await;
    let mut author_ws = inbox(&stack, &author).await;
    let mut moderator_ws = inbox(&stack, &moderator).await;

    let p = post(&stack.api(&author), &c, "Pending", "Awaiting a moderator").await;
    assert_eq!(p["status"], "pending");
    let ev = notification_event(&mut moderator_ws).await;
    assert_eq!(ev["notification"]["notification_type"], "new_post");
    assert!(
        ev["notification"]["title"]
            .as_str()
            .unwrap()
            .contains("awaits approval")
    );
    wait_for(&stack.api(&course.instructor), 1).await;
    // A watcher who may not see pending posts hears nothing yet.
    assert!(list(&stack.api(&watcher)).await.is_empty());

    let r = stack
        .api(&moderator)
        .post(&format!("{POSTS}/{}/approve/", id_of(&p)), json!({}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let ev = notification_event(&mut author_ws).await;
    assert_eq!(ev["notification"]["notification_type"], "post_approved");
    assert_eq!(ev["notification"]["actor"]["id"], moderator.id.as_str());
    let w = wait_for(&stack.api(&watcher), 1).await;
    assert_eq!(types(&w), ["new_post"]);
    assert_eq!(w[0]["actor"]["id"], author.id.as_str());
    // The approving moderator is the actor: nothing new for them.
    moderator_ws
        .expect_silence(Duration::from_millis(300))
        .await;
    assert_eq!(list(&stack.api(&moderator)).await.len(), 1);

    let q = post(&stack.api(&author), &c, "Second", "Also pending").await;
    let r = stack
        .api(&moderator)
        .post(
            &format!("{POSTS}/{}/reject/", id_of(&q)),
            json!({ "reason": "off topic" }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let ev = notification_event(&mut author_ws).await;
    assert_eq!(ev["notification"]["notification_type"], "post_rejected");
    assert!(
        ev["notification"]["message"]
            .as_str()
            .unwrap()
            .contains("off topic")
    );
    assert_eq!(ev["unread_count"], 2);
}

#[tokio::test]
async fn a_reply_notifies_the_thread_once_per_person_with_the_most_specific_type() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let alice = stack.member(&course).await;
    let bob = stack.member(&course).await;
    let carol = stack.member(&course).await;
    let root = post(&stack.api(&alice), &c, "Thread", "Start").await;
    let bobs = reply(&stack.api(&bob), &c, &id_of(&root), "First answer").await;
    let alice_list = wait_for(&stack.api(&alice), 1).await;
    assert_eq!(types(&alice_list), ["new_reply"]);
    assert_eq!(alice_list[0]["target"]["root_id"], root["id"]);

    // Carol answers Bob and names Alice: Alice gets one notification (a mention), Bob a reply.
    let mut alice_ws = inbox(&stack, &alice).await;
    reply(
        &stack.api(&carol),
        &c,
        &id_of(&bobs),
        &format!("Agreed, and @{} asked this first", alice.username),
    )
    .await;
    let ev = notification_event(&mut alice_ws).await;
    assert_eq!(ev["notification"]["notification_type"], "new_mention");
    assert_eq!(ev["unread_count"], 2);
    alice_ws.expect_silence(Duration::from_millis(300)).await;
    assert_eq!(
        types(&wait_for(&stack.api(&alice), 2).await),
        ["new_mention", "new_reply"]
    );
    assert_eq!(types(&wait_for(&stack.api(&bob), 1).await), ["new_reply"]);
    assert!(list(&stack.api(&carol)).await.is_empty());
}

#[tokio::test]
async fn a_flag_notifies_the_moderators_and_not_the_flagger() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let author = stack.member(&course).await;
    let flagger = stack.member(&course).await;
    let moderator = stack.moderator(&course).await;
    let p = post(&stack.api(&author), &c, "Spam?", "Buy now").await;
    wait_for(&stack.api(&moderator), 1).await; // new_post (moderators watch by default)
    let mut moderator_ws = inbox(&stack, &moderator).await;
    let r = stack
        .api(&flagger)
        .post(
            &format!("{POSTS}/{}/flag/", id_of(&p)),
            json!({ "reason": "advertising" }),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let ev = notification_event(&mut moderator_ws).await;
    assert_eq!(ev["notification"]["notification_type"], "post_flagged");
    assert_eq!(ev["notification"]["actor"]["id"], flagger.id.as_str());
    assert_eq!(ev["unread_count"], 2);
    let instructor = wait_for(&stack.api(&course.instructor), 2).await;
    assert_eq!(types(&instructor), ["post_flagged", "new_post"]);
    assert!(list(&stack.api(&flagger)).await.is_empty());
    assert!(list(&stack.api(&author)).await.is_empty());
}

#[tokio::test]
async fn chat_mentions_and_replies_notify_only_people_who_can_see_the_community() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let alice = stack.member(&course).await;
    let bob = stack.member(&course).await;
    let outsider = stack.user(Role::Student);
    stack.push_user(&outsider).await;
    let expired = stack.member(&course).await;
    stack
        .enroll(&course, &expired, Some("2020-01-01T00:00:00Z"))
        .await;
    let mut alice_ws = inbox(&stack, &alice).await;
    let mut bob_ws = stack.ws(&bob, Some(&c)).await.expect("connects");

    // Over WebSocket: Bob names Alice, the outsider, the expired member, himself and nobody.
    bob_ws
        .send(json!({
            "type": "chat_message", "community_id": c, "message_type": "text",
            "message": format!("@{} @{} @{} @{} @nobody-at-all look",
                alice.username, outsider.username, expired.username, bob.username),
        }))
        .await;
    let sent = bob_ws.next_of_type("chat_message").await;
    let ev = notification_event(&mut alice_ws).await;
    assert_eq!(ev["notification"]["notification_type"], "new_mention");
    assert_eq!(ev["notification"]["target"]["type"], "message");
    assert_eq!(ev["notification"]["target"]["id"], sent["id"]);
    assert_eq!(ev["unread_count"], 1);

    // Over REST: Alice answers Bob's message.
    let r = stack
        .api(&alice)
        .post(
            "/api/community/messages/",
            json!({ "community": c, "message": "sure", "reply_to": sent["id"] }),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let ev = notification_event(&mut bob_ws).await;
    assert_eq!(ev["notification"]["notification_type"], "new_message");
    assert_eq!(ev["notification"]["actor"]["id"], alice.id.as_str());

    // A post naming them behaves the same.
    post(
        &stack.api(&alice),
        &c,
        "Mentions",
        &format!("cc @{} @{}", outsider.username, expired.username),
    )
    .await;
    // The course instructor gets the new post: the job is done by then.
    wait_for(&stack.api(&course.instructor), 1).await;
    assert!(list(&stack.api(&outsider)).await.is_empty());
    assert!(list(&stack.api(&expired)).await.is_empty());
    assert_eq!(types(&list(&stack.api(&bob)).await), ["new_message"]);
}

#[tokio::test]
async fn a_user_only_ever_sees_and_marks_their_own_notifications() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let alice = stack.member(&course).await;
    let bob = stack.member(&course).await;
    post(
        &stack.api(&alice),
        &c,
        "Hi",
        &format!("hello @{}", bob.username),
    )
    .await;
    let theirs = id_of(&wait_for(&stack.api(&bob), 1).await[0]);
    let mine = stack.api(&alice);
    let r = mine.get(&format!("{NOTIFICATIONS}/{theirs}/")).await;
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(r.headers["content-type"], "application/problem+json");
    let r = mine
        .post(
            &format!("{NOTIFICATIONS}/{theirs}/mark-as-read/"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(unread(&stack.api(&bob)).await, 1);
    assert_eq!(unread(&mine).await, 0);

    let unknown = ulid::Ulid::generate().to_string();
    for (path, status) in [
        (format!("{NOTIFICATIONS}/{unknown}/"), 404),
        (format!("{NOTIFICATIONS}/not-an-id/"), 400),
        (format!("{NOTIFICATIONS}/?cursor=forged"), 400),
        (format!("{NOTIFICATIONS}/?unread=maybe"), 400),
        (format!("{NOTIFICATIONS}/?limit=1000"), 400),
    ] {
        let r = mine.get(&path).await;
        assert_eq!(r.status, status, "{path}: {r:?}");
        assert_eq!(r.headers["content-type"], "application/problem+json");
    }
    let r = mine
        .post(
            &format!("{NOTIFICATIONS}/{unknown}/mark-as-read/"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        mine.delete(&format!("{NOTIFICATIONS}/{theirs}/"))
            .await
            .status,
        405
    );
    assert_eq!(
        stack
            .anonymous()
            .get(&format!("{NOTIFICATIONS}/"))
            .await
            .status,
        401
    );
    // A cursor of Bob's listing does not page Alice's.
    let bobs_page = stack
        .api(&bob)
        .get(&format!("{NOTIFICATIONS}/?limit=1"))
        .await;
    if let Some(next) = bobs_page.body["next"].as_str() {
        assert_eq!(
            mine.get(&format!("{NOTIFICATIONS}/?cursor={next}"))
                .await
                .status,
            400
        );
    }
    // Watching a community one may see but not read: 403; one that does not exist: 404.
    let other = stack.course().await;
    let r = mine
        .post(
            &format!("/api/community/groups/{}/watch/", other.community_id),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 403, "{r:?}");
    let r = mine
        .post(
            &format!("/api/community/groups/{unknown}/watch/"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(unread(&stack.api(&bob)).await, 1);
}

#[tokio::test]
async fn preferences_and_mutes_turn_notifications_off() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let author = stack.member(&course).await;
    let watcher = stack.member(&course).await;
    let moderator = stack.moderator(&course).await;
    watch(&stack, &watcher, &course, true).await;
    let api = stack.api(&watcher);
    let r = api
        .put(
            &format!("{NOTIFICATIONS}/preferences/"),
            json!({ "new_post": false }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["types"]["new_post"]["in_app"], false);
    assert_eq!(r.body["types"]["new_mention"]["in_app"], true);
    // The defaults: mentions by email and push, new posts in the app only; no digest.
    assert_eq!(r.body["types"]["new_mention"]["email"], true);
    assert_eq!(r.body["types"]["new_mention"]["push"], true);
    assert_eq!(r.body["types"]["new_post"]["email"], false);
    assert_eq!(r.body["digest"], "off");
    assert_eq!(r.body["email"]["address_known"], false);
    assert_eq!(
        api.get(&format!("{NOTIFICATIONS}/preferences/")).await.body,
        r.body
    );
    // Per channel, and the digest frequency.
    let r = api
        .patch(
            &format!("{NOTIFICATIONS}/preferences/"),
            json!({ "types": { "new_post": { "email": true }, "new_reply": { "push": false } }, "digest": "weekly" }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["types"]["new_post"]["email"], true);
    assert_eq!(r.body["types"]["new_post"]["in_app"], false);
    assert_eq!(r.body["types"]["new_reply"]["push"], false);
    assert_eq!(r.body["digest"], "weekly");
    let before = api.get(&format!("{NOTIFICATIONS}/preferences/")).await.body;
    for bad in [
        json!({ "new_pots": false }),
        json!({ "types": { "new_post": { "sms": true } }, "digest": "daily" }),
        json!({ "digest": "hourly", "new_post": true }),
    ] {
        let r = api
            .put(&format!("{NOTIFICATIONS}/preferences/"), bad.clone())
            .await;
        assert_eq!(r.status, 422, "{bad}: {r:?}");
    }
    assert_eq!(
        api.get(&format!("{NOTIFICATIONS}/preferences/")).await.body,
        before,
        "a refused change changes nothing"
    );
    // The moderator mutes the community.
    let muted = watch(&stack, &moderator, &course, false).await;
    assert_eq!(muted["watching"], false);
    let state = stack
        .api(&moderator)
        .get(&format!("/api/community/groups/{c}/watch/"))
        .await;
    assert_eq!(state.body["watching"], false);
    assert_eq!(state.body["source"], "explicit");

    post(&stack.api(&author), &c, "Quiet", "nobody listens").await;
    // The instructor still watches by default: once they have it, the job is done.
    wait_for(&stack.api(&course.instructor), 1).await;
    assert!(list(&api).await.is_empty());
    assert!(list(&stack.api(&moderator)).await.is_empty());
    // A mention still reaches the watcher: only new_post was turned off.
    post(
        &stack.api(&author),
        &c,
        "Loud",
        &format!("@{} look", watcher.username),
    )
    .await;
    assert_eq!(types(&wait_for(&api, 1).await), ["new_mention"]);
}

#[tokio::test]
async fn a_large_fan_out_is_split_into_parts_and_reaches_every_watcher_once() {
    let stack = Stack::start_with(|cfg| {
        cfg.env_overrides
            .insert("NOTIFY_PART_SIZE".into(), "4".into());
    })
    .await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let author = stack.member(&course).await;
    let mut watchers = Vec::new();
    for _ in 0..10 {
        let w = stack.member(&course).await;
        watch(&stack, &w, &course, true).await;
        watchers.push(w);
    }
    post(&stack.api(&author), &c, "Big", "to everyone").await;
    for w in &watchers {
        let got = wait_for(&stack.api(w), 1).await;
        assert_eq!(types(&got), ["new_post"]);
        assert_eq!(unread(&stack.api(w)).await, 1);
    }
    assert_eq!(
        types(&wait_for(&stack.api(&course.instructor), 1).await),
        ["new_post"]
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    for w in &watchers {
        assert_eq!(list(&stack.api(w)).await.len(), 1);
    }
}

/// A stream record of a job, as Lambda would hand it to the notifier.
fn job_event(job_id: &str, community: &str, actor: &User, mention: &str) -> Value {
    let post_id = ulid::Ulid::generate().to_string();
    json!({ "Records": [{
        "eventID": "1", "eventName": "INSERT", "eventVersion": "1.1",
        "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1795428000.0,
            "Keys": { "PK": { "S": format!("NOTIFYJOB#{job_id}") }, "SK": { "S": "JOB" } },
            "NewImage": {
                "PK": { "S": format!("NOTIFYJOB#{job_id}") }, "SK": { "S": "JOB" },
                "entity": { "S": "notification_job" },
                "job": { "M": {
                    "id": { "S": job_id }, "kind": { "S": "post_published" },
                    "community_id": { "S": community },
                    "actor": { "M": { "id": { "S": actor.id }, "name": { "S": actor.name } } },
                    "post": { "M": {
                        "id": { "S": post_id }, "root_id": { "S": post_id },
                        "author_id": { "S": actor.id }, "author_name": { "S": actor.name },
                        "title": { "S": "Replayed" }
                    } },
                    "snippet": { "S": "Replayed" },
                    "mentions": { "L": [{ "S": mention }] },
                    "created_at": { "S": "2026-11-23T10:00:00.000Z" }
                } }
            },
            "SequenceNumber": "100", "SizeBytes": 300, "StreamViewType": "NEW_AND_OLD_IMAGES"
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x"
    }]})
}

#[tokio::test]
async fn a_retried_job_delivers_nothing_twice() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let author = stack.member(&course).await;
    let reader = stack.member(&course).await;
    let event = job_event(
        &ulid::Ulid::generate().to_string(),
        &course.community_id,
        &author,
        &reader.username,
    );
    for _ in 0..3 {
        let answer = stack
            .gateway
            .invoke("NotifyFunction", event.clone())
            .await
            .expect("the notifier answers");
        assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    }
    let api = stack.api(&reader);
    assert_eq!(types(&wait_for(&api, 1).await), ["new_mention"]);
    assert_eq!(unread(&api).await, 1);
    // The instructor (a default watcher) also got exactly one.
    assert_eq!(list(&stack.api(&course.instructor)).await.len(), 1);
    assert_eq!(unread(&stack.api(&course.instructor)).await, 1);
}

#[tokio::test]
async fn the_unread_count_stays_exact_under_concurrent_creation_and_mark_all() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let target = stack.member(&course).await;
    let mut senders = Vec::new();
    for _ in 0..8 {
        senders.push(stack.member(&course).await);
    }
    let api = stack.api(&target);
    let sends = senders.iter().map(|s| {
        let api = stack.api(s);
        let c = c.clone();
        let text = format!("hey @{}", target.username);
        async move {
            for i in 0..2 {
                let r = api
                    .post(
                        "/api/community/messages/",
                        json!({ "community": c, "message": format!("{text} #{i}") }),
                    )
                    .await;
                assert_eq!(r.status, 201, "{r:?}");
            }
        }
    });
    let marks = async {
        for _ in 0..8 {
            let r = api
                .post(&format!("{NOTIFICATIONS}/mark-all-as-read/"), json!({}))
                .await;
            assert_eq!(r.status, 200, "{r:?}");
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    };
    let (_, _) = tokio::join!(join_all(sends), marks);
    let all = wait_for(&api, 16).await;
    assert_eq!(all.len(), 16, "one notification per message");
    let still_unread = all.iter().filter(|n| n["is_read"] == false).count() as i64;
    assert_eq!(unread(&api).await, still_unread);
    let r = api
        .post(&format!("{NOTIFICATIONS}/mark-all-as-read/"), json!({}))
        .await;
    assert_eq!(r.body["marked"].as_i64(), Some(still_unread));
    assert_eq!(r.body["unread_count"], 0);
    assert_eq!(unread(&api).await, 0);
    assert!(list(&api).await.iter().all(|n| n["is_read"] == true));
}

#[tokio::test]
async fn mark_all_as_read_handles_hundreds_of_unread_notifications() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let reader = stack.member(&course).await;
    let db = shared::db::Db::new(stack.ddb.clone(), &stack.table);
    // Written directly (as the notifier writes them) to keep the test fast: 250 > 2 pages.
    let ttl = chrono::Utc::now().timestamp() + 3600;
    let writes = (0..250).map(|i| {
        let db = db.clone();
        let n = shared::notifications::Notification {
            id: shared::notifications::notification_id(&shared::ids::new_id(), &reader.id),
            recipient_id: reader.id.clone(),
            notification_type: shared::notifications::Kind::NewPost,
            title: format!("n{i}"),
            message: "m".into(),
            actor: None,
            community_id: course.community_id.clone(),
            target: shared::notifications::Target {
                kind: "post".into(),
                id: "p".into(),
                root_id: None,
                conversation_id: None,
                link: "/api/community/posts/p/".into(),
            },
            is_read: false,
            read_at: None,
            created_at: "2026-11-23T10:00:00.000Z".into(),
            reason: None,
        };
        async move {
            let written = shared::store::notifications::insert_many(&db, vec![n], ttl)
                .await
                .unwrap();
            assert_eq!(written.len(), 1);
        }
    });
    // A few at a time: every write also updates the reader's one counter item.
    futures::StreamExt::collect::<Vec<()>>(futures::StreamExt::buffer_unordered(
        futures::stream::iter(writes),
        4,
    ))
    .await;
    let api = stack.api(&reader);
    assert_eq!(unread(&api).await, 250);
    let r = api
        .post(&format!("{NOTIFICATIONS}/mark-all-as-read/"), json!({}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["marked"], 250);
    assert_eq!(r.body["unread_count"], 0);
    assert_eq!(unread(&api).await, 0);
    let page = api.get(&format!("{NOTIFICATIONS}/?unread=true")).await;
    assert_eq!(page.body["results"], json!([]));
}

#[tokio::test]
async fn an_unread_notification_that_expires_leaves_the_count() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let alice = stack.member(&course).await;
    let bob = stack.member(&course).await;
    post(
        &stack.api(&alice),
        &course.community_id,
        "One",
        &format!("@{}", bob.username),
    )
    .await;
    post(
        &stack.api(&alice),
        &course.community_id,
        "Two",
        &format!("@{}", bob.username),
    )
    .await;
    let api = stack.api(&bob);
    let got = wait_for(&api, 2).await;
    assert_eq!(unread(&api).await, 2);
    // What DynamoDB's TTL does once `ttl` has passed.
    let key = shared::keys::notification(&bob.id, &id_of(&got[0]));
    stack
        .ddb
        .delete_item()
        .table_name(&stack.table)
        .key("PK", aws_sdk_dynamodb::types::AttributeValue::S(key.pk))
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S(key.sk))
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + ARRIVAL;
    while unread(&api).await != 1 {
        assert!(
            Instant::now() < deadline,
            "the count did not follow the expiry"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(list(&api).await.len(), 1);
}

// ---------------------------------------------------------------- measurement

/// Counts DynamoDB requests by operation (`X-Amz-Target`), for the measurement.
#[derive(Debug, Clone, Default)]
struct Requests(std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, usize>>>);

impl aws_sdk_dynamodb::config::Intercept for Requests {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let op = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or("?")
            .trim_start_matches("DynamoDB_20120810.")
            .to_string();
        *self.0.lock().unwrap().entry(op).or_default() += 1;
        Ok(())
    }
}

impl Requests {
    fn take(&self) -> std::collections::BTreeMap<String, usize> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Unread counts of many users (BatchGetItem of their state items).
async fn unread_counts(stack: &Stack, users: &[String]) -> Vec<i64> {
    let db = shared::db::Db::new(stack.ddb.clone(), &stack.table);
    let mut out = Vec::new();
    for chunk in users.chunks(100) {
        let keys: Vec<_> = chunk
            .iter()
            .map(|u| shared::keys::notification_state(u))
            .collect();
        for item in db.get_many(&keys).await.unwrap() {
            out.push(
                item.and_then(|i| shared::db::attr_n(&i, "unread"))
                    .unwrap_or(0),
            );
        }
    }
    out
}

/// The time a post in a community of N members (all watching; `WATCHERS`, default 2,000) takes
/// to notify them through the local stack, and the DynamoDB requests the notifier makes for it.
///
/// `cargo build --workspace && cargo nextest run -p e2e --run-ignored only measure_ --no-capture`
#[tokio::test]
#[ignore = "measurement: takes a minute, run on demand"]
async fn measure_a_post_watched_by_2000_members() {
    use shared::lms::Enrollment;
    use shared::membership::{CommunityRole, Member};
    use shared::notifications::settings::WatchRow;
    let n: usize = std::env::var("WATCHERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let author = stack.member(&course).await;
    let at = shared::clock::iso(chrono::Utc::now());
    let watchers: Vec<String> = (0..n).map(|i| format!("watcher-{i:05}")).collect();
    let mut items = Vec::new();
    for id in &watchers {
        let member = Member {
            community_id: c.clone(),
            user_id: id.clone(),
            name: id.clone(),
            username: None,
            role: CommunityRole::Member,
            joined_at: at.clone(),
        };
        let enrollment = Enrollment {
            course_id: course.course_id.clone(),
            community_id: c.clone(),
            user_id: id.clone(),
            is_active: true,
            expiry_date: None,
            updated_at: at.clone(),
        };
        let watch = WatchRow {
            community_id: c.clone(),
            user_id: id.clone(),
            watching: true,
            role: Some(Role::Student),
            updated_at: at.clone(),
        };
        items.push(shared::db::to_item(&shared::keys::member(&c, id), &member).unwrap());
        items.push(shared::db::to_item(&shared::keys::enrollment(&c, id), &enrollment).unwrap());
        items.push(shared::db::to_item(&shared::keys::watch(&c, id), &watch).unwrap());
    }
    let setup = Instant::now();
    stack.put_items(items).await;
    println!("setup: {} items written in {:?}", 3 * n, setup.elapsed());
    // A sample of the watchers has a connection open.
    let mut sample = Vec::new();
    for id in watchers.iter().step_by((n / 20).max(1)) {
        let token = stack.token_for(id, Role::Student, id, None);
        sample.push(stack.ws_with_token(&token, None).await.expect("connects"));
    }

    // 1. End to end through the local stack.
    let started = Instant::now();
    post(
        &stack.api(&author),
        &c,
        "For everyone",
        "A post for the whole course",
    )
    .await;
    let request = started.elapsed();
    let waits: Vec<_> = sample
        .into_iter()
        .map(|mut ws| {
            tokio::spawn(async move {
                loop {
                    match ws.try_next(Duration::from_secs(300)).await {
                        Some(ev) if ev["type"] == "notification" => return started.elapsed(),
                        Some(_) => continue,
                        None => panic!("no live notification"),
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let counts = unread_counts(&stack, &watchers).await;
        if counts.iter().all(|c| *c == 1) {
            break;
        }
        assert!(
            counts.iter().all(|c| *c <= 1),
            "a watcher was notified twice"
        );
        assert!(Instant::now() < deadline, "not every watcher was notified");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let all = started.elapsed();
    let mut live = Vec::new();
    for wait in waits {
        live.push(wait.await.expect("a live notification"));
    }
    let stats = stack.gateway.stats();
    let notifier = stats
        .functions
        .get("NotifyFunction")
        .cloned()
        .unwrap_or_default();
    live.sort();

    // 2. The notifier's DynamoDB requests, in process, for a second post of the same community
    // (the gateway is stopped first so that nothing else reads the stream).
    let gateway = stack.gateway;
    gateway.shutdown().await;
    let requests = Requests::default();
    let conf = stack
        .ddb
        .config()
        .to_builder()
        .interceptor(requests.clone())
        .build();
    let config = shared::config::Config::from_lookup(|k| match k {
        "TABLE_NAME" => Some(stack.table.clone()),
        "JWT_SECRET" => Some(JWT_SECRET.into()),
        "JWT_ISSUER" => Some(JWT_ISSUER.into()),
        "JWT_AUDIENCE" => Some(JWT_AUDIENCE.into()),
        _ => None,
    })
    .unwrap();
    let app = shared::App {
        mailer: None,
        devices: None,
        db: shared::db::Db::new(aws_sdk_dynamodb::Client::from_conf(conf), &stack.table),
        auth: std::sync::Arc::new(shared::auth::Verifier::new(&config.jwt, None).unwrap()),
        cursors: shared::cursor::Cursors::new(b"measure"),
        keys: std::sync::Arc::new(shared::keyring::Keyring::fixed(
            None,
            shared::keyring::KeyPair::single(b"measure".to_vec()),
        )),
        clock: shared::clock::system(),
        ids: shared::ids::ulids(),
        // Pushes go nowhere (the gateway is stopped), but the notifier still looks up every
        // recipient's connections and count, as it does in AWS.
        push: std::sync::Arc::new(shared::realtime::ManagementApi::new(
            &aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("us-east-1"))
                .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                    "local", "local", None, None, "measure",
                ))
                .load()
                .await,
            "http://127.0.0.1:9",
            256,
        )),
        files: shared::store::objects::Files::from_sdk(
            &aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("us-east-1"))
                .load()
                .await,
            None,
        ),
        config: std::sync::Arc::new(config),
    };
    use shared::notifications::jobs::{Job, JobItem, JobKind, PostRef};
    let post_id = shared::ids::new_id();
    let job = Job {
        id: shared::ids::new_id(),
        kind: JobKind::PostPublished,
        community_id: c.clone(),
        actor: shared::notifications::Actor {
            id: author.id.clone(),
            name: Some(author.name.clone()),
        },
        post: Some(PostRef {
            id: post_id.clone(),
            root_id: post_id,
            parent_id: None,
            author_id: author.id.clone(),
            author_name: author.name.clone(),
            title: Some("Second".into()),
            anonymous: false,
        }),
        message: None,
        conversation_id: None,
        snippet: "Second".into(),
        reason: None,
        mentions: Vec::new(),
        created_at: shared::clock::iso(chrono::Utc::now()),
        anonymous_actor: false,
    };
    let enqueue_started = Instant::now();
    shared::notifications::enqueue(&app.db, &job).await.unwrap();
    let enqueue = enqueue_started.elapsed();
    requests.take();
    let mut invocations = Vec::new();
    let t = Instant::now();
    let in_process = shared::notifications::fanout::Notifier {
        db: &app.db,
        push: app.push.as_ref(),
        retention_days: app.config.notification_retention_days,
        part_size: app.config.notify_part_size,
        email: app.config.email.is_some(),
        devices: None,
    };
    let root = shared::notifications::fanout::process(
        in_process,
        JobItem {
            job: job.clone(),
            part: None,
            deliveries: None,
        },
        app.clock.now(),
    )
    .await
    .unwrap();
    invocations.push(("root".to_string(), t.elapsed(), root, requests.take()));
    let parts = app
        .db
        .client
        .query()
        .table_name(&stack.table)
        .key_condition_expression("PK = :pk AND begins_with(SK, :part)")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("NOTIFYJOB#{}", job.id)),
        )
        .expression_attribute_values(
            ":part",
            aws_sdk_dynamodb::types::AttributeValue::S("PART#".into()),
        )
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    requests.take();
    for item in parts {
        let part: JobItem = shared::db::from_item(item).unwrap();
        let name = format!("part {}", part.part.unwrap_or(0));
        let t = Instant::now();
        let report = shared::notifications::fanout::process(in_process, part, app.clock.now())
            .await
            .unwrap();
        invocations.push((name, t.elapsed(), report, requests.take()));
    }

    println!("\n=== a post in a community of {n} members, all watching ===");
    println!("through the local stack (gateway, stream polled every 100 ms, real binaries):");
    println!(
        "  POST /posts/ answered in        {:>8.1} ms",
        request.as_secs_f64() * 1e3
    );
    println!(
        "  first / median / last live push {:>8.1} / {:.1} / {:.1} ms ({} sampled connections)",
        live[0].as_secs_f64() * 1e3,
        live[live.len() / 2].as_secs_f64() * 1e3,
        live[live.len() - 1].as_secs_f64() * 1e3,
        live.len()
    );
    println!(
        "  all {n} notifications stored    {:>8.1} ms",
        all.as_secs_f64() * 1e3
    );
    println!(
        "  notifier invocations {} (stream: {} records read, {} matched, {} failed batches)",
        notifier.invocations,
        stats.streams.records_read,
        stats.streams.records_matched,
        stats.streams.failed_batches
    );
    println!("  Management API calls {:?}", stats.management);
    println!(
        "the notifier in process (DynamoDB Local; connections looked up, nobody connected), second post:"
    );
    println!(
        "  job enqueue (the request's share)   {:>8.1} ms, 1 PutItem",
        enqueue.as_secs_f64() * 1e3
    );
    let mut total: std::collections::BTreeMap<String, usize> = Default::default();
    for (name, took, report, reqs) in &invocations {
        println!(
            "  {name:<8} {:>8.1} ms  recipients {:>5} written {:>5} parts queued {:>2}  requests {reqs:?}",
            took.as_secs_f64() * 1e3,
            report.recipients,
            report.written,
            report.parts_queued,
        );
        for (op, count) in reqs {
            *total.entry(op.clone()).or_default() += count;
        }
    }
    println!("  total requests {total:?}");
    let written: usize = invocations.iter().map(|i| i.2.written).sum();
    assert_eq!(written, n + 1, "every watcher and the instructor");
}
