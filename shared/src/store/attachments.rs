//! The attachment records' requests: the pending record written when an upload is presigned,
//! the reads before a reference is accepted, and the update that turns a pending attachment
//! into a referenced one inside the transaction of the post or message that references it.

use super::db::{Db, Tx, from_item, owned_by, s, to_item, update_of};
use crate::error::{Error, Result};
use crate::keys;
use crate::model::attachment::{Attachment, Reference};

/// The condition name of a reference: the attachment is still pending and the writer's upload.
pub const ATTACHMENT_PENDING: &str = "attachment";

/// Writes a new pending attachment (one PutItem; its id is new, so it must not exist).
pub async fn put_pending(db: &Db, attachment: &Attachment) -> Result<()> {
    let item = owned_by(
        to_item(&keys::attachment(&attachment.id), attachment)?,
        &attachment.uploader_id,
    );
    db.put_item()
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(PK)")
        .send()
        .await
        .map_err(super::db::sdk)?;
    Ok(())
}

/// Strongly consistent read of one attachment.
pub async fn get(db: &Db, attachment_id: &str) -> Result<Option<Attachment>> {
    db.get(&keys::attachment(attachment_id)).await
}

/// Up to 100 attachments in one BatchGetItem, in the order asked (`None` for unknown ids).
pub async fn many(db: &Db, ids: &[String]) -> Result<Vec<Option<Attachment>>> {
    let keys: Vec<_> = ids.iter().map(|id| keys::attachment(id)).collect();
    db.get_many(&keys)
        .await?
        .into_iter()
        .map(|item| item.map(from_item).transpose())
        .collect()
}

/// Adds to `tx` the reference of a pending attachment by `by`: it must still be pending and
/// uploaded by `uploader` (named [`ATTACHMENT_PENDING`]); its TTL is removed, so it is kept.
pub fn stage_reference(
    tx: &mut Tx,
    attachment_id: &str,
    uploader: &str,
    by: &Reference,
) -> Result<()> {
    tx.update(
        Some(ATTACHMENT_PENDING),
        update_of(&keys::attachment(attachment_id))
            .update_expression("SET #status = :referenced, referenced_by = :by REMOVE #ttl")
            .condition_expression("#status = :pending AND uploader_id = :uploader")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":referenced", s("referenced"))
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":uploader", s(uploader))
            .expression_attribute_values(
                ":by",
                serde_dynamo::to_attribute_value(by).map_err(Error::from)?,
            ),
    )?;
    Ok(())
}
