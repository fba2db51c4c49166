//! The REST API of the real server, as far as a tray notifier and a player use it. Mounted at
//! `/` and (through the server's path rewrite) at `/audiobookshelf`.

mod api_keys;
mod library;
mod login;
pub(crate) mod me;
mod player;
mod users;

use std::collections::HashMap;
use std::net::IpAddr;

use axum::Router;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, patch, post};

use crate::auth;
use crate::http;
use crate::server::PeerAddr;
use crate::state::{CoreRef, State};

/// Query parameters.
type Params = HashMap<String, String>;

/// All REST routes (plus `/__sim/` when `control`).
pub(crate) fn router(core: CoreRef) -> Router {
    let mut router = Router::new()
        .route("/status", get(login::status))
        .route("/healthcheck", get(login::healthcheck))
        .route("/ping", get(login::ping))
        .route("/login", post(login::login))
        .route("/auth/refresh", post(login::refresh))
        .route("/logout", post(login::logout))
        .route("/api/authorize", post(login::authorize))
        .route("/api/me", get(users::me))
        .route("/api/me/password", patch(users::change_password))
        .route("/api/me/listening-sessions", get(me::listening_sessions))
        .route("/api/me/progress/{item_id}", patch(player::patch_progress))
        .route("/api/users", get(users::list).post(users::create))
        .route("/api/users/online", get(users::online))
        .route(
            "/api/users/{id}",
            patch(users::update).delete(users::delete),
        )
        .route("/api/sessions/open", get(player::open_sessions))
        .route("/api/tasks", get(library::tasks))
        .route("/api/logger-data", get(library::logger_data))
        .route("/api/libraries", get(library::libraries))
        .route("/api/libraries/{id}", get(library::library))
        .route("/api/libraries/{id}/items", get(library::library_items))
        .route("/api/libraries/{id}/scan", post(library::scan))
        .route("/api/items/{id}", get(library::item))
        .route("/api/items/{id}/cover", get(library::cover))
        .route("/api/items/{id}/play", post(player::play))
        .route("/api/session/{id}", get(player::get_session))
        .route("/api/session/{id}/sync", post(player::sync))
        .route("/api/session/{id}/close", post(player::close))
        .route("/api/api-keys", get(api_keys::list).post(api_keys::create))
        .route(
            "/api/api-keys/{id}",
            patch(api_keys::update).delete(api_keys::delete),
        );
    if core.cfg.control {
        router = router.merge(crate::control::router());
    }
    router.fallback(not_found).with_state(core)
}

async fn not_found(method: Method, uri: Uri) -> Response {
    http::cannot(method.as_str(), uri.path())
}

/// The client IP as the real server records it (IPv4-mapped addresses unmapped).
pub(crate) fn client_ip(peer: &PeerAddr) -> IpAddr {
    match peer.0.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The authenticated user, or express/passport's `401 Unauthorized`.
fn require_user(
    core: &CoreRef,
    st: &mut State,
    headers: &HeaderMap,
    params: &Params,
) -> Result<String, http::Fail> {
    http::bearer(headers, params)
        .and_then(|t| auth::rest_user(core, st, &t))
        .ok_or_else(|| http::fail(StatusCode::UNAUTHORIZED))
}

/// Root or admin, else `code` (403 or 404 depending on the endpoint, like the real server).
fn require_admin(st: &State, user_id: &str, code: StatusCode) -> Result<(), http::Fail> {
    if st
        .user(user_id)
        .is_some_and(|u| u.user_type.is_admin_or_up())
    {
        Ok(())
    } else {
        Err(http::fail(code))
    }
}

/// Turns a handler's `Result` into its response.
fn done(r: Result<Response, http::Fail>) -> Response {
    r.unwrap_or_else(|e| *e)
}
