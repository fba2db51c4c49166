//! Who a token belongs to (REST: passport-jwt + `jwtAuthCheck`; socket: `validateAccessToken`),
//! password checks, issuing tokens and refresh sessions (`TokenManager`), and the auth rate limiter.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::SimError;
use crate::logs::{self, LogLevel};
use crate::model::RefreshSession;
use crate::state::{Core, State, now_ms, now_secs};
use crate::tokens;

/// Hex SHA-256 of salt + password.
pub(crate) fn hash_password(salt: &str, password: &str) -> String {
    let digest = Sha256::digest(format!("{salt}:{password}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new random salt.
pub(crate) fn new_salt() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4).max(1)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

/// Issues an access token (remembering its jti so it can be expired later).
pub(crate) fn issue_access(core: &Core, st: &mut State, user_id: &str) -> Result<String, SimError> {
    let username = st
        .user(user_id)
        .map(|u| u.username.clone())
        .ok_or_else(|| SimError::UnknownUser(user_id.to_string()))?;
    let (token, jti) = tokens::session_token(
        &st.db.secret,
        "access",
        user_id,
        &username,
        now_secs(),
        secs(core.cfg.access_ttl),
    )?;
    st.issued_access.push((jti, user_id.to_string()));
    Ok(token)
}

fn issue_refresh(core: &Core, st: &State, user_id: &str) -> Result<String, SimError> {
    let username = st
        .user(user_id)
        .map(|u| u.username.clone())
        .ok_or_else(|| SimError::UnknownUser(user_id.to_string()))?;
    let (token, _) = tokens::session_token(
        &st.db.secret,
        "refresh",
        user_id,
        &username,
        now_secs(),
        secs(core.cfg.refresh_ttl),
    )?;
    Ok(token)
}

/// `createTokensAndSession`: an access token and a new refresh session; returns both tokens.
pub(crate) fn create_tokens_and_session(
    core: &Core,
    st: &mut State,
    user_id: &str,
    ip: &str,
    user_agent: Option<String>,
) -> Result<(String, String), SimError> {
    let access = issue_access(core, st, user_id)?;
    let refresh = issue_refresh(core, st, user_id)?;
    let now = now_ms();
    st.db.refresh_sessions.push(RefreshSession {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user_id.to_string(),
        refresh_token: refresh.clone(),
        expires_at: now + millis(core.cfg.refresh_ttl),
        last_refresh_token: None,
        last_refresh_token_expires_at: None,
        ip_address: ip.to_string(),
        user_agent,
        created_at: now,
    });
    Ok((access, refresh))
}

/// Result of `handleRefreshToken`.
pub(crate) enum Refreshed {
    /// New access token, the refresh token to hand out (rotated, or already rotated in grace).
    Ok {
        user_id: String,
        access: String,
        refresh: String,
    },
    /// The `error` string of the 401 body.
    Err(&'static str),
}

/// `TokenManager.handleRefreshToken` with rotation and the grace period of 2.36.
pub(crate) fn refresh(core: &Core, st: &mut State, token: &str) -> Refreshed {
    let Some(claims) = tokens::verify(&st.db.secret, token) else {
        logs::log(
            core,
            st,
            LogLevel::Error,
            "TokenManager.js:356",
            "[TokenManager] Invalid refresh token format: invalid signature",
        );
        return Refreshed::Err("Invalid refresh token");
    };
    if claims.is_expired(now_secs()) {
        st.db.refresh_sessions.retain(|s| s.refresh_token != token);
        logs::log(
            core,
            st,
            LogLevel::Info,
            "TokenManager.js:340",
            "[TokenManager] Refresh token expired, cleaning up session",
        );
        return Refreshed::Err("Refresh token expired");
    }
    if claims.kind() != Some("refresh") {
        logs::log(
            core,
            st,
            LogLevel::Error,
            "TokenManager.js:268",
            format!(
                "[TokenManager] Failed to refresh token. Invalid token type: {}",
                claims.kind().unwrap_or("undefined")
            ),
        );
        return Refreshed::Err("Invalid token type");
    }
    let now = now_ms();
    let Some(idx) =
        st.db.refresh_sessions.iter().position(|s| {
            s.refresh_token == token || s.last_refresh_token.as_deref() == Some(token)
        })
    else {
        logs::log(
            core,
            st,
            LogLevel::Error,
            "TokenManager.js:281",
            "[TokenManager] Failed to refresh token. Session not found for refresh token",
        );
        return Refreshed::Err("Invalid refresh token");
    };
    let session = st.db.refresh_sessions[idx].clone();
    let in_grace = if session.refresh_token != token {
        if session
            .last_refresh_token_expires_at
            .is_some_and(|t| t > now)
        {
            true
        } else {
            return Refreshed::Err("Invalid refresh token");
        }
    } else {
        if session.expires_at < now {
            st.db.refresh_sessions.remove(idx);
            return Refreshed::Err("Refresh token expired");
        }
        false
    };
    let user_id = claims.user_id.unwrap_or_default();
    if !st.user(&user_id).is_some_and(|u| u.is_active) {
        return Refreshed::Err("User not found or inactive");
    }
    let Ok(access) = issue_access(core, st, &user_id) else {
        return Refreshed::Err("Invalid refresh token");
    };
    if in_grace {
        return Refreshed::Ok {
            user_id,
            access,
            refresh: session.refresh_token,
        };
    }
    let Ok(new_refresh) = issue_refresh(core, st, &user_id) else {
        return Refreshed::Err("Invalid refresh token");
    };
    let s = &mut st.db.refresh_sessions[idx];
    s.last_refresh_token = Some(s.refresh_token.clone());
    s.last_refresh_token_expires_at = Some(now + millis(core.cfg.grace));
    s.refresh_token = new_refresh.clone();
    s.expires_at = now + millis(core.cfg.refresh_ttl);
    Refreshed::Ok {
        user_id,
        access,
        refresh: new_refresh,
    }
}

/// The user a REST bearer token (or `?token=`) authenticates, if any.
pub(crate) fn rest_user(core: &Core, st: &mut State, token: &str) -> Option<String> {
    let claims = tokens::verify(&st.db.secret, token)?;
    let now = now_ms();
    let expired = claims.exp.is_some_and(|exp| exp.saturating_mul(1000) < now);
    if claims.kind() == Some("api") {
        if !core.version().has_jwt_sessions() {
            return None;
        }
        let key_id = claims.key_id.as_deref()?;
        let idx = st.db.api_keys.iter().position(|k| k.id == key_id)?;
        if !st.db.api_keys[idx].is_active {
            return None;
        }
        if expired {
            st.db.api_keys[idx].is_active = false;
            let msg = format!("[TokenManager] API key {key_id} is expired - deactivated");
            logs::log(core, st, LogLevel::Info, "TokenManager.js:243", msg);
            return None;
        }
        let user_id = st.db.api_keys[idx].user_id.clone();
        return st.user(&user_id).map(|u| u.id.clone());
    }
    if expired {
        return None;
    }
    if claims.kind() == Some("refresh") && core.version().rejects_refresh_as_access() {
        return None;
    }
    if is_revoked(st, &claims) {
        return None;
    }
    let user = st.user(claims.user_id.as_deref()?)?;
    user.is_active.then(|| user.id.clone())
}

fn is_revoked(st: &State, claims: &tokens::Claims) -> bool {
    claims.kind() == Some("access")
        && claims
            .jti
            .as_deref()
            .is_some_and(|j| st.revoked_access.contains(j))
}

/// Outcome of the socket `auth` event.
pub(crate) enum SocketAuth {
    /// Bind the socket to this user.
    User(String),
    /// `auth_failed {message:'Invalid token'}` (or `invalid_token` before 2.26).
    InvalidToken,
    /// `auth_failed {message:'Invalid user'}`.
    InvalidUser,
}

/// `authenticateSocket`'s checks.
pub(crate) fn socket_user(core: &Core, st: &State, payload: Option<&Value>) -> SocketAuth {
    let Some(Value::String(token)) = payload else {
        return SocketAuth::InvalidToken;
    };
    let Some(claims) = tokens::verify(&st.db.secret, token) else {
        return SocketAuth::InvalidToken;
    };
    if claims.is_expired(now_secs()) || is_revoked(st, &claims) {
        return SocketAuth::InvalidToken;
    }
    if claims.kind() == Some("refresh") && core.version().rejects_refresh_as_access() {
        return SocketAuth::InvalidToken;
    }
    let Some(user) = claims.user_id.as_deref().and_then(|id| st.user(id)) else {
        return SocketAuth::InvalidToken;
    };
    if core.version().has_jwt_sessions() && !user.is_active {
        return SocketAuth::InvalidUser;
    }
    SocketAuth::User(user.id.clone())
}

/// Makes every access token issued so far invalid (REST 401, socket `auth_failed`).
pub(crate) fn expire_access_tokens(st: &mut State) {
    let jtis: Vec<String> = st.issued_access.drain(..).map(|(j, _)| j).collect();
    st.revoked_access.extend(jtis);
}

/// Ends every refresh session of a user and invalidates their access tokens (not the legacy
/// token: the real server cannot revoke that one either).
pub(crate) fn revoke_user_tokens(st: &mut State, user_id: &str) {
    st.db.refresh_sessions.retain(|s| s.user_id != user_id);
    let (mine, rest): (Vec<_>, Vec<_>) =
        st.issued_access.drain(..).partition(|(_, u)| u == user_id);
    st.issued_access = rest;
    st.revoked_access.extend(mine.into_iter().map(|(j, _)| j));
}

/// `invalidateJwtSessionsForUser` (password change): ends every refresh session of the user
/// except the one `current` (the request's `refresh_token` cookie) belongs to, which is rotated;
/// returns its new refresh token. Access tokens already issued stay valid until they expire.
pub(crate) fn end_other_sessions(
    core: &Core,
    st: &mut State,
    user_id: &str,
    current: Option<&str>,
) -> Option<String> {
    let keep = current.and_then(|token| {
        st.db
            .refresh_sessions
            .iter()
            .position(|s| s.user_id == user_id && s.refresh_token == token)
    });
    let rotated = keep.and_then(|idx| {
        let token = issue_refresh(core, st, user_id).ok()?;
        let session = &mut st.db.refresh_sessions[idx];
        session.refresh_token = token.clone();
        session.expires_at = now_ms() + millis(core.cfg.refresh_ttl);
        Some((session.id.clone(), token))
    });
    let kept_id = rotated.as_ref().map(|(id, _)| id.clone());
    st.db
        .refresh_sessions
        .retain(|s| s.user_id != user_id || Some(&s.id) == kept_id.as_ref());
    rotated.map(|(_, token)| token)
}

/// What the auth rate limiter decided for one request.
pub(crate) struct RateDecision {
    pub allowed: bool,
    /// `(limit, remaining, seconds until reset)` for the `RateLimit-*` headers; `None` when off.
    pub headers: Option<(u32, u32, u64)>,
}

/// express-rate-limit, fixed window per IP, shared by `/login`, `/auth/refresh` and
/// `PATCH /api/me/password`.
pub(crate) fn rate_limit(core: &Core, st: &mut State, ip: IpAddr) -> RateDecision {
    let max = core.cfg.auth_rate_limit;
    if max == 0 {
        return RateDecision {
            allowed: true,
            headers: None,
        };
    }
    let window = core.cfg.auth_rate_window;
    let now = Instant::now();
    let entry = st.rate.entry(ip).or_insert((now, 0));
    if now.duration_since(entry.0) >= window {
        *entry = (now, 0);
    }
    entry.1 += 1;
    let reset = window
        .saturating_sub(now.duration_since(entry.0))
        .as_secs_f64()
        .ceil() as u64;
    RateDecision {
        allowed: entry.1 <= max,
        headers: Some((max, max.saturating_sub(entry.1), reset)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_salt() {
        let a = hash_password("s1", "pw");
        assert_eq!(a.len(), 64);
        assert_ne!(a, hash_password("s2", "pw"));
        assert_eq!(a, hash_password("s1", "pw"));
    }
}
