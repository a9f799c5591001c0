//! Routes of `/api/community/posts/...`, `/groups/{id}/posts/` and `/groups/{id}/moderation/`:
//! request parsing and response shapes only; the rules live in `shared::posts`.

use lambda_http::{Body, Request, Response};
use shared::access::Access;
use shared::http::{
    self, PageParams, created, json_body, no_content, ok, page_params, principal, query,
};
use shared::ids::{parse_external, parse_ulid};
use shared::posts::moderation::{self, NoteInput, ReasonInput};
use shared::posts::reactions::{self, ReactionInput, ReactionType};
use shared::posts::{self, EditMode, Lane, ListFilter, PostEvent, THREAD_PAGE};
use shared::{App, Error, Result};
use std::collections::HashMap;

pub async fn route(app: App, req: Request) -> Result<Response<Body>> {
    let caller = principal(&app, &req)?;
    let now = app.clock.now();
    let segments = http::segments(&req);
    let path: Vec<&str> = segments.iter().map(String::as_str).collect();
    let db = &app.db;
    match Endpoint::of(req.method().as_str(), &path)? {
        Endpoint::ListPosts => {
            let q = query(&req);
            let community = q
                .get("community")
                .ok_or_else(|| Error::validation("community", "is required"))?;
            let community = parse_ulid("community", community)?;
            let access = Access::load(db, &caller, &community, now).await?;
            list(&app, &access, &q).await
        }
        Endpoint::CreatePost(community) => {
            let input = json_body(&req)?;
            let (view, events) =
                posts::create(db, &caller, community.as_deref(), input, now).await?;
            publish(&app, &events).await;
            created(&view)
        }
        Endpoint::GroupPosts(community) => {
            let access = Access::load(db, &caller, &community, now).await?;
            list(&app, &access, &query(&req)).await
        }
        Endpoint::Post(id, action) => {
            let pa = posts::load(db, &caller, &id, now).await?;
            post_action(&app, &req, action, &pa).await
        }
        Endpoint::ModerationQueue(community) => {
            let access = Access::load(db, &caller, &community, now).await?;
            let page = page_params(&query(&req))?;
            ok(&moderation::queue(db, &app.cursors, &access, &page).await?)
        }
    }
}

/// What a request asks for, known from its method and path before anything is read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    ListPosts,
    /// In the community of the path (`/groups/{id}/posts/`) or of the body (`/posts/`).
    CreatePost(Option<String>),
    GroupPosts(String),
    Post(String, PostAction),
    ModerationQueue(String),
}

impl Endpoint {
    fn of(method: &str, path: &[&str]) -> Result<Self> {
        Ok(match (method, path) {
            ("GET", ["posts"]) => Endpoint::ListPosts,
            ("POST", ["posts"]) => Endpoint::CreatePost(None),
            (_, ["posts"]) => return Err(Error::MethodNotAllowed),
            (_, ["posts", id, rest @ ..]) => {
                let action = PostAction::of(method, rest)?;
                Endpoint::Post(parse_ulid("post", id)?, action)
            }
            ("GET", ["groups", id, "posts"]) => Endpoint::GroupPosts(parse_ulid("community", id)?),
            ("POST", ["groups", id, "posts"]) => {
                Endpoint::CreatePost(Some(parse_ulid("community", id)?))
            }
            ("GET", ["groups", id, "moderation"]) => {
                Endpoint::ModerationQueue(parse_ulid("community", id)?)
            }
            (_, ["groups", _, "posts" | "moderation"]) => return Err(Error::MethodNotAllowed),
            _ => return Err(Error::NotFound("route")),
        })
    }
}

async fn list(app: &App, access: &Access, q: &HashMap<String, String>) -> Result<Response<Body>> {
    let filter = ListFilter {
        status: q.get("status").map(|s| Lane::parse(s)).transpose()?,
        pinned: http::flag(q, "pinned")?,
        author: q
            .get("author")
            .map(|a| parse_external("author", a))
            .transpose()?,
    };
    let page = page_params(q)?;
    ok(&posts::list(&app.db, &app.cursors, access, &filter, &page).await?)
}

/// What a request under `/posts/{id}/` asks for, known before anything is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PostAction {
    Read,
    Edit(EditMode),
    Delete,
    Revisions,
    React,
    Unreact,
    Approve,
    Reject,
    Pin(bool),
    Flag,
    Flags,
    ResolveFlags,
    AddNote,
    Notes,
}

impl PostAction {
    fn of(method: &str, rest: &[&str]) -> Result<Self> {
        Ok(match (method, rest) {
            ("GET", []) => PostAction::Read,
            ("PUT", []) => PostAction::Edit(EditMode::Replace),
            ("PATCH", []) => PostAction::Edit(EditMode::Patch),
            ("DELETE", []) => PostAction::Delete,
            ("GET", ["edits"]) => PostAction::Revisions,
            ("POST", ["react"]) => PostAction::React,
            ("DELETE", ["react"]) => PostAction::Unreact,
            ("POST", ["approve"]) => PostAction::Approve,
            ("POST", ["reject"]) => PostAction::Reject,
            ("POST", ["pin"]) => PostAction::Pin(true),
            ("POST", ["unpin"]) => PostAction::Pin(false),
            ("POST", ["flag"]) => PostAction::Flag,
            ("GET", ["flags"]) => PostAction::Flags,
            ("POST", ["resolve-flags"]) => PostAction::ResolveFlags,
            ("POST", ["notes"]) => PostAction::AddNote,
            ("GET", ["notes"]) => PostAction::Notes,
            (
                _,
                []
                | [
                    "edits" | "react" | "approve" | "reject" | "pin" | "unpin" | "flag" | "flags"
                    | "resolve-flags" | "notes",
                ],
            ) => return Err(Error::MethodNotAllowed),
            _ => return Err(Error::NotFound("route")),
        })
    }
}

async fn post_action(
    app: &App,
    req: &Request,
    action: PostAction,
    pa: &posts::PostAccess,
) -> Result<Response<Body>> {
    let db = &app.db;
    let now = app.clock.now();
    let cursors = &app.cursors;
    match action {
        PostAction::Read => {
            let q = query(req);
            let mut page = page_params(&q)?;
            if !q.contains_key("limit") {
                page.limit = THREAD_PAGE;
            }
            ok(&posts::read(db, cursors, pa, &page).await?)
        }
        PostAction::Edit(mode) => ok(&posts::edit(db, pa, json_body(req)?, mode, now).await?),
        PostAction::Delete => {
            posts::delete(db, pa, now).await?;
            no_content()
        }
        PostAction::Revisions => ok(&posts::revisions(db, cursors, pa, &page(req)?).await?),
        PostAction::React => {
            let input: ReactionInput = json_body(req)?;
            let (reaction, added) = reactions::add(db, pa, input.reaction_type()?, now).await?;
            if added {
                created(&reaction)
            } else {
                ok(&reaction)
            }
        }
        PostAction::Unreact => {
            let t = ReactionType::parse(query(req).get("reaction_type").map(String::as_str))?;
            reactions::remove(db, pa, t, now).await?;
            no_content()
        }
        PostAction::Approve | PostAction::Reject => {
            let input: ReasonInput = json_body(req)?;
            let (view, events) = if action == PostAction::Approve {
                moderation::approve(db, pa, input, now).await?
            } else {
                moderation::reject(db, pa, input, now).await?
            };
            publish(app, &events).await;
            ok(&view)
        }
        PostAction::Pin(pinned) => ok(&posts::set_pinned(db, pa, pinned).await?),
        PostAction::Flag => {
            let (flag, events) = moderation::flag(db, pa, json_body(req)?, now).await?;
            publish(app, &events).await;
            created(&flag)
        }
        PostAction::Flags => ok(&moderation::flags(db, cursors, pa, &page(req)?).await?),
        PostAction::ResolveFlags => {
            let input: NoteInput = json_body(req)?;
            ok(&moderation::resolve_flags(db, pa, input, now).await?)
        }
        PostAction::AddNote => created(&moderation::add_note(db, pa, json_body(req)?, now).await?),
        PostAction::Notes => ok(&moderation::notes(db, cursors, pa, &page(req)?).await?),
    }
}

fn page(req: &Request) -> Result<PageParams> {
    page_params(&query(req))
}

/// The notifier's hook: every domain event of a request passes here once its write succeeded.
async fn publish(app: &App, events: &[PostEvent]) {
    shared::notifications::publish_post_events(app, events).await;
    for event in events {
        let post = event.post();
        tracing::info!(
            event = event.kind(),
            post_id = %post.id,
            community_id = %post.community_id,
            "post event"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::posts::NewPost;

    #[test]
    fn known_paths_with_the_wrong_method_answer_405_and_unknown_paths_404() {
        assert_eq!(PostAction::of("GET", &[]).unwrap(), PostAction::Read);
        assert_eq!(
            PostAction::of("DELETE", &["react"]).unwrap(),
            PostAction::Unreact
        );
        assert_eq!(
            PostAction::of("GET", &["approve"]).unwrap_err().status(),
            405
        );
        assert_eq!(PostAction::of("POST", &[]).unwrap_err().status(), 405);
        assert_eq!(PostAction::of("GET", &["nope"]).unwrap_err().status(), 404);
        assert_eq!(
            Endpoint::of("PUT", &["groups", "x", "moderation"])
                .unwrap_err()
                .status(),
            405
        );
        assert_eq!(
            Endpoint::of("GET", &["posts", "not-a-ulid"])
                .unwrap_err()
                .status(),
            400
        );
    }

    /// Every sample event in `events/posts/` reaches an endpoint, and its body fits the input.
    #[test]
    fn every_sample_event_routes_to_an_endpoint_with_a_valid_body() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/posts");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).expect("events/posts exists") {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let req = lambda_http::request::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let segments = http::segments(&req);
            let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
            let endpoint = Endpoint::of(req.method().as_str(), &segments)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let body = match &endpoint {
                Endpoint::CreatePost(_) => json_body::<NewPost>(&req).map(drop),
                Endpoint::Post(_, PostAction::Edit(_)) => {
                    json_body::<posts::PostEdit>(&req).map(drop)
                }
                Endpoint::Post(_, PostAction::React) => json_body::<ReactionInput>(&req)
                    .and_then(|i| i.reaction_type())
                    .map(drop),
                Endpoint::Post(_, PostAction::Unreact) => {
                    ReactionType::parse(query(&req).get("reaction_type").map(String::as_str))
                        .map(drop)
                }
                Endpoint::Post(_, PostAction::Approve | PostAction::Reject | PostAction::Flag) => {
                    json_body::<ReasonInput>(&req).map(drop)
                }
                Endpoint::Post(_, PostAction::AddNote | PostAction::ResolveFlags) => {
                    json_body::<NoteInput>(&req).map(drop)
                }
                _ => Ok(()),
            };
            body.unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
            seen += 1;
        }
        assert!(seen >= 20, "one sample per endpoint, found {seen}");
    }
}
