//! The middle test layer: each store against DynamoDB Local (a fresh table per test, no
//! gateway), and use cases against fakes where a fake earns its keep.

mod chat;
mod communities;
mod connections;
mod conversations;
mod fakes;
mod lms;
mod notifications;
mod outbox;
mod posts;
