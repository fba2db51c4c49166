//! The one place where Socket.IO arguments become [`ServerEvent`]s.

use serde::Deserialize;
use serde_json::Value;

use super::bounded::{self, truncate_str};
use super::event::ServerEvent;
use super::user::AuthFailed;

/// Longest event name accepted; ABS names are < 40 bytes.
pub const MAX_EVENT_NAME_BYTES: usize = 256;
/// Largest raw payload [`decode_json`] parses (well above engine.io's 1 MB default).
pub const MAX_JSON_BYTES: usize = 16 * 1024 * 1024;
/// Length of the serde reason kept in [`DecodeError`], so an error never holds a huge value.
const MAX_REASON_BYTES: usize = 256;

/// Events the server sends with no payload. rust_socketio 0.6 delivers them as the default
/// `message` event whose only argument is the name.
const PAYLOADLESS_EVENTS: &[&str] = &["pong", "invalid_token", "backup_applied", "stream_ready"];

/// Why a server event could not be decoded; the caller logs it and drops the event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The event name itself is absurdly long (hostile peer).
    #[error("event name of {len} bytes is longer than the {MAX_EVENT_NAME_BYTES}-byte limit")]
    EventNameTooLong {
        /// Length of the name in bytes.
        len: usize,
    },
    /// A known event that needs a payload arrived with none.
    #[error("`{event}` arrived without the payload it needs")]
    MissingPayload {
        /// Event name.
        event: String,
    },
    /// The payload does not fit the model (wrong type, missing field, over-long identifier).
    #[error("`{event}` payload does not match the model: {reason}")]
    Malformed {
        /// Event name.
        event: String,
        /// The serde error, shortened to a few hundred bytes.
        reason: String,
    },
    /// Raw payload bytes are not UTF-8.
    #[error("`{event}` payload is not UTF-8")]
    NotUtf8 {
        /// Event name.
        event: String,
    },
    /// Raw payload bytes are not JSON (including nesting deeper than 128 levels).
    #[error("`{event}` payload is not valid JSON: {reason}")]
    InvalidJson {
        /// Event name.
        event: String,
        /// The parser error, shortened.
        reason: String,
    },
    /// Raw payload larger than [`MAX_JSON_BYTES`].
    #[error("`{event}` payload of {len} bytes is larger than the {MAX_JSON_BYTES}-byte limit")]
    TooLarge {
        /// Event name.
        event: String,
        /// Payload size in bytes.
        len: usize,
    },
}

impl DecodeError {
    /// The event that failed, when its name was acceptable, for per-event error counters.
    pub fn event(&self) -> Option<&str> {
        match self {
            Self::EventNameTooLong { .. } => None,
            Self::MissingPayload { event }
            | Self::Malformed { event, .. }
            | Self::NotUtf8 { event }
            | Self::InvalidJson { event, .. }
            | Self::TooLarge { event, .. } => Some(event),
        }
    }
}

/// Decodes one server event from its Socket.IO arguments.
///
/// * Known events become their typed variant; unknown ones [`ServerEvent::Other`] (never an
///   error). `message` is routed through [`decode_message`].
/// * Payload-less events (`pong`, `invalid_token`, `backup_applied`) ignore their arguments.
///   `auth_failed` without a payload still decodes (message `None`): a refusal is never lost.
/// * Only the first argument is read; extra ones are ignored.
/// * Hostile input: a wrong type, a missing required field, or a server identifier/token
///   longer than its cap is a [`DecodeError`]. Free text (names, titles, messages) longer
///   than its cap is **truncated** at a char boundary and ends with `…`
///   ([`MAX_TEXT_BYTES`](super::MAX_TEXT_BYTES), [`MAX_MESSAGE_BYTES`](super::MAX_MESSAGE_BYTES)).
///   Nothing here panics or recurses deeper than the (already parsed) value.
pub fn decode(event: &str, payload: &[Value]) -> Result<ServerEvent, DecodeError> {
    check_name(event)?;
    Ok(match event {
        "message" => decode_message(payload),
        "init" => ServerEvent::Init(first(event, payload)?),
        "auth_failed" => ServerEvent::AuthFailed(match payload.first() {
            None => AuthFailed::default(),
            Some(_) => first(event, payload)?,
        }),
        "invalid_token" => ServerEvent::InvalidToken,
        "user_online" => ServerEvent::UserOnline(first(event, payload)?),
        "user_offline" => ServerEvent::UserOffline(first(event, payload)?),
        "user_added" => ServerEvent::UserAdded(first(event, payload)?),
        "user_updated" => ServerEvent::UserUpdated(first(event, payload)?),
        "user_removed" => ServerEvent::UserRemoved(first(event, payload)?),
        "user_stream_update" => ServerEvent::UserStreamUpdate(first(event, payload)?),
        "user_item_progress_updated" => {
            ServerEvent::UserItemProgressUpdated(first(event, payload)?)
        }
        "user_session_closed" => ServerEvent::UserSessionClosed {
            session_id: with(event, payload, bounded::ident)?,
        },
        "admin_message" => ServerEvent::AdminMessage {
            message: with(event, payload, bounded::message)?,
        },
        "log" => ServerEvent::Log(first(event, payload)?),
        "daily_logs" => ServerEvent::DailyLogs(parse(event, first_value(event, payload)?)?),
        "pong" => ServerEvent::Pong,
        "task_started" => ServerEvent::TaskStarted(first(event, payload)?),
        "task_finished" => ServerEvent::TaskFinished(first(event, payload)?),
        "item_added" => ServerEvent::ItemAdded(first(event, payload)?),
        "items_added" => ServerEvent::ItemsAdded(parse(event, first_value(event, payload)?)?),
        "library_added" => ServerEvent::LibraryAdded(first(event, payload)?),
        "library_updated" => ServerEvent::LibraryUpdated(first(event, payload)?),
        "library_removed" => ServerEvent::LibraryRemoved(first(event, payload)?),
        "episode_download_finished" => ServerEvent::EpisodeDownloadFinished(first(event, payload)?),
        "backup_applied" => ServerEvent::BackupApplied,
        _ => ServerEvent::Other {
            name: event.to_owned(),
            payload: payload.to_vec(),
        },
    })
}

/// Decodes rust_socketio 0.6's default `message` event.
///
/// That client delivers a payload-less event (`42["pong"]`) as `message` with the event name as
/// its only argument. Arguments that are exactly one known payload-less name decode as that
/// event (`stream_ready`, which is not modelled, as `Other` under its own name); anything else
/// is `Other { name: "message" }`.
pub fn decode_message(payload: &[Value]) -> ServerEvent {
    if let [Value::String(name)] = payload {
        match name.as_str() {
            "pong" => return ServerEvent::Pong,
            "invalid_token" => return ServerEvent::InvalidToken,
            "backup_applied" => return ServerEvent::BackupApplied,
            other if PAYLOADLESS_EVENTS.contains(&other) => {
                return ServerEvent::Other {
                    name: other.to_owned(),
                    payload: Vec::new(),
                };
            }
            _ => {}
        }
    }
    ServerEvent::Other {
        name: "message".to_owned(),
        payload: payload.to_vec(),
    }
}

/// Decodes an event whose single argument arrived as raw bytes (a binary Socket.IO payload).
///
/// `bytes` is the JSON text of that one argument; empty or blank bytes mean "no argument".
/// Bytes over [`MAX_JSON_BYTES`], non-UTF-8 bytes and invalid JSON are errors; so is nesting
/// deeper than serde_json's 128-level recursion limit, which is hit before any deep recursion.
pub fn decode_json(event: &str, bytes: &[u8]) -> Result<ServerEvent, DecodeError> {
    check_name(event)?;
    if bytes.len() > MAX_JSON_BYTES {
        return Err(DecodeError::TooLarge {
            event: event.to_owned(),
            len: bytes.len(),
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| DecodeError::NotUtf8 {
        event: event.to_owned(),
    })?;
    if text.trim().is_empty() {
        return decode(event, &[]);
    }
    let value: Value = serde_json::from_str(text).map_err(|e| DecodeError::InvalidJson {
        event: event.to_owned(),
        reason: reason(&e),
    })?;
    decode(event, std::slice::from_ref(&value))
}

fn check_name(event: &str) -> Result<(), DecodeError> {
    if event.len() > MAX_EVENT_NAME_BYTES {
        return Err(DecodeError::EventNameTooLong { len: event.len() });
    }
    Ok(())
}

fn reason(error: &serde_json::Error) -> String {
    truncate_str(&error.to_string(), MAX_REASON_BYTES)
}

fn malformed(event: &str, error: &serde_json::Error) -> DecodeError {
    DecodeError::Malformed {
        event: event.to_owned(),
        reason: reason(error),
    }
}

fn first_value<'a>(event: &str, payload: &'a [Value]) -> Result<&'a Value, DecodeError> {
    payload.first().ok_or_else(|| DecodeError::MissingPayload {
        event: event.to_owned(),
    })
}

fn parse<'a, T: Deserialize<'a>>(event: &str, value: &'a Value) -> Result<T, DecodeError> {
    T::deserialize(value).map_err(|e| malformed(event, &e))
}

/// Reads the first argument as an object model. serde would also accept a JSON array as a
/// positional struct; the server never sends one, so it is refused here.
fn first<'a, T: Deserialize<'a>>(event: &str, payload: &'a [Value]) -> Result<T, DecodeError> {
    let value = first_value(event, payload)?;
    if !value.is_object() {
        return Err(DecodeError::Malformed {
            event: event.to_owned(),
            reason: format!("expected an object, got {}", kind(value)),
        });
    }
    parse(event, value)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn with<'a, T>(
    event: &str,
    payload: &'a [Value],
    read: fn(&'a Value) -> Result<T, serde_json::Error>,
) -> Result<T, DecodeError> {
    read(first_value(event, payload)?).map_err(|e| malformed(event, &e))
}
