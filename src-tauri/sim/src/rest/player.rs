//! What players call: `POST /api/items/:id/play`, `/api/session/:id[/sync|/close]`,
//! `GET /api/sessions/open`, `PATCH /api/me/progress/:id`.

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::{Params, client_ip, done, require_admin, require_user};
use crate::emit;
use crate::http;
use crate::payloads;
use crate::persist;
use crate::playback::{self, DeviceSpec, PlayOptions, ProgressUpdate, SyncData};
use crate::server::PeerAddr;
use crate::state::{CoreRef, State as SimState};

fn device_spec(v: Option<&Value>) -> DeviceSpec {
    let field = |k: &str| {
        v.and_then(|d| d.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    DeviceSpec {
        device_id: field("deviceId").filter(|d| !d.is_empty()),
        client_name: field("clientName"),
        client_version: field("clientVersion"),
        manufacturer: field("manufacturer"),
        model: field("model"),
        sdk_version: field("sdkVersion"),
        device_name: field("deviceName"),
    }
}

pub(super) async fn play(
    State(core): State<CoreRef>,
    ConnectInfo(peer): ConnectInfo<PeerAddr>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut st = core.lock();
    done((|| {
        let uid = require_user(&core, &mut st, &headers, &params)?;
        let item = st
            .item(&id)
            .cloned()
            .ok_or_else(|| http::fail(StatusCode::NOT_FOUND))?;
        if !st
            .user(&uid)
            .is_some_and(|u| u.can_access_library(&item.library_id))
        {
            return Err(http::fail(StatusCode::FORBIDDEN));
        }
        let body = http::body_json(&headers, &body)?;
        let opts = PlayOptions {
            device: device_spec(body.get("deviceInfo")),
            media_player: http::string(&body, "mediaPlayer"),
            supported_mime_types: body
                .get("supportedMimeTypes")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            force_direct_play: http::truthy(&body, "forceDirectPlay"),
            force_transcode: http::truthy(&body, "forceTranscode"),
            ip: Some(client_ip(&peer).to_string()),
        };
        let session = playback::start(&core, &mut st, &uid, &id, opts)
            .map_err(|_| http::fail(StatusCode::NOT_FOUND))?;
        Ok(http::json(StatusCode::OK, &session))
    })())
}

/// `openSessionMiddleware`: 404 when not open, 403 when someone else's and not admin.
fn open_session_for(st: &SimState, uid: &str, id: &str) -> Result<(), http::Fail> {
    let session = st
        .session(id)
        .ok_or_else(|| http::fail(StatusCode::NOT_FOUND))?;
    let admin = st.user(uid).is_some_and(|u| u.user_type.is_admin_or_up());
    if session.user_id != uid && !admin {
        return Err(http::fail(StatusCode::FORBIDDEN));
    }
    Ok(())
}

/// A sync body; `None` for an empty object.
fn sync_data(body: &Value) -> Result<Option<SyncData>, http::Fail> {
    if body.as_object().is_some_and(|o| o.is_empty()) || body.is_null() {
        return Ok(None);
    }
    let current_time =
        http::number(body.get("currentTime")).ok_or_else(|| http::fail(StatusCode::BAD_REQUEST))?;
    Ok(Some(SyncData {
        current_time,
        time_listened: http::number(body.get("timeListened")),
        duration: http::number(body.get("duration")),
    }))
}

pub(super) async fn get_session(
    State(core): State<CoreRef>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let mut st = core.lock();
    done((|| {
        let uid = require_user(&core, &mut st, &headers, &params)?;
        open_session_for(&st, &uid, &id)?;
        let s = st
            .session(&id)
            .ok_or_else(|| http::fail(StatusCode::NOT_FOUND))?;
        let item = st.item(&s.library_item_id);
        Ok(http::json(
            StatusCode::OK,
            &payloads::session_client(s, &core.version_string(), item),
        ))
    })())
}

pub(super) async fn sync(
    State(core): State<CoreRef>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut st = core.lock();
    done((|| {
        let uid = require_user(&core, &mut st, &headers, &params)?;
        open_session_for(&st, &uid, &id)?;
        let body = http::body_json(&headers, &body)?;
        let data = sync_data(&body)?.ok_or_else(|| http::fail(StatusCode::BAD_REQUEST))?;
        playback::sync(&core, &mut st, &uid, &id, data)
            .map_err(|_| http::fail(StatusCode::INTERNAL_SERVER_ERROR))?;
        Ok(http::status(StatusCode::OK))
    })())
}

pub(super) async fn close(
    State(core): State<CoreRef>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut st = core.lock();
    done((|| {
        let uid = require_user(&core, &mut st, &headers, &params)?;
        open_session_for(&st, &uid, &id)?;
        let body = http::body_json(&headers, &body)?;
        let data = sync_data(&body)?;
        playback::close(&core, &mut st, &uid, &id, data)
            .map_err(|_| http::fail(StatusCode::INTERNAL_SERVER_ERROR))?;
        persist::save(&core, &st);
        Ok(http::status(StatusCode::OK))
    })())
}

pub(super) async fn open_sessions(
    State(core): State<CoreRef>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let mut st = core.lock();
    done((|| {
        let uid = require_user(&core, &mut st, &headers, &params)?;
        require_admin(&st, &uid, StatusCode::NOT_FOUND)?;
        let version = core.version_string();
        let sessions: Vec<_> = st
            .sessions
            .iter()
            .map(|s| payloads::session_open(&st, s, &version))
            .collect();
        Ok(http::json(
            StatusCode::OK,
            &json!({"sessions": sessions, "shareSessions": []}),
        ))
    })())
}

pub(super) async fn patch_progress(
    State(core): State<CoreRef>,
    Path(item_id): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut st = core.lock();
    done((|| {
        let uid = require_user(&core, &mut st, &headers, &params)?;
        let body = http::body_json(&headers, &body)?;
        if st.item(&item_id).is_none() {
            return Err(http::fail_text(
                StatusCode::NOT_FOUND,
                "Library item not found",
            ));
        }
        let upd = ProgressUpdate {
            duration: http::number(body.get("duration")),
            current_time: http::number(body.get("currentTime")),
            progress: http::number(body.get("progress")),
            is_finished: body.get("isFinished").and_then(Value::as_bool),
        };
        playback::apply_progress(&mut st, &uid, &item_id, upd)
            .map_err(|_| http::fail(StatusCode::NOT_FOUND))?;
        if let Some(u) = st.user(&uid) {
            let json = payloads::user_browser(u);
            emit::to_user(&core, &st, &uid, "user_updated", &json);
        }
        persist::save(&core, &st);
        Ok(http::status(StatusCode::OK))
    })())
}
