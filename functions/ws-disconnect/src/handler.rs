//! `$disconnect`: removes the connection's records and announces who left. Best-effort by
//! nature (API Gateway may not call it); connection records also expire by TTL.

use shared::connections::use_cases as connections;
use shared::ws::{self, WsEvent, WsResponse};
use shared::{App, Result};

pub async fn disconnect(app: App, ev: WsEvent) -> Result<WsResponse> {
    let connection_id = ws::connection_id(&ev)?;
    connections::disconnect(&app.db, app.push.as_ref(), app.clock.now(), &connection_id).await?;
    ws::ok()
}
