//! Table creation from the template against DynamoDB Local (`TEST_DYNAMODB_ENDPOINT`; skipped without it).

use std::path::PathBuf;

use aws_sdk_dynamodb::types::{BillingMode, KeyType, ProjectionType, TimeToLiveStatus};
use local_gateway::{TableOutcome, create_table_from_template, local_client};

fn endpoint() -> Option<String> {
    let e = std::env::var("TEST_DYNAMODB_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty());
    if e.is_none() {
        eprintln!("TEST_DYNAMODB_ENDPOINT unset: skipped (make test starts DynamoDB Local)");
    }
    e
}

#[tokio::test]
async fn creates_the_project_table_as_the_template_says() {
    let Some(endpoint) = endpoint() else { return };
    let client = local_client(&endpoint, "us-east-1").await;
    let template = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let name = format!("gw-table-test-{}", std::process::id());
    assert_eq!(
        create_table_from_template(&client, &template, &name)
            .await
            .unwrap(),
        TableOutcome::Created
    );
    assert_eq!(
        create_table_from_template(&client, &template, &name)
            .await
            .unwrap(),
        TableOutcome::AlreadyExisted
    );

    let t = client
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let keys: Vec<_> = t
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name().to_string(), k.key_type().clone()))
        .collect();
    assert_eq!(
        keys,
        [
            ("PK".to_string(), KeyType::Hash),
            ("SK".to_string(), KeyType::Range)
        ]
    );
    assert_eq!(
        t.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );
    let mut gsis: Vec<_> = t
        .global_secondary_indexes()
        .iter()
        .map(|g| g.index_name().unwrap_or_default().to_string())
        .collect();
    gsis.sort();
    assert_eq!(gsis, ["GSI1", "GSI2", "GSI3"]);
    for g in t.global_secondary_indexes() {
        // GSI3, the owner index of data rights, holds keys only.
        let projection = if g.index_name() == Some("GSI3") {
            ProjectionType::KeysOnly
        } else {
            ProjectionType::All
        };
        assert_eq!(
            g.projection().and_then(|p| p.projection_type()),
            Some(&projection)
        );
        assert_eq!(g.key_schema().len(), 2);
    }
    let ttl = client
        .describe_time_to_live()
        .table_name(&name)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some("ttl"));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    client
        .delete_table()
        .table_name(&name)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn include_projection_from_the_fixture() {
    let Some(endpoint) = endpoint() else { return };
    let client = local_client(&endpoint, "us-east-1").await;
    let template = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/template.yaml");
    let name = format!("gw-fixture-test-{}", std::process::id());
    create_table_from_template(&client, &template, &name)
        .await
        .unwrap();
    let t = client
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let g = &t.global_secondary_indexes()[0];
    let p = g.projection().unwrap();
    assert_eq!(p.projection_type(), Some(&ProjectionType::Include));
    assert_eq!(p.non_key_attributes(), ["title"]);
    let ttl = client
        .describe_time_to_live()
        .table_name(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description().unwrap().attribute_name(),
        Some("expires")
    );
    client
        .delete_table()
        .table_name(&name)
        .send()
        .await
        .unwrap();
}
