//! Playback sessions and media progress (`PlaybackSessionManager`, `MediaProgress`): start with
//! the implicit close of the same user+device, sync, close with the "still contains the closing
//! session" quirk, finishing within 10 s of the end.

use std::time::Duration;

use crate::emit;
use crate::error::SimError;
use crate::logs::{self, LogLevel};
use crate::model::{Device, MediaProgress, PlayMethod, PlaybackSession};
use crate::payloads::{self, ProgressUpdated, SessionClient};
use crate::persist;
use crate::state::{Core, CoreRef, State, now_ms};

/// `markAsFinishedTimeRemaining` of the library (default).
const FINISH_WITHIN_SECS: f64 = 10.0;

/// The `deviceInfo` a client sends with `POST /api/items/:id/play`.
#[derive(Clone, Debug, Default)]
pub struct DeviceSpec {
    /// `deviceId`: sessions of the same user on the same device id replace each other.
    pub device_id: Option<String>,
    /// `clientName`, e.g. "Abs Android".
    pub client_name: Option<String>,
    /// `clientVersion`; the server version when absent.
    pub client_version: Option<String>,
    /// `manufacturer`.
    pub manufacturer: Option<String>,
    /// `model`; decides `deviceDescription`.
    pub model: Option<String>,
    /// `sdkVersion` (Android).
    pub sdk_version: Option<String>,
    /// `deviceName`.
    pub device_name: Option<String>,
}

impl DeviceSpec {
    /// A device known only by its id (like a minimal client).
    pub fn id(device_id: &str) -> Self {
        DeviceSpec {
            device_id: Some(device_id.to_string()),
            ..DeviceSpec::default()
        }
    }
}

impl From<&str> for DeviceSpec {
    fn from(device_id: &str) -> Self {
        DeviceSpec::id(device_id)
    }
}

impl From<&String> for DeviceSpec {
    fn from(device_id: &String) -> Self {
        DeviceSpec::id(device_id)
    }
}

impl From<String> for DeviceSpec {
    fn from(device_id: String) -> Self {
        DeviceSpec::id(&device_id)
    }
}

/// The rest of the play request.
#[derive(Clone, Debug, Default)]
pub(crate) struct PlayOptions {
    pub device: DeviceSpec,
    pub media_player: Option<String>,
    pub supported_mime_types: Vec<String>,
    pub force_direct_play: bool,
    pub force_transcode: bool,
    pub ip: Option<String>,
}

/// A sync body `{currentTime, timeListened, duration}`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SyncData {
    pub current_time: f64,
    pub time_listened: Option<f64>,
    pub duration: Option<f64>,
}

/// A progress change (`applyProgressUpdate` payload).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ProgressUpdate {
    pub duration: Option<f64>,
    pub current_time: Option<f64>,
    pub progress: Option<f64>,
    pub is_finished: Option<bool>,
}

/// `getDeviceInfo`: the device record for this request, found again by `deviceId`.
fn resolve_device(
    core: &Core,
    st: &mut State,
    user_id: &str,
    spec: &DeviceSpec,
    ip: Option<String>,
) -> Device {
    let client_version = spec
        .client_version
        .clone()
        .filter(|v| !v.is_empty())
        .or_else(|| Some(core.version_string()));
    let client_name = spec.client_name.clone().or_else(|| {
        if spec.sdk_version.as_deref().is_some_and(|s| !s.is_empty()) {
            Some("Abs Android".to_string())
        } else if spec.model.as_deref().is_some_and(|s| !s.is_empty()) {
            Some("Abs iOS".to_string())
        } else {
            Some("Unknown".to_string())
        }
    });
    if let Some(device_id) = &spec.device_id
        && let Some(existing) = st.db.devices.iter_mut().find(|d| &d.device_id == device_id)
    {
        existing.user_id = user_id.to_string();
        existing.ip_address = ip;
        existing.client_version = client_version;
        existing.manufacturer = spec.manufacturer.clone();
        existing.model = spec.model.clone();
        existing.sdk_version = spec.sdk_version.clone();
        existing.client_name = client_name;
        existing.device_name = spec.device_name.clone();
        return existing.clone();
    }
    let id = uuid::Uuid::new_v4().to_string();
    let device = Device {
        device_id: spec.device_id.clone().unwrap_or_else(|| id.clone()),
        id,
        user_id: user_id.to_string(),
        ip_address: ip,
        client_version,
        manufacturer: spec.manufacturer.clone(),
        model: spec.model.clone(),
        sdk_version: spec.sdk_version.clone(),
        client_name,
        device_name: spec.device_name.clone(),
    };
    st.db.devices.push(device.clone());
    device
}

/// `startSession`; returns the `POST /play` response (`toJSONForClient(libraryItem)`).
pub(crate) fn start(
    core: &CoreRef,
    st: &mut State,
    user_id: &str,
    item_id: &str,
    opts: PlayOptions,
) -> Result<SessionClient, SimError> {
    let item = st
        .item(item_id)
        .cloned()
        .ok_or_else(|| SimError::UnknownItem(item_id.to_string()))?;
    let user = st
        .user(user_id)
        .cloned()
        .ok_or_else(|| SimError::UnknownUser(user_id.to_string()))?;
    let device = resolve_device(core, st, user_id, &opts.device, opts.ip.clone());

    let same_device: Vec<String> = st
        .sessions
        .iter()
        .filter(|s| s.user_id == user_id && s.device.id == device.id)
        .map(|s| s.id.clone())
        .collect();
    for sid in same_device {
        if let Some(s) = st.session(&sid) {
            let msg = format!(
                "[PlaybackSessionManager] startSession: Closing open session \"{}\" for user \"{}\" (Device: {})",
                s.item.title,
                user.username,
                s.device.description()
            );
            logs::log(
                core,
                st,
                LogLevel::Info,
                "PlaybackSessionManager.js:267",
                msg,
            );
        }
        close(core, st, user_id, &sid, None)?;
    }

    let direct = opts.force_direct_play
        || (!opts.force_transcode
            && opts
                .supported_mime_types
                .iter()
                .any(|m| m == item.mime_type()));
    let start_time = user
        .media_progress
        .iter()
        .find(|p| p.media_item_id == item.media_id)
        .map(|p| if p.is_finished { 0.0 } else { p.current_time })
        .unwrap_or(0.0);
    let now = now_ms();
    let local = chrono::Local::now();
    let session = PlaybackSession {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user_id.to_string(),
        library_id: item.library_id.clone(),
        library_item_id: item.id.clone(),
        book_id: item.media_id.clone(),
        device,
        play_method: if direct {
            PlayMethod::DirectPlay
        } else {
            PlayMethod::Transcode
        },
        media_player: opts.media_player.unwrap_or_else(|| "unknown".to_string()),
        date: local.format("%Y-%m-%d").to_string(),
        day_of_week: local.format("%A").to_string(),
        time_listening: 0.0,
        start_time,
        current_time: start_time,
        started_at: now,
        updated_at: now,
        item: item.clone(),
    };
    let version = core.version_string();
    let response = payloads::session_client(&session, &version, Some(&item));
    let session_id = session.id.clone();
    let transcode = session.play_method == PlayMethod::Transcode;
    st.sessions.push(session);
    let public = payloads::user_public(st, &user, &version);
    emit::to_admins(core, st, "user_stream_update", &public);
    let msg = format!(
        "[PlaybackSessionManager] \"{}\" starting {} session for item \"{}\" with id {}",
        user.username,
        if transcode { "stream" } else { "direct play" },
        item.title,
        session_id
    );
    logs::log(
        core,
        st,
        LogLevel::Debug,
        "PlaybackSessionManager.js:288",
        msg,
    );
    persist::save(core, st);
    if transcode {
        spawn_stream_events(core.clone(), session_id, user_id.to_string());
    }
    Ok(response)
}

/// A transcode session's `stream_progress` and `stream_open` to its user, shortly after start.
fn spawn_stream_events(core: CoreRef, session_id: String, user_id: String) {
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(250)).await;
        {
            let st = core.lock();
            if st.session(&session_id).is_none() {
                return;
            }
            let progress = serde_json::json!({"stream": session_id, "chunks": [], "numSegments": 0, "percent": "0%"});
            emit::to_user(&core, &st, &user_id, "stream_progress", &progress);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        let st = core.lock();
        if let Some(s) = st.session(&session_id) {
            let json = payloads::stream_json(s, &core.version_string());
            emit::to_user(&core, &st, &user_id, "stream_open", &json);
        }
    });
}

/// `createUpdateMediaProgressFromPayload` for a book; returns the stored progress.
pub(crate) fn apply_progress(
    st: &mut State,
    user_id: &str,
    item_id: &str,
    upd: ProgressUpdate,
) -> Result<MediaProgress, SimError> {
    let media_id = st
        .item(item_id)
        .map(|i| i.media_id.clone())
        .ok_or_else(|| SimError::UnknownItem(item_id.to_string()))?;
    let user = st
        .user_mut(user_id)
        .ok_or_else(|| SimError::UnknownUser(user_id.to_string()))?;
    let now = now_ms();
    let Some(p) = user
        .media_progress
        .iter_mut()
        .find(|p| p.media_item_id == media_id)
    else {
        let finished = upd.is_finished.unwrap_or(false);
        let p = MediaProgress {
            id: uuid::Uuid::new_v4().to_string(),
            library_item_id: item_id.to_string(),
            media_item_id: media_id,
            duration: upd.duration.unwrap_or(0.0),
            progress: if finished {
                1.0
            } else {
                upd.progress.unwrap_or(0.0)
            },
            current_time: upd.current_time.unwrap_or(0.0),
            is_finished: finished,
            hide_from_continue_listening: false,
            last_update: now,
            started_at: now,
            finished_at: finished.then_some(now),
        };
        user.media_progress.push(p.clone());
        return Ok(p);
    };

    let mut skip_current_time = false;
    match upd.is_finished {
        Some(true) if !p.is_finished => {
            p.finished_at = Some(now);
            p.progress = 1.0;
        }
        Some(false) if p.is_finished => {
            p.finished_at = None;
            p.progress = 0.0;
            p.current_time = 0.0;
            skip_current_time = true;
        }
        Some(_) => {}
        None => {
            if let Some(pr) = upd.progress.filter(|v| v.is_finite()) {
                p.progress = pr.clamp(0.0, 1.0);
            }
        }
    }
    let old_time = p.current_time;
    if let Some(d) = upd.duration {
        p.duration = d;
    }
    if let (Some(t), false) = (upd.current_time, skip_current_time) {
        p.current_time = t;
    }
    if let Some(f) = upd.is_finished {
        p.is_finished = f;
    }
    let time_changed = p.current_time != old_time;
    if time_changed {
        p.hide_from_continue_listening = false;
    }
    let should_finish = p.duration > 0.0 && p.duration - p.current_time < FINISH_WITHIN_SECS;
    if !p.is_finished && should_finish {
        p.is_finished = true;
        p.finished_at = p.finished_at.or(Some(now));
        p.progress = 1.0;
    } else if p.is_finished && time_changed && !should_finish {
        p.is_finished = false;
        p.finished_at = None;
    }
    p.last_update = now;
    Ok(p.clone())
}

/// `syncSession`: moves the session and updates the acting user's progress, which is sent to
/// that user's sockets only (`user_item_progress_updated`); admins get nothing.
pub(crate) fn sync(
    core: &Core,
    st: &mut State,
    acting_user_id: &str,
    session_id: &str,
    data: SyncData,
) -> Result<(), SimError> {
    let s = st
        .sessions
        .iter_mut()
        .find(|s| s.id == session_id)
        .ok_or_else(|| SimError::UnknownSession(session_id.to_string()))?;
    s.current_time = data.current_time;
    if let Some(t) = data.time_listened.filter(|t| t.is_finite() && *t != 0.0) {
        s.time_listening += t;
        s.updated_at = now_ms();
    }
    let progress = s.progress();
    let item_id = s.library_item_id.clone();
    let description = s.device.description();
    let duration = data
        .duration
        .filter(|d| *d != 0.0 && d.is_finite())
        .unwrap_or(s.item.duration);
    let p = apply_progress(
        st,
        acting_user_id,
        &item_id,
        ProgressUpdate {
            duration: Some(duration),
            current_time: Some(data.current_time),
            progress: Some(progress),
            is_finished: None,
        },
    )?;
    let event = ProgressUpdated {
        id: p.id.clone(),
        session_id: session_id.to_string(),
        device_description: description,
        data: payloads::progress_json(acting_user_id, &p),
    };
    emit::to_user(
        core,
        st,
        acting_user_id,
        "user_item_progress_updated",
        &event,
    );
    persist::save(core, st);
    Ok(())
}

/// `closeSession`: optional sync, then `user_stream_update` to admins built BEFORE the session
/// is removed (so it still shows the closing session), `user_session_closed` to the owner,
/// removal, and `stream_closed` for a transcode.
pub(crate) fn close(
    core: &Core,
    st: &mut State,
    acting_user_id: &str,
    session_id: &str,
    data: Option<SyncData>,
) -> Result<(), SimError> {
    if st.session(session_id).is_none() {
        return Err(SimError::UnknownSession(session_id.to_string()));
    }
    if let Some(d) = data {
        sync(core, st, acting_user_id, session_id, d)?;
    }
    let version = core.version_string();
    if let Some(u) = st.user(acting_user_id) {
        let public = payloads::user_public(st, u, &version);
        emit::to_admins(core, st, "user_stream_update", &public);
    }
    let Some(idx) = st.sessions.iter().position(|s| s.id == session_id) else {
        return Ok(());
    };
    let owner = st.sessions[idx].user_id.clone();
    emit::to_user(core, st, &owner, "user_session_closed", &session_id);
    let removed = st.sessions.remove(idx);
    crate::rest::me::remember_closed(st, &removed);
    if removed.play_method == PlayMethod::Transcode {
        emit::to_user(core, st, &owner, "stream_closed", &session_id);
    }
    logs::log(
        core,
        st,
        LogLevel::Debug,
        "PlaybackSessionManager.js:385",
        format!("[PlaybackSessionManager] Removed session \"{session_id}\""),
    );
    Ok(())
}

/// Marks a book finished: through the player path (sync to the end + close) when the user has a
/// session open on it, else like `PATCH /api/me/progress/:id {isFinished:true}` (`user_updated`).
pub(crate) fn finish_book(
    core: &Core,
    st: &mut State,
    user_id: &str,
    item_id: &str,
) -> Result<(), SimError> {
    let open = st
        .sessions
        .iter()
        .find(|s| s.user_id == user_id && s.library_item_id == item_id)
        .map(|s| (s.id.clone(), s.item.duration, s.current_time));
    if let Some((sid, duration, current)) = open {
        let end = (duration - 1.0).max(0.0);
        return close(
            core,
            st,
            user_id,
            &sid,
            Some(SyncData {
                current_time: end,
                time_listened: Some((end - current).clamp(1.0, 30.0)),
                duration: Some(duration),
            }),
        );
    }
    apply_progress(
        st,
        user_id,
        item_id,
        ProgressUpdate {
            is_finished: Some(true),
            ..ProgressUpdate::default()
        },
    )?;
    if let Some(u) = st.user(user_id) {
        let json = payloads::user_browser(u);
        emit::to_user(core, st, user_id, "user_updated", &json);
    }
    persist::save(core, st);
    Ok(())
}
