//! The real `abs-tray-cli` binary against the simulator (in this process, on 127.0.0.1:0) and a
//! few hand-written servers. Tests that sign in use the REAL gnome-keyring of the private
//! session `scripts/desktop-session.sh` starts, and fail with instructions outside it. Each test
//! has its own configuration folder and a unique user name, so keyring entries never collide.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns are test code too: a panic is a test failure"
)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use abs_sim::front::{self, Front, FrontConfig, Identity};
use abs_sim::{Sim, SimConfig};
use abs_tray_core::auth::{AbsClient, AuthError, is_refresh_token};
use abs_tray_core::secret::Secret;
use abs_tray_core::server_url::ServerUrl;
use abs_tray_core::tls::TlsConfig;
use abs_tray_core::token_store::{Account, AsyncTokenStore, KeyringStore};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpListener;
use tokio::process::{Child, ChildStdout, Command};

/// Limit for anything that should take well under a second.
const WAIT: Duration = Duration::from_secs(10);
const PASSWORD: &str = "pass word with spaces";

/// Fails (never skips) outside the private desktop session.
fn require_desktop_session() {
    assert!(
        std::env::var("ABS_TRAY_DESKTOP_SESSION").as_deref() == Ok("1"),
        "this test needs the private keyring: run it through scripts/desktop-session.sh (make test does)"
    );
}

/// A user name no other test (or earlier run) uses.
fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The binary with its own configuration folder.
struct Cli {
    config: tempfile::TempDir,
    /// `ABS_TRAY_LOG` for every command; none (the default level) unless set.
    log: Option<&'static str>,
}

impl Cli {
    fn new() -> Self {
        Self {
            config: tempfile::tempdir().unwrap(),
            log: None,
        }
    }

    /// Every command logs at `ABS_TRAY_LOG=trace`.
    fn traced() -> Self {
        Self {
            log: Some("trace"),
            ..Self::new()
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_abs-tray-cli"));
        command.args(args);
        self.prepare(command)
    }

    /// The binary, unable to write any file: the shell ignores SIGXFSZ (inherited across exec)
    /// and sets the file-size limit to 0, so every write fails with EFBIG, as on a full disk.
    /// Works as root too, unlike permissions. (The keyring daemon is another process.)
    fn command_without_file_writes(&self, args: &[&str]) -> Command {
        let mut command = Command::new("sh");
        command
            .args(["-c", "trap '' XFSZ; ulimit -f 0; exec \"$0\" \"$@\""])
            .arg(env!("CARGO_BIN_EXE_abs-tray-cli"))
            .args(args);
        self.prepare(command)
    }

    /// This configuration folder, log level and piped output.
    fn prepare(&self, mut command: Command) -> Command {
        command
            .env("ABS_TRAY_CONFIG_DIR", self.config.path())
            .env_remove("ABS_TRAY_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(level) = self.log {
            command.env("ABS_TRAY_LOG", level);
        }
        command
    }

    /// Runs to the end, with `stdin` as standard input.
    async fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self.finish(self.command(args), stdin).await
    }

    /// Runs `command` to the end, with `stdin` as standard input.
    async fn finish(&self, mut command: Command, stdin: Option<&str>) -> Output {
        if stdin.is_some() {
            command.stdin(Stdio::piped());
        }
        let mut child = command.spawn().unwrap();
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(text.as_bytes()).await.unwrap();
            drop(pipe);
        }
        tokio::time::timeout(WAIT, child.wait_with_output())
            .await
            .expect("the command ends in time")
            .unwrap()
    }

    /// Signs in with `args` after `login URL --username NAME --password-stdin`.
    async fn login_with(&self, url: &str, username: &str, args: &[&str]) -> Output {
        let mut all = vec!["login", url, "--username", username, "--password-stdin"];
        all.extend_from_slice(args);
        self.run(&all, Some(&format!("{PASSWORD}\n"))).await
    }

    async fn login(&self, sim: &Sim, username: &str) -> Output {
        let output = self
            .run(
                &[
                    "login",
                    &sim.base_url(),
                    "--username",
                    username,
                    "--password-stdin",
                ],
                Some(&format!("{PASSWORD}\n")),
            )
            .await;
        assert_eq!(code(&output), 0, "login: {}", text(&output.stderr));
        output
    }
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// stderr must be exactly one `error: ...` line.
fn one_error_line(output: &Output) -> String {
    let stderr = text(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {stderr:?}");
    assert!(lines[0].starts_with("error: "), "{stderr:?}");
    lines[0].to_owned()
}

async fn sim_with_user(username: &str, admin: bool) -> (Sim, ServerUrl) {
    let sim = abs_sim::start(SimConfig::default()).await.unwrap();
    sim.add_user(username, PASSWORD, admin).unwrap();
    let url = ServerUrl::parse(&sim.base_url()).unwrap();
    (sim, url)
}

async fn keyring_entry(url: &ServerUrl, username: &str) -> Option<Secret> {
    AsyncTokenStore::new(Arc::new(KeyringStore::new()))
        .get(&Account::new(url, username))
        .await
        .unwrap()
}

/// Every file under `dir`, with its bytes.
fn all_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(all_files(&path));
        } else {
            files.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Reads stdout lines as they come until one parses as JSON matching `pred`.
async fn json_line_matching(
    lines: &mut Lines<BufReader<ChildStdout>>,
    seen: &mut Vec<String>,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let found = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            seen.push(line.clone());
            let value: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            if pred(&value) {
                return Some(value);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(value)) => value,
        Ok(None) => panic!("stdout ended before {what}; lines: {seen:#?}"),
        Err(_) => panic!("no {what} within {WAIT:?}; lines: {seen:#?}"),
    }
}

/// Like `json_line_matching`, but first looks among the lines already read.
async fn seen_or_next_matching(
    lines: &mut Lines<BufReader<ChildStdout>>,
    seen: &mut Vec<String>,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let already = seen
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|value| pred(value));
    match already {
        Some(value) => value,
        None => json_line_matching(lines, seen, what, pred).await,
    }
}

/// Sends SIGINT (Ctrl-C) to the child.
fn interrupt(child: &Child) {
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn login_keeps_the_refresh_token_in_the_keyring_and_no_secret_in_the_settings() {
    require_desktop_session();
    let name = unique("login");
    let (_sim, url) = sim_with_user(&name, true).await;
    let cli = Cli::new();
    let output = cli.login(&_sim, &name).await;
    let stdout = text(&output.stdout);
    assert!(stdout.contains(&format!("as {name} (admin)")), "{stdout}");
    assert!(stdout.contains("Audiobookshelf 2.36.0"), "{stdout}");
    assert!(text(&output.stderr).is_empty(), "{}", text(&output.stderr));

    let refresh = keyring_entry(&url, &name).await.expect("a keyring entry");
    assert!(
        is_refresh_token(&refresh),
        "the refresh token is what is kept"
    );
    let files = all_files(cli.config.path());
    assert!(!files.is_empty());
    for (path, bytes) in &files {
        assert!(!contains(bytes, PASSWORD), "{path} holds the password");
        assert!(!contains(bytes, refresh.expose()), "{path} holds the token");
        assert!(!contains(bytes, "eyJ"), "{path} holds a JWT");
    }
    let settings = std::fs::read_to_string(cli.config.path().join("settings.toml")).unwrap();
    assert!(
        settings.contains(&format!("username = \"{name}\"")),
        "{settings}"
    );
    assert!(settings.contains(&url.to_string()), "{settings}");
    assert!(!contains(&output.stdout, refresh.expose()));
}

#[tokio::test]
async fn an_api_key_login_explains_the_exchange_and_keeps_the_key() {
    require_desktop_session();
    let name = unique("apikey");
    let (sim, url) = sim_with_user(&name, false).await;
    let root = sim.tokens("root").unwrap();
    let body = serde_json::json!({"name": "cli test", "userId": sim.user_id(&name).unwrap(), "isActive": true});
    let reply = reqwest::Client::new()
        .post(url.rest("/api/api-keys"))
        .bearer_auth(root.access_token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let reply: Value = serde_json::from_slice(&reply).unwrap();
    let key = reply["apiKey"]["apiKey"].as_str().unwrap().to_owned();

    let cli = Cli::new();
    let output = cli
        .run(&["login", &sim.base_url(), "--api-key-stdin"], Some(&key))
        .await;
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains(&format!("with an API key as {name}")),
        "{stdout}"
    );
    assert!(stdout.contains("/api/authorize"), "{stdout}");
    assert!(!stdout.contains(&key));
    assert_eq!(
        keyring_entry(&url, &name).await,
        Some(Secret::new(key.clone()))
    );
    for (path, bytes) in all_files(cli.config.path()) {
        assert!(!contains(&bytes, &key), "{path} holds the key");
    }
}

#[tokio::test]
async fn a_wrong_password_exits_3_with_one_line() {
    let name = unique("wrong");
    let (sim, _url) = sim_with_user(&name, false).await;
    let cli = Cli::new();
    let output = cli
        .run(
            &["login", &sim.base_url(), "-u", &name, "--password-stdin"],
            Some("not the password\n"),
        )
        .await;
    assert_eq!(code(&output), 3);
    assert_eq!(
        one_error_line(&output),
        "error: Wrong user name or password."
    );
    assert!(output.stdout.is_empty());
    assert!(!cli.config.path().join("settings.toml").exists());
}

#[tokio::test]
async fn watch_json_prints_the_connection_and_events_until_ctrl_c() {
    require_desktop_session();
    let name = unique("watch");
    let (sim, url) = sim_with_user(&name, true).await;
    let cli = Cli::new();
    cli.login(&sim, &name).await;

    let mut child = cli.command(&["watch", "--json"]).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let connected = json_line_matching(&mut lines, &mut seen, "a connected status", |v| {
        v["type"] == "status" && v["state"] == "connected"
    })
    .await;
    assert_eq!(connected["username"], name.as_str());
    assert_eq!(connected["is_admin"], true);
    assert_eq!(connected["server_version"], "2.36.0");
    assert_eq!(seen[0], r#"{"type":"status","state":"connecting"}"#);

    let message = format!("maintenance tonight <b>{name}</b>");
    sim.admin_message(&message);
    // The event line and the policy's decision on it come from separate tasks, in either order.
    let event = seen_or_next_matching(&mut lines, &mut seen, "the admin message", |v| {
        v["type"] == "event" && v["name"] == "admin_message"
    })
    .await;
    assert_eq!(event["data"]["message"], message.as_str());
    // An admin broadcast always pops up, its text kept literally.
    let decision = seen_or_next_matching(&mut lines, &mut seen, "the admin message popup", |v| {
        v["type"] == "notification" && v["category"] == "admin_message"
    })
    .await;
    assert_eq!(decision["outcome"], "shown");
    assert_eq!(decision["body"], message.as_str());

    // Ctrl-C: the socket is closed politely and the command succeeds.
    let mut sim_events = sim.events();
    interrupt(&child);
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("watch ends after Ctrl-C")
        .unwrap();
    assert_eq!(status.code(), Some(0));
    sim_events
        .wait_named("(disconnect)", WAIT)
        .await
        .expect("the server saw the socket close");
    while let Some(line) = lines.next_line().await.unwrap() {
        seen.push(line);
    }
    let refresh = keyring_entry(&url, &name).await.unwrap();
    for line in &seen {
        assert!(!line.contains("eyJ"), "a token in the output: {line}");
        assert!(!line.contains(refresh.expose()));
    }
}

#[tokio::test]
async fn readable_watch_output_and_sign_in_required_exit_3() {
    require_desktop_session();
    let name = unique("revoked");
    let (sim, _url) = sim_with_user(&name, false).await;
    let cli = Cli::new();
    cli.login(&sim, &name).await;
    // The saved refresh token dies on the server: watch reports it and stops.
    sim.revoke_tokens(&name).unwrap();
    let output = cli.run(&["watch"], None).await;
    assert_eq!(code(&output), 3, "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.starts_with("status: connecting\n"), "{stdout}");
    assert!(stdout.contains("status: sign-in required"), "{stdout}");
    let line = one_error_line(&output);
    assert!(
        line.contains("Invalid refresh token") && line.contains("login"),
        "{line}"
    );
}

#[tokio::test]
async fn logout_deletes_the_keyring_entry_and_ends_the_server_session() {
    require_desktop_session();
    let name = unique("logout");
    let (sim, url) = sim_with_user(&name, false).await;
    let cli = Cli::new();
    cli.login(&sim, &name).await;
    let refresh = keyring_entry(&url, &name).await.unwrap();

    let output = cli.run(&["logout"], None).await;
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("Signed out"));
    assert_eq!(keyring_entry(&url, &name).await, None);
    let client = AbsClient::new(url.clone(), &TlsConfig::system().unwrap()).unwrap();
    assert!(
        matches!(
            client.refresh(&refresh).await,
            Err(AuthError::RefreshRejected { .. })
        ),
        "the server session is over"
    );
    // The address stays for the next login; the user name goes with the credential.
    let settings = std::fs::read_to_string(cli.config.path().join("settings.toml")).unwrap();
    assert!(settings.contains(&url.to_string()), "{settings}");
    assert!(!settings.contains(&name), "{settings}");
    let again = cli.run(&["watch"], None).await;
    assert_eq!(code(&again), 3);
    // Logging out twice is fine.
    assert_eq!(code(&cli.run(&["logout"], None).await), 0);
}

fn checks(report: &Value) -> Vec<(String, String)> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn verdict_of(report: &Value, name: &str) -> String {
    checks(report)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {name} check: {report}"))
}

#[tokio::test]
async fn doctor_passes_every_check_on_a_healthy_server() {
    require_desktop_session();
    let name = unique("doctor");
    let (sim, _url) = sim_with_user(&name, false).await;
    let cli = Cli::new();
    cli.login(&sim, &name).await;
    let output = cli.run(&["doctor", &sim.base_url(), "--json"], None).await;
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["verdict"], "ok");
    for (check, verdict) in checks(&report) {
        // Plain http on loopback has no certificate to check.
        let expected = if check == "tls" { "skipped" } else { "ok" };
        assert_eq!(verdict, expected, "{check}: {report}");
    }
    assert_eq!(checks(&report).len(), 10);
    let auth = &report["checks"][8];
    assert_eq!(auth["name"], "socket_auth");
    assert!(auth["detail"].as_str().unwrap().contains(&name), "{auth}");

    // The readable form says the same.
    let output = cli.run(&["doctor", &sim.base_url()], None).await;
    assert_eq!(code(&output), 0);
    let stdout = text(&output.stdout);
    assert!(stdout.contains("ok    WebSocket upgrade"), "{stdout}");
    assert!(stdout.trim_end().ends_with("verdict: ok"), "{stdout}");
}

/// A server that answers REST and Engine.IO long-polling like ABS but refuses WebSocket
/// upgrades the way ABS does when a proxy strips `Upgrade`/`Connection` (engine.io's 400).
async fn server_refusing_websocket_upgrades() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                let target = head.split(' ').nth(1).unwrap_or("/").to_owned();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while buf.len() < head_end + length {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let (status, content_type, body) = if target.starts_with("/socket.io/")
                    && head.contains("upgrade: websocket")
                {
                    (
                        "400 Bad Request",
                        "application/json",
                        r#"{"code":3,"message":"Bad request"}"#.to_owned(),
                    )
                } else if target == "/status" {
                    (
                        "200 OK",
                        "application/json",
                        r#"{"app":"audiobookshelf","serverVersion":"2.36.0","isInit":true,"language":"en-us","authMethods":["local"]}"#.to_owned(),
                    )
                } else if target.starts_with("/socket.io/?eio=4&transport=polling") {
                    if head.starts_with("post") {
                        ("200 OK", "text/html", "ok".to_owned())
                    } else {
                        (
                            "200 OK",
                            "text/plain; charset=UTF-8",
                            r#"0{"sid":"probe","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#.to_owned(),
                        )
                    }
                } else {
                    ("404 Not Found", "text/html", format!("Cannot GET {target}"))
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\ndate: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len(),
                    httpdate::fmt_http_date(SystemTime::now())
                );
                let _ = stream.write_all(reply.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn doctor_blames_the_proxy_when_rest_works_but_websocket_upgrades_do_not() {
    let addr = server_refusing_websocket_upgrades().await;
    let cli = Cli::new();
    let url = format!("http://{addr}");
    let output = cli.run(&["doctor", &url, "--json"], None).await;
    // The live connection is what fails: exit 5, as for `login` behind such a proxy.
    assert_eq!(code(&output), 5, "{}", text(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    for ok in [
        "address",
        "dns",
        "tcp",
        "status",
        "base_path",
        "socket_polling",
        "clock",
    ] {
        assert_eq!(verdict_of(&report, ok), "ok", "{ok}: {report}");
    }
    assert_eq!(verdict_of(&report, "websocket"), "fail");
    assert_eq!(verdict_of(&report, "socket_auth"), "skipped");
    let websocket = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "websocket")
        .unwrap();
    let detail = websocket["detail"].as_str().unwrap();
    assert!(
        detail.contains("REST and long-polling reach ABS") && detail.contains("400"),
        "{detail}"
    );
    let fix = websocket["fix"].as_str().unwrap();
    assert!(
        fix.contains("`Upgrade`")
            && fix.contains("`Connection`")
            && fix.contains("proxy_set_header Upgrade"),
        "{fix}"
    );
    let line = one_error_line(&output);
    // The window's sentence first, then the step and what was seen.
    assert!(
        line.starts_with("error: The server refuses live connections (WebSocket)")
            && line.contains("(WebSocket upgrade: "),
        "{line}"
    );

    let readable = cli.run(&["doctor", &url], None).await;
    assert_eq!(code(&readable), 5);
    let stdout = text(&readable.stdout);
    assert!(stdout.contains("FAIL  WebSocket upgrade"), "{stdout}");
    assert!(
        stdout.contains("fix: Your reverse proxy must pass WebSocket upgrades"),
        "{stdout}"
    );
}

#[tokio::test]
async fn doctor_on_a_closed_port_exits_4_with_one_line() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let cli = Cli::new();
    let output = cli
        .run(&["doctor", &format!("http://127.0.0.1:{port}")], None)
        .await;
    assert_eq!(code(&output), 4);
    let line = one_error_line(&output);
    assert!(
        line.contains("Nothing answers at 127.0.0.1")
            && line.contains("check that Audiobookshelf is running")
            && line.contains("refused"),
        "{line}"
    );
    let stdout = text(&output.stdout);
    assert!(stdout.contains("FAIL  TCP connection"), "{stdout}");
    assert!(stdout.contains("skip  Audiobookshelf status"), "{stdout}");
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let cli = Cli::new();
    for args in [
        &["--no-such-flag"][..],
        &["login", "http://127.0.0.1:1", "--password-stdin"],
        &[
            "login",
            "http://127.0.0.1:1",
            "-u",
            "a",
            "--password-stdin",
            "--api-key-stdin",
        ],
        &["login", "ftp://127.0.0.1", "-u", "a", "--password-stdin"],
        &["watch", "extra"],
    ] {
        let output = cli.run(args, None).await;
        assert_eq!(code(&output), 2, "{args:?}: {}", text(&output.stderr));
        assert!(text(&output.stderr).starts_with("error: "), "{args:?}");
    }
    // No terminal to prompt on and no --password-stdin: say how to pass it, before any request.
    let output = cli
        .run(&["login", "http://127.0.0.1:1", "-u", "a"], None)
        .await;
    assert_eq!(code(&output), 2);
    assert!(one_error_line(&output).contains("--password-stdin"));
    // No address given and none saved.
    let output = cli.run(&["doctor"], None).await;
    assert_eq!(code(&output), 2);
    one_error_line(&output);
}

#[tokio::test]
async fn bad_input_is_a_usage_error_before_any_request_in_every_command() {
    let sim = abs_sim::start(SimConfig::default()).await.unwrap();
    let url = sim.base_url();
    let cli = Cli::new();
    let user = |name: &'static str| {
        [
            "login",
            url.as_str(),
            "--username",
            name,
            "--password-stdin",
        ]
    };
    for (args, said) in [
        (&user("")[..], "user name is empty"),
        (&user("   ")[..], "user name is empty"),
        (&user("ali\nce")[..], "control character"),
        (&user("\u{1b}[2Jroot")[..], "control character"),
        (
            &["login", "ftp://x", "-u", "a", "--password-stdin"][..],
            "http:// or https://",
        ),
        (&["doctor", "ftp://x"][..], "http:// or https://"),
        (&["doctor", "ftp://x", "--json"][..], "http:// or https://"),
        (
            &[
                "login",
                &format!("http://{}", sim.addr()),
                "-u",
                "a",
                "--password-stdin",
                "--pin-sha256",
                "AB:CD",
            ][..],
            "need an https:// address",
        ),
        (
            &[
                "login",
                "https://127.0.0.1:1",
                "-u",
                "a",
                "--password-stdin",
                "--pin-sha256",
                "AB:CD",
            ][..],
            "64 hex digits",
        ),
        (
            &[
                "login",
                "https://127.0.0.1:1",
                "-u",
                "a",
                "--password-stdin",
                "--ca-file",
                "/nonexistent/ca.pem",
            ][..],
            "/nonexistent/ca.pem",
        ),
    ] {
        let output = cli.run(args, Some("a password\n")).await;
        assert_eq!(code(&output), 2, "{args:?}: {}", text(&output.stderr));
        let line = one_error_line(&output);
        assert!(line.contains(said), "{args:?}: {line}");
        assert!(!line.contains('\u{1b}'), "the name is not echoed: {line:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    for path in ["/status", "/login", "/socket.io/"] {
        assert_eq!(sim.request_count(path), 0, "{path} was asked");
    }
}

#[tokio::test]
async fn watch_without_a_login_exits_3() {
    let cli = Cli::new();
    let output = cli.run(&["watch", "--json"], None).await;
    assert_eq!(code(&output), 3);
    assert!(one_error_line(&output).contains("abs-tray-cli login"));
    assert!(output.stdout.is_empty());
}

/// Polls the keyring until its entry differs from `old` (the refresh token rotated).
async fn wait_rotated(url: &ServerUrl, username: &str, old: &Secret) -> Secret {
    tokio::time::timeout(WAIT, async {
        loop {
            match keyring_entry(url, username).await {
                Some(new) if new.expose() != old.expose() => return new,
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    })
    .await
    .expect("the refresh token rotated")
}

#[tokio::test]
async fn trace_logs_of_login_watch_and_logout_hold_no_secret() {
    require_desktop_session();
    let name = unique("trace");
    let (sim, url) = sim_with_user(&name, true).await;
    let cli = Cli::traced();
    let login = cli.login(&sim, &name).await;
    let mut secrets = vec![keyring_entry(&url, &name).await.unwrap()];

    let mut child = cli.command(&["watch", "--json"]).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let stderr = tokio::spawn(async move {
        let mut all = Vec::new();
        BufReader::new(stderr).read_to_end(&mut all).await.unwrap();
        all
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let connected = |v: &Value| v["type"] == "status" && v["state"] == "connected";
    json_line_matching(&mut lines, &mut seen, "connected", connected).await;
    // A refresh (the access token expired under a live socket), then a server restart.
    sim.expire_access_tokens();
    sim.drop_sockets();
    json_line_matching(&mut lines, &mut seen, "reconnected", |v| !connected(v)).await;
    json_line_matching(&mut lines, &mut seen, "connected again", connected).await;
    secrets.push(wait_rotated(&url, &name, &secrets[0]).await);
    sim.restart_after(Duration::from_millis(300)).await.unwrap();
    json_line_matching(&mut lines, &mut seen, "offline", |v| !connected(v)).await;
    json_line_matching(&mut lines, &mut seen, "connected after", connected).await;
    interrupt(&child);
    while let Some(line) = lines.next_line().await.unwrap() {
        seen.push(line);
    }
    tokio::time::timeout(WAIT, child.wait())
        .await
        .unwrap()
        .unwrap();
    let watch_stderr = stderr.await.unwrap();
    if let Some(latest) = keyring_entry(&url, &name).await {
        secrets.push(latest);
    }
    let logout = cli.run(&["logout"], None).await;
    assert_eq!(code(&logout), 0, "{}", text(&logout.stderr));

    let watch_stderr = text(&watch_stderr);
    // Proof the search covers real trace output, not a quiet run.
    assert!(
        watch_stderr.contains("TRACE") && text(&login.stderr).contains("TRACE"),
        "trace logging was on"
    );
    assert!(
        !watch_stderr.contains('\x1b'),
        "no colour codes in a log that is not a terminal"
    );
    let outputs = [
        ("login stdout", text(&login.stdout)),
        ("login stderr", text(&login.stderr)),
        ("watch stdout", seen.join("\n")),
        ("watch stderr", watch_stderr),
        ("logout stdout", text(&logout.stdout)),
        ("logout stderr", text(&logout.stderr)),
    ];
    let files = all_files(cli.config.path())
        .into_iter()
        .map(|(path, bytes)| (path, text(&bytes)));
    let mut needles = vec![PASSWORD.to_owned(), PASSWORD.replace(' ', "%20")];
    needles.push(PASSWORD.replace(' ', "+"));
    needles.extend(secrets.iter().map(|s| s.expose().to_owned()));
    for (place, haystack) in outputs
        .into_iter()
        .map(|(place, text)| (place.to_owned(), text))
        .chain(files)
    {
        assert!(!haystack.contains("eyJ"), "a JWT in {place}");
        for needle in &needles {
            assert!(!haystack.contains(needle.as_str()), "a secret in {place}");
        }
    }
}

#[tokio::test]
async fn a_login_whose_settings_cannot_be_saved_leaves_nothing_behind() {
    require_desktop_session();
    let name = unique("unsaved");
    let (sim, url) = sim_with_user(&name, false).await;
    let cli = Cli::new();
    let command = cli.command_without_file_writes(&[
        "login",
        &sim.base_url(),
        "--username",
        &name,
        "--password-stdin",
    ]);
    let output = cli.finish(command, Some(&format!("{PASSWORD}\n"))).await;
    assert_eq!(code(&output), 1, "{}", text(&output.stderr));
    let line = one_error_line(&output);
    assert!(
        line.contains("settings.toml") && line.contains("undone"),
        "{line}"
    );
    assert!(output.stdout.is_empty(), "{}", text(&output.stdout));
    // The sign-in happened and was undone: the server session ended, the keyring holds nothing.
    assert_eq!(sim.request_count("/login"), 1);
    assert_eq!(sim.request_count("/logout"), 1);
    assert_eq!(keyring_entry(&url, &name).await, None);
    assert!(!cli.config.path().join("settings.toml").exists());
    // So there is truly nothing to sign out of.
    let logout = cli.run(&["logout"], None).await;
    assert_eq!(code(&logout), 0);
    assert!(text(&logout.stdout).contains("nothing to do"));
    // And with writable settings the same login works.
    cli.login(&sim, &name).await;
    assert!(keyring_entry(&url, &name).await.is_some());
}

#[tokio::test]
async fn logout_succeeds_once_signed_out_even_when_the_settings_cannot_be_written() {
    require_desktop_session();
    let name = unique("logout-ro");
    let (sim, url) = sim_with_user(&name, false).await;
    let cli = Cli::new();
    cli.login(&sim, &name).await;
    let refresh = keyring_entry(&url, &name).await.unwrap();

    let output = cli
        .finish(cli.command_without_file_writes(&["logout"]), None)
        .await;
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("Signed out"));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("warning: ") && stderr.contains("settings.toml"),
        "{stderr}"
    );
    assert_eq!(keyring_entry(&url, &name).await, None);
    let client = AbsClient::new(url.clone(), &TlsConfig::system().unwrap()).unwrap();
    assert!(matches!(
        client.refresh(&refresh).await,
        Err(AuthError::RefreshRejected { .. })
    ));
    // The settings still name the user: the next logout finishes the job, and says so.
    let again = cli.run(&["logout"], None).await;
    assert_eq!(code(&again), 0, "{}", text(&again.stderr));
    assert!(text(&again.stdout).contains("Signed out"));
    let settings = std::fs::read_to_string(cli.config.path().join("settings.toml")).unwrap();
    assert!(!settings.contains(&name), "{settings}");
}

#[tokio::test]
async fn a_fifo_in_place_of_the_settings_hangs_no_command() {
    let sim = abs_sim::start(SimConfig::default()).await.unwrap();
    let cli = Cli::new();
    let fifo = cli.config.path().join("settings.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let url = sim.base_url();
    for args in [
        &["login", url.as_str(), "-u", "a", "--password-stdin"][..],
        &["watch"],
        &["watch", "--json"],
        &["logout"],
    ] {
        // `run` fails the test when a command does not end in time.
        let output = cli.run(args, Some("a password\n")).await;
        assert_eq!(code(&output), 1, "{args:?}: {}", text(&output.stderr));
        let line = one_error_line(&output);
        assert!(line.contains("not a regular file"), "{args:?}: {line}");
    }
    // The doctor checks without the saved settings, and says why.
    let output = cli.run(&["doctor", &url], None).await;
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("not a regular file"));
    assert!(fifo.exists(), "the FIFO is left as it is");
}

#[tokio::test]
async fn login_pins_a_self_signed_certificate_and_the_settings_keep_the_choice() {
    require_desktop_session();
    let name = unique("pin");
    let (sim, url) = sim_with_user(&name, false).await;
    let identity = front::self_signed("abs-sim").expect("a certificate");
    let front = tls_front(&sim, &identity).await;
    let https = format!("https://127.0.0.1:{}", front.port());
    let cli = Cli::new();

    // Not trusted by the system: the error says what to do.
    let output = cli.login_with(&https, &name, &[]).await;
    assert_eq!(code(&output), 1, "{}", text(&output.stderr));
    let line = one_error_line(&output);
    assert!(line.contains("not trusted"), "{line}");
    // Another fingerprint than the server's: refused, nothing saved.
    let wrong = "AB:".repeat(31) + "AB";
    let output = cli
        .login_with(&https, &name, &["--pin-sha256", &wrong])
        .await;
    assert_eq!(code(&output), 1, "{}", text(&output.stderr));
    assert!(one_error_line(&output).contains("fingerprint"));
    assert!(!cli.config.path().join("settings.toml").exists());

    // The right one, as `doctor` prints it (colons) or bare lowercase hex.
    let fingerprint = abs_tray_core::tls::fingerprint(&identity.cert_der);
    let bare = fingerprint.replace(':', "").to_lowercase();
    let output = cli
        .login_with(&https, &name, &["--pin-sha256", &bare])
        .await;
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains(&format!("as {name}")));
    let settings = std::fs::read_to_string(cli.config.path().join("settings.toml")).unwrap();
    assert!(
        settings.contains(&format!("pinned_cert_sha256 = \"{fingerprint}\"")),
        "{settings}"
    );
    let https_url = ServerUrl::parse(&https).unwrap();
    assert!(keyring_entry(&https_url, &name).await.is_some());
    assert_eq!(keyring_entry(&url, &name).await, None);
    // The saved choice is used by the next commands: the live connection over TLS works.
    let mut child = cli.command(&["watch", "--json"]).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    json_line_matching(&mut lines, &mut Vec::new(), "connected over TLS", |v| {
        v["type"] == "status" && v["state"] == "connected"
    })
    .await;
    interrupt(&child);
    assert_eq!(code(&cli.run(&["logout"], None).await), 0);
}

#[tokio::test]
async fn login_trusts_a_private_ca_and_a_name_the_certificate_lacks_is_a_host_name_error() {
    require_desktop_session();
    let name = unique("ca");
    let (sim, _url) = sim_with_user(&name, false).await;
    let (ca, leaf) = front::private_ca("Home CA").expect("a private CA");
    let front = tls_front(&sim, &leaf).await;
    let cli = Cli::new();
    let ca_file = cli.config.path().join("home-ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    let ca_arg = ca_file.to_str().unwrap();

    // The certificate names 127.0.0.1 only; "localhost" is the same server under another name.
    let by_name = format!("https://localhost:{}", front.port());
    let output = cli
        .login_with(&by_name, &name, &["--ca-file", ca_arg])
        .await;
    assert_eq!(code(&output), 1, "{}", text(&output.stderr));
    let line = one_error_line(&output);
    assert!(line.contains("not made out to localhost"), "{line}");
    assert!(
        !line.contains("trust its CA") && !line.contains("pin"),
        "trusting the CA is done and cannot help: {line}"
    );
    assert!(!cli.config.path().join("settings.toml").exists());

    let by_ip = format!("https://127.0.0.1:{}", front.port());
    let output = cli.login_with(&by_ip, &name, &["--ca-file", ca_arg]).await;
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    let settings = std::fs::read_to_string(cli.config.path().join("settings.toml")).unwrap();
    assert!(
        settings.contains(&format!("extra_ca_pem = \"{ca_arg}\"")),
        "{settings}"
    );
    assert_eq!(code(&cli.run(&["logout"], None).await), 0);
}

#[tokio::test]
async fn login_behind_a_proxy_that_refuses_websockets_says_so_and_watch_points_at_doctor() {
    require_desktop_session();
    let name = unique("proxy");
    let (sim, _url) = sim_with_user(&name, true).await;
    let front = Front::start(
        sim.addr(),
        FrontConfig {
            strip_upgrade: true,
            ..FrontConfig::default()
        },
    )
    .await
    .expect("a proxy that drops upgrade headers");
    let proxied = format!("http://127.0.0.1:{}", front.port());
    let cli = Cli::new();

    let output = cli.login_with(&proxied, &name, &[]).await;
    // Signed in (kept), but no event would ever arrive: exit 5, one sentence with the fix.
    assert_eq!(code(&output), 5, "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains(&format!("Signed in to {proxied} as {name}")));
    let line = one_error_line(&output);
    for part in [
        "refuses the live connection (WebSocket)",
        "Upgrade and Connection headers for /socket.io",
        "proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\";",
        "abs-tray-cli doctor",
    ] {
        assert!(line.contains(part), "{part:?} in {line}");
    }
    let proxied_url = ServerUrl::parse(&proxied).unwrap();
    assert!(keyring_entry(&proxied_url, &name).await.is_some());
    assert!(
        sim.request_count("/socket.io/") >= 1,
        "the live connection was tried"
    );

    // `watch` keeps failing the same way: one hint, however many retries.
    let mut child = cli.command(&["watch", "--json"]).spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let hint = tokio::time::timeout(WAIT, stderr.next_line())
        .await
        .expect("a hint on stderr")
        .unwrap()
        .unwrap();
    assert!(
        hint.starts_with("hint: ") && hint.contains("abs-tray-cli doctor"),
        "{hint}"
    );
    assert!(hint.contains("Upgrade and Connection"), "{hint}");
    let offline = |v: &Value| v["type"] == "status" && v["state"] == "offline";
    let before = seen_count(&seen, offline);
    while seen_count(&seen, offline) < before + 3 {
        json_line_matching(&mut lines, &mut seen, "more failed attempts", offline).await;
    }
    interrupt(&child);
    let rest = tokio::time::timeout(WAIT, async {
        let mut rest = Vec::new();
        while let Some(line) = stderr.next_line().await.unwrap() {
            rest.push(line);
        }
        rest
    })
    .await
    .unwrap();
    assert!(
        rest.iter().all(|l| !l.starts_with("hint: ")),
        "one hint only: {rest:?}"
    );
    tokio::time::timeout(WAIT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(code(&cli.run(&["logout"], None).await), 0);
}

/// How many of the lines read so far match `pred`.
fn seen_count(seen: &[String], pred: impl Fn(&Value) -> bool) -> usize {
    seen.iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| pred(v))
        .count()
}

/// TLS with `identity` in front of the simulator; REST and WebSockets pass through.
async fn tls_front(sim: &Sim, identity: &Identity) -> Front {
    Front::start(
        sim.addr(),
        FrontConfig {
            tls: Some(identity.clone()),
            ..FrontConfig::default()
        },
    )
    .await
    .expect("a TLS front")
}
