//! Identity: verifies the caller's JWT (HS256 from the LMS, RS256/ES256 from a JWKS) into a [`Principal`].
//!
//! Algorithms are pinned per key source: the HS256 secret verifies only HS256 tokens and JWKS keys
//! only their own asymmetric algorithm, so `alg` confusion and `none` are refused.

use crate::error::{Error, Result};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
use serde::{Deserialize, Serialize};

/// Largest token accepted; anything longer is refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 30;

#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub secret: Option<Vec<u8>>,
    pub issuer: String,
    pub audience: String,
    pub jwks_url: Option<String>,
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
}

struct AsymmetricKey {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

pub struct Verifier {
    hs256: Option<DecodingKey>,
    jwks: Vec<AsymmetricKey>,
    issuer: String,
    audience: String,
}

impl Verifier {
    /// Builds the verifier; fetches the JWKS once at cold start when one is configured.
    pub async fn from_config(config: &JwtConfig) -> Result<Self, Error> {
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
        Self::new(config, jwks.as_ref())
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
            hs256: config.secret.as_deref().map(DecodingKey::from_secret),
            jwks: keys,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
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
        let key = match header.alg {
            Algorithm::HS256 => self.hs256.as_ref(),
            Algorithm::RS256 | Algorithm::ES256 => self
                .jwks
                .iter()
                .find(|k| k.alg == header.alg && (header.kid.is_none() || k.kid == header.kid))
                .map(|k| &k.key),
            _ => None,
        }
        .ok_or_else(|| unauthorized("algorithm not accepted"))?;

        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);

        let data = decode::<Claims>(token, key, &validation).map_err(|e| {
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
        Ok(Principal {
            user_id: c.sub,
            role: c.role,
            name: c.name,
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
