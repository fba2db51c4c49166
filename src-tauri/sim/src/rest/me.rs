//! `GET /api/me/listening-sessions`: the caller's saved playback sessions, newest first, a page
//! at a time (`MeController.getListeningSessions`).
//!
//! The real server saves a session once it has listening time (on its first sync with
//! `timeListened`, and again on close), so the list holds open sessions that synced and closed
//! ones, ordered by `updatedAt`; sessions that never listened are never saved. Here the open ones
//! come from the open sessions and the closed ones from what [`remember_closed`] kept.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::{Params, done, require_user};
use crate::http;
use crate::model::PlaybackSession;
use crate::payloads;
use crate::state::{CoreRef, State as SimState};

/// Closed sessions kept (the real server keeps them all, in its database).
const MAX_CLOSED: usize = 10_000;
/// `itemsPerPage` when the query gives none (or `0`, or not a number).
const DEFAULT_ITEMS_PER_PAGE: f64 = 10.0;

/// Keeps a session that just closed for its owner's list, as `closeSession`'s save does.
pub(crate) fn remember_closed(st: &mut SimState, session: &PlaybackSession) {
    if session.time_listening <= 0.0 {
        return;
    }
    if st.closed_sessions.len() >= MAX_CLOSED {
        st.closed_sessions.remove(0);
    }
    st.closed_sessions.push(session.clone());
}

/// express's `toNumber(value, fallback)`: the number, or the fallback when it is not one.
fn to_number(value: Option<&String>, fallback: f64) -> f64 {
    value
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|n| n.is_finite())
        .unwrap_or(fallback)
}

/// A number as `JSON.stringify` writes it: whole numbers without a fraction.
fn js_number(n: f64) -> serde_json::Value {
    if n.fract() == 0.0 && n.abs() < 9e15 {
        json!(n as i64)
    } else {
        json!(n)
    }
}

pub(super) async fn listening_sessions(
    State(core): State<CoreRef>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let mut st = core.lock();
    done((|| {
        let uid = require_user(&core, &mut st, &headers, &params)?;
        // `toNumber(q, 10) || 10` and `toNumber(q, 0)`; slice() counts in whole entries.
        let mut items_per_page = to_number(params.get("itemsPerPage"), DEFAULT_ITEMS_PER_PAGE);
        if items_per_page == 0.0 {
            items_per_page = DEFAULT_ITEMS_PER_PAGE;
        }
        let page = to_number(params.get("page"), 0.0);
        let mut mine: Vec<&PlaybackSession> = st
            .sessions
            .iter()
            .chain(&st.closed_sessions)
            .filter(|s| s.user_id == uid && s.time_listening > 0.0)
            .collect();
        mine.sort_by_key(|s| std::cmp::Reverse(s.updated_at));
        let total = mine.len();
        let per_page = items_per_page.trunc().clamp(1.0, 1e6) as usize;
        let start = (page.trunc().max(0.0) as usize).saturating_mul(per_page);
        let version = core.version_string();
        let sessions: Vec<_> = mine
            .into_iter()
            .skip(start)
            .take(per_page)
            .map(|s| payloads::session_json(s, &version))
            .collect();
        Ok(http::json(
            StatusCode::OK,
            &json!({
                "total": total,
                "numPages": js_number((total as f64 / items_per_page).ceil()),
                "page": js_number(page),
                "itemsPerPage": js_number(items_per_page),
                "sessions": sessions,
            }),
        ))
    })())
}
