//! The machine watcher on a private system bus (its own `dbus-daemon`), where the test owns
//! logind's and NetworkManager's names and sends their signals: waking up and a connected
//! network nudge; going to sleep, a network that is not connected, an impostor and a signal
//! sent to the watcher alone do not. Without a bus the watcher says so and does nothing.
#![cfg(target_os = "linux")]
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns are test code too: a panic is a test failure"
)]

mod machine_harness;

use std::time::Duration;

use abs_tray_core::machine::{Bus, MachineWatch, Nudge};
use machine_harness::{SystemBus, nm_state, prepare_for_sleep};
use tokio::sync::mpsc;

/// Limit for anything that should take well under a second.
const WAIT: Duration = Duration::from_secs(10);

/// A watcher on `bus` whose nudges arrive on the returned channel, once it listens.
async fn watcher(bus: &SystemBus) -> (MachineWatch, mpsc::UnboundedReceiver<Nudge>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut watch = MachineWatch::spawn(Bus::Address(bus.address.clone()), move |nudge| {
        let _ = tx.send(nudge);
    });
    assert!(
        tokio::time::timeout(WAIT, watch.listening()).await.unwrap(),
        "the watcher listens on the private bus"
    );
    (watch, rx)
}

/// The next nudge, which must come in time.
async fn next(nudges: &mut mpsc::UnboundedReceiver<Nudge>) -> Nudge {
    tokio::time::timeout(WAIT, nudges.recv())
        .await
        .expect("a nudge in time")
        .expect("the watcher is running")
}

#[tokio::test]
async fn waking_up_and_a_connected_network_nudge_and_nothing_else_does() {
    let bus = SystemBus::start();
    let (_watch, mut nudges) = watcher(&bus).await;
    let logind = bus.service("org.freedesktop.login1").await;
    let nm = bus.service("org.freedesktop.NetworkManager").await;

    // The watcher reads one ordered stream, so anything that wrongly nudged would come first.
    prepare_for_sleep(&logind, true).await;
    for state in [10, 20, 30, 40] {
        nm_state(&nm, state).await;
    }
    prepare_for_sleep(&logind, false).await;
    assert_eq!(next(&mut nudges).await, Nudge::Resumed);

    // Connected global, site and local: a server on the LAN needs no internet.
    for state in [70, 20, 60, 40, 50] {
        nm_state(&nm, state).await;
    }
    for _ in 0..3 {
        assert_eq!(next(&mut nudges).await, Nudge::NetworkUp);
    }
    prepare_for_sleep(&logind, false).await;
    assert_eq!(next(&mut nudges).await, Nudge::Resumed);
    assert!(nudges.try_recv().is_err(), "nothing else nudged");
}

#[tokio::test]
async fn an_impostor_or_a_signal_sent_to_the_watcher_alone_does_not_nudge() {
    let bus = SystemBus::start();
    let (_watch, mut nudges) = watcher(&bus).await;
    let logind = bus.service("org.freedesktop.login1").await;
    let impostor = bus.connect().await;
    // The impostor's signals are routed before the services' below, so on the watcher's one
    // ordered stream anything they wrongly caused would come first.

    // Broadcast by a connection that does not own logind's name: the bus does not pass it on.
    prepare_for_sleep(&impostor, false).await;
    // Sent to the watcher's connection directly, which no match rule checks.
    let proxy = zbus::fdo::DBusProxy::new(&impostor).await.unwrap();
    for name in proxy.list_names().await.unwrap() {
        if name.starts_with(':') && name.as_str() != impostor.unique_name().unwrap().as_str() {
            impostor
                .emit_signal(
                    Some(name.as_str()),
                    "/org/freedesktop/login1",
                    "org.freedesktop.login1.Manager",
                    "PrepareForSleep",
                    &(false,),
                )
                .await
                .unwrap();
        }
    }
    // A round trip through the bus: the impostor's signals were routed before it returns.
    proxy.get_id().await.unwrap();

    // NetworkManager's name is not logind's either.
    nm_state(&logind, 70).await;
    let nm = bus.service("org.freedesktop.NetworkManager").await;
    nm_state(&nm, 70).await;
    assert_eq!(next(&mut nudges).await, Nudge::NetworkUp);
    prepare_for_sleep(&logind, false).await;
    assert_eq!(next(&mut nudges).await, Nudge::Resumed);
    assert!(
        nudges.try_recv().is_err(),
        "only the owners' broadcasts nudged"
    );
}

#[tokio::test]
async fn without_a_bus_the_watcher_gives_up_quietly_and_logind_or_nm_may_be_missing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("unix:path={}", dir.path().join("no-bus").display());
    let mut watch = MachineWatch::spawn(Bus::Address(missing), |_| panic!("no bus, no nudge"));
    assert!(!tokio::time::timeout(WAIT, watch.listening()).await.unwrap());

    // A bus where neither service runs (a server, a container): the watcher still listens, and
    // a service that starts later is heard.
    let bus = SystemBus::start();
    let (_watch, mut nudges) = watcher(&bus).await;
    let nm = bus.service("org.freedesktop.NetworkManager").await;
    nm_state(&nm, 70).await;
    assert_eq!(next(&mut nudges).await, Nudge::NetworkUp);
}
