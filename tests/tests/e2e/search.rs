//! Search through the gateway (SPEC §12): posts and community chat indexed from the table's
//! stream by the indexer, found with stemming, case and accent folding and a prefix on the
//! last word, ranked; every visibility rule tested as an attack by another student; edits
//! reindex, deletes unindex; bad input refused.

use e2e::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const POSTS: &str = "/api/community/posts";
const MESSAGES: &str = "/api/community/messages";
/// How long new content may take to become searchable (the stream, then the indexer).
const INDEXED_WITHIN: Duration = Duration::from_secs(20);

fn search_url(community: &str, q: &str, extra: &str) -> String {
    let q: String = url_encode(q);
    format!("/api/community/search/?community={community}&q={q}{extra}")
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

async fn search(api: &Api, community: &str, q: &str, extra: &str) -> Value {
    let r = api.get(&search_url(community, q, extra)).await;
    assert_eq!(r.status, 200, "search {q:?}: {r:?}");
    r.body
}

/// Searches until `done` holds for the ids found, within [`INDEXED_WITHIN`]; answers the page.
async fn until(
    api: &Api,
    community: &str,
    q: &str,
    extra: &str,
    what: &str,
    done: impl Fn(&[String]) -> bool,
) -> Value {
    let deadline = Instant::now() + INDEXED_WITHIN;
    loop {
        let page = search(api, community, q, extra).await;
        if done(&ids(&page)) {
            return page;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {INDEXED_WITHIN:?}; last page for {q:?}: {page}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn say(api: &Api, community: &str, message: &str) -> String {
    let r = api
        .post(
            &format!("{MESSAGES}/"),
            json!({ "community": community, "message": message, "message_type": "text" }),
        )
        .await;
    assert_eq!(r.status, 201, "send: {r:?}");
    id_of(&r.body)
}

async fn set_community(stack: &Stack, course: &Course, change: Value) {
    let r = stack
        .api(&course.instructor)
        .patch(
            &format!("/api/community/groups/{}/", course.community_id),
            change,
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
}

async fn require_approval(stack: &Stack, course: &Course, on: bool) {
    set_community(stack, course, json!({ "require_post_approval": on })).await;
}

/// What the guard answers `api` for reading the community's posts: search answers the same.
async fn listing_status(api: &Api, community: &str) -> u16 {
    api.get(&format!("{POSTS}/?community={community}"))
        .await
        .status
}

#[tokio::test]
async fn new_content_is_found_with_stemming_folding_prefix_and_title_first() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let alice = stack.member(&course).await;
    let bob = stack.member(&course).await;
    let (alice_api, bob_api) = (stack.api(&alice), stack.api(&bob));

    let in_title = alice_api.create_post(json!({ "community": c, "title": "Marathon runs", "content": "She runs every morning before the École opens." }),
    )
    .await;
    let in_body = alice_api.create_post(json!({ "community": c, "title": "Weekly notes", "content": "The lecture covered marathon training plans." }),
    )
    .await;
    let message = say(&alice_api, &c, "Who joins the ECOLE trip tomorrow?").await;

    // Within seconds, for another member: the title match ranks above the body match.
    let page = until(
        &bob_api,
        &c,
        "marathon",
        "",
        "both posts indexed",
        |found| found.len() == 2,
    )
    .await;
    assert_eq!(ids(&page), [in_title.clone(), in_body.clone()]);
    let first = &page["results"][0];
    assert_eq!(first["type"], "post");
    assert_eq!(first["title"], "Marathon runs");
    assert!(first["created_at"].is_string(), "{first}");
    assert!(
        first["score"].as_f64().unwrap() > page["results"][1]["score"].as_f64().unwrap(),
        "{page}"
    );
    let snippet = page["results"][1]["snippet"].as_str().unwrap();
    assert!(snippet.contains("marathon"), "{snippet}");

    // English stemming: "running" finds "runs".
    let page = search(&bob_api, &c, "running", "").await;
    assert_eq!(ids(&page), [in_title.as_str()]);

    // Case and accent folding, both ways, in posts and chat alike.
    let page = until(&bob_api, &c, "Ecole", "", "the message indexed", |found| {
        found.len() == 2
    })
    .await;
    let found: BTreeSet<String> = ids(&page).into_iter().collect();
    assert_eq!(
        found,
        BTreeSet::from([in_title.clone(), message.clone()]),
        "{page}"
    );
    let page = search(&bob_api, &c, "école", "&type=message").await;
    assert_eq!(ids(&page), [message.as_str()]);
    assert_eq!(page["results"][0]["type"], "message");
    assert!(page["results"][0].get("title").is_none(), "{page}");
    let page = search(&bob_api, &c, "ecole", "&type=post").await;
    assert_eq!(ids(&page), [in_title.as_str()]);

    // A prefix on the last word only.
    let page = search(&bob_api, &c, "mara", "").await;
    assert_eq!(ids(&page).len(), 2, "{page}");
    let page = search(&bob_api, &c, "marathon trai", "").await;
    assert_eq!(ids(&page), [in_body.as_str()]);
    let page = search(&bob_api, &c, "mara training", "").await;
    assert!(
        ids(&page).is_empty(),
        "only the last word is a prefix: {page}"
    );

    // Pages: one result at a time, the cursor leads to the next.
    let page = search(&bob_api, &c, "marathon", "&limit=1").await;
    assert_eq!(ids(&page), [in_title.as_str()]);
    let next = page["next"].as_str().expect("a next cursor").to_string();
    let page = search(
        &bob_api,
        &c,
        "marathon",
        &format!("&limit=1&cursor={}", url_encode(&next)),
    )
    .await;
    assert_eq!(ids(&page), [in_body.as_str()]);
    assert!(page["next"].is_null(), "{page}");
    // A cursor of another query is refused.
    let r = bob_api
        .get(&search_url(
            &c,
            "running",
            &format!("&cursor={}", url_encode(&next)),
        ))
        .await;
    assert_eq!(r.status, 400, "{r:?}");
}

#[tokio::test]
async fn what_a_student_may_not_read_never_surfaces_in_search() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let author = stack.member(&course).await;
    let reader = stack.member(&course).await;
    let writer = stack.member(&course).await;
    let moderator = stack.moderator(&course).await;
    let (author_api, reader_api, moderator_api) = (
        stack.api(&author),
        stack.api(&reader),
        stack.api(&moderator),
    );
    let instructor_api = stack.api(&course.instructor);
    let word = "zebracorn";
    set_community(
        &stack,
        &course,
        json!({ "anonymous_posting": "to_classmates" }),
    )
    .await;

    let visible = stack
        .api(&writer)
        .create_post(
            json!({ "community": c, "title": "Open zebracorn", "content": "For everyone." }),
        )
        .await;
    let anonymous = author_api.create_post(json!({ "community": c, "title": "Anonymous zebracorn", "content": "Who am I?", "anonymous": true }),
    )
    .await;
    let staff_only = author_api.create_post(json!({ "community": c, "kind": "question", "title": "My zebracorn grade", "content": "Why?", "audience": "staff" }),
    )
    .await;
    let staff_reply = instructor_api.create_post(json!({ "community": c, "parent": staff_only, "content": "About your zebracorn grade." }),
    )
    .await;
    require_approval(&stack, &course, true).await;
    let pending = author_api
        .create_post(json!({ "community": c, "title": "Pending zebracorn", "content": "Waiting." }))
        .await;
    let rejected = author_api
        .create_post(
            json!({ "community": c, "title": "Rejected zebracorn", "content": "Off topic." }),
        )
        .await;
    require_approval(&stack, &course, false).await;
    let r = moderator_api
        .post(
            &format!("{POSTS}/{rejected}/reject/"),
            json!({ "reason": "off topic" }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let deleted = author_api
        .create_post(
            json!({ "community": c, "title": "Deleted zebracorn", "content": "Gone soon." }),
        )
        .await;
    let deleted_message = say(&author_api, &c, "a zebracorn message, deleted soon").await;

    // Another community's content with the same word.
    let other = stack.course().await;
    let outsider = stack.member(&other).await;
    let elsewhere = stack.api(&outsider).create_post(json!({ "community": other.community_id, "title": "Elsewhere zebracorn", "content": "Not yours." }),
    )
    .await;
    until(
        &stack.api(&outsider),
        &other.community_id,
        word,
        "",
        "the other community indexed",
        |f| f == [elsewhere.as_str()],
    )
    .await;

    // Their author and the staff see what the reader may not: wait until all is indexed.
    let all = [
        &visible,
        &anonymous,
        &staff_only,
        &staff_reply,
        &pending,
        &rejected,
        &deleted,
        &deleted_message,
    ];
    until(
        &moderator_api,
        &c,
        word,
        "&limit=50",
        "everything indexed",
        |f| {
            // Moderators see pending, rejected and staff-only content.
            all.iter().all(|id| f.contains(id))
        },
    )
    .await;
    let mine = search(&author_api, &c, word, "&limit=50").await;
    for id in [&pending, &rejected, &staff_only, &staff_reply] {
        assert!(ids(&mine).contains(id), "the author sees {id}: {mine}");
    }

    // Deletes unindex: the deleted post and message are found by no one.
    let r = author_api.delete(&format!("{POSTS}/{deleted}/")).await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = author_api
        .delete(&format!("{MESSAGES}/{deleted_message}/"))
        .await;
    assert!(r.status == 200 || r.status == 204, "{r:?}");
    until(
        &moderator_api,
        &c,
        word,
        "&limit=50",
        "deletes unindexed",
        |f| !f.contains(&deleted) && !f.contains(&deleted_message),
    )
    .await;

    // The reader: the open post and the anonymous one, nothing else, and no trace of who wrote
    // the anonymous post anywhere in the answer.
    let r = reader_api.get(&search_url(&c, word, "&limit=50")).await;
    assert_eq!(r.status, 200, "{r:?}");
    let found: BTreeSet<String> = ids(&r.body).into_iter().collect();
    assert_eq!(
        found,
        BTreeSet::from([visible.clone(), anonymous.clone()]),
        "{}",
        r.body
    );
    let raw = r.body.to_string();
    for secret in [&author.id, &author.name, &author.username] {
        assert!(!raw.contains(secret.as_str()), "{secret} in {raw}");
    }
    // The same holds for every way of asking: a prefix, one type, page by page.
    for (q, extra) in [
        ("zebra", ""),
        ("grade", ""),
        ("pending", ""),
        ("rejected", ""),
        ("zebracorn", "&type=post"),
        ("zebracorn", "&type=message"),
        ("elsewhere", ""),
    ] {
        let page = search(&reader_api, &c, q, extra).await;
        for id in ids(&page) {
            assert!(
                id == visible || id == anonymous,
                "{q:?}{extra} showed {id}: {page}"
            );
        }
    }
    let mut cursor = String::new();
    let mut paged = BTreeSet::new();
    loop {
        let page = search(&reader_api, &c, word, &format!("&limit=1{cursor}")).await;
        paged.extend(ids(&page));
        match page["next"].as_str() {
            Some(n) => cursor = format!("&cursor={}", url_encode(n)),
            None => break,
        }
    }
    assert_eq!(paged, found);

    // Another community's search is closed to the reader, as its listing is.
    let r = reader_api
        .get(&search_url(&other.community_id, word, ""))
        .await;
    assert!(r.status == 403 || r.status == 404, "{r:?}");
    assert_eq!(
        r.status,
        listing_status(&reader_api, &other.community_id).await
    );
    assert!(!r.body.to_string().contains(&elsewhere), "{r:?}");

    // A student removed from the community finds nothing any more (the guard's answer to
    // someone who is no member).
    let r = instructor_api
        .delete(&format!("/api/community/groups/{c}/members/{}/", reader.id))
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = reader_api.get(&search_url(&c, word, "")).await;
    assert!(r.status == 403 || r.status == 404, "{r:?}");
    assert_eq!(r.status, listing_status(&reader_api, &c).await);
    assert!(!r.body.to_string().contains(&visible), "{r:?}");
}

#[tokio::test]
async fn edits_reindex_and_bad_input_is_refused_before_anything_is_read() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let alice = stack.member(&course).await;
    let api = stack.api(&alice);

    let id = api
        .create_post(
            json!({ "community": c, "title": "Quokka habitat", "content": "Where quokkas live." }),
        )
        .await;
    until(&api, &c, "quokka", "", "indexed", |f| f == [id.as_str()]).await;
    let r = api
        .patch(
            &format!("{POSTS}/{id}/"),
            json!({ "title": "Wombat habitat", "content": "Where wombats live." }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let page = until(&api, &c, "wombat", "", "the edit indexed", |f| {
        f == [id.as_str()]
    })
    .await;
    assert_eq!(page["results"][0]["title"], "Wombat habitat");
    until(&api, &c, "quokka", "", "the old words unindexed", |f| {
        f.is_empty()
    })
    .await;

    let m = say(&api, &c, "The numbat lecture is moved").await;
    until(&api, &c, "numbat", "", "message indexed", |f| {
        f == [m.as_str()]
    })
    .await;
    let r = api
        .patch(
            &format!("{MESSAGES}/{m}/"),
            json!({ "message": "The bilby lecture is moved" }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    until(&api, &c, "bilby", "", "message edit indexed", |f| {
        f == [m.as_str()]
    })
    .await;
    until(&api, &c, "numbat", "", "old message words unindexed", |f| {
        f.is_empty()
    })
    .await;

    // Bad input: a clear 4xx.
    let long = "a".repeat(201);
    for (path, status) in [
        (format!("/api/community/search/?community={c}"), 422),
        (format!("/api/community/search/?community={c}&q="), 422),
        (
            format!("/api/community/search/?community={c}&q=%20%20"),
            422,
        ),
        (search_url(&c, &long, ""), 422),
        (search_url(&c, "?!", ""), 422),
        (search_url(&c, "wombat", "&type=user"), 422),
        (search_url(&c, "wombat", "&cursor=forged"), 400),
        (search_url(&c, "wombat", "&limit=0"), 400),
        ("/api/community/search/?q=wombat".to_string(), 422),
        (
            "/api/community/search/?community=nope&q=wombat".to_string(),
            400,
        ),
    ] {
        let r = api.get(&path).await;
        assert_eq!(r.status, status, "{path}: {r:?}");
        assert_eq!(
            r.headers["content-type"], "application/problem+json",
            "{path}"
        );
    }
    // 200 characters is allowed; without the trailing slash too.
    let at_most = format!("wombat {}", "b".repeat(193));
    assert_eq!(at_most.chars().count(), 200);
    let r = api
        .get(&format!(
            "/api/community/search?community={c}&q={}",
            url_encode(&at_most)
        ))
        .await;
    assert_eq!(r.status, 200, "{r:?}");

    // The guard comes first: someone outside the community learns nothing of the query's faults.
    let stranger = stack.api(&stack.user(shared::auth::Role::Student));
    let r = stranger
        .get(&format!("/api/community/search/?community={c}&q="))
        .await;
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.body["code"], "forbidden", "{r:?}");
    let unknown = "01JF6R00000000000000000000";
    let r = api.get(&search_url(unknown, "wombat", "")).await;
    assert_eq!(r.status, 404, "{r:?}");
    let r = stack.anonymous().get(&search_url(&c, "wombat", "")).await;
    assert_eq!(r.status, 401, "{r:?}");
    let r = api.post(&search_url(&c, "wombat", ""), json!({})).await;
    assert_eq!(r.status, 405, "{r:?}");
}
