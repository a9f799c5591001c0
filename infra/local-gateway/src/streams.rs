//! Lambda's DynamoDB event source mapping, emulated: polls the table's stream in DynamoDB Local,
//! keeps the records that pass the template's `FilterCriteria`, and invokes the function with
//! the exact DynamoDB Streams event JSON in batches of `BatchSize`, shard by shard, in order.
//! A failed batch (function error, or `batchItemFailures` with `ReportBatchItemFailures`) is
//! retried from the first failed record with backoff, as Lambda does.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::config::{Credentials, Region};
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use base64::Engine;
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::App;
pub use crate::stream_stats::StreamStats;
use crate::template::StreamSourceSpec;

/// Retries of one failed batch when the template sets no `MaximumRetryAttempts` (or -1): Lambda
/// would retry until the record expires (24 h); locally a poison record must not block forever.
const LOCAL_RETRY_CAP: i64 = 10;
/// Records read per GetRecords call.
const READ_LIMIT: i32 = 1000;

/// Starts one poller per event source; each ends when `stop` turns true.
pub(crate) fn start(app: Arc<App>, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    app.template
        .stream_sources
        .iter()
        .cloned()
        .map(|source| {
            let app = app.clone();
            let stop = stop.clone();
            tokio::spawn(async move { poll(app, source, stop).await })
        })
        .collect()
}

async fn clients(app: &App) -> (aws_sdk_dynamodb::Client, Client) {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(Region::new(app.cfg.region.clone()))
        .endpoint_url(&app.cfg.dynamodb_endpoint)
        .credentials_provider(Credentials::new("local", "local", None, None, "local"))
        .load()
        .await;
    (aws_sdk_dynamodb::Client::new(&conf), Client::new(&conf))
}

/// Where one shard is read from, and what was read but not yet delivered.
struct Shard {
    iterator: Option<String>,
    pending: Vec<Value>,
    /// Failed attempts of the batch at the head of `pending`.
    attempts: i64,
    /// No batch before this instant (backoff after a failure).
    not_before: tokio::time::Instant,
    batch_started: Option<tokio::time::Instant>,
    /// The last record read, to resume after a failed read.
    last_sequence: Option<String>,
}

async fn poll(app: Arc<App>, source: StreamSourceSpec, mut stop: watch::Receiver<bool>) {
    let (ddb, streams) = clients(&app).await;
    let interval = app.cfg.stream_poll_interval;
    let mut stream_arn: Option<String> = None;
    let mut shards: HashMap<String, Shard> = HashMap::new();
    // Closed shards read to their end: never read again.
    let mut finished: HashSet<String> = HashSet::new();
    let mut first_listing = true;
    let mut tick = 0u64;
    loop {
        if *stop.borrow() {
            return;
        }
        if stream_arn.is_none() {
            stream_arn = ddb
                .describe_table()
                .table_name(&app.cfg.table_name)
                .send()
                .await
                .ok()
                .and_then(|d| d.table)
                .and_then(|t| t.latest_stream_arn);
            if stream_arn.is_none() {
                tracing::debug!(table = %app.cfg.table_name, "no stream yet");
            }
        }
        if let Some(arn) = &stream_arn {
            // New shards appear as DynamoDB rolls them over; look for them now and then.
            if first_listing || tick.is_multiple_of(20) {
                discover(
                    &streams,
                    arn,
                    &source,
                    &mut shards,
                    &finished,
                    first_listing,
                )
                .await;
                first_listing = false;
            }
            for (shard_id, shard) in shards.iter_mut() {
                read(&app, &streams, arn, &source, shard_id, shard).await;
                deliver(&app, arn, &source, shard).await;
            }
            shards.retain(|id, s| {
                let done = s.iterator.is_none() && s.pending.is_empty();
                if done {
                    finished.insert(id.clone());
                }
                !done
            });
        }
        tick += 1;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => {}
        }
    }
}

async fn discover(
    streams: &Client,
    arn: &str,
    source: &StreamSourceSpec,
    shards: &mut HashMap<String, Shard>,
    finished: &HashSet<String>,
    at_start: bool,
) {
    let Ok(described) = streams.describe_stream().stream_arn(arn).send().await else {
        return;
    };
    let listed = described
        .stream_description
        .map(|d| d.shards.unwrap_or_default())
        .unwrap_or_default();
    for s in listed {
        let Some(id) = s.shard_id else { continue };
        if shards.contains_key(&id) || finished.contains(&id) {
            continue;
        }
        let closed = s
            .sequence_number_range
            .as_ref()
            .is_some_and(|r| r.ending_sequence_number.is_some());
        // At start, `LATEST` skips what is already there (closed shards entirely); shards found
        // later are read from their beginning so that nothing written meanwhile is missed.
        if at_start && source.starting_position == "LATEST" && closed {
            continue;
        }
        let kind = if at_start && source.starting_position == "LATEST" {
            ShardIteratorType::Latest
        } else {
            ShardIteratorType::TrimHorizon
        };
        let iterator = streams
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(&id)
            .shard_iterator_type(kind)
            .send()
            .await
            .ok()
            .and_then(|o| o.shard_iterator);
        if iterator.is_some() {
            shards.insert(
                id,
                Shard {
                    iterator,
                    pending: Vec::new(),
                    attempts: 0,
                    not_before: tokio::time::Instant::now(),
                    batch_started: None,
                    last_sequence: None,
                },
            );
        }
    }
}

async fn read(
    app: &App,
    streams: &Client,
    arn: &str,
    source: &StreamSourceSpec,
    shard_id: &str,
    shard: &mut Shard,
) {
    let Some(iterator) = shard.iterator.clone() else {
        return;
    };
    match streams
        .get_records()
        .shard_iterator(iterator)
        .limit(READ_LIMIT)
        .send()
        .await
    {
        Ok(out) => {
            shard.iterator = out.next_shard_iterator;
            let records = out.records.unwrap_or_default();
            app.streams
                .records_read
                .fetch_add(records.len() as u64, Ordering::Relaxed);
            for r in &records {
                shard.last_sequence = r.dynamodb.as_ref().and_then(|d| d.sequence_number.clone());
                let event = record_json(r, arn, &app.cfg.region);
                if source.filters.is_empty() || source.filters.iter().any(|f| matches(f, &event)) {
                    app.streams.records_matched.fetch_add(1, Ordering::Relaxed);
                    if shard.pending.is_empty() {
                        shard.batch_started = Some(tokio::time::Instant::now());
                    }
                    shard.pending.push(event);
                }
            }
        }
        Err(e) => {
            tracing::warn!(shard = shard_id, error = %aws_sdk_dynamodbstreams::error::DisplayErrorContext(&e), "GetRecords failed");
            // Resume right after the last record read (an iterator expires after 15 minutes).
            let iterator = match &shard.last_sequence {
                Some(seq) => streams
                    .get_shard_iterator()
                    .stream_arn(arn)
                    .shard_id(shard_id)
                    .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                    .sequence_number(seq),
                None => streams
                    .get_shard_iterator()
                    .stream_arn(arn)
                    .shard_id(shard_id)
                    .shard_iterator_type(ShardIteratorType::Latest),
            }
            .send()
            .await
            .ok()
            .and_then(|o| o.shard_iterator);
            if iterator.is_some() {
                shard.iterator = iterator;
            }
        }
    }
}

/// Invokes the function with the pending records, a batch at a time, while they succeed.
async fn deliver(app: &App, _arn: &str, source: &StreamSourceSpec, shard: &mut Shard) {
    while !shard.pending.is_empty() {
        let now = tokio::time::Instant::now();
        if now < shard.not_before {
            return;
        }
        let full = shard.pending.len() >= source.batch_size;
        let waited = shard
            .batch_started
            .is_some_and(|t| now.duration_since(t) >= source.batching_window);
        if !full && !waited {
            return;
        }
        let take = shard.pending.len().min(source.batch_size);
        let batch: Vec<Value> = shard.pending[..take].to_vec();
        app.streams.invocations.fetch_add(1, Ordering::Relaxed);
        let failed_from = match app
            .invoke(&source.function, json!({ "Records": batch }))
            .await
        {
            Ok(body) => first_failure(source, &batch, &body),
            Err(e) => {
                tracing::warn!(function = %source.function, error = %e, "stream batch failed");
                Some(0)
            }
        };
        match failed_from {
            None => {
                shard.pending.drain(..take);
                shard.attempts = 0;
                shard.batch_started = Some(now);
            }
            Some(index) => {
                app.streams.failed_batches.fetch_add(1, Ordering::Relaxed);
                // What succeeded before the failed record is done.
                shard.pending.drain(..index);
                shard.attempts += 1;
                let cap = match source.maximum_retry_attempts {
                    Some(n) if n >= 0 => n,
                    _ => LOCAL_RETRY_CAP,
                };
                if shard.attempts > cap {
                    let dropped = take - index;
                    tracing::error!(function = %source.function, dropped, "stream records dropped after the last retry");
                    app.streams
                        .records_dropped
                        .fetch_add(dropped as u64, Ordering::Relaxed);
                    shard.pending.drain(..dropped.min(shard.pending.len()));
                    shard.attempts = 0;
                } else {
                    let backoff =
                        Duration::from_millis((100u64 << shard.attempts.min(6)).min(5000));
                    shard.not_before = now + backoff;
                }
                return;
            }
        }
    }
}

/// The index of the first record to retry, from the function's answer: `None` if all succeeded.
fn first_failure(source: &StreamSourceSpec, batch: &[Value], body: &[u8]) -> Option<usize> {
    if !source.report_batch_item_failures {
        return None;
    }
    let answer: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let failures = answer.get("batchItemFailures").and_then(Value::as_array)?;
    let mut first: Option<usize> = None;
    for f in failures {
        let id = f.get("itemIdentifier").and_then(Value::as_str);
        // An unknown or missing identifier fails the whole batch, as Lambda does.
        let index = id
            .and_then(|id| {
                batch
                    .iter()
                    .position(|r| r["dynamodb"]["SequenceNumber"].as_str() == Some(id))
            })
            .unwrap_or(0);
        first = Some(first.map_or(index, |f: usize| f.min(index)));
    }
    first
}

// ---------------------------------------------------------------- event JSON

/// A stream record as Lambda hands it to the function.
pub fn record_json(r: &Record, arn: &str, region: &str) -> Value {
    let mut dynamodb = Map::new();
    if let Some(s) = &r.dynamodb {
        if let Some(t) = s.approximate_creation_date_time {
            dynamodb.insert(
                "ApproximateCreationDateTime".into(),
                json!(t.as_secs_f64().floor()),
            );
        }
        if let Some(k) = &s.keys {
            dynamodb.insert("Keys".into(), image(k));
        }
        if let Some(i) = &s.new_image {
            dynamodb.insert("NewImage".into(), image(i));
        }
        if let Some(i) = &s.old_image {
            dynamodb.insert("OldImage".into(), image(i));
        }
        if let Some(n) = &s.sequence_number {
            dynamodb.insert("SequenceNumber".into(), json!(n));
        }
        if let Some(n) = s.size_bytes {
            dynamodb.insert("SizeBytes".into(), json!(n));
        }
        if let Some(v) = &s.stream_view_type {
            dynamodb.insert("StreamViewType".into(), json!(v.as_str()));
        }
    }
    let mut event = json!({
        "eventID": r.event_id,
        "eventName": r.event_name.as_ref().map(|n| n.as_str()),
        "eventVersion": r.event_version.clone().unwrap_or_else(|| "1.1".into()),
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": arn,
    });
    if let Some(u) = &r.user_identity {
        event["userIdentity"] = json!({ "type": u.r#type, "principalId": u.principal_id });
    }
    event
}

fn image(item: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(item.iter().map(|(k, v)| (k.clone(), attr(v))).collect())
}

/// One attribute in DynamoDB JSON (`{"S": ...}`, `{"N": "..."}`, `{"M": {...}}`, ...).
fn attr(v: &AttributeValue) -> Value {
    let b64 = |b: &aws_sdk_dynamodbstreams::primitives::Blob| {
        base64::engine::general_purpose::STANDARD.encode(b.as_ref())
    };
    match v {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": b64(b) }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(_) => json!({ "NULL": true }),
        AttributeValue::Ss(v) => json!({ "SS": v }),
        AttributeValue::Ns(v) => json!({ "NS": v }),
        AttributeValue::Bs(v) => json!({ "BS": v.iter().map(b64).collect::<Vec<_>>() }),
        AttributeValue::L(v) => json!({ "L": v.iter().map(attr).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({ "M": image(m) }),
        _ => Value::Null,
    }
}

// ---------------------------------------------------------------- filter patterns

/// Whether an event matches a Lambda filter pattern: every key of the pattern must match; a
/// nested object matches a nested object; a list matches if the value equals any listed value
/// or satisfies any listed operator (`prefix`, `suffix`, `exists`, `anything-but`, `numeric`).
pub fn matches(pattern: &Value, event: &Value) -> bool {
    let Some(fields) = pattern.as_object() else {
        return false;
    };
    fields.iter().all(|(key, rule)| {
        let value = event.get(key);
        match rule {
            // A missing parent matches only rules that ask for absence (`exists: false`).
            Value::Object(_) => match value {
                Some(v) => v.is_object() && matches(rule, v),
                None => matches(rule, &Value::Object(Map::new())),
            },
            Value::Array(options) => options.iter().any(|o| allows(o, value)),
            _ => false,
        }
    })
}

fn allows(option: &Value, value: Option<&Value>) -> bool {
    match option {
        Value::Object(op) => {
            if let Some(exists) = op.get("exists").and_then(Value::as_bool) {
                return value.is_some() == exists;
            }
            let Some(v) = value else { return false };
            if let Some(p) = op.get("prefix").and_then(Value::as_str) {
                return v.as_str().is_some_and(|s| s.starts_with(p));
            }
            if let Some(p) = op.get("suffix").and_then(Value::as_str) {
                return v.as_str().is_some_and(|s| s.ends_with(p));
            }
            if let Some(but) = op.get("anything-but") {
                return match but {
                    Value::Array(list) => !list.iter().any(|b| scalar_eq(b, v)),
                    other => !scalar_eq(other, v),
                };
            }
            if let Some(Value::Array(conds)) = op.get("numeric") {
                let Some(x) = number(v) else { return false };
                return conds.chunks(2).all(|c| {
                    match (c[0].as_str(), c.get(1).and_then(Value::as_f64)) {
                        (Some("="), Some(y)) => x == y,
                        (Some("<"), Some(y)) => x < y,
                        (Some("<="), Some(y)) => x <= y,
                        (Some(">"), Some(y)) => x > y,
                        (Some(">="), Some(y)) => x >= y,
                        _ => false,
                    }
                });
            }
            false
        }
        scalar => value.is_some_and(|v| scalar_eq(scalar, v)),
    }
}

/// Scalar equality; DynamoDB numbers arrive as strings (`{"N": "5"}`) and match numbers too.
fn scalar_eq(rule: &Value, v: &Value) -> bool {
    match (rule, v) {
        (Value::Number(a), b) => number(b).is_some_and(|b| a.as_f64() == Some(b)),
        (a, b) => a == b,
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job_insert() -> Value {
        json!({
            "eventName": "INSERT",
            "dynamodb": {
                "NewImage": {
                    "entity": { "S": "notification_job" },
                    "ttl": { "N": "1795428000" },
                    "is_read": { "BOOL": false }
                }
            }
        })
    }

    #[test]
    fn a_record_matches_a_pattern_on_its_new_image() {
        let p = json!({ "dynamodb": { "NewImage": { "entity": { "S": ["notification_job"] } } } });
        assert!(matches(&p, &job_insert()));
        let other = json!({ "dynamodb": { "NewImage": { "entity": { "S": ["post"] } } } });
        assert!(!matches(&other, &job_insert()));
    }

    #[test]
    fn booleans_numbers_prefixes_and_exists_are_understood() {
        let e = job_insert();
        assert!(matches(
            &json!({"dynamodb": {"NewImage": {"is_read": {"BOOL": [false]}}}}),
            &e
        ));
        assert!(!matches(
            &json!({"dynamodb": {"NewImage": {"is_read": {"BOOL": [true]}}}}),
            &e
        ));
        assert!(matches(
            &json!({"dynamodb": {"NewImage": {"ttl": {"N": [{"numeric": [">", 0]}]}}}}),
            &e
        ));
        assert!(matches(
            &json!({"dynamodb": {"NewImage": {"entity": {"S": [{"prefix": "notif"}]}}}}),
            &e
        ));
        assert!(matches(
            &json!({"dynamodb": {"OldImage": {"entity": {"S": [{"exists": false}]}}}}),
            &e
        ));
        assert!(!matches(
            &json!({"dynamodb": {"NewImage": {"entity": {"S": [{"exists": false}]}}}}),
            &e
        ));
        assert!(matches(
            &json!({"eventName": [{"anything-but": ["REMOVE"]}]}),
            &e
        ));
    }

    #[test]
    fn a_missing_field_does_not_match() {
        let p = json!({ "dynamodb": { "OldImage": { "entity": { "S": ["notification"] } } } });
        assert!(!matches(&p, &job_insert()));
    }

    #[test]
    fn reported_failures_retry_from_the_first_failed_record() {
        let source = StreamSourceSpec {
            function: "F".into(),
            name: "E".into(),
            starting_position: "LATEST".into(),
            batch_size: 10,
            batching_window: Duration::ZERO,
            filters: vec![],
            report_batch_item_failures: true,
            maximum_retry_attempts: None,
        };
        let batch: Vec<Value> = (1..=3)
            .map(|n| json!({ "dynamodb": { "SequenceNumber": n.to_string() } }))
            .collect();
        let answer = |v: Value| serde_json::to_vec(&v).unwrap();
        assert_eq!(
            first_failure(&source, &batch, &answer(json!({"batchItemFailures": []}))),
            None
        );
        assert_eq!(
            first_failure(
                &source,
                &batch,
                &answer(
                    json!({"batchItemFailures": [{"itemIdentifier": "3"}, {"itemIdentifier": "2"}]})
                )
            ),
            Some(1)
        );
        assert_eq!(
            first_failure(
                &source,
                &batch,
                &answer(json!({"batchItemFailures": [{"itemIdentifier": "x"}]}))
            ),
            Some(0)
        );
    }
}
