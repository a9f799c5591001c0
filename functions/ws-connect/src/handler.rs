//! `$connect`: authenticates the `?token=` (the connection is refused without a valid one),
//! registers the connection and subscribes it to `?community_id=` if the caller may read it.

use shared::connections::use_cases as connections;
use shared::ids::parse_ulid;
use shared::ws::{self, WsEvent, WsResponse};
use shared::{App, Result};

pub async fn connect(app: App, ev: WsEvent) -> Result<WsResponse> {
    let connection_id = ws::connection_id(&ev)?;
    let principal = app
        .auth
        .verify(ws::query(&ev, "token").unwrap_or_default())?;
    let community_id = ws::query(&ev, "community_id")
        .map(|raw| parse_ulid("community", raw))
        .transpose()?;
    let (db, now) = (&app.db, app.clock.now());
    let community = community_id.as_deref();
    connections::connect(db, now, &principal, &connection_id, community).await?;
    tracing::info!(connection_id, user_id = %principal.user_id, "connected");
    ws::ok()
}
