//! The sample events in `events/` are valid as API Gateway sends them: each one is fed to the
//! function its route names, which must parse it and answer it (no 5xx).

use e2e::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn event_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("events/ exists") {
        let path = entry.unwrap().path();
        if path.is_dir() {
            event_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

/// The function that serves an event, as the template routes it.
fn function_for(stack: &Stack, event: &Value) -> Option<String> {
    let template = stack.gateway.template();
    if let Some(route) = event["routeKey"].as_str() {
        return template
            .http_routes
            .iter()
            .find(|r| format!("{} {}", r.method, r.path.as_deref().unwrap_or("$default")) == route)
            .map(|r| r.function.clone());
    }
    if let Some(route) = event["requestContext"]["routeKey"].as_str() {
        return template.websocket.routes.get(route).cloned();
    }
    if event["Records"][0]["eventSource"] == "aws:dynamodb" {
        return template.stream_sources.first().map(|s| s.function.clone());
    }
    None
}

#[tokio::test]
async fn every_sample_event_is_accepted_by_its_function() {
    let stack = Stack::start().await;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut files = Vec::new();
    event_files(&root, &mut files);
    files.sort();
    assert!(files.len() >= 18, "found {} events", files.len());
    for file in files {
        let name = file.strip_prefix(&root).unwrap().display().to_string();
        let event: Value = serde_json::from_slice(&std::fs::read(&file).unwrap())
            .unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
        let function = function_for(&stack, &event)
            .unwrap_or_else(|| panic!("{name}: no function serves this route"));
        let response = stack
            .gateway
            .invoke(&function, event)
            .await
            .unwrap_or_else(|e| panic!("{name}: {function} failed: {e}"));
        if let Some(status) = response["statusCode"].as_i64() {
            assert!(status < 500, "{name}: {function} answered {response}");
        } else {
            // Stream batches answer with the failed items.
            assert_eq!(
                response["batchItemFailures"],
                serde_json::json!([]),
                "{name}: {response}"
            );
        }
    }
}
