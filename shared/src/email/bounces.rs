//! Bounces and complaints: the configuration set publishes SES's events to an SNS topic, whose
//! messages reach the `email` function. A permanent (or undetermined) bounce or a complaint
//! suppresses the address: nothing is sent to it again, whoever it belongs to, until an
//! operator removes the suppression. A transient bounce (a full mailbox) suppresses nothing.
//!
//! Both forms SES writes are read: configuration-set events (`eventType`) and identity
//! notifications (`notificationType`).

use crate::error::{Error, Result};
use crate::store::{Db, email as store, email::Suppression};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    #[serde(default)]
    event_type: Option<String>,
    #[serde(default)]
    notification_type: Option<String>,
    #[serde(default)]
    bounce: Option<Bounce>,
    #[serde(default)]
    complaint: Option<Complaint>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: String,
    #[serde(default)]
    bounce_sub_type: Option<String>,
    bounced_recipients: Vec<Recipient>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    complained_recipients: Vec<Recipient>,
    #[serde(default)]
    complaint_feedback_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: String,
}

/// The suppressions one SES event asks for (none for deliveries, sends, transient bounces).
pub fn suppressions_of(message: &str, now: &str) -> Result<Vec<Suppression>> {
    let event: Event = serde_json::from_str(message)
        .map_err(|e| Error::BadRequest(format!("not an SES event: {e}")))?;
    let kind = event
        .event_type
        .or(event.notification_type)
        .unwrap_or_default();
    let suppress = |address: String, reason: &str, detail: Option<String>| Suppression {
        address: address.trim().to_ascii_lowercase(),
        reason: reason.to_string(),
        detail,
        suppressed_at: now.to_string(),
    };
    Ok(match (kind.as_str(), event.bounce, event.complaint) {
        ("Bounce", Some(b), _) if b.bounce_type != "Transient" => {
            let detail = Some(match &b.bounce_sub_type {
                Some(sub) => format!("{}/{sub}", b.bounce_type),
                None => b.bounce_type.clone(),
            });
            b.bounced_recipients
                .into_iter()
                .map(|r| suppress(r.email_address, "bounce", detail.clone()))
                .collect()
        }
        ("Complaint", _, Some(c)) => c
            .complained_recipients
            .into_iter()
            .map(|r| {
                suppress(
                    r.email_address,
                    "complaint",
                    c.complaint_feedback_type.clone(),
                )
            })
            .collect(),
        _ => Vec::new(),
    })
}

/// Records the suppressions of one SES event (one PutItem each); answers how many.
pub async fn record(db: &Db, message: &str, now: &str) -> Result<usize> {
    let found = suppressions_of(message, now)?;
    for s in &found {
        tracing::warn!(reason = %s.reason, detail = ?s.detail, "email address suppressed");
        store::suppress(db, s).await?;
    }
    Ok(found.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_bounces_and_complaints_suppress_and_transient_bounces_do_not() {
        let bounce = |t: &str| {
            serde_json::json!({"eventType": "Bounce", "bounce": {"bounceType": t, "bounceSubType": "General",
                "bouncedRecipients": [{"emailAddress": "Ada@Example.edu"}]}, "mail": {}})
            .to_string()
        };
        let s = suppressions_of(&bounce("Permanent"), "now").unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].address, "ada@example.edu");
        assert_eq!(s[0].detail.as_deref(), Some("Permanent/General"));
        assert!(
            suppressions_of(&bounce("Transient"), "now")
                .unwrap()
                .is_empty()
        );
        let complaint = serde_json::json!({"notificationType": "Complaint", "complaint": {
            "complainedRecipients": [{"emailAddress": "b@example.edu"}], "complaintFeedbackType": "abuse"}})
        .to_string();
        let s = suppressions_of(&complaint, "now").unwrap();
        assert_eq!(
            (s[0].address.as_str(), s[0].reason.as_str()),
            ("b@example.edu", "complaint")
        );
        let delivery = serde_json::json!({"eventType": "Delivery", "delivery": {}}).to_string();
        assert!(suppressions_of(&delivery, "now").unwrap().is_empty());
        assert!(suppressions_of("not json", "now").is_err());
    }
}
