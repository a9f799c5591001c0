//! The storage layer: every DynamoDB request of the domain is built here, one module per
//! aggregate, on the adapter in [`db`]. Stores take and answer records and typed outcomes; the
//! rules above them never see an expression string or a cancellation reason.

pub mod answers;
pub mod attachments;
pub mod audit;
pub mod blocks;
pub mod chat;
pub mod communities;
pub mod connections;
pub mod conversations;
pub mod db;
pub mod email;
pub mod lms;
pub mod mailer;
pub mod notifications;
pub mod objects;
pub mod outbox;
pub mod posts;
pub mod push;
pub mod pusher;
pub mod room;
pub mod search;
pub mod settings;
pub mod user_data;

pub use db::{Db, Item, Refused, Tx, TxOutcome};
