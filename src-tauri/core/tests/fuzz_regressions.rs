//! Replays every committed fuzz seed (fixture-derived inputs and crash reproducers) through the
//! very code the cargo-fuzz targets run, so CI checks them without cargo-fuzz or a nightly.

use std::fs;
use std::path::{Path, PathBuf};

use abs_tray_core::protocol;
use abs_tray_core::socket::Frame;

#[path = "../fuzz/src/lib.rs"]
#[allow(
    dead_code,
    reason = "shared with the fuzz targets, which use all of it"
)]
mod harness;

/// The committed seeds of one target, sorted, with their contents.
fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, bytes)
        })
        .collect()
}

/// Whether a seed is a reproducer of a crash found by fuzzing rather than a captured payload.
fn is_reproducer(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("crash-"))
}

#[test]
fn decode_seeds_replay_and_captured_ones_decode() {
    let all = seeds("decode");
    assert!(all.len() >= 50, "only {} decode seeds", all.len());
    for (path, bytes) in &all {
        let decoded = harness::decode(bytes);
        if !is_reproducer(path) {
            // Each is a real server payload: it decodes, through both doors alike.
            assert!(decoded.is_some(), "{} did not decode", path.display());
        }
    }
}

#[test]
fn packet_seeds_replay_and_captured_events_decode() {
    let all = seeds("packet");
    assert!(all.len() >= 20, "only {} packet seeds", all.len());
    let mut events = 0;
    for (path, bytes) in &all {
        let frame = harness::packet(bytes);
        if is_reproducer(path) {
            continue;
        }
        // Each is a frame a real server sends: read as what it is, events decoded.
        let frame = frame.unwrap_or_else(|| panic!("{} is not UTF-8", path.display()));
        // The open frame is read by the handshake alone; mid-session it is not a frame we take.
        let is_open = path.file_name().is_some_and(|n| n == "open");
        assert_eq!(
            frame == Frame::Malformed,
            is_open,
            "{}: {frame:?}",
            path.display()
        );
        if let Frame::Event(event) = frame {
            events += 1;
            let decoded = protocol::decode(&event.name, &event.args);
            assert!(decoded.is_ok(), "{}: {decoded:?}", path.display());
        }
    }
    assert!(events >= 15, "only {events} event frames");
}

#[test]
fn policy_seeds_replay_through_live_state_and_policy() {
    let all = seeds("policy");
    assert!(all.len() >= 5, "only {} policy seeds", all.len());
    for (path, bytes) in &all {
        let run = harness::policy(bytes);
        if is_reproducer(path) {
            continue;
        }
        // Every event line of a captured timeline decodes and reaches live state.
        let text = std::str::from_utf8(bytes).expect("seeds are UTF-8");
        let events = text.lines().filter(|l| l.starts_with('[')).count();
        assert_eq!(run.events, events, "{}", path.display());
        assert!(
            run.decisions > 0,
            "{}: no decisions ({run:?})",
            path.display()
        );
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == "root-everything-on" || name == "root" {
            assert!(run.popups > 0, "{}: no popups ({run:?})", path.display());
        }
    }
}

/// The invariants themselves catch what they are for: a hostile name reaches a popup only clean.
#[test]
fn hostile_names_reach_popups_clean_and_capped() {
    let evil = format!("\u{202E}eve\u{7}\u{1b}[31m{}", "x".repeat(5_000));
    let user = |id: &str, name: &str| {
        serde_json::json!({"id": id, "username": name, "type": "user", "session": null,
            "lastSeen": null, "createdAt": 1})
    };
    let init = serde_json::json!(["init", {"userId": "root", "username": "root",
        "usersOnline": [user("root", "root")]}]);
    let script = [
        r#"#{"online_debounce_s":0,"server_activity":true}"#.to_owned(),
        init.to_string(),
        "!c".to_owned(),
        r#"?{"users":{"usersOnline":[]},"tasks":[]}"#.to_owned(),
        serde_json::json!(["user_online", user("eve", &evil)]).to_string(),
        serde_json::json!(["admin_message", evil.repeat(3)]).to_string(),
        "+1000".to_owned(),
    ]
    .join("\n");
    let run = harness::policy(script.as_bytes());
    assert_eq!(run.events, 3);
    assert!(run.popups >= 2, "{run:?}");
}
