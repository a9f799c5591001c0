//! The search index's requests: postings written and removed in batches by the indexer, one
//! bounded Query per query term, and the documents of the best candidates read back in one
//! BatchGetItem.

use crate::db::{Db, Item, attr_n, attr_s, backoff, s, sdk};
use crate::error::{Error, Result};
use crate::keys::{self, Key};
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};
use std::collections::HashMap;

/// Items of one BatchWriteItem.
const WRITE_BATCH: usize = 25;

/// `doc_type` of a posting: what the document is.
pub const POST: &str = "post";
pub const MESSAGE: &str = "message";

/// One posting as written and read.
#[derive(Debug, Clone, PartialEq)]
pub struct Posting {
    pub stem: String,
    pub doc_id: String,
    pub doc_type: &'static str,
    pub tf: u32,
    pub words: Vec<String>,
    /// The thread's root of a reply (its audience is the root's).
    pub root_id: Option<String>,
}

impl Posting {
    fn item(&self, community_id: &str) -> Item {
        let k = keys::search_posting(community_id, &self.stem, &self.doc_id);
        let mut item: Item = HashMap::from([
            ("PK".into(), s(k.pk)),
            ("SK".into(), s(k.sk)),
            ("entity".into(), s("search_posting")),
            ("stem".into(), s(&self.stem)),
            ("doc_id".into(), s(&self.doc_id)),
            ("doc_type".into(), s(self.doc_type)),
            ("tf".into(), AttributeValue::N(self.tf.to_string())),
            (
                "words".into(),
                AttributeValue::L(self.words.iter().map(s).collect()),
            ),
        ]);
        if let Some(root) = &self.root_id {
            item.insert("root_id".into(), s(root));
        }
        item
    }

    fn from_item(item: &Item) -> Option<Self> {
        Some(Self {
            stem: attr_s(item, "stem")?,
            doc_id: attr_s(item, "doc_id")?,
            doc_type: match attr_s(item, "doc_type")?.as_str() {
                POST => POST,
                MESSAGE => MESSAGE,
                _ => return None,
            },
            tf: u32::try_from(attr_n(item, "tf")?).ok()?,
            words: item
                .get("words")
                .and_then(|v| v.as_l().ok())
                .map(|l| l.iter().filter_map(|w| w.as_s().ok().cloned()).collect())
                .unwrap_or_default(),
            root_id: attr_s(item, "root_id"),
        })
    }
}

/// Writes `puts` and removes the postings of `removed` stems of one document, 25 a
/// BatchWriteItem, unprocessed items retried with backoff. Idempotent: a replayed stream
/// record writes the same items again.
pub async fn write(
    db: &Db,
    community_id: &str,
    doc_id: &str,
    puts: &[Posting],
    removed: &[String],
) -> Result<usize> {
    let requests: Vec<WriteRequest> = puts
        .iter()
        .map(|p| {
            PutRequest::builder()
                .set_item(Some(p.item(community_id)))
                .build()
                .map(|r| WriteRequest::builder().put_request(r).build())
        })
        .chain(removed.iter().map(|stem| {
            let k = keys::search_posting(community_id, stem, doc_id);
            DeleteRequest::builder()
                .set_key(Some(crate::db::key_item(&k)))
                .build()
                .map(|r| WriteRequest::builder().delete_request(r).build())
        }))
        .collect::<std::result::Result<_, _>>()
        .map_err(Error::internal)?;
    let mut calls = 0;
    for chunk in requests.chunks(WRITE_BATCH) {
        let mut pending = chunk.to_vec();
        let mut attempt = 0u32;
        while !pending.is_empty() {
            calls += 1;
            let out = db
                .client
                .batch_write_item()
                .request_items(&db.table, std::mem::take(&mut pending))
                .send()
                .await
                .map_err(sdk)?;
            if let Some(left) = out.unprocessed_items.and_then(|mut u| u.remove(&db.table)) {
                pending = left;
                attempt += 1;
                backoff(attempt).await;
            }
        }
    }
    Ok(calls)
}

/// The postings of one stem, newest document first, at most `limit` (one Query).
pub async fn term(db: &Db, community_id: &str, stem: &str, limit: i32) -> Result<Vec<Posting>> {
    range(
        db,
        community_id,
        stem,
        &keys::search_term_prefix(stem),
        limit,
    )
    .await
}

/// The postings of every stem beginning with `prefix`, in stem order, at most `limit` (one
/// Query).
pub async fn prefix(db: &Db, community_id: &str, prefix: &str, limit: i32) -> Result<Vec<Posting>> {
    range(db, community_id, prefix, prefix, limit).await
}

async fn range(
    db: &Db,
    community_id: &str,
    shard_of: &str,
    sk_prefix: &str,
    limit: i32,
) -> Result<Vec<Posting>> {
    let out = db
        .query()
        .key_condition_expression("PK = :pk AND begins_with(SK, :p)")
        .expression_attribute_values(":pk", s(keys::search_pk(community_id, shard_of)))
        .expression_attribute_values(":p", s(sk_prefix))
        .scan_index_forward(false)
        .limit(limit)
        .send()
        .await
        .map_err(sdk)?;
    Ok(out
        .items
        .unwrap_or_default()
        .iter()
        .filter_map(Posting::from_item)
        .collect())
}

/// The items at `keys` (one BatchGetItem, at most 100), in the order asked.
pub async fn documents(db: &Db, keys: &[Key]) -> Result<Vec<Option<Item>>> {
    db.get_many(keys).await
}
