//! The LMS store against DynamoDB Local: unique usernames and courses written whole or not at all.

use e2e::TestTable;
use shared::model::{Community, Course, Member, User, Visibility};
use shared::store::{communities, lms as store};

fn user(id: &str, username: &str) -> User {
    User {
        user_id: id.into(),
        name: id.into(),
        username: username.into(),
        avatar_url: None,
        email: None,
        updated_at: "2026-11-23T10:00:00.000Z".into(),
    }
}

#[tokio::test]
async fn a_username_belongs_to_one_user_and_is_released_when_it_changes() {
    let t = TestTable::new().await;
    let sam = user("u-sam", "sam");
    assert!(store::put_user(&t.db, &sam, None).await.unwrap());
    // Another user cannot take it, in any case, and nothing of theirs is written.
    assert!(
        !store::put_user(&t.db, &user("u-other", "SAM"), None)
            .await
            .unwrap()
    );
    assert!(store::user(&t.db, "u-other").await.unwrap().is_none());
    // Sam renames: the old name is free again.
    let renamed = user("u-sam", "samuel");
    assert!(store::put_user(&t.db, &renamed, Some(&sam)).await.unwrap());
    assert_eq!(
        store::user_id_by_username(&t.db, "Samuel")
            .await
            .unwrap()
            .as_deref(),
        Some("u-sam")
    );
    assert!(
        store::user_id_by_username(&t.db, "sam")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store::put_user(&t.db, &user("u-other", "sam"), None)
            .await
            .unwrap()
    );
}

fn course(id: &str, community_id: &str, instructors: &[&str]) -> (Course, Community) {
    let instructor_ids: Vec<String> = instructors.iter().map(|s| s.to_string()).collect();
    let at = "2026-11-23T10:00:00.000Z".to_string();
    (
        Course {
            course_id: id.into(),
            title: "Physics".into(),
            description: String::new(),
            instructor_ids: instructor_ids.clone(),
            community_id: community_id.into(),
            created_at: at.clone(),
            updated_at: at.clone(),
        },
        Community {
            id: community_id.into(),
            title: "Physics".into(),
            description: String::new(),
            visibility: Visibility::Public,
            banner_image: None,
            require_post_approval: false,
            student_dms: true,
            course_id: Some(id.into()),
            instructor_ids,
            member_count: instructors.len() as i64,
            post_count: 0,
            created_at: at.clone(),
            updated_at: at,
            ..Default::default()
        },
    )
}

#[tokio::test]
async fn a_course_is_created_once_with_its_community_and_instructors() {
    let t = TestTable::new().await;
    let cid = shared::ids::new_id();
    let (c, community) = course("physics-1", &cid, &["prof"]);
    let members = vec![Member::instructor(&cid, "prof", &c.created_at)];
    assert!(
        store::create_course(&t.db, &c, &community, &members)
            .await
            .unwrap()
    );
    // A concurrent creation of the same course loses as a whole: no second community.
    let other = shared::ids::new_id();
    let (again, other_community) = course("physics-1", &other, &["prof"]);
    assert!(
        !store::create_course(&t.db, &again, &other_community, &[])
            .await
            .unwrap()
    );
    assert!(
        communities::community(&t.db, &other)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store::course(&t.db, "physics-1")
            .await
            .unwrap()
            .unwrap()
            .community_id,
        cid
    );
    let prof = communities::members(&t.db, &cid, &["prof"]).await.unwrap();
    assert!(prof[0].is_some());
}

#[tokio::test]
async fn a_course_update_applies_only_to_the_version_it_read() {
    let t = TestTable::new().await;
    let cid = shared::ids::new_id();
    let (c, community) = course("physics-2", &cid, &[]);
    assert!(
        store::create_course(&t.db, &c, &community, &[])
            .await
            .unwrap()
    );
    let changed = Course {
        instructor_ids: vec!["prof".into()],
        updated_at: "2026-11-24T10:00:00.000Z".into(),
        ..c.clone()
    };
    let changes = store::InstructorChanges {
        new_members: vec![Member::instructor(&cid, "prof", &changed.updated_at)],
        role_changes: vec![],
    };
    // Read an older version: refused, nothing written.
    assert!(
        !store::update_course(&t.db, &changed, "2020-01-01T00:00:00.000Z", &changes, "now")
            .await
            .unwrap()
    );
    assert!(communities::members(&t.db, &cid, &["prof"]).await.unwrap()[0].is_none());
    assert!(
        store::update_course(&t.db, &changed, &c.updated_at, &changes, "now")
            .await
            .unwrap()
    );
    let stored = communities::community(&t.db, &cid).await.unwrap().unwrap();
    assert_eq!(stored.instructor_ids, vec!["prof"]);
    assert_eq!(stored.member_count, 1);
}
