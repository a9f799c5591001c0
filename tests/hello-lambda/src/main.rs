//! Hello world on `lambda_runtime`: answers each event with itself. Not deployed; the cold-start
//! benchmark (`tests/benches/cold_start.rs`) measures its init in the same run as every function's,
//! as the floor a Rust function's init can reach on the machine.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
