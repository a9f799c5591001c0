//! Routes of `/api/community/lms/...`: idempotent upserts of users, courses and enrollments.

use lambda_http::{Body, Request, Response};
use serde::Serialize;
use shared::access::{PlatformAction, require_platform};
use shared::http::{self, json, json_body, no_content, principal};
use shared::ids::{parse_external, parse_user_id};
use shared::{App, Error, Result};
use shared::{data_rights, lms};

/// 201 when the upsert created or changed something, 200 when it was already so.
fn upserted<T: Serialize>(value: &T, written: bool) -> Result<Response<Body>> {
    json(if written { 201 } else { 200 }, value)
}

pub async fn route(app: App, req: Request) -> Result<Response<Body>> {
    let caller = principal(&app, &req)?;
    let segments = http::segments(&req);
    let path: Vec<&str> = segments.iter().map(String::as_str).collect();
    // Before anything of the request is read: a non-admin learns nothing of its shape.
    require_platform(
        &caller,
        match path.as_slice() {
            ["lms", "users", _, "export"] => PlatformAction::ManageUserData,
            ["lms", "users", _] if req.method() == "DELETE" => PlatformAction::ManageUserData,
            _ => PlatformAction::SyncLms,
        },
    )?;
    let now = app.now_iso();
    let db = &app.db;
    match (req.method().as_str(), path.as_slice()) {
        ("GET", ["lms", "users", user_id, "export"]) => {
            let user_id = parse_user_id(user_id)?;
            json(
                200,
                &data_rights::export(db, &caller, &user_id, &now).await?,
            )
        }
        ("DELETE", ["lms", "users", user_id]) => {
            let user_id = parse_user_id(user_id)?;
            json(
                200,
                &data_rights::erase(
                    db,
                    app.push.as_ref(),
                    app.devices.as_deref(),
                    &caller,
                    &user_id,
                )
                .await?,
            )
        }
        ("PUT", ["lms", "users", user_id]) => {
            let user_id = parse_user_id(user_id)?;
            let (user, written) =
                lms::upsert_user(db, &caller, &user_id, json_body(&req)?, &now).await?;
            upserted(&user, written)
        }
        ("PUT", ["lms", "courses", course_id]) => {
            let course_id = parse_external("course", course_id)?;
            let (course, written) = lms::upsert_course(
                db,
                app.ids.as_ref(),
                &caller,
                &course_id,
                json_body(&req)?,
                &now,
            )
            .await?;
            upserted(&course, written)
        }
        ("PUT", ["lms", "courses", course_id, "enrollments", user_id]) => {
            let course_id = parse_external("course", course_id)?;
            let user_id = parse_user_id(user_id)?;
            let (enrollment, written) =
                lms::upsert_enrollment(db, &caller, &course_id, &user_id, json_body(&req)?, &now)
                    .await?;
            upserted(&enrollment, written)
        }
        ("DELETE", ["lms", "courses", course_id, "enrollments", user_id]) => {
            let course_id = parse_external("course", course_id)?;
            let user_id = parse_user_id(user_id)?;
            lms::delete_enrollment(db, &caller, &course_id, &user_id, &now).await?;
            no_content()
        }
        (_, ["lms", "users", _]) => Err(Error::MethodNotAllowed("PUT, DELETE")),
        (_, ["lms", "users", _, "export"]) => Err(Error::MethodNotAllowed("GET")),
        (_, ["lms", "courses", _]) => Err(Error::MethodNotAllowed("PUT")),
        (_, ["lms", "courses", _, "enrollments", _]) => Err(Error::MethodNotAllowed("PUT, DELETE")),
        _ => Err(Error::NotFound("route")),
    }
}
