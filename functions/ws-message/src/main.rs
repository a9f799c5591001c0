//! Lambda entry point of the WebSocket message routes (`$default`, routed on `type`).

mod handler;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let app = shared::App::from_env().await?;
    shared::ws::serve(app, handler::message).await
}
