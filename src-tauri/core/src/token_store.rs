//! Where long-lived credentials (refresh token, legacy token or API key) are kept: the OS
//! keyring, one entry per server and user under the service name `abs-tray`. There is no file
//! fallback: when the keyring is unavailable or locked the app says so and asks again later.
//!
//! Keyring calls block on D-Bus (Linux), and with zbus's tokio feature enabled anywhere in the
//! build they panic on a tokio worker thread. Async code therefore goes through
//! [`AsyncTokenStore`], which runs every call on tokio's blocking pool.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use keyring_core::Entry;

use crate::secret::Secret;
use crate::server_url::ServerUrl;

/// The keyring service name every entry of this app is filed under.
pub const SERVICE: &str = "abs-tray";

/// Whose credential: one keyring entry per server (its [`ServerUrl::storage_key`]) and user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Account {
    /// [`ServerUrl::storage_key`] of the server (never contains `@`).
    pub server: String,
    /// The ABS user name.
    pub username: String,
}

impl Account {
    /// The account `username` on `server`.
    pub fn new(server: &ServerUrl, username: &str) -> Self {
        Self {
            server: server.storage_key(),
            username: username.to_owned(),
        }
    }

    /// The keyring's "user" field: `username@server`; unambiguous because the server key has no `@`.
    pub fn keyring_user(&self) -> String {
        format!("{}@{}", self.username, self.server)
    }
}

/// Why the keyring could not be used. Details are for logs; they never contain a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No Secret Service / no session bus / no keychain: nothing can be stored at all.
    #[error("the system keyring is unavailable")]
    Unavailable {
        /// What the platform said.
        detail: String,
    },
    /// The keyring exists but is locked and would need an unlock prompt.
    #[error("the system keyring is locked")]
    Locked {
        /// What the platform said.
        detail: String,
    },
    /// Anything else the platform reported.
    #[error("the system keyring failed: {detail}")]
    Other {
        /// What the platform said.
        detail: String,
    },
}

impl StoreError {
    /// A stable snake_case identifier for the UI (`{code, message}`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unavailable { .. } => "keyring_unavailable",
            Self::Locked { .. } => "keyring_locked",
            Self::Other { .. } => "keyring_failed",
        }
    }

    /// The platform's own words, for logs.
    pub fn detail(&self) -> &str {
        match self {
            Self::Unavailable { detail } | Self::Locked { detail } | Self::Other { detail } => {
                detail
            }
        }
    }
}

/// Blocking access to stored credentials; async callers use [`AsyncTokenStore`].
pub trait TokenStore: Send + Sync {
    /// The stored credential, `None` when there is none.
    fn get(&self, account: &Account) -> Result<Option<Secret>, StoreError>;
    /// Stores (or replaces) the credential.
    fn set(&self, account: &Account, secret: &Secret) -> Result<(), StoreError>;
    /// Removes the credential; removing a missing one is not an error.
    fn delete(&self, account: &Account) -> Result<(), StoreError>;
}

/// A [`TokenStore`] shared with async code: every call runs on tokio's blocking pool, so keyring
/// D-Bus calls never run on (or panic on) a runtime worker thread.
#[derive(Clone)]
pub struct AsyncTokenStore(Arc<dyn TokenStore>);

impl std::fmt::Debug for AsyncTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AsyncTokenStore")
    }
}

impl AsyncTokenStore {
    /// Wraps a store.
    pub fn new(store: Arc<dyn TokenStore>) -> Self {
        Self(store)
    }

    /// The wrapped store, for code that already runs on a blocking thread.
    pub fn blocking(&self) -> &Arc<dyn TokenStore> {
        &self.0
    }

    /// [`TokenStore::get`] off the runtime's worker threads.
    pub async fn get(&self, account: &Account) -> Result<Option<Secret>, StoreError> {
        let (store, account) = (self.0.clone(), account.clone());
        run_blocking(move || store.get(&account)).await
    }

    /// [`TokenStore::set`] off the runtime's worker threads.
    pub async fn set(&self, account: &Account, secret: &Secret) -> Result<(), StoreError> {
        let (store, account, secret) = (self.0.clone(), account.clone(), secret.clone());
        run_blocking(move || store.set(&account, &secret)).await
    }

    /// [`TokenStore::delete`] off the runtime's worker threads.
    pub async fn delete(&self, account: &Account) -> Result<(), StoreError> {
        let (store, account) = (self.0.clone(), account.clone());
        run_blocking(move || store.delete(&account)).await
    }
}

/// Runs a keyring call on the blocking pool; a panicking call becomes [`StoreError::Other`].
async fn run_blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(call).await.unwrap_or_else(|e| {
        Err(StoreError::Other {
            detail: format!("keyring call aborted: {e}"),
        })
    })
}

/// In-memory store for tests and demo mode; can be told to fail to exercise error paths.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<Account, Secret>>,
    failure: Mutex<Option<StoreError>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every following call fail with `error` (`None` restores normal operation).
    pub fn fail_with(&self, error: Option<StoreError>) {
        *lock(&self.failure) = error;
    }

    /// Number of stored entries (tests check that nothing else was written).
    pub fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The simulated failure, if one is set.
    fn check(&self) -> Result<(), StoreError> {
        lock(&self.failure).clone().map_or(Ok(()), Err)
    }
}

impl TokenStore for MemoryStore {
    fn get(&self, account: &Account) -> Result<Option<Secret>, StoreError> {
        self.check()?;
        Ok(lock(&self.entries).get(account).cloned())
    }

    fn set(&self, account: &Account, secret: &Secret) -> Result<(), StoreError> {
        self.check()?;
        lock(&self.entries).insert(account.clone(), secret.clone());
        Ok(())
    }

    fn delete(&self, account: &Account) -> Result<(), StoreError> {
        self.check()?;
        lock(&self.entries).remove(account);
        Ok(())
    }
}

/// Locks a mutex, ignoring poisoning (the data stays consistent: every update is one call).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The OS keyring: Secret Service (Linux/BSD), Keychain (macOS), Credential Manager (Windows).
///
/// No global state: each call opens the platform store, so a keyring daemon that starts or
/// restarts after the app is picked up, and a missing one is reported per call as
/// [`StoreError::Unavailable`]. On Secret Service a locked collection is detected before any
/// call that would pop up an unlock prompt, and reported as [`StoreError::Locked`].
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyringStore;

impl KeyringStore {
    /// The platform keyring (nothing is opened until the first call).
    pub fn new() -> Self {
        Self
    }

    /// The platform entry for `account`.
    fn entry(account: &Account) -> Result<Entry, StoreError> {
        let store = platform::open()?;
        platform::entry(&store, account).map_err(map_error)
    }
}

impl TokenStore for KeyringStore {
    fn get(&self, account: &Account) -> Result<Option<Secret>, StoreError> {
        platform::check_unlocked(account, false)?;
        match Self::entry(account)?.get_password() {
            Ok(value) => Ok(Some(Secret::new(value))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_error(e)),
        }
    }

    fn set(&self, account: &Account, secret: &Secret) -> Result<(), StoreError> {
        platform::check_unlocked(account, true)?;
        Self::entry(account)?
            .set_password(secret.expose())
            .map_err(map_error)
    }

    fn delete(&self, account: &Account) -> Result<(), StoreError> {
        platform::check_unlocked(account, false)?;
        match Self::entry(account)?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_error(e)),
        }
    }
}

/// Translates keyring-core errors without ever copying stored bytes into the message.
fn map_error(error: keyring_core::Error) -> StoreError {
    use keyring_core::Error as E;
    match error {
        E::NoStorageAccess(e) => StoreError::Locked {
            detail: e.to_string(),
        },
        E::NoDefaultStore => StoreError::Unavailable {
            detail: "no credential store".into(),
        },
        E::PlatformFailure(e) => platform::classify_failure(e.as_ref()),
        E::BadEncoding(_) | E::BadDataFormat(..) => StoreError::Other {
            detail: "the stored value is not in the expected format".into(),
        },
        E::Ambiguous(entries) => StoreError::Other {
            detail: format!("{} keyring entries match this account", entries.len()),
        },
        other => StoreError::Other {
            detail: other.to_string(),
        },
    }
}

/// Secret Service on Linux and the BSDs.
#[cfg(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly"
))]
mod platform {
    use std::collections::HashMap;
    use std::sync::Arc;

    use keyring_core::{CredentialStore, Entry};
    use secret_service::EncryptionType;
    use secret_service::blocking::SecretService;

    use super::{Account, SERVICE, StoreError};

    /// Connects to the Secret Service (a fresh session bus connection).
    pub(super) fn open() -> Result<Arc<CredentialStore>, StoreError> {
        zbus_secret_service_keyring_store::Store::new()
            .map(|store| store as Arc<CredentialStore>)
            .map_err(|e| StoreError::Unavailable {
                detail: e.to_string(),
            })
    }

    /// The entry, labelled so people recognise it in Seahorse / KWallet.
    pub(super) fn entry(
        store: &Arc<CredentialStore>,
        account: &Account,
    ) -> keyring_core::Result<Entry> {
        let label = format!("ABS Tray: {} on {}", account.username, account.server);
        let modifiers = HashMap::from([("label", label.as_str())]);
        store.build(SERVICE, &account.keyring_user(), Some(&modifiers))
    }

    /// Refuses with [`StoreError::Locked`] when the call would need an unlock prompt: an
    /// existing entry in a locked collection, or (when `creating`) a locked default collection.
    /// The keyring crate would otherwise ask the daemon to prompt and wait for it forever.
    pub(super) fn check_unlocked(account: &Account, creating: bool) -> Result<(), StoreError> {
        let ss =
            SecretService::connect(EncryptionType::Plain).map_err(|e| StoreError::Unavailable {
                detail: e.to_string(),
            })?;
        let user = account.keyring_user();
        let query = HashMap::from([("service", SERVICE), ("username", user.as_str())]);
        let found = ss.search_items(query).map_err(from_service)?;
        if !found.locked.is_empty() {
            return Err(StoreError::Locked {
                detail: "the entry's keyring collection is locked".into(),
            });
        }
        if creating && found.unlocked.is_empty() {
            let collection = ss.get_default_collection().map_err(from_service)?;
            if collection.is_locked().map_err(from_service)? {
                return Err(StoreError::Locked {
                    detail: "the default keyring collection is locked".into(),
                });
            }
        }
        Ok(())
    }

    /// A Secret Service error after connecting.
    fn from_service(error: secret_service::Error) -> StoreError {
        use secret_service::Error as E;
        let detail = error.to_string();
        match error {
            E::Unavailable => StoreError::Unavailable { detail },
            E::Locked | E::Prompt | E::PromptDisconnected => StoreError::Locked { detail },
            E::NoResult => StoreError::Other {
                detail: "the keyring has no default collection".into(),
            },
            _ => StoreError::Other { detail },
        }
    }

    /// A keyring-core platform failure, which wraps a Secret Service error.
    pub(super) fn classify_failure(
        error: &(dyn std::error::Error + Send + Sync + 'static),
    ) -> StoreError {
        let detail = error.to_string();
        match error.downcast_ref::<secret_service::Error>() {
            Some(secret_service::Error::Unavailable) => StoreError::Unavailable { detail },
            Some(secret_service::Error::Locked | secret_service::Error::Prompt) => {
                StoreError::Locked { detail }
            }
            _ => StoreError::Other { detail },
        }
    }
}

/// Keychain on macOS.
#[cfg(target_os = "macos")]
mod platform {
    use std::sync::Arc;

    use keyring_core::{CredentialStore, Entry};

    use super::{Account, SERVICE, StoreError};

    /// Opens the login keychain store.
    pub(super) fn open() -> Result<Arc<CredentialStore>, StoreError> {
        apple_native_keyring_store::keychain::Store::new()
            .map(|store| store as Arc<CredentialStore>)
            .map_err(|e| StoreError::Unavailable {
                detail: e.to_string(),
            })
    }

    /// The entry for `account`.
    pub(super) fn entry(
        store: &Arc<CredentialStore>,
        account: &Account,
    ) -> keyring_core::Result<Entry> {
        Entry::new_in_store(store, SERVICE, &account.keyring_user())
    }

    /// The keychain prompts through the OS itself; nothing to pre-check.
    pub(super) fn check_unlocked(_account: &Account, _creating: bool) -> Result<(), StoreError> {
        Ok(())
    }

    /// A keychain failure.
    pub(super) fn classify_failure(
        error: &(dyn std::error::Error + Send + Sync + 'static),
    ) -> StoreError {
        StoreError::Other {
            detail: error.to_string(),
        }
    }
}

/// Credential Manager on Windows.
#[cfg(windows)]
mod platform {
    use std::sync::Arc;

    use keyring_core::{CredentialStore, Entry};

    use super::{Account, SERVICE, StoreError};

    /// Opens the Credential Manager store.
    pub(super) fn open() -> Result<Arc<CredentialStore>, StoreError> {
        windows_native_keyring_store::Store::new()
            .map(|store| store as Arc<CredentialStore>)
            .map_err(|e| StoreError::Unavailable {
                detail: e.to_string(),
            })
    }

    /// The entry for `account`.
    pub(super) fn entry(
        store: &Arc<CredentialStore>,
        account: &Account,
    ) -> keyring_core::Result<Entry> {
        Entry::new_in_store(store, SERVICE, &account.keyring_user())
    }

    /// Credential Manager has no lock state.
    pub(super) fn check_unlocked(_account: &Account, _creating: bool) -> Result<(), StoreError> {
        Ok(())
    }

    /// A Credential Manager failure.
    pub(super) fn classify_failure(
        error: &(dyn std::error::Error + Send + Sync + 'static),
    ) -> StoreError {
        StoreError::Other {
            detail: error.to_string(),
        }
    }
}

/// Platforms without a supported keyring: every call reports it unavailable.
#[cfg(not(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly",
    target_os = "macos",
    windows
)))]
mod platform {
    use std::sync::Arc;

    use keyring_core::{CredentialStore, Entry};

    use super::{Account, StoreError};

    /// No keyring here.
    pub(super) fn open() -> Result<Arc<CredentialStore>, StoreError> {
        Err(StoreError::Unavailable {
            detail: "no supported keyring on this platform".into(),
        })
    }

    /// Unreachable: [`open`] always fails.
    pub(super) fn entry(
        _store: &Arc<CredentialStore>,
        _account: &Account,
    ) -> keyring_core::Result<Entry> {
        Err(keyring_core::Error::NoDefaultStore)
    }

    /// Nothing to check.
    pub(super) fn check_unlocked(_account: &Account, _creating: bool) -> Result<(), StoreError> {
        Ok(())
    }

    /// Any failure.
    pub(super) fn classify_failure(
        error: &(dyn std::error::Error + Send + Sync + 'static),
    ) -> StoreError {
        StoreError::Other {
            detail: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(server: &str, user: &str) -> Account {
        Account::new(&ServerUrl::parse(server).unwrap(), user)
    }

    #[test]
    fn keyring_user_names_server_and_user() {
        let a = account("https://abs.example.com/abs/", "alice");
        assert_eq!(a.keyring_user(), "alice@https://abs.example.com:443/abs");
        assert_ne!(
            a.keyring_user(),
            account("https://abs.example.com", "alice").keyring_user()
        );
    }

    #[test]
    fn memory_store_round_trip_and_isolation() {
        let store = MemoryStore::new();
        let a = account("https://a.example", "alice");
        let b = account("https://b.example", "alice");
        store.set(&a, &Secret::new("one")).unwrap();
        store.set(&b, &Secret::new("two")).unwrap();
        assert_eq!(store.get(&a).unwrap(), Some(Secret::new("one")));
        store.set(&a, &Secret::new("three")).unwrap();
        assert_eq!(store.get(&a).unwrap(), Some(Secret::new("three")));
        store.delete(&a).unwrap();
        store.delete(&a).unwrap();
        assert_eq!(store.get(&a).unwrap(), None);
        assert_eq!(store.get(&b).unwrap(), Some(Secret::new("two")));
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn memory_store_can_simulate_a_locked_keyring() {
        let store = MemoryStore::new();
        let a = account("https://a.example", "alice");
        store.fail_with(Some(StoreError::Locked {
            detail: "test".into(),
        }));
        let err = store.set(&a, &Secret::new("x")).unwrap_err();
        assert_eq!(err.code(), "keyring_locked");
        assert_eq!(err.to_string(), "the system keyring is locked");
        store.fail_with(None);
        assert_eq!(store.get(&a).unwrap(), None);
    }

    #[test]
    fn stored_bytes_never_reach_error_messages() {
        let err = map_error(keyring_core::Error::BadEncoding(b"super-secret".to_vec()));
        assert!(!format!("{err:?} {err}").contains("super-secret"));
        assert_eq!(err.code(), "keyring_failed");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn async_wrapper_runs_off_the_worker_threads() {
        /// A store that records whether it ran inside the runtime's async context.
        struct Probe;
        impl TokenStore for Probe {
            fn get(&self, _: &Account) -> Result<Option<Secret>, StoreError> {
                // On a blocking-pool thread, blocking on a new runtime is allowed; on a worker
                // thread this would panic exactly like zbus's tokio block_on does.
                let rt = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .map_err(|e| StoreError::Other {
                        detail: e.to_string(),
                    })?;
                Ok(rt.block_on(async { Some(Secret::new("ok")) }))
            }
            fn set(&self, _: &Account, _: &Secret) -> Result<(), StoreError> {
                panic!("boom")
            }
            fn delete(&self, _: &Account) -> Result<(), StoreError> {
                Ok(())
            }
        }
        let store = AsyncTokenStore::new(Arc::new(Probe));
        let a = account("https://a.example", "alice");
        assert_eq!(store.get(&a).await.unwrap(), Some(Secret::new("ok")));
        let err = store.set(&a, &Secret::new("x")).await.unwrap_err();
        assert_eq!(err.code(), "keyring_failed");
        store.delete(&a).await.unwrap();
    }
}
