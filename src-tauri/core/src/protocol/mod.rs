//! The Audiobookshelf wire protocol as the tray sees it: typed models of the Socket.IO events
//! and REST replies it uses, the events it emits, and one decoder ([`decode`]).
//!
//! Models keep only what the tray needs; unknown fields are ignored, nullable or optional
//! fields are `Option`. Strings and lists are length-bounded and tokens are [`Secret`](crate::secret::Secret)s
//! (see [`decode`] for the hostile-input rules). Ground truth: ABS 2.36.0, with older forms
//! (`invalid_token`, `daily_logs`, `init.librariesScanning`) accepted too.

mod bounded;
mod client;
mod decode;
mod event;
mod library;
mod log;
mod me;
mod podcast;
mod progress;
mod raw;
mod rest;
mod session;
mod task;
mod user;

pub use bounded::{
    MAX_ID_BYTES, MAX_ITEMS_ADDED, MAX_LIST_LEN, MAX_MESSAGE_BYTES, MAX_TEXT_BYTES, MAX_TOKEN_BYTES,
};
pub use client::ClientEvent;
pub use decode::{
    DecodeError, MAX_EVENT_NAME_BYTES, MAX_JSON_BYTES, decode, decode_json, decode_message,
};
pub use event::ServerEvent;
pub use library::{Library, LibraryItem, MediaType};
pub use log::{DailyLogs, LogEvent, LogLevel};
pub use me::{ListeningSessions, MAX_FINISHED, MyProgress};
pub use podcast::EpisodeDownload;
pub use progress::{MediaProgress, ProgressUpdate};
pub use raw::RawArg;
pub use rest::{LoginResponse, OpenSessions, ServerSettings, ServerStatus, UsersOnline};
pub use session::{DeviceInfo, PlayMethod, PlaybackSession, SessionUser};
pub use task::{ScanResults, Task, TaskData, TaskList};
pub use user::{AuthFailed, Init, PublicUser, ScanningLibrary, User, UserType};
