//! Email end to end: notifications queued by the notifier, sent by the `email` function's
//! schedules (run on request through the gateway, as EventBridge would run them), and read back
//! from the AWS emulator's SES with an independent MIME parser. Also: coalescing, privacy
//! (anonymous authors, deleted posts, lost access), one-click unsubscribe, bounces through the
//! configuration set's SNS topic, digests once per period, and SES refusing for a while.

use e2e::*;
use mail_parser::{HeaderValue, MessageParser};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const POSTS: &str = "/api/community/posts";
const PREFERENCES: &str = "/api/community/notifications/preferences/";
/// Where links in emails lead in these tests.
const WEB_APP: &str = "http://127.0.0.1:3002";
/// Time allowed for a job to travel the stream and the notifier, or an SNS message its topic.
const ARRIVAL: Duration = Duration::from_secs(20);

/// A stack with email on: the web app's URL (without it no email is sent), and digests due
/// from midnight UTC, so that a daily digest is due whenever the test runs.
async fn email_stack() -> Stack {
    email_stack_with(|_| {}).await
}

/// [`email_stack`], then `adjust`.
async fn email_stack_with(adjust: impl FnOnce(&mut GatewayConfig)) -> Stack {
    Stack::start_with(|cfg| {
        cfg.parameter_overrides
            .insert("WebAppUrl".into(), WEB_APP.into());
        cfg.env_overrides
            .insert("DIGEST_HOUR_UTC".into(), "0".into());
        adjust(cfg);
    })
    .await
}

/// An address of this run only (the emulator's outbox is shared by every test).
fn address_of(user: &User) -> String {
    format!("{}@school.test", user.id)
}

/// Gives the LMS the user's email address.
async fn give_address(stack: &Stack, user: &User) -> String {
    let address = address_of(user);
    let r = stack
        .api(&stack.admin())
        .put(
            &format!("/api/community/lms/users/{}/", user.id),
            json!({ "name": user.name, "username": user.username, "email": address }),
        )
        .await;
    assert!(r.status == 200 || r.status == 201, "email address: {r:?}");
    address
}

/// A member of the course whom email can reach.
async fn reachable_member(stack: &Stack, course: &Course) -> (User, String) {
    let user = stack.member(course).await;
    let address = give_address(stack, &user).await;
    (user, address)
}

/// One email as the emulator received it.
#[derive(Debug)]
struct Sent {
    subject: String,
    text: String,
    html: String,
    raw: String,
}

impl Sent {
    fn header(&self, name: &str) -> Option<String> {
        let message = MessageParser::default().parse(self.raw.as_bytes())?;
        match message.header(name)? {
            HeaderValue::Text(t) => Some(t.to_string()),
            HeaderValue::TextList(l) => Some(l.join(", ")),
            HeaderValue::Address(a) => a.first().and_then(|a| a.address()).map(str::to_string),
            other => Some(format!("{other:?}")),
        }
    }
}

/// Every email sent to `address` so far, oldest first.
async fn sent_to(address: &str) -> Vec<Sent> {
    let url = format!("{}/moto-api/data.json", aws_emulator_endpoint());
    let data: Value = reqwest::get(&url)
        .await
        .expect("the AWS emulator answers")
        .json()
        .await
        .expect("its data as JSON");
    data["ses"]["RawMessage"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|m| {
            m["destinations"]
                .as_array()
                .is_some_and(|d| d.iter().any(|a| a.as_str() == Some(address)))
        })
        .map(|m| {
            let raw = m["raw_data"].as_str().expect("raw_data").to_string();
            let parsed = MessageParser::default()
                .parse(raw.as_bytes())
                .expect("a MIME message");
            Sent {
                subject: parsed.subject().unwrap_or_default().to_string(),
                text: parsed.body_text(0).unwrap_or_default().to_string(),
                html: parsed.body_html(0).unwrap_or_default().to_string(),
                raw,
            }
        })
        .collect()
}

/// Runs a schedule of the email function now; answers its report.
async fn run(stack: &Stack, schedule: &str) -> Value {
    stack
        .gateway
        .run_schedule(&format!("EmailFunction.{schedule}"))
        .await
        .unwrap_or_else(|e| panic!("EmailFunction.{schedule}: {e}"))
}

/// Runs the every-minute schedule until it has seen `n` due users (the notifier queues emails
/// a moment after the action).
async fn run_due_until(stack: &Stack, n: u64) -> Value {
    let deadline = Instant::now() + ARRIVAL;
    loop {
        let report = run(stack, "Due").await;
        if report["due"].as_u64().unwrap_or(0) >= n {
            return report;
        }
        assert!(
            Instant::now() < deadline,
            "nothing due within {ARRIVAL:?}: {report}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the user has `n` notifications (so their emails are queued).
async fn wait_notifications(stack: &Stack, user: &User, n: usize) {
    let deadline = Instant::now() + ARRIVAL;
    loop {
        let r = stack
            .api(user)
            .get("/api/community/notifications/?limit=100")
            .await;
        let have = r.body["results"].as_array().map_or(0, Vec::len);
        if have >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} has {have} of {n} notifications",
            user.id
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn post(stack: &Stack, user: &User, community: &str, title: &str, content: &str) -> String {
    let body = json!({ "community": community, "title": title, "content": content });
    stack.api(user).create_post(body).await
}

async fn reply(stack: &Stack, user: &User, community: &str, parent: &str, body: Value) -> String {
    let mut body = body;
    body["community"] = json!(community);
    body["parent"] = json!(parent);
    stack.api(user).create_post(body).await
}

#[tokio::test]
async fn replies_and_mentions_arrive_as_one_email_that_keeps_anonymous_authors_anonymous() {
    let stack = email_stack().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let r = stack
        .api(&course.instructor)
        .patch(
            &format!("/api/community/groups/{c}/"),
            json!({ "anonymous_posting": "to_classmates" }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let (alex, alex_address) = reachable_member(&stack, &course).await;
    let sam = stack.member(&course).await;

    let question = post(&stack, &alex, &c, "Lab 3 question", "How do I start?").await;
    reply(
        &stack,
        &sam,
        &c,
        &question,
        json!({ "content": "Start from the template.", "anonymous": true }),
    )
    .await;
    reply(
        &stack,
        &sam,
        &c,
        &question,
        json!({ "content": format!("@{} and read chapter 2", alex.username), "anonymous": true }),
    )
    .await;
    wait_notifications(&stack, &alex, 2).await;

    let report = run_due_until(&stack, 1).await;
    assert_eq!(report["sent"], 1, "{report}");
    assert_eq!(report["notifications"], 2, "{report}");
    let emails = sent_to(&alex_address).await;
    assert_eq!(emails.len(), 1, "one email for both: {emails:#?}");
    let email = &emails[0];
    assert_eq!(email.subject, "2 new notifications");
    // Links into the web app: the thread, all notifications, the settings.
    let thread = format!("{WEB_APP}/#/c/{c}/post/{question}");
    assert!(email.text.contains(&thread), "{}", email.text);
    assert!(email.html.contains(&thread), "{}", email.html);
    assert!(
        email
            .text
            .contains(&format!("{WEB_APP}/#/settings/notifications"))
    );
    // Sam is anonymous in every part of the email.
    for secret in [&sam.id, &sam.name, &sam.username] {
        assert!(
            !email.raw.contains(secret.as_str()),
            "{secret} in {}",
            email.raw
        );
    }
    assert!(email.text.contains("Anonymous"), "{}", email.text);
    // RFC 8058 one-click unsubscribe, to the API.
    let list_unsubscribe = email.header("List-Unsubscribe").expect("List-Unsubscribe");
    assert!(
        list_unsubscribe.contains(&format!(
            "{}/api/community/notifications/unsubscribe/?token=",
            stack.http_url
        )),
        "{list_unsubscribe}"
    );
    assert_eq!(
        email.header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );

    // A third reply inside ten minutes waits for the window to end: no second email now.
    reply(
        &stack,
        &sam,
        &c,
        &question,
        json!({ "content": "Also the slides." }),
    )
    .await;
    wait_notifications(&stack, &alex, 3).await;
    let report = run_due_until(&stack, 1).await;
    assert_eq!(report["deferred"], 1, "{report}");
    assert_eq!(report["sent"], 0, "{report}");
    assert_eq!(sent_to(&alex_address).await.len(), 1);
}

#[tokio::test]
async fn an_email_never_shows_a_deleted_post_or_a_community_the_reader_left() {
    let stack = email_stack().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let (alex, alex_address) = reachable_member(&stack, &course).await;
    let (kim, kim_address) = reachable_member(&stack, &course).await;
    let sam = stack.member(&course).await;

    // A reply to Alex that Sam deletes before the email goes.
    let question = post(&stack, &alex, &c, "Deadline?", "When is it due?").await;
    let regret = reply(
        &stack,
        &sam,
        &c,
        &question,
        json!({ "content": "A regrettable answer" }),
    )
    .await;
    // A mention of Kim, whose enrollment then ends.
    post(
        &stack,
        &sam,
        &c,
        "Study group",
        &format!("@{} want to join?", kim.username),
    )
    .await;
    wait_notifications(&stack, &alex, 1).await;
    wait_notifications(&stack, &kim, 1).await;
    let r = stack.api(&sam).delete(&format!("{POSTS}/{regret}/")).await;
    assert!(r.status == 204 || r.status == 200, "delete: {r:?}");
    let r = stack
        .api(&stack.admin())
        .put(
            &format!(
                "/api/community/lms/courses/{}/enrollments/{}/",
                course.course_id, kim.id
            ),
            json!({ "is_active": false }),
        )
        .await;
    assert!(r.status == 200 || r.status == 201, "unenroll: {r:?}");

    let report = run_due_until(&stack, 2).await;
    assert_eq!(report["sent"], 0, "{report}");
    assert_eq!(report["dropped"], 2, "{report}");
    assert!(sent_to(&alex_address).await.is_empty());
    assert!(sent_to(&kim_address).await.is_empty());
    // Handled: nothing is due any more.
    assert_eq!(run(&stack, "Due").await["due"], 0);
}

#[tokio::test]
async fn one_click_unsubscribe_needs_no_sign_in_and_a_bad_or_foreign_link_changes_nothing() {
    let stack = email_stack().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let (alex, alex_address) = reachable_member(&stack, &course).await;
    let sam = stack.member(&course).await;
    let question = post(&stack, &alex, &c, "Office hours", "When?").await;
    reply(
        &stack,
        &sam,
        &c,
        &question,
        json!({ "content": "Tuesdays." }),
    )
    .await;
    wait_notifications(&stack, &alex, 1).await;
    run_due_until(&stack, 1).await;
    let emails = sent_to(&alex_address).await;
    assert_eq!(emails.len(), 1, "{emails:#?}");
    let header = emails[0].header("List-Unsubscribe").expect("header");
    let url = header.trim_matches(|ch| ch == '<' || ch == '>').to_string();
    let token = url.split("token=").nth(1).expect("token").to_string();
    let path = format!("/api/community/notifications/unsubscribe/?token={token}");
    let before = stack.api(&alex).get(PREFERENCES).await.body;
    assert_eq!(before["types"]["new_reply"]["email"], true, "{before}");

    // Tampered: 400, nothing changed.
    let mut bad = token.clone().into_bytes();
    let last = bad.len() - 1;
    bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
    let bad = String::from_utf8(bad).unwrap();
    let r = stack
        .anonymous()
        .post(
            &format!("/api/community/notifications/unsubscribe/?token={bad}"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    // Alex's link with Sam signed in: 403, nothing changed.
    let r = stack.api(&sam).post(&path, json!({})).await;
    assert_eq!(r.status, 403, "{r:?}");
    // Following the link (GET, as a link scanner would) changes nothing either: it is sent to
    // the web app's page, which asks first.
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}{path}", stack.http_url))
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("{WEB_APP}/#/unsubscribe?token={token}")
    );
    assert_eq!(stack.api(&alex).get(PREFERENCES).await.body, before);

    // The one-click POST, as a mail client sends it (no sign-in).
    let r = stack
        .anonymous()
        .post_raw(
            &path,
            "List-Unsubscribe=One-Click",
            "application/x-www-form-urlencoded",
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let after = stack.api(&alex).get(PREFERENCES).await.body;
    for (kind, channels) in after["types"].as_object().expect("types") {
        assert_eq!(channels["email"], false, "{kind}: {channels}");
        assert_eq!(
            channels["in_app"], before["types"][kind]["in_app"],
            "{kind}"
        );
    }

    // No more email: the next reply is in the app only.
    reply(
        &stack,
        &sam,
        &c,
        &question,
        json!({ "content": "And Thursdays." }),
    )
    .await;
    wait_notifications(&stack, &alex, 2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(run(&stack, "Due").await["due"], 0);
    assert_eq!(sent_to(&alex_address).await.len(), 1);
}

#[tokio::test]
async fn a_bounce_from_the_configuration_sets_topic_stops_all_email_to_the_address() {
    let stack = email_stack().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let (alex, alex_address) = reachable_member(&stack, &course).await;
    let sam = stack.member(&course).await;
    let status = stack.api(&alex).get(PREFERENCES).await.body;
    assert_eq!(
        status["email"],
        json!({ "address_known": true, "suppressed": false })
    );

    // SES publishes a permanent bounce of the address to the configuration set's topic.
    let topic = stack
        .gateway
        .topic_arn("EmailEventsTopic")
        .expect("the template's topic");
    let event = json!({
        "eventType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [{ "emailAddress": alex_address.to_uppercase() }],
            "timestamp": "2026-12-03T10:00:00.000Z",
            "feedbackId": "0100-bounce"
        },
        "mail": { "messageId": "0100-message", "destination": [alex_address] }
    });
    publish(&topic, &event.to_string()).await;
    let deadline = Instant::now() + ARRIVAL;
    loop {
        let status = stack.api(&alex).get(PREFERENCES).await.body;
        if status["email"]["suppressed"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "not suppressed: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // What would have been emailed is not.
    let question = post(&stack, &alex, &c, "Grades", "When?").await;
    reply(&stack, &sam, &c, &question, json!({ "content": "Friday." })).await;
    wait_notifications(&stack, &alex, 1).await;
    let report = run_due_until(&stack, 1).await;
    assert_eq!(report["dropped"], 1, "{report}");
    assert!(sent_to(&alex_address).await.is_empty());
}

/// Publishes to a topic of the AWS emulator.
async fn publish(topic_arn: &str, message: &str) {
    let region = topic_arn.split(':').nth(3).expect("region in the ARN");
    sns(
        region,
        "Publish",
        &[("TopicArn", topic_arn), ("Message", message)],
    )
    .await;
}

#[tokio::test]
async fn a_daily_digest_goes_once_per_period_and_only_to_those_with_something_new() {
    let stack = email_stack().await;
    let course = stack.course().await;
    let quiet = stack.course().await;
    let c = course.community_id.clone();
    let (alex, alex_address) = reachable_member(&stack, &course).await;
    let (lee, lee_address) = reachable_member(&stack, &quiet).await;
    for user in [&alex, &lee] {
        let r = stack
            .api(user)
            .patch(PREFERENCES, json!({ "digest": "daily" }))
            .await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body["digest"], "daily");
    }
    let sam = stack.member(&course).await;
    post(&stack, &sam, &c, "Exam review session", "Room 12 on Friday").await;
    post(&stack, &course.instructor, &c, "Slides posted", "Week 9").await;

    let first = run(&stack, "Digest").await;
    assert_eq!(first["sent"], 1, "{first}");
    assert_eq!(
        first["skipped_empty"], 1,
        "Lee's community is quiet: {first}"
    );
    let digests = sent_to(&alex_address).await;
    assert_eq!(digests.len(), 1, "{digests:#?}");
    let digest = &digests[0];
    assert!(
        digest.text.contains("Exam review session"),
        "{}",
        digest.text
    );
    assert!(digest.text.contains("Slides posted"), "{}", digest.text);
    assert!(
        digest.text.contains(&format!("{WEB_APP}/#/c/{c}")),
        "{}",
        digest.text
    );
    assert!(digest.header("List-Unsubscribe").is_some());
    assert!(sent_to(&lee_address).await.is_empty());

    // A retried or repeated run of the same hour sends nothing more.
    let again = run(&stack, "Digest").await;
    assert_eq!(again["sent"], 0, "{again}");
    assert_eq!(sent_to(&alex_address).await.len(), 1);
}

/// SES's edge in front of the emulator: the first `refusals` SendEmail calls are throttled as
/// SES throttles (429 TooManyRequestsException); everything else is forwarded.
async fn throttling_ses(
    refusals: usize,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    use axum::response::IntoResponse;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let refused = Arc::new(AtomicUsize::new(0));
    let counter = refused.clone();
    let upstream = aws_emulator_endpoint();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (counter, upstream) = (counter.clone(), upstream.clone());
            async move {
                let sending = method == Method::POST && uri.path().ends_with("/outbound-emails");
                if sending && counter.load(Ordering::SeqCst) < refusals {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let mut h = HeaderMap::new();
                    h.insert(
                        "x-amzn-errortype",
                        "TooManyRequestsException".parse().unwrap(),
                    );
                    h.insert("content-type", "application/json".parse().unwrap());
                    return (
                        StatusCode::TOO_MANY_REQUESTS,
                        h,
                        r#"{"message":"Maximum sending rate exceeded."}"#.to_string(),
                    )
                        .into_response();
                }
                let mut req = reqwest::Client::new().request(
                    method,
                    format!(
                        "{upstream}{}",
                        uri.path_and_query().map_or("", |p| p.as_str())
                    ),
                );
                for (k, v) in headers.iter().filter(|(k, _)| *k != "host") {
                    req = req.header(k, v);
                }
                let r = req.body(body).send().await.expect("the emulator answers");
                let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
                let mut h = HeaderMap::new();
                for (k, v) in r.headers() {
                    h.insert(k.clone(), v.clone());
                }
                let text = r.bytes().await.unwrap_or_default();
                (status, h, text).into_response()
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (url, refused)
}

#[tokio::test]
async fn an_email_ses_throttles_is_sent_once_later_and_never_lost() {
    // The SDK tries each request three times itself: refuse all three.
    let (ses, refused) = throttling_ses(3).await;
    let stack = email_stack_with(|cfg| {
        cfg.env_overrides
            .insert("AWS_ENDPOINT_URL_SESV2".into(), ses.clone());
    })
    .await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let (alex, alex_address) = reachable_member(&stack, &course).await;
    let sam = stack.member(&course).await;
    let question = post(&stack, &alex, &c, "Throttled", "Anyone?").await;
    reply(&stack, &sam, &c, &question, json!({ "content": "Here." })).await;
    wait_notifications(&stack, &alex, 1).await;

    let report = run_due_until(&stack, 1).await;
    assert_eq!(report["retried"], 1, "{report}");
    assert_eq!(refused.load(std::sync::atomic::Ordering::SeqCst), 3);
    assert!(sent_to(&alex_address).await.is_empty());
    // Not due again before its backoff (a minute)...
    assert_eq!(run(&stack, "Due").await["due"], 0);
    // ...then sent, once.
    tokio::time::sleep(Duration::from_secs(61)).await;
    let report = run_due_until(&stack, 1).await;
    assert_eq!(report["sent"], 1, "{report}");
    assert_eq!(run(&stack, "Due").await["due"], 0);
    let emails = sent_to(&alex_address).await;
    assert_eq!(emails.len(), 1, "{emails:#?}");
    assert!(
        emails[0]
            .text
            .contains(&format!("{WEB_APP}/#/c/{c}/post/{question}")),
        "{}",
        emails[0].text
    );
}

#[tokio::test]
async fn unsubscribe_links_are_signed_with_the_secrets_key_and_verified_by_the_api() {
    let name = format!("keys-{}", ulid::Ulid::generate().to_string().to_lowercase());
    let created = crate::keys::secrets()
        .await
        .create_secret()
        .name(&name)
        .secret_string(crate::keys::keys_json(
            (JWT_SECRET, None),
            ("the-secrets-cursor-key", None),
        ))
        .send()
        .await
        .expect("creating the secret in the AWS emulator");
    let arn = created.arn().expect("an ARN").to_string();
    let stack = email_stack_with(|cfg| {
        cfg.parameter_overrides
            .insert("KeysSecretArn".into(), arn.clone());
        // A link signed with this key instead of the secret's would not verify.
        cfg.env_overrides
            .insert("CURSOR_SECRET".into(), "not-the-secrets-cursor-key".into());
    })
    .await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let (alex, alex_address) = reachable_member(&stack, &course).await;
    let sam = stack.member(&course).await;
    let question = post(&stack, &alex, &c, "Keys", "Which one?").await;
    reply(
        &stack,
        &sam,
        &c,
        &question,
        json!({ "content": "The secret's." }),
    )
    .await;
    wait_notifications(&stack, &alex, 1).await;
    run_due_until(&stack, 1).await;
    let emails = sent_to(&alex_address).await;
    assert_eq!(emails.len(), 1, "{emails:#?}");
    let header = emails[0].header("List-Unsubscribe").expect("header");
    let token = header
        .trim_matches(|ch| ch == '<' || ch == '>')
        .split("token=")
        .nth(1)
        .expect("token")
        .to_string();
    let r = stack
        .anonymous()
        .post(
            &format!("/api/community/notifications/unsubscribe/?token={token}"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["unsubscribed"], "notifications");
}
