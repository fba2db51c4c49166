//! `/api/api-keys` (admin/root only; since 2.26). A new key is inactive unless `isActive: true`.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::{Params, done, require_admin, require_user};
use crate::http;
use crate::logs::{self, LogLevel};
use crate::model::{ApiKey, UserType};
use crate::payloads;
use crate::persist;
use crate::state::{CoreRef, now_ms, now_secs};
use crate::tokens;

fn gate(core: &CoreRef, method: &str, path: &str) -> Result<(), http::Fail> {
    if core.version().has_jwt_sessions() {
        Ok(())
    } else {
        Err(Box::new(http::cannot(method, path)))
    }
}

pub(super) async fn list(
    State(core): State<CoreRef>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let mut st = core.lock();
    done((|| {
        gate(&core, "GET", "/api/api-keys")?;
        let uid = require_user(&core, &mut st, &headers, &params)?;
        require_admin(&st, &uid, StatusCode::FORBIDDEN)?;
        let keys: Vec<_> = st
            .db
            .api_keys
            .iter()
            .map(|k| payloads::api_key_json(&st, k, None))
            .collect();
        Ok(http::json(StatusCode::OK, &json!({ "apiKeys": keys })))
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
        gate(&core, "POST", "/api/api-keys")?;
        let uid = require_user(&core, &mut st, &headers, &params)?;
        require_admin(&st, &uid, StatusCode::FORBIDDEN)?;
        let body = http::body_json(&headers, &body)?;
        let bad = || http::fail(StatusCode::BAD_REQUEST);
        let name = http::string(&body, "name")
            .filter(|n| !n.is_empty())
            .ok_or_else(bad)?;
        let expires_in = match body.get("expiresIn") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_f64().filter(|e| *e > 0.0).ok_or_else(bad)?),
        };
        let owner_id = http::string(&body, "userId")
            .filter(|u| !u.is_empty())
            .ok_or_else(bad)?;
        let owner = st.user(&owner_id).cloned().ok_or_else(bad)?;
        let actor_is_root = st.user(&uid).is_some_and(|u| u.user_type == UserType::Root);
        if owner.user_type == UserType::Root && !actor_is_root {
            return Err(http::fail(StatusCode::FORBIDDEN));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let expires_secs = expires_in.map(|e| e.floor() as i64);
        let jwt = tokens::api_key(&st.db.secret, &id, &name, now_secs(), expires_secs)
            .map_err(|_| http::fail(StatusCode::INTERNAL_SERVER_ERROR))?;
        let now = now_ms();
        let key = ApiKey {
            id,
            name: name.clone(),
            user_id: owner_id,
            created_by_user_id: uid,
            is_active: http::truthy(&body, "isActive"),
            expires_at: expires_secs.map(|e| now + e * 1000),
            created_at: now,
            updated_at: now,
        };
        let json = payloads::api_key_json(&st, &key, Some(jwt));
        st.db.api_keys.push(key);
        logs::log(
            &core,
            &mut st,
            LogLevel::Info,
            "ApiKeyController.js:94",
            format!("[ApiKeyController] Created API key \"{name}\""),
        );
        persist::save(&core, &st);
        Ok(http::json(StatusCode::OK, &json!({ "apiKey": json })))
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
        gate(&core, "PATCH", "/api/api-keys")?;
        let uid = require_user(&core, &mut st, &headers, &params)?;
        require_admin(&st, &uid, StatusCode::FORBIDDEN)?;
        let body = http::body_json(&headers, &body)?;
        let key = st
            .db
            .api_keys
            .iter()
            .find(|k| k.id == id)
            .cloned()
            .ok_or_else(|| http::fail(StatusCode::NOT_FOUND))?;
        let actor_is_root = st.user(&uid).is_some_and(|u| u.user_type == UserType::Root);
        let owner_is_root = st
            .user(&key.user_id)
            .is_some_and(|u| u.user_type == UserType::Root);
        if owner_is_root && !actor_is_root {
            return Err(http::fail(StatusCode::FORBIDDEN));
        }
        let active = match body.get("isActive") {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => return Err(http::fail(StatusCode::BAD_REQUEST)),
        };
        let now = now_ms();
        let Some(k) = st.db.api_keys.iter_mut().find(|k| k.id == id) else {
            return Err(http::fail(StatusCode::NOT_FOUND));
        };
        if let Some(a) = active.filter(|a| *a != k.is_active) {
            k.is_active = a;
            k.updated_at = now;
        }
        let k = k.clone();
        let json = payloads::api_key_json(&st, &k, None);
        persist::save(&core, &st);
        Ok(http::json(StatusCode::OK, &json!({ "apiKey": json })))
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
        gate(&core, "DELETE", "/api/api-keys")?;
        let uid = require_user(&core, &mut st, &headers, &params)?;
        require_admin(&st, &uid, StatusCode::FORBIDDEN)?;
        let before = st.db.api_keys.len();
        st.db.api_keys.retain(|k| k.id != id);
        if st.db.api_keys.len() == before {
            return Err(http::fail(StatusCode::NOT_FOUND));
        }
        persist::save(&core, &st);
        Ok(http::status(StatusCode::OK))
    })())
}
