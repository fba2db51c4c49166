//! `/api/me`, `PATCH /api/me/password`, `/api/users`, `/api/users/online`, `/api/users/:id`.

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::{Params, done, login, require_admin, require_user};
use crate::emit;
use crate::error::SimError;
use crate::hostile;
use crate::http;
use crate::logs::{self, LogLevel};
use crate::model::UserType;
use crate::payloads;
use crate::persist;
use crate::server::PeerAddr;
use crate::state::CoreRef;
use crate::users;

pub(super) async fn me(
    State(core): State<CoreRef>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let mut st = core.lock();
    done((|| {
        let uid = require_user(&core, &mut st, &headers, &params)?;
        let user = st
            .user(&uid)
            .ok_or_else(|| http::fail(StatusCode::UNAUTHORIZED))?;
        Ok(hostile::json_body(
            st.hostile.invalid_utf8,
            StatusCode::OK,
            &payloads::user_browser(user),
        ))
    })())
}

/// `PATCH /api/me/password` (`MeController.updatePassword`): behind the auth rate limiter;
/// ends the user's refresh sessions (all but the cookie's own, which is rotated), nothing else.
pub(super) async fn change_password(
    State(core): State<CoreRef>,
    ConnectInfo(peer): ConnectInfo<PeerAddr>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut st = core.lock();
    let uid = match require_user(&core, &mut st, &headers, &params) {
        Ok(uid) => uid,
        Err(resp) => return *resp,
    };
    let limit_headers =
        match login::rate_limited(&core, &mut st, &peer, &headers, "PATCH /api/me/password") {
            Ok(h) => h,
            Err(resp) => return *resp,
        };
    let resp = done((|| {
        let body = http::body_json(&headers, &body)?;
        let user = st
            .user(&uid)
            .ok_or_else(|| http::fail(StatusCode::UNAUTHORIZED))?;
        if user.user_type == UserType::Guest {
            return Err(http::fail(StatusCode::FORBIDDEN));
        }
        let field = |key: &str| match body.get(key) {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Null) => Ok(None),
            _ => Err(http::fail_text(
                StatusCode::BAD_REQUEST,
                "Missing or invalid password or new password",
            )),
        };
        let (password, new_password) = (field("password")?, field("newPassword")?);
        let new_password = new_password.unwrap_or_default();
        if user.user_type != UserType::Root && new_password.is_empty() {
            return Err(http::fail_text(
                StatusCode::BAD_REQUEST,
                "Invalid new password - Only root can have an empty password",
            ));
        }
        let matches = password.filter(|p| !p.is_empty()).is_some_and(|p| {
            crate::auth::hash_password(&user.password_salt, &p) == user.password_hash
        });
        if !matches {
            return Err(http::fail_text(StatusCode::BAD_REQUEST, "Invalid password"));
        }
        let username = user.username.clone();
        if let Some(user) = st.user_mut(&uid) {
            user.password_hash = crate::auth::hash_password(&user.password_salt, &new_password);
        }
        let msg = format!("[LocalAuth] User \"{username}\" changed password");
        logs::log(
            &core,
            &mut st,
            LogLevel::Info,
            "LocalAuthStrategy.js:171",
            msg,
        );
        let current = http::cookie(&headers, "refresh_token");
        let rotated = crate::auth::end_other_sessions(&core, &mut st, &uid, current.as_deref());
        let msg = if rotated.is_some() {
            format!(
                "[MeController] Invalidated other JWT sessions for user {username} after password change"
            )
        } else {
            format!(
                "[MeController] Invalidated all JWT sessions for user {username} after password change"
            )
        };
        logs::log(&core, &mut st, LogLevel::Info, "MeController.js:290", msg);
        persist::save(&core, &st);
        let mut resp = http::status(StatusCode::OK);
        if let Some(token) = rotated {
            login::set_cookie(&mut resp, &core, &token, &headers);
        }
        Ok(resp)
    })());
    login::with_headers(resp, &limit_headers)
}

pub(super) async fn list(
    State(core): State<CoreRef>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let mut st = core.lock();
    done((|| {
        let uid = require_user(&core, &mut st, &headers, &params)?;
        require_admin(&st, &uid, StatusCode::FORBIDDEN)?;
        let users: Vec<_> = st.db.users.iter().map(payloads::user_browser).collect();
        Ok(http::json(StatusCode::OK, &json!({ "users": users })))
    })())
}

pub(super) async fn online(
    State(core): State<CoreRef>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let mut st = core.lock();
    done((|| {
        let uid = require_user(&core, &mut st, &headers, &params)?;
        require_admin(&st, &uid, StatusCode::FORBIDDEN)?;
        let version = core.version_string();
        let open: Vec<_> = st
            .sessions
            .iter()
            .map(|s| payloads::session_json(s, &version))
            .collect();
        let body = json!({
            "usersOnline": payloads::users_online(&st, &version),
            "openSessions": open,
        });
        Ok(hostile::json_body(
            st.hostile.invalid_utf8,
            StatusCode::OK,
            &body,
        ))
    })())
}

pub(super) async fn create(
    State(core): State<CoreRef>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut st = core.lock();
    done((|| {
        let uid = require_user(&core, &mut st, &headers, &params)?;
        require_admin(&st, &uid, StatusCode::FORBIDDEN)?;
        let body = http::body_json(&headers, &body)?;
        let (Some(username), Some(password)) = (
            http::string(&body, "username"),
            http::string(&body, "password"),
        ) else {
            return Err(http::fail_text(
                StatusCode::BAD_REQUEST,
                "Username and password are required",
            ));
        };
        if username.is_empty() || password.is_empty() {
            return Err(http::fail_text(
                StatusCode::BAD_REQUEST,
                "Username and password are required",
            ));
        }
        let user_type = match body.get("type") {
            None | Some(Value::Null) => UserType::User,
            Some(t) => match t.as_str().and_then(UserType::parse) {
                Some(t) => t,
                None => {
                    return Err(http::fail_text(
                        StatusCode::BAD_REQUEST,
                        "Invalid account type",
                    ));
                }
            },
        };
        // Like the real server: `isActive: !!req.body.isActive` (absent means inactive!).
        let active = http::truthy(&body, "isActive");
        match users::create_user(&core, &mut st, &username, &password, user_type, active) {
            Ok(id) => {
                let user = st
                    .user(&id)
                    .ok_or_else(|| http::fail(StatusCode::INTERNAL_SERVER_ERROR))?;
                Ok(http::json(
                    StatusCode::OK,
                    &json!({ "user": payloads::user_browser(user) }),
                ))
            }
            Err(SimError::UsernameTaken(_)) => Err(http::fail_text(
                StatusCode::BAD_REQUEST,
                "Username already taken",
            )),
            Err(_) => Err(http::fail_text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Failed to save new user",
            )),
        }
    })())
}

pub(super) async fn update(
    State(core): State<CoreRef>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut st = core.lock();
    done((|| {
        let uid = require_user(&core, &mut st, &headers, &params)?;
        require_admin(&st, &uid, StatusCode::FORBIDDEN)?;
        let body = http::body_json(&headers, &body)?;
        let target = st
            .user(&id)
            .cloned()
            .ok_or_else(|| http::fail(StatusCode::NOT_FOUND))?;
        let actor_is_root = st.user(&uid).is_some_and(|u| u.user_type == UserType::Root);
        if target.user_type == UserType::Root && !actor_is_root {
            return Err(http::fail(StatusCode::FORBIDDEN));
        }
        let new_type = match body.get("type").and_then(Value::as_str) {
            Some(t) if target.user_type != UserType::Root => {
                Some(UserType::parse(t).ok_or_else(|| {
                    http::fail_text(StatusCode::BAD_REQUEST, "Invalid account type")
                })?)
            }
            _ => None,
        };
        let new_password = http::string(&body, "password").filter(|p| !p.is_empty());
        let new_active = body
            .get("isActive")
            .filter(|v| !v.is_null())
            .map(|_| http::truthy(&body, "isActive"));
        let Some(user) = st.user_mut(&id) else {
            return Err(http::fail(StatusCode::NOT_FOUND));
        };
        let mut changed = false;
        if let Some(t) = new_type.filter(|t| *t != user.user_type) {
            user.user_type = t;
            changed = true;
        }
        if let Some(p) = new_password {
            user.password_hash = crate::auth::hash_password(&user.password_salt, &p);
            changed = true;
        }
        if let Some(a) = new_active.filter(|a| *a != user.is_active) {
            user.is_active = a;
            changed = true;
        }
        let json = payloads::user_browser(user);
        if changed {
            // Quirk of the real server: `user_updated` goes to the admin who made the change.
            emit::to_user(&core, &st, &uid, "user_updated", &json);
            persist::save(&core, &st);
        }
        Ok(http::json(
            StatusCode::OK,
            &json!({"success": true, "user": json}),
        ))
    })())
}

pub(super) async fn delete(
    State(core): State<CoreRef>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let mut st = core.lock();
    done((|| {
        let uid = require_user(&core, &mut st, &headers, &params)?;
        require_admin(&st, &uid, StatusCode::FORBIDDEN)?;
        if id == "root" || id == uid {
            return Err(http::fail(StatusCode::BAD_REQUEST));
        }
        if st.user(&id).is_none() {
            return Err(http::fail(StatusCode::NOT_FOUND));
        }
        users::remove_user(&core, &mut st, &id).map_err(|_| http::fail(StatusCode::NOT_FOUND))?;
        Ok(http::json(StatusCode::OK, &json!({"success": true})))
    })())
}
