//! The JSON shapes of the real server (`toJSONForPublic`, `toOldJSONForBrowser`,
//! `PlaybackSession.toJSON[ForClient]`, `getOldMediaProgress`, `toOldJSONExpanded`, `Task.toJSON`,
//! ...), as structs so the keys come out in the captured order.

use serde::{Serialize, Serializer};
use serde_json::{Value, json};

use crate::model::{
    ApiKey, Chapter, Device, Item, Library, MediaProgress, PlayMethod, PlaybackSession, ScanKind,
    SeriesRef, Task, User, UserType,
};
use crate::state::State;

/// A number serialized like JavaScript does: integral values without a fraction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Num(pub f64);

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if !v.is_finite() {
            s.serialize_none()
        } else if v.fract() == 0.0 && v.abs() < 9.0e15 {
            s.serialize_i64(v as i64)
        } else {
            s.serialize_f64(v)
        }
    }
}

/// An event argument list with no arguments: socketioxide writes `42["name"]` for it.
pub(crate) struct NoArgs;

impl Serialize for NoArgs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        s.serialize_tuple(0)?.end()
    }
}

/// `{id, name}` of an author.
#[derive(Clone, Serialize)]
pub(crate) struct AuthorRef {
    id: String,
    name: String,
}

/// `User.toJSONForPublic(sessions)`.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserPublic {
    pub id: String,
    pub username: String,
    #[serde(rename = "type")]
    pub user_type: UserType,
    pub session: Option<Box<SessionClient>>,
    pub last_seen: Option<i64>,
    pub created_at: i64,
}

/// `getUsersOnline()` entries.
#[derive(Clone, Serialize)]
pub(crate) struct UserOnline {
    #[serde(flatten)]
    pub user: UserPublic,
    pub connections: u32,
}

/// `{id, username}`.
#[derive(Clone, Serialize)]
pub(crate) struct UserMini {
    pub id: String,
    pub username: String,
}

/// `MediaProgress.getOldMediaProgress()`.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProgressJson {
    id: String,
    user_id: String,
    library_item_id: String,
    episode_id: Option<String>,
    media_item_id: String,
    media_item_type: &'static str,
    duration: Num,
    progress: Num,
    current_time: Num,
    is_finished: bool,
    hide_from_continue_listening: bool,
    ebook_location: Option<String>,
    ebook_progress: Num,
    last_update: i64,
    started_at: i64,
    finished_at: Option<i64>,
}

/// `User.toOldJSONForBrowser()`.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserBrowser {
    id: String,
    username: String,
    email: Option<String>,
    #[serde(rename = "type")]
    user_type: UserType,
    token: String,
    media_progress: Vec<ProgressJson>,
    series_hide_from_continue_listening: Vec<String>,
    bookmarks: Vec<Value>,
    is_active: bool,
    is_locked: bool,
    last_seen: Option<i64>,
    created_at: i64,
    permissions: crate::model::Permissions,
    libraries_accessible: Vec<String>,
    item_tags_selected: Vec<String>,
    #[serde(rename = "hasOpenIDLink")]
    has_open_id_link: bool,
}

/// The login user: browser JSON plus the tokens.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LoginUser {
    #[serde(flatten)]
    pub user: UserBrowser,
    /// `Some(None)` serializes `null`, `None` omits the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
}

/// `getUserLoginResponsePayload()`.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LoginResponse {
    pub user: LoginUser,
    pub user_default_library_id: Option<String>,
    pub server_settings: Value,
    pub ereader_devices: Vec<Value>,
    #[serde(rename = "Source")]
    pub source: &'static str,
}

/// `DeviceInfo.toJSON()`: null keys omitted.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeviceJson {
    id: String,
    user_id: String,
    device_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    manufacturer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sdk_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_name: Option<String>,
}

/// Book metadata as copied into a playback session.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MediaMetadata {
    title: String,
    subtitle: Option<String>,
    authors: Vec<AuthorRef>,
    narrators: Vec<String>,
    series: Vec<SeriesRef>,
    genres: Vec<String>,
    published_year: Option<String>,
    published_date: Option<String>,
    publisher: Option<String>,
    description: Option<String>,
    isbn: Option<String>,
    asin: Option<String>,
    language: Option<String>,
    explicit: bool,
    abridged: bool,
}

/// Book metadata of an expanded library item.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MediaMetadataExpanded {
    #[serde(flatten)]
    base: MediaMetadata,
    title_ignore_prefix: String,
    author_name: String,
    #[serde(rename = "authorNameLF")]
    author_name_lf: String,
    narrator_name: String,
    series_name: String,
    description_plain: Option<String>,
}

/// `PlaybackSession.toJSON()`.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionJson {
    pub id: String,
    user_id: String,
    library_id: String,
    library_item_id: String,
    book_id: Option<String>,
    episode_id: Option<String>,
    media_type: &'static str,
    media_metadata: MediaMetadata,
    chapters: Vec<ChapterJson>,
    display_title: String,
    display_author: String,
    cover_path: Option<String>,
    duration: Num,
    play_method: u8,
    media_player: String,
    device_info: DeviceJson,
    server_version: String,
    date: String,
    day_of_week: String,
    time_listening: Num,
    start_time: Num,
    current_time: Num,
    started_at: i64,
    updated_at: i64,
}

/// `PlaybackSession.toJSONForClient(libraryItem)`.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionClient {
    #[serde(flatten)]
    pub base: SessionJson,
    audio_tracks: Vec<Track>,
    library_item: Option<Box<ItemExpanded>>,
}

/// An open session in `GET /api/sessions/open`.
#[derive(Clone, Serialize)]
pub(crate) struct SessionOpen {
    #[serde(flatten)]
    base: SessionJson,
    user: Option<UserMini>,
}

/// `{id, start, end, title}`.
#[derive(Clone, Serialize)]
pub(crate) struct ChapterJson {
    id: u32,
    start: Num,
    end: Num,
    title: String,
}

/// File metadata of a library file.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FileMetadata {
    filename: String,
    ext: String,
    path: String,
    rel_path: String,
    size: u64,
    mtime_ms: i64,
    ctime_ms: i64,
    birthtime_ms: i64,
}

/// An audio file of a book.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AudioFileJson {
    index: u32,
    ino: String,
    metadata: FileMetadata,
    added_at: i64,
    updated_at: i64,
    track_num_from_meta: Option<u32>,
    disc_num_from_meta: Option<u32>,
    track_num_from_filename: Option<u32>,
    disc_num_from_filename: Option<u32>,
    manually_verified: bool,
    exclude: bool,
    error: Option<String>,
    format: &'static str,
    duration: Num,
    bit_rate: u32,
    language: Option<String>,
    codec: &'static str,
    time_base: &'static str,
    channels: u32,
    channel_layout: &'static str,
    chapters: Vec<ChapterJson>,
    embedded_cover_art: Option<String>,
    meta_tags: Value,
    mime_type: &'static str,
}

/// A direct-play track: audio file + title, start offset, content URL.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AudioTrackJson {
    #[serde(flatten)]
    file: AudioFileJson,
    title: String,
    start_offset: Num,
    content_url: String,
}

/// The single HLS track of a transcode session.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HlsTrackJson {
    index: u32,
    start_offset: Num,
    duration: Num,
    title: String,
    content_url: String,
    mime_type: &'static str,
    codec: Option<String>,
    metadata: Option<Value>,
}

/// Either kind of track.
#[derive(Clone, Serialize)]
#[serde(untagged)]
pub(crate) enum Track {
    Direct(Box<AudioTrackJson>),
    Hls(HlsTrackJson),
}

/// A library file of an item.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LibraryFileJson {
    ino: String,
    metadata: FileMetadata,
    is_supplementary: Option<bool>,
    added_at: i64,
    updated_at: i64,
    file_type: &'static str,
}

/// `book.toOldJSONExpanded()`.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BookExpanded {
    id: String,
    metadata: MediaMetadataExpanded,
    cover_path: Option<String>,
    tags: Vec<String>,
    num_tracks: u32,
    num_audio_files: u32,
    num_chapters: u32,
    duration: Num,
    size: u64,
    library_item_id: String,
    audio_files: Vec<AudioFileJson>,
    chapters: Vec<ChapterJson>,
    ebook_file: Option<Value>,
    tracks: Vec<AudioTrackJson>,
}

/// `LibraryItem.toOldJSONExpanded()`.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ItemExpanded {
    id: String,
    ino: String,
    old_library_item_id: Option<String>,
    library_id: String,
    folder_id: String,
    path: String,
    rel_path: String,
    is_file: bool,
    mtime_ms: i64,
    ctime_ms: i64,
    birthtime_ms: i64,
    added_at: i64,
    updated_at: i64,
    is_missing: bool,
    is_invalid: bool,
    media_type: &'static str,
    media: BookExpanded,
    num_files: u32,
    size: u64,
    last_scan: i64,
    scan_version: String,
    library_files: Vec<LibraryFileJson>,
}

/// `Task.toJSON()`.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskJson {
    id: String,
    action: &'static str,
    data: Value,
    title: String,
    title_key: &'static str,
    title_subs: Vec<String>,
    description: Option<String>,
    description_key: Option<String>,
    description_subs: Option<Vec<String>>,
    error: Option<String>,
    error_key: Option<String>,
    error_subs: Option<Vec<String>>,
    show_success: bool,
    is_failed: bool,
    is_finished: bool,
    started_at: i64,
    finished_at: Option<i64>,
}

/// `user_item_progress_updated` payload.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProgressUpdated {
    pub id: String,
    pub session_id: String,
    pub device_description: String,
    pub data: ProgressJson,
}

/// `Stream.toJSON()`, the `stream_open` payload.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StreamJson {
    id: String,
    user_id: String,
    library_item: Box<ItemExpanded>,
    episode: Option<Value>,
    segment_length: u32,
    playlist_path: String,
    client_playlist_uri: String,
    start_time: Num,
    segment_start_number: u64,
    is_transcode_complete: bool,
}

/// `{id, name, expiresAt, userId, isActive, createdByUserId, updatedAt, createdAt, user}`.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiKeyJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<String>,
    id: String,
    name: String,
    expires_at: Option<String>,
    user_id: String,
    is_active: bool,
    created_by_user_id: String,
    updated_at: String,
    created_at: String,
    user: Option<Value>,
}

/// JavaScript `Date.toJSON()`.
pub(crate) fn iso(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

pub(crate) fn progress_json(user_id: &str, p: &MediaProgress) -> ProgressJson {
    ProgressJson {
        id: p.id.clone(),
        user_id: user_id.to_string(),
        library_item_id: p.library_item_id.clone(),
        episode_id: None,
        media_item_id: p.media_item_id.clone(),
        media_item_type: "book",
        duration: Num(p.duration),
        progress: Num(p.progress),
        current_time: Num(p.current_time),
        is_finished: p.is_finished,
        hide_from_continue_listening: p.hide_from_continue_listening,
        ebook_location: None,
        ebook_progress: Num(0.0),
        last_update: p.last_update,
        started_at: p.started_at,
        finished_at: p.finished_at,
    }
}

pub(crate) fn user_browser(u: &User) -> UserBrowser {
    UserBrowser {
        id: u.id.clone(),
        username: u.username.clone(),
        email: u.email.clone(),
        user_type: u.user_type,
        token: u.token.clone(),
        media_progress: u
            .media_progress
            .iter()
            .map(|p| progress_json(&u.id, p))
            .collect(),
        series_hide_from_continue_listening: Vec::new(),
        bookmarks: Vec::new(),
        is_active: u.is_active,
        is_locked: u.is_locked,
        last_seen: u.last_seen,
        created_at: u.created_at,
        permissions: u.permissions.clone(),
        libraries_accessible: u.libraries_accessible.clone(),
        item_tags_selected: u.item_tags_selected.clone(),
        has_open_id_link: false,
    }
}

/// `toJSONForPublic(sessions)`: the user's FIRST open session, if any.
pub(crate) fn user_public(st: &State, u: &User, server_version: &str) -> UserPublic {
    let session = st
        .sessions
        .iter()
        .find(|s| s.user_id == u.id)
        .map(|s| Box::new(session_client(s, server_version, None)));
    UserPublic {
        id: u.id.clone(),
        username: u.username.clone(),
        user_type: u.user_type,
        session,
        last_seen: u.last_seen,
        created_at: u.created_at,
    }
}

/// `SocketAuthority.getUsersOnline()`: one entry per user with authenticated sockets.
pub(crate) fn users_online(st: &State, server_version: &str) -> Vec<UserOnline> {
    let mut out: Vec<UserOnline> = Vec::new();
    for c in &st.clients {
        let Some(uid) = c.user_id.as_deref() else {
            continue;
        };
        if let Some(entry) = out.iter_mut().find(|e| e.user.id == uid) {
            entry.connections += 1;
        } else if let Some(u) = st.user(uid) {
            out.push(UserOnline {
                user: user_public(st, u, server_version),
                connections: 1,
            });
        }
    }
    out.extend(crate::hostile::fake_online(st.hostile.fake_online));
    out
}

pub(crate) fn device_json(d: &Device) -> DeviceJson {
    DeviceJson {
        id: d.id.clone(),
        user_id: d.user_id.clone(),
        device_id: d.device_id.clone(),
        ip_address: d.ip_address.clone(),
        client_version: d.client_version.clone(),
        manufacturer: d.manufacturer.clone(),
        model: d.model.clone(),
        sdk_version: d.sdk_version.clone(),
        client_name: d.client_name.clone(),
        device_name: d.device_name.clone(),
    }
}

fn chapters_json(chapters: &[Chapter]) -> Vec<ChapterJson> {
    chapters
        .iter()
        .map(|c| ChapterJson {
            id: c.id,
            start: Num(c.start),
            end: Num(c.end),
            title: c.title.clone(),
        })
        .collect()
}

fn media_metadata(i: &Item) -> MediaMetadata {
    MediaMetadata {
        title: i.title.clone(),
        subtitle: i.subtitle.clone(),
        authors: i
            .authors
            .iter()
            .map(|(id, name)| AuthorRef {
                id: id.clone(),
                name: name.clone(),
            })
            .collect(),
        narrators: i.narrators.clone(),
        series: i.series.clone(),
        genres: i.genres.clone(),
        published_year: i.published_year.clone(),
        published_date: None,
        publisher: i.publisher.clone(),
        description: i.description.clone(),
        isbn: i.isbn.clone(),
        asin: i.asin.clone(),
        language: i.language.clone(),
        explicit: i.explicit,
        abridged: i.abridged,
    }
}

/// "Arthur Conan Doyle" -> "Doyle, Arthur Conan".
fn last_first(name: &str) -> String {
    match name.rsplit_once(' ') {
        Some((first, last)) => format!("{last}, {first}"),
        None => name.to_string(),
    }
}

/// Title without a leading "The "/"A " (`getTitleIgnorePrefix`).
fn title_ignore_prefix(title: &str) -> String {
    for prefix in ["The ", "A "] {
        if let Some(rest) = title.strip_prefix(prefix) {
            return format!("{rest}, {}", prefix.trim_end());
        }
    }
    title.to_string()
}

pub(crate) fn cover_path(i: &Item) -> String {
    format!("{}/cover.png", i.path)
}

fn file_metadata(i: &Item, filename: String, size: u64) -> FileMetadata {
    let ext = filename
        .rsplit_once('.')
        .map(|(_, e)| format!(".{e}"))
        .unwrap_or_default();
    FileMetadata {
        path: format!("{}/{filename}", i.path),
        rel_path: filename.clone(),
        filename,
        ext,
        size,
        mtime_ms: i.mtime_ms,
        ctime_ms: i.ctime_ms,
        birthtime_ms: i.birthtime_ms,
    }
}

fn audio_file(i: &Item) -> AudioFileJson {
    AudioFileJson {
        index: 1,
        ino: i.audio_ino.clone(),
        metadata: file_metadata(i, i.audio_filename(), i.audio_size),
        added_at: i.added_at,
        updated_at: i.added_at,
        track_num_from_meta: None,
        disc_num_from_meta: None,
        track_num_from_filename: None,
        disc_num_from_filename: None,
        manually_verified: false,
        exclude: false,
        error: None,
        format: "QuickTime / MOV",
        duration: Num(i.duration),
        bit_rate: i.bit_rate,
        language: None,
        codec: "aac",
        time_base: "1/44100",
        channels: 2,
        channel_layout: "stereo",
        chapters: chapters_json(&i.chapters),
        embedded_cover_art: None,
        meta_tags: json!({
            "tagAlbum": i.title,
            "tagArtist": i.author_name(),
            "tagGenre": "Audiobook",
            "tagTitle": i.title,
            "tagDate": i.published_year,
            "tagEncoder": "Lavf60.16.100",
        }),
        mime_type: "audio/mp4",
    }
}

fn audio_track(i: &Item) -> AudioTrackJson {
    AudioTrackJson {
        file: audio_file(i),
        title: i.audio_filename(),
        start_offset: Num(0.0),
        content_url: format!("/api/items/{}/file/{}", i.id, i.audio_ino),
    }
}

pub(crate) fn item_expanded(i: &Item, server_version: &str) -> ItemExpanded {
    let narrator_name = i.narrators.join(", ");
    let series_name = i
        .series
        .iter()
        .map(|s| match &s.sequence {
            Some(seq) => format!("{} #{seq}", s.name),
            None => s.name.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let author_name = i.author_name();
    let author_name_lf = i
        .authors
        .iter()
        .map(|(_, n)| last_first(n))
        .collect::<Vec<_>>()
        .join(", ");
    let cover = file_metadata(i, "cover.png".to_string(), i.cover_size);
    ItemExpanded {
        id: i.id.clone(),
        ino: i.ino.clone(),
        old_library_item_id: None,
        library_id: i.library_id.clone(),
        folder_id: i.folder_id.clone(),
        path: i.path.clone(),
        rel_path: i.rel_path.clone(),
        is_file: false,
        mtime_ms: i.mtime_ms,
        ctime_ms: i.ctime_ms,
        birthtime_ms: i.birthtime_ms,
        added_at: i.added_at,
        updated_at: i.updated_at,
        is_missing: i.is_missing,
        is_invalid: false,
        media_type: "book",
        media: BookExpanded {
            id: i.media_id.clone(),
            metadata: MediaMetadataExpanded {
                base: media_metadata(i),
                title_ignore_prefix: title_ignore_prefix(&i.title),
                author_name,
                author_name_lf,
                narrator_name,
                series_name,
                description_plain: i.description.clone(),
            },
            cover_path: Some(cover_path(i)),
            tags: Vec::new(),
            num_tracks: 1,
            num_audio_files: 1,
            num_chapters: i.chapters.len() as u32,
            duration: Num(i.duration),
            size: i.audio_size,
            library_item_id: i.id.clone(),
            audio_files: vec![audio_file(i)],
            chapters: chapters_json(&i.chapters),
            ebook_file: None,
            tracks: vec![audio_track(i)],
        },
        num_files: 2,
        size: i.audio_size + i.cover_size,
        last_scan: i.last_scan,
        scan_version: server_version.to_string(),
        library_files: vec![
            LibraryFileJson {
                ino: i.audio_ino.clone(),
                metadata: file_metadata(i, i.audio_filename(), i.audio_size),
                is_supplementary: None,
                added_at: i.added_at,
                updated_at: i.added_at,
                file_type: "audio",
            },
            LibraryFileJson {
                ino: i.cover_ino.clone(),
                metadata: cover,
                is_supplementary: None,
                added_at: i.added_at,
                updated_at: i.added_at,
                file_type: "image",
            },
        ],
    }
}

/// `toJSONMinified()` of an item, as in `GET /api/libraries/:id/items`.
pub(crate) fn item_minified(i: &Item) -> Value {
    json!({
        "id": i.id, "ino": i.ino, "oldLibraryItemId": null, "libraryId": i.library_id,
        "folderId": i.folder_id, "path": i.path, "relPath": i.rel_path, "isFile": false,
        "mtimeMs": i.mtime_ms, "ctimeMs": i.ctime_ms, "birthtimeMs": i.birthtime_ms,
        "addedAt": i.added_at, "updatedAt": i.updated_at, "isMissing": i.is_missing,
        "isInvalid": false, "mediaType": "book",
        "media": {
            "id": i.media_id,
            "metadata": {
                "title": i.title, "titleIgnorePrefix": title_ignore_prefix(&i.title),
                "subtitle": i.subtitle, "authorName": i.author_name(),
                "authorNameLF": i.authors.iter().map(|(_, n)| last_first(n)).collect::<Vec<_>>().join(", "),
                "narratorName": i.narrators.join(", "),
                "seriesName": i.series.iter().map(|s| s.name.clone()).collect::<Vec<_>>().join(", "),
                "genres": i.genres, "publishedYear": i.published_year, "publishedDate": null,
                "publisher": i.publisher, "description": i.description, "isbn": i.isbn,
                "asin": i.asin, "language": i.language, "explicit": i.explicit, "abridged": i.abridged,
            },
            "coverPath": cover_path(i), "tags": [], "numTracks": 1, "numAudioFiles": 1,
            "numChapters": i.chapters.len(), "duration": Num(i.duration), "size": i.audio_size,
            "ebookFormat": null,
        },
        "numFiles": 2, "size": i.audio_size + i.cover_size,
    })
}

pub(crate) fn session_json(s: &PlaybackSession, server_version: &str) -> SessionJson {
    SessionJson {
        id: s.id.clone(),
        user_id: s.user_id.clone(),
        library_id: s.library_id.clone(),
        library_item_id: s.library_item_id.clone(),
        book_id: Some(s.book_id.clone()),
        episode_id: None,
        media_type: "book",
        media_metadata: media_metadata(&s.item),
        chapters: chapters_json(&s.item.chapters),
        display_title: s.item.title.clone(),
        display_author: s.item.author_name(),
        cover_path: Some(cover_path(&s.item)),
        duration: Num(s.item.duration),
        play_method: s.play_method.code(),
        media_player: s.media_player.clone(),
        device_info: device_json(&s.device),
        server_version: server_version.to_string(),
        date: s.date.clone(),
        day_of_week: s.day_of_week.clone(),
        time_listening: Num(s.time_listening),
        start_time: Num(s.start_time),
        current_time: Num(s.current_time),
        started_at: s.started_at,
        updated_at: s.updated_at,
    }
}

fn session_tracks(s: &PlaybackSession) -> Vec<Track> {
    match s.play_method {
        PlayMethod::DirectPlay => vec![Track::Direct(Box::new(audio_track(&s.item)))],
        PlayMethod::Transcode => vec![Track::Hls(HlsTrackJson {
            index: 1,
            start_offset: Num(0.0),
            duration: Num(s.item.duration),
            title: s.item.title.clone(),
            content_url: format!("/hls/{}/output.m3u8", s.id),
            mime_type: "application/vnd.apple.mpegurl",
            codec: None,
            metadata: None,
        })],
    }
}

pub(crate) fn session_client(
    s: &PlaybackSession,
    server_version: &str,
    item: Option<&Item>,
) -> SessionClient {
    SessionClient {
        base: session_json(s, server_version),
        audio_tracks: session_tracks(s),
        library_item: item.map(|i| Box::new(item_expanded(i, server_version))),
    }
}

pub(crate) fn session_open(st: &State, s: &PlaybackSession, server_version: &str) -> SessionOpen {
    SessionOpen {
        base: session_json(s, server_version),
        user: st.user(&s.user_id).map(|u| UserMini {
            id: u.id.clone(),
            username: u.username.clone(),
        }),
    }
}

pub(crate) fn stream_json(s: &PlaybackSession, server_version: &str) -> StreamJson {
    StreamJson {
        id: s.id.clone(),
        user_id: s.user_id.clone(),
        library_item: Box::new(item_expanded(&s.item, server_version)),
        episode: None,
        segment_length: 6,
        playlist_path: format!("/metadata/streams/{}/output.m3u8", s.id),
        client_playlist_uri: format!("/hls/{}/output.m3u8", s.id),
        start_time: Num(s.start_time),
        segment_start_number: (s.start_time / 6.0).floor().max(0.0) as u64,
        is_transcode_complete: false,
    }
}

pub(crate) fn library_json(l: &Library) -> Value {
    json!({
        "id": l.id, "name": l.name,
        "folders": [{"id": l.folder_id, "fullPath": l.folder_path, "libraryId": l.id, "addedAt": l.folder_added_at}],
        "displayOrder": l.display_order, "icon": l.icon, "mediaType": l.media_type, "provider": l.provider,
        "settings": {
            "coverAspectRatio": 1, "disableWatcher": false, "autoScanCronExpression": null,
            "skipMatchingMediaWithAsin": false, "skipMatchingMediaWithIsbn": false,
            "audiobooksOnly": false, "epubsAllowScriptedContent": false, "hideSingleBookSeries": false,
            "onlyShowLaterBooksInContinueSeries": false,
            "metadataPrecedence": ["folderStructure", "audioMetatags", "nfoFile", "txtFiles", "opfFile", "absMetadata"],
            "markAsFinishedPercentComplete": null, "markAsFinishedTimeRemaining": 10,
        },
        "lastScan": l.last_scan, "createdAt": l.created_at, "lastUpdate": l.last_update,
    })
}

pub(crate) fn task_json(t: &Task) -> TaskJson {
    let watcher = t.kind == ScanKind::Watcher;
    // The watcher's task data has no media type; its results say `removed` and come in the
    // order `scanFilesChanged` builds them.
    let mut data = if watcher {
        json!({"libraryId": t.library_id, "libraryName": t.library_name})
    } else {
        json!({
            "libraryId": t.library_id,
            "libraryName": t.library_name,
            "libraryMediaType": t.library_media_type,
        })
    };
    if let (Some(r), Some(obj)) = (&t.scan_results, data.as_object_mut()) {
        let results = if watcher {
            json!({"added": r.added, "updated": r.updated, "removed": r.missing, "text": r.text, "elapsed": r.elapsed})
        } else {
            json!({"added": r.added, "updated": r.updated, "missing": r.missing, "elapsed": r.elapsed, "text": r.text})
        };
        obj.insert("scanResults".into(), results);
    }
    let (description, description_key) = match &t.description {
        Some((text, key)) => (Some(text.clone()), Some(key.clone())),
        None => (None, None),
    };
    let (action, title, title_key) = if watcher {
        (
            "watcher-scan",
            format!("Scanning file changes in \"{}\"", t.library_name),
            "MessageTaskScanningFileChanges",
        )
    } else {
        (
            "library-scan",
            format!("Scanning \"{}\" library", t.library_name),
            "MessageTaskScanningLibrary",
        )
    };
    TaskJson {
        id: t.id.clone(),
        action,
        data,
        title,
        title_key,
        title_subs: vec![t.library_name.clone()],
        description,
        description_key,
        description_subs: None,
        error: None,
        error_key: None,
        error_subs: None,
        show_success: true,
        is_failed: false,
        is_finished: t.is_finished,
        started_at: t.started_at,
        finished_at: t.finished_at,
    }
}

pub(crate) fn api_key_json(st: &State, k: &ApiKey, secret_token: Option<String>) -> ApiKeyJson {
    ApiKeyJson {
        api_key: secret_token,
        id: k.id.clone(),
        name: k.name.clone(),
        expires_at: k.expires_at.map(iso),
        user_id: k.user_id.clone(),
        is_active: k.is_active,
        created_by_user_id: k.created_by_user_id.clone(),
        updated_at: iso(k.updated_at),
        created_at: iso(k.created_at),
        user: st
            .user(&k.user_id)
            .map(|u| json!({"id": u.id, "username": u.username, "type": u.user_type})),
    }
}

/// `ServerSettings.toJSONForBrowser()`.
pub(crate) fn server_settings(server_version: &str) -> Value {
    json!({
        "id": "server-settings",
        "scannerFindCovers": false, "scannerCoverProvider": "google", "scannerParseSubtitle": false,
        "scannerPreferMatchedMetadata": false, "scannerDisableWatcher": false,
        "storeCoverWithItem": false, "storeMetadataWithItem": false, "metadataFileFormat": "json",
        "rateLimitLoginRequests": 10, "rateLimitLoginWindow": 600000, "allowIframe": false,
        "backupPath": "/metadata/backups", "backupSchedule": false, "backupsToKeep": 2, "maxBackupSize": 1,
        "loggerDailyLogsToKeep": 7, "loggerScannerLogsToKeep": 2,
        "homeBookshelfView": 1, "bookshelfView": 1, "podcastEpisodeSchedule": "0 * * * *",
        "sortingIgnorePrefix": false, "sortingPrefixes": ["the", "a"], "chromecastEnabled": false,
        "dateFormat": "MM/dd/yyyy", "timeFormat": "HH:mm", "language": "en-us", "allowedOrigins": [],
        "logLevel": 2, "version": server_version, "buildNumber": 1,
        "authLoginCustomMessage": null, "authActiveAuthMethods": ["local"],
        "authOpenIDIssuerURL": null, "authOpenIDAuthorizationURL": null, "authOpenIDTokenURL": null,
        "authOpenIDUserInfoURL": null, "authOpenIDJwksURL": null, "authOpenIDLogoutURL": null,
        "authOpenIDTokenSigningAlgorithm": "RS256", "authOpenIDButtonText": "Login with OpenId",
        "authOpenIDAutoLaunch": false, "authOpenIDAutoRegister": false, "authOpenIDMatchExistingBy": null,
    })
}

/// The login/refresh/authorize payload.
pub(crate) fn login_response(
    st: &State,
    u: &User,
    server_version: &str,
    access_token: Option<String>,
    refresh_token: Option<Option<String>>,
) -> LoginResponse {
    LoginResponse {
        user: LoginUser {
            user: user_browser(u),
            refresh_token,
            access_token,
        },
        user_default_library_id: st
            .db
            .libraries
            .iter()
            .find(|l| u.can_access_library(&l.id))
            .map(|l| l.id.clone()),
        server_settings: server_settings(server_version),
        ereader_devices: Vec::new(),
        source: "docker",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_look_like_javascript() {
        let v = serde_json::to_string(&(Num(30.0), Num(30.5), Num(f64::NAN))).unwrap();
        assert_eq!(v, "[30,30.5,null]");
    }

    #[test]
    fn names() {
        assert_eq!(last_first("Arthur Conan Doyle"), "Doyle, Arthur Conan");
        assert_eq!(title_ignore_prefix("The Time Machine"), "Time Machine, The");
    }
}
