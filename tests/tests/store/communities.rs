//! The communities store and the guard's roster against DynamoDB Local.

use chrono::{Duration, Utc};
use e2e::TestTable;
use shared::access::{Access, Action, Roster};
use shared::auth::{Principal, Role};
use shared::model::{Community, CommunityRole, Enrollment, Member, Visibility};
use shared::store::{communities as store, lms as lms_store};

fn community(id: &str, instructors: &[&str]) -> Community {
    Community {
        id: id.into(),
        title: "Physics".into(),
        description: String::new(),
        visibility: Visibility::Public,
        banner_image: None,
        require_post_approval: false,
        course_id: Some("physics-1".into()),
        instructor_ids: instructors.iter().map(|s| s.to_string()).collect(),
        member_count: 0,
        post_count: 0,
        created_at: "2026-11-23T10:00:00.000Z".into(),
        updated_at: "2026-11-23T10:00:00.000Z".into(),
        ..Default::default()
    }
}

fn member(community_id: &str, user: &str, role: CommunityRole) -> Member {
    Member {
        community_id: community_id.into(),
        user_id: user.into(),
        name: user.into(),
        username: None,
        role,
        joined_at: "2026-11-23T10:00:00.000Z".into(),
    }
}

fn enrollment(community_id: &str, user: &str, expiry: Option<String>) -> Enrollment {
    Enrollment {
        course_id: "physics-1".into(),
        community_id: community_id.into(),
        user_id: user.into(),
        is_active: true,
        expiry_date: expiry,
        updated_at: "2026-11-23T10:00:00.000Z".into(),
    }
}

fn student(id: &str) -> Principal {
    Principal {
        user_id: id.into(),
        role: Role::Student,
        name: id.into(),
        username: None,
    }
}

#[tokio::test]
async fn joining_twice_answers_the_stored_membership_and_counts_once() {
    let t = TestTable::new().await;
    let c = community(&shared::ids::new_id(), &[]);
    store::insert_community(&t.db, &c).await.unwrap();
    let m = member(&c.id, "sam", CommunityRole::Member);
    assert_eq!(
        store::insert_member(&t.db, &m).await.unwrap(),
        store::Joined::New
    );
    let again = member(&c.id, "sam", CommunityRole::Moderator);
    assert_eq!(
        store::insert_member(&t.db, &again).await.unwrap(),
        store::Joined::Already(m.clone())
    );
    let stored = store::community(&t.db, &c.id).await.unwrap().unwrap();
    assert_eq!(stored.member_count, 1);
}

#[tokio::test]
async fn a_membership_of_a_missing_community_is_refused_and_not_written() {
    let t = TestTable::new().await;
    let id = shared::ids::new_id();
    let m = member(&id, "sam", CommunityRole::Member);
    assert_eq!(
        store::insert_member(&t.db, &m).await.unwrap(),
        store::Joined::CommunityGone
    );
    assert_eq!(
        store::members(&t.db, &id, &["sam"]).await.unwrap(),
        vec![None]
    );
}

#[tokio::test]
async fn leaving_uncounts_once_and_a_second_leave_finds_nothing() {
    let t = TestTable::new().await;
    let c = community(&shared::ids::new_id(), &[]);
    store::insert_community(&t.db, &c).await.unwrap();
    store::insert_member(&t.db, &member(&c.id, "sam", CommunityRole::Member))
        .await
        .unwrap();
    assert!(store::delete_member(&t.db, &c.id, "sam").await.unwrap());
    assert!(!store::delete_member(&t.db, &c.id, "sam").await.unwrap());
    let stored = store::community(&t.db, &c.id).await.unwrap().unwrap();
    assert_eq!(stored.member_count, 0);
}

#[tokio::test]
async fn a_role_is_set_only_on_an_existing_membership() {
    let t = TestTable::new().await;
    let c = community(&shared::ids::new_id(), &[]);
    store::insert_community(&t.db, &c).await.unwrap();
    store::insert_member(&t.db, &member(&c.id, "sam", CommunityRole::Member))
        .await
        .unwrap();
    let changed = store::set_role(&t.db, &c.id, "sam", CommunityRole::Moderator)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.role, CommunityRole::Moderator);
    assert!(
        store::set_role(&t.db, &c.id, "nobody", CommunityRole::Moderator)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store::members(&t.db, &c.id, &["nobody"]).await.unwrap()[0].is_none());
}

#[tokio::test]
async fn an_update_changes_only_the_given_fields_and_a_missing_community_answers_none() {
    let t = TestTable::new().await;
    let c = community(&shared::ids::new_id(), &[]);
    store::insert_community(&t.db, &c).await.unwrap();
    let changed = store::update_community(
        &t.db,
        &c.id,
        store::CommunityChanges {
            require_post_approval: Some(true),
            banner_image: Some(None),
            ..Default::default()
        },
        "2026-11-24T10:00:00.000Z",
    )
    .await
    .unwrap()
    .unwrap();
    assert!(changed.require_post_approval);
    assert_eq!(changed.title, c.title);
    assert_eq!(changed.updated_at, "2026-11-24T10:00:00.000Z");
    let missing = store::update_community(
        &t.db,
        &shared::ids::new_id(),
        store::CommunityChanges::default(),
        "2026-11-24T10:00:00.000Z",
    )
    .await
    .unwrap();
    assert!(missing.is_none());
}

#[tokio::test]
async fn the_guard_reads_one_user_in_many_communities_and_leaves_missing_ones_out() {
    let t = TestTable::new().await;
    let (a, b) = (
        community(&shared::ids::new_id(), &[]),
        community(&shared::ids::new_id(), &[]),
    );
    for c in [&a, &b] {
        store::insert_community(&t.db, c).await.unwrap();
    }
    store::insert_member(&t.db, &member(&a.id, "sam", CommunityRole::Member))
        .await
        .unwrap();
    lms_store::put_enrollment(&t.db, &enrollment(&a.id, "sam", None))
        .await
        .unwrap();
    let ids = vec![a.id.clone(), shared::ids::new_id(), b.id.clone()];
    let now = Utc::now();
    let access = Access::load_many(&t.db, &student("sam"), &ids, now)
        .await
        .unwrap();
    assert_eq!(access.len(), 2);
    assert!(access[0].can(Action::Chat));
    assert!(!access[1].can(Action::Chat));
    assert_eq!(
        store::community_ids_of(&t.db, "sam").await.unwrap(),
        vec![a.id.clone()]
    );
}

#[tokio::test]
async fn the_roster_decides_for_many_users_the_same_way_whichever_read_it_uses() {
    let t = TestTable::new().await;
    let c = community(&shared::ids::new_id(), &["prof"]);
    store::insert_community(&t.db, &c).await.unwrap();
    let now = Utc::now();
    let past = shared::clock::iso(now - Duration::days(1));
    // current: member + enrollment; expired: member whose enrollment ended; mod: a moderator;
    // outsider: neither.
    for (user, role) in [
        ("current", CommunityRole::Member),
        ("expired", CommunityRole::Member),
        ("mod", CommunityRole::Moderator),
    ] {
        store::insert_member(&t.db, &member(&c.id, user, role))
            .await
            .unwrap();
    }
    lms_store::put_enrollment(&t.db, &enrollment(&c.id, "current", None))
        .await
        .unwrap();
    lms_store::put_enrollment(&t.db, &enrollment(&c.id, "expired", Some(past)))
        .await
        .unwrap();
    lms_store::put_enrollment(&t.db, &enrollment(&c.id, "mod", None))
        .await
        .unwrap();
    let users: Vec<String> = ["current", "expired", "mod", "outsider", "prof"]
        .map(String::from)
        .to_vec();
    let batch = Roster::of(&t.db, c.clone(), &users, now).await.unwrap();
    let whole = Roster::whole(&t.db, &c.id, true, now)
        .await
        .unwrap()
        .unwrap();
    for roster in [&batch, &whole] {
        let readers: Vec<&str> = users
            .iter()
            .filter(|u| roster.allows(u, Action::Read))
            .map(String::as_str)
            .collect();
        assert_eq!(readers, vec!["current", "mod", "prof"]);
        let moderators: Vec<&str> = users
            .iter()
            .filter(|u| roster.allows(u, Action::Moderate))
            .map(String::as_str)
            .collect();
        assert_eq!(moderators, vec!["mod", "prof"]);
        let mut listed = roster.moderators();
        listed.sort();
        assert_eq!(listed, vec!["mod", "prof"]);
    }
    // An admin's role, once known, counts.
    let with_admin = batch.with_roles([("outsider".to_string(), Role::Admin)]);
    assert!(with_admin.allows("outsider", Action::Moderate));
}
