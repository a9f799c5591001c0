//! The middle test layer: each store against DynamoDB Local (a fresh table per test, no
//! gateway), and use cases against fakes where a fake earns its keep.

mod communities;
mod lms;
mod notifications;
mod outbox;
mod posts;
