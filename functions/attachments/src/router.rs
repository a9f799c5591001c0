//! Routes of `/api/community/attachments/...`: presign an upload, download through the access
//! check of the content that references the file.

use lambda_http::{Body, Request, Response};
use shared::attachments::{self, CreateInput};
use shared::http::{self, created, found, json_body, principal};
use shared::ids::parse_ulid;
use shared::{App, Error, Result};

pub async fn route(app: App, req: Request) -> Result<Response<Body>> {
    let caller = principal(&app, &req)?;
    let (db, files, now) = (&app.db, &app.files, app.clock.now());
    let segments = http::segments(&req);
    let path: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (req.method().as_str(), path.as_slice()) {
        ("POST", ["attachments"]) => {
            let input = json_body::<CreateInput>(&req)?;
            let max = app.config.attachment_max_bytes;
            let ids = app.ids.as_ref();
            created(&attachments::create(db, files, ids, now, &caller, max, input).await?)
        }
        (_, ["attachments"]) => Err(Error::MethodNotAllowed("POST")),
        ("GET", ["attachments", id]) => {
            let id = parse_ulid("attachment", id)?;
            found(&attachments::download(db, files, now, &caller, &id).await?)
        }
        (_, ["attachments", _]) => Err(Error::MethodNotAllowed("GET")),
        _ => Err(Error::NotFound("route")),
    }
}

#[cfg(test)]
mod tests {
    /// Every sample event is a valid HTTP API (payload 2.0) request for one of this function's
    /// routes.
    #[test]
    fn every_sample_event_is_an_http_api_request_for_an_attachment_route() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/attachments");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).expect("events/attachments") {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let req = lambda_http::request::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let segments = shared::http::segments(&req);
            assert_eq!(segments.first().map(String::as_str), Some("attachments"));
            assert!(req.headers().contains_key("authorization"));
            seen += 1;
        }
        assert_eq!(seen, 2);
    }
}
