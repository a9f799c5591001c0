//! Attachments end to end, with the S3 API of the AWS emulator: presigned uploads PUT with a
//! real HTTP client, references from a post, a chat message and a direct message (each checked
//! against the stored object), downloads through the 302 to a presigned GET, and every bad
//! input of the feature answered 4xx with nothing written.

use e2e::*;
use serde_json::{Value, json};
use shared::model::attachment::{Attachment, AttachmentStatus};

const ATTACHMENTS: &str = "/api/community/attachments/";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n a tiny picture of a graph";
const PDF: &[u8] = b"%PDF-1.7 the week 3 notes";

async fn presign(stack: &Stack, by: &User, body: Value) -> Resp {
    stack.api(by).post(ATTACHMENTS, body).await
}

/// Presigns an upload of `bytes` in `scope` (`{"community_id": …}` or `{"conversation_id": …}`).
async fn declare(
    stack: &Stack,
    by: &User,
    scope: Value,
    name: &str,
    ct: &str,
    bytes: &[u8],
) -> Value {
    let mut body = scope;
    body["filename"] = json!(name);
    body["content_type"] = json!(ct);
    body["size"] = json!(bytes.len());
    let r = presign(stack, by, body).await;
    assert_eq!(r.status, 201, "presign: {r:?}");
    r.body
}

/// PUTs `bytes` to a presigned upload with its headers (the type replaced by `ct` if given).
async fn put(upload: &Value, bytes: &[u8], ct: Option<&str>) {
    let mut req = reqwest::Client::new().put(upload["upload_url"].as_str().expect("upload_url"));
    for (name, value) in upload["upload_headers"]
        .as_object()
        .expect("upload_headers")
    {
        let value = match (name.as_str(), ct) {
            ("content-type", Some(ct)) => ct,
            _ => value.as_str().unwrap(),
        };
        req = req.header(name, value);
    }
    let r = req
        .body(bytes.to_vec())
        .send()
        .await
        .expect("the emulator answers");
    assert!(r.status().is_success(), "upload: {}", r.status());
}

/// Declares and uploads in one go; answers the attachment id.
async fn uploaded(
    stack: &Stack,
    by: &User,
    scope: Value,
    name: &str,
    ct: &str,
    bytes: &[u8],
) -> String {
    let upload = declare(stack, by, scope, name, ct, bytes).await;
    put(&upload, bytes, None).await;
    upload["id"].as_str().unwrap().to_string()
}

async fn record(stack: &Stack, id: &str) -> Option<Attachment> {
    let db = shared::db::Db::new(stack.ddb.clone(), &stack.table);
    shared::store::attachments::get(&db, id).await.unwrap()
}

/// Every attachment record of the table.
async fn records(stack: &Stack) -> usize {
    let out = stack
        .ddb
        .scan()
        .table_name(&stack.table)
        .filter_expression("begins_with(PK, :p)")
        .expression_attribute_values(
            ":p",
            aws_sdk_dynamodb::types::AttributeValue::S("ATTACH#".into()),
        )
        .send()
        .await
        .unwrap();
    out.items().len()
}

/// GET attachments/{id}/ without following the redirect.
async fn download(stack: &Stack, by: &User, id: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}{ATTACHMENTS}{id}/", stack.http_url))
        .bearer_auth(&by.token)
        .send()
        .await
        .expect("the gateway answers")
}

/// Follows the 302 and answers the bytes and the `Content-Disposition` the emulator sent.
async fn fetched(stack: &Stack, by: &User, id: &str) -> (Vec<u8>, String) {
    let r = download(stack, by, id).await;
    assert_eq!(r.status().as_u16(), 302, "download of {id}");
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.contains("X-Amz-Expires=300"), "{location}");
    let got = reqwest::get(&location).await.unwrap();
    assert_eq!(got.status().as_u16(), 200);
    let disposition = got
        .headers()
        .get("content-disposition")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (got.bytes().await.unwrap().to_vec(), disposition)
}

async fn post(stack: &Stack, by: &User, community: &str, attachments: &[&str]) -> Resp {
    stack
        .api(by)
        .post(
            "/api/community/posts/",
            json!({ "community": community, "title": "Graph of week 3", "content": "See attached",
                    "attachments": attachments }),
        )
        .await
}

async fn post_count(stack: &Stack, by: &User, community: &str) -> usize {
    let r = stack
        .api(by)
        .get(&format!("/api/community/groups/{community}/posts/"))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    r.body["results"].as_array().unwrap().len()
}

#[tokio::test]
async fn uploads_are_referenced_by_a_post_a_chat_message_and_a_direct_message_and_downloaded() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let alice = stack.member(&course).await;
    let bob = stack.member(&course).await;
    let carol = stack.member(&course).await;

    // Presign: a PUT bound to the declared type (a header to send) and size, 15 minutes.
    let upload = declare(
        &stack,
        &alice,
        json!({ "community_id": c }),
        "graph.png",
        "image/png",
        PNG,
    )
    .await;
    assert_eq!(upload["upload_headers"]["content-type"], "image/png");
    assert!(
        upload["upload_url"]
            .as_str()
            .unwrap()
            .contains("X-Amz-Expires=900")
    );
    let expires: chrono::DateTime<chrono::Utc> =
        upload["expires_at"].as_str().unwrap().parse().unwrap();
    let left = expires - chrono::Utc::now();
    assert!(left > chrono::Duration::minutes(14) && left <= chrono::Duration::minutes(15));
    let image = upload["id"].as_str().unwrap().to_string();
    let pending = record(&stack, &image).await.expect("a pending record");
    assert_eq!(pending.status, AttachmentStatus::Pending);
    assert!(
        pending
            .ttl
            .is_some_and(|t| t > chrono::Utc::now().timestamp() + 23 * 3600)
    );
    put(&upload, PNG, None).await;

    // A post references it: the record loses its TTL, readers see the file and download it.
    let r = post(&stack, &alice, &c, &[&image]).await;
    assert_eq!(r.status, 201, "{r:?}");
    let post_id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["attachments"][0]["id"], image.as_str());
    assert_eq!(r.body["attachments"][0]["filename"], "graph.png");
    assert_eq!(r.body["attachments"][0]["size"], PNG.len());
    let kept = record(&stack, &image).await.unwrap();
    assert_eq!(kept.status, AttachmentStatus::Referenced);
    assert_eq!(kept.ttl, None);
    let read = stack
        .api(&bob)
        .get(&format!("/api/community/posts/{post_id}/"))
        .await;
    assert_eq!(
        read.body["attachments"][0]["content_type"], "image/png",
        "{read:?}"
    );
    let (bytes, disposition) = fetched(&stack, &bob, &image).await;
    assert_eq!(bytes, PNG);
    assert!(disposition.contains("graph.png"), "{disposition}");

    // Referenced once: another post (or the same again) cannot take it.
    let again = post(&stack, &alice, &c, &[&image]).await;
    assert_eq!(again.status, 422, "{again:?}");

    // A chat message of type file.
    let notes = uploaded(
        &stack,
        &alice,
        json!({ "community_id": c }),
        "week 3 notes.pdf",
        "application/pdf",
        PDF,
    )
    .await;
    let r = stack
        .api(&alice)
        .post(
            "/api/community/messages/",
            json!({ "community": c, "message": "the notes", "message_type": "file", "attachment_id": notes }),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["attachment"]["filename"], "week 3 notes.pdf");
    let (bytes, disposition) = fetched(&stack, &carol, &notes).await;
    assert_eq!(bytes, PDF);
    assert!(disposition.starts_with("attachment;"), "{disposition}");

    // An image over the WebSocket, without a caption.
    let mut ws = stack.ws(&alice, Some(&c)).await.expect("alice connects");
    let shot = uploaded(
        &stack,
        &alice,
        json!({ "community_id": c }),
        "shot.webp",
        "image/webp",
        PNG,
    )
    .await;
    ws.send(
        json!({ "type": "chat_message", "community_id": c, "message_type": "image",
                    "attachment_id": shot, "client_id": "img-1" }),
    )
    .await;
    let ack = ws.next_of_type("chat_message").await;
    assert_eq!(ack["attachment"]["id"], shot.as_str(), "{ack}");
    assert_eq!(ack["message"], "");
    assert_eq!(fetched(&stack, &bob, &shot).await.0, PNG);

    // A direct message: members download, a member of the course outside the conversation not.
    let r = stack
        .api(&alice)
        .post(
            "/api/community/conversations/",
            json!({ "members": [bob.id] }),
        )
        .await;
    let conversation = r.body["id"].as_str().unwrap().to_string();
    let text = b"just between us".as_slice();
    let private = uploaded(
        &stack,
        &alice,
        json!({ "conversation_id": conversation }),
        "answer.txt",
        "text/plain",
        text,
    )
    .await;
    let r = stack
        .api(&alice)
        .post(
            &format!("/api/community/conversations/{conversation}/messages/"),
            json!({ "message_type": "file", "attachment_id": private, "message": "mine" }),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(fetched(&stack, &bob, &private).await.0, text);
    assert_eq!(
        download(&stack, &carol, &private).await.status().as_u16(),
        404
    );
}

#[tokio::test]
async fn bad_uploads_and_bad_references_are_refused_and_write_nothing() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let other = stack.course().await;
    let c = course.community_id.clone();
    let alice = stack.member(&course).await;
    let bob = stack.member(&course).await;
    stack.enroll(&other, &alice, None).await;
    stack.join(&other, &alice).await;
    let outsider = stack.user(Role::Student);
    stack.push_user(&outsider).await;

    // The guard first: one who may not post in the community learns nothing of the body.
    let r = presign(&stack, &outsider, json!({ "community_id": c, "filename": "x.exe",
                                                "content_type": "application/x-msdownload", "size": 1 })).await;
    assert!(r.status == 403 || r.status == 404, "{r:?}");
    // Then the declaration: a forbidden type, over the limit, a path for a name, no size.
    for (body, field) in [
        (
            json!({ "community_id": c, "filename": "x.svg", "content_type": "image/svg+xml", "size": 10 }),
            "content_type",
        ),
        (
            json!({ "community_id": c, "filename": "x.html", "content_type": "text/html", "size": 10 }),
            "content_type",
        ),
        (
            json!({ "community_id": c, "filename": "big.pdf", "content_type": "application/pdf", "size": 10 * 1024 * 1024 + 1 }),
            "size",
        ),
        (
            json!({ "community_id": c, "filename": "../x.pdf", "content_type": "application/pdf", "size": 10 }),
            "filename",
        ),
        (
            json!({ "community_id": c, "filename": "x.pdf", "content_type": "application/pdf" }),
            "size",
        ),
    ] {
        let r = presign(&stack, &alice, body.clone()).await;
        assert_eq!(r.status, 422, "{body}: {r:?}");
        assert_eq!(r.body["errors"][0]["field"], field, "{body}: {r:?}");
        assert_eq!(r.headers["content-type"], "application/problem+json");
    }
    assert_eq!(
        records(&stack).await,
        0,
        "a refused declaration writes nothing"
    );
    let r = presign(&stack, &alice, json!({ "community_id": c, "filename": "x.pdf",
                                             "content_type": "application/pdf", "size": 10, "owner": "me" })).await;
    assert_eq!(r.status, 422, "unknown fields: {r:?}");
    assert_eq!(r.body["errors"][0]["field"], "owner");
    // The largest allowed size is fine.
    let r = presign(&stack, &alice, json!({ "community_id": c, "filename": "big.pdf",
                                             "content_type": "application/pdf", "size": 10 * 1024 * 1024 })).await;
    assert_eq!(r.status, 201, "{r:?}");

    // Bad references: each a 422 on `attachments`, no post, the upload still pending.
    let never = declare(
        &stack,
        &alice,
        json!({ "community_id": c }),
        "never.png",
        "image/png",
        PNG,
    )
    .await;
    let never = never["id"].as_str().unwrap().to_string();
    let elsewhere = uploaded(
        &stack,
        &alice,
        json!({ "community_id": other.community_id }),
        "a.png",
        "image/png",
        PNG,
    )
    .await;
    let short = declare(
        &stack,
        &alice,
        json!({ "community_id": c }),
        "short.png",
        "image/png",
        PNG,
    )
    .await;
    put(&short, &PNG[..10], None).await;
    let short = short["id"].as_str().unwrap().to_string();
    let retyped = declare(
        &stack,
        &alice,
        json!({ "community_id": c }),
        "retyped.png",
        "image/png",
        PNG,
    )
    .await;
    put(&retyped, PNG, Some("image/gif")).await;
    let retyped = retyped["id"].as_str().unwrap().to_string();
    let bobs = uploaded(
        &stack,
        &bob,
        json!({ "community_id": c }),
        "bob.png",
        "image/png",
        PNG,
    )
    .await;
    let unknown = ulid::Ulid::generate().to_string();
    for (what, id) in [
        ("never uploaded", &never),
        ("of another community", &elsewhere),
        ("shorter than declared", &short),
        ("of another type than declared", &retyped),
        ("another user's upload", &bobs),
        ("no such attachment", &unknown),
    ] {
        let r = post(&stack, &alice, &c, &[id]).await;
        assert_eq!(r.status, 422, "{what}: {r:?}");
        assert_eq!(r.body["errors"][0]["field"], "attachments", "{what}: {r:?}");
        if let Some(a) = record(&stack, id).await {
            assert_eq!(a.status, AttachmentStatus::Pending, "{what}");
            assert!(a.ttl.is_some(), "{what}");
        }
    }
    let eleven: Vec<String> = (0..11)
        .map(|_| ulid::Ulid::generate().to_string())
        .collect();
    let eleven: Vec<&str> = eleven.iter().map(String::as_str).collect();
    assert_eq!(post(&stack, &alice, &c, &eleven).await.status, 422);
    assert_eq!(
        post_count(&stack, &alice, &c).await,
        0,
        "no post was written"
    );

    // Messages: an attachment on a text message, an image message carrying a PDF, a file
    // message with no attachment, one never uploaded.
    let pdf = uploaded(
        &stack,
        &alice,
        json!({ "community_id": c }),
        "n.pdf",
        "application/pdf",
        PDF,
    )
    .await;
    for (body, field) in [
        (
            json!({ "community": c, "message": "hi", "attachment_id": pdf }),
            "attachment_id",
        ),
        (
            json!({ "community": c, "message_type": "image", "attachment_id": pdf }),
            "attachment_id",
        ),
        (
            json!({ "community": c, "message_type": "file" }),
            "attachment_id",
        ),
        (
            json!({ "community": c, "message_type": "file", "attachment_id": never }),
            "attachment_id",
        ),
    ] {
        let r = stack
            .api(&alice)
            .post("/api/community/messages/", body.clone())
            .await;
        assert_eq!(r.status, 422, "{body}: {r:?}");
        assert_eq!(r.body["errors"][0]["field"], field, "{body}: {r:?}");
    }
    let history = stack
        .api(&alice)
        .get(&format!("/api/community/groups/{c}/messages/"))
        .await;
    assert_eq!(
        history.body["results"].as_array().unwrap().len(),
        0,
        "{history:?}"
    );
    assert_eq!(
        record(&stack, &pdf).await.unwrap().status,
        AttachmentStatus::Pending
    );

    // A direct message may not use an upload of a community, nor a community post one of a
    // conversation.
    let r = stack
        .api(&alice)
        .post(
            "/api/community/conversations/",
            json!({ "members": [bob.id] }),
        )
        .await;
    let conversation = r.body["id"].as_str().unwrap().to_string();
    let r = stack
        .api(&alice)
        .post(
            &format!("/api/community/conversations/{conversation}/messages/"),
            json!({ "message_type": "file", "attachment_id": pdf }),
        )
        .await;
    assert_eq!(r.status, 422, "{r:?}");
    let dm_file = uploaded(
        &stack,
        &alice,
        json!({ "conversation_id": conversation }),
        "d.pdf",
        "application/pdf",
        PDF,
    )
    .await;
    assert_eq!(post(&stack, &alice, &c, &[&dm_file]).await.status, 422);
    // Only members of a conversation may upload to it.
    let r = presign(
        &stack,
        &outsider,
        json!({ "conversation_id": conversation, "filename": "d.pdf",
                                                "content_type": "application/pdf", "size": 3 }),
    )
    .await;
    assert_eq!(r.status, 404, "{r:?}");
}

#[tokio::test]
async fn a_download_follows_the_access_of_the_content_that_references_it() {
    let stack = Stack::start().await;
    let course = stack.course().await;
    let c = course.community_id.clone();
    let alice = stack.member(&course).await;
    let bob = stack.member(&course).await;
    let outsider = stack.user(Role::Student);
    stack.push_user(&outsider).await;

    let image = uploaded(
        &stack,
        &alice,
        json!({ "community_id": c }),
        "g.png",
        "image/png",
        PNG,
    )
    .await;
    // Pending: nobody downloads it, not even its uploader.
    assert_eq!(
        download(&stack, &alice, &image).await.status().as_u16(),
        404
    );
    let r = post(&stack, &alice, &c, &[&image]).await;
    assert_eq!(r.status, 201, "{r:?}");
    let post_id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(download(&stack, &bob, &image).await.status().as_u16(), 302);
    assert_eq!(
        download(&stack, &outsider, &image).await.status().as_u16(),
        404
    );
    let unknown = ulid::Ulid::generate().to_string();
    assert_eq!(
        download(&stack, &bob, &unknown).await.status().as_u16(),
        404
    );

    // A staff-only thread's files: its author and the staff, not the other students.
    let secret = uploaded(
        &stack,
        &alice,
        json!({ "community_id": c }),
        "s.png",
        "image/png",
        PNG,
    )
    .await;
    let r = stack
        .api(&alice)
        .post(
            "/api/community/posts/",
            json!({ "community": c, "title": "For the staff", "content": "My grade",
                    "audience": "staff", "attachments": [secret] }),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        download(&stack, &alice, &secret).await.status().as_u16(),
        302
    );
    assert_eq!(
        download(&stack, &course.instructor, &secret)
            .await
            .status()
            .as_u16(),
        302
    );
    assert_eq!(download(&stack, &bob, &secret).await.status().as_u16(), 404);

    // A removed student no longer downloads.
    let r = stack
        .api(&stack.admin())
        .delete(&format!(
            "/api/community/lms/courses/{}/enrollments/{}/",
            course.course_id, bob.id
        ))
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(download(&stack, &bob, &image).await.status().as_u16(), 404);

    // A deleted post takes its files with it.
    let carol = stack.member(&course).await;
    assert_eq!(
        download(&stack, &carol, &image).await.status().as_u16(),
        302
    );
    let r = stack
        .api(&alice)
        .delete(&format!("/api/community/posts/{post_id}/"))
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(
        download(&stack, &carol, &image).await.status().as_u16(),
        404
    );
    assert_eq!(
        download(&stack, &alice, &image).await.status().as_u16(),
        404
    );
}
