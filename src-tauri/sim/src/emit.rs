//! The real server's emitters (`socket.emit`, `clientEmitter`, `adminEmitter`, `emitter`),
//! each also recording a [`SimEvent`] for tests.

use serde::Serialize;

use crate::events::{Audience, SimEvent};
use crate::model::User;
use crate::payloads::NoArgs;
use crate::state::{Client, Core, State};

/// Writes to the target sockets and records the event. Takes the locked state so that emits are
/// always ordered with the state changes they describe.
fn deliver<T: Serialize + ?Sized>(
    core: &Core,
    _locked: &State,
    audience: Audience,
    name: &str,
    payload: Option<&T>,
    targets: Vec<&Client>,
) -> usize {
    let mut socket_ids = Vec::new();
    let mut user_ids: Vec<String> = Vec::new();
    for c in targets {
        let sent = match payload {
            Some(p) => c.socket.emit(name, p).is_ok(),
            None => c.socket.emit(name, &NoArgs).is_ok(),
        };
        if !sent {
            continue;
        }
        socket_ids.push(c.sid.clone());
        if let Some(uid) = &c.user_id
            && !user_ids.contains(uid)
        {
            user_ids.push(uid.clone());
        }
    }
    let reached = socket_ids.len();
    let _ = core.events.send(SimEvent {
        name: name.to_string(),
        payload: payload.and_then(|p| serde_json::to_value(p).ok()),
        audience,
        socket_ids,
        user_ids,
    });
    reached
}

/// `socket.emit(name, payload)`.
pub(crate) fn to_socket<T: Serialize + ?Sized>(
    core: &Core,
    st: &State,
    sid: &str,
    name: &str,
    payload: &T,
) {
    let targets = st.clients.iter().filter(|c| c.sid == sid).collect();
    deliver(
        core,
        st,
        Audience::Socket(sid.to_string()),
        name,
        Some(payload),
        targets,
    );
}

/// `socket.emit(name)` with no arguments: `42["name"]`.
pub(crate) fn to_socket_no_args(core: &Core, st: &State, sid: &str, name: &str) {
    let targets = st.clients.iter().filter(|c| c.sid == sid).collect();
    deliver::<()>(
        core,
        st,
        Audience::Socket(sid.to_string()),
        name,
        None,
        targets,
    );
}

/// `clientEmitter(userId, name, payload)`: every authenticated socket of that user.
pub(crate) fn to_user<T: Serialize + ?Sized>(
    core: &Core,
    st: &State,
    user_id: &str,
    name: &str,
    payload: &T,
) {
    let targets = st
        .clients
        .iter()
        .filter(|c| c.user_id.as_deref() == Some(user_id))
        .collect();
    deliver(
        core,
        st,
        Audience::User(user_id.to_string()),
        name,
        Some(payload),
        targets,
    );
}

/// `adminEmitter(name, payload)`: every socket whose user is root or admin.
pub(crate) fn to_admins<T: Serialize + ?Sized>(core: &Core, st: &State, name: &str, payload: &T) {
    let targets = st
        .clients
        .iter()
        .filter(|c| {
            c.user_id
                .as_deref()
                .and_then(|u| st.user(u))
                .is_some_and(|u| u.user_type.is_admin_or_up())
        })
        .collect();
    deliver(core, st, Audience::Admins, name, Some(payload), targets);
}

/// `emitter(name, payload[, filter])`: every authenticated socket (whose user passes `filter`);
/// returns how many sockets it was written to.
pub(crate) fn to_all<T: Serialize + ?Sized>(
    core: &Core,
    st: &State,
    name: &str,
    payload: &T,
    filter: Option<&dyn Fn(&User) -> bool>,
) -> usize {
    let targets = st
        .clients
        .iter()
        .filter(|c| match (&c.user_id, filter) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(uid), Some(f)) => st.user(uid).is_some_and(f),
        })
        .collect();
    deliver(core, st, Audience::All, name, Some(payload), targets)
}

/// `emitter(name)` with no arguments (e.g. `backup_applied`): every authenticated socket.
pub(crate) fn to_all_no_args(core: &Core, st: &State, name: &str) {
    let targets = st.clients.iter().filter(|c| c.user_id.is_some()).collect();
    deliver::<()>(core, st, Audience::All, name, None, targets);
}

/// Records a socket lifecycle marker (`(connect)` / `(disconnect)`) without sending anything.
pub(crate) fn marker(core: &Core, sid: &str, user_id: Option<&str>, name: &str, detail: &str) {
    let _ = core.events.send(SimEvent {
        name: name.to_string(),
        payload: Some(serde_json::Value::String(detail.to_string())),
        audience: Audience::Socket(sid.to_string()),
        socket_ids: vec![sid.to_string()],
        user_ids: user_id.map(|u| vec![u.to_string()]).unwrap_or_default(),
    });
}
