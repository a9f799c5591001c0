//! Attachments (SPEC §11): presigned uploads bound to a declared type and size, the checks of
//! the stored object before a post or message may reference it, and presigned downloads after
//! the access check of the content that references it.
//!
//! Records in [`crate::model::attachment`]; DynamoDB requests in [`crate::store::attachments`],
//! S3 requests in [`crate::store::objects`].

use crate::access::{Access, Action};
use crate::auth::Principal;
use crate::chat::MessageType;
use crate::db::Db;
use crate::error::{Error, FieldError, Result};
use crate::ids::Ids;
use crate::keys::{self, Room};
use crate::model::attachment::{Attachment, AttachmentStatus, Reference, Scope};
use crate::store::attachments as store;
use crate::store::objects::Files;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use crate::model::attachment::AttachmentInfo;

/// Largest upload unless `ATTACHMENT_MAX_BYTES` says (10 MiB).
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// A pending attachment's record expires (DynamoDB TTL) this long after it was presigned.
pub const PENDING_TTL_SECS: i64 = 24 * 3600;
/// Attachments one post may reference.
pub const MAX_PER_POST: usize = 10;
pub const MAX_FILENAME: usize = 200;

/// The content types an attachment may have: images, PDF, plain text and office documents.
pub const ALLOWED_TYPES: [&str; 12] = [
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
];

/// The allowed type a declared `Content-Type` names (its essence, in lower case), if any.
pub fn allowed_type(raw: &str) -> Option<&'static str> {
    let essence = raw.split(';').next().unwrap_or_default().trim();
    ALLOWED_TYPES
        .iter()
        .copied()
        .find(|t| t.eq_ignore_ascii_case(essence))
}

/// `POST attachments/`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateInput {
    pub community_id: Option<String>,
    pub conversation_id: Option<String>,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub size: Option<u64>,
}

/// What `POST attachments/` answers: where and how to upload, until when.
#[derive(Debug, Clone, Serialize)]
pub struct Upload {
    pub id: String,
    pub upload_url: String,
    /// Headers the PUT must carry exactly (they are signed). Its body must be exactly `size`
    /// bytes: the length is signed too.
    pub upload_headers: BTreeMap<String, String>,
    pub expires_at: String,
}

/// A checked declaration.
#[derive(Debug, Clone, PartialEq)]
struct Declared {
    filename: String,
    content_type: &'static str,
    size: u64,
}

impl CreateInput {
    /// Where the attachment goes: exactly one of a community or a conversation.
    fn scope(&self) -> Result<Scope> {
        let id = |field: &str, raw: &str| {
            crate::ids::ulid(raw.trim())
                .ok_or_else(|| Error::validation(field, "is not a valid id"))
        };
        match (&self.community_id, &self.conversation_id) {
            (Some(c), None) => Ok(Scope::Community(id("community_id", c)?)),
            (None, Some(c)) => Ok(Scope::Conversation(id("conversation_id", c)?)),
            (Some(_), Some(_)) => Err(Error::validation(
                "conversation_id",
                "name a community or a conversation, not both",
            )),
            (None, None) => Err(Error::validation("community_id", "is required")),
        }
    }

    fn declared(&self, max_bytes: u64) -> Result<Declared> {
        let mut errors = Vec::new();
        let filename = crate::validate::text(
            &mut errors,
            "filename",
            self.filename.as_deref(),
            MAX_FILENAME,
        );
        if filename
            .as_deref()
            .is_some_and(|f| f.contains(['/', '\\']) || f == "." || f == "..")
        {
            errors.push(FieldError::new(
                "filename",
                "must be a file name, not a path",
            ));
        }
        let content_type = match self.content_type.as_deref() {
            None => {
                errors.push(FieldError::new("content_type", "is required"));
                None
            }
            Some(raw) => {
                let t = allowed_type(raw);
                if t.is_none() {
                    errors.push(FieldError::new(
                        "content_type",
                        "is not allowed: images (png, jpeg, gif, webp), pdf, plain text and office documents are",
                    ));
                }
                t
            }
        };
        match self.size {
            None => errors.push(FieldError::new("size", "is required")),
            Some(0) => errors.push(FieldError::new("size", "must be at least 1 byte")),
            Some(n) if n > max_bytes => errors.push(FieldError::new(
                "size",
                format!("must be at most {max_bytes} bytes"),
            )),
            Some(_) => {}
        }
        match (filename, content_type, self.size) {
            (Some(filename), Some(content_type), Some(size)) if errors.is_empty() => Ok(Declared {
                filename,
                content_type,
                size,
            }),
            _ => Err(Error::Validation(errors)),
        }
    }
}

/// The caller may add attachments to `scope`: in a community, one who may post or chat there
/// (403/404 as the guard says); in a conversation, a member (404 otherwise).
async fn require_may_attach(
    db: &Db,
    caller: &Principal,
    scope: &Scope,
    now: DateTime<Utc>,
) -> Result<()> {
    match scope {
        Scope::Community(id) => {
            let access = Access::load(db, caller, id, now).await?;
            if access.require_write(Action::Chat).is_err() {
                access.require_write(Action::Post)?;
            }
            Ok(())
        }
        Scope::Conversation(id) => crate::store::conversations::get(db, id)
            .await?
            .filter(|c| c.has_member(&caller.user_id))
            .map(|_| ())
            .ok_or(Error::NotFound("conversation")),
    }
}

fn scope_parts(scope: &Scope) -> (&'static str, &str) {
    match scope {
        Scope::Community(id) => ("community", id),
        Scope::Conversation(id) => ("conversation", id),
    }
}

/// Presigns an upload: the caller's right to attach in the named community or conversation is
/// decided first, then the declaration (type among [`ALLOWED_TYPES`], size at most
/// `max_bytes`). Writes the pending attachment (one PutItem, TTL 24 h) and answers a PUT valid
/// 15 minutes, bound to the declared type and size.
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id, attachment_id))]
#[allow(clippy::too_many_arguments)]
pub async fn create(
    db: &Db,
    files: &Files,
    ids: &dyn Ids,
    now: DateTime<Utc>,
    caller: &Principal,
    max_bytes: u64,
    input: CreateInput,
) -> Result<Upload> {
    let scope = input.scope()?;
    require_may_attach(db, caller, &scope, now).await?;
    let declared = input.declared(max_bytes)?;
    let id = ids.new_id();
    tracing::Span::current().record("attachment_id", id.as_str());
    let (kind, scope_id) = scope_parts(&scope);
    let object_key = keys::attachment_object(kind, scope_id, &id);
    let presigned = files
        .presign_upload(&object_key, declared.content_type, declared.size, now)
        .await?;
    let attachment = Attachment {
        id: id.clone(),
        scope: scope.clone(),
        uploader_id: caller.user_id.clone(),
        filename: declared.filename,
        content_type: declared.content_type.to_string(),
        size: declared.size,
        object_key,
        status: AttachmentStatus::Pending,
        created_at: crate::clock::iso(now),
        referenced_by: None,
        ttl: Some(now.timestamp() + PENDING_TTL_SECS),
    };
    store::put_pending(db, &attachment).await?;
    Ok(Upload {
        id,
        upload_url: presigned.url,
        upload_headers: presigned.headers.into_iter().collect(),
        expires_at: crate::clock::iso(presigned.expires_at),
    })
}

/// The attachments a new post or message of `caller` in `scope` references, checked: each an
/// upload of the caller's in this scope, not referenced yet, actually uploaded, with the size
/// and type that were declared (HeadObject each), and an image for an `image` message. Any
/// other is a 422 on `field`. Reads only: [`keep`] them once nothing else can refuse the
/// post or message.
///
/// A message sent with a `client_id` may be a retry of one that referenced the attachment
/// already (`retry`): its attachment is then left to the transaction, which answers the stored
/// message of a retry and refuses a reference by anything else.
#[allow(clippy::too_many_arguments)]
pub async fn resolve(
    db: &Db,
    files: &Files,
    caller: &Principal,
    scope: &Scope,
    field: &str,
    ids: &[String],
    kind: Option<MessageType>,
    retry: bool,
) -> Result<Vec<Attachment>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let refused = |id: &str, why: &str| Error::validation(field, format!("{id}: {why}"));
    let records = store::many(db, ids).await?;
    let mut found = Vec::with_capacity(ids.len());
    for (id, record) in ids.iter().zip(records) {
        let a = record
            .filter(|a| a.scope == *scope && a.uploader_id == caller.user_id)
            .ok_or_else(|| refused(id, "is not an upload of yours here"))?;
        if a.status != AttachmentStatus::Pending && !retry {
            return Err(refused(id, "is attached already"));
        }
        if kind == Some(MessageType::Image) && !a.content_type.starts_with("image/") {
            return Err(refused(id, "an image message carries an image"));
        }
        found.push(a);
    }
    let stored =
        futures::future::try_join_all(found.iter().map(|a| files.head(&a.object_key))).await?;
    for (a, stored) in found.iter().zip(stored) {
        let stored = stored.ok_or_else(|| refused(&a.id, "was never uploaded"))?;
        let same_type = stored
            .content_type
            .as_deref()
            .and_then(allowed_type)
            .is_some_and(|t| t == a.content_type);
        if stored.size != a.size || !same_type {
            return Err(refused(
                &a.id,
                "the uploaded file does not match the declared size and type",
            ));
        }
    }
    Ok(found)
}

/// Tags the objects of checked attachments kept (PutObjectTagging each), just before the
/// transaction that references them: a referenced object is never expired by the lifecycle
/// rule (an object kept whose transaction then fails stays unreferenced, and unreadable).
pub async fn keep(files: &Files, found: &[Attachment]) -> Result<Vec<AttachmentInfo>> {
    futures::future::try_join_all(found.iter().map(|a| files.keep(&a.object_key))).await?;
    Ok(found.iter().map(Attachment::info).collect())
}

/// The ids of a post's `attachments`: at most [`MAX_PER_POST`], valid and distinct.
pub fn parse_ids(errors: &mut Vec<FieldError>, field: &str, raw: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if raw.len() > MAX_PER_POST {
        errors.push(FieldError::new(
            field,
            format!("at most {MAX_PER_POST} attachments"),
        ));
        return out;
    }
    for r in raw {
        match crate::ids::ulid(r.trim()) {
            Some(id) if out.contains(&id) => {
                errors.push(FieldError::new(field, format!("{id} is named twice")));
            }
            Some(id) => out.push(id),
            None => errors.push(FieldError::new(field, "holds an id that is not valid")),
        }
    }
    out
}

/// The URL of a download: the attachment must be referenced by content the caller may read
/// now (a visible post, a chat message of a community they may read, a message of one of their
/// conversations; not deleted). Anything else answers 404, like an unknown attachment.
#[tracing::instrument(skip_all, fields(user_id = %caller.user_id, attachment_id = %attachment_id))]
pub async fn download(
    db: &Db,
    files: &Files,
    now: DateTime<Utc>,
    caller: &Principal,
    attachment_id: &str,
) -> Result<String> {
    let gone = || Error::NotFound("attachment");
    let a = store::get(db, attachment_id).await?.ok_or_else(gone)?;
    let readable = match a.referenced_by.as_ref().ok_or_else(gone)? {
        Reference::Post { post_id } => match crate::posts::load(db, caller, post_id, now).await {
            Ok(p) => !p.post.is_deleted,
            Err(Error::NotFound(_) | Error::Forbidden(_)) => false,
            Err(e) => return Err(e),
        },
        Reference::ChatMessage {
            community_id,
            message_id,
        } => match Access::load(db, caller, community_id, now).await {
            Ok(access) if access.can(Action::Read) => {
                crate::store::chat::get(db, community_id, message_id)
                    .await?
                    .is_some_and(|m| !m.is_deleted)
            }
            Ok(_) | Err(Error::NotFound(_) | Error::Forbidden(_)) => false,
            Err(e) => return Err(e),
        },
        Reference::DirectMessage {
            conversation_id,
            message_id,
        } => {
            let member = crate::store::conversations::get(db, conversation_id)
                .await?
                .is_some_and(|c| c.has_member(&caller.user_id));
            member
                && crate::store::room::get::<crate::conversations::DirectMessage>(
                    db,
                    Room::Conversation(conversation_id),
                    message_id,
                )
                .await?
                .is_some_and(|m| !m.is_deleted)
        }
    };
    if !readable {
        return Err(gone());
    }
    Ok(files
        .presign_download(&a.object_key, &a.filename, &a.content_type, now)
        .await?
        .url)
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: &str = "01JF0C0MMVN1TY000000000000";

    fn input(json: serde_json::Value) -> Result<CreateInput> {
        crate::http::parse_json::<CreateInput>(json.to_string().as_bytes())
    }

    #[test]
    fn allowed_types_are_images_pdf_text_and_office_documents() {
        for t in ALLOWED_TYPES {
            assert_eq!(allowed_type(t), Some(t));
        }
        assert_eq!(allowed_type("IMAGE/PNG"), Some("image/png"));
        assert_eq!(
            allowed_type("text/plain; charset=utf-8"),
            Some("text/plain")
        );
        for t in [
            "image/svg+xml",
            "text/html",
            "application/zip",
            "application/x-msdownload",
            "",
        ] {
            assert_eq!(allowed_type(t), None, "{t}");
        }
    }

    #[test]
    fn a_declaration_over_the_limit_or_of_a_forbidden_type_names_its_field() {
        let i = input(serde_json::json!({
            "community_id": C, "filename": "a.svg", "content_type": "image/svg+xml", "size": 11
        }))
        .unwrap();
        let Error::Validation(errors) = i.declared(10).unwrap_err() else {
            panic!("validation")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["content_type", "size"]);
        let ok = input(serde_json::json!({
            "community_id": C, "filename": " notes.pdf ", "content_type": "application/pdf", "size": 10
        }))
        .unwrap()
        .declared(10)
        .unwrap();
        assert_eq!(ok.filename, "notes.pdf");
    }

    #[test]
    fn a_path_is_not_a_file_name_and_the_scope_is_one_place() {
        let i = input(serde_json::json!({
            "community_id": C, "filename": "../etc/passwd", "content_type": "text/plain", "size": 1
        }))
        .unwrap();
        assert!(i.declared(10).unwrap_err().detail().starts_with("filename"));
        let both = input(serde_json::json!({ "community_id": C, "conversation_id": C })).unwrap();
        assert_eq!(both.scope().unwrap_err().status(), 422);
        let none = input(serde_json::json!({ "filename": "a" })).unwrap();
        assert_eq!(none.scope().unwrap_err().status(), 422);
        assert!(input(serde_json::json!({ "community_id": C, "extra": 1 })).is_err());
    }

    #[test]
    fn a_post_names_at_most_ten_distinct_attachments() {
        let id = |n: u8| format!("01JF0C0MMVN1TY00000000000{}", (b'0' + n) as char);
        let mut errors = Vec::new();
        let ids: Vec<String> = (0..10).map(id).collect();
        assert_eq!(parse_ids(&mut errors, "attachments", &ids).len(), 10);
        assert!(errors.is_empty());
        let eleven: Vec<String> = (0..10).map(id).chain([id(0)]).collect();
        parse_ids(&mut errors, "attachments", &eleven);
        assert_eq!(errors.len(), 1);
        let mut errors = Vec::new();
        parse_ids(&mut errors, "attachments", &[id(1), id(1)]);
        assert_eq!(errors.len(), 1);
    }
}
