//! `--scenario demo`: believable activity forever, through the same API as tests use.

use std::time::Duration;

use crate::api;
use crate::logs::LogLevel;
use crate::playback::DeviceSpec;
use crate::state::CoreRef;

/// A demo listener and the device they listen on.
struct Listener {
    name: &'static str,
    device: fn() -> DeviceSpec,
    session: Option<String>,
}

fn android() -> DeviceSpec {
    DeviceSpec {
        device_id: Some("demo-alice-pixel".into()),
        client_name: Some("Abs Android".into()),
        client_version: Some("0.9.81-beta".into()),
        manufacturer: Some("Google".into()),
        model: Some("Pixel 8".into()),
        sdk_version: Some("34".into()),
        device_name: Some("Google Pixel 8".into()),
    }
}

fn web() -> DeviceSpec {
    DeviceSpec {
        device_id: Some("demo-bob-firefox".into()),
        client_name: Some("Abs Web".into()),
        ..DeviceSpec::default()
    }
}

fn ios() -> DeviceSpec {
    DeviceSpec {
        device_id: Some("demo-carol-iphone".into()),
        client_name: Some("Abs iOS".into()),
        client_version: Some("0.9.78-beta".into()),
        manufacturer: Some("Apple".into()),
        model: Some("iPhone 15".into()),
        device_name: Some("Apple iPhone 15".into()),
        ..DeviceSpec::default()
    }
}

const MESSAGES: &[&str] = &[
    "Server maintenance tonight at 23:00, expect a short outage.",
    "New books were added to the Audiobooks library. Enjoy!",
    "Reminder: please close the app when you stop listening.",
    "Backups are done for this week.",
];

/// Tick length: players sync every 10 s.
const TICK: Duration = Duration::from_secs(10);

fn chance(p: f64) -> bool {
    rand::random::<f64>() < p
}

fn pick(n: usize) -> usize {
    if n == 0 { 0 } else { rand::random_range(0..n) }
}

/// Runs the demo until the task is aborted.
pub(crate) async fn run(core: CoreRef) {
    let mut listeners = vec![
        Listener {
            name: "alice",
            device: android,
            session: None,
        },
        Listener {
            name: "bob",
            device: web,
            session: None,
        },
        Listener {
            name: "carol",
            device: ios,
            session: None,
        },
    ];
    for l in &listeners {
        if api::lookup_user(&core, l.name).is_none() {
            let _ = api::add_user(&core, l.name, l.name, false);
        }
    }
    let mut tick: u64 = 0;
    let mut running_scan: Option<(String, u64)> = None;
    let mut interval = tokio::time::interval(TICK);
    loop {
        interval.tick().await;
        tick += 1;
        let Some(library) = api::first_library(&core) else {
            continue;
        };
        let items = api::item_ids(&core, &library);
        for (i, l) in listeners.iter_mut().enumerate() {
            step(&core, l, &items, tick, i as u64);
        }
        if let Some((task, started)) = running_scan.take() {
            if tick > started {
                let added = u32::from(chance(0.6)) + u32::from(chance(0.2));
                let _ = api::finish_scan(&core, &task, added, u32::from(chance(0.3)), 0);
            } else {
                running_scan = Some((task, started));
            }
        } else if tick % 21 == 7 {
            running_scan = api::start_scan(&core, &library).ok().map(|t| (t, tick));
        }
        if tick % 24 == 12 {
            api::admin_message(&core, MESSAGES[pick(MESSAGES.len())]);
        }
        if tick.is_multiple_of(6) {
            api::emit_log(
                &core,
                LogLevel::Info,
                "[CronManager] Checking for podcast episodes to download",
            );
        }
    }
}

/// One listener's 10 seconds: start, listen (sync), sometimes jump near the end, finish or stop.
fn step(core: &CoreRef, l: &mut Listener, items: &[String], tick: u64, offset: u64) {
    let Some(sid) = l.session.clone() else {
        // Two listeners start right away so the demo is never empty at first.
        let kick_off = tick == 1 && offset != 1;
        if (kick_off || chance(0.3)) && !items.is_empty() {
            let item = &items[pick(items.len())];
            l.session = api::start_session(core, l.name, item, (l.device)()).ok();
        }
        return;
    };
    let position = {
        let st = core.lock();
        st.session(&sid)
            .map(|s| (s.current_time, s.item.duration, s.library_item_id.clone()))
    };
    let Some((current, duration, item)) = position else {
        l.session = None;
        return;
    };
    if duration - current < 30.0 {
        let _ = api::finish_book(core, l.name, &item);
        l.session = None;
        return;
    }
    if chance(0.04) {
        let _ = api::close_session(core, &sid);
        l.session = None;
        return;
    }
    let next = if (tick + offset * 6).is_multiple_of(18) {
        duration - 25.0
    } else {
        current + TICK.as_secs_f64() * (0.9 + rand::random::<f64>() * 0.3)
    };
    if api::sync_session(core, &sid, next).is_err() {
        l.session = None;
    }
}
