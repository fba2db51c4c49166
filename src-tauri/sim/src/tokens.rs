//! HS256 JWTs with the claims of the real server: legacy `{userId, username, iat}`, access and
//! refresh `{userId, username, jti, type, iat, exp}`, API keys `{keyId, name, type:'api', iat[, exp]}`.
//!
//! The header is serialized exactly like node's `jsonwebtoken` (`{"alg":"HS256","typ":"JWT"}`),
//! the signature is computed and checked by the `jsonwebtoken` crate.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use serde::{Deserialize, Serialize};

use crate::error::SimError;

/// The claims any of our tokens may carry, serialized in the real server's order.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// Owner (user tokens).
    #[serde(rename = "userId", skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Owner's name (user tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// API key id (API keys).
    #[serde(rename = "keyId", skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// API key name (API keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Unique id (access and refresh tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// `access`, `refresh` or `api`; absent on legacy tokens.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Issued at, unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Expiry, unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
}

impl Claims {
    /// `jwt.verify` semantics: expired when now >= exp.
    pub fn is_expired(&self, now_secs: i64) -> bool {
        self.exp.is_some_and(|exp| now_secs >= exp)
    }

    /// The `type` claim.
    pub fn kind(&self) -> Option<&str> {
        self.token_type.as_deref()
    }
}

const HEADER_JSON: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Signs claims with the secret.
pub fn sign(secret: &str, claims: &Claims) -> Result<String, SimError> {
    let payload = serde_json::to_vec(claims).map_err(|e| SimError::Token(e.to_string()))?;
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(HEADER_JSON),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let key = EncodingKey::from_secret(secret.as_bytes());
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256)
        .map_err(|e| SimError::Token(e.to_string()))?;
    Ok(format!("{message}.{signature}"))
}

/// Checks the signature and decodes the claims; expiry is left to the caller (REST ignores it
/// in the verifier and checks it itself, the socket enforces it).
pub fn verify(secret: &str, token: &str) -> Option<Claims> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .ok()
    .map(|data| data.claims)
}

/// The legacy, non-expiring user token.
pub fn legacy(
    secret: &str,
    user_id: &str,
    username: &str,
    now_secs: i64,
) -> Result<String, SimError> {
    sign(
        secret,
        &Claims {
            user_id: Some(user_id.to_string()),
            username: Some(username.to_string()),
            iat: Some(now_secs),
            ..Claims::default()
        },
    )
}

/// An access or refresh token; returns the token and its jti.
pub fn session_token(
    secret: &str,
    kind: &str,
    user_id: &str,
    username: &str,
    now_secs: i64,
    ttl_secs: i64,
) -> Result<(String, String), SimError> {
    let jti = uuid::Uuid::new_v4().to_string();
    let token = sign(
        secret,
        &Claims {
            user_id: Some(user_id.to_string()),
            username: Some(username.to_string()),
            jti: Some(jti.clone()),
            token_type: Some(kind.to_string()),
            iat: Some(now_secs),
            exp: Some(now_secs + ttl_secs),
            ..Claims::default()
        },
    )?;
    Ok((token, jti))
}

/// An API key JWT.
pub fn api_key(
    secret: &str,
    key_id: &str,
    name: &str,
    now_secs: i64,
    expires_in: Option<i64>,
) -> Result<String, SimError> {
    sign(
        secret,
        &Claims {
            key_id: Some(key_id.to_string()),
            name: Some(name.to_string()),
            token_type: Some("api".to_string()),
            iat: Some(now_secs),
            exp: expires_in.map(|e| now_secs + e),
            ..Claims::default()
        },
    )
}

/// A fresh random secret like the real server's (256 random bytes, base64).
pub fn new_secret() -> String {
    let bytes: Vec<u8> = (0..256).map(|_| rand::random::<u8>()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_node_style_and_roundtrips() {
        let secret = "s3cret";
        let token = legacy(secret, "u1", "alice", 1_795_851_112).unwrap();
        assert!(token.starts_with("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."));
        let claims = verify(secret, &token).unwrap();
        assert_eq!(claims.user_id.as_deref(), Some("u1"));
        assert!(claims.exp.is_none() && claims.token_type.is_none());
        assert!(verify("other", &token).is_none());
        assert!(verify(secret, "Bearer x").is_none());
    }

    #[test]
    fn session_tokens_carry_jti_and_expiry() {
        let (token, jti) = session_token("k", "access", "u", "n", 100, 3600).unwrap();
        let claims = verify("k", &token).unwrap();
        assert_eq!(claims.jti, Some(jti));
        assert_eq!(claims.exp, Some(3700));
        assert!(claims.is_expired(3700));
        assert!(!claims.is_expired(3699));
        let json: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        let keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        let mut expected = vec!["userId", "username", "jti", "type", "iat", "exp"];
        expected.sort();
        let mut keys_sorted = keys.clone();
        keys_sorted.sort();
        assert_eq!(keys_sorted, expected);
    }
}
