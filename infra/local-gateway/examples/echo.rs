//! Test function for the gateway's own tests: echoes events, sleeps, fails or crashes on request
//! (any event other than an HTTP, WebSocket or authorizer one fails with `"fail": true`, an SNS
//! event with the message `fail`).

use std::io::Write;
use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

fn record(event: &Value) {
    if let Ok(path) = std::env::var("ECHO_EVENTS_FILE")
        && let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    {
        // One write per line: instances record concurrently, and an append made of
        // several writes could interleave with another's and lose both lines.
        let _ = f.write_all(format!("{event}\n").as_bytes());
    }
}

/// Posts as the SDK would, with a SigV4 `Authorization` header naming the function's access
/// key (the gateway knows the caller by it; the signature itself is not checked).
async fn post_to_connection(id: &str, body: String) -> Result<u16, Error> {
    let base = std::env::var("WS_MANAGEMENT_ENDPOINT")?;
    let key = std::env::var("AWS_ACCESS_KEY_ID")?;
    let region = std::env::var("AWS_REGION")?;
    let r = reqwest::Client::new()
        .post(format!("{base}/@connections/{id}"))
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={key}/20260101/{region}/execute-api/aws4_request, SignedHeaders=host, Signature=0"
            ),
        )
        .body(body)
        .send()
        .await?;
    Ok(r.status().as_u16())
}

async fn http(event: Value) -> Result<Value, Error> {
    let raw_path = event["rawPath"].as_str().unwrap_or_default();
    // A named stage is the first segment of the path.
    let path = match event["requestContext"]["stage"].as_str() {
        Some(stage) if stage != "$default" => raw_path
            .strip_prefix(&format!("/{stage}"))
            .unwrap_or(raw_path)
            .to_string(),
        _ => raw_path.to_string(),
    };
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        [_, "sleep", ms] => tokio::time::sleep(Duration::from_millis(ms.parse()?)).await,
        [_, "crash"] => std::process::exit(3),
        [_, "error"] => return Err("requested failure".into()),
        [_, "raw"] => return Ok(json!({ "hello": "world" })),
        [_, "env", name] => {
            return Ok(
                json!({ "statusCode": 200, "body": std::env::var(name).unwrap_or_else(|_| "<unset>".into()) }),
            );
        }
        [_, "binary"] => {
            return Ok(json!({
                "statusCode": 201,
                "headers": { "content-type": "application/octet-stream" },
                "body": "AAEC/w==",
                "isBase64Encoded": true,
            }));
        }
        _ => {}
    }
    Ok(json!({
        "statusCode": 200,
        "headers": { "content-type": "application/json", "x-echo": "1", "access-control-allow-origin": "https://function.example" },
        "multiValueHeaders": { "x-multi": ["a", "b"] },
        "cookies": ["session=abc; Path=/", "theme=dark"],
        "body": event.to_string(),
        "isBase64Encoded": false,
    }))
}

async fn websocket(event: Value) -> Result<Value, Error> {
    let ctx = &event["requestContext"];
    let id = ctx["connectionId"].as_str().unwrap_or_default().to_string();
    match ctx["eventType"].as_str() {
        Some("CONNECT") => {
            if let Some(status) = event["queryStringParameters"]["deny"].as_str() {
                return Ok(json!({ "statusCode": status.parse::<u16>()?, "body": "denied" }));
            }
            if event["queryStringParameters"]["crash"].is_string() {
                std::process::exit(4);
            }
            Ok(json!({ "statusCode": 200 }))
        }
        Some("MESSAGE") => {
            let body: Value = serde_json::from_str(event["body"].as_str().unwrap_or("null"))
                .unwrap_or(Value::Null);
            if let Some(ms) = body["sleep_ms"].as_u64() {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            if body["fail"].as_bool() == Some(true) {
                return Err("requested failure".into());
            }
            // Echo the event itself back through the Management API.
            let status = post_to_connection(&id, event.to_string()).await?;
            Ok(json!({ "statusCode": 200, "body": format!("posted {status}") }))
        }
        _ => Ok(json!({ "statusCode": 200 })),
    }
}

/// REQUEST authorizer: `token=good` allows, `token=deny` denies, anything else is unauthorized.
fn authorizer(event: Value) -> Result<Value, Error> {
    let effect = match event["queryStringParameters"]["token"].as_str() {
        Some("good") => "Allow",
        Some("deny") => "Deny",
        _ => return Err("Unauthorized".into()),
    };
    Ok(json!({
        "principalId": "user-1",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{ "Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"] }],
        },
        "context": { "userId": "user-1", "role": "student" },
    }))
}

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (event, ctx) = event.into_parts();
    record(
        &json!({ "request_id": ctx.request_id, "deadline": ctx.deadline, "arn": ctx.invoked_function_arn, "event": event }),
    );
    if event["type"] == "REQUEST" {
        authorizer(event)
    } else if event.get("rawPath").is_some() {
        http(event).await
    } else if event
        .get("requestContext")
        .and_then(|c| c.get("eventType"))
        .is_some()
    {
        websocket(event).await
    } else if event["fail"] == true || event["Records"][0]["Sns"]["Message"] == "fail" {
        // Any other event (a scheduled one's `Input`, say) asks for a failure this way, or an
        // SNS message that says "fail".
        Err("requested failure".into())
    } else {
        Ok(event)
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    if let Some(ms) = std::env::var("ECHO_INIT_SLEEP_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
    if std::env::var("ECHO_INIT_CRASH").is_ok() {
        std::process::exit(5);
    }
    lambda_runtime::run(service_fn(handler)).await
}
