//! The discussion forum: posts and threaded replies, listings, reading a thread, editing with an
//! edit history, and soft deletion. Reactions and moderation live in the submodules.
//!
//! Counters stay exact because each one changes in the same request as the write it counts:
//! `view_count` by an `ADD` on read, `reply_count` and the community's `post_count` in the
//! transaction that publishes, approves or deletes a post. `post_count` counts a community's
//! published posts: approved and not deleted, top-level posts and replies alike. `reply_count`
//! counts a post's published direct replies.

pub mod moderation;
pub mod reactions;

use crate::access::{Access, Action};
use crate::auth::Principal;
use crate::clock::iso;
use crate::cursor::{Cursors, query_page};
use crate::db::{
    Db, Item, WriteOutcome, attr_n, from_item, key_item, n, s, sdk, to_item, with_gsi,
};
use crate::error::{Error, FieldError, Result};
use crate::http::{Page, PageParams};
use crate::keys::{self, GSI1, GSI2, Key};
use crate::validate;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValue, TransactWriteItem, Update,
};
use chrono::{DateTime, Utc};
use reactions::{ReactionCounts, ReactionType};
use serde::{Deserialize, Serialize};

/// Deepest reply level: a thread's materialized path must fit an index sort key (1,024 bytes).
pub const MAX_DEPTH: u32 = 32;
/// Replies returned with a post when the caller gives no `limit`.
pub const THREAD_PAGE: i32 = 100;
/// Optimistic read-modify-write attempts before answering 409.
const ATTEMPTS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PostStatus {
    Approved,
    Pending,
    Rejected,
}

impl PostStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PostStatus::Approved => "approved",
            PostStatus::Pending => "pending",
            PostStatus::Rejected => "rejected",
        }
    }
}

/// The listing partition a top-level post sits in (its status, or `deleted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lane {
    Approved,
    Pending,
    Rejected,
    Deleted,
}

impl Lane {
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Approved => "approved",
            Lane::Pending => "pending",
            Lane::Rejected => "rejected",
            Lane::Deleted => "deleted",
        }
    }

    /// Parses `?status=`.
    pub fn parse(raw: &str) -> Result<Self> {
        match raw {
            "approved" => Ok(Lane::Approved),
            "pending" => Ok(Lane::Pending),
            "rejected" => Ok(Lane::Rejected),
            "deleted" => Ok(Lane::Deleted),
            _ => Err(Error::BadRequest(
                "status must be one of approved, pending, rejected, deleted".into(),
            )),
        }
    }
}

/// A post or a reply as stored (`keys::post`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Post {
    pub id: String,
    pub community_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// The top-level post of the thread (the post itself for top-level posts).
    pub root_id: String,
    /// Ids from the root down to this post, joined by `/`: sorts a thread depth-first.
    pub path: String,
    pub depth: u32,
    pub author_id: String,
    /// Denormalized so listings need no read per author.
    pub author_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_username: Option<String>,
    /// Required on top-level posts, optional on replies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub content: String,
    pub status: PostStatus,
    #[serde(default)]
    pub is_pinned: bool,
    #[serde(default)]
    pub is_deleted: bool,
    #[serde(default)]
    pub view_count: i64,
    #[serde(default)]
    pub reply_count: i64,
    #[serde(default)]
    pub reaction_counts: ReactionCounts,
    #[serde(default)]
    pub flag_count: i64,
    #[serde(default)]
    pub open_flag_count: i64,
    /// How many times the text was edited; the version number of the next edit record.
    #[serde(default)]
    pub edit_count: i64,
    /// Since when the post waits in the moderation queue (pending, or flagged and unresolved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderated_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderation_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags_resolved_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags_resolved_by: Option<String>,
}

impl Post {
    pub fn is_reply(&self) -> bool {
        self.parent_id.is_some()
    }

    pub fn lane(&self) -> Lane {
        match (self.is_deleted, self.status) {
            (true, _) => Lane::Deleted,
            (false, PostStatus::Approved) => Lane::Approved,
            (false, PostStatus::Pending) => Lane::Pending,
            (false, PostStatus::Rejected) => Lane::Rejected,
        }
    }

    /// Pending and rejected posts are seen only by their author and the community's moderators.
    pub fn visible_to(&self, access: &Access) -> bool {
        self.status == PostStatus::Approved
            || access.is_moderator()
            || self.author_id == access.principal.user_id
    }

    /// Published: counted in `post_count` and its parent's `reply_count`.
    pub fn is_published(&self) -> bool {
        self.status == PostStatus::Approved && !self.is_deleted
    }

    /// GSI1 key: the community listing for top-level posts, the thread for replies.
    fn index_key(&self) -> Key {
        match self.parent_id {
            None => keys::post_listing(
                &self.community_id,
                self.lane().as_str(),
                self.is_pinned,
                &self.id,
            ),
            Some(_) => keys::thread_entry(&self.root_id, &self.path),
        }
    }
}

/// The stored item of a post with its index keys.
fn post_item(p: &Post) -> Result<Item> {
    let mut item = with_gsi(to_item(&keys::post(&p.id), p)?, GSI1, &p.index_key());
    if let Some(since) = &p.queued_at {
        item = with_gsi(
            item,
            GSI2,
            &keys::moderation_entry(&p.community_id, since, &p.id),
        );
    }
    Ok(item)
}

/// What happened to a post, for whoever reacts to it (notifications): the router hands each
/// request's events to the notifier after the write succeeded.
#[derive(Debug, Clone, PartialEq)]
pub enum PostEvent {
    /// A post or reply was stored, published or pending approval; `mentions` are the
    /// `@username`s in its text.
    Created {
        post: Post,
        mentions: Vec<String>,
    },
    Approved {
        post: Post,
        moderator_id: String,
    },
    Rejected {
        post: Post,
        moderator_id: String,
        reason: Option<String>,
    },
    Flagged {
        post: Post,
        flagger_id: String,
        reason: String,
    },
}

impl PostEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            PostEvent::Created { .. } => "created",
            PostEvent::Approved { .. } => "approved",
            PostEvent::Rejected { .. } => "rejected",
            PostEvent::Flagged { .. } => "flagged",
        }
    }

    pub fn post(&self) -> &Post {
        match self {
            PostEvent::Created { post, .. }
            | PostEvent::Approved { post, .. }
            | PostEvent::Rejected { post, .. }
            | PostEvent::Flagged { post, .. } => post,
        }
    }
}

/// The `@username`s in a text, in order, each once (case-insensitively), at most 20.
pub fn mentions(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let is_name = |c: char| c.is_ascii_alphanumeric() || "_.-".contains(c);
    let mut i = 0;
    while i < chars.len() && found.len() < 20 {
        let starts = chars[i] == '@' && (i == 0 || !(is_name(chars[i - 1]) || chars[i - 1] == '@'));
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < chars.len() && is_name(chars[j]) {
            j += 1;
        }
        let name: String = chars[i + 1..j].iter().collect();
        let name = name.trim_end_matches(['.', '-']).to_string();
        if !name.is_empty() && !found.iter().any(|f| f.eq_ignore_ascii_case(&name)) {
            found.push(name);
        }
        i = j;
    }
    found
}

// ---------------------------------------------------------------- views

#[derive(Debug, Clone, Serialize)]
pub struct Author {
    pub id: String,
    pub name: String,
    pub username: Option<String>,
}

/// What moderators see of a post's moderation state.
#[derive(Debug, Clone, Serialize)]
pub struct ModerationState {
    pub flag_count: i64,
    pub open_flag_count: i64,
    pub queued_at: Option<String>,
    pub moderated_by: Option<String>,
    pub moderated_at: Option<String>,
    pub deleted_by: Option<String>,
    pub flags_resolved_at: Option<String>,
    pub flags_resolved_by: Option<String>,
}

/// A post as the API shows it to one caller: a deleted post keeps its place and counters but
/// shows no title or content (except to admins).
#[derive(Debug, Clone, Serialize)]
pub struct PostView {
    pub id: String,
    pub community: String,
    pub parent: Option<String>,
    pub root: String,
    pub depth: u32,
    pub author: Author,
    pub title: Option<String>,
    pub content: Option<String>,
    pub status: PostStatus,
    pub is_pinned: bool,
    pub is_deleted: bool,
    pub view_count: i64,
    pub reply_count: i64,
    pub reaction_counts: ReactionCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub my_reactions: Option<Vec<ReactionType>>,
    pub created_at: String,
    pub updated_at: String,
    pub edited_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    /// The moderator's reason for the approval or rejection (author and moderators only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moderation_reason: Option<String>,
    /// Moderators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moderation: Option<ModerationState>,
}

impl PostView {
    pub fn of(p: &Post, access: &Access, my_reactions: Option<Vec<ReactionType>>) -> Self {
        let moderator = access.is_moderator();
        let author = p.author_id == access.principal.user_id;
        let hide_text = p.is_deleted && !access.principal.is_admin();
        Self {
            id: p.id.clone(),
            community: p.community_id.clone(),
            parent: p.parent_id.clone(),
            root: p.root_id.clone(),
            depth: p.depth,
            author: Author {
                id: p.author_id.clone(),
                name: p.author_name.clone(),
                username: p.author_username.clone(),
            },
            title: if hide_text { None } else { p.title.clone() },
            content: if hide_text {
                None
            } else {
                Some(p.content.clone())
            },
            status: p.status,
            is_pinned: p.is_pinned,
            is_deleted: p.is_deleted,
            view_count: p.view_count,
            reply_count: p.reply_count,
            reaction_counts: p.reaction_counts.clone(),
            my_reactions,
            created_at: p.created_at.clone(),
            updated_at: p.updated_at.clone(),
            edited_at: p.edited_at.clone(),
            deleted_at: p.deleted_at.clone(),
            moderation_reason: (moderator || author)
                .then(|| p.moderation_reason.clone())
                .flatten(),
            moderation: moderator.then(|| ModerationState {
                flag_count: p.flag_count,
                open_flag_count: p.open_flag_count,
                queued_at: p.queued_at.clone(),
                moderated_by: p.moderated_by.clone(),
                moderated_at: p.moderated_at.clone(),
                deleted_by: p.deleted_by.clone(),
                flags_resolved_at: p.flags_resolved_at.clone(),
                flags_resolved_by: p.flags_resolved_by.clone(),
            }),
        }
    }
}

/// A post with (a page of) its thread: the replies below it, depth-first, each with `depth` and
/// `parent` so clients can indent them.
#[derive(Debug, Serialize)]
pub struct PostDetail {
    #[serde(flatten)]
    pub post: PostView,
    pub replies: Vec<PostView>,
    pub replies_next: Option<String>,
}

// ---------------------------------------------------------------- loading

/// A post together with the caller's access to its community, checked for reading.
#[derive(Debug, Clone)]
pub struct PostAccess {
    pub post: Post,
    pub access: Access,
}

impl PostAccess {
    fn me(&self) -> &str {
        &self.access.principal.user_id
    }

    fn is_author(&self) -> bool {
        self.post.author_id == self.access.principal.user_id
    }
}

/// Strongly consistent read of a post.
pub async fn fetch(db: &Db, post_id: &str) -> Result<Option<Post>> {
    db.get::<Post>(&keys::post(post_id)).await
}

/// Reads a post and the caller's access (GetItem + the guard's BatchGetItem): 404 if the post
/// or its community is invisible to the caller, 403 if they may see the community but not read.
pub async fn load(
    db: &Db,
    principal: &Principal,
    post_id: &str,
    now: DateTime<Utc>,
) -> Result<PostAccess> {
    let post = fetch(db, post_id).await?.ok_or(Error::NotFound("post"))?;
    let access = match Access::load(db, principal, &post.community_id, now).await {
        Err(Error::NotFound(_)) => return Err(Error::NotFound("post")),
        other => other?,
    };
    access.require(Action::Read)?;
    if !post.visible_to(&access) {
        return Err(Error::NotFound("post"));
    }
    Ok(PostAccess { post, access })
}

// ---------------------------------------------------------------- transaction parts

fn update(db: &Db, key: &Key) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
    Update::builder()
        .table_name(&db.table)
        .set_key(Some(key_item(key)))
}

fn tx_update(u: aws_sdk_dynamodb::types::builders::UpdateBuilder) -> Result<TransactWriteItem> {
    Ok(TransactWriteItem::builder()
        .update(u.build().map_err(Error::internal)?)
        .build())
}

fn tx_put(db: &Db, item: Item) -> Result<TransactWriteItem> {
    Ok(TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(&db.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK)")
                .build()
                .map_err(Error::internal)?,
        )
        .build())
}

/// `ADD post_count :delta` on the community.
fn bump_post_count(db: &Db, community_id: &str, delta: i64) -> Result<TransactWriteItem> {
    tx_update(
        update(db, &keys::community(community_id))
            .update_expression("ADD post_count :d")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":d", n(delta)),
    )
}

/// `ADD reply_count :delta` on a parent (which is never removed, only soft-deleted).
fn bump_reply_count(db: &Db, parent_id: &str, delta: i64) -> Result<TransactWriteItem> {
    tx_update(
        update(db, &keys::post(parent_id))
            .update_expression("ADD reply_count :d")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":d", n(delta)),
    )
}

/// The counter changes of publishing (`+1`) or unpublishing (`-1`) a post.
fn publication(db: &Db, p: &Post, delta: i64) -> Result<Vec<TransactWriteItem>> {
    let mut items = vec![bump_post_count(db, &p.community_id, delta)?];
    if let Some(parent) = &p.parent_id {
        items.push(bump_reply_count(db, parent, delta)?);
    }
    Ok(items)
}

fn falsy() -> AttributeValue {
    AttributeValue::Bool(false)
}

fn condition_failed_at(reasons: &[Option<String>], i: usize) -> bool {
    reasons
        .get(i)
        .is_some_and(|r| r.as_deref() == Some("ConditionalCheckFailed"))
}

// ---------------------------------------------------------------- create

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    pub title: Option<String>,
    pub content: Option<String>,
    pub community: Option<String>,
    pub parent: Option<String>,
}

/// A new post's input, checked.
#[derive(Debug, PartialEq)]
struct ValidNewPost {
    community_id: String,
    parent_id: Option<String>,
    title: Option<String>,
    content: String,
}

fn valid_id(errors: &mut Vec<FieldError>, field: &str, raw: &str) -> Option<String> {
    match ulid::Ulid::from_string(raw.trim()) {
        Ok(u) => Some(u.to_string()),
        Err(_) => {
            errors.push(FieldError::new(field, "is not a valid id"));
            None
        }
    }
}

/// Replies may go without a title; an empty one is none.
fn reply_title(errors: &mut Vec<FieldError>, raw: Option<&str>) -> Option<String> {
    validate::optional_text(errors, "title", raw, validate::MAX_TITLE).filter(|t| !t.is_empty())
}

fn validate_new(path_community: Option<&str>, input: &NewPost) -> Result<ValidNewPost> {
    let mut errors = Vec::new();
    let community_id = match (path_community, input.community.as_deref()) {
        (Some(path), Some(body)) if body.trim() != path => {
            errors.push(FieldError::new(
                "community",
                "does not match the community in the path",
            ));
            None
        }
        (Some(path), _) => Some(path.to_string()),
        (None, Some(body)) => valid_id(&mut errors, "community", body),
        (None, None) => {
            errors.push(FieldError::new("community", "is required"));
            None
        }
    };
    let parent_id = input
        .parent
        .as_deref()
        .and_then(|p| valid_id(&mut errors, "parent", p));
    let title = if input.parent.is_some() {
        reply_title(&mut errors, input.title.as_deref())
    } else {
        validate::text(
            &mut errors,
            "title",
            input.title.as_deref(),
            validate::MAX_TITLE,
        )
    };
    let content = validate::text(
        &mut errors,
        "content",
        input.content.as_deref(),
        validate::MAX_CONTENT,
    );
    match (errors.is_empty(), community_id, content) {
        (true, Some(community_id), Some(content)) => Ok(ValidNewPost {
            community_id,
            parent_id,
            title,
            content,
        }),
        _ => Err(Error::Validation(errors)),
    }
}

/// Creates a post or a reply. Members' posts wait for approval in communities that require it;
/// moderators', instructors' and admins' are published at once. Publishing adds to the
/// community's `post_count` and the parent's `reply_count` in the same transaction.
pub async fn create(
    db: &Db,
    principal: &Principal,
    path_community: Option<&str>,
    input: NewPost,
    now: DateTime<Utc>,
) -> Result<(PostView, Vec<PostEvent>)> {
    let input = validate_new(path_community, &input)?;
    let access = Access::load(db, principal, &input.community_id, now).await?;
    access.require(Action::Post)?;
    let parent = match &input.parent_id {
        None => None,
        Some(parent_id) => Some(reply_target(db, &access, parent_id).await?),
    };
    crate::ratelimit::check(db, &principal.user_id, crate::ratelimit::POSTS, now).await?;

    let id = crate::ids::new_id();
    let at = iso(now);
    let held = access.community.require_post_approval && !access.is_moderator();
    let (root_id, path, depth) = match &parent {
        None => (id.clone(), id.clone(), 0),
        Some(p) => (p.root_id.clone(), format!("{}/{id}", p.path), p.depth + 1),
    };
    let post = Post {
        id,
        community_id: input.community_id,
        parent_id: input.parent_id,
        root_id,
        path,
        depth,
        author_id: principal.user_id.clone(),
        author_name: principal.name.clone(),
        author_username: principal.username.clone(),
        title: input.title,
        content: input.content,
        status: if held {
            PostStatus::Pending
        } else {
            PostStatus::Approved
        },
        is_pinned: false,
        is_deleted: false,
        view_count: 0,
        reply_count: 0,
        reaction_counts: ReactionCounts::default(),
        flag_count: 0,
        open_flag_count: 0,
        edit_count: 0,
        queued_at: held.then(|| at.clone()),
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
    };

    let mut items = vec![tx_put(db, post_item(&post)?)?];
    if let Some(parent) = &parent {
        // The parent must still be published when the reply lands.
        let condition = "attribute_exists(PK) AND is_deleted = :f AND #status = :approved";
        let check = |b: aws_sdk_dynamodb::types::builders::ConditionCheckBuilder| {
            b.table_name(&db.table)
                .set_key(Some(key_item(&keys::post(&parent.id))))
                .condition_expression(condition)
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":f", falsy())
                .expression_attribute_values(":approved", s("approved"))
        };
        if post.is_published() {
            items.push(tx_update(
                update(db, &keys::post(&parent.id))
                    .update_expression("ADD reply_count :one")
                    .condition_expression(condition)
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":f", falsy())
                    .expression_attribute_values(":approved", s("approved"))
                    .expression_attribute_values(":one", n(1)),
            )?);
        } else {
            items.push(
                TransactWriteItem::builder()
                    .condition_check(
                        check(ConditionCheck::builder())
                            .build()
                            .map_err(Error::internal)?,
                    )
                    .build(),
            );
        }
    }
    if post.is_published() {
        items.push(bump_post_count(db, &post.community_id, 1)?);
    }
    match db.transact(items).await? {
        WriteOutcome::Done => {}
        WriteOutcome::ConditionFailed(reasons) if condition_failed_at(&reasons, 1) => {
            return Err(if parent.is_some() {
                Error::NotFound("parent post")
            } else {
                Error::NotFound("community")
            });
        }
        WriteOutcome::ConditionFailed(reasons) => {
            return Err(Error::internal(format!("creating a post: {reasons:?}")));
        }
    }
    let mut text = post.title.clone().unwrap_or_default();
    text.push('\n');
    text.push_str(&post.content);
    let events = vec![PostEvent::Created {
        post: post.clone(),
        mentions: mentions(&text),
    }];
    Ok((PostView::of(&post, &access, Some(Vec::new())), events))
}

/// The post a reply answers: it must be in the same community, visible to the caller, not
/// deleted (404 otherwise) and published (409), and leave room for one more level.
async fn reply_target(db: &Db, access: &Access, parent_id: &str) -> Result<Post> {
    let parent = fetch(db, parent_id)
        .await?
        .filter(|p| p.community_id == access.community.id && p.visible_to(access))
        .filter(|p| !p.is_deleted)
        .ok_or(Error::NotFound("parent post"))?;
    if parent.status != PostStatus::Approved {
        return Err(Error::Conflict(format!(
            "the parent post is {}; replies open once it is approved",
            parent.status.as_str()
        )));
    }
    if parent.depth + 1 > MAX_DEPTH {
        return Err(Error::validation(
            "parent",
            format!("threads are at most {MAX_DEPTH} replies deep"),
        ));
    }
    Ok(parent)
}

// ---------------------------------------------------------------- read

/// Reads a post with a page of its thread, reaction counts and the caller's reactions. The first
/// page counts a view (`ADD view_count`). Requests: UpdateItem, then a Query on GSI1 (the thread)
/// and a Query of the caller's reactions in the thread, side by side.
pub async fn read(
    db: &Db,
    cursors: &Cursors,
    pa: &PostAccess,
    page: &PageParams,
) -> Result<PostDetail> {
    let mut post = pa.post.clone();
    if page.cursor.is_none() {
        let out = db
            .client
            .update_item()
            .table_name(&db.table)
            .set_key(Some(key_item(&keys::post(&post.id))))
            .update_expression("ADD view_count :one")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(sdk)?;
        if let Some(v) = out
            .attributes
            .as_ref()
            .and_then(|a| attr_n(a, "view_count"))
        {
            post.view_count = v;
        }
    }
    let scope = format!("thread:{}", post.id);
    let start = page
        .cursor
        .as_deref()
        .map(|c| cursors.decode(&scope, c))
        .transpose()?;
    let thread = db
        .client
        .query()
        .table_name(&db.table)
        .index_name(GSI1)
        .key_condition_expression("GSI1PK = :pk AND begins_with(GSI1SK, :below)")
        .expression_attribute_values(":pk", s(keys::thread_pk(&post.root_id)))
        .expression_attribute_values(":below", s(format!("{}/", post.path)))
        .limit(page.limit)
        .set_exclusive_start_key(start)
        .send();
    let (thread, mut mine) = tokio::try_join!(
        async { thread.await.map_err(sdk) },
        reactions::mine(db, &post.root_id, pa.me()),
    )?;
    let access = &pa.access;
    let replies = thread
        .items
        .unwrap_or_default()
        .into_iter()
        .map(from_item::<Post>)
        .filter(|r| r.as_ref().map_or(true, |p| p.visible_to(access)))
        .map(|r| r.map(|p| PostView::of(&p, access, Some(mine.remove(&p.id).unwrap_or_default()))))
        .collect::<Result<Vec<_>>>()?;
    let view = PostView::of(
        &post,
        access,
        Some(mine.remove(&post.id).unwrap_or_default()),
    );
    Ok(PostDetail {
        post: view,
        replies,
        replies_next: thread
            .last_evaluated_key
            .map(|k| cursors.encode(&scope, &k)),
    })
}

// ---------------------------------------------------------------- list

/// Filters of a community's post listing (top-level posts).
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// `approved` (default), `pending`, `rejected` or `deleted`.
    pub status: Option<Lane>,
    pub pinned: Option<bool>,
    pub author: Option<String>,
}

/// Lists a community's top-level posts, pinned first, then newest first: one Query on GSI1 per
/// page. Members see their own pending and rejected posts; moderators see everyone's and the
/// deleted ones (as deleted; admins with their text). `author` is a filter on the page read, so a
/// page may hold fewer than `limit` posts while `next` is set.
pub async fn list(
    db: &Db,
    cursors: &Cursors,
    access: &Access,
    filter: &ListFilter,
    page: &PageParams,
) -> Result<Page<PostView>> {
    access.require(Action::Read)?;
    let lane = filter.status.unwrap_or(Lane::Approved);
    let mut author = filter.author.clone();
    match lane {
        Lane::Approved => {}
        Lane::Pending | Lane::Rejected if !access.is_moderator() => {
            let me = &access.principal.user_id;
            if author.as_ref().is_some_and(|a| a != me) {
                return Ok(Page {
                    results: vec![],
                    next: None,
                });
            }
            author = Some(me.clone());
        }
        Lane::Pending | Lane::Rejected => {}
        Lane::Deleted => access.require(Action::Moderate)?,
    }
    let scope = format!(
        "posts:{}:{}:{:?}:{}",
        access.community.id,
        lane.as_str(),
        filter.pinned,
        author.as_deref().unwrap_or("")
    );
    let mut q = db
        .client
        .query()
        .table_name(&db.table)
        .index_name(GSI1)
        .expression_attribute_values(
            ":pk",
            s(keys::post_listing_pk(&access.community.id, lane.as_str())),
        )
        .scan_index_forward(false);
    q = match filter.pinned {
        None => q.key_condition_expression("GSI1PK = :pk"),
        Some(pinned) => q
            .key_condition_expression("GSI1PK = :pk AND begins_with(GSI1SK, :pin)")
            .expression_attribute_values(":pin", s(format!("{}#", u8::from(pinned)))),
    };
    if let Some(a) = &author {
        q = q
            .filter_expression("author_id = :author")
            .expression_attribute_values(":author", s(a));
    }
    let posts: Page<Post> = query_page(cursors, &scope, page, q).await?;
    Ok(posts.map(|p| PostView::of(&p, access, None)))
}

// ---------------------------------------------------------------- edit

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostEdit {
    pub title: Option<String>,
    pub content: Option<String>,
}

/// PUT replaces the text (content, and the title of a top-level post, required); PATCH changes
/// the fields given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditMode {
    Replace,
    Patch,
}

/// The text after an edit, checked.
#[derive(Debug, PartialEq)]
struct TextChange {
    /// `Some(None)` removes a reply's title.
    title: Option<Option<String>>,
    content: Option<String>,
}

fn validate_edit(input: &PostEdit, is_reply: bool, mode: EditMode) -> Result<TextChange> {
    let mut errors = Vec::new();
    if mode == EditMode::Patch && input.title.is_none() && input.content.is_none() {
        return Err(Error::validation(
            "body",
            "give a title or content to change",
        ));
    }
    let title_given = mode == EditMode::Replace || input.title.is_some();
    let title = match (title_given, is_reply) {
        (false, _) => None,
        (true, true) => Some(reply_title(&mut errors, input.title.as_deref())),
        (true, false) => validate::text(
            &mut errors,
            "title",
            input.title.as_deref(),
            validate::MAX_TITLE,
        )
        .map(Some),
    };
    let content = if mode == EditMode::Replace || input.content.is_some() {
        validate::text(
            &mut errors,
            "content",
            input.content.as_deref(),
            validate::MAX_CONTENT,
        )
    } else {
        None
    };
    if errors.is_empty() {
        Ok(TextChange { title, content })
    } else {
        Err(Error::Validation(errors))
    }
}

/// An earlier text of a post, kept when an edit replaces it (`keys::post_edit`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    pub post_id: String,
    /// 1 for the text replaced by the first edit.
    pub version: i64,
    #[serde(default)]
    pub title: Option<String>,
    pub content: String,
    /// When this text was replaced, and by whom.
    pub replaced_at: String,
    pub replaced_by: String,
}

/// Edits a post (its author only): the replaced text is kept as a [`Revision`] written in the
/// same transaction, guarded by the edit counter so concurrent edits each keep their history.
pub async fn edit(
    db: &Db,
    pa: &PostAccess,
    input: PostEdit,
    mode: EditMode,
    now: DateTime<Utc>,
) -> Result<PostView> {
    if !pa.is_author() {
        return Err(Error::Forbidden("only the author may edit a post".into()));
    }
    if pa.post.is_deleted {
        return Err(Error::Conflict("the post is deleted".into()));
    }
    let change = validate_edit(&input, pa.post.is_reply(), mode)?;
    let at = iso(now);
    let mut current = pa.post.clone();
    for _ in 0..ATTEMPTS {
        let title = change.title.clone().unwrap_or(current.title.clone());
        let content = change.content.clone().unwrap_or(current.content.clone());
        if title == current.title && content == current.content {
            return Ok(PostView::of(&current, &pa.access, None));
        }
        let revision = Revision {
            post_id: current.id.clone(),
            version: current.edit_count + 1,
            title: current.title.clone(),
            content: current.content.clone(),
            replaced_at: at.clone(),
            replaced_by: pa.me().to_string(),
        };
        let mut set = vec![
            "#content = :content",
            "edited_at = :now",
            "updated_at = :now",
            "edit_count = :next",
        ];
        let mut u = update(db, &keys::post(&current.id))
            .condition_expression("edit_count = :current AND is_deleted = :f")
            .expression_attribute_names("#content", "content")
            .expression_attribute_values(":content", s(&content))
            .expression_attribute_values(":now", s(&at))
            .expression_attribute_values(":next", n(revision.version))
            .expression_attribute_values(":current", n(current.edit_count))
            .expression_attribute_values(":f", falsy());
        let expression = match &title {
            Some(t) => {
                set.push("#title = :title");
                u = u
                    .expression_attribute_names("#title", "title")
                    .expression_attribute_values(":title", s(t));
                format!("SET {}", set.join(", "))
            }
            None => {
                u = u.expression_attribute_names("#title", "title");
                format!("SET {} REMOVE #title", set.join(", "))
            }
        };
        let items = vec![
            tx_put(
                db,
                to_item(&keys::post_edit(&current.id, revision.version), &revision)?,
            )?,
            tx_update(u.update_expression(expression))?,
        ];
        match db.transact(items).await? {
            WriteOutcome::Done => {
                current.title = title;
                current.content = content;
                current.edit_count = revision.version;
                current.edited_at = Some(at.clone());
                current.updated_at = at;
                return Ok(PostView::of(&current, &pa.access, None));
            }
            WriteOutcome::ConditionFailed(_) => {
                current = fetch(db, &current.id)
                    .await?
                    .ok_or(Error::NotFound("post"))?;
                if current.is_deleted {
                    return Err(Error::Conflict("the post is deleted".into()));
                }
            }
        }
    }
    Err(Error::Conflict(
        "the post is being edited concurrently, retry".into(),
    ))
}

/// The edit history, oldest first (the author and moderators; a deleted post's only to admins).
pub async fn revisions(
    db: &Db,
    cursors: &Cursors,
    pa: &PostAccess,
    page: &PageParams,
) -> Result<Page<Revision>> {
    if !pa.is_author() {
        pa.access.require(Action::Moderate)?;
    }
    if pa.post.is_deleted && !pa.access.principal.is_admin() {
        return Err(Error::Forbidden(
            "the history of a deleted post is kept for admins".into(),
        ));
    }
    query_children(
        db,
        cursors,
        &pa.post.id,
        keys::POST_EDIT_PREFIX,
        "revisions",
        page,
    )
    .await
}

/// One page of a post's child items of one kind (edits, flags, notes), oldest first.
async fn query_children<T: serde::de::DeserializeOwned>(
    db: &Db,
    cursors: &Cursors,
    post_id: &str,
    prefix: &str,
    listing: &str,
    page: &PageParams,
) -> Result<Page<T>> {
    let query = db
        .client
        .query()
        .table_name(&db.table)
        .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
        .expression_attribute_values(":pk", s(keys::post_pk(post_id)))
        .expression_attribute_values(":prefix", s(prefix));
    query_page(cursors, &format!("{listing}:{post_id}"), page, query).await
}

// ---------------------------------------------------------------- delete

/// Soft-deletes a post (its author, or a moderator+): the text stays stored, readers see the post
/// as deleted, its replies stay readable. Unpublishing takes it out of `post_count` and its
/// parent's `reply_count` in the same transaction; deleting twice changes nothing.
pub async fn delete(db: &Db, pa: &PostAccess, now: DateTime<Utc>) -> Result<()> {
    if !pa.is_author() && !pa.access.is_moderator() {
        return Err(Error::Forbidden(
            "only the author or a moderator may delete a post".into(),
        ));
    }
    let at = iso(now);
    let mut current = pa.post.clone();
    for _ in 0..ATTEMPTS {
        if current.is_deleted {
            return Ok(());
        }
        let mut u = update(db, &keys::post(&current.id))
            .condition_expression("is_deleted = :f AND #status = :status")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":f", falsy())
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":status", s(current.status.as_str()))
            .expression_attribute_values(":now", s(&at))
            .expression_attribute_values(":by", s(pa.me()));
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
        let mut items = vec![tx_update(
            u.update_expression(format!("{set} REMOVE queued_at, GSI2PK, GSI2SK")),
        )?];
        if current.is_published() {
            items.extend(publication(db, &current, -1)?);
        }
        match db.transact(items).await? {
            WriteOutcome::Done => return Ok(()),
            WriteOutcome::ConditionFailed(_) => {
                current = fetch(db, &current.id)
                    .await?
                    .ok_or(Error::NotFound("post"))?;
            }
        }
    }
    Err(Error::Conflict(
        "the post is being changed concurrently, retry".into(),
    ))
}

// ---------------------------------------------------------------- pin

/// Pins or unpins a top-level post (moderator+); pinned posts come first in listings because
/// the listing sort key starts with the pin flag. One UpdateItem.
pub async fn set_pinned(db: &Db, pa: &PostAccess, pinned: bool) -> Result<PostView> {
    pa.access.require(Action::Moderate)?;
    if pa.post.is_reply() {
        return Err(Error::Conflict("only top-level posts can be pinned".into()));
    }
    if pa.post.is_deleted {
        return Err(Error::Conflict("the post is deleted".into()));
    }
    let listing = keys::post_listing(
        &pa.post.community_id,
        pa.post.lane().as_str(),
        pinned,
        &pa.post.id,
    );
    let out = db
        .client
        .update_item()
        .table_name(&db.table)
        .set_key(Some(key_item(&keys::post(&pa.post.id))))
        .update_expression("SET is_pinned = :p, GSI1SK = :sk")
        .condition_expression("attribute_exists(PK) AND is_deleted = :f")
        .expression_attribute_values(":p", AttributeValue::Bool(pinned))
        .expression_attribute_values(":sk", s(listing.sk))
        .expression_attribute_values(":f", falsy())
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    match out {
        Ok(o) => {
            let post: Post = from_item(o.attributes.unwrap_or_default())?;
            Ok(PostView::of(&post, &pa.access, None))
        }
        Err(e) if crate::db::is_condition_failed(&e) => {
            Err(Error::Conflict("the post is deleted".into()))
        }
        Err(e) => Err(sdk(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_post(title: Option<&str>, content: Option<&str>, parent: Option<&str>) -> NewPost {
        NewPost {
            title: title.map(str::to_string),
            content: content.map(str::to_string),
            community: Some(crate::ids::new_id()),
            parent: parent.map(str::to_string),
        }
    }

    fn fields(e: Error) -> Vec<String> {
        match e {
            Error::Validation(errors) => errors.into_iter().map(|f| f.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_top_level_post_needs_a_title_and_content_within_the_limits() {
        let ok = validate_new(None, &new_post(Some(" Hi "), Some(" body "), None)).unwrap();
        assert_eq!(ok.title.as_deref(), Some("Hi"));
        assert_eq!(ok.content, "body");
        let e = validate_new(None, &new_post(None, Some("   "), None)).unwrap_err();
        assert_eq!(fields(e), ["title", "content"]);
        let long = "x".repeat(validate::MAX_TITLE + 1);
        let e = validate_new(None, &new_post(Some(&long), Some("b"), None)).unwrap_err();
        assert_eq!(fields(e), ["title"]);
        let long = "é".repeat(validate::MAX_CONTENT + 1);
        let e = validate_new(None, &new_post(Some("t"), Some(&long), None)).unwrap_err();
        assert_eq!(fields(e), ["content"]);
    }

    #[test]
    fn a_reply_may_go_without_a_title_but_not_without_content() {
        let parent = crate::ids::new_id();
        let ok = validate_new(None, &new_post(None, Some("yes"), Some(&parent))).unwrap();
        assert_eq!(ok.title, None);
        assert_eq!(ok.parent_id.as_deref(), Some(parent.as_str()));
        let ok = validate_new(None, &new_post(Some("  "), Some("yes"), Some(&parent))).unwrap();
        assert_eq!(ok.title, None);
        let e = validate_new(None, &new_post(None, None, Some("nope"))).unwrap_err();
        assert_eq!(fields(e), ["parent", "content"]);
    }

    #[test]
    fn the_community_comes_from_the_path_or_the_body_and_must_agree() {
        let mut input = new_post(Some("t"), Some("c"), None);
        let body_community = input.community.clone().unwrap();
        assert_eq!(
            validate_new(Some(&body_community), &input)
                .unwrap()
                .community_id,
            body_community
        );
        let e = validate_new(Some(&crate::ids::new_id()), &input).unwrap_err();
        assert_eq!(fields(e), ["community"]);
        input.community = None;
        let e = validate_new(None, &input).unwrap_err();
        assert_eq!(fields(e), ["community"]);
        input.community = Some("not-an-id".into());
        let e = validate_new(None, &input).unwrap_err();
        assert_eq!(fields(e), ["community"]);
    }

    #[test]
    fn patch_changes_only_the_fields_given_and_put_replaces_the_text() {
        let patch = PostEdit {
            title: None,
            content: Some(" new ".into()),
        };
        assert_eq!(
            validate_edit(&patch, false, EditMode::Patch).unwrap(),
            TextChange {
                title: None,
                content: Some("new".into())
            }
        );
        let e = validate_edit(&patch, false, EditMode::Replace).unwrap_err();
        assert_eq!(fields(e), ["title"]);
        let reply = validate_edit(&patch, true, EditMode::Replace).unwrap();
        assert_eq!(reply.title, Some(None));
        let empty = PostEdit {
            title: None,
            content: None,
        };
        assert_eq!(
            fields(validate_edit(&empty, false, EditMode::Patch).unwrap_err()),
            ["body"]
        );
        let blank = PostEdit {
            title: Some(" ".into()),
            content: Some("".into()),
        };
        assert_eq!(
            fields(validate_edit(&blank, false, EditMode::Patch).unwrap_err()),
            ["title", "content"]
        );
    }

    #[test]
    fn mentions_are_found_once_each_and_not_inside_email_addresses() {
        assert_eq!(
            mentions("@ana and @Bob_2, also @ana. Mail x@y.z or @@bad @bob_2"),
            ["ana", "Bob_2"]
        );
        assert!(mentions("no mentions @ here").is_empty());
    }

    fn bounded(text: &str, max: usize) -> bool {
        !text.is_empty() && text.trim() == text && text.chars().count() <= max
    }

    fn any_text() -> impl proptest::strategy::Strategy<Value = Option<String>> {
        use proptest::prelude::*;
        prop::option::of(prop_oneof![
            any::<String>(),
            "[ \t\n]{0,3}[A-Za-z0-9 ]{0,5}[ \t\n]{0,3}",
            (0usize..4).prop_map(|n| "é".repeat([199, 200, 201, 40_001][n])),
            "[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}",
        ])
    }

    proptest::proptest! {
        #[test]
        fn when_a_new_post_is_any_text_it_is_valid_within_the_limits_or_a_422(
            title in any_text(),
            content in any_text(),
            community in any_text(),
            parent in any_text(),
            path in proptest::option::of(proptest::strategy::Just(crate::ids::new_id())),
        ) {
            let input = NewPost { title, content, community, parent };
            match validate_new(path.as_deref(), &input) {
                Ok(v) => {
                    proptest::prop_assert!(bounded(&v.content, validate::MAX_CONTENT));
                    if let Some(t) = &v.title {
                        proptest::prop_assert!(bounded(t, validate::MAX_TITLE));
                    }
                    proptest::prop_assert!(v.title.is_some() || v.parent_id.is_some());
                    proptest::prop_assert!(crate::ids::parse_ulid("c", &v.community_id).is_ok());
                    if let Some(p) = &path {
                        proptest::prop_assert_eq!(&v.community_id, p);
                    }
                }
                Err(e) => proptest::prop_assert_eq!(e.status(), 422),
            }
        }

        #[test]
        fn when_an_edit_is_any_text_it_is_valid_within_the_limits_or_a_422(
            title in any_text(),
            content in any_text(),
            is_reply in proptest::bool::ANY,
            replace in proptest::bool::ANY,
        ) {
            let mode = if replace { EditMode::Replace } else { EditMode::Patch };
            match validate_edit(&PostEdit { title, content }, is_reply, mode) {
                Ok(change) => {
                    if let Some(c) = &change.content {
                        proptest::prop_assert!(bounded(c, validate::MAX_CONTENT));
                    }
                    match &change.title {
                        Some(Some(t)) => proptest::prop_assert!(bounded(t, validate::MAX_TITLE)),
                        Some(None) => proptest::prop_assert!(is_reply),
                        None => proptest::prop_assert!(!replace),
                    }
                }
                Err(e) => proptest::prop_assert_eq!(e.status(), 422),
            }
        }
    }

    #[test]
    fn a_thread_sorts_depth_first_by_its_materialized_path() {
        let ids: Vec<String> = (0..6).map(|_| crate::ids::new_id()).collect();
        let root = &ids[0];
        let a = format!("{root}/{}", ids[1]);
        let b = format!("{root}/{}", ids[2]);
        let a1 = format!("{a}/{}", ids[3]);
        let b1 = format!("{b}/{}", ids[4]);
        let a2 = format!("{a}/{}", ids[5]);
        let mut paths = vec![b1.clone(), a2.clone(), b.clone(), a1.clone(), a.clone()];
        paths.sort();
        assert_eq!(paths, [a, a1, a2, b, b1]);
        assert!(MAX_DEPTH as usize * 27 + 26 < 1024);
    }
}
