//! Lambda entry point of the search indexer: invoked by the table's stream with the changes of
//! posts and community chat messages (`NEW_AND_OLD_IMAGES`), which it turns into postings.

mod handler;

use aws_lambda_events::event::dynamodb::Event;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let app = shared::App::from_env().await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, std::convert::Infallible>(handler::handle(&app.db, event.payload).await)
    }))
    .await
}
