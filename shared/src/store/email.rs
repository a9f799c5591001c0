//! Email as stored: the queue of each user's next email and when it is due, the claim of the
//! run that sends it, the addresses that bounced or complained, and the claims of digests.
//!
//! Every DynamoDB request of email lives here; every SES request lives in [`super::mailer`].

use super::db::{
    Db, Item, TxOutcome, attr_n, attr_s, delete_of, is_condition_failed, n, s, sdk, to_item,
    update_of,
};
use crate::error::{Error, Result};
use crate::keys;
use crate::model::notification::Notification;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A queued notification stays this long (sent or not): long past any retry of its job.
pub const QUEUED_RETENTION_SECS: i64 = 3 * 24 * 3600;
/// A digest claim stays this long (a period is at most a week).
pub const DIGEST_CLAIM_RETENTION_SECS: i64 = 35 * 24 * 3600;

/// An address that must not be written to again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    pub address: String,
    /// `bounce` or `complaint`.
    pub reason: String,
    /// The bounce type or complaint feedback type SES gave, if any.
    #[serde(default)]
    pub detail: Option<String>,
    pub suppressed_at: String,
}

pub async fn suppression(db: &Db, address: &str) -> Result<Option<Suppression>> {
    db.get(&keys::email_suppression(address)).await
}

/// Suppresses an address (one PutItem; a later bounce of the same address overwrites it).
pub async fn suppress(db: &Db, suppression: &Suppression) -> Result<()> {
    db.put_item()
        .set_item(Some(to_item(
            &keys::email_suppression(&suppression.address),
            suppression,
        )?))
        .send()
        .await
        .map_err(sdk)?;
    Ok(())
}

/// A notification waiting for its recipient's next email.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Queued {
    pub notification: Notification,
    /// Absent until sent (or dropped): what is still queued is read with
    /// `attribute_not_exists(sent_at)`, which a stored null would fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
}

/// Queues a notification for its recipient's next email and makes sure an email is due: three
/// writes (the queued row if new, the state's due time if none is set and its counter, the due
/// row of whatever due time is set). Repeating it for the same notification queues nothing
/// twice and heals a due row a crash left unwritten.
pub async fn queue(db: &Db, notification: &Notification, due_at: &str, now: i64) -> Result<()> {
    let user = &notification.recipient_id;
    let mut row = to_item(
        &keys::queued_email(user, &notification.id),
        &Queued {
            notification: notification.clone(),
            sent_at: None,
        },
    )?;
    row.insert("ttl".into(), n(now + QUEUED_RETENTION_SECS));
    let put = db
        .put_item()
        .set_item(Some(row))
        .condition_expression("attribute_not_exists(PK)")
        .send()
        .await;
    let counted = match put {
        Ok(_) => 1,
        Err(e) if is_condition_failed(&e) => 0,
        Err(e) => return Err(sdk(e)),
    };
    let out = db
        .update_item(&keys::email_state(user))
        .update_expression("SET due_at = if_not_exists(due_at, :due), user_id = :u ADD queued :c")
        .expression_attribute_values(":due", s(due_at))
        .expression_attribute_values(":u", s(user))
        .expression_attribute_values(":c", n(counted))
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .map_err(sdk)?;
    let due = out
        .attributes
        .as_ref()
        .and_then(|a| attr_s(a, "due_at"))
        .unwrap_or_else(|| due_at.to_string());
    put_due(db, user, &due).await
}

#[derive(Serialize)]
struct DueRow<'a> {
    user_id: &'a str,
    due_at: &'a str,
}

async fn put_due(db: &Db, user: &str, due_at: &str) -> Result<()> {
    db.put_item()
        .set_item(Some(to_item(
            &keys::email_due(user, due_at),
            &DueRow {
                user_id: user,
                due_at,
            },
        )?))
        .send()
        .await
        .map_err(sdk)?;
    Ok(())
}

/// One user whose email is due.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Due {
    pub user_id: String,
    pub due_at: String,
}

/// Everything due up to `upto` in one shard, oldest first (one Query a page).
pub async fn due(db: &Db, shard: u32, upto: &str) -> Result<Vec<Due>> {
    db.read_all(
        db.query()
            .key_condition_expression("PK = :pk AND SK <= :upto")
            .expression_attribute_values(":pk", s(keys::email_due_pk(shard)))
            .expression_attribute_values(":upto", s(format!("{upto}~"))),
    )
    .await
}

/// The state of a user's email that a claim answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The queued counter when the claim was taken: the send commits only if it is unchanged.
    pub queued: i64,
    pub last_sent_at: Option<String>,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    Taken(Claimed),
    /// Another run holds it, or this due row is stale (the user's email is due at another time).
    NotMine,
}

/// Claims a user's due email until `lease_until` (one UpdateItem): only while it is due at
/// `due_at` and no other run holds an unexpired claim.
pub async fn claim(db: &Db, due: &Due, now: &str, lease_until: &str) -> Result<Claim> {
    let out = db
        .update_item(&keys::email_state(&due.user_id))
        .update_expression("SET lease_until = :lease")
        .condition_expression(
            "due_at = :due AND (attribute_not_exists(lease_until) OR lease_until < :now)",
        )
        .expression_attribute_values(":lease", s(lease_until))
        .expression_attribute_values(":due", s(&due.due_at))
        .expression_attribute_values(":now", s(now))
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    match out {
        Ok(out) => {
            let a = out.attributes.unwrap_or_default();
            Ok(Claim::Taken(Claimed {
                queued: attr_n(&a, "queued").unwrap_or(0),
                last_sent_at: attr_s(&a, "last_sent_at"),
            }))
        }
        Err(e) if is_condition_failed(&e) => Ok(Claim::NotMine),
        Err(e) => Err(sdk(e)),
    }
}

/// Whether a user's email is still due at `due_at` (a stale due row is one that is not).
pub async fn is_due_at(db: &Db, user: &str, due_at: &str) -> Result<bool> {
    let state: Option<Item> = db
        .get_item(&keys::email_state(user))
        .send()
        .await
        .map_err(sdk)?
        .item;
    Ok(state.and_then(|i| attr_s(&i, "due_at")).as_deref() == Some(due_at))
}

/// Removes a due row that no longer matches its user's state.
pub async fn drop_due(db: &Db, due: &Due) -> Result<()> {
    db.delete_item(&keys::email_due(&due.user_id, &due.due_at))
        .send()
        .await
        .map_err(sdk)?;
    Ok(())
}

/// The notifications queued for a user and not sent yet (one Query a page).
pub async fn queued(db: &Db, user: &str) -> Result<Vec<Notification>> {
    let rows: Vec<Queued> = db
        .read_all(
            db.query()
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                .filter_expression("attribute_not_exists(sent_at)")
                .expression_attribute_values(":pk", s(keys::user_pk(user)))
                .expression_attribute_values(":prefix", s(keys::QUEUED_EMAIL_PREFIX))
                .consistent_read(true),
        )
        .await?;
    Ok(rows.into_iter().map(|q| q.notification).collect())
}

/// Marks queued notifications sent (or dropped), one UpdateItem each, a few in flight.
pub async fn mark_sent(db: &Db, user: &str, ids: &[String], at: &str) -> Result<()> {
    use futures::{StreamExt, TryStreamExt, stream};
    stream::iter(ids)
        .map(|id| async move {
            db.update_item(&keys::queued_email(user, id))
                .update_expression("SET sent_at = :at")
                .condition_expression("attribute_exists(PK)")
                .expression_attribute_values(":at", s(at))
                .send()
                .await
                .map(drop)
                .or_else(|e| {
                    if is_condition_failed(&e) {
                        Ok(())
                    } else {
                        Err(sdk(e))
                    }
                })
        })
        .buffer_unordered(8)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// How a claimed email ended.
pub enum Settle<'a> {
    /// Sent (or nothing to send) at `at`: nothing more is due unless something was queued
    /// since the claim, in which case the next email is due at `next_due`.
    Done {
        at: Option<&'a str>,
        next_due: &'a str,
    },
    /// Not sent now (SES refused for the time being, or the 10 minutes since the last email
    /// have not passed): due again at `due_at`.
    Later { due_at: &'a str },
}

/// Ends a claim (one transaction, or two when something was queued meanwhile): the state's
/// due time and claim, and the due rows.
pub async fn settle(db: &Db, due: &Due, claimed: &Claimed, how: Settle<'_>) -> Result<()> {
    let state = keys::email_state(&due.user_id);
    let old_row = keys::email_due(&due.user_id, &due.due_at);
    if let Settle::Done { at, .. } = how {
        let mut update = update_of(&state)
            .condition_expression("queued = :q")
            .expression_attribute_values(":q", n(claimed.queued));
        update = match at {
            Some(at) => update
                .update_expression("SET last_sent_at = :at REMOVE due_at, lease_until")
                .expression_attribute_values(":at", s(at)),
            None => update.update_expression("REMOVE due_at, lease_until"),
        };
        let mut tx = db.tx();
        tx.update(Some("queued"), update)?;
        tx.delete(None, delete_of(&old_row))?;
        match db.run(tx).await? {
            TxOutcome::Done => return Ok(()),
            TxOutcome::Refused(r) if r.by("queued") => {}
            TxOutcome::Refused(_) => return Err(Error::internal("email settle refused")),
        }
    }
    let (due_at, sent_at) = match how {
        Settle::Done { at, next_due } => (next_due, at),
        Settle::Later { due_at } => (due_at, None),
    };
    let mut update = String::from("SET due_at = :due");
    let mut values: HashMap<String, AttributeValue> = HashMap::from([(":due".into(), s(due_at))]);
    if let Some(at) = sent_at {
        update.push_str(", last_sent_at = :at");
        values.insert(":at".into(), s(at));
    }
    update.push_str(" REMOVE lease_until");
    let mut tx = db.tx();
    tx.update(
        None,
        update_of(&state)
            .update_expression(update)
            .set_expression_attribute_values(Some(values)),
    )?;
    if due_at != due.due_at {
        tx.delete(None, delete_of(&old_row))?;
        tx.put(to_item(
            &keys::email_due(&due.user_id, due_at),
            &DueRow {
                user_id: &due.user_id,
                due_at,
            },
        )?)?;
    }
    match db.run(tx).await? {
        TxOutcome::Done => Ok(()),
        TxOutcome::Refused(_) => Err(Error::internal("email reschedule refused")),
    }
}

/// Claims one digest of one period for a user (one PutItem); `false` when it was claimed
/// already (a retried or repeated run).
pub async fn claim_digest(db: &Db, user: &str, period: &str, now: i64) -> Result<bool> {
    let mut item = super::db::key_item(&keys::digest_claim(user, period));
    item.insert("claimed_at".into(), n(now));
    item.insert("ttl".into(), n(now + DIGEST_CLAIM_RETENTION_SECS));
    match db
        .put_item()
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(PK)")
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if is_condition_failed(&e) => Ok(false),
        Err(e) => Err(sdk(e)),
    }
}

/// Gives a digest claim back (the send failed before SES accepted it): the next run tries again.
pub async fn release_digest(db: &Db, user: &str, period: &str) -> Result<()> {
    db.delete_item(&keys::digest_claim(user, period))
        .send()
        .await
        .map_err(sdk)?;
    Ok(())
}

/// Whether a digest run finished a period for every subscriber (one GetItem): later runs of
/// the same period then read nothing else.
pub async fn digest_run_done(db: &Db, period: &str) -> Result<bool> {
    Ok(db
        .get_item(&keys::digest_run(period))
        .send()
        .await
        .map_err(sdk)?
        .item
        .is_some())
}

/// Records that a period's digests are all sent (or skipped).
pub async fn finish_digest_run(db: &Db, period: &str, sent: usize, now: i64) -> Result<()> {
    let mut item = super::db::key_item(&keys::digest_run(period));
    item.insert("sent".into(), n(sent));
    item.insert("finished_at".into(), n(now));
    item.insert("ttl".into(), n(now + DIGEST_CLAIM_RETENTION_SECS));
    db.put_item()
        .set_item(Some(item))
        .send()
        .await
        .map_err(sdk)?;
    Ok(())
}
