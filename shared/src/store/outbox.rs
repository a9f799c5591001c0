//! The outbox: a notification job is written in the same transaction as the post, reply, flag,
//! decision or chat message it belongs to, so one cannot be stored without the other. The job's
//! stream record triggers the notifier.

use super::db::Tx;
use crate::error::Result;
use crate::notifications::jobs::{Job, JobItem, job_item};

/// The condition named when a job with this id already exists (a job id is minted once).
pub const JOB_EXISTS: &str = "notification_job";

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
