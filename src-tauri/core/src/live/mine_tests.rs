//! Unit tests of your own listening (users who are not admins) through the pure live state:
//! progress events and reads in, the snapshot's `mine` out.

use serde_json::{Value, json};

use super::rest::{Fetch, MineRead, Reconciled};
use super::*;
use crate::protocol::{ListeningSessions, MyProgress, PlaybackSession, ServerEvent, decode};

const T0: u64 = 1_800_000_000_000;
const MIN: u64 = 60_000;
const ALICE: &str = "alice-id";

fn ev(name: &str, payload: Value) -> ServerEvent {
    decode(name, &[payload.into()]).unwrap()
}

/// Alice (not an admin) connected at `T0`, with the connect's reads still to run.
fn alice() -> LiveState {
    let mut state = LiveState::new(&LiveSettings::default());
    let init = ev("init", json!({"userId": ALICE, "username": "alice"}));
    assert!(state.apply_event(&init, T0).is_empty());
    state
}

/// Alice's progress write from session `session` at `position` of a 1000 s book.
fn progress(item: &str, session: Option<&str>, position: f64, finished: bool) -> ServerEvent {
    ev(
        "user_item_progress_updated",
        json!({"id": format!("mp-{item}"), "sessionId": session,
            "deviceDescription": "Pixel 8 SDK 34 / v0.9.80",
            "data": {"id": format!("mp-{item}"), "libraryItemId": item, "episodeId": null,
                "duration": 1000.0, "progress": position / 1000.0, "currentTime": position,
                "isFinished": finished, "lastUpdate": T0,
                "finishedAt": if finished { json!(T0) } else { json!(null) }}}),
    )
}

fn closed(session: &str) -> ServerEvent {
    ServerEvent::UserSessionClosed {
        session_id: session.into(),
    }
}

/// A saved session of Alice's on `item`, last synced at `updated_at`.
fn session(id: &str, item: &str, title: &str, updated_at: u64) -> Value {
    json!({"id": id, "userId": ALICE, "libraryId": "lib-1", "libraryItemId": item,
        "episodeId": null, "mediaType": "book", "displayTitle": title,
        "displayAuthor": "Frank Herbert", "duration": 1000.0, "playMethod": 0,
        "deviceInfo": {"deviceId": "phone-1", "model": "Pixel 8", "clientName": "Abs Android"},
        "timeListening": 300.0, "startTime": 0.0, "currentTime": 300.0,
        "startedAt": updated_at - 300_000, "updatedAt": updated_at})
}

/// What a read found: these saved sessions (`open`: the newest is still open), these finished
/// items.
fn read(sessions: &[Value], open: bool, finished: &[(&str, u64)]) -> MineRead {
    let page: ListeningSessions = serde_json::from_value(json!({"total": sessions.len(),
        "numPages": 1, "page": 0, "itemsPerPage": 10, "sessions": sessions}))
    .unwrap();
    let newest: Option<PlaybackSession> = page.sessions.first().cloned();
    let progress: Vec<Value> = finished
        .iter()
        .map(|(item, at)| {
            json!({"id": format!("mp-{item}"), "libraryItemId": item, "episodeId": null,
                "duration": 1000.0, "progress": 1.0, "currentTime": 1000.0, "isFinished": true,
                "lastUpdate": at, "finishedAt": at})
        })
        .collect();
    let me: MyProgress =
        serde_json::from_value(json!({"id": ALICE, "mediaProgress": progress})).unwrap();
    MineRead {
        sessions: Fetch::Got(page),
        open: match newest {
            Some(s) if open => Fetch::Got(Some(s)),
            Some(_) => Fetch::Got(None),
            None => Fetch::NotAsked,
        },
        progress: Fetch::Got(me),
        items: Vec::new(),
    }
}

/// Runs the reconcile the state asked for, with `mine` as the read of your own listening.
fn answer(state: &mut LiveState, mine: &MineRead) {
    let ticket = state.take_reconcile().expect("a read was asked for");
    assert!(ticket.wants_mine());
    state.apply_mine(&ticket, mine);
    state.apply_reconcile(ticket, Reconciled::nothing(), T0);
}

#[test]
fn until_the_first_read_the_lists_are_unknown_not_empty() {
    let mut state = alice();
    assert!(!state.snapshot(T0).mine.loaded);
    answer(&mut state, &read(&[], false, &[]));
    let mine = state.snapshot(T0).mine;
    assert!(mine.loaded && mine.current.is_none() && mine.recent.is_empty());
    assert!(state.take_reconcile().is_none(), "nothing more to read");
}

#[test]
fn the_connect_read_finds_the_open_session_and_the_past() {
    let mut state = alice();
    let sessions = [
        session("s3", "dune", "Dune", T0 - MIN),
        session("s2", "emma", "Emma", T0 - 60 * MIN),
        session("s1", "dune", "Dune", T0 - 120 * MIN),
    ];
    answer(
        &mut state,
        &read(&sessions, true, &[("emma", T0 - 50 * MIN)]),
    );
    let mine = state.snapshot(T0).mine;
    let current = mine.current.expect("the open session is playing");
    assert_eq!(
        (current.session_id.as_str(), current.title.as_str()),
        ("s3", "Dune")
    );
    assert_eq!(current.device.as_deref(), Some("Pixel 8"));
    assert_eq!(current.user.username, "alice");
    assert_eq!(current.progress, Some(0.3));
    let recent: Vec<&str> = mine.recent.iter().map(|r| r.session_id.as_str()).collect();
    assert_eq!(recent, ["s2", "s1"]);
    assert_eq!(mine.finished[0].title, "Emma", "named by its session");

    // The newest session closed: nothing plays, all three are recent.
    let mut state = alice();
    answer(&mut state, &read(&sessions, false, &[]));
    let mine = state.snapshot(T0).mine;
    assert!(mine.current.is_none());
    assert_eq!(mine.recent.len(), 3);
}

#[test]
fn progress_events_drive_the_current_book_and_a_close_makes_it_recent() {
    let mut state = alice();
    answer(&mut state, &read(&[], false, &[]));
    state.learn_title("dune", Some("Dune"));
    state.apply_event(&progress("dune", Some("s1"), 100.0, false), T0);
    let ticket = state
        .take_reconcile()
        .expect("a new session: read the lists again");
    assert!(ticket.wants_mine() && !ticket.wants_users());
    state.apply_event(&progress("dune", Some("s1"), 250.0, false), T0 + MIN);
    let current = state.snapshot(T0 + MIN).mine.current.unwrap();
    assert_eq!(current.title, "Dune");
    assert_eq!(current.position_s, 250.0);
    assert_eq!(current.device.as_deref(), Some("Pixel 8 SDK 34 / v0.9.80"));
    assert!(
        state.take_reconcile().is_none(),
        "the same session needs no read"
    );

    state.apply_event(&closed("s1"), T0 + 2 * MIN);
    let mine = state.snapshot(T0 + 2 * MIN).mine;
    assert!(mine.current.is_none());
    assert_eq!(mine.recent[0].session_id, "s1");
    assert_eq!(mine.recent[0].position_s, 250.0);
    assert!(state.take_reconcile().is_some_and(|t| t.wants_mine()));

    // A write without a session (offline playback synced later) plays nothing.
    state.apply_event(&progress("dune", None, 300.0, false), T0 + 3 * MIN);
    assert!(state.snapshot(T0 + 3 * MIN).mine.current.is_none());
}

#[test]
fn a_read_older_than_the_events_does_not_undo_them() {
    let mut state = alice();
    answer(&mut state, &read(&[], false, &[]));
    state.apply_event(&progress("dune", Some("s1"), 100.0, false), T0);
    let ticket = state.take_reconcile().unwrap();
    // Meanwhile the session closes and another starts.
    state.apply_event(&closed("s1"), T0 + 1);
    state.apply_event(&progress("emma", Some("s2"), 10.0, false), T0 + 2);
    // The read was made before: it still says s1 is open.
    let stale = read(&[session("s1", "dune", "Dune", T0)], true, &[]);
    state.apply_mine(&ticket, &stale);
    let mine = state.snapshot(T0 + 2).mine;
    assert_eq!(
        mine.current.map(|c| c.session_id),
        Some("s2".into()),
        "the closed session did not come back"
    );
    // A read listing the closed session as open never brings it back either.
    let mut state = alice();
    state.apply_event(&closed("s1"), T0);
    answer(&mut state, &stale);
    assert!(state.snapshot(T0).mine.current.is_none());
}

#[test]
fn finishing_lists_the_book_first() {
    let mut state = alice();
    answer(&mut state, &read(&[], false, &[("emma", T0 - MIN)]));
    state.learn_title("dune", Some("Dune"));
    state.apply_event(&progress("dune", Some("s1"), 500.0, false), T0);
    state.apply_event(&progress("dune", Some("s1"), 1000.0, true), T0 + 1);
    let finished: Vec<String> = state
        .snapshot(T0 + 1)
        .mine
        .finished
        .iter()
        .map(|f| f.title.clone())
        .collect();
    assert_eq!(finished, ["Dune", "Untitled"]);
    // Progress edited in another client: only `user_updated` says so; read again.
    let _ = state.take_reconcile();
    let updated = ev(
        "user_updated",
        json!({"id": ALICE, "username": "alice", "type": "user",
        "isActive": true, "mediaProgress": []}),
    );
    state.apply_event(&updated, T0 + 2);
    assert!(state.take_reconcile().is_some_and(|t| t.wants_mine()));
}

#[test]
fn a_silent_current_session_turns_stale_on_time() {
    let settings = LiveSettings::default();
    let stale_ms = u64::try_from(settings.stale_after.as_millis()).unwrap();
    let mut state = alice();
    answer(&mut state, &read(&[], false, &[]));
    state.apply_event(&progress("dune", Some("s1"), 100.0, false), T0);
    let wake = state
        .next_wake_at(T0)
        .expect("a wake-up when it turns stale");
    assert_eq!(wake, T0 + stale_ms + 1);
    assert!(!state.snapshot(wake - 1).mine.current.unwrap().stale);
    assert!(state.snapshot(wake).mine.current.unwrap().stale);
}

#[test]
fn failed_reads_are_asked_for_again_and_admins_never_read() {
    let mut state = alice();
    let ticket = state.take_reconcile().unwrap();
    let failed = MineRead {
        sessions: Fetch::Failed("503".into()),
        open: Fetch::NotAsked,
        progress: Fetch::Failed("503".into()),
        items: Vec::new(),
    };
    assert!(failed.any_failed());
    state.apply_mine(&ticket, &failed);
    state.apply_reconcile(ticket, Reconciled::nothing(), T0);
    assert!(!state.snapshot(T0).mine.loaded);
    let ticket = state.take_reconcile().unwrap();
    assert!(ticket.wants_mine());
    // Refused (a server without these endpoints): nothing to show, known as such.
    let refused = MineRead {
        sessions: Fetch::Forbidden,
        open: Fetch::NotAsked,
        progress: Fetch::Forbidden,
        items: Vec::new(),
    };
    state.apply_mine(&ticket, &refused);
    state.apply_reconcile(ticket, Reconciled::nothing(), T0);
    assert!(state.snapshot(T0).mine.loaded);
    assert!(state.take_reconcile().is_none(), "a refusal is not retried");

    let mut admin = LiveState::new(&LiveSettings::default());
    let init = ev(
        "init",
        json!({"userId": "root-id", "username": "root", "usersOnline": []}),
    );
    admin.apply_event(&init, T0);
    assert!(!admin.take_reconcile().unwrap().wants_mine());
    admin.apply_event(&progress("dune", Some("s1"), 100.0, false), T0);
    admin.request_mine();
    assert_eq!(admin.snapshot(T0).mine, MyListening::default());
}

#[test]
fn another_account_starts_empty_and_hostile_lists_stay_bounded() {
    let mut state = alice();
    let many: Vec<Value> = (0..1_000)
        .map(|n| {
            session(
                &format!("s{n}"),
                "dune",
                &"long title ".repeat(10_000),
                T0 - n,
            )
        })
        .collect();
    answer(&mut state, &read(&many, false, &[]));
    let mine = state.snapshot(T0).mine;
    assert_eq!(mine.recent.len(), MAX_RECENT);
    assert!(mine.recent.iter().all(|r| r.title.len() <= 512));

    let bob = ev("init", json!({"userId": "bob-id", "username": "bob"}));
    state.apply_event(&bob, T0);
    let mine = state.snapshot(T0).mine;
    assert!(!mine.loaded && mine.recent.is_empty());
}
