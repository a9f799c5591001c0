//! `$disconnect`: removes the connection's records (who left is told by the stream's presence
//! consumer). Best-effort by nature (API Gateway may not call it); connection records also
//! expire by TTL.

use shared::connections::use_cases as connections;
use shared::ws::{self, WsEvent, WsResponse};
use shared::{App, Result};

pub async fn disconnect(app: App, ev: WsEvent) -> Result<WsResponse> {
    let connection_id = ws::connection_id(&ev)?;
    connections::disconnect(&app.db, &connection_id).await?;
    ws::ok()
}
