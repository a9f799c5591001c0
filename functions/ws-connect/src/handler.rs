//! `$connect`: authenticates the `?token=` (the connection is refused without a valid one),
//! registers the connection and subscribes it to `?community_id=` if the caller may read it.

use shared::access::{Access, Action};
use shared::ids::parse_ulid;
use shared::ws::{self, WsEvent, WsResponse};
use shared::{App, Result, connections};

pub async fn connect(app: App, ev: WsEvent) -> Result<WsResponse> {
    let connection_id = ws::connection_id(&ev)?;
    let principal = app
        .auth
        .verify(ws::query(&ev, "token").unwrap_or_default())?;
    let now = app.clock.now();
    let access = match ws::query(&ev, "community_id") {
        Some(raw) => {
            let id = parse_ulid("community", raw)?;
            let access = Access::load(&app.db, &principal, &id, now).await?;
            access.require(Action::Read)?;
            Some(access)
        }
        None => None,
    };
    let conn = connections::register(&app.db, &connection_id, &principal, now).await?;
    if let Some(access) = access {
        let presence = connections::subscribe(&app.db, &conn, &access.community.id).await?;
        shared::realtime::announce_presence(&app, &conn, &access.community.id, presence).await;
    }
    tracing::info!(connection_id, user_id = %principal.user_id, "connected");
    ws::ok()
}
