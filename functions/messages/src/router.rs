//! Routes of `/api/community/messages/...` and the chat routes of a community
//! (`/groups/{id}/messages`, `/groups/{id}/online`). A message sent here is delivered live like
//! one sent over the WebSocket.

use lambda_http::{Body, Request, Response};
use shared::access::{Access, Action};
use shared::chat::{self, EditInput, ListQuery, SendInput};
use shared::http::{self, Page, created, json_body, no_content, ok, page_params, principal, query};
use shared::ids::parse_ulid;
use shared::{App, Error, Result, connections};

pub async fn route(app: App, req: Request) -> Result<Response<Body>> {
    let caller = principal(&app, &req)?;
    let now = app.clock.now();
    let segments = http::segments(&req);
    let path: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = req.method().as_str();
    let community_param = || {
        query(&req)
            .get("community")
            .map(|c| parse_ulid("community", c))
            .unwrap_or_else(|| Err(Error::validation("community", "is required")))
    };
    match (method, path.as_slice()) {
        ("GET", ["messages"]) => {
            let access = Access::load(&app.db, &caller, &community_param()?, now).await?;
            history(&app, &req, &access).await
        }
        ("POST", ["messages"]) => {
            let new = json_body::<SendInput>(&req)?.parse()?;
            let access = Access::load(&app.db, &caller, &new.community_id, now).await?;
            let sent = chat::send(&app.db, &access, new, now).await?;
            if sent.needs_delivery() {
                chat::deliver_sent(&app, &access, &sent.message, None).await;
            }
            if !sent.created {
                return ok(&sent.message);
            }
            shared::notifications::publish_chat_events(&app, &sent.events).await;
            created(&sent.message)
        }
        ("GET", ["messages", "unread-count"]) => {
            let access = Access::load(&app.db, &caller, &community_param()?, now).await?;
            ok(&chat::unread(&app.db, &access).await?)
        }
        (_, ["messages"] | ["messages", "unread-count"]) => Err(Error::MethodNotAllowed),
        (_, ["messages", id, rest @ ..]) => {
            let id = parse_ulid("message", id)?;
            let community_id = chat::locate(&app.db, &id).await?;
            let access = Access::load(&app.db, &caller, &community_id, now).await?;
            message_route(&app, &req, method, &access, &id, rest).await
        }
        ("GET", ["groups", id, "messages"]) => {
            let id = parse_ulid("community", id)?;
            let access = Access::load(&app.db, &caller, &id, now).await?;
            history(&app, &req, &access).await
        }
        ("GET", ["groups", id, "online"]) => {
            let id = parse_ulid("community", id)?;
            let access = Access::load(&app.db, &caller, &id, now).await?;
            access.require(Action::Read)?;
            let online = connections::online(&app.db, &id).await?;
            ok(&Page {
                results: online,
                next: None,
            })
        }
        (_, ["groups", _, "messages" | "online"]) => Err(Error::MethodNotAllowed),
        _ => Err(Error::NotFound("route")),
    }
}

/// `?cursor=` pages back in time (newest first); `?after=<message id>` catches up (oldest first).
async fn history(app: &App, req: &Request, access: &Access) -> Result<Response<Body>> {
    let q = query(req);
    let after = q
        .get("after")
        .map(|a| parse_ulid("message", a))
        .transpose()?;
    let list = ListQuery {
        after,
        page: page_params(&q)?,
    };
    ok(&chat::list(&app.db, &app.cursors, access, &list).await?)
}

async fn message_route(
    app: &App,
    req: &Request,
    method: &str,
    access: &Access,
    id: &str,
    rest: &[&str],
) -> Result<Response<Body>> {
    let now = app.clock.now();
    match (method, rest) {
        ("GET", []) => ok(&chat::read_one(&app.db, access, id).await?),
        ("PUT" | "PATCH", []) => {
            let text = json_body::<EditInput>(req)?.parse()?;
            let edited = chat::edit(&app.db, access, id, text, now).await?;
            chat::deliver_edit(app, access, &edited, None).await;
            ok(&edited)
        }
        ("DELETE", []) => {
            if let Some(deleted) = chat::delete(&app.db, access, id, now).await? {
                chat::deliver_delete(app, access, &deleted, None).await;
            }
            no_content()
        }
        ("POST", ["mark-as-read"]) => {
            let receipt = chat::mark_read(&app.db, access, id, now).await?;
            chat::deliver_receipt(app, &receipt).await;
            let unread = chat::unread(&app.db, access).await?;
            ok(&serde_json::json!({
                "message_id": receipt.message_id,
                "community_id": receipt.community_id,
                "user_id": receipt.user_id,
                "read_at": receipt.read_at,
                "last_read_id": unread.last_read_id,
                "unread_count": unread.unread_count,
            }))
        }
        (_, [] | ["mark-as-read"]) => Err(Error::MethodNotAllowed),
        _ => Err(Error::NotFound("route")),
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::RequestExt;

    /// Every sample event is a valid HTTP API (payload 2.0) request for one of this function's routes.
    #[test]
    fn every_sample_event_is_an_http_api_request_for_a_chat_route() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/messages");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).expect("events/messages") {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let req = lambda_http::request::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let segments = shared::http::segments(&req);
            let chat_route = segments.first().is_some_and(|s| s == "messages")
                || matches!(
                    segments.get(2).map(String::as_str),
                    Some("messages" | "online")
                );
            assert!(chat_route, "{}: {segments:?}", path.display());
            assert!(req.headers().contains_key("authorization"));
            if let Some(community) = req
                .query_string_parameters_ref()
                .and_then(|q| q.first("community"))
            {
                shared::ids::parse_ulid("community", community).unwrap();
            }
            seen += 1;
        }
        assert!(seen >= 10);
    }
}
