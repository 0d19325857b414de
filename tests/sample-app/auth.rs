//! The sample app's credentials: password and token digests, signed session
//! cookies and HS256 JWTs, written by hand with `hmac` + `sha2` + `base64`.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

pub const SESSION_COOKIE: &str = "_sandbox_session";

/// `hex(sha256(data...))`, as stored in `users.password_digest` (salt, password)
/// and `api_tokens.token_digest` (token).
pub fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The two signing keys, keyed once at startup.
pub struct Keys {
    /// Signs session cookies (`SECRET_KEY_BASE`).
    session: HmacSha256,
    /// Signs JWTs (`JWT_SECRET`).
    jwt: HmacSha256,
}

impl Keys {
    /// `None` only if HMAC refused a key, which it never does for SHA-256.
    pub fn new(secret_key_base: &str, jwt_secret: &str) -> Option<Self> {
        Some(Self {
            session: HmacSha256::new_from_slice(secret_key_base.as_bytes()).ok()?,
            jwt: HmacSha256::new_from_slice(jwt_secret.as_bytes()).ok()?,
        })
    }
}

fn mac(key: &HmacSha256, data: &[u8]) -> HmacSha256 {
    let mut mac = key.clone();
    mac.update(data);
    mac
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// A new random session key: 32 bytes, hex.
pub fn new_session_key() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// The cookie value `<key>.<hex hmac-sha256(secret, key)>`.
pub fn sign_session(keys: &Keys, key: &str) -> String {
    let tag = mac(&keys.session, key.as_bytes()).finalize().into_bytes();
    format!("{key}.{}", hex::encode(tag))
}

/// Returns the session key if the cookie value's signature is valid.
pub fn verify_session<'a>(keys: &Keys, value: &'a str) -> Option<&'a str> {
    let (key, tag) = value.rsplit_once('.')?;
    let tag = hex::decode(tag).ok()?;
    mac(&keys.session, key.as_bytes()).verify_slice(&tag).ok()?;
    Some(key)
}

#[derive(Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub uid: i64,
    pub role: String,
    pub exp: i64,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

const JWT_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

pub fn jwt_encode(keys: &Keys, claims: &Claims) -> Result<String, serde_json::Error> {
    let header = URL_SAFE_NO_PAD.encode(JWT_HEADER);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?);
    let signing_input = format!("{header}.{payload}");
    let signature = mac(&keys.jwt, signing_input.as_bytes()).finalize().into_bytes();
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// Verifies an HS256 JWT (any other `alg`, including `none`, is refused) and its
/// expiry; returns the claims.
pub fn jwt_verify(keys: &Keys, token: &str, now: i64) -> Option<Claims> {
    let (signing_input, signature) = token.rsplit_once('.')?;
    let (header, payload) = signing_input.split_once('.')?;
    let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    if header.alg != "HS256" {
        return None;
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    mac(&keys.jwt, signing_input.as_bytes())
        .verify_slice(&signature)
        .ok()?;
    let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    (claims.exp > now).then_some(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &str) -> Keys {
        Keys::new(secret, secret).unwrap()
    }

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: "alice".into(),
            uid: 7,
            role: "member".into(),
            exp,
        }
    }

    #[test]
    fn jwt_round_trip_and_rejections() {
        let token = jwt_encode(&keys("s3cret"), &claims(1_000)).unwrap();
        assert_eq!(jwt_verify(&keys("s3cret"), &token, 999).unwrap().uid, 7);
        assert!(jwt_verify(&keys("s3cret"), &token, 1_000).is_none(), "expired");
        assert!(jwt_verify(&keys("other"), &token, 0).is_none(), "wrong key");
        let (_, rest) = token.split_once('.').unwrap();
        let none = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#));
        assert!(jwt_verify(&keys("s3cret"), &none, 0).is_none(), "alg none");
    }

    #[test]
    fn session_cookie() {
        let value = sign_session(&keys("base"), "abc");
        assert_eq!(verify_session(&keys("base"), &value), Some("abc"));
        assert_eq!(verify_session(&keys("other"), &value), None);
        assert_eq!(verify_session(&keys("base"), "abc.00"), None);
        assert!(constant_time_eq(b"ab", b"ab") && !constant_time_eq(b"ab", b"ac"));
    }
}
