//! The notification policy as a table: given settings and a timeline of happenings, exactly these
//! popups at exactly these times, and these decisions for history.
//!
//! The runner behaves like the real caller: it sleeps until `next_deadline` and ticks there, and it
//! checks at every deadline that a tick one millisecond earlier would have released nothing, so
//! every case also proves the deadlines exact.

use std::time::Duration;

use abs_tray_core::happening::{Happening, Listening, Who};
use abs_tray_core::policy::{
    ClockTime, Decision, Link, Moment, Notification, Outcome, Policy, PolicyContext,
    PolicySettings, QuietHours, Reason, Urgency, pause_for, pause_until_tomorrow,
};
use chrono::{DateTime, TimeDelta, TimeZone};
use chrono_tz::Europe::Berlin;
use chrono_tz::Tz;

// ---------------------------------------------------------------------------------------------
// The runner

/// One case: settings and a timeline in, popups and decisions out.
struct Case {
    /// What it shows.
    name: &'static str,
    /// The settings in force.
    settings: PolicySettings,
    /// Whether the signed-in user ("Me", `u-me`) is an admin.
    admin: bool,
    /// Local wall clock at t = 0.
    start: DateTime<Tz>,
    /// (seconds since start, happening), in order.
    timeline: Vec<(u64, Happening)>,
    /// Expected popups: "{t}s {title}" plus " | {body}" when there is a body.
    popups: Vec<&'static str>,
    /// Expected decisions ("{t}s {outcome}: {title}"); not checked when empty.
    decisions: Vec<&'static str>,
}

impl Case {
    /// A case for an admin at noon UTC with default settings.
    fn new(name: &'static str) -> Self {
        Self {
            name,
            settings: PolicySettings::default(),
            admin: true,
            start: noon(),
            timeline: Vec::new(),
            popups: Vec::new(),
            decisions: Vec::new(),
        }
    }

    /// Replaces the settings.
    fn settings(mut self, settings: PolicySettings) -> Self {
        self.settings = settings;
        self
    }

    /// Watches as a user who is not an admin.
    fn not_admin(mut self) -> Self {
        self.admin = false;
        self
    }

    /// Starts the clock at this local time.
    fn starting(mut self, start: DateTime<Tz>) -> Self {
        self.start = start;
        self
    }

    /// Adds a happening at `t` seconds.
    fn at(mut self, t: u64, happening: Happening) -> Self {
        self.timeline.push((t, happening));
        self
    }

    /// The expected popups.
    fn popups(mut self, popups: &[&'static str]) -> Self {
        self.popups = popups.to_vec();
        self
    }

    /// The expected decisions.
    fn decisions(mut self, decisions: &[&'static str]) -> Self {
        self.decisions = decisions.to_vec();
        self
    }

    /// Runs the timeline like the app would and compares.
    fn check(self) {
        let trace = run(&self.settings, self.admin, &self.start, self.timeline);
        assert_eq!(trace.popups, self.popups, "popups of case: {}", self.name);
        if !self.decisions.is_empty() {
            assert_eq!(
                trace.decisions, self.decisions,
                "decisions of case: {}",
                self.name
            );
        }
    }
}

/// What a run produced.
struct Trace {
    /// Popups as "{t}s {title}[ | {body}]".
    popups: Vec<String>,
    /// Decisions as "{t}s {outcome}: {title}".
    decisions: Vec<String>,
    /// The shown notifications themselves, for checks beyond the text.
    shown: Vec<Decision>,
    /// When each of them was shown.
    shown_at: Vec<Moment>,
}

/// Drives a policy through a timeline, ticking exactly at each deadline, then until none is left.
fn run(
    settings: &PolicySettings,
    admin: bool,
    start: &DateTime<Tz>,
    timeline: Vec<(u64, Happening)>,
) -> Trace {
    let mut policy = Policy::new(settings.clone(), context(admin));
    let mut trace = Trace {
        popups: Vec::new(),
        decisions: Vec::new(),
        shown: Vec::new(),
        shown_at: Vec::new(),
    };
    for (t, happening) in timeline {
        let now = Moment::from_secs(t);
        tick_until(&mut policy, start, Some(now), &mut trace);
        let decisions = policy.handle(happening, now, &local(start, now));
        record(&mut trace, now, decisions);
    }
    tick_until(&mut policy, start, None, &mut trace);
    assert_rate_limited(settings, &trace);
    trace
}

/// Every run, whatever the case: no rate window holds more popups than the limit (broadcasts,
/// which skip it, aside).
fn assert_rate_limited(settings: &PolicySettings, trace: &Trace) {
    let window = Duration::from_secs(settings.rate_window_s);
    let limited: Vec<Moment> = trace
        .shown
        .iter()
        .zip(&trace.shown_at)
        .filter(|(d, _)| d.notification.urgency != Urgency::Critical)
        .map(|(_, at)| *at)
        .collect();
    for (i, from) in limited.iter().enumerate() {
        let within = limited[i..]
            .iter()
            .take_while(|t| t.saturating_since(*from) < window)
            .count();
        let limit = usize::try_from(settings.rate_limit).expect("small");
        assert!(
            within <= limit,
            "{within} popups within the rate window from {}: {:?}",
            secs(*from),
            trace.popups
        );
    }
}

/// Ticks at every deadline up to `until` (all of them when `None`), as a caller sleeping until
/// `next_deadline` would; asserts that a millisecond earlier nothing was due.
fn tick_until(policy: &mut Policy, start: &DateTime<Tz>, until: Option<Moment>, trace: &mut Trace) {
    for _ in 0..10_000 {
        let Some(deadline) = policy.next_deadline() else {
            return;
        };
        if until.is_some_and(|until| deadline > until) {
            return;
        }
        if let Some(early) = deadline
            .since_origin()
            .checked_sub(Duration::from_millis(1))
        {
            let early = Moment::new(early);
            assert!(
                policy.tick(early, &local(start, early)).is_empty(),
                "released before its deadline"
            );
        }
        let decisions = policy.tick(deadline, &local(start, deadline));
        assert!(
            !decisions.is_empty(),
            "a deadline with nothing to do at {deadline:?}"
        );
        record(trace, deadline, decisions);
    }
    panic!("deadlines never ran out");
}

/// Adds decisions to the trace.
fn record(trace: &mut Trace, now: Moment, decisions: Vec<Decision>) {
    for decision in decisions {
        let n = &decision.notification;
        assert_safe_text(n);
        let outcome = match decision.outcome {
            Outcome::Shown => "shown".to_owned(),
            Outcome::Held { until } => format!("held until {}", secs(until)),
            Outcome::Suppressed(reason) => format!("{reason:?}"),
        };
        trace
            .decisions
            .push(format!("{} {outcome}: {}", secs(now), n.title));
        if decision.popup().is_some() {
            let body = if n.body.is_empty() {
                String::new()
            } else {
                format!(" | {}", n.body)
            };
            trace
                .popups
                .push(format!("{} {}{body}", secs(now), n.title));
            trace.shown.push(decision);
            trace.shown_at.push(now);
        }
    }
}

/// Every decision, whatever the case: plain text without control characters (line breaks in
/// bodies aside) or bidi controls, within the length caps.
fn assert_safe_text(n: &Notification) {
    assert!(
        n.title.chars().count() <= 120 && n.body.chars().count() <= 400,
        "{n:?}"
    );
    for c in n.title.chars().chain(n.body.chars()) {
        let bidi = matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
        let allowed = c == '\n' && !n.body.is_empty();
        assert!(allowed || !(c.is_control() || bidi), "{c:?} in {n:?}");
    }
    assert!(!n.title.contains('\n'), "titles are one line: {n:?}");
}

/// "5s", or "4.999s" when not whole.
fn secs(moment: Moment) -> String {
    let d = moment.since_origin();
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.3}s", d.as_secs_f64())
    }
}

/// The local wall clock at a moment.
fn local(start: &DateTime<Tz>, now: Moment) -> DateTime<Tz> {
    let ms = i64::try_from(now.since_origin().as_millis()).expect("short timelines");
    *start + TimeDelta::milliseconds(ms)
}

/// The signed-in user.
fn context(admin: bool) -> PolicyContext {
    PolicyContext {
        self_user_id: "u-me".into(),
        is_admin: admin,
    }
}

// ---------------------------------------------------------------------------------------------
// Building blocks

/// Monday 2 June 2025, 12:00 UTC: nowhere near quiet hours.
fn noon() -> DateTime<Tz> {
    Tz::UTC
        .with_ymd_and_hms(2025, 6, 2, 12, 0, 0)
        .single()
        .expect("valid")
}

/// A wall-clock time in Berlin (the earlier one when it occurs twice).
fn berlin(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Tz> {
    Berlin
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .earliest()
        .expect("exists in Berlin")
}

/// Seconds from `start` to `then`.
fn secs_between(start: &DateTime<Tz>, then: &DateTime<Tz>) -> u64 {
    u64::try_from((*then - *start).num_seconds()).expect("later")
}

/// A user.
fn who(id: &str, name: &str) -> Who {
    Who {
        user_id: id.into(),
        username: name.into(),
    }
}

/// Alice, a listener.
fn alice() -> Who {
    who("u-alice", "Alice")
}

/// Bob, another listener.
fn bob() -> Who {
    who("u-bob", "Bob")
}

/// The signed-in user themselves.
fn me() -> Who {
    who("u-me", "Me")
}

/// A user's first connection.
fn online(user: Who) -> Happening {
    Happening::UserOnline { user }
}

/// A user's last connection gone.
fn offline(user: Who) -> Happening {
    Happening::UserOffline { user }
}

/// A listening session.
fn listening(
    session: &str,
    user: Who,
    title: &str,
    author: Option<&str>,
    device: Option<&str>,
) -> Listening {
    Listening {
        session_id: session.into(),
        user,
        item_id: format!("li-{}", title.len()),
        episode_id: None,
        title: title.into(),
        author: author.map(Into::into),
        device: device.map(Into::into),
        started_at_ms: 1_748_865_600_000,
        position_s: 0.0,
        duration_s: 58_000.0,
    }
}

/// Alice listening to Project Hail Mary on her iPhone, as session `session`.
fn hail_mary(session: &str) -> Listening {
    listening(
        session,
        alice(),
        "Project Hail Mary",
        Some("Andy Weir"),
        Some("iPhone"),
    )
}

/// A session started.
fn started(listening: Listening) -> Happening {
    Happening::SessionStarted { listening }
}

/// A session confirmed stopped; `listened_s` is `None` when its final numbers were never seen.
fn stopped(
    listening: Listening,
    listened_s: impl Into<Option<f64>>,
    before: Option<f64>,
    after: Option<f64>,
) -> Happening {
    Happening::SessionStopped {
        listening,
        listened_s: listened_s.into(),
        progress_before: before,
        progress_after: after,
    }
}

/// One of your books flipped to finished.
fn finished(title: &str) -> Happening {
    Happening::Finished {
        item_id: format!("li-{title}"),
        title: title.into(),
    }
}

/// An admin broadcast.
fn admin(text: &str) -> Happening {
    Happening::AdminMessage { text: text.into() }
}

/// A reconnect after `outage_s` seconds with these differences.
fn resynced(outage_s: u64, changes: Vec<Happening>) -> Happening {
    Happening::Resynced {
        outage: Duration::from_secs(outage_s),
        changes,
    }
}

/// A library scan result.
fn scan(added: u64, updated: u64, missing: u64, failed: bool) -> Happening {
    Happening::ScanFinished {
        library_id: "lib-1".into(),
        library_name: Some("Audiobooks".into()),
        added,
        updated,
        missing,
        failed,
    }
}

/// Settings with server activity switched on.
fn with_server_activity() -> PolicySettings {
    PolicySettings {
        server_activity: true,
        ..PolicySettings::default()
    }
}

/// Quiet hours from `start` to `end` ("HH:MM").
fn quiet(start: &str, end: &str) -> PolicySettings {
    PolicySettings {
        quiet_hours: Some(QuietHours {
            start: start.parse::<ClockTime>().expect("valid"),
            end: end.parse::<ClockTime>().expect("valid"),
        }),
        ..PolicySettings::default()
    }
}

// ---------------------------------------------------------------------------------------------
// The table

#[test]
fn admin_messages_always_pop_up() {
    Case::new("a broadcast pops up at once")
        .at(0, admin("Server restarts at 22:00"))
        .popups(&["0s Message from your server admin | Server restarts at 22:00"])
        .check();

    let paused = PolicySettings {
        paused_until_ms: Some(pause_for(&noon(), Duration::from_secs(3600))),
        ..quiet("11:00", "14:00")
    };
    Case::new("broadcasts ignore quiet hours and pause; nothing else does")
        .settings(paused)
        .at(0, admin("Maintenance now"))
        .at(1, finished("Dune"))
        .popups(&["0s Message from your server admin | Maintenance now"])
        .decisions(&[
            "0s shown: Message from your server admin",
            "1s Paused: You finished Dune",
        ])
        .check();

    let full = Case::new("broadcasts skip the rate limit")
        .at(0, finished("A"))
        .at(0, finished("B"))
        .at(0, finished("C"))
        .at(0, finished("D"))
        .at(0, finished("E"))
        .at(1, admin("Urgent"));
    let trace = run(&full.settings, true, &full.start, full.timeline);
    assert_eq!(
        trace.popups.last().map(String::as_str),
        Some("1s Message from your server admin | Urgent")
    );
    assert_eq!(
        trace.shown.last().map(|d| d.notification.urgency),
        Some(Urgency::Critical)
    );
    assert_eq!(
        trace.shown.last().and_then(|d| d.notification.link.clone()),
        Some(Link::Window)
    );
}

#[test]
fn presence_is_debounced_and_flaps_say_nothing() {
    Case::new("online after 5 s, offline after 30 s")
        .at(0, online(alice()))
        .at(60, offline(alice()))
        .popups(&["5s Alice is online", "90s Alice went offline"])
        .decisions(&[
            "0s held until 5s: Alice is online",
            "5s shown: Alice is online",
            "60s held until 90s: Alice went offline",
            "90s shown: Alice went offline",
        ])
        .check();

    Case::new("online then offline within 5 s: nothing")
        .at(0, online(alice()))
        .at(4, offline(alice()))
        .popups(&[])
        .decisions(&[
            "0s held until 5s: Alice is online",
            "4s Flap: Alice is online",
            "4s Flap: Alice went offline",
        ])
        .check();

    Case::new("offline then online within 30 s: nothing")
        .at(0, online(alice()))
        .at(60, offline(alice()))
        .at(89, online(alice()))
        .popups(&["5s Alice is online"])
        .check();

    Case::new("back after the offline debounce: both transitions")
        .at(0, online(alice()))
        .at(60, offline(alice()))
        .at(91, online(alice()))
        .popups(&[
            "5s Alice is online",
            "90s Alice went offline",
            "96s Alice is online",
        ])
        .check();

    Case::new("offline soon after online is news, not a duplicate of the same subject")
        .at(0, online(alice()))
        .at(10, offline(alice()))
        .popups(&["5s Alice is online", "40s Alice went offline"])
        .check();

    Case::new("a repeated report is not a transition")
        .at(0, online(alice()))
        .at(2, online(alice()))
        .at(100, online(alice()))
        .popups(&["5s Alice is online"])
        .decisions(&[
            "0s held until 5s: Alice is online",
            "2s Duplicate: Alice is online",
            "5s shown: Alice is online",
            "100s Duplicate: Alice is online",
        ])
        .check();

    Case::new("own user ignored")
        .at(0, online(me()))
        .at(1, started(listening("s-me", me(), "Dune", None, None)))
        .popups(&[])
        .decisions(&["0s OwnUser: Me is online", "1s OwnUser: Me started Dune"])
        .check();

    Case::new("non-admins get no presence and no sessions")
        .not_admin()
        .at(0, online(alice()))
        .at(1, started(hail_mary("s1")))
        .at(2, finished("Dune"))
        .popups(&["2s You finished Dune"])
        .decisions(&[
            "0s NotAdmin: Alice is online",
            "1s NotAdmin: Alice started Project Hail Mary — Andy Weir on iPhone",
            "2s shown: You finished Dune",
        ])
        .check();
}

#[test]
fn sessions_read_like_sentences() {
    Case::new("start with and without author and device")
        .at(0, started(hail_mary("s1")))
        .at(
            1,
            started(listening(
                "s2",
                bob(),
                "Dune",
                None,
                Some("Chrome on Linux"),
            )),
        )
        .at(
            2,
            started(listening(
                "s3",
                who("u-c", "Carol"),
                "Emma",
                Some("Jane Austen"),
                None,
            )),
        )
        .at(
            3,
            started(listening("s4", who("u-d", "Dan"), "Ulysses", None, None)),
        )
        .popups(&[
            "0s Alice started Project Hail Mary — Andy Weir on iPhone",
            "1s Bob started Dune on Chrome on Linux",
            "2s Carol started Emma — Jane Austen",
            "3s Dan started Ulysses",
        ])
        .check();

    Case::new("stop with minutes and progress, once the merge window passed")
        .at(0, started(hail_mary("s1")))
        .at(
            2280,
            stopped(hail_mary("s1"), 2280.0, Some(0.12), Some(0.18)),
        )
        .popups(&[
            "0s Alice started Project Hail Mary — Andy Weir on iPhone",
            "2460s Alice stopped Project Hail Mary after 38 min (12% → 18%)",
        ])
        .decisions(&[
            "0s shown: Alice started Project Hail Mary — Andy Weir on iPhone",
            "2280s held until 2460s: Alice stopped Project Hail Mary after 38 min (12% → 18%)",
            "2460s shown: Alice stopped Project Hail Mary after 38 min (12% → 18%)",
        ])
        .check();

    Case::new("stop of seconds, hours, unknown progress")
        .at(
            0,
            stopped(
                listening("s1", alice(), "Dune", None, None),
                45.0,
                None,
                None,
            ),
        )
        .at(
            1,
            stopped(
                listening("s2", bob(), "Emma", None, None),
                3900.0,
                None,
                Some(0.5),
            ),
        )
        .popups(&[
            "180s Alice stopped Dune after 45 s",
            "181s Bob stopped Emma after 1 h 5 min (50%)",
        ])
        .check();
}

#[test]
fn a_stop_and_restart_within_the_merge_window_is_one_session() {
    Case::new("restart within the window: no stop, no second start; the final stop covers both")
        .at(0, started(hail_mary("s1")))
        .at(600, stopped(hail_mary("s1"), 600.0, Some(0.10), Some(0.15)))
        .at(700, started(hail_mary("s2")))
        .at(
            1300,
            stopped(hail_mary("s2"), 600.0, Some(0.15), Some(0.20)),
        )
        .popups(&[
            "0s Alice started Project Hail Mary — Andy Weir on iPhone",
            "1480s Alice stopped Project Hail Mary after 20 min (10% → 20%)",
        ])
        .decisions(&[
            "0s shown: Alice started Project Hail Mary — Andy Weir on iPhone",
            "600s held until 780s: Alice stopped Project Hail Mary after 10 min (10% → 15%)",
            "700s Merged: Alice stopped Project Hail Mary after 10 min (10% → 15%)",
            "700s Merged: Alice started Project Hail Mary — Andy Weir on iPhone",
            "1300s held until 1480s: Alice stopped Project Hail Mary after 20 min (10% → 20%)",
            "1480s shown: Alice stopped Project Hail Mary after 20 min (10% → 20%)",
        ])
        .check();

    Case::new("restart after the window: stop and new start")
        .at(0, started(hail_mary("s1")))
        .at(600, stopped(hail_mary("s1"), 600.0, Some(0.10), Some(0.15)))
        .at(781, started(hail_mary("s2")))
        .popups(&[
            "0s Alice started Project Hail Mary — Andy Weir on iPhone",
            "780s Alice stopped Project Hail Mary after 10 min (10% → 15%)",
            "781s Alice started Project Hail Mary — Andy Weir on iPhone",
        ])
        .check();

    let on_chrome = listening(
        "s2",
        alice(),
        "Project Hail Mary",
        Some("Andy Weir"),
        Some("Chrome"),
    );
    Case::new("another device is another session")
        .at(600, stopped(hail_mary("s1"), 600.0, None, None))
        .at(620, started(on_chrome))
        .popups(&[
            "620s Alice started Project Hail Mary — Andy Weir on Chrome",
            "780s Alice stopped Project Hail Mary after 10 min",
        ])
        .check();

    let bobs = listening(
        "s2",
        bob(),
        "Project Hail Mary",
        Some("Andy Weir"),
        Some("iPhone"),
    );
    Case::new("another user is another session")
        .at(600, stopped(hail_mary("s1"), 600.0, None, None))
        .at(620, started(bobs))
        .popups(&[
            "620s Bob started Project Hail Mary — Andy Weir on iPhone",
            "780s Alice stopped Project Hail Mary after 10 min",
        ])
        .check();
}

#[test]
fn progress_pops_up_on_flips_not_ticks() {
    Case::new("finished once, however often reported")
        .at(0, finished("Dune"))
        .at(10, finished("Dune"))
        .popups(&["0s You finished Dune"])
        .decisions(&[
            "0s shown: You finished Dune",
            "10s Duplicate: You finished Dune",
        ])
        .check();

    let milestone = || Happening::Milestone {
        item_id: "li-dune".into(),
        title: "Dune".into(),
        percent: 50,
    };
    Case::new("milestones are off by default")
        .at(0, milestone())
        .popups(&[])
        .decisions(&["0s MilestonesOff: You're 50% through Dune"])
        .check();
    Case::new("milestones when enabled")
        .settings(PolicySettings {
            milestones: true,
            ..PolicySettings::default()
        })
        .at(0, milestone())
        .popups(&["0s You're 50% through Dune"])
        .check();

    Case::new("playing elsewhere, like the web client")
        .at(
            0,
            Happening::PlayingElsewhere {
                item_id: "li-dune".into(),
                title: "Dune".into(),
                device: Some("iPhone".into()),
            },
        )
        .at(
            1,
            Happening::PlayingElsewhere {
                item_id: "li-emma".into(),
                title: "Emma".into(),
                device: None,
            },
        )
        .popups(&[
            "0s Dune is playing on another device | iPhone",
            "1s Emma is playing on another device",
        ])
        .check();
}

#[test]
fn server_activity_is_opt_in() {
    Case::new("off by default")
        .at(0, scan(3, 1, 0, false))
        .at(1, Happening::BackupApplied)
        .popups(&[])
        .decisions(&[
            "0s CategoryOff: Scan of Audiobooks finished: 3 added, 1 updated",
            "1s CategoryOff: A backup was restored on the server",
        ])
        .check();

    let items = |count, first: Option<&str>| Happening::ItemsAdded {
        library_id: "lib-1".into(),
        count,
        first_title: first.map(Into::into),
        first_item_id: first.map(|t| format!("li-{t}")),
    };
    let episode = |podcast: Option<&str>, episode: Option<&str>| Happening::EpisodeDownloaded {
        item_id: "li-pod".into(),
        podcast_title: podcast.map(Into::into),
        episode_title: episode.map(Into::into),
    };
    // Spaced past the rate window so each pops up on its own.
    Case::new("each kind when on")
        .settings(with_server_activity())
        .at(0, scan(3, 1, 0, false))
        .at(40, scan(0, 0, 0, false))
        .at(80, scan(0, 0, 2, true))
        .at(120, episode(Some("The Daily"), Some("Ep 5")))
        .at(160, episode(None, None))
        .at(200, Happening::BackupApplied)
        .at(240, items(1, Some("Dune")))
        .at(280, items(3, Some("Emma")))
        .at(320, items(2, None))
        .at(360, Happening::UserAdded { user: bob() })
        .at(400, Happening::UserRemoved { user: bob() })
        .popups(&[
            "0s Scan of Audiobooks finished: 3 added, 1 updated",
            "40s Scan of Audiobooks finished: no changes",
            "80s Scan of Audiobooks did not finish",
            "120s New episode of The Daily: Ep 5",
            "160s New podcast episode downloaded",
            "200s A backup was restored on the server",
            "240s Added to the library: Dune",
            "280s 3 items added, including Emma",
            "320s 2 items added",
            "360s New user: Bob",
            "400s User removed: Bob",
        ])
        .check();

    Case::new("account changes are for admins")
        .settings(with_server_activity())
        .not_admin()
        .at(0, Happening::UserAdded { user: bob() })
        .at(1, scan(1, 0, 0, false))
        .popups(&["1s Scan of Audiobooks finished: 1 added"])
        .check();
}

#[test]
fn quiet_hours_across_midnight() {
    let evening = Tz::UTC
        .with_ymd_and_hms(2025, 6, 2, 21, 59, 0)
        .single()
        .expect("valid");
    Case::new("22:00–07:00: quiet from 22:00 to 06:59, nothing caught up at 07:00")
        .settings(quiet("22:00", "07:00"))
        .starting(evening)
        .at(0, finished("at 21:59"))
        .at(60, finished("at 22:00"))
        .at(3 * 3600, finished("at 00:59"))
        .at(9 * 3600, finished("at 06:59"))
        .at(9 * 3600 + 60, finished("at 07:00"))
        .popups(&["0s You finished at 21:59", "32460s You finished at 07:00"])
        .decisions(&[
            "0s shown: You finished at 21:59",
            "60s QuietHours: You finished at 22:00",
            "10800s QuietHours: You finished at 00:59",
            "32400s QuietHours: You finished at 06:59",
            "32460s shown: You finished at 07:00",
        ])
        .check();

    Case::new("a debounced popup that comes due in quiet hours stays quiet")
        .settings(quiet("22:00", "07:00"))
        .starting(evening + TimeDelta::seconds(58))
        .at(0, online(alice()))
        .popups(&[])
        .decisions(&[
            "0s held until 5s: Alice is online",
            "5s QuietHours: Alice is online",
        ])
        .check();
}

/// Which of the night's local wall times ("HH:MM") a 22:00–07:00 window let through, by handling
/// a finished book at each given wall time.
fn night_in_berlin(
    eve: (i32, u32, u32),
    morning: (i32, u32, u32),
    walls: &[(bool, u32, u32)],
) -> (Vec<String>, u64) {
    let start = berlin(eve.0, eve.1, eve.2, 21, 0);
    let mut case = Case::new("DST night")
        .settings(quiet("22:00", "07:00"))
        .starting(start);
    for &(next_day, h, m) in walls {
        let (y, mo, d) = if next_day { morning } else { eve };
        let t = secs_between(&start, &berlin(y, mo, d, h, m));
        case = case.at(t, finished(&format!("{h:02}:{m:02}")));
    }
    let trace = run(&case.settings, true, &case.start, case.timeline);
    let shown = trace
        .shown
        .iter()
        .map(|d| d.notification.title.replace("You finished ", ""))
        .collect();
    let night = secs_between(
        &berlin(eve.0, eve.1, eve.2, 22, 0),
        &berlin(morning.0, morning.1, morning.2, 7, 0),
    );
    (shown, night)
}

#[test]
fn quiet_hours_keep_their_wall_times_on_dst_nights() {
    let walls = [
        (false, 21, 59),
        (false, 22, 0),
        (true, 1, 59),
        (true, 3, 0),
        (true, 6, 59),
        (true, 7, 0),
    ];
    // Spring forward: 02:00 CET becomes 03:00 CEST; the night is 8 hours long.
    let (shown, night) = night_in_berlin((2025, 3, 29), (2025, 3, 30), &walls);
    assert_eq!(shown, ["21:59", "07:00"]);
    assert_eq!(night, 8 * 3600);
    // Fall back: 03:00 CEST becomes 02:00 CET; the night is 10 hours long.
    let (shown, night) = night_in_berlin((2025, 10, 25), (2025, 10, 26), &walls);
    assert_eq!(shown, ["21:59", "07:00"]);
    assert_eq!(night, 10 * 3600);

    // Minute by minute through both nights: quiet exactly while the wall clock reads 22:00–06:59,
    // which is 480 real minutes one night and 600 the other.
    let settings = quiet("22:00", "07:00");
    for (eve, expected_minutes) in [((2025, 3, 29), 480), ((2025, 10, 25), 600)] {
        let start = berlin(eve.0, eve.1, eve.2, 20, 0);
        let quiet_minutes: Vec<DateTime<Tz>> = (0..14 * 60)
            .map(|m| start + TimeDelta::minutes(m))
            .filter(|t| settings.silenced_at(t) == Some(Reason::QuietHours))
            .collect();
        assert_eq!(quiet_minutes.len(), expected_minutes, "night of {eve:?}");
        let first = quiet_minutes.first().expect("some quiet");
        let last = quiet_minutes.last().expect("some quiet");
        assert_eq!(first.format("%H:%M").to_string(), "22:00");
        assert_eq!(last.format("%H:%M").to_string(), "06:59");
    }
}

#[test]
fn pause_for_an_hour() {
    let settings = PolicySettings {
        paused_until_ms: Some(pause_for(&noon(), Duration::from_secs(3600))),
        ..PolicySettings::default()
    };
    Case::new("paused until 13:00")
        .settings(settings)
        .at(0, finished("A"))
        .at(3599, finished("B"))
        .at(3600, finished("C"))
        .popups(&["3600s You finished C"])
        .decisions(&[
            "0s Paused: You finished A",
            "3599s Paused: You finished B",
            "3600s shown: You finished C",
        ])
        .check();
}

#[test]
fn pause_until_tomorrow_ends_at_the_next_local_eight_o_clock() {
    let hours_until = |from: DateTime<Tz>| {
        (pause_until_tomorrow(&from) - from.timestamp_millis()) as f64 / 3_600_000.0
    };
    // The evening before spring forward: 22:00 CET to 08:00 CEST is 9 hours, not 10.
    assert_eq!(hours_until(berlin(2025, 3, 29, 22, 0)), 9.0);
    // The evening before fall back: 22:00 CEST to 08:00 CET is 11 hours.
    assert_eq!(hours_until(berlin(2025, 10, 25, 22, 0)), 11.0);
    // Paused at noon: tomorrow morning.
    assert_eq!(hours_until(berlin(2025, 6, 2, 12, 0)), 20.0);
    // Paused after midnight, still night: this morning.
    assert_eq!(hours_until(berlin(2025, 6, 3, 2, 0)), 6.0);

    let eve = berlin(2025, 3, 29, 22, 0);
    let settings = PolicySettings {
        paused_until_ms: Some(pause_until_tomorrow(&eve)),
        ..PolicySettings::default()
    };
    let at = |h, m| secs_between(&eve, &berlin(2025, 3, 30, h, m));
    Case::new("paused through the spring-forward night")
        .settings(settings)
        .starting(eve)
        .at(at(7, 59), finished("A"))
        .at(at(8, 0), finished("B"))
        .popups(&["32400s You finished B"])
        .check();
}

#[test]
fn muted_users_and_category_toggles() {
    let mut muted = PolicySettings::default();
    muted.muted_users.insert("u-bob".into());
    Case::new("a muted user's presence and sessions stay quiet")
        .settings(muted)
        .at(0, online(bob()))
        .at(0, online(alice()))
        .at(1, started(listening("s1", bob(), "Dune", None, None)))
        .popups(&["5s Alice is online"])
        .decisions(&[
            "0s Muted: Bob is online",
            "0s held until 5s: Alice is online",
            "1s Muted: Bob started Dune",
            "5s shown: Alice is online",
        ])
        .check();

    use abs_tray_core::happening::Category;
    let samples = [
        (Category::AdminMessage, admin("hi")),
        (Category::Presence, online(alice())),
        (Category::Sessions, started(hail_mary("s1"))),
        (Category::Progress, finished("Dune")),
        (Category::ServerActivity, Happening::BackupApplied),
    ];
    for (category, happening) in samples {
        let mut all_on = with_server_activity();
        let on = run(&all_on, true, &noon(), vec![(0, happening.clone())]);
        assert_eq!(on.popups.len(), 1, "{category:?} on");
        all_on.set_enabled(category, false);
        let off = run(&all_on, true, &noon(), vec![(0, happening)]);
        assert!(off.popups.is_empty(), "{category:?} off");
        assert!(
            off.decisions[0].ends_with(&format!("CategoryOff: {}", on.shown[0].notification.title))
        );
    }
}

#[test]
fn the_rate_limit_folds_the_surplus() {
    Case::new("8 at once: 5 now, 'And 3 more' when the window frees")
        .at(0, finished("B1"))
        .at(0, finished("B2"))
        .at(0, finished("B3"))
        .at(0, finished("B4"))
        .at(0, finished("B5"))
        .at(0, finished("B6"))
        .at(1, finished("B7"))
        .at(2, finished("B8"))
        .popups(&[
            "0s You finished B1",
            "0s You finished B2",
            "0s You finished B3",
            "0s You finished B4",
            "0s You finished B5",
            "30s And 3 more | You finished B6\nYou finished B7\nYou finished B8",
        ])
        .check();

    Case::new("one surplus shows as itself")
        .at(0, finished("B1"))
        .at(0, finished("B2"))
        .at(0, finished("B3"))
        .at(0, finished("B4"))
        .at(10, finished("B5"))
        .at(20, finished("B6"))
        .at(35, finished("B7"))
        .popups(&[
            "0s You finished B1",
            "0s You finished B2",
            "0s You finished B3",
            "0s You finished B4",
            "10s You finished B5",
            "30s You finished B6",
            // B1–B4 left the window at 30 s; it holds only B5 and B6, so B7 goes straight out.
            "35s You finished B7",
        ])
        .decisions(&[
            "0s shown: You finished B1",
            "0s shown: You finished B2",
            "0s shown: You finished B3",
            "0s shown: You finished B4",
            "10s shown: You finished B5",
            "20s held until 30s: You finished B6",
            "30s shown: You finished B6",
            "35s shown: You finished B7",
        ])
        .check();

    Case::new("a tighter limit (2 per 10 s): the surplus of a burst folds, then traffic flows")
        .settings(PolicySettings {
            rate_limit: 2,
            rate_window_s: 10,
            ..PolicySettings::default()
        })
        .at(0, finished("B1"))
        .at(0, finished("B2"))
        .at(0, finished("B3"))
        .at(0, finished("B4"))
        .at(5, finished("B5"))
        .at(12, finished("B6"))
        .popups(&[
            "0s You finished B1",
            "0s You finished B2",
            "10s And 3 more | You finished B3\nYou finished B4\nYou finished B5",
            "12s You finished B6",
        ])
        .check();
}

#[test]
fn identical_notifications_are_deduplicated() {
    Case::new("re-auth duplicates within the dedupe window")
        .at(0, admin("Restarting"))
        .at(5, admin("Restarting"))
        .at(5, started(hail_mary("s1")))
        .at(6, started(hail_mary("s1")))
        .at(61, admin("Restarting"))
        .popups(&[
            "0s Message from your server admin | Restarting",
            "5s Alice started Project Hail Mary — Andy Weir on iPhone",
            "61s Message from your server admin | Restarting",
        ])
        .check();
}

#[test]
fn a_long_outage_is_one_summary() {
    let changes = || {
        vec![
            online(alice()),
            online(bob()),
            started(listening("s9", who("u-c", "Carol"), "Dune", None, None)),
            finished("Emma"),
            online(me()),
        ]
    };
    Case::new("over 2 min: 'While you were away'")
        .at(0, resynced(300, changes()))
        .popups(&[
            "0s While you were away | 2 users came online, Carol started Dune, you finished Emma",
        ])
        .decisions(&[
            "0s Summarised: Alice is online",
            "0s Summarised: Bob is online",
            "0s Summarised: Carol started Dune",
            "0s Summarised: You finished Emma",
            "0s OwnUser: Me is online",
            "0s shown: While you were away",
        ])
        .check();

    Case::new("however short: one summary, nothing pops up late as if new")
        .at(0, resynced(1, changes()))
        .popups(&[
            "0s While you were away | 2 users came online, Carol started Dune, you finished Emma",
        ])
        .check();

    Case::new("a stop seen only from the lists says no numbers it never saw")
        .at(
            0,
            resynced(1, vec![stopped(hail_mary("s1"), None, Some(0.0), None)]),
        )
        .at(600, stopped(hail_mary("s2"), None, Some(0.0), None))
        .popups(&[
            "0s While you were away | Alice stopped Project Hail Mary",
            "780s Alice stopped Project Hail Mary",
        ])
        .check();

    let many: Vec<Happening> = (1..=9)
        .map(|i| {
            started(listening(
                &format!("s{i}"),
                who(&format!("u{i}"), &format!("User{i}")),
                "Dune",
                None,
                None,
            ))
        })
        .collect();
    Case::new("a big difference is still one popup, capped")
        .at(0, resynced(3600, many))
        .popups(&[
            "0s While you were away | User1 started Dune, User2 started Dune, User3 started Dune, \
             User4 started Dune, User5 started Dune, and 4 more",
        ])
        .check();

    Case::new("a summary of nothing eligible pops nothing up; a broadcast in it stays itself")
        .not_admin()
        .at(0, resynced(3600, vec![online(alice()), admin("Back up")]))
        .popups(&["0s Message from your server admin | Back up"])
        .check();

    Case::new("a summary confirms presence: no popup for a state already known")
        .at(0, online(alice()))
        .at(100, resynced(300, vec![online(alice()), offline(bob())]))
        .popups(&[
            "5s Alice is online",
            "100s While you were away | Bob went offline",
        ])
        .check();
}

#[test]
fn hostile_strings_become_safe_plain_text() {
    let hostile = who("u-evil", "\u{202E}<b>x</b>&\u{7}\u{1b}[2J\u{2066}");
    Case::new("markup stays literal, control characters and bidi overrides go")
        .at(0, online(hostile))
        .at(1, admin("line one\r\n\u{202D}line two\u{0}"))
        .popups(&[
            "1s Message from your server admin | line one\nline two",
            "5s <b>x</b>&[2J is online",
        ])
        .check();

    let huge = "Ω".repeat(1 << 20);
    let trace = run(
        &PolicySettings::default(),
        true,
        &noon(),
        vec![
            (
                0,
                started(listening(
                    "s1",
                    who("u1", &huge),
                    &huge,
                    Some(&huge),
                    Some(&huge),
                )),
            ),
            (1, admin(&huge)),
        ],
    );
    let session = &trace.shown[0].notification;
    assert_eq!(session.title.chars().count(), 120);
    assert!(session.title.starts_with("ΩΩΩ") && session.title.ends_with('…'));
    let broadcast = &trace.shown[1].notification;
    assert_eq!(broadcast.body.chars().count(), 400);
    assert!(broadcast.key.len() < 1000, "keys stay small too");
}

#[test]
fn next_deadline_is_exact() {
    let mut policy = Policy::new(PolicySettings::default(), context(true));
    let start = noon();
    let at = |ms| Moment::from_millis(ms);
    assert_eq!(policy.next_deadline(), None, "nothing waits");
    policy.handle(online(alice()), at(10_250), &local(&start, at(10_250)));
    assert_eq!(policy.next_deadline(), Some(at(15_250)));
    policy.handle(offline(bob()), at(11_000), &local(&start, at(11_000)));
    assert_eq!(policy.next_deadline(), Some(at(15_250)), "the earliest");
    assert!(
        policy
            .tick(at(15_249), &local(&start, at(15_249)))
            .is_empty()
    );
    let released = policy.tick(at(15_250), &local(&start, at(15_250)));
    assert_eq!(released.iter().filter_map(Decision::popup).count(), 1);
    assert_eq!(policy.next_deadline(), Some(at(41_000)));
    policy.tick(at(41_000), &local(&start, at(41_000)));
    assert_eq!(policy.next_deadline(), None, "nothing left");
}

#[test]
fn a_ten_minute_session_synced_every_10_s_pops_up_twice() {
    // Live state turns 60 progress syncs into one start and one stop; the caller wakes at every
    // sync (ticks) as well as at deadlines, and nothing else may pop up.
    let mut policy = Policy::new(PolicySettings::default(), context(true));
    let start = noon();
    let mut popups = Vec::new();
    let mut keep = |decisions: Vec<Decision>| {
        popups.extend(
            decisions
                .iter()
                .filter_map(Decision::popup)
                .map(|n| n.title.clone()),
        )
    };
    let at = Moment::from_secs;
    keep(policy.handle(started(hail_mary("s1")), at(0), &local(&start, at(0))));
    for sync in 1..=60 {
        keep(policy.tick(at(sync * 10), &local(&start, at(sync * 10))));
    }
    keep(policy.handle(
        stopped(hail_mary("s1"), 600.0, Some(0.10), Some(0.12)),
        at(610),
        &local(&start, at(610)),
    ));
    while let Some(deadline) = policy.next_deadline() {
        keep(policy.tick(deadline, &local(&start, deadline)));
    }
    assert_eq!(
        popups,
        [
            "Alice started Project Hail Mary — Andy Weir on iPhone",
            "Alice stopped Project Hail Mary after 10 min (10% → 12%)",
        ]
    );
}
