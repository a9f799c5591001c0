//! The outbox: a notification job is written in the same transaction as the post, reply, flag,
//! decision or chat message it belongs to, so one cannot be stored without the other. The job's
//! stream record triggers the notifier.

use super::db::{Item, Tx, n, owned_by, s, to_item};
use crate::error::Result;
use crate::keys;
use crate::model::notification::{JOB_ENTITY, JOB_RETENTION_SECS, Job, JobItem};

/// The condition named when a job with this id already exists (a job id is minted once).
pub const JOB_EXISTS: &str = "notification_job";

/// Writes a job on its own (one PutItem), for an event that has no write of its own to join.
pub async fn enqueue(db: &super::Db, job: &Job) -> Result<()> {
    db.put_item()
        .set_item(Some(job_item(&JobItem {
            job: job.clone(),
            part: None,
            deliveries: None,
        })?))
        .condition_expression("attribute_not_exists(PK)")
        .send()
        .await
        .map_err(super::db::sdk)?;
    Ok(())
}

/// Adds the job's root item to `tx`.
pub fn stage(tx: &mut Tx, job: &Job) -> Result<()> {
    let item = job_item(&JobItem {
        job: job.clone(),
        part: None,
        deliveries: None,
    })?;
    tx.put_new(JOB_EXISTS, item)?;
    Ok(())
}

/// The job item (root or part) with its key, `entity` and TTL.
pub fn job_item(item: &JobItem) -> Result<Item> {
    let key = match item.part {
        None => keys::notification_job(&item.job.id),
        Some(part) => keys::notification_job_part(&item.job.id, part),
    };
    let created = chrono::DateTime::parse_from_rfc3339(&item.job.created_at)
        .map(|t| t.timestamp())
        .unwrap_or(0);
    let mut stored = to_item(&key, item)?;
    stored.insert("entity".into(), s(JOB_ENTITY));
    stored.insert("ttl".into(), n(created + JOB_RETENTION_SECS));
    Ok(owned_by(stored, &item.job.actor.id))
}
