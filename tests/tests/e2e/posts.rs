//! The discussion forum through the gateway: threads, edits, soft deletion, reactions, the
//! approval workflow, flags and notes, listings; the role matrix of every action; exact counters
//! under concurrent writers; bad input and rate limits that change nothing.

use e2e::*;
use futures::future::join_all;
use serde_json::{Value, json};

const POSTS: &str = "/api/community/posts";

fn post_url(id: &str) -> String {
    format!("{POSTS}/{id}/")
}

fn action_url(id: &str, action: &str) -> String {
    format!("{POSTS}/{id}/{action}/")
}

fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}

fn ids(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {page}"))
        .iter()
        .map(id_of)
        .collect()
}

async fn new_post(api: &Api, community: &str, title: &str) -> Value {
    let r = api
        .post(
            &format!("{POSTS}/"),
            json!({ "community": community, "title": title, "content": format!("{title}: body") }),
        )
        .await;
    assert_eq!(r.status, 201, "create {title}: {r:?}");
    r.body
}

async fn new_reply(api: &Api, community: &str, parent: &str, content: &str) -> Value {
    let r = api
        .post(
            &format!("{POSTS}/"),
            json!({ "community": community, "parent": parent, "content": content }),
        )
        .await;
    assert_eq!(r.status, 201, "reply {content}: {r:?}");
    r.body
}

async fn community(stack: &Stack, course: &Course) -> Value {
    let r = stack
        .api(&stack.admin())
        .get(&format!("/api/community/groups/{}/", course.community_id))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    r.body
}

async fn post_count(stack: &Stack, course: &Course) -> i64 {
    community(stack, course).await["post_count"]
        .as_i64()
        .expect("post_count")
}

async fn read(api: &Api, id: &str) -> Value {
    let r = api.get(&post_url(id)).await;
    assert_eq!(r.status, 200, "read {id}: {r:?}");
    r.body
}

async fn require_approval(stack: &Stack, course: &Course, on: bool) {
    let r = stack
        .api(&course.instructor)
        .patch(
            &format!("/api/community/groups/{}/", course.community_id),
            json!({ "require_post_approval": on }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
}

/// Every stored post item (`POST#... / META`), read straight from the table.
async fn stored_posts(
    stack: &Stack,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let out = stack
        .ddb
        .scan()
        .table_name(&stack.table)
        .filter_expression("begins_with(PK, :p) AND SK = :meta")
        .expression_attribute_values(":p", AttributeValue::S("POST#".into()))
        .expression_attribute_values(":meta", AttributeValue::S("META".into()))
        .send()
        .await
        .expect("scan of the test table");
    out.items.unwrap_or_default()
}

async fn moderation_queue(api: &Api, course: &Course) -> Vec<Value> {
    let r = api
        .get(&format!(
            "/api/community/groups/{}/moderation/",
            course.community_id
        ))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    r.body["results"].as_array().unwrap().clone()
}

// ---------------------------------------------------------------- threads

#[tokio::test]
async fn a_thread_reads_back_depth_first_with_counts_views_and_my_reactions() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = &course.community_id;
    let (alice, bob) = (stack.member(&course).await, stack.member(&course).await);
    let (a, b) = (stack.api(&alice), stack.api(&bob));

    let root = new_post(&a, c, "Lesson 5 question").await;
    assert_eq!(root["status"], "approved");
    assert_eq!(root["depth"], 0);
    assert_eq!(root["author"]["id"], alice.id.as_str());
    assert_eq!(root["author"]["username"], alice.username.as_str());
    let root_id = id_of(&root);
    let r1 = new_reply(&b, c, &root_id, "first answer").await;
    let r2 = new_reply(&a, c, &root_id, "second answer").await;
    let r1a = new_reply(&a, c, &id_of(&r1), "reply to the first").await;
    let r1a1 = new_reply(&b, c, &id_of(&r1a), "deeper").await;
    let r2a = new_reply(&b, c, &id_of(&r2), "reply to the second").await;
    assert_eq!(r1a1["depth"], 3);
    assert_eq!(r1a1["root"], root_id.as_str());
    assert_eq!(r1a1["title"], Value::Null, "replies go without a title");
    // Through the community route too.
    let r = b
        .post(
            &format!("/api/community/groups/{c}/posts/"),
            json!({ "parent": id_of(&r2a), "content": "via the group" }),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let r2a1 = r.body;

    let r = b
        .post(
            &action_url(&id_of(&r1), "react"),
            json!({ "reaction_type": "helpful" }),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");

    let first = read(&b, &root_id).await;
    let order: Vec<String> = first["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    let expected: Vec<String> = [&r1, &r1a, &r1a1, &r2, &r2a, &r2a1]
        .iter()
        .map(|v| id_of(v))
        .collect();
    assert_eq!(order, expected, "depth-first order");
    let depths: Vec<i64> = first["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["depth"].as_i64().unwrap())
        .collect();
    assert_eq!(depths, [1, 2, 3, 1, 2, 3]);
    assert_eq!(first["replies"][0]["parent"], root_id.as_str());
    assert_eq!(first["replies"][0]["reaction_counts"]["helpful"], 1);
    assert_eq!(first["replies"][0]["my_reactions"], json!(["helpful"]));
    assert_eq!(first["replies"][3]["my_reactions"], json!([]));
    assert_eq!(first["reply_count"], 2, "direct replies");
    assert_eq!(first["view_count"], 1);
    assert_eq!(first["my_reactions"], json!([]));
    assert_eq!(first["replies_next"], Value::Null);

    // Reading a reply shows its own subtree.
    let sub = read(&a, &id_of(&r1)).await;
    assert_eq!(sub["reply_count"], 1);
    assert_eq!(sub["replies"].as_array().unwrap().len(), 2);
    assert_eq!(sub["my_reactions"], json!([]), "alice did not react");

    // Pages of a thread, in order, and only the first page counts a view.
    let page1 = b.get(&format!("{}?limit=4", post_url(&root_id))).await.body;
    assert_eq!(page1["replies"].as_array().unwrap().len(), 4);
    let next = page1["replies_next"].as_str().expect("more replies");
    let page2 = b
        .get(&format!("{}?limit=4&cursor={next}", post_url(&root_id)))
        .await;
    assert_eq!(page2.status, 200, "{page2:?}");
    let rest: Vec<String> = page2.body["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(rest, expected[4..]);
    assert_eq!(
        read(&a, &root_id).await["view_count"],
        3,
        "pages after the first count no view"
    );
    assert_eq!(post_count(&stack, &course).await, 7);
    let r = b
        .get(&format!("{}?cursor={next}", post_url(&id_of(&r2))))
        .await;
    assert_eq!(r.status, 400, "a thread cursor belongs to its own post");
}

#[tokio::test]
async fn bad_input_gets_422_with_per_field_errors_and_writes_nothing() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = course.community_id.as_str();
    let member = stack.member(&course).await;
    let api = stack.api(&member);
    let path = format!("{POSTS}/");
    let long_title = "t".repeat(201);
    let long_content = "é".repeat(40_001);
    let cases: Vec<(&str, Value, u16, Vec<&str>)> = vec![
        (
            "missing title and content",
            json!({ "community": c }),
            422,
            vec!["title", "content"],
        ),
        (
            "blank title",
            json!({ "community": c, "title": "  \n ", "content": "x" }),
            422,
            vec!["title"],
        ),
        (
            "blank content",
            json!({ "community": c, "title": "t", "content": "   " }),
            422,
            vec!["content"],
        ),
        (
            "title over 200",
            json!({ "community": c, "title": long_title, "content": "x" }),
            422,
            vec!["title"],
        ),
        (
            "content over 40000",
            json!({ "community": c, "title": "t", "content": long_content }),
            422,
            vec!["content"],
        ),
        (
            "missing community",
            json!({ "title": "t", "content": "x" }),
            422,
            vec!["community"],
        ),
        (
            "bad community id",
            json!({ "community": "nope", "title": "t", "content": "x" }),
            422,
            vec!["community"],
        ),
        (
            "bad parent id",
            json!({ "community": c, "parent": "nope", "content": "x" }),
            422,
            vec!["parent"],
        ),
        (
            "unknown field",
            json!({ "community": c, "title": "t", "content": "x", "pinned": true }),
            422,
            vec![],
        ),
        (
            "wrong type",
            json!({ "community": c, "title": 7, "content": "x" }),
            422,
            vec!["title"],
        ),
    ];
    for (what, body, status, fields) in cases {
        let r = api.post(&path, body).await;
        assert_eq!(r.status, status, "{what}: {r:?}");
        assert_eq!(
            r.headers["content-type"], "application/problem+json",
            "{what}"
        );
        if !fields.is_empty() {
            let got: Vec<&str> = r.body["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["field"].as_str().unwrap())
                .collect();
            assert_eq!(got, fields, "{what}");
        }
    }
    let r = api
        .post_raw(&path, "{\"title\": ", "application/json")
        .await;
    assert_eq!(r.status, 400, "malformed JSON: {r:?}");
    let r = api.post_raw(&path, "title=x", "text/plain").await;
    assert_eq!(r.status, 415, "not JSON: {r:?}");
    let r = api
        .post(
            &format!("/api/community/groups/{}/posts/", ulid::Ulid::generate()),
            json!({ "title": "t", "content": "x" }),
        )
        .await;
    assert_eq!(r.status, 404, "unknown community: {r:?}");
    let r = api
        .post(
            &format!("/api/community/groups/{c}/posts/"),
            json!({ "community": ulid::Ulid::generate().to_string(), "title": "t", "content": "x" }),
        )
        .await;
    assert_eq!(r.status, 422, "body and path disagree: {r:?}");

    // Exactly at the limits is fine.
    let r = api
        .post(
            &path,
            json!({ "community": c, "title": "t".repeat(200), "content": "é".repeat(40_000) }),
        )
        .await;
    assert_eq!(r.status, 201, "at the limits: {r:?}");
    let post = r.body;
    let edit_cases = [
        (json!({}), "body"),
        (json!({ "title": "" }), "title"),
        (json!({ "content": "x".repeat(40_001) }), "content"),
    ];
    for (body, field) in edit_cases {
        let r = api.patch(&post_url(&id_of(&post)), body.clone()).await;
        assert_eq!(r.status, 422, "edit {body}: {r:?}");
        assert_eq!(r.body["errors"][0]["field"], field);
    }
    let r = api
        .put(&post_url(&id_of(&post)), json!({ "content": "no title" }))
        .await;
    assert_eq!(r.status, 422, "PUT replaces the whole text: {r:?}");

    assert_eq!(
        stored_posts(&stack).await.len(),
        1,
        "only the valid post was written"
    );
    assert_eq!(post_count(&stack, &course).await, 1);
    let stored = read(&api, &id_of(&post)).await;
    assert_eq!(
        stored["edited_at"],
        Value::Null,
        "refused edits change nothing"
    );
}

#[tokio::test]
async fn replies_to_posts_of_another_community_or_to_missing_or_deleted_posts_get_404() {
    let stack = Stack::start().await;
    let (course, other) = (stack.course().await, stack.course().await);
    let member = stack.member(&course).await;
    let outsider = stack.member(&other).await;
    let api = stack.api(&member);
    let c = &course.community_id;
    let theirs = new_post(&stack.api(&outsider), &other.community_id, "elsewhere").await;
    let mine = new_post(&api, c, "mine").await;

    let r = api
        .post(
            &format!("{POSTS}/"),
            json!({ "community": c, "parent": id_of(&theirs), "content": "x" }),
        )
        .await;
    assert_eq!(r.status, 404, "parent in another community: {r:?}");
    let r = api
        .post(
            &format!("{POSTS}/"),
            json!({ "community": c, "parent": ulid::Ulid::generate().to_string(), "content": "x" }),
        )
        .await;
    assert_eq!(r.status, 404, "missing parent: {r:?}");
    assert_eq!(api.delete(&post_url(&id_of(&mine))).await.status, 204);
    let r = api
        .post(
            &format!("{POSTS}/"),
            json!({ "community": c, "parent": id_of(&mine), "content": "x" }),
        )
        .await;
    assert_eq!(r.status, 404, "deleted parent: {r:?}");
    let r = api
        .post(
            &format!("{POSTS}/"),
            json!({ "community": other.community_id, "title": "t", "content": "x" }),
        )
        .await;
    assert_eq!(r.status, 403, "posting where one is not a member: {r:?}");
    assert_eq!(
        api.get(&post_url(&ulid::Ulid::generate().to_string()))
            .await
            .status,
        404
    );
    assert_eq!(api.get(&post_url("not-a-ulid")).await.status, 400);
    assert_eq!(
        api.get(&format!("{POSTS}/{}/nothing/", id_of(&theirs)))
            .await
            .status,
        404
    );
    assert_eq!(
        api.get(&action_url(&id_of(&theirs), "approve"))
            .await
            .status,
        405
    );
    assert_eq!(stored_posts(&stack).await.len(), 2);
    assert_eq!(
        post_count(&stack, &course).await,
        0,
        "the deleted post is not counted"
    );
}

// ---------------------------------------------------------------- the role matrix

/// Everyone whose rights differ, in one public course community.
struct Cast {
    course: Course,
    authors: Vec<User>,
    stranger: User,
    enrolled: User,
    member: User,
    expired: User,
    moderator: User,
    other_instructor: User,
    admin: User,
}

const ROLES: [&str; 8] = [
    "stranger",
    "enrolled non-member",
    "member",
    "member with expired enrollment",
    "moderator",
    "course instructor",
    "other instructor",
    "admin",
];

/// Those who may not read this community's posts: 403 (the community itself is public).
fn outsider(who: &str) -> bool {
    matches!(
        who,
        "stranger" | "enrolled non-member" | "member with expired enrollment" | "other instructor"
    )
}

fn moderates(who: &str) -> bool {
    matches!(who, "moderator" | "course instructor" | "admin")
}

impl Cast {
    async fn new(stack: &Stack) -> (Cast, Value) {
        let course = stack.course().await;
        let stranger = stack.user(Role::Student);
        let enrolled = stack.user(Role::Student);
        stack.enroll(&course, &enrolled, None).await;
        let member = stack.member(&course).await;
        let expired = stack.member(&course).await;
        // The expired member wrote a post while enrolled.
        let written = new_post(&stack.api(&expired), &course.community_id, "before expiry").await;
        let past = shared::clock::iso(chrono::Utc::now() - chrono::Duration::minutes(1));
        let r = stack
            .api(&stack.admin())
            .put(
                &format!(
                    "/api/community/lms/courses/{}/enrollments/{}/",
                    course.course_id, expired.id
                ),
                json!({ "is_active": true, "expiry_date": past }),
            )
            .await;
        assert!(r.status == 200 || r.status == 201, "{r:?}");
        let authors = join_all((0..4).map(|_| stack.member(&course))).await;
        let cast = Cast {
            authors,
            stranger,
            enrolled,
            member,
            expired,
            moderator: stack.moderator(&course).await,
            other_instructor: stack.user(Role::Instructor),
            admin: stack.admin(),
            course,
        };
        (cast, written)
    }

    fn user(&self, who: &str) -> &User {
        match who {
            "stranger" => &self.stranger,
            "enrolled non-member" => &self.enrolled,
            "member" => &self.member,
            "member with expired enrollment" => &self.expired,
            "moderator" => &self.moderator,
            "course instructor" => &self.course.instructor,
            "other instructor" => &self.other_instructor,
            "admin" => &self.admin,
            _ => panic!("unknown role {who}"),
        }
    }

    /// A fresh approved post by one of the authors (spread to stay under the rate limit).
    async fn target(&self, stack: &Stack, n: usize) -> String {
        let author = &self.authors[n % self.authors.len()];
        id_of(
            &new_post(
                &stack.api(author),
                &self.course.community_id,
                &format!("target {n}"),
            )
            .await,
        )
    }
}

/// Collects mismatches so one run reports the whole matrix.
#[derive(Default)]
struct Matrix(Vec<String>);

impl Matrix {
    fn check(&mut self, action: &str, who: &str, want: u16, got: &Resp) {
        if got.status != want {
            self.0.push(format!(
                "{action} as {who}: want {want}, got {} {}",
                got.status, got.body
            ));
        }
    }
}

#[tokio::test]
async fn every_post_action_follows_the_role_matrix() {
    let stack = Stack::start().await;
    let (cast, written_before_expiry) = Cast::new(&stack).await;
    let c = cast.course.community_id.clone();
    let author = stack.api(&cast.authors[0]);
    let p = id_of(&new_post(&author, &c, "shared target").await);
    require_approval(&stack, &cast.course, true).await;
    let held = id_of(&new_post(&stack.api(&cast.authors[3]), &c, "held").await);
    require_approval(&stack, &cast.course, false).await;
    let mut m = Matrix::default();
    let mut n = 0;
    let mut fresh = || {
        n += 1;
        n
    };

    for who in ROLES {
        let api = stack.api(cast.user(who));
        let readers = if outsider(who) { 403 } else { 200 };
        let writers = if outsider(who) { 403 } else { 201 };
        let mods = |ok: u16| if moderates(who) { ok } else { 403 };

        m.check(
            "list via ?community=",
            who,
            readers,
            &api.get(&format!("{POSTS}/?community={c}")).await,
        );
        m.check(
            "list via the group",
            who,
            readers,
            &api.get(&format!("/api/community/groups/{c}/posts/")).await,
        );
        m.check("read", who, readers, &api.get(&post_url(&p)).await);
        let body = json!({ "community": c, "title": format!("by {who}"), "content": "hello" });
        m.check(
            "create",
            who,
            writers,
            &api.post(&format!("{POSTS}/"), body.clone()).await,
        );
        m.check(
            "create via the group",
            who,
            writers,
            &api.post(&format!("/api/community/groups/{c}/posts/"), body)
                .await,
        );
        let reply = json!({ "community": c, "parent": p, "content": format!("reply by {who}") });
        m.check(
            "reply",
            who,
            writers,
            &api.post(&format!("{POSTS}/"), reply).await,
        );
        m.check(
            "react",
            who,
            writers,
            &api.post(&action_url(&p, "react"), json!({ "reaction_type": "wow" }))
                .await,
        );
        let unreact = if outsider(who) { 403 } else { 204 };
        m.check(
            "unreact",
            who,
            unreact,
            &api.delete(&format!("{}?reaction_type=wow", action_url(&p, "react")))
                .await,
        );
        m.check(
            "flag",
            who,
            writers,
            &api.post(
                &action_url(&p, "flag"),
                json!({ "reason": format!("flag by {who}") }),
            )
            .await,
        );
        m.check(
            "edit someone else's (PATCH)",
            who,
            403,
            &api.patch(&post_url(&p), json!({ "content": "mine now" }))
                .await,
        );
        m.check(
            "edit someone else's (PUT)",
            who,
            403,
            &api.put(
                &post_url(&p),
                json!({ "title": "t", "content": "mine now" }),
            )
            .await,
        );
        m.check(
            "edit history of someone else's",
            who,
            mods(200),
            &api.get(&action_url(&p, "edits")).await,
        );
        m.check(
            "pin",
            who,
            mods(200),
            &api.post(&action_url(&p, "pin"), json!({})).await,
        );
        m.check(
            "unpin",
            who,
            mods(200),
            &api.post(&action_url(&p, "unpin"), json!({})).await,
        );
        m.check(
            "add a note",
            who,
            mods(201),
            &api.post(
                &action_url(&p, "notes"),
                json!({ "note": format!("note by {who}") }),
            )
            .await,
        );
        m.check(
            "read notes",
            who,
            mods(200),
            &api.get(&action_url(&p, "notes")).await,
        );
        m.check(
            "read flags",
            who,
            mods(200),
            &api.get(&action_url(&p, "flags")).await,
        );
        m.check(
            "moderation queue",
            who,
            mods(200),
            &api.get(&format!("/api/community/groups/{c}/moderation/"))
                .await,
        );

        // Destructive actions, each on its own target (outsiders are refused before anything).
        if outsider(who) {
            m.check(
                "delete someone else's",
                who,
                403,
                &api.delete(&post_url(&p)).await,
            );
            m.check(
                "resolve flags",
                who,
                403,
                &api.post(&action_url(&p, "resolve-flags"), json!({})).await,
            );
            m.check(
                "approve",
                who,
                403,
                &api.post(&action_url(&held, "approve"), json!({})).await,
            );
            m.check(
                "reject",
                who,
                403,
                &api.post(&action_url(&held, "reject"), json!({})).await,
            );
            continue;
        }
        let target = cast.target(&stack, fresh()).await;
        let deleters = if moderates(who) { 204 } else { 403 };
        m.check(
            "delete someone else's",
            who,
            deleters,
            &api.delete(&post_url(&target)).await,
        );

        let flagged = cast.target(&stack, fresh()).await;
        let r = stack
            .api(&cast.moderator)
            .post(&action_url(&flagged, "flag"), json!({ "reason": "spam" }))
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        m.check(
            "resolve flags",
            who,
            mods(200),
            &api.post(&action_url(&flagged, "resolve-flags"), json!({}))
                .await,
        );

        require_approval(&stack, &cast.course, true).await;
        let pending = cast.target(&stack, fresh()).await;
        let also_pending = cast.target(&stack, fresh()).await;
        require_approval(&stack, &cast.course, false).await;
        // Others' pending posts are invisible to members: 404, not 403.
        let reviewers = if moderates(who) { 200 } else { 404 };
        m.check(
            "approve",
            who,
            reviewers,
            &api.post(&action_url(&pending, "approve"), json!({})).await,
        );
        m.check(
            "reject",
            who,
            reviewers,
            &api.post(
                &action_url(&also_pending, "reject"),
                json!({ "reason": "off topic" }),
            )
            .await,
        );
    }

    // The author's own rights.
    let own = stack.api(&cast.authors[0]);
    m.check(
        "edit own",
        "author",
        200,
        &own.patch(&post_url(&p), json!({ "content": "edited" }))
            .await,
    );
    m.check(
        "edit history of own",
        "author",
        200,
        &own.get(&action_url(&p, "edits")).await,
    );
    m.check(
        "flag own",
        "author",
        403,
        &own.post(&action_url(&p, "flag"), json!({ "reason": "me" }))
            .await,
    );
    m.check(
        "pin own",
        "author",
        403,
        &own.post(&action_url(&p, "pin"), json!({})).await,
    );
    require_approval(&stack, &cast.course, true).await;
    let own_pending = id_of(&new_post(&own, &c, "my pending").await);
    require_approval(&stack, &cast.course, false).await;
    m.check(
        "read own pending",
        "author",
        200,
        &own.get(&post_url(&own_pending)).await,
    );
    m.check(
        "approve own",
        "author",
        403,
        &own.post(&action_url(&own_pending, "approve"), json!({}))
            .await,
    );
    m.check(
        "delete own",
        "author",
        204,
        &own.delete(&post_url(&p)).await,
    );

    // An author whose enrollment expired keeps nothing, not even their own post.
    let expired = stack.api(&cast.expired);
    let w = id_of(&written_before_expiry);
    m.check(
        "read own after expiry",
        "expired author",
        403,
        &expired.get(&post_url(&w)).await,
    );
    m.check(
        "edit own after expiry",
        "expired author",
        403,
        &expired
            .patch(&post_url(&w), json!({ "content": "x" }))
            .await,
    );
    m.check(
        "delete own after expiry",
        "expired author",
        403,
        &expired.delete(&post_url(&w)).await,
    );
    assert!(
        m.0.is_empty(),
        "role matrix mismatches:\n{}",
        m.0.join("\n")
    );

    // Outsiders wrote nothing: every stored post is by a member, moderator, instructor or admin.
    for item in stored_posts(&stack).await {
        let author = item["author_id"].as_s().unwrap();
        for who in ROLES.iter().filter(|w| outsider(w)) {
            let outsider_id = &cast.user(who).id;
            assert!(
                author != outsider_id || *who == "member with expired enrollment",
                "{who} wrote a post"
            );
        }
    }
    let r = stack
        .api(&cast.expired)
        .get(&format!("{POSTS}/?community={c}"))
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn a_private_community_hides_its_posts_with_404() {
    let stack = Stack::start().await;
    let admin = stack.admin();
    let a = stack.api(&admin);
    let r = a
        .post(
            "/api/community/groups/",
            json!({ "title": "Staff room", "visibility": "private" }),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let c = id_of(&r.body);
    assert_eq!(
        a.post(&format!("/api/community/groups/{c}/join/"), json!({}))
            .await
            .status,
        201
    );
    let post = id_of(&new_post(&a, &c, "staff only").await);
    let student = stack.api(&stack.user(Role::Student));
    assert_eq!(student.get(&post_url(&post)).await.status, 404);
    assert_eq!(
        student.get(&format!("{POSTS}/?community={c}")).await.status,
        404
    );
    assert_eq!(
        student
            .post(
                &action_url(&post, "react"),
                json!({ "reaction_type": "like" })
            )
            .await
            .status,
        404
    );
    assert_eq!(
        student
            .post(&action_url(&post, "flag"), json!({ "reason": "x" }))
            .await
            .status,
        404
    );
    assert_eq!(
        student
            .get(&format!("/api/community/groups/{c}/moderation/"))
            .await
            .status,
        404
    );
}

// ---------------------------------------------------------------- edit and delete

#[tokio::test]
async fn edits_keep_the_history_and_show_edited_at() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = &course.community_id;
    let (author, other) = (stack.member(&course).await, stack.member(&course).await);
    let moderator = stack.moderator(&course).await;
    let api = stack.api(&author);
    let post = new_post(&api, c, "Original title").await;
    let id = id_of(&post);
    assert_eq!(post["edited_at"], Value::Null);

    let r = api
        .patch(&post_url(&id), json!({ "content": "  second text " }))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["content"], "second text");
    assert_eq!(r.body["title"], "Original title");
    assert!(r.body["edited_at"].is_string());
    let r = api
        .put(
            &post_url(&id),
            json!({ "title": "Third title", "content": "third text" }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = api
        .put(
            &post_url(&id),
            json!({ "title": "Third title", "content": "third text" }),
        )
        .await;
    assert_eq!(r.status, 200, "an edit that changes nothing is fine");

    let now = read(&stack.api(&other), &id).await;
    assert_eq!(now["title"], "Third title");
    assert_eq!(now["content"], "third text");
    assert!(now["edited_at"].is_string());
    let history = api.get(&action_url(&id, "edits")).await;
    assert_eq!(history.status, 200, "{history:?}");
    let versions = history.body["results"].as_array().unwrap();
    assert_eq!(
        versions.len(),
        2,
        "one record per edit that changed the text"
    );
    assert_eq!(versions[0]["version"], 1);
    assert_eq!(versions[0]["title"], "Original title");
    assert_eq!(versions[0]["content"], "Original title: body");
    assert_eq!(versions[1]["content"], "second text");
    assert_eq!(
        stack
            .api(&moderator)
            .get(&action_url(&id, "edits"))
            .await
            .status,
        200
    );
    assert_eq!(
        stack
            .api(&other)
            .get(&action_url(&id, "edits"))
            .await
            .status,
        403
    );

    for (who, user) in [
        ("other member", &other),
        ("moderator", &moderator),
        ("instructor", &course.instructor),
    ] {
        let r = stack
            .api(user)
            .patch(&post_url(&id), json!({ "content": "hijacked" }))
            .await;
        assert_eq!(r.status, 403, "{who}: {r:?}");
    }
    let r = stack
        .api(&stack.admin())
        .patch(&post_url(&id), json!({ "content": "hijacked" }))
        .await;
    assert_eq!(r.status, 403, "admins do not edit others' words");

    // A reply's title may be set and removed again.
    let reply = id_of(&new_reply(&api, c, &id, "a reply").await);
    let r = api
        .patch(&post_url(&reply), json!({ "title": "Re: title" }))
        .await;
    assert_eq!(r.body["title"], "Re: title");
    let r = api
        .put(&post_url(&reply), json!({ "content": "a reply, reworded" }))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["title"], Value::Null);

    // Invisible posts answer 404; deleted ones cannot be edited.
    require_approval(&stack, &course, true).await;
    let pending = id_of(&new_post(&api, c, "pending").await);
    let r = stack
        .api(&other)
        .patch(&post_url(&pending), json!({ "content": "x" }))
        .await;
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(api.delete(&post_url(&id)).await.status, 204);
    let r = api
        .patch(&post_url(&id), json!({ "content": "after deletion" }))
        .await;
    assert_eq!(r.status, 409, "{r:?}");
    assert_eq!(
        api.get(&action_url(&id, "edits")).await.status,
        403,
        "a deleted post's history is for admins"
    );
    assert_eq!(
        stack
            .api(&stack.admin())
            .get(&action_url(&id, "edits"))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn soft_deleted_posts_show_as_deleted_to_readers_but_not_to_admins_and_keep_their_replies() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = &course.community_id;
    let (author, other) = (stack.member(&course).await, stack.member(&course).await);
    let moderator = stack.moderator(&course).await;
    let (a, o, m) = (stack.api(&author), stack.api(&other), stack.api(&moderator));
    let root = id_of(&new_post(&a, c, "To be deleted").await);
    let x = id_of(&new_reply(&o, c, &root, "reply x").await);
    let y = id_of(&new_reply(&a, c, &x, "reply y").await);
    let z = id_of(&new_reply(&o, c, &root, "reply z").await);
    assert_eq!(post_count(&stack, &course).await, 4);

    assert_eq!(
        o.delete(&post_url(&root)).await.status,
        403,
        "not the author"
    );
    assert_eq!(a.delete(&post_url(&root)).await.status, 204);
    assert_eq!(
        a.delete(&post_url(&root)).await.status,
        204,
        "deleting twice changes nothing"
    );
    assert_eq!(post_count(&stack, &course).await, 3);

    let seen = read(&o, &root).await;
    assert_eq!(seen["is_deleted"], true);
    assert_eq!(seen["title"], Value::Null);
    assert_eq!(seen["content"], Value::Null);
    let replies: Vec<&Value> = seen["replies"].as_array().unwrap().iter().collect();
    assert_eq!(replies.len(), 3, "replies stay readable");
    assert_eq!(replies[0]["content"], "reply x");
    assert_eq!(replies[1]["content"], "reply y");
    assert_eq!(
        read(&m, &root).await["content"],
        Value::Null,
        "moderators see it as deleted too"
    );
    let admin_view = read(&stack.api(&stack.admin()), &root).await;
    assert_eq!(admin_view["content"], "To be deleted: body");
    assert_eq!(admin_view["title"], "To be deleted");
    assert_eq!(admin_view["moderation"]["deleted_by"], author.id.as_str());

    let listing = o.get(&format!("{POSTS}/?community={c}")).await;
    assert!(
        !ids(&listing.body).contains(&root),
        "deleted posts leave the listing"
    );
    assert_eq!(
        o.get(&format!("{POSTS}/?community={c}&status=deleted"))
            .await
            .status,
        403
    );
    let deleted = m
        .get(&format!("{POSTS}/?community={c}&status=deleted"))
        .await;
    assert_eq!(ids(&deleted.body), [root.as_str()]);
    assert_eq!(deleted.body["results"][0]["content"], Value::Null);

    let r = o
        .post(
            &format!("{POSTS}/"),
            json!({ "community": c, "parent": root, "content": "late" }),
        )
        .await;
    assert_eq!(r.status, 404, "no replies to a deleted post: {r:?}");
    assert_eq!(
        o.post(
            &action_url(&root, "react"),
            json!({ "reaction_type": "sad" })
        )
        .await
        .status,
        404
    );
    assert_eq!(
        o.post(&action_url(&root, "flag"), json!({ "reason": "gone" }))
            .await
            .status,
        404
    );
    assert_eq!(
        m.post(&action_url(&root, "pin"), json!({})).await.status,
        409
    );
    let r = o
        .post(
            &format!("{POSTS}/"),
            json!({ "community": c, "parent": y, "content": "still open" }),
        )
        .await;
    assert_eq!(
        r.status, 201,
        "the thread under a deleted post stays open: {r:?}"
    );

    // A moderator deletes a reply: its parent's reply_count and post_count follow.
    assert_eq!(m.delete(&post_url(&z)).await.status, 204);
    assert_eq!(read(&a, &root).await["reply_count"], 1);
    assert_eq!(post_count(&stack, &course).await, 3);

    // The text is still stored.
    let items = stored_posts(&stack).await;
    let stored = items
        .iter()
        .find(|i| i["id"].as_s().unwrap() == &root)
        .unwrap();
    assert_eq!(stored["content"].as_s().unwrap(), "To be deleted: body");
    assert_eq!(stored["is_deleted"].as_bool().unwrap(), &true);
}

// ---------------------------------------------------------------- reactions

#[tokio::test]
async fn reactions_are_one_of_each_type_per_user_and_unknown_types_are_refused() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = &course.community_id;
    let (author, fan) = (stack.member(&course).await, stack.member(&course).await);
    let (a, f) = (stack.api(&author), stack.api(&fan));
    let post = id_of(&new_post(&a, c, "React to me").await);
    let react = action_url(&post, "react");

    let r = f.post(&react, json!({ "reaction_type": "like" })).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["reaction_type"], "like");
    assert_eq!(
        f.post(&react, json!({ "reaction_type": "like" }))
            .await
            .status,
        200,
        "again: no change"
    );
    assert_eq!(
        f.post(&react, json!({ "reaction_type": "love" }))
            .await
            .status,
        201
    );
    assert_eq!(
        a.post(&react, json!({ "reaction_type": "like" }))
            .await
            .status,
        201
    );
    for t in ["helpful", "haha", "wow", "sad"] {
        assert_eq!(
            f.post(&react, json!({ "reaction_type": t })).await.status,
            201,
            "{t}"
        );
    }
    let mine = read(&f, &post).await;
    assert_eq!(
        mine["reaction_counts"],
        json!({ "like": 2, "love": 1, "helpful": 1, "haha": 1, "wow": 1, "sad": 1 })
    );
    assert_eq!(
        mine["my_reactions"],
        json!(["like", "love", "helpful", "haha", "wow", "sad"])
    );
    assert_eq!(read(&a, &post).await["my_reactions"], json!(["like"]));

    let bad = [
        (json!({ "reaction_type": "angry" }), 422),
        (json!({}), 422),
        (json!({ "reaction_type": "like", "extra": 1 }), 422),
    ];
    for (body, status) in bad {
        let r = f.post(&react, body.clone()).await;
        assert_eq!(r.status, status, "{body}: {r:?}");
    }
    assert_eq!(
        f.delete(&react).await.status,
        422,
        "DELETE needs ?reaction_type="
    );
    assert_eq!(
        f.delete(&format!("{react}?reaction_type=angry"))
            .await
            .status,
        422
    );
    assert_eq!(
        f.delete(&format!("{react}?reaction_type=sad")).await.status,
        204
    );
    assert_eq!(
        f.delete(&format!("{react}?reaction_type=sad")).await.status,
        404,
        "already removed"
    );
    let after = read(&f, &post).await;
    assert_eq!(after["reaction_counts"]["sad"], 0);
    assert_eq!(after["reaction_counts"]["like"], 2);

    // Only approved posts take reactions.
    require_approval(&stack, &course, true).await;
    let pending = id_of(&new_post(&a, c, "pending").await);
    let r = a
        .post(
            &action_url(&pending, "react"),
            json!({ "reaction_type": "like" }),
        )
        .await;
    assert_eq!(r.status, 409, "{r:?}");
}

#[tokio::test]
async fn twenty_users_reacting_at_once_are_each_counted_once() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let author = stack.member(&course).await;
    let post = id_of(&new_post(&stack.api(&author), &course.community_id, "Popular").await);
    let fans: Vec<User> = join_all((0..20).map(|_| stack.member(&course))).await;
    let react = action_url(&post, "react");
    // Each fan sends like twice and love once, all at the same time.
    let requests = fans.iter().flat_map(|u| {
        let api = stack.api(u);
        ["like", "like", "love"].map(|t| {
            let (api, react) = (api.clone(), react.clone());
            async move { api.post(&react, json!({ "reaction_type": t })).await.status }
        })
    });
    let statuses = join_all(requests).await;
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 200),
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 40);
    let counts = read(&stack.api(&author), &post).await["reaction_counts"].clone();
    assert_eq!(counts["like"], 20);
    assert_eq!(counts["love"], 20);

    // Half take their like back while the other half react again.
    let removals = fans[..10].iter().map(|u| {
        let (api, url) = (stack.api(u), format!("{react}?reaction_type=like"));
        async move { api.delete(&url).await.status }
    });
    let repeats = fans[10..].iter().map(|u| {
        let (api, react) = (stack.api(u), react.clone());
        async move {
            api.post(&react, json!({ "reaction_type": "like" }))
                .await
                .status
        }
    });
    let (removed, repeated) = futures::future::join(join_all(removals), join_all(repeats)).await;
    assert!(removed.iter().all(|s| *s == 204), "{removed:?}");
    assert!(repeated.iter().all(|s| *s == 200), "{repeated:?}");
    let counts = read(&stack.api(&author), &post).await["reaction_counts"].clone();
    assert_eq!(counts["like"], 10);
    assert_eq!(counts["love"], 20);
}

// ---------------------------------------------------------------- counters under concurrency

#[tokio::test]
async fn thirty_concurrent_replies_and_views_keep_reply_count_view_count_and_post_count_exact() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let author = stack.member(&course).await;
    let root = id_of(&new_post(&stack.api(&author), &c, "Busy thread").await);
    let repliers: Vec<User> = join_all((0..10).map(|_| stack.member(&course))).await;

    let (c_ref, root_ref) = (&c, &root);
    let replies = repliers.iter().flat_map(|u| {
        let api = stack.api(u);
        (0..3).map(move |i| {
            let (c, root) = (c_ref, root_ref);
            let (api, c, root) = (api.clone(), c.clone(), root.clone());
            async move {
                api.post(
                    &format!("{POSTS}/"),
                    json!({ "community": c, "parent": root, "content": format!("reply {i}") }),
                )
                .await
            }
        })
    });
    let views = repliers.iter().map(|u| {
        let (api, url) = (stack.api(u), post_url(&root));
        async move { api.get(&url).await.status }
    });
    let (created, viewed) = futures::future::join(join_all(replies), join_all(views)).await;
    assert!(
        created.iter().all(|r| r.status == 201),
        "{:?}",
        created.iter().find(|r| r.status != 201)
    );
    assert!(viewed.iter().all(|s| *s == 200), "{viewed:?}");

    let thread = read(&stack.api(&author), &root).await;
    assert_eq!(thread["reply_count"], 30);
    assert_eq!(thread["view_count"], 11, "10 concurrent views + this one");
    assert_eq!(thread["replies"].as_array().unwrap().len(), 30);
    assert_eq!(post_count(&stack, &course).await, 31);
    let stats = stack.gateway.stats();
    assert!(
        stats.functions["PostsFunction"].instances_started > 1,
        "the writers ran side by side: {stats:?}"
    );

    // Deleting a third of them at once (by their authors and a moderator) keeps the counts.
    let moderator = stack.moderator(&course).await;
    let reply_ids: Vec<String> = created.iter().map(|r| id_of(&r.body)).collect();
    let deletions = created.iter().take(10).enumerate().map(|(i, r)| {
        let by = if i % 2 == 0 {
            &moderator
        } else {
            repliers
                .iter()
                .find(|u| r.body["author"]["id"] == u.id.as_str())
                .unwrap()
        };
        let (api, url) = (stack.api(by), post_url(&id_of(&r.body)));
        async move { api.delete(&url).await.status }
    });
    // Twice each: a concurrent second delete must not count twice.
    let twice: Vec<_> = deletions.collect();
    let again = reply_ids[..10].iter().map(|id| {
        let (api, url) = (stack.api(&moderator), post_url(id));
        async move { api.delete(&url).await.status }
    });
    let (first, second) = futures::future::join(join_all(twice), join_all(again)).await;
    assert!(
        first.iter().chain(second.iter()).all(|s| *s == 204),
        "{first:?} {second:?}"
    );
    assert_eq!(read(&stack.api(&author), &root).await["reply_count"], 20);
    assert_eq!(post_count(&stack, &course).await, 21);
}

// ---------------------------------------------------------------- listings

#[tokio::test]
async fn listings_put_pinned_posts_first_then_newest_and_paginate_with_filters() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let authors: Vec<User> = join_all((0..3).map(|_| stack.member(&course))).await;
    let moderator = stack.moderator(&course).await;
    let mut created = Vec::new();
    for i in 0..25 {
        let post = new_post(&stack.api(&authors[i % 3]), &c, &format!("Post {i}")).await;
        created.push(id_of(&post));
    }
    new_reply(
        &stack.api(&authors[0]),
        &c,
        &created[0],
        "replies are not listed",
    )
    .await;
    let reader = stack.api(&authors[1]);
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();

    let page1 = reader.get(&format!("{POSTS}/?community={c}")).await;
    assert_eq!(page1.status, 200, "{page1:?}");
    assert_eq!(
        ids(&page1.body),
        newest_first[..20],
        "default page of 20, newest first"
    );
    assert_eq!(
        page1.body["results"][0]["author"]["name"],
        authors[0].name.as_str(),
        "author denormalized"
    );
    let next = page1.body["next"].as_str().expect("a second page");
    let page2 = reader
        .get(&format!("{POSTS}/?community={c}&cursor={next}"))
        .await;
    assert_eq!(ids(&page2.body), newest_first[20..]);
    assert_eq!(page2.body["next"], Value::Null);
    let via_group = reader
        .get(&format!("/api/community/groups/{c}/posts/?limit=100"))
        .await;
    assert_eq!(ids(&via_group.body), newest_first);
    assert_eq!(via_group.body["next"], Value::Null);

    // Pinned first (newest pinned first), then the rest newest first.
    let m = stack.api(&moderator);
    for id in [&created[3], &created[10]] {
        let r = m.post(&action_url(id, "pin"), json!({})).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body["is_pinned"], true);
    }
    let r = m.post(&action_url(&created[0], "pin"), json!({})).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        m.post(&action_url(&created[0], "unpin"), json!({}))
            .await
            .body["is_pinned"],
        false
    );
    let all = reader
        .get(&format!("{POSTS}/?community={c}&limit=100"))
        .await;
    let order = ids(&all.body);
    assert_eq!(order[..2], [created[10].clone(), created[3].clone()]);
    assert_eq!(order.len(), 25);
    let pinned = reader
        .get(&format!("{POSTS}/?community={c}&pinned=true"))
        .await;
    assert_eq!(ids(&pinned.body), [created[10].clone(), created[3].clone()]);
    let unpinned = reader
        .get(&format!("{POSTS}/?community={c}&pinned=false&limit=100"))
        .await;
    assert_eq!(ids(&unpinned.body).len(), 23);
    let reply = id_of(&new_reply(&reader, &c, &created[1], "x").await);
    assert_eq!(
        m.post(&action_url(&reply, "pin"), json!({})).await.status,
        409,
        "replies are not pinned"
    );

    // By author: their 8 or 9 posts, in the same order; pages may be short but never skip.
    let mut by_author = Vec::new();
    let mut path = format!("{POSTS}/?community={c}&author={}&limit=5", authors[2].id);
    loop {
        let page = reader.get(&path).await;
        assert_eq!(page.status, 200, "{page:?}");
        by_author.extend(ids(&page.body));
        match page.body["next"].as_str() {
            Some(next) => {
                path = format!(
                    "{POSTS}/?community={c}&author={}&limit=5&cursor={next}",
                    authors[2].id
                )
            }
            None => break,
        }
    }
    let theirs: Vec<String> = created
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 == 2)
        .map(|(_, id)| id.clone())
        .collect();
    let expected: Vec<String> = theirs.iter().rev().cloned().collect();
    assert_eq!(by_author, expected);

    // Bad parameters.
    let bad: Vec<(String, u16)> = vec![
        (String::new(), 422),
        ("?community=nope".into(), 400),
        (format!("?community={c}&limit=101"), 400),
        (format!("?community={c}&limit=0"), 400),
        (format!("?community={c}&status=bogus"), 400),
        (format!("?community={c}&pinned=maybe"), 400),
        (format!("?community={c}&cursor=forged"), 400),
        (format!("?community={c}&pinned=true&cursor={next}"), 400),
    ];
    for (query, status) in bad {
        let r = reader.get(&format!("{POSTS}/{query}")).await;
        assert_eq!(r.status, status, "{query}: {r:?}");
    }
    let mut tampered = next.to_string();
    tampered.replace_range(..1, if tampered.starts_with('A') { "B" } else { "A" });
    assert_eq!(
        reader
            .get(&format!("{POSTS}/?community={c}&cursor={tampered}"))
            .await
            .status,
        400
    );
    assert_eq!(reader.delete(&format!("{POSTS}/")).await.status, 405);
}

// ---------------------------------------------------------------- approval workflow

#[tokio::test]
async fn the_approval_workflow_holds_members_posts_until_a_moderator_decides() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let (author, other) = (stack.member(&course).await, stack.member(&course).await);
    let moderator = stack.moderator(&course).await;
    let (a, o, m) = (stack.api(&author), stack.api(&other), stack.api(&moderator));
    let published = id_of(&new_post(&o, &c, "Published before approval was required").await);
    require_approval(&stack, &course, true).await;
    assert_eq!(post_count(&stack, &course).await, 1);

    let first = new_post(&a, &c, "Needs approval").await;
    assert_eq!(first["status"], "pending");
    let first = id_of(&first);
    let second = id_of(&new_post(&a, &c, "Also needs approval").await);
    assert_eq!(
        post_count(&stack, &course).await,
        1,
        "pending posts are not counted"
    );

    // Visible to the author and moderators only.
    assert_eq!(o.get(&post_url(&first)).await.status, 404);
    assert!(!ids(&o.get(&format!("{POSTS}/?community={c}")).await.body).contains(&first));
    assert_eq!(
        ids(&o
            .get(&format!("{POSTS}/?community={c}&status=pending"))
            .await
            .body),
        Vec::<String>::new()
    );
    assert_eq!(read(&a, &first).await["status"], "pending");
    assert_eq!(
        ids(&a
            .get(&format!("{POSTS}/?community={c}&status=pending"))
            .await
            .body),
        [second.clone(), first.clone()]
    );
    assert_eq!(
        ids(&m
            .get(&format!("{POSTS}/?community={c}&status=pending"))
            .await
            .body),
        [second.clone(), first.clone()]
    );
    let queue = moderation_queue(&m, &course).await;
    assert_eq!(
        queue.iter().map(id_of).collect::<Vec<_>>(),
        [first.clone(), second.clone()],
        "oldest first"
    );
    assert_eq!(queue[0]["queue_reasons"], json!(["pending"]));
    let r = a
        .post(
            &format!("{POSTS}/"),
            json!({ "community": c, "parent": first, "content": "x" }),
        )
        .await;
    assert_eq!(r.status, 409, "no replies before approval: {r:?}");
    let r = o
        .post(
            &format!("{POSTS}/"),
            json!({ "community": c, "parent": first, "content": "x" }),
        )
        .await;
    assert_eq!(r.status, 404, "nor to a post one cannot see: {r:?}");

    // Approve: published, counted, out of the queue; a second decision conflicts.
    let r = m
        .post(
            &action_url(&first, "approve"),
            json!({ "reason": "welcome" }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["status"], "approved");
    assert_eq!(r.body["moderation"]["moderated_by"], moderator.id.as_str());
    assert_eq!(post_count(&stack, &course).await, 2);
    assert_eq!(read(&o, &first).await["status"], "approved");
    assert!(ids(&o.get(&format!("{POSTS}/?community={c}")).await.body).contains(&first));
    assert_eq!(
        m.post(&action_url(&first, "approve"), json!({}))
            .await
            .status,
        409
    );
    assert_eq!(
        m.post(&action_url(&first, "reject"), json!({}))
            .await
            .status,
        409
    );
    assert_eq!(
        m.post(&action_url(&published, "approve"), json!({}))
            .await
            .status,
        409
    );

    // Reject: stays hidden from others, the author sees why.
    let r = m
        .post(
            &action_url(&second, "reject"),
            json!({ "reason": "off topic" }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["status"], "rejected");
    let seen = read(&a, &second).await;
    assert_eq!(seen["status"], "rejected");
    assert_eq!(seen["moderation_reason"], "off topic");
    assert!(
        seen.get("moderation").is_none(),
        "moderation details are for moderators"
    );
    assert_eq!(o.get(&post_url(&second)).await.status, 404);
    assert_eq!(
        ids(&a
            .get(&format!("{POSTS}/?community={c}&status=rejected"))
            .await
            .body),
        [second.as_str()]
    );
    assert_eq!(
        m.post(&action_url(&second, "approve"), json!({}))
            .await
            .status,
        409
    );
    assert_eq!(post_count(&stack, &course).await, 2);
    assert!(moderation_queue(&m, &course).await.is_empty());
    let r = m
        .post(
            &action_url(&second, "reject"),
            json!({ "reason": "r".repeat(1001) }),
        )
        .await;
    assert_eq!(r.status, 422, "{r:?}");

    // Moderators', instructors' and admins' posts skip the queue.
    for (who, user) in [
        ("moderator", &moderator),
        ("instructor", &course.instructor),
    ] {
        let post = new_post(&stack.api(user), &c, &format!("by the {who}")).await;
        assert_eq!(post["status"], "approved", "{who}");
    }
    let admin = stack.admin();
    let r = stack
        .api(&admin)
        .post(
            &format!("{POSTS}/"),
            json!({ "community": c, "title": "by the admin", "content": "x" }),
        )
        .await;
    assert_eq!(r.body["status"], "approved", "{r:?}");
    assert_eq!(post_count(&stack, &course).await, 5);

    // A member's reply waits too; approving it counts it in its parent's reply_count.
    let reply = new_reply(&a, &c, &published, "a held reply").await;
    assert_eq!(reply["status"], "pending");
    let reply = id_of(&reply);
    let thread = read(&o, &published).await;
    assert_eq!(
        thread["replies"],
        json!([]),
        "others do not see a pending reply"
    );
    assert_eq!(thread["reply_count"], 0);
    assert_eq!(
        read(&a, &published).await["replies"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "its author does"
    );
    assert_eq!(
        m.post(&action_url(&reply, "approve"), json!({}))
            .await
            .status,
        200
    );
    assert_eq!(read(&o, &published).await["reply_count"], 1);
    assert_eq!(post_count(&stack, &course).await, 6);

    // Deleting: a published post leaves post_count, a pending one was never in it.
    let third = id_of(&new_post(&a, &c, "Pending, then deleted").await);
    assert_eq!(moderation_queue(&m, &course).await.len(), 1);
    assert_eq!(a.delete(&post_url(&third)).await.status, 204);
    assert!(
        moderation_queue(&m, &course).await.is_empty(),
        "deleted posts leave the queue"
    );
    assert_eq!(
        m.post(&action_url(&third, "approve"), json!({}))
            .await
            .status,
        409
    );
    assert_eq!(post_count(&stack, &course).await, 6);
    assert_eq!(a.delete(&post_url(&first)).await.status, 204);
    assert_eq!(post_count(&stack, &course).await, 5);
    assert_eq!(m.delete(&post_url(&reply)).await.status, 204);
    assert_eq!(read(&o, &published).await["reply_count"], 0);
    assert_eq!(post_count(&stack, &course).await, 4);
}

#[tokio::test]
async fn concurrent_approvals_and_deletions_count_each_post_once() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    require_approval(&stack, &course, true).await;
    let authors: Vec<User> = join_all((0..4).map(|_| stack.member(&course))).await;
    let mut pending = Vec::new();
    for i in 0..16 {
        pending.push(id_of(
            &new_post(&stack.api(&authors[i % 4]), &c, &format!("held {i}")).await,
        ));
    }
    let moderators: Vec<User> = join_all((0..2).map(|_| stack.moderator(&course))).await;
    // Two moderators approve every post at once; the authors delete the first four meanwhile.
    let (stack_ref, pending_ref) = (&stack, &pending);
    let approvals = moderators.iter().flat_map(|m| {
        pending_ref.iter().map(move |id| {
            let stack = stack_ref;
            let (api, url) = (stack.api(m), action_url(id, "approve"));
            async move { api.post(&url, json!({})).await.status }
        })
    });
    let deletions = pending[..4].iter().enumerate().map(|(i, id)| {
        let (api, url) = (stack.api(&authors[i % 4]), post_url(id));
        async move { api.delete(&url).await.status }
    });
    let (approved, deleted) = futures::future::join(join_all(approvals), join_all(deletions)).await;
    assert!(
        approved.iter().all(|s| *s == 200 || *s == 409),
        "{approved:?}"
    );
    assert!(deleted.iter().all(|s| *s == 204), "{deleted:?}");
    assert!(approved.iter().filter(|s| **s == 200).count() <= 16);
    let live = 12;
    assert_eq!(
        post_count(&stack, &course).await,
        live,
        "12 approved and not deleted"
    );
    let listing = stack
        .api(&authors[0])
        .get(&format!("{POSTS}/?community={c}&limit=100"))
        .await;
    assert_eq!(ids(&listing.body).len(), live as usize);
}

// ---------------------------------------------------------------- flags and notes

#[tokio::test]
async fn flags_queue_a_post_once_per_member_until_a_moderator_resolves_them() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let (author, x, y) = (
        stack.member(&course).await,
        stack.member(&course).await,
        stack.member(&course).await,
    );
    let moderator = stack.moderator(&course).await;
    let m = stack.api(&moderator);
    let post = id_of(&new_post(&stack.api(&author), &c, "Questionable").await);
    let flag = action_url(&post, "flag");

    let r = stack.api(&x).post(&flag, json!({ "reason": "spam" })).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["reason"], "spam");
    assert_eq!(
        stack
            .api(&x)
            .post(&flag, json!({ "reason": "again" }))
            .await
            .status,
        409,
        "once per member"
    );
    assert_eq!(
        stack
            .api(&author)
            .post(&flag, json!({ "reason": "me" }))
            .await
            .status,
        403,
        "not one's own"
    );
    for body in [
        json!({}),
        json!({ "reason": "  " }),
        json!({ "reason": "r".repeat(1001) }),
    ] {
        let r = stack.api(&y).post(&flag, body.clone()).await;
        assert_eq!(r.status, 422, "{body}: {r:?}");
        assert_eq!(r.body["errors"][0]["field"], "reason");
    }

    // A pending post queued before the flag comes first (oldest first).
    require_approval(&stack, &course, true).await;
    let pending = id_of(&new_post(&stack.api(&author), &c, "Pending").await);
    require_approval(&stack, &course, false).await;
    let queue = moderation_queue(&m, &course).await;
    assert_eq!(
        queue.iter().map(id_of).collect::<Vec<_>>(),
        [post.clone(), pending.clone()]
    );
    assert_eq!(queue[0]["queue_reasons"], json!(["flagged"]));
    assert_eq!(queue[0]["moderation"]["open_flag_count"], 1);
    assert_eq!(queue[1]["queue_reasons"], json!(["pending"]));
    let queued_at = queue[0]["moderation"]["queued_at"].clone();
    assert_eq!(
        stack
            .api(&y)
            .post(&flag, json!({ "reason": "rude" }))
            .await
            .status,
        201
    );
    let queue = moderation_queue(&m, &course).await;
    assert_eq!(queue.len(), 2, "one entry per post");
    assert_eq!(queue[0]["moderation"]["open_flag_count"], 2);
    assert_eq!(
        queue[0]["moderation"]["queued_at"], queued_at,
        "queued since the first flag"
    );
    assert!(
        read(&stack.api(&x), &post)
            .await
            .get("moderation")
            .is_none(),
        "members see no flags"
    );

    let flags = m.get(&action_url(&post, "flags")).await;
    assert_eq!(flags.status, 200, "{flags:?}");
    let listed = flags.body["results"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|f| f["resolved"] == false));

    let r = m
        .post(
            &action_url(&post, "resolve-flags"),
            json!({ "note": "checked, fine" }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["moderation"]["open_flag_count"], 0);
    assert_eq!(r.body["moderation"]["flag_count"], 2);
    assert_eq!(
        moderation_queue(&m, &course)
            .await
            .iter()
            .map(id_of)
            .collect::<Vec<_>>(),
        [pending.as_str()]
    );
    assert_eq!(
        m.post(&action_url(&post, "resolve-flags"), json!({}))
            .await
            .status,
        409,
        "nothing open"
    );
    let flags = m.get(&action_url(&post, "flags")).await;
    assert!(
        flags.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["resolved"] == true)
    );
    let notes = m.get(&action_url(&post, "notes")).await;
    assert_eq!(notes.body["results"][0]["note"], "checked, fine");

    // A new flag after the review queues the post again.
    let z = stack.member(&course).await;
    assert_eq!(
        stack
            .api(&z)
            .post(&flag, json!({ "reason": "still bad" }))
            .await
            .status,
        201
    );
    let queue = moderation_queue(&m, &course).await;
    assert_eq!(
        queue.iter().map(id_of).collect::<Vec<_>>(),
        [pending.clone(), post.clone()]
    );
    assert_eq!(
        stack
            .api(&x)
            .get(&format!("/api/community/groups/{c}/moderation/"))
            .await
            .status,
        403
    );
    let r = stack
        .api(&x)
        .post(&format!("/api/community/groups/{c}/moderation/"), json!({}))
        .await;
    assert!(r.status == 404 || r.status == 405, "{r:?}");
}

#[tokio::test]
async fn moderator_notes_are_written_and_read_by_moderators_only() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let author = stack.member(&course).await;
    let moderator = stack.moderator(&course).await;
    let post = id_of(&new_post(&stack.api(&author), &course.community_id, "Noted").await);
    let notes = action_url(&post, "notes");
    let m = stack.api(&moderator);
    let r = m.post(&notes, json!({ "note": "first warning" })).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["author_id"], moderator.id.as_str());
    assert_eq!(
        stack
            .api(&course.instructor)
            .post(&notes, json!({ "note": "second" }))
            .await
            .status,
        201
    );
    for body in [
        json!({}),
        json!({ "note": "" }),
        json!({ "note": "n".repeat(1001) }),
        json!({ "text": "x" }),
    ] {
        assert_eq!(m.post(&notes, body.clone()).await.status, 422, "{body}");
    }
    let listed = m.get(&notes).await;
    let texts: Vec<&str> = listed.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["note"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["first warning", "second"]);
    assert_eq!(stack.api(&author).get(&notes).await.status, 403);
    assert_eq!(
        stack
            .api(&author)
            .post(&notes, json!({ "note": "me too" }))
            .await
            .status,
        403
    );
    let page = m.get(&format!("{notes}?limit=1")).await;
    assert_eq!(page.body["results"].as_array().unwrap().len(), 1);
    let next = page.body["next"].as_str().expect("second page");
    let page2 = m.get(&format!("{notes}?limit=1&cursor={next}")).await;
    assert_eq!(page2.body["results"][0]["note"], "second");
}

// ---------------------------------------------------------------- rate limits

#[tokio::test]
async fn writing_too_fast_answers_429_with_retry_after_and_stores_nothing() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let member = stack.member(&course).await;
    let api = stack.api(&member);

    // Posts: 10 a minute.
    let mut created = 0;
    let limited = loop {
        let r = api
            .post(
                &format!("{POSTS}/"),
                json!({ "community": c, "title": "fast", "content": "x" }),
            )
            .await;
        match r.status {
            201 => created += 1,
            429 => break r,
            other => panic!("unexpected {other}: {r:?}"),
        }
        assert!(created <= 20, "no rate limit on posts");
    };
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(limited.headers["content-type"], "application/problem+json");
    let listing = api.get(&format!("{POSTS}/?community={c}&limit=100")).await;
    assert_eq!(
        ids(&listing.body).len(),
        created,
        "the refused post was not stored"
    );
    assert_eq!(post_count(&stack, &course).await, created as i64);

    // Reactions (60 a minute) and flags (10 a minute), on others' posts: more than two windows'
    // worth of each, so a burst that straddles a minute boundary still goes over in one.
    let others: Vec<User> = join_all((0..3).map(|_| stack.member(&course))).await;
    let mut targets = Vec::new();
    for i in 0..21 {
        targets.push(id_of(
            &new_post(&stack.api(&others[i % 3]), &c, &format!("t{i}")).await,
        ));
    }
    let reactions = targets.iter().flat_map(|id| {
        ["like", "love", "helpful", "haha", "wow", "sad"].map(|t| {
            let (api, url) = (api.clone(), action_url(id, "react"));
            async move { api.post(&url, json!({ "reaction_type": t })).await.status }
        })
    });
    let statuses = join_all(reactions).await;
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 429),
        "{statuses:?}"
    );
    let accepted = statuses.iter().filter(|s| **s == 201).count();
    assert!(
        statuses.contains(&429),
        "126 reactions at once hit the limit"
    );
    let counted: i64 = join_all(targets.iter().map(|id| read(&api, id)))
        .await
        .iter()
        .map(|p| {
            p["reaction_counts"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_i64().unwrap())
                .sum::<i64>()
        })
        .sum();
    assert_eq!(
        counted as usize, accepted,
        "refused reactions were not counted"
    );

    let flags = join_all(targets.iter().map(|id| {
        let (api, url) = (api.clone(), action_url(id, "flag"));
        async move { api.post(&url, json!({ "reason": "too many" })).await.status }
    }))
    .await;
    assert!(flags.contains(&429), "{flags:?}");
    let queued = moderation_queue(&stack.api(&course.instructor), &course)
        .await
        .len();
    assert_eq!(queued, flags.iter().filter(|s| **s == 201).count());
}

// ---------------------------------------------------------------- sample events

/// A sample's token is a fixture signed once with a long lifetime, which the verifier refuses
/// (at most `JWT_MAX_LIFETIME_SECS`); the same claims are signed again for ten minutes from now.
fn refresh_token(event: &mut Value) {
    use base64::Engine;
    let Some(header) = event["headers"]["authorization"].as_str() else {
        return;
    };
    let payload = header
        .trim_start_matches("Bearer ")
        .split('.')
        .nth(1)
        .expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .expect("base64url claims");
    let mut claims: Value = serde_json::from_slice(&bytes).expect("JSON claims");
    let now = chrono::Utc::now().timestamp();
    claims["iat"] = json!(now);
    claims["exp"] = json!(now + 600);
    let token = sign_hs256(JWT_SECRET.as_bytes(), &claims);
    event["headers"]["authorization"] = json!(format!("Bearer {token}"));
}

#[tokio::test]
async fn every_sample_event_is_answered_by_the_real_function() {
    let stack = Stack::start().await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../events/posts");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("events/posts")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 20, "one sample per endpoint");
    for path in files {
        let mut event: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        refresh_token(&mut event);
        let out = stack
            .gateway
            .invoke("PostsFunction", event)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // The demo community and posts do not exist in a fresh table: the token verified and the
        // event parsed, so the answer is a 404 problem, not a 400/401/5xx.
        assert_eq!(out["statusCode"], 404, "{}: {out}", path.display());
        let body: Value = serde_json::from_str(out["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["status"], 404, "{}", path.display());
    }
}
