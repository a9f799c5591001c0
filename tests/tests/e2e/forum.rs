//! The education forum through the gateway (SPEC §8-§9): questions and answers, announcements,
//! anonymous and staff-only posts (anonymity tested as an attack), tags, duplicates, archived
//! communities, the moderation audit log; seed clients without `community_id`, authorization
//! before body validation, rate limits as configuration with staff exempt.

use e2e::*;
use serde_json::{Value, json};
use shared::auth::Role;
use std::time::{Duration, Instant};

const POSTS: &str = "/api/community/posts";
const NOTIFICATIONS: &str = "/api/community/notifications";

fn url(id: &str, action: &str) -> String {
    if action.is_empty() {
        format!("{POSTS}/{id}/")
    } else {
        format!("{POSTS}/{id}/{action}/")
    }
}

fn group(c: &str, rest: &str) -> String {
    format!("/api/community/groups/{c}/{rest}")
}

fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .into()
}

fn ids(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {page}"))
        .iter()
        .map(id_of)
        .collect()
}

async fn create(api: &Api, body: Value) -> Value {
    let r = api.post(&format!("{POSTS}/"), body.clone()).await;
    assert_eq!(r.status, 201, "create {body}: {r:?}");
    r.body
}

async fn question(api: &Api, c: &str, title: &str) -> Value {
    create(
        api,
        json!({ "community": c, "kind": "question", "title": title, "content": "Why?" }),
    )
    .await
}

async fn reply(api: &Api, c: &str, parent: &str, content: &str) -> Value {
    create(
        api,
        json!({ "community": c, "parent": parent, "content": content }),
    )
    .await
}

async fn get(api: &Api, path: &str) -> Value {
    let r = api.get(path).await;
    assert_eq!(r.status, 200, "GET {path}: {r:?}");
    r.body
}

/// Waits until `user` has a notification of `kind`; answers it.
async fn notified(api: &Api, kind: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = get(api, &format!("{NOTIFICATIONS}/?limit=100")).await;
        if let Some(n) = list["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["notification_type"] == kind)
        {
            return n.clone();
        }
        assert!(Instant::now() < deadline, "no {kind} notification: {list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn kinds_of(api: &Api) -> Vec<String> {
    get(api, &format!("{NOTIFICATIONS}/?limit=100")).await["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["notification_type"].as_str().unwrap().to_string())
        .collect()
}

async fn set_community(stack: &Stack, course: &Course, body: Value) {
    let r = stack
        .api(&course.instructor)
        .patch(&group(&course.community_id, ""), body)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
}

#[tokio::test]
async fn questions_take_answers_accepted_endorsed_resolved_and_the_filters_find_them() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let (asker, answerer, other) = (
        stack.member(&course).await,
        stack.member(&course).await,
        stack.member(&course).await,
    );
    let moderator = stack.moderator(&course).await;
    let (a, b, o, m) = (
        stack.api(&asker),
        stack.api(&answerer),
        stack.api(&other),
        stack.api(&moderator),
    );
    let q = question(&a, &c, "Is the exam open book?").await;
    let qid = id_of(&q);
    assert_eq!(q["kind"], "question");
    assert_eq!(
        (q["is_answered"].clone(), q["is_resolved"].clone()),
        (json!(false), json!(false))
    );
    let discussion = create(
        &a,
        json!({ "community": c, "title": "Chat", "content": "Hi" }),
    )
    .await;
    assert_eq!(discussion["kind"], "discussion");
    let answer1 = id_of(&reply(&b, &c, &qid, "Yes").await);
    let answer2 = id_of(&reply(&o, &c, &qid, "No").await);
    let comment = id_of(&reply(&o, &c, &answer1, "Are you sure?").await);
    let unanswered = |path: &'static str| {
        let a = a.clone();
        let c = c.clone();
        async move { ids(&get(&a, &format!("{POSTS}/?community={c}&{path}")).await) }
    };
    assert_eq!(unanswered("unanswered=true").await, [qid.as_str()]);
    assert_eq!(unanswered("kind=question").await, [qid.as_str()]);
    assert_eq!(unanswered("kind=discussion").await, [id_of(&discussion)]);

    // Only the question's author or staff accept, only answers, one at a time.
    let r = b.post(&url(&answer1, "accept"), json!({})).await;
    assert_eq!(r.status, 403, "{r:?}");
    let r = a.post(&url(&comment, "accept"), json!({})).await;
    assert_eq!(
        r.status, 409,
        "a comment on an answer is not an answer: {r:?}"
    );
    let r = a
        .post(
            &url(discussion["id"].as_str().unwrap(), "accept"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 409, "{r:?}");
    let r = a.post(&url(&answer1, "accept"), json!({})).await;
    assert_eq!(
        (r.status, r.body["is_accepted"].clone()),
        (200, json!(true)),
        "{r:?}"
    );
    let read = get(&o, &url(&qid, "")).await;
    assert_eq!(read["accepted_answer"], answer1.as_str());
    assert_eq!(read["is_answered"], true);
    assert!(unanswered("unanswered=true").await.is_empty());
    let accepted = notified(&b, "answer_accepted").await;
    assert_eq!(accepted["actor"]["id"], asker.id.as_str());
    let r = a.post(&url(&answer2, "accept"), json!({})).await;
    assert_eq!(r.status, 200, "{r:?}");
    let thread = get(&o, &url(&qid, "")).await;
    assert_eq!(thread["accepted_answer"], answer2.as_str());
    let flags: Vec<(String, bool)> = thread["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (id_of(r), r["is_accepted"].as_bool().unwrap()))
        .collect();
    assert!(flags.contains(&(answer1.clone(), false)) && flags.contains(&(answer2.clone(), true)));
    let r = a.delete(&url(&answer2, "accept")).await;
    assert_eq!(r.status, 200, "{r:?}");
    let read = get(&o, &url(&qid, "")).await;
    assert!(
        read["accepted_answer"].is_null() && read["is_answered"] == false,
        "{read}"
    );

    // A moderator endorses: the question is answered by a staff-endorsed answer.
    let r = b.post(&url(&answer1, "endorse"), json!({})).await;
    assert_eq!(r.status, 403, "{r:?}");
    let r = m.post(&url(&answer1, "endorse"), json!({})).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        (r.body["is_endorsed"].clone(), r.body["endorsed_by"].clone()),
        (json!(true), json!(moderator.id))
    );
    assert_eq!(get(&o, &url(&qid, "")).await["is_answered"], true);
    notified(&b, "answer_endorsed").await;
    let r = m.delete(&url(&answer1, "endorse")).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(get(&o, &url(&qid, "")).await["is_answered"], false);
    // Endorsing a deleted post is refused and writes nothing.
    assert_eq!(o.delete(&url(&answer2, "")).await.status, 204);
    let r = m.post(&url(&answer2, "endorse"), json!({})).await;
    assert_eq!(r.status, 409, "{r:?}");
    // Staff answering makes a question answered.
    let staff_q = id_of(&question(&a, &c, "When is the exam?").await);
    reply(&stack.api(&course.instructor), &c, &staff_q, "Friday").await;
    assert_eq!(get(&o, &url(&staff_q, "")).await["is_answered"], true);

    // Resolve: the author or staff.
    assert_eq!(b.post(&url(&qid, "resolve"), json!({})).await.status, 403);
    let r = a.post(&url(&qid, "resolve"), json!({})).await;
    assert_eq!(
        (r.status, r.body["is_resolved"].clone()),
        (200, json!(true)),
        "{r:?}"
    );
    assert_eq!(unanswered("resolved=true").await, [qid.as_str()]);
    assert_eq!(unanswered("resolved=false").await, [staff_q.as_str()]);
    assert_eq!(m.post(&url(&qid, "unresolve"), json!({})).await.status, 200);
    assert!(unanswered("resolved=true").await.is_empty());

    // Announcements: staff only, and every member is told (not the author).
    let r = a
        .post(
            &format!("{POSTS}/"),
            json!({ "community": c, "kind": "announcement", "title": "x", "content": "y" }),
        )
        .await;
    assert_eq!(r.status, 403, "{r:?}");
    let ann = create(
        &stack.api(&course.instructor),
        json!({ "community": c, "kind": "announcement", "title": "Exam moved", "content": "To Monday" }),
    )
    .await;
    for api in [&a, &b, &o, &m] {
        let n = notified(api, "announcement").await;
        assert_eq!(n["target"]["id"], ann["id"]);
    }
    assert!(
        !kinds_of(&stack.api(&course.instructor))
            .await
            .contains(&"announcement".to_string())
    );
    assert_eq!(unanswered("kind=announcement").await, [id_of(&ann)]);
}

/// Everything a student can receive that carries a post: the raw bodies and frames must not
/// name the anonymous author.
fn assert_hidden(what: &str, raw: &str, secret: &User) {
    for needle in [&secret.id, &secret.name, &secret.username] {
        assert!(
            !raw.contains(needle.as_str()),
            "{what} reveals {needle:?} of the anonymous author: {raw}"
        );
    }
}

#[tokio::test]
async fn anonymous_posts_never_reveal_their_author_to_another_student() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let secret = User {
        id: "student-quentin-zebrafish-7731".into(),
        name: "Quentin Zebrafish".into(),
        username: "qzebrafish".into(),
        role: Role::Student,
        token: stack.token_for(
            "student-quentin-zebrafish-7731",
            Role::Student,
            "Quentin Zebrafish",
            Some("qzebrafish"),
        ),
    };
    stack.push_user(&secret).await;
    stack.enroll(&course, &secret, None).await;
    stack.join(&course, &secret).await;
    let reader = stack.member(&course).await;
    let moderator = stack.moderator(&course).await;
    let (s, r, m) = (
        stack.api(&secret),
        stack.api(&reader),
        stack.api(&moderator),
    );

    // Where the setting is off, an anonymous post is a 422 and nothing is written.
    let before = get(&r, &format!("{POSTS}/?community={c}")).await;
    let refused = s
        .post(
            &format!("{POSTS}/"),
            json!({ "community": c, "title": "t", "content": "c", "anonymous": true }),
        )
        .await;
    assert_eq!(refused.status, 422, "{refused:?}");
    assert_eq!(refused.body["errors"][0]["field"], "anonymous");
    assert_eq!(get(&r, &format!("{POSTS}/?community={c}")).await, before);
    set_community(
        &stack,
        &course,
        json!({ "anonymous_posting": "to_classmates" }),
    )
    .await;

    let mut ws = stack.ws(&reader, Some(&c)).await.expect("reader connects");
    let readers_post = id_of(
        &create(
            &r,
            json!({ "community": c, "kind": "question", "title": "Mine", "content": "Help" }),
        )
        .await,
    );
    let anon_q = create(
        &s,
        json!({ "community": c, "kind": "question", "title": "Secret question",
                "content": format!("Asking @{} too", reader.username), "anonymous": true }),
    )
    .await;
    let anon_q = id_of(&anon_q);
    let anon_reply = id_of(
        &create(
            &s,
            json!({ "community": c, "parent": readers_post, "content": "An anonymous answer", "anonymous": true }),
        )
        .await,
    );
    let readers_answer = id_of(&reply(&r, &c, &anon_q, "My answer").await);
    let r2 = s
        .patch(
            &url(&anon_q, ""),
            json!({ "content": format!("Edited, @{}", reader.username) }),
        )
        .await;
    assert_eq!(r2.status, 200);
    assert_eq!(
        r.post(&url(&anon_q, "react"), json!({ "reaction_type": "like" }))
            .await
            .status,
        201
    );
    // The anonymous asker accepts the reader's answer: the reader is told without a name.
    assert_eq!(
        s.post(&url(&readers_answer, "accept"), json!({}))
            .await
            .status,
        200
    );
    notified(&r, "answer_accepted").await;
    notified(&r, "new_reply").await;
    notified(&r, "new_mention").await;

    // The attack: every endpoint and event that carries those posts, read by the other student.
    let mut seen = Vec::new();
    for path in [
        url(&anon_q, ""),
        url(&readers_post, ""),
        url(&anon_reply, ""),
        url(&readers_answer, ""),
        format!("{POSTS}/?community={c}"),
        format!("{POSTS}/?community={c}&kind=question"),
        format!("{POSTS}/?community={c}&author={}", secret.id),
        group(&c, "posts/"),
        format!("{NOTIFICATIONS}/?limit=100"),
    ] {
        let resp = r.get(&path).await;
        assert_eq!(resp.status, 200, "{path}: {resp:?}");
        assert_hidden(&path, &resp.body.to_string(), &secret);
        seen.push(resp.body);
    }
    for n in seen[8]["results"].as_array().unwrap() {
        let got = get(
            &r,
            &format!("{NOTIFICATIONS}/{}/", n["id"].as_str().unwrap()),
        )
        .await;
        assert_hidden("a notification", &got.to_string(), &secret);
    }
    let by_author = &seen[6];
    assert!(
        ids(by_author).is_empty(),
        "?author= finds the anonymous author's posts: {by_author}"
    );
    let shown = &seen[0];
    assert_eq!(
        shown["author"],
        json!({ "id": null, "name": "Anonymous", "username": null })
    );
    assert_eq!(shown["anonymous"], true);
    // The edit history and the reactions endpoint give a student nothing of the author.
    let history = r.get(&url(&anon_q, "edits")).await;
    assert_eq!(history.status, 403);
    assert_hidden("edit history", &history.body.to_string(), &secret);
    // Every frame the reader's socket got.
    let mut frames = 0;
    while let Some(frame) = ws.try_next(Duration::from_millis(500)).await {
        assert_hidden("a WebSocket frame", &frame.to_string(), &secret);
        frames += 1;
    }
    assert!(
        frames >= 3,
        "the reader's notifications arrive live ({frames} frames)"
    );

    // Staff see the real author with `anonymous: true`; the author sees their post as theirs.
    for api in [&m, &s, &stack.api(&course.instructor)] {
        let seen = get(api, &url(&anon_q, "")).await;
        assert_eq!(seen["author"]["id"], secret.id.as_str());
        assert_eq!(seen["anonymous"], true);
    }
    let staff_list = get(&m, &format!("{POSTS}/?community={c}&author={}", secret.id)).await;
    assert_eq!(ids(&staff_list), [anon_q.as_str()]);
}

#[tokio::test]
async fn staff_only_posts_are_seen_by_their_author_and_staff_and_replies_inherit_that() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let (author, classmate) = (stack.member(&course).await, stack.member(&course).await);
    let moderator = stack.moderator(&course).await;
    let (a, cl, m) = (
        stack.api(&author),
        stack.api(&classmate),
        stack.api(&moderator),
    );
    let private = create(
        &a,
        json!({ "community": c, "kind": "question", "title": "My grade", "content": "Why?", "audience": "staff" }),
    )
    .await;
    let pid = id_of(&private);
    assert_eq!(private["audience"], "staff");
    let answer = id_of(&reply(&stack.api(&course.instructor), &c, &pid, "Let us talk").await);
    assert_eq!(cl.get(&url(&pid, "")).await.status, 404);
    assert_eq!(cl.get(&url(&answer, "")).await.status, 404);
    assert!(ids(&get(&cl, &format!("{POSTS}/?community={c}")).await).is_empty());
    let r = cl
        .post(
            &format!("{POSTS}/"),
            json!({ "community": c, "parent": pid, "content": "me too" }),
        )
        .await;
    assert_eq!(r.status, 404, "{r:?}");
    let thread = get(&a, &url(&pid, "")).await;
    assert_eq!(
        ids(&json!({ "results": thread["replies"] })),
        [answer.as_str()]
    );
    assert_eq!(get(&a, &url(&answer, "")).await["audience"], "staff");
    assert_eq!(
        ids(&get(&m, &format!("{POSTS}/?community={c}")).await),
        [pid.as_str()]
    );
    // A reply does not choose its audience.
    let r = a
        .post(
            &format!("{POSTS}/"),
            json!({ "community": c, "parent": pid, "content": "x", "audience": "everyone" }),
        )
        .await;
    assert_eq!(r.status, 422, "{r:?}");
}

#[tokio::test]
async fn tags_and_duplicates_follow_their_rules_and_bad_input_writes_nothing() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let other_course = stack.course().await;
    let c = course.community_id.clone();
    let (asker, student) = (stack.member(&course).await, stack.member(&course).await);
    let moderator = stack.moderator(&course).await;
    let (a, st, m, i) = (
        stack.api(&asker),
        stack.api(&student),
        stack.api(&moderator),
        stack.api(&course.instructor),
    );
    // Tags: instructors manage them; a student is refused whatever the body holds.
    assert_eq!(
        st.put(&group(&c, "tags/"), json!({ "bogus": 1 }))
            .await
            .status,
        403
    );
    assert_eq!(
        m.put(&group(&c, "tags/"), json!({ "tags": ["x"] }))
            .await
            .status,
        403
    );
    let too_many: Vec<String> = (0..31).map(|n| format!("t{n}")).collect();
    assert_eq!(
        i.put(&group(&c, "tags/"), json!({ "tags": too_many }))
            .await
            .status,
        422
    );
    let r = i
        .put(
            &group(&c, "tags/"),
            json!({ "tags": ["hw1", "exam", "hw1"] }),
        )
        .await;
    assert_eq!(
        (r.status, r.body["tags"].clone()),
        (200, json!(["hw1", "exam"])),
        "{r:?}"
    );
    assert_eq!(
        get(&st, &group(&c, "tags/")).await["tags"],
        json!(["hw1", "exam"])
    );
    let before = get(&st, &format!("{POSTS}/?community={c}")).await;
    let r = a
        .post(
            &format!("{POSTS}/"),
            json!({ "community": c, "title": "t", "content": "c", "tags": ["nope"] }),
        )
        .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["field"].clone()),
        (422, json!("tags")),
        "{r:?}"
    );
    assert_eq!(get(&st, &format!("{POSTS}/?community={c}")).await, before);
    let original = create(
        &a,
        json!({ "community": c, "kind": "question", "title": "HW1 q1", "content": "How?", "tags": ["hw1"] }),
    )
    .await;
    let oid = id_of(&original);
    assert_eq!(original["tags"], json!(["hw1"]));
    question(&a, &c, "Untagged").await;
    assert_eq!(
        ids(&get(&st, &format!("{POSTS}/?community={c}&tag=hw1")).await),
        [oid.as_str()]
    );

    // Duplicates: moderators close a question as a duplicate of a post of the same community.
    let dup = id_of(&question(&a, &c, "HW1 q1 again").await);
    let foreign = create(
        &stack.api(&other_course.instructor),
        json!({ "community": other_course.community_id, "title": "Elsewhere", "content": "x" }),
    )
    .await;
    assert_eq!(
        st.post(&url(&dup, "duplicate"), json!({ "of": 12 }))
            .await
            .status,
        403
    );
    for (body, status) in [
        (json!({ "of": dup }), 422),
        (json!({ "of": foreign["id"] }), 422),
        (json!({}), 422),
    ] {
        let r = m.post(&url(&dup, "duplicate"), body.clone()).await;
        assert_eq!(r.status, status, "{body}: {r:?}");
    }
    assert!(get(&st, &url(&dup, "")).await["duplicate_of"].is_null());
    let r = m.post(&url(&dup, "duplicate"), json!({ "of": oid })).await;
    assert_eq!(
        (r.status, r.body["duplicate_of"].clone()),
        (200, json!(oid)),
        "{r:?}"
    );
    let r = st
        .post(
            &format!("{POSTS}/"),
            json!({ "community": c, "parent": dup, "content": "answer" }),
        )
        .await;
    assert_eq!(r.status, 409, "a duplicate takes no new answers: {r:?}");
    notified(&a, "marked_duplicate").await;
    assert!(!kinds_of(&m).await.contains(&"marked_duplicate".to_string()));
}

#[tokio::test]
async fn an_archived_community_refuses_every_write_with_409_archived_and_logs_moderation() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let student = stack.member(&course).await;
    let moderator = stack.moderator(&course).await;
    let (st, m, i) = (
        stack.api(&student),
        stack.api(&moderator),
        stack.api(&course.instructor),
    );
    let post = id_of(&question(&st, &c, "Before the end").await);
    let other = id_of(&question(&i, &c, "Instructor's").await);
    // Moderation actions before the archive, to read back in the log.
    assert_eq!(m.post(&url(&other, "pin"), json!({})).await.status, 200);
    assert_eq!(m.post(&url(&other, "endorse"), json!({})).await.status, 200);
    assert_eq!(m.delete(&url(&post, "")).await.status, 204);
    let post = id_of(&question(&st, &c, "Still open").await);

    assert_eq!(
        st.patch(&group(&c, ""), json!({ "is_archived": true }))
            .await
            .status,
        403
    );
    assert_eq!(
        m.patch(&group(&c, ""), json!({ "is_archived": true }))
            .await
            .status,
        403
    );
    set_community(&stack, &course, json!({ "is_archived": true })).await;
    let mut ws = stack.ws(&student, Some(&c)).await.expect("reads stay open");
    let writes = [
        st.post(
            &format!("{POSTS}/"),
            json!({ "community": c, "title": "t", "content": "c" }),
        )
        .await,
        st.post(
            &format!("{POSTS}/"),
            json!({ "community": c, "parent": post, "content": "c" }),
        )
        .await,
        st.post(&url(&post, "react"), json!({ "reaction_type": "like" }))
            .await,
        st.post(&url(&post, "flag"), json!({ "reason": "spam" }))
            .await,
        st.patch(&url(&post, ""), json!({ "content": "edit" }))
            .await,
        st.post(&url(&post, "resolve"), json!({})).await,
        m.post(&url(&post, "endorse"), json!({})).await,
        m.post(&url(&post, "pin"), json!({})).await,
        i.post(
            &format!("{POSTS}/"),
            json!({ "community": c, "title": "t", "content": "c" }),
        )
        .await,
        st.post(
            "/api/community/messages/",
            json!({ "community": c, "message": "hi" }),
        )
        .await,
    ];
    for (n, r) in writes.iter().enumerate() {
        assert_eq!(
            (r.status, r.body["code"].clone()),
            (409, json!("archived")),
            "write {n}: {r:?}"
        );
    }
    for frame in [
        json!({ "type": "chat_message", "community_id": c, "message": "hi", "client_id": "a1" }),
        json!({ "type": "typing", "community_id": c, "is_typing": true, "client_id": "a2" }),
    ] {
        ws.send(frame).await;
        let e = ws.next_of_type("error").await;
        assert_eq!(e["code"], "archived", "{e}");
    }
    assert_eq!(st.get(&url(&post, "")).await.status, 200);
    assert_eq!(
        get(&st, &format!("{POSTS}/?community={c}")).await["results"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let admin = stack.api(&stack.admin());
    assert_eq!(
        admin.post(&url(&post, "endorse"), json!({})).await.status,
        200
    );

    // The audit log: the course's instructors and admins, newest first.
    assert_eq!(m.get(&group(&c, "audit/")).await.status, 403);
    assert_eq!(st.get(&group(&c, "audit/")).await.status, 403);
    let log = get(&i, &group(&c, "audit/")).await;
    let actions: Vec<&str> = log["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "endorse",
            "archive",
            "delete",
            "endorse",
            "pin",
            "role_change"
        ],
        "{log}"
    );
    let delete = &log["results"][2];
    assert_eq!(delete["actor_id"], moderator.id.as_str());
    assert_eq!(
        delete["target"],
        json!({ "type": "post", "id": delete["target"]["id"] })
    );
    assert_eq!(admin.get(&group(&c, "audit/")).await.status, 200);
    // The log takes no writes.
    assert_eq!(i.post(&group(&c, "audit/"), json!({})).await.status, 405);

    set_community(&stack, &course, json!({ "is_archived": false })).await;
    create(&st, json!({ "community": c, "title": "t", "content": "c" })).await;
    // The LMS archives the course's community too.
    let r = admin
        .put(
            &format!("/api/community/lms/courses/{}/", course.course_id),
            json!({ "title": "Course", "instructor_ids": [course.instructor.id], "is_archived": true }),
        )
        .await;
    assert!(r.status == 200 || r.status == 201, "{r:?}");
    let r = st
        .post(
            &format!("{POSTS}/"),
            json!({ "community": c, "title": "t", "content": "c" }),
        )
        .await;
    assert_eq!(r.body["code"], "archived", "{r:?}");
}

#[tokio::test]
async fn seed_clients_omit_community_id_and_callers_who_may_not_act_get_403_whatever_the_body() {
    let stack = Stack::start_with(|cfg| {
        cfg.parameter_overrides
            .insert("PostRateLimit".into(), "2/600".into());
    })
    .await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let (alice, bob) = (stack.member(&course).await, stack.member(&course).await);
    let outsider = stack.user(Role::Student);

    // One community on the connection: `community_id` may be left out of chat and typing.
    let mut a = stack.ws(&alice, Some(&c)).await.expect("alice");
    let mut b = stack.ws(&bob, Some(&c)).await.expect("bob");
    a.send(json!({ "type": "chat_message", "message": "hello from the seed client", "message_type": "text" }))
        .await;
    let got = b.next_of_type("chat_message").await;
    assert_eq!(
        (got["community_id"].clone(), got["message"].clone()),
        (json!(c), json!("hello from the seed client"))
    );
    a.next_of_type("chat_message").await;
    a.send(json!({ "type": "typing", "is_typing": true })).await;
    assert_eq!(b.next_of_type("typing").await["community_id"], c.as_str());
    // None: a validation error event, nothing sent.
    let mut bare = stack.ws(&alice, None).await.expect("no community");
    bare.send(json!({ "type": "chat_message", "message": "lost", "client_id": "x1" }))
        .await;
    let e = bare.next_of_type("error").await;
    assert_eq!(
        (e["code"].clone(), e["client_id"].clone()),
        (json!("validation_failed"), json!("x1"))
    );
    b.expect_silence(Duration::from_millis(500)).await;

    // Authorization before body validation.
    let (o, al) = (stack.api(&outsider), stack.api(&alice));
    let odd = json!({ "title": "", "nonsense": [1] });
    assert_eq!(
        al.post("/api/community/groups/", odd.clone()).await.status,
        403
    );
    assert_eq!(al.patch(&group(&c, ""), odd.clone()).await.status, 403);
    assert_eq!(
        al.patch(&group(&c, &format!("members/{}/", bob.id)), odd.clone())
            .await
            .status,
        403
    );
    assert_eq!(o.post(&group(&c, "posts/"), odd.clone()).await.status, 403);
    assert_eq!(
        o.post(
            "/api/community/messages/",
            json!({ "community": c, "message": "" })
        )
        .await
        .status,
        403
    );
    let p = id_of(&create(&al, json!({ "community": c, "title": "t", "content": "c" })).await);
    for action in ["approve", "reject", "resolve-flags", "notes", "duplicate"] {
        let r = stack.api(&bob).post(&url(&p, action), odd.clone()).await;
        assert_eq!(r.status, 403, "{action}: {r:?}");
    }
    let r = stack.api(&bob).patch(&url(&p, ""), odd.clone()).await;
    assert_eq!(r.status, 403, "{r:?}");

    // Rate limits are template parameters (here 2 posts in 600 s); staff are exempt.
    create(
        &al,
        json!({ "community": c, "title": "t2", "content": "c" }),
    )
    .await;
    let r = al
        .post(
            &format!("{POSTS}/"),
            json!({ "community": c, "title": "t3", "content": "c" }),
        )
        .await;
    assert_eq!(r.status, 429, "{r:?}");
    let i = stack.api(&course.instructor);
    for n in 0..4 {
        create(
            &i,
            json!({ "community": c, "title": format!("i{n}"), "content": "c" }),
        )
        .await;
    }
    for n in 0..25 {
        let r = i
            .post(
                "/api/community/messages/",
                json!({ "community": c, "message": format!("m{n}") }),
            )
            .await;
        assert_eq!(r.status, 201, "staff chat {n}: {r:?}");
    }
}
