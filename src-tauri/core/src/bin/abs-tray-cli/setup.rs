//! What every command starts from: the settings file, the trust settings for a server, the
//! keyring, and the sign-in of the saved account.

use std::sync::Arc;

use abs_tray_core::auth::{AbsClient, TokenManager};
use abs_tray_core::config::{Settings, SettingsFile};
use abs_tray_core::server_url::ServerUrl;
use abs_tray_core::tls::TlsConfig;
use abs_tray_core::token_store::{Account, AsyncTokenStore, KeyringStore};

use crate::error::CliError;

/// The settings file and what it holds.
pub struct Config {
    /// The file (it also knows the configuration folder, where pinned certificates live).
    pub file: SettingsFile,
    /// The loaded settings.
    pub settings: Settings,
}

impl Config {
    /// Loads `settings.toml` from `ABS_TRAY_CONFIG_DIR` or the OS configuration folder.
    pub fn load() -> Result<Self, CliError> {
        let mut file = SettingsFile::open_default()?;
        let settings = file.load()?;
        Ok(Self { file, settings })
    }

    /// True when `url` is the saved server (scheme, host and port; the base path may differ
    /// because discovery can add `/audiobookshelf`).
    pub fn is_saved_server(&self, url: &ServerUrl) -> bool {
        self.settings.is_saved_server(url)
    }

    /// The saved trust settings for the saved server, the system's roots for any other.
    pub fn trust_for(&self, url: &ServerUrl) -> Result<TlsConfig, CliError> {
        Ok(self.settings.trust_for(self.file.dir(), url)?)
    }

    /// The saved server and user name, or "sign in first".
    pub fn account(&self) -> Result<(ServerUrl, String), CliError> {
        match (&self.settings.server_url, &self.settings.username) {
            (Some(url), Some(username)) => Ok((url.clone(), username.clone())),
            _ => Err(CliError::SignInRequired(
                "not signed in; run `abs-tray-cli login URL --username NAME` first".into(),
            )),
        }
    }

    /// The keyring-backed sign-in of the saved account.
    pub fn manager(&self) -> Result<TokenManager, CliError> {
        let (url, username) = self.account()?;
        let tls = self.trust_for(&url)?;
        let client = AbsClient::new(url.clone(), &tls)?;
        Ok(TokenManager::new(
            client,
            keyring(),
            Account::new(&url, &username),
        ))
    }
}

/// The system keyring, called off the async worker threads.
pub fn keyring() -> AsyncTokenStore {
    AsyncTokenStore::new(Arc::new(KeyringStore::new()))
}
