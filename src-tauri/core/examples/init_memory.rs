//! Peak memory of reading a huge `init` (100,000 users, ~12 MB) the way the connection does: the
//! frame a hostile or very large server sends. `cargo build -p abs-tray-core --example
//! init_memory && /usr/bin/time -v target/debug/examples/init_memory` (or read the `VmHWM` lines
//! it prints, Linux). Building a JSON tree of the frame first, as the socket once did, peaked at
//! ~114 MiB here; reading the models from the text keeps the peak near the frame's own size.

use abs_tray_core::protocol::{self, ServerEvent};
use abs_tray_core::socket::{self, Frame};

/// Users in the generated `init`.
const USERS: usize = 100_000;

/// The peak resident set so far, in KiB (`VmHWM`), where `/proc` has it.
fn peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The `42["init",{...}]` frame text, written directly so no JSON tree is built to make it.
fn frame(users: usize) -> String {
    let mut text = String::with_capacity(users * 120 + 100);
    text.push_str(r#"42["init",{"userId":"root","username":"root","usersOnline":["#);
    for i in 0..users {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&format!(
            r#"{{"id":"user-{i:06}","username":"Visitor {i}","type":"user","session":null,"lastSeen":null,"createdAt":0,"connections":1}}"#
        ));
    }
    text.push_str("]}]");
    text
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
    let event = protocol::decode(&raw.name, &raw.args);
    drop(raw);
    match event {
        Ok(ServerEvent::Init(init)) => println!(
            "decoded init with {} users kept",
            init.users_online.map_or(0, |u| u.len())
        ),
        other => println!("unexpected: {other:?}"),
    }
    println!("VmHWM after decoding: {:?} KiB", peak_kib());
}
