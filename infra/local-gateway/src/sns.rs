//! SNS topics in the AWS emulator and the functions subscribed to them (`Type: SNS` events).
//!
//! At start the gateway creates each template topic (CreateTopic) and subscribes an HTTP
//! endpoint of its own per `Type: SNS` event (`/@gateway/sns/{Function}/{Event}` on the
//! WebSocket port, where the gateway's other control endpoints are). The emulator POSTs each
//! published message there as an SNS HTTP notification; the gateway answers 200 at once and
//! invokes the function asynchronously with Lambda's SNS event (retried twice on failure). A
//! `SubscriptionConfirmation` is confirmed by visiting its `SubscribeURL`. On shutdown the
//! subscriptions are removed; at start, subscriptions of gateways that are gone (their endpoint
//! refuses connections) are removed too, as the emulator would fail every publish to the topic
//! on them.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::error::Error;
use crate::state::App;
use crate::template::SnsSourceSpec;

/// Path (below any prefix) of the endpoint subscribed for one `Type: SNS` event.
pub fn endpoint_path(source: &SnsSourceSpec) -> String {
    format!("/@gateway/sns/{}/{}", source.function, source.name)
}

/// A query-protocol call to the emulator's SNS. The request names the region in an
/// `Authorization` header of SigV4's shape (the emulator reads the region there and checks no
/// signature). Answers the response XML.
pub async fn call(
    endpoint: &str,
    region: &str,
    action: &str,
    params: &[(&str, &str)],
) -> Result<String, Error> {
    let mut form: Vec<(&str, &str)> = vec![("Action", action), ("Version", "2010-03-31")];
    form.extend_from_slice(params);
    let r = reqwest::Client::new()
        .post(endpoint)
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=local/20260101/{region}/sns/aws4_request, SignedHeaders=host, Signature=0"
            ),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&form))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| Error::Io(format!("SNS {action} at {endpoint}: {e}")))?;
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(Error::Io(format!(
            "SNS {action} at {endpoint}: HTTP {status}: {text}"
        )));
    }
    Ok(text)
}

/// `application/x-www-form-urlencoded` of the pairs.
fn form_body(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The text of every `<tag>` element of an XML answer.
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(unescape_xml(&after[..end]));
        rest = &after[end + close.len()..];
    }
    out
}

fn unescape_xml(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Creates a topic as CloudFormation would have (CreateTopic of an existing topic answers its
/// ARN); the ARN must be the one `!Ref` gives locally.
pub(crate) async fn create_topic(
    endpoint: &str,
    region: &str,
    logical_id: &str,
) -> Result<String, Error> {
    let name = crate::template::local_topic_name(logical_id);
    let xml = call(endpoint, region, "CreateTopic", &[("Name", &name)]).await?;
    let arn = xml_values(&xml, "TopicArn")
        .into_iter()
        .next()
        .ok_or_else(|| Error::Io(format!("SNS CreateTopic {name}: no TopicArn in {xml}")))?;
    let expected = crate::template::local_topic_arn(region, logical_id);
    if arn != expected {
        return Err(Error::Io(format!(
            "SNS CreateTopic {name}: the emulator answered {arn}, the template's !Ref gives {expected}"
        )));
    }
    Ok(arn)
}

/// Removes the topic's subscriptions to gateway endpoints that refuse connections (gateways
/// that stopped without unsubscribing): the emulator delivers to each subscription in turn and
/// fails the whole publish on one that cannot be reached.
async fn prune_dead_subscriptions(endpoint: &str, region: &str, topic_arn: &str) {
    let Ok(xml) = call(
        endpoint,
        region,
        "ListSubscriptionsByTopic",
        &[("TopicArn", topic_arn)],
    )
    .await
    else {
        return;
    };
    let arns = xml_values(&xml, "SubscriptionArn");
    let endpoints = xml_values(&xml, "Endpoint");
    for (arn, target) in arns.iter().zip(&endpoints) {
        if !target.contains("/@gateway/sns/") {
            continue;
        }
        let Some(addr) = target
            .strip_prefix("http://")
            .and_then(|r| r.split('/').next())
        else {
            continue;
        };
        let reachable =
            tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
                .await
                .is_ok_and(|c| c.is_ok());
        if !reachable {
            tracing::info!(subscription = %arn, endpoint = %target, "removing a subscription of a gateway that is gone");
            let _ = call(
                endpoint,
                region,
                "Unsubscribe",
                &[("SubscriptionArn", arn.as_str())],
            )
            .await;
        }
    }
}

/// Subscribes the gateway's endpoint of each `Type: SNS` event to its topic; answers the
/// subscription ARNs, in the order of `template.sns_sources`.
pub(crate) async fn subscribe_all(
    app: &App,
    endpoint: &str,
    base_url: &str,
) -> Result<Vec<String>, Error> {
    let region = &app.cfg.region;
    let mut pruned: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for source in &app.template.sns_sources {
        if !pruned.contains(&source.topic_arn.as_str()) {
            prune_dead_subscriptions(endpoint, region, &source.topic_arn).await;
            pruned.push(&source.topic_arn);
        }
        let url = format!("{base_url}{}", endpoint_path(source));
        let xml = call(
            endpoint,
            region,
            "Subscribe",
            &[
                ("TopicArn", source.topic_arn.as_str()),
                ("Protocol", "http"),
                ("Endpoint", url.as_str()),
                ("ReturnSubscriptionArn", "true"),
            ],
        )
        .await?;
        let arn = xml_values(&xml, "SubscriptionArn")
            .into_iter()
            .next()
            .ok_or_else(|| {
                Error::Io(format!(
                    "SNS Subscribe {} to {}: no SubscriptionArn in {xml}",
                    source.function, source.topic_arn
                ))
            })?;
        tracing::info!(function = %source.function, topic = %source.topic_arn, subscription = %arn, "subscribed");
        out.push(arn);
    }
    Ok(out)
}

/// Removes the gateway's subscriptions (on shutdown).
pub(crate) async fn unsubscribe_all(endpoint: &str, region: &str, arns: &[String]) {
    for arn in arns {
        if let Err(e) = call(endpoint, region, "Unsubscribe", &[("SubscriptionArn", arn)]).await {
            tracing::warn!(subscription = %arn, error = %e, "could not unsubscribe");
        }
    }
}

/// Removes the gateway's subscriptions without an async runtime (a gateway dropped without
/// [`crate::Gateway::shutdown`]): plain HTTP/1.1 requests, each given a second at most.
pub(crate) fn unsubscribe_blocking(endpoint: &str, region: &str, arns: &[String]) {
    use std::io::{Read, Write};
    let Some(authority) = endpoint
        .strip_prefix("http://")
        .map(|r| r.split('/').next().unwrap_or(r).to_string())
    else {
        return;
    };
    let Some(addr) = std::net::ToSocketAddrs::to_socket_addrs(&authority)
        .ok()
        .and_then(|mut a| a.next())
    else {
        return;
    };
    for arn in arns {
        let body = form_body(&[
            ("Action", "Unsubscribe"),
            ("Version", "2010-03-31"),
            ("SubscriptionArn", arn),
        ]);
        let request = format!(
            "POST / HTTP/1.1\r\nHost: {authority}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=local/20260101/{region}/sns/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let timeout = Duration::from_secs(1);
        if let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, timeout) {
            let _ = stream.set_read_timeout(Some(timeout));
            let _ = stream.set_write_timeout(Some(timeout));
            if stream.write_all(request.as_bytes()).is_ok() {
                let _ = stream.read(&mut [0u8; 512]);
            }
        }
    }
}

/// Lambda's SNS event for one HTTP notification.
pub fn lambda_event(notification: &Value, subscription_arn: &str) -> Value {
    let s = |k: &str| notification.get(k).cloned().unwrap_or(Value::Null);
    let text = |k: &str| {
        notification
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    json!({
        "Records": [{
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": subscription_arn,
            "Sns": {
                "Type": text("Type"),
                "MessageId": text("MessageId"),
                "TopicArn": text("TopicArn"),
                "Subject": s("Subject"),
                "Message": text("Message"),
                "Timestamp": text("Timestamp"),
                "SignatureVersion": text("SignatureVersion"),
                "Signature": text("Signature"),
                "SigningCertUrl": text("SigningCertURL"),
                "UnsubscribeUrl": text("UnsubscribeURL"),
                "MessageAttributes": notification.get("MessageAttributes").cloned().unwrap_or_else(|| json!({})),
            },
        }],
    })
}

/// `POST …/@gateway/sns/{Function}/{Event}`: an SNS HTTP delivery. Answers at once; the function
/// runs asynchronously.
pub(crate) async fn deliver(
    app: Arc<App>,
    function: &str,
    event_name: &str,
    body: Bytes,
) -> (StatusCode, String) {
    let Some(index) = app
        .template
        .sns_sources
        .iter()
        .position(|s| s.function == function && s.name == event_name)
    else {
        return (StatusCode::NOT_FOUND, "no such SNS subscription".into());
    };
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not an SNS message".into());
    };
    match message.get("Type").and_then(Value::as_str) {
        Some("Notification") => {}
        Some("SubscriptionConfirmation") => {
            if let Some(url) = message.get("SubscribeURL").and_then(Value::as_str) {
                let url = url.to_string();
                tokio::spawn(async move {
                    if let Err(e) = reqwest::get(&url).await {
                        tracing::warn!(%url, error = %e, "could not confirm the SNS subscription");
                    }
                });
            }
            return (StatusCode::OK, String::new());
        }
        _ => return (StatusCode::OK, String::new()),
    }
    let subscription = app
        .sns_subscriptions
        .lock()
        .unwrap()
        .get(index)
        .cloned()
        .unwrap_or_default();
    let event = lambda_event(&message, &subscription);
    let source = app.template.sns_sources[index].clone();
    let label = format!("SNS {}", source.topic_arn);
    tokio::spawn(async move {
        crate::schedules::invoke_async(&app, &source.function, event, &label, || {}).await;
    });
    (StatusCode::OK, String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_values_are_read_and_unescaped() {
        let xml = "<R><SubscriptionArn>a:1</SubscriptionArn><Endpoint>http://x/?a=1&amp;b=2</Endpoint><SubscriptionArn>a:2</SubscriptionArn></R>";
        assert_eq!(xml_values(xml, "SubscriptionArn"), ["a:1", "a:2"]);
        assert_eq!(xml_values(xml, "Endpoint"), ["http://x/?a=1&b=2"]);
        assert!(xml_values(xml, "TopicArn").is_empty());
    }
}
