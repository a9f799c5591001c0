//! Each function's policy allows exactly the AWS actions it was seen calling.
//!
//! `make test` runs the end-to-end suite with `IAM_CALLS_LOG` set: every gateway then records,
//! for each function, the actions it was allowed (DynamoDB requests through the gateway's
//! recording proxy, transactions as the actions of their items; Management API calls as
//! `execute-api:ManageConnections`). This test, run after the suite, compares those with the
//! actions of each function's inline `Policies` statements in `infra/template.yaml`: an action
//! allowed but never called, or called but not allowed, fails it.
//!
//! Not in the comparison: what SAM adds to every role for Lambda itself, which the function's
//! code never calls: `AWSLambdaBasicExecutionRole` (logs), `AWSXrayWriteOnlyAccess` (tracing:
//! Active), `AWSLambdaDynamoDBExecutionRole` (the stream mappings' reads) and the mappings'
//! `sqs:SendMessage` to their dead-letter queues.

use std::collections::{BTreeMap, BTreeSet};

use e2e::template;

/// Actions a policy may allow without the run having seen them, each with why it cannot be seen
/// locally. Empty: every allowed action is exercised by the end-to-end suite.
const NOT_SEEN_LOCALLY: &[(&str, &str, &str)] = &[];

fn seen(path: &str) -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading the calls log {path}: {e} (run the end-to-end suite with IAM_CALLS_LOG={path} first)"));
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (function, action) = line
            .split_once('\t')
            .unwrap_or_else(|| panic!("calls log line {line:?}: not <function>\\t<action>"));
        out.entry(function.to_string())
            .or_default()
            .insert(action.to_string());
    }
    out
}

#[test]
#[ignore = "compares the calls the end-to-end suite recorded: `make test` runs it after the suite with IAM_CALLS_LOG"]
fn each_policy_allows_exactly_the_actions_its_function_called() {
    let path = std::env::var("IAM_CALLS_LOG").expect("IAM_CALLS_LOG names the calls log");
    let seen = seen(&path);
    let template = local_gateway::Template::load(&template()).expect("template loads");
    let mut problems = Vec::new();
    for (id, f) in &template.functions {
        if !f.policy_templates.is_empty() {
            problems.push(format!(
                "{id}: policies {:?} are not inline statements: their actions cannot be compared (write them as `Statement`s)",
                f.policy_templates
            ));
        }
        let mut allowed = BTreeSet::new();
        for st in &f.policy_statements {
            assert!(
                st.effect.eq_ignore_ascii_case("Allow"),
                "{id}: only Allow statements are expected"
            );
            for action in &st.actions {
                if action.contains('*') || action.contains('?') {
                    problems.push(format!("{id}: wildcard action {action}"));
                }
                allowed.insert(action.clone());
            }
        }
        let called = seen.get(id).cloned().unwrap_or_default();
        if called.is_empty() {
            problems.push(format!(
                "{id}: never seen calling anything (did the end-to-end suite run with IAM_CALLS_LOG?)"
            ));
            continue;
        }
        let excused = |action: &str| {
            NOT_SEEN_LOCALLY
                .iter()
                .any(|(f, a, _)| *f == id.as_str() && *a == action)
        };
        for action in allowed.difference(&called) {
            if !excused(action) {
                problems.push(format!("{id}: allows {action} but never called it"));
            }
        }
        for action in called.difference(&allowed) {
            problems.push(format!(
                "{id}: called {action}, which its policy does not allow"
            ));
        }
    }
    // Names the project's template does not have are the local gateway's own test fixtures
    // (`infra/local-gateway/tests/fixtures`), whose gateways run under the same calls log: they
    // are not judged here.
    assert!(
        problems.is_empty(),
        "the template's policies and the calls seen differ:\n  {}\ncalls seen: {seen:#?}",
        problems.join("\n  ")
    );
}
