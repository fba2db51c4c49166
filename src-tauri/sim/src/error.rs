//! The library's error type.

/// Everything the simulator's Rust API can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Binding, reading or writing failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// No user with that name or id.
    #[error("unknown user: {0}")]
    UnknownUser(String),
    /// No library with that id.
    #[error("unknown library: {0}")]
    UnknownLibrary(String),
    /// No library item with that id.
    #[error("unknown library item: {0}")]
    UnknownItem(String),
    /// No open playback session with that id.
    #[error("unknown playback session: {0}")]
    UnknownSession(String),
    /// No running task with that id.
    #[error("unknown or finished task: {0}")]
    UnknownTask(String),
    /// The username exists already.
    #[error("username already taken: {0}")]
    UsernameTaken(String),
    /// A scan of that library is running already.
    #[error("library is already being scanned: {0}")]
    AlreadyScanning(String),
    /// Not a version like `2.36.0`.
    #[error("invalid server version: {0}")]
    InvalidVersion(String),
    /// Not `NAME:PASS[:admin]`.
    #[error("invalid user spec (want NAME:PASS[:admin]): {0}")]
    InvalidUserSpec(String),
    /// Not `idle`, `demo` or `hostile`.
    #[error("invalid scenario (want idle, demo or hostile): {0}")]
    InvalidScenario(String),
    /// The `--data-dir` state file could not be read or written.
    #[error("state file: {0}")]
    State(String),
    /// Signing a token failed.
    #[error("token: {0}")]
    Token(String),
    /// An awaited event did not come in time.
    #[error("timed out waiting for {0}")]
    Timeout(String),
    /// The simulator was shut down.
    #[error("the simulator is shut down")]
    Shutdown,
}
