//! The server's own log: lines go to tracing (stderr), to today's daily log (`GET
//! /api/logger-data`) and as `log` events to sockets with a log listener, filtered like the real
//! `Logger` (nothing below the server level INFO, except FATAL and NOTE which always pass).

use crate::emit;
use crate::model::LogEvent;
use crate::state::{Core, State};

/// A log level of the real server (`LogLevel`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// 0
    Trace,
    /// 1
    Debug,
    /// 2
    Info,
    /// 3
    Warn,
    /// 4
    Error,
    /// 5
    Fatal,
    /// 6
    Note,
}

impl LogLevel {
    /// The number on the wire.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// `TRACE` ... `NOTE`.
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Trace => "TRACE",
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
            LogLevel::Fatal => "FATAL",
            LogLevel::Note => "NOTE",
        }
    }

    /// From the number on the wire.
    pub fn from_u8(n: u8) -> Option<Self> {
        Some(match n {
            0 => LogLevel::Trace,
            1 => LogLevel::Debug,
            2 => LogLevel::Info,
            3 => LogLevel::Warn,
            4 => LogLevel::Error,
            5 => LogLevel::Fatal,
            6 => LogLevel::Note,
            _ => return None,
        })
    }

    /// From a name such as `info` or `WARN`.
    pub fn parse(s: &str) -> Option<Self> {
        if let Ok(n) = s.parse::<u8>() {
            return Self::from_u8(n);
        }
        (0..=6)
            .filter_map(Self::from_u8)
            .find(|l| l.name().eq_ignore_ascii_case(s))
    }
}

/// The server's log level (production default INFO).
const SERVER_LEVEL: LogLevel = LogLevel::Info;
/// Daily log lines kept in memory.
const DAILY_CAP: usize = 5_000;

/// Logs a line the way the real `Logger` does.
pub(crate) fn log(
    core: &Core,
    st: &mut State,
    level: LogLevel,
    source: &str,
    message: impl Into<String>,
) {
    let message = message.into();
    match level {
        LogLevel::Trace => tracing::trace!(target: "abs_sim::server", "{message}"),
        LogLevel::Debug => tracing::debug!(target: "abs_sim::server", "{message}"),
        LogLevel::Info | LogLevel::Note => tracing::info!(target: "abs_sim::server", "{message}"),
        LogLevel::Warn => tracing::warn!(target: "abs_sim::server", "{message}"),
        LogLevel::Error | LogLevel::Fatal => {
            tracing::error!(target: "abs_sim::server", "{message}")
        }
    }
    if level < LogLevel::Fatal && level < SERVER_LEVEL {
        return;
    }
    let now = chrono::Local::now();
    let event = LogEvent {
        timestamp: now.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        source: source.to_string(),
        message,
        level_name: level.name().to_string(),
        level: level.as_u8(),
    };
    let listeners: Vec<String> = st
        .log_listeners
        .iter()
        .filter(|(_, l)| level >= LogLevel::Fatal || level.as_u8() >= *l)
        .map(|(sid, _)| sid.clone())
        .collect();
    for sid in listeners {
        emit::to_socket(core, st, &sid, "log", &event);
    }
    let today = now.format("%Y-%m-%d").to_string();
    if st
        .daily_logs
        .front()
        .is_some_and(|first| !first.timestamp.starts_with(&today))
    {
        st.daily_logs.clear();
    }
    st.daily_logs.push_back(event);
    while st.daily_logs.len() > DAILY_CAP {
        st.daily_logs.pop_front();
    }
}
