//! Signed one-click unsubscribe (RFC 8058): every email carries a link, and the headers
//! `List-Unsubscribe` and `List-Unsubscribe-Post`, to `POST notifications/unsubscribe/?token=`,
//! which needs no sign-in. The token names the user and what the email was (the immediate
//! notification emails, or the digest), signed with the cursor keys; a token that was altered,
//! or made for another purpose, changes nothing and says so.

use crate::cursor::Cursors;
use crate::error::{Error, Result};
use crate::model::notification::{Channel, Digest, Kind};
use crate::store::{Db, settings as store};
use serde::Serialize;

const SCOPE: &str = "unsubscribe";

/// What an unsubscribe link stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum List {
    /// Every notification email (each type's email channel is turned off).
    Notifications,
    /// The digest (its frequency becomes `off`).
    Digest,
}

impl List {
    fn as_str(self) -> &'static str {
        match self {
            List::Notifications => "notifications",
            List::Digest => "digest",
        }
    }
}

/// A token for `user_id`'s `list`.
pub fn token(cursors: &Cursors, user_id: &str, list: List) -> String {
    cursors.seal(SCOPE, format!("{}\n{user_id}", list.as_str()).as_bytes())
}

/// The user and list of a token; `None` when it does not verify.
pub fn read(cursors: &Cursors, token: &str) -> Option<(String, List)> {
    let payload = String::from_utf8(cursors.open(SCOPE, token)?).ok()?;
    let (list, user) = payload.split_once('\n')?;
    let list = match list {
        "notifications" => List::Notifications,
        "digest" => List::Digest,
        _ => return None,
    };
    (!user.is_empty()).then(|| (user.to_string(), list))
}

/// What an unsubscribe did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unsubscribed {
    pub unsubscribed: List,
}

/// Stops what the token names (the state item and the digest subscriber row: one GetItem and
/// one transaction); doing it again changes nothing. A token that does not verify is a 400;
/// one used by a signed-in `caller` it was not made for is a 403 (the web app says so).
pub async fn unsubscribe(
    db: &Db,
    cursors: &Cursors,
    token: &str,
    caller: Option<&str>,
) -> Result<Unsubscribed> {
    let (user_id, list) = read(cursors, token).ok_or_else(|| {
        Error::BadRequest("this unsubscribe link is not valid: nothing was changed".into())
    })?;
    if caller.is_some_and(|c| c != user_id) {
        return Err(Error::Forbidden(
            "this unsubscribe link belongs to another account: nothing was changed".into(),
        ));
    }
    let mut state = crate::notifications::settings::state(db, &user_id).await?;
    let previous = state.digest;
    match list {
        List::Notifications => {
            for kind in Kind::ALL {
                state.set(kind, Channel::Email, false);
            }
        }
        List::Digest => state.digest = Digest::Off,
    }
    store::set_preferences(db, &user_id, &state, previous).await?;
    tracing::info!(user_id, list = list.as_str(), "unsubscribed");
    Ok(Unsubscribed { unsubscribed: list })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_user_and_list_and_nothing_else_verifies() {
        let cursors = Cursors::new(b"key");
        let t = token(&cursors, "u1", List::Digest);
        assert_eq!(read(&cursors, &t), Some(("u1".into(), List::Digest)));
        // Another key, another scope (a cursor), a flipped character: refused.
        assert_eq!(read(&Cursors::new(b"other"), &t), None);
        assert_eq!(read(&cursors, &cursors.seal("cursor", b"digest\nu1")), None);
        let mut tampered = t.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(read(&cursors, &String::from_utf8(tampered).unwrap()), None);
        assert_eq!(read(&cursors, ""), None);
    }
}
