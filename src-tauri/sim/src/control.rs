//! `/__sim/`: the Rust API over HTTP (mounted only with `--control`). JSON in, JSON out;
//! errors are `{"error": "..."}` with 400 (bad request) or 404 (unknown user/item/...).

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::api;
use crate::error::SimError;
use crate::http;
use crate::logs::LogLevel;
use crate::playback::DeviceSpec;
use crate::state::CoreRef;

/// The control routes (merged into the REST router).
pub(crate) fn router() -> Router<CoreRef> {
    Router::new()
        .route("/__sim/state", get(state))
        .route("/__sim/users", post(add_user))
        .route("/__sim/users/remove", post(remove_user))
        .route("/__sim/sessions/start", post(start_session))
        .route("/__sim/sessions/sync", post(sync_session))
        .route("/__sim/sessions/close", post(close_session))
        .route("/__sim/finish", post(finish))
        .route("/__sim/scan/start", post(scan_start))
        .route("/__sim/scan/finish", post(scan_finish))
        .route("/__sim/watcher-scan/start", post(watcher_scan_start))
        .route("/__sim/items", post(items))
        .route("/__sim/admin-message", post(admin_message))
        .route("/__sim/backup-applied", post(backup_applied))
        .route("/__sim/log", post(log))
        .route("/__sim/revoke", post(revoke))
        .route("/__sim/expire", post(expire))
        .route("/__sim/drop-sockets", post(drop_sockets))
        .route("/__sim/restart", post(restart))
        .route("/__sim/stall", post(stall))
}

fn error(e: &SimError) -> Response {
    let code = match e {
        SimError::UnknownUser(_)
        | SimError::UnknownLibrary(_)
        | SimError::UnknownItem(_)
        | SimError::UnknownSession(_)
        | SimError::UnknownTask(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    };
    http::json(code, &json!({"error": e.to_string()}))
}

fn bad(msg: &str) -> Response {
    http::json(StatusCode::BAD_REQUEST, &json!({"error": msg}))
}

fn reply(r: Result<Value, SimError>) -> Response {
    match r {
        Ok(v) => http::json(StatusCode::OK, &v),
        Err(e) => error(&e),
    }
}

fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Value, http::Fail> {
    let mut h = headers.clone();
    h.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    http::body_json(&h, body).map_err(|_| Box::new(bad("invalid JSON body")))
}

fn field(body: &Value, key: &str) -> Result<String, http::Fail> {
    http::string(body, key).ok_or_else(|| Box::new(bad(&format!("missing string field \"{key}\""))))
}

fn count(body: &Value, key: &str) -> u32 {
    body.get(key)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0)
}

macro_rules! body_or_return {
    ($headers:expr, $body:expr) => {
        match parse(&$headers, &$body) {
            Ok(v) => v,
            Err(resp) => return *resp,
        }
    };
}

macro_rules! try_field {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(resp) => return *resp,
        }
    };
}

async fn state(State(core): State<CoreRef>) -> Response {
    http::json(StatusCode::OK, &api::summary(&core))
}

async fn add_user(
    State(core): State<CoreRef>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let b = body_or_return!(headers, body);
    let username = try_field!(field(&b, "username"));
    let password = try_field!(field(&b, "password"));
    let admin = http::truthy(&b, "admin");
    reply(api::add_user(&core, &username, &password, admin).map(|id| json!({ "id": id })))
}

async fn remove_user(
    State(core): State<CoreRef>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let b = body_or_return!(headers, body);
    let user = try_field!(field(&b, "user"));
    reply(api::remove_user(&core, &user).map(|()| json!({"ok": true})))
}

async fn start_session(
    State(core): State<CoreRef>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let b = body_or_return!(headers, body);
    let user = try_field!(field(&b, "user"));
    let item = match http::string(&b, "item") {
        Some(i) => i,
        None => match api::first_item(&core) {
            Some(i) => i,
            None => return bad("the library has no items"),
        },
    };
    let device = DeviceSpec {
        device_id: http::string(&b, "device").or_else(|| Some(format!("sim-{user}"))),
        client_name: http::string(&b, "clientName"),
        client_version: http::string(&b, "clientVersion"),
        manufacturer: http::string(&b, "manufacturer"),
        model: http::string(&b, "model"),
        sdk_version: http::string(&b, "sdkVersion"),
        device_name: http::string(&b, "deviceName"),
    };
    reply(api::start_session(&core, &user, &item, device).map(|id| json!({ "id": id })))
}

async fn sync_session(
    State(core): State<CoreRef>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let b = body_or_return!(headers, body);
    let id = try_field!(field(&b, "id"));
    let Some(t) = http::number(b.get("currentTime")) else {
        return bad("missing number field \"currentTime\"");
    };
    reply(api::sync_session(&core, &id, t).map(|()| json!({"ok": true})))
}

async fn close_session(
    State(core): State<CoreRef>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let b = body_or_return!(headers, body);
    let id = try_field!(field(&b, "id"));
    reply(api::close_session(&core, &id).map(|()| json!({"ok": true})))
}

async fn finish(
    State(core): State<CoreRef>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let b = body_or_return!(headers, body);
    let user = try_field!(field(&b, "user"));
    let item = try_field!(field(&b, "item"));
    reply(api::finish_book(&core, &user, &item).map(|()| json!({"ok": true})))
}

async fn scan_start(
    State(core): State<CoreRef>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let b = body_or_return!(headers, body);
    let library = http::string(&b, "library").or_else(|| api::first_library(&core));
    let Some(library) = library else {
        return bad("no library");
    };
    reply(api::start_scan(&core, &library).map(|id| json!({ "taskId": id })))
}

async fn watcher_scan_start(
    State(core): State<CoreRef>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let b = body_or_return!(headers, body);
    let library = http::string(&b, "library").or_else(|| api::first_library(&core));
    let Some(library) = library else {
        return bad("no library");
    };
    reply(api::start_watcher_scan(&core, &library).map(|id| json!({ "taskId": id })))
}

async fn scan_finish(
    State(core): State<CoreRef>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let b = body_or_return!(headers, body);
    let task = try_field!(field(&b, "task"));
    let r = api::finish_scan(
        &core,
        &task,
        count(&b, "added"),
        count(&b, "updated"),
        // A watcher scan's word for missing.
        count(&b, "missing").max(count(&b, "removed")),
    );
    reply(r.map(|()| json!({"ok": true})))
}

async fn items(
    State(core): State<CoreRef>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let b = body_or_return!(headers, body);
    let library = http::string(&b, "library").or_else(|| api::first_library(&core));
    let Some(library) = library else {
        return bad("no library");
    };
    let n = count(&b, "count").max(1) as usize;
    reply(api::add_items(&core, &library, n).map(|ids| json!({ "ids": ids })))
}

async fn admin_message(
    State(core): State<CoreRef>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let b = body_or_return!(headers, body);
    let message = try_field!(field(&b, "message"));
    api::admin_message(&core, &message);
    http::json(StatusCode::OK, &json!({"ok": true}))
}

async fn backup_applied(State(core): State<CoreRef>) -> Response {
    api::backup_applied(&core);
    http::json(StatusCode::OK, &json!({"ok": true}))
}

async fn log(State(core): State<CoreRef>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let b = body_or_return!(headers, body);
    let message = try_field!(field(&b, "message"));
    let level = match b.get("level") {
        None => LogLevel::Info,
        Some(Value::Number(n)) => match n
            .as_u64()
            .and_then(|n| u8::try_from(n).ok())
            .and_then(LogLevel::from_u8)
        {
            Some(l) => l,
            None => return bad("level must be 0..6"),
        },
        Some(Value::String(s)) => match LogLevel::parse(s) {
            Some(l) => l,
            None => return bad("unknown level"),
        },
        Some(_) => return bad("level must be a number or a name"),
    };
    api::emit_log(&core, level, &message);
    http::json(StatusCode::OK, &json!({"ok": true}))
}

async fn revoke(
    State(core): State<CoreRef>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let b = body_or_return!(headers, body);
    let user = try_field!(field(&b, "user"));
    reply(api::revoke_tokens(&core, &user).map(|()| json!({"ok": true})))
}

async fn expire(State(core): State<CoreRef>) -> Response {
    api::expire_access_tokens(&core);
    http::json(StatusCode::OK, &json!({"ok": true}))
}

async fn drop_sockets(State(core): State<CoreRef>) -> Response {
    // Answer first: cutting every connection includes this one.
    let core2 = core.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        api::drop_sockets(&core2);
    });
    http::json(StatusCode::OK, &json!({"ok": true}))
}

async fn restart(
    State(core): State<CoreRef>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let b = body_or_return!(headers, body);
    let secs = http::number(b.get("seconds")).unwrap_or(1.0).max(0.0);
    let core2 = core.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        api::restart_after(&core2, Duration::from_secs_f64(secs)).await;
    });
    http::json(StatusCode::OK, &json!({"ok": true}))
}

async fn stall(
    State(core): State<CoreRef>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let b = body_or_return!(headers, body);
    let on = http::truthy(&b, "on");
    // Once stalled this API cannot be reached either: `seconds` thaws the server by itself.
    let secs = http::number(b.get("seconds"));
    let core2 = core.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        api::stall(&core2, on);
        if let (true, Some(s)) = (on, secs) {
            tokio::time::sleep(Duration::from_secs_f64(s.max(0.0))).await;
            api::stall(&core2, false);
        }
    });
    http::json(StatusCode::OK, &json!({"ok": true}))
}
