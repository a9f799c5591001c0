//! The moderation audit log's storage: entries are put once (a condition refuses a second put
//! of an id) and never updated or deleted by any request path; one Query per page, newest first.

use super::db::{Db, Tx, s, to_item};
use crate::cursor::{Cursors, Page, PageParams};
use crate::error::Result;
use crate::keys;
use crate::model::audit::AuditEntry;

/// The condition named when an entry id is taken (an id is minted once).
pub const ENTRY: &str = "audit_entry";

fn key(e: &AuditEntry) -> keys::Key {
    keys::audit_entry(&e.community_id, &e.id)
}

/// Adds the entry to `tx`, the transaction of the action it records.
pub fn stage(tx: &mut Tx, entry: &AuditEntry) -> Result<()> {
    tx.put_new(ENTRY, to_item(&key(entry), entry)?)?;
    Ok(())
}

/// Writes an entry on its own (one conditional PutItem), for an action that is a single
/// request answering the changed item (a role change, a member's removal, an archive).
pub async fn put(db: &Db, entry: &AuditEntry) -> Result<()> {
    db.put_item()
        .set_item(Some(to_item(&key(entry), entry)?))
        .condition_expression("attribute_not_exists(PK)")
        .send()
        .await
        .map_err(super::db::sdk)?;
    Ok(())
}

/// One page of a community's log, newest first.
pub async fn page(
    db: &Db,
    cursors: &Cursors,
    community_id: &str,
    page: &PageParams,
) -> Result<Page<AuditEntry>> {
    let query = db
        .query()
        .key_condition_expression("PK = :pk")
        .expression_attribute_values(":pk", s(keys::audit_pk(community_id)))
        .scan_index_forward(false);
    db.page(cursors, &format!("audit:{community_id}"), page, query)
        .await
}
