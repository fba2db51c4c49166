//! REST auth against the running simulator: login, refresh, authorize, logout, API keys, rate
//! limit, old-server login.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use abs_sim::{Claims, ServerVersion, SimConfig};
use common::*;
use serde_json::json;

#[tokio::test]
async fn login_without_header_sets_cookie_and_matches_fixture_keys() {
    let sim = start_default().await;
    let p = probe();
    let r = login(&sim, "root", "root", false).await;
    assert_eq!(r.status, 200);
    assert_eq!(keys(&r.body), str_list(&p["loginWithoutHeader"]["topKeys"]));
    assert_eq!(
        keys(&r.body["user"]),
        str_list(&p["loginWithoutHeader"]["userKeys"])
    );
    assert!(r.body["user"]["refreshToken"].is_null());
    let cookie = r.set_cookie().expect("refresh cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Path=/") && cookie.contains("SameSite=Lax")
    );
    assert_eq!(claims(&r.cookie_token().unwrap())["type"], "refresh");
    assert_eq!(r.body["userDefaultLibraryId"], json!(sim.library_id()));
    assert_eq!(r.body["Source"], "docker");
}

#[tokio::test]
async fn login_with_return_tokens_has_tokens_in_body_and_no_cookie() {
    let sim = start_default().await;
    let p = probe();
    let r = login(&sim, "root", "root", true).await;
    assert_eq!(r.status, 200);
    assert!(r.set_cookie().is_none());
    let user = &r.body["user"];
    let access = claims(user["accessToken"].as_str().unwrap());
    let refresh = claims(user["refreshToken"].as_str().unwrap());
    let legacy = claims(user["token"].as_str().unwrap());
    let expect = &p["loginWithReturnTokens"];
    assert_eq!(
        sorted_keys(&access),
        sorted_keys(&expect["accessTokenClaims"])
    );
    assert_eq!(
        sorted_keys(&refresh),
        sorted_keys(&expect["refreshTokenClaims"])
    );
    assert_eq!(
        sorted_keys(&legacy),
        sorted_keys(&expect["legacyTokenClaims"])
    );
    assert_eq!(access["type"], "access");
    assert_eq!(
        access["exp"].as_i64().unwrap() - access["iat"].as_i64().unwrap(),
        3600
    );
    assert_eq!(
        refresh["exp"].as_i64().unwrap() - refresh["iat"].as_i64().unwrap(),
        30 * 24 * 3600
    );
    assert!(
        user["token"]
            .as_str()
            .unwrap()
            .starts_with("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.")
    );
}

fn sorted_keys(v: &serde_json::Value) -> Vec<String> {
    let mut k = keys(v);
    k.sort();
    k
}

#[tokio::test]
async fn bad_logins() {
    let sim = start_default().await;
    let r = login(&sim, "root", "wrong", false).await;
    assert_eq!((r.status, r.text.as_str()), (401, "Unauthorized"));
    assert_eq!(r.text, probe()["badLogin"]["body"].as_str().unwrap());
    let r = login(&sim, "nobody", "x", false).await;
    assert_eq!(r.status, 401);
    let r = send(
        client()
            .post(format!("{}/login", sim.base_url()))
            .json(&json!({"username": "root"})),
    )
    .await;
    assert_eq!(r.status, 400);
    sim.add_user("dora", "pw", false).unwrap();
    sim.set_user_active("dora", false).unwrap();
    assert_eq!(login(&sim, "dora", "pw", false).await.status, 401);
}

#[tokio::test]
async fn refresh_rotates_with_grace_and_errors() {
    let sim = start(SimConfig {
        grace: Duration::from_millis(400),
        ..SimConfig::default()
    })
    .await;
    let p = probe();
    let r = login(&sim, "root", "root", true).await;
    let r1 = r.body["user"]["refreshToken"].as_str().unwrap().to_string();
    let url = format!("{}/auth/refresh", sim.base_url());

    // Header: rotated token in the body (and the cookie is set as well, like the real server).
    let a = send(client().post(&url).header("x-refresh-token", &r1)).await;
    assert_eq!(a.status, 200);
    assert_eq!(keys(&a.body), str_list(&p["refreshWithHeader"]["topKeys"]));
    let r2 = a.body["user"]["refreshToken"].as_str().unwrap().to_string();
    assert_ne!(r2, r1, "rotated");
    assert_eq!(
        claims(a.body["user"]["accessToken"].as_str().unwrap())["type"],
        "access"
    );

    // Old token within the grace period: the already-rotated token, not a new one.
    let b = send(client().post(&url).header("x-refresh-token", &r1)).await;
    assert_eq!(b.status, 200);
    assert_eq!(b.body["user"]["refreshToken"].as_str().unwrap(), r2);

    // Cookie transport: new access token, refreshToken null in the body, cookie rotated.
    let c = send(
        client()
            .post(&url)
            .header("cookie", format!("refresh_token={r2}")),
    )
    .await;
    assert_eq!(c.status, 200);
    assert!(c.body["user"]["refreshToken"].is_null());
    let r3 = c.cookie_token().unwrap();
    assert_ne!(r3, r2);

    // After the grace period the old token is refused (time has to pass here).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let d = send(client().post(&url).header("x-refresh-token", &r1)).await;
    assert_eq!(
        (d.status, d.body.clone()),
        (401, json!({"error": "Invalid refresh token"}))
    );
    let d = send(client().post(&url).header("x-refresh-token", &r2)).await;
    assert_eq!(d.body, json!({"error": "Invalid refresh token"}));

    // Errors.
    let e = send(client().post(&url)).await;
    assert_eq!(
        (e.status, e.body.clone()),
        (401, p["refreshNoToken"]["body"].clone())
    );
    let e = send(client().post(&url).header("x-refresh-token", "garbage")).await;
    assert_eq!(e.body, json!({"error": "Invalid refresh token"}));
    let access = r.body["user"]["accessToken"].as_str().unwrap();
    let e = send(client().post(&url).header("x-refresh-token", access)).await;
    assert_eq!(e.body, json!({"error": "Invalid token type"}));
    let now = chrono::Utc::now().timestamp();
    let expired = abs_sim_token(&sim, "refresh", now - 100, now - 10);
    let e = send(client().post(&url).header("x-refresh-token", expired)).await;
    assert_eq!(e.body, json!({"error": "Refresh token expired"}));

    // Inactive user.
    let t = sim.tokens("root").unwrap();
    sim.set_user_active("root", false).unwrap();
    let e = send(
        client()
            .post(&url)
            .header("x-refresh-token", &t.refresh_token),
    )
    .await;
    assert_eq!(e.body, json!({"error": "User not found or inactive"}));
}

/// Signs a user token for root with the simulator's secret.
fn abs_sim_token(sim: &abs_sim::Sim, kind: &str, iat: i64, exp: i64) -> String {
    use base64::Engine;
    let claims = Claims {
        user_id: sim.user_id("root"),
        username: Some("root".into()),
        jti: Some("crafted".into()),
        token_type: Some(kind.into()),
        iat: Some(iat),
        exp: Some(exp),
        ..Claims::default()
    };
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let msg = format!(
        "{}.{}",
        b64.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        b64.encode(serde_json::to_vec(&claims).unwrap())
    );
    let key = jsonwebtoken::EncodingKey::from_secret(sim.jwt_secret().as_bytes());
    let sig =
        jsonwebtoken::crypto::sign(msg.as_bytes(), &key, jsonwebtoken::Algorithm::HS256).unwrap();
    format!("{msg}.{sig}")
}

#[tokio::test]
async fn rest_token_variants() {
    let sim = start_default().await;
    let r = login(&sim, "root", "root", true).await;
    let user = &r.body["user"];
    let access = user["accessToken"].as_str().unwrap();
    let legacy = user["token"].as_str().unwrap();
    let refresh = user["refreshToken"].as_str().unwrap();
    let p = probe();

    let a = post(&sim, "/api/authorize", access, json!({})).await;
    assert_eq!(a.status, 200);
    assert_eq!(keys(&a.body), str_list(&p["authorize"]["topKeys"]));
    assert!(
        a.body["user"].get("accessToken").is_none() && a.body["user"].get("refreshToken").is_none()
    );
    assert!(a.body["user"]["token"].is_string());

    assert_eq!(
        post(&sim, "/api/authorize", legacy, json!({})).await.status,
        200
    );
    assert_eq!(
        post(&sim, "/api/authorize", refresh, json!({}))
            .await
            .status,
        401
    );
    assert_eq!(
        post(&sim, "/api/authorize", "garbage", json!({}))
            .await
            .status,
        401
    );
    let q = send(client().get(format!("{}/api/me?token={access}", sim.base_url()))).await;
    assert_eq!(q.status, 200);
    let none = send(client().post(format!("{}/api/authorize", sim.base_url()))).await;
    assert_eq!((none.status, none.text.as_str()), (401, "Unauthorized"));

    let now = chrono::Utc::now().timestamp();
    let expired = abs_sim_token(&sim, "access", now - 7200, now - 3600);
    assert_eq!(get(&sim, "/api/me", &expired).await.status, 401);

    // Expiring all access tokens server-side.
    sim.expire_access_tokens();
    assert_eq!(get(&sim, "/api/me", access).await.status, 401);
    assert_eq!(get(&sim, "/api/me", legacy).await.status, 200);
}

#[tokio::test]
async fn api_keys_default_inactive_and_authorize_to_legacy_token() {
    let sim = start_default().await;
    let root = sim.tokens("root").unwrap();
    let p = probe();
    let body = json!({"name": "tray-probe", "userId": root.user_id});
    let r = post(&sim, "/api/api-keys", &root.access_token, body).await;
    assert_eq!(r.status, 200);
    assert_eq!(sorted_keys(&r.body["apiKey"]), {
        let mut k = str_list(&p["apiKeyCreate"]["keys"]);
        k.sort();
        k
    });
    assert_eq!(r.body["apiKey"]["isActive"], false);
    let key = r.body["apiKey"]["apiKey"].as_str().unwrap().to_string();
    assert_eq!(
        sorted_keys(&claims(&key)),
        sorted_keys(&p["apiKeyCreate"]["claims"])
    );
    assert_eq!(get(&sim, "/api/me", &key).await.status, 401, "inactive key");

    let body = json!({"name": "active", "userId": root.user_id, "isActive": true});
    let r = post(&sim, "/api/api-keys", &root.access_token, body).await;
    let key = r.body["apiKey"]["apiKey"].as_str().unwrap().to_string();
    assert_eq!(get(&sim, "/api/me", &key).await.status, 200);
    let a = post(&sim, "/api/authorize", &key, json!({})).await;
    assert_eq!(a.status, 200);
    let legacy = a.body["user"]["token"].as_str().unwrap();
    assert!(claims(legacy).get("exp").is_none());

    // Non-admins cannot create keys.
    sim.add_user("bob", "pw", false).unwrap();
    let bob = sim.tokens("bob").unwrap();
    let r = post(
        &sim,
        "/api/api-keys",
        &bob.access_token,
        json!({"name": "x", "userId": bob.user_id}),
    )
    .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn logout_invalidates_the_refresh_session() {
    let sim = start_default().await;
    let r = login(&sim, "root", "root", true).await;
    let refresh = r.body["user"]["refreshToken"].as_str().unwrap().to_string();
    let other = sim.tokens("root").unwrap();
    let out = send(
        client()
            .post(format!("{}/logout", sim.base_url()))
            .header("x-refresh-token", &refresh),
    )
    .await;
    assert_eq!(
        (out.status, out.body.clone()),
        (200, json!({"redirect_url": null}))
    );
    let url = format!("{}/auth/refresh", sim.base_url());
    let e = send(client().post(&url).header("x-refresh-token", &refresh)).await;
    assert_eq!(e.body, json!({"error": "Invalid refresh token"}));
    assert_eq!(
        send(
            client()
                .post(&url)
                .header("x-refresh-token", &other.refresh_token)
        )
        .await
        .status,
        200
    );

    let t = sim.tokens("root").unwrap();
    let all = format!("{}/logout?allDevices=1", sim.base_url());
    send(
        client()
            .post(all)
            .header("x-refresh-token", &t.refresh_token),
    )
    .await;
    let e = send(
        client()
            .post(&url)
            .header("x-refresh-token", &other.refresh_token),
    )
    .await;
    assert_eq!(e.status, 401, "all devices logged out");
}

async fn patch_password(sim: &abs_sim::Sim, token: &str, body: serde_json::Value) -> Reply {
    send(
        client()
            .patch(format!("{}/api/me/password", sim.base_url()))
            .bearer_auth(token)
            .json(&body),
    )
    .await
}

async fn refresh_with(sim: &abs_sim::Sim, refresh: &str) -> Reply {
    send(
        client()
            .post(format!("{}/auth/refresh", sim.base_url()))
            .header("x-refresh-token", refresh),
    )
    .await
}

/// Logs `user` in with `x-return-tokens`: (access, refresh).
async fn signed_in(sim: &abs_sim::Sim, user: &str, pass: &str) -> (String, String) {
    let r = login(sim, user, pass, true).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let token = |k: &str| r.body["user"][k].as_str().unwrap().to_string();
    (token("accessToken"), token("refreshToken"))
}

/// True while `socket` is still authenticated: it gets the next admin message.
async fn still_authenticated(sim: &abs_sim::Sim, socket: &mut Sio, text: &str) -> bool {
    sim.admin_message(text);
    socket.wait_arg("admin_message").await == text
}

#[tokio::test]
async fn logout_on_all_devices_ends_refresh_sessions_only() {
    let sim = start_default().await;
    sim.add_user("alice", "pw", false).unwrap();
    let (access, refresh) = signed_in(&sim, "alice", "pw").await;
    let (other_access, other_refresh) = signed_in(&sim, "alice", "pw").await;
    let bystander = sim.tokens("root").unwrap();
    let mut socket = Sio::connect(&sim).await;
    socket.auth(&access).await;

    let r = send(
        client()
            .post(format!("{}/logout?allDevices=1", sim.base_url()))
            .header("x-refresh-token", &refresh),
    )
    .await;
    assert_eq!(r.status, 200);

    for dead in [&refresh, &other_refresh] {
        let r = refresh_with(&sim, dead).await;
        assert_eq!(
            (r.status, r.body),
            (401, json!({"error": "Invalid refresh token"}))
        );
    }
    assert_eq!(
        refresh_with(&sim, &bystander.refresh_token).await.status,
        200,
        "other users keep theirs"
    );
    // Access tokens live on until they expire; the socket stays authenticated.
    for alive in [&access, &other_access] {
        assert_eq!(get(&sim, "/api/me", alive).await.status, 200);
    }
    assert!(still_authenticated(&sim, &mut socket, "after logout").await);
    let mut fresh = Sio::connect(&sim).await;
    assert_eq!(fresh.auth(&other_access).await["username"], "alice");
}

#[tokio::test]
async fn a_password_change_ends_refresh_sessions_only() {
    let sim = start_default().await;
    sim.add_user("alice", "pw", false).unwrap();
    let (access, refresh) = signed_in(&sim, "alice", "pw").await;
    let other = sim.tokens("alice").unwrap();
    let mut socket = Sio::connect(&sim).await;
    socket.auth(&access).await;

    // Refusals change nothing.
    let refusals = [
        (
            json!({"password": "wrong", "newPassword": "pw2"}),
            "Invalid password",
        ),
        (
            json!({"password": "pw"}),
            "Missing or invalid password or new password",
        ),
        (
            json!({"password": 1, "newPassword": "pw2"}),
            "Missing or invalid password or new password",
        ),
        (
            json!({"password": "pw", "newPassword": ""}),
            "Invalid new password - Only root can have an empty password",
        ),
    ];
    for (body, error) in refusals {
        let r = patch_password(&sim, &access, body.clone()).await;
        assert_eq!((r.status, r.text.as_str()), (400, error), "{body}");
    }
    let r = send(
        client()
            .patch(format!("{}/api/me/password", sim.base_url()))
            .json(&json!({"password": "pw", "newPassword": "pw2"})),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(refresh_with(&sim, &other.refresh_token).await.status, 200);

    let (access, refresh) = {
        let r = refresh_with(&sim, &refresh).await;
        let token = |k: &str| r.body["user"][k].as_str().unwrap().to_string();
        (token("accessToken"), token("refreshToken"))
    };
    let r = patch_password(
        &sim,
        &access,
        json!({"password": "pw", "newPassword": "pw2"}),
    )
    .await;
    assert_eq!((r.status, r.text.as_str()), (200, "OK"));
    assert!(
        r.set_cookie().is_none(),
        "no session of this request to keep"
    );

    for dead in [&refresh, &other.refresh_token] {
        let r = refresh_with(&sim, dead).await;
        assert_eq!(
            (r.status, r.body),
            (401, json!({"error": "Invalid refresh token"}))
        );
    }
    assert_eq!(
        get(&sim, "/api/me", &access).await.status,
        200,
        "the access token lives on"
    );
    assert!(still_authenticated(&sim, &mut socket, "after the password change").await);
    assert_eq!(login(&sim, "alice", "pw", true).await.status, 401);
    assert_eq!(login(&sim, "alice", "pw2", true).await.status, 200);
}

#[tokio::test]
async fn a_password_change_from_the_browser_keeps_its_own_session() {
    let sim = start_default().await;
    sim.add_user("alice", "pw", false).unwrap();
    let r = login(&sim, "alice", "pw", false).await;
    let cookie = r.cookie_token().unwrap();
    let access = r.body["user"]["accessToken"].as_str().unwrap().to_string();
    let other = sim.tokens("alice").unwrap();
    let r = send(
        client()
            .patch(format!("{}/api/me/password", sim.base_url()))
            .bearer_auth(&access)
            .header("cookie", format!("refresh_token={cookie}"))
            .json(&json!({"password": "pw", "newPassword": "pw2"})),
    )
    .await;
    assert_eq!(r.status, 200);
    let rotated = r.cookie_token().expect("the browser's session is rotated");
    assert_ne!(rotated, cookie);
    assert_eq!(refresh_with(&sim, &rotated).await.status, 200);
    for dead in [&cookie, &other.refresh_token] {
        assert_eq!(refresh_with(&sim, dead).await.status, 401);
    }
}

#[tokio::test]
async fn auth_endpoints_are_rate_limited_per_ip() {
    let sim = start(SimConfig {
        auth_rate_limit: 3,
        ..SimConfig::default()
    })
    .await;
    for _ in 0..2 {
        assert_eq!(login(&sim, "root", "root", false).await.status, 200);
    }
    let r = send(client().post(format!("{}/auth/refresh", sim.base_url()))).await;
    assert_eq!(r.status, 401, "the third request still passes");
    assert_eq!(r.headers["ratelimit-remaining"], "0");
    let r = login(&sim, "root", "root", false).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.body, json!({"error": "Too many authentication requests"}));
    assert_eq!(r.headers["ratelimit-remaining"], "0");
    assert!(r.headers.contains_key("retry-after"));
    let r = send(client().post(format!("{}/auth/refresh", sim.base_url()))).await;
    assert_eq!(
        (r.status, r.body),
        (429, json!({"error": "Too many authentication requests"}))
    );
    // A password change counts too (after its authentication, like the real ApiRouter).
    let t = sim.tokens("root").unwrap();
    let r = patch_password(
        &sim,
        &t.access_token,
        json!({"password": "root", "newPassword": "x"}),
    )
    .await;
    assert_eq!(
        (r.status, r.body),
        (429, json!({"error": "Too many authentication requests"}))
    );
    assert_eq!(
        login(&sim, "root", "root", false).await.status,
        429,
        "root's password unchanged"
    );
    // Other endpoints are not limited.
    assert_eq!(get(&sim, "/api/me", &t.access_token).await.status, 200);
}

#[tokio::test]
async fn status_and_base_path() {
    let sim = start_default().await;
    for path in ["/status", "/audiobookshelf/status"] {
        let r = send(client().get(format!("{}{path}", sim.base_url()))).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["serverVersion"], "2.36.0");
        assert_eq!(r.body["authMethods"], json!(["local"]));
        assert_eq!(r.body["isInit"], true);
    }
    let r = send(client().get(format!("{}/healthcheck", sim.base_url()))).await;
    assert_eq!(r.status, 200);
    let t = sim.tokens("root").unwrap();
    let r = send(
        client()
            .post(format!("{}/audiobookshelf/api/authorize", sim.base_url()))
            .bearer_auth(&t.access_token),
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn old_server_login_has_only_the_legacy_token() {
    let sim = start(SimConfig::default().with_version(ServerVersion::new(2, 25, 0))).await;
    let r = login(&sim, "root", "root", true).await;
    assert_eq!(r.status, 200);
    assert!(r.body["user"].get("accessToken").is_none());
    assert!(r.body["user"].get("refreshToken").is_none());
    assert!(r.set_cookie().is_none());
    let legacy = r.body["user"]["token"].as_str().unwrap().to_string();
    assert_eq!(get(&sim, "/api/me", &legacy).await.status, 200);
    let s = send(client().get(format!("{}/status", sim.base_url()))).await;
    assert_eq!(s.body["serverVersion"], "2.25.0");
    let r = send(
        client()
            .post(format!("{}/auth/refresh", sim.base_url()))
            .header("x-refresh-token", "x"),
    )
    .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn requests_are_counted_per_path_with_the_base_path_stripped() {
    let sim = start_default().await;
    assert_eq!(sim.request_count("/login"), 0);
    login(&sim, "root", "root", true).await;
    login(&sim, "root", "wrong", true).await;
    send(client().post(format!("{}/audiobookshelf/login", sim.base_url()))).await;
    send(client().get(format!("{}/status?x=1", sim.base_url()))).await;
    assert_eq!(
        sim.request_count("/login"),
        3,
        "failed ones and base-path ones count"
    );
    assert_eq!(
        sim.request_count("/status"),
        1,
        "the query is not part of the key"
    );
    assert_eq!(sim.request_count("/auth/refresh"), 0);
}
