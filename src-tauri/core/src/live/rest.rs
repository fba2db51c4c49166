//! The REST reads live state needs, behind a trait so the driver can be tested without a
//! server, and their results as the pure state takes them.

use std::future::Future;
use std::sync::Arc;

use crate::auth::AuthError;
use crate::credentials::SignedIn;
use crate::protocol::{
    LibraryItem, ListeningSessions, MyProgress, OpenSessions, PlaybackSession, TaskList,
    UsersOnline,
};

/// Sessions read per `GET /api/me/listening-sessions`: the current one and the recent ones.
pub const MY_SESSIONS_PAGE: usize = 10;

/// Why a REST read gave nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestError {
    /// 403/404: the endpoint is for admins (normal for other users; not retried).
    #[error("not allowed for this user")]
    Forbidden,
    /// Anything else (network, server error, bad reply); worth retrying later.
    #[error("{0}")]
    Failed(String),
}

impl From<AuthError> for RestError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Http {
                status: 403 | 404, ..
            } => Self::Forbidden,
            other => Self::Failed(other.to_string()),
        }
    }
}

/// The REST reads behind live state; implemented for [`SignedIn`].
pub trait LiveRest: Send + Sync + 'static {
    /// `GET /api/users/online` (admins): presence with connection counts and open sessions.
    ///
    /// Read under the REST client's general 4 MiB cap, so on a server with tens of thousands of
    /// users online it fails and presence comes from socket events alone. A bigger cap would cost
    /// little memory (the reply is read into capped lists straight from the bytes) but would pull
    /// and parse the whole reply on every poll while someone looks (every 5 s and on each
    /// window focus), for the same 1,000 users the socket's `init` already gave.
    fn users_online(&self) -> impl Future<Output = Result<UsersOnline, RestError>> + Send;
    /// `GET /api/sessions/open` (admins): open sessions with their owners' names.
    fn open_sessions(&self) -> impl Future<Output = Result<OpenSessions, RestError>> + Send;
    /// `GET /api/tasks`: running tasks, among them library scans.
    fn tasks(&self) -> impl Future<Output = Result<TaskList, RestError>> + Send;
    /// `GET /api/items/{id}`: an item's title, since your own progress events carry none.
    fn item(&self, item_id: &str) -> impl Future<Output = Result<LibraryItem, RestError>> + Send;

    /// `GET /api/me/listening-sessions` (any user): the newest page of your own saved sessions.
    /// A reader without it answers `Forbidden`, which shows as nothing to list.
    fn my_sessions(&self) -> impl Future<Output = Result<ListeningSessions, RestError>> + Send {
        async { Err(RestError::Forbidden) }
    }

    /// `GET /api/me` (any user): your finished books.
    fn my_progress(&self) -> impl Future<Output = Result<MyProgress, RestError>> + Send {
        async { Err(RestError::Forbidden) }
    }

    /// `GET /api/session/{id}` (its owner): the session while it is open, `None` once closed.
    fn open_session(
        &self,
        _session_id: &str,
    ) -> impl Future<Output = Result<Option<PlaybackSession>, RestError>> + Send {
        async { Ok(None) }
    }
}

impl<T: LiveRest> LiveRest for Arc<T> {
    fn users_online(&self) -> impl Future<Output = Result<UsersOnline, RestError>> + Send {
        (**self).users_online()
    }

    fn open_sessions(&self) -> impl Future<Output = Result<OpenSessions, RestError>> + Send {
        (**self).open_sessions()
    }

    fn tasks(&self) -> impl Future<Output = Result<TaskList, RestError>> + Send {
        (**self).tasks()
    }

    fn item(&self, item_id: &str) -> impl Future<Output = Result<LibraryItem, RestError>> + Send {
        (**self).item(item_id)
    }

    fn my_sessions(&self) -> impl Future<Output = Result<ListeningSessions, RestError>> + Send {
        (**self).my_sessions()
    }

    fn my_progress(&self) -> impl Future<Output = Result<MyProgress, RestError>> + Send {
        (**self).my_progress()
    }

    fn open_session(
        &self,
        session_id: &str,
    ) -> impl Future<Output = Result<Option<PlaybackSession>, RestError>> + Send {
        (**self).open_session(session_id)
    }
}

impl LiveRest for SignedIn {
    async fn users_online(&self) -> Result<UsersOnline, RestError> {
        get(self, "/api/users/online").await
    }

    async fn open_sessions(&self) -> Result<OpenSessions, RestError> {
        get(self, "/api/sessions/open").await
    }

    async fn tasks(&self) -> Result<TaskList, RestError> {
        get(self, "/api/tasks").await
    }

    async fn item(&self, item_id: &str) -> Result<LibraryItem, RestError> {
        if !plain_id(item_id) {
            return Err(RestError::Failed("not a plain item id".into()));
        }
        get(self, &format!("/api/items/{item_id}")).await
    }

    async fn my_sessions(&self) -> Result<ListeningSessions, RestError> {
        let path = format!("/api/me/listening-sessions?itemsPerPage={MY_SESSIONS_PAGE}&page=0");
        get(self, &path).await
    }

    async fn my_progress(&self) -> Result<MyProgress, RestError> {
        get(self, "/api/me").await
    }

    async fn open_session(&self, session_id: &str) -> Result<Option<PlaybackSession>, RestError> {
        if !plain_id(session_id) {
            return Err(RestError::Failed("not a plain session id".into()));
        }
        // 404: not open (any more); 403: not ours. Either way nothing is playing there.
        match get(self, &format!("/api/session/{session_id}")).await {
            Ok(session) => Ok(Some(session)),
            Err(RestError::Forbidden) => Ok(None),
            Err(err) => Err(err),
        }
    }
}

/// Ids come from the server, but one that is not a plain id must not become a path.
fn plain_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// An authenticated GET; a 401 (token revoked or expired early) is retried once after a refresh.
async fn get<T: serde::de::DeserializeOwned>(
    signed: &SignedIn,
    path: &str,
) -> Result<T, RestError> {
    let session = signed.session(false).await?;
    let client = signed.manager().client();
    match client.get_json(path, &session.access).await {
        Err(AuthError::Http { status: 401 }) => {
            let session = signed.session(true).await?;
            Ok(client.get_json(path, &session.access).await?)
        }
        other => Ok(other?),
    }
}

/// The outcome of one REST read of a reconcile.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetch<T> {
    /// Not part of this reconcile.
    NotAsked,
    /// The server's answer.
    Got(T),
    /// The endpoint is for admins.
    Forbidden,
    /// It failed; the state asks again later.
    Failed(String),
}

impl<T> Fetch<T> {
    /// The answer, when there is one.
    pub fn got(&self) -> Option<&T> {
        match self {
            Self::Got(value) => Some(value),
            _ => None,
        }
    }

    /// Whether it failed in a way worth retrying.
    pub fn failed(&self) -> bool {
        matches!(self, Self::Failed(_))
    }
}

impl<T> From<Result<T, RestError>> for Fetch<T> {
    fn from(result: Result<T, RestError>) -> Self {
        match result {
            Ok(value) => Self::Got(value),
            Err(RestError::Forbidden) => Self::Forbidden,
            Err(RestError::Failed(reason)) => Self::Failed(reason),
        }
    }
}

/// What one reconcile read from the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconciled {
    /// `GET /api/users/online`.
    pub users_online: Fetch<UsersOnline>,
    /// `GET /api/sessions/open`, read when sessions belong to users whose names are unknown or
    /// when the users list could not be read.
    pub open_sessions: Fetch<OpenSessions>,
    /// `GET /api/tasks`.
    pub tasks: Fetch<TaskList>,
}

impl Reconciled {
    /// Nothing read (yet).
    pub fn nothing() -> Self {
        Self {
            users_online: Fetch::NotAsked,
            open_sessions: Fetch::NotAsked,
            tasks: Fetch::NotAsked,
        }
    }

    /// Whether any read failed in a way worth retrying.
    pub fn any_failed(&self) -> bool {
        self.users_online.failed() || self.open_sessions.failed() || self.tasks.failed()
    }
}

/// What one reconcile read of the signed-in user's own listening (for users who cannot see
/// everyone's).
#[derive(Debug, Clone, PartialEq)]
pub struct MineRead {
    /// `GET /api/me/listening-sessions`: the newest saved sessions.
    pub sessions: Fetch<ListeningSessions>,
    /// `GET /api/session/{id}` of the newest saved session: `Some` while it is still open.
    pub open: Fetch<Option<PlaybackSession>>,
    /// `GET /api/me`: the finished books.
    pub progress: Fetch<MyProgress>,
    /// `GET /api/items/{id}` of finished books nobody had named yet.
    pub items: Vec<LibraryItem>,
}

impl MineRead {
    /// Whether any read failed in a way worth retrying.
    pub fn any_failed(&self) -> bool {
        self.sessions.failed() || self.open.failed() || self.progress.failed()
    }
}
