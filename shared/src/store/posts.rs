//! The forum's storage: every DynamoDB request of posts, replies, edits, reactions, flags, notes
//! and the moderation queue. Functions take and answer records; a refused condition comes back
//! as a typed outcome named after the rule it protects, never as a position in a transaction.
//!
//! Counters stay exact because each one changes in the same transaction as the write it counts:
//! the community's `post_count` and the parent's `reply_count` when a post is published (created
//! approved, or approved later) or unpublished (deleted); reaction counters with their reaction;
//! flag counters with their flag. A notification job, when there is one, joins the same
//! transaction ([`outbox::stage`]): the event and its job are stored together or not at all.

use super::db::{
    Db, Item, Refused, Tx, TxOutcome, attr_n, check_of, delete_of, is_condition_failed, n,
    owned_by, s, sdk, to_item, update_of, with_gsi,
};
use super::{audit, outbox};
use crate::cursor::{Cursors, Page, PageParams};
use crate::error::{Error, Result};
use crate::keys::{self, GSI1, GSI2, Key};
use crate::model::audit::AuditEntry;
use crate::model::notification::Job;
use crate::posts::model::{Flag, Lane, Note, Post, PostStatus, Reaction, ReactionType, Revision};
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

/// The post item itself: absent when created, in the state it was read in when changed.
pub const POST: &str = "post";
/// The parent of a reply: still published when the reply lands; present when counted.
pub const PARENT: &str = "parent";
/// The community whose `post_count` changes.
pub const COMMUNITY: &str = "community";
/// The edit record of a version: written once.
pub const REVISION: &str = "revision";
/// One reaction of a type per user and post.
pub const REACTION: &str = "reaction";
/// One flag per user and post.
pub const FLAG: &str = "flag";
/// A moderator note: written once.
pub const NOTE: &str = "note";

// ---------------------------------------------------------------- items

/// GSI1 key: the community listing for top-level posts, the thread for replies.
fn index_key(p: &Post) -> Key {
    match p.parent_id {
        None => keys::post_listing(&p.community_id, p.lane().as_str(), p.is_pinned, &p.id),
        Some(_) => keys::thread_entry(&p.root_id, &p.path),
    }
}

/// The stored item of a post with its index keys (the queue's only while it waits).
pub fn post_item(p: &Post) -> Result<Item> {
    let mut item = with_gsi(
        owned_by(to_item(&keys::post(&p.id), p)?, &p.author_id),
        GSI1,
        &index_key(p),
    );
    if let Some(since) = &p.queued_at {
        item = with_gsi(
            item,
            GSI2,
            &keys::moderation_entry(&p.community_id, since, &p.id),
        );
    }
    Ok(item)
}

/// The stored item of a moderator note, in its author's owner index.
fn note_item(note: &Note) -> Result<Item> {
    Ok(owned_by(
        to_item(&keys::post_note(&note.post_id, &note.id), note)?,
        &note.author_id,
    ))
}

fn reaction_key(root_id: &str, r: &Reaction) -> Key {
    keys::reaction(root_id, &r.user_id, &r.post_id, r.reaction_type.as_str())
}

fn falsy() -> AttributeValue {
    AttributeValue::Bool(false)
}

/// A job id is minted once: a refusal by the outbox means the id source repeated itself. The
/// whole transaction was refused, so nothing was written; the caller gets an error to retry.
fn job_refused(r: &Refused) -> Result<()> {
    if r.by(outbox::JOB_EXISTS) {
        return Err(Error::internal(
            "notification job id already taken; nothing was written",
        ));
    }
    Ok(())
}

fn stage(tx: &mut Tx, job: Option<&Job>) -> Result<()> {
    if let Some(job) = job {
        outbox::stage(tx, job)?;
    }
    Ok(())
}

fn log(tx: &mut Tx, entry: Option<&AuditEntry>) -> Result<()> {
    if let Some(entry) = entry {
        audit::stage(tx, entry)?;
    }
    Ok(())
}

/// The parent's counters a published reply counts in: `reply_count`, and on a question the
/// answers by staff (`staff_answer_count`, which makes it answered).
fn parent_counters(p: &Post) -> &'static str {
    if p.is_answer() && p.by_staff {
        "ADD reply_count :d, staff_answer_count :d"
    } else {
        "ADD reply_count :d"
    }
}

/// `ADD post_count :d` on the community (which must exist).
fn bump_post_count(tx: &mut Tx, community_id: &str, delta: i64) -> Result<()> {
    tx.update(
        Some(COMMUNITY),
        update_of(&keys::community(community_id))
            .update_expression("ADD post_count :d")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":d", n(delta)),
    )?;
    Ok(())
}

/// The counter changes of publishing (`+1`) or unpublishing (`-1`) a post: the community's
/// `post_count` and the parent's `reply_count` (a parent is never removed, only soft-deleted).
fn publication(tx: &mut Tx, p: &Post, delta: i64) -> Result<()> {
    bump_post_count(tx, &p.community_id, delta)?;
    if let Some(parent) = &p.parent_id {
        tx.update(
            Some(PARENT),
            update_of(&keys::post(parent))
                .update_expression(parent_counters(p))
                .condition_expression("attribute_exists(PK)")
                .expression_attribute_values(":d", n(delta)),
        )?;
    }
    Ok(())
}

/// Strongly consistent read of a post.
pub async fn get(db: &Db, post_id: &str) -> Result<Option<Post>> {
    db.get::<Post>(&keys::post(post_id)).await
}

/// The post as it is now, after a condition on it failed (it is never removed).
async fn current(db: &Db, post_id: &str) -> Result<Post> {
    get(db, post_id).await?.ok_or(Error::NotFound("post"))
}

// ---------------------------------------------------------------- create

/// How storing a new post or reply ended.
#[derive(Debug, PartialEq)]
pub enum Inserted {
    Created,
    /// A post with this id exists already.
    Duplicate,
    /// The parent is no longer published (deleted, or its status changed since it was read).
    ParentGone,
    /// The community whose count a published post joins does not exist.
    CommunityGone,
    /// An attachment is no longer pending (another post or message referenced it first).
    AttachmentTaken,
}

/// Stores a new post or reply in one transaction: the post (new id), the parent's condition
/// (published; its `reply_count` +1 when the reply is published), the community's `post_count`
/// +1 when published, the notification job and the reference of each attachment (still
/// pending, the author's; its TTL removed). At most 14 actions.
pub async fn insert(db: &Db, post: &Post, job: Option<&Job>) -> Result<Inserted> {
    let mut tx = db.tx();
    tx.put_new(POST, post_item(post)?)?;
    if let Some(parent_id) = &post.parent_id {
        let published = "attribute_exists(PK) AND is_deleted = :f AND #status = :approved";
        if post.is_published() {
            tx.update(
                Some(PARENT),
                update_of(&keys::post(parent_id))
                    .update_expression(parent_counters(post))
                    .condition_expression(published)
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":f", falsy())
                    .expression_attribute_values(":approved", s("approved"))
                    .expression_attribute_values(":d", n(1)),
            )?;
        } else {
            tx.check(
                PARENT,
                check_of(&keys::post(parent_id))
                    .condition_expression(published)
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":f", falsy())
                    .expression_attribute_values(":approved", s("approved")),
            )?;
        }
    }
    if post.is_published() {
        bump_post_count(&mut tx, &post.community_id, 1)?;
    }
    stage(&mut tx, job)?;
    let by = crate::model::attachment::Reference::Post {
        post_id: post.id.clone(),
    };
    for a in &post.attachments {
        super::attachments::stage_reference(&mut tx, &a.id, &post.author_id, &by)?;
    }
    match db.run(tx).await? {
        TxOutcome::Done => Ok(Inserted::Created),
        TxOutcome::Refused(r) => {
            job_refused(&r)?;
            Ok(if r.by(POST) {
                Inserted::Duplicate
            } else if r.by(super::attachments::ATTACHMENT_PENDING) {
                Inserted::AttachmentTaken
            } else if r.by(PARENT) {
                Inserted::ParentGone
            } else if r.by(COMMUNITY) {
                Inserted::CommunityGone
            } else {
                Inserted::Duplicate
            })
        }
    }
}

// ---------------------------------------------------------------- read

/// Counts one view (`ADD view_count`); answers the new count.
pub async fn count_view(db: &Db, post_id: &str) -> Result<Option<i64>> {
    let out = db
        .update_item(&keys::post(post_id))
        .update_expression("ADD view_count :one")
        .condition_expression("attribute_exists(PK)")
        .expression_attribute_values(":one", n(1))
        .return_values(ReturnValue::UpdatedNew)
        .send()
        .await
        .map_err(sdk)?;
    Ok(out
        .attributes
        .as_ref()
        .and_then(|a| attr_n(a, "view_count")))
}

/// One page of the replies below `post` in its thread, depth-first (one Query on GSI1).
pub async fn thread_page(
    db: &Db,
    cursors: &Cursors,
    post: &Post,
    page: &PageParams,
) -> Result<Page<Post>> {
    let query = db
        .query()
        .index_name(GSI1)
        .key_condition_expression("GSI1PK = :pk AND begins_with(GSI1SK, :below)")
        .expression_attribute_values(":pk", s(keys::thread_pk(&post.root_id)))
        .expression_attribute_values(":below", s(format!("{}/", post.path)));
    db.page(cursors, &format!("thread:{}", post.id), page, query)
        .await
}

/// Which top-level posts of a community a listing shows.
#[derive(Debug, Clone)]
pub struct Listing<'a> {
    pub community_id: &'a str,
    pub lane: Lane,
    pub pinned: Option<bool>,
    pub author: Option<&'a str>,
    /// Leave out anonymous posts (a student filtering by someone else's authorship).
    pub hide_anonymous: bool,
    pub kind: Option<&'a str>,
    pub unanswered: bool,
    pub resolved: Option<bool>,
    pub tag: Option<&'a str>,
}

/// One page of a community's top-level posts of one lane, pinned first, then newest first (one
/// Query on GSI1). `author` filters the page read.
pub async fn listing_page(
    db: &Db,
    cursors: &Cursors,
    listing: &Listing<'_>,
    page: &PageParams,
) -> Result<Page<Post>> {
    let scope = format!(
        "posts:{}:{}:{:?}:{}:{}:{}:{}:{:?}:{}",
        listing.community_id,
        listing.lane.as_str(),
        listing.pinned,
        listing.author.unwrap_or(""),
        listing.hide_anonymous,
        listing.kind.unwrap_or(""),
        listing.unanswered,
        listing.resolved,
        listing.tag.unwrap_or("")
    );
    let mut q = db
        .query()
        .index_name(GSI1)
        .expression_attribute_values(
            ":pk",
            s(keys::post_listing_pk(
                listing.community_id,
                listing.lane.as_str(),
            )),
        )
        .scan_index_forward(false);
    q = match listing.pinned {
        None => q.key_condition_expression("GSI1PK = :pk"),
        Some(pinned) => q
            .key_condition_expression("GSI1PK = :pk AND begins_with(GSI1SK, :pin)")
            .expression_attribute_values(":pin", s(format!("{}#", u8::from(pinned)))),
    };
    let mut filters: Vec<&str> = Vec::new();
    if let Some(a) = listing.author {
        filters.push("author_id = :author");
        q = q.expression_attribute_values(":author", s(a));
    }
    if listing.hide_anonymous {
        filters.push("(attribute_not_exists(anonymous) OR anonymous = :f)");
    }
    let question = listing.unanswered || listing.resolved.is_some();
    if let Some(kind) = listing.kind.filter(|_| !question) {
        filters.push(if kind == "discussion" {
            "(attribute_not_exists(#kind) OR #kind = :kind)"
        } else {
            "#kind = :kind"
        });
        q = q.expression_attribute_values(":kind", s(kind));
    }
    if question {
        filters.push("#kind = :kind");
        q = q.expression_attribute_values(":kind", s("question"));
    }
    if listing.unanswered {
        filters.push(
            "attribute_not_exists(accepted_answer_id) \
             AND (attribute_not_exists(staff_answer_count) OR staff_answer_count = :zero) \
             AND (attribute_not_exists(endorsed_answer_count) OR endorsed_answer_count = :zero)",
        );
        q = q.expression_attribute_values(":zero", n(0));
    }
    match listing.resolved {
        Some(true) => filters.push("is_resolved = :t"),
        Some(false) => filters.push("(attribute_not_exists(is_resolved) OR is_resolved = :f)"),
        None => {}
    }
    if let Some(tag) = listing.tag {
        filters.push("contains(tags, :tag)");
        q = q.expression_attribute_values(":tag", s(tag));
    }
    if !filters.is_empty() {
        let expression = filters.join(" AND ");
        if expression.contains("#kind") {
            q = q.expression_attribute_names("#kind", "kind");
        }
        let uses = |name: &str| {
            expression
                .match_indices(name)
                .any(|(i, _)| !expression[i + name.len()..].starts_with(char::is_alphanumeric))
        };
        if uses(":f") {
            q = q.expression_attribute_values(":f", falsy());
        }
        if uses(":t") {
            q = q.expression_attribute_values(":t", AttributeValue::Bool(true));
        }
        q = q.filter_expression(expression);
    }
    db.page(cursors, &scope, page, q).await
}

/// One page of a post's child items of one kind (edits, flags, notes), oldest first.
async fn children_page<T: serde::de::DeserializeOwned>(
    db: &Db,
    cursors: &Cursors,
    post_id: &str,
    prefix: &str,
    listing: &str,
    page: &PageParams,
) -> Result<Page<T>> {
    let query = db
        .query()
        .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
        .expression_attribute_values(":pk", s(keys::post_pk(post_id)))
        .expression_attribute_values(":prefix", s(prefix));
    db.page(cursors, &format!("{listing}:{post_id}"), page, query)
        .await
}

/// A page of a post's edit history, oldest first.
pub async fn revisions_page(
    db: &Db,
    cursors: &Cursors,
    post_id: &str,
    page: &PageParams,
) -> Result<Page<Revision>> {
    children_page(
        db,
        cursors,
        post_id,
        keys::POST_EDIT_PREFIX,
        "revisions",
        page,
    )
    .await
}

/// A page of a post's flags, oldest first.
pub async fn flags_page(
    db: &Db,
    cursors: &Cursors,
    post_id: &str,
    page: &PageParams,
) -> Result<Page<Flag>> {
    children_page(db, cursors, post_id, keys::POST_FLAG_PREFIX, "flags", page).await
}

/// A page of a post's moderator notes, oldest first.
pub async fn notes_page(
    db: &Db,
    cursors: &Cursors,
    post_id: &str,
    page: &PageParams,
) -> Result<Page<Note>> {
    children_page(db, cursors, post_id, keys::POST_NOTE_PREFIX, "notes", page).await
}

/// A page of a community's moderation queue (pending and flagged posts), oldest first: one
/// Query on the sparse GSI2.
pub async fn queue_page(
    db: &Db,
    cursors: &Cursors,
    community_id: &str,
    page: &PageParams,
) -> Result<Page<Post>> {
    let query = db
        .query()
        .index_name(GSI2)
        .key_condition_expression("GSI2PK = :pk")
        .expression_attribute_values(":pk", s(keys::moderation_pk(community_id)))
        .scan_index_forward(true);
    db.page(cursors, &format!("modq:{community_id}"), page, query)
        .await
}

// ---------------------------------------------------------------- edit

/// How an edit ended.
#[derive(Debug, PartialEq)]
pub enum Edited {
    Edited,
    /// The post was deleted since it was read.
    Gone,
    /// Another edit landed first: the post as it is now, to apply the change to again.
    Conflict(Box<Post>),
}

/// Replaces a post's text, keeping the replaced one as `revision` in the same transaction,
/// guarded by the edit counter read with `current` (so concurrent edits each keep their record).
pub async fn edit(
    db: &Db,
    current: &Post,
    revision: &Revision,
    title: Option<&str>,
    content: &str,
    at: &str,
) -> Result<Edited> {
    let mut set = vec![
        "#content = :content",
        "edited_at = :now",
        "updated_at = :now",
        "edit_count = :next",
    ];
    let mut u = update_of(&keys::post(&current.id))
        .condition_expression("edit_count = :current AND is_deleted = :f")
        .expression_attribute_names("#content", "content")
        .expression_attribute_names("#title", "title")
        .expression_attribute_values(":content", s(content))
        .expression_attribute_values(":now", s(at))
        .expression_attribute_values(":next", n(revision.version))
        .expression_attribute_values(":current", n(current.edit_count))
        .expression_attribute_values(":f", falsy());
    let expression = match title {
        Some(t) => {
            set.push("#title = :title");
            u = u.expression_attribute_values(":title", s(t));
            format!("SET {}", set.join(", "))
        }
        None => format!("SET {} REMOVE #title", set.join(", ")),
    };
    let mut tx = db.tx();
    tx.put_new(
        REVISION,
        to_item(&keys::post_edit(&current.id, revision.version), revision)?,
    )?;
    tx.update(Some(POST), u.update_expression(expression))?;
    match db.run(tx).await? {
        TxOutcome::Done => Ok(Edited::Edited),
        TxOutcome::Refused(_) => {
            let now = self::current(db, &current.id).await?;
            Ok(if now.is_deleted {
                Edited::Gone
            } else {
                Edited::Conflict(Box::new(now))
            })
        }
    }
}

// ---------------------------------------------------------------- delete

/// How a soft deletion ended.
#[derive(Debug, PartialEq)]
pub enum Deleted {
    Deleted,
    /// The post's status or deletion changed since it was read: the post as it is now.
    Changed(Box<Post>),
}

/// Soft-deletes `current` (as read): marks it deleted, moves a top-level post to the deleted
/// lane, takes it out of the queue, and unpublishing takes it out of `post_count` and its
/// parent's `reply_count` in the same transaction. At most 3 actions.
pub async fn soft_delete(
    db: &Db,
    current: &Post,
    by: &str,
    at: &str,
    entry: Option<&AuditEntry>,
) -> Result<Deleted> {
    let mut u = update_of(&keys::post(&current.id))
        .condition_expression("is_deleted = :f AND #status = :status")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":f", falsy())
        .expression_attribute_values(":t", AttributeValue::Bool(true))
        .expression_attribute_values(":status", s(current.status.as_str()))
        .expression_attribute_values(":now", s(at))
        .expression_attribute_values(":by", s(by));
    let mut set = "SET is_deleted = :t, deleted_at = :now, deleted_by = :by".to_string();
    if !current.is_reply() {
        set.push_str(", GSI1PK = :lane");
        u = u.expression_attribute_values(
            ":lane",
            s(keys::post_listing_pk(
                &current.community_id,
                Lane::Deleted.as_str(),
            )),
        );
    }
    let mut tx = db.tx();
    tx.update(
        Some(POST),
        u.update_expression(format!("{set} REMOVE queued_at, GSI2PK, GSI2SK")),
    )?;
    if current.is_published() {
        publication(&mut tx, current, -1)?;
    }
    if current.is_answer() && current.is_endorsed && current.is_published() {
        tx.update(
            None,
            update_of(&keys::post(&current.root_id))
                .update_expression("ADD endorsed_answer_count :minus")
                .expression_attribute_values(":minus", n(-1)),
        )?;
    }
    log(&mut tx, entry)?;
    match db.run(tx).await? {
        TxOutcome::Done => Ok(Deleted::Deleted),
        TxOutcome::Refused(r) if r.by(POST) => Ok(Deleted::Changed(Box::new(
            self::current(db, &current.id).await?,
        ))),
        TxOutcome::Refused(r) if r.by(COMMUNITY) => Err(Error::NotFound("community")),
        TxOutcome::Refused(r) => Err(Error::internal(format!(
            "deleting a post refused by {:?}",
            r.names()
        ))),
    }
}

// ---------------------------------------------------------------- pin

/// How pinning ended.
#[derive(Debug, PartialEq)]
pub enum Pinned {
    /// The post as stored now.
    Pinned(Box<Post>),
    /// The post was deleted (or is missing).
    Gone,
}

/// Pins or unpins a top-level post: the flag and the listing sort key (pinned posts sort
/// first), with the audit entry, in one transaction of 2 actions.
pub async fn set_pinned(db: &Db, post: &Post, pinned: bool, entry: &AuditEntry) -> Result<Pinned> {
    let listing = keys::post_listing(&post.community_id, post.lane().as_str(), pinned, &post.id);
    let mut tx = db.tx();
    tx.update(
        Some(POST),
        update_of(&keys::post(&post.id))
            .update_expression("SET is_pinned = :p, GSI1SK = :sk")
            .condition_expression("attribute_exists(PK) AND is_deleted = :f")
            .expression_attribute_values(":p", AttributeValue::Bool(pinned))
            .expression_attribute_values(":sk", s(listing.sk))
            .expression_attribute_values(":f", falsy()),
    )?;
    audit::stage(&mut tx, entry)?;
    match db.run(tx).await? {
        TxOutcome::Done => Ok(Pinned::Pinned(Box::new(Post {
            is_pinned: pinned,
            ..post.clone()
        }))),
        TxOutcome::Refused(r) if r.by(POST) => Ok(Pinned::Gone),
        TxOutcome::Refused(r) => Err(Error::internal(format!(
            "pinning refused by {:?}",
            r.names()
        ))),
    }
}

// ---------------------------------------------------------------- reactions

/// How adding a reaction ended.
#[derive(Debug, PartialEq)]
pub enum Reacted {
    Added,
    /// The user has this reaction on this post already (as stored).
    AlreadyThere(Reaction),
    /// The post no longer takes reactions (deleted or not published) since it was read.
    PostChanged,
}

/// `SET reaction_counts.<type> = reaction_counts.<type> + :d` on a post.
fn bump_reaction(post_id: &str, t: ReactionType, delta: i64, condition: &str) -> UpdateBuilder {
    update_of(&keys::post(post_id))
        .update_expression("SET reaction_counts.#t = reaction_counts.#t + :d")
        .condition_expression(condition)
        .expression_attribute_names("#t", t.as_str())
        .expression_attribute_values(":d", n(delta))
}

/// Adds a reaction (written only if absent) and its counter in one transaction; the post must
/// still be published.
pub async fn add_reaction(db: &Db, root_id: &str, reaction: &Reaction) -> Result<Reacted> {
    let key = reaction_key(root_id, reaction);
    let mut tx = db.tx();
    tx.put_new(REACTION, to_item(&key, reaction)?)?;
    tx.update(
        Some(POST),
        bump_reaction(
            &reaction.post_id,
            reaction.reaction_type,
            1,
            "attribute_exists(PK) AND is_deleted = :f AND #status = :approved",
        )
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":f", falsy())
        .expression_attribute_values(":approved", s("approved")),
    )?;
    match db.run(tx).await? {
        TxOutcome::Done => Ok(Reacted::Added),
        TxOutcome::Refused(r) if r.by(REACTION) => Ok(Reacted::AlreadyThere(
            db.get::<Reaction>(&key)
                .await?
                .unwrap_or_else(|| reaction.clone()),
        )),
        TxOutcome::Refused(_) => Ok(Reacted::PostChanged),
    }
}

/// How removing a reaction ended.
#[derive(Debug, PartialEq)]
pub enum Unreacted {
    Removed,
    NotThere,
}

/// Removes one reaction of a user and its counter in one transaction.
pub async fn remove_reaction(
    db: &Db,
    root_id: &str,
    post_id: &str,
    user_id: &str,
    t: ReactionType,
) -> Result<Unreacted> {
    let key = keys::reaction(root_id, user_id, post_id, t.as_str());
    let mut tx = db.tx();
    tx.delete(
        Some(REACTION),
        delete_of(&key).condition_expression("attribute_exists(PK)"),
    )?;
    tx.update(
        Some(POST),
        bump_reaction(post_id, t, -1, "attribute_exists(PK)"),
    )?;
    match db.run(tx).await? {
        TxOutcome::Done => Ok(Unreacted::Removed),
        TxOutcome::Refused(_) => Ok(Unreacted::NotThere),
    }
}

/// A user's reactions in one thread: one Query (more only past 1 MB).
pub async fn reactions_in_thread(db: &Db, root_id: &str, user_id: &str) -> Result<Vec<Reaction>> {
    db.read_all(
        db.query()
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(keys::reactions_pk(root_id, user_id))),
    )
    .await
}

// ---------------------------------------------------------------- moderation

/// How a moderator's decision ended.
#[derive(Debug, PartialEq)]
pub enum Decided {
    Decided,
    /// The post is no longer pending (or was deleted): the post as it is now.
    NotPending(Box<Post>),
}

/// Stores a decision on a pending post: `decided` is the post after it (approved or rejected,
/// `moderated_*` set). It leaves the queue and the pending lane; an approval publishes it (the
/// counters), and the job goes in the same transaction. At most 4 actions.
pub async fn decide(
    db: &Db,
    decided: &Post,
    job: Option<&Job>,
    entry: Option<&AuditEntry>,
) -> Result<Decided> {
    let mut set = vec!["#status = :to", "moderated_by = :by", "moderated_at = :now"];
    let mut remove = vec!["queued_at", "GSI2PK", "GSI2SK"];
    let mut u = update_of(&keys::post(&decided.id))
        .condition_expression("#status = :pending AND is_deleted = :f")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":to", s(decided.status.as_str()))
        .expression_attribute_values(":by", s(decided.moderated_by.as_deref().unwrap_or("")))
        .expression_attribute_values(":now", s(decided.moderated_at.as_deref().unwrap_or("")))
        .expression_attribute_values(":pending", s(PostStatus::Pending.as_str()))
        .expression_attribute_values(":f", falsy());
    match &decided.moderation_reason {
        Some(r) => {
            set.push("moderation_reason = :reason");
            u = u.expression_attribute_values(":reason", s(r));
        }
        None => remove.push("moderation_reason"),
    }
    if !decided.is_reply() {
        set.push("GSI1PK = :lane");
        u = u.expression_attribute_values(
            ":lane",
            s(keys::post_listing_pk(
                &decided.community_id,
                decided.lane().as_str(),
            )),
        );
    }
    let mut tx = db.tx();
    tx.update(
        Some(POST),
        u.update_expression(format!(
            "SET {} REMOVE {}",
            set.join(", "),
            remove.join(", ")
        )),
    )?;
    if decided.is_published() {
        publication(&mut tx, decided, 1)?;
    }
    stage(&mut tx, job)?;
    log(&mut tx, entry)?;
    match db.run(tx).await? {
        TxOutcome::Done => Ok(Decided::Decided),
        TxOutcome::Refused(r) => {
            job_refused(&r)?;
            if r.by(POST) {
                Ok(Decided::NotPending(Box::new(
                    current(db, &decided.id).await?,
                )))
            } else if r.by(COMMUNITY) {
                Err(Error::NotFound("community"))
            } else {
                Err(Error::internal(format!(
                    "a decision refused by {:?}",
                    r.names()
                )))
            }
        }
    }
}

/// How flagging ended.
#[derive(Debug, PartialEq)]
pub enum Flagged {
    Flagged,
    /// This user flagged this post before.
    AlreadyFlagged,
    /// The post is no longer published (deleted or its status changed) since it was read.
    NotFlaggable,
}

/// Stores a flag, counts it on the post and queues the post (at its first open flag) in one
/// transaction with the job. 3 actions.
pub async fn add_flag(db: &Db, post: &Post, flag: &Flag, job: Option<&Job>) -> Result<Flagged> {
    let queue = keys::moderation_entry(&post.community_id, &flag.created_at, &post.id);
    let mut tx = db.tx();
    tx.put_new(
        FLAG,
        owned_by(
            to_item(&keys::post_flag(&post.id, &flag.user_id), flag)?,
            &flag.user_id,
        ),
    )?;
    tx.update(
        Some(POST),
        update_of(&keys::post(&post.id))
            .update_expression(
                "ADD flag_count :one, open_flag_count :one \
                 SET queued_at = if_not_exists(queued_at, :now), GSI2PK = :q, \
                 GSI2SK = if_not_exists(GSI2SK, :qsk)",
            )
            .condition_expression("is_deleted = :f AND #status = :approved")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(&flag.created_at))
            .expression_attribute_values(":q", s(queue.pk))
            .expression_attribute_values(":qsk", s(queue.sk))
            .expression_attribute_values(":f", falsy())
            .expression_attribute_values(":approved", s("approved")),
    )?;
    stage(&mut tx, job)?;
    match db.run(tx).await? {
        TxOutcome::Done => Ok(Flagged::Flagged),
        TxOutcome::Refused(r) => {
            job_refused(&r)?;
            Ok(if r.by(FLAG) {
                Flagged::AlreadyFlagged
            } else {
                Flagged::NotFlaggable
            })
        }
    }
}

/// How resolving flags ended.
#[derive(Debug, PartialEq)]
pub enum Resolved {
    Resolved,
    /// No flag is open (another moderator resolved them first) or the post is not published.
    NoOpenFlags,
}

/// Resolves a post's open flags: it leaves the queue; `note`, if any, is stored in the same
/// transaction.
pub async fn resolve_flags(
    db: &Db,
    post_id: &str,
    by: &str,
    at: &str,
    note: Option<&Note>,
    entry: Option<&AuditEntry>,
) -> Result<Resolved> {
    let mut tx = db.tx();
    tx.update(
        Some(POST),
        update_of(&keys::post(post_id))
            .update_expression(
                "SET open_flag_count = :zero, flags_resolved_at = :now, flags_resolved_by = :by \
                 REMOVE queued_at, GSI2PK, GSI2SK",
            )
            .condition_expression("open_flag_count > :zero AND #status = :approved")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", s(at))
            .expression_attribute_values(":by", s(by))
            .expression_attribute_values(":approved", s("approved")),
    )?;
    if let Some(note) = note {
        tx.put_new(NOTE, note_item(note)?)?;
    }
    log(&mut tx, entry)?;
    match db.run(tx).await? {
        TxOutcome::Done => Ok(Resolved::Resolved),
        TxOutcome::Refused(r) if r.by(POST) => Ok(Resolved::NoOpenFlags),
        TxOutcome::Refused(_) => Err(Error::internal("a note id was used twice")),
    }
}

/// How adding a note ended.
#[derive(Debug, PartialEq)]
pub enum NoteAdded {
    Added,
    /// A note with this id exists already.
    Duplicate,
}

/// Stores a moderator note (one conditional PutItem).
pub async fn add_note(db: &Db, note: &Note) -> Result<NoteAdded> {
    let out = db
        .put_item()
        .set_item(Some(note_item(note)?))
        .condition_expression("attribute_not_exists(PK)")
        .send()
        .await;
    match out {
        Ok(_) => Ok(NoteAdded::Added),
        Err(e) if is_condition_failed(&e) => Ok(NoteAdded::Duplicate),
        Err(e) => Err(sdk(e)),
    }
}

/// A community's approved top-level posts created after `since_id` (a ULID of that moment),
/// newest first, at most `limit` (one Query on GSI1 of the approved lane: the unpinned range
/// from `since_id`, and the pinned ones, few, filtered by id).
pub async fn approved_since(
    db: &Db,
    community_id: &str,
    since_id: &str,
    limit: usize,
) -> Result<Vec<Post>> {
    let out = db
        .query()
        .index_name(GSI1)
        .key_condition_expression("GSI1PK = :pk AND GSI1SK BETWEEN :lo AND :hi")
        .expression_attribute_values(
            ":pk",
            s(keys::post_listing_pk(community_id, Lane::Approved.as_str())),
        )
        .expression_attribute_values(":lo", s(format!("0#{since_id}")))
        .expression_attribute_values(":hi", s("1#~"))
        .scan_index_forward(false)
        .send()
        .await
        .map_err(sdk)?;
    let mut posts: Vec<Post> = out
        .items
        .unwrap_or_default()
        .into_iter()
        .map(super::db::from_item::<Post>)
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .filter(|p| p.id.as_str() > since_id && !p.is_deleted)
        .collect();
    posts.sort_by(|a, b| b.id.cmp(&a.id));
    posts.truncate(limit);
    Ok(posts)
}
