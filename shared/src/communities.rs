//! Communities: one per course (created by the LMS sync) or created by an admin; their profile,
//! settings and the counters `member_count` and `post_count`.

use crate::access::{Access, Action, PlatformAction, require_platform};
use crate::auth::Principal;
use crate::cursor::{Cursors, Page, PageParams};
use crate::error::{Error, FieldError, Result};
use crate::ids::Ids;
use crate::model::CommunityRole;
use crate::store::{Db, communities as store, lms as lms_store};
use crate::validate;
use serde::{Deserialize, Serialize};

pub use crate::model::{AnonymousPosting, Community, Visibility};

/// Tags a community may define (SPEC §9).
pub const MAX_COMMUNITY_TAGS: usize = 30;
/// Characters of one tag.
pub const MAX_TAG: usize = 40;

/// A community as the API shows it to one caller.
#[derive(Debug, Serialize)]
pub struct CommunityView {
    #[serde(flatten)]
    pub community: Community,
    pub my_role: Option<CommunityRole>,
    pub is_member: bool,
}

impl CommunityView {
    pub fn of(access: &Access) -> Self {
        let my_role = access.effective_role();
        Self {
            community: access.community.clone(),
            my_role,
            is_member: my_role.is_some(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCommunity {
    pub title: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<Visibility>,
    pub banner_image: Option<String>,
    pub require_post_approval: Option<bool>,
}

/// Creates a community not tied to a course (admins only).
#[tracing::instrument(skip_all, fields(user_id = %principal.user_id))]
pub async fn create(
    db: &Db,
    ids: &dyn Ids,
    principal: &Principal,
    input: CreateCommunity,
    now: &str,
) -> Result<Community> {
    require_platform(principal, PlatformAction::CreateCommunity)?;
    let mut errors = Vec::new();
    let title = validate::text(
        &mut errors,
        "title",
        input.title.as_deref(),
        validate::MAX_NAME,
    );
    let description = validate::optional_text(
        &mut errors,
        "description",
        input.description.as_deref(),
        validate::MAX_DESCRIPTION,
    );
    let banner = banner(&mut errors, input.banner_image);
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let c = Community {
        id: ids.new_id(),
        title: title.unwrap_or_default(),
        description: description.unwrap_or_default(),
        visibility: input.visibility.unwrap_or_default(),
        banner_image: banner,
        require_post_approval: input.require_post_approval.unwrap_or(false),
        course_id: None,
        instructor_ids: Vec::new(),
        member_count: 0,
        post_count: 0,
        created_at: now.into(),
        updated_at: now.into(),
        ..Default::default()
    };
    store::insert_community(db, &c).await?;
    Ok(c)
}

fn banner(errors: &mut Vec<FieldError>, raw: Option<String>) -> Option<String> {
    let url = raw?.trim().to_string();
    if url.is_empty() {
        return None;
    }
    if url.len() > 2048 || !(url.starts_with("https://") || url.starts_with("http://")) {
        errors.push(FieldError::new(
            "banner_image",
            "must be an http(s) URL of at most 2048 characters",
        ));
        return None;
    }
    Some(url)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateCommunity {
    pub title: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<Visibility>,
    pub banner_image: Option<String>,
    pub require_post_approval: Option<bool>,
    pub anonymous_posting: Option<AnonymousPosting>,
    /// Archive (read-only for everyone but admins) or unarchive.
    pub is_archived: Option<bool>,
}

/// Updates settings (instructor+); only the given fields change. The body is judged after the
/// caller's right to update (SPEC §8); archiving is logged.
#[tracing::instrument(skip_all, fields(community_id = %access.community.id, user_id = %access.principal.user_id))]
pub async fn update(
    db: &Db,
    ids: &dyn Ids,
    access: &Access,
    input: Result<UpdateCommunity>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Community> {
    access.require(Action::Update)?;
    let input = input?;
    if input.is_archived.is_some() {
        access.require(Action::Archive)?;
    }
    let archive = input
        .is_archived
        .filter(|a| *a != access.community.is_archived);
    let at = now;
    let now_iso = crate::clock::iso(at);
    let now = &now_iso;
    let mut errors = Vec::new();
    let title = input
        .title
        .as_deref()
        .and_then(|t| validate::text(&mut errors, "title", Some(t), validate::MAX_NAME));
    let description = validate::optional_text(
        &mut errors,
        "description",
        input.description.as_deref(),
        validate::MAX_DESCRIPTION,
    );
    let banner_given = input.banner_image.is_some();
    let banner = banner(&mut errors, input.banner_image);
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let updated = store::update_community(
        db,
        &access.community.id,
        store::CommunityChanges {
            title,
            description,
            visibility: input.visibility,
            banner_image: banner_given.then_some(banner),
            require_post_approval: input.require_post_approval,
            anonymous_posting: input.anonymous_posting,
            is_archived: input.is_archived,
            tags: None,
        },
        now,
    )
    .await?
    .ok_or(Error::NotFound("community"))?;
    if let Some(archived) = archive {
        let action = if archived {
            crate::audit::AuditAction::Archive
        } else {
            crate::audit::AuditAction::Unarchive
        };
        let entry = crate::audit::entry(
            access,
            ids,
            action,
            crate::audit::AuditTarget::community(&access.community.id),
            None,
            at,
        );
        crate::store::audit::put(db, &entry).await?;
    }
    Ok(updated)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagsInput {
    pub tags: Option<Vec<String>>,
}

/// Replaces the community's tags (instructor+): at most [`MAX_COMMUNITY_TAGS`], each 1 to
/// [`MAX_TAG`] characters, each once. Posts keep the tags they carry.
#[tracing::instrument(skip_all, fields(community_id = %access.community.id, user_id = %access.principal.user_id))]
pub async fn set_tags(
    db: &Db,
    access: &Access,
    input: Result<TagsInput>,
    now: &str,
) -> Result<Community> {
    access.require_write(Action::ManageTags)?;
    let input = input?;
    let raw = input
        .tags
        .ok_or_else(|| Error::validation("tags", "is required"))?;
    let mut errors = Vec::new();
    let mut tags: Vec<String> = Vec::new();
    for t in &raw {
        if let Some(t) = validate::text(&mut errors, "tags", Some(t), MAX_TAG)
            && !tags.contains(&t)
        {
            tags.push(t);
        }
    }
    if tags.len() > MAX_COMMUNITY_TAGS {
        errors.push(FieldError::new(
            "tags",
            format!("a community has at most {MAX_COMMUNITY_TAGS} tags"),
        ));
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    store::update_community(
        db,
        &access.community.id,
        store::CommunityChanges {
            tags: Some(tags),
            ..Default::default()
        },
        now,
    )
    .await?
    .ok_or(Error::NotFound("community"))
}

/// Filters of the community listing.
#[derive(Debug, Default)]
pub struct ListFilter {
    pub mine: bool,
    pub course: Option<String>,
}

/// Lists the communities the caller may see: all public ones (one Query on GSI1 and one
/// BatchGetItem for the caller's roles), or with `mine` the caller's own (GSI1 + BatchGetItem),
/// or the one of a course (GetItem + BatchGetItem).
pub async fn list(
    db: &Db,
    cursors: &Cursors,
    principal: &Principal,
    filter: &ListFilter,
    page: &PageParams,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Page<CommunityView>> {
    // The caller's and a course's communities come in one page: no cursor of ours leads there.
    if (filter.mine || filter.course.is_some()) && page.cursor.is_some() {
        return Err(Error::BadRequest(
            "cursor is invalid or belongs to another listing".into(),
        ));
    }
    if let Some(course_id) = &filter.course {
        let Some(course) = lms_store::course(db, course_id).await? else {
            return Ok(Page {
                results: vec![],
                next: None,
            });
        };
        let results = match Access::load(db, principal, &course.community_id, now).await {
            Ok(a) if !filter.mine || a.effective_role().is_some() => vec![CommunityView::of(&a)],
            Ok(_) | Err(Error::NotFound(_)) => vec![],
            Err(e) => return Err(e),
        };
        return Ok(Page {
            results,
            next: None,
        });
    }
    if filter.mine {
        let ids = store::community_ids_of(db, &principal.user_id).await?;
        let results = Access::load_many(db, principal, &ids, now)
            .await?
            .iter()
            .filter(|a| a.effective_role().is_some())
            .map(CommunityView::of)
            .collect();
        return Ok(Page {
            results,
            next: None,
        });
    }
    let listed = store::listing_page(db, cursors, page, principal.is_admin()).await?;
    // The page's communities with the caller's role in each: one BatchGetItem per 33.
    let results = Access::load_many(db, principal, &listed.results, now)
        .await?
        .iter()
        .map(CommunityView::of)
        .collect();
    Ok(Page {
        results,
        next: listed.next,
    })
}
