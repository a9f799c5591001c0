//! Routes of `/api/community/messages/...` and the chat routes of a community
//! (`/groups/{id}/messages`, `/groups/{id}/online`). A message sent here is delivered live like
//! one sent over the WebSocket.

use lambda_http::{Body, Request, Response};
use shared::chat::use_cases::{self as chat, MessageAt};
use shared::chat::{EditInput, ListQuery, SendInput};
use shared::connections::use_cases as connections;
use shared::http::{self, Page, created, json_body, no_content, ok, page_params, principal, query};
use shared::ids::parse_ulid;
use shared::{App, Error, Result};

pub async fn route(app: App, req: Request) -> Result<Response<Body>> {
    let caller = principal(&app, &req)?;
    let (db, pusher, now) = (&app.db, app.push.as_ref(), app.clock.now());
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
        ("GET", ["messages"]) => history(&app, &req, &caller, &community_param()?).await,
        ("POST", ["messages"]) => {
            let input = json_body::<SendInput>(&req);
            let ids = app.ids.as_ref();
            let sent =
                chat::send_input(db, pusher, &app.files, ids, now, &caller, input, None, None)
                    .await?;
            match sent.created {
                true => created(&sent.message),
                false => ok(&sent.message),
            }
        }
        ("GET", ["messages", "unread-count"]) => {
            ok(&chat::unread(db, now, &caller, &community_param()?).await?)
        }
        (_, ["messages"]) => Err(Error::MethodNotAllowed("GET, POST")),
        (_, ["messages", "unread-count"]) => Err(Error::MethodNotAllowed("GET")),
        (_, ["messages", id, rest @ ..]) => {
            let at = MessageAt::parse(id, None)?;
            match (method, rest) {
                ("GET", []) => ok(&chat::read_one(db, now, &caller, &at).await?),
                ("PUT" | "PATCH", []) => {
                    let text = json_body::<EditInput>(&req).and_then(EditInput::parse);
                    ok(&chat::edit(db, pusher, now, &caller, &at, text, None).await?)
                }
                ("DELETE", []) => {
                    chat::delete(db, pusher, now, &caller, &at, None).await?;
                    no_content()
                }
                ("POST", ["mark-as-read"]) => {
                    let read = chat::mark_read(db, pusher, now, &caller, &at, true).await?;
                    let unread = read
                        .unread
                        .ok_or_else(|| Error::internal("unread count missing"))?;
                    let receipt = read.receipt;
                    ok(&serde_json::json!({
                        "message_id": receipt.message_id,
                        "community_id": receipt.community_id,
                        "user_id": receipt.user_id,
                        "read_at": receipt.read_at,
                        "last_read_id": unread.last_read_id,
                        "unread_count": unread.unread_count,
                    }))
                }
                (_, []) => Err(Error::MethodNotAllowed("GET, PUT, PATCH, DELETE")),
                (_, ["mark-as-read"]) => Err(Error::MethodNotAllowed("POST")),
                _ => Err(Error::NotFound("route")),
            }
        }
        ("GET", ["groups", id, "messages"]) => {
            history(&app, &req, &caller, &parse_ulid("community", id)?).await
        }
        ("GET", ["groups", id, "online"]) => {
            let id = parse_ulid("community", id)?;
            ok(&Page {
                results: connections::online(db, now, &caller, &id).await?,
                next: None,
            })
        }
        (_, ["groups", _, "messages" | "online"]) => Err(Error::MethodNotAllowed("GET")),
        _ => Err(Error::NotFound("route")),
    }
}

/// `?cursor=` pages back in time (newest first); `?after=<message id>` catches up (oldest first).
async fn history(
    app: &App,
    req: &Request,
    caller: &shared::auth::Principal,
    community_id: &str,
) -> Result<Response<Body>> {
    let q = query(req);
    let after = q
        .get("after")
        .map(|a| parse_ulid("message", a))
        .transpose()?;
    let list = ListQuery {
        after,
        page: page_params(&q)?,
    };
    let now = app.clock.now();
    ok(&chat::history(&app.db, &app.cursors, now, caller, community_id, &list).await?)
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
