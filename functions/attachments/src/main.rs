//! Lambda entry point of the attachment endpoints.

mod router;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let app = shared::App::from_env().await?;
    shared::http::serve(app, router::route).await
}
