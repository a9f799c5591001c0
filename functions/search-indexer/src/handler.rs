//! Stream records to index changes: each record of a post or community chat message (its old
//! and new image) becomes the postings written and removed (`search::index::apply`). Records are
//! applied in stream order, one after the other, so that a document's changes land in the order
//! they were made; from the first failure on, the rest of the batch is reported failed
//! (`ReportBatchItemFailures`) and the stream retries from there. A replayed record writes the
//! same postings again: retries are harmless.

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde::Deserialize;
use shared::db::Db;
use shared::keys::{self, Searched};
use shared::search::index::{self, Doc, Reindexed};
use shared::{Error, Result};

#[derive(Deserialize)]
struct Keys {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
}

/// One image of a record as the document it holds (`None`: no image, the item did not exist
/// before or does not any more).
fn doc(kind: Searched, image: &serde_dynamo::Item) -> Result<Option<Doc>> {
    if image.is_empty() {
        return Ok(None);
    }
    let decode = |e: serde_dynamo::Error| Error::internal(format!("stream image: {e}"));
    Ok(Some(match kind {
        Searched::Post => Doc::Post(Box::new(
            serde_dynamo::from_item(image.clone()).map_err(decode)?,
        )),
        Searched::ChatMessage => Doc::Message(Box::new(
            serde_dynamo::from_item(image.clone()).map_err(decode)?,
        )),
    }))
}

/// The change a record makes to the index: the document before and after, or `None` for a
/// record that is no post or community chat message (the filter criteria keep those away).
pub fn change(record: &EventRecord) -> Result<Option<(Option<Doc>, Option<Doc>)>> {
    let Ok(Keys { pk, sk }) = serde_dynamo::from_item::<_, Keys>(record.change.keys.clone()) else {
        return Ok(None);
    };
    let Some(kind) = keys::searched(&pk, &sk) else {
        return Ok(None);
    };
    let old = doc(kind, &record.change.old_image)?;
    let new = match record.event_name.as_str() {
        "REMOVE" => None,
        _ => doc(kind, &record.change.new_image)?,
    };
    Ok(Some((old, new)))
}

async fn on_record(db: &Db, record: &EventRecord) -> Result<Reindexed> {
    match change(record)? {
        Some((old, new)) => index::apply(db, old, new).await,
        None => Ok(Reindexed::default()),
    }
}

pub async fn handle(db: &Db, event: Event) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    let mut total = Reindexed::default();
    for (i, record) in event.records.iter().enumerate() {
        match on_record(db, record).await {
            Ok(r) => {
                total.written += r.written;
                total.removed += r.removed;
                total.requests += r.requests;
            }
            Err(e) => {
                tracing::error!(event_id = %record.event_id, error = %e, "stream record failed; the batch is retried from it");
                for later in &event.records[i..] {
                    let mut failure = DynamoDbBatchItemFailure::default();
                    failure.item_identifier = later.change.sequence_number.clone();
                    response.batch_item_failures.push(failure);
                }
                break;
            }
        }
    }
    tracing::info!(
        records = event.records.len(),
        written = total.written,
        removed = total.removed,
        requests = total.requests,
        "index batch"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Event {
        let path = format!("{}/../../events/search/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    #[test]
    fn the_sample_edit_of_a_post_reindexes_what_changed() {
        let event = sample("stream-post-edited.json");
        let (old, new) = change(&event.records[0]).unwrap().expect("a post");
        let (puts, removed) = index::diff(old.as_ref(), new.as_ref());
        let put: Vec<&str> = puts.iter().map(|p| p.stem.as_str()).collect();
        assert!(put.contains(&"seminar"), "{put:?}");
        assert!(removed.iter().any(|s| s == "lectur"), "{removed:?}");
    }

    #[test]
    fn the_sample_chat_message_is_indexed_from_its_new_image() {
        let event = sample("stream-chat-message.json");
        let (old, new) = change(&event.records[0]).unwrap().expect("a chat message");
        assert!(old.is_none());
        let (puts, removed) = index::diff(None, new.as_ref());
        assert!(removed.is_empty());
        assert!(
            puts.iter()
                .any(|p| p.stem == "recurs" && p.doc_type == "message")
        );
    }

    #[test]
    fn a_direct_message_is_not_searched() {
        let event = sample("stream-direct-message.json");
        assert!(change(&event.records[0]).unwrap().is_none());
    }
}
