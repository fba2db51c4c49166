//! The simulator's actions, shared by the Rust API ([`crate::Sim`]), the `/__sim/` control API
//! and the demo scenario. They go through the same code as the REST and socket handlers.

use std::time::Duration;

use serde_json::{Value, json};

use crate::auth;
use crate::emit;
use crate::error::SimError;
use crate::logs::{self, LogLevel};
use crate::model::UserType;
use crate::playback::{self, DeviceSpec, PlayOptions, SyncData};
use crate::scan;
use crate::state::CoreRef;
use crate::users;

/// Tokens minted for a user, as `/login` would hand them out.
#[derive(Clone, Debug)]
pub struct Tokens {
    /// The user's id.
    pub user_id: String,
    /// Access token (`type: access`).
    pub access_token: String,
    /// Refresh token (`type: refresh`), backed by a refresh session.
    pub refresh_token: String,
    /// The legacy, non-expiring `user.token`.
    pub legacy_token: String,
}

fn user_id(core: &CoreRef, user: &str) -> Result<String, SimError> {
    core.lock()
        .find_user(user)
        .map(|u| u.id.clone())
        .ok_or_else(|| SimError::UnknownUser(user.to_string()))
}

/// The id of a user given by name or id.
pub(crate) fn lookup_user(core: &CoreRef, user: &str) -> Option<String> {
    user_id(core, user).ok()
}

pub(crate) fn first_library(core: &CoreRef) -> Option<String> {
    core.lock().db.libraries.first().map(|l| l.id.clone())
}

pub(crate) fn first_item(core: &CoreRef) -> Option<String> {
    core.lock()
        .db
        .items
        .iter()
        .find(|i| !i.is_missing)
        .map(|i| i.id.clone())
}

pub(crate) fn item_ids(core: &CoreRef, library: &str) -> Vec<String> {
    core.lock()
        .db
        .items
        .iter()
        .filter(|i| i.library_id == library)
        .map(|i| i.id.clone())
        .collect()
}

/// Users, libraries, items and open sessions, for `/__sim/state`.
pub(crate) fn summary(core: &CoreRef) -> Value {
    let st = core.lock();
    json!({
        "serverVersion": core.version_string(),
        "users": st.db.users.iter().map(|u| json!({"id": u.id, "username": u.username, "type": u.user_type, "isActive": u.is_active})).collect::<Vec<_>>(),
        "libraries": st.db.libraries.iter().map(|l| json!({"id": l.id, "name": l.name})).collect::<Vec<_>>(),
        "items": st.db.items.iter().map(|i| json!({"id": i.id, "libraryId": i.library_id, "title": i.title, "author": i.author_name(), "duration": i.duration})).collect::<Vec<_>>(),
        "openSessions": st.sessions.iter().map(|s| json!({"id": s.id, "userId": s.user_id, "libraryItemId": s.library_item_id, "currentTime": s.current_time})).collect::<Vec<_>>(),
        "tasks": st.tasks.iter().map(|t| json!({"id": t.id, "libraryId": t.library_id})).collect::<Vec<_>>(),
        "sockets": st.clients.iter().map(|c| json!({"id": c.sid, "userId": c.user_id})).collect::<Vec<_>>(),
    })
}

pub(crate) fn add_user(
    core: &CoreRef,
    name: &str,
    password: &str,
    admin: bool,
) -> Result<String, SimError> {
    let t = if admin {
        UserType::Admin
    } else {
        UserType::User
    };
    let mut st = core.lock();
    users::create_user(core, &mut st, name, password, t, true)
}

pub(crate) fn remove_user(core: &CoreRef, user: &str) -> Result<(), SimError> {
    let id = user_id(core, user)?;
    let mut st = core.lock();
    users::remove_user(core, &mut st, &id)
}

pub(crate) fn set_user_active(core: &CoreRef, user: &str, active: bool) -> Result<(), SimError> {
    let id = user_id(core, user)?;
    let mut st = core.lock();
    if let Some(u) = st.user_mut(&id) {
        u.is_active = active;
    }
    crate::persist::save(core, &st);
    Ok(())
}

pub(crate) fn issue_tokens(core: &CoreRef, user: &str) -> Result<Tokens, SimError> {
    let id = user_id(core, user)?;
    let mut st = core.lock();
    let (access, refresh) = auth::create_tokens_and_session(core, &mut st, &id, "127.0.0.1", None)?;
    let legacy = st.user(&id).map(|u| u.token.clone()).unwrap_or_default();
    crate::persist::save(core, &st);
    Ok(Tokens {
        user_id: id,
        access_token: access,
        refresh_token: refresh,
        legacy_token: legacy,
    })
}

pub(crate) fn start_session(
    core: &CoreRef,
    user: &str,
    item: &str,
    device: DeviceSpec,
) -> Result<String, SimError> {
    let id = user_id(core, user)?;
    let mut st = core.lock();
    let opts = PlayOptions {
        device,
        media_player: Some("html5".to_string()),
        supported_mime_types: vec!["audio/mp4".to_string(), "audio/mpeg".to_string()],
        force_direct_play: true,
        force_transcode: false,
        ip: Some("127.0.0.1".to_string()),
    };
    let session = playback::start(core, &mut st, &id, item, opts)?;
    Ok(session.base.id)
}

pub(crate) fn sync_session(
    core: &CoreRef,
    session: &str,
    current_time: f64,
) -> Result<(), SimError> {
    let mut st = core.lock();
    let s = st
        .session(session)
        .ok_or_else(|| SimError::UnknownSession(session.to_string()))?;
    let owner = s.user_id.clone();
    let listened = (current_time - s.current_time).max(0.0);
    let duration = s.item.duration;
    playback::sync(
        core,
        &mut st,
        &owner,
        session,
        SyncData {
            current_time,
            time_listened: Some(listened),
            duration: Some(duration),
        },
    )
}

pub(crate) fn close_session(core: &CoreRef, session: &str) -> Result<(), SimError> {
    let mut st = core.lock();
    let owner = st
        .session(session)
        .map(|s| s.user_id.clone())
        .ok_or_else(|| SimError::UnknownSession(session.to_string()))?;
    playback::close(core, &mut st, &owner, session, None)?;
    crate::persist::save(core, &st);
    Ok(())
}

pub(crate) fn finish_book(core: &CoreRef, user: &str, item: &str) -> Result<(), SimError> {
    let id = user_id(core, user)?;
    let mut st = core.lock();
    playback::finish_book(core, &mut st, &id, item)
}

pub(crate) fn start_scan(core: &CoreRef, library: &str) -> Result<String, SimError> {
    let mut st = core.lock();
    scan::start(core, &mut st, library)
}

pub(crate) fn start_watcher_scan(core: &CoreRef, library: &str) -> Result<String, SimError> {
    let mut st = core.lock();
    scan::start_watcher(core, &mut st, library)
}

pub(crate) fn finish_scan(
    core: &CoreRef,
    task: &str,
    added: u32,
    updated: u32,
    missing: u32,
) -> Result<(), SimError> {
    let mut st = core.lock();
    scan::finish(core, &mut st, task, added, updated, missing)
}

pub(crate) fn add_items(core: &CoreRef, library: &str, n: usize) -> Result<Vec<String>, SimError> {
    let mut st = core.lock();
    scan::add_items(core, &mut st, library, n)
}

pub(crate) fn admin_message(core: &CoreRef, text: &str) {
    let st = core.lock();
    emit::to_all(core, &st, "admin_message", text, None);
}

pub(crate) fn emit_raw(core: &CoreRef, name: &str, payload: &serde_json::Value) -> usize {
    let st = core.lock();
    emit::to_all(core, &st, name, payload, None)
}

pub(crate) fn backup_applied(core: &CoreRef) {
    let st = core.lock();
    emit::to_all_no_args(core, &st, "backup_applied");
}

pub(crate) fn emit_log(core: &CoreRef, level: LogLevel, message: &str) {
    let mut st = core.lock();
    logs::log(core, &mut st, level, "Server.js:240", message);
}

pub(crate) fn revoke_tokens(core: &CoreRef, user: &str) -> Result<(), SimError> {
    let id = user_id(core, user)?;
    let mut st = core.lock();
    auth::revoke_user_tokens(&mut st, &id);
    crate::persist::save(core, &st);
    Ok(())
}

pub(crate) fn expire_access_tokens(core: &CoreRef) {
    auth::expire_access_tokens(&mut core.lock());
}

pub(crate) fn drop_sockets(core: &CoreRef) {
    if let Some(server) = core.server.get() {
        server.cut_connections();
    }
}

pub(crate) async fn restart_after(core: &CoreRef, after: Duration) {
    if let Some(server) = core.server.get() {
        server.restart_after(core, after).await;
    }
}

pub(crate) fn stall(core: &CoreRef, on: bool) {
    if let Some(server) = core.server.get() {
        server.stall(on);
    }
}

pub(crate) async fn shutdown(core: &CoreRef) {
    let tasks: Vec<_> = core
        .background
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain(..)
        .collect();
    for t in tasks {
        t.abort();
    }
    if let Some(server) = core.server.get() {
        server.stop(core).await;
    }
    let st = core.lock();
    crate::persist::save(core, &st);
}
