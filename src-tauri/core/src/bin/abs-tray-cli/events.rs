//! Decoded server events for `watch`: a JSON projection (`data`) in ABS's own field names, and a
//! readable line. Built from the typed models, so no token can slip out: the models keep tokens
//! as `Secret`s, which are never written here, and unmodelled payloads lose token-named fields.

use abs_tray_core::protocol::{
    EpisodeDownload, Init, Library, LibraryItem, LogEvent, MediaProgress, MediaType,
    PlaybackSession, ProgressUpdate, PublicUser, RawArg, ServerEvent, Task, User, UserType,
};
use serde_json::{Map, Value, json};

/// Field names dropped from unmodelled payloads: they would carry credentials.
const SECRET_KEYS: &[&str] = &["token", "accessToken", "refreshToken", "apiKey", "password"];
/// Largest unmodelled argument shown: scrubbing needs it as a JSON tree, which costs several
/// times its text, so a bigger one (a hostile server's) is shown as its size only.
const MAX_SHOWN_ARG_BYTES: usize = 1024 * 1024;

/// The event's payload as JSON, for `{"type":"event","name":...,"data":...}`.
pub fn data(event: &ServerEvent) -> Value {
    match event {
        ServerEvent::Init(init) => init_json(init),
        ServerEvent::AuthFailed(failed) => json!({ "message": failed.message }),
        ServerEvent::InvalidToken | ServerEvent::Pong | ServerEvent::BackupApplied => Value::Null,
        ServerEvent::UserOnline(user)
        | ServerEvent::UserOffline(user)
        | ServerEvent::UserStreamUpdate(user) => public_user(user),
        ServerEvent::UserAdded(user)
        | ServerEvent::UserUpdated(user)
        | ServerEvent::UserRemoved(user) => user_json(user),
        ServerEvent::UserItemProgressUpdated(update) => progress_update(update),
        ServerEvent::UserSessionClosed { session_id } => json!({ "sessionId": session_id }),
        ServerEvent::AdminMessage { message } => json!({ "message": message }),
        ServerEvent::Log(log) => log_json(log),
        ServerEvent::DailyLogs(logs) => {
            json!({ "logs": logs.logs.iter().map(log_json).collect::<Vec<_>>() })
        }
        ServerEvent::TaskStarted(task) | ServerEvent::TaskFinished(task) => task_json(task),
        ServerEvent::ItemAdded(item) => item_json(item),
        ServerEvent::ItemsAdded(items) => Value::Array(items.iter().map(item_json).collect()),
        ServerEvent::LibraryAdded(library)
        | ServerEvent::LibraryUpdated(library)
        | ServerEvent::LibraryRemoved(library) => library_json(library),
        ServerEvent::EpisodeDownloadFinished(download) => episode_json(download),
        ServerEvent::Other { payload, .. } => match payload.as_slice() {
            [] => Value::Null,
            [one] => scrub_arg(one),
            many => Value::Array(many.iter().map(scrub_arg).collect()),
        },
        // `ServerEvent` may grow; a new variant still prints, with its name.
        #[allow(unreachable_patterns)]
        _ => Value::Null,
    }
}

/// One readable line describing the event (server text still needs [`crate::output::one_line`]).
pub fn describe(event: &ServerEvent) -> String {
    match event {
        ServerEvent::Init(init) => {
            let online = init
                .users_online
                .as_ref()
                .map(|users| format!(", admin; {} user(s) online", users.len()))
                .unwrap_or_default();
            format!("signed in on the socket as {}{online}", init.username)
        }
        ServerEvent::AuthFailed(failed) => format!(
            "the server refused the token: {}",
            failed.message.as_deref().unwrap_or("no reason given")
        ),
        ServerEvent::InvalidToken => "the server refused the token".into(),
        ServerEvent::UserOnline(user) => format!("{} came online", user.username),
        ServerEvent::UserOffline(user) => {
            format!("{} went offline (one connection)", user.username)
        }
        ServerEvent::UserStreamUpdate(user) => match &user.session {
            Some(session) => format!("{} is listening to {}", user.username, title(session)),
            None => format!("{} stopped listening", user.username),
        },
        ServerEvent::UserAdded(user) => format!("user added: {}", user.username),
        ServerEvent::UserUpdated(user) => format!("user updated: {}", user.username),
        ServerEvent::UserRemoved(user) => format!("user removed: {}", user.username),
        ServerEvent::UserItemProgressUpdated(update) => {
            let finished = if update.data.is_finished {
                ", finished"
            } else {
                ""
            };
            format!(
                "progress on {}: {:.0} %{finished}",
                update.data.library_item_id,
                update.data.progress * 100.0
            )
        }
        ServerEvent::UserSessionClosed { session_id } => {
            format!("listening session {session_id} closed")
        }
        ServerEvent::AdminMessage { message } => format!("message from an admin: {message}"),
        ServerEvent::Log(log) => format!(
            "server log [{}] {}",
            log.level_name.as_deref().unwrap_or("?"),
            log.message
        ),
        ServerEvent::DailyLogs(logs) => format!("{} server log lines of today", logs.logs.len()),
        ServerEvent::Pong => "pong".into(),
        ServerEvent::TaskStarted(task) => format!("task started: {}", task_title(task)),
        ServerEvent::TaskFinished(task) => {
            let outcome = match (&task.error, task.is_failed) {
                (Some(error), _) => format!(" (failed: {error})"),
                (None, true) => " (failed)".into(),
                (None, false) => task
                    .description
                    .as_ref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default(),
            };
            format!("task finished: {}{outcome}", task_title(task))
        }
        ServerEvent::ItemAdded(item) => format!("added to the library: {}", item_title(item)),
        ServerEvent::ItemsAdded(items) => format!("{} items added to the library", items.len()),
        ServerEvent::LibraryAdded(library) => format!("library added: {}", library.name),
        ServerEvent::LibraryUpdated(library) => format!("library updated: {}", library.name),
        ServerEvent::LibraryRemoved(library) => format!("library removed: {}", library.name),
        ServerEvent::EpisodeDownloadFinished(download) => format!(
            "episode {}: {}{}",
            if download.failed {
                "download failed"
            } else {
                "downloaded"
            },
            download.podcast_title.as_deref().unwrap_or("podcast"),
            download
                .episode_display_title
                .as_ref()
                .map(|t| format!(" — {t}"))
                .unwrap_or_default()
        ),
        ServerEvent::BackupApplied => "a backup was restored on the server".into(),
        other => format!("{} (not decoded by ABS Tray)", other.name()),
    }
}

/// "Title by Author" of a session.
fn title(session: &PlaybackSession) -> String {
    let name = session.display_title.as_deref().unwrap_or("an item");
    match &session.display_author {
        Some(author) => format!("\"{name}\" by {author}"),
        None => format!("\"{name}\""),
    }
}

/// "Title by Author" of an item.
fn item_title(item: &LibraryItem) -> String {
    let name = item.title.as_deref().unwrap_or(&item.id);
    match &item.author {
        Some(author) => format!("\"{name}\" by {author}"),
        None => format!("\"{name}\""),
    }
}

/// A task's title, or its action.
fn task_title(task: &Task) -> &str {
    task.title.as_deref().unwrap_or(&task.action)
}

/// The wire name of a user type.
fn user_type(kind: UserType) -> &'static str {
    match kind {
        UserType::Root => "root",
        UserType::Admin => "admin",
        UserType::User => "user",
        UserType::Guest => "guest",
        _ => "unknown",
    }
}

/// The wire name of a media type.
fn media_type(kind: MediaType) -> Value {
    match kind {
        MediaType::Book => "book".into(),
        MediaType::Podcast => "podcast".into(),
        _ => Value::Null,
    }
}

/// `init`.
fn init_json(init: &Init) -> Value {
    json!({
        "userId": init.user_id,
        "username": init.username,
        "usersOnline": init.users_online.as_ref().map(|users| users.iter().map(public_user).collect::<Vec<_>>()),
    })
}

/// `User.toJSONForPublic`.
fn public_user(user: &PublicUser) -> Value {
    json!({
        "id": user.id,
        "username": user.username,
        "type": user_type(user.user_type),
        "session": user.session.as_deref().map(session_json),
        "lastSeen": user.last_seen,
        "createdAt": user.created_at,
        "connections": user.connections,
    })
}

/// A full user, without any of its tokens.
fn user_json(user: &User) -> Value {
    json!({
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "type": user_type(user.user_type),
        "isActive": user.is_active,
        "isLocked": user.is_locked,
        "lastSeen": user.last_seen,
        "createdAt": user.created_at,
    })
}

/// A playback session.
fn session_json(session: &PlaybackSession) -> Value {
    json!({
        "id": session.id,
        "userId": session.user_id,
        "libraryId": session.library_id,
        "libraryItemId": session.library_item_id,
        "episodeId": session.episode_id,
        "mediaType": media_type(session.media_type),
        "displayTitle": session.display_title,
        "displayAuthor": session.display_author,
        "duration": session.duration,
        "playMethod": session.play_method.code(),
        "mediaPlayer": session.media_player,
        "deviceName": session.device_info.as_ref().and_then(|d| d.device_name.clone()),
        "clientName": session.device_info.as_ref().and_then(|d| d.client_name.clone()),
        "timeListening": session.time_listening,
        "startTime": session.start_time,
        "currentTime": session.current_time,
        "startedAt": session.started_at,
        "updatedAt": session.updated_at,
    })
}

/// `user_item_progress_updated`.
fn progress_update(update: &ProgressUpdate) -> Value {
    json!({
        "id": update.id,
        "sessionId": update.session_id,
        "deviceDescription": update.device_description,
        "data": progress_json(&update.data),
    })
}

/// Media progress.
fn progress_json(progress: &MediaProgress) -> Value {
    json!({
        "id": progress.id,
        "userId": progress.user_id,
        "libraryItemId": progress.library_item_id,
        "episodeId": progress.episode_id,
        "mediaItemType": progress.media_item_type,
        "duration": progress.duration,
        "progress": progress.progress,
        "currentTime": progress.current_time,
        "isFinished": progress.is_finished,
        "lastUpdate": progress.last_update,
        "startedAt": progress.started_at,
        "finishedAt": progress.finished_at,
    })
}

/// A server log line.
fn log_json(log: &LogEvent) -> Value {
    json!({
        "timestamp": log.timestamp,
        "source": log.source,
        "message": log.message,
        "levelName": log.level_name,
        "level": log.level,
    })
}

/// A task (scan, download, ...).
fn task_json(task: &Task) -> Value {
    let data = task.data.as_ref().map(|data| {
        json!({
            "libraryId": data.library_id,
            "libraryName": data.library_name,
            "libraryItemId": data.library_item_id,
            "scanResults": data.scan_results.as_ref().map(|r| json!({
                "added": r.added,
                "updated": r.updated,
                "missing": r.missing,
                "removed": r.removed,
                "elapsed": r.elapsed,
                "text": r.text,
            })),
        })
    });
    json!({
        "id": task.id,
        "action": task.action,
        "data": data,
        "title": task.title,
        "description": task.description,
        "error": task.error,
        "isFailed": task.is_failed,
        "isFinished": task.is_finished,
        "startedAt": task.started_at,
        "finishedAt": task.finished_at,
    })
}

/// A library item (flattened metadata).
fn item_json(item: &LibraryItem) -> Value {
    json!({
        "id": item.id,
        "libraryId": item.library_id,
        "mediaType": media_type(item.media_type),
        "title": item.title,
        "subtitle": item.subtitle,
        "author": item.author,
        "narrator": item.narrator,
        "series": item.series,
    })
}

/// A library.
fn library_json(library: &Library) -> Value {
    json!({
        "id": library.id,
        "name": library.name,
        "mediaType": media_type(library.media_type),
    })
}

/// A finished podcast episode download.
fn episode_json(download: &EpisodeDownload) -> Value {
    json!({
        "id": download.id,
        "episodeDisplayTitle": download.episode_display_title,
        "libraryItemId": download.library_item_id,
        "libraryId": download.library_id,
        "podcastTitle": download.podcast_title,
        "failed": download.failed,
        "isFinished": download.is_finished,
    })
}

/// An unmodelled argument without fields that would carry credentials, or its size if too big.
fn scrub_arg(arg: &RawArg) -> Value {
    let len = arg.json().len();
    if len > MAX_SHOWN_ARG_BYTES {
        return json!({ "omittedBytes": len });
    }
    arg.to_value().map_or(Value::Null, |value| scrub(&value))
}

/// An unmodelled payload without fields that would carry credentials.
fn scrub(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(key, _)| !SECRET_KEYS.contains(&key.as_str()))
                .map(|(key, value)| (key.clone(), scrub(value)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(scrub).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abs_tray_core::protocol::decode;

    #[test]
    fn users_are_projected_without_their_tokens() {
        let user = json!({
            "id": "u1", "username": "alice", "type": "admin", "isActive": true,
            "token": "legacy-secret", "accessToken": "access-secret", "refreshToken": "refresh-secret"
        });
        let event = decode("user_updated", &[user.into()]).unwrap();
        let text = data(&event).to_string();
        assert!(text.contains("\"username\":\"alice\""), "{text}");
        assert!(!text.contains("secret"), "{text}");
        assert_eq!(describe(&event), "user updated: alice");
    }

    #[test]
    fn unmodelled_events_keep_their_payload_minus_credentials() {
        let payload = json!({"a": 1, "nested": [{"token": "x", "b": 2}], "apiKey": "k"});
        let event = decode("something_new", &[payload.into()]).unwrap();
        assert_eq!(data(&event), json!({"a": 1, "nested": [{"b": 2}]}));
        assert!(describe(&event).starts_with("something_new"));
        let huge = RawArg::from(json!({"blob": "x".repeat(MAX_SHOWN_ARG_BYTES)}));
        let event = decode("something_new", std::slice::from_ref(&huge)).unwrap();
        assert_eq!(data(&event), json!({"omittedBytes": huge.json().len()}));
    }

    #[test]
    fn admin_messages_and_presence_read_well() {
        let event = decode("admin_message", &[json!("Server restarts at 10").into()]).unwrap();
        assert_eq!(data(&event), json!({"message": "Server restarts at 10"}));
        assert_eq!(
            describe(&event),
            "message from an admin: Server restarts at 10"
        );
        let online = decode(
            "user_online",
            &[json!({"id": "u2", "username": "bob", "type": "user", "session": null, "lastSeen": 1, "createdAt": 1}).into()],
        )
        .unwrap();
        assert_eq!(describe(&online), "bob came online");
        assert_eq!(data(&online)["type"], "user");
    }
}
