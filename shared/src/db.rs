//! DynamoDB access: the table handle, item (de)serialization through serde_dynamo, and the
//! classification of failures (conditional checks, transaction conflicts) by type, not by text.

use crate::error::{Error, Result};
use crate::keys::Key;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, TransactWriteItem};
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

    /// Runs a TransactWriteItems, retrying transaction conflicts; reports failed conditions.
    pub async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<WriteOutcome> {
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
