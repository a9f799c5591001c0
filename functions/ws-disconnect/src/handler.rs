//! `$disconnect`: removes the connection's records and announces who left. Best-effort by
//! nature (API Gateway may not call it); connection records also expire by TTL.

use shared::connections::{self, Presence};
use shared::ws::{self, WsEvent, WsResponse};
use shared::{App, Result};

pub async fn disconnect(app: App, ev: WsEvent) -> Result<WsResponse> {
    let connection_id = ws::connection_id(&ev)?;
    let (conn, left) = connections::unregister(&app.db, &connection_id).await?;
    if let Some(conn) = conn {
        for community_id in left {
            shared::realtime::announce_presence(&app, &conn, &community_id, Presence::Left).await;
        }
    }
    ws::ok()
}
