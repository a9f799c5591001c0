//! The forum's store against DynamoDB Local: each refused condition comes back as its typed
//! outcome, counters follow their writes, and a post's notification job is written with it or
//! not at all (the outbox fault test).

use chrono::{DateTime, Utc};
use e2e::TestTable;
use shared::auth::{Principal, Role};
use shared::communities::Community;
use shared::db::to_item;
use shared::ids::Sequence;
use shared::keys;
use shared::membership::{CommunityRole, Member};
use shared::notifications::jobs::{JobItem, JobKind};
use shared::posts::model::{Flag, Post, PostStatus, Reaction, ReactionType, Revision};
use shared::posts::moderation::{self, ReasonInput};
use shared::posts::{self, NewPost};
use shared::store::posts::{
    self as store, Decided, Deleted, Edited, Flagged, Inserted, Reacted, Resolved, Unreacted,
};

/// A table with one public community, a member and a moderator of it.
struct Forum {
    t: TestTable,
    community: String,
    member: Principal,
    moderator: Principal,
    now: DateTime<Utc>,
}

fn principal(id: &str) -> Principal {
    Principal {
        user_id: id.into(),
        role: Role::Student,
        name: format!("User {id}"),
        username: Some(id.into()),
    }
}

impl Forum {
    async fn new(require_post_approval: bool) -> Forum {
        let t = TestTable::new().await;
        let now = Utc::now();
        let at = shared::clock::iso(now);
        let community = shared::ids::new_id();
        let c = Community {
            id: community.clone(),
            title: "Course forum".into(),
            description: String::new(),
            visibility: Default::default(),
            banner_image: None,
            require_post_approval,
            course_id: None,
            instructor_ids: vec![],
            member_count: 2,
            post_count: 0,
            created_at: at.clone(),
            updated_at: at.clone(),
            ..Default::default()
        };
        let (member, moderator) = (principal("ana"), principal("mo"));
        let mut tx = t.db.tx();
        tx.put(to_item(&keys::community(&community), &c).unwrap())
            .unwrap();
        for (p, role) in [
            (&member, CommunityRole::Member),
            (&moderator, CommunityRole::Moderator),
        ] {
            let m = Member::new(&community, p, role, &at);
            tx.put(to_item(&keys::member(&community, &p.user_id), &m).unwrap())
                .unwrap();
        }
        assert_eq!(t.db.run(tx).await.unwrap(), shared::store::TxOutcome::Done);
        Forum {
            t,
            community,
            member,
            moderator,
            now,
        }
    }

    async fn post_count(&self) -> i64 {
        let c: Community = self
            .t
            .db
            .get(&keys::community(&self.community))
            .await
            .unwrap()
            .unwrap();
        c.post_count
    }

    async fn post(&self, id: &str) -> Option<Post> {
        store::get(&self.t.db, id).await.unwrap()
    }

    async fn job(&self, id: &str) -> Option<JobItem> {
        self.t.db.get(&keys::notification_job(id)).await.unwrap()
    }

    /// A post record as the use cases build it: top-level, or a reply to `parent`.
    fn record(&self, parent: Option<&Post>, status: PostStatus) -> Post {
        let id = shared::ids::new_id();
        let at = shared::clock::iso(self.now);
        let (root_id, path, depth) = match parent {
            None => (id.clone(), id.clone(), 0),
            Some(p) => (p.root_id.clone(), format!("{}/{id}", p.path), p.depth + 1),
        };
        Post {
            id,
            community_id: self.community.clone(),
            parent_id: parent.map(|p| p.id.clone()),
            root_id,
            path,
            depth,
            author_id: self.member.user_id.clone(),
            author_name: self.member.name.clone(),
            author_username: self.member.username.clone(),
            title: parent.is_none().then(|| "A question".to_string()),
            content: "Is the exam open book? @mo".into(),
            status,
            is_pinned: false,
            is_deleted: false,
            view_count: 0,
            reply_count: 0,
            reaction_counts: Default::default(),
            flag_count: 0,
            open_flag_count: 0,
            edit_count: 0,
            queued_at: (status == PostStatus::Pending).then(|| at.clone()),
            created_at: at.clone(),
            updated_at: at,
            edited_at: None,
            deleted_at: None,
            deleted_by: None,
            moderated_by: None,
            moderated_at: None,
            moderation_reason: None,
            flags_resolved_at: None,
            flags_resolved_by: None,
            ..Post::default()
        }
    }

    /// Stores a record directly through the store.
    async fn stored(&self, parent: Option<&Post>, status: PostStatus) -> Post {
        let p = self.record(parent, status);
        assert_eq!(
            store::insert(&self.t.db, &p, None).await.unwrap(),
            Inserted::Created
        );
        p
    }
}

fn new_post(community: &str, parent: Option<&str>) -> NewPost {
    NewPost {
        title: parent.is_none().then(|| "When is the exam?".to_string()),
        content: Some("Asking for @mo and @ana".into()),
        community: Some(community.into()),
        parent: parent.map(str::to_string),
        ..NewPost::default()
    }
}

// ---------------------------------------------------------------- typed outcomes

#[tokio::test]
async fn a_post_id_is_stored_once_and_counted_once() {
    let f = Forum::new(false).await;
    let p = f.stored(None, PostStatus::Approved).await;
    assert_eq!(f.post_count().await, 1);

    let mut again = p.clone();
    again.content = "another text under the same id".into();
    assert_eq!(
        store::insert(&f.t.db, &again, None).await.unwrap(),
        Inserted::Duplicate
    );
    assert_eq!(f.post(&p.id).await.unwrap().content, p.content);
    assert_eq!(f.post_count().await, 1, "a refused insert counts nothing");
}

#[tokio::test]
async fn a_reply_to_a_missing_or_unpublished_parent_is_refused_as_parent_gone() {
    let f = Forum::new(false).await;
    let missing = f.record(None, PostStatus::Approved);
    for status in [PostStatus::Approved, PostStatus::Pending] {
        let reply = f.record(Some(&missing), status);
        assert_eq!(
            store::insert(&f.t.db, &reply, None).await.unwrap(),
            Inserted::ParentGone,
            "{status:?} reply"
        );
        assert!(f.post(&reply.id).await.is_none());
    }
    let pending = f.stored(None, PostStatus::Pending).await;
    let reply = f.record(Some(&pending), PostStatus::Approved);
    assert_eq!(
        store::insert(&f.t.db, &reply, None).await.unwrap(),
        Inserted::ParentGone
    );
    assert_eq!(f.post_count().await, 0);
    assert_eq!(f.post(&pending.id).await.unwrap().reply_count, 0);

    let parent = f.stored(None, PostStatus::Approved).await;
    f.stored(Some(&parent), PostStatus::Approved).await;
    f.stored(Some(&parent), PostStatus::Pending).await;
    assert_eq!(f.post(&parent.id).await.unwrap().reply_count, 1);
    assert_eq!(f.post_count().await, 2);
}

fn revision_of(p: &Post, by: &str) -> Revision {
    Revision {
        post_id: p.id.clone(),
        version: p.edit_count + 1,
        title: p.title.clone(),
        content: p.content.clone(),
        replaced_at: shared::clock::iso(Utc::now()),
        replaced_by: by.into(),
    }
}

#[tokio::test]
async fn of_two_edits_racing_from_one_read_the_second_gets_a_conflict_with_the_post_as_it_is() {
    let f = Forum::new(false).await;
    let read = f.stored(None, PostStatus::Approved).await;
    let db = &f.t.db;
    let at = shared::clock::iso(Utc::now());
    let revision = revision_of(&read, "ana");
    let (first, second) = tokio::join!(
        store::edit(db, &read, &revision, Some("T1"), "one", &at),
        store::edit(db, &read, &revision, Some("T2"), "two", &at),
    );
    let mut outcomes = [first.unwrap(), second.unwrap()];
    outcomes.sort_by_key(|o| !matches!(o, Edited::Edited));
    assert_eq!(outcomes[0], Edited::Edited);
    let Edited::Conflict(now) = &outcomes[1] else {
        panic!("the second edit conflicts: {:?}", outcomes[1]);
    };
    assert_eq!(now.edit_count, 1);
    assert!(["one", "two"].contains(&now.content.as_str()));

    // Applied again on the post as it is, the second edit lands and keeps its own record.
    let stale_again = revision_of(now, "ana");
    assert_eq!(
        store::edit(db, now, &stale_again, None, "three", &at)
            .await
            .unwrap(),
        Edited::Edited
    );
    let stored = f.post(&read.id).await.unwrap();
    assert_eq!((stored.edit_count, stored.title.clone()), (2, None));
    let cursors = shared::cursor::Cursors::new(b"k");
    let page = shared::cursor::PageParams {
        limit: 10,
        cursor: None,
    };
    let history = store::revisions_page(db, &cursors, &read.id, &page)
        .await
        .unwrap();
    let versions: Vec<i64> = history.results.iter().map(|r| r.version).collect();
    assert_eq!(versions, [1, 2]);
    assert_eq!(history.results[0].content, read.content);

    assert_eq!(
        store::soft_delete(db, &stored, "mo", &at, None)
            .await
            .unwrap(),
        Deleted::Deleted
    );
    assert_eq!(
        store::edit(db, &stored, &revision_of(&stored, "ana"), None, "x", &at)
            .await
            .unwrap(),
        Edited::Gone
    );
}

#[tokio::test]
async fn a_soft_delete_unpublishes_once_and_a_stale_read_answers_changed() {
    let f = Forum::new(false).await;
    let db = &f.t.db;
    let parent = f.stored(None, PostStatus::Approved).await;
    let reply = f.stored(Some(&parent), PostStatus::Approved).await;
    assert_eq!(f.post_count().await, 2);
    let at = shared::clock::iso(Utc::now());
    assert_eq!(
        store::soft_delete(db, &reply, "ana", &at, None)
            .await
            .unwrap(),
        Deleted::Deleted
    );
    assert_eq!(f.post_count().await, 1);
    assert_eq!(f.post(&parent.id).await.unwrap().reply_count, 0);
    let Deleted::Changed(now) = store::soft_delete(db, &reply, "ana", &at, None)
        .await
        .unwrap()
    else {
        panic!("deleting from a stale read is refused");
    };
    assert!(now.is_deleted);
    assert_eq!(f.post_count().await, 1, "counted out once");
}

#[tokio::test]
async fn a_decision_on_a_post_that_is_not_pending_answers_not_pending() {
    let f = Forum::new(true).await;
    let db = &f.t.db;
    let pending = f.stored(None, PostStatus::Pending).await;
    assert_eq!(f.post_count().await, 0);
    let mut approved = pending.clone();
    approved.status = PostStatus::Approved;
    approved.moderated_by = Some("mo".into());
    approved.moderated_at = Some(shared::clock::iso(Utc::now()));
    approved.queued_at = None;
    assert_eq!(
        store::decide(db, &approved, None, None).await.unwrap(),
        Decided::Decided
    );
    assert_eq!(f.post_count().await, 1);

    let mut rejected = pending.clone();
    rejected.status = PostStatus::Rejected;
    rejected.moderated_by = Some("mo".into());
    let Decided::NotPending(now) = store::decide(db, &rejected, None, None).await.unwrap() else {
        panic!("a post is decided once");
    };
    assert_eq!(now.status, PostStatus::Approved);
    assert_eq!(
        f.post(&pending.id).await.unwrap().status,
        PostStatus::Approved
    );
    assert_eq!(f.post_count().await, 1, "published once");
}

#[tokio::test]
async fn reactions_are_one_per_user_and_type_and_counted_with_their_write() {
    let f = Forum::new(false).await;
    let db = &f.t.db;
    let p = f.stored(None, PostStatus::Approved).await;
    let reaction = |user: &str, t: ReactionType, at: &str| Reaction {
        post_id: p.id.clone(),
        user_id: user.into(),
        reaction_type: t,
        created_at: at.into(),
    };
    let first = reaction("ana", ReactionType::Like, "2026-01-01T00:00:00.000Z");
    assert_eq!(
        store::add_reaction(db, &p.root_id, &first).await.unwrap(),
        Reacted::Added
    );
    let again = reaction("ana", ReactionType::Like, "2026-01-02T00:00:00.000Z");
    assert_eq!(
        store::add_reaction(db, &p.root_id, &again).await.unwrap(),
        Reacted::AlreadyThere(first.clone()),
        "the stored reaction, not the new one"
    );
    for r in [
        reaction("ana", ReactionType::Helpful, "2026-01-01T00:00:00.000Z"),
        reaction("mo", ReactionType::Like, "2026-01-01T00:00:00.000Z"),
    ] {
        assert_eq!(
            store::add_reaction(db, &p.root_id, &r).await.unwrap(),
            Reacted::Added
        );
    }
    let counts = f.post(&p.id).await.unwrap().reaction_counts;
    assert_eq!((counts.like, counts.helpful, counts.love), (2, 1, 0));
    let mine = store::reactions_in_thread(db, &p.root_id, "ana")
        .await
        .unwrap();
    assert_eq!(mine.len(), 2);

    let remove = || store::remove_reaction(db, &p.root_id, &p.id, "ana", ReactionType::Like);
    assert_eq!(remove().await.unwrap(), Unreacted::Removed);
    assert_eq!(remove().await.unwrap(), Unreacted::NotThere);
    assert_eq!(f.post(&p.id).await.unwrap().reaction_counts.like, 1);

    let at = shared::clock::iso(Utc::now());
    store::soft_delete(db, &p, "ana", &at, None).await.unwrap();
    let late = reaction("mo", ReactionType::Wow, &at);
    assert_eq!(
        store::add_reaction(db, &p.root_id, &late).await.unwrap(),
        Reacted::PostChanged
    );
    assert_eq!(f.post(&p.id).await.unwrap().reaction_counts.wow, 0);
}

#[tokio::test]
async fn a_flag_is_taken_once_per_user_and_resolved_once() {
    let f = Forum::new(false).await;
    let db = &f.t.db;
    let p = f.stored(None, PostStatus::Approved).await;
    let flag = Flag {
        post_id: p.id.clone(),
        user_id: "mo".into(),
        user_name: "Mo".into(),
        reason: "spam".into(),
        created_at: shared::clock::iso(Utc::now()),
    };
    assert_eq!(
        store::add_flag(db, &p, &flag, None).await.unwrap(),
        Flagged::Flagged
    );
    assert_eq!(
        store::add_flag(db, &p, &flag, None).await.unwrap(),
        Flagged::AlreadyFlagged
    );
    let flagged = f.post(&p.id).await.unwrap();
    assert_eq!((flagged.flag_count, flagged.open_flag_count), (1, 1));
    assert!(flagged.queued_at.is_some());

    let at = shared::clock::iso(Utc::now());
    let resolve = || store::resolve_flags(db, &p.id, "mo", &at, None, None);
    assert_eq!(resolve().await.unwrap(), Resolved::Resolved);
    assert_eq!(resolve().await.unwrap(), Resolved::NoOpenFlags);
    let resolved = f.post(&p.id).await.unwrap();
    assert_eq!((resolved.flag_count, resolved.open_flag_count), (1, 0));
    assert!(resolved.queued_at.is_none());

    let pending = f.stored(None, PostStatus::Pending).await;
    let on_pending = Flag {
        post_id: pending.id.clone(),
        ..flag
    };
    assert_eq!(
        store::add_flag(db, &pending, &on_pending, None)
            .await
            .unwrap(),
        Flagged::NotFlaggable
    );
}

// ---------------------------------------------------------------- the outbox

#[tokio::test]
async fn creating_a_post_writes_the_post_and_its_notification_job_together() {
    let f = Forum::new(false).await;
    let ids = Sequence::at(f.now);
    let view = posts::create_post(
        &f.t.db,
        &ids,
        &f.member,
        None,
        new_post(&f.community, None),
        f.now,
    )
    .await
    .unwrap();
    let (post_id, job_id) = (ids.nth(1), ids.nth(2));
    assert_eq!(view.id, post_id);
    assert!(f.post(&post_id).await.is_some());
    let job = f.job(&job_id).await.expect("the post's job is stored").job;
    assert_eq!(job.kind, JobKind::PostPublished);
    assert_eq!(job.post.unwrap().id, post_id);
    assert_eq!(job.mentions, ["mo", "ana"]);
    assert_eq!(f.post_count().await, 1);
}

#[tokio::test]
async fn when_the_job_cannot_be_written_the_post_is_not_written_either_and_a_retry_succeeds() {
    let f = Forum::new(false).await;
    let ids = Sequence::at(f.now);
    let (post_id, job_id) = (ids.nth(1), ids.nth(2));
    // The fault: the key the post's job will take is occupied, so the job's Put fails.
    let blocker = serde_json::json!({ "blocked": true });
    f.t.db
        .put_item()
        .set_item(Some(
            to_item(&keys::notification_job(&job_id), &blocker).unwrap(),
        ))
        .send()
        .await
        .unwrap();

    let create = || {
        posts::create_post(
            &f.t.db,
            &ids,
            &f.member,
            None,
            new_post(&f.community, None),
            f.now,
        )
    };
    let e = create().await.expect_err("the create fails as a whole");
    assert_eq!(e.status(), 500);
    assert!(f.post(&post_id).await.is_none(), "no post without its job");
    assert_eq!(f.post_count().await, 0, "no counter bump");
    let still: serde_json::Value =
        f.t.db
            .get(&keys::notification_job(&job_id))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(still["blocked"], true);

    // Retried, the create takes fresh ids and lands with its job.
    let view = create().await.unwrap();
    assert_eq!(view.id, ids.nth(3));
    assert!(f.post(&ids.nth(3)).await.is_some());
    assert_eq!(
        f.job(&ids.nth(4)).await.unwrap().job.post.unwrap().id,
        ids.nth(3)
    );
    assert_eq!(f.post_count().await, 1);
}

#[tokio::test]
async fn when_a_reply_job_cannot_be_written_the_parent_keeps_its_reply_count() {
    let f = Forum::new(false).await;
    let parent = f.stored(None, PostStatus::Approved).await;
    let ids = Sequence::at(f.now);
    f.t.db
        .put_item()
        .set_item(Some(
            to_item(&keys::notification_job(&ids.nth(2)), &serde_json::json!({})).unwrap(),
        ))
        .send()
        .await
        .unwrap();
    let reply = || {
        posts::create_reply(
            &f.t.db,
            &ids,
            &f.member,
            None,
            new_post(&f.community, Some(&parent.id)),
            f.now,
        )
    };
    assert_eq!(reply().await.unwrap_err().status(), 500);
    assert!(f.post(&ids.nth(1)).await.is_none());
    assert_eq!(f.post(&parent.id).await.unwrap().reply_count, 0);
    assert_eq!(f.post_count().await, 1);

    let view = reply().await.unwrap();
    assert_eq!(view.parent.as_deref(), Some(parent.id.as_str()));
    assert_eq!(
        f.job(&ids.nth(4)).await.unwrap().job.kind,
        JobKind::PostPublished
    );
    assert_eq!(f.post(&parent.id).await.unwrap().reply_count, 1);
}

#[tokio::test]
async fn approvals_rejections_and_flags_are_written_with_their_jobs_or_not_at_all() {
    let f = Forum::new(true).await;
    let db = &f.t.db;
    let ids = Sequence::at(f.now);
    // A member's post waits for approval; its job is the pending notice (ids 1 and 2).
    let held = posts::create_post(
        db,
        &ids,
        &f.member,
        None,
        new_post(&f.community, None),
        f.now,
    )
    .await
    .unwrap();
    assert_eq!(held.status, PostStatus::Pending);
    assert_eq!(
        f.job(&ids.nth(2)).await.unwrap().job.kind,
        JobKind::PostPending
    );

    // The approval's job would take id 3 (its audit entry 4): occupied, the approval fails and
    // changes nothing.
    db.put_item()
        .set_item(Some(
            to_item(&keys::notification_job(&ids.nth(3)), &serde_json::json!({})).unwrap(),
        ))
        .send()
        .await
        .unwrap();
    let approve = || {
        moderation::approve(
            db,
            &ids,
            &f.moderator,
            &held.id,
            Ok(ReasonInput::default()),
            f.now,
        )
    };
    assert_eq!(approve().await.unwrap_err().status(), 500);
    let still = f.post(&held.id).await.unwrap();
    assert_eq!(still.status, PostStatus::Pending);
    assert!(still.queued_at.is_some());
    assert_eq!(f.post_count().await, 0);

    let approved = approve().await.unwrap();
    assert_eq!(approved.status, PostStatus::Approved);
    assert_eq!(
        f.job(&ids.nth(5)).await.unwrap().job.kind,
        JobKind::PostApproved
    );
    assert_eq!(f.post_count().await, 1);

    // A flag's job would take id 7: occupied, no flag and no counter; retried, it lands.
    db.put_item()
        .set_item(Some(
            to_item(&keys::notification_job(&ids.nth(7)), &serde_json::json!({})).unwrap(),
        ))
        .send()
        .await
        .unwrap();
    let flag = || {
        let input = ReasonInput {
            reason: Some("off topic".into()),
        };
        moderation::flag(db, &ids, &f.moderator, &held.id, Ok(input), f.now)
    };
    assert_eq!(flag().await.unwrap_err().status(), 500);
    let unflagged = f.post(&held.id).await.unwrap();
    assert_eq!((unflagged.flag_count, unflagged.queued_at), (0, None));
    let flag_key = keys::post_flag(&held.id, &f.moderator.user_id);
    assert!(db.get::<Flag>(&flag_key).await.unwrap().is_none());
    flag().await.unwrap();
    assert_eq!(
        f.job(&ids.nth(8)).await.unwrap().job.kind,
        JobKind::PostFlagged
    );
    assert_eq!(f.post(&held.id).await.unwrap().open_flag_count, 1);

    // A rejection queues its job the same way (a second held post: ids 9, 10; rejection: 11).
    let other = posts::create_post(
        db,
        &ids,
        &f.member,
        None,
        new_post(&f.community, None),
        f.now,
    )
    .await
    .unwrap();
    moderation::reject(
        db,
        &ids,
        &f.moderator,
        &other.id,
        Ok(ReasonInput::default()),
        f.now,
    )
    .await
    .unwrap();
    assert_eq!(
        f.job(&ids.nth(11)).await.unwrap().job.kind,
        JobKind::PostRejected
    );
}
