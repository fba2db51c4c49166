//! Unit tests of the pure live state: events and REST results in, facts and pictures out.

use std::time::Duration;

use serde_json::{Value, json};

use super::rest::{Fetch, Reconciled};
use super::sessions;
use super::*;
use crate::connection::ConnectionStatus;
use crate::happening::{Happening, Who};
use crate::protocol::{OpenSessions, ServerEvent, TaskList, UsersOnline, decode};

const T0: u64 = 1_800_000_000_000;
const MIN: u64 = 60_000;
const ROOT: &str = "root-id";
const ALICE: &str = "alice-id";
const BOB: &str = "bob-id";

fn ev(name: &str, payload: Value) -> ServerEvent {
    decode(name, &[payload.into()]).unwrap()
}

fn user(id: &str, connections: Option<u32>) -> Value {
    let name = id.trim_end_matches("-id");
    let kind = if id == ROOT { "root" } else { "user" };
    let mut user = json!({"id": id, "username": name, "type": kind, "session": null,
        "lastSeen": null, "createdAt": T0});
    if let Some(c) = connections {
        user["connections"] = json!(c);
    }
    user
}

fn session(id: &str, owner: &str, current: f64, updated_at: u64) -> Value {
    json!({"id": id, "userId": owner, "libraryId": "lib-1", "libraryItemId": format!("item-{id}"),
        "episodeId": null, "mediaType": "book", "displayTitle": format!("Book {id}"),
        "displayAuthor": "Andy Weir", "duration": 1000.0, "playMethod": 0,
        "deviceInfo": {"deviceId": "phone-1", "model": "iPhone", "clientName": "Abs iOS"},
        "timeListening": current - 100.0, "startTime": 100.0, "currentTime": current,
        "startedAt": T0, "updatedAt": updated_at})
}

fn stream_update(owner: &str, session: Value) -> ServerEvent {
    let mut u = user(owner, None);
    u["session"] = session;
    ev("user_stream_update", u)
}

fn online(id: &str) -> ServerEvent {
    ev("user_online", user(id, None))
}

fn offline(id: &str) -> ServerEvent {
    ev("user_offline", user(id, None))
}

fn users_online(users: &[Value], sessions: &[Value]) -> UsersOnline {
    serde_json::from_value(json!({"usersOnline": users, "openSessions": sessions})).unwrap()
}

fn reconciled(users: &[Value], sessions: &[Value]) -> Reconciled {
    Reconciled {
        users_online: Fetch::Got(users_online(users, sessions)),
        open_sessions: Fetch::NotAsked,
        tasks: Fetch::Got(TaskList::default()),
    }
}

fn connected(admin: bool) -> ConnectionStatus {
    ConnectionStatus::Connected {
        user_id: ROOT.into(),
        username: "root".into(),
        is_admin: admin,
        server_version: Some("2.36.0".into()),
        latency_ms: Some(12),
    }
}

fn offline_status() -> ConnectionStatus {
    ConnectionStatus::Offline {
        reason: "gone".into(),
        detail: None,
        retry_at_ms: None,
    }
}

fn init(users: &[Value]) -> ServerEvent {
    ev(
        "init",
        json!({"userId": ROOT, "username": "root", "usersOnline": users}),
    )
}

/// An admin state connected at `now`, having learned `users` and `sessions` silently.
fn admin_with(users: &[Value], sessions: &[Value], now: u64) -> LiveState {
    let mut state = LiveState::new(&LiveSettings::default());
    assert!(state.apply_event(&online(ROOT), now).is_empty());
    assert!(state.apply_event(&init(users), now).is_empty());
    state.apply_status(&connected(true), now);
    let ticket = state.take_reconcile().unwrap();
    assert!(ticket.wants_users() && ticket.wants_tasks());
    assert!(
        state
            .apply_reconcile(ticket, reconciled(users, sessions), now)
            .is_empty()
    );
    state
}

/// Runs the reconcile the state asked for with this server list.
fn reconcile(
    state: &mut LiveState,
    users: &[Value],
    sessions: &[Value],
    now: u64,
) -> Vec<Happening> {
    let ticket = state.take_reconcile().expect("a reconcile was asked for");
    state.apply_reconcile(ticket, reconciled(users, sessions), now)
}

fn who(id: &str) -> Who {
    Who {
        user_id: id.into(),
        username: id.trim_end_matches("-id").into(),
    }
}

fn connections(state: &LiveState, id: &str) -> u32 {
    state
        .snapshot(T0)
        .users
        .iter()
        .find(|u| u.user_id == id)
        .map_or(0, |u| u.connections)
}

fn progress(
    item: &str,
    session: &str,
    device: &str,
    p: f64,
    finished: bool,
    now: u64,
) -> ServerEvent {
    ev(
        "user_item_progress_updated",
        json!({"id": format!("mp-{item}"), "sessionId": session, "deviceDescription": device,
            "data": {"id": format!("mp-{item}"), "libraryItemId": item, "episodeId": null,
                "duration": 1000.0, "progress": p, "currentTime": p * 1000.0,
                "isFinished": finished, "lastUpdate": now,
                "finishedAt": if finished { json!(now) } else { json!(null) }}}),
    )
}

fn scan_task(id: &str, finished: bool, results: Option<(u64, u64, u64)>) -> Value {
    let mut data = json!({"libraryId": "lib-1", "libraryName": "Audiobooks"});
    if let Some((added, updated, missing)) = results {
        data["scanResults"] = json!({"added": added, "updated": updated, "missing": missing,
            "elapsed": 107, "text": "done"});
    }
    json!({"id": id, "action": "library-scan", "data": data, "title": "Scanning",
        "isFailed": false, "isFinished": finished, "startedAt": T0})
}

#[test]
fn presence_counts_sockets_not_users() {
    let mut state = admin_with(&[user(ROOT, Some(1))], &[], T0);
    assert_eq!(
        state.apply_event(&online(ALICE), T0 + 1),
        [Happening::UserOnline { user: who(ALICE) }]
    );
    assert!(state.apply_event(&online(ALICE), T0 + 2).is_empty());
    assert_eq!(connections(&state, ALICE), 2);
    assert!(state.apply_event(&offline(ALICE), T0 + 3).is_empty());
    assert_eq!(connections(&state, ALICE), 1);
    assert_eq!(
        state.apply_event(&offline(ALICE), T0 + 4),
        [Happening::UserOffline { user: who(ALICE) }]
    );
    let snapshot = state.snapshot(T0 + 5);
    let alice = snapshot.users.iter().find(|u| u.user_id == ALICE).unwrap();
    assert_eq!((alice.connections, alice.last_seen_ms), (0, Some(T0 + 4)));
    assert_eq!(snapshot.users_online(), 1);
    assert!(
        state.take_reconcile().is_some_and(|t| t.wants_users()),
        "the server's counts confirm the events'"
    );
}

#[test]
fn the_apps_own_socket_is_not_a_user_coming_online() {
    let mut state = LiveState::new(&LiveSettings::default());
    // The admin's own user_online comes before init.
    assert!(state.apply_event(&online(ROOT), T0).is_empty());
    assert!(
        state
            .apply_event(&init(&[user(ROOT, Some(1))]), T0)
            .is_empty()
    );
    state.apply_status(&connected(true), T0);
    assert_eq!(
        connections(&state, ROOT),
        1,
        "our own connection is counted"
    );
    // Another socket of our own user (a browser tab): counted, no fact either way.
    assert!(state.apply_event(&online(ROOT), T0 + 1).is_empty());
    assert!(state.apply_event(&offline(ROOT), T0 + 2).is_empty());
    assert!(reconcile(&mut state, &[user(ROOT, Some(1))], &[], T0 + 3).is_empty());
    let snapshot = state.snapshot(T0 + 3);
    assert_eq!(snapshot.me.as_ref().map(|m| m.is_admin), Some(true));
    assert_eq!(snapshot.latency_ms, Some(12));
    assert!(snapshot.activity.is_empty());
}

#[test]
fn the_first_connect_learns_silently() {
    let users = [user(ROOT, Some(1)), user(ALICE, Some(2))];
    let sessions = [session("s1", ALICE, 300.0, T0)];
    let state = admin_with(&users, &sessions, T0);
    let snapshot = state.snapshot(T0);
    assert_eq!(snapshot.users_online(), 2);
    assert_eq!(snapshot.listening.len(), 1);
    assert_eq!(snapshot.listening[0].user, who(ALICE));
    assert_eq!(snapshot.listening[0].device.as_deref(), Some("iPhone"));
    assert_eq!(snapshot.listening[0].play_method, "direct_play");
}

#[test]
fn reconcile_corrects_counts() {
    let mut state = admin_with(&[user(ROOT, Some(1))], &[], T0);
    assert_eq!(state.apply_event(&online(ALICE), T0 + 1).len(), 1);
    // The server knows better: three sockets.
    state.request_poll();
    let listed = [user(ROOT, Some(1)), user(ALICE, Some(3))];
    assert!(reconcile(&mut state, &listed, &[], T0 + 2).is_empty());
    assert_eq!(connections(&state, ALICE), 3);
    // A user_offline for someone not counted online means the counts are off: ask the server.
    assert!(state.apply_event(&offline(BOB), T0 + 3).is_empty());
    assert_eq!(
        reconcile(&mut state, &[user(ROOT, Some(1))], &[], T0 + 4),
        [Happening::UserOffline { user: who(ALICE) }]
    );
    state.request_poll();
    assert_eq!(
        reconcile(
            &mut state,
            &[user(ROOT, Some(1)), user(BOB, None)],
            &[],
            T0 + 5
        ),
        [Happening::UserOnline { user: who(BOB) }]
    );
    assert_eq!(connections(&state, BOB), 1, "no count means one connection");
}

#[test]
fn a_reconcile_older_than_an_event_does_not_undo_it() {
    let mut state = admin_with(&[user(ROOT, Some(1))], &[], T0);
    state.request_poll();
    let ticket = state.take_reconcile().unwrap();
    // While the read is in flight, bob comes online and alice starts a session.
    assert_eq!(state.apply_event(&online(BOB), T0 + 1).len(), 1);
    let started = state.apply_event(
        &stream_update(ALICE, session("s1", ALICE, 100.0, T0)),
        T0 + 1,
    );
    assert!(matches!(started[..], [Happening::SessionStarted { .. }]));
    let facts = state.apply_reconcile(ticket, reconciled(&[user(ROOT, Some(1))], &[]), T0 + 2);
    assert!(facts.is_empty(), "{facts:?}");
    assert_eq!(connections(&state, BOB), 1);
    assert_eq!(state.session_count(), 1);
    // The reconcile the session start asked for is the one that counts.
    assert!(state.take_reconcile().is_some());
}

#[test]
fn a_session_stops_only_when_the_server_no_longer_lists_it() {
    let mut state = admin_with(&[user(ROOT, Some(1)), user(ALICE, Some(1))], &[], T0);
    let s1 = session("s1", ALICE, 100.0, T0);
    let started = state.apply_event(&stream_update(ALICE, s1.clone()), T0);
    let [Happening::SessionStarted { listening }] = &started[..] else {
        panic!("{started:?}");
    };
    assert_eq!(listening.title, "Book s1");
    assert_eq!(listening.author.as_deref(), Some("Andy Weir"));
    assert_eq!(listening.device.as_deref(), Some("iPhone"));
    assert!(
        reconcile(
            &mut state,
            &[user(ROOT, Some(1)), user(ALICE, Some(1))],
            &[s1],
            T0 + 1
        )
        .is_empty()
    );

    // The close: the update still carries the session, with its final numbers.
    let closing = session("s1", ALICE, 400.0, T0 + 20 * MIN);
    let read_before_close = {
        state.request_poll();
        state.take_reconcile().unwrap()
    };
    assert!(
        state
            .apply_event(&stream_update(ALICE, closing.clone()), T0 + 20 * MIN)
            .is_empty()
    );
    assert!(state.snapshot(T0 + 20 * MIN).listening[0].closing);
    // A list read before the close still has it: no stop, still closing.
    let users = [user(ROOT, Some(1)), user(ALICE, Some(1))];
    let stale_read = reconciled(&users, &[closing]);
    assert!(
        state
            .apply_reconcile(read_before_close, stale_read, T0 + 20 * MIN)
            .is_empty()
    );
    assert!(state.snapshot(T0 + 20 * MIN).listening[0].closing);
    // The next list does not have it: confirmed, once.
    let stopped = reconcile(&mut state, &users, &[], T0 + 20 * MIN + 1);
    let [
        Happening::SessionStopped {
            listening,
            listened_s,
            progress_before,
            progress_after,
        },
    ] = &stopped[..]
    else {
        panic!("{stopped:?}");
    };
    assert_eq!(listening.session_id, "s1");
    assert_eq!(*listened_s, Some(300.0));
    assert_eq!(*progress_before, Some(0.1));
    assert_eq!(*progress_after, Some(0.4));
    assert!(state.snapshot(T0 + 21 * MIN).listening.is_empty());
    assert!(state.take_reconcile().is_none());
}

#[test]
fn the_first_session_quirk_does_not_close_a_running_session() {
    let users = [user(ROOT, Some(1)), user(ALICE, Some(2))];
    let a = session("a", ALICE, 100.0, T0);
    let mut state = admin_with(&users, std::slice::from_ref(&a), T0);
    // Alice starts b on another device; the update carries her FIRST session, a.
    assert!(
        state
            .apply_event(&stream_update(ALICE, a.clone()), T0 + MIN)
            .is_empty()
    );
    let b = session("b", ALICE, 0.0, T0 + MIN);
    let facts = reconcile(&mut state, &users, &[a, b], T0 + MIN);
    let [Happening::SessionStarted { listening }] = &facts[..] else {
        panic!("{facts:?}");
    };
    assert_eq!(listening.session_id, "b");
    let listening = state.snapshot(T0 + MIN).listening;
    assert_eq!(listening.len(), 2);
    assert!(listening.iter().all(|l| !l.closing));
}

#[test]
fn stale_sessions_are_shown_as_stale_and_vanish_silently() {
    let users = [user(ROOT, Some(1))];
    let settings = LiveSettings::default();
    let idle = settings.stale_after;
    let old = session("old", ALICE, 100.0, T0 - 2 * 60 * MIN);
    let live = session("live", BOB, 100.0, T0);
    let mut state = admin_with(&users, &[old.clone(), live.clone()], T0);
    let rows = state.snapshot(T0).listening;
    let stale: Vec<(&str, bool)> = rows
        .iter()
        .map(|r| (r.session_id.as_str(), r.stale))
        .collect();
    assert!(
        stale.contains(&("old", true)) && stale.contains(&("live", false)),
        "{stale:?}"
    );
    assert_eq!(
        state.next_wake_at(T0),
        Some(T0 + u64::try_from(idle.as_millis()).unwrap() + 1)
    );
    // A live session turns stale without any event once idle long enough.
    let later = T0 + u64::try_from(idle.as_millis()).unwrap() + 2;
    assert!(state.snapshot(later).listening.iter().all(|l| l.stale));
    // The server's 36 h cron drops the stale one: no fact. An admin deleting the live one
    // (no close announced) is a stop once the grace for a late announcement is over.
    state.request_poll();
    assert!(reconcile(&mut state, &users, &[], T0 + MIN).is_empty());
    let grace_end = T0 + MIN + sessions::VANISH_GRACE_MS;
    assert_eq!(state.next_wake_at(T0 + MIN), Some(grace_end));
    assert!(state.tick(grace_end - 1).is_empty());
    let facts = state.tick(grace_end);
    assert!(
        matches!(&facts[..], [Happening::SessionStopped { listening, .. }] if listening.session_id == "live"),
        "{facts:?}"
    );
    assert!(state.tick(grace_end + MIN).is_empty(), "told once");
    assert_eq!(state.next_wake_at(grace_end), None);
    // A stale session found later is no "start" either.
    let older = session("older", ALICE, 100.0, T0 - 3 * 60 * MIN);
    state.request_poll();
    assert!(reconcile(&mut state, &users, &[older], T0 + MIN).is_empty());
    assert_eq!(state.session_count(), 1);
    // A late announcement of a gone session resurrects nothing.
    let late = state.apply_event(&stream_update(BOB, live), grace_end + 1);
    assert!(late.is_empty(), "{late:?}");
}

#[test]
fn a_close_announced_after_the_list_lost_the_session_is_one_stop_with_final_numbers() {
    let users = [user(ROOT, Some(1)), user(ALICE, Some(1))];
    let mut state = admin_with(&users, &[], T0);
    let s1 = session("s1", ALICE, 100.0, T0);
    assert_eq!(
        state
            .apply_event(&stream_update(ALICE, s1.clone()), T0)
            .len(),
        1
    );
    assert!(reconcile(&mut state, &users, &[s1], T0 + 1).is_empty());
    // A poll is in flight; the server closes the session and its reply wins the race against
    // the close announcement.
    state.request_poll();
    let ticket = state.take_reconcile().unwrap();
    let lost = state.apply_reconcile(ticket, reconciled(&users, &[]), T0 + 10 * MIN);
    assert!(lost.is_empty(), "no stop with stale numbers: {lost:?}");
    let closing = session("s1", ALICE, 700.0, T0 + 10 * MIN);
    let stopped = state.apply_event(&stream_update(ALICE, closing), T0 + 10 * MIN + 5);
    let [
        Happening::SessionStopped {
            listened_s,
            progress_after,
            ..
        },
    ] = &stopped[..]
    else {
        panic!("{stopped:?}");
    };
    assert_eq!((*listened_s, *progress_after), (Some(600.0), Some(0.7)));
    // Nothing more: the reconcile the announcement asked for, the grace, a repeat.
    assert!(reconcile(&mut state, &users, &[], T0 + 10 * MIN + 6).is_empty());
    assert!(state.tick(T0 + 20 * MIN).is_empty());
    assert!(state.snapshot(T0 + 20 * MIN).listening.is_empty());
}

#[test]
fn a_list_older_than_the_close_announcement_does_not_undo_its_numbers() {
    let users = [user(ROOT, Some(1)), user(ALICE, Some(1))];
    let mut state = admin_with(&users, &[], T0);
    let s1 = session("s1", ALICE, 100.0, T0);
    assert_eq!(
        state
            .apply_event(&stream_update(ALICE, s1.clone()), T0)
            .len(),
        1
    );
    // The start's reconcile is asked for; the server answers with the session as it was then,
    // but the close announcement (ten minutes later) is handled before that reply.
    let ticket = state.take_reconcile().unwrap();
    let closing = session("s1", ALICE, 700.0, T0 + 10 * MIN);
    assert!(
        state
            .apply_event(&stream_update(ALICE, closing), T0 + 10 * MIN)
            .is_empty()
    );
    let stale_reply = state.apply_reconcile(ticket, reconciled(&users, &[s1]), T0 + 10 * MIN + 1);
    assert!(stale_reply.is_empty(), "{stale_reply:?}");
    let stopped = reconcile(&mut state, &users, &[], T0 + 10 * MIN + 2);
    let [Happening::SessionStopped { listened_s, .. }] = &stopped[..] else {
        panic!("{stopped:?}");
    };
    assert_eq!(*listened_s, Some(600.0));
}

#[test]
fn a_start_listed_before_its_announcement_is_not_a_close() {
    let users = [user(ROOT, Some(1)), user(ALICE, Some(1))];
    let mut state = admin_with(&users, &[], T0);
    // A poll's reply already lists the new session: that is its start.
    state.request_poll();
    let s1 = session("s1", ALICE, 100.0, T0);
    let facts = reconcile(&mut state, &users, std::slice::from_ref(&s1), T0);
    assert!(
        matches!(&facts[..], [Happening::SessionStarted { .. }]),
        "{facts:?}"
    );
    // Its start announcement arrives late: not a close, and no second start.
    assert!(
        state
            .apply_event(&stream_update(ALICE, s1), T0 + 1)
            .is_empty()
    );
    assert!(!state.snapshot(T0 + 1).listening[0].closing);
    // The real close comes later.
    let closing = session("s1", ALICE, 400.0, T0 + 5 * MIN);
    assert!(
        state
            .apply_event(&stream_update(ALICE, closing), T0 + 5 * MIN)
            .is_empty()
    );
    assert!(state.snapshot(T0 + 5 * MIN).listening[0].closing);
}

#[test]
fn finishing_is_one_fact_per_flip() {
    let mut state = admin_with(&[user(ROOT, Some(1))], &[], T0);
    state.learn_title("item-1", Some("Project Hail Mary"));
    assert!(
        state
            .apply_event(&progress("item-1", "s", "d", 0.5, false, T0), T0)
            .is_empty()
    );
    let facts = state.apply_event(&progress("item-1", "s", "d", 1.0, true, T0 + 1), T0 + 1);
    assert_eq!(
        facts,
        [Happening::Finished {
            item_id: "item-1".into(),
            title: "Project Hail Mary".into()
        }]
    );
    // The same write again (a re-auth duplicate, a seek after the end): nothing.
    assert!(
        state
            .apply_event(&progress("item-1", "s", "d", 1.0, true, T0 + 2), T0 + 2)
            .is_empty()
    );
    // First seen already finished, by this very write: the flip happened now.
    let first = state.apply_event(&progress("item-2", "s", "d", 1.0, true, T0 + 3), T0 + 3);
    assert!(matches!(&first[..], [Happening::Finished { title, .. }] if title == "Untitled"));
    // First seen finished long ago: no news.
    let mut old = progress("item-3", "s", "d", 1.0, true, T0 + 4);
    if let ServerEvent::UserItemProgressUpdated(update) = &mut old {
        update.data.finished_at = Some(1);
    }
    assert!(state.apply_event(&old, T0 + 4).is_empty());
}

#[test]
fn milestones_are_crossed_once() {
    let mut state = LiveState::new(&LiveSettings::default());
    fn at(state: &mut LiveState, p: f64) -> Vec<u8> {
        state
            .apply_event(&progress("item-1", "s", "d", p, false, T0), T0)
            .into_iter()
            .map(|h| match h {
                Happening::Milestone { percent, .. } => percent,
                other => panic!("{other:?}"),
            })
            .collect()
    }
    assert!(
        at(&mut state, 0.30).is_empty(),
        "first sight is no crossing"
    );
    assert_eq!(at(&mut state, 0.55), [50]);
    assert!(at(&mut state, 0.45).is_empty());
    assert!(
        at(&mut state, 0.55).is_empty(),
        "seeking back and forth is not news"
    );
    assert_eq!(at(&mut state, 0.90), [75], "a jump over two is one fact");
    assert!(at(&mut state, 0.01).is_empty());
    assert_eq!(at(&mut state, 0.26), [25], "listening again starts over");
}

#[test]
fn another_device_taking_over_is_playing_elsewhere() {
    let mut state = LiveState::new(&LiveSettings::default());
    state.learn_title("item-1", Some("Dune"));
    let p =
        |session: &str, device: &str, at: u64| progress("item-1", session, device, 0.3, false, at);
    assert!(
        state
            .apply_event(&p("a", "Pixel 8 / v1", T0), T0)
            .is_empty()
    );
    assert!(
        state
            .apply_event(&p("a", "Pixel 8 / v1", T0 + 15_000), T0 + 15_000)
            .is_empty()
    );
    let facts = state.apply_event(&p("b", "Linux 6 / Firefox", T0 + 30_000), T0 + 30_000);
    assert_eq!(
        facts,
        [Happening::PlayingElsewhere {
            item_id: "item-1".into(),
            title: "Dune".into(),
            device: Some("Linux 6 / Firefox".into()),
        }]
    );
    assert!(
        state
            .apply_event(&p("b", "x", T0 + 40_000), T0 + 40_000)
            .is_empty()
    );
    // Picked up again an hour later elsewhere: a hand-over, not news.
    assert!(
        state
            .apply_event(&p("c", "null null / null", T0 + 60 * MIN), T0 + 60 * MIN)
            .is_empty()
    );
    // A cleanly closed session is not playing any more.
    state.apply_event(
        &ServerEvent::UserSessionClosed {
            session_id: "c".into(),
        },
        T0 + 61 * MIN,
    );
    assert!(
        state
            .apply_event(&p("d", "y", T0 + 62 * MIN), T0 + 62 * MIN)
            .is_empty()
    );
}

#[test]
fn scans_report_their_counts_once() {
    let mut state = admin_with(&[user(ROOT, Some(1))], &[], T0);
    assert!(
        state
            .apply_event(&ev("task_started", scan_task("t1", false, None)), T0)
            .is_empty()
    );
    let scans = state.snapshot(T0).scans;
    assert_eq!(scans.len(), 1);
    assert_eq!(scans[0].library_name.as_deref(), Some("Audiobooks"));
    // The scan's own items_added are counted by the scan, not told twice.
    let items = json!([{"id": "i1", "libraryId": "lib-1", "mediaType": "book",
        "media": {"metadata": {"title": "New"}}}]);
    assert!(
        state
            .apply_event(&ev("items_added", items.clone()), T0 + 1)
            .is_empty()
    );
    let finished = ev("task_finished", scan_task("t1", true, Some((3, 2, 1))));
    assert_eq!(
        state.apply_event(&finished, T0 + 2),
        [Happening::ScanFinished {
            library_id: "lib-1".into(),
            library_name: Some("Audiobooks".into()),
            added: 3,
            updated: 2,
            missing: 1,
            failed: false,
        }]
    );
    assert!(
        state.apply_event(&finished, T0 + 3).is_empty(),
        "a repeat is no news"
    );
    assert!(state.snapshot(T0 + 3).scans.is_empty());
    // Outside a scan, new items are news.
    assert!(matches!(
        &state.apply_event(&ev("items_added", items), T0 + 4)[..],
        [Happening::ItemsAdded { count: 1, first_title: Some(t), .. }] if t == "New"
    ));
}

/// A file-watcher scan task in `lib-1`, finished with `(added, updated, removed)` when given.
fn watcher_task(id: &str, results: Option<(u64, u64, u64)>) -> Value {
    let mut data = json!({"libraryId": "lib-1", "libraryName": "Audiobooks"});
    if let Some((added, updated, removed)) = results {
        data["scanResults"] = json!({"added": added, "updated": updated, "removed": removed,
            "text": "1 missing", "elapsed": 10_174});
    }
    json!({"id": id, "action": "watcher-scan", "data": data,
        "title": "Scanning file changes in \"Audiobooks\"", "isFailed": false,
        "isFinished": results.is_some(), "startedAt": T0})
}

#[test]
fn watcher_scans_tell_what_they_removed_and_are_not_library_scans() {
    let mut state = LiveState::new(&LiveSettings::default());
    let plain = ev("init", json!({"userId": ALICE, "username": "alice"}));
    assert!(state.apply_event(&plain, T0).is_empty());
    assert!(
        state
            .apply_event(&ev("task_started", watcher_task("w1", None)), T0)
            .is_empty()
    );
    assert!(
        state.snapshot(T0).scans.is_empty(),
        "no \"scanning\" row: nobody started it, nobody can cancel it"
    );
    // Its new items are news one by one, as outside any scan.
    let item = json!({"id": "i1", "libraryId": "lib-1", "mediaType": "book",
        "media": {"metadata": {"title": "New"}}});
    assert!(matches!(
        &state.apply_event(&ev("item_added", item), T0 + 1)[..],
        [Happening::ItemsAdded { count: 1, .. }]
    ));
    let finished = ev("task_finished", watcher_task("w1", Some((1, 0, 1))));
    assert_eq!(
        state.apply_event(&finished, T0 + 2),
        [Happening::FilesChanged {
            library_id: "lib-1".into(),
            library_name: Some("Audiobooks".into()),
            added: 1,
            updated: 0,
            removed: 1,
        }]
    );
    assert!(state.apply_event(&finished, T0 + 3).is_empty(), "told once");
    // Additions alone were told already; nothing found is no news.
    for (id, results) in [("w2", (2, 0, 0)), ("w3", (0, 0, 0))] {
        let finished = ev("task_finished", watcher_task(id, Some(results)));
        assert!(state.apply_event(&finished, T0 + 4).is_empty(), "{id}");
    }
    let updated = ev("task_finished", watcher_task("w4", Some((0, 2, 0))));
    assert!(matches!(
        &state.apply_event(&updated, T0 + 5)[..],
        [Happening::FilesChanged {
            updated: 2,
            removed: 0,
            ..
        }]
    ));
}

#[test]
fn tasks_after_connect_and_legacy_init_fill_the_scans() {
    let mut state = LiveState::new(&LiveSettings::default());
    let legacy = ev(
        "init",
        json!({"userId": ROOT, "username": "root", "librariesScanning": ["lib-9"]}),
    );
    assert!(state.apply_event(&legacy, T0).is_empty());
    assert_eq!(state.snapshot(T0).scans.len(), 1);
    let ticket = state.take_reconcile().unwrap();
    assert!(
        !ticket.wants_users(),
        "a non-admin does not read admin endpoints"
    );
    let tasks: TaskList =
        serde_json::from_value(json!({"tasks": [scan_task("t7", false, None)]})).unwrap();
    let result = Reconciled {
        users_online: Fetch::NotAsked,
        open_sessions: Fetch::NotAsked,
        tasks: Fetch::Got(tasks),
    };
    assert!(state.apply_reconcile(ticket, result, T0).is_empty());
    let scans = state.snapshot(T0).scans;
    assert_eq!(scans.len(), 1);
    assert_eq!(scans[0].task_id, "t7");
}

#[test]
fn a_non_admin_ignores_presence_and_never_polls() {
    let mut state = LiveState::new(&LiveSettings::default());
    let plain = ev("init", json!({"userId": ALICE, "username": "alice"}));
    assert!(state.apply_event(&plain, T0).is_empty());
    assert!(state.apply_event(&online(BOB), T0).is_empty());
    assert!(!state.can_poll());
    let ticket = state.take_reconcile().unwrap();
    assert!(!ticket.wants_users());
    state.request_poll();
    assert!(
        state
            .apply_reconcile(ticket, Reconciled::nothing(), T0)
            .is_empty()
    );
    assert!(state.take_reconcile().is_none());
}

#[test]
fn forbidden_admin_endpoints_are_not_asked_again() {
    let mut state = LiveState::new(&LiveSettings::default());
    state.apply_event(&init(&[user(ROOT, Some(1))]), T0);
    let ticket = state.take_reconcile().unwrap();
    let result = Reconciled {
        users_online: Fetch::Forbidden,
        open_sessions: Fetch::Forbidden,
        tasks: Fetch::Got(TaskList::default()),
    };
    state.apply_reconcile(ticket, result, T0);
    assert!(!state.can_poll());
    state.request_poll();
    assert!(state.take_reconcile().is_none());
}

#[test]
fn failed_reads_are_asked_for_again() {
    let mut state = admin_with(&[user(ROOT, Some(1))], &[], T0);
    state.request_poll();
    let ticket = state.take_reconcile().unwrap();
    let result = Reconciled {
        users_online: Fetch::Failed("timeout".into()),
        open_sessions: Fetch::Failed("timeout".into()),
        tasks: Fetch::NotAsked,
    };
    assert!(result.any_failed());
    state.apply_reconcile(ticket, result, T0);
    assert!(state.take_reconcile().is_some_and(|t| t.wants_users()));
}

#[test]
fn open_sessions_name_owners_who_are_offline() {
    let mut state = admin_with(&[user(ROOT, Some(1))], &[], T0);
    state.request_poll();
    let ticket = state.take_reconcile().unwrap();
    assert!(!ticket.knows_user("carol-id"));
    let carol = session("c1", "carol-id", 10.0, T0);
    let mut owned = carol.clone();
    owned["user"] = json!({"id": "carol-id", "username": "carol"});
    let result = Reconciled {
        users_online: Fetch::Got(users_online(&[user(ROOT, Some(1))], &[carol])),
        open_sessions: Fetch::Got(
            serde_json::from_value::<OpenSessions>(json!({"sessions": [owned]})).unwrap(),
        ),
        tasks: Fetch::NotAsked,
    };
    let facts = state.apply_reconcile(ticket, result, T0);
    assert!(
        matches!(&facts[..], [Happening::SessionStarted { listening }] if listening.user.username == "carol"),
        "{facts:?}"
    );
}

#[test]
fn an_outage_is_one_resync_with_the_difference() {
    let users = [user(ROOT, Some(1)), user(ALICE, Some(1))];
    let s1 = session("s1", ALICE, 100.0, T0);
    let mut state = admin_with(&users, std::slice::from_ref(&s1), T0);
    let down = T0 + MIN;
    state.apply_status(&offline_status(), down);
    state.apply_status(&ConnectionStatus::Connecting, down + 1);
    // The old socket's leftovers and our own user_online before init are not facts.
    assert!(state.apply_event(&offline(ALICE), down + 2).is_empty());
    assert!(state.apply_event(&online(ROOT), down + 5 * MIN).is_empty());
    let back = down + 5 * MIN;
    let after_users = [user(ROOT, Some(1)), user(BOB, Some(1))];
    assert!(state.apply_event(&init(&after_users), back).is_empty());
    // Between init and the first reconcile, events are part of the difference.
    let s2 = session("s2", BOB, 0.0, back);
    assert!(
        state
            .apply_event(&stream_update(BOB, s2.clone()), back + 1)
            .is_empty()
    );
    assert!(
        state
            .apply_event(&ev("admin_message", json!("hi")), back + 1)
            .len()
            == 1
    );
    state.apply_status(&connected(true), back + 2);
    let facts = reconcile(&mut state, &after_users, &[s2], back + 3);
    let [Happening::Resynced { outage, changes }] = &facts[..] else {
        panic!("{facts:?}");
    };
    assert_eq!(*outage, Duration::from_millis(5 * MIN));
    let kinds: Vec<String> = changes
        .iter()
        .map(|h| match h {
            Happening::UserOnline { user } => format!("online {}", user.username),
            Happening::UserOffline { user } => format!("offline {}", user.username),
            Happening::SessionStarted { listening } => format!("started {}", listening.session_id),
            Happening::SessionStopped { listening, .. } => {
                format!("stopped {}", listening.session_id)
            }
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        ["online bob", "offline alice", "stopped s1", "started s2"]
    );
    // And afterwards, events are facts again.
    assert_eq!(state.apply_event(&online(ALICE), back + 4).len(), 1);
}

#[test]
fn a_stale_status_right_after_init_is_not_a_lost_connection() {
    let mut state = LiveState::new(&LiveSettings::default());
    state.apply_event(&init(&[user(ROOT, Some(1))]), T0);
    // The watch still showed this socket's authenticating step when `init` was applied.
    state.apply_status(&ConnectionStatus::Authenticating, T0);
    assert_eq!(state.apply_event(&online(ALICE), T0 + 1).len(), 1);
    state.apply_status(&connected(true), T0 + 2);
    assert!(state.take_reconcile().is_some());
    // A drop from the `Connected` seen after it is a loss.
    state.apply_status(&offline_status(), T0 + 3);
    assert!(state.apply_event(&online(BOB), T0 + 4).is_empty());
    assert!(state.take_reconcile().is_none());
}

#[test]
fn a_session_vanished_just_before_an_outage_is_in_the_summary() {
    let users = [user(ROOT, Some(1))];
    let s1 = session("s1", ALICE, 100.0, T0);
    let mut state = admin_with(&users, std::slice::from_ref(&s1), T0);
    state.request_poll();
    assert!(reconcile(&mut state, &users, &[], T0 + 1).is_empty());
    state.apply_status(&offline_status(), T0 + 2);
    state.apply_event(&init(&users), T0 + 1_000);
    state.apply_status(&connected(true), T0 + 1_000);
    let facts = reconcile(&mut state, &users, &[], T0 + 1_001);
    let [Happening::Resynced { changes, .. }] = &facts[..] else {
        panic!("{facts:?}");
    };
    assert!(
        matches!(&changes[..], [Happening::SessionStopped { listening, .. }] if listening.session_id == "s1"),
        "{changes:?}"
    );
    assert!(state.tick(T0 + 60 * MIN).is_empty(), "told once");
}

/// What a resync's changes say, in short: "online bob", "stopped s1 after 300 s", "stopped s2".
fn told(changes: &[Happening]) -> Vec<String> {
    changes
        .iter()
        .map(|h| match h {
            Happening::UserOnline { user } => format!("online {}", user.username),
            Happening::UserOffline { user } => format!("offline {}", user.username),
            Happening::SessionStarted { listening } => format!("started {}", listening.session_id),
            Happening::SessionStopped {
                listening,
                listened_s: Some(listened),
                progress_after: Some(after),
                ..
            } => format!(
                "stopped {} after {listened} s at {after}",
                listening.session_id
            ),
            Happening::SessionStopped {
                listening,
                listened_s: None,
                progress_after: None,
                ..
            } => format!("stopped {}", listening.session_id),
            other => format!("{other:?}"),
        })
        .collect()
}

/// The one resync among `facts`: its outage and what its changes say.
fn resynced(facts: &[Happening]) -> (Duration, Vec<String>) {
    let [Happening::Resynced { outage, changes }] = facts else {
        panic!("not one resync: {facts:?}");
    };
    (*outage, told(changes))
}

#[test]
fn a_session_that_ended_while_away_is_stopped_without_numbers_never_seen() {
    let users = [
        user(ROOT, Some(1)),
        user(ALICE, Some(1)),
        user(BOB, Some(1)),
    ];
    let mut state = admin_with(&users, &[], T0);
    // Seen starting only (0 s listened so far, as the announcement says), then never again.
    let started = state.apply_event(&stream_update(ALICE, session("s1", ALICE, 100.0, T0)), T0);
    assert_eq!(started.len(), 1);
    // Seen starting and closing: the close carries the final numbers.
    state.apply_event(&stream_update(BOB, session("s2", BOB, 100.0, T0)), T0);
    let closing = session("s2", BOB, 400.0, T0 + MIN);
    assert!(
        state
            .apply_event(&stream_update(BOB, closing), T0 + MIN)
            .is_empty()
    );
    state.apply_status(&offline_status(), T0 + 2 * MIN);
    state.apply_event(&init(&users), T0 + 7 * MIN);
    state.apply_status(&connected(true), T0 + 7 * MIN);
    let facts = reconcile(&mut state, &users, &[], T0 + 7 * MIN + 1);
    let (outage, changes) = resynced(&facts);
    assert_eq!(outage, Duration::from_millis(5 * MIN));
    assert_eq!(changes, ["stopped s1", "stopped s2 after 300 s at 0.4"]);
}

#[test]
fn a_session_removed_without_a_close_is_stopped_without_numbers() {
    let users = [user(ROOT, Some(1)), user(ALICE, Some(1))];
    let s1 = session("s1", ALICE, 100.0, T0);
    let mut state = admin_with(&users, std::slice::from_ref(&s1), T0);
    state.request_poll();
    assert!(reconcile(&mut state, &users, &[], T0 + 1).is_empty());
    let due = T0 + 1 + sessions::VANISH_GRACE_MS;
    assert_eq!(told(&state.tick(due)), ["stopped s1"]);
}

#[test]
fn a_connection_lost_again_before_its_reconcile_keeps_the_first_before() {
    let users = [user(ROOT, Some(1)), user(ALICE, Some(1))];
    let s1 = session("s1", ALICE, 100.0, T0);
    let mut state = admin_with(&users, std::slice::from_ref(&s1), T0);
    state.apply_status(&offline_status(), T0 + MIN);
    // Back briefly: init already says alice is gone and bob is here, then lost again before
    // the lists could be read.
    let after = [user(ROOT, Some(1)), user(BOB, Some(1))];
    state.apply_event(&init(&after), T0 + 2 * MIN);
    state.apply_status(&connected(true), T0 + 2 * MIN);
    assert!(state.take_reconcile().unwrap().wants_users());
    state.apply_status(&offline_status(), T0 + 2 * MIN + 10);
    state.apply_event(&init(&after), T0 + 3 * MIN);
    state.apply_status(&connected(true), T0 + 3 * MIN);
    let facts = reconcile(&mut state, &after, &[], T0 + 3 * MIN + 1);
    let (outage, changes) = resynced(&facts);
    assert_eq!(
        outage,
        Duration::from_millis(2 * MIN),
        "from the first loss"
    );
    assert_eq!(changes, ["online bob", "offline alice", "stopped s1"]);
    assert!(
        state.apply_event(&online(ALICE), T0 + 4 * MIN).len() == 1,
        "live again"
    );
}

#[test]
fn a_freeze_is_an_outage_even_when_the_socket_survives() {
    let users = [user(ROOT, Some(1)), user(ALICE, Some(1))];
    let s1 = session("s1", ALICE, 100.0, T0);
    let mut state = admin_with(&users, std::slice::from_ref(&s1), T0);
    assert_eq!(state.snapshot(T0).as_of_ms, None, "live");
    let frozen_at = T0 + MIN;
    let woke = frozen_at + 2 * MIN;
    state.resumed(frozen_at, woke);
    assert_eq!(state.snapshot(woke).as_of_ms, Some(frozen_at));
    // Frames the kernel kept during the freeze: a start and a close, both old by now.
    let s2 = session("s2", BOB, 0.0, frozen_at + 1_000);
    assert!(state.apply_event(&online(BOB), woke).is_empty());
    assert!(
        state
            .apply_event(&stream_update(BOB, s2.clone()), woke)
            .is_empty()
    );
    let closing = session("s1", ALICE, 700.0, frozen_at + 2_000);
    assert!(
        state
            .apply_event(&stream_update(ALICE, closing), woke)
            .is_empty()
    );
    // A broadcast is still itself.
    assert_eq!(
        state
            .apply_event(&ev("admin_message", json!("hi")), woke)
            .len(),
        1
    );
    let after = [
        user(ROOT, Some(1)),
        user(ALICE, Some(1)),
        user(BOB, Some(1)),
    ];
    let facts = reconcile(&mut state, &after, &[s2], woke + 5);
    let (outage, changes) = resynced(&facts);
    assert_eq!(outage, Duration::from_millis(2 * MIN));
    assert_eq!(
        changes,
        ["online bob", "stopped s1 after 600 s at 0.7", "started s2"]
    );
    assert_eq!(state.snapshot(woke + 5).as_of_ms, None, "live again");
    assert!(state.take_reconcile().is_none(), "one re-read");
    assert_eq!(
        state.apply_event(&offline(BOB), woke + 6).len(),
        1,
        "facts again"
    );
}

#[test]
fn a_freeze_noticed_as_a_lost_connection_dates_the_outage_from_the_freeze() {
    let users = [user(ROOT, Some(1))];
    let mut state = admin_with(&users, &[], T0);
    let frozen_at = T0 + MIN;
    let woke = frozen_at + 2 * MIN;
    // The connection noticed the dead socket first, then the task noticed its own freeze.
    state.apply_status(&offline_status(), woke);
    state.resumed(frozen_at, woke);
    assert_eq!(state.snapshot(woke).as_of_ms, Some(frozen_at));
    state.apply_event(&init(&users), woke + 500);
    state.apply_status(&connected(true), woke + 500);
    assert_eq!(
        state.snapshot(woke + 500).as_of_ms,
        Some(frozen_at),
        "not yet re-read"
    );
    let s2 = session("s2", BOB, 0.0, frozen_at + 1_000);
    let facts = reconcile(&mut state, &users, &[s2], woke + 501);
    let (outage, changes) = resynced(&facts);
    assert_eq!(outage, Duration::from_millis(2 * MIN + 500));
    assert_eq!(changes, ["started s2"]);
}

#[test]
fn the_lists_are_as_of_the_loss_while_offline() {
    let users = [user(ROOT, Some(1))];
    let mut state = LiveState::new(&LiveSettings::default());
    assert_eq!(
        state.snapshot(T0).as_of_ms,
        None,
        "nothing known, nothing dated"
    );
    state.apply_status(&offline_status(), T0);
    assert_eq!(state.snapshot(T0).as_of_ms, None);
    state.apply_event(&init(&users), T0 + 1);
    state.apply_status(&connected(true), T0 + 1);
    assert!(reconcile(&mut state, &users, &[], T0 + 2).is_empty());
    assert_eq!(state.snapshot(T0 + 3).as_of_ms, None);
    state.apply_status(&offline_status(), T0 + MIN);
    state.apply_status(&ConnectionStatus::Connecting, T0 + MIN + 1);
    assert_eq!(state.snapshot(T0 + 5 * MIN).as_of_ms, Some(T0 + MIN));
    state.apply_event(&init(&users), T0 + 6 * MIN);
    state.apply_status(&connected(true), T0 + 6 * MIN);
    assert_eq!(state.snapshot(T0 + 6 * MIN).as_of_ms, Some(T0 + MIN));
    let facts = reconcile(&mut state, &users, &[], T0 + 6 * MIN + 1);
    assert_eq!(resynced(&facts).1, Vec::<String>::new());
    assert_eq!(state.snapshot(T0 + 6 * MIN + 1).as_of_ms, None);
}

#[test]
fn a_reconcile_of_an_earlier_connection_is_ignored() {
    let mut state = admin_with(&[user(ROOT, Some(1))], &[], T0);
    state.request_poll();
    let old = state.take_reconcile().unwrap();
    state.apply_status(&offline_status(), T0 + 1);
    assert!(
        state.take_reconcile().is_none(),
        "nothing is read while disconnected"
    );
    state.apply_event(&init(&[user(ROOT, Some(1))]), T0 + 2);
    let stale = reconciled(&[user(ROOT, Some(1)), user(ALICE, Some(1))], &[]);
    assert!(state.apply_reconcile(old, stale, T0 + 3).is_empty());
    assert_eq!(connections(&state, ALICE), 0);
}

#[test]
fn a_hostile_server_cannot_grow_the_state_without_bound() {
    let mut state = admin_with(&[user(ROOT, Some(1))], &[], T0);
    let mut facts = 0;
    for i in 0..100_000 {
        facts += state.apply_event(&online(&format!("u{i}")), T0).len();
    }
    assert!(facts < MAX_USERS, "{facts}");
    assert_eq!(state.snapshot(T0).users.len(), MAX_USERS);
    let crowd: Vec<Value> = (0..100_000)
        .map(|i| user(&format!("v{i}"), Some(1)))
        .collect();
    let sessions: Vec<Value> = (0..10_000)
        .map(|i| session(&format!("s{i}"), &format!("v{i}"), 1.0, T0))
        .collect();
    state.request_poll();
    let facts = reconcile(&mut state, &crowd, &sessions, T0 + 1);
    assert!(
        facts.len() <= 2 * MAX_USERS + MAX_SESSIONS,
        "{}",
        facts.len()
    );
    let snapshot = state.snapshot(T0 + 1);
    assert!(snapshot.users.len() <= MAX_USERS);
    assert!(snapshot.listening.len() <= MAX_SESSIONS);
    assert_eq!(snapshot.activity.len(), MAX_ACTIVITY);
    for i in 0..(MAX_LOG_LINES + 10) {
        let line = json!({"timestamp": "2026-01-01 00:00:00.000", "message": format!("line {i}"),
            "levelName": "INFO", "level": 2});
        state.apply_event(&ev("log", line), T0);
    }
    let logs = state.snapshot(T0).logs;
    assert_eq!(logs.len(), MAX_LOG_LINES);
    assert_eq!(
        logs[logs.len() - 1].message,
        format!("line {}", MAX_LOG_LINES + 9)
    );
}

#[test]
fn server_activity_becomes_facts() {
    let mut state = admin_with(&[user(ROOT, Some(1))], &[], T0);
    assert_eq!(
        state.apply_event(&ev("admin_message", json!("<b>x</b>&")), T0),
        [Happening::AdminMessage {
            text: "<b>x</b>&".into()
        }]
    );
    let download = json!({"id": "d1", "episodeDisplayTitle": "Ep 1", "libraryItemId": "pod-1",
        "podcastTitle": "The Show", "failed": false, "isFinished": true});
    assert_eq!(
        state.apply_event(&ev("episode_download_finished", download), T0),
        [Happening::EpisodeDownloaded {
            item_id: "pod-1".into(),
            podcast_title: Some("The Show".into()),
            episode_title: Some("Ep 1".into()),
        }]
    );
    let failed = json!({"id": "d2", "failed": true});
    assert!(
        state
            .apply_event(&ev("episode_download_finished", failed), T0)
            .is_empty()
    );
    let backup = decode("backup_applied", &[]).unwrap();
    assert_eq!(state.apply_event(&backup, T0), [Happening::BackupApplied]);
    assert!(
        state
            .take_reconcile()
            .is_some_and(|t| t.wants_users() && t.wants_tasks())
    );
    let account = json!({"id": "new-id", "username": "dave", "type": "user", "isActive": true,
        "token": "legacy-token-value"});
    assert_eq!(
        state.apply_event(&ev("user_added", account.clone()), T0),
        [Happening::UserAdded {
            user: Who {
                user_id: "new-id".into(),
                username: "dave".into()
            }
        }]
    );
    assert!(matches!(
        &state.apply_event(&ev("user_removed", account), T0)[..],
        [Happening::UserRemoved { .. }]
    ));
    let item = json!({"id": "i9", "libraryId": "lib-1", "mediaType": "book",
        "media": {"metadata": {"title": "Fresh"}}});
    assert!(matches!(
        &state.apply_event(&ev("item_added", item), T0)[..],
        [Happening::ItemsAdded { count: 1, first_item_id: Some(id), .. }] if id == "i9"
    ));
    let json = serde_json::to_string(&state.snapshot(T0)).unwrap();
    assert!(
        !json.contains("legacy-token-value"),
        "no token in a snapshot"
    );
    assert!(json.contains("\"activity\""));
}

/// The task around the state, with scripted REST reads and paused (virtual) time, so the
/// timing rules are checked exactly and instantly.
mod driver {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use tokio::sync::{Semaphore, mpsc, watch};
    use tokio::time::Instant;

    use super::*;
    use crate::protocol::LibraryItem;

    /// Answers from fixed lists, counting calls; `users_online` can be held back by a gate.
    #[derive(Default)]
    struct Script {
        users_calls: AtomicUsize,
        item_calls: AtomicUsize,
        /// Calls to fail before answering.
        fail_first: AtomicUsize,
        /// When set, each `users_online` takes a permit first.
        gate: Option<Arc<Semaphore>>,
        users: Mutex<Vec<Value>>,
        sessions: Mutex<Vec<Value>>,
    }

    impl LiveRest for Script {
        async fn users_online(&self) -> Result<UsersOnline, RestError> {
            if let Some(gate) = &self.gate {
                gate.acquire().await.unwrap().forget();
            }
            self.users_calls.fetch_add(1, Ordering::SeqCst);
            let failing = self.fail_first.load(Ordering::SeqCst);
            if failing > 0 {
                self.fail_first.store(failing - 1, Ordering::SeqCst);
                return Err(RestError::Failed("503".into()));
            }
            let users = self.users.lock().unwrap().clone();
            let sessions = self.sessions.lock().unwrap().clone();
            Ok(users_online(&users, &sessions))
        }

        async fn open_sessions(&self) -> Result<OpenSessions, RestError> {
            Err(RestError::Forbidden)
        }

        async fn tasks(&self) -> Result<TaskList, RestError> {
            Ok(TaskList::default())
        }

        async fn item(&self, item_id: &str) -> Result<LibraryItem, RestError> {
            self.item_calls.fetch_add(1, Ordering::SeqCst);
            Ok(
                serde_json::from_value(json!({"id": item_id, "mediaType": "book",
                "media": {"metadata": {"title": "Fetched Title"}}}))
                .unwrap(),
            )
        }
    }

    struct Running {
        events: mpsc::Sender<ServerEvent>,
        status: watch::Sender<ConnectionStatus>,
        handle: LiveHandle,
        happenings: mpsc::Receiver<Happening>,
        script: Arc<Script>,
    }

    fn start(script: Script) -> Running {
        let script = Arc::new(script);
        script.users.lock().unwrap().push(user(ROOT, Some(1)));
        let (events, events_rx) = mpsc::channel(2048);
        let (status, status_rx) = watch::channel(ConnectionStatus::Connecting);
        let (handle, happenings, _task) = spawn(
            events_rx,
            status_rx,
            script.clone(),
            LiveSettings::default(),
        );
        Running {
            events,
            status,
            handle,
            happenings,
            script,
        }
    }

    impl Running {
        async fn connect(&self) {
            self.events.send(online(ROOT)).await.unwrap();
            self.events
                .send(init(&[user(ROOT, Some(1))]))
                .await
                .unwrap();
            self.status.send_replace(connected(true));
        }

        /// Lets the task work through everything queued, without letting time pass.
        async fn drained(&self) {
            while self.events.capacity() < self.events.max_capacity() {
                tokio::task::yield_now().await;
            }
            for _ in 0..100 {
                tokio::task::yield_now().await;
            }
        }

        fn users_calls(&self) -> usize {
            self.script.users_calls.load(Ordering::SeqCst)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn snapshots_are_coalesced_however_fast_events_come() {
        let mut run = start(Script::default());
        // Nobody takes the happenings here; a closed queue must not hold the task up.
        run.happenings.close();
        run.connect().await;
        run.drained().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut snapshots = run.handle.snapshot();
        snapshots.borrow_and_update();
        let started = Instant::now();
        for i in 0..1000 {
            run.events
                .send(ev("admin_message", json!(format!("m{i}"))))
                .await
                .unwrap();
        }
        run.drained().await;
        assert!(
            run.handle.latest().activity.len() <= 1,
            "at most the leading edge is out while the burst is worked through"
        );
        // The trailing edge: everything is published, one interval later.
        let mut publishes = 0;
        let published = loop {
            snapshots.changed().await.unwrap();
            publishes += 1;
            let snapshot = snapshots.borrow_and_update().clone();
            if snapshot.activity.len() == MAX_ACTIVITY {
                break snapshot;
            }
        };
        assert!(publishes <= 2, "{publishes} publishes for 1000 events");
        assert!(started.elapsed() >= LiveSettings::default().publish_every);
        assert_eq!(published.activity.len(), MAX_ACTIVITY);
        assert!(matches!(
            &published.activity[MAX_ACTIVITY - 1].happening,
            Happening::AdminMessage { text } if text == "m999"
        ));
        assert!(matches!(
            published.connection,
            ConnectionStatus::Connected { .. }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_stream_updates_costs_one_more_reconcile() {
        let gate = Arc::new(Semaphore::new(0));
        let mut run = start(Script {
            gate: Some(gate.clone()),
            ..Script::default()
        });
        run.connect().await;
        run.drained().await;
        // The post-connect read is in flight (held at the gate); a burst arrives.
        for i in 0..50 {
            let s = session(&format!("s{i}"), ALICE, 10.0, T0);
            run.script.sessions.lock().unwrap().push(s.clone());
            run.events.send(stream_update(ALICE, s)).await.unwrap();
        }
        run.drained().await;
        gate.add_permits(100);
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(run.users_calls(), 2, "one in flight, one queued");
        let mut started = 0;
        while let Ok(h) = run.happenings.try_recv() {
            assert!(matches!(h, Happening::SessionStarted { .. }), "{h:?}");
            started += 1;
        }
        assert_eq!(started, 50);
    }

    #[tokio::test(start_paused = true)]
    async fn positions_are_polled_only_while_someone_looks() {
        let run = start(Script::default());
        run.connect().await;
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(run.users_calls(), 1, "only the post-connect read");
        run.handle.set_watching(true);
        tokio::time::sleep(Duration::from_millis(12_500)).await;
        assert_eq!(run.users_calls(), 4, "at once, then every 5 s");
        run.handle.set_watching(false);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(run.users_calls(), 4, "no polling in the background");
        // A live position appears while watching, without any socket event.
        run.script
            .sessions
            .lock()
            .unwrap()
            .push(session("s1", ALICE, 500.0, T0));
        run.handle.set_watching(true);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let listening = run.handle.latest().listening;
        assert_eq!(listening.len(), 1);
        assert_eq!(listening[0].position_s, 500.0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_reconcile_is_retried_with_backoff() {
        let run = start(Script {
            fail_first: AtomicUsize::new(2),
            ..Script::default()
        });
        run.connect().await;
        run.drained().await;
        assert_eq!(run.users_calls(), 1);
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        assert_eq!(run.users_calls(), 2, "after 1 s");
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(run.users_calls(), 2, "then after 2 s");
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(run.users_calls(), 3);
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert_eq!(run.users_calls(), 3, "success ends the retries");
    }

    #[tokio::test(start_paused = true)]
    async fn a_progress_fact_is_named_by_the_fetched_title_once() {
        let mut run = start(Script::default());
        run.connect().await;
        let first = progress("item-x", "s", "d", 0.2, false, T0);
        run.events.send(first).await.unwrap();
        let finish = progress("item-x", "s", "d", 1.0, true, T0 + 1);
        run.events.send(finish).await.unwrap();
        let fact = run.happenings.recv().await.unwrap();
        assert_eq!(
            fact,
            Happening::Finished {
                item_id: "item-x".into(),
                title: "Fetched Title".into()
            }
        );
        assert_eq!(run.script.item_calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_frozen_app_tells_what_it_missed_as_one_resync() {
        let mut run = start(Script::default());
        run.connect().await;
        run.drained().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(run.handle.latest().as_of_ms, None);
        // Frozen for two minutes; a start the kernel kept meanwhile is read first on waking.
        let s2 = session("s2", BOB, 0.0, T0);
        run.script.users.lock().unwrap().push(user(BOB, Some(1)));
        run.script.sessions.lock().unwrap().push(s2.clone());
        run.events.send(stream_update(BOB, s2)).await.unwrap();
        tokio::time::advance(Duration::from_secs(120)).await;
        let fact = run.happenings.recv().await.unwrap();
        let Happening::Resynced { outage, changes } = &fact else {
            panic!("not a resync: {fact:?}");
        };
        assert!(*outage >= Duration::from_secs(120), "{outage:?}");
        assert_eq!(told(changes), ["online bob", "started s2"]);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(run.handle.latest().as_of_ms, None, "live again");
        // An ordinary idle minute is no freeze.
        let calls = run.users_calls();
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(run.users_calls(), calls);
    }

    #[tokio::test(start_paused = true)]
    async fn the_task_ends_with_the_connection() {
        let run = start(Script::default());
        let (handle, events, status, mut happenings) =
            (run.handle, run.events, run.status, run.happenings);
        status.send_replace(ConnectionStatus::Stopped);
        drop(events);
        assert!(happenings.recv().await.is_none(), "the task ended");
        assert_eq!(handle.latest().connection, ConnectionStatus::Stopped);
    }
}
