//! Push subscriptions as stored, in their user's partition (`USER#{user} / PUSH#{id}`).
//!
//! Every DynamoDB request of push lives here; every Web Push and SNS request lives in
//! [`super::pusher`].

use super::db::{Db, TxOutcome, delete_of, is_condition_failed, n, s, sdk, to_item};
use crate::error::{Error, Result};
use crate::keys;
use crate::model::push::PushSubscription;

/// A user's subscriptions, oldest first (one Query: a user has at most a handful).
pub async fn list(db: &Db, user_id: &str) -> Result<Vec<PushSubscription>> {
    db.read_all(
        db.query()
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(keys::user_pk(user_id)))
            .expression_attribute_values(":prefix", s(keys::PUSH_SUBSCRIPTION_PREFIX))
            .consistent_read(true),
    )
    .await
}

/// Stores a new subscription and removes `replaced` (the user's oldest, past the limit) in one
/// transaction: the user never holds more than the limit, and a retry of a refused write stores
/// nothing twice (the new id must not exist).
pub async fn insert(
    db: &Db,
    subscription: &PushSubscription,
    replaced: &[PushSubscription],
) -> Result<()> {
    let mut tx = db.tx();
    tx.put_new(
        "subscription",
        to_item(
            &keys::push_subscription(&subscription.user_id, &subscription.id),
            subscription,
        )?,
    )?;
    for old in replaced {
        tx.delete(
            None,
            delete_of(&keys::push_subscription(&old.user_id, &old.id)),
        )?;
    }
    match db.run(tx).await? {
        TxOutcome::Done => Ok(()),
        TxOutcome::Refused(_) => Err(Error::Conflict("a subscription with this id exists".into())),
    }
}

/// Removes one subscription (one DeleteItem; answers the removed row, `None` if it was not there).
pub async fn delete(db: &Db, user_id: &str, id: &str) -> Result<Option<PushSubscription>> {
    let out = db
        .delete_item(&keys::push_subscription(user_id, id))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
        .send()
        .await
        .map_err(sdk)?;
    out.attributes
        .filter(|a| !a.is_empty())
        .map(super::db::from_item)
        .transpose()
}

/// How long a [`claim_pushed`] marker is kept: longer than a notification job is retried.
const PUSHED_RETENTION_SECS: i64 = 24 * 3600;

/// Claims the push of a notification that has no notification row (its recipient gets its type
/// by push only): one conditional PutItem; `true` the first time, `false` when a retried job
/// claimed it already.
pub async fn claim_pushed(db: &Db, user_id: &str, notification_id: &str, now: i64) -> Result<bool> {
    let key = keys::pushed(user_id, notification_id);
    let put = db
        .put_item()
        .item("PK", s(&key.pk))
        .item("SK", s(&key.sk))
        .item("ttl", n(now + PUSHED_RETENTION_SECS))
        .condition_expression("attribute_not_exists(PK)")
        .send()
        .await;
    match put {
        Ok(_) => Ok(true),
        Err(e) if is_condition_failed(&e) => Ok(false),
        Err(e) => Err(sdk(e)),
    }
}
