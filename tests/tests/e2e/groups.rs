//! Communities through the gateway: the access matrix of every role x membership x enrollment
//! state, exact counters under concurrency, and bad input.

use e2e::*;
use serde_json::json;
use std::time::Duration;

/// Everyone whose access differs, in one course community.
struct Cast {
    course: Course,
    stranger: User,
    enrolled: User,
    member: User,
    expired: User,
    removed: User,
    inactive: User,
    moderator: User,
    other_instructor: User,
    admin: User,
}

async fn cast(stack: &Stack) -> Cast {
    let course = stack.course().await;
    let admin = stack.admin();
    let lms = stack.api(&admin);
    let enrollment = |u: &User| {
        format!(
            "/api/community/lms/courses/{}/enrollments/{}/",
            course.course_id, u.id
        )
    };
    let stranger = stack.user(Role::Student);
    let enrolled = stack.user(Role::Student);
    stack.enroll(&course, &enrolled, None).await;
    let member = stack.member(&course).await;
    let expired = stack.member(&course).await;
    let past = shared::clock::iso(chrono::Utc::now() - chrono::Duration::minutes(1));
    let r = lms
        .put(
            &enrollment(&expired),
            json!({ "is_active": true, "expiry_date": past }),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let removed = stack.member(&course).await;
    assert_eq!(lms.delete(&enrollment(&removed)).await.status, 204);
    let inactive = stack.member(&course).await;
    let r = lms
        .put(
            &enrollment(&inactive),
            json!({ "is_active": false, "expiry_date": null }),
        )
        .await;
    assert_eq!(r.status, 201);
    let moderator = stack.moderator(&course).await;
    Cast {
        stranger,
        enrolled,
        member,
        expired,
        removed,
        inactive,
        moderator,
        other_instructor: stack.user(Role::Instructor),
        admin,
        course,
    }
}

impl Cast {
    fn everyone(&self) -> Vec<(&'static str, &User)> {
        vec![
            ("stranger", &self.stranger),
            ("enrolled non-member", &self.enrolled),
            ("member", &self.member),
            ("member with expired enrollment", &self.expired),
            ("member with removed enrollment", &self.removed),
            ("member with inactive enrollment", &self.inactive),
            ("moderator", &self.moderator),
            ("course instructor", &self.course.instructor),
            ("other instructor", &self.other_instructor),
            ("admin", &self.admin),
        ]
    }
}

fn expect(table: &[(&str, u16)], who: &str) -> u16 {
    table
        .iter()
        .find(|(w, _)| *w == who)
        .unwrap_or_else(|| panic!("no expectation for {who}"))
        .1
}

#[tokio::test]
async fn the_access_matrix_of_a_public_course_community_holds_for_every_role_and_state() {
    let stack = Stack::start().await;
    let cast = cast(&stack).await;
    let id = &cast.course.community_id;
    let base = format!("/api/community/groups/{id}");

    // Reading the community's profile: everyone (it is public).
    for (who, user) in cast.everyone() {
        let r = stack.api(user).get(&format!("{base}/")).await;
        assert_eq!(r.status, 200, "GET as {who}: {r:?}");
    }

    let readers = [
        ("stranger", 403),
        ("enrolled non-member", 403),
        ("member", 200),
        ("member with expired enrollment", 403),
        ("member with removed enrollment", 403),
        ("member with inactive enrollment", 403),
        ("moderator", 200),
        ("course instructor", 200),
        ("other instructor", 403),
        ("admin", 200),
    ];
    for (who, user) in cast.everyone() {
        let r = stack.api(user).get(&format!("{base}/members/")).await;
        assert_eq!(r.status, expect(&readers, who), "members as {who}: {r:?}");
    }

    let managers = [
        ("stranger", 403),
        ("enrolled non-member", 403),
        ("member", 403),
        ("member with expired enrollment", 403),
        ("member with removed enrollment", 403),
        ("member with inactive enrollment", 403),
        ("moderator", 403),
        ("course instructor", 200),
        ("other instructor", 403),
        ("admin", 200),
    ];
    for (who, user) in cast.everyone() {
        let r = stack
            .api(user)
            .patch(
                &format!("{base}/"),
                json!({ "description": format!("by {who}") }),
            )
            .await;
        assert_eq!(r.status, expect(&managers, who), "update as {who}: {r:?}");
        let target = stack.member(&cast.course).await;
        let r = stack
            .api(user)
            .patch(
                &format!("{base}/members/{}/", target.id),
                json!({ "role": "moderator" }),
            )
            .await;
        assert_eq!(r.status, expect(&managers, who), "promote as {who}: {r:?}");
        let r = stack
            .api(user)
            .delete(&format!("{base}/members/{}/", target.id))
            .await;
        assert_eq!(
            r.status,
            if expect(&managers, who) == 200 {
                204
            } else {
                403
            },
            "remove as {who}: {r:?}"
        );
    }

    let joiners = [
        ("stranger", 403),
        ("enrolled non-member", 201),
        ("member", 200),
        ("member with expired enrollment", 403),
        ("member with removed enrollment", 403),
        ("member with inactive enrollment", 403),
        ("moderator", 200),
        ("course instructor", 200),
        ("other instructor", 201),
        ("admin", 201),
    ];
    for (who, user) in cast.everyone() {
        let r = stack
            .api(user)
            .post(&format!("{base}/join/"), json!({}))
            .await;
        assert_eq!(r.status, expect(&joiners, who), "join as {who}: {r:?}");
    }
}

#[tokio::test]
async fn a_private_community_is_invisible_to_those_without_enrollment_or_membership() {
    let stack = Stack::start().await;
    let cast = cast(&stack).await;
    let base = format!("/api/community/groups/{}", cast.course.community_id);
    let r = stack
        .api(&cast.course.instructor)
        .patch(&format!("{base}/"), json!({ "visibility": "private" }))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let seen = [
        ("stranger", 404),
        ("enrolled non-member", 200),
        ("member", 200),
        ("member with expired enrollment", 404),
        ("member with removed enrollment", 404),
        ("member with inactive enrollment", 404),
        ("moderator", 200),
        ("course instructor", 200),
        ("other instructor", 404),
        ("admin", 200),
    ];
    for (who, user) in cast.everyone() {
        let r = stack.api(user).get(&format!("{base}/")).await;
        assert_eq!(r.status, expect(&seen, who), "GET private as {who}: {r:?}");
        let r = stack.api(user).get(&format!("{base}/members/")).await;
        let want = match expect(&seen, who) {
            404 => 404,
            _ if who == "enrolled non-member" => 403,
            _ => 200,
        };
        assert_eq!(r.status, want, "members of private as {who}: {r:?}");
    }
    let listing = stack
        .api(&cast.stranger)
        .get("/api/community/groups/")
        .await;
    assert!(
        !listing.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == cast.course.community_id.as_str()),
        "a private community is not listed to a stranger"
    );
}

#[tokio::test]
async fn a_member_loses_access_as_soon_as_the_enrollment_expires() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let student = stack.user(Role::Student);
    let expiry = chrono::Utc::now() + chrono::Duration::seconds(2);
    stack
        .enroll(&course, &student, Some(&shared::clock::iso(expiry)))
        .await;
    stack.join(&course, &student).await;
    let members = format!("/api/community/groups/{}/members/", course.community_id);
    let api = stack.api(&student);
    assert_eq!(api.get(&members).await.status, 200, "access while enrolled");
    let mine = api.get("/api/community/groups/?mine=true").await;
    assert_eq!(mine.body["results"].as_array().unwrap().len(), 1);
    // No clean-up job runs: the next request after the expiry instant is refused.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = chrono::Utc::now();
        let status = api.get(&members).await.status;
        if now > expiry + chrono::Duration::milliseconds(200) {
            assert_eq!(status, 403, "access after expiry");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mine = api.get("/api/community/groups/?mine=true").await;
    assert_eq!(mine.body["results"], json!([]), "no longer listed as mine");
    let group = api
        .get(&format!("/api/community/groups/{}/", course.community_id))
        .await;
    assert_eq!(group.body["my_role"], json!(null));
}

#[tokio::test]
async fn member_count_stays_exact_under_concurrent_joins_and_leaves() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let mut students = Vec::new();
    for _ in 0..24 {
        let s = stack.user(Role::Student);
        stack.enroll(&course, &s, None).await;
        students.push(s);
    }
    let join = |u: &User| {
        let api = stack.api(u);
        let path = format!("/api/community/groups/{}/join/", course.community_id);
        async move { api.post(&path, json!({})).await.status }
    };
    let leave = |u: &User| {
        let api = stack.api(u);
        let path = format!("/api/community/groups/{}/leave/", course.community_id);
        async move { api.post(&path, json!({})).await.status }
    };
    // Everyone joins at once, and the first half twice.
    let joins =
        futures::future::join_all(students.iter().chain(students[..12].iter()).map(join)).await;
    assert!(joins.iter().all(|s| *s == 201 || *s == 200), "{joins:?}");
    assert_eq!(joins.iter().filter(|s| **s == 201).count(), 24);
    let count = |stack: &Stack| {
        let api = stack.api(&course.instructor);
        let path = format!("/api/community/groups/{}/", course.community_id);
        async move { api.get(&path).await.body["member_count"].as_i64().unwrap() }
    };
    assert_eq!(count(&stack).await, 25, "24 students + the instructor");

    // Half leave while the other half leave and re-join.
    let (lefts, churn) = futures::future::join(
        futures::future::join_all(students[..12].iter().map(leave)),
        futures::future::join_all(students[12..].iter().map(|u| async {
            let l = leave(u).await;
            let j = join(u).await;
            (l, j)
        })),
    )
    .await;
    assert!(lefts.iter().all(|s| *s == 204), "{lefts:?}");
    assert!(
        churn.iter().all(|(l, j)| *l == 204 && *j == 201),
        "{churn:?}"
    );
    assert_eq!(count(&stack).await, 13);
    let listed = stack
        .api(&course.instructor)
        .get(&format!(
            "/api/community/groups/{}/members/?limit=100",
            course.community_id
        ))
        .await;
    assert_eq!(listed.body["results"].as_array().unwrap().len(), 13);
}

#[tokio::test]
async fn only_admins_create_communities_and_bad_input_changes_nothing() {
    let stack = Stack::start().await;
    let admin = stack.api(&stack.admin());
    let student = stack.api(&stack.user(Role::Student));
    let instructor = stack.api(&stack.user(Role::Instructor));
    let body = json!({ "title": "Study hall", "description": "Open to all" });
    assert_eq!(
        student
            .post("/api/community/groups/", body.clone())
            .await
            .status,
        403
    );
    assert_eq!(
        instructor
            .post("/api/community/groups", body.clone())
            .await
            .status,
        403
    );

    let cases: Vec<(&str, u16, reqwest_body::Body)> = vec![
        (
            "malformed JSON",
            400,
            reqwest_body::raw("{\"title\": ", "application/json"),
        ),
        (
            "unknown field",
            422,
            reqwest_body::json(json!({ "title": "x", "owner": "me" })),
        ),
        (
            "missing title",
            422,
            reqwest_body::json(json!({ "description": "no title" })),
        ),
        (
            "blank title",
            422,
            reqwest_body::json(json!({ "title": "   " })),
        ),
        (
            "title too long",
            422,
            reqwest_body::json(json!({ "title": "x".repeat(201) })),
        ),
        ("wrong type", 422, reqwest_body::json(json!({ "title": 5 }))),
        (
            "not JSON",
            415,
            reqwest_body::raw("title=x", "application/x-www-form-urlencoded"),
        ),
        (
            "oversized",
            413,
            reqwest_body::json(json!({ "title": "x", "description": "y".repeat(300_000) })),
        ),
    ];
    for (what, status, body) in cases {
        let r = admin
            .post_raw("/api/community/groups/", &body.text, body.content_type)
            .await;
        assert_eq!(r.status, status, "{what}: {r:?}");
        assert_eq!(
            r.headers["content-type"], "application/problem+json",
            "{what}"
        );
        assert!(
            r.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{what} has a detail"
        );
    }
    let r = admin
        .post_raw(
            "/api/community/groups/",
            &json!({ "title": "" }).to_string(),
            "application/json",
        )
        .await;
    assert_eq!(r.body["errors"][0]["field"], "title");
    let listing = admin.get("/api/community/groups/").await;
    assert_eq!(listing.body["results"], json!([]), "nothing was written");

    let created = admin.post("/api/community/groups/", body).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.body["member_count"], 0);
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(
        admin
            .get(&format!("/api/community/groups/{id}"))
            .await
            .status,
        200,
        "no trailing slash"
    );
    assert_eq!(
        admin.get("/api/community/groups/not-a-ulid/").await.status,
        400
    );
    assert_eq!(
        admin
            .get(&format!(
                "/api/community/groups/{}/",
                ulid::Ulid::generate()
            ))
            .await
            .status,
        404
    );
    assert_eq!(
        admin.get("/api/community/groups/?limit=500").await.status,
        400
    );
    assert_eq!(
        admin
            .get("/api/community/groups/?cursor=forged")
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn listings_paginate_with_signed_cursors_and_filter_by_course_and_membership() {
    let stack = Stack::start().await;
    let admin = stack.api(&stack.admin());
    for i in 0..5 {
        let r = admin
            .post(
                "/api/community/groups/",
                json!({ "title": format!("Group {i}") }),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let course = stack.course().await;
    let student = stack.member(&course).await;
    let api = stack.api(&student);
    let mut seen = Vec::new();
    let mut path = "/api/community/groups/?limit=2".to_string();
    loop {
        let page = api.get(&path).await;
        assert_eq!(page.status, 200, "{page:?}");
        for c in page.body["results"].as_array().unwrap() {
            seen.push(c["id"].as_str().unwrap().to_string());
        }
        match page.body["next"].as_str() {
            Some(next) => path = format!("/api/community/groups/?limit=2&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(
        seen.len(),
        6,
        "5 admin groups + the course community, each once"
    );
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 6);

    let by_course = api
        .get(&format!(
            "/api/community/groups/?course={}",
            course.course_id
        ))
        .await;
    assert_eq!(
        by_course.body["results"][0]["id"],
        course.community_id.as_str()
    );
    assert_eq!(by_course.body["results"][0]["my_role"], "member");
    let mine = api.get("/api/community/groups/?mine=true").await;
    assert_eq!(mine.body["results"].as_array().unwrap().len(), 1);
    assert_eq!(mine.body["results"][0]["is_member"], true);
}

/// Raw request bodies for the bad-input table.
mod reqwest_body {
    pub struct Body {
        pub text: String,
        pub content_type: &'static str,
    }
    pub fn raw(text: &str, content_type: &'static str) -> Body {
        Body {
            text: text.into(),
            content_type,
        }
    }
    pub fn json(v: serde_json::Value) -> Body {
        Body {
            text: v.to_string(),
            content_type: "application/json",
        }
    }
}
