//! JWT verification against attacks: algorithm confusion, `none`, wrong keys, bad claims.
//! The keys in `fixtures/` exist only for these tests.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use shared::auth::{JwtConfig, Role, Verifier};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";
const RSA_PEM: &[u8] = include_bytes!("fixtures/rsa-test-key.pem");
const EC_PEM: &[u8] = include_bytes!("fixtures/ec-test-key.pem");
const JWKS: &str = include_str!("fixtures/jwks.json");
/// A key pair nobody trusts, as an attacker would bring it.
const ATTACKER_PEM: &[u8] = include_bytes!("fixtures/attacker-rsa-key.pem");
const ATTACKER_JWK: &str = include_str!("fixtures/attacker-jwk.json");

fn verifier(with_hs: bool, with_jwks: bool) -> Verifier {
    let jwks: JwkSet = serde_json::from_str(JWKS).unwrap();
    Verifier::new(
        &JwtConfig {
            secret: with_hs.then(|| SECRET.to_vec()),
            issuer: "https://lms.test".into(),
            audience: "community".into(),
            jwks_url: None,
            max_lifetime_secs: shared::auth::DEFAULT_MAX_LIFETIME_SECS,
        },
        with_jwks.then_some(&jwks),
    )
    .unwrap()
}

fn claims() -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({ "sub": "u1", "role": "student", "name": "Ann", "preferred_username": "ann",
            "iss": "https://lms.test", "aud": "community", "exp": now + 300 })
}

fn hs(c: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        c,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

fn rs(c: &Value, kid: &str) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.into());
    encode(&h, c, &EncodingKey::from_rsa_pem(RSA_PEM).unwrap()).unwrap()
}

fn es(c: &Value) -> String {
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some("test-ec".into());
    encode(&h, c, &EncodingKey::from_ec_pem(EC_PEM).unwrap()).unwrap()
}

fn status(v: &Verifier, token: &str) -> u16 {
    match v.verify(token) {
        Ok(_) => 200,
        Err(e) => e.status(),
    }
}

#[test]
fn when_tokens_are_signed_by_a_configured_key_the_principal_is_read_from_the_claims() {
    let v = verifier(true, true);
    for token in [hs(&claims()), rs(&claims(), "test-rsa"), es(&claims())] {
        let p = v.verify(&token).unwrap();
        assert_eq!(p.user_id, "u1");
        assert_eq!(p.role, Role::Student);
        assert_eq!(p.username.as_deref(), Some("ann"));
    }
}

#[test]
fn when_only_hs256_is_configured_asymmetric_tokens_are_refused() {
    let v = verifier(true, false);
    assert_eq!(status(&v, &rs(&claims(), "test-rsa")), 401);
    assert_eq!(status(&v, &es(&claims())), 401);
}

#[test]
fn when_only_a_jwks_is_configured_hs256_tokens_are_refused() {
    let v = verifier(false, true);
    assert_eq!(status(&v, &hs(&claims())), 401);
}

#[test]
fn when_a_token_is_hmac_signed_with_the_public_rsa_key_it_is_refused() {
    // The classic confusion attack: alg HS256, the "secret" being the server's public key.
    let v = verifier(true, true);
    let jwks: Value = serde_json::from_str(JWKS).unwrap();
    let public_key_bytes = jwks["keys"][0]["n"].as_str().unwrap().as_bytes().to_vec();
    let forged = encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(&public_key_bytes),
    )
    .unwrap();
    assert_eq!(status(&v, &forged), 401);
    // And an RS256 header over a token signed with the HMAC secret.
    let hs_token = hs(&claims());
    let (_, rest) = hs_token.split_once('.').unwrap();
    use base64::Engine;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(br#"{"alg":"RS256","typ":"JWT","kid":"test-rsa"}"#);
    assert_eq!(status(&v, &format!("{header}.{rest}")), 401);
}

#[test]
fn when_a_token_names_an_unknown_kid_or_an_unpinned_algorithm_it_is_refused() {
    let v = verifier(true, true);
    assert_eq!(status(&v, &rs(&claims(), "other-kid")), 401);
    let hs512 = encode(
        &Header::new(Algorithm::HS512),
        &claims(),
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    assert_eq!(status(&v, &hs512), 401);
}

#[test]
fn when_registered_claims_are_missing_wrong_or_of_the_wrong_type_the_token_is_refused() {
    let v = verifier(true, true);
    let now = chrono::Utc::now().timestamp();
    let mut cases: Vec<(&str, Value)> = Vec::new();
    for missing in ["exp", "iss", "aud", "sub", "role", "name"] {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(missing);
        cases.push((missing, c));
    }
    let set = |k: &str, v: Value| {
        let mut c = claims();
        c[k] = v;
        c
    };
    cases.push(("expired beyond the leeway", set("exp", json!(now - 61))));
    cases.push(("not yet valid", set("nbf", json!(now + 600))));
    cases.push(("wrong issuer", set("iss", json!("https://evil.test"))));
    cases.push(("wrong audience", set("aud", json!("other"))));
    cases.push(("exp as a string", set("exp", json!("soon"))));
    cases.push(("role unknown", set("role", json!("root"))));
    cases.push(("sub as a number", set("sub", json!(7))));
    cases.push(("empty sub", set("sub", json!(""))));
    for (what, c) in cases {
        assert_eq!(status(&v, &hs(&c)), 401, "{what}");
        assert_eq!(status(&v, &rs(&c, "test-rsa")), 401, "{what} (RS256)");
    }
}

#[test]
fn when_a_token_expired_within_the_leeway_it_still_verifies() {
    let v = verifier(true, false);
    let mut c = claims();
    c["exp"] = json!(chrono::Utc::now().timestamp() - 10);
    assert_eq!(status(&v, &hs(&c)), 200);
}

#[test]
fn when_a_token_is_oversized_or_not_a_jwt_it_is_refused_before_parsing() {
    let v = verifier(true, true);
    let mut c = claims();
    c["pad"] = json!("x".repeat(9000));
    assert_eq!(status(&v, &hs(&c)), 401);
    for junk in ["", "a", "a.b", "a.b.c", "..", "eyJhbGciOiJub25lIn0.e30."] {
        assert_eq!(status(&v, junk), 401, "{junk:?}");
    }
}

#[test]
fn when_the_bearer_header_is_missing_or_malformed_the_caller_is_unauthorized() {
    let v = verifier(true, false);
    assert!(v.verify_bearer(None).is_err());
    assert!(
        v.verify_bearer(Some(&format!("Basic {}", hs(&claims()))))
            .is_err()
    );
    assert!(
        v.verify_bearer(Some(&format!("Bearer {}", hs(&claims()))))
            .is_ok()
    );
}

/// `kid` injection: the HS256 secret is the only symmetric key, so no `kid` can point the
/// verifier at another one (a file, a database row, an empty key).
#[test]
fn when_a_token_names_a_kid_only_the_configured_key_decides() {
    let v = verifier(true, true);
    let kids = [
        "../../../../dev/null",
        "/dev/null",
        "x' UNION SELECT 'attacker' --",
        "|cat /etc/passwd",
        "test-rsa",
        "\u{0}",
        &"k".repeat(5000),
    ];
    for kid in kids {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.into());
        let signed =
            |key: &[u8]| encode(&header, &claims(), &EncodingKey::from_secret(key)).unwrap();
        assert_eq!(status(&v, &signed(SECRET)), 200, "{kid:.40}");
        assert_eq!(status(&v, &signed(b"")), 401, "empty key, {kid:.40}");
        assert_eq!(status(&v, &signed(b"attacker")), 401, "{kid:.40}");
    }
}

/// Keys carried by the token itself (`jwk`, `jku`, `x5u`, `x5c`) are never trusted: a token
/// signed with an attacker's key is refused whatever its header says about that key.
#[test]
fn when_a_token_carries_its_own_key_or_key_url_it_is_refused() {
    let v = verifier(true, true);
    let attacker = EncodingKey::from_rsa_pem(ATTACKER_PEM).unwrap();
    let attacker_jwk: jsonwebtoken::jwk::Jwk = serde_json::from_str(ATTACKER_JWK).unwrap();
    for kid in [None, Some("attacker"), Some("test-rsa")] {
        let mut headers = Vec::new();
        let mut h = Header::new(Algorithm::RS256);
        h.kid = kid.map(str::to_string);
        h.jwk = Some(attacker_jwk.clone());
        headers.push(h.clone());
        h.jwk = None;
        h.jku = Some("http://127.0.0.1:1/jwks.json".into());
        headers.push(h.clone());
        h.jku = None;
        h.x5u = Some("http://127.0.0.1:1/cert.pem".into());
        headers.push(h);
        for header in headers {
            let token = encode(&header, &claims(), &attacker).unwrap();
            assert_eq!(status(&v, &token), 401, "{header:?}");
        }
    }
    // The same claims signed by the configured key verify: the key alone made the difference.
    assert_eq!(status(&v, &rs(&claims(), "test-rsa")), 200);
}

/// A verifier whose HS256 keys rotate, as the keyring replaces them.
#[test]
fn during_a_rotation_current_and_previous_keys_verify_and_nothing_else() {
    use shared::keyring::{KeyPair, SharedKeys};
    const NEXT: &[u8] = b"the-next-hs256-key-at-least-32-bytes";
    const OTHER: &[u8] = b"a-key-nobody-configured-0123456789ab";
    let sign = |key: &[u8]| {
        encode(
            &Header::new(Algorithm::HS256),
            &claims(),
            &EncodingKey::from_secret(key),
        )
        .unwrap()
    };
    let keys = SharedKeys::new(KeyPair::single(SECRET));
    let config = JwtConfig {
        secret: None,
        issuer: "https://lms.test".into(),
        audience: "community".into(),
        jwks_url: None,
        max_lifetime_secs: shared::auth::DEFAULT_MAX_LIFETIME_SECS,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let v = runtime
        .block_on(Verifier::from_config(&config, Some(keys.clone())))
        .unwrap();
    assert_eq!(status(&v, &sign(SECRET)), 200);
    assert_eq!(status(&v, &sign(NEXT)), 401, "not yet rotated");

    keys.replace(KeyPair {
        current: NEXT.to_vec(),
        previous: Some(SECRET.to_vec()),
    });
    assert_eq!(status(&v, &sign(NEXT)), 200, "the new current key");
    assert_eq!(
        status(&v, &sign(SECRET)),
        200,
        "the previous key, still accepted"
    );
    assert_eq!(status(&v, &sign(OTHER)), 401);
    // A token refused for its claims is refused under either key, not retried into success.
    let mut expired = claims();
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 3600);
    for key in [NEXT, SECRET] {
        let token = encode(
            &Header::new(Algorithm::HS256),
            &expired,
            &EncodingKey::from_secret(key),
        )
        .unwrap();
        assert_eq!(status(&v, &token), 401);
    }

    // The previous key dropped: its tokens stop working.
    keys.replace(KeyPair::single(NEXT));
    assert_eq!(status(&v, &sign(SECRET)), 401);
    assert_eq!(status(&v, &sign(NEXT)), 200);
}
