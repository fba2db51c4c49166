//! The protocol models against real ABS 2.36.0 payloads, older server forms, and hostile input.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns are test code too: a panic is a test failure"
)]

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use abs_tray_core::protocol::{
    ClientEvent, DailyLogs, DecodeError, Init, LogEvent, LogLevel, LoginResponse,
    MAX_EVENT_NAME_BYTES, MAX_ID_BYTES, MAX_ITEMS_ADDED, MAX_JSON_BYTES, MAX_LIST_LEN,
    MAX_MESSAGE_BYTES, MAX_TEXT_BYTES, MediaProgress, MediaType, OpenSessions, PlayMethod,
    ProgressUpdate, PublicUser, RawArg, ServerEvent, ServerStatus, TaskList, User, UserType,
    UsersOnline, decode, decode_json, decode_message,
};
use abs_tray_core::secret::Secret;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

const CAPTURED: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/abs-2.36.0/captured-events.json"
));
const PROBES: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/abs-2.36.0/probe-results.json"
));

/// `(event, args)` of every captured event, without the `(connect)`/`(disconnect)` markers.
fn captured() -> Vec<(String, Vec<Value>)> {
    let all: Vec<Value> = serde_json::from_str(CAPTURED).unwrap();
    all.into_iter()
        .filter_map(|entry| {
            let name = entry["event"].as_str().unwrap().to_owned();
            if name.starts_with('(') {
                return None;
            }
            let args = entry["args"].as_array().unwrap().clone();
            Some((name, args))
        })
        .collect()
}

fn probes() -> Map<String, Value> {
    serde_json::from_str(PROBES).unwrap()
}

fn probe<T: DeserializeOwned>(key: &str) -> T {
    let all = probes();
    let value = all.get(key).unwrap_or_else(|| panic!("no probe {key}"));
    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("probe {key}: {e}"))
}

/// The first captured payload of `event`.
fn first_captured(event: &str) -> Value {
    captured()
        .into_iter()
        .find(|(name, _)| name == event)
        .unwrap_or_else(|| panic!("{event} not captured"))
        .1
        .remove(0)
}

fn decode_one(event: &str, payload: Value) -> Result<ServerEvent, DecodeError> {
    decode(event, &[payload.into()])
}

/// Socket.IO arguments as the socket hands them over: JSON text.
fn raw_args(values: &[Value]) -> Vec<RawArg> {
    values.iter().map(RawArg::from).collect()
}

/// Which variant each captured event name must decode to. A name missing here fails the test,
/// so a new event in the fixtures forces a decision.
fn is_expected_variant(name: &str, event: &ServerEvent) -> bool {
    use ServerEvent as E;
    match (name, event) {
        ("init", E::Init(_))
        | ("auth_failed", E::AuthFailed(_))
        | ("user_online", E::UserOnline(_))
        | ("user_offline", E::UserOffline(_))
        | ("user_added", E::UserAdded(_))
        | ("user_updated", E::UserUpdated(_))
        | ("user_removed", E::UserRemoved(_))
        | ("user_stream_update", E::UserStreamUpdate(_))
        | ("user_item_progress_updated", E::UserItemProgressUpdated(_))
        | ("user_session_closed", E::UserSessionClosed { .. })
        | ("admin_message", E::AdminMessage { .. })
        | ("log", E::Log(_))
        | ("pong", E::Pong)
        | ("task_started", E::TaskStarted(_))
        | ("task_finished", E::TaskFinished(_))
        | ("items_added", E::ItemsAdded(_))
        | ("library_added", E::LibraryAdded(_)) => true,
        // Deliberately not modelled: the tray does not act on them.
        (
            "cover_search_error" | "stream_progress" | "stream_open" | "stream_closed"
            | "author_added",
            E::Other { name: got, payload },
        ) => got == name && !payload.is_empty(),
        _ => false,
    }
}

#[test]
fn every_captured_event_decodes_to_its_variant() {
    let events = captured();
    assert!(events.len() > 60, "fixture shrank: {}", events.len());
    let mut seen = BTreeSet::new();
    for (name, args) in &events {
        let decoded = decode(name, &raw_args(args))
            .unwrap_or_else(|e| panic!("{name} failed to decode: {e}"));
        assert!(
            is_expected_variant(name, &decoded),
            "{name} decoded to the wrong variant: {decoded:?}"
        );
        assert_eq!(decoded.name(), name);
        seen.insert(name.as_str());
    }
    // The fixture covers the events the tray depends on most.
    for must in [
        "init",
        "auth_failed",
        "user_online",
        "user_offline",
        "user_stream_update",
        "user_item_progress_updated",
        "user_session_closed",
        "task_started",
        "task_finished",
        "items_added",
        "pong",
    ] {
        assert!(seen.contains(must), "{must} missing from fixture");
    }
}

#[test]
fn captured_events_carry_the_right_values() {
    let events = captured();
    let decoded: Vec<ServerEvent> = events
        .iter()
        .map(|(name, args)| decode(name, &raw_args(args)).unwrap())
        .collect();

    // Admin init: usersOnline with connection counts; the first one also shows root's own presence.
    let ServerEvent::Init(root_init) = &decoded[1] else {
        panic!("{:?}", decoded[1])
    };
    assert_eq!(root_init.username, "root");
    let online = root_init.users_online.as_ref().unwrap();
    assert_eq!(online.len(), 1);
    assert_eq!(online[0].connections, Some(1));
    assert_eq!(online[0].user_type, UserType::Root);
    assert!(online[0].user_type.is_admin());
    assert!(online[0].session.is_none());
    assert!(root_init.libraries_scanning.is_none());

    // Non-admin init: no usersOnline.
    let alice_init = decoded
        .iter()
        .find_map(|e| match e {
            ServerEvent::Init(i) if i.username == "alice" => Some(i),
            _ => None,
        })
        .unwrap();
    assert!(alice_init.users_online.is_none());

    // Stream start: the session as the tray shows it.
    let streams: Vec<&PublicUser> = decoded
        .iter()
        .filter_map(|e| match e {
            ServerEvent::UserStreamUpdate(u) => Some(u),
            _ => None,
        })
        .collect();
    assert_eq!(streams.len(), 6);
    let session = streams[0].session.as_deref().unwrap();
    assert_eq!(streams[0].username, "alice");
    assert_eq!(session.display_title.as_deref(), Some("Test Book"));
    assert_eq!(session.display_author.as_deref(), Some("Test Author"));
    assert_eq!(session.media_type, MediaType::Book);
    assert_eq!(session.play_method, PlayMethod::DirectPlay);
    assert_eq!(session.duration, Some(600.032653));
    assert_eq!(session.episode_id, None);
    assert_eq!(session.media_player.as_deref(), Some("html5"));
    assert_eq!(session.started_at, 1_795_851_167_177);
    let device = session.device_info.as_ref().unwrap();
    assert_eq!(device.client_name.as_deref(), Some("abs-probe"));
    assert_eq!(device.device_id.as_deref(), Some("probe-device-1"));
    assert_eq!(device.model, None, "omitted keys are None");
    // The transcoded session (third start) reports play method 2.
    let transcode = streams[2].session.as_deref().unwrap();
    assert_eq!(transcode.id, "569270ca-1b2d-4bc3-aeff-845aa220daad");
    assert_eq!(transcode.play_method, PlayMethod::Transcode);

    // Progress, scan results, items, library, users, messages, logs.
    let mut checked = BTreeSet::new();
    for event in &decoded {
        match event {
            ServerEvent::UserItemProgressUpdated(p) if checked.insert("progress") => {
                assert_eq!(p.device_description.as_deref(), Some("null null / null"));
                assert_eq!(p.data.current_time, 30.5);
                assert_eq!(p.data.duration, Some(600.0));
                assert!(!p.data.is_finished);
                assert_eq!(p.data.media_item_type.as_deref(), Some("book"));
            }
            ServerEvent::TaskStarted(t) if checked.insert("task_started") => {
                assert!(t.is_library_scan());
                assert!(!t.is_finished);
                let data = t.data.as_ref().unwrap();
                assert_eq!(data.library_name.as_deref(), Some("Books"));
                assert!(data.scan_results.is_none());
            }
            ServerEvent::TaskFinished(t) if checked.insert("task_finished") => {
                assert!(t.is_finished && !t.is_failed);
                assert_eq!(t.finished_at, Some(1_795_851_108_365));
                let results = t.data.as_ref().unwrap().scan_results.as_ref().unwrap();
                assert_eq!((results.added, results.updated, results.missing), (1, 0, 0));
                assert_eq!(results.elapsed, Some(107));
                assert_eq!(results.text.as_deref(), Some("1 added (107 ms)"));
            }
            ServerEvent::ItemsAdded(items) if checked.insert("items_added") => {
                assert_eq!(items.len(), 1);
                let item = &items[0];
                assert_eq!(item.id, "40e98f27-e009-4521-a6c3-fa8e157329e1");
                assert_eq!(item.media_type, MediaType::Book);
                assert_eq!(item.title.as_deref(), Some("Test Book"));
                assert_eq!(item.author.as_deref(), Some("Test Author"));
                assert_eq!(item.narrator, None, "empty narratorName becomes None");
                assert_eq!(item.series, None);
            }
            ServerEvent::LibraryAdded(l) if checked.insert("library_added") => {
                assert_eq!(l.name, "Books");
                assert_eq!(l.media_type, MediaType::Book);
            }
            ServerEvent::UserAdded(u) if checked.insert("user_added") => {
                assert_eq!(u.username, "alice");
                assert_eq!(u.user_type, UserType::User);
                assert!(u.is_active);
                assert!(u.token.as_ref().unwrap().expose().starts_with("eyJ"));
                assert!(
                    !format!("{event:?}").contains("eyJ"),
                    "token leaked in Debug"
                );
            }
            ServerEvent::UserRemoved(u) if checked.insert("user_removed") => {
                assert_eq!(u.username, "alice");
            }
            ServerEvent::AdminMessage { message } if checked.insert("admin_message") => {
                assert_eq!(message, "hello from admin");
            }
            ServerEvent::Log(l) if checked.insert("log") => {
                assert_eq!(l.level, LogLevel::Info);
                assert_eq!(l.level_name.as_deref(), Some("INFO"));
                assert_eq!(l.source.as_deref(), Some("Server.js:368"));
                assert_eq!(l.message, "Received ping");
            }
            ServerEvent::UserSessionClosed { session_id } if checked.insert("closed") => {
                assert_eq!(session_id, "c2f93834-81f3-491b-b02f-7f7aaf263f77");
            }
            ServerEvent::AuthFailed(f) if checked.insert("auth_failed") => {
                assert_eq!(f.message.as_deref(), Some("Invalid token"));
            }
            ServerEvent::UserOnline(u) if u.username == "alice" && checked.insert("online") => {
                assert_eq!(u.last_seen, None, "first login has no lastSeen");
                assert_eq!(u.connections, None, "user_online has no connections");
            }
            _ => {}
        }
    }
    assert_eq!(checked.len(), 12, "{checked:?}");
}

#[test]
fn probe_payloads_parse_into_their_models() {
    let root: Init = probe("initRoot");
    assert_eq!(root.user_id, "f82decbd-992c-491a-9532-dab1ca5b973c");
    assert_eq!(root.users_online.unwrap()[0].username, "root");
    let alice: Init = probe("initAlice");
    assert_eq!(alice.username, "alice");
    assert!(alice.users_online.is_none());

    let online: PublicUser = probe("userOnlinePayload");
    assert_eq!(
        (online.username.as_str(), online.last_seen),
        ("alice", None)
    );
    let offline: PublicUser = probe("userOfflinePayload");
    assert_eq!(offline.last_seen, Some(1_795_851_187_341));
    assert_eq!(offline.created_at, Some(1_795_851_112_942));

    // Start and close carry the same session; close has the later position.
    let start: PublicUser = probe("userStreamUpdateOnStart");
    let close: PublicUser = probe("userStreamUpdateOnClose");
    let (start, close) = (start.session.unwrap(), close.session.unwrap());
    assert_eq!(start.id, close.id);
    assert_eq!((start.current_time, start.time_listening), (0.0, 0.0));
    assert_eq!((close.current_time, close.time_listening), (55.0, 35.0));
    assert!(close.updated_at > start.updated_at);

    let p1: ProgressUpdate = probe("progressUpdated1");
    let p2: ProgressUpdate = probe("progressUpdated2");
    let on_close: ProgressUpdate = probe("progressUpdatedOnClose");
    assert_eq!(p1.session_id.as_deref(), Some(start.id.as_str()));
    assert_eq!(
        (
            p1.data.current_time,
            p2.data.current_time,
            on_close.data.current_time
        ),
        (30.5, 41.0, 55.0)
    );
    assert!(!on_close.data.is_finished);
    assert_eq!(on_close.data.finished_at, None);
    // Near the end the server flips isFinished (a bare MediaProgress in this probe).
    let near_end: MediaProgress = probe("progressUpdatedNearEnd");
    assert!(near_end.is_finished);
    assert_eq!(near_end.progress, 1.0);
    assert_eq!(near_end.current_time, 595.0);
    assert_eq!(near_end.finished_at, Some(1_795_851_187_325));

    let users: UsersOnline = probe("usersOnlineRest");
    let names: Vec<&str> = users
        .users_online
        .iter()
        .map(|u| u.username.as_str())
        .collect();
    assert_eq!(names, ["root", "alice"]);
    assert_eq!(users.users_online[1].connections, Some(1));
    let live = users.users_online[1].session.as_deref().unwrap();
    assert_eq!(live.current_time, 41.0);
    assert_eq!(users.open_sessions.len(), 1);
    assert_eq!(
        users.open_sessions[0].display_title.as_deref(),
        Some("Test Book")
    );
    assert_eq!(users.open_sessions[0].time_listening, 30.0);

    let after: UsersOnline = probe("usersOnlineRestAfterClose");
    assert!(after.open_sessions.is_empty());
    assert!(after.users_online.iter().all(|u| u.session.is_none()));

    let open: OpenSessions = probe("sessionsOpenRest");
    assert_eq!(open.sessions.len(), 1);
    let user = open.sessions[0].user.as_ref().unwrap();
    assert_eq!(user.username, "alice");
    assert_eq!(open.sessions[0].display_title.as_deref(), Some("Test Book"));

    let added: User = probe("userAddedPayload");
    assert_eq!(added.username, "alice");
    assert_eq!(added.email, None);
    assert!(added.access_token.is_none() && added.refresh_token.is_none());
    assert_eq!(added.socket_token(), added.token.as_ref());
    assert!(!format!("{added:?}").contains("eyJ"));

    let log: LogEvent = probe("logEventSample");
    assert_eq!(log.timestamp, "2026-11-28 07:33:09.649");
    assert_eq!(log.level, LogLevel::Info);

    let status: ServerStatus = probe("statusBeforeInit");
    assert_eq!(status.app.as_deref(), Some("audiobookshelf"));
    assert_eq!(status.server_version.as_deref(), Some("2.36.0"));
    assert!(!status.is_init);
    assert_eq!(status.language.as_deref(), Some("en-us"));
    assert_eq!(status.auth_methods, ["local"]);

    // Socket auth probes: every init / auth_failed the server sent.
    let all = probes();
    let auth = all["socketAuthProbes"].as_object().unwrap();
    let mut inits = 0;
    for (case, result) in auth {
        if let Some(init) = result.get("init").filter(|v| !v.is_null()) {
            let ServerEvent::Init(init) = decode_one("init", init.clone()).unwrap() else {
                panic!("{case}")
            };
            assert_eq!(init.username, "root");
            inits += 1;
        }
        if let Some(failed) = result.get("auth_failed").filter(|v| !v.is_null()) {
            let decoded = decode_one("auth_failed", failed.clone()).unwrap();
            assert!(matches!(decoded, ServerEvent::AuthFailed(_)), "{case}");
        }
    }
    assert_eq!(inits, 4);
    let reauth: Init = serde_json::from_value(auth["reauthSameSocket"].clone()).unwrap();
    assert_eq!(reauth.users_online.unwrap()[0].connections, Some(1));

    let closed = decode_one("user_session_closed", all["userSessionClosed"].clone()).unwrap();
    assert!(
        matches!(closed, ServerEvent::UserSessionClosed { ref session_id } if session_id.starts_with("c2f9"))
    );
    let progress = all["streamProgressSamples"][0].clone();
    assert!(matches!(
        decode_one("stream_progress", progress).unwrap(),
        ServerEvent::Other { .. }
    ));
}

#[test]
fn login_reply_keeps_tokens_secret_and_prefers_the_access_token() {
    // The probe only recorded the key list of the login reply; rebuild one from it.
    let all = probes();
    let keys = all["loginWithoutHeader"]["userKeys"].as_array().unwrap();
    assert!(keys.contains(&json!("accessToken")) && keys.contains(&json!("refreshToken")));
    let mut user = all["userAddedPayload"].clone();
    user["accessToken"] = json!("ACCESS.jwt.sig");
    user["refreshToken"] = json!("REFRESH.jwt.sig");
    let reply = json!({
        "user": user,
        "userDefaultLibraryId": "32cb4072-681f-4ed9-99f2-752f6fca98ec",
        "serverSettings": {"version": "2.36.0", "scannerFindCovers": false},
        "ereaderDevices": [],
        "Source": "docker"
    });
    let login: LoginResponse = serde_json::from_value(reply).unwrap();
    assert_eq!(
        login.user.socket_token().map(Secret::expose),
        Some("ACCESS.jwt.sig")
    );
    assert_eq!(
        login.user.refresh_token.as_ref().map(Secret::expose),
        Some("REFRESH.jwt.sig")
    );
    assert_eq!(
        login.server_settings.unwrap().version.as_deref(),
        Some("2.36.0")
    );
    assert!(login.user_default_library_id.is_some());
    let shown = format!("{:?}", login.user);
    for leaked in ["ACCESS", "REFRESH", "eyJ"] {
        assert!(!shown.contains(leaked), "{leaked} in {shown}");
    }

    // Without the header the refresh token is null; authorize has no access token at all.
    let mut no_header = all["userAddedPayload"].clone();
    no_header["refreshToken"] = Value::Null;
    let user: User = serde_json::from_value(no_header).unwrap();
    assert!(user.refresh_token.is_none());
    assert_eq!(
        user.socket_token(),
        user.token.as_ref(),
        "falls back to legacy"
    );
}

#[test]
fn old_server_forms_are_accepted() {
    assert_eq!(
        decode("invalid_token", &[]).unwrap(),
        ServerEvent::InvalidToken
    );
    assert_eq!(decode("pong", &[]).unwrap(), ServerEvent::Pong);
    assert_eq!(
        decode("backup_applied", &[]).unwrap(),
        ServerEvent::BackupApplied
    );
    // auth_failed without a payload is still a refusal.
    let ServerEvent::AuthFailed(failed) = decode("auth_failed", &[]).unwrap() else {
        panic!()
    };
    assert_eq!(failed.message, None);
    let ServerEvent::AuthFailed(failed) =
        decode_one("auth_failed", json!({"message": null})).unwrap()
    else {
        panic!()
    };
    assert_eq!(failed.message, None);

    // init.librariesScanning: ids (published doc) and scan objects (old servers).
    let ids = json!({"userId": "root", "username": "root",
        "librariesScanning": ["lib_c1u6t4p45c35rf0nzd"], "usersOnline": []});
    let ServerEvent::Init(init) = decode_one("init", ids).unwrap() else {
        panic!()
    };
    let scanning = init.libraries_scanning.unwrap();
    assert_eq!(scanning[0].id, "lib_c1u6t4p45c35rf0nzd");
    assert_eq!(scanning[0].name, None);
    assert_eq!(init.users_online, Some(vec![]));
    let objects = json!({"userId": "root", "username": "root",
        "librariesScanning": [{"id": "lib1", "type": "scan", "name": "Books", "results": null}]});
    let ServerEvent::Init(init) = decode_one("init", objects).unwrap() else {
        panic!()
    };
    assert_eq!(
        init.libraries_scanning.unwrap()[0].name.as_deref(),
        Some("Books")
    );
    let empty = json!({"userId": "u", "username": "n", "librariesScanning": []});
    let ServerEvent::Init(init) = decode_one("init", empty).unwrap() else {
        panic!()
    };
    assert_eq!(init.libraries_scanning, Some(vec![]));

    // daily_logs: a bare array (socket) or {currentDailyLogs} (the REST form).
    let line: Value = probes()["logEventSample"].clone();
    let old_line = json!({"timestamp": "2022-12-21 15:08:47", "message": "m",
        "levelName": "INFO", "level": 2});
    let ServerEvent::DailyLogs(bare) =
        decode_one("daily_logs", json!([line.clone(), old_line])).unwrap()
    else {
        panic!()
    };
    assert_eq!(bare.logs.len(), 2);
    assert_eq!(bare.logs[1].source, None);
    let ServerEvent::DailyLogs(wrapped) =
        decode_one("daily_logs", json!({"currentDailyLogs": [line.clone()]})).unwrap()
    else {
        panic!()
    };
    assert_eq!(wrapped.logs[0].message, "Received ping");
    let rest: DailyLogs = serde_json::from_value(json!({"currentDailyLogs": []})).unwrap();
    assert!(rest.logs.is_empty());

    // GET /api/tasks: {tasks: [...]} and a bare array.
    let task = first_captured("task_started");
    let wrapped: TaskList = serde_json::from_value(json!({"tasks": [task.clone()]})).unwrap();
    let bare: TaskList = serde_json::from_value(json!([task])).unwrap();
    assert_eq!(wrapped, bare);
    assert!(wrapped.tasks[0].is_library_scan());
    assert!(serde_json::from_value::<TaskList>(json!({"tasks": 5})).is_err());
}

#[test]
fn events_missing_from_the_fixture_decode() {
    let item = first_captured("items_added")[0].clone();
    let ServerEvent::ItemAdded(item) = decode_one("item_added", item).unwrap() else {
        panic!()
    };
    assert_eq!(item.title.as_deref(), Some("Test Book"));

    let library = first_captured("library_added");
    for name in ["library_updated", "library_removed"] {
        let decoded = decode_one(name, library.clone()).unwrap();
        assert_eq!(decoded.name(), name);
    }

    let podcast = json!({"id": "lib_x", "libraryItemId": "li_1", "mediaType": "podcast",
        "media": {"metadata": {"title": "Pod", "author": "Host", "feedUrl": "http://x"}}});
    let ServerEvent::ItemAdded(pod) = decode_one("item_added", podcast).unwrap() else {
        panic!()
    };
    assert_eq!(pod.media_type, MediaType::Podcast);
    assert_eq!(
        pod.author.as_deref(),
        Some("Host"),
        "podcasts use metadata.author"
    );
    assert_eq!(pod.library_id, None);

    let download = json!({"id": "dl1", "episodeDisplayTitle": "Ep 1", "url": "http://x",
        "libraryItemId": "li1", "libraryId": "lib1", "isFinished": true, "failed": false,
        "appendRandomId": false, "startedAt": 1, "createdAt": 1, "finishedAt": 2,
        "podcastTitle": "Pod", "podcastExplicit": false, "season": "", "episode": "",
        "episodeType": "full", "publishedAt": null, "guid": "g"});
    let ServerEvent::EpisodeDownloadFinished(d) =
        decode_one("episode_download_finished", download).unwrap()
    else {
        panic!()
    };
    assert_eq!(d.episode_display_title.as_deref(), Some("Ep 1"));
    assert_eq!(d.podcast_title.as_deref(), Some("Pod"));
    assert!(d.is_finished && !d.failed);

    // A podcast session from an Android client: sdkVersion is a number, playMethod unknown.
    let mut session = probes()["userStreamUpdateOnStart"].clone();
    session["session"]["deviceInfo"] = json!({"manufacturer": "Google", "model": "Pixel 8",
        "sdkVersion": 34, "clientVersion": "0.9.79-beta", "deviceName": "Pixel"});
    session["session"]["playMethod"] = json!(7);
    session["session"]["mediaType"] = json!("podcast");
    session["session"]["episodeId"] = json!("ep_1");
    session["session"]["duration"] = Value::Null;
    session["session"]["startedAt"] = json!(1_795_851_167_177.0);
    let ServerEvent::UserStreamUpdate(user) = decode_one("user_stream_update", session).unwrap()
    else {
        panic!()
    };
    let s = user.session.unwrap();
    assert_eq!(s.play_method, PlayMethod::Unknown(7));
    assert_eq!(s.play_method.code(), 7);
    assert_eq!(s.media_type, MediaType::Podcast);
    assert_eq!(s.duration, None);
    assert_eq!(
        s.started_at, 1_795_851_167_177,
        "float timestamps are accepted"
    );
    let device = s.device_info.unwrap();
    assert_eq!(device.sdk_version.as_deref(), Some("34"));
    assert_eq!(device.model.as_deref(), Some("Pixel 8"));
    assert_eq!(device.ip_address, None);

    // Unknown events are kept raw, never an error.
    let other = decode("some_future_event", &raw_args(&[json!({"a": 1}), json!(2)])).unwrap();
    assert_eq!(
        other,
        ServerEvent::Other {
            name: "some_future_event".into(),
            payload: raw_args(&[json!({"a": 1}), json!(2)])
        }
    );
}

#[test]
fn payloadless_events_arriving_as_message_decode_to_that_event() {
    let msg = |args: Value| decode_message(&raw_args(args.as_array().unwrap()));
    assert_eq!(msg(json!(["pong"])), ServerEvent::Pong);
    assert_eq!(msg(json!(["invalid_token"])), ServerEvent::InvalidToken);
    assert_eq!(msg(json!(["backup_applied"])), ServerEvent::BackupApplied);
    assert_eq!(
        msg(json!(["stream_ready"])),
        ServerEvent::Other {
            name: "stream_ready".into(),
            payload: vec![]
        }
    );
    for other in [
        json!(["hello"]),
        json!([]),
        json!(["pong", 1]),
        json!([5]),
        json!([["pong"]]),
        json!(["init"]),
    ] {
        let decoded = msg(other.clone());
        assert_eq!(
            decoded,
            ServerEvent::Other {
                name: "message".into(),
                payload: raw_args(other.as_array().unwrap())
            }
        );
    }
    // `decode` routes the default event name through the same path.
    assert_eq!(
        decode("message", &[json!("pong").into()]).unwrap(),
        ServerEvent::Pong
    );
    assert_eq!(
        decode_json("message", b"\"pong\"").unwrap(),
        ServerEvent::Pong
    );
}

/// Sets the value at `pointer` (JSON pointer) in a copy of `payload`.
fn with_value(payload: &Value, pointer: &str, value: Value) -> Value {
    let mut copy = payload.clone();
    *copy
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no {pointer}")) = value;
    copy
}

/// `(event, JSON pointer, wrong value as JSON)`: each must make the payload `Malformed`.
const WRONG_TYPES: &[(&str, &str, &str)] = &[
    ("init", "/userId", "5"),
    ("init", "/username", "5"),
    ("init", "/usersOnline", r#""x""#),
    ("init", "/usersOnline/0/connections", r#""many""#),
    ("init", "/usersOnline/0/connections", "-1"),
    ("init", "/usersOnline/0", "[]"),
    ("auth_failed", "/message", "5"),
    ("user_online", "/id", "null"),
    ("user_online", "/username", "5"),
    ("user_online", "/type", "5"),
    ("user_online", "/session", r#""x""#),
    ("user_online", "/lastSeen", r#""yesterday""#),
    ("user_online", "/createdAt", "{}"),
    ("user_offline", "/username", "[]"),
    ("user_stream_update", "/session/id", "5"),
    ("user_stream_update", "/session/userId", "null"),
    ("user_stream_update", "/session/playMethod", r#""x""#),
    ("user_stream_update", "/session/playMethod", "1.5"),
    ("user_stream_update", "/session/deviceInfo", r#""x""#),
    (
        "user_stream_update",
        "/session/deviceInfo/clientName",
        r#"["x"]"#,
    ),
    ("user_stream_update", "/session/duration", r#""long""#),
    ("user_stream_update", "/session/currentTime", r#""x""#),
    ("user_stream_update", "/session/startedAt", "null"),
    ("user_stream_update", "/session/displayTitle", "5"),
    ("user_stream_update", "/session/mediaType", "5"),
    ("user_added", "/isActive", r#""yes""#),
    ("user_added", "/token", "5"),
    ("user_updated", "/email", "5"),
    ("user_removed", "/type", "[]"),
    ("user_item_progress_updated", "/data", r#""x""#),
    ("user_item_progress_updated", "/data/isFinished", r#""no""#),
    ("user_item_progress_updated", "/data/currentTime", r#""x""#),
    ("user_item_progress_updated", "/data/libraryItemId", "null"),
    ("user_item_progress_updated", "/sessionId", "5"),
    ("user_session_closed", "", "5"),
    ("admin_message", "", r#"{"message": "x"}"#),
    ("log", "/level", r#""INFO""#),
    ("log", "/level", "99"),
    ("log", "/message", "5"),
    ("log", "/timestamp", "5"),
    ("daily_logs", "/0/level", "null"),
    ("task_started", "/isFinished", r#""no""#),
    ("task_finished", "/action", "5"),
    ("task_finished", "/data", r#""x""#),
    ("task_finished", "/data/scanResults", r#""x""#),
    ("task_finished", "/data/scanResults/added", r#""one""#),
    ("task_finished", "/data/scanResults/added", "-1"),
    ("task_finished", "/data/scanResults/elapsed", r#""fast""#),
    ("item_added", "/media/metadata/title", "5"),
    ("items_added", "/0/id", "5"),
    ("items_added", "/0/media", r#""x""#),
    ("items_added", "/0/mediaType", "5"),
    ("library_added", "/id", "null"),
    ("library_added", "/name", "5"),
    ("library_updated", "/mediaType", "{}"),
    ("library_removed", "/id", "[]"),
    ("episode_download_finished", "/failed", r#""no""#),
    ("episode_download_finished", "/podcastTitle", "5"),
];

#[test]
fn wrong_field_types_are_errors() {
    let samples = typed_samples();
    for (event, pointer, wrong) in WRONG_TYPES {
        let sample = &samples.iter().find(|(name, _)| name == event).unwrap().1;
        let bad = with_value(sample, pointer, serde_json::from_str(wrong).unwrap());
        match decode_one(event, bad) {
            Err(DecodeError::Malformed { event: got, reason }) => {
                assert_eq!(got, *event);
                assert!(!reason.is_empty());
            }
            other => panic!("{event}{pointer} = {wrong}: expected Malformed, got {other:?}"),
        }
    }
    // Every typed event has at least one wrong-type case.
    for (event, _) in &samples {
        assert!(
            WRONG_TYPES.iter().any(|(e, _, _)| e == event),
            "no wrong-type case for {event}"
        );
    }
}

/// A `user_stream_update` whose session has every optional key the model reads.
fn stream_with_every_device_key() -> Value {
    let mut stream = first_captured("user_stream_update");
    stream["session"]["deviceInfo"] = json!({
        "id": "d", "userId": "u", "deviceId": "dev", "ipAddress": "10.0.0.2",
        "browserName": "Firefox", "browserVersion": "140", "osName": "Linux", "osVersion": "6",
        "deviceType": "desktop", "clientVersion": "1.0", "manufacturer": "Google",
        "model": "Pixel", "sdkVersion": 34, "clientName": "Abs", "deviceName": "Phone"
    });
    stream["session"]["episodeId"] = json!("ep");
    stream["session"]["user"] = json!({"id": "u", "username": "alice"});
    stream["connections"] = json!(2);
    stream
}

/// Every event the model types, with a payload it accepts.
fn typed_samples() -> Vec<(&'static str, Value)> {
    vec![
        ("init", first_captured("init")),
        ("auth_failed", first_captured("auth_failed")),
        ("user_online", first_captured("user_online")),
        ("user_offline", first_captured("user_offline")),
        ("user_added", first_captured("user_added")),
        ("user_updated", first_captured("user_updated")),
        ("user_removed", first_captured("user_removed")),
        ("user_stream_update", first_captured("user_stream_update")),
        ("user_stream_update", stream_with_every_device_key()),
        (
            "user_item_progress_updated",
            first_captured("user_item_progress_updated"),
        ),
        ("user_session_closed", first_captured("user_session_closed")),
        ("admin_message", first_captured("admin_message")),
        ("log", first_captured("log")),
        ("daily_logs", json!([first_captured("log")])),
        ("task_started", first_captured("task_started")),
        ("task_finished", first_captured("task_finished")),
        ("item_added", first_captured("items_added")[0].clone()),
        ("items_added", first_captured("items_added")),
        (
            "item_added",
            json!({"id": "li", "libraryId": "lib", "mediaType": "podcast",
                "media": {"metadata": {"title": "Pod", "author": "Host", "subtitle": "Sub"}}}),
        ),
        (
            "init",
            json!({"userId": "u", "username": "root", "usersOnline": [],
                "librariesScanning": ["lib1", {"id": "lib2", "name": "Books"}]}),
        ),
        ("library_added", first_captured("library_added")),
        ("library_updated", first_captured("library_added")),
        ("library_removed", first_captured("library_added")),
        (
            "episode_download_finished",
            json!({"id": "dl1", "episodeDisplayTitle": "Ep", "libraryItemId": "li",
                "libraryId": "lib", "podcastTitle": "Pod", "failed": false, "isFinished": true}),
        ),
    ]
}

#[test]
fn payloads_of_the_wrong_shape_or_missing_are_errors() {
    for (event, good) in typed_samples() {
        assert!(decode_one(event, good.clone()).is_ok(), "{event} sample");
        if event == "auth_failed" {
            // Deliberately lenient about a missing payload (see old_server_forms_are_accepted).
            assert!(decode(event, &[]).is_ok());
        } else {
            assert_eq!(
                decode(event, &[]),
                Err(DecodeError::MissingPayload {
                    event: event.to_owned()
                }),
                "{event} without args"
            );
        }
        let wrong_shapes = [
            Value::Null,
            json!(5),
            json!(true),
            json!("x"),
            json!([]),
            json!({}),
            json!([[]]),
        ];
        for wrong in wrong_shapes {
            if wrong == good
                || (event == "user_session_closed" || event == "admin_message") && wrong.is_string()
                || matches!(event, "items_added" | "daily_logs") && wrong == json!([])
                || event == "auth_failed" && wrong == json!({})
            {
                continue; // valid for this event
            }
            let result = decode_one(event, wrong.clone());
            assert!(
                matches!(result, Err(DecodeError::Malformed { .. })),
                "{event} with {wrong}: {result:?}"
            );
        }
    }
}

/// A `user_online`-shaped entry, written as text.
fn user_text(i: usize) -> String {
    format!(
        r#"{{"id":"user-{i:06}","username":"Visitor {i}","type":"user","session":null,"lastSeen":null,"createdAt":0,"connections":1}}"#
    )
}

#[test]
fn a_hundred_thousand_users_decode_into_the_capped_list() {
    let users: Vec<String> = (0..100_000).map(user_text).collect();
    // Past the cap, entries are skipped unread: even a broken one does not spoil the event.
    let text = format!(
        r#"{{"userId":"root","username":"root","usersOnline":[{},{{"id":5}}]}}"#,
        users.join(",")
    );
    assert!(text.len() > 10_000_000, "{}", text.len());
    let arg = RawArg::from_json(text.clone()).unwrap();
    for decoded in [
        decode("init", std::slice::from_ref(&arg)),
        decode_json("init", text.as_bytes()),
    ] {
        let Ok(ServerEvent::Init(init)) = decoded else {
            panic!("{decoded:?}")
        };
        let online = init.users_online.unwrap();
        assert_eq!(online.len(), MAX_LIST_LEN);
        assert_eq!(online[0].id, "user-000000");
        assert_eq!(
            online[MAX_LIST_LEN - 1].id,
            format!("user-{:06}", MAX_LIST_LEN - 1)
        );
    }
    // Within the cap, every entry is still checked against the model.
    let broken = format!(
        r#"{{"userId":"root","username":"root","usersOnline":[{},{{"id":5}}]}}"#,
        users[..10].join(",")
    );
    assert!(matches!(
        decode_json("init", broken.as_bytes()),
        Err(DecodeError::Malformed { .. })
    ));
    // The REST reply is capped the same way.
    let reply = format!(
        r#"{{"usersOnline":[{}],"openSessions":[]}}"#,
        users.join(",")
    );
    let online: UsersOnline = serde_json::from_str(&reply).unwrap();
    assert_eq!(online.users_online.len(), MAX_LIST_LEN);
}

#[test]
fn long_lists_keep_what_matters() {
    let line = |i: usize| {
        format!(r#"{{"timestamp":"t","message":"line {i}","levelName":"INFO","level":2}}"#)
    };
    let lines: Vec<String> = (0..MAX_LIST_LEN + 10).map(line).collect();
    // Log lines keep the newest, in both shapes.
    for text in [
        format!("[{}]", lines.join(",")),
        format!(
            r#"{{"other":[1,2],"currentDailyLogs":[{}]}}"#,
            lines.join(",")
        ),
    ] {
        let Ok(ServerEvent::DailyLogs(logs)) = decode_json("daily_logs", text.as_bytes()) else {
            panic!("daily_logs did not decode")
        };
        assert_eq!(logs.logs.len(), MAX_LIST_LEN);
        assert_eq!(logs.logs[0].message, "line 10");
        assert_eq!(
            logs.logs[MAX_LIST_LEN - 1].message,
            format!("line {}", MAX_LIST_LEN + 9)
        );
    }
    assert!(serde_json::from_str::<DailyLogs>(r#"{"other":[]}"#).is_err());
    assert!(
        serde_json::from_str::<DailyLogs>(r#"{"currentDailyLogs":[],"currentDailyLogs":[]}"#)
            .is_err()
    );
    // A scan's batch has more room than other lists.
    let item = |i: usize| format!(r#"{{"id":"i{i}","libraryId":"l","mediaType":"book"}}"#);
    let items: Vec<String> = (0..MAX_ITEMS_ADDED + 5).map(item).collect();
    let Ok(ServerEvent::ItemsAdded(added)) =
        decode_json("items_added", format!("[{}]", items.join(",")).as_bytes())
    else {
        panic!("items_added did not decode")
    };
    assert_eq!(added.len(), MAX_ITEMS_ADDED);
    assert_eq!(added[0].id, "i0");
}

#[test]
fn ten_megabyte_strings_are_truncated_or_rejected() {
    const TEN_MB: usize = 10 * 1024 * 1024;
    let huge = "x".repeat(TEN_MB);

    // Free text: truncated at the cap, with an ellipsis.
    let ServerEvent::AdminMessage { message } =
        decode_one("admin_message", json!(huge.clone())).unwrap()
    else {
        panic!()
    };
    assert!(message.len() <= MAX_MESSAGE_BYTES && message.len() > MAX_MESSAGE_BYTES - 8);
    assert!(message.ends_with('…'));

    let online = with_value(
        &first_captured("user_online"),
        "/username",
        json!(huge.clone()),
    );
    let ServerEvent::UserOnline(user) = decode_one("user_online", online).unwrap() else {
        panic!()
    };
    assert!(user.username.len() <= MAX_TEXT_BYTES);
    assert!(user.username.starts_with("xxx") && user.username.ends_with('…'));

    // Multi-byte text is cut on a char boundary.
    let wide = "é".repeat(TEN_MB / 2 + 1);
    let stream = with_value(
        &first_captured("user_stream_update"),
        "/session/displayTitle",
        json!(wide),
    );
    let ServerEvent::UserStreamUpdate(user) = decode_one("user_stream_update", stream).unwrap()
    else {
        panic!()
    };
    let title = user.session.unwrap().display_title.unwrap();
    assert!(title.len() <= MAX_TEXT_BYTES);
    assert!(title.trim_end_matches('…').chars().all(|c| c == 'é'));

    // Identifiers and tokens: the payload is rejected, and the error stays small.
    for (event, pointer) in [
        ("user_online", "/id"),
        ("user_added", "/token"),
        ("task_finished", "/action"),
        ("init", "/usersOnline/0/connections"), // wrong type: serde's message echoes the value
    ] {
        let bad = with_value(&first_captured(event), pointer, json!(huge.clone()));
        let err = decode_one(event, bad).unwrap_err();
        assert!(
            matches!(err, DecodeError::Malformed { .. }),
            "{event}{pointer}"
        );
        assert!(
            err.to_string().len() < 1024,
            "{event}{pointer}: error too long"
        );
    }
    let long_id = "i".repeat(MAX_ID_BYTES + 1);
    assert!(decode_one("user_session_closed", json!(long_id)).is_err());

    // The same through raw bytes.
    let bytes = serde_json::to_vec(&json!(huge)).unwrap();
    let ServerEvent::AdminMessage { message } = decode_json("admin_message", &bytes).unwrap()
    else {
        panic!()
    };
    assert!(message.len() <= MAX_MESSAGE_BYTES);

    // A 10 MB event name is refused before anything else.
    assert_eq!(
        decode(&huge, &[]),
        Err(DecodeError::EventNameTooLong { len: TEN_MB })
    );
    let at_cap = "e".repeat(MAX_EVENT_NAME_BYTES);
    assert!(matches!(
        decode(&at_cap, &[]),
        Ok(ServerEvent::Other { .. })
    ));
}

#[test]
fn raw_bytes_are_checked_before_decoding() {
    // 100 000 levels of nesting: no stack overflow. Arguments are checked as JSON without
    // recursion, so deep text is valid; a model refuses it (its own depth is fixed, and serde_json's
    // recursion limit guards it), an unmodelled event keeps it as text.
    let depth = 100_000;
    let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    let inside = format!(
        "{{\"userId\":\"u\",\"username\":\"n\",\"usersOnline\":{}{}}}",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    for text in [&arrays, &objects, &inside] {
        let err = decode_json("init", text.as_bytes()).unwrap_err();
        assert!(matches!(err, DecodeError::Malformed { .. }), "{err}");
        assert_eq!(err.event(), Some("init"));
    }
    for (event, text, name) in [
        ("unknown_event", &arrays, "unknown_event"),
        ("message", &objects, "message"),
    ] {
        let ServerEvent::Other { name: got, payload } =
            decode_json(event, text.as_bytes()).unwrap()
        else {
            panic!("{event} was typed");
        };
        assert_eq!(got, name);
        assert_eq!(payload[0].json(), text.as_str());
    }
    // Truncated deep input (no closing brackets) is an error too.
    assert!(decode_json("init", "[".repeat(depth).as_bytes()).is_err());

    // Non-UTF-8, invalid JSON, trailing garbage.
    for bytes in [
        &b"\xff\xfe\x00"[..],
        b"\"\xc3\x28\"",
        b"{\"userId\": \"\xed\xa0\x80\"}",
    ] {
        assert_eq!(
            decode_json("init", bytes),
            Err(DecodeError::NotUtf8 {
                event: "init".into()
            })
        );
    }
    for bytes in [
        &b"{"[..],
        b"{\"userId\":",
        b"[1,]",
        b"{} {}",
        b"nul",
        b"'x'",
    ] {
        assert!(
            matches!(
                decode_json("init", bytes),
                Err(DecodeError::InvalidJson { .. })
            ),
            "{}",
            String::from_utf8_lossy(bytes)
        );
    }

    // Empty bytes mean "no argument".
    assert_eq!(decode_json("pong", b"").unwrap(), ServerEvent::Pong);
    assert_eq!(
        decode_json("backup_applied", b"  \n").unwrap(),
        ServerEvent::BackupApplied
    );
    assert!(matches!(
        decode_json("init", b""),
        Err(DecodeError::MissingPayload { .. })
    ));

    // Valid bytes decode like the parsed value.
    let init = serde_json::to_vec(&first_captured("init")).unwrap();
    assert!(matches!(
        decode_json("init", &init),
        Ok(ServerEvent::Init(_))
    ));
    assert!(matches!(
        decode_json("init", b"5"),
        Err(DecodeError::Malformed { .. })
    ));

    // Oversized input is refused without parsing.
    let big = vec![b' '; MAX_JSON_BYTES + 1];
    assert_eq!(
        decode_json("init", &big),
        Err(DecodeError::TooLarge {
            event: "init".into(),
            len: MAX_JSON_BYTES + 1
        })
    );
}

/// JSON pointers of every node in `value` (the root is `""`).
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let key = key.replace('~', "~0").replace('/', "~1");
                pointers(child, format!("{at}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                pointers(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// Removes the node at `pointer` from a copy of `payload`, if its parent is an object.
fn without(payload: &Value, pointer: &str) -> Option<Value> {
    let (parent, key) = pointer.rsplit_once('/')?;
    let mut copy = payload.clone();
    let map = copy.pointer_mut(parent)?.as_object_mut()?;
    map.remove(&key.replace("~1", "/").replace("~0", "~"))?;
    Some(copy)
}

/// Property-style: every node of every captured (and sample) payload replaced by every other
/// JSON type, by an over-long string, or removed. Decoding must never panic, and when it
/// succeeds the typed result must not hold more than one capped string's worth of new data.
#[test]
fn mutated_payloads_never_panic_and_stay_bounded() {
    let long = Value::String("y".repeat(MAX_TEXT_BYTES * 2));
    let wrong_values = [
        Value::Null,
        json!(true),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(1e300),
        json!(u64::MAX),
        json!(""),
        json!("x"),
        json!([]),
        json!({}),
        json!([null]),
        json!({"x": 1}),
    ];

    let mut inputs: Vec<(String, Value)> = captured()
        .into_iter()
        .filter_map(|(name, mut args)| (!args.is_empty()).then(|| (name, args.remove(0))))
        .collect();
    inputs.extend(typed_samples().into_iter().map(|(n, v)| (n.to_owned(), v)));
    let mut seen = BTreeSet::new();
    inputs.retain(|(name, payload)| seen.insert(format!("{name}{payload}")));

    let mut panics = Vec::new();
    let mut decodes = 0usize;
    for (name, payload) in &inputs {
        let baseline = decode_one(name, payload.clone()).unwrap();
        let is_typed = !matches!(baseline, ServerEvent::Other { .. });
        let baseline_len = format!("{baseline:?}").len();

        let mut paths = Vec::new();
        pointers(payload, String::new(), &mut paths);
        for path in &paths {
            let original = payload.pointer(path).unwrap();
            let mut variants: Vec<Value> = wrong_values
                .iter()
                .filter(|v| *v != original)
                .map(|v| with_value(payload, path, v.clone()))
                .collect();
            if original.is_string() || original.is_null() {
                variants.push(with_value(payload, path, long.clone()));
            }
            variants.extend(without(payload, path));
            for mutated in variants {
                decodes += 1;
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    decode(name, &[RawArg::from(&mutated)]).map(|event| format!("{event:?}").len())
                }));
                match outcome {
                    Err(_) => panics.push(format!("{name} {path}")),
                    Ok(Ok(len)) if is_typed => assert!(
                        len <= baseline_len + MAX_TEXT_BYTES + 64,
                        "{name} {path}: decoded event grew to {len} bytes"
                    ),
                    Ok(_) => {}
                }
            }
        }
    }
    assert!(panics.is_empty(), "panicked on: {panics:?}");
    assert!(decodes > 5_000, "only {decodes} mutations tried");
}

/// The same property for the REST models.
#[test]
fn mutated_rest_replies_never_panic() {
    type Parse = fn(&Value) -> bool;
    let cases: [(&str, Parse); 6] = [
        ("usersOnlineRest", |v| UsersOnline::deserialize_ok(v)),
        ("sessionsOpenRest", |v| OpenSessions::deserialize_ok(v)),
        ("statusBeforeInit", |v| ServerStatus::deserialize_ok(v)),
        ("userAddedPayload", |v| User::deserialize_ok(v)),
        ("progressUpdatedNearEnd", |v| {
            MediaProgress::deserialize_ok(v)
        }),
        ("progressUpdated1", |v| ProgressUpdate::deserialize_ok(v)),
    ];
    let all = probes();
    for (key, parse) in cases {
        let payload = &all[key];
        assert!(parse(payload), "{key} baseline");
        let mut paths = Vec::new();
        pointers(payload, String::new(), &mut paths);
        for path in &paths {
            for wrong in [Value::Null, json!(7), json!("x"), json!([]), json!({})] {
                let mutated = with_value(payload, path, wrong);
                let outcome = catch_unwind(AssertUnwindSafe(|| parse(&mutated)));
                assert!(outcome.is_ok(), "{key} {path} panicked");
            }
        }
    }
}

trait DeserializeOk {
    fn deserialize_ok(value: &Value) -> bool;
}

impl<T: DeserializeOwned> DeserializeOk for T {
    fn deserialize_ok(value: &Value) -> bool {
        T::deserialize(value).is_ok()
    }
}

#[test]
fn client_events_for_the_socket() {
    let auth = ClientEvent::Auth(Secret::new("eyJtoken"));
    assert_eq!(auth.name(), "auth");
    assert_eq!(
        auth.payload(),
        Some(json!("eyJtoken")),
        "auth sends the bare token"
    );
    assert!(!format!("{auth:?}").contains("eyJtoken"));
    let level = ClientEvent::SetLogListener {
        level: LogLevel::Note,
    };
    assert_eq!(level.payload(), Some(json!(6)));
}
