//! What the fuzz targets run, shared with `tests/fuzz_regressions.rs` so CI replays every seed
//! through the very same code without cargo-fuzz.
//!
//! Three inputs:
//! - [`decode`]: `NAME\nJSON`, one Socket.IO event name and the JSON text of its first argument.
//!   It goes through every door the core has: raw bytes ([`protocol::decode_json`]), the
//!   argument as text ([`protocol::decode`]) and a `42[...]` frame read by the socket's parser
//!   then decoded (what the connection does), which must agree.
//! - [`packet`]: one Engine.IO text frame as the WebSocket delivers it, through the socket's
//!   parser and, when it is an event, the decoder.
//! - [`policy`]: a script of lines, each a step of the app's pipeline (events into live state,
//!   its happenings into the notification policy) with a fake clock; see [`policy`].

use abs_tray_core::connection::ConnectionStatus;
use abs_tray_core::happening::Happening;
use abs_tray_core::live::{
    self, Fetch, LiveSettings, LiveState, MAX_ACTIVITY, MAX_LOG_LINES, MAX_SCANS, MAX_SESSIONS,
    MAX_USERS, Reconciled,
};
use abs_tray_core::policy::{Decision, Moment, Policy, PolicyContext, PolicySettings};
use abs_tray_core::protocol::{self, DecodeError, MAX_EVENT_NAME_BYTES, RawArg, ServerEvent};
use abs_tray_core::socket::{self, Frame, MAX_EVENT_ARGS};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Longest popup title, in characters (the policy's cap).
pub const TITLE_MAX_CHARS: usize = 120;
/// Longest popup body, in characters (the policy's cap).
pub const BODY_MAX_CHARS: usize = 400;
/// Longest [`DecodeError`] message: a capped event name plus a capped reason and some words.
pub const ERROR_MAX_BYTES: usize = 1024;
/// The fake wall clock's start, Unix ms: when the fixtures were captured, so their timestamps are current.
const WALL_START_MS: u64 = 1_795_851_108_000;
/// Longest single clock step a script may take (10 days), so sums cannot overflow.
const MAX_STEP_MS: u64 = 10 * 24 * 3_600_000;

/// Runs one `decode` input: `NAME`, a newline, then the first argument's JSON bytes (no
/// newline: no argument). Panics when the decoding doors disagree or an error is unbounded.
pub fn decode(data: &[u8]) -> Option<ServerEvent> {
    let (name, payload) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let name = std::str::from_utf8(name).ok()?;
    let raw = protocol::decode_json(name, payload);
    check_error(&raw);
    let text = std::str::from_utf8(payload).ok()?;
    // Blank as `decode_json` counts it (any Unicode whitespace): no argument.
    if text.trim().is_empty() {
        assert_eq!(
            raw,
            protocol::decode(name, &[]),
            "no-argument doors disagree"
        );
        assert_eq!(raw, through_socket(name, &[]), "no-argument socket door");
        return raw.ok();
    }
    let Ok(arg) = RawArg::from_json(text) else {
        assert!(raw.is_err(), "decode_json read invalid JSON for {name:?}");
        return None;
    };
    let parsed = protocol::decode(name, std::slice::from_ref(&arg));
    check_error(&parsed);
    assert_eq!(raw, parsed, "decode_json and decode disagree on {name:?}");
    assert_eq!(
        raw,
        through_socket(name, std::slice::from_ref(&arg)),
        "the socket door disagrees on {name:?}"
    );
    // The same text as a whole argument list (extra arguments are ignored, `[]` is none).
    if let Ok(items) = serde_json::from_str::<Vec<&serde_json::value::RawValue>>(text) {
        let args: Vec<RawArg> = items.into_iter().map(RawArg::from).collect();
        let spread = protocol::decode(name, &args);
        check_error(&spread);
        if args.len() <= MAX_EVENT_ARGS {
            assert_eq!(
                spread,
                through_socket(name, &args),
                "spread args on {name:?}"
            );
        }
        let _ = protocol::decode_message(&args);
    }
    let _ = protocol::decode_message(std::slice::from_ref(&arg));
    parsed.ok()
}

/// Sends `name` and `args` through the connection's door: a `42[...]` frame, the socket's
/// parser, then [`protocol::decode`]. The frame must carry the arguments' text unchanged.
fn through_socket(name: &str, args: &[RawArg]) -> Result<ServerEvent, DecodeError> {
    let mut frame = format!("42[{}", Value::String(name.to_owned()));
    for arg in args {
        frame.push(',');
        frame.push_str(arg.json());
    }
    frame.push(']');
    match socket::parse_frame(&frame) {
        Frame::Event(event) => {
            assert_eq!(event.name, name, "the socket changed the name");
            assert_eq!(event.args, args, "the socket changed the arguments");
            protocol::decode(&event.name, &event.args)
        }
        Frame::Malformed if name.len() > MAX_EVENT_NAME_BYTES => {
            Err(DecodeError::EventNameTooLong { len: name.len() })
        }
        other => panic!("the frame of {name:?} read as {other:?}"),
    }
}

/// Runs one `packet` input: an Engine.IO text frame (invalid UTF-8 never arrives: the WebSocket
/// refuses it). Panics when a parsed event breaks the socket's bounds, when decoding it panics,
/// or when a decoding error is unbounded. Returns the frame's reading, for the regression test.
pub fn packet(data: &[u8]) -> Option<Frame> {
    let text = std::str::from_utf8(data).ok()?;
    let frame = socket::parse_frame(text);
    if let Frame::Event(event) = &frame {
        assert!(
            event.name.len() <= MAX_EVENT_NAME_BYTES,
            "event name of {} bytes",
            event.name.len()
        );
        assert!(
            event.args.len() <= MAX_EVENT_ARGS,
            "{} args",
            event.args.len()
        );
        for arg in &event.args {
            assert!(
                text.contains(arg.json()),
                "an argument is not the frame's own text"
            );
        }
        let decoded = protocol::decode(&event.name, &event.args);
        check_error(&decoded);
        let _ = protocol::decode_message(&event.args);
    }
    Some(frame)
}

/// Asserts that a decoding error stays small whatever the input's size.
fn check_error(result: &Result<ServerEvent, DecodeError>) {
    if let Err(err) = result {
        let len = err.to_string().len();
        assert!(
            len <= ERROR_MAX_BYTES,
            "error message of {len} bytes: {err}"
        );
    }
}

/// What a `policy` run saw, for the regression test's sanity checks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PolicyRun {
    /// Events that decoded and went into live state.
    pub events: usize,
    /// Happenings live state handed to the policy.
    pub happenings: usize,
    /// Decisions the policy took.
    pub decisions: usize,
    /// Popups it showed.
    pub popups: usize,
}

/// Runs one `policy` script: one step per line, chosen by its first byte, as the app's live
/// state task and notifier would see them:
///
/// - `["name", args...]`: a Socket.IO event, read by the socket's parser as a `42` frame, decoded
///   by [`protocol::decode`] and applied (undecodable ones are dropped, as the connection does).
///   An item title live state asks for is "fetched" as a hostile string.
/// - `+MS`: the fake clocks move on MS milliseconds; what falls due fires (live state's tick,
///   then the policy's).
/// - `!X`: the connection status becomes `c` Connected (as the last `init`'s user), `o` Offline,
///   `a` Authenticating, `n` Connecting, `s` SignInRequired or `x` Stopped.
/// - `?JSON`: the reconcile live state asks for, if any, answered with `{"users": ..,
///   "sessions": .., "tasks": ..}` (a REST body, `"forbidden"` or any other string for a failure).
/// - `#JSON`: new notification settings (missing fields take their defaults).
///
/// Other lines are ignored. After every step: popups are plain text within their caps, every
/// snapshot list is within its cap, and no timer is left due (its task would spin); any
/// violation panics.
pub fn policy(data: &[u8]) -> PolicyRun {
    let Ok(script) = std::str::from_utf8(data) else {
        return PolicyRun::default();
    };
    let mut app = App::new();
    for line in script.lines() {
        app.step(line);
        app.check_snapshot();
    }
    app.run
}

/// The pure half of the app: live state and policy on fake clocks.
struct App {
    /// Live state, as the live-state task owns it.
    state: LiveState,
    /// The notification policy, as the notifier owns it.
    policy: Policy,
    /// The connection status last published.
    status: ConnectionStatus,
    /// Who the last `init` said we are, for a Connected status.
    me: Option<(String, String, bool)>,
    /// Milliseconds since the start on both fake clocks.
    elapsed_ms: u64,
    /// Counters.
    run: PolicyRun,
}

impl App {
    /// Nothing seen yet, default settings, not signed in.
    fn new() -> Self {
        Self {
            state: LiveState::new(&LiveSettings::default()),
            policy: Policy::new(
                PolicySettings::default(),
                PolicyContext {
                    self_user_id: String::new(),
                    is_admin: false,
                },
            ),
            status: ConnectionStatus::Connecting,
            me: None,
            elapsed_ms: 0,
            run: PolicyRun::default(),
        }
    }

    /// Unix ms on the fake wall clock.
    fn now_ms(&self) -> u64 {
        WALL_START_MS + self.elapsed_ms
    }

    /// The policy's monotonic reading.
    fn moment(&self) -> Moment {
        Moment::from_millis(self.elapsed_ms)
    }

    /// Local time for quiet hours and pause (UTC keeps runs reproducible).
    fn local(&self) -> DateTime<Utc> {
        let ms = i64::try_from(self.now_ms()).unwrap_or(i64::MAX);
        DateTime::from_timestamp_millis(ms).unwrap_or_default()
    }

    /// One line of the script.
    fn step(&mut self, line: &str) {
        let Some(first) = line.chars().next() else {
            return;
        };
        let rest = &line[first.len_utf8()..];
        match first {
            '[' => self.event(line),
            '+' => self.advance(rest),
            '!' => self.set_status(rest),
            '?' => self.reconcile(rest),
            '#' => {
                if let Ok(settings) = serde_json::from_str::<PolicySettings>(rest) {
                    self.policy.set_settings(settings);
                }
            }
            _ => {}
        }
    }

    /// A Socket.IO event array, through the socket's parser and the connection's decoder.
    fn event(&mut self, json: &str) {
        let Frame::Event(raw) = socket::parse_frame(&format!("42{json}")) else {
            return;
        };
        let Ok(event) = protocol::decode(&raw.name, &raw.args) else {
            return;
        };
        self.run.events += 1;
        if let Some(item) = self.state.title_wanted(&event) {
            let hostile = format!("\u{202E}{item}\u{7}\n<b>title</b>");
            self.state.learn_title(&item, Some(&hostile));
        }
        let now = self.now_ms();
        let facts = self.state.apply_event(&event, now);
        if let ServerEvent::Init(init) = &event {
            self.me = Some((
                init.user_id.clone(),
                init.username.clone(),
                init.users_online.is_some(),
            ));
            // The driver re-reads the status right after an `init`.
            let status = self.status.clone();
            self.state.apply_status(&status, now);
        }
        self.decide(facts);
    }

    /// Moves both clocks on and fires what fell due, as the tasks' timers would.
    fn advance(&mut self, digits: &str) {
        let step = digits.trim().parse::<u64>().unwrap_or(0).min(MAX_STEP_MS);
        self.elapsed_ms += step;
        let now = self.now_ms();
        if self.state.next_wake_at(now).is_some_and(|at| at <= now) {
            let facts = self.state.tick(now);
            self.decide(facts);
        }
        if self
            .policy
            .next_deadline()
            .is_some_and(|due| due <= self.moment())
        {
            let decisions = self.policy.tick(self.moment(), &self.local());
            self.judge(&decisions);
        }
        // A deadline still due after its tick would spin the task that sleeps until it.
        let wake = self.state.next_wake_at(now);
        assert!(
            wake.is_none_or(|at| at > now),
            "live state due again at {wake:?}"
        );
        self.check_deadline();
    }

    /// The policy never asks to be woken for a moment already settled.
    fn check_deadline(&self) {
        let due = self.policy.next_deadline();
        let now = self.moment();
        assert!(
            due.is_none_or(|d| d > now),
            "policy due at {due:?}, now {now:?}"
        );
    }

    /// A new connection status, to live state and (when connected) to the policy's context.
    fn set_status(&mut self, code: &str) {
        let status = match code.chars().next() {
            Some('c') => {
                let (user_id, username, is_admin) = self.me.clone().unwrap_or_default();
                self.policy.set_context(PolicyContext {
                    self_user_id: user_id.clone(),
                    is_admin,
                });
                ConnectionStatus::Connected {
                    user_id,
                    username,
                    is_admin,
                    server_version: Some("2.36.0".into()),
                    latency_ms: Some(12),
                }
            }
            Some('o') => ConnectionStatus::Offline {
                reason: "the server closed the connection".into(),
                detail: None,
                retry_at_ms: Some(self.now_ms() + 1_000),
            },
            Some('a') => ConnectionStatus::Authenticating,
            Some('n') => ConnectionStatus::Connecting,
            Some('s') => ConnectionStatus::SignInRequired {
                reason: "invalid token".into(),
            },
            Some('x') => ConnectionStatus::Stopped,
            _ => return,
        };
        let now = self.now_ms();
        self.state.apply_status(&status, now);
        self.status = status;
    }

    /// Answers the reconcile live state wants (reading only what it asks for, as the driver).
    fn reconcile(&mut self, json: &str) {
        let Some(ticket) = self.state.take_reconcile() else {
            return;
        };
        let answer = serde_json::from_str::<Value>(json).unwrap_or(Value::Null);
        let result = Reconciled {
            users_online: if ticket.wants_users() {
                fetch(answer.get("users"))
            } else {
                Fetch::NotAsked
            },
            open_sessions: fetch(answer.get("sessions")),
            tasks: if ticket.wants_tasks() {
                fetch(answer.get("tasks"))
            } else {
                Fetch::NotAsked
            },
        };
        let now = self.now_ms();
        let facts = self.state.apply_reconcile(ticket, result, now);
        self.decide(facts);
    }

    /// Hands happenings to the policy, one by one as the notifier receives them.
    fn decide(&mut self, facts: Vec<Happening>) {
        for fact in facts {
            self.run.happenings += 1;
            let decisions = self.policy.handle(fact, self.moment(), &self.local());
            self.judge(&decisions);
            self.check_deadline();
        }
    }

    /// Checks every decision's text: what reaches the desktop must be safe plain text.
    fn judge(&mut self, decisions: &[Decision]) {
        for decision in decisions {
            self.run.decisions += 1;
            if decision.popup().is_some() {
                self.run.popups += 1;
            }
            let n = &decision.notification;
            check_text("title", &n.title, TITLE_MAX_CHARS, false);
            check_text("body", &n.body, BODY_MAX_CHARS, true);
        }
    }

    /// Every list the window renders stays within its cap.
    fn check_snapshot(&self) {
        let snapshot = self.state.snapshot(self.now_ms());
        let lists = [
            ("users", snapshot.users.len(), MAX_USERS),
            ("listening", snapshot.listening.len(), MAX_SESSIONS),
            ("scans", snapshot.scans.len(), MAX_SCANS),
            ("activity", snapshot.activity.len(), MAX_ACTIVITY),
            ("logs", snapshot.logs.len(), MAX_LOG_LINES),
        ];
        for (what, len, cap) in lists {
            assert!(len <= cap, "snapshot {what}: {len} entries, cap {cap}");
        }
        assert!(self.state.session_count() <= live::MAX_SESSIONS);
    }
}

/// A REST read from the script's answer: a body, a failure string, or not read.
fn fetch<T: DeserializeOwned>(answer: Option<&Value>) -> Fetch<T> {
    match answer {
        None => Fetch::NotAsked,
        Some(Value::String(s)) if s == "forbidden" => Fetch::Forbidden,
        Some(Value::String(s)) => Fetch::Failed(s.clone()),
        Some(body) => match T::deserialize(body) {
            Ok(value) => Fetch::Got(value),
            Err(err) => Fetch::Failed(err.to_string()),
        },
    }
}

/// Asserts that popup text has no control or bidi characters (a body may break lines) and is
/// at most `max` characters.
fn check_text(what: &str, text: &str, max: usize, newlines: bool) {
    let count = text.chars().count();
    assert!(count <= max, "{what} of {count} characters: {text:?}");
    let bad = text.chars().find(|&c| {
        (c.is_control() && !(newlines && c == '\n'))
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    });
    if let Some(c) = bad {
        panic!("{what} holds {c:?}: {text:?}");
    }
}
