//! The `abs-sim` binary: first stdout line, flags.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn prints_its_url_first_and_honours_flags() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_abs-sim"))
        .args([
            "--listen",
            ":0",
            "--server-version",
            "2.25.0",
            "--user",
            "alice:pw:admin",
            "--control",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("a first line in time")
        .unwrap()
        .unwrap();
    let url = first
        .strip_prefix("abs-sim listening on http://127.0.0.1:")
        .map(|port| format!("http://127.0.0.1:{port}"))
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    assert!(
        first[first.rfind(':').unwrap() + 1..]
            .parse::<u16>()
            .unwrap()
            > 0
    );

    let http = reqwest::Client::new();
    let status: Value = http
        .get(format!("{url}/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["serverVersion"], "2.25.0");
    let login = http
        .post(format!("{url}/login"))
        .json(&json!({"username": "alice", "password": "pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let body: Value = login.json().await.unwrap();
    assert_eq!(body["user"]["type"], "admin");
    let state = http.get(format!("{url}/__sim/state")).send().await.unwrap();
    assert_eq!(state.status(), 200);

    child.start_kill().unwrap();
    let _ = child.wait().await;
}
