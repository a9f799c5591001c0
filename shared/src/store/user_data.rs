//! Everything stored about one user, for the data rights (export and erasure): the user's own
//! partitions, their memberships, and the items that name them elsewhere, found through the
//! owner index (GSI3, `keys::owner_entry`). Every request of both lives here.

use super::db::{Db, Item, attr_s, is_condition_failed, s, sdk};
use crate::error::Result;
use crate::keys::{self, GSI1, GSI3, Key};
use futures::{StreamExt, TryStreamExt, stream};

/// Deletes (and updates) in flight at once.
const WRITES_IN_FLIGHT: usize = 8;

/// What an item of the owner index is, by the shape of its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owned {
    /// A post or reply the user wrote.
    Post,
    /// A moderator note the user wrote.
    Note,
    /// A flag the user raised.
    Flag,
    /// A chat message the user sent.
    Message,
    /// A direct message the user sent.
    DirectMessage,
    /// Another user's notification the user is the actor of.
    Notification,
    /// How far the user has read a community's chat.
    ReadPosition,
    /// The user's watch or mute of a community.
    Watch,
    /// The user's enrollment in a course's community.
    Enrollment,
    /// A notification job (or part) of an event the user caused: deleted (its stream record
    /// is a removal, which the notifier does not take).
    Job,
    /// An attachment the user uploaded: kept for the content that references it, out of the
    /// owner index after erasure.
    Attachment,
    /// A kind this version does not know (written by a newer one): left alone.
    Other,
}

impl Owned {
    pub fn of(key: &Key) -> Self {
        let (pk, sk) = (key.pk.as_str(), key.sk.as_str());
        if pk.starts_with("POST#") {
            return match sk {
                "META" => Self::Post,
                _ if sk.starts_with(keys::POST_NOTE_PREFIX) => Self::Note,
                _ if sk.starts_with(keys::POST_FLAG_PREFIX) => Self::Flag,
                _ => Self::Other,
            };
        }
        if pk.starts_with("NOTIFYJOB#") {
            return Self::Job;
        }
        if pk.starts_with("ATTACH#") {
            return Self::Attachment;
        }
        if pk.starts_with("CONV#") {
            return if sk.starts_with(keys::CHAT_MESSAGE_PREFIX) {
                Self::DirectMessage
            } else {
                Self::Other
            };
        }
        if !pk.starts_with("COMMUNITY#") && !pk.starts_with("USER#") {
            return Self::Other;
        }
        if pk.ends_with("#CHAT") && sk.starts_with(keys::CHAT_MESSAGE_PREFIX) {
            Self::Message
        } else if pk.starts_with("USER#") && pk.ends_with("#NOTIFS") {
            Self::Notification
        } else if pk.ends_with("#READ") {
            Self::ReadPosition
        } else if pk.ends_with("#WATCH") {
            Self::Watch
        } else if sk.starts_with(keys::ENROLLMENT_PREFIX) {
            Self::Enrollment
        } else {
            Self::Other
        }
    }

    /// The section of an export this kind goes to.
    pub fn section(self) -> &'static str {
        match self {
            Self::Post => "posts",
            Self::Note => "moderator_notes",
            Self::Flag => "flags",
            Self::Message => "chat_messages",
            Self::DirectMessage => "direct_messages",
            Self::Notification => "notifications_as_actor",
            Self::ReadPosition => "chat_read_positions",
            Self::Watch => "watch_settings",
            Self::Enrollment => "enrollments",
            Self::Job => "notification_jobs",
            Self::Attachment => "attachments",
            Self::Other => "other",
        }
    }

    /// The update that leaves the user's content in place under `name` and takes it out of
    /// the owner index; `None` for kinds that are deleted instead (or left alone).
    fn anonymize(self) -> Option<&'static str> {
        Some(match self {
            Self::Post => "SET author_name = :d REMOVE author_username, GSI3PK, GSI3SK",
            Self::Note => "SET author_name = :d REMOVE GSI3PK, GSI3SK",
            Self::Flag => "SET user_name = :d REMOVE GSI3PK, GSI3SK",
            Self::Message | Self::DirectMessage => {
                "SET sender_name = :d REMOVE sender_username, GSI3PK, GSI3SK"
            }
            Self::Notification => {
                "SET actor.#name = :d, title = :empty, message = :empty REMOVE GSI3PK, GSI3SK"
            }
            Self::Attachment => "REMOVE GSI3PK, GSI3SK",
            _ => return None,
        })
    }
}

fn key_of(item: &Item) -> Option<Key> {
    Some(Key {
        pk: attr_s(item, "PK")?,
        sk: attr_s(item, "SK")?,
    })
}

/// Keys of every item of the owner index of `user_id` (one Query per 1 MB page; keys only).
pub async fn owned_keys(db: &Db, user_id: &str) -> Result<Vec<Key>> {
    let items = db
        .read_all_items(
            db.query()
                .index_name(GSI3)
                .key_condition_expression("GSI3PK = :pk")
                .expression_attribute_values(":pk", s(keys::owner_pk(user_id))),
        )
        .await?;
    Ok(items.iter().filter_map(key_of).collect())
}

/// The items themselves (one BatchGetItem per 100 keys); those gone meanwhile are left out.
pub async fn items(db: &Db, keys: &[Key]) -> Result<Vec<Item>> {
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(100) {
        out.extend(db.get_many(chunk).await?.into_iter().flatten());
    }
    Ok(out)
}

/// Every item of one partition (one Query per 1 MB page).
pub async fn partition(db: &Db, pk: &str) -> Result<Vec<Item>> {
    db.read_all_items(
        db.query()
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(pk)),
    )
    .await
}

/// The user's memberships (GSI1 `USER#{id}#COMMUNITIES`, one Query per 1 MB page).
pub async fn memberships(db: &Db, user_id: &str) -> Result<Vec<Item>> {
    db.read_all_items(
        db.query()
            .index_name(GSI1)
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", s(keys::membership_by_user(user_id, "").pk)),
    )
    .await
}

/// Deletes items by key (one DeleteItem each, a few in flight); answers how many were asked.
pub async fn delete_all(db: &Db, keys: Vec<Key>) -> Result<usize> {
    let count = keys.len();
    stream::iter(keys)
        .map(|key| async move {
            db.delete_item(&key).send().await.map_err(sdk)?;
            Ok::<_, crate::Error>(())
        })
        .buffer_unordered(WRITES_IN_FLIGHT)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(count)
}

/// Erases one item of the owner index: the user's content stays under `name` (their username
/// removed), their settings and enrollments go. Answers whether anything was written; an item
/// gone meanwhile (or already anonymized by an earlier run) is not an error.
pub async fn erase_owned(db: &Db, key: &Key, name: &str) -> Result<bool> {
    let kind = Owned::of(key);
    match kind.anonymize() {
        Some(expression) => {
            let mut update = db
                .update_item(key)
                .update_expression(expression)
                .condition_expression("attribute_exists(PK)");
            if expression.contains(":d") {
                update = update.expression_attribute_values(":d", s(name));
            }
            if kind == Owned::Notification {
                update = update
                    .expression_attribute_names("#name", "name")
                    .expression_attribute_values(":empty", s(""));
            }
            match update.send().await {
                Ok(_) => Ok(true),
                Err(e) if is_condition_failed(&e) => Ok(false),
                Err(e) => Err(sdk(e)),
            }
        }
        None if kind == Owned::Other => Ok(false),
        None => {
            db.delete_item(key).send().await.map_err(sdk)?;
            Ok(true)
        }
    }
}

/// Removes a username claim if it is still this user's (a conditional DeleteItem); `false` if
/// it is gone or another user holds it now.
pub async fn release_username(db: &Db, username: &str, user_id: &str) -> Result<bool> {
    let out = db
        .delete_item(&keys::username(username))
        .condition_expression("user_id = :u")
        .expression_attribute_values(":u", s(user_id))
        .send()
        .await;
    match out {
        Ok(_) => Ok(true),
        Err(e) if is_condition_failed(&e) => Ok(false),
        Err(e) => Err(sdk(e)),
    }
}

/// The user's conversation member rows (GSI1 `USER#{id}#CONVS`, one Query per 1 MB page).
pub async fn conversation_rows(db: &Db, user_id: &str) -> Result<Vec<Item>> {
    db.read_all_items(
        db.query()
            .index_name(GSI1)
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", s(keys::conversation_by_user(user_id, "").pk)),
    )
    .await
}

/// Takes a user out of one conversation: their entry in its fixed member list is renamed
/// `name` (the others still see who wrote what, under that name), their member row (listing,
/// read position) is deleted, and for a pair, the pair claim (the other member may start a new
/// conversation with no one). Answers how many items were written; a re-run after a complete
/// one writes nothing.
pub async fn leave_conversation(
    db: &Db,
    conversation_id: &str,
    user_id: &str,
    name: &str,
) -> Result<usize> {
    let mut written = 0;
    let conversation: Option<crate::conversations::Conversation> =
        db.get(&keys::conversation(conversation_id)).await?;
    if let Some(c) = &conversation {
        if let Some(i) = c
            .members
            .iter()
            .position(|m| m.user_id == user_id && m.name != name)
        {
            let out = db
                .update_item(&keys::conversation(conversation_id))
                .update_expression(format!("SET members[{i}].#name = :d"))
                .condition_expression(format!("members[{i}].user_id = :u"))
                .expression_attribute_names("#name", "name")
                .expression_attribute_values(":d", s(name))
                .expression_attribute_values(":u", s(user_id))
                .send()
                .await;
            match out {
                Ok(_) => written += 1,
                // The list changed meanwhile (it never does: members are fixed) or the
                // conversation is gone: nothing of the user left to rename there.
                Err(e) if is_condition_failed(&e) => {}
                Err(e) => return Err(sdk(e)),
            }
        }
        if let [a, b] = c.members.as_slice() {
            let pair = keys::conversation_pair(&a.user_id, &b.user_id);
            if db
                .delete_item(&pair)
                .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
                .send()
                .await
                .map_err(sdk)?
                .attributes
                .is_some()
            {
                written += 1;
            }
        }
    }
    let row = db
        .delete_item(&keys::conversation_member(conversation_id, user_id))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
        .send()
        .await
        .map_err(sdk)?;
    written += usize::from(row.attributes.is_some());
    Ok(written)
}

/// The keys of items, for [`delete_all`].
pub fn keys_of(items: &[Item]) -> Vec<Key> {
    items.iter().filter_map(key_of).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_items_are_known_by_the_shape_of_their_keys() {
        let cases = [
            (keys::post("p1"), Owned::Post),
            (keys::post_note("p1", "n1"), Owned::Note),
            (keys::post_flag("p1", "u1"), Owned::Flag),
            (keys::post_edit("p1", 1), Owned::Other),
            (keys::chat_message("c1", "m1"), Owned::Message),
            (
                keys::Room::Conversation("v1").message("m1"),
                Owned::DirectMessage,
            ),
            (keys::conversation("v1"), Owned::Other),
            (keys::notification("u2", "n1"), Owned::Notification),
            (keys::chat_read_position("c1", "u1"), Owned::ReadPosition),
            (keys::watch("c1", "u1"), Owned::Watch),
            (keys::enrollment("c1", "u1"), Owned::Enrollment),
            (keys::member("c1", "u1"), Owned::Other),
            (keys::notification_job("j1"), Owned::Job),
            (keys::notification_job_part("j1", 2), Owned::Job),
            (keys::chat_client_id("c1", "u1", "x"), Owned::Other),
        ];
        for (key, kind) in cases {
            assert_eq!(Owned::of(&key), kind, "{key:?}");
        }
    }
}
