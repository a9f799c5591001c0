//! The security suite: an authorization matrix generated over every HTTP endpoint and WebSocket
//! action x every kind of caller (role, membership and enrollment state), each expected status
//! computed by a small rule function that mirrors the access matrix of the specification
//! (401 without a token, 404 for what the caller may not see, 403 for what they may see but not
//! do); object ids carried across communities and users (BOLA); tokens smuggled in the
//! WebSocket query and the `Authorization` header.

use e2e::*;
use futures::stream::{self, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const API: &str = "/api/community";
/// Requests in flight at once while a matrix runs.
const PARALLEL: usize = 8;

// ---------------------------------------------------------------- the rule

/// Everyone whose access differs in a course community.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Caller {
    NoToken,
    Stranger,
    EnrolledNonMember,
    Member,
    ExpiredMember,
    RemovedMember,
    Moderator,
    CourseInstructor,
    OtherInstructor,
    Admin,
}

const CALLERS: [Caller; 10] = [
    Caller::NoToken,
    Caller::Stranger,
    Caller::EnrolledNonMember,
    Caller::Member,
    Caller::ExpiredMember,
    Caller::RemovedMember,
    Caller::Moderator,
    Caller::CourseInstructor,
    Caller::OtherInstructor,
    Caller::Admin,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Visibility {
    Public,
    Private,
}

/// A right in the community (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Right {
    View,
    Join,
    Read,
    Post,
    Chat,
    Moderate,
    Update,
    ManageMembers,
}

/// What an endpoint asks of its caller. The community's objects used by the matrix are
/// authored by [`Caller::Member`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Any valid token (the caller's own notifications, the community listing).
    Authenticated,
    /// An admin token (LMS sync, creating communities).
    Admin,
    /// A right in the community.
    Has(Right),
    /// Reading the object, then being its author (post edits).
    Author,
    /// Reading the object, then being its author or a moderator (post delete, edit history).
    AuthorOrModerator,
    /// The right, on someone else's object (flagging: not one's own post).
    NotAuthor(Right),
    /// Chatting, then being the message's author (message edits).
    ChatAuthor,
    /// A moderator, or a chatting author (message delete).
    ModeratorOrChatAuthor,
    /// Joining: 201 for a new membership, 200 for an existing one.
    Join,
    /// Leaving, after everyone tried to join: 409 for course instructors and non-members.
    Leave,
}

/// Who sees the community at all.
fn sees(c: Caller, v: Visibility) -> bool {
    use Caller::*;
    v == Visibility::Public
        || matches!(
            c,
            EnrolledNonMember | Member | Moderator | CourseInstructor | Admin
        )
}

/// Who holds a right in a community they see.
fn holds(c: Caller, r: Right) -> bool {
    use Caller::*;
    match r {
        Right::View => true,
        Right::Join => !matches!(c, NoToken | Stranger | ExpiredMember | RemovedMember),
        Right::Read | Right::Post | Right::Chat => {
            matches!(c, Member | Moderator | CourseInstructor | Admin)
        }
        Right::Moderate => matches!(c, Moderator | CourseInstructor | Admin),
        Right::Update | Right::ManageMembers => matches!(c, CourseInstructor | Admin),
    }
}

/// Who holds a membership item before the matrix runs (whatever their enrollment says).
fn has_membership(c: Caller) -> bool {
    use Caller::*;
    matches!(
        c,
        Member | ExpiredMember | RemovedMember | Moderator | CourseInstructor
    )
}

fn guard(c: Caller, v: Visibility, r: Right) -> Result<(), u16> {
    if !sees(c, v) {
        Err(404)
    } else if !holds(c, r) {
        Err(403)
    } else {
        Ok(())
    }
}

fn only_if(allowed: bool) -> Result<(), u16> {
    if allowed { Ok(()) } else { Err(403) }
}

/// The status the specification gives `c` on an endpoint that answers `ok` when allowed.
fn expected(rule: Rule, ok: u16, c: Caller, v: Visibility) -> u16 {
    if c == Caller::NoToken {
        return 401;
    }
    let author = c == Caller::Member;
    let outcome = match rule {
        Rule::Authenticated => Ok(()),
        Rule::Admin => only_if(c == Caller::Admin),
        Rule::Has(r) => guard(c, v, r),
        Rule::Author => guard(c, v, Right::Read).and_then(|_| only_if(author)),
        Rule::AuthorOrModerator => {
            guard(c, v, Right::Read).and_then(|_| only_if(author || holds(c, Right::Moderate)))
        }
        Rule::NotAuthor(r) => guard(c, v, r).and_then(|_| only_if(!author)),
        Rule::ChatAuthor => guard(c, v, Right::Chat).and_then(|_| only_if(author)),
        Rule::ModeratorOrChatAuthor if holds(c, Right::Moderate) => guard(c, v, Right::Moderate),
        Rule::ModeratorOrChatAuthor => guard(c, v, Right::Chat).and_then(|_| only_if(author)),
        Rule::Join => guard(c, v, Right::Join),
        Rule::Leave => guard(c, v, Right::View).and_then(|_| {
            let joined = has_membership(c) || guard(c, v, Right::Join).is_ok();
            if c == Caller::CourseInstructor || !joined {
                Err(409)
            } else {
                Ok(())
            }
        }),
    };
    match outcome {
        Err(status) => status,
        Ok(()) if rule == Rule::Join && has_membership(c) => 200,
        Ok(()) => ok,
    }
}

// ---------------------------------------------------------------- the world

/// One course community with the whole cast and the objects the matrix acts on.
struct World {
    stack: Stack,
    course: Course,
    users: HashMap<Caller, User>,
    /// The member's approved post (read, flag, edit history).
    post: String,
    /// The member's posts edited by PATCH and by PUT.
    patch_post: String,
    put_post: String,
    /// A helper's post for reactions, and one for moderation.
    react_post: String,
    mod_post: String,
    /// Per caller: a post to delete (the member's own for the member, a helper's for the rest).
    victim_posts: HashMap<Caller, String>,
    /// The member's chat message (read, edit, mark-as-read).
    message: String,
    /// Per caller: a message to delete over HTTP and one over the WebSocket.
    victim_messages: HashMap<Caller, String>,
    ws_victim_messages: HashMap<Caller, String>,
    /// A member whose role the managers change; per caller a member to remove.
    role_target: User,
    removal_targets: HashMap<Caller, User>,
}

/// A new student, enrolled and joined (not pushed to the LMS: nobody mentions them).
async fn joined(stack: &Stack, course: &Course) -> User {
    let user = stack.user(Role::Student);
    stack.enroll(course, &user, None).await;
    stack.join(course, &user).await;
    user
}

/// Runs set-up writes a few at a time (they all touch the community's counters), answering
/// their outputs in order.
async fn bounded<T>(
    futures: impl IntoIterator<Item = impl std::future::Future<Output = T>>,
) -> Vec<T> {
    stream::iter(futures).buffered(4).collect().await
}

fn id(r: &Resp) -> String {
    r.body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {r:?}"))
        .to_string()
}

impl World {
    async fn new() -> World {
        let stack = Stack::start().await;
        let course = stack.course().await;
        let admin = stack.admin();
        let lms = stack.api(&admin);
        let enrollment = |u: &User| {
            format!(
                "{API}/lms/courses/{}/enrollments/{}/",
                course.course_id, u.id
            )
        };
        let stranger = stack.user(Role::Student);
        let enrolled = stack.user(Role::Student);
        let other_instructor = stack.user(Role::Instructor);
        stack.enroll(&course, &enrolled, None).await;
        let moderator = stack.moderator(&course).await;
        // The cast's three members, three helpers and a target per caller plus one.
        let mut members = bounded((0..7 + CALLERS.len()).map(|_| joined(&stack, &course))).await;
        let targets = members.split_off(6);
        let helpers = members.split_off(3);
        let [member, expired, removed]: [User; 3] = members.try_into().unwrap();
        let past = shared::clock::iso(chrono::Utc::now() - chrono::Duration::minutes(1));
        let r = lms
            .put(
                &enrollment(&expired),
                json!({ "is_active": true, "expiry_date": past }),
            )
            .await;
        assert_eq!(r.status, 201, "expire: {r:?}");
        assert_eq!(lms.delete(&enrollment(&removed)).await.status, 204);
        let mut targets = targets.into_iter();
        let role_target = targets.next().unwrap();
        let removal_targets = CALLERS.iter().copied().zip(targets).collect();
        let users = HashMap::from([
            (Caller::Stranger, stranger),
            (Caller::EnrolledNonMember, enrolled),
            (Caller::Member, member),
            (Caller::ExpiredMember, expired),
            (Caller::RemovedMember, removed),
            (Caller::Moderator, moderator),
            (Caller::CourseInstructor, course.instructor.clone()),
            (Caller::OtherInstructor, other_instructor),
            (Caller::Admin, admin),
        ]);

        let community = course.community_id.clone();
        let post_as = |u: &User, title: String| {
            let api = stack.api(u);
            let community = community.clone();
            async move {
                let r = api
                    .post(
                        &format!("{API}/posts/"),
                        json!({ "community": community, "title": title, "content": "Text" }),
                    )
                    .await;
                assert_eq!(r.status, 201, "post: {r:?}");
                id(&r)
            }
        };
        let say_as = |u: &User, text: String| {
            let api = stack.api(u);
            let community = community.clone();
            async move {
                let r = api
                    .post(
                        &format!("{API}/messages/"),
                        json!({ "community": community, "message": text }),
                    )
                    .await;
                assert_eq!(r.status, 201, "message: {r:?}");
                id(&r)
            }
        };
        let member = &users[&Caller::Member];
        // The author of each caller's victims: the member for itself, helpers in turn for the rest.
        let victim_author = |i: usize, c: Caller| {
            if c == Caller::Member {
                member
            } else {
                &helpers[i % helpers.len()]
            }
        };
        let posts = bounded(
            ["read", "patch", "put"]
                .iter()
                .map(|t| (member, format!("Member's {t}")))
                .chain(
                    ["react", "moderate"]
                        .iter()
                        .map(|t| (&helpers[0], format!("Helper's {t}"))),
                )
                .chain(
                    CALLERS
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (victim_author(i, *c), format!("Victim of {c:?}"))),
                )
                .map(|(u, title)| post_as(u, title)),
        )
        .await;
        let messages = bounded(
            std::iter::once((member, "The member's message".to_string()))
                .chain(
                    CALLERS
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (victim_author(i, *c), format!("HTTP victim of {c:?}"))),
                )
                .chain(
                    CALLERS
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (victim_author(i + 1, *c), format!("WS victim of {c:?}"))),
                )
                .map(|(u, text)| say_as(u, text)),
        )
        .await;
        let (mine, rest) = posts.split_at(3);
        let (theirs, victim_posts) = rest.split_at(2);
        let message = messages[0].clone();
        let (victim_messages, ws_victim_messages) = messages[1..].split_at(CALLERS.len());
        World {
            post: mine[0].clone(),
            patch_post: mine[1].clone(),
            put_post: mine[2].clone(),
            react_post: theirs[0].clone(),
            mod_post: theirs[1].clone(),
            victim_posts: CALLERS.iter().copied().zip(victim_posts.to_vec()).collect(),
            message,
            victim_messages: CALLERS
                .iter()
                .copied()
                .zip(victim_messages.to_vec())
                .collect(),
            ws_victim_messages: CALLERS
                .iter()
                .copied()
                .zip(ws_victim_messages.to_vec())
                .collect(),
            role_target,
            removal_targets,
            users,
            course,
            stack,
        }
    }

    async fn make_private(&self) {
        let r = self
            .stack
            .api(&self.course.instructor)
            .patch(
                &format!("{API}/groups/{}/", self.course.community_id),
                json!({ "visibility": "private" }),
            )
            .await;
        assert_eq!(r.status, 200, "make private: {r:?}");
    }

    fn api(&self, c: Caller) -> Api {
        match self.users.get(&c) {
            Some(u) => self.stack.api(u),
            None => self.stack.anonymous(),
        }
    }
}

// ---------------------------------------------------------------- the endpoints

/// One request of the matrix, made by one caller.
#[derive(Debug, Clone)]
struct Case {
    endpoint: &'static str,
    method: &'static str,
    path: String,
    body: Option<Value>,
    rule: Rule,
    /// The status when allowed.
    ok: u16,
    /// Cases run phase by phase (a later phase sees the writes of the earlier ones).
    phase: u8,
}

fn case(
    endpoint: &'static str,
    method: &'static str,
    path: String,
    body: Option<Value>,
    rule: Rule,
    ok: u16,
) -> Case {
    Case {
        endpoint,
        method,
        path,
        body,
        rule,
        ok,
        phase: 0,
    }
}

impl Case {
    fn in_phase(mut self, phase: u8) -> Case {
        self.phase = phase;
        self
    }
}

/// Every endpoint of `docs/api.md`, as `c` would call it: one line per endpoint.
#[rustfmt::skip]
fn cases(w: &World, c: Caller) -> Vec<Case> {
    use Rule::*;
    use Right::*;
    let community = &w.course.community_id;
    let g = format!("{API}/groups/{community}");
    let p = |id: &str| format!("{API}/posts/{id}");
    let m = |id: &str| format!("{API}/messages/{id}");
    let tag = format!("{c:?}").to_lowercase();
    let course_path = format!("{API}/lms/courses/{}", w.course.course_id);
    let course_n = w.course.course_id.trim_start_matches("course-");
    let member_id = &w.users[&Caller::Member].id;
    let reason = json!({ "reason": format!("by {tag}") });
    vec![
        // Communities
        case("list communities", "GET", format!("{API}/groups/"), None, Authenticated, 200),
        case("create community", "POST", format!("{API}/groups/"), Some(json!({ "title": format!("Made by {tag}") })), Admin, 201),
        case("get community", "GET", format!("{g}/"), None, Has(View), 200),
        case("patch community", "PATCH", format!("{g}/"), Some(json!({ "description": "Updated" })), Has(Update), 200),
        case("put community", "PUT", format!("{g}/"), Some(json!({ "description": "Updated" })), Has(Update), 200),
        case("list members", "GET", format!("{g}/members/"), None, Has(Read), 200),
        case("change a member's role", "PATCH", format!("{g}/members/{}/", w.role_target.id), Some(json!({ "role": "moderator" })), Has(ManageMembers), 200),
        case("remove a member", "DELETE", format!("{g}/members/{}/", w.removal_targets[&c].id), None, Has(ManageMembers), 204),
        case("list the community's posts", "GET", format!("{g}/posts/"), None, Has(Read), 200),
        case("post in the community", "POST", format!("{g}/posts/"), Some(json!({ "title": format!("By {tag}"), "content": "Hello" })), Has(Post), 201),
        case("moderation queue", "GET", format!("{g}/moderation/"), None, Has(Moderate), 200),
        case("chat history of the community", "GET", format!("{g}/messages/"), None, Has(Read), 200),
        case("who is online", "GET", format!("{g}/online/"), None, Has(Read), 200),
        case("watch state", "GET", format!("{g}/watch/"), None, Has(Read), 200),
        case("watch", "POST", format!("{g}/watch/"), Some(json!({})), Has(Read), 200),
        case("join", "POST", format!("{g}/join/"), Some(json!({})), Rule::Join, 201).in_phase(2),
        case("leave", "POST", format!("{g}/leave/"), Some(json!({})), Leave, 204).in_phase(3),
        // Posts
        case("list posts", "GET", format!("{API}/posts/?community={community}"), None, Has(Read), 200),
        case("create a post", "POST", format!("{API}/posts/"), Some(json!({ "community": community, "title": format!("By {tag}"), "content": "Hi" })), Has(Post), 201),
        case("reply to a post", "POST", format!("{API}/posts/"), Some(json!({ "community": community, "parent": w.post, "content": format!("Reply by {tag}") })), Has(Post), 201),
        case("read a post", "GET", format!("{}/", p(&w.post)), None, Has(Read), 200),
        case("patch a post", "PATCH", format!("{}/", p(&w.patch_post)), Some(json!({ "content": format!("Edited by {tag}") })), Author, 200),
        case("put a post", "PUT", format!("{}/", p(&w.put_post)), Some(json!({ "title": "Replaced", "content": format!("Replaced by {tag}") })), Author, 200),
        case("delete a post", "DELETE", format!("{}/", p(&w.victim_posts[&c])), None, AuthorOrModerator, 204),
        case("edit history", "GET", format!("{}/edits/", p(&w.post)), None, AuthorOrModerator, 200),
        case("react", "POST", format!("{}/react/", p(&w.react_post)), Some(json!({ "reaction_type": "helpful" })), Has(Post), 201),
        case("remove a reaction", "DELETE", format!("{}/react/?reaction_type=helpful", p(&w.react_post)), None, Has(Post), 204).in_phase(1),
        // Approving or rejecting an approved post is a conflict, once the caller may moderate.
        case("approve", "POST", format!("{}/approve/", p(&w.mod_post)), Some(json!({})), Has(Moderate), 409),
        case("reject", "POST", format!("{}/reject/", p(&w.mod_post)), Some(reason.clone()), Has(Moderate), 409),
        case("pin", "POST", format!("{}/pin/", p(&w.mod_post)), None, Has(Moderate), 200),
        case("unpin", "POST", format!("{}/unpin/", p(&w.mod_post)), None, Has(Moderate), 200).in_phase(1),
        case("flag", "POST", format!("{}/flag/", p(&w.post)), Some(reason.clone()), NotAuthor(Post), 201),
        case("list flags", "GET", format!("{}/flags/", p(&w.post)), None, Has(Moderate), 200),
        // The moderation post has no open flag: resolving is a conflict, once allowed.
        case("resolve flags", "POST", format!("{}/resolve-flags/", p(&w.mod_post)), Some(json!({})), Has(Moderate), 409),
        case("add a moderator note", "POST", format!("{}/notes/", p(&w.mod_post)), Some(json!({ "note": format!("by {tag}") })), Has(Moderate), 201),
        case("list moderator notes", "GET", format!("{}/notes/", p(&w.mod_post)), None, Has(Moderate), 200),
        // Chat messages
        case("list messages", "GET", format!("{API}/messages/?community={community}"), None, Has(Read), 200),
        case("catch up after a message", "GET", format!("{API}/messages/?community={community}&after={}", w.message), None, Has(Read), 200),
        case("send a message", "POST", format!("{API}/messages/"), Some(json!({ "community": community, "message": format!("From {tag}") })), Has(Chat), 201),
        case("unread count", "GET", format!("{API}/messages/unread-count/?community={community}"), None, Has(Read), 200),
        case("read a message", "GET", format!("{}/", m(&w.message)), None, Has(Read), 200),
        case("put a message", "PUT", format!("{}/", m(&w.message)), Some(json!({ "message": format!("Put by {tag}") })), ChatAuthor, 200),
        case("patch a message", "PATCH", format!("{}/", m(&w.message)), Some(json!({ "message": format!("Patched by {tag}") })), ChatAuthor, 200),
        case("delete a message", "DELETE", format!("{}/", m(&w.victim_messages[&c])), None, ModeratorOrChatAuthor, 204),
        case("mark a message read", "POST", format!("{}/mark-as-read/", m(&w.message)), Some(json!({})), Has(Read), 200),
        // Notifications (always the caller's own)
        case("list notifications", "GET", format!("{API}/notifications/"), None, Authenticated, 200),
        case("unread notifications", "GET", format!("{API}/notifications/unread-count/"), None, Authenticated, 200),
        case("mark all notifications read", "POST", format!("{API}/notifications/mark-all-as-read/"), Some(json!({})), Authenticated, 200),
        // LMS sync (admins only); the course and enrollment calls repeat what is stored: 200.
        case("push a user", "PUT", format!("{API}/lms/users/lms-{tag}/"), Some(json!({ "name": "Pushed", "username": format!("pushed-{tag}") })), Admin, 201),
        case("push the course", "PUT", format!("{course_path}/"), Some(json!({ "title": format!("Course {course_n}"), "description": "A test course", "instructor_ids": [w.course.instructor.id] })), Admin, 200),
        case("push an enrollment", "PUT", format!("{course_path}/enrollments/{member_id}/"), Some(json!({ "is_active": true, "expiry_date": null })), Admin, 200),
        case("remove an enrollment", "DELETE", format!("{course_path}/enrollments/nobody-{tag}/"), None, Admin, 204),
    ]
}

/// One request of the matrix; a mismatch with the rule is reported, not panicked on.
async fn check(w: &World, v: Visibility, c: Caller, k: Case) -> Option<String> {
    let api = w.api(c);
    let body = k.body.as_ref().map(Value::to_string);
    let r = match (k.method, body) {
        (method, Some(b)) => {
            api.request_raw(method, &k.path, &b, "application/json")
                .await
        }
        ("GET", None) => api.get(&k.path).await,
        ("DELETE", None) => api.delete(&k.path).await,
        (method, None) => {
            api.request_raw(method, &k.path, "", "application/json")
                .await
        }
    };
    let want = expected(k.rule, k.ok, c, v);
    let problem = r.headers.get("content-type").and_then(|v| v.to_str().ok())
        == Some("application/problem+json");
    if r.status != want {
        Some(format!(
            "{v:?} {} as {c:?}: {} {} -> {} (expected {want}) {}",
            k.endpoint, k.method, k.path, r.status, r.body
        ))
    } else if r.status >= 400 && !problem {
        Some(format!(
            "{} as {c:?}: {} is not problem+json",
            k.endpoint, r.status
        ))
    } else {
        None
    }
}

/// Runs every case for every caller, phase by phase (`alongside` runs with the first phase),
/// and answers every mismatch.
async fn run_matrix(
    w: &World,
    v: Visibility,
    alongside: impl std::future::Future<Output = Vec<String>>,
) -> Vec<String> {
    let started = Instant::now();
    let all: Vec<(Caller, Case)> = CALLERS
        .iter()
        .flat_map(|&c| cases(w, c).into_iter().map(move |k| (c, k)))
        .collect();
    let phase = |n: u8| {
        stream::iter(all.iter().filter(move |(_, k)| k.phase == n).cloned())
            .map(|(c, k)| check(w, v, c, k))
            .buffer_unordered(PARALLEL)
            .filter_map(|failure| async move { failure })
            .collect::<Vec<String>>()
    };
    let (mut failures, beside) = futures::join!(phase(0), alongside);
    failures.extend(beside);
    for n in 1..=all.iter().map(|(_, k)| k.phase).max().unwrap_or(0) {
        failures.extend(phase(n).await);
    }
    eprintln!(
        "{v:?} matrix: {} endpoints x {} callers = {} requests in {:?}",
        cases(w, Caller::Admin).len(),
        CALLERS.len(),
        all.len(),
        started.elapsed()
    );
    failures
}

// ---------------------------------------------------------------- WebSocket actions

/// A WebSocket action and the event that acknowledges it (`None`: no event on success).
struct WsCase {
    action: &'static str,
    frame: Value,
    rule: Rule,
    success: Option<&'static str>,
}

#[rustfmt::skip]
fn ws_cases(w: &World, c: Caller) -> Vec<WsCase> {
    use Rule::*;
    let community = &w.course.community_id;
    let ws_case = |action, frame, rule, success| WsCase { action, frame, rule, success };
    vec![
        ws_case("chat_message", json!({ "type": "chat_message", "community_id": community, "message": "Live", "message_type": "text" }), Has(Right::Chat), Some("chat_message")),
        ws_case("typing", json!({ "type": "typing", "community_id": community, "is_typing": true }), Has(Right::Chat), None),
        ws_case("edit_message", json!({ "type": "edit_message", "message_id": w.message, "message": "Edited live" }), ChatAuthor, Some("message_edited")),
        ws_case("delete_message", json!({ "type": "delete_message", "message_id": w.ws_victim_messages[&c] }), ModeratorOrChatAuthor, Some("message_deleted")),
        ws_case("read_receipt", json!({ "type": "read_receipt", "message_id": w.message }), Has(Right::Read), None),
        ws_case("subscribe", json!({ "type": "subscribe", "community_id": community }), Has(Right::Read), Some("subscribed")),
        ws_case("unsubscribe", json!({ "type": "unsubscribe", "community_id": community }), Authenticated, Some("unsubscribed")),
    ]
}

/// What a WebSocket error `code` means as an HTTP status.
fn ws_status(code: &str) -> u16 {
    match code {
        "forbidden" => 403,
        "not_found" => 404,
        "unauthorized" => 401,
        "bad_request" => 400,
        "validation_failed" => 422,
        "rate_limited" => 429,
        _ => 500,
    }
}

/// Whether `ev` answers the action sent with `client_id`: its `error`, or its success event (the
/// edit and delete events carry no `client_id`; each comes once, before the connection subscribes).
fn answers(ev: &Value, client_id: &str, success: Option<&str>) -> bool {
    let own = ev["client_id"] == client_id;
    (ev["type"] == "error" && own)
        || success.is_some_and(|kind| {
            ev["type"] == kind && (own || matches!(kind, "message_edited" | "message_deleted"))
        })
}

/// Sends each action and finds what answered it by its `client_id`: API Gateway runs one
/// connection's frames concurrently, so answers need not come in the order of the frames. An
/// action with a success event is waited for before the next is sent (so the connection
/// subscribes only after the edit and delete); an action that answers nothing on success is
/// followed at once, and its error, if any, is found among everything the connection received
/// up to the answer of a last `ping`, sent after every action was answered or sent.
async fn ws_outcomes(w: &World, c: Caller) -> Vec<String> {
    let mut failures = Vec::new();
    let v = Visibility::Public;
    let Some(user) = w.users.get(&c) else {
        let refused = w.stack.ws_with_token("", None).await.err();
        if refused != Some(401) {
            failures.push(format!("connect without a token: {refused:?}"));
        }
        return failures;
    };
    let connect = w.stack.ws(user, Some(&w.course.community_id)).await.err();
    let want = expected(Rule::Has(Right::Read), 200, c, v);
    if connect.unwrap_or(200) != want {
        failures.push(format!(
            "connect to the community as {c:?}: {connect:?} (expected {want})"
        ));
    }
    let mut ws = w.stack.ws(user, None).await.expect("connects");
    let cases = ws_cases(w, c);
    let mut seen: Vec<Value> = Vec::new();
    for (i, k) in cases.iter().enumerate() {
        let action_id = format!("a{i}");
        let mut frame = k.frame.clone();
        frame["client_id"] = json!(action_id);
        ws.send(frame).await;
        if k.success.is_some() {
            while let Some(ev) = ws.try_next(Duration::from_secs(10)).await {
                let done =
                    answers(&ev, &action_id, k.success) || ev["message"] == "Internal server error";
                seen.push(ev);
                if done {
                    break;
                }
            }
        }
    }
    ws.send(json!({ "type": "ping", "client_id": "last" }))
        .await;
    loop {
        let ev = ws.next().await;
        if ev["type"] == "pong" && ev["client_id"] == "last" {
            break;
        }
        seen.push(ev);
    }
    // An answer still on its way (frames finish in any order) comes soon after.
    while let Some(ev) = ws.try_next(Duration::from_millis(500)).await {
        seen.push(ev);
    }
    for (i, k) in cases.iter().enumerate() {
        let action_id = format!("a{i}");
        let error = seen
            .iter()
            .find(|e| e["type"] == "error" && e["client_id"] == action_id.as_str());
        let got = match (error, k.success) {
            (Some(e), _) => ws_status(e["code"].as_str().unwrap_or_default()),
            (None, Some(_)) if seen.iter().any(|e| answers(e, &action_id, k.success)) => 200,
            (None, Some(_)) => 0,
            (None, None) => 200,
        };
        let want = expected(k.rule, 200, c, v);
        if got != want {
            let mine: Vec<&Value> = seen
                .iter()
                .filter(|e| e["client_id"] == action_id.as_str())
                .collect();
            failures.push(format!(
                "{} as {c:?}: {got} (expected {want}), its events {mine:?}",
                k.action
            ));
        }
    }
    ws.close().await;
    failures
}

// ---------------------------------------------------------------- the tests

fn assert_none(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} answers differ from the rule:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn a_public_community_answers_every_caller_on_every_endpoint_and_action_as_the_matrix_says() {
    let w = World::new().await;
    let websocket = stream::iter(CALLERS.iter().map(|&c| ws_outcomes(&w, c)))
        .buffer_unordered(CALLERS.len())
        .flat_map(stream::iter)
        .collect::<Vec<String>>();
    assert_none(run_matrix(&w, Visibility::Public, websocket).await);
}

#[tokio::test]
async fn a_private_community_answers_every_caller_on_every_endpoint_as_the_matrix_says() {
    let w = World::new().await;
    w.make_private().await;
    assert_none(run_matrix(&w, Visibility::Private, async { Vec::new() }).await);
}

#[test]
fn the_rule_gives_the_statuses_of_the_specification_for_the_plain_cases() {
    use Caller::*;
    let read = Rule::Has(Right::Read);
    assert_eq!(expected(read, 200, NoToken, Visibility::Public), 401);
    assert_eq!(expected(read, 200, Stranger, Visibility::Public), 403);
    assert_eq!(expected(read, 200, Stranger, Visibility::Private), 404);
    assert_eq!(expected(read, 200, ExpiredMember, Visibility::Private), 404);
    assert_eq!(
        expected(read, 200, EnrolledNonMember, Visibility::Private),
        403
    );
    assert_eq!(expected(read, 200, Member, Visibility::Private), 200);
    assert_eq!(expected(Rule::Author, 200, Admin, Visibility::Public), 403);
    assert_eq!(expected(Rule::Join, 201, Member, Visibility::Public), 200);
    assert_eq!(expected(Rule::Join, 201, Admin, Visibility::Public), 201);
    assert_eq!(
        expected(Rule::Leave, 204, CourseInstructor, Visibility::Public),
        409
    );
    assert_eq!(
        expected(Rule::Leave, 204, OtherInstructor, Visibility::Private),
        404
    );
    assert_eq!(
        expected(
            Rule::ModeratorOrChatAuthor,
            204,
            Moderator,
            Visibility::Public
        ),
        204
    );
    assert_eq!(
        expected(
            Rule::NotAuthor(Right::Post),
            201,
            Member,
            Visibility::Public
        ),
        403
    );
}

// ---------------------------------------------------------------- BOLA

/// Waits for the user's first notification (they travel the table's stream).
async fn first_notification(api: &Api) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = api.get(&format!("{API}/notifications/")).await;
        assert_eq!(r.status, 200, "{r:?}");
        if let Some(n) = r.body["results"].as_array().and_then(|a| a.first()) {
            return n["id"].as_str().expect("notification id").to_string();
        }
        assert!(Instant::now() < deadline, "no notification arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn object_ids_of_another_community_or_user_are_404_whatever_route_carries_them() {
    let stack = Stack::start().await;
    let (a, b) = futures::join!(stack.course(), stack.course());
    // B is private: nobody of A may see it, so every object of B is 404 to them.
    let r = stack
        .api(&b.instructor)
        .patch(
            &format!("{API}/groups/{}/", b.community_id),
            json!({ "visibility": "private" }),
        )
        .await;
    assert_eq!(r.status, 200);
    let (member_a, moderator_a, member_b) =
        futures::join!(stack.member(&a), stack.moderator(&a), stack.member(&b));
    let instructor_a = &a.instructor;
    let api_b = stack.api(&member_b);
    let post_b = id(&api_b
        .post(
            &format!("{API}/posts/"),
            json!({ "community": b.community_id, "title": "B only", "content": "Secret" }),
        )
        .await);
    let message_b = id(&api_b
        .post(
            &format!("{API}/messages/"),
            json!({ "community": b.community_id, "message": "B only" }),
        )
        .await);
    // A reply by B's instructor notifies member_b.
    let r = stack
        .api(&b.instructor)
        .post(
            &format!("{API}/posts/"),
            json!({ "community": b.community_id, "parent": post_b, "content": "Noted" }),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let notification_b = first_notification(&api_b).await;

    let ga = format!("{API}/groups/{}", a.community_id);
    let pb = format!("{API}/posts/{post_b}");
    let mb = format!("{API}/messages/{message_b}");
    let nb = format!("{API}/notifications/{notification_b}");
    let admin = stack.admin();
    #[rustfmt::skip]
    let requests: Vec<(&str, &User, &str, String, Option<Value>)> = vec![
        ("read B's post", &member_a, "GET", format!("{pb}/"), None),
        ("edit B's post", &member_a, "PATCH", format!("{pb}/"), Some(json!({ "content": "x" }))),
        ("delete B's post as A's instructor", instructor_a, "DELETE", format!("{pb}/"), None),
        ("react to B's post", &member_a, "POST", format!("{pb}/react/"), Some(json!({ "reaction_type": "like" }))),
        ("flag B's post", &member_a, "POST", format!("{pb}/flag/"), Some(json!({ "reason": "x" }))),
        ("approve B's post as A's moderator", &moderator_a, "POST", format!("{pb}/approve/"), Some(json!({}))),
        ("pin B's post as A's instructor", instructor_a, "POST", format!("{pb}/pin/"), None),
        ("note on B's post as A's instructor", instructor_a, "POST", format!("{pb}/notes/"), Some(json!({ "note": "x" }))),
        ("B's post's flags as A's moderator", &moderator_a, "GET", format!("{pb}/flags/"), None),
        ("B's post's history as A's instructor", instructor_a, "GET", format!("{pb}/edits/"), None),
        ("reply to B's post in A", &member_a, "POST", format!("{API}/posts/"), Some(json!({ "community": a.community_id, "parent": post_b, "content": "x" }))),
        ("reply to B's post through A's route", &member_a, "POST", format!("{ga}/posts/"), Some(json!({ "parent": post_b, "content": "x" }))),
        ("read B's message", &member_a, "GET", format!("{mb}/"), None),
        ("edit B's message", &member_a, "PUT", format!("{mb}/"), Some(json!({ "message": "x" }))),
        ("delete B's message as A's moderator", &moderator_a, "DELETE", format!("{mb}/"), None),
        ("mark B's message read", &member_a, "POST", format!("{mb}/mark-as-read/"), Some(json!({}))),
        ("catch up in A after B's message", &member_a, "GET", format!("{ga}/messages/?after={message_b}"), None),
        ("catch up in A after B's message by query", &member_a, "GET", format!("{API}/messages/?community={}&after={message_b}", a.community_id), None),
        ("promote B's member in A", instructor_a, "PATCH", format!("{ga}/members/{}/", member_b.id), Some(json!({ "role": "moderator" }))),
        ("remove B's member from A", instructor_a, "DELETE", format!("{ga}/members/{}/", member_b.id), None),
        ("read another user's notification", &member_a, "GET", format!("{nb}/"), None),
        ("mark another user's notification read", &member_a, "POST", format!("{nb}/mark-as-read/"), Some(json!({}))),
        ("read another user's notification as an admin", &admin, "GET", format!("{nb}/"), None),
    ];
    let requests: Vec<_> = requests
        .into_iter()
        .map(|(what, u, method, path, body)| (what, stack.api(u), method, path, body))
        .collect();
    let results = futures::future::join_all(requests.iter().map(
        |(what, api, method, path, body)| async move {
            let body = body.as_ref().map(Value::to_string).unwrap_or_default();
            (
                *what,
                api.request_raw(method, path, &body, "application/json")
                    .await,
            )
        },
    ))
    .await;
    let wrong: Vec<String> = results
        .iter()
        .filter(|(_, r)| r.status != 404)
        .map(|(what, r)| format!("{what}: {} {}", r.status, r.body))
        .collect();
    assert!(wrong.is_empty(), "not 404:\n{}", wrong.join("\n"));

    // A reply in A to B's message names the field (docs/api.md: 422 on `reply_to`).
    let r = stack
        .api(&member_a)
        .post(
            &format!("{API}/messages/"),
            json!({ "community": a.community_id, "message": "x", "reply_to": message_b }),
        )
        .await;
    assert_eq!(r.status, 422, "{r:?}");
    assert_eq!(r.body["errors"][0]["field"], "reply_to", "{r:?}");

    // Over the WebSocket: B's message through A's member, with or without claiming A.
    let mut ws = stack
        .ws(&member_a, Some(&a.community_id))
        .await
        .expect("connects");
    let frames = [
        json!({ "type": "edit_message", "message_id": message_b, "message": "x", "client_id": "e1" }),
        json!({ "type": "edit_message", "message_id": message_b, "community_id": a.community_id, "message": "x", "client_id": "e2" }),
        json!({ "type": "delete_message", "message_id": message_b, "client_id": "d1" }),
        json!({ "type": "read_receipt", "message_id": message_b, "client_id": "r1" }),
        json!({ "type": "subscribe", "community_id": b.community_id, "client_id": "s1" }),
        json!({ "type": "typing", "community_id": b.community_id, "is_typing": true, "client_id": "t1" }),
        json!({ "type": "chat_message", "community_id": b.community_id, "message": "x", "client_id": "c1" }),
    ];
    for frame in frames {
        ws.send(frame.clone()).await;
        let ev = ws.next_of_type("error").await;
        assert_eq!(ev["code"], "not_found", "{frame} -> {ev}");
        assert_eq!(ev["client_id"], frame["client_id"], "{ev}");
    }
    // Nothing of B changed.
    let r = api_b.get(&format!("{mb}/")).await;
    assert_eq!(r.body["message"], "B only", "{r:?}");
    assert_eq!(r.body["is_deleted"], false);
    let r = api_b.get(&format!("{pb}/")).await;
    assert_eq!(r.body["content"], "Secret");
    assert_eq!(r.body["is_pinned"], false);
    let r = api_b.get(&format!("{nb}/")).await;
    assert_eq!(r.status, 200, "the owner reads it: {r:?}");
    assert_eq!(r.body["is_read"], false, "{r:?}");
}

// ---------------------------------------------------------------- tokens at the edges

/// Percent-encodes every byte, as a client that over-escapes would.
fn percent_encode_all(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

#[tokio::test]
async fn junk_in_the_websocket_token_query_is_refused_with_401_and_the_gateway_stays_up() {
    let stack = Stack::start().await;
    let user = stack.user(Role::Student);
    let other = stack.user(Role::Admin);
    let junk = [
        "%00".to_string(),
        "%FF%FE%FD".to_string(),
        "%E2%80%AE".to_string(),
        "%".to_string(),
        "%ZZ".to_string(),
        "%25%25%25".to_string(),
        "Bearer%20".to_string() + &user.token,
        user.token.clone() + "%00",
        user.token.clone() + "%20junk",
        user.token.clone() + ".",
        user.token.replace('.', "%2E%2E"),
        user.token.chars().rev().collect(),
        "a".repeat(9000),
        "%0D%0AX-Injected:%201".to_string(),
        "'%20OR%201=1--".to_string(),
    ];
    for token in &junk {
        let refused = stack.ws_with_token(token, None).await.err();
        assert_eq!(refused, Some(401), "token {:.60}", token);
    }
    // A forged admin token next to a valid student token, in either order: the connection is
    // refused or it is the student's, who still may not see a private community.
    let course = stack.course().await;
    let r = stack
        .api(&course.instructor)
        .patch(
            &format!("{API}/groups/{}/", course.community_id),
            json!({ "visibility": "private" }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let now = chrono::Utc::now().timestamp();
    let forged = sign_hs256(
        b"not-the-secret-not-the-secret-0123456789",
        &json!({ "sub": other.id, "role": "admin", "name": "Admin", "iss": JWT_ISSUER,
                 "aud": JWT_AUDIENCE, "exp": now + 600 }),
    );
    for query in [
        format!("token={forged}&token={}", user.token),
        format!("token={}&token={forged}", user.token),
    ] {
        let url = format!("{}/?{query}", stack.ws_url);
        match tokio_tungstenite::connect_async(url).await {
            Ok((stream, _)) => {
                let mut ws = Ws { stream };
                ws.send(json!({ "type": "subscribe", "community_id": course.community_id }))
                    .await;
                let ev = ws.next().await;
                assert_eq!(ev["type"], "error", "{ev}");
                assert_eq!(ev["code"], "not_found", "{ev}");
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                assert_eq!(r.status().as_u16(), 401)
            }
            Err(e) => panic!("{e}"),
        }
    }
    // Percent-encoding a valid token changes nothing: it is still that user.
    let encoded = percent_encode_all(&user.token);
    assert!(stack.ws_with_token(&encoded, None).await.is_ok());
    // The admin's token smuggled in the community parameter does not make anyone an admin.
    let url = format!(
        "{}/?token={}&community_id={}%26token%3D{}",
        stack.ws_url, user.token, course.community_id, other.token
    );
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            assert_eq!(r.status().as_u16(), 400, "{r:?}")
        }
        other => panic!("expected 400 for a malformed community id, got {other:?}"),
    }
    let still = stack.ws(&user, None).await;
    assert!(still.is_ok(), "the gateway still accepts a valid token");
}

#[tokio::test]
async fn malformed_authorization_headers_are_401_problems() {
    let stack = Stack::start().await;
    let user = stack.user(Role::Student);
    let t = &user.token;
    let now = chrono::Utc::now().timestamp();
    let claims = json!({ "sub": "mallory", "role": "admin", "name": "M", "iss": JWT_ISSUER,
                         "aud": JWT_AUDIENCE, "exp": now + 600 });
    // Forged admin tokens whose header tries to steer the key lookup.
    let forged = |header: Value| {
        use base64::Engine;
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let signed = sign_hs256(b"attacker-secret-attacker-secret-0123", &claims);
        let sig = signed.rsplit('.').next().unwrap().to_string();
        format!("{}.{}.{sig}", b64(&header), b64(&claims))
    };
    let bearer = |token: String| format!("Bearer {token}").into_bytes();
    let headers: Vec<(&str, Vec<u8>)> = vec![
        (
            "lowercase scheme without a space",
            format!("bearer{t}").into_bytes(),
        ),
        ("basic scheme", format!("Basic {t}").into_bytes()),
        ("token without a scheme", t.clone().into_bytes()),
        ("two tokens", format!("Bearer {t} {t}").into_bytes()),
        (
            "two tokens with a comma",
            format!("Bearer {t},{t}").into_bytes(),
        ),
        (
            "non-UTF-8 bytes",
            [b"Bearer ".as_slice(), &[0xff, 0xfe, 0x80]].concat(),
        ),
        (
            "kid path traversal",
            bearer(forged(
                json!({ "alg": "HS256", "kid": "../../../../dev/null" }),
            )),
        ),
        (
            "kid SQL injection",
            bearer(forged(
                json!({ "alg": "HS256", "kid": "x' UNION SELECT 'attacker-secret-attacker-secret-0123' --" }),
            )),
        ),
        (
            "kid command injection",
            bearer(forged(json!({ "alg": "HS256", "kid": "|cat /etc/passwd" }))),
        ),
        (
            "jku to an attacker's JWKS",
            bearer(forged(
                json!({ "alg": "RS256", "jku": "http://127.0.0.1:1/jwks.json", "kid": "k" }),
            )),
        ),
        (
            "embedded jwk",
            bearer(forged(
                json!({ "alg": "RS256", "jwk": { "kty": "oct", "k": "YXR0YWNrZXI" } }),
            )),
        ),
        (
            "x5u",
            bearer(forged(
                json!({ "alg": "RS256", "x5u": "http://127.0.0.1:1/cert.pem" }),
            )),
        ),
        (
            "crit extension",
            bearer(forged(json!({ "alg": "HS256", "crit": ["exp"], "exp": 1 }))),
        ),
    ];
    let client = reqwest::Client::new();
    for (what, value) in &headers {
        let header = reqwest::header::HeaderValue::from_bytes(value).expect("a header value");
        let r = client
            .get(format!("{}{API}/groups/", stack.http_url))
            .header("authorization", header)
            .send()
            .await
            .expect("reaches the gateway");
        assert_eq!(r.status().as_u16(), 401, "{what}");
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json",
            "{what}"
        );
    }
    // The same token with the scheme spelled as the RFC allows still works.
    let r = client
        .get(format!("{}{API}/groups/", stack.http_url))
        .header("authorization", format!("Bearer  {t}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn a_cursor_given_to_a_listing_of_one_page_is_refused_with_400() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let api = stack.api(&course.instructor);
    let page = api.get(&format!("{API}/groups/?limit=1")).await;
    assert_eq!(page.status, 200, "{page:?}");
    for query in [
        "mine=true".to_string(),
        format!("course={}", course.course_id),
    ] {
        let r = api.get(&format!("{API}/groups/?{query}")).await;
        assert_eq!(r.status, 200, "{query}: {r:?}");
        for cursor in ["forged", "AAAA"] {
            let r = api
                .get(&format!("{API}/groups/?{query}&cursor={cursor}"))
                .await;
            assert_eq!(r.status, 400, "{query} with a cursor: {r:?}");
        }
    }
}

#[tokio::test]
async fn a_known_path_with_another_method_answers_405_whichever_function_serves_it() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let api = stack.api(&course.instructor);
    let g = format!("{API}/groups/{}", course.community_id);
    for (method, path) in [
        ("DELETE", format!("{g}/messages/")),
        ("POST", format!("{g}/online/")),
        ("PUT", format!("{g}/moderation/")),
        ("DELETE", format!("{g}/join/")),
        ("PATCH", format!("{API}/posts/")),
        ("DELETE", format!("{API}/messages/unread-count/")),
        ("PUT", format!("{API}/notifications/mark-all-as-read/")),
    ] {
        let r = api
            .request_raw(method, &path, "{}", "application/json")
            .await;
        assert_eq!(r.status, 405, "{method} {path}: {r:?}");
        assert_eq!(r.body["code"], "method_not_allowed", "{method} {path}");
    }
}
