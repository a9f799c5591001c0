//! The storage of questions and answers: endorsing, accepting, resolving and closing as a
//! duplicate. Each is one transaction whose conditions hold the rule it protects (the answer is
//! still a published reply of this question; the acceptance moved from the one that was read),
//! with its notification job and audit entry when it has them.

use super::db::{Db, Tx, TxOutcome, n, s, update_of};
use super::{audit, outbox};
use crate::error::{Error, Result};
use crate::keys;
use crate::model::audit::AuditEntry;
use crate::model::notification::Job;
use crate::posts::model::Post;
use aws_sdk_dynamodb::types::AttributeValue;

/// The post changed is still as read (published, and in the state the change starts from).
pub const POST: &str = "post";
/// The question of an answer: still open for the change.
pub const QUESTION: &str = "question";
/// The answer accepted before, losing its mark.
pub const PREVIOUS: &str = "previous";

/// How a question-and-answer change ended.
#[derive(Debug, PartialEq)]
pub enum Changed {
    Done,
    /// Something changed since it was read (deleted, accepted elsewhere, already so): read again.
    Stale,
}

fn extras(tx: &mut Tx, job: Option<&Job>, entry: Option<&AuditEntry>) -> Result<()> {
    if let Some(job) = job {
        outbox::stage(tx, job)?;
    }
    if let Some(entry) = entry {
        audit::stage(tx, entry)?;
    }
    Ok(())
}

async fn run(db: &Db, tx: Tx) -> Result<Changed> {
    match db.run(tx).await? {
        TxOutcome::Done => Ok(Changed::Done),
        TxOutcome::Refused(r) if r.by(outbox::JOB_EXISTS) || r.by(audit::ENTRY) => Err(
            Error::internal("a job or audit id was used twice; nothing was written"),
        ),
        TxOutcome::Refused(_) => Ok(Changed::Stale),
    }
}

const PUBLISHED: &str = "attribute_exists(PK) AND is_deleted = :f AND #status = :approved";

/// Endorses (or takes back the endorsement of) a published post; an answer's question counts
/// its endorsed answers in the same transaction. 2 to 4 actions.
pub async fn endorse(
    db: &Db,
    post: &Post,
    endorsed: bool,
    by: &str,
    job: Option<&Job>,
    entry: Option<&AuditEntry>,
) -> Result<Changed> {
    let mut u = update_of(&keys::post(&post.id))
        .condition_expression(if endorsed {
            format!("{PUBLISHED} AND (attribute_not_exists(is_endorsed) OR is_endorsed = :was)")
        } else {
            format!("{PUBLISHED} AND is_endorsed = :was")
        })
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":f", AttributeValue::Bool(false))
        .expression_attribute_values(":approved", s("approved"))
        .expression_attribute_values(":was", AttributeValue::Bool(!endorsed))
        .expression_attribute_values(":now", AttributeValue::Bool(endorsed));
    u = if endorsed {
        u.update_expression("SET is_endorsed = :now, endorsed_by = :by")
            .expression_attribute_values(":by", s(by))
    } else {
        u.update_expression("SET is_endorsed = :now REMOVE endorsed_by")
    };
    let mut tx = db.tx();
    tx.update(Some(POST), u)?;
    if post.is_answer() {
        tx.update(
            Some(QUESTION),
            update_of(&keys::post(&post.root_id))
                .update_expression("ADD endorsed_answer_count :d")
                .condition_expression("attribute_exists(PK)")
                .expression_attribute_values(":d", n(if endorsed { 1 } else { -1 })),
        )?;
    }
    extras(&mut tx, job, entry)?;
    run(db, tx).await
}

/// Accepts `answer` for `question`, moving the mark from the answer accepted before (as read);
/// or, with `answer` `None`, takes the acceptance back. 2 to 5 actions.
pub async fn accept(
    db: &Db,
    question: &Post,
    answer: Option<&Post>,
    job: Option<&Job>,
    entry: Option<&AuditEntry>,
) -> Result<Changed> {
    let mut tx = db.tx();
    let previous = question.accepted_answer_id.as_deref();
    let mut q = update_of(&keys::post(&question.id))
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":f", AttributeValue::Bool(false))
        .expression_attribute_values(":approved", s("approved"));
    q = match previous {
        Some(p) => q
            .condition_expression(format!("{PUBLISHED} AND accepted_answer_id = :prev"))
            .expression_attribute_values(":prev", s(p)),
        None => q.condition_expression(format!(
            "{PUBLISHED} AND attribute_not_exists(accepted_answer_id)"
        )),
    };
    q = match answer {
        Some(a) => q
            .update_expression("SET accepted_answer_id = :a")
            .expression_attribute_values(":a", s(&a.id)),
        None => q.update_expression("REMOVE accepted_answer_id"),
    };
    tx.update(Some(QUESTION), q)?;
    if let Some(a) = answer {
        tx.update(
            Some(POST),
            update_of(&keys::post(&a.id))
                .update_expression("SET is_accepted = :t")
                .condition_expression(format!("{PUBLISHED} AND parent_id = :q"))
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":f", AttributeValue::Bool(false))
                .expression_attribute_values(":approved", s("approved"))
                .expression_attribute_values(":t", AttributeValue::Bool(true))
                .expression_attribute_values(":q", s(&question.id)),
        )?;
    }
    if let Some(p) = previous.filter(|p| answer.is_none_or(|a| a.id != *p)) {
        tx.update(
            Some(PREVIOUS),
            update_of(&keys::post(p))
                .update_expression("SET is_accepted = :f")
                .condition_expression("attribute_exists(PK)")
                .expression_attribute_values(":f", AttributeValue::Bool(false)),
        )?;
    }
    extras(&mut tx, job, entry)?;
    run(db, tx).await
}

/// Marks a question resolved or open again (one conditional UpdateItem in a transaction).
pub async fn resolve(db: &Db, question: &Post, resolved: bool) -> Result<Changed> {
    let mut tx = db.tx();
    tx.update(
        Some(QUESTION),
        update_of(&keys::post(&question.id))
            .update_expression("SET is_resolved = :now")
            .condition_expression("attribute_exists(PK) AND is_deleted = :f")
            .expression_attribute_values(":f", AttributeValue::Bool(false))
            .expression_attribute_values(":now", AttributeValue::Bool(resolved)),
    )?;
    run(db, tx).await
}

/// Closes a question as a duplicate of `original`, which must still be a published post of the
/// same community, with the author's job and the audit entry. 4 actions.
pub async fn duplicate(
    db: &Db,
    question: &Post,
    original: &Post,
    job: Option<&Job>,
    entry: Option<&AuditEntry>,
) -> Result<Changed> {
    let mut tx = db.tx();
    tx.update(
        Some(QUESTION),
        update_of(&keys::post(&question.id))
            .update_expression("SET duplicate_of = :o")
            .condition_expression(format!(
                "{PUBLISHED} AND attribute_not_exists(duplicate_of)"
            ))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":f", AttributeValue::Bool(false))
            .expression_attribute_values(":approved", s("approved"))
            .expression_attribute_values(":o", s(&original.id)),
    )?;
    tx.check(
        POST,
        super::db::check_of(&keys::post(&original.id))
            .condition_expression(format!("{PUBLISHED} AND community_id = :c"))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":f", AttributeValue::Bool(false))
            .expression_attribute_values(":approved", s("approved"))
            .expression_attribute_values(":c", s(&original.community_id)),
    )?;
    extras(&mut tx, job, entry)?;
    run(db, tx).await
}
