//! Creating and removing users (`POST /api/users`, `DELETE /api/users/:id`, the seeded root).

use crate::auth;
use crate::emit;
use crate::error::SimError;
use crate::logs::{self, LogLevel};
use crate::model::{Permissions, User, UserType};
use crate::payloads;
use crate::persist;
use crate::state::{Core, State, now_ms, now_secs};
use crate::tokens;

/// Builds a user row (with its legacy token) without storing it.
pub(crate) fn new_user(
    st: &State,
    username: &str,
    password: &str,
    user_type: UserType,
    active: bool,
) -> Result<User, SimError> {
    let id = uuid::Uuid::new_v4().to_string();
    let salt = auth::new_salt();
    Ok(User {
        token: tokens::legacy(&st.db.secret, &id, username, now_secs())?,
        id,
        username: username.to_string(),
        email: None,
        user_type,
        password_hash: auth::hash_password(&salt, password),
        password_salt: salt,
        is_active: active,
        is_locked: false,
        last_seen: None,
        created_at: now_ms(),
        permissions: Permissions::defaults_for(user_type),
        libraries_accessible: Vec::new(),
        item_tags_selected: Vec::new(),
        media_progress: Vec::new(),
    })
}

/// Makes sure `root`/`root` exists (type root).
pub(crate) fn ensure_root(st: &mut State) -> Result<(), SimError> {
    if st.db.users.iter().any(|u| u.user_type == UserType::Root) {
        return Ok(());
    }
    let root = new_user(st, "root", "root", UserType::Root, true)?;
    st.db.users.insert(0, root);
    Ok(())
}

/// Creates a user and emits `user_added` (browser JSON incl. the legacy token) to admins.
pub(crate) fn create_user(
    core: &Core,
    st: &mut State,
    username: &str,
    password: &str,
    user_type: UserType,
    active: bool,
) -> Result<String, SimError> {
    if st
        .db
        .users
        .iter()
        .any(|u| u.username.eq_ignore_ascii_case(username))
    {
        return Err(SimError::UsernameTaken(username.to_string()));
    }
    let user = new_user(st, username, password, user_type, active)?;
    let id = user.id.clone();
    let json = payloads::user_browser(&user);
    st.db.users.push(user);
    emit::to_admins(core, st, "user_added", &json);
    persist::save(core, st);
    Ok(id)
}

/// Deletes a user and emits `user_removed` to admins. Their sockets stay connected and bound,
/// like on the real server.
pub(crate) fn remove_user(core: &Core, st: &mut State, user_id: &str) -> Result<(), SimError> {
    let idx = st
        .db
        .users
        .iter()
        .position(|u| u.id == user_id)
        .ok_or_else(|| SimError::UnknownUser(user_id.to_string()))?;
    let json = payloads::user_browser(&st.db.users[idx]);
    let username = st.db.users[idx].username.clone();
    st.db.users.remove(idx);
    st.db.refresh_sessions.retain(|s| s.user_id != user_id);
    emit::to_admins(core, st, "user_removed", &json);
    logs::log(
        core,
        st,
        LogLevel::Info,
        "UserController.js:268",
        format!("[UserController] Deleted user \"{username}\""),
    );
    persist::save(core, st);
    Ok(())
}

/// Checks a login; `None` for unknown user, wrong password or inactive account.
pub(crate) fn check_login(st: &State, username: &str, password: &str) -> Option<String> {
    let user = st
        .db
        .users
        .iter()
        .find(|u| u.username.eq_ignore_ascii_case(username))?;
    (user.is_active && auth::hash_password(&user.password_salt, password) == user.password_hash)
        .then(|| user.id.clone())
}
