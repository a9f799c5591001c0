//! Lambda entry point of email: the schedules' runs (due notification emails every minute,
//! digests every hour) and the SES events of the configuration set's SNS topic.

mod handler;

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let app = shared::App::from_env().await?;
    let app = &app;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            app.refresh_keys().await;
            handler::handle(app, event.payload).await
        },
    ))
    .await
}
