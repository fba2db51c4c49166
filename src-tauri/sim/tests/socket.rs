//! Socket.IO against the running simulator over a real websocket: auth variants, presence,
//! ping/pong on the wire, admin messages, log listeners, paths, old-server behaviour.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use abs_sim::{LogLevel, ServerVersion, SimConfig};
use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn unauthenticated_socket_stays_and_gets_a_bare_pong() {
    let sim = start_default().await;
    // Handshake auth, ?token= and headers are ignored: no init, only the pong.
    let t = sim.tokens("root").unwrap();
    let mut s = Sio::connect_path(&sim, "/socket.io", &format!("&token={}", t.access_token)).await;
    s.raw(&format!("40{}", json!({"token": t.access_token})));
    s.emit("ping", &[]);
    let (args, raw) = s.wait("pong").await;
    assert!(args.is_empty());
    assert_eq!(
        raw, r#"42["pong"]"#,
        "pong must carry no arguments on the wire"
    );
    // Still connected and still answering; unauthenticated sockets get no broadcasts.
    sim.admin_message("nobody hears this");
    assert!(s.barrier().await.is_empty());
    s.emit("search_covers", &[json!({"requestId": "r1", "title": "x"})]);
    let err = s.wait_arg("cover_search_error").await;
    assert_eq!(
        err,
        probe()["socketAuthProbes"]["noAuth"]["coverSearchWithoutAuth"]
    );
}

/// One `auth` payload and the expected outcome.
async fn auth_outcome(sim: &abs_sim::Sim, payload: Option<Value>) -> (String, Value) {
    let mut s = Sio::connect(sim).await;
    match payload {
        Some(p) => s.emit("auth", &[p]),
        None => s.emit("auth", &[]),
    }
    loop {
        if let Frame::Event(name, args, _) = s.next().await
            && (name == "init" || name == "auth_failed" || name == "invalid_token")
        {
            // The socket stays connected after a failure.
            assert!(s.barrier().await.is_empty());
            return (name, args.first().cloned().unwrap_or(Value::Null));
        }
    }
}

#[tokio::test]
async fn auth_variant_table() {
    let sim = start_default().await;
    let r = login(&sim, "root", "root", true).await;
    let user = r.body["user"].clone();
    let access = user["accessToken"].clone();
    let legacy = user["token"].clone();
    let refresh = user["refreshToken"].clone();
    let root_id = sim.user_id("root").unwrap();
    let api_key = post(
        &sim,
        "/api/api-keys",
        access.as_str().unwrap(),
        json!({"name": "k", "userId": root_id, "isActive": true}),
    )
    .await
    .body["apiKey"]["apiKey"]
        .clone();
    let invalid = json!({"message": "Invalid token"});
    let bearer = json!(format!("Bearer {}", access.as_str().unwrap()));
    let object = json!({"token": access});
    let cases: Vec<(&str, Option<Value>, &str)> = vec![
        ("access", Some(access.clone()), "init"),
        ("legacy", Some(legacy), "init"),
        ("refresh", Some(refresh), "auth_failed"),
        ("api key", Some(api_key), "auth_failed"),
        ("bearer", Some(bearer), "auth_failed"),
        ("object", Some(object), "auth_failed"),
        ("null", Some(Value::Null), "auth_failed"),
        ("nothing", None, "auth_failed"),
        ("garbage", Some(json!("garbage")), "auth_failed"),
    ];
    for (what, payload, expect) in cases {
        let (name, arg) = auth_outcome(&sim, payload).await;
        assert_eq!(name, expect, "{what}");
        if expect == "auth_failed" {
            assert_eq!(arg, invalid, "{what}");
        } else {
            assert_eq!(arg["userId"], json!(root_id), "{what}");
        }
    }
    // Expired access token (crafted with the secret).
    let now = chrono::Utc::now().timestamp();
    let expired = crafted(&sim, &root_id, now - 7200, now - 1);
    assert_eq!(
        auth_outcome(&sim, Some(json!(expired))).await,
        ("auth_failed".into(), invalid.clone())
    );
    // Unknown user id.
    let unknown = crafted(
        &sim,
        "00000000-0000-4000-8000-000000000000",
        now,
        now + 3600,
    );
    assert_eq!(
        auth_outcome(&sim, Some(json!(unknown))).await,
        ("auth_failed".into(), invalid)
    );
    // Inactive user.
    sim.add_user("ivy", "pw", false).unwrap();
    let ivy = sim.tokens("ivy").unwrap();
    sim.set_user_active("ivy", false).unwrap();
    let (name, arg) = auth_outcome(&sim, Some(json!(ivy.access_token))).await;
    assert_eq!(
        (name.as_str(), arg),
        ("auth_failed", json!({"message": "Invalid user"}))
    );
}

fn crafted(sim: &abs_sim::Sim, user_id: &str, iat: i64, exp: i64) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims = json!({"userId": user_id, "username": "x", "jti": "j", "type": "access", "iat": iat, "exp": exp});
    let msg = format!(
        "{}.{}",
        b64.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        b64.encode(claims.to_string())
    );
    let key = jsonwebtoken::EncodingKey::from_secret(sim.jwt_secret().as_bytes());
    let sig =
        jsonwebtoken::crypto::sign(msg.as_bytes(), &key, jsonwebtoken::Algorithm::HS256).unwrap();
    format!("{msg}.{sig}")
}

#[tokio::test]
async fn presence_is_per_socket_and_init_matches_fixtures() {
    let sim = start_default().await;
    let p = probe();
    let root = sim.tokens("root").unwrap();
    sim.add_user("alice", "pw", false).unwrap();
    let alice = sim.tokens("alice").unwrap();

    let mut admin = Sio::connect(&sim).await;
    admin.emit("auth", &[json!(root.access_token)]);
    // The admin gets its own user_online (lastSeen: the value before this login) before init.
    let seen = admin.until("init").await;
    assert_eq!(seen[0].0, "user_online");
    assert!(seen[0].1[0]["lastSeen"].is_null());
    assert_shape(&seen[0].1[0], &p["userOnlinePayload"], "user_online");
    let init = &seen[1].1[0];
    assert_shape(init, &p["initRoot"], "init(root)");
    assert_eq!(init["usersOnline"][0]["connections"], 1);

    let mut b1 = Sio::connect(&sim).await;
    let init_alice = b1.auth(&alice.access_token).await;
    assert_eq!(keys(&init_alice), keys(&p["initAlice"]));
    let online = admin.wait_arg("user_online").await;
    assert_eq!(online["username"], "alice");
    assert!(online["lastSeen"].is_null());
    assert_eq!(keys(&online), keys(&p["userOnlinePayload"]));

    // Second socket of the same user: another user_online; closing it: user_offline although
    // alice is still connected (per socket, the quirk).
    let mut b2 = Sio::connect(&sim).await;
    b2.auth(&alice.access_token).await;
    let again = admin.wait_arg("user_online").await;
    assert!(
        again["lastSeen"].is_number(),
        "lastSeen from the first login"
    );
    b2.close();
    let offline = admin.wait_arg("user_offline").await;
    assert_eq!(offline["username"], "alice");
    assert_eq!(keys(&offline), keys(&p["userOfflinePayload"]));
    let online_now = get(&sim, "/api/users/online", &root.access_token).await;
    let alice_entry = online_now.body["usersOnline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "alice")
        .cloned()
        .unwrap();
    assert_eq!(alice_entry["connections"], 1);

    // Re-auth on a bound socket re-sends user_online and init.
    b1.emit("auth", &[json!(alice.access_token)]);
    b1.wait("init").await;
    assert_eq!(admin.wait_arg("user_online").await["username"], "alice");

    // Non-admins never get presence events.
    assert!(b1.barrier().await.is_empty());
    let r = get(&sim, "/api/users/online", &alice.access_token).await;
    assert_eq!(
        r.status,
        p["usersOnlineRestAsAlice"].as_u64().unwrap() as u16
    );
}

#[tokio::test]
async fn admin_message_only_from_admins_to_all_authenticated() {
    let sim = start_default().await;
    sim.add_user("alice", "pw", false).unwrap();
    let root = sim.tokens("root").unwrap();
    let alice = sim.tokens("alice").unwrap();
    let mut admin = Sio::connect(&sim).await;
    admin.auth(&root.access_token).await;
    let mut user = Sio::connect(&sim).await;
    user.auth(&alice.access_token).await;
    admin.wait("user_online").await;
    let mut anon = Sio::connect(&sim).await;

    user.emit("message_all_users", &[json!({"message": "from alice"})]);
    assert!(user.barrier().await.is_empty(), "non-admin message ignored");
    admin.emit(
        "message_all_users",
        &[json!({"message": "hello from admin"})],
    );
    assert_eq!(
        admin.wait_arg("admin_message").await,
        probe()["adminMessage"]["toAdmin"]
    );
    assert_eq!(user.wait_arg("admin_message").await, "hello from admin");
    assert!(
        anon.barrier().await.is_empty(),
        "unauthenticated sockets get nothing"
    );
    admin.emit("message_all_users", &[json!({})]);
    assert_eq!(admin.wait_arg("admin_message").await, "");

    sim.backup_applied();
    let (args, raw) = user.wait("backup_applied").await;
    assert!(args.is_empty());
    assert_eq!(raw, r#"42["backup_applied"]"#);
}

#[tokio::test]
async fn log_listener_is_admin_only_and_filters_levels() {
    let sim = start_default().await;
    sim.add_user("alice", "pw", false).unwrap();
    let root = sim.tokens("root").unwrap();
    let alice = sim.tokens("alice").unwrap();
    let mut admin = Sio::connect(&sim).await;
    admin.auth(&root.access_token).await;
    let mut user = Sio::connect(&sim).await;
    user.auth(&alice.access_token).await;
    admin.emit("set_log_listener", &[json!(3)]);
    admin.barrier().await;
    user.emit("set_log_listener", &[json!(0)]);
    assert!(user.barrier().await.is_empty());
    // The refused attempt itself is a WARN line the admin sees.
    let warn = admin.wait_arg("log").await;
    assert_eq!(warn["levelName"], "WARN");
    assert!(
        warn["message"]
            .as_str()
            .unwrap()
            .contains("Unauthorized set_log_listener")
    );
    assert_eq!(keys(&warn), keys(&probe()["logEventSample"]));

    sim.emit_log(LogLevel::Info, "below the listener level");
    sim.emit_log(LogLevel::Error, "an error line");
    let line = admin.wait_arg("log").await;
    assert_eq!(
        (line["message"].as_str().unwrap(), line["level"].as_u64()),
        ("an error line", Some(4))
    );
    let ts = line["timestamp"].as_str().unwrap();
    assert_eq!(ts.len(), "2026-11-28 07:33:09.649".len());

    // Nothing reached alice; the daily log has the lines at or above INFO.
    assert!(user.barrier().await.is_empty());
    let logs = get(&sim, "/api/logger-data", &root.access_token).await;
    let msgs: Vec<_> = logs.body["currentDailyLogs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_string())
        .collect();
    assert!(msgs.iter().any(|m| m == "below the listener level"));
    assert_eq!(
        get(&sim, "/api/logger-data", &alice.access_token)
            .await
            .status,
        403
    );

    admin.emit("remove_log_listener", &[]);
    admin.barrier().await;
    sim.emit_log(LogLevel::Error, "not sent any more");
    assert!(admin.barrier().await.is_empty());
}

#[tokio::test]
async fn engine_io_v3_is_refused_like_engine_io() {
    let sim = start_default().await;
    let r = send(client().get(format!(
        "{}/socket.io/?EIO=3&transport=polling",
        sim.base_url()
    )))
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        json!({"code": 5, "message": "Unsupported protocol version"})
    );
    let r = send(client().get(format!(
        "{}/socket.io/?EIO=4&transport=polling",
        sim.base_url()
    )))
    .await;
    assert!(r.text.starts_with("0{"), "{}", r.text);
    let open: Value = serde_json::from_str(&r.text[1..]).unwrap();
    assert_eq!(open["upgrades"], json!(["websocket"]));
    assert_eq!(open["maxPayload"], 1_000_000);
}

#[tokio::test]
async fn base_path_socket_io() {
    let sim = start_default().await;
    let root = sim.tokens("root").unwrap();
    let mut s = Sio::connect_path(&sim, "/audiobookshelf/socket.io", "").await;
    let init = s.auth(&root.access_token).await;
    assert_eq!(init["username"], "root");
    let mut events = sim.events();
    s.close();
    let ev = events
        .wait_for(WAIT, "disconnect marker", |e| e.name == "(disconnect)")
        .await
        .unwrap();
    assert_eq!(ev.user_ids, vec![root.user_id]);
}

#[tokio::test]
async fn old_server_invalid_token_and_daily_logs() {
    let sim = start(SimConfig::default().with_version(ServerVersion::new(2, 25, 0))).await;
    let mut s = Sio::connect(&sim).await;
    s.emit("auth", &[json!("garbage")]);
    let (args, raw) = s.wait("invalid_token").await;
    assert!(args.is_empty());
    assert_eq!(raw, r#"42["invalid_token"]"#);
    sim.emit_log(LogLevel::Warn, "something old");
    s.emit("fetch_daily_logs", &[]);
    let logs = s.wait_arg("daily_logs").await;
    assert!(
        logs.as_array()
            .unwrap()
            .iter()
            .any(|l| l["message"] == "something old")
    );

    // 2.36 ignores fetch_daily_logs.
    let new = start_default().await;
    let mut s = Sio::connect(&new).await;
    s.emit("fetch_daily_logs", &[]);
    assert!(s.barrier().await.is_empty());
}

/// Sends one raw HTTP/1.1 request and returns the whole answer (the server closes after it).
async fn raw_http(sim: &abs_sim::Sim, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // Read until the head and the announced body are in: the connection stays open (keep-alive).
    loop {
        let n = tokio::time::timeout(WAIT, tcp.read(&mut buf))
            .await
            .expect("an answer in time")
            .unwrap();
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer).to_string();
        if n == 0 {
            return text;
        }
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap())
            });
            if head.starts_with("HTTP/1.1 101") || length.is_some_and(|n| body.len() >= n) {
                return text;
            }
        }
    }
}

#[tokio::test]
async fn a_websocket_request_without_upgrade_headers_is_refused_like_engine_io() {
    let sim = start_default().await;
    let host = sim.addr();
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    // What a reverse proxy without `proxy_set_header Upgrade/Connection` passes on.
    let stripped = [
        String::new(),
        "Upgrade: websocket\r\n".to_string(),
        "Connection: upgrade\r\n".to_string(),
        "Connection: keep-alive\r\nUpgrade: websocket\r\n".to_string(),
    ];
    for (i, extra) in stripped.iter().enumerate() {
        let answer = raw_http(
            &sim,
            &format!(
                "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {host}\r\n{key}{extra}\r\n"
            ),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 400 "), "case {i}: {answer}");
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "case {i}: {head}"
        );
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            body,
            json!({"code": 3, "message": "Bad request"}),
            "case {i}"
        );
    }
    // The same request with both headers is upgraded (case-insensitive, token lists allowed).
    let answer = raw_http(
        &sim,
        &format!(
            "GET /audiobookshelf/socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {host}\r\n{key}Upgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n\r\n"
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 101 "), "{answer}");
}
