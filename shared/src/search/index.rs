//! Keeping the index true: each change of a post or chat message (a stream record with its old
//! and new image) becomes the postings to write and the postings to remove. Only what changed
//! is written, so a view counted or a reaction added costs nothing here, and a replayed record
//! writes the same items again.

use super::text::{self, Occurrence};
use crate::chat::Message;
use crate::db::Db;
use crate::error::Result;
use crate::posts::Post;
use crate::store::search::{self as store, MESSAGE, POST, Posting};
use std::collections::BTreeMap;

/// A document as the indexer sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Doc {
    Post(Box<Post>),
    Message(Box<Message>),
}

impl Doc {
    pub fn id(&self) -> &str {
        match self {
            Doc::Post(p) => &p.id,
            Doc::Message(m) => &m.id,
        }
    }

    pub fn community_id(&self) -> &str {
        match self {
            Doc::Post(p) => &p.community_id,
            Doc::Message(m) => &m.community_id,
        }
    }

    /// The stems of a document that can be found: nothing once it is deleted. Pending and
    /// rejected posts stay indexed for their authors and moderators; the result filter decides.
    pub fn terms(&self) -> BTreeMap<String, Occurrence> {
        match self {
            Doc::Post(p) if !p.is_deleted => text::terms(p.title.as_deref(), &p.content),
            Doc::Message(m) if !m.is_deleted => text::terms(None, &m.message),
            _ => BTreeMap::new(),
        }
    }

    fn posting(&self, stem: &str, o: &Occurrence) -> Posting {
        let (doc_type, root_id) = match self {
            Doc::Post(p) => (POST, p.parent_id.as_ref().map(|_| p.root_id.clone())),
            Doc::Message(_) => (MESSAGE, None),
        };
        Posting {
            stem: stem.to_string(),
            doc_id: self.id().to_string(),
            doc_type,
            tf: o.tf,
            words: o.words.clone(),
            root_id,
        }
    }
}

/// What one change wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reindexed {
    pub written: usize,
    pub removed: usize,
    /// BatchWriteItem calls made.
    pub requests: usize,
}

/// The postings to write and the stems to remove when a document goes from `old` to `new`
/// (either absent: created, or gone).
pub fn diff(old: Option<&Doc>, new: Option<&Doc>) -> (Vec<Posting>, Vec<String>) {
    let before = old.map(Doc::terms).unwrap_or_default();
    let after = new.map(Doc::terms).unwrap_or_default();
    let puts = match new {
        Some(doc) => after
            .iter()
            .filter(|(stem, o)| before.get(*stem) != Some(o))
            .map(|(stem, o)| doc.posting(stem, o))
            .collect(),
        None => Vec::new(),
    };
    let removed = before
        .keys()
        .filter(|stem| !after.contains_key(*stem))
        .cloned()
        .collect();
    (puts, removed)
}

/// Applies one change of one document to the index.
#[tracing::instrument(skip_all, fields(doc_id))]
pub async fn apply(db: &Db, old: Option<Doc>, new: Option<Doc>) -> Result<Reindexed> {
    let Some(doc) = new.as_ref().or(old.as_ref()) else {
        return Ok(Reindexed::default());
    };
    tracing::Span::current().record("doc_id", doc.id());
    let (puts, removed) = diff(old.as_ref(), new.as_ref());
    if puts.is_empty() && removed.is_empty() {
        return Ok(Reindexed::default());
    }
    let requests = store::write(db, doc.community_id(), doc.id(), &puts, &removed).await?;
    Ok(Reindexed {
        written: puts.len(),
        removed: removed.len(),
        requests,
    })
}
