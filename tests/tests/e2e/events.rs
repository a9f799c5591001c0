//! The sample events in `events/` are shaped as API Gateway sends them for this template (its
//! stage in the path and the context, the route key that path matches literally, bodies encoded
//! by content type), and each one is fed to the function its route names, which must parse it and
//! answer it (no 5xx).

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
    if event.get("run").is_some() {
        // A scheduled run: the function whose schedule gives this input.
        return template
            .schedules
            .iter()
            .find(|s| {
                s.input
                    .as_deref()
                    .and_then(|i| serde_json::from_str::<Value>(i).ok())
                    .is_some_and(|i| &i == event)
            })
            .map(|s| s.function.clone());
    }
    if event["Records"][0]["EventSource"] == "aws:sns" {
        return template.sns_sources.first().map(|s| s.function.clone());
    }
    if event["Records"][0]["eventSource"] == "aws:dynamodb" {
        // The stream consumer whose filter criteria let the first record through.
        let record = &event["Records"][0];
        return template
            .stream_sources
            .iter()
            .find(|s| {
                s.filters
                    .iter()
                    .any(|f| local_gateway::streams::matches(f, record))
            })
            .or(template.stream_sources.first())
            .map(|s| s.function.clone());
    }
    None
}

/// The event is what the deployed stage would send: checked against the template's routes.
fn assert_aws_shaped(stack: &Stack, name: &str, event: &Value) {
    let template = stack.gateway.template();
    if event["version"] == "2.0" {
        let stage = &template.http_stage;
        assert_eq!(
            event["requestContext"]["stage"],
            stage.as_str(),
            "{name}: stage"
        );
        let raw_path = event["rawPath"].as_str().unwrap();
        assert_eq!(event["requestContext"]["http"]["path"], raw_path, "{name}");
        let below = raw_path
            .strip_prefix(&format!("/{stage}"))
            .unwrap_or_else(|| panic!("{name}: {raw_path} is not under the stage {stage}"));
        let method = event["requestContext"]["http"]["method"].as_str().unwrap();
        let router = local_gateway::routes::Router::new(&template.http_routes);
        let m = router
            .find(method, below)
            .unwrap_or_else(|| panic!("{name}: no route for {method} {below}"));
        assert_eq!(event["routeKey"], m.route_key, "{name}: route key");
        assert_eq!(event["requestContext"]["routeKey"], m.route_key, "{name}");
        let params: std::collections::HashMap<String, String> =
            serde_json::from_value(event["pathParameters"].clone()).unwrap_or_default();
        assert_eq!(params, m.path_parameters, "{name}: path parameters");
        if event.get("body").is_some() {
            let text = local_gateway::http_api::is_text_content_type(
                event["headers"]["content-type"].as_str(),
            );
            assert_eq!(event["isBase64Encoded"], !text, "{name}: isBase64Encoded");
        }
    } else if let Some(stage) = event["requestContext"]["stage"].as_str() {
        assert_eq!(stage, template.websocket.stage, "{name}: stage");
    }
}

#[tokio::test]
async fn every_sample_event_is_accepted_by_its_function() {
    // Email on (it needs the web app's URL), as a deployed stack has it.
    let stack = Stack::start_with(|cfg| {
        cfg.parameter_overrides
            .insert("WebAppUrl".into(), "https://community.school.test".into());
    })
    .await;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut files = Vec::new();
    event_files(&root, &mut files);
    files.sort();
    assert!(files.len() >= 18, "found {} events", files.len());
    for file in files {
        let name = file.strip_prefix(&root).unwrap().display().to_string();
        let event: Value = serde_json::from_slice(&std::fs::read(&file).unwrap())
            .unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
        assert_aws_shaped(&stack, &name, &event);
        let function = function_for(&stack, &event)
            .unwrap_or_else(|| panic!("{name}: no function serves this route"));
        let response = stack
            .gateway
            .invoke(&function, event)
            .await
            .unwrap_or_else(|e| panic!("{name}: {function} failed: {e}"));
        if let Some(status) = response["statusCode"].as_i64() {
            assert!(status < 500, "{name}: {function} answered {response}");
        } else if response.get("batchItemFailures").is_some() {
            // Stream batches answer with the failed items.
            assert_eq!(
                response["batchItemFailures"],
                serde_json::json!([]),
                "{name}: {response}"
            );
        }
    }
}
