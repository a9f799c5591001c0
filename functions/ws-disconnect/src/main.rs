//! Lambda entry point of the WebSocket `$disconnect` route.

mod handler;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let app = shared::App::from_env().await?;
    shared::ws::serve(app, handler::disconnect).await
}
