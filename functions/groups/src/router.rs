//! Routes of `/api/community/groups/...`: communities and their members.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::access::{Access, Action};
use shared::communities::{self, CommunityView, ListFilter};
use shared::http::{self, created, json_body, no_content, ok, page_params, principal, query};
use shared::ids::{parse_external, parse_ulid, parse_user_id};
use shared::membership::{self, CommunityRole};
use shared::{App, Error, Result};

pub async fn route(app: App, req: Request) -> Result<Response<Body>> {
    let caller = principal(&app, &req)?;
    let now = app.clock.now();
    let segments = http::segments(&req);
    let path: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = req.method().as_str();
    match (method, path.as_slice()) {
        ("GET", ["groups"]) => {
            let q = query(&req);
            let filter = ListFilter {
                mine: http::flag(&q, "mine")?.unwrap_or(false),
                course: q
                    .get("course")
                    .map(|c| parse_external("course", c))
                    .transpose()?,
            };
            ok(&communities::list(
                &app.db,
                &app.cursors,
                &caller,
                &filter,
                &page_params(&q)?,
                now,
            )
            .await?)
        }
        ("POST", ["groups"]) => {
            // Only admins create communities: decided before the body is read (SPEC §8).
            shared::access::require_platform(
                &caller,
                shared::access::PlatformAction::CreateCommunity,
            )?;
            let input = json_body(&req)?;
            created(
                &communities::create(&app.db, app.ids.as_ref(), &caller, input, &app.now_iso())
                    .await?,
            )
        }
        (_, ["groups"]) => Err(Error::MethodNotAllowed("GET, POST")),
        (_, ["groups", id, rest @ ..]) => {
            let id = parse_ulid("community", id)?;
            let access = Access::load(&app.db, &caller, &id, now).await?;
            community_route(&app, &req, method, &access, rest).await
        }
        _ => Err(Error::NotFound("route")),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleChange {
    role: CommunityRole,
}

async fn community_route(
    app: &App,
    req: &Request,
    method: &str,
    access: &Access,
    rest: &[&str],
) -> Result<Response<Body>> {
    let db = &app.db;
    match (method, rest) {
        ("GET", []) => ok(&CommunityView::of(access)),
        ("PATCH" | "PUT", []) => {
            let input = json_body(req);
            let ids = app.ids.as_ref();
            let community = communities::update(db, ids, access, input, app.clock.now()).await?;
            ok(&CommunityView::of(&access.with_community(community)))
        }
        ("GET", ["tags"]) => {
            access.require(Action::View)?;
            ok(&serde_json::json!({ "tags": access.community.tags }))
        }
        ("PUT", ["tags"]) => {
            let input = json_body(req);
            let community = communities::set_tags(db, access, input, &app.now_iso()).await?;
            ok(&serde_json::json!({ "tags": community.tags }))
        }
        ("GET", ["audit"]) => {
            let page = page_params(&query(req))?;
            ok(&shared::audit::list_with(db, &app.cursors, access, &page).await?)
        }
        ("POST", ["join"]) => {
            let (member, joined) = membership::join(db, access, &app.now_iso()).await?;
            if joined {
                created(&member)
            } else {
                ok(&member)
            }
        }
        ("POST", ["leave"]) => {
            membership::leave(db, access).await?;
            no_content()
        }
        ("GET", ["members"]) => {
            let page = page_params(&query(req))?;
            ok(&membership::list(db, &app.cursors, access, &page).await?)
        }
        ("PATCH" | "PUT", ["members", user_id]) => {
            let user_id = parse_user_id(user_id)?;
            let role = json_body::<RoleChange>(req).map(|c| c.role);
            let ids = app.ids.as_ref();
            let now = app.clock.now();
            ok(&membership::set_role(db, ids, access, &user_id, role, now).await?)
        }
        ("DELETE", ["members", user_id]) => {
            let user_id = parse_user_id(user_id)?;
            let now = app.clock.now();
            membership::remove_member(db, app.ids.as_ref(), access, &user_id, now).await?;
            no_content()
        }
        (_, []) => Err(Error::MethodNotAllowed("GET, PUT, PATCH")),
        (_, ["join"] | ["leave"]) => Err(Error::MethodNotAllowed("POST")),
        (_, ["members"]) => Err(Error::MethodNotAllowed("GET")),
        (_, ["members", _]) => Err(Error::MethodNotAllowed("PUT, PATCH, DELETE")),
        (_, ["tags"]) => Err(Error::MethodNotAllowed("GET, PUT")),
        (_, ["audit"]) => Err(Error::MethodNotAllowed("GET")),
        // Served by other functions for GET only; any other method of theirs lands here.
        (_, ["messages" | "online" | "moderation"]) => Err(Error::MethodNotAllowed("GET")),
        _ => Err(Error::NotFound("route")),
    }
}
