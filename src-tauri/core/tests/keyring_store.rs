//! [`KeyringStore`] against the REAL gnome-keyring of the private session that
//! `scripts/desktop-session.sh` starts (a throw-away bus, HOME and keyring). Outside that session
//! every test fails with instructions instead of touching the user's own keyring.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns are test code too: a panic is a test failure"
)]

use std::collections::HashMap;
use std::process::Command;
use std::sync::mpsc;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use abs_tray_core::secret::Secret;
use abs_tray_core::server_url::ServerUrl;
use abs_tray_core::token_store::{
    Account, AsyncTokenStore, KeyringStore, SERVICE, StoreError, TokenStore,
};

/// Tests that lock the default collection take this exclusively; all others share it.
static DEFAULT_COLLECTION: RwLock<()> = RwLock::new(());
/// How long a keyring call may take before the test calls it a hang (an unlock prompt).
const HANG: Duration = Duration::from_secs(20);
/// Set in the child process of [`no_session_bus_is_unavailable`].
const CHILD_ENV: &str = "ABS_TRAY_KEYRING_TEST_CHILD";

/// Fails (never skips) outside the private desktop session.
fn require_desktop_session() {
    assert!(
        std::env::var("ABS_TRAY_DESKTOP_SESSION").as_deref() == Ok("1"),
        "run through scripts/desktop-session.sh (make test does)"
    );
}

/// An account unique to this test run, so reruns and parallel tests never share entries.
fn account(host: &str, user: &str) -> Account {
    let url = ServerUrl::parse(&format!("https://{host}.test/{}", std::process::id())).unwrap();
    Account::new(&url, user)
}

/// Runs a keyring call on its own thread and fails the test if it does not return in time.
fn within_deadline<T: Send + 'static>(call: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(call());
    });
    rx.recv_timeout(HANG)
        .expect("the keyring call hung (waiting for an unlock prompt?)")
}

/// What `secret-tool` (another Secret Service client) finds for the account.
fn secret_tool_lookup(account: &Account) -> Option<String> {
    let output = Command::new("secret-tool")
        .args(["lookup", "service", SERVICE, "username"])
        .arg(account.keyring_user())
        .output()
        .expect("secret-tool runs");
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn set_get_delete_round_trip_in_the_real_keyring() {
    require_desktop_session();
    let _shared = DEFAULT_COLLECTION.read();
    let store = KeyringStore::new();
    let account = account("roundtrip", "alice");
    assert_eq!(store.get(&account).unwrap(), None);
    store.set(&account, &Secret::new("refresh-1")).unwrap();
    assert_eq!(store.get(&account).unwrap(), Some(Secret::new("refresh-1")));
    // Really in gnome-keyring, readable by any Secret Service client.
    assert_eq!(secret_tool_lookup(&account).as_deref(), Some("refresh-1"));
    // Replacing keeps one entry.
    store.set(&account, &Secret::new("refresh-2")).unwrap();
    assert_eq!(store.get(&account).unwrap(), Some(Secret::new("refresh-2")));
    store.delete(&account).unwrap();
    assert_eq!(store.get(&account).unwrap(), None);
    assert_eq!(secret_tool_lookup(&account), None);
    // Deleting what is not there is fine.
    store.delete(&account).unwrap();
}

#[test]
fn servers_and_users_do_not_collide() {
    require_desktop_session();
    let _shared = DEFAULT_COLLECTION.read();
    let store = KeyringStore::new();
    let entries = [
        (account("one", "alice"), "alice-on-one"),
        (account("two", "alice"), "alice-on-two"),
        (account("one", "bob"), "bob-on-one"),
    ];
    for (account, secret) in &entries {
        store.set(account, &Secret::new(*secret)).unwrap();
    }
    for (account, secret) in &entries {
        assert_eq!(store.get(account).unwrap(), Some(Secret::new(*secret)));
    }
    store.delete(&entries[0].0).unwrap();
    assert_eq!(store.get(&entries[0].0).unwrap(), None);
    assert_eq!(
        store.get(&entries[1].0).unwrap(),
        Some(Secret::new("alice-on-two"))
    );
    for (account, _) in &entries {
        store.delete(account).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_wrapper_works_inside_a_multi_thread_runtime() {
    require_desktop_session();
    let _shared = DEFAULT_COLLECTION.read();
    let store = AsyncTokenStore::new(Arc::new(KeyringStore::new()));
    let account = account("async", "alice");
    store
        .set(&account, &Secret::new("from-a-runtime"))
        .await
        .unwrap();
    let (a, b) = tokio::join!(store.get(&account), store.get(&account));
    assert_eq!(a.unwrap(), Some(Secret::new("from-a-runtime")));
    assert_eq!(b.unwrap(), Some(Secret::new("from-a-runtime")));
    store.delete(&account).await.unwrap();
    assert_eq!(store.get(&account).await.unwrap(), None);
}

#[test]
fn no_session_bus_is_unavailable() {
    require_desktop_session();
    // A child process with a bus address that leads nowhere: no global state is changed here.
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_without_a_bus", "--ignored", "--nocapture"])
        .env(CHILD_ENV, "no-bus")
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/abs-tray-test/bus",
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("CHILD-CHECKED"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The body of [`no_session_bus_is_unavailable`], run only in its child process.
#[test]
#[ignore = "run by no_session_bus_is_unavailable in a child process"]
fn child_without_a_bus() {
    if std::env::var(CHILD_ENV).as_deref() != Ok("no-bus") {
        return;
    }
    let store = KeyringStore::new();
    let account = account("nobus", "alice");
    let results = [
        within_deadline({
            let account = account.clone();
            move || store.get(&account).map(drop)
        }),
        within_deadline({
            let account = account.clone();
            move || store.set(&account, &Secret::new("x"))
        }),
        within_deadline(move || store.delete(&account)),
    ];
    for result in results {
        let err = result.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
        assert_eq!(err.to_string(), "the system keyring is unavailable");
        assert_eq!(err.code(), "keyring_unavailable");
    }
    println!("CHILD-CHECKED");
}

/// Raw Secret Service calls the store never makes: gnome-keyring's prompt-free master-password
/// interface, to lock and unlock collections in a test without a human.
#[cfg(target_os = "linux")]
mod raw {
    use std::collections::HashMap;

    use zbus::blocking::Connection;
    use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

    const DEST: &str = "org.freedesktop.secrets";
    const SERVICE_PATH: &str = "/org/freedesktop/secrets";
    const SERVICE_IFACE: &str = "org.freedesktop.Secret.Service";
    const INTERNAL_IFACE: &str = "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface";
    /// The login keyring password `scripts/desktop-session.sh` unlocks the session with.
    pub const SESSION_PASSWORD: &str = "test-session";

    /// A connection with a plain-text Secret Service session (private bus, test data only).
    pub struct Keyring {
        conn: Connection,
        session: OwnedObjectPath,
    }

    /// A Secret Service `Secret` struct `(oayays)`.
    type SecretStruct<'a> = (&'a OwnedObjectPath, Vec<u8>, Vec<u8>, &'a str);

    impl Keyring {
        pub fn connect() -> Self {
            let conn = Connection::session().unwrap();
            let reply = conn
                .call_method(
                    Some(DEST),
                    SERVICE_PATH,
                    Some(SERVICE_IFACE),
                    "OpenSession",
                    &("plain", Value::from("")),
                )
                .unwrap();
            let (_, session): (OwnedValue, OwnedObjectPath) = reply.body().deserialize().unwrap();
            Self { conn, session }
        }

        fn secret<'a>(&'a self, value: &str) -> SecretStruct<'a> {
            (
                &self.session,
                Vec::new(),
                value.as_bytes().to_vec(),
                "text/plain",
            )
        }

        /// A new collection protected by `password`, created without a prompt.
        pub fn create_collection(&self, label: &str, password: &str) -> OwnedObjectPath {
            let props = HashMap::from([(
                "org.freedesktop.Secret.Collection.Label",
                Value::from(label),
            )]);
            let reply = self
                .conn
                .call_method(
                    Some(DEST),
                    SERVICE_PATH,
                    Some(INTERNAL_IFACE),
                    "CreateWithMasterPassword",
                    &(props, self.secret(password)),
                )
                .unwrap();
            reply.body().deserialize().unwrap()
        }

        /// An item with the attributes the keyring store searches for.
        pub fn create_item(&self, collection: &OwnedObjectPath, attrs: HashMap<&str, &str>) {
            let props = HashMap::from([
                (
                    "org.freedesktop.Secret.Item.Label",
                    Value::from("abs-tray test"),
                ),
                ("org.freedesktop.Secret.Item.Attributes", Value::from(attrs)),
            ]);
            self.conn
                .call_method(
                    Some(DEST),
                    collection.as_str(),
                    Some("org.freedesktop.Secret.Collection"),
                    "CreateItem",
                    &(props, self.secret("locked-away"), true),
                )
                .unwrap();
        }

        /// The collection behind the `default` alias.
        pub fn default_collection(&self) -> OwnedObjectPath {
            let reply = self
                .conn
                .call_method(
                    Some(DEST),
                    SERVICE_PATH,
                    Some(SERVICE_IFACE),
                    "ReadAlias",
                    &("default",),
                )
                .unwrap();
            reply.body().deserialize().unwrap()
        }

        /// Locks a collection (gnome-keyring locks without prompting).
        pub fn lock(&self, collection: &OwnedObjectPath) {
            self.conn
                .call_method(
                    Some(DEST),
                    SERVICE_PATH,
                    Some(SERVICE_IFACE),
                    "Lock",
                    &(vec![collection],),
                )
                .unwrap();
        }

        /// Unlocks with the collection's password, without a prompt.
        pub fn unlock(&self, collection: &OwnedObjectPath, password: &str) {
            self.conn
                .call_method(
                    Some(DEST),
                    SERVICE_PATH,
                    Some(INTERNAL_IFACE),
                    "UnlockWithMasterPassword",
                    &(collection, self.secret(password)),
                )
                .unwrap();
        }

        /// Deletes a collection and everything in it.
        pub fn delete_collection(&self, collection: &OwnedObjectPath) {
            self.conn
                .call_method(
                    Some(DEST),
                    collection.as_str(),
                    Some("org.freedesktop.Secret.Collection"),
                    "Delete",
                    &(),
                )
                .unwrap();
        }
    }
}

#[cfg(target_os = "linux")]
#[test]
fn an_entry_in_a_locked_collection_is_locked_not_a_prompt() {
    require_desktop_session();
    let _shared = DEFAULT_COLLECTION.read();
    let keyring = raw::Keyring::connect();
    let account = account("locked-item", "alice");
    let user = account.keyring_user();
    let collection = keyring.create_collection(
        &format!("abs-tray-lock-test-{}", std::process::id()),
        "collection-password",
    );
    keyring.create_item(
        &collection,
        HashMap::from([("service", SERVICE), ("username", user.as_str())]),
    );
    keyring.lock(&collection);

    let store = KeyringStore::new();
    let (get, set, delete) = within_deadline({
        let account = account.clone();
        move || {
            (
                store.get(&account).map(drop),
                store.set(&account, &Secret::new("new")),
                store.delete(&account),
            )
        }
    });
    for result in [get, set, delete] {
        let err = result.unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
        assert_no_prompt_was_requested(&err);
        assert_eq!(err.to_string(), "the system keyring is locked");
        assert_eq!(err.code(), "keyring_locked");
    }
    // Other accounts in the unlocked default collection are unaffected.
    let other = account_in_default_collection();
    store.set(&other, &Secret::new("fine")).unwrap();
    assert_eq!(store.get(&other).unwrap(), Some(Secret::new("fine")));
    store.delete(&other).unwrap();

    keyring.unlock(&collection, "collection-password");
    keyring.delete_collection(&collection);
}

/// The store must notice the lock itself: asking the daemon to unlock pops up a dialog on a
/// real desktop and waits for a human (here the headless prompter dismisses it at once, which
/// would also read as "locked" but only by luck).
fn assert_no_prompt_was_requested(err: &StoreError) {
    assert!(
        !err.detail().contains("prompt"),
        "an unlock prompt was requested: {}",
        err.detail()
    );
}

/// An account used only to check the default collection still works.
fn account_in_default_collection() -> Account {
    account("still-unlocked", "carol")
}

#[cfg(target_os = "linux")]
#[test]
fn a_locked_default_collection_is_locked_not_a_prompt() {
    require_desktop_session();
    let _exclusive = DEFAULT_COLLECTION.write();
    let keyring = raw::Keyring::connect();
    let store = KeyringStore::new();
    let existing = account("default-locked", "alice");
    store.set(&existing, &Secret::new("before-lock")).unwrap();
    let default = keyring.default_collection();
    keyring.lock(&default);

    let new_account = account("default-locked", "bob");
    let outcome = within_deadline({
        let (existing, new_account) = (existing.clone(), new_account.clone());
        move || {
            (
                store.set(&new_account, &Secret::new("x")),
                store.get(&existing).map(drop),
                store.get(&new_account),
            )
        }
    });
    keyring.unlock(&default, raw::SESSION_PASSWORD);

    let (set_new, get_existing, get_missing) = outcome;
    for result in [set_new, get_existing] {
        let err = result.unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
        assert_no_prompt_was_requested(&err);
    }
    // Nothing stored for that account: reading needs no unlock and finds nothing.
    assert_eq!(get_missing, Ok(None));
    // Unlocked again, everything is back.
    assert_eq!(
        store.get(&existing).unwrap(),
        Some(Secret::new("before-lock"))
    );
    store.delete(&existing).unwrap();
}
