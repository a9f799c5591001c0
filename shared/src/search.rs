//! Search in a community's posts and chat: an inverted index in the table, kept by the indexer
//! from the table's stream ([`index`]), read with one bounded Query per query word, ranked
//! (BM25-style: rare words weigh more, titles more than bodies), and filtered on the live
//! records by the one visibility rule ([`visibility::readable`]).
//!
//! Cost of one search, whatever the community's size: the guard's BatchGetItem, at most
//! [`text::MAX_QUERY_TERMS`] Queries of at most [`POSTINGS_PER_TERM`] postings each, and at most
//! [`MAX_DOCUMENT_READS`] BatchGetItems of candidate documents.

pub mod index;
pub mod text;
pub mod visibility;

use crate::access::{Access, Action};
use crate::auth::Principal;
use crate::chat::Message;
use crate::cursor::{Cursors, Page, PageParams};
use crate::db::{Db, Item, from_item, s};
use crate::error::{Error, Result};
use crate::keys::{self, Key};
use crate::posts::Post;
use crate::store::search::{self as store, MESSAGE, POST, Posting};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use text::QueryTerm;
use visibility::Found;

/// Longest query, in characters.
pub const MAX_QUERY: usize = 200;
/// Postings read per query word (one Query page): the newest documents holding a word, or the
/// first stems beginning with the last word. Beyond it, a very common word narrows nothing.
pub const POSTINGS_PER_TERM: i32 = 1000;
/// BatchGetItems of candidate documents per page of results.
pub const MAX_DOCUMENT_READS: usize = 3;
/// Candidates read per BatchGetItem (replies read their thread's root beside them).
const DOCUMENTS_PER_READ: usize = 50;
const K1: f64 = 1.2;

/// What to search for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocType {
    Post,
    Message,
}

impl DocType {
    pub fn parse(raw: &str) -> Result<Self> {
        match raw {
            "post" => Ok(DocType::Post),
            "message" => Ok(DocType::Message),
            _ => Err(Error::validation("type", "must be post or message")),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            DocType::Post => POST,
            DocType::Message => MESSAGE,
        }
    }
}

/// A search as asked (`GET search/`), not yet checked beyond the community id.
#[derive(Debug, Clone)]
pub struct SearchQuery {
    pub community_id: String,
    pub q: Option<String>,
    pub doc_type: Option<String>,
    pub page: PageParams,
}

/// One result.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Hit {
    #[serde(rename = "type")]
    pub doc_type: &'static str,
    pub id: String,
    pub community_id: String,
    /// The post's title (top-level posts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The thread a reply belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_id: Option<String>,
    pub snippet: String,
    pub created_at: String,
    pub score: f64,
}

/// A candidate before its document is read.
#[derive(Debug, Clone)]
struct Candidate {
    doc_id: String,
    doc_type: &'static str,
    root_id: Option<String>,
    score: f64,
}

/// Searches a community: the caller's access first (404/403 as for any read), then the query
/// (422 when empty, over [`MAX_QUERY`] characters, or without a searchable word).
#[tracing::instrument(skip_all, fields(community_id = %query.community_id, user_id = %caller.user_id))]
pub async fn search(
    db: &Db,
    cursors: &Cursors,
    now: DateTime<Utc>,
    caller: &Principal,
    query: SearchQuery,
) -> Result<Page<Hit>> {
    let access = Access::load(db, caller, &query.community_id, now).await?;
    access.require(Action::Read)?;
    let q = query.q.as_deref().map(str::trim_start).unwrap_or_default();
    if q.trim().is_empty() {
        return Err(Error::validation("q", "is required"));
    }
    if q.chars().count() > MAX_QUERY {
        return Err(Error::validation(
            "q",
            format!("must be at most {MAX_QUERY} characters"),
        ));
    }
    let doc_type = query.doc_type.as_deref().map(DocType::parse).transpose()?;
    let terms = text::query_terms(q);
    if terms.is_empty() {
        return Err(Error::validation("q", "has no word to search for"));
    }
    let scope = format!(
        "search:{}:{}:{}",
        query.community_id,
        doc_type.map(DocType::as_str).unwrap_or("all"),
        q
    );
    let offset = match query.page.cursor.as_deref() {
        Some(c) => cursors
            .decode(&scope, c)?
            .get("offset")
            .and_then(|v| v.as_s().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .ok_or_else(|| Error::BadRequest("cursor is invalid".into()))?,
        None => 0,
    };
    let postings = futures::future::try_join_all(
        terms
            .iter()
            .map(|t| term_postings(db, &query.community_id, t)),
    )
    .await?;
    let ranked = rank(&postings, doc_type, access.community.post_count);
    let (results, reached) =
        visible_page(db, &access, &ranked, offset, &terms, query.page.limit).await?;
    let next = (reached < ranked.len()).then(|| {
        cursors.encode(
            &scope,
            &Item::from([("offset".to_string(), s(reached.to_string()))]),
        )
    });
    Ok(Page { results, next })
}

/// The postings matching one query term (one Query).
async fn term_postings(db: &Db, community_id: &str, term: &QueryTerm) -> Result<Vec<Posting>> {
    match term {
        QueryTerm::Exact { stem } => store::term(db, community_id, stem, POSTINGS_PER_TERM).await,
        QueryTerm::Prefix { word } => {
            let key = text::prefix_key(word);
            if key.chars().count() < text::MIN_WORD {
                return Ok(Vec::new());
            }
            Ok(store::prefix(db, community_id, &key, POSTINGS_PER_TERM)
                .await?
                .into_iter()
                .filter(|p| text::prefix_matches(word, &p.stem, &p.words))
                .collect())
        }
    }
}

/// Documents holding every query term, best first (ties: newest first). Each term weighs its
/// inverse document frequency times a saturating function of its frequency in the document.
fn rank(postings: &[Vec<Posting>], doc_type: Option<DocType>, post_count: i64) -> Vec<Candidate> {
    let mut per_doc: HashMap<&str, (Candidate, usize)> = HashMap::new();
    let max_df = postings.iter().map(Vec::len).max().unwrap_or(0);
    let n = (post_count.max(0) as f64).max(max_df as f64) + 1.0;
    for (i, list) in postings.iter().enumerate() {
        let mut tf: BTreeMap<&str, (u32, &Posting)> = BTreeMap::new();
        for p in list {
            if doc_type.is_some_and(|t| t.as_str() != p.doc_type) {
                continue;
            }
            let e = tf.entry(p.doc_id.as_str()).or_insert((0, p));
            e.0 += p.tf;
        }
        let df = tf.len() as f64;
        let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
        for (doc, (f, p)) in tf {
            let f = f64::from(f);
            let part = idf * f * (K1 + 1.0) / (f + K1);
            let entry = per_doc.entry(doc).or_insert_with(|| {
                (
                    Candidate {
                        doc_id: p.doc_id.clone(),
                        doc_type: p.doc_type,
                        root_id: p.root_id.clone(),
                        score: 0.0,
                    },
                    0,
                )
            });
            if entry.1 == i {
                entry.0.score += part;
                entry.1 += 1;
            }
        }
    }
    let mut out: Vec<Candidate> = per_doc
        .into_values()
        .filter(|(_, matched)| *matched == postings.len())
        .map(|(c, _)| c)
        .collect();
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| b.doc_id.cmp(&a.doc_id))
    });
    out
}

fn doc_key(community_id: &str, c: &Candidate) -> Key {
    match c.doc_type {
        MESSAGE => keys::chat_message(community_id, &c.doc_id),
        _ => keys::post(&c.doc_id),
    }
}

/// Reads candidates from `offset` on, keeps those the reader may see, until a page is full or
/// [`MAX_DOCUMENT_READS`] reads are made; answers the page and the offset reached.
async fn visible_page(
    db: &Db,
    access: &Access,
    ranked: &[Candidate],
    offset: usize,
    terms: &[QueryTerm],
    limit: i32,
) -> Result<(Vec<Hit>, usize)> {
    let limit = usize::try_from(limit).unwrap_or(1);
    let community_id = access.community.id.as_str();
    let mut hits = Vec::new();
    let mut at = offset.min(ranked.len());
    for _ in 0..MAX_DOCUMENT_READS {
        if hits.len() >= limit || at >= ranked.len() {
            break;
        }
        let batch = &ranked[at..(at + DOCUMENTS_PER_READ).min(ranked.len())];
        let mut keys: Vec<Key> = batch.iter().map(|c| doc_key(community_id, c)).collect();
        // The roots of the replies among the candidates, each read once (a BatchGetItem refuses
        // a key twice): a root that is itself a candidate is read as one.
        let in_batch: HashSet<&str> = batch
            .iter()
            .filter(|c| c.doc_type == POST)
            .map(|c| c.doc_id.as_str())
            .collect();
        let roots: Vec<String> = batch
            .iter()
            .filter_map(|c| c.root_id.clone())
            .filter(|r| !in_batch.contains(r.as_str()))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        keys.extend(roots.iter().map(|r| keys::post(r)));
        let items = store::documents(db, &keys).await?;
        let (docs, root_items) = items.split_at(batch.len());
        let candidate_roots = batch
            .iter()
            .zip(docs)
            .filter(|(c, _)| c.doc_type == POST)
            .map(|(c, item)| (c.doc_id.as_str(), item));
        let roots: HashMap<&str, Post> = roots
            .iter()
            .map(String::as_str)
            .zip(root_items)
            .chain(candidate_roots)
            .filter_map(|(id, item)| Some((id, from_item(item.clone()?).ok()?)))
            .collect();
        for (c, item) in batch.iter().zip(docs) {
            at += 1;
            let Some(item) = item.clone() else { continue };
            let found = match c.doc_type {
                MESSAGE => Found::Message(Box::new(from_item::<Message>(item)?)),
                _ => {
                    let post: Post = from_item(item)?;
                    let root = c.root_id.as_deref().and_then(|r| roots.get(r)).cloned();
                    Found::Post {
                        post: Box::new(post),
                        root: root.map(Box::new),
                    }
                }
            };
            if visibility::readable(&found, access) {
                hits.push(hit(found, c.score, terms));
                if hits.len() >= limit {
                    break;
                }
            }
        }
    }
    Ok((hits, at))
}

fn hit(found: Found, score: f64, terms: &[QueryTerm]) -> Hit {
    let score = (score * 1000.0).round() / 1000.0;
    match found {
        Found::Post { post, .. } => {
            let post = *post;
            Hit {
                doc_type: POST,
                snippet: text::snippet(&post.content, terms),
                root_id: post.parent_id.as_ref().map(|_| post.root_id.clone()),
                id: post.id,
                community_id: post.community_id,
                title: post.title,
                created_at: post.created_at,
                score,
            }
        }
        Found::Message(m) => {
            let m = *m;
            Hit {
                doc_type: MESSAGE,
                snippet: text::snippet(&m.message, terms),
                id: m.id,
                community_id: m.community_id,
                title: None,
                root_id: None,
                created_at: m.created_at,
                score,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posting(stem: &str, doc: &str, tf: u32) -> Posting {
        Posting {
            stem: stem.into(),
            doc_id: doc.into(),
            doc_type: POST,
            tf,
            words: vec![stem.into()],
            root_id: None,
        }
    }

    #[test]
    fn every_word_must_match_and_rarer_words_weigh_more() {
        // "common" is in every document, "rare" in two: d1 holds both once, d2 holds "rare"
        // three times, d3 only "common".
        let common = vec![
            posting("common", "d1", 1),
            posting("common", "d2", 1),
            posting("common", "d3", 5),
        ];
        let rare = vec![posting("rare", "d1", 1), posting("rare", "d2", 3)];
        let ranked = rank(&[common.clone(), rare], None, 100);
        let ids: Vec<&str> = ranked.iter().map(|c| c.doc_id.as_str()).collect();
        assert_eq!(ids, ["d2", "d1"]);
        let alone = rank(&[common], None, 100);
        assert_eq!(alone[0].doc_id, "d3");
    }

    #[test]
    fn the_type_filter_keeps_one_kind() {
        let mut m = posting("hello", "m1", 1);
        m.doc_type = MESSAGE;
        let ranked = rank(
            &[vec![posting("hello", "p1", 1), m]],
            Some(DocType::Message),
            10,
        );
        assert_eq!(ranked.len(), 1);
        assert_eq!(ranked[0].doc_id, "m1");
    }
}
