//! The signing keys: the HS256 key shared with the LMS (verifies tokens) and the cursor key (signs
//! pagination cursors), each a current and an optional previous key, so a rotation breaks nothing.
//!
//! In a deployed stack the keys live in one Secrets Manager secret (`KEYS_SECRET_ARN`), read at
//! cold start and again once `KEYS_TTL_SECS` (default 300) have passed, at the start of the next
//! invocation: writing a new version of the secret rotates the keys with no redeploy. Without a
//! secret, `JWT_SECRET` and `CURSOR_SECRET` are the keys (local development and tests).
//!
//! The secret's JSON:
//! `{"jwt": {"current": "...", "previous": "..."}, "cursor": {"current": "...", "previous": "..."}}`
//! (`previous` optional; a JWT key has at least 32 bytes).

use serde::Deserialize;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Shortest HS256 key accepted (as `JWT_SECRET`).
pub const MIN_JWT_KEY_BYTES: usize = 32;
/// How long keys read from the secret are used before it is read again, unless `KEYS_TTL_SECS` says.
pub const DEFAULT_TTL_SECS: u64 = 300;
/// Longest wait before a failed read of the secret is tried again (the keys in hand stay in use).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// A current key and, during a rotation, the one it replaced.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPair {
    pub current: Vec<u8>,
    pub previous: Option<Vec<u8>>,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys never reach a log line.
        f.debug_struct("KeyPair")
            .field("previous", &self.previous.is_some())
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    pub fn single(current: impl Into<Vec<u8>>) -> Self {
        Self {
            current: current.into(),
            previous: None,
        }
    }

    /// The keys a signature may have been made with: the current one first.
    pub fn accepted(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::once(self.current.as_slice()).chain(self.previous.as_deref())
    }
}

/// A key pair shared by its users (the verifier, the cursor signer) and the keyring that
/// replaces it after a rotation. Never locked across an `.await`.
#[derive(Clone, Debug)]
pub struct SharedKeys(Arc<RwLock<KeyPair>>);

impl SharedKeys {
    pub fn new(keys: KeyPair) -> Self {
        Self(Arc::new(RwLock::new(keys)))
    }

    /// The keys as they are now.
    pub fn get(&self) -> KeyPair {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Puts new keys in place (a reload of the secret; tests of a rotation).
    pub fn replace(&self, keys: KeyPair) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = keys;
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretPair {
    current: String,
    #[serde(default)]
    previous: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretDoc {
    jwt: SecretPair,
    cursor: SecretPair,
}

/// The JWT and cursor key pairs of a secret's JSON; the error names what is wrong, never a key.
pub fn parse_secret(json: &str) -> Result<(KeyPair, KeyPair), String> {
    let doc: SecretDoc = serde_json::from_str(json).map_err(|e| {
        // serde's message may quote a value; keep only where it went wrong.
        format!(
            "the keys secret must be {{\"jwt\": {{\"current\", \"previous\"?}}, \"cursor\": {{…}}}} (line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    let pair = |p: SecretPair, what: &str, min: usize| -> Result<KeyPair, String> {
        let previous = p.previous.filter(|v| !v.is_empty());
        for key in std::iter::once(&p.current).chain(previous.as_ref()) {
            if key.len() < min.max(1) {
                return Err(format!(
                    "every {what} key must be at least {} bytes",
                    min.max(1)
                ));
            }
        }
        Ok(KeyPair {
            current: p.current.into_bytes(),
            previous: previous.map(String::into_bytes),
        })
    };
    Ok((
        pair(doc.jwt, "jwt", MIN_JWT_KEY_BYTES)?,
        pair(doc.cursor, "cursor", 1)?,
    ))
}

/// Where the keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A Secrets Manager secret (name or ARN), read again after `ttl`.
    Secret { id: String, ttl: Duration },
    /// Fixed keys from the environment. No JWT key: HS256 tokens are refused (a function that
    /// verifies none). No cursor key: one made at cold start (a function that pages nothing).
    Fixed {
        jwt: Option<Vec<u8>>,
        cursor: Option<Vec<u8>>,
    },
}

struct SecretReader {
    client: aws_sdk_secretsmanager::Client,
    id: String,
    ttl: Duration,
    next_read: Mutex<Instant>,
}

/// The keys of one function instance and, for a secret, the means to read it again.
pub struct Keyring {
    pub jwt: Option<SharedKeys>,
    pub cursor: SharedKeys,
    reader: Option<SecretReader>,
}

impl Keyring {
    /// Keys that never change.
    pub fn fixed(jwt: Option<KeyPair>, cursor: KeyPair) -> Self {
        Self {
            jwt: jwt.map(SharedKeys::new),
            cursor: SharedKeys::new(cursor),
            reader: None,
        }
    }

    /// Loads the keys at cold start; a secret that cannot be read or parsed fails the start.
    pub async fn load(source: &KeySource, sdk: &aws_config::SdkConfig) -> Result<Self, String> {
        match source {
            KeySource::Fixed { jwt, cursor } => {
                let cursor = cursor.clone().unwrap_or_else(random_key);
                Ok(Self::fixed(
                    jwt.clone().map(KeyPair::single),
                    KeyPair::single(cursor),
                ))
            }
            KeySource::Secret { id, ttl } => {
                let client = aws_sdk_secretsmanager::Client::new(sdk);
                let (jwt, cursor) = read_secret(&client, id).await?;
                Ok(Self {
                    jwt: Some(SharedKeys::new(jwt)),
                    cursor: SharedKeys::new(cursor),
                    reader: Some(SecretReader {
                        client,
                        id: id.clone(),
                        ttl: *ttl,
                        next_read: Mutex::new(Instant::now() + *ttl),
                    }),
                })
            }
        }
    }

    /// Reads the secret again if its keys are older than the TTL (called before each
    /// invocation; a no-op otherwise). A failed read keeps the keys in hand and is tried again
    /// after at most [`RETRY_AFTER_FAILURE`].
    pub async fn refresh(&self) {
        let Some(reader) = &self.reader else { return };
        let now = Instant::now();
        {
            let mut next = reader.next_read.lock().unwrap_or_else(|p| p.into_inner());
            if now < *next {
                return;
            }
            // One reader at a time: the others go on with the keys in hand.
            *next = now + reader.ttl.min(RETRY_AFTER_FAILURE);
        }
        match read_secret(&reader.client, &reader.id).await {
            Ok((jwt, cursor)) => {
                let rotated = self.jwt.as_ref().is_some_and(|k| k.get() != jwt)
                    || self.cursor.get() != cursor;
                if let Some(keys) = &self.jwt {
                    keys.replace(jwt);
                }
                self.cursor.replace(cursor);
                *reader.next_read.lock().unwrap_or_else(|p| p.into_inner()) =
                    Instant::now() + reader.ttl;
                if rotated {
                    tracing::info!("signing keys reloaded: a rotation took effect");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "reading the keys secret failed; the keys in hand stay in use")
            }
        }
    }
}

async fn read_secret(
    client: &aws_sdk_secretsmanager::Client,
    id: &str,
) -> Result<(KeyPair, KeyPair), String> {
    let out = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| {
            format!(
                "GetSecretValue: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            )
        })?;
    let json = out
        .secret_string()
        .ok_or("the keys secret has no SecretString")?;
    parse_secret(json)
}

/// A key for one instance's life: two ULIDs, 160 bits from a cryptographic generator.
fn random_key() -> Vec<u8> {
    let mut key = ulid::Ulid::generate().to_bytes().to_vec();
    key.extend_from_slice(&ulid::Ulid::generate().to_bytes());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "a-jwt-key-of-at-least-thirty-two-bytes";
    const B: &str = "b-jwt-key-of-at-least-thirty-two-bytes";

    #[test]
    fn a_secret_gives_both_pairs_current_first() {
        let json = format!(
            r#"{{"jwt": {{"current": "{B}", "previous": "{A}"}}, "cursor": {{"current": "c2", "previous": "c1"}}}}"#
        );
        let (jwt, cursor) = parse_secret(&json).unwrap();
        assert_eq!(
            jwt.accepted().collect::<Vec<_>>(),
            [B.as_bytes(), A.as_bytes()]
        );
        assert_eq!(cursor.current, b"c2");
        assert_eq!(cursor.previous.as_deref(), Some(&b"c1"[..]));
    }

    #[test]
    fn previous_is_optional_and_an_empty_one_is_none() {
        for json in [
            format!(r#"{{"jwt": {{"current": "{A}"}}, "cursor": {{"current": "c"}}}}"#),
            format!(
                r#"{{"jwt": {{"current": "{A}", "previous": ""}}, "cursor": {{"current": "c"}}}}"#
            ),
        ] {
            let (jwt, _) = parse_secret(&json).unwrap();
            assert_eq!(jwt.accepted().count(), 1, "{json}");
        }
    }

    #[test]
    fn a_bad_secret_is_refused_without_quoting_it() {
        let short = r#"{"jwt": {"current": "short-key"}, "cursor": {"current": "c"}}"#;
        let err = parse_secret(short).unwrap_err();
        assert!(err.contains("at least 32 bytes") && !err.contains("short-key"));
        let short_previous = format!(
            r#"{{"jwt": {{"current": "{A}", "previous": "x"}}, "cursor": {{"current": "c"}}}}"#
        );
        assert!(parse_secret(&short_previous).is_err());
        for bad in [
            "",
            "not json",
            r#"{"jwt_secret": "x"}"#,
            r#"{"jwt": {"current": 1}, "cursor": {"current": "c"}}"#,
            r#"{"jwt": {"current": "secret-value-here-0123456789abcdef"}}"#,
            r#"{"jwt": {"current": "a-jwt-key-of-at-least-thirty-two-bytes"}, "cursor": {"current": ""}}"#,
        ] {
            let err = parse_secret(bad).unwrap_err();
            assert!(!err.contains("secret-value-here"), "{err}");
        }
    }

    #[test]
    fn a_key_pair_never_shows_its_keys() {
        let shown = format!("{:?}", KeyPair::single(A));
        assert!(!shown.contains(A), "{shown}");
    }

    #[test]
    fn shared_keys_see_a_rotation() {
        let keys = SharedKeys::new(KeyPair::single(A));
        let seen_by_verifier = keys.clone();
        keys.replace(KeyPair {
            current: B.into(),
            previous: Some(A.into()),
        });
        assert_eq!(seen_by_verifier.get().current, B.as_bytes());
    }

    #[tokio::test]
    async fn fixed_keys_without_a_cursor_key_get_a_random_one() {
        let sdk = aws_config::SdkConfig::builder().build();
        let source = KeySource::Fixed {
            jwt: None,
            cursor: None,
        };
        let one = Keyring::load(&source, &sdk).await.unwrap();
        let two = Keyring::load(&source, &sdk).await.unwrap();
        assert!(one.jwt.is_none());
        assert_eq!(one.cursor.get().current.len(), 32);
        assert_ne!(one.cursor.get(), two.cursor.get());
        one.refresh().await; // nothing to read: a no-op
    }
}
