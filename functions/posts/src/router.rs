//! Routes of `/api/community/posts/...`, `/groups/{id}/posts/`, `/groups/{id}/moderation/` and
//! `/search/` (posts and community chat):
//! parse the request, call its use case in `shared::posts`, map the answer. The use cases load
//! access, store and queue notifications themselves.

use lambda_http::{Body, Request, Response};
use shared::http::{
    self, PageParams, created, json_body, no_content, ok, page_params, principal, query,
};
use shared::ids::{parse_ulid, parse_user_id};
use shared::posts::answers::{self, DuplicateInput};
use shared::posts::moderation::{self, NoteInput, ReasonInput};
use shared::posts::reactions::{self, ReactionInput, ReactionType};
use shared::posts::{self, EditMode, Lane, ListFilter, NewPost, PostKind, THREAD_PAGE};
use shared::search::{self, SearchQuery};
use shared::{App, Error, Result};
use std::collections::HashMap;

pub async fn route(app: App, req: Request) -> Result<Response<Body>> {
    let caller = principal(&app, &req)?;
    let now = app.clock.now();
    let segments = http::segments(&req);
    let path: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (db, cursors, ids) = (&app.db, &app.cursors, app.ids.as_ref());
    match Endpoint::of(req.method().as_str(), &path)? {
        Endpoint::ListPosts => {
            let q = query(&req);
            let community = q
                .get("community")
                .ok_or_else(|| Error::validation("community", "is required"))?;
            let community = parse_ulid("community", community)?;
            let (filter, page) = list_params(&q)?;
            ok(&posts::list_posts(db, cursors, &caller, &community, &filter, &page, now).await?)
        }
        Endpoint::CreatePost(community) => {
            // Every rule of the body is judged after the caller's right to post (SPEC §8).
            let input = json_body::<NewPost>(&req);
            let path = community.as_deref();
            created(&posts::create_from_body(db, &app.files, ids, &caller, path, input, now).await?)
        }
        Endpoint::GroupPosts(community) => {
            let (filter, page) = list_params(&query(&req))?;
            ok(&posts::list_posts(db, cursors, &caller, &community, &filter, &page, now).await?)
        }
        Endpoint::Post(id, action) => post_action(&app, &req, &caller, &id, action).await,
        Endpoint::ModerationQueue(community) => {
            let page = page_params(&query(&req))?;
            ok(&moderation::queue(db, cursors, &caller, &community, &page, now).await?)
        }
        Endpoint::Search => {
            let mut q = query(&req);
            let community = q
                .get("community")
                .ok_or_else(|| Error::validation("community", "is required"))?;
            let community_id = parse_ulid("community", community)?;
            let page = page_params(&q)?;
            let query = SearchQuery {
                community_id,
                q: q.remove("q"),
                doc_type: q.remove("type"),
                page,
            };
            ok(&search::search(db, cursors, now, &caller, query).await?)
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
    /// `GET search/?community=&q=[&type=][&cursor=]`.
    Search,
}

impl Endpoint {
    fn of(method: &str, path: &[&str]) -> Result<Self> {
        Ok(match (method, path) {
            ("GET", ["posts"]) => Endpoint::ListPosts,
            ("POST", ["posts"]) => Endpoint::CreatePost(None),
            (_, ["posts"]) => return Err(Error::MethodNotAllowed("GET, POST")),
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
            (_, ["groups", _, "posts"]) => return Err(Error::MethodNotAllowed("GET, POST")),
            (_, ["groups", _, "moderation"]) => return Err(Error::MethodNotAllowed("GET")),
            ("GET", ["search"]) => Endpoint::Search,
            (_, ["search"]) => return Err(Error::MethodNotAllowed("GET")),
            _ => return Err(Error::NotFound("route")),
        })
    }
}

/// `?status=&pinned=&author=&kind=&unanswered=&resolved=&tag=` and the page of a listing.
fn list_params(q: &HashMap<String, String>) -> Result<(ListFilter, PageParams)> {
    let filter = ListFilter {
        status: q.get("status").map(|s| Lane::parse(s)).transpose()?,
        pinned: http::flag(q, "pinned")?,
        author: q.get("author").map(|a| parse_user_id(a)).transpose()?,
        kind: q.get("kind").map(|k| PostKind::parse(k)).transpose()?,
        unanswered: http::flag(q, "unanswered")?.unwrap_or(false),
        resolved: http::flag(q, "resolved")?,
        tag: q
            .get("tag")
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty()),
    };
    Ok((filter, page_params(q)?))
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
    Accept(bool),
    Endorse(bool),
    Resolve(bool),
    Duplicate,
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
            ("POST", ["accept"]) => PostAction::Accept(true),
            ("DELETE", ["accept"]) => PostAction::Accept(false),
            ("POST", ["endorse"]) => PostAction::Endorse(true),
            ("DELETE", ["endorse"]) => PostAction::Endorse(false),
            ("POST", ["resolve"]) => PostAction::Resolve(true),
            ("POST", ["unresolve"]) => PostAction::Resolve(false),
            ("POST", ["duplicate"]) => PostAction::Duplicate,
            (_, []) => return Err(Error::MethodNotAllowed("GET, PUT, PATCH, DELETE")),
            (_, ["edits" | "flags"]) => return Err(Error::MethodNotAllowed("GET")),
            (_, ["react" | "accept" | "endorse"]) => {
                return Err(Error::MethodNotAllowed("POST, DELETE"));
            }
            (_, ["notes"]) => return Err(Error::MethodNotAllowed("GET, POST")),
            (
                _,
                [
                    "approve" | "reject" | "pin" | "unpin" | "flag" | "resolve-flags" | "resolve"
                    | "unresolve" | "duplicate",
                ],
            ) => {
                return Err(Error::MethodNotAllowed("POST"));
            }
            _ => return Err(Error::NotFound("route")),
        })
    }
}

async fn post_action(
    app: &App,
    req: &Request,
    caller: &shared::auth::Principal,
    id: &str,
    action: PostAction,
) -> Result<Response<Body>> {
    let (db, cursors, ids) = (&app.db, &app.cursors, app.ids.as_ref());
    let now = app.clock.now();
    match action {
        PostAction::Read => {
            let q = query(req);
            let mut page = page_params(&q)?;
            if !q.contains_key("limit") {
                page.limit = THREAD_PAGE;
            }
            ok(&posts::read_post(db, cursors, caller, id, &page, now).await?)
        }
        PostAction::Edit(mode) => {
            let input = json_body(req);
            ok(&posts::edit(db, caller, id, input, mode, now).await?)
        }
        PostAction::Delete => {
            posts::delete(db, ids, caller, id, now).await?;
            no_content()
        }
        PostAction::Revisions => {
            ok(&posts::revisions(db, cursors, caller, id, &page(req)?, now).await?)
        }
        PostAction::React => {
            let t = json_body::<ReactionInput>(req).and_then(|i| i.reaction_type());
            let (reaction, added) = reactions::react(db, caller, id, t, now).await?;
            if added {
                created(&reaction)
            } else {
                ok(&reaction)
            }
        }
        PostAction::Unreact => {
            let t = ReactionType::parse(query(req).get("reaction_type").map(String::as_str));
            reactions::unreact(db, caller, id, t, now).await?;
            no_content()
        }
        PostAction::Approve => {
            let input = json_body::<ReasonInput>(req);
            ok(&moderation::approve(db, ids, caller, id, input, now).await?)
        }
        PostAction::Reject => {
            let input = json_body::<ReasonInput>(req);
            ok(&moderation::reject(db, ids, caller, id, input, now).await?)
        }
        PostAction::Pin(pinned) => ok(&posts::set_pinned(db, ids, caller, id, pinned, now).await?),
        PostAction::Flag => {
            let input = json_body::<ReasonInput>(req);
            created(&moderation::flag(db, ids, caller, id, input, now).await?)
        }
        PostAction::Flags => {
            ok(&moderation::flags(db, cursors, caller, id, &page(req)?, now).await?)
        }
        PostAction::ResolveFlags => {
            let input = json_body::<NoteInput>(req);
            ok(&moderation::resolve_flags(db, ids, caller, id, input, now).await?)
        }
        PostAction::AddNote => {
            let input = json_body::<NoteInput>(req);
            created(&moderation::add_note(db, ids, caller, id, input, now).await?)
        }
        PostAction::Notes => {
            ok(&moderation::notes(db, cursors, caller, id, &page(req)?, now).await?)
        }
        PostAction::Accept(accepted) => {
            ok(&answers::accept(db, ids, caller, id, accepted, now).await?)
        }
        PostAction::Endorse(endorsed) => {
            ok(&answers::endorse(db, ids, caller, id, endorsed, now).await?)
        }
        PostAction::Resolve(resolved) => {
            ok(&answers::resolve(db, caller, id, resolved, now).await?)
        }
        PostAction::Duplicate => {
            let input = json_body::<DuplicateInput>(req);
            ok(&answers::duplicate(db, ids, caller, id, input, now).await?)
        }
    }
}

fn page(req: &Request) -> Result<PageParams> {
    page_params(&query(req))
}

#[cfg(test)]
mod tests {
    use super::*;

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
                Endpoint::Post(_, PostAction::Duplicate) => {
                    json_body::<DuplicateInput>(&req).map(drop)
                }
                _ => Ok(()),
            };
            body.unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
            seen += 1;
        }
        assert!(seen >= 20, "one sample per endpoint, found {seen}");
    }
}
