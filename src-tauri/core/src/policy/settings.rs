//! The user's notification choices, as stored under `[notifications]` in `settings.toml`, and the
//! wall-clock rules (quiet hours, pause) that read local time.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Timelike};
use serde::{Deserialize, Serialize};

use super::Reason;
use crate::happening::Category;

/// Every notification option, with the defaults; missing fields in the file take them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicySettings {
    /// Admin broadcasts (on by default; they ignore quiet hours and pause).
    pub admin_message: bool,
    /// Users coming online and going offline (admins only).
    pub presence: bool,
    /// Listening sessions starting and stopping (admins only).
    pub sessions: bool,
    /// Your own progress: finished, milestones, playing elsewhere.
    pub progress: bool,
    /// Scans, downloads, backups, new items, users added or removed (opt-in: busy servers are noisy).
    pub server_activity: bool,
    /// 25/50/75 % milestones (opt-in: most people only care about finishing).
    pub milestones: bool,
    /// How long a first connection must last before "online" pops up, in seconds.
    pub online_debounce_s: u64,
    /// How long a user must stay gone before "offline" pops up, in seconds (apps reconnect a lot).
    pub offline_debounce_s: u64,
    /// How long a stop waits for a restart of the same item on the same device, in seconds.
    pub merge_window_s: u64,
    /// Local hours without popups; `None` for none.
    pub quiet_hours: Option<QuietHours>,
    /// No popups before this moment, Unix ms; `None` when not paused.
    pub paused_until_ms: Option<i64>,
    /// User ids whose presence, sessions and account changes never pop up.
    pub muted_users: BTreeSet<String>,
    /// Popups allowed per rate window; the surplus folds into one "And N more".
    pub rate_limit: u32,
    /// The rate window, in seconds.
    pub rate_window_s: u64,
    /// How long an identical popup (same subject, same text) stays a duplicate, in seconds.
    pub dedupe_window_s: u64,
}

impl Default for PolicySettings {
    fn default() -> Self {
        Self {
            admin_message: true,
            presence: true,
            sessions: true,
            progress: true,
            server_activity: false,
            milestones: false,
            online_debounce_s: 5,
            offline_debounce_s: 30,
            merge_window_s: 180,
            quiet_hours: None,
            paused_until_ms: None,
            muted_users: BTreeSet::new(),
            rate_limit: 5,
            rate_window_s: 30,
            dedupe_window_s: 60,
        }
    }
}

impl PolicySettings {
    /// Whether a category's popups are switched on.
    pub fn enabled(&self, category: Category) -> bool {
        match category {
            Category::AdminMessage => self.admin_message,
            Category::Presence => self.presence,
            Category::Sessions => self.sessions,
            Category::Progress => self.progress,
            Category::ServerActivity => self.server_activity,
        }
    }

    /// Switches a category on or off, for the window's toggles.
    pub fn set_enabled(&mut self, category: Category, on: bool) {
        let toggle = match category {
            Category::AdminMessage => &mut self.admin_message,
            Category::Presence => &mut self.presence,
            Category::Sessions => &mut self.sessions,
            Category::Progress => &mut self.progress,
            Category::ServerActivity => &mut self.server_activity,
        };
        *toggle = on;
    }

    /// Why popups are held back at this local time (pause before quiet hours), so the tray can
    /// say so; `None` when they pop up.
    pub fn silenced_at<Tz: TimeZone>(&self, local: &DateTime<Tz>) -> Option<Reason> {
        self.silenced(local.timestamp_millis(), local.time())
    }

    /// [`Self::silenced_at`] on an already split reading of the wall clock.
    pub(crate) fn silenced(&self, unix_ms: i64, wall: NaiveTime) -> Option<Reason> {
        if self.paused_until_ms.is_some_and(|until| unix_ms < until) {
            Some(Reason::Paused)
        } else if self.quiet_hours.is_some_and(|q| q.contains(wall)) {
            Some(Reason::QuietHours)
        } else {
            None
        }
    }

    /// The online debounce as a duration.
    pub(crate) fn online_debounce(&self) -> Duration {
        Duration::from_secs(self.online_debounce_s)
    }

    /// The offline debounce as a duration.
    pub(crate) fn offline_debounce(&self) -> Duration {
        Duration::from_secs(self.offline_debounce_s)
    }

    /// The merge window as a duration.
    pub(crate) fn merge_window(&self) -> Duration {
        Duration::from_secs(self.merge_window_s)
    }

    /// The rate window as a duration.
    pub(crate) fn rate_window(&self) -> Duration {
        Duration::from_secs(self.rate_window_s)
    }

    /// The dedupe window as a duration.
    pub(crate) fn dedupe_window(&self) -> Duration {
        Duration::from_secs(self.dedupe_window_s)
    }
}

/// A daily window of local wall-clock time; it may cross midnight (22:00–07:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    /// First quiet minute.
    pub start: ClockTime,
    /// First minute that is no longer quiet.
    pub end: ClockTime,
}

impl QuietHours {
    /// Whether a local wall time is quiet. Comparing wall times (not durations from the start)
    /// is what keeps the window at 22:00–07:00 across DST changes; `start == end` is never quiet.
    pub fn contains(&self, wall: NaiveTime) -> bool {
        let (start, end) = (self.start.time(), self.end.time());
        if start <= end {
            start <= wall && wall < end
        } else {
            wall >= start || wall < end
        }
    }
}

/// A wall-clock time of day to the minute, written "HH:MM" in the settings file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClockTime {
    /// 0..=23.
    hour: u8,
    /// 0..=59.
    minute: u8,
}

impl ClockTime {
    /// A time of day; `None` outside 00:00..=23:59.
    pub const fn new(hour: u8, minute: u8) -> Option<Self> {
        if hour < 24 && minute < 60 {
            Some(Self { hour, minute })
        } else {
            None
        }
    }

    /// As a chrono time, for comparisons with the local clock.
    pub fn time(self) -> NaiveTime {
        NaiveTime::from_hms_opt(self.hour.into(), self.minute.into(), 0).unwrap_or(NaiveTime::MIN)
    }
}

/// Why a "HH:MM" string is not a time of day.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a time of day (HH:MM): {0:?}")]
pub struct BadClockTime(String);

impl FromStr for ClockTime {
    type Err = BadClockTime;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadClockTime(text.chars().take(16).collect());
        let (hour, minute) = text.trim().split_once(':').ok_or_else(bad)?;
        let digits = |s: &str| (1..=2).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(hour) || minute.len() != 2 || !digits(minute) {
            return Err(bad());
        }
        let parse = |s: &str| s.parse::<u8>().map_err(|_| bad());
        Self::new(parse(hour)?, parse(minute)?).ok_or_else(bad)
    }
}

impl TryFrom<String> for ClockTime {
    type Error = BadClockTime;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<ClockTime> for String {
    fn from(time: ClockTime) -> Self {
        time.to_string()
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

/// When "pause until tomorrow" ends: the next local 08:00 of a later day, or of today when
/// paused before 04:00 (still "tonight" for a person). 08:00 is when a workday starts.
const TOMORROW_MORNING: u32 = 8;
/// Before this local hour, "tomorrow" still means this morning.
const NIGHT_ENDS: u32 = 4;

/// The end of a pause of `length` from now, Unix ms (for [`PolicySettings::paused_until_ms`]).
pub fn pause_for<Tz: TimeZone>(local: &DateTime<Tz>, length: Duration) -> i64 {
    let length_ms = i64::try_from(length.as_millis()).unwrap_or(i64::MAX);
    local.timestamp_millis().saturating_add(length_ms)
}

/// The end of "pause until tomorrow", Unix ms: the next local 08:00 (see [`TOMORROW_MORNING`]),
/// found in the time zone so a DST night is 23 or 25 hours long as it should be.
pub fn pause_until_tomorrow<Tz: TimeZone>(local: &DateTime<Tz>) -> i64 {
    let today = local.date_naive();
    let day = if local.hour() < NIGHT_ENDS {
        Some(today)
    } else {
        today.succ_opt()
    };
    day.and_then(|day| day.and_hms_opt(TOMORROW_MORNING, 0, 0))
        .and_then(|wall| first_instant_at(&local.timezone(), wall))
        .map_or_else(
            || pause_for(local, Duration::from_secs(24 * 3600)),
            |end| end.timestamp_millis(),
        )
}

/// The first real instant showing `wall` (the earlier of a repeated time), or just after the
/// gap when a DST change skips it.
fn first_instant_at<Tz: TimeZone>(zone: &Tz, wall: NaiveDateTime) -> Option<DateTime<Tz>> {
    (0..=8)
        .map(|quarter| wall + TimeDelta::minutes(15 * quarter))
        .find_map(|candidate| zone.from_local_datetime(&candidate).earliest())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_times_parse_strictly() {
        assert_eq!("07:05".parse(), Ok(ClockTime { hour: 7, minute: 5 }));
        assert_eq!(
            "7:05".parse::<ClockTime>().map(String::from),
            Ok("07:05".into())
        );
        for bad in [
            "24:00", "12:60", "12", "12:5", "-1:00", "aa:bb", "12:00:00", "",
        ] {
            assert!(bad.parse::<ClockTime>().is_err(), "{bad}");
        }
    }

    #[test]
    fn settings_round_trip_through_toml_with_defaults_for_missing_fields() {
        let mut settings = PolicySettings {
            quiet_hours: Some(QuietHours {
                start: ClockTime {
                    hour: 22,
                    minute: 0,
                },
                end: ClockTime { hour: 7, minute: 0 },
            }),
            ..PolicySettings::default()
        };
        settings.muted_users.insert("u-bob".into());
        let table = toml::Table::try_from(&settings).expect("serializes");
        assert_eq!(table["quiet_hours"]["start"].as_str(), Some("22:00"));
        let back: PolicySettings = table.try_into().expect("deserializes");
        assert_eq!(back, settings);

        let partial: PolicySettings = toml::from_str("milestones = true").expect("partial");
        assert_eq!(
            partial,
            PolicySettings {
                milestones: true,
                ..PolicySettings::default()
            }
        );
        assert!(
            toml::from_str::<PolicySettings>(
                "quiet_hours = { start = \"25:00\", end = \"07:00\" }"
            )
            .is_err()
        );
    }

    #[test]
    fn quiet_hours_within_a_day_and_across_midnight() {
        let at = |h, m| NaiveTime::from_hms_opt(h, m, 0).expect("valid");
        let night = QuietHours {
            start: ClockTime {
                hour: 22,
                minute: 0,
            },
            end: ClockTime { hour: 7, minute: 0 },
        };
        assert!(!night.contains(at(21, 59)) && night.contains(at(22, 0)));
        assert!(night.contains(at(0, 0)) && night.contains(at(6, 59)) && !night.contains(at(7, 0)));
        let lunch = QuietHours {
            start: ClockTime {
                hour: 12,
                minute: 0,
            },
            end: ClockTime {
                hour: 13,
                minute: 0,
            },
        };
        assert!(
            lunch.contains(at(12, 30)) && !lunch.contains(at(13, 0)) && !lunch.contains(at(0, 0))
        );
        let empty = QuietHours {
            start: lunch.start,
            end: lunch.start,
        };
        assert!(!empty.contains(at(12, 0)));
    }
}
