//! Stream records to notifier calls (and presence edges to one coalesced `presence` frame per
//! room and batch, best effort: never retried): the records of a batch are handled a few at a time; from
//! the first failure on, the rest of the batch is reported failed (`ReportBatchItemFailures`), so
//! the stream retries from there and nothing after a failure is lost. Retried records are
//! harmless: delivery is idempotent.

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use futures::{StreamExt, stream};
use serde::Deserialize;
use shared::notifications::{self, fanout, jobs};
use shared::realtime::presence;
use shared::{App, Result};

/// What a stream record means to the notifier.
#[derive(Debug, PartialEq)]
pub enum Change {
    /// A job (or a part of one) was written.
    Job(Box<jobs::JobItem>),
    /// An unread notification left the table (its TTL expired): the recipient's count follows.
    UnreadGone { user_id: String },
    /// A presence row appeared or went (a user's first connection into a community, or their
    /// last out): told to the room, coalesced over the batch.
    Presence(presence::Change),
    /// Anything else (the filter criteria should have kept it away).
    Other,
}

#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    entity: Option<String>,
    #[serde(default)]
    is_read: Option<bool>,
    #[serde(default)]
    recipient_id: Option<String>,
    #[serde(default)]
    community_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

fn presence_change(h: Head, edge: presence::Edge) -> Option<Change> {
    (h.entity.as_deref() == Some(presence::ENTITY)).then_some(())?;
    Some(Change::Presence(presence::Change {
        community_id: h.community_id?,
        user_id: h.user_id?,
        name: h.name.unwrap_or_default(),
        edge,
    }))
}

pub fn classify(record: &EventRecord) -> Result<Change> {
    let head = |image: &serde_dynamo::Item| -> Result<Head> {
        Ok(serde_dynamo::from_item(image.clone())?)
    };
    match record.event_name.as_str() {
        "INSERT" => {
            let image = &record.change.new_image;
            let h = head(image)?;
            if h.entity.as_deref() != Some(jobs::ENTITY) {
                return Ok(presence_change(h, presence::Edge::Online).unwrap_or(Change::Other));
            }
            Ok(Change::Job(Box::new(serde_dynamo::from_item(
                image.clone(),
            )?)))
        }
        "REMOVE" => {
            let h = head(&record.change.old_image)?;
            if h.entity.as_deref() == Some(presence::ENTITY) {
                return Ok(presence_change(h, presence::Edge::Offline).unwrap_or(Change::Other));
            }
            match (h.entity.as_deref(), h.is_read, h.recipient_id) {
                (Some(notifications::ENTITY), Some(false), Some(user_id)) => {
                    Ok(Change::UnreadGone { user_id })
                }
                _ => Ok(Change::Other),
            }
        }
        _ => Ok(Change::Other),
    }
}

async fn on_record(app: &App, record: &EventRecord) -> Result<()> {
    match classify(record)? {
        Change::Job(item) => {
            let (job_id, part) = (item.job.id.clone(), item.part);
            let notifier = fanout::Notifier {
                db: &app.db,
                push: app.push.as_ref(),
                retention_days: app.config.notification_retention_days,
                part_size: app.config.notify_part_size,
                email: app.config.email.is_some(),
                devices: app.devices.as_deref(),
            };
            let report = fanout::process(notifier, *item, app.clock.now()).await?;
            tracing::info!(job_id, part, report = ?report, "notification job done");
        }
        Change::UnreadGone { user_id } => notifications::forget_unread(&app.db, &user_id).await?,
        // Told together after the batch's other records (see `handle`).
        Change::Presence(_) | Change::Other => {}
    }
    Ok(())
}

/// Records of one batch handled at once: the parts of a large fan-out arrive together and each
/// is bounded work, so they run side by side instead of one after the other.
pub const RECORDS_AT_ONCE: usize = 4;

pub async fn handle(app: &App, event: Event) -> DynamoDbEventResponse {
    // Presence edges of the batch, in stream order: each room is told its net change once.
    let edges: Vec<presence::Change> = event
        .records
        .iter()
        .filter_map(|r| match classify(r) {
            Ok(Change::Presence(c)) => Some(c),
            _ => None,
        })
        .collect();
    if !edges.is_empty() {
        let report = presence::announce(&app.db, app.push.as_ref(), &edges, app.clock.now()).await;
        tracing::info!(edges = edges.len(), ?report, "presence batch");
    }
    let results: Vec<Result<()>> = stream::iter(&event.records)
        .map(|record| on_record(app, record))
        .buffered(RECORDS_AT_ONCE)
        .collect()
        .await;
    let mut response = DynamoDbEventResponse::default();
    // The stream retries from the first failed record: report it and every record after it
    // (those that succeeded are retried harmlessly, delivery being idempotent).
    if let Some(first) = results.iter().position(Result::is_err) {
        for (record, result) in event.records.iter().zip(&results).skip(first) {
            if let Err(e) = result {
                tracing::error!(event_id = %record.event_id, error = %e, "stream record failed; the batch is retried from the first failure");
            }
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = record.change.sequence_number.clone();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Event {
        let path = format!(
            "{}/../../events/notifications/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    #[test]
    fn the_sample_stream_event_is_a_notification_job() {
        let event = sample("stream-job.json");
        assert_eq!(event.records.len(), 1);
        match classify(&event.records[0]).unwrap() {
            Change::Job(item) => {
                assert_eq!(item.job.kind, jobs::JobKind::PostPublished);
                assert!(item.deliveries.is_none());
            }
            other => panic!("not a job: {other:?}"),
        }
    }

    #[test]
    fn the_expiry_of_an_unread_notification_decrements_its_recipients_count() {
        let event = sample("stream-expired-unread.json");
        assert_eq!(
            classify(&event.records[0]).unwrap(),
            Change::UnreadGone {
                user_id: "student-42".into()
            }
        );
    }

    #[test]
    fn the_sample_presence_batch_is_a_reconnect_and_one_newcomer() {
        let event = sample("stream-presence.json");
        let edges: Vec<presence::Change> = event
            .records
            .iter()
            .map(|r| match classify(r).unwrap() {
                Change::Presence(c) => c,
                other => panic!("not presence: {other:?}"),
            })
            .collect();
        assert_eq!(edges[0].edge, presence::Edge::Offline);
        assert_eq!(edges[1].edge, presence::Edge::Online);
        let net = presence::coalesce(&edges);
        let room = &net["01JF0C0MMVN1TY000000000000"];
        assert_eq!(room.joined.len(), 1);
        assert_eq!(room.joined[0].user_id, "student-43");
        assert_eq!(room.joined[0].name, "Alan Turing");
        assert!(room.left.is_empty(), "student-42 reconnected: no change");
    }
}
