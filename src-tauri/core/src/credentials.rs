//! Tokens for the connection, from the keyring-backed sign-in: the access token lives in memory,
//! the long-lived credential in the keyring, and a refresh happens before the token expires.
//!
//! Refreshes are paced by the token's lifetime whatever asks for tokens (the socket, REST polls
//! every 5 s while the window is open, covers): one in the last quarter of its life (at most
//! 5 minutes before its end), and when the server rejects a token, one refresh for that at most
//! every half-lifetime (see [`auth::needs_refresh`] and [`auth::rejected_refresh_wait`]). ABS
//! allows 40 sign-in requests per 10 minutes per address; a refresh per poll would lock the user
//! out.

use std::time::SystemTime;

use tokio::sync::Mutex;

use crate::auth::{self, AuthError, Session, TokenManager};
use crate::connection::{CredentialError, Credentials};
use crate::protocol::DailyLogs;
use crate::secret::Secret;

/// The signed-in account as the connection sees it.
#[derive(Debug)]
pub struct SignedIn {
    /// Reads and rotates the stored credential.
    manager: TokenManager,
    /// The current session and the pacing of refreshes.
    state: Mutex<State>,
}

/// What [`SignedIn`] keeps between calls.
#[derive(Debug)]
struct State {
    /// The current session; `None` until the first token is asked for.
    session: Option<Session>,
    /// When the last refresh asked for because of a rejected token ran.
    last_rejected_refresh: Option<SystemTime>,
}

impl SignedIn {
    /// Starts from a fresh sign-in (its session is used as is) or from the keyring (`None`).
    pub fn new(manager: TokenManager, session: Option<Session>) -> Self {
        Self {
            manager,
            state: Mutex::new(State {
                session,
                last_rejected_refresh: None,
            }),
        }
    }

    /// The sign-in behind these credentials.
    pub fn manager(&self) -> &TokenManager {
        &self.manager
    }

    /// The current session, refreshed first when its token is about to expire, or when
    /// `rejected` (the server refused its token) unless a refresh for a rejection already ran in
    /// the last half of the token's lifetime: then [`AuthError::TokenRefused`], worth retrying.
    pub async fn session(&self, rejected: bool) -> Result<Session, AuthError> {
        let now = SystemTime::now();
        let mut state = self.state.lock().await;
        let refresh = match &state.session {
            None => true,
            Some(session) if rejected => {
                if let Some(retry_in) = auth::rejected_refresh_wait(
                    session.access_lifetime,
                    state.last_rejected_refresh,
                    now,
                ) {
                    return Err(AuthError::TokenRefused { retry_in });
                }
                state.last_rejected_refresh = Some(now);
                true
            }
            Some(session) => session.needs_refresh(now),
        };
        if refresh {
            state.session = Some(self.manager.resume().await?);
        }
        state.session.clone().ok_or(AuthError::NotSignedIn)
    }
}

impl Credentials for SignedIn {
    async fn access_token(&self, refresh: bool) -> Result<Secret, CredentialError> {
        self.session(refresh)
            .await
            .map(|session| session.access)
            .map_err(credential_error)
    }

    async fn user_id(&self) -> Option<String> {
        self.state
            .lock()
            .await
            .session
            .as_ref()
            .map(|s| s.user_id.clone())
    }

    async fn daily_logs(&self) -> Result<DailyLogs, CredentialError> {
        let session = self.session(false).await.map_err(credential_error)?;
        self.manager
            .client()
            .get_json("/api/logger-data", &session.access)
            .await
            .map_err(credential_error)
    }
}

/// Whether a sign-in failure needs the user or just time.
fn credential_error(err: AuthError) -> CredentialError {
    if err.sign_in_required() {
        CredentialError::SignInRequired(err.to_string())
    } else {
        CredentialError::Unavailable(err.to_string())
    }
}
