//! Watching and muting communities, notification preferences and digest subscribers, and the
//! per-user rate-limit windows.

use super::db::{Db, TxOutcome, delete_of, from_item, n, owned_by, s, sdk, to_item, update_of};
use crate::error::Result;
use crate::keys;
use crate::model::notification::{Digest, DigestSubscriber, State, WatchRow};

pub async fn watch(db: &Db, community_id: &str, user_id: &str) -> Result<Option<WatchRow>> {
    db.get(&keys::watch(community_id, user_id)).await
}

/// Sets an explicit watch or mute (one PutItem; idempotent).
pub async fn put_watch(db: &Db, row: &WatchRow) -> Result<()> {
    db.put_item()
        .set_item(Some(owned_by(
            to_item(&keys::watch(&row.community_id, &row.user_id), row)?,
            &row.user_id,
        )))
        .send()
        .await
        .map_err(sdk)?;
    Ok(())
}

/// Every explicit watch and mute of a community (one Query per 1 MB page).
pub async fn watch_rows(db: &Db, community_id: &str) -> Result<Vec<WatchRow>> {
    db.read_all(
        db.query()
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(keys::watch_pk(community_id))),
    )
    .await
}

/// Counts one attempt in a fixed window; `false` when the window is full (nothing counted).
pub async fn count_attempt(
    db: &Db,
    user_id: &str,
    action: &str,
    window_start: i64,
    window_secs: i64,
    max: u32,
) -> Result<bool> {
    let out = db
        .update_item(&keys::rate_window(user_id, action, window_start))
        .update_expression("ADD #c :one SET #t = :ttl")
        .condition_expression("attribute_not_exists(#c) OR #c < :max")
        .expression_attribute_names("#c", "count")
        .expression_attribute_names("#t", "ttl")
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":max", n(max))
        .expression_attribute_values(":ttl", n(window_start + window_secs * 2))
        .send()
        .await;
    match out {
        Ok(_) => Ok(true),
        Err(e) if super::db::is_condition_failed(&e) => Ok(false),
        Err(e) => Err(sdk(e)),
    }
}

/// Stores a user's preferences (one TransactWriteItems): the lists on the state item, leaving
/// its counter, and the user's row among the digest subscribers moved when the frequency
/// changed.
pub async fn set_preferences(
    db: &Db,
    user_id: &str,
    state: &State,
    previous_digest: Digest,
) -> Result<()> {
    let mut tx = db.tx();
    tx.update(
        None,
        update_of(&keys::notification_state(user_id))
            .update_expression("SET disabled_types = :d, choices = :c, digest = :g, user_id = :u")
            .expression_attribute_values(
                ":d",
                serde_dynamo::to_attribute_value(&state.disabled_types)?,
            )
            .expression_attribute_values(":c", serde_dynamo::to_attribute_value(&state.choices)?)
            .expression_attribute_values(":g", s(state.digest.as_str()))
            .expression_attribute_values(":u", s(user_id)),
    )?;
    if previous_digest != state.digest {
        if previous_digest != Digest::Off {
            tx.delete(
                None,
                delete_of(&keys::digest_subscriber(previous_digest.as_str(), user_id)),
            )?;
        }
        if state.digest != Digest::Off {
            let row = DigestSubscriber {
                user_id: user_id.to_string(),
            };
            tx.put(owned_by(
                to_item(
                    &keys::digest_subscriber(state.digest.as_str(), user_id),
                    &row,
                )?,
                user_id,
            ))?;
        }
    }
    match db.run(tx).await? {
        TxOutcome::Done => Ok(()),
        TxOutcome::Refused(_) => Err(crate::error::Error::internal(
            "preferences refused without a condition",
        )),
    }
}

/// One page of the users who want a digest of `frequency` (one Query of 1 MB at most).
pub async fn digest_subscribers(
    db: &Db,
    frequency: Digest,
    start: Option<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>,
) -> Result<(
    Vec<String>,
    Option<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>,
)> {
    let out = db
        .query()
        .key_condition_expression("PK = :pk")
        .expression_attribute_values(":pk", s(keys::digest_subscribers_pk(frequency.as_str())))
        .set_exclusive_start_key(start)
        .send()
        .await
        .map_err(sdk)?;
    let users = out
        .items
        .unwrap_or_default()
        .into_iter()
        .map(from_item::<DigestSubscriber>)
        .map(|r| r.map(|r| r.user_id))
        .collect::<Result<Vec<_>>>()?;
    Ok((users, out.last_evaluated_key))
}
