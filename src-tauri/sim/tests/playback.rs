//! Players against the simulator: play/sync/close events and recipients (the close quirk),
//! implicit close, finishing, open-session REST shapes, scans, user add/remove.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use abs_sim::Audience;
use common::*;
use serde_json::{Value, json};

struct World {
    sim: abs_sim::Sim,
    root: abs_sim::Tokens,
    alice: abs_sim::Tokens,
    admin: Sio,
    player: Sio,
    item: String,
}

async fn world() -> World {
    let sim = start_default().await;
    sim.add_user("alice", "pw", false).unwrap();
    let root = sim.tokens("root").unwrap();
    let alice = sim.tokens("alice").unwrap();
    let mut admin = Sio::connect(&sim).await;
    admin.auth(&root.access_token).await;
    let mut player = Sio::connect(&sim).await;
    player.auth(&alice.access_token).await;
    admin.wait("user_online").await;
    let item = sim.item_ids()[0].clone();
    World {
        sim,
        root,
        alice,
        admin,
        player,
        item,
    }
}

fn play_body(device: &str) -> Value {
    json!({
        "deviceInfo": {"deviceId": device, "clientName": "abs-probe", "clientVersion": "0.1.0"},
        "mediaPlayer": "html5",
        "supportedMimeTypes": ["audio/mpeg", "audio/mp4"],
        "forceDirectPlay": false,
        "forceTranscode": false,
    })
}

#[tokio::test]
async fn play_sync_close_like_a_real_player() {
    let mut w = world().await;
    let p = probe();
    let mut events = w.sim.events();

    // Start: response keys, user_stream_update to admins only.
    let r = post(
        &w.sim,
        &format!("/api/items/{}/play", w.item),
        &w.alice.access_token,
        play_body("probe-device-1"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(keys(&r.body), str_list(&p["playResponseKeys"]));
    assert!(r.body["libraryItem"].is_object());
    assert_eq!(r.body["playMethod"], 0);
    assert_eq!(r.body["deviceInfo"]["ipAddress"], "127.0.0.1");
    let sid = r.body["id"].as_str().unwrap().to_string();
    let start = w.admin.wait_arg("user_stream_update").await;
    assert_shape(
        &start,
        &p["userStreamUpdateOnStart"],
        "user_stream_update(start)",
    );
    assert_eq!(start["session"]["id"], json!(sid));
    assert!(start["session"]["libraryItem"].is_null());

    // Sync: progress to alice's sockets only, no admin event.
    let sync = json!({"currentTime": 30.5, "timeListened": 30, "duration": 600});
    assert_eq!(
        post(
            &w.sim,
            &format!("/api/session/{sid}/sync"),
            &w.alice.access_token,
            sync
        )
        .await
        .status,
        200
    );
    let progress = w.player.wait_arg("user_item_progress_updated").await;
    assert_shape(
        &progress,
        &p["progressUpdated1"],
        "user_item_progress_updated",
    );
    assert_eq!(progress["sessionId"], json!(sid));
    assert_eq!(progress["deviceDescription"], "null null / null");
    assert_eq!(progress["data"]["currentTime"], 30.5);
    assert_eq!(progress["data"]["duration"], 600);
    assert_eq!(progress["data"]["isFinished"], false);
    let seen = events
        .collect_until(WAIT, "progress", |e| e.name == "user_item_progress_updated")
        .await
        .unwrap();
    let ev = seen.last().unwrap();
    assert_eq!(ev.audience, Audience::User(w.alice.user_id.clone()));
    assert_eq!(ev.user_ids, vec![w.alice.user_id.clone()]);
    assert!(!seen.iter().any(|e| {
        e.name == "user_stream_update"
            && e.payload
                .as_ref()
                .is_some_and(|p| p["session"]["currentTime"] == 30.5)
    }));
    assert!(
        w.admin.barrier().await.is_empty(),
        "admins get nothing on sync"
    );

    // REST views of the open session.
    let online = get(&w.sim, "/api/users/online", &w.root.access_token).await;
    assert_shape(&online.body, &p["usersOnlineRest"], "GET /api/users/online");
    assert_eq!(online.body["openSessions"][0]["currentTime"], 30.5);
    assert_eq!(online.body["openSessions"][0]["timeListening"], 30);
    let open = get(&w.sim, "/api/sessions/open", &w.root.access_token).await;
    assert_shape(&open.body, &p["sessionsOpenRest"], "GET /api/sessions/open");
    assert_eq!(
        get(&w.sim, "/api/sessions/open", &w.alice.access_token)
            .await
            .status,
        404
    );

    // Close with a body: progress first, then user_stream_update STILL containing the closing
    // session, then user_session_closed to alice.
    let close = json!({"currentTime": 55, "timeListened": 5});
    assert_eq!(
        post(
            &w.sim,
            &format!("/api/session/{sid}/close"),
            &w.alice.access_token,
            close
        )
        .await
        .status,
        200
    );
    let closing = w.admin.wait_arg("user_stream_update").await;
    assert_shape(
        &closing,
        &p["userStreamUpdateOnClose"],
        "user_stream_update(close)",
    );
    assert_eq!(
        closing["session"]["id"],
        json!(sid),
        "the closing session is still in the payload"
    );
    assert_eq!(closing["session"]["currentTime"], 55);
    let seen = w.player.until("user_session_closed").await;
    let names: Vec<_> = seen.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["user_item_progress_updated", "user_session_closed"]);
    assert_eq!(seen[1].1[0], json!(sid));
    let after = get(&w.sim, "/api/users/online", &w.root.access_token).await;
    assert_eq!(after.body["openSessions"], json!([]));
    assert_eq!(
        post(
            &w.sim,
            &format!("/api/session/{sid}/sync"),
            &w.alice.access_token,
            json!({"currentTime": 1})
        )
        .await
        .status,
        404
    );
}

#[tokio::test]
async fn same_device_closes_the_previous_session_and_finishing_flips() {
    let mut w = world().await;
    let first = post(
        &w.sim,
        &format!("/api/items/{}/play", w.item),
        &w.alice.access_token,
        play_body("dev"),
    )
    .await;
    let first_id = first.body["id"].as_str().unwrap().to_string();
    w.admin.wait("user_stream_update").await;
    post(
        &w.sim,
        &format!("/api/session/{first_id}/sync"),
        &w.alice.access_token,
        json!({"currentTime": 100, "timeListened": 10}),
    )
    .await;
    w.player.wait("user_item_progress_updated").await;

    let second = post(
        &w.sim,
        &format!("/api/items/{}/play", w.item),
        &w.alice.access_token,
        play_body("dev"),
    )
    .await;
    let second_id = second.body["id"].as_str().unwrap().to_string();
    assert_eq!(second.body["startTime"], 100, "resumes from the progress");
    assert_eq!(
        second.body["deviceInfo"]["id"], first.body["deviceInfo"]["id"],
        "same device record"
    );
    // Implicit close: update (old session), closed, then update (new session).
    let closed = w.admin.wait_arg("user_stream_update").await;
    assert_eq!(closed["session"]["id"], json!(first_id));
    assert_eq!(
        w.player.wait_arg("user_session_closed").await,
        json!(first_id)
    );
    let started = w.admin.wait_arg("user_stream_update").await;
    assert_eq!(started["session"]["id"], json!(second_id));

    let duration = second.body["duration"].as_f64().unwrap();
    let near_end = json!({"currentTime": duration - 5.0, "timeListened": 10, "duration": duration});
    post(
        &w.sim,
        &format!("/api/session/{second_id}/sync"),
        &w.alice.access_token,
        near_end,
    )
    .await;
    let done = w.player.wait_arg("user_item_progress_updated").await;
    assert_eq!(done["data"]["isFinished"], true);
    assert_eq!(done["data"]["progress"], 1);
    assert!(done["data"]["finishedAt"].is_number());
    assert_shape(
        &done["data"],
        &probe()["progressUpdatedNearEnd"],
        "finished progress",
    );

    // A finished book starts again from 0.
    w.sim.close_session(&second_id).unwrap();
    let again = post(
        &w.sim,
        &format!("/api/items/{}/play", w.item),
        &w.alice.access_token,
        play_body("dev"),
    )
    .await;
    assert_eq!(again.body["startTime"], 0);
}

#[tokio::test]
async fn rust_api_drives_the_same_path() {
    let mut w = world().await;
    let sid = w.sim.start_session("alice", &w.item, "phone").unwrap();
    assert_eq!(
        w.admin.wait_arg("user_stream_update").await["session"]["id"],
        json!(sid)
    );
    w.sim.sync_session(&sid, 42.0).unwrap();
    assert_eq!(
        w.player.wait_arg("user_item_progress_updated").await["data"]["currentTime"],
        42
    );
    w.sim.finish_book("alice", &w.item).unwrap();
    let fin = w.player.wait_arg("user_item_progress_updated").await;
    assert_eq!(fin["data"]["isFinished"], true);
    assert_eq!(w.player.wait_arg("user_session_closed").await, json!(sid));
    assert!(w.sim.open_session_ids().is_empty());

    // Without an open session finishing is the "mark as finished" path: user_updated.
    let other = w.sim.item_ids()[1].clone();
    w.sim.finish_book("alice", &other).unwrap();
    let updated = w.player.wait_arg("user_updated").await;
    assert_eq!(
        keys(&updated),
        str_list(&probe()["userUpdatedAfterPatchProgress"]["keys"])
    );
    assert!(
        updated["mediaProgress"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["libraryItemId"] == json!(other) && p["isFinished"] == true)
    );
}

#[tokio::test]
async fn transcode_sessions_stream() {
    let mut w = world().await;
    let body =
        json!({"deviceInfo": {"deviceId": "tv"}, "mediaPlayer": "html5", "forceTranscode": true});
    let r = post(
        &w.sim,
        &format!("/api/items/{}/play", w.item),
        &w.alice.access_token,
        body,
    )
    .await;
    assert_eq!(r.body["playMethod"], 2);
    assert_eq!(
        r.body["audioTracks"][0]["mimeType"],
        "application/vnd.apple.mpegurl"
    );
    let sid = r.body["id"].as_str().unwrap().to_string();
    let open = w.player.wait_arg("stream_open").await;
    assert_eq!(keys(&open), str_list(&probe()["streamOpen"]));
    w.sim.close_session(&sid).unwrap();
    let seen = w.player.until("stream_closed").await;
    let names: Vec<_> = seen.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["user_session_closed", "stream_closed"]);
}

#[tokio::test]
async fn scans_are_tasks_and_cancel_is_admin_only() {
    let mut w = world().await;
    let lib = w.sim.library_id();
    let task = w.sim.start_scan(&lib).unwrap();
    let started = w.player.wait_arg("task_started").await;
    assert_shape(&started, &captured("task_started"), "task_started");
    let tasks = get(&w.sim, "/api/tasks", &w.alice.access_token).await;
    assert_eq!(tasks.body["tasks"][0]["id"], json!(task));
    w.sim.finish_scan(&task, 1, 1, 0).unwrap();
    let seen = w.admin.until("task_finished").await;
    let names: Vec<_> = seen.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.ends_with(&["items_updated", "items_added", "task_finished"]),
        "{names:?}"
    );
    let added = &seen[seen.len() - 2].1[0][0];
    assert_shape(added, &captured("items_added")[0], "items_added[0]");
    let finished = &seen.last().unwrap().1[0];
    assert_shape(finished, &captured("task_finished"), "task_finished");
    assert_eq!(finished["data"]["scanResults"]["added"], 1);
    assert!(
        finished["data"]["scanResults"]["text"]
            .as_str()
            .unwrap()
            .starts_with("1 added, 1 updated (")
    );
    assert!(
        get(&w.sim, "/api/tasks", &w.alice.access_token).await.body["tasks"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // cancel_scan: ignored from a non-admin, honoured from an admin.
    let task = w.sim.start_scan(&lib).unwrap();
    w.player.wait("task_started").await;
    w.player.emit("cancel_scan", &[json!(lib)]);
    assert!(w.player.barrier().await.is_empty());
    w.admin.emit("cancel_scan", &[json!(lib)]);
    let canceled = w.admin.wait_arg("task_finished").await;
    assert_eq!(canceled["id"], json!(task));
    assert_eq!(canceled["description"], "Task canceled by user");
}

#[tokio::test]
async fn watcher_scans_reach_everyone_and_report_removed() {
    let mut w = world().await;
    let lib = w.sim.library_id();
    let gone = w.sim.item_ids()[0].clone();
    let task = w.sim.start_watcher_scan(&lib).unwrap();
    for socket in [&mut w.admin, &mut w.player] {
        let started = socket.wait_arg("task_started").await;
        assert_shape(&started, &watcher_scan("task_started"), "task_started");
        assert_eq!(started["action"], "watcher-scan");
        assert_eq!(started["title"], "Scanning file changes in \"Audiobooks\"");
    }
    let tasks = get(&w.sim, "/api/tasks", &w.alice.access_token).await;
    assert_eq!(tasks.body["tasks"][0]["id"], json!(task));
    // It is not a library scan: cancel_scan leaves it, and a library scan may run beside it.
    w.admin.emit("cancel_scan", &[json!(lib)]);
    assert!(w.admin.barrier().await.is_empty());
    let library_scan = w.sim.start_scan(&lib).unwrap();
    w.sim.finish_scan(&library_scan, 0, 0, 0).unwrap();

    w.sim.finish_scan(&task, 0, 0, 1).unwrap();
    for socket in [&mut w.admin, &mut w.player] {
        let finished = loop {
            let finished = socket.wait_arg("task_finished").await;
            if finished["id"] == json!(task) {
                break finished;
            }
        };
        let results = &finished["data"]["scanResults"];
        assert_eq!(
            (&results["removed"], &results["text"]),
            (&json!(1), &json!("1 missing"))
        );
    }
    let r = get(&w.sim, &format!("/api/items/{gone}"), &w.alice.access_token).await;
    assert_eq!(r.body["isMissing"], true);
    assert!(
        get(&w.sim, "/api/tasks", &w.alice.access_token).await.body["tasks"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // One file changed, one book gone, one added: item by item, then the results.
    let task = w.sim.start_watcher_scan(&lib).unwrap();
    w.player.wait("task_started").await;
    w.sim.finish_scan(&task, 1, 1, 1).unwrap();
    let seen = w.player.until("task_finished").await;
    // A new author comes with the new item only when the catalogue has not seen the name.
    let seen: Vec<_> = seen
        .into_iter()
        .filter(|(n, _)| n != "author_added")
        .collect();
    let names: Vec<_> = seen.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "item_updated",
            "item_updated",
            "item_added",
            "task_finished"
        ]
    );
    assert_eq!(seen[0].1[0]["isMissing"], false, "updated");
    assert_eq!(seen[1].1[0]["isMissing"], true, "removed");
    let finished = &seen.last().unwrap().1[0];
    assert_shape(finished, &watcher_scan("task_finished"), "task_finished");
    let results = &finished["data"]["scanResults"];
    assert_eq!(
        (&results["added"], &results["updated"], &results["removed"]),
        (&json!(1), &json!(1), &json!(1))
    );
    assert_eq!(results["text"], "1 added, 1 updated, 1 missing");
    assert!(results.get("missing").is_none());
}

#[tokio::test]
async fn users_added_and_removed_reach_admins_with_the_fixture_shape() {
    let mut w = world().await;
    let body = json!({"username": "bob", "password": "pw", "type": "user", "isActive": true});
    let r = post(&w.sim, "/api/users", &w.root.access_token, body).await;
    assert_eq!(r.status, 200);
    let added = w.admin.wait_arg("user_added").await;
    assert_shape(&added, &probe()["userAddedPayload"], "user_added");
    assert!(added["token"].is_string(), "the legacy token is included");
    assert_eq!(
        post(
            &w.sim,
            "/api/users",
            &w.alice.access_token,
            json!({"username": "x", "password": "y"})
        )
        .await
        .status,
        403
    );
    // Without isActive the new user is inactive, like on the real server.
    post(
        &w.sim,
        "/api/users",
        &w.root.access_token,
        json!({"username": "carl", "password": "pw"}),
    )
    .await;
    assert_eq!(login(&w.sim, "carl", "pw", false).await.status, 401);

    let bob_id = added["id"].as_str().unwrap().to_string();
    let url = format!("{}/api/users/{bob_id}", w.sim.base_url());
    let d = send(client().delete(url).bearer_auth(&w.root.access_token)).await;
    assert_eq!(d.body, json!({"success": true}));
    let removed = w.admin.wait_arg("user_removed").await;
    assert_eq!(keys(&removed), str_list(&probe()["userRemovedKeys"]));
    assert!(w.player.barrier().await.is_empty());
}

#[tokio::test]
async fn library_reads_and_cover() {
    let w = world().await;
    let libs = get(&w.sim, "/api/libraries", &w.alice.access_token).await;
    assert_eq!(libs.body["libraries"][0]["name"], "Audiobooks");
    assert_eq!(libs.body["libraries"][0]["mediaType"], "book");
    let lib = w.sim.library_id();
    let items = get(
        &w.sim,
        &format!("/api/libraries/{lib}/items?limit=2&page=1"),
        &w.alice.access_token,
    )
    .await;
    assert_eq!(items.body["results"].as_array().unwrap().len(), 2);
    assert_eq!(items.body["total"], w.sim.item_ids().len());
    let item = get(
        &w.sim,
        &format!("/api/items/{}", w.item),
        &w.alice.access_token,
    )
    .await;
    assert_shape(
        &item.body,
        &captured("items_added")[0],
        "GET /api/items/:id",
    );
    let cover = client()
        .get(format!("{}/api/items/{}/cover", w.sim.base_url(), w.item))
        .send()
        .await
        .unwrap();
    assert_eq!(cover.status(), 200);
    assert_eq!(cover.headers()["content-type"], "image/png");
    assert!(cover.bytes().await.unwrap().starts_with(b"\x89PNG"));
    let missing = client()
        .get(format!("{}/api/items/nope/cover", w.sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}
