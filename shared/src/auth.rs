//! Identity: verifies the caller's JWT (HS256 from the LMS, RS256/ES256 from a JWKS) into a [`Principal`].
//!
//! Algorithms are pinned per key source: the HS256 secret verifies only HS256 tokens and JWKS keys
//! only their own asymmetric algorithm, so `alg` confusion and `none` are refused.

use crate::error::{Error, Result};
use crate::keyring::{KeyPair, SharedKeys};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
use serde::{Deserialize, Serialize};

/// Largest token accepted; anything longer is refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECS: u64 = 30;
/// Longest token lifetime accepted unless `JWT_MAX_LIFETIME_SECS` says: 24 hours.
pub const DEFAULT_MAX_LIFETIME_SECS: u64 = 24 * 3600;
/// Most characters of the `name` claim kept; a longer one is cut (it is shown and stored).
pub const MAX_NAME_CHARS: usize = 200;

#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub secret: Option<Vec<u8>>,
    pub issuer: String,
    pub audience: String,
    pub jwks_url: Option<String>,
    /// Longest span from `iat` (or `nbf`, the later) to `exp`; for a token with neither, from
    /// now to `exp` (`JWT_MAX_LIFETIME_SECS`).
    pub max_lifetime_secs: u64,
}

/// The platform role carried by the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Student,
    Instructor,
    Admin,
}

/// Who is calling, as the token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub role: Role,
    pub name: String,
    pub username: Option<String>,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    role: Role,
    name: String,
    #[serde(default)]
    preferred_username: Option<String>,
    exp: f64,
    #[serde(default)]
    iat: Option<f64>,
    #[serde(default)]
    nbf: Option<f64>,
}

/// The lifetime rule, apart from `exp` and `nbf` themselves (checked by the JWT library): `iat`
/// not in the future beyond the leeway, and no more than `max` seconds from the token's start
/// (`iat` or `nbf`, the later; now for a token with neither) to its `exp`.
pub fn lifetime_ok(
    now: i64,
    exp: f64,
    iat: Option<f64>,
    nbf: Option<f64>,
    max: u64,
) -> std::result::Result<(), &'static str> {
    let (now, leeway, max) = (now as f64, LEEWAY_SECS as f64, max as f64);
    if iat.is_some_and(|iat| iat > now + leeway) {
        return Err("issued in the future");
    }
    let start = match (iat, nbf) {
        (Some(i), Some(n)) => i.max(n),
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => now,
    };
    if !exp.is_finite() || exp - start > max + leeway {
        return Err("lifetime too long");
    }
    Ok(())
}

struct AsymmetricKey {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

pub struct Verifier {
    /// The HS256 keys (current, previous), replaced in place when the keyring reloads them.
    hs256: Option<SharedKeys>,
    jwks: Vec<AsymmetricKey>,
    issuer: String,
    audience: String,
    max_lifetime_secs: u64,
}

impl Verifier {
    /// Builds the verifier; fetches the JWKS once at cold start when one is configured. The
    /// HS256 keys are the keyring's when given (they follow its rotations), else `config.secret`.
    pub async fn from_config(config: &JwtConfig, hs256: Option<SharedKeys>) -> Result<Self, Error> {
        let jwks = match &config.jwks_url {
            Some(url) => {
                let set: JwkSet = reqwest::get(url)
                    .await
                    .and_then(|r| r.error_for_status())
                    .map_err(|e| Error::internal(format!("fetching JWKS: {e}")))?
                    .json()
                    .await
                    .map_err(|e| Error::internal(format!("parsing JWKS: {e}")))?;
                Some(set)
            }
            None => None,
        };
        let mut verifier = Self::new(config, jwks.as_ref())?;
        if hs256.is_some() {
            verifier.hs256 = hs256;
        }
        Ok(verifier)
    }

    pub fn new(config: &JwtConfig, jwks: Option<&JwkSet>) -> Result<Self, Error> {
        let mut keys = Vec::new();
        for jwk in jwks.map(|s| s.keys.as_slice()).unwrap_or_default() {
            let alg = match jwk.common.key_algorithm.map(|a| a.to_string()).as_deref() {
                Some("RS256") => Algorithm::RS256,
                Some("ES256") => Algorithm::ES256,
                // Keys without a declared algorithm, or for other algorithms, are not trusted.
                _ => continue,
            };
            let key = DecodingKey::from_jwk(jwk)
                .map_err(|e| Error::internal(format!("unusable JWK: {e}")))?;
            keys.push(AsymmetricKey {
                kid: jwk.common.key_id.clone(),
                alg,
                key,
            });
        }
        Ok(Self {
            hs256: config
                .secret
                .clone()
                .map(|k| SharedKeys::new(KeyPair::single(k))),
            jwks: keys,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            max_lifetime_secs: config.max_lifetime_secs,
        })
    }

    /// Verifies a bearer token; every failure is a 401 with a generic detail.
    pub fn verify(&self, token: &str) -> Result<Principal> {
        let unauthorized = |why: &str| Error::Unauthorized(format!("invalid token: {why}"));
        if token.is_empty() {
            return Err(Error::Unauthorized("missing token".into()));
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(unauthorized("too large"));
        }
        let header = decode_header(token).map_err(|_| unauthorized("malformed"))?;
        let keys: Vec<DecodingKey> = match header.alg {
            Algorithm::HS256 => {
                let pair = self.hs256.as_ref().map(SharedKeys::get);
                pair.iter()
                    .flat_map(KeyPair::accepted)
                    .map(DecodingKey::from_secret)
                    .collect()
            }
            Algorithm::RS256 | Algorithm::ES256 => self
                .jwks
                .iter()
                .find(|k| k.alg == header.alg && (header.kid.is_none() || k.kid == header.kid))
                .map(|k| k.key.clone())
                .into_iter()
                .collect(),
            _ => Vec::new(),
        };
        if keys.is_empty() {
            return Err(unauthorized("algorithm not accepted"));
        }

        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);

        // The current key first; the previous one (during a rotation) only if its signature
        // does not match: any other failure is the token's whatever the key.
        let mut decoded = decode::<Claims>(token, &keys[0], &validation);
        for key in &keys[1..] {
            match &decoded {
                Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::InvalidSignature) => {
                    decoded = decode::<Claims>(token, key, &validation);
                }
                _ => break,
            }
        }
        let data = decoded.map_err(|e| {
            use jsonwebtoken::errors::ErrorKind::*;
            match e.kind() {
                ExpiredSignature => unauthorized("expired"),
                ImmatureSignature => unauthorized("not yet valid"),
                InvalidIssuer => unauthorized("wrong issuer"),
                InvalidAudience => unauthorized("wrong audience"),
                InvalidSignature => unauthorized("bad signature"),
                MissingRequiredClaim(c) => unauthorized(&format!("missing claim {c}")),
                _ => unauthorized("rejected"),
            }
        })?;
        let c = data.claims;
        if crate::ids::parse_user_id(&c.sub).is_err() {
            return Err(unauthorized("bad subject"));
        }
        let now = chrono::Utc::now().timestamp();
        lifetime_ok(now, c.exp, c.iat, c.nbf, self.max_lifetime_secs).map_err(unauthorized)?;
        let name: String = c.name.trim().chars().take(MAX_NAME_CHARS).collect();
        Ok(Principal {
            user_id: c.sub,
            role: c.role,
            name: name.trim_end().to_string(),
            username: c.preferred_username,
        })
    }

    /// Reads `Authorization: Bearer <token>`.
    pub fn verify_bearer(&self, header: Option<&str>) -> Result<Principal> {
        let value = header.ok_or_else(|| Error::Unauthorized("missing bearer token".into()))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| Error::Unauthorized("authorization must be a bearer token".into()))?;
        self.verify(token.trim())
    }
}

/// Mints HS256 tokens for local development, demo data and tests.
pub mod dev {
    use super::Principal;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    /// Where a minted token claims to come from.
    pub struct Issuer<'a> {
        pub secret: &'a [u8],
        pub issuer: &'a str,
        pub audience: &'a str,
    }

    pub fn hs256_token(by: &Issuer<'_>, who: &Principal, ttl_secs: i64) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({
            "sub": who.user_id, "role": who.role, "name": who.name,
            "iss": by.issuer, "aud": by.audience, "iat": now, "exp": now + ttl_secs,
        });
        if let Some(u) = &who.username {
            claims["preferred_username"] = json!(u);
        }
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(by.secret),
        )
        .expect("HS256 encoding of a JSON object cannot fail")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 24 * 3600;

    #[test]
    fn lifetimes_are_judged_from_iat_or_nbf_or_now() {
        let now = 1_800_000_000i64;
        let t = now as f64;
        let d = DAY as f64;
        assert_eq!(lifetime_ok(now, t + 3600.0, Some(t), None, DAY), Ok(()));
        assert_eq!(lifetime_ok(now, t + d, Some(t), None, DAY), Ok(()));
        assert_eq!(lifetime_ok(now, t + 300.0, None, None, DAY), Ok(()));
        // Ten years, 2^53, a float past every bound.
        for exp in [t + 10.0 * 365.0 * d, 9_007_199_254_740_992.0, f64::INFINITY] {
            assert_eq!(
                lifetime_ok(now, exp, Some(t), None, DAY),
                Err("lifetime too long")
            );
            assert_eq!(
                lifetime_ok(now, exp, None, None, DAY),
                Err("lifetime too long")
            );
        }
        // An old iat with a far exp is too long even if little is left from now.
        assert_eq!(
            lifetime_ok(now, t + 3600.0, Some(t - 2.0 * d), None, DAY),
            Err("lifetime too long")
        );
        // The later of iat and nbf starts the lifetime.
        assert_eq!(
            lifetime_ok(now, t + 1.5 * d, Some(t - d), Some(t + 0.6 * d), DAY),
            Ok(())
        );
        // iat in the future beyond the leeway; within it is skew.
        assert_eq!(
            lifetime_ok(now, t + 3600.0, Some(t + 120.0), None, DAY),
            Err("issued in the future")
        );
        assert_eq!(
            lifetime_ok(now, t + 3600.0, Some(t + 20.0), None, DAY),
            Ok(())
        );
    }

    proptest::proptest! {
        #[test]
        fn no_token_lives_longer_than_the_maximum(
            start in 0i64..4_000_000_000,
            life in 0u64..(100 * DAY),
            max in 60u64..(30 * DAY),
        ) {
            let exp = (start as u64 + life) as f64;
            let ok = lifetime_ok(start, exp, Some(start as f64), None, max).is_ok();
            proptest::prop_assert_eq!(ok, life <= max + LEEWAY_SECS);
        }
    }
}
