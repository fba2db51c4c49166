//! A hostile server: switches that make single behaviours lie (for tests, through [`crate::Sim`])
//! and `--scenario hostile`, which loops through everything else a hostile server can throw at a
//! client: wrong types in every field of every event, markup, control characters and
//! right-to-left overrides in names and titles, a 10 MB admin message, floods, 100,000 users.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::api;
use crate::http;
use crate::logs::LogLevel;
use crate::model::UserType;
use crate::payloads::{UserOnline, UserPublic};
use crate::playback::DeviceSpec;
use crate::state::CoreRef;

/// Per-server lies, all off by default; they survive restarts (they are the server's nature).
#[derive(Clone, Debug, Default)]
pub(crate) struct Modes {
    /// Sockets connect, but `auth` is never answered.
    pub ignore_auth: bool,
    /// `auth` is answered with `init` for this user id instead of the token's.
    pub init_as: Option<String>,
    /// `auth` is answered with `auth_failed` carrying this message, whatever the token.
    pub reject_auth: Option<String>,
    /// `POST /login` answers a 307 to this base URL.
    pub login_redirect: Option<String>,
    /// `/status`, `/api/me` and `/api/users/online` bodies carry invalid UTF-8.
    pub invalid_utf8: bool,
    /// Synthetic users counted online in `init.usersOnline` and `GET /api/users/online`.
    pub fake_online: usize,
}

/// Names and titles a hostile server (or a prankster with an account) picks.
pub const HOSTILE_NAMES: &[&str] = &[
    "<b>bold</b> <img src=x onerror=alert(1)>",
    "mallory\u{202E}gnp.exe",
    "ctrl\u{7}\u{1b}[31m\r\nname\u{0}",
    "&amp; &lt;script&gt;alert(1)&lt;/script&gt;",
    "\u{2066}isolate\u{2069} <a href=\"https://evil.example\">click</a>",
];

/// How many synthetic users `--scenario hostile` puts online.
pub const SCENARIO_USERS_ONLINE: usize = 100_000;
/// Size of the scenario's huge admin message.
pub const HUGE_MESSAGE_BYTES: usize = 10 * 1024 * 1024;

/// The id of synthetic online user `i`.
pub fn synthetic_user_id(i: usize) -> String {
    format!("hostile-user-{i:06}")
}

/// The `user_online` payload of synthetic user `i` (every 10th has a hostile name).
pub fn synthetic_user(i: usize) -> Value {
    let username = if i.is_multiple_of(10) {
        format!("{} {i}", HOSTILE_NAMES[(i / 10) % HOSTILE_NAMES.len()])
    } else {
        format!("Visitor {i}")
    };
    json!({
        "id": synthetic_user_id(i),
        "username": username,
        "type": "user",
        "session": null,
        "lastSeen": null,
        "createdAt": 0,
    })
}

/// The synthetic users a server with `n` fake online users adds to its lists.
pub(crate) fn fake_online(n: usize) -> impl Iterator<Item = UserOnline> {
    (0..n).map(|i| UserOnline {
        user: UserPublic {
            id: synthetic_user_id(i),
            username: format!("Visitor {i}"),
            user_type: UserType::User,
            session: None,
            last_seen: None,
            created_at: 0,
        },
        connections: 1,
    })
}

/// A valid-looking payload of every server event a client handles (`None`: sent without one).
fn templates() -> Vec<(&'static str, Option<Value>)> {
    let user = json!({
        "id": "hostile-template-user", "username": "template", "type": "user",
        "session": null, "lastSeen": 1_700_000_000_000_i64, "createdAt": 1_700_000_000_000_i64,
    });
    let session = json!({
        "id": "hostile-template-session", "userId": "hostile-template-user",
        "libraryItemId": "hostile-template-item", "episodeId": null, "mediaType": "book",
        "displayTitle": "Template", "displayAuthor": "Author", "duration": 100.0,
        "playMethod": 0, "mediaPlayer": "html5", "timeListening": 1.0, "startTime": 0.0,
        "currentTime": 1.0, "startedAt": 1_700_000_000_000_i64, "updatedAt": 1_700_000_000_000_i64,
        "deviceInfo": {"deviceId": "d", "clientName": "Abs Web", "model": "Pixel"},
        "user": {"id": "hostile-template-user", "username": "template"},
    });
    let mut streaming = user.clone();
    streaming["session"] = session;
    let account = json!({
        "id": "hostile-template-user", "username": "template", "email": null, "type": "user",
        "token": "t", "isActive": true, "isLocked": false, "lastSeen": null, "createdAt": 0,
    });
    let task = json!({
        "id": "hostile-template-task", "action": "library-scan",
        "data": {"libraryId": "hostile-template-library", "libraryName": "Library", "type": "scan"},
        "title": "Scanning", "description": null, "error": null, "isFailed": false,
        "isFinished": false, "startedAt": 1_700_000_000_000_i64, "finishedAt": null,
    });
    let item = json!({
        "id": "hostile-template-item", "libraryId": "hostile-template-library", "mediaType": "book",
        "media": {"metadata": {"title": "Template", "authorName": "Author"}},
    });
    let library = json!({"id": "hostile-template-library", "name": "Library", "mediaType": "book"});
    let log = json!({
        "timestamp": "2026-01-01 00:00:00.000", "source": "Server.js:1", "message": "line",
        "levelName": "INFO", "level": 2,
    });
    vec![
        (
            "init",
            Some(
                json!({"userId": "hostile-template-user", "username": "template", "usersOnline": []}),
            ),
        ),
        ("auth_failed", Some(json!({"message": "Invalid token"}))),
        ("invalid_token", None),
        ("user_online", Some(user.clone())),
        ("user_offline", Some(user.clone())),
        ("user_stream_update", Some(streaming)),
        ("user_added", Some(account.clone())),
        ("user_updated", Some(account.clone())),
        ("user_removed", Some(account)),
        (
            "user_item_progress_updated",
            Some(json!({
                "id": "hostile-template-progress", "sessionId": "hostile-template-session",
                "deviceDescription": "Pixel",
                "data": {
                    "id": "hostile-template-progress", "libraryItemId": "hostile-template-item",
                    "episodeId": null, "duration": 100.0, "progress": 0.5, "currentTime": 50.0,
                    "isFinished": false, "lastUpdate": 1_700_000_000_000_i64,
                },
            })),
        ),
        (
            "user_session_closed",
            Some(json!("hostile-template-session")),
        ),
        ("admin_message", Some(json!("template"))),
        ("log", Some(log.clone())),
        ("daily_logs", Some(json!({"currentDailyLogs": [log]}))),
        ("pong", None),
        ("task_started", Some(task.clone())),
        ("task_finished", Some(task)),
        ("item_added", Some(item.clone())),
        ("items_added", Some(json!([item]))),
        ("library_added", Some(library.clone())),
        ("library_updated", Some(library.clone())),
        ("library_removed", Some(library)),
        (
            "episode_download_finished",
            Some(json!({
                "id": "hostile-template-episode", "libraryItemId": "hostile-template-item",
                "failed": false, "isFinished": true,
            })),
        ),
        ("backup_applied", None),
        ("message", Some(json!("pong"))),
    ]
}

/// A value nested deeper than JSON parsers allow by default (128 levels).
fn too_deep() -> Value {
    (0..200).fold(json!(0), |inner, _| json!([inner]))
}

/// Values of every JSON kind (plus extremes), to put where another kind belongs.
fn wrong_values() -> Vec<Value> {
    vec![
        json!(42),
        json!(-1.5e308),
        json!("text"),
        json!(true),
        Value::Null,
        json!([]),
        json!([1, "x", null]),
        json!({}),
        json!({"nested": {"id": 7}}),
    ]
}

/// The JSON kind of a value, to skip replacing a value with one of its own kind.
fn kind(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// Every one-field mutation of an object: each field (and each field of a nested object)
/// replaced by a value of another kind, and each removed.
fn field_mutations(object: &Map<String, Value>, out: &mut Vec<Value>) {
    for (key, value) in object {
        for wrong in wrong_values() {
            if kind(&wrong) != kind(value) {
                let mut copy = object.clone();
                copy.insert(key.clone(), wrong);
                out.push(Value::Object(copy));
            }
        }
        let mut removed = object.clone();
        removed.remove(key);
        out.push(Value::Object(removed));
        if let Value::Object(inner) = value {
            let mut nested = Vec::new();
            field_mutations(inner, &mut nested);
            for changed in nested {
                let mut copy = object.clone();
                copy.insert(key.clone(), changed);
                out.push(Value::Object(copy));
            }
        }
    }
}

/// Events with wrong types for every field of every event a client handles: the whole payload
/// replaced by each other kind (null and nesting too deep to parse included), and every field
/// (one level of nesting deep) of another kind or missing. About 1,400 `(name, payload)`s.
///
/// A mutated `init` that still names a user (`userId` and `username` strings) is left out: that
/// is not a wrong type but an `init` for someone else, which ends a careful client's session
/// (test it with [`crate::Sim::init_as`]).
pub fn wrong_types() -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    for (name, template) in templates() {
        let mut payloads = Vec::new();
        for wrong in wrong_values() {
            if template.as_ref().is_none_or(|t| kind(t) != kind(&wrong)) {
                payloads.push(wrong);
            }
        }
        payloads.push(too_deep());
        match &template {
            Some(Value::Object(object)) => field_mutations(object, &mut payloads),
            Some(Value::Array(items)) => {
                for item in items {
                    if let Value::Object(object) = item {
                        let mut nested = Vec::new();
                        field_mutations(object, &mut nested);
                        payloads.extend(nested.into_iter().map(|m| json!([m])));
                    }
                }
            }
            _ => {}
        }
        out.extend(payloads.into_iter().map(|p| (name, p)));
    }
    out.retain(|(name, p)| {
        !(*name == "init" && p["userId"].is_string() && p["username"].is_string())
    });
    out
}

/// A JSON answer, or (when the server is set to lie) the same bytes with invalid UTF-8 at the
/// start of the first string value.
pub(crate) fn json_body<T: Serialize>(invalid_utf8: bool, code: StatusCode, value: &T) -> Response {
    if !invalid_utf8 {
        return http::json(code, value);
    }
    let Ok(mut bytes) = serde_json::to_vec(value) else {
        return http::status(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let at = bytes
        .windows(2)
        .position(|w| w == b":\"")
        .map_or(0, |i| i + 2);
    bytes.splice(at..at, [0xFF, 0xFE, 0xC3, 0x28]);
    let mut resp = Response::new(axum::body::Body::from(bytes));
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// The answer to `POST /login` of a server that sends sign-ins elsewhere.
pub(crate) fn login_redirect(to: &str) -> Response {
    let mut resp = http::status(StatusCode::TEMPORARY_REDIRECT);
    let target = format!("{}/login", to.trim_end_matches('/'));
    if let Ok(v) = HeaderValue::from_str(&target) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// Emits `user_online` for synthetic users `from..to`, `per_tick` at a time, one batch per
/// `tick`: a flood of `per_tick / tick` events a second.
async fn flood_users_online(
    core: &CoreRef,
    from: usize,
    to: usize,
    per_tick: usize,
    tick: Duration,
) {
    let mut interval = tokio::time::interval(tick);
    // A late tick must not turn into a burst of several batches at once: listeners of the
    // event stream (tests) would lag behind and lose events.
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut i = from;
    while i < to {
        interval.tick().await;
        let end = (i + per_tick).min(to);
        for n in i..end {
            api::emit_raw(core, "user_online", &synthetic_user(n));
        }
        i = end;
    }
}

/// Users and items with hostile names, created once; returns (user, item) pairs to play.
fn setup(core: &CoreRef) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let Some(library) = api::first_library(core) else {
        return pairs;
    };
    let items = api::item_ids(core, &library);
    let long_name = format!("long {}", "n".repeat(100_000));
    let names = HOSTILE_NAMES.iter().copied().chain([long_name.as_str()]);
    for (i, name) in names.enumerate() {
        let user = api::lookup_user(core, name)
            .or_else(|| api::add_user(core, name, "hostile", false).ok());
        let Some(item) = items.get(i % items.len().max(1)).cloned() else {
            continue;
        };
        {
            let mut st = core.lock();
            if let Some(it) = st.db.items.iter_mut().find(|it| it.id == item) {
                it.title = format!("{name} {}", "\u{202E}title");
            }
        }
        if let Some(user) = user {
            pairs.push((user, item));
        }
    }
    pairs
}

/// A device whose every field is hostile.
fn hostile_device(i: usize) -> DeviceSpec {
    let name = HOSTILE_NAMES[i % HOSTILE_NAMES.len()];
    DeviceSpec {
        device_id: Some(format!("hostile-device-{i}")),
        client_name: Some(name.into()),
        client_version: Some("\u{202E}1.0".into()),
        manufacturer: Some(name.into()),
        model: Some(name.into()),
        sdk_version: Some("<b>34</b>".into()),
        device_name: Some(name.into()),
    }
}

/// Runs `--scenario hostile` until the task is aborted: one round every `pause`.
pub(crate) async fn run(core: CoreRef) {
    core.lock().hostile.fake_online = SCENARIO_USERS_ONLINE;
    let pairs = setup(&core);
    let pause = Duration::from_secs(20);
    loop {
        // Hostile names and titles in sessions, on hostile devices.
        let mut sessions = Vec::new();
        for (i, (user, item)) in pairs.iter().enumerate() {
            if let Ok(s) = api::start_session(&core, user, item, hostile_device(i)) {
                sessions.push(s);
            }
        }
        for name in HOSTILE_NAMES {
            api::admin_message(&core, name);
            api::emit_log(&core, LogLevel::Warn, name);
        }
        // Wrong types in every field of every event.
        for (name, payload) in wrong_types() {
            api::emit_raw(&core, name, &payload);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let huge = format!(
            "{} {}",
            HOSTILE_NAMES[0],
            "x".repeat(HUGE_MESSAGE_BYTES - HOSTILE_NAMES[0].len() - 1)
        );
        api::admin_message(&core, &huge);
        drop(huge);
        // The flood: 100,000 users coming online at 20,000 a second.
        flood_users_online(
            &core,
            0,
            SCENARIO_USERS_ONLINE,
            2_000,
            Duration::from_millis(100),
        )
        .await;
        for s in &sessions {
            let _ = api::sync_session(&core, s, 30.0);
            let _ = api::close_session(&core, s);
        }
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_types_cover_every_event_and_field() {
        let all = wrong_types();
        for (name, _) in templates() {
            assert!(all.iter().any(|(n, _)| *n == name), "{name}");
        }
        // A wrong `id` type for user_online, a missing `username`, a nested wrong session field.
        let online: Vec<_> = all.iter().filter(|(n, _)| *n == "user_online").collect();
        assert!(online.iter().any(|(_, p)| p["id"] == json!(42)));
        assert!(
            online
                .iter()
                .any(|(_, p)| p.is_object() && p.get("username").is_none())
        );
        let streams: Vec<_> = all
            .iter()
            .filter(|(n, _)| *n == "user_stream_update")
            .collect();
        assert!(
            streams
                .iter()
                .any(|(_, p)| p["session"]["currentTime"] == json!("text"))
        );
        assert!(all.iter().any(|(_, p)| p.is_null()));
        assert!(
            !all.iter()
                .any(|(n, p)| *n == "init" && p["userId"].is_string() && p["username"].is_string())
        );
        assert!(all.len() > 1_000, "{}", all.len());
    }

    #[test]
    fn invalid_utf8_bodies_are_not_utf8_but_the_rest_is_intact() {
        let resp = json_body(true, StatusCode::OK, &json!({"app": "audiobookshelf"}));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bytes = rt
            .block_on(axum::body::to_bytes(resp.into_body(), 1024))
            .unwrap();
        assert!(std::str::from_utf8(&bytes).is_err());
        assert!(bytes.starts_with(b"{\"app\":\"\xFF\xFE"));
        assert!(bytes.ends_with(b"audiobookshelf\"}"));
    }

    #[test]
    fn synthetic_users_are_small_and_some_hostile() {
        let u = synthetic_user(10);
        assert_eq!(u["id"], "hostile-user-000010");
        assert!(u["username"].as_str().unwrap().contains('\u{202E}'));
        assert!(
            serde_json::to_string(&synthetic_user(99_999))
                .unwrap()
                .len()
                < 150
        );
    }
}
