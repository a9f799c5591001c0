//! Communities: one per course (created by the LMS sync) or created by an admin; their profile,
//! settings and the counters `member_count` and `post_count`.

use crate::access::{Access, Action};
use crate::auth::Principal;
use crate::cursor::Cursors;
use crate::db::{Db, from_item, key_item, s, sdk, to_item, with_gsi};
use crate::error::{Error, FieldError, Result};
use crate::http::{Page, PageParams};
use crate::keys::{self, GSI1};
use crate::membership::CommunityRole;
use crate::validate;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    #[default]
    Public,
    Private,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Community {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub visibility: Visibility,
    #[serde(default)]
    pub banner_image: Option<String>,
    #[serde(default)]
    pub require_post_approval: bool,
    #[serde(default)]
    pub course_id: Option<String>,
    /// The course's instructors (kept by the LMS sync); they hold `instructor` here.
    #[serde(default)]
    pub instructor_ids: Vec<String>,
    #[serde(default)]
    pub member_count: i64,
    #[serde(default)]
    pub post_count: i64,
    pub created_at: String,
    pub updated_at: String,
}

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

/// The community item with its listing index key.
pub fn community_item(c: &Community) -> Result<crate::db::Item> {
    Ok(with_gsi(
        to_item(&keys::community(&c.id), c)?,
        GSI1,
        &keys::community_listing(&c.id),
    ))
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
pub async fn create(
    db: &Db,
    principal: &Principal,
    input: CreateCommunity,
    now: &str,
) -> Result<Community> {
    if !principal.is_admin() {
        return Err(Error::Forbidden(
            "only admins may create communities".into(),
        ));
    }
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
        id: crate::ids::new_id(),
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
    };
    db.client
        .put_item()
        .table_name(&db.table)
        .set_item(Some(community_item(&c)?))
        .condition_expression("attribute_not_exists(PK)")
        .send()
        .await
        .map_err(sdk)?;
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
}

/// Updates settings (instructor+); only the given fields change.
pub async fn update(
    db: &Db,
    access: &Access,
    input: UpdateCommunity,
    now: &str,
) -> Result<Community> {
    access.require(Action::Update)?;
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
    let mut sets = vec!["updated_at = :now".to_string()];
    let mut req = db
        .client
        .update_item()
        .table_name(&db.table)
        .set_key(Some(key_item(&keys::community(&access.community.id))))
        .condition_expression("attribute_exists(PK)")
        .expression_attribute_values(":now", s(now))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
    if let Some(t) = title {
        sets.push("title = :title".into());
        req = req.expression_attribute_values(":title", s(t));
    }
    if let Some(d) = description {
        sets.push("description = :d".into());
        req = req.expression_attribute_values(":d", s(d));
    }
    if let Some(v) = input.visibility {
        sets.push("visibility = :v".into());
        req = req.expression_attribute_values(":v", serde_dynamo::to_attribute_value(v)?);
    }
    if banner_given {
        sets.push("banner_image = :b".into());
        req = req.expression_attribute_values(":b", serde_dynamo::to_attribute_value(banner)?);
    }
    if let Some(r) = input.require_post_approval {
        sets.push("require_post_approval = :r".into());
        req =
            req.expression_attribute_values(":r", aws_sdk_dynamodb::types::AttributeValue::Bool(r));
    }
    let out = req
        .update_expression(format!("SET {}", sets.join(", ")))
        .send()
        .await
        .map_err(sdk)?;
    from_item(out.attributes.unwrap_or_default())
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
        let Some(course) = db
            .get::<crate::lms::Course>(&keys::course(course_id))
            .await?
        else {
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
        let ids = crate::membership::communities_of(db, &principal.user_id).await?;
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
    let scope = "communities";
    let start = page
        .cursor
        .as_deref()
        .map(|c| cursors.decode(scope, c))
        .transpose()?;
    let mut q = db
        .client
        .query()
        .table_name(&db.table)
        .index_name(GSI1)
        .key_condition_expression("GSI1PK = :pk")
        .expression_attribute_values(":pk", s("COMMUNITIES"))
        .scan_index_forward(false)
        .limit(page.limit)
        .set_exclusive_start_key(start);
    if !principal.is_admin() {
        q = q
            .filter_expression("visibility = :public")
            .expression_attribute_values(":public", s("public"));
    }
    let out = q.send().await.map_err(sdk)?;
    // The page's communities with the caller's role in each: one BatchGetItem per 33.
    let ids: Vec<String> = out
        .items
        .unwrap_or_default()
        .iter()
        .filter_map(|i| crate::db::attr_s(i, "id"))
        .collect();
    let results = Access::load_many(db, principal, &ids, now)
        .await?
        .iter()
        .map(CommunityView::of)
        .collect();
    Ok(Page {
        results,
        next: out.last_evaluated_key.map(|k| cursors.encode(scope, &k)),
    })
}
