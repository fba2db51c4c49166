//! Peak memory of reading a huge `init` (100,000 users, ~12 MB) the way the connection does: the
//! frame a hostile or very large server sends. `cargo build -p abs-tray-core --example
//! init_memory && /usr/bin/time -v target/debug/examples/init_memory` (or read the `VmHWM` lines
//! it prints, Linux). Building a JSON tree of the frame first, as the socket once did, peaked at
//! ~114 MiB here; reading the models from the text keeps the peak near the frame's own size.

use std::time::Instant;

use abs_tray_core::protocol::{self, ServerEvent, UsersOnline};
use abs_tray_core::socket::{self, Frame};

/// Users in the generated `init`.
const USERS: usize = 100_000;

/// The peak resident set so far, in KiB (`VmHWM`), where `/proc` has it.
fn peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Appends `users` presence entries, joined by commas, written directly so no JSON tree is built.
fn push_users(text: &mut String, users: usize) {
    text.reserve(users * 120);
    for i in 0..users {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&format!(
            r#"{{"id":"user-{i:06}","username":"Visitor {i}","type":"user","session":null,"lastSeen":null,"createdAt":0,"connections":1}}"#
        ));
    }
}

/// The `42["init",{...}]` frame text.
fn frame(users: usize) -> String {
    let mut text = String::from(r#"42["init",{"userId":"root","username":"root","usersOnline":["#);
    push_users(&mut text, users);
    text.push_str("]}]");
    text
}

/// The `GET /api/users/online` reply body, as the REST client holds it after reading.
fn users_online_body(users: usize) -> Vec<u8> {
    let mut text = String::from(r#"{"usersOnline":["#);
    push_users(&mut text, users);
    text.push_str(r#"],"openSessions":[]}"#);
    text.into_bytes()
}

fn main() {
    let text = frame(USERS);
    println!("frame: {} bytes", text.len());
    println!("VmHWM after building the frame: {:?} KiB", peak_kib());
    // What the socket and the connection do with it: arguments kept as text, models read from it.
    let Frame::Event(raw) = socket::parse_frame(&text) else {
        println!("the frame did not parse");
        return;
    };
    drop(text);
    let started = Instant::now();
    let event = protocol::decode(&raw.name, &raw.args);
    println!("init decoded in {:?}", started.elapsed());
    drop(raw);
    match event {
        Ok(ServerEvent::Init(init)) => println!(
            "decoded init with {} users kept",
            init.users_online.map_or(0, |u| u.len())
        ),
        other => println!("unexpected: {other:?}"),
    }
    println!("VmHWM after decoding: {:?} KiB", peak_kib());
    // What the REST client does with the same crowd from `GET /api/users/online`.
    let body = users_online_body(USERS);
    println!("users/online body: {} bytes", body.len());
    let started = Instant::now();
    match serde_json::from_slice::<UsersOnline>(&body) {
        Ok(online) => println!(
            "users/online kept {} users, decoded in {:?}",
            online.users_online.len(),
            started.elapsed()
        ),
        Err(err) => println!("users/online did not decode: {err}"),
    }
    drop(body);
    println!("VmHWM after the REST reply: {:?} KiB", peak_kib());
}
