//! Creates the DynamoDB table exactly as the template defines it (keys, indexes, billing, TTL,
//! stream).

use std::path::Path;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ProvisionedThroughput, ScalarAttributeType,
    StreamSpecification, StreamViewType, TableStatus, TimeToLiveSpecification,
};

use crate::error::Error;
use crate::template::{IndexSpec, TableSpec, Template};

/// What [`create_table_from_template`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableOutcome {
    Created,
    AlreadyExisted,
}

fn err(e: impl std::fmt::Display) -> Error {
    Error::DynamoDb(e.to_string())
}

/// `Code: message` for service errors, the cause chain otherwise (e.g. connection refused).
fn sdk_err<E, R>(what: &str, e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e {
        SdkError::ServiceError(s) => {
            format!(
                "{what}: {}: {}",
                s.err().code().unwrap_or("error"),
                s.err().message().unwrap_or("")
            )
        }
        other => {
            let mut msg = format!("{what}: {other}");
            let mut src = std::error::Error::source(other);
            while let Some(e) = src {
                msg.push_str(&format!(": {e}"));
                src = e.source();
            }
            msg
        }
    }
}

/// A DynamoDB client for DynamoDB Local (dummy credentials).
pub async fn local_client(endpoint: &str, region: &str) -> Client {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("local", "local", None, None, "local"))
        .load()
        .await;
    Client::new(&conf)
}

fn keys(schema: &[(String, String)]) -> Result<Vec<KeySchemaElement>, Error> {
    schema
        .iter()
        .map(|(name, kind)| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(KeyType::from(kind.as_str()))
                .build()
                .map_err(err)
        })
        .collect()
}

fn projection(i: &IndexSpec) -> Projection {
    let mut p =
        Projection::builder().projection_type(ProjectionType::from(i.projection_type.as_str()));
    for a in &i.non_key_attributes {
        p = p.non_key_attributes(a);
    }
    p.build()
}

fn throughput() -> Result<ProvisionedThroughput, Error> {
    ProvisionedThroughput::builder()
        .read_capacity_units(5)
        .write_capacity_units(5)
        .build()
        .map_err(err)
}

/// Creates `table_name` as the template's `AWS::DynamoDB::Table` says (existing table: left as is),
/// then enables TTL if the template does.
pub async fn create_table_from_template(
    client: &Client,
    template: &Path,
    table_name: &str,
) -> Result<TableOutcome, Error> {
    let t = Template::load(template)?;
    let spec = t
        .table
        .ok_or_else(|| Error::Template("no AWS::DynamoDB::Table".into()))?;
    create_table(client, &spec, table_name).await
}

/// Same as [`create_table_from_template`] from a parsed table spec.
pub async fn create_table(
    client: &Client,
    spec: &TableSpec,
    table_name: &str,
) -> Result<TableOutcome, Error> {
    let provisioned = spec.billing_mode.as_deref() == Some("PROVISIONED");
    let mut req = client
        .create_table()
        .table_name(table_name)
        .set_key_schema(Some(keys(&spec.key_schema)?))
        .billing_mode(if provisioned {
            BillingMode::Provisioned
        } else {
            BillingMode::PayPerRequest
        });
    for (name, ty) in &spec.attributes {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::from(ty.as_str()))
                .build()
                .map_err(err)?,
        );
    }
    if provisioned {
        req = req.provisioned_throughput(throughput()?);
    }
    for g in &spec.global_indexes {
        let mut b = GlobalSecondaryIndex::builder()
            .index_name(&g.name)
            .set_key_schema(Some(keys(&g.key_schema)?))
            .projection(projection(g));
        if provisioned {
            b = b.provisioned_throughput(throughput()?);
        }
        req = req.global_secondary_indexes(b.build().map_err(err)?);
    }
    for l in &spec.local_indexes {
        req = req.local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name(&l.name)
                .set_key_schema(Some(keys(&l.key_schema)?))
                .projection(projection(l))
                .build()
                .map_err(err)?,
        );
    }
    if let Some(view) = &spec.stream_view_type {
        req = req.stream_specification(stream_spec(view)?);
    }
    let outcome = match req.send().await {
        Ok(_) => TableOutcome::Created,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            TableOutcome::AlreadyExisted
        }
        Err(e) => {
            return Err(Error::DynamoDb(sdk_err(
                &format!("CreateTable {table_name}"),
                &e,
            )));
        }
    };
    for _ in 0..100 {
        let d = client.describe_table().table_name(table_name).send().await;
        let status = d.ok().and_then(|d| d.table).and_then(|t| t.table_status);
        if status == Some(TableStatus::Active) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    if outcome == TableOutcome::AlreadyExisted
        && let Some(view) = &spec.stream_view_type
    {
        ensure_stream(client, table_name, view).await?;
    }
    if let Some(attr) = &spec.ttl_attribute {
        let current = client
            .describe_time_to_live()
            .table_name(table_name)
            .send()
            .await
            .ok();
        let enabled = current
            .and_then(|c| c.time_to_live_description)
            .is_some_and(|d| {
                d.attribute_name.as_deref() == Some(attr.as_str())
                    && d.time_to_live_status
                        .is_some_and(|s| s.as_str() == "ENABLED")
            });
        if !enabled {
            let ttl = TimeToLiveSpecification::builder()
                .attribute_name(attr)
                .enabled(true)
                .build()
                .map_err(err)?;
            if let Err(e) = client
                .update_time_to_live()
                .table_name(table_name)
                .time_to_live_specification(ttl)
                .send()
                .await
            {
                let msg = sdk_err(&format!("UpdateTimeToLive {table_name}"), &e);
                if !msg.contains("already enabled") {
                    return Err(Error::DynamoDb(msg));
                }
            }
        }
    }
    Ok(outcome)
}

fn stream_spec(view: &str) -> Result<StreamSpecification, Error> {
    StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::from(view))
        .build()
        .map_err(err)
}

/// Enables the template's stream on a table created before the template had one.
async fn ensure_stream(client: &Client, table_name: &str, view: &str) -> Result<(), Error> {
    let current = client
        .describe_table()
        .table_name(table_name)
        .send()
        .await
        .map_err(|e| Error::DynamoDb(sdk_err(&format!("DescribeTable {table_name}"), &e)))?
        .table
        .and_then(|t| t.stream_specification);
    let same = current.as_ref().is_some_and(|s| {
        s.stream_enabled && s.stream_view_type.as_ref().map(|v| v.as_str()) == Some(view)
    });
    if same {
        return Ok(());
    }
    if current.is_some_and(|s| s.stream_enabled) {
        // A stream with another view type must be disabled before the new one is enabled.
        let off = StreamSpecification::builder()
            .stream_enabled(false)
            .build()
            .map_err(err)?;
        client
            .update_table()
            .table_name(table_name)
            .stream_specification(off)
            .send()
            .await
            .map_err(|e| Error::DynamoDb(sdk_err(&format!("UpdateTable {table_name}"), &e)))?;
    }
    client
        .update_table()
        .table_name(table_name)
        .stream_specification(stream_spec(view)?)
        .send()
        .await
        .map_err(|e| Error::DynamoDb(sdk_err(&format!("UpdateTable {table_name}"), &e)))?;
    Ok(())
}
