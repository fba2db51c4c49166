//! Sign-in against the ABS simulator over real HTTP, plus small hand-written servers for the
//! cases a faithful server never produces (HTML, garbage, huge bodies, redirects).
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns are test code too: a panic is a test failure"
)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use abs_sim::{ServerVersion as SimVersion, Sim, SimConfig};
use abs_tray_core::auth::{
    AbsClient, AuthError, ServerVersion, TokenManager, discover, is_refresh_token, needs_refresh,
};
use abs_tray_core::config::{AuthKind, SettingsFile};
use abs_tray_core::protocol::UserType;
use abs_tray_core::secret::Secret;
use abs_tray_core::server_url::ServerUrl;
use abs_tray_core::tls::TlsConfig;
use abs_tray_core::token_store::{Account, AsyncTokenStore, MemoryStore, StoreError, TokenStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const PASSWORD: &str = "correct horse battery staple";

async fn sim_with(config: SimConfig) -> (Sim, ServerUrl) {
    let sim = abs_sim::start(config.with_user("alice", PASSWORD, false))
        .await
        .unwrap();
    let url = ServerUrl::parse(&sim.base_url()).unwrap();
    (sim, url)
}

async fn sim() -> (Sim, ServerUrl) {
    sim_with(SimConfig::default()).await
}

fn tls() -> TlsConfig {
    TlsConfig::system().unwrap()
}

fn client(url: &ServerUrl) -> AbsClient {
    AbsClient::new(url.clone(), &tls()).unwrap()
}

fn manager(url: &ServerUrl, store: Arc<MemoryStore>) -> TokenManager {
    TokenManager::new(
        client(url),
        AsyncTokenStore::new(store),
        Account::new(url, "alice"),
    )
}

fn password() -> Secret {
    Secret::new(PASSWORD)
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test]
async fn password_login_on_2_36_gives_an_expiring_access_token_and_a_refresh_token() {
    let (_sim, url) = sim().await;
    let found = discover(&url, &tls()).await.unwrap();
    assert_eq!(found.url, url);
    assert_eq!(found.info.version, Some(ServerVersion::new(2, 36, 0)));
    assert_eq!(found.info.auth_methods, vec!["local".to_owned()]);
    assert_eq!(url.insecure_warning(), None);

    let before = SystemTime::now();
    let session = client(&url).login("alice", &password()).await.unwrap();
    assert_eq!(session.username, "alice");
    assert_eq!(session.user_type, UserType::User);
    assert!(!session.is_admin());
    assert_eq!(session.server_version, Some(ServerVersion::new(2, 36, 0)));
    let refresh = session
        .refresh
        .clone()
        .expect("2.36 returns a refresh token");
    assert!(is_refresh_token(&refresh));
    assert!(!is_refresh_token(&session.access));
    // The default access lifetime is one hour.
    let exp = secs(session.access_expires_at.expect("access tokens expire"));
    assert!(
        (secs(before) + 3590..=secs(before) + 3610).contains(&exp),
        "{exp}"
    );
    assert!(!session.needs_refresh(SystemTime::now()));
    // The access token works as a bearer token.
    let again = client(&url).authorize(&session.access).await.unwrap();
    assert_eq!(again.user_id, session.user_id);
}

#[tokio::test]
async fn a_legacy_server_gives_a_non_expiring_token_that_is_stored_and_resumed() {
    let (_sim, url) = sim_with(SimConfig::default().with_version(SimVersion::new(2, 25, 0))).await;
    let found = discover(&url, &tls()).await.unwrap();
    assert_eq!(found.info.version, Some(ServerVersion::new(2, 25, 0)));

    let store = Arc::new(MemoryStore::new());
    let tokens = manager(&url, store.clone());
    let session = tokens.sign_in(&password()).await.unwrap();
    assert_eq!(session.server_version, Some(ServerVersion::new(2, 25, 0)));
    assert_eq!(session.refresh, None);
    assert_eq!(session.access_expires_at, None);
    assert!(!session.needs_refresh(SystemTime::now() + Duration::from_secs(10 * 365 * 86_400)));
    // Without a refresh token, the legacy token itself is what lets the next start skip the password.
    let stored = store.get(tokens.account()).unwrap().unwrap();
    assert_eq!(stored, session.access);
    let resumed = tokens.resume().await.unwrap();
    assert_eq!(resumed.user_id, session.user_id);
}

#[tokio::test]
async fn a_wrong_password_is_bad_credentials() {
    let (_sim, url) = sim().await;
    let err = client(&url)
        .login("alice", &Secret::new("wrong"))
        .await
        .unwrap_err();
    assert_eq!(err, AuthError::BadCredentials);
    assert_eq!(err.code(), "bad_credentials");
    assert!(err.sign_in_required());
    let err = client(&url).login("nobody", &password()).await.unwrap_err();
    assert_eq!(err, AuthError::BadCredentials);
}

/// Creates an API key for `user` as root through the REST API, like an admin would.
async fn create_api_key(sim: &Sim, url: &ServerUrl, user: &str, active: bool) -> Secret {
    #[derive(serde::Deserialize)]
    struct Created {
        #[serde(rename = "apiKey")]
        api_key: Key,
    }
    #[derive(serde::Deserialize)]
    struct Key {
        #[serde(rename = "apiKey")]
        api_key: String,
    }
    let root = sim.tokens("root").unwrap();
    let body = serde_json::json!({
        "name": "abs-tray test",
        "userId": sim.user_id(user).unwrap(),
        "isActive": active,
    });
    let response = reqwest::Client::new()
        .post(url.rest("/api/api-keys"))
        .bearer_auth(root.access_token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let created: Created = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    Secret::new(created.api_key.api_key)
}

#[tokio::test]
async fn an_api_key_is_exchanged_for_the_socket_capable_legacy_token() {
    let (sim, url) = sim().await;
    let key = create_api_key(&sim, &url, "alice", true).await;
    let store = Arc::new(MemoryStore::new());
    let tokens = manager(&url, store.clone());
    let session = tokens.sign_in_with_api_key(&key).await.unwrap();
    assert_eq!(session.username, "alice");
    assert_ne!(
        session.access, key,
        "the socket needs the legacy token, not the key"
    );
    assert_eq!(session.access_expires_at, None);
    assert_eq!(session.refresh, None);
    // The key (what can be re-authorized) is stored, and resuming re-authorizes with it.
    assert_eq!(store.get(tokens.account()).unwrap(), Some(key.clone()));
    let resumed = tokens.resume().await.unwrap();
    assert_eq!(resumed.user_id, session.user_id);
    assert_eq!(resumed.access, session.access);

    let inactive = create_api_key(&sim, &url, "alice", false).await;
    let err = client(&url).authorize(&inactive).await.unwrap_err();
    assert_eq!(err, AuthError::InvalidApiKey);
    assert!(err.sign_in_required());
}

#[tokio::test]
async fn refresh_rotates_and_stores_the_new_token_before_handing_out_the_session() {
    let (_sim, url) = sim().await;
    let store = Arc::new(MemoryStore::new());
    let tokens = manager(&url, store.clone());
    let first = tokens.sign_in(&password()).await.unwrap();
    let r1 = first.refresh.clone().unwrap();
    assert_eq!(store.get(tokens.account()).unwrap(), Some(r1.clone()));

    let second = tokens.refresh_and_store(&r1).await.unwrap();
    let r2 = second.refresh.clone().unwrap();
    assert_ne!(r2, r1, "refresh tokens rotate");
    assert_ne!(second.access, first.access);
    assert_eq!(store.get(tokens.account()).unwrap(), Some(r2.clone()));

    // If the new token cannot be stored, no session is handed out and the error says why.
    store.fail_with(Some(StoreError::Locked {
        detail: "test".into(),
    }));
    let err = tokens.refresh_and_store(&r2).await.unwrap_err();
    assert_eq!(err.code(), "keyring_locked");
    store.fail_with(None);
    // The server rotated anyway; the old token still works within the grace period and
    // yields the rotated one, which is then stored.
    let third = tokens.refresh_and_store(&r2).await.unwrap();
    assert_eq!(
        store.get(tokens.account()).unwrap(),
        Some(third.refresh.unwrap())
    );
}

#[tokio::test]
async fn a_revoked_refresh_token_is_rejected_and_nothing_is_deleted() {
    let (sim, url) = sim().await;
    let store = Arc::new(MemoryStore::new());
    let tokens = manager(&url, store.clone());
    let session = tokens.sign_in(&password()).await.unwrap();
    let refresh = session.refresh.unwrap();
    sim.revoke_tokens("alice").unwrap();

    let err = tokens.refresh_and_store(&refresh).await.unwrap_err();
    assert!(
        matches!(&err, AuthError::RefreshRejected { reason } if reason.contains("refresh token")),
        "{err:?}"
    );
    assert_eq!(err.code(), "refresh_rejected");
    assert!(err.sign_in_required());
    assert_eq!(store.get(tokens.account()).unwrap(), Some(refresh));
    // resume() reports the same.
    assert_eq!(
        tokens.resume().await.unwrap_err().code(),
        "refresh_rejected"
    );
}

#[tokio::test]
async fn a_short_lived_access_token_is_refreshed_in_the_last_quarter_of_its_life() {
    let config = SimConfig {
        access_ttl: Duration::from_secs(60),
        ..SimConfig::default()
    };
    let (_sim, url) = sim_with(config).await;
    let before = SystemTime::now();
    let session = client(&url).login("alice", &password()).await.unwrap();
    let exp = session.access_expires_at.unwrap();
    assert!(
        (secs(before) + 59..=secs(before) + 62).contains(&secs(exp)),
        "exp {}",
        secs(exp)
    );
    // The lifetime is the token's own (`exp - iat`), counted from its arrival.
    assert_eq!(session.access_lifetime, Some(Duration::from_secs(60)));
    assert!(session.received_at >= before);
    let received = session.received_at;
    // Fresh: no refresh (a fixed 5-minute margin refreshed at every use). Its last quarter: refresh.
    assert!(!session.needs_refresh(SystemTime::now()));
    assert!(!needs_refresh(
        received,
        session.access_lifetime,
        received + Duration::from_secs(44)
    ));
    assert!(needs_refresh(
        received,
        session.access_lifetime,
        received + Duration::from_secs(45)
    ));
    assert!(session.needs_refresh(received + Duration::from_secs(61)));
}

/// Answers every request with `respond(method_and_path)`; counts the requests it saw.
async fn fake_server(respond: fn(&str) -> Vec<u8>) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let Some(request_line) = read_request(&mut stream).await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = stream.write_all(&respond(&request_line)).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (addr, hits)
}

/// Reads one request (headers and `content-length` body); returns `METHOD /path`.
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let header_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut buf).await.ok().filter(|n| *n > 0)?;
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..header_end]).to_string();
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while data.len() < header_end + length {
        let n = stream.read(&mut buf).await.ok().filter(|n| *n > 0)?;
        data.extend_from_slice(&buf[..n]);
    }
    let mut parts = head.split_whitespace();
    Some(format!("{} {}", parts.next()?, parts.next()?))
}

fn http(status: &str, content_type: &str, extra: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn url_of(addr: SocketAddr, path: &str) -> ServerUrl {
    ServerUrl::parse(&format!("http://{addr}{path}")).unwrap()
}

#[tokio::test]
async fn the_base_path_is_used_as_given_or_discovered() {
    let (_sim, url) = sim().await;
    // Given explicitly (with a trailing slash): kept, and sign-in works under it.
    let sub = ServerUrl::parse(&format!("{}/audiobookshelf/", url)).unwrap();
    let found = discover(&sub, &tls()).await.unwrap();
    assert_eq!(found.url.base_path(), "/audiobookshelf");
    let session = client(&found.url)
        .login("alice", &password())
        .await
        .unwrap();
    assert_eq!(session.username, "alice");
    // A bare `127.0.0.1:PORT` with http given explicitly: the root answers.
    let bare = ServerUrl::parse(&format!("http://127.0.0.1:{}", url.port())).unwrap();
    let found = discover(&bare, &tls()).await.unwrap();
    assert_eq!(found.url.base_path(), "");

    // A proxy whose root is another site, with ABS under /audiobookshelf: discovered.
    let (addr, _) = fake_server(|request| match request {
        "GET /audiobookshelf/status" => http(
            "200 OK",
            "application/json",
            "",
            br#"{"app":"audiobookshelf","serverVersion":"2.30.1","isInit":true,"authMethods":["local","openid"]}"#,
        ),
        _ => http("200 OK", "text/html", "", b"<!DOCTYPE html><title>Home</title>"),
    })
    .await;
    let found = discover(&url_of(addr, ""), &tls()).await.unwrap();
    assert_eq!(found.url.base_path(), "/audiobookshelf");
    assert_eq!(found.info.version, Some(ServerVersion::new(2, 30, 1)));
    assert_eq!(found.info.auth_methods, ["local", "openid"]);
    // An explicit base path is not second-guessed.
    let err = discover(&url_of(addr, "/other"), &tls()).await.unwrap_err();
    assert_eq!(err, AuthError::NotAbs);
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = discover(&url_of(addr, ""), &tls()).await.unwrap_err();
    assert!(matches!(err, AuthError::Unreachable { .. }), "{err:?}");
    assert_eq!(err.code(), "unreachable");
    assert!(
        err.to_string().starts_with("cannot reach the server"),
        "{err}"
    );
}

#[tokio::test]
async fn a_server_that_is_not_abs_is_recognised() {
    let (html, hits) = fake_server(|_| {
        http(
            "200 OK",
            "text/html",
            "",
            b"<!DOCTYPE html><h1>It works!</h1>",
        )
    })
    .await;
    let err = discover(&url_of(html, ""), &tls()).await.unwrap_err();
    assert_eq!(err, AuthError::NotAbs);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "root and /audiobookshelf were tried"
    );

    let (other_json, _) = fake_server(|_| {
        http(
            "200 OK",
            "application/json",
            "",
            br#"{"app":"jellyfin","isInit":true}"#,
        )
    })
    .await;
    assert_eq!(
        discover(&url_of(other_json, ""), &tls()).await.unwrap_err(),
        AuthError::NotAbs
    );

    let (not_found, _) = fake_server(|_| http("404 Not Found", "text/html", "", b"nope")).await;
    assert_eq!(
        discover(&url_of(not_found, ""), &tls()).await.unwrap_err(),
        AuthError::NotAbs
    );

    let (proxy_auth, _) = fake_server(|_| {
        http(
            "401 Unauthorized",
            "text/html",
            "www-authenticate: Basic\r\n",
            b"login",
        )
    })
    .await;
    assert_eq!(
        discover(&url_of(proxy_auth, ""), &tls()).await.unwrap_err(),
        AuthError::Http { status: 401 }
    );

    let (uninitialised, _) = fake_server(|_| {
        http(
            "200 OK",
            "application/json",
            "",
            br#"{"app":"audiobookshelf","serverVersion":"2.36.0","isInit":false,"authMethods":[]}"#,
        )
    })
    .await;
    assert_eq!(
        discover(&url_of(uninitialised, ""), &tls())
            .await
            .unwrap_err(),
        AuthError::NotSetUp
    );
}

#[tokio::test]
async fn a_lying_server_gives_errors_not_panics() {
    let (html, _) = fake_server(|_| http("200 OK", "text/html", "", b"<html>login</html>")).await;
    let err = client(&url_of(html, ""))
        .login("alice", &password())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "bad_reply", "{err:?}");

    let (garbage, _) =
        fake_server(|_| http("200 OK", "application/json", "", b"{\"user\": [1, 2, \x01")).await;
    let err = client(&url_of(garbage, ""))
        .refresh(&Secret::new("r"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "bad_reply", "{err:?}");

    // 5 MiB announced up front.
    let (huge, _) = fake_server(|_| {
        http(
            "200 OK",
            "application/json",
            "",
            &vec![b' '; 5 * 1024 * 1024],
        )
    })
    .await;
    let err = client(&url_of(huge, ""))
        .login("alice", &password())
        .await
        .unwrap_err();
    assert_eq!(err, AuthError::TooLarge);

    // 5 MiB without a length (read until close): cut off while reading.
    let (endless, _) = fake_server(|_| {
        let mut out =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n"
                .to_vec();
        out.extend(std::iter::repeat_n(b' ', 5 * 1024 * 1024));
        out
    })
    .await;
    let err = client(&url_of(endless, "")).status().await.unwrap_err();
    assert_eq!(err, AuthError::TooLarge);

    // A 401 on refresh without the JSON `error` field still reads as a rejected refresh.
    let (text_401, _) =
        fake_server(|_| http("401 Unauthorized", "text/plain", "", b"Unauthorized")).await;
    let err = client(&url_of(text_401, ""))
        .refresh(&Secret::new("r"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        AuthError::RefreshRejected {
            reason: "Unauthorized".into()
        }
    );
}

#[tokio::test]
async fn redirects_are_reported_not_followed() {
    let (elsewhere, elsewhere_hits) =
        fake_server(|_| http("200 OK", "application/json", "", b"{}")).await;
    // The redirecting server cannot know the other port at compile time: read it from a static.
    static TARGET: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TARGET.set(format!("http://{elsewhere}/login")).unwrap();
    let (redirecting, _) = fake_server(|_| {
        let location = format!("location: {}\r\n", TARGET.get().unwrap());
        http("307 Temporary Redirect", "text/plain", &location, b"")
    })
    .await;
    let url = url_of(redirecting, "");
    let err = client(&url).login("alice", &password()).await.unwrap_err();
    assert_eq!(
        err,
        AuthError::Redirected {
            location: TARGET.get().unwrap().clone()
        }
    );
    let err = client(&url).refresh(&Secret::new("r")).await.unwrap_err();
    assert_eq!(err.code(), "redirected");
    assert_eq!(
        elsewhere_hits.load(Ordering::SeqCst),
        0,
        "credentials never left"
    );
}

#[tokio::test]
async fn the_auth_rate_limit_is_reported() {
    let config = SimConfig {
        auth_rate_limit: 1,
        ..SimConfig::default()
    };
    let (_sim, url) = sim_with(config).await;
    client(&url).login("alice", &password()).await.unwrap();
    let err = client(&url).login("alice", &password()).await.unwrap_err();
    assert!(
        matches!(
            err,
            AuthError::RateLimited {
                retry_after: Some(_)
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), "rate_limited");
}

#[tokio::test]
async fn signing_out_ends_the_server_session_and_forgets_the_token() {
    let (_sim, url) = sim().await;
    let store = Arc::new(MemoryStore::new());
    let tokens = manager(&url, store.clone());
    let refresh = tokens.sign_in(&password()).await.unwrap().refresh.unwrap();
    tokens.sign_out().await.unwrap();
    assert!(store.is_empty());
    let err = client(&url).refresh(&refresh).await.unwrap_err();
    assert_eq!(err.code(), "refresh_rejected");
    assert_eq!(tokens.resume().await.unwrap_err(), AuthError::NotSignedIn);
}

/// Every byte of every file under `dir`.
fn all_file_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(all_file_bytes(&path));
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

#[tokio::test]
async fn no_secret_ever_reaches_the_config_folder() {
    let (_sim, url) = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(MemoryStore::new());
    let tokens = manager(&url, store.clone());
    let first = tokens.sign_in(&password()).await.unwrap();
    let second = tokens
        .refresh_and_store(first.refresh.as_ref().unwrap())
        .await
        .unwrap();

    let mut file = SettingsFile::in_dir(dir.path());
    let mut settings = file.load().unwrap();
    settings.server_url = Some(url.clone());
    settings.username = Some(second.username.clone());
    settings.auth_kind = AuthKind::Password;
    file.save(&settings).unwrap();
    assert_eq!(file.load().unwrap(), settings);
    // Debug output of everything the app holds is just as clean.
    let debug = format!("{first:?} {second:?} {settings:?} {tokens:?}");

    let secrets = [
        PASSWORD.to_owned(),
        first.access.expose().to_owned(),
        first.refresh.unwrap().expose().to_owned(),
        second.access.expose().to_owned(),
        second.refresh.unwrap().expose().to_owned(),
    ];
    let files = all_file_bytes(dir.path());
    assert!(!files.is_empty());
    for secret in &secrets {
        for (name, bytes) in &files {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a secret was written to {name}"
            );
        }
        assert!(
            !debug.contains(secret.as_str()),
            "a secret is in Debug output"
        );
    }
}
