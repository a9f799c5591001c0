//! What invoked the function, and the run it asks for: parsing and result shapes only; the
//! rules live in `shared::email`.

use serde::Deserialize;
use serde_json::{Value, json};
use shared::App;
use shared::email::digest::{self, DigestSchedule};
use shared::email::immediate::{self, Sender};

/// What an invocation is.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    /// The schedule's `Input` `{"run": "due"}` (also any Scheduled Event without an input).
    Due,
    /// `{"run": "digest"}`.
    Digest,
    /// SNS records: each message an SES event.
    Ses(Vec<String>),
}

#[derive(Deserialize)]
struct SnsRecord {
    #[serde(rename = "Sns")]
    sns: SnsMessage,
}

#[derive(Deserialize)]
struct SnsMessage {
    #[serde(rename = "Message")]
    message: String,
}

pub fn parse(event: &Value) -> Result<Invocation, String> {
    if let Some(records) = event.get("Records") {
        let records: Vec<SnsRecord> = serde_json::from_value(records.clone())
            .map_err(|e| format!("SNS records expected: {e}"))?;
        return Ok(Invocation::Ses(
            records.into_iter().map(|r| r.sns.message).collect(),
        ));
    }
    match event.get("run").and_then(Value::as_str) {
        Some("due") => Ok(Invocation::Due),
        Some("digest") => Ok(Invocation::Digest),
        Some(other) => Err(format!("unknown run {other:?}: due or digest")),
        None if event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") => {
            Ok(Invocation::Due)
        }
        None => Err("not a schedule's run nor SNS records".into()),
    }
}

pub async fn handle(app: &App, event: Value) -> Result<Value, lambda_runtime::Error> {
    let invocation = parse(&event)?;
    let now = app.clock.now();
    if let Invocation::Ses(messages) = invocation {
        let mut suppressed = 0;
        for m in &messages {
            suppressed += shared::email::bounces::record(&app.db, m, &app.now_iso()).await?;
        }
        return Ok(json!({ "events": messages.len(), "suppressed": suppressed }));
    }
    let (Some(mailer), Some(config), Some(settings)) = (
        app.mailer.as_ref(),
        app.email_config(),
        app.config.email.as_ref(),
    ) else {
        return Err("email is not configured (EMAIL_FROM, WEB_APP_URL and API_URL)".into());
    };
    let sender = Sender {
        db: &app.db,
        mailer,
        config: &config,
        cursors: &app.cursors,
    };
    Ok(match invocation {
        Invocation::Digest => {
            let schedule = DigestSchedule {
                hour: settings.digest_hour,
            };
            serde_json::to_value(digest::run(sender, schedule, now).await?)?
        }
        _ => serde_json::to_value(immediate::run(sender, now).await?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_and_sns_records_are_told_apart_and_anything_else_is_refused() {
        assert_eq!(parse(&json!({"run": "due"})), Ok(Invocation::Due));
        assert_eq!(parse(&json!({"run": "digest"})), Ok(Invocation::Digest));
        assert_eq!(
            parse(&json!({"detail-type": "Scheduled Event", "source": "aws.events"})),
            Ok(Invocation::Due)
        );
        assert_eq!(
            parse(&json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": "{}"}}]})),
            Ok(Invocation::Ses(vec!["{}".into()]))
        );
        assert!(parse(&json!({"run": "everything"})).is_err());
        assert!(parse(&json!({"hello": 1})).is_err());
    }
}
