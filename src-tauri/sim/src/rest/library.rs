//! Libraries, items, covers, tasks and the daily log.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{Params, done, require_admin, require_user};
use crate::catalog;
use crate::http;
use crate::payloads;
use crate::scan;
use crate::state::CoreRef;

pub(super) async fn tasks(
    State(core): State<CoreRef>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let mut st = core.lock();
    done((|| {
        require_user(&core, &mut st, &headers, &params)?;
        let tasks: Vec<_> = st.tasks.iter().map(payloads::task_json).collect();
        let mut body = json!({ "tasks": tasks });
        let wants_queue = params
            .get("include")
            .is_some_and(|i| i.split(',').any(|p| p.trim() == "queue"));
        if let (true, Some(obj)) = (wants_queue, body.as_object_mut()) {
            obj.insert("queuedTaskData".into(), json!({"embedMetadata": []}));
        }
        Ok(http::json(StatusCode::OK, &body))
    })())
}

pub(super) async fn logger_data(
    State(core): State<CoreRef>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let mut st = core.lock();
    done((|| {
        let uid = require_user(&core, &mut st, &headers, &params)?;
        require_admin(&st, &uid, StatusCode::FORBIDDEN)?;
        let logs: Vec<_> = st.daily_logs.iter().cloned().collect();
        Ok(http::json(
            StatusCode::OK,
            &json!({ "currentDailyLogs": logs }),
        ))
    })())
}

pub(super) async fn libraries(
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
        let libs: Vec<_> = st
            .db
            .libraries
            .iter()
            .filter(|l| user.can_access_library(&l.id))
            .map(payloads::library_json)
            .collect();
        Ok(http::json(StatusCode::OK, &json!({ "libraries": libs })))
    })())
}

/// The library if it exists and the user may see it (404 / 403 like `LibraryController.middleware`).
fn library_for(
    st: &crate::state::State,
    uid: &str,
    id: &str,
) -> Result<crate::model::Library, http::Fail> {
    let lib = st
        .library(id)
        .cloned()
        .ok_or_else(|| http::fail(StatusCode::NOT_FOUND))?;
    if !st.user(uid).is_some_and(|u| u.can_access_library(id)) {
        return Err(http::fail(StatusCode::FORBIDDEN));
    }
    Ok(lib)
}

pub(super) async fn library(
    State(core): State<CoreRef>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let mut st = core.lock();
    done((|| {
        let uid = require_user(&core, &mut st, &headers, &params)?;
        let lib = library_for(&st, &uid, &id)?;
        Ok(http::json(StatusCode::OK, &payloads::library_json(&lib)))
    })())
}

pub(super) async fn library_items(
    State(core): State<CoreRef>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let mut st = core.lock();
    done((|| {
        let uid = require_user(&core, &mut st, &headers, &params)?;
        library_for(&st, &uid, &id)?;
        let limit: usize = params
            .get("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let page: usize = params.get("page").and_then(|p| p.parse().ok()).unwrap_or(0);
        let all: Vec<_> = st.db.items.iter().filter(|i| i.library_id == id).collect();
        let total = all.len();
        let offset = limit * page;
        let results: Vec<_> = all
            .into_iter()
            .skip(if limit > 0 { offset } else { 0 })
            .take(if limit > 0 { limit } else { usize::MAX })
            .map(payloads::item_minified)
            .collect();
        let body = json!({
            "results": results,
            "total": total,
            "limit": limit,
            "page": page,
            "sortDesc": false,
            "mediaType": "book",
            "minified": params.get("minified").is_some_and(|m| m == "1"),
            "collapseseries": false,
            "include": params.get("include").cloned().unwrap_or_default(),
            "offset": offset,
        });
        Ok(http::json(StatusCode::OK, &body))
    })())
}

pub(super) async fn scan(
    State(core): State<CoreRef>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let mut st = core.lock();
    done((|| {
        let uid = require_user(&core, &mut st, &headers, &params)?;
        require_admin(&st, &uid, StatusCode::FORBIDDEN)?;
        library_for(&st, &uid, &id)?;
        // The real scan runs after the 200; here it finds nothing new a moment later.
        if let Ok(task) = scan::start(&core, &mut st, &id) {
            let core = core.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(150)).await;
                let mut st = core.lock();
                let _ = scan::finish(&core, &mut st, &task, 0, 0, 0);
            });
        }
        Ok(http::status(StatusCode::OK))
    })())
}

pub(super) async fn item(
    State(core): State<CoreRef>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
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
        Ok(http::json(
            StatusCode::OK,
            &payloads::item_expanded(&item, &core.version_string()),
        ))
    })())
}

/// `GET /api/items/:id/cover`: like the real server (`Auth.ignorePatterns`) no token is needed.
pub(super) async fn cover(State(core): State<CoreRef>, Path(id): Path<String>) -> Response {
    let exists = core.lock().item(&id).is_some();
    if !exists {
        return http::status(StatusCode::NOT_FOUND);
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "private, max-age=86400"),
        ],
        catalog::cover_png(&id),
    )
        .into_response()
}
