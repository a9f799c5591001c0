//! The DynamoDB adapter under every store: the table handle, request builders bound to the
//! table, item (de)serialization through serde_dynamo, transactions whose conditions are named,
//! paginated reads, and the classification of failures by type, not by text.

use crate::error::{Error, Result};
use crate::keys::Key;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, TransactWriteItem, Update,
};
use serde::{Serialize, de::DeserializeOwned};
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct Db {
    pub client: Client,
    pub table: String,
}

/// What a transaction or conditional write ran into.
#[derive(Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    Done,
    /// A condition did not hold; `reasons[i]` is the code for the i-th action (`None` = fine).
    ConditionFailed(Vec<Option<String>>),
}

/// A TransactWriteItems under construction. Every action that carries a condition is named, so a
/// cancelled transaction answers which rules failed whatever the order of its actions.
pub struct Tx {
    table: String,
    actions: Vec<(TransactWriteItem, Option<&'static str>)>,
}

/// How a transaction ended: written, or refused by the named conditions.
#[derive(Debug, PartialEq, Eq)]
pub enum TxOutcome {
    Done,
    Refused(Refused),
}

/// The conditions that failed in a cancelled transaction: each by its name and its ordinal
/// among the actions of that name (the third `"unread"` flip is `("unread", 2)`).
#[derive(Debug, PartialEq, Eq)]
pub struct Refused(Vec<(&'static str, usize)>);

impl Refused {
    pub fn by(&self, condition: &str) -> bool {
        self.0.iter().any(|(name, _)| *name == condition)
    }

    /// Which of the actions named `condition` failed, by their ordinal in the order they were
    /// added: for a transaction that repeats one rule over many items.
    pub fn ordinals(&self, condition: &str) -> Vec<usize> {
        self.0
            .iter()
            .filter(|(name, _)| *name == condition)
            .map(|(_, i)| *i)
            .collect()
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|(name, _)| *name).collect()
    }
}

impl Tx {
    fn push(&mut self, name: Option<&'static str>, action: TransactWriteItem) -> &mut Self {
        self.actions.push((action, name));
        self
    }

    /// A Put without a condition.
    pub fn put(&mut self, item: Item) -> Result<&mut Self> {
        self.put_with(None, Put::builder().set_item(Some(item)))
    }

    /// A Put of an item that must not exist yet; `name` is the rule that fails otherwise.
    pub fn put_new(&mut self, name: &'static str, item: Item) -> Result<&mut Self> {
        self.put_with(
            Some(name),
            Put::builder()
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK)"),
        )
    }

    /// A check that an item exists, named after the rule it proves.
    pub fn require_exists(&mut self, name: &'static str, key: &Key) -> Result<&mut Self> {
        self.check(
            name,
            check_of(key).condition_expression("attribute_exists(PK)"),
        )
    }

    /// A Put built by the caller (its table is set here); named if it carries a condition.
    pub fn put_with(
        &mut self,
        name: Option<&'static str>,
        put: aws_sdk_dynamodb::types::builders::PutBuilder,
    ) -> Result<&mut Self> {
        let put = put
            .table_name(&self.table)
            .build()
            .map_err(Error::internal)?;
        Ok(self.push(name, TransactWriteItem::builder().put(put).build()))
    }

    /// An Update built by the caller (its table is set here); named if it carries a condition.
    pub fn update(
        &mut self,
        name: Option<&'static str>,
        update: aws_sdk_dynamodb::types::builders::UpdateBuilder,
    ) -> Result<&mut Self> {
        let update = update
            .table_name(&self.table)
            .build()
            .map_err(Error::internal)?;
        Ok(self.push(name, TransactWriteItem::builder().update(update).build()))
    }

    /// A Delete built by the caller (its table is set here); named if it carries a condition.
    pub fn delete(
        &mut self,
        name: Option<&'static str>,
        delete: aws_sdk_dynamodb::types::builders::DeleteBuilder,
    ) -> Result<&mut Self> {
        let delete = delete
            .table_name(&self.table)
            .build()
            .map_err(Error::internal)?;
        Ok(self.push(name, TransactWriteItem::builder().delete(delete).build()))
    }

    /// A ConditionCheck built by the caller (its table is set here), named after its rule.
    pub fn check(
        &mut self,
        name: &'static str,
        check: aws_sdk_dynamodb::types::builders::ConditionCheckBuilder,
    ) -> Result<&mut Self> {
        let check = check
            .table_name(&self.table)
            .build()
            .map_err(Error::internal)?;
        Ok(self.push(
            Some(name),
            TransactWriteItem::builder().condition_check(check).build(),
        ))
    }
}

/// An Update of one item's key, for [`Tx::update`].
pub fn update_of(key: &Key) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
    Update::builder().set_key(Some(key_item(key)))
}

/// A Delete of one item's key, for [`Tx::delete`].
pub fn delete_of(key: &Key) -> aws_sdk_dynamodb::types::builders::DeleteBuilder {
    Delete::builder().set_key(Some(key_item(key)))
}

/// A ConditionCheck of one item's key, for [`Tx::check`].
pub fn check_of(key: &Key) -> aws_sdk_dynamodb::types::builders::ConditionCheckBuilder {
    ConditionCheck::builder().set_key(Some(key_item(key)))
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn key_item(k: &Key) -> Item {
    HashMap::from([("PK".into(), s(&k.pk)), ("SK".into(), s(&k.sk))])
}

/// Serializes a record and adds its primary key (and any index keys).
pub fn to_item<T: Serialize>(key: &Key, value: &T) -> Result<Item> {
    let mut item: Item = serde_dynamo::to_item(value)?;
    item.insert("PK".into(), s(&key.pk));
    item.insert("SK".into(), s(&key.sk));
    Ok(item)
}

pub fn with_gsi(mut item: Item, index: &str, k: &Key) -> Item {
    item.insert(format!("{index}PK"), s(&k.pk));
    item.insert(format!("{index}SK"), s(&k.sk));
    item
}

/// Adds the owner index entry (GSI3, `keys::owner_entry`) of a user to an item that names them
/// outside their own partitions: export and erasure find it there.
pub fn owned_by(item: Item, user_id: &str) -> Item {
    let (Some(pk), Some(sk)) = (attr_s(&item, "PK"), attr_s(&item, "SK")) else {
        return item;
    };
    let entry = crate::keys::owner_entry(user_id, &Key { pk, sk });
    with_gsi(item, crate::keys::GSI3, &entry)
}

pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T> {
    Ok(serde_dynamo::from_item(item)?)
}

/// Any SDK failure that is not a domain outcome becomes a 500 (logged, not shown).
pub fn sdk<E: std::error::Error + 'static, R: std::fmt::Debug>(e: SdkError<E, R>) -> Error {
    Error::internal(format!(
        "dynamodb: {}",
        aws_smithy_types::error::display::DisplayErrorContext(&e)
    ))
}

impl Db {
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_string(),
        }
    }

    /// A transaction on this table.
    pub fn tx(&self) -> Tx {
        Tx {
            table: self.table.clone(),
            actions: Vec::new(),
        }
    }

    /// A Query of this table (key condition, index and options still to set).
    pub fn query(&self) -> QueryFluentBuilder {
        self.client.query().table_name(&self.table)
    }

    /// A GetItem of one item of this table (projection and consistency still to set).
    pub fn get_item(
        &self,
        key: &Key,
    ) -> aws_sdk_dynamodb::operation::get_item::builders::GetItemFluentBuilder {
        self.client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
    }

    /// A PutItem on this table.
    pub fn put_item(
        &self,
    ) -> aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder {
        self.client.put_item().table_name(&self.table)
    }

    /// An UpdateItem of one item of this table.
    pub fn update_item(
        &self,
        key: &Key,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
    }

    /// A DeleteItem of one item of this table.
    pub fn delete_item(
        &self,
        key: &Key,
    ) -> aws_sdk_dynamodb::operation::delete_item::builders::DeleteItemFluentBuilder {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
    }

    /// Every item a Query matches, following its pages (the SDK's paginator), as records.
    pub async fn read_all<T: DeserializeOwned>(&self, query: QueryFluentBuilder) -> Result<Vec<T>> {
        self.read_all_items(query)
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// Every item a Query matches, following its pages, as items (a partition holding records of
    /// several kinds, or a projection).
    pub async fn read_all_items(&self, query: QueryFluentBuilder) -> Result<Vec<Item>> {
        query
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(sdk)
    }

    /// One page of a listing: runs `query` (its key condition and index already set) with the
    /// page's limit and decoded cursor, maps the items to records and signs the next cursor.
    pub async fn page<T: DeserializeOwned>(
        &self,
        cursors: &crate::cursor::Cursors,
        scope: &str,
        page: &crate::cursor::PageParams,
        query: QueryFluentBuilder,
    ) -> Result<crate::cursor::Page<T>> {
        let start = page
            .cursor
            .as_deref()
            .map(|c| cursors.decode(scope, c))
            .transpose()?;
        let out = query
            .limit(page.limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk)?;
        let results = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<Result<Vec<T>>>()?;
        Ok(crate::cursor::Page {
            results,
            next: out.last_evaluated_key.map(|k| cursors.encode(scope, &k)),
        })
    }

    /// Runs a transaction, retrying transaction conflicts; answers the named conditions that
    /// refused it. A refusal by an unnamed action is a bug, reported as an internal error.
    pub async fn run(&self, tx: Tx) -> Result<TxOutcome> {
        let (items, names): (Vec<_>, Vec<_>) = tx.actions.into_iter().unzip();
        match self.transact(items).await? {
            WriteOutcome::Done => Ok(TxOutcome::Done),
            WriteOutcome::ConditionFailed(reasons) => {
                let mut failed = Vec::new();
                let mut seen: HashMap<&'static str, usize> = HashMap::new();
                for (reason, name) in reasons.iter().zip(&names) {
                    let ordinal = name.map(|n| {
                        let next = seen.entry(n).or_insert(0);
                        *next += 1;
                        *next - 1
                    });
                    match (reason.as_deref(), name) {
                        (Some("ConditionalCheckFailed"), Some(name)) => {
                            failed.push((*name, ordinal.unwrap_or(0)))
                        }
                        (Some("ConditionalCheckFailed"), None) => {
                            return Err(Error::internal(
                                "transaction refused by an action without a condition",
                            ));
                        }
                        _ => {}
                    }
                }
                Ok(TxOutcome::Refused(Refused(failed)))
            }
        }
    }

    /// Strongly consistent GetItem of one record.
    pub async fn get<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<T>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        out.item.map(from_item).transpose()
    }

    /// One BatchGetItem (strongly consistent) for up to 100 keys; answers in the order asked.
    pub async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut found: HashMap<(String, String), Item> = HashMap::new();
        let mut pending: Vec<Item> = keys.iter().map(key_item).collect();
        let mut attempt = 0u32;
        while !pending.is_empty() {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()
                .map_err(Error::internal)?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(sdk)?;
            for item in out
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default()
            {
                let pk = attr_s(&item, "PK").unwrap_or_default();
                let sk = attr_s(&item, "SK").unwrap_or_default();
                found.insert((pk, sk), item);
            }
            if let Some(left) = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                pending = left.keys;
                attempt += 1;
                backoff(attempt).await;
            }
        }
        Ok(keys
            .iter()
            .map(|k| found.remove(&(k.pk.clone(), k.sk.clone())))
            .collect())
    }

    /// Runs a TransactWriteItems, retrying transaction conflicts; reports failed conditions by
    /// position. Stores use [`Db::run`], which names them.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<WriteOutcome> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        let mut attempt = 0u32;
        loop {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(WriteOutcome::Done),
                Err(SdkError::ServiceError(e)) => match e.err() {
                    TransactWriteItemsError::TransactionCanceledException(c) => {
                        let reasons: Vec<Option<String>> = c
                            .cancellation_reasons()
                            .iter()
                            .map(|r| r.code().filter(|c| *c != "None").map(str::to_string))
                            .collect();
                        let conflict = reasons
                            .iter()
                            .flatten()
                            .any(|c| c == "TransactionConflict" || c == "ThrottlingError");
                        let condition = reasons
                            .iter()
                            .flatten()
                            .any(|c| c == "ConditionalCheckFailed");
                        if condition {
                            return Ok(WriteOutcome::ConditionFailed(reasons));
                        }
                        if conflict && attempt < 8 {
                            attempt += 1;
                            backoff(attempt).await;
                            continue;
                        }
                        return Err(Error::internal(format!(
                            "transaction cancelled: {reasons:?}"
                        )));
                    }
                    TransactWriteItemsError::TransactionInProgressException(_) if attempt < 8 => {
                        attempt += 1;
                        backoff(attempt).await;
                    }
                    _ => return Err(sdk(SdkError::ServiceError(e))),
                },
                Err(e) => return Err(sdk(e)),
            }
        }
    }
}

/// Reads a string attribute.
pub fn attr_s(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// Reads a number attribute.
pub fn attr_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
}

/// Exponential backoff with full jitter, capped at about 1 s.
pub async fn backoff(attempt: u32) {
    let cap_ms = (10u64 << attempt.min(7)).min(1000);
    let jitter = u64::from(rand_u32()) % cap_ms.max(1);
    tokio::time::sleep(std::time::Duration::from_millis(jitter + 1)).await;
}

fn rand_u32() -> u32 {
    // Jitter only: a ULID's random bits are a fine source.
    (ulid::Ulid::generate().random() & 0xffff_ffff) as u32
}

/// Whether a single-item write failed its condition (a domain outcome, not an error).
pub fn is_condition_failed<E, R>(e: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    matches!(e, SdkError::ServiceError(se) if se.err().code() == Some("ConditionalCheckFailedException"))
}
