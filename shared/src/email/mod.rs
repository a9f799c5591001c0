//! Email: notifications that reach people who are not in the app.
//!
//! - [`immediate`]: a notification whose type the user gets by email is queued; a scheduled
//!   run sends each user at most one email per [`immediate::COALESCE_SECS`] with everything
//!   queued meanwhile.
//! - [`digest`]: daily and weekly summaries of the user's communities, sent by an hourly run,
//!   once per user and period, and not at all when nothing is new.
//! - [`compose`]: the MIME message (plain text and HTML, links into the web app, RFC 8058
//!   one-click unsubscribe headers); [`unsubscribe`]: the signed links and what they do.
//! - [`bounces`]: SES's bounce and complaint events stop all email to that address.
//!
//! Addresses come from the LMS (`lms::email_of`), never from the user's own clients. What an
//! email says is rendered at send time through `notifications::shown`, like every output: an
//! anonymous author stays anonymous, and nothing the recipient could not read in the app at
//! that moment (a deleted post, a community they lost) is in it. See `docs/notifications.md`.

pub mod bounces;
pub mod compose;
pub mod digest;
pub mod immediate;
pub mod unsubscribe;

use crate::error::Result;
use crate::notifications::settings::EmailStatus;
use crate::store::{Db, email as store};

pub use crate::store::mailer::{Mailer, SendError};

/// What every email needs to know about where it is sent from and where its links go.
#[derive(Debug, Clone)]
pub struct EmailConfig {
    /// The web app (`WEB_APP_URL`): links go to its `#/...` routes.
    pub web_app_url: String,
    /// The HTTP API with its stage (`API_URL`): the one-click unsubscribe endpoint is there.
    pub api_url: String,
    /// The product's name in subjects and footers.
    pub product: String,
}

impl EmailConfig {
    /// A link to a route of the web app (`route` without the `#`, e.g. `/c/{id}/chat`).
    pub fn app_link(&self, route: &str) -> String {
        format!("{}/#{route}", self.web_app_url.trim_end_matches('/'))
    }

    /// The web app's route of a notification's object.
    pub fn link_of(&self, n: &crate::notifications::Notification) -> String {
        let route = match n.target.kind.as_str() {
            "post" => format!(
                "/c/{}/post/{}",
                n.community_id,
                n.target.root_id.as_deref().unwrap_or(&n.target.id)
            ),
            "message" => format!("/c/{}/chat", n.community_id),
            _ => "/notifications".to_string(),
        };
        self.app_link(&route)
    }
}

/// The user's address from the LMS, if any, and whether it is suppressed (two GetItems, one
/// without an address).
async fn address_of(db: &Db, user_id: &str) -> Result<Option<(String, bool)>> {
    let Some(address) = crate::lms::email_of(db, user_id).await? else {
        return Ok(None);
    };
    let suppressed = store::suppression(db, &address).await?.is_some();
    Ok(Some((address, suppressed)))
}

/// Whether email reaches a user: an address from the LMS, not suppressed.
pub async fn status(db: &Db, user_id: &str) -> Result<EmailStatus> {
    let found = address_of(db, user_id).await?;
    Ok(EmailStatus {
        address_known: found.is_some(),
        suppressed: found.is_some_and(|(_, suppressed)| suppressed),
    })
}

/// The address a user's email goes to now, if any: known and not suppressed.
pub async fn deliverable_address(db: &Db, user_id: &str) -> Result<Option<String>> {
    Ok(address_of(db, user_id)
        .await?
        .and_then(|(address, suppressed)| (!suppressed).then_some(address)))
}
