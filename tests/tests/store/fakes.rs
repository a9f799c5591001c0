//! Fakes for use-case tests: a pusher that records what each connection was sent, and the
//! community and members a use case needs to find through the guard.

use futures::future::BoxFuture;
use serde_json::Value;
use shared::auth::{Principal, Role};
use shared::communities::{Community, Visibility};
use shared::db::{Db, to_item};
use shared::membership::{CommunityRole, Member};
use shared::realtime::{Blob, Delivery, Pushed, Pusher};
use shared::store::communities::community_item;
use std::collections::HashSet;
use std::sync::Mutex;

/// Records every payload per connection; the connections in `gone` answer 410.
#[derive(Default)]
pub struct RecordingPusher {
    pub sent: Mutex<Vec<(String, Value)>>,
    pub gone: HashSet<String>,
    pub closed: Mutex<Vec<String>>,
}

impl RecordingPusher {
    pub fn with_gone(ids: &[&str]) -> Self {
        Self {
            gone: ids.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    /// The events a connection received (a gone one received none), in order.
    pub fn received(&self, connection_id: &str) -> Vec<Value> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|(c, _)| c == connection_id && !self.gone.contains(c))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Every connection tried, gone ones included.
    pub fn tried(&self) -> Vec<String> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .map(|(c, _)| c.clone())
            .collect()
    }

    pub fn clear(&self) {
        self.sent.lock().unwrap().clear();
    }
}

impl Pusher for RecordingPusher {
    fn send<'a>(&'a self, connection_id: &'a str, payload: &'a Blob) -> BoxFuture<'a, Pushed> {
        Box::pin(async move {
            let event: Value = serde_json::from_slice(payload.as_ref()).expect("JSON event");
            self.sent
                .lock()
                .unwrap()
                .push((connection_id.to_string(), event));
            let delivery = match self.gone.contains(connection_id) {
                true => Delivery::Gone,
                false => Delivery::Delivered,
            };
            Pushed {
                delivery,
                retried: 0,
            }
        })
    }

    fn close<'a>(&'a self, connection_id: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.closed.lock().unwrap().push(connection_id.to_string());
        })
    }
}

pub fn person(id: &str, role: Role) -> Principal {
    Principal {
        user_id: id.into(),
        role,
        name: id.to_uppercase(),
        username: Some(id.into()),
    }
}

/// A public community (no course): its `instructors` hold the instructor role there, each of
/// `members` is a plain member.
pub async fn community(db: &Db, id: &str, instructors: &[&str], members: &[&Principal]) {
    let now = "2026-11-23T10:00:00.000Z";
    let c = Community {
        id: id.into(),
        title: "Algebra".into(),
        description: String::new(),
        visibility: Visibility::Public,
        banner_image: None,
        require_post_approval: false,
        course_id: None,
        instructor_ids: instructors.iter().map(|s| s.to_string()).collect(),
        member_count: members.len() as i64,
        post_count: 0,
        created_at: now.into(),
        updated_at: now.into(),
        ..Default::default()
    };
    put(db, community_item(&c).unwrap()).await;
    for m in members {
        let member = Member::new(id, m, CommunityRole::Member, now);
        put(
            db,
            to_item(&shared::keys::member(id, &m.user_id), &member).unwrap(),
        )
        .await;
    }
}

pub async fn put(db: &Db, item: shared::db::Item) {
    db.put_item().set_item(Some(item)).send().await.unwrap();
}
