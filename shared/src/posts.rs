//! The discussion forum's use cases: create a post or a reply, read a thread, list a community's
//! posts, edit with an edit history, soft-delete, pin. Reactions and moderation live in the
//! submodules, the records in [`model`], what a caller sees in [`view`], every request in
//! [`crate::store::posts`].
//!
//! Each use case loads the caller's access once through the guard, decides by the rules here,
//! stores through the store, and queues what follows (the notification job, in the same
//! transaction as the post: [`crate::store::outbox`]).
//!
//! `post_count` counts a community's published posts: approved and not deleted, top-level posts
//! and replies alike. `reply_count` counts a post's published direct replies.

pub mod answers;
pub mod model;
pub mod moderation;
pub mod reactions;
pub mod view;

pub use crate::validate::mentions;
pub use model::{Audience, Lane, Post, PostEvent, PostKind, PostStatus, Revision};
pub use view::{Author, ModerationState, PostDetail, PostView, author_for, reveals_author};

use crate::access::{Access, Action};
use crate::auth::Principal;
use crate::clock::iso;
use crate::cursor::{Cursors, Page, PageParams};
use crate::db::Db;
use crate::error::{Error, FieldError, Result};
use crate::ids::Ids;
use crate::model::AnonymousPosting;
use crate::notifications::jobs::Job;
use crate::store::posts::{self as store, Deleted, Edited, Inserted, Listing, Pinned};
use crate::validate;
use chrono::{DateTime, Utc};
use model::ReactionCounts;
use serde::Deserialize;

/// Deepest reply level: a thread's materialized path must fit an index sort key (1,024 bytes).
pub const MAX_DEPTH: u32 = 32;
/// Replies returned with a post when the caller gives no `limit`.
pub const THREAD_PAGE: i32 = 100;
/// Optimistic read-modify-write attempts before answering 409.
const ATTEMPTS: usize = 4;

/// Tags a root post may carry.
pub const MAX_POST_TAGS: usize = 5;

impl Post {
    /// Pending and rejected posts are seen only by their author and the community's moderators;
    /// a staff-only thread only by its author and the moderators (each post's own author too).
    pub fn visible_to(&self, access: &Access) -> bool {
        let me = access.principal.user_id.as_str();
        let staff = access.is_moderator();
        let own = self.author_id == me;
        (self.status == PostStatus::Approved || staff || own)
            && (self.audience == Audience::Everyone
                || staff
                || own
                || self.thread_author_id.as_deref() == Some(me))
    }
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
    store::get(db, post_id).await
}

/// Reads a post and the caller's access (GetItem + the guard's BatchGetItem): 404 if the post
/// or its community is invisible to the caller, 403 if they may see the community but not read.
/// Records the post's community on the current use case's span.
pub async fn load(
    db: &Db,
    principal: &Principal,
    post_id: &str,
    now: DateTime<Utc>,
) -> Result<PostAccess> {
    let post = fetch(db, post_id).await?.ok_or(Error::NotFound("post"))?;
    tracing::Span::current().record("community_id", post.community_id.as_str());
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

// ---------------------------------------------------------------- create

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    pub title: Option<String>,
    pub content: Option<String>,
    pub community: Option<String>,
    pub parent: Option<String>,
    /// Root posts: `discussion` (default), `question` or `announcement`.
    #[serde(default)]
    pub kind: Option<PostKind>,
    #[serde(default)]
    pub anonymous: Option<bool>,
    /// Root posts: `everyone` (default) or `staff`.
    #[serde(default)]
    pub audience: Option<Audience>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Ids of the caller's uploads in this community (at most 10).
    #[serde(default)]
    pub attachments: Option<Vec<String>>,
}

/// A new post's input, checked.
#[derive(Debug, PartialEq)]
struct ValidNewPost {
    community_id: String,
    parent_id: Option<String>,
    title: Option<String>,
    content: String,
    kind: PostKind,
    anonymous: bool,
    audience: Audience,
    tags: Vec<String>,
    attachments: Vec<String>,
}

fn valid_id(errors: &mut Vec<FieldError>, field: &str, raw: &str) -> Option<String> {
    match crate::ids::ulid(raw.trim()) {
        Some(id) => Some(id),
        None => {
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
    let reply = input.parent.is_some();
    for (field, given) in [
        ("kind", input.kind.is_some()),
        ("audience", input.audience.is_some()),
        ("tags", input.tags.is_some()),
    ] {
        if reply && given {
            errors.push(FieldError::new(field, "a reply takes its thread's"));
        }
    }
    let tags = post_tags(&mut errors, input.tags.as_deref().unwrap_or_default());
    let attachments = crate::attachments::parse_ids(
        &mut errors,
        "attachments",
        input.attachments.as_deref().unwrap_or_default(),
    );
    match (errors.is_empty(), community_id, content) {
        (true, Some(community_id), Some(content)) => Ok(ValidNewPost {
            community_id,
            parent_id,
            title,
            content,
            kind: input.kind.unwrap_or_default(),
            anonymous: input.anonymous.unwrap_or(false),
            audience: input.audience.unwrap_or_default(),
            tags,
            attachments,
        }),
        _ => Err(Error::Validation(errors)),
    }
}

/// A root post's tags: at most [`MAX_POST_TAGS`], each once (whether the community has them is
/// checked against it).
fn post_tags(errors: &mut Vec<FieldError>, raw: &[String]) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for t in raw {
        let t = t.trim().to_string();
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    if tags.len() > MAX_POST_TAGS {
        errors.push(FieldError::new(
            "tags",
            format!("a post carries at most {MAX_POST_TAGS} tags"),
        ));
    }
    tags
}

/// The community a new post goes to, from the path or the body: known before anything else is
/// checked, so that the caller's right to post there is decided first.
fn target_community(path_community: Option<&str>, input: &NewPost) -> Result<String> {
    let mut errors = Vec::new();
    let community = match (path_community, input.community.as_deref()) {
        (Some(path), _) => Some(path.to_string()),
        (None, Some(body)) => valid_id(&mut errors, "community", body),
        (None, None) => {
            errors.push(FieldError::new("community", "is required"));
            None
        }
    };
    community.ok_or(Error::Validation(errors))
}

/// The rules of a new post that depend on its community and the author's role: who may
/// announce, anonymous posting where the community allows it, tags the community has.
fn check_in_community(access: &Access, input: &ValidNewPost) -> Result<()> {
    if input.kind == PostKind::Announcement {
        access.require_write(Action::Announce)?;
    }
    let mut errors = Vec::new();
    if input.anonymous {
        if access.community.anonymous_posting == AnonymousPosting::Off {
            errors.push(FieldError::new(
                "anonymous",
                "anonymous posting is off in this community",
            ));
        } else if input.kind == PostKind::Announcement {
            errors.push(FieldError::new(
                "anonymous",
                "announcements are not anonymous",
            ));
        }
    }
    if input.audience == Audience::Staff && input.kind == PostKind::Announcement {
        errors.push(FieldError::new(
            "audience",
            "an announcement is for everyone",
        ));
    }
    if let Some(unknown) = input
        .tags
        .iter()
        .find(|t| !access.community.tags.contains(t))
    {
        errors.push(FieldError::new(
            "tags",
            format!(
                "{:?} is not a tag of this community",
                unknown.chars().take(40).collect::<String>()
            ),
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errors))
    }
}

/// Creates a top-level post. Members' posts wait for approval in communities that require it;
/// moderators', instructors' and admins' are published at once. The post, the community's
/// `post_count` (when published) and the notification job are written in one transaction.
#[tracing::instrument(skip_all, fields(community_id, user_id = %principal.user_id, post_id))]
pub async fn create_post(
    db: &Db,
    ids: &dyn Ids,
    principal: &Principal,
    path_community: Option<&str>,
    input: NewPost,
    now: DateTime<Utc>,
) -> Result<PostView> {
    if input.parent.is_some() {
        return Err(Error::validation(
            "parent",
            "a post has no parent; a reply has",
        ));
    }
    Ok(
        publish_new(db, None, ids, principal, path_community, input, now)
            .await?
            .0,
    )
}

/// Creates a reply to a post of the same community, held for approval like posts; published,
/// it also counts in its parent's `reply_count` (same transaction).
#[tracing::instrument(skip_all, fields(community_id, user_id = %principal.user_id, post_id))]
pub async fn create_reply(
    db: &Db,
    ids: &dyn Ids,
    principal: &Principal,
    path_community: Option<&str>,
    input: NewPost,
    now: DateTime<Utc>,
) -> Result<PostView> {
    if input.parent.is_none() {
        return Err(Error::validation("parent", "is required"));
    }
    Ok(
        publish_new(db, None, ids, principal, path_community, input, now)
            .await?
            .0,
    )
}

/// Creates a post or a reply from a request body as parsed: with the community in the path, a
/// caller who may not post there gets 403/404 whatever the body holds (SPEC §8); a body that
/// names its community in itself must parse to name it.
#[tracing::instrument(skip_all, fields(community_id, user_id = %principal.user_id, post_id))]
pub async fn create_from_body(
    db: &Db,
    files: &crate::store::objects::Files,
    ids: &dyn Ids,
    principal: &Principal,
    path_community: Option<&str>,
    input: Result<NewPost>,
    now: DateTime<Utc>,
) -> Result<PostView> {
    let input = match (input, path_community) {
        (Ok(input), _) => input,
        (Err(e), Some(community)) => {
            let access = Access::load(db, principal, community, now).await?;
            access.require_write(Action::Post)?;
            return Err(e);
        }
        (Err(e), None) => return Err(e),
    };
    Ok(
        publish_new(db, Some(files), ids, principal, path_community, input, now)
            .await?
            .0,
    )
}

/// Creates a post or a reply (as the body says), with ULIDs for ids. Kept for callers of the
/// earlier signature; the event answered is the one whose job was queued with the post.
pub async fn create(
    db: &Db,
    principal: &Principal,
    path_community: Option<&str>,
    input: NewPost,
    now: DateTime<Utc>,
) -> Result<(PostView, Vec<PostEvent>)> {
    let (view, event) = publish_new(
        db,
        None,
        &crate::ids::Ulids,
        principal,
        path_community,
        input,
        now,
    )
    .await?;
    Ok((view, vec![event]))
}

/// Decides the caller's right to post in the target community before the body is judged
/// (SPEC §8), then checks the input, the parent and the rate limit (staff are exempt), and
/// stores.
async fn publish_new(
    db: &Db,
    files: Option<&crate::store::objects::Files>,
    ids: &dyn Ids,
    principal: &Principal,
    path_community: Option<&str>,
    raw: NewPost,
    now: DateTime<Utc>,
) -> Result<(PostView, PostEvent)> {
    let span = tracing::Span::current();
    let community_id = target_community(path_community, &raw)?;
    span.record("community_id", community_id.as_str());
    let access = Access::load(db, principal, &community_id, now).await?;
    access.require_write(Action::Post)?;
    let input = validate_new(path_community, &raw)?;
    check_in_community(&access, &input)?;
    let parent = match &input.parent_id {
        None => None,
        Some(parent_id) => Some(reply_target(db, &access, parent_id).await?),
    };
    let checked = match (files, input.attachments.is_empty()) {
        (_, true) => Vec::new(),
        (Some(files), false) => {
            let scope = crate::model::attachment::Scope::Community(input.community_id.clone());
            crate::attachments::resolve(
                db,
                files,
                principal,
                &scope,
                "attachments",
                &input.attachments,
                None,
                false,
            )
            .await?
        }
        (None, false) => return Err(Error::internal("attachments without a bucket")),
    };
    let staff = access.is_staff();
    if !staff {
        crate::ratelimit::check(db, &principal.user_id, crate::ratelimit::posts(), now).await?;
    }
    let attachments = match files {
        Some(files) => crate::attachments::keep(files, &checked).await?,
        None => Vec::new(),
    };

    let id = ids.new_id();
    span.record("post_id", id.as_str());
    let at = iso(now);
    let held = access.community.require_post_approval && !access.is_moderator();
    let (root_id, path, depth) = match &parent {
        None => (id.clone(), id.clone(), 0),
        Some(p) => (p.root_id.clone(), format!("{}/{id}", p.path), p.depth + 1),
    };
    let (kind, audience, thread_author_id) = match &parent {
        None => (input.kind, input.audience, None),
        Some(p) => (
            p.kind,
            p.audience,
            Some(p.thread_author_id.clone().unwrap_or(p.author_id.clone())),
        ),
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
        reaction_counts: ReactionCounts::default(),
        queued_at: held.then(|| at.clone()),
        created_at: at.clone(),
        updated_at: at,
        kind,
        anonymous: input.anonymous,
        audience,
        thread_author_id,
        by_staff: staff,
        tags: input.tags,
        attachments,
        ..Post::default()
    };
    let mut text = post.title.clone().unwrap_or_default();
    text.push('\n');
    text.push_str(&post.content);
    let event = PostEvent::Created {
        post: post.clone(),
        mentions: mentions(&text),
    };
    let job = Job::of_post_event(&event, now, ids);
    match store::insert(db, &post, job.as_ref()).await? {
        Inserted::Created => {}
        Inserted::ParentGone => return Err(Error::NotFound("parent post")),
        Inserted::CommunityGone => return Err(Error::NotFound("community")),
        Inserted::AttachmentTaken => {
            return Err(Error::validation(
                "attachments",
                "an attachment was attached elsewhere meanwhile",
            ));
        }
        Inserted::Duplicate => {
            return Err(Error::internal(
                "a new post's id is taken; nothing was written",
            ));
        }
    }
    Ok((PostView::of(&post, &access, Some(Vec::new())), event))
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
    if parent.depth == 0 && parent.duplicate_of.is_some() {
        return Err(Error::Conflict(
            "the question is closed as a duplicate; answer the original".into(),
        ));
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

/// Reads a post with a page of its thread, reaction counts and the caller's reactions; the first
/// page counts a view.
#[tracing::instrument(skip_all, fields(community_id, user_id = %principal.user_id, post_id = %post_id))]
pub async fn read_post(
    db: &Db,
    cursors: &Cursors,
    principal: &Principal,
    post_id: &str,
    page: &PageParams,
    now: DateTime<Utc>,
) -> Result<PostDetail> {
    let pa = load(db, principal, post_id, now).await?;
    read(db, cursors, &pa, page).await
}

/// [`read_post`] for a post whose access is loaded. Requests: UpdateItem (first page only), then
/// a Query on GSI1 (the thread) and a Query of the caller's reactions in the thread, side by side.
pub async fn read(
    db: &Db,
    cursors: &Cursors,
    pa: &PostAccess,
    page: &PageParams,
) -> Result<PostDetail> {
    let mut post = pa.post.clone();
    if page.cursor.is_none()
        && let Some(v) = store::count_view(db, &post.id).await?
    {
        post.view_count = v;
    }
    let (thread, mut mine) = tokio::try_join!(
        store::thread_page(db, cursors, &post, page),
        reactions::mine(db, &post.root_id, pa.me()),
    )?;
    let access = &pa.access;
    let replies = thread
        .results
        .into_iter()
        .filter(|p| p.visible_to(access))
        .map(|p| PostView::of(&p, access, Some(mine.remove(&p.id).unwrap_or_default())))
        .collect();
    let view = PostView::of(
        &post,
        access,
        Some(mine.remove(&post.id).unwrap_or_default()),
    );
    Ok(PostDetail {
        post: view,
        replies,
        replies_next: thread.next,
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
    pub kind: Option<PostKind>,
    /// Questions without an accepted or staff-endorsed answer and no answer by staff.
    pub unanswered: bool,
    /// Questions resolved (`true`) or not (`false`).
    pub resolved: Option<bool>,
    pub tag: Option<String>,
}

/// Lists a community's top-level posts, pinned first, then newest first.
#[tracing::instrument(skip_all, fields(community_id = %community_id, user_id = %principal.user_id))]
pub async fn list_posts(
    db: &Db,
    cursors: &Cursors,
    principal: &Principal,
    community_id: &str,
    filter: &ListFilter,
    page: &PageParams,
    now: DateTime<Utc>,
) -> Result<Page<PostView>> {
    let access = Access::load(db, principal, community_id, now).await?;
    list(db, cursors, &access, filter, page).await
}

/// [`list_posts`] with the caller's access loaded: one Query on GSI1 per page. Members see their
/// own pending and rejected posts; moderators see everyone's and the deleted ones (as deleted;
/// admins with their text). `author` is a filter on the page read, so a page may hold fewer
/// than `limit` posts while `next` is set.
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
    // A reader who may not learn who wrote an anonymous post does not find it by its author.
    let hide_anonymous = author
        .as_deref()
        .is_some_and(|a| a != access.principal.user_id && !access.is_staff());
    let listing = Listing {
        community_id: &access.community.id,
        lane,
        pinned: filter.pinned,
        author: author.as_deref(),
        hide_anonymous,
        kind: filter.kind.map(PostKind::as_str),
        unanswered: filter.unanswered,
        resolved: filter.resolved,
        tag: filter.tag.as_deref(),
    };
    let posts = store::listing_page(db, cursors, &listing, page).await?;
    Ok(Page {
        results: posts
            .results
            .iter()
            .filter(|p| p.visible_to(access))
            .map(|p| PostView::of(p, access, None))
            .collect(),
        next: posts.next,
    })
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

/// Edits a post (its author only): the replaced text is kept as a [`Revision`] written in the
/// same transaction, guarded by the edit counter so concurrent edits each keep their history.
#[tracing::instrument(skip_all, fields(community_id, user_id = %principal.user_id, post_id = %post_id))]
pub async fn edit(
    db: &Db,
    principal: &Principal,
    post_id: &str,
    input: Result<PostEdit>,
    mode: EditMode,
    now: DateTime<Utc>,
) -> Result<PostView> {
    let pa = load(db, principal, post_id, now).await?;
    if !pa.is_author() {
        return Err(Error::Forbidden("only the author may edit a post".into()));
    }
    pa.access.require_write(Action::Read)?;
    let input = input?;
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
        match store::edit(db, &current, &revision, title.as_deref(), &content, &at).await? {
            Edited::Edited => {
                current.title = title;
                current.content = content;
                current.edit_count = revision.version;
                current.edited_at = Some(at.clone());
                current.updated_at = at;
                return Ok(PostView::of(&current, &pa.access, None));
            }
            Edited::Gone => return Err(Error::Conflict("the post is deleted".into())),
            Edited::Conflict(now) => current = *now,
        }
    }
    Err(Error::Conflict(
        "the post is being edited concurrently, retry".into(),
    ))
}

/// The edit history, oldest first (the author and moderators; a deleted post's only to admins).
#[tracing::instrument(skip_all, fields(community_id, user_id = %principal.user_id, post_id = %post_id))]
pub async fn revisions(
    db: &Db,
    cursors: &Cursors,
    principal: &Principal,
    post_id: &str,
    page: &PageParams,
    now: DateTime<Utc>,
) -> Result<Page<Revision>> {
    let pa = load(db, principal, post_id, now).await?;
    if !pa.is_author() {
        pa.access.require(Action::Moderate)?;
    }
    if pa.post.is_deleted && !pa.access.principal.is_admin() {
        return Err(Error::Forbidden(
            "the history of a deleted post is kept for admins".into(),
        ));
    }
    store::revisions_page(db, cursors, &pa.post.id, page).await
}

// ---------------------------------------------------------------- delete

/// Soft-deletes a post (its author, or a moderator+): the text stays stored, readers see the post
/// as deleted, its replies stay readable. Unpublishing takes it out of `post_count` and its
/// parent's `reply_count` in the same transaction; deleting twice changes nothing.
#[tracing::instrument(skip_all, fields(community_id, user_id = %principal.user_id, post_id = %post_id))]
pub async fn delete(
    db: &Db,
    ids: &dyn Ids,
    principal: &Principal,
    post_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let pa = load(db, principal, post_id, now).await?;
    if !pa.is_author() && !pa.access.is_moderator() {
        return Err(Error::Forbidden(
            "only the author or a moderator may delete a post".into(),
        ));
    }
    pa.access.require_write(Action::Read)?;
    let audit = (!pa.is_author()).then(|| {
        crate::audit::entry(
            &pa.access,
            ids,
            crate::audit::AuditAction::Delete,
            &pa.post,
            None,
            now,
        )
    });
    let at = iso(now);
    let mut current = pa.post.clone();
    for _ in 0..ATTEMPTS {
        if current.is_deleted {
            return Ok(());
        }
        match store::soft_delete(db, &current, pa.me(), &at, audit.as_ref()).await? {
            Deleted::Deleted => return Ok(()),
            Deleted::Changed(now) => current = *now,
        }
    }
    Err(Error::Conflict(
        "the post is being changed concurrently, retry".into(),
    ))
}

// ---------------------------------------------------------------- pin

/// Pins or unpins a top-level post (moderator+); pinned posts come first in listings. One
/// UpdateItem.
#[tracing::instrument(skip_all, fields(community_id, user_id = %principal.user_id, post_id = %post_id, pinned = pinned))]
pub async fn set_pinned(
    db: &Db,
    ids: &dyn Ids,
    principal: &Principal,
    post_id: &str,
    pinned: bool,
    now: DateTime<Utc>,
) -> Result<PostView> {
    let pa = load(db, principal, post_id, now).await?;
    pa.access.require_write(Action::Moderate)?;
    if pa.post.is_reply() {
        return Err(Error::Conflict("only top-level posts can be pinned".into()));
    }
    if pa.post.is_deleted {
        return Err(Error::Conflict("the post is deleted".into()));
    }
    let action = if pinned {
        crate::audit::AuditAction::Pin
    } else {
        crate::audit::AuditAction::Unpin
    };
    let audit = crate::audit::entry(&pa.access, ids, action, &pa.post, None, now);
    match store::set_pinned(db, &pa.post, pinned, &audit).await? {
        Pinned::Pinned(post) => Ok(PostView::of(&post, &pa.access, None)),
        Pinned::Gone => Err(Error::Conflict("the post is deleted".into())),
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
            ..NewPost::default()
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
            let input = NewPost { title, content, community, parent, ..NewPost::default() };
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
