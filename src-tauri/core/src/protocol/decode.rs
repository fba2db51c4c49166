//! The one place where Socket.IO arguments become [`ServerEvent`]s.
//!
//! The arguments are JSON text ([`RawArg`]): the typed models deserialize straight from it, so a
//! huge payload is never held as a JSON tree, and bounded lists skip what they do not keep.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::bounded::{self, truncate_str};
use super::event::ServerEvent;
use super::raw::RawArg;
use super::user::AuthFailed;

/// Longest event name accepted; ABS names are < 40 bytes.
pub const MAX_EVENT_NAME_BYTES: usize = 256;
/// Largest raw payload [`decode_json`] parses (well above engine.io's 1 MB default).
pub const MAX_JSON_BYTES: usize = 16 * 1024 * 1024;
/// Length of the serde reason kept in [`DecodeError`], so an error never holds a huge value.
const MAX_REASON_BYTES: usize = 256;

/// Events the server sends with no payload. rust_socketio 0.6 delivered them as the default
/// `message` event whose only argument is the name; [`decode_message`] still reads that form.
const PAYLOADLESS_EVENTS: &[&str] = &["pong", "invalid_token", "backup_applied", "stream_ready"];
/// Longest argument text [`decode_message`] reads as a name: the longest quoted name, with room
/// for escapes; anything longer cannot be one, and is not copied to find out.
const MAX_PAYLOADLESS_ARG_BYTES: usize = 64;

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
    /// Raw payload bytes are not JSON.
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

/// Decodes one server event from its Socket.IO arguments, kept as JSON text.
///
/// * Known events become their typed variant; unknown ones [`ServerEvent::Other`] (never an
///   error), with their arguments as text. `message` is routed through [`decode_message`].
/// * Payload-less events (`pong`, `invalid_token`, `backup_applied`) ignore their arguments.
///   `auth_failed` without a payload still decodes (message `None`): a refusal is never lost.
/// * Only the first argument is read; extra ones are ignored.
/// * The models read straight from the text: no JSON tree is built, and a list longer than its
///   cap ([`MAX_LIST_LEN`](super::MAX_LIST_LEN)) keeps its first entries (log lines: its last)
///   and skips the rest unread.
/// * Hostile input: a wrong type, a missing required field, a repeated field, or a server
///   identifier/token longer than its cap is a [`DecodeError`]. Free text (names, titles,
///   messages) longer than its cap is **truncated** at a char boundary and ends with `…`
///   ([`MAX_TEXT_BYTES`](super::MAX_TEXT_BYTES), [`MAX_MESSAGE_BYTES`](super::MAX_MESSAGE_BYTES)).
///   Nothing here panics; nesting is bounded by serde_json's 128-level recursion limit.
pub fn decode(event: &str, payload: &[RawArg]) -> Result<ServerEvent, DecodeError> {
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
        "daily_logs" => ServerEvent::DailyLogs(parse(event, first_arg(event, payload)?)?),
        "pong" => ServerEvent::Pong,
        "task_started" => ServerEvent::TaskStarted(first(event, payload)?),
        "task_finished" => ServerEvent::TaskFinished(first(event, payload)?),
        "item_added" => ServerEvent::ItemAdded(first(event, payload)?),
        "items_added" => ServerEvent::ItemsAdded(with(event, payload, bounded::items_added)?),
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
pub fn decode_message(payload: &[RawArg]) -> ServerEvent {
    if let [arg] = payload
        && let Some(name) = payloadless_name(arg)
    {
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

/// The argument as a string, when it is a short JSON string that could be a payload-less name.
fn payloadless_name(arg: &RawArg) -> Option<String> {
    let json = arg.json();
    if json.len() > MAX_PAYLOADLESS_ARG_BYTES || !json.starts_with('"') {
        return None;
    }
    serde_json::from_str(json).ok()
}

/// Decodes an event whose single argument arrived as raw bytes (a binary Socket.IO payload).
///
/// `bytes` is the JSON text of that one argument; empty or blank bytes mean "no argument".
/// Bytes over [`MAX_JSON_BYTES`], non-UTF-8 bytes and invalid JSON are errors. Deep nesting is
/// checked without recursion, so it is valid JSON here: a model refuses it (as
/// [`DecodeError::Malformed`]), an unmodelled event keeps it as text. Valid bytes decode exactly
/// as [`decode`] decodes them as the one argument.
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
    let arg = RawArg::from_json(text).map_err(|e| DecodeError::InvalidJson {
        event: event.to_owned(),
        reason: reason(&e),
    })?;
    decode(event, std::slice::from_ref(&arg))
}

/// Refuses an over-long event name before it is copied anywhere.
fn check_name(event: &str) -> Result<(), DecodeError> {
    if event.len() > MAX_EVENT_NAME_BYTES {
        return Err(DecodeError::EventNameTooLong { len: event.len() });
    }
    Ok(())
}

/// A serde error as a short reason.
fn reason(error: &serde_json::Error) -> String {
    truncate_str(&error.to_string(), MAX_REASON_BYTES)
}

/// A payload that does not fit its model.
fn malformed(event: &str, error: &serde_json::Error) -> DecodeError {
    DecodeError::Malformed {
        event: event.to_owned(),
        reason: reason(error),
    }
}

/// The first argument's text; an event without one is missing its payload.
fn first_arg<'a>(event: &str, payload: &'a [RawArg]) -> Result<&'a RawValue, DecodeError> {
    payload
        .first()
        .map(RawArg::raw)
        .ok_or_else(|| DecodeError::MissingPayload {
            event: event.to_owned(),
        })
}

/// Reads a model straight from an argument's text.
fn parse<'a, T: Deserialize<'a>>(event: &str, raw: &'a RawValue) -> Result<T, DecodeError> {
    T::deserialize(raw).map_err(|e| malformed(event, &e))
}

/// Reads the first argument as an object model. serde would also accept a JSON array as a
/// positional struct; the server never sends one, so it is refused here.
fn first<'a, T: Deserialize<'a>>(event: &str, payload: &'a [RawArg]) -> Result<T, DecodeError> {
    let raw = first_arg(event, payload)?;
    let kind = kind(raw.get());
    if kind != "an object" {
        return Err(DecodeError::Malformed {
            event: event.to_owned(),
            reason: format!("expected an object, got {kind}"),
        });
    }
    parse(event, raw)
}

/// What kind of JSON value `json` (valid, without leading whitespace) is, from its first byte.
fn kind(json: &str) -> &'static str {
    match json.as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// Reads the first argument with one of the [`bounded`] readers (a bare string or list).
fn with<'a, T>(
    event: &str,
    payload: &'a [RawArg],
    read: fn(&'a RawValue) -> Result<T, serde_json::Error>,
) -> Result<T, DecodeError> {
    read(first_arg(event, payload)?).map_err(|e| malformed(event, &e))
}
