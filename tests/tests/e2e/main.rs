//! End-to-end tests: real HTTP and WebSocket clients against the local API Gateway running the
//! real function binaries on DynamoDB Local. One binary, one module per area.

mod attachments;
mod auth;
mod chat;
mod data_rights;
mod direct_messages;
mod email;
mod events;
mod forum;
mod gateway;
mod groups;
mod hardening;
mod iam;
mod identity;
mod keys;
mod lms;
mod metrics;
mod notifications;
mod posts;
mod push;
mod search;
mod security;
