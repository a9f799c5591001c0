//! LMS sync through the gateway: admin-only idempotent upserts of users, courses, enrollments.

use e2e::*;
use serde_json::json;

#[tokio::test]
async fn a_repeated_upsert_changes_nothing_the_second_time() {
    let stack = Stack::start().await;
    let admin = stack.api(&stack.admin());
    let instructor = stack.user(Role::Instructor);

    let user = json!({ "name": "Ada", "username": "ada" });
    assert_eq!(
        admin
            .put("/api/community/lms/users/u-ada/", user.clone())
            .await
            .status,
        201
    );
    let again = admin.put("/api/community/lms/users/u-ada/", user).await;
    assert_eq!(again.status, 200, "{again:?}");

    let course = json!({ "title": "Rust 101", "description": "Ownership", "instructor_ids": [instructor.id] });
    let first = admin
        .put("/api/community/lms/courses/rust-101/", course.clone())
        .await;
    assert_eq!(first.status, 201, "{first:?}");
    let second = admin
        .put("/api/community/lms/courses/rust-101/", course)
        .await;
    assert_eq!(second.status, 200);
    assert_eq!(
        first.body, second.body,
        "same course, same community, same timestamps"
    );

    let path = "/api/community/lms/courses/rust-101/enrollments/u-ada/";
    let e = json!({ "is_active": true, "expiry_date": "2099-01-01" });
    assert_eq!(admin.put(path, e.clone()).await.status, 201);
    let again = admin.put(path, e).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["expiry_date"], "2099-01-01T23:59:59.000Z");
    assert_eq!(admin.delete(path).await.status, 204);
    assert_eq!(
        admin.delete(path).await.status,
        204,
        "deleting twice is fine"
    );

    let community = first.body["community_id"].as_str().unwrap();
    let group = stack
        .api(&instructor)
        .get(&format!("/api/community/groups/{community}/"))
        .await;
    assert_eq!(group.body["member_count"], 1, "the instructor is a member");
    assert_eq!(group.body["my_role"], "instructor");
}

#[tokio::test]
async fn changing_a_course_s_instructors_updates_roles_and_counts() {
    let stack = Stack::start().await;
    let admin = stack.api(&stack.admin());
    let (a, b) = (stack.user(Role::Instructor), stack.user(Role::Instructor));
    let put = |ids: Vec<String>| {
        let admin = admin.clone();
        async move {
            admin
                .put(
                    "/api/community/lms/courses/c1/",
                    json!({ "title": "C1", "instructor_ids": ids }),
                )
                .await
        }
    };
    let created = put(vec![a.id.clone()]).await;
    let community = created.body["community_id"].as_str().unwrap().to_string();
    let changed = put(vec![a.id.clone(), b.id.clone()]).await;
    assert_eq!(changed.status, 201);
    assert_eq!(
        changed.body["community_id"],
        community.as_str(),
        "still one community"
    );
    let group = stack
        .api(&b)
        .get(&format!("/api/community/groups/{community}/"))
        .await;
    assert_eq!(group.body["my_role"], "instructor");
    assert_eq!(group.body["member_count"], 2);
    put(vec![b.id.clone()]).await;
    let group = stack
        .api(&a)
        .get(&format!("/api/community/groups/{community}/"))
        .await;
    assert_eq!(
        group.body["my_role"], "member",
        "a former instructor stays as a member"
    );
    assert_eq!(group.body["member_count"], 2);
}

#[tokio::test]
async fn lms_sync_is_admin_only_and_validates_its_input() {
    let stack = Stack::start().await;
    let instructor = stack.api(&stack.user(Role::Instructor));
    let admin = stack.api(&stack.admin());
    let r = instructor
        .put(
            "/api/community/lms/courses/c1/",
            json!({ "title": "C1", "instructor_ids": [] }),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = admin
        .put(
            "/api/community/lms/courses/c1/enrollments/u1/",
            json!({ "is_active": true }),
        )
        .await;
    assert_eq!(r.status, 404, "unknown course");
    admin
        .put(
            "/api/community/lms/courses/c1/",
            json!({ "title": "C1", "instructor_ids": [] }),
        )
        .await;
    let r = admin
        .put(
            "/api/community/lms/courses/c1/enrollments/u1/",
            json!({ "is_active": true, "expiry_date": "next week" }),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["errors"][0]["field"], "expiry_date");
    let r = admin
        .put(
            "/api/community/lms/users/bad%2Fid/",
            json!({ "name": "x", "username": "x" }),
        )
        .await;
    assert_eq!(r.status, 400);
    admin
        .put(
            "/api/community/lms/users/u1/",
            json!({ "name": "One", "username": "same" }),
        )
        .await;
    let r = admin
        .put(
            "/api/community/lms/users/u2/",
            json!({ "name": "Two", "username": "Same" }),
        )
        .await;
    assert_eq!(r.status, 409, "usernames are unique, case-insensitively");
    let r = admin.post("/api/community/lms/users/u2/", json!({})).await;
    assert_eq!(r.status, 405);
}
