//! Client → server events and their exact wire payloads.

use serde_json::{Value, json};

use super::log::LogLevel;
use crate::secret::Secret;

/// An event the tray emits; `Debug` never shows the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// `auth`: bind the socket to a user (access token, or legacy token on old servers).
    Auth(Secret),
    /// `cancel_scan` (admins, 2.35+): stop a library scan.
    CancelScan {
        /// Library being scanned.
        library_id: String,
    },
    /// `set_log_listener` (admins, 2.35+): receive `log` events at or above `level`.
    SetLogListener {
        /// Lowest level to receive.
        level: LogLevel,
    },
    /// `remove_log_listener`: stop `log` events.
    RemoveLogListener,
    /// `fetch_daily_logs`: ask a pre-2.8 server for `daily_logs` (newer ones ignore it).
    FetchDailyLogs,
    /// `message_all_users` (admins): broadcast an `admin_message`.
    MessageAllUsers {
        /// Text to broadcast.
        message: String,
    },
    /// `ping`: the server answers `pong`, even before `auth`.
    Ping,
}

impl ClientEvent {
    /// The Socket.IO event name to emit.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Auth(_) => "auth",
            Self::CancelScan { .. } => "cancel_scan",
            Self::SetLogListener { .. } => "set_log_listener",
            Self::RemoveLogListener => "remove_log_listener",
            Self::FetchDailyLogs => "fetch_daily_logs",
            Self::MessageAllUsers { .. } => "message_all_users",
            Self::Ping => "ping",
        }
    }

    /// The single argument to emit, `None` to emit the bare event.
    ///
    /// For [`ClientEvent::Auth`] this contains the raw token: hand it to the socket, never to a
    /// logger.
    pub fn payload(&self) -> Option<Value> {
        match self {
            Self::Auth(token) => Some(Value::String(token.expose().to_owned())),
            Self::CancelScan { library_id } => Some(Value::String(library_id.clone())),
            Self::SetLogListener { level } => Some(Value::from(level.code())),
            Self::MessageAllUsers { message } => Some(json!({ "message": message })),
            Self::RemoveLogListener | Self::FetchDailyLogs | Self::Ping => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_payloads_match_the_server_handlers() {
        let cases = [
            (
                ClientEvent::Auth(Secret::new("tok")),
                "auth",
                Some(json!("tok")),
            ),
            (
                ClientEvent::CancelScan {
                    library_id: "lib1".into(),
                },
                "cancel_scan",
                Some(json!("lib1")),
            ),
            (
                ClientEvent::SetLogListener {
                    level: LogLevel::Warn,
                },
                "set_log_listener",
                Some(json!(3)),
            ),
            (ClientEvent::RemoveLogListener, "remove_log_listener", None),
            (ClientEvent::FetchDailyLogs, "fetch_daily_logs", None),
            (
                ClientEvent::MessageAllUsers {
                    message: "hi".into(),
                },
                "message_all_users",
                Some(json!({"message": "hi"})),
            ),
            (ClientEvent::Ping, "ping", None),
        ];
        for (event, name, payload) in cases {
            assert_eq!(event.name(), name);
            assert_eq!(event.payload(), payload, "{name}");
        }
    }

    #[test]
    fn log_level_payload_is_an_integer() {
        let payload = ClientEvent::SetLogListener {
            level: LogLevel::Trace,
        }
        .payload()
        .unwrap();
        assert!(payload.is_u64());
        assert_eq!(payload, json!(0));
    }

    #[test]
    fn auth_debug_hides_the_token() {
        let event = ClientEvent::Auth(Secret::new("eyJsecret"));
        let shown = format!("{event:?}");
        assert!(!shown.contains("eyJsecret"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }
}
