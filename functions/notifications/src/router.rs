//! Routes of `/api/community/notifications/...` (always the caller's own, push subscriptions
//! included) and of
//! `/groups/{id}/watch/`: request parsing and response shapes only; the rules live in
//! `shared::notifications`.

use lambda_http::{Body, Request, Response};
use shared::access::Access;
use shared::http::{self, created, json_body, ok, page_params, principal, query};
use shared::ids::parse_ulid;
use shared::notifications::{self, settings};
use shared::push;
use shared::{App, Error, Result};

pub async fn route(app: App, req: Request) -> Result<Response<Body>> {
    let segments = http::segments(&req);
    let path: Vec<&str> = segments.iter().map(String::as_str).collect();
    // The one route without a sign-in: the link of an email.
    if path.as_slice() == ["notifications", "unsubscribe"] {
        return unsubscribe(&app, &req).await;
    }
    let caller = principal(&app, &req)?;
    let now = app.clock.now();
    let db = &app.db;
    let me = caller.user_id.as_str();
    match (req.method().as_str(), path.as_slice()) {
        ("GET", ["notifications"]) => {
            let q = query(&req);
            let unread_only = http::flag(&q, "unread")?.unwrap_or(false);
            let page = page_params(&q)?;
            ok(&notifications::list(db, &app.cursors, &caller, unread_only, &page, now).await?)
        }
        ("GET", ["notifications", "unread-count"]) => {
            ok(&notifications::unread_count(db, me).await?)
        }
        ("POST", ["notifications", "mark-all-as-read"]) => {
            ok(&notifications::mark_all_read(db, me, now).await?)
        }
        ("GET", ["notifications", "preferences"]) => ok(&settings::preferences(db, me).await?),
        ("PUT" | "PATCH", ["notifications", "preferences"]) => {
            let body: serde_json::Value = json_body(&req)?;
            ok(&settings::set_preferences(db, me, body).await?)
        }
        ("GET", ["notifications", "push"]) => {
            ok(&push::overview(db, app.devices.as_deref(), me).await?)
        }
        ("POST", ["notifications", "push", "subscriptions"]) => {
            let body: serde_json::Value = json_body(&req)?;
            let devices = app.devices.as_deref();
            match push::subscribe(db, devices, app.ids.as_ref(), &app.now_iso(), me, &body).await? {
                push::Subscribed::New(s) => created(&s),
                push::Subscribed::Existing(s) => ok(&s),
            }
        }
        ("DELETE", ["notifications", "push", "subscriptions", id]) => {
            let id = parse_ulid("push subscription", id)?;
            push::unsubscribe(db, app.devices.as_deref(), me, &id).await?;
            http::no_content()
        }
        (_, ["notifications", "push"]) => Err(Error::MethodNotAllowed("GET")),
        (_, ["notifications", "push", "subscriptions"]) => Err(Error::MethodNotAllowed("POST")),
        (_, ["notifications", "push", "subscriptions", _]) => {
            Err(Error::MethodNotAllowed("DELETE"))
        }
        (_, ["notifications"] | ["notifications", "unread-count"]) => {
            Err(Error::MethodNotAllowed("GET"))
        }
        (_, ["notifications", "mark-all-as-read"]) => Err(Error::MethodNotAllowed("POST")),
        (_, ["notifications", "preferences"]) => Err(Error::MethodNotAllowed("GET, PUT, PATCH")),
        (method, ["notifications", id, rest @ ..]) => {
            let id = parse_ulid("notification", id)?;
            match (method, rest) {
                ("GET", []) => ok(&notifications::get(db, &caller, &id, now).await?),
                ("POST", ["mark-as-read"]) => {
                    ok(&notifications::mark_read(db, &caller, &id, now).await?)
                }
                (_, []) => Err(Error::MethodNotAllowed("GET")),
                (_, ["mark-as-read"]) => Err(Error::MethodNotAllowed("POST")),
                _ => Err(Error::NotFound("route")),
            }
        }
        (method, ["groups", id, "watch"]) => {
            let id = parse_ulid("community", id)?;
            let access = Access::load(db, &caller, &id, now).await?;
            match method {
                "GET" => ok(&settings::watch_state(db, &access).await?),
                "POST" | "PUT" => {
                    ok(&settings::set_watch(db, &access, true, &app.now_iso()).await?)
                }
                "DELETE" => ok(&settings::set_watch(db, &access, false, &app.now_iso()).await?),
                _ => Err(Error::MethodNotAllowed("GET, POST, PUT, DELETE")),
            }
        }
        _ => Err(Error::NotFound("route")),
    }
}

/// `notifications/unsubscribe/?token=`: `POST` (RFC 8058 one-click, or the web app's button)
/// unsubscribes; `GET` (a person following the link) changes nothing and sends them to the
/// web app's page, which asks before it posts. A signed-in caller may only use their own link.
async fn unsubscribe(app: &App, req: &Request) -> Result<Response<Body>> {
    let token = query(req).remove("token").unwrap_or_default();
    match req.method().as_str() {
        "POST" => {
            let caller = match req.headers().get("authorization") {
                Some(_) => Some(principal(app, req)?.user_id),
                None => None,
            };
            ok(&shared::email::unsubscribe::unsubscribe(
                &app.db,
                &app.cursors,
                &token,
                caller.as_deref(),
            )
            .await?)
        }
        // Only a token of ours goes into the redirect (base64url and dots); anything else is
        // refused as the POST would refuse it.
        "GET"
            if !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) =>
        {
            Err(Error::BadRequest(
                "this unsubscribe link is not valid: nothing was changed".into(),
            ))
        }
        "GET" => match &app.config.email {
            Some(email) => http::see_other(&format!(
                "{}/#/unsubscribe?token={}",
                email.web_app_url.trim_end_matches('/'),
                token
            )),
            None => Err(Error::NotFound("route")),
        },
        _ => Err(Error::MethodNotAllowed("GET, POST")),
    }
}

#[cfg(test)]
mod tests {
    /// Every sample HTTP event in `events/notifications/` is an HTTP API (payload 2.0) request
    /// for one of this function's routes.
    #[test]
    fn every_sample_http_event_is_a_request_for_a_notifications_route() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/notifications");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).expect("events/notifications exists") {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            if text.contains("\"Records\"") {
                continue;
            }
            let req = lambda_http::request::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let segments = shared::http::segments(&req);
            assert!(
                matches!(
                    segments.first().map(String::as_str),
                    Some("notifications" | "groups")
                ),
                "{}: {segments:?}",
                path.display()
            );
            seen += 1;
        }
        assert!(seen >= 6, "expected a sample per route, found {seen}");
    }
}
