//! `/status`, `/healthcheck`, `/ping`, `/login`, `/auth/refresh`, `/logout`, `/api/authorize`.

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{Params, client_ip, done, require_user};
use crate::auth::{self, Refreshed};
use crate::hostile;
use crate::http;
use crate::logs::{self, LogLevel};
use crate::payloads;
use crate::persist;
use crate::server::PeerAddr;
use crate::state::{CoreRef, State as SimState};
use crate::users;

pub(super) async fn status(State(core): State<CoreRef>) -> Response {
    let invalid_utf8 = core.lock().hostile.invalid_utf8;
    hostile::json_body(
        invalid_utf8,
        StatusCode::OK,
        &json!({
            "app": "audiobookshelf",
            "serverVersion": core.version_string(),
            "isInit": true,
            "language": "en-us",
            "authMethods": ["local"],
            "authFormData": {"authLoginCustomMessage": ""},
        }),
    )
}

pub(super) async fn healthcheck() -> Response {
    http::status(StatusCode::OK)
}

pub(super) async fn ping(State(core): State<CoreRef>) -> Response {
    let mut st = core.lock();
    logs::log(
        &core,
        &mut st,
        LogLevel::Info,
        "Server.js:368",
        "Received ping",
    );
    http::json(StatusCode::OK, &json!({"success": true}))
}

/// The auth rate limiter (`/login`, `/auth/refresh`, `PATCH /api/me/password`) for the request
/// `endpoint` (`"POST /login"`): `Err` is the 429 answer, `Ok` the `RateLimit-*` headers.
pub(super) fn rate_limited(
    core: &CoreRef,
    st: &mut SimState,
    peer: &PeerAddr,
    headers: &HeaderMap,
    endpoint: &str,
) -> Result<Vec<(&'static str, String)>, http::Fail> {
    let ip = client_ip(peer);
    let decision = auth::rate_limit(core, st, ip);
    let mut out = Vec::new();
    if let Some((limit, remaining, reset)) = decision.headers {
        let window = core.cfg.auth_rate_window.as_secs();
        out.push(("ratelimit-policy", format!("{limit};w={window}")));
        out.push(("ratelimit-limit", limit.to_string()));
        out.push(("ratelimit-remaining", remaining.to_string()));
        out.push(("ratelimit-reset", reset.to_string()));
        if !decision.allowed {
            out.push(("retry-after", reset.to_string()));
        }
    }
    if decision.allowed {
        return Ok(out);
    }
    let agent = http::header_str(headers, "user-agent")
        .unwrap_or("Unknown")
        .to_string();
    let msg = format!(
        "[RateLimiter] Rate limit exceeded - IP: {ip}, Endpoint: {endpoint}, User-Agent: {agent}"
    );
    logs::log(core, st, LogLevel::Warn, "rateLimiterFactory.js:44", msg);
    let body = json!({"error": "Too many authentication requests"});
    let resp = http::json(StatusCode::TOO_MANY_REQUESTS, &body);
    Err(Box::new(with_headers(resp, &out)))
}

/// Adds the rate limiter's headers to an answer.
pub(super) fn with_headers(mut resp: Response, headers: &[(&'static str, String)]) -> Response {
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            resp.headers_mut().insert(*name, v);
        }
    }
    resp
}

/// Sets the `refresh_token` cookie as `setRefreshTokenCookie` does.
pub(super) fn set_cookie(resp: &mut Response, core: &CoreRef, token: &str, headers: &HeaderMap) {
    let secure = http::header_str(headers, "x-forwarded-proto") == Some("https");
    if let Some(v) = http::refresh_cookie(token, core.cfg.refresh_ttl.as_secs(), secure) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

pub(super) async fn login(
    State(core): State<CoreRef>,
    ConnectInfo(peer): ConnectInfo<PeerAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut st = core.lock();
    if let Some(to) = &st.hostile.login_redirect {
        return hostile::login_redirect(to);
    }
    let limit_headers = match rate_limited(&core, &mut st, &peer, &headers, "POST /login") {
        Ok(h) => h,
        Err(resp) => return *resp,
    };
    let resp = done((|| {
        let body = http::body_json(&headers, &body)?;
        let (Some(username), Some(password)) = (
            http::string(&body, "username"),
            http::string(&body, "password"),
        ) else {
            return Err(http::fail(StatusCode::BAD_REQUEST));
        };
        if username.is_empty() || password.is_empty() {
            return Err(http::fail(StatusCode::BAD_REQUEST));
        }
        let ip = client_ip(&peer).to_string();
        let Some(user_id) = users::check_login(&st, &username, &password) else {
            let msg =
                format!("[LocalAuth] Failed login attempt for user \"{username}\" from ip {ip}");
            logs::log(
                &core,
                &mut st,
                LogLevel::Warn,
                "LocalAuthStrategy.js:67",
                msg,
            );
            return Err(http::fail(StatusCode::UNAUTHORIZED));
        };
        let msg = format!("[LocalAuth] User \"{username}\" logged in from ip {ip}");
        logs::log(
            &core,
            &mut st,
            LogLevel::Info,
            "LocalAuthStrategy.js:80",
            msg,
        );
        let version = core.version_string();
        if !core.version().has_jwt_sessions() {
            let user = st
                .user(&user_id)
                .ok_or_else(|| http::fail(StatusCode::UNAUTHORIZED))?;
            let payload = payloads::login_response(&st, user, &version, None, None);
            return Ok(http::json(StatusCode::OK, &payload));
        }
        let agent = http::header_str(&headers, "user-agent").map(str::to_string);
        let (access, refresh) =
            auth::create_tokens_and_session(&core, &mut st, &user_id, &ip, agent)
                .map_err(|_| http::fail(StatusCode::INTERNAL_SERVER_ERROR))?;
        let return_tokens = http::header_str(&headers, "x-return-tokens") == Some("true");
        let user = st
            .user(&user_id)
            .ok_or_else(|| http::fail(StatusCode::UNAUTHORIZED))?;
        let payload = payloads::login_response(
            &st,
            user,
            &version,
            Some(access),
            Some(return_tokens.then(|| refresh.clone())),
        );
        let mut resp = http::json(StatusCode::OK, &payload);
        if !return_tokens {
            set_cookie(&mut resp, &core, &refresh, &headers);
        }
        persist::save(&core, &st);
        Ok(resp)
    })());
    with_headers(resp, &limit_headers)
}

pub(super) async fn refresh(
    State(core): State<CoreRef>,
    ConnectInfo(peer): ConnectInfo<PeerAddr>,
    headers: HeaderMap,
) -> Response {
    if !core.version().has_jwt_sessions() {
        return http::cannot("POST", "/auth/refresh");
    }
    let mut st = core.lock();
    let limit_headers = match rate_limited(&core, &mut st, &peer, &headers, "POST /auth/refresh") {
        Ok(h) => h,
        Err(resp) => return *resp,
    };
    let from_header = http::header_str(&headers, "x-refresh-token").filter(|t| !t.is_empty());
    let should_return = from_header.is_some();
    let Some(token) = from_header
        .map(str::to_string)
        .or_else(|| http::cookie(&headers, "refresh_token"))
    else {
        logs::log(
            &core,
            &mut st,
            LogLevel::Error,
            "Auth.js:362",
            "[Auth] Failed to refresh token. No refresh token provided",
        );
        let body = json!({"error": "No refresh token provided"});
        return with_headers(http::json(StatusCode::UNAUTHORIZED, &body), &limit_headers);
    };
    let resp = match auth::refresh(&core, &mut st, &token) {
        Refreshed::Err(error) => http::json(StatusCode::UNAUTHORIZED, &json!({ "error": error })),
        Refreshed::Ok {
            user_id,
            access,
            refresh,
        } => match st.user(&user_id) {
            None => http::json(
                StatusCode::UNAUTHORIZED,
                &json!({"error": "User not found or inactive"}),
            ),
            Some(user) => {
                let payload = payloads::login_response(
                    &st,
                    user,
                    &core.version_string(),
                    Some(access),
                    Some(should_return.then(|| refresh.clone())),
                );
                let mut resp = http::json(StatusCode::OK, &payload);
                set_cookie(&mut resp, &core, &refresh, &headers);
                resp
            }
        },
    };
    persist::save(&core, &st);
    with_headers(resp, &limit_headers)
}

pub(super) async fn logout(
    State(core): State<CoreRef>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let mut st = core.lock();
    let token = http::cookie(&headers, "refresh_token")
        .or_else(|| http::header_str(&headers, "x-refresh-token").map(str::to_string))
        .filter(|t| !t.is_empty());
    match token {
        Some(token) => {
            let owner = st
                .db
                .refresh_sessions
                .iter()
                .find(|s| s.refresh_token == token)
                .map(|s| s.user_id.clone());
            let all_devices = params.get("allDevices").is_some_and(|v| v == "1");
            match (owner, all_devices) {
                (Some(user_id), true) => st.db.refresh_sessions.retain(|s| s.user_id != user_id),
                _ => st.db.refresh_sessions.retain(|s| s.refresh_token != token),
            }
            logs::log(
                &core,
                &mut st,
                LogLevel::Info,
                "TokenManager.js:420",
                "[TokenManager] Refresh token invalidated",
            );
            persist::save(&core, &st);
        }
        None => logs::log(
            &core,
            &mut st,
            LogLevel::Info,
            "Auth.js:452",
            "[Auth] logout: No refresh token on request",
        ),
    }
    let mut resp = http::json(StatusCode::OK, &json!({"redirect_url": null}));
    resp.headers_mut()
        .append(header::SET_COOKIE, http::clear_refresh_cookie());
    resp.into_response()
}

pub(super) async fn authorize(
    State(core): State<CoreRef>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let mut st = core.lock();
    done((|| {
        let user_id = require_user(&core, &mut st, &headers, &params)?;
        let user = st
            .user(&user_id)
            .ok_or_else(|| http::fail(StatusCode::UNAUTHORIZED))?;
        let payload = payloads::login_response(&st, user, &core.version_string(), None, None);
        Ok(http::json(StatusCode::OK, &payload))
    })())
}
