//! Routes of `/api/community/conversations/...` (direct messages, delivered live like chat) and
//! `/api/community/users/{id}/block/`.

use lambda_http::{Body, Request, Response};
use shared::chat::EditInput;
use shared::conversations::use_cases as dm;
use shared::conversations::{CreateInput, ListQuery, SendInput};
use shared::http::{self, created, json_body, no_content, ok, page_params, principal, query};
use shared::ids::{parse_ulid, parse_user_id};
use shared::{App, Error, Result};

pub async fn route(app: App, req: Request) -> Result<Response<Body>> {
    let caller = principal(&app, &req)?;
    let (db, pusher, now) = (&app.db, app.push.as_ref(), app.clock.now());
    let segments = http::segments(&req);
    let path: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = req.method().as_str();
    match (method, path.as_slice()) {
        ("GET", ["conversations"]) => {
            let page = page_params(&query(&req))?;
            ok(&dm::list(db, &app.cursors, &caller, &page).await?)
        }
        ("POST", ["conversations"]) => {
            let new = json_body::<CreateInput>(&req)?.parse(&caller.user_id)?;
            let (view, new) = dm::create(db, app.ids.as_ref(), now, &caller, new).await?;
            match new {
                true => created(&view),
                false => ok(&view),
            }
        }
        (_, ["conversations"]) => Err(Error::MethodNotAllowed("GET, POST")),
        (_, ["conversations", id, rest @ ..]) => {
            let id = parse_ulid("conversation", id)?;
            match (method, rest) {
                ("GET", []) => ok(&dm::get(db, &caller, &id).await?),
                ("GET", ["messages"]) => {
                    let q = query(&req);
                    let after = q
                        .get("after")
                        .map(|a| parse_ulid("message", a))
                        .transpose()?;
                    let list = ListQuery {
                        after,
                        page: page_params(&q)?,
                    };
                    ok(&dm::history(db, &app.cursors, &caller, &id, &list).await?)
                }
                ("POST", ["messages"]) => {
                    let new = json_body::<SendInput>(&req).and_then(SendInput::parse);
                    let ids = app.ids.as_ref();
                    let sent =
                        dm::send(db, pusher, &app.files, ids, now, &caller, &id, new, None).await?;
                    match sent.created {
                        true => created(&sent.message),
                        false => ok(&sent.message),
                    }
                }
                (_, []) => Err(Error::MethodNotAllowed("GET")),
                (_, ["messages"]) => Err(Error::MethodNotAllowed("GET, POST")),
                (_, ["messages", message_id, tail @ ..]) => {
                    let message_id = parse_ulid("message", message_id)?;
                    match (method, tail) {
                        ("PUT" | "PATCH", []) => {
                            let text = json_body::<EditInput>(&req).and_then(EditInput::parse);
                            let edited =
                                dm::edit(db, pusher, now, &caller, &id, &message_id, text).await?;
                            ok(&edited)
                        }
                        ("DELETE", []) => {
                            dm::delete(db, pusher, now, &caller, &id, &message_id).await?;
                            no_content()
                        }
                        ("POST", ["mark-as-read"]) => {
                            ok(&dm::mark_read(db, pusher, now, &caller, &id, &message_id).await?)
                        }
                        (_, []) => Err(Error::MethodNotAllowed("PUT, PATCH, DELETE")),
                        (_, ["mark-as-read"]) => Err(Error::MethodNotAllowed("POST")),
                        _ => Err(Error::NotFound("route")),
                    }
                }
                _ => Err(Error::NotFound("route")),
            }
        }
        (_, ["users", user_id, "block"]) => {
            let other = parse_user_id(user_id)?;
            match method {
                "POST" => {
                    dm::block(db, now, &caller, &other).await?;
                    no_content()
                }
                "DELETE" => {
                    dm::unblock(db, &caller, &other).await?;
                    no_content()
                }
                _ => Err(Error::MethodNotAllowed("POST, DELETE")),
            }
        }
        _ => Err(Error::NotFound("route")),
    }
}

#[cfg(test)]
mod tests {
    /// Every sample event is a valid HTTP API (payload 2.0) request for one of this function's
    /// routes.
    #[test]
    fn every_sample_event_is_an_http_api_request_for_a_conversation_route() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/conversations");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).expect("events/conversations") {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let req = lambda_http::request::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let segments = shared::http::segments(&req);
            let ours = matches!(segments.first().map(String::as_str), Some("conversations"))
                || (segments.first().is_some_and(|s| s == "users")
                    && segments.get(2).is_some_and(|s| s == "block"));
            assert!(ours, "{}: {segments:?}", path.display());
            assert!(req.headers().contains_key("authorization"));
            seen += 1;
        }
        assert!(seen >= 8);
    }
}
