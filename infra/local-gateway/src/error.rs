//! Error type of the local gateway.

/// Errors from loading the template, starting servers or talking to DynamoDB Local.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("template: {0}")]
    Template(String),
    #[error("io: {0}")]
    Io(String),
    #[error("cannot listen on {addr}: {reason}")]
    Bind { addr: String, reason: String },
    #[error("config: {0}")]
    Config(String),
    #[error("dynamodb: {0}")]
    DynamoDb(String),
    #[error("seeding demo data: {0}")]
    Seed(String),
}
