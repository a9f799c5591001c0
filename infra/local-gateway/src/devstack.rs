//! Demo data for `local-gateway serve --seed`: a course with an instructor, students and
//! enrollments (one expired), pushed through the LMS sync endpoints like the real LMS would,
//! and ready-to-use tokens printed and written to `.local/demo.env` (or `$DEMO_ENV_FILE`).

use crate::error::Error;
use crate::gateway::Gateway;
use serde_json::{Value, json};

const COURSE_ID: &str = "demo-course";
/// Demo tokens are valid this long.
const TOKEN_TTL_SECS: i64 = 24 * 3600;

struct DemoUser {
    id: &'static str,
    role: &'static str,
    name: &'static str,
    username: &'static str,
    env: &'static str,
}

const USERS: &[DemoUser] = &[
    DemoUser {
        id: "demo-admin",
        role: "admin",
        name: "Ada Admin",
        username: "ada",
        env: "ADMIN_TOKEN",
    },
    DemoUser {
        id: "demo-instructor",
        role: "instructor",
        name: "Irene Instructor",
        username: "irene",
        env: "INSTRUCTOR_TOKEN",
    },
    DemoUser {
        id: "demo-student-1",
        role: "student",
        name: "Sam Student",
        username: "sam",
        env: "STUDENT_TOKEN",
    },
    DemoUser {
        id: "demo-student-2",
        role: "student",
        name: "Alex Student",
        username: "alex",
        env: "STUDENT2_TOKEN",
    },
    DemoUser {
        id: "demo-expired",
        role: "student",
        name: "Erin Expired",
        username: "erin",
        env: "EXPIRED_TOKEN",
    },
];

fn setting(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

fn token(u: &DemoUser) -> Result<String, Error> {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "sub": u.id, "role": u.role, "name": u.name, "preferred_username": u.username,
        "iss": setting("JWT_ISSUER", "https://lms.local"),
        "aud": setting("JWT_AUDIENCE", "course-community"),
        "iat": now, "exp": now + TOKEN_TTL_SECS,
    });
    let secret = setting(
        "JWT_SECRET",
        "local-development-secret-change-me-0123456789",
    );
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| Error::Seed(format!("minting a token: {e}")))
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Value,
    ) -> Result<Value, Error> {
        let r = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .map_err(|e| Error::Seed(format!("{method} {path}: {e}")))?;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(Error::Seed(format!("{method} {path}: {status} {body}")));
        }
        Ok(body)
    }
}

/// Seeds the demo course through the running gateway; safe to run on every start.
pub async fn seed(gateway: &Gateway) -> Result<(), Error> {
    use reqwest::Method;
    let client = Client {
        http: reqwest::Client::new(),
        base: gateway.http_url(),
    };
    let tokens: Vec<String> = USERS.iter().map(token).collect::<Result<_, _>>()?;
    let admin = &tokens[0];
    for u in USERS {
        client
            .call(
                Method::PUT,
                &format!("/api/community/lms/users/{}/", u.id),
                admin,
                // An address of a reserved domain: their emails stay in the AWS emulator.
                json!({ "name": u.name, "username": u.username, "email": format!("{}@example.edu", u.username) }),
            )
            .await?;
    }
    let course = client
        .call(
            Method::PUT,
            &format!("/api/community/lms/courses/{COURSE_ID}/"),
            admin,
            json!({ "title": "Intro to Rust", "description": "Ownership, borrowing and async, with a live Q&A every Friday.", "instructor_ids": ["demo-instructor"] }),
        )
        .await?;
    let community_id = course["community_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let enroll = |user: &str, expiry: Value| {
        let path = format!("/api/community/lms/courses/{COURSE_ID}/enrollments/{user}/");
        let client = &client;
        async move {
            client
                .call(
                    Method::PUT,
                    &path,
                    admin,
                    json!({ "is_active": true, "expiry_date": expiry }),
                )
                .await
        }
    };
    let next_year = (chrono::Utc::now() + chrono::Duration::days(365))
        .format("%Y-%m-%d")
        .to_string();
    enroll("demo-student-1", Value::Null).await?;
    enroll("demo-student-2", json!(next_year)).await?;
    enroll("demo-expired", json!(next_year)).await?;
    for student_token in &tokens[2..] {
        client
            .call(
                Method::POST,
                &format!("/api/community/groups/{community_id}/join/"),
                student_token,
                json!({}),
            )
            .await?;
    }
    // Erin joined while enrolled; her enrollment has since expired.
    enroll("demo-expired", json!("2025-01-31")).await?;

    let mut env = format!(
        "# Demo settings of the local stack (written by `make dev`).\nexport HTTP_URL={}\nexport WS_URL={}\nexport COMMUNITY_ID={community_id}\n",
        gateway.http_url(),
        gateway.ws_url()
    );
    eprintln!("\nDemo course {COURSE_ID}: community {community_id}");
    for (u, t) in USERS.iter().zip(&tokens) {
        eprintln!("  {:<17} {:<10} {}", u.env, u.role, u.name);
        env.push_str(&format!("export {}={t}\n", u.env));
    }
    // `DEMO_ENV_FILE` lets a second stack (e.g. the schemathesis run) keep its own file.
    let path = std::path::PathBuf::from(setting("DEMO_ENV_FILE", ".local/demo.env"));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::Seed(e.to_string()))?;
    }
    std::fs::write(&path, &env).map_err(|e| Error::Seed(e.to_string()))?;
    let path = path.display();
    eprintln!("\nTokens (valid 30 days) are in {path}:  source {path}\n");
    for (u, t) in USERS.iter().zip(&tokens) {
        eprintln!("{}={t}", u.env);
    }
    Ok(())
}
