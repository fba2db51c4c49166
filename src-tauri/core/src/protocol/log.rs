//! Server log lines (`log`, legacy `daily_logs`, `GET /api/logger-data`) and log levels.

use serde::de::{self, Unexpected};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::bounded;

/// Server log level, sent and received as an integer (`set_log_listener`, `log.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// 0.
    Trace,
    /// 1.
    Debug,
    /// 2 (the server's default threshold in production).
    Info,
    /// 3.
    Warn,
    /// 4.
    Error,
    /// 5: always delivered to listeners.
    Fatal,
    /// 6.
    Note,
}

impl LogLevel {
    /// The wire value.
    pub fn code(self) -> u8 {
        match self {
            Self::Trace => 0,
            Self::Debug => 1,
            Self::Info => 2,
            Self::Warn => 3,
            Self::Error => 4,
            Self::Fatal => 5,
            Self::Note => 6,
        }
    }

    /// The level for a wire value, `None` outside 0..=6.
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => Self::Trace,
            1 => Self::Debug,
            2 => Self::Info,
            3 => Self::Warn,
            4 => Self::Error,
            5 => Self::Fatal,
            6 => Self::Note,
            _ => return None,
        })
    }
}

impl Serialize for LogLevel {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.code())
    }
}

impl<'de> Deserialize<'de> for LogLevel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = i64::deserialize(deserializer)?;
        Self::from_code(code).ok_or_else(|| {
            de::Error::invalid_value(Unexpected::Signed(code), &"a log level from 0 to 6")
        })
    }
}

/// One server log line (`log` event, entries of `daily_logs` and `GET /api/logger-data`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEvent {
    /// Server local time, `YYYY-MM-DD HH:mm:ss.SSS`.
    #[serde(deserialize_with = "bounded::text")]
    pub timestamp: String,
    /// `File.js:line`; absent on old servers.
    #[serde(default, deserialize_with = "bounded::opt_text")]
    pub source: Option<String>,
    /// The log message.
    #[serde(deserialize_with = "bounded::message")]
    pub message: String,
    /// `INFO`, `WARN`, ...
    #[serde(default, deserialize_with = "bounded::opt_ident")]
    pub level_name: Option<String>,
    /// Severity.
    pub level: LogLevel,
}

/// Today's log lines: the legacy `daily_logs` socket reply (a bare array) or the
/// `GET /api/logger-data` reply (`{currentDailyLogs: [...]}`); both shapes are accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DailyLogs {
    /// Oldest first; the newest [`MAX_LIST_LEN`](super::MAX_LIST_LEN) lines of a longer log.
    pub logs: Vec<LogEvent>,
}

impl<'de> Deserialize<'de> for DailyLogs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        bounded::bare_or_field(deserializer, "currentDailyLogs", true).map(|logs| Self { logs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_integers_on_the_wire() {
        assert_eq!(serde_json::to_string(&LogLevel::Trace).unwrap(), "0");
        assert_eq!(serde_json::to_string(&LogLevel::Note).unwrap(), "6");
        assert_eq!(
            serde_json::from_str::<LogLevel>("3").unwrap(),
            LogLevel::Warn
        );
        for code in 0..=6 {
            let level = LogLevel::from_code(code).unwrap();
            assert_eq!(i64::from(level.code()), code);
        }
        assert!(serde_json::from_str::<LogLevel>("7").is_err());
        assert!(serde_json::from_str::<LogLevel>("-1").is_err());
        assert!(serde_json::from_str::<LogLevel>("\"INFO\"").is_err());
        assert!(LogLevel::Fatal > LogLevel::Error);
    }
}
