//! Opaque, tamper-proof pagination cursors (and, with the same keys, other signed tokens:
//! [`Cursors::seal`]): the page's last key, bound to the listing it came from
//! and signed with HMAC-SHA256, so a client can neither forge one nor replay it on another listing.
//! Signed with the current key, accepted under the current or the previous one (a rotation leaves
//! every cursor in a client's hands working until the previous key is dropped).

use crate::db::Item;
use crate::error::{Error, Result};
use crate::keyring::{KeyPair, SharedKeys};
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use std::collections::{BTreeMap, HashMap};

pub const DEFAULT_PAGE: i32 = 20;
pub const MAX_PAGE: i32 = 100;

type HmacSha256 = Hmac<Sha256>;

const TAG_LEN: usize = 16;
const MAX_CURSOR_LEN: usize = 2048;

#[derive(Clone)]
pub struct Cursors {
    keys: SharedKeys,
}

fn mac(key: &[u8], scope: &str, payload: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(scope.as_bytes());
    mac.update(&[0]);
    mac.update(payload);
    mac
}

impl Cursors {
    /// One key that never changes.
    pub fn new(key: &[u8]) -> Self {
        Self::rotating(SharedKeys::new(KeyPair::single(key)))
    }

    /// The keyring's cursor keys, following its rotations.
    pub fn rotating(keys: SharedKeys) -> Self {
        Self { keys }
    }

    fn tag(&self, scope: &str, payload: &[u8]) -> Vec<u8> {
        mac(&self.keys.get().current, scope, payload)
            .finalize()
            .into_bytes()[..TAG_LEN]
            .to_vec()
    }

    /// Signs `payload` for `scope`: a token only the key holder could make (unsubscribe links).
    pub fn seal(&self, scope: &str, payload: &[u8]) -> String {
        let mut bytes = self.tag(scope, payload);
        bytes.extend_from_slice(payload);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The payload of a token [`Cursors::seal`] made for `scope`, under the current or the
    /// previous key; `None` for anything altered, foreign or malformed.
    pub fn open(&self, scope: &str, token: &str) -> Option<Vec<u8>> {
        if token.len() > MAX_CURSOR_LEN {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        if bytes.len() <= TAG_LEN {
            return None;
        }
        let (tag, payload) = bytes.split_at(TAG_LEN);
        self.keys
            .get()
            .accepted()
            .any(|key| mac(key, scope, payload).verify_truncated_left(tag).is_ok())
            .then(|| payload.to_vec())
    }

    /// Encodes a LastEvaluatedKey (string attributes only, as all our keys are) for `scope`.
    pub fn encode(&self, scope: &str, last_key: &Item) -> String {
        let plain: BTreeMap<&str, &str> = last_key
            .iter()
            .filter_map(|(k, v)| v.as_s().ok().map(|s| (k.as_str(), s.as_str())))
            .collect();
        let payload = serde_json::to_vec(&plain).expect("a map of strings serializes");
        self.seal(scope, &payload)
    }

    /// Decodes a cursor given back by a client; anything altered or foreign is a 400.
    pub fn decode(&self, scope: &str, cursor: &str) -> Result<Item> {
        let bad = || Error::BadRequest("cursor is invalid or belongs to another listing".into());
        let payload = self.open(scope, cursor).ok_or_else(bad)?;
        let plain: BTreeMap<String, String> =
            serde_json::from_slice(&payload).map_err(|_| bad())?;
        Ok(plain
            .into_iter()
            .map(|(k, v)| (k, AttributeValue::S(v)))
            .collect())
    }
}

/// `?limit=` and `?cursor=` of a listing.
#[derive(Debug, Clone)]
pub struct PageParams {
    pub limit: i32,
    pub cursor: Option<String>,
}

pub fn page_params(q: &HashMap<String, String>) -> Result<PageParams> {
    let limit = match q.get("limit") {
        None => DEFAULT_PAGE,
        Some(raw) => match raw.parse::<i32>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(Error::BadRequest(format!(
                    "limit must be an integer from 1 to {MAX_PAGE}"
                )));
            }
        },
    };
    Ok(PageParams {
        limit,
        cursor: q.get("cursor").filter(|c| !c.is_empty()).cloned(),
    })
}

/// A page of a listing, as every list endpoint answers.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub results: Vec<T>,
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// The same page with each result shown another way.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            results: self.results.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Item {
        Item::from([
            ("PK".into(), AttributeValue::S("COMMUNITY#1".into())),
            ("SK".into(), AttributeValue::S("POST#01H".into())),
        ])
    }

    #[test]
    fn a_cursor_round_trips_in_its_own_listing() {
        let c = Cursors::new(b"k");
        let token = c.encode("posts:1", &key());
        assert_eq!(c.decode("posts:1", &token).unwrap(), key());
    }

    #[test]
    fn a_cursor_is_refused_in_another_listing_or_under_another_key() {
        let c = Cursors::new(b"k");
        let token = c.encode("posts:1", &key());
        assert!(c.decode("posts:2", &token).is_err());
        assert!(Cursors::new(b"other").decode("posts:1", &token).is_err());
    }

    #[test]
    fn after_a_rotation_old_cursors_page_and_new_ones_use_the_new_key() {
        let keys = SharedKeys::new(KeyPair::single(b"a".to_vec()));
        let c = Cursors::rotating(keys.clone());
        let under_a = c.encode("posts:1", &key());
        keys_rotate(&keys, b"b");
        assert_eq!(c.decode("posts:1", &under_a).unwrap(), key());
        let under_b = c.encode("posts:1", &key());
        assert_ne!(under_a, under_b, "signed with the new current key");
        assert!(Cursors::new(b"b").decode("posts:1", &under_b).is_ok());
        assert!(Cursors::new(b"a").decode("posts:1", &under_b).is_err());
        // Once the previous key is dropped, cursors signed with it are refused.
        keys_rotate(&keys, b"c");
        assert!(c.decode("posts:1", &under_a).is_err());
        assert!(c.decode("posts:1", &under_b).is_ok());
        assert!(c.decode("posts:2", &under_b).is_err());
    }

    /// previous = current, current = `new`, as a rotation writes the secret.
    fn keys_rotate(keys: &SharedKeys, new: &[u8]) {
        let previous = keys.get().current;
        keys.replace(KeyPair {
            current: new.to_vec(),
            previous: Some(previous),
        });
    }

    #[test]
    fn a_tampered_cursor_is_refused() {
        let c = Cursors::new(b"k");
        let token = c.encode("posts:1", &key());
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        let last = bytes.len() - 3;
        bytes[last] ^= 1;
        assert!(c.decode("posts:1", &URL_SAFE_NO_PAD.encode(bytes)).is_err());
        assert!(c.decode("posts:1", "!!!").is_err());
        assert!(c.decode("posts:1", "").is_err());
    }
}
