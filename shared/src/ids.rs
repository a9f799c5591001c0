//! Ids: ULIDs (time-sortable) for everything we create; LMS ids are opaque strings we validate.

use crate::error::{Error, Result};
use std::sync::Arc;

/// Where new ids come from, injected like the clock: the system mints ULIDs, a test can mint a
/// known sequence (and so predict, say, the id of the notification job a post will queue).
pub trait Ids: Send + Sync {
    fn new_id(&self) -> String;
}

pub type SharedIds = Arc<dyn Ids>;

/// ULIDs, monotonic within the process.
pub struct Ulids;

impl Ids for Ulids {
    fn new_id(&self) -> String {
        new_id()
    }
}

pub fn ulids() -> SharedIds {
    Arc::new(Ulids)
}

/// ULIDs of one instant with a counter: `prefix` fixes the time part, ids sort in minting order.
pub struct Sequence {
    time_ms: u64,
    next: std::sync::atomic::AtomicU64,
}

impl Sequence {
    pub fn at(time: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            time_ms: time.timestamp_millis().max(0) as u64,
            next: std::sync::atomic::AtomicU64::new(1),
        }
    }

    /// The id the n-th call (from 1) answers.
    pub fn nth(&self, n: u64) -> String {
        ulid::Ulid::from_parts(self.time_ms, u128::from(n)).to_string()
    }
}

impl Ids for Sequence {
    fn new_id(&self) -> String {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.nth(n)
    }
}

/// A new ULID, monotonic within the process so ids minted in one millisecond still sort in order.
pub fn new_id() -> String {
    use std::sync::Mutex;
    static GEN: Mutex<ulid::Generator> = Mutex::new(ulid::Generator::new());
    let mut generator = GEN.lock().unwrap_or_else(|p| p.into_inner());
    generator
        .generate()
        .unwrap_or_else(|overflow| overflow.commit_overflow_increment())
        .to_string()
}

/// The one ULID rule: 26 characters of Crockford's base32 (either case) whose value fits in 128
/// bits, so the first character is `0`-`7`. The `ulid` crate alone shifts the top bits of an
/// out-of-range id away, so `81M8…` would decode to the id `01M8…` names; this refuses it.
/// Answers the canonical (upper-case) form: every id that reaches a key passes here.
pub fn ulid(raw: &str) -> Option<String> {
    let in_range = raw.len() == 26 && matches!(raw.as_bytes()[0], b'0'..=b'7');
    if !in_range {
        return None;
    }
    ulid::Ulid::from_string(raw).ok().map(|u| u.to_string())
}

/// Checks an id minted by us (ULID) taken from a path, query or body ([`ulid`]).
pub fn parse_ulid(what: &'static str, raw: &str) -> Result<String> {
    ulid(raw).ok_or_else(|| {
        Error::BadRequest(format!(
            "{what} id is not a valid id: {:.40}",
            raw.escape_debug()
        ))
    })
}

/// Most characters of a user id (the JWT `sub`, the LMS's user id).
pub const MAX_USER_ID_CHARS: usize = 128;

/// The one rule for user ids, applied where a token is verified and wherever an id arrives in a
/// path, a query or a body: 1 to 128 characters, any script, `|`, spaces inside, but no `#` (the
/// key separator: an id with one could name another user's partition), no `/` (the path
/// separator: such a user could not be named in a path), no control or bidi formatting
/// characters, and no space at either end. An identity provider's `auth0|abc123` or
/// a UUID passes; `victim#NOTIFS` does not.
pub fn parse_user_id(raw: &str) -> Result<String> {
    let bad_char = |c: char| {
        c == '#'
            || c == '/'
            || c.is_control()
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
    };
    let ok = !raw.is_empty()
        && raw.chars().count() <= MAX_USER_ID_CHARS
        && raw.trim() == raw
        && !raw.chars().any(bad_char);
    if ok {
        Ok(raw.to_string())
    } else {
        Err(Error::BadRequest(format!(
            "user id must be 1-{MAX_USER_ID_CHARS} characters, without '#', '/', control characters or spaces at either end"
        )))
    }
}

/// Checks an id chosen by the LMS: 1 to 64 characters of `[A-Za-z0-9_.:-]`.
pub fn parse_external(what: &'static str, raw: &str) -> Result<String> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b));
    if ok {
        Ok(raw.to_string())
    } else {
        Err(Error::BadRequest(format!(
            "{what} id must be 1-64 characters of letters, digits, '_', '.', ':' or '-'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_in_creation_order() {
        let ids: Vec<String> = (0..1000).map(|_| new_id()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }

    #[test]
    fn a_sequence_answers_known_ids_in_order() {
        let seq = Sequence::at(chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap());
        let (a, b) = (seq.new_id(), seq.new_id());
        assert_eq!(
            (a.as_str(), b.as_str()),
            (seq.nth(1).as_str(), seq.nth(2).as_str())
        );
        assert!(a < b);
        assert!(parse_ulid("post", &a).is_ok());
    }

    #[test]
    fn ulids_out_of_range_or_malformed_are_refused() {
        let real = "01M8ZZZZZZZZZZZZZZZZZZZZZZ";
        assert_eq!(ulid(real).as_deref(), Some(real));
        assert_eq!(ulid(&real.to_lowercase()).as_deref(), Some(real));
        assert_eq!(
            ulid("7ZZZZZZZZZZZZZZZZZZZZZZZZZ").as_deref(),
            Some("7ZZZZZZZZZZZZZZZZZZZZZZZZZ")
        );
        for bad in [
            "81M8ZZZZZZZZZZZZZZZZZZZZZZ",
            "ZZZZZZZZZZZZZZZZZZZZZZZZZZ",
            "8ZZZZZZZZZZZZZZZZZZZZZZZZZ",
            "01M8ZZZZZZZZZZZZZZZZZZZZZ",
            "01M8ZZZZZZZZZZZZZZZZZZZZZZZ",
            "01M8ZZZZZZZZZZZZZZZZZZZZZU",
            "01M8ZZZZZZZZZZZZZZZZZZZZZI",
            " 01M8ZZZZZZZZZZZZZZZZZZZZZ",
            "",
            "01M8ZZZZZZZZZZZZZZZZZZZZZé",
        ] {
            assert!(ulid(bad).is_none(), "{bad}");
            assert!(matches!(parse_ulid("post", bad), Err(Error::BadRequest(_))));
        }
    }

    proptest::proptest! {
        #[test]
        fn every_ulid_we_mint_parses_to_itself(n in proptest::prelude::any::<u128>()) {
            let id = ulid::Ulid(n).to_string();
            proptest::prop_assert_eq!(ulid(&id), Some(id.clone()));
            proptest::prop_assert_eq!(ulid(&id.to_lowercase()), Some(id));
        }

        #[test]
        fn no_two_strings_name_one_id_except_by_case(raw in "[0-9A-Za-z]{26}") {
            if let Some(id) = ulid(&raw) {
                proptest::prop_assert_eq!(id, raw.to_uppercase());
            }
        }
    }

    #[test]
    fn user_ids_follow_one_rule() {
        for good in [
            "u-1",
            "auth0|abc123",
            "Zoë Müller",
            "用户",
            &"x".repeat(128),
        ] {
            assert_eq!(parse_user_id(good).unwrap(), good);
        }
        for bad in [
            "",
            "victim#NOTIFS",
            "a/b",
            " padded",
            "padded ",
            "nul\0",
            "bidi\u{202E}x",
            "zero\u{200B}width",
            &"x".repeat(129),
        ] {
            assert!(parse_user_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bad_ulids_and_external_ids_are_refused() {
        assert!(parse_ulid("post", "not-a-ulid").is_err());
        assert!(parse_ulid("post", &new_id()).is_ok());
        assert!(parse_external("user", "u-1.a:b_c").is_ok());
        assert!(parse_external("user", "").is_err());
        assert!(parse_external("user", "a/b").is_err());
        assert!(parse_external("user", &"x".repeat(65)).is_err());
    }
}
