//! The Socket.IO side (`SocketAuthority`): default namespace, no handshake auth, the `auth`
//! event, presence, `ping`/`pong`, admin messages, log listeners, `cancel_scan`.
//!
//! socketioxide runs every handler in its own task, which would let a socket's events overtake
//! each other. To keep node's order, the work is done in the extractors ([`Inbound`], [`Gone`]),
//! which socketioxide calls synchronously, in arrival order, on the connection's task; and the
//! handlers are registered in a connect middleware, i.e. before the CONNECT packet goes out.

use std::convert::Infallible;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::adapter::LocalAdapter;
use socketioxide::extract::{Event, SocketRef, State, TryData};
use socketioxide::handler::{ConnectHandler, FromDisconnectParts, FromMessageParts};
use socketioxide::layer::SocketIoLayer;
use socketioxide::socket::{DisconnectReason, Socket};

use crate::auth::{self, SocketAuth};
use crate::emit;
use crate::logs::{self, LogLevel};
use crate::payloads::{self, UserOnline};
use crate::persist;
use crate::scan;
use crate::state::{Client, CoreRef, now_ms};

/// Builds the Socket.IO layer and its handle (one per listening period of the server).
pub(crate) fn build(core: &CoreRef) -> (SocketIoLayer, SocketIo) {
    let (layer, io) = SocketIo::builder()
        .ping_interval(core.cfg.ping_interval)
        .ping_timeout(core.cfg.ping_timeout)
        .max_payload(1_000_000)
        .max_buffer_size(4_096)
        .with_state(core.clone())
        .build_layer();
    io.ns("/", on_connect.with(register));
    (layer, io)
}

async fn on_connect(_socket: SocketRef) {}

async fn register(socket: SocketRef, State(core): State<CoreRef>) -> Result<(), Infallible> {
    connected(&core, &socket);
    socket.on_fallback(on_message);
    socket.on_disconnect(on_disconnect);
    Ok(())
}

async fn on_message(_: Inbound) {}

async fn on_disconnect(_: Gone) {}

/// Handles a socket event synchronously while being extracted.
pub(crate) struct Inbound;

impl FromMessageParts<LocalAdapter> for Inbound {
    type Error = Infallible;

    fn from_message_parts(
        s: &Arc<Socket<LocalAdapter>>,
        v: &mut socketioxide::handler::Value,
        ack: &Option<i64>,
    ) -> Result<Self, Infallible> {
        let Ok(Event(event)) = Event::from_message_parts(s, v, ack) else {
            return Ok(Inbound);
        };
        let Ok(TryData(data)) = TryData::<Value>::from_message_parts(s, v, ack);
        if let Ok(State(core)) = State::<CoreRef>::from_message_parts(s, v, ack) {
            handle(&core, &s.id.to_string(), &event, data.ok());
        }
        Ok(Inbound)
    }
}

/// Handles a disconnect synchronously while being extracted.
pub(crate) struct Gone;

impl FromDisconnectParts<LocalAdapter> for Gone {
    type Error = Infallible;

    fn from_disconnect_parts(
        s: &Arc<Socket<LocalAdapter>>,
        reason: DisconnectReason,
    ) -> Result<Self, Infallible> {
        if let Ok(State(core)) = State::<CoreRef>::from_disconnect_parts(s, reason) {
            disconnected(&core, &s.id.to_string(), reason);
        }
        Ok(Gone)
    }
}

/// socket.io's reason strings.
fn reason_text(reason: DisconnectReason) -> &'static str {
    match reason {
        DisconnectReason::TransportClose => "transport close",
        DisconnectReason::MultipleHttpPollingError | DisconnectReason::PacketParsingError => {
            "parse error"
        }
        DisconnectReason::TransportError => "transport error",
        DisconnectReason::HeartbeatTimeout => "ping timeout",
        DisconnectReason::ClientNSDisconnect => "client namespace disconnect",
        DisconnectReason::ServerNSDisconnect => "server namespace disconnect",
        DisconnectReason::ClosingServer => "server shutting down",
    }
}

fn connected(core: &CoreRef, socket: &SocketRef) {
    let sid = socket.id.to_string();
    let mut st = core.lock();
    st.clients.push(Client {
        sid: sid.clone(),
        socket: socket.clone(),
        user_id: None,
        connected_at: now_ms(),
    });
    emit::marker(core, &sid, None, "(connect)", &sid);
    logs::log(
        core,
        &mut st,
        LogLevel::Info,
        "SocketAuthority.js:118",
        format!("[SocketAuthority] Socket Connected to /socket.io {sid}"),
    );
}

fn disconnected(core: &CoreRef, sid: &str, reason: DisconnectReason) {
    let mut st = core.lock();
    st.log_listeners.retain(|(s, _)| s != sid);
    let Some(idx) = st.clients.iter().position(|c| c.sid == sid) else {
        return;
    };
    let reason = reason_text(reason);
    let user_id = st.clients[idx].user_id.clone();
    let connected_at = st.clients[idx].connected_at;
    match user_id.as_deref().and_then(|u| st.user(u)) {
        Some(user) => {
            let public = payloads::user_public(&st, user, &core.version_string());
            let username = user.username.clone();
            emit::to_admins(core, &st, "user_offline", &public);
            let msg = format!(
                "[SocketAuthority] Socket {sid} disconnected from client \"{username}\" after {}ms (Reason: {reason})",
                now_ms() - connected_at
            );
            logs::log(core, &mut st, LogLevel::Info, "SocketAuthority.js:141", msg);
        }
        None => {
            let msg =
                format!("[SocketAuthority] Unauth socket {sid} disconnected (Reason: {reason})");
            logs::log(core, &mut st, LogLevel::Info, "SocketAuthority.js:133", msg);
        }
    }
    st.clients.retain(|c| c.sid != sid);
    emit::marker(core, sid, user_id.as_deref(), "(disconnect)", reason);
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InitPayload {
    user_id: String,
    username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    users_online: Option<Vec<UserOnline>>,
}

fn is_admin(core: &CoreRef, sid: &str) -> bool {
    let st = core.lock();
    st.client(sid)
        .and_then(|c| c.user_id.as_deref())
        .and_then(|u| st.user(u))
        .is_some_and(|u| u.user_type.is_admin_or_up())
}

fn handle(core: &CoreRef, sid: &str, event: &str, data: Option<Value>) {
    match event {
        "auth" => authenticate(core, sid, data.as_ref()),
        "ping" => {
            let mut st = core.lock();
            let name = st
                .client(sid)
                .and_then(|c| c.user_id.as_deref())
                .and_then(|u| st.user(u))
                .map_or_else(|| "No User".to_string(), |u| u.username.clone());
            let msg = format!("[SocketAuthority] Received ping from socket {name}");
            logs::log(
                core,
                &mut st,
                LogLevel::Debug,
                "SocketAuthority.js:166",
                msg,
            );
            emit::to_socket_no_args(core, &st, sid, "pong");
        }
        "message_all_users" => message_all_users(core, sid, data),
        "set_log_listener" => set_log_listener(core, sid, data),
        "remove_log_listener" => {
            core.lock().log_listeners.retain(|(s, _)| s != sid);
        }
        "cancel_scan" => cancel_scan(core, sid, data),
        "search_covers" => search_covers(core, sid, data),
        "fetch_daily_logs" if core.version().answers_fetch_daily_logs() => {
            let st = core.lock();
            let logs: Vec<_> = st.daily_logs.iter().cloned().collect();
            emit::to_socket(core, &st, sid, "daily_logs", &logs);
        }
        _ => {}
    }
}

/// `authenticateSocket`.
fn authenticate(core: &CoreRef, sid: &str, token: Option<&Value>) {
    let mut st = core.lock();
    if st.hostile.ignore_auth {
        return;
    }
    if let Some(message) = st.hostile.reject_auth.clone() {
        let failed = serde_json::json!({ "message": message });
        emit::to_socket(core, &st, sid, "auth_failed", &failed);
        return;
    }
    let outcome = auth::socket_user(core, &st, token);
    let user_id = match outcome {
        SocketAuth::User(id) => id,
        SocketAuth::InvalidToken | SocketAuth::InvalidUser => {
            let message = if matches!(outcome, SocketAuth::InvalidUser) {
                "Invalid user"
            } else {
                "Invalid token"
            };
            logs::log(
                core,
                &mut st,
                LogLevel::Error,
                "SocketAuthority.js:190",
                "Cannot validate socket - invalid token",
            );
            if core.version().has_jwt_sessions() {
                emit::to_socket(
                    core,
                    &st,
                    sid,
                    "auth_failed",
                    &serde_json::json!({ "message": message }),
                );
            } else {
                emit::to_socket_no_args(core, &st, sid, "invalid_token");
            }
            return;
        }
    };
    let Some(client) = st.clients.iter_mut().find(|c| c.sid == sid) else {
        return;
    };
    client.user_id = Some(user_id.clone());
    let version = core.version_string();
    let Some(user) = st.user(&user_id).cloned() else {
        return;
    };
    let public = payloads::user_public(&st, &user, &version);
    emit::to_admins(core, &st, "user_online", &public);
    if let Some(u) = st.user_mut(&user_id) {
        u.last_seen = Some(now_ms());
    }
    // A lying server signs the socket in as someone else than the token's owner.
    let shown = st
        .hostile
        .init_as
        .as_deref()
        .and_then(|id| st.user(id))
        .unwrap_or(&user);
    let init = InitPayload {
        user_id: shown.id.clone(),
        username: shown.username.clone(),
        users_online: user
            .user_type
            .is_admin_or_up()
            .then(|| payloads::users_online(&st, &version)),
    };
    emit::to_socket(core, &st, sid, "init", &init);
    let msg = format!("[SocketAuthority] User Online {}", user.username);
    logs::log(
        core,
        &mut st,
        LogLevel::Debug,
        "SocketAuthority.js:214",
        msg,
    );
    persist::save(core, &st);
}

/// JavaScript truthiness of a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

fn message_all_users(core: &CoreRef, sid: &str, payload: Option<Value>) {
    if !is_admin(core, sid) {
        let mut st = core.lock();
        logs::log(
            core,
            &mut st,
            LogLevel::Error,
            "SocketAuthority.js:155",
            "[SocketAuthority] Non-admin user sent the message_all_users event",
        );
        return;
    }
    // `payload.message || ''`; a missing payload throws in node, so nothing is sent.
    let Some(payload) = payload.filter(|p| !p.is_null()) else {
        return;
    };
    let message = payload
        .get("message")
        .filter(|m| truthy(m))
        .cloned()
        .unwrap_or_else(|| Value::String(String::new()));
    let st = core.lock();
    emit::to_all(core, &st, "admin_message", &message, None);
}

fn unauthorized(core: &CoreRef, sid: &str, event: &str) {
    let mut st = core.lock();
    let msg = format!("[SocketAuthority] Unauthorized {event} socket event from socket {sid}");
    logs::log(core, &mut st, LogLevel::Warn, "SocketAuthority.js:93", msg);
}

fn set_log_listener(core: &CoreRef, sid: &str, level: Option<Value>) {
    if core.version().admin_only_scan_and_logs() && !is_admin(core, sid) {
        unauthorized(core, sid, "set_log_listener");
        return;
    }
    let Some(level) = level
        .as_ref()
        .and_then(Value::as_u64)
        .filter(|l| *l <= 6)
        .and_then(|l| u8::try_from(l).ok())
    else {
        let mut st = core.lock();
        logs::log(
            core,
            &mut st,
            LogLevel::Warn,
            "SocketAuthority.js:99",
            "[SocketAuthority] Invalid log level for set_log_listener",
        );
        return;
    };
    let mut st = core.lock();
    match st.log_listeners.iter_mut().find(|(s, _)| s == sid) {
        Some(entry) => entry.1 = level,
        None => st.log_listeners.push((sid.to_string(), level)),
    }
}

fn cancel_scan(core: &CoreRef, sid: &str, library_id: Option<Value>) {
    if core.version().admin_only_scan_and_logs() && !is_admin(core, sid) {
        unauthorized(core, sid, "cancel_scan");
        return;
    }
    let Some(Value::String(library_id)) = library_id else {
        return;
    };
    let mut st = core.lock();
    let msg = format!("[SocketAuthority] Cancel scan {library_id}");
    logs::log(
        core,
        &mut st,
        LogLevel::Debug,
        "SocketAuthority.js:232",
        msg,
    );
    scan::cancel(core, &mut st, &library_id);
}

fn search_covers(core: &CoreRef, sid: &str, payload: Option<Value>) {
    let st = core.lock();
    let request_id = payload.as_ref().and_then(|p| p.get("requestId")).cloned();
    let authed = st.client(sid).is_some_and(|c| c.user_id.is_some());
    if !authed {
        let body = serde_json::json!({ "requestId": request_id, "error": "Unauthorized" });
        emit::to_socket(core, &st, sid, "cover_search_error", &body);
        return;
    }
    let has_title = payload
        .as_ref()
        .and_then(|p| p.get("title"))
        .is_some_and(|t| t.as_str().is_some_and(|s| !s.is_empty()));
    if request_id.is_none() || !has_title {
        let body = serde_json::json!({ "requestId": request_id, "error": "Invalid request" });
        emit::to_socket(core, &st, sid, "cover_search_error", &body);
        return;
    }
    // No metadata providers are reachable from the simulator: an empty, complete search.
    emit::to_socket(
        core,
        &st,
        sid,
        "cover_search_complete",
        &serde_json::json!({ "requestId": request_id }),
    );
}
