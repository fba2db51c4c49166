//! A small Socket.IO v5 / Engine.IO v4 client over one WebSocket: the transport ABS's own web client uses.
//!
//! Why not rust_socketio 0.6: it reports a graceful server shutdown (what ABS does on restart) as
//! nothing at all, so the app stayed blind for ~30 s; it misroutes payload-less events (`pong`); its
//! callbacks run inside its heartbeat loop; dropping it leaves its task running. Here the owner reads
//! frames itself, so a close frame, an EOF or a missed heartbeat is an error the moment it happens.
//!
//! No frame that has arrived is lost to a deadline: after a freeze (a stopped process, a busy
//! machine) every timer has passed before the runtime has even looked at the socket, so a
//! deadline is judged only once the frames the kernel already holds have been read.

use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::Value;
use thiserror::Error;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::connection::log_limit::LogLimit;
use crate::protocol::{MAX_EVENT_NAME_BYTES, RawArg};

/// The largest frame accepted from a server; bigger ones end the connection instead of memory.
pub const MAX_FRAME_BYTES: usize = 16 << 20;

/// Most arguments kept from one event; the rest are skipped unread. Decoding reads only the
/// first, and unmodelled events are only logged, so this is room to spare, not a limit ABS meets.
pub const MAX_EVENT_ARGS: usize = 16;

/// How long the rest of a frame the kernel already holds part of may take, and how long a pong
/// may take while only frames that arrived are read: bounds, not waits (both are there at once).
const ARRIVED_WAIT: Duration = Duration::from_secs(1);

/// One open WebSocket.
type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What reading the WebSocket gave: a message, an error, or `None` at its end.
type Read = Option<Result<Message, tungstenite::Error>>;

/// Why the socket could not connect or stopped working.
#[derive(Debug, Error)]
pub enum SocketError {
    /// The URL cannot be turned into a WebSocket address.
    #[error("invalid socket address: {0}")]
    BadUrl(String),
    /// TCP, TLS or the WebSocket upgrade failed (a reverse proxy without WebSocket support lands here).
    #[error("could not open the WebSocket: {0}")]
    Connect(String),
    /// The server spoke, but not Engine.IO v4 / Socket.IO v5.
    #[error("the server does not speak Socket.IO v4: {0}")]
    Protocol(String),
    /// The server refused to join the default namespace.
    #[error("the server refused the Socket.IO connection: {0}")]
    Refused(String),
    /// The server closed the connection (restart, proxy timeout, kick).
    #[error("the server closed the connection")]
    Closed,
    /// Nothing arrived within the heartbeat window the server itself announced.
    #[error("the server stopped answering (no heartbeat for {0:?})")]
    HeartbeatTimeout(Duration),
    /// Reading or writing the WebSocket failed.
    #[error("connection lost: {0}")]
    Io(String),
    /// A step of the handshake did not finish in time (a stalled server).
    #[error("the server did not answer within {0:?}")]
    Timeout(Duration),
}

impl SocketError {
    /// One plain sentence for people: what happened and what ABS Tray does or the user can do.
    /// [`Display`](std::fmt::Display) keeps the system's words for details and logs.
    pub fn plain(&self) -> String {
        match self {
            Self::Connect(text) => connect_failure(text).to_owned(),
            Self::BadUrl(_) => {
                "The server address cannot be used for the live connection: sign in again with \
                 the address you open Audiobookshelf with."
                    .to_owned()
            }
            Self::Protocol(_) | Self::Refused(_) => {
                "The server does not accept the live connection like Audiobookshelf 2.x: check \
                 that the address is your Audiobookshelf server."
                    .to_owned()
            }
            Self::Closed => {
                "The server closed the connection (it may be restarting): ABS Tray reconnects as \
                 soon as it is back."
                    .to_owned()
            }
            Self::HeartbeatTimeout(_) | Self::Timeout(_) => {
                "The server stopped answering: ABS Tray reconnects as soon as it answers again."
                    .to_owned()
            }
            Self::Io(_) => {
                "The connection to the server was lost: ABS Tray reconnects as soon as it can."
                    .to_owned()
            }
        }
    }
}

/// People's words for a failed WebSocket open, from the transport's own text.
fn connect_failure(text: &str) -> &'static str {
    let lower = text.to_ascii_lowercase();
    if lower.contains("connection refused") {
        "Cannot reach the server: nothing answers at its address. Check that Audiobookshelf is \
         running; ABS Tray keeps trying."
    } else if lower.contains("lookup") || lower.contains("name or service") {
        "The server's name cannot be found: check this computer's network connection; ABS Tray \
         keeps trying."
    } else if lower.contains("http error: 400") || lower.contains("http error: 426") {
        "The server refuses live connections (WebSocket), usually a reverse proxy setting: let \
         it pass the Upgrade and Connection headers on /socket.io/."
    } else if lower.contains("http error") {
        "The server answers, but not with a live connection: check the address and the reverse \
         proxy in front of it."
    } else if lower.contains("tls") || lower.contains("ssl") || lower.contains("certificate") {
        "The secure connection to the server failed: check the server's certificate; ABS Tray \
         keeps trying."
    } else if lower.contains("unreachable")
        || lower.contains("no route")
        || lower.contains("timed out")
    {
        "Cannot reach the server from this network: ABS Tray keeps trying."
    } else {
        "Cannot open the live connection to the server: ABS Tray keeps trying."
    }
}

/// What the server announced when the Engine.IO session opened.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Handshake {
    /// How often the server pings.
    ping_interval: u64,
    /// How long the server waits for our pong, and we for its next ping on top of the interval.
    ping_timeout: u64,
}

/// An event the server sent: its name and its arguments, each still the JSON text it arrived as
/// (no JSON tree is built; [`protocol::decode`](crate::protocol::decode) reads models from the text).
#[derive(Debug, Clone, PartialEq)]
pub struct RawEvent {
    /// The event name, e.g. `user_online`; at most [`MAX_EVENT_NAME_BYTES`].
    pub name: String,
    /// The arguments after the name, at most [`MAX_EVENT_ARGS`]; empty for payload-less events
    /// such as `pong`.
    pub args: Vec<RawArg>,
}

/// An open Socket.IO connection to the default namespace; the owner drives it by calling [`Socket::recv`].
pub struct Socket {
    /// The WebSocket carrying Engine.IO frames.
    ws: Ws,
    /// Longest silence the server's own heartbeat allows before the link counts as dead.
    silence_limit: Duration,
    /// When the link must have shown life again.
    deadline: Instant,
    /// Warnings about unreadable frames, so a flood of them cannot flood the log.
    malformed: LogLimit,
    /// A failed write (a pong to a server that is gone): reported once the frames that arrived
    /// before it are read, since the server sent those while it was still there.
    broken: Option<SocketError>,
}

impl Socket {
    /// Opens a WebSocket to `socket_url` (the server's `.../socket.io/` address) and joins the default namespace.
    pub async fn connect(
        socket_url: &str,
        tls: Option<native_tls::TlsConnector>,
        handshake_timeout: Duration,
    ) -> Result<Self, SocketError> {
        let ws_url = websocket_url(socket_url)?;
        let deadline = Instant::now() + handshake_timeout;
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_FRAME_BYTES))
            .max_frame_size(Some(MAX_FRAME_BYTES));
        let connector = tls.map(Connector::NativeTls);
        let connecting = tokio_tungstenite::connect_async_tls_with_config(
            ws_url.as_str(),
            Some(config),
            false,
            connector,
        );
        let (mut ws, _response) = timeout_at(deadline, connecting)
            .await
            .map_err(|_| SocketError::Timeout(handshake_timeout))?
            .map_err(|err| SocketError::Connect(err.to_string()))?;

        let open = next_text(&mut ws, deadline, handshake_timeout).await?;
        let handshake: Handshake = open
            .strip_prefix('0')
            .and_then(|json| serde_json::from_str(json).ok())
            .ok_or_else(|| {
                SocketError::Protocol(format!("unexpected open frame {}", preview(&open)))
            })?;
        send_text(&mut ws, "40".into()).await?;
        loop {
            let frame = next_text(&mut ws, deadline, handshake_timeout).await?;
            match frame.as_bytes() {
                [b'4', b'0', ..] => break,
                [b'4', b'4', ..] => return Err(SocketError::Refused(preview(&frame[2..]))),
                [b'2'] => send_text(&mut ws, "3".into()).await?,
                _ => {
                    tracing::debug!(frame = %preview(&frame), "ignored frame before the namespace opened")
                }
            }
        }

        let silence_limit = Duration::from_millis(
            handshake
                .ping_interval
                .saturating_add(handshake.ping_timeout),
        );
        Ok(Self {
            ws,
            silence_limit,
            deadline: Instant::now() + silence_limit,
            malformed: LogLimit::new("malformed Socket.IO frames"),
            broken: None,
        })
    }

    /// Waits for the next event, answering heartbeats on the way. Cancel-safe: use it in `select!`.
    ///
    /// The heartbeat deadline counts only once every frame that has already arrived is read.
    pub async fn recv(&mut self) -> Result<RawEvent, SocketError> {
        loop {
            let read = if self.broken.is_some() {
                self.arrived().await
            } else {
                match timeout_at(self.deadline, self.ws.next()).await {
                    Ok(read) => Some(read),
                    Err(_) => self.arrived().await,
                }
            };
            let Some(read) = read else {
                return Err(self
                    .broken
                    .take()
                    .unwrap_or(SocketError::HeartbeatTimeout(self.silence_limit)));
            };
            if let Some(event) = self.handle(read, None).await? {
                return Ok(event);
            }
        }
    }

    /// The next event among the frames that have already arrived, without waiting for the server;
    /// `None` once none is left or the socket ended. For the last look before the connection is
    /// given up (a deadline passed, the clock jumped): what the server sent still gets delivered.
    pub async fn recv_arrived(&mut self) -> Option<RawEvent> {
        loop {
            let read = self.arrived().await?;
            match self.handle(read, Some(ARRIVED_WAIT)).await {
                Ok(Some(event)) => return Some(event),
                Ok(None) => {}
                Err(_) => return None,
            }
        }
    }

    /// Reads the next message only if it has already arrived: parsed before, or in the kernel's
    /// buffer, where the runtime may not have noticed it yet (right after a freeze).
    async fn arrived(&mut self) -> Option<Read> {
        if let Some(read) = self.ws.next().now_or_never() {
            return Some(read);
        }
        if !self.bytes_waiting() {
            return None;
        }
        // The kernel has them, so the runtime is told at its next look: this takes no time,
        // unless the server stopped in the middle of a frame.
        timeout(ARRIVED_WAIT, self.ws.next()).await.ok()
    }

    /// True when the kernel holds unread bytes (or the server's end of the stream) for this socket.
    fn bytes_waiting(&self) -> bool {
        let mut byte = [std::mem::MaybeUninit::uninit()];
        // The socket is non-blocking: an empty buffer is `WouldBlock`, not a wait.
        socket2::SockRef::from(self.ws.get_ref().get_ref())
            .peek(&mut byte)
            .is_ok()
    }

    /// Handles one message: answers a ping (within `pong_limit`, if given), returns an event,
    /// turns a close into an error. A failed pong is kept for later (see `broken`).
    async fn handle(
        &mut self,
        read: Read,
        pong_limit: Option<Duration>,
    ) -> Result<Option<RawEvent>, SocketError> {
        let message = match read {
            None => return Err(SocketError::Closed),
            Some(Err(err)) => return Err(SocketError::Io(err.to_string())),
            Some(Ok(message)) => message,
        };
        self.deadline = Instant::now() + self.silence_limit;
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => return Err(SocketError::Closed),
            // ABS sends no binary events; binary attachments and WebSocket pings need nothing from us.
            other => {
                tracing::trace!(kind = ?other, "ignored non-text frame");
                return Ok(None);
            }
        };
        match parse_frame(&text) {
            Frame::Ping if self.broken.is_none() => {
                let pong = send_text(&mut self.ws, "3".into());
                let sent = match pong_limit {
                    None => pong.await,
                    Some(limit) => timeout(limit, pong)
                        .await
                        .unwrap_or(Err(SocketError::Timeout(limit))),
                };
                self.broken = sent.err();
                Ok(None)
            }
            Frame::Event(event) => Ok(Some(event)),
            Frame::Closed => Err(SocketError::Closed),
            Frame::Ping | Frame::Ignored => Ok(None),
            Frame::Malformed => {
                if self.malformed.allow() {
                    tracing::warn!(frame = %preview(&text), "ignored malformed Socket.IO frame");
                }
                Ok(None)
            }
        }
    }

    /// Sends an event. `Ok` means handed to the OS: only an answer proves the server got it.
    pub async fn emit(&mut self, name: &str, args: &[Value]) -> Result<(), SocketError> {
        let mut array = Vec::with_capacity(args.len() + 1);
        array.push(Value::String(name.to_owned()));
        array.extend_from_slice(args);
        send_text(&mut self.ws, format!("42{}", Value::Array(array))).await
    }

    /// Leaves politely; gives up quickly on a server that no longer reads.
    pub async fn close(mut self) {
        self.malformed.flush();
        let polite = async {
            let _ = send_text(&mut self.ws, "41".into()).await;
            let _ = self.ws.close(None).await;
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), polite).await;
    }
}

/// What one Engine.IO text frame means to us. Public only for the fuzz targets.
#[doc(hidden)]
#[derive(Debug, PartialEq)]
pub enum Frame {
    /// Engine.IO heartbeat: answer with a pong.
    Ping,
    /// A Socket.IO event on the default namespace.
    Event(RawEvent),
    /// The server ended the session (Engine.IO close or Socket.IO disconnect).
    Closed,
    /// Valid but nothing for us (noop, pong, acks, other namespaces).
    Ignored,
    /// Not a frame we can read.
    Malformed,
}

/// Reads one Engine.IO text frame. Public only for the fuzz targets (`packet`).
#[doc(hidden)]
pub fn parse_frame(text: &str) -> Frame {
    let Some((engine, rest)) = split_first(text) else {
        return Frame::Malformed;
    };
    match engine {
        '1' => Frame::Closed,
        '2' => Frame::Ping,
        '3' | '6' => Frame::Ignored,
        '4' => parse_socketio(rest),
        _ => Frame::Malformed,
    }
}

/// Reads a Socket.IO packet: type, optional namespace, optional ack id, JSON data.
fn parse_socketio(packet: &str) -> Frame {
    let Some((kind, rest)) = split_first(packet) else {
        return Frame::Malformed;
    };
    if rest.starts_with('/') {
        // Only the default namespace exists on ABS; anything else is not addressed to us.
        return Frame::Ignored;
    }
    match kind {
        '1' => Frame::Closed,
        '2' => {
            let json = rest.trim_start_matches(|c: char| c.is_ascii_digit());
            match serde_json::from_str::<Packet>(json) {
                Ok(Packet(event)) => Frame::Event(event),
                Err(_) => Frame::Malformed,
            }
        }
        '0' | '3' | '4' | '5' | '6' => Frame::Ignored,
        _ => Frame::Malformed,
    }
}

/// The JSON array of an event packet, `["name", args...]`, read without building a tree.
struct Packet(RawEvent);

impl<'de> Deserialize<'de> for Packet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(PacketVisitor)
    }
}

/// Reads a [`Packet`]: a bounded name, then up to [`MAX_EVENT_ARGS`] arguments as text.
struct PacketVisitor;

impl<'de> Visitor<'de> for PacketVisitor {
    type Value = Packet;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array starting with the event name")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Packet, A::Error> {
        let name = seq
            .next_element_seed(EventName)?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let mut args = Vec::new();
        while args.len() < MAX_EVENT_ARGS {
            match seq.next_element::<RawArg>()? {
                Some(arg) => args.push(arg),
                None => return Ok(Packet(RawEvent { name, args })),
            }
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Packet(RawEvent { name, args }))
    }
}

/// Reads an event name, refusing one over [`MAX_EVENT_NAME_BYTES`] before copying it.
struct EventName;

impl<'de> DeserializeSeed<'de> for EventName {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for EventName {
    type Value = String;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an event name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        if v.len() > MAX_EVENT_NAME_BYTES {
            return Err(E::invalid_length(v.len(), &self));
        }
        Ok(v.to_owned())
    }
}

/// Splits off the first character.
fn split_first(text: &str) -> Option<(char, &str)> {
    let mut chars = text.chars();
    chars.next().map(|first| (first, chars.as_str()))
}

/// Turns the `http(s)://.../socket.io/` address into the WebSocket transport URL.
fn websocket_url(socket_url: &str) -> Result<String, SocketError> {
    let (scheme, rest) = socket_url
        .split_once("://")
        .ok_or_else(|| SocketError::BadUrl(socket_url.to_owned()))?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        _ => return Err(SocketError::BadUrl(socket_url.to_owned())),
    };
    let path = rest.split(['?', '#']).next().unwrap_or(rest);
    let separator = if path.ends_with('/') { "" } else { "/" };
    Ok(format!(
        "{scheme}://{path}{separator}?EIO=4&transport=websocket"
    ))
}

/// Reads the next text frame during the handshake.
async fn next_text(ws: &mut Ws, deadline: Instant, limit: Duration) -> Result<String, SocketError> {
    loop {
        match timeout_at(deadline, ws.next()).await {
            Err(_) => return Err(SocketError::Timeout(limit)),
            Ok(None) | Ok(Some(Ok(Message::Close(_)))) => return Err(SocketError::Closed),
            Ok(Some(Err(err))) => return Err(SocketError::Io(err.to_string())),
            Ok(Some(Ok(Message::Text(text)))) => return Ok(text.as_str().to_owned()),
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Sends one text frame.
async fn send_text(ws: &mut Ws, text: String) -> Result<(), SocketError> {
    ws.send(Message::text(text))
        .await
        .map_err(|err| SocketError::Io(err.to_string()))
}

/// The start of a frame for log lines; never the whole (possibly huge) frame.
fn preview(text: &str) -> String {
    let end = text.char_indices().nth(80).map_or(text.len(), |(i, _)| i);
    text[..end].escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_failures_read_as_plain_sentences() {
        for (system, start) in [
            (
                "IO error: Connection refused (os error 111)",
                "Cannot reach the server",
            ),
            (
                "IO error: failed to lookup address information: Name or service not known",
                "The server's name cannot be found",
            ),
            (
                "HTTP error: 400 Bad Request",
                "The server refuses live connections",
            ),
            ("HTTP error: 502 Bad Gateway", "The server answers, but not"),
            (
                "TLS error: native-tls error: certificate verify failed",
                "The secure connection",
            ),
            (
                "IO error: No route to host (os error 113)",
                "Cannot reach the server from this network",
            ),
            ("something else entirely", "Cannot open the live connection"),
        ] {
            let plain = SocketError::Connect(system.into()).plain();
            assert!(plain.starts_with(start), "{system}: {plain}");
            assert!(
                plain.ends_with('.') && !plain.contains("os error"),
                "{plain}"
            );
        }
        assert!(SocketError::Closed.plain().starts_with("The server closed"));
    }

    /// An event frame whose arguments are these JSON texts.
    fn event(name: &str, args: &[&str]) -> Frame {
        Frame::Event(RawEvent {
            name: name.into(),
            args: args
                .iter()
                .map(|a| RawArg::from_json(*a).unwrap())
                .collect(),
        })
    }

    /// The arguments of an event frame, as text.
    fn args_of(frame: &str) -> Vec<String> {
        match parse_frame(frame) {
            Frame::Event(event) => event.args.iter().map(|a| a.json().to_owned()).collect(),
            other => panic!("{frame:?} read as {other:?}"),
        }
    }

    #[test]
    fn reads_events_with_and_without_payload() {
        assert_eq!(parse_frame(r#"42["pong"]"#), event("pong", &[]));
        assert_eq!(
            parse_frame(r#"42["init",{"userId":"u"}]"#),
            event("init", &[r#"{"userId":"u"}"#])
        );
        assert_eq!(parse_frame(r#"4217["a",1,2]"#), event("a", &["1", "2"]));
    }

    #[test]
    fn keeps_arguments_as_the_text_they_arrived_as() {
        // A JSON tree would reorder nothing here but would drop the spacing, turn `1.50` into
        // `1.5` and keep only the last of two equal keys; the text keeps all of it.
        let frame = r#"42["x", {"b": 1.50, "a": [ 2 ],"a":3} , "s\u00e9", null]"#;
        assert_eq!(
            args_of(frame),
            [r#"{"b": 1.50, "a": [ 2 ],"a":3}"#, r#""s\u00e9""#, "null"]
        );
    }

    #[test]
    fn bounds_the_name_and_the_number_of_arguments() {
        let at_cap = "n".repeat(MAX_EVENT_NAME_BYTES);
        assert!(matches!(
            parse_frame(&format!(r#"42["{at_cap}"]"#)),
            Frame::Event(e) if e.name == at_cap
        ));
        let too_long = "n".repeat(MAX_EVENT_NAME_BYTES + 1);
        assert_eq!(
            parse_frame(&format!(r#"42["{too_long}"]"#)),
            Frame::Malformed
        );
        let many: Vec<String> = (0..MAX_EVENT_ARGS + 5).map(|i| i.to_string()).collect();
        let args = args_of(&format!(r#"42["x",{}]"#, many.join(",")));
        assert_eq!(args, many[..MAX_EVENT_ARGS]);
        // Skipped arguments are still checked as JSON: a broken frame is not an event.
        assert_eq!(
            parse_frame(&format!(r#"42["x",{},{{]"#, many.join(","))),
            Frame::Malformed
        );
    }

    #[test]
    fn reads_control_frames() {
        assert_eq!(parse_frame("2"), Frame::Ping);
        assert_eq!(parse_frame("1"), Frame::Closed);
        assert_eq!(parse_frame("41"), Frame::Closed);
        assert_eq!(parse_frame("6"), Frame::Ignored);
        assert_eq!(parse_frame(r#"42/admin,["x"]"#), Frame::Ignored);
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for frame in [
            "",
            "9",
            "4",
            "42",
            "42{}",
            "42[]",
            "42[1]",
            "42[\"a\"",
            "4\u{1F600}",
            "\u{0}",
        ] {
            assert!(
                matches!(parse_frame(frame), Frame::Malformed | Frame::Ignored),
                "{frame:?}"
            );
        }
    }

    #[test]
    fn builds_the_websocket_url() {
        assert_eq!(
            websocket_url("https://abs.example.com/socket.io/").unwrap(),
            "wss://abs.example.com/socket.io/?EIO=4&transport=websocket"
        );
        assert_eq!(
            websocket_url("http://127.0.0.1:13378/audiobookshelf/socket.io").unwrap(),
            "ws://127.0.0.1:13378/audiobookshelf/socket.io/?EIO=4&transport=websocket"
        );
        assert!(websocket_url("ftp://x/socket.io/").is_err());
        assert!(websocket_url("no-scheme").is_err());
    }

    /// A scripted Engine.IO server on loopback, in a thread of its own so that it keeps going
    /// while the client's runtime is frozen (not running at all). After the namespace opens it
    /// waits for `go`, sends `frames`, closes the TCP connection and says so on `done`.
    struct Script {
        url: String,
        go: std::sync::mpsc::Sender<()>,
        done: std::sync::mpsc::Receiver<()>,
    }

    impl Script {
        fn start(frames: &'static [&'static str]) -> Self {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("http://{}/socket.io/", listener.local_addr().unwrap());
            let (go, go_rx) = std::sync::mpsc::channel::<()>();
            let (done_tx, done) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let (tcp, _) = listener.accept().unwrap();
                let mut ws = tungstenite::accept(tcp.try_clone().unwrap()).unwrap();
                ws.send(Message::text(
                    r#"0{"sid":"s","upgrades":[],"pingInterval":60000,"pingTimeout":1000,"maxPayload":1000000}"#,
                ))
                .unwrap();
                while ws.read().unwrap() != Message::text("40") {}
                ws.send(Message::text(r#"40{"sid":"n"}"#)).unwrap();
                go_rx.recv().unwrap();
                for frame in frames {
                    ws.send(Message::text(*frame)).unwrap();
                }
                drop((ws, tcp));
                done_tx.send(()).unwrap();
            });
            Self { url, go, done }
        }

        /// Lets the server send its frames and end while the client's runtime is not running.
        fn play_while_frozen(&self) {
            self.go.send(()).unwrap();
            self.done.recv().unwrap();
        }
    }

    /// A runtime like the app's (one thread here, so that the test decides when it runs).
    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// Connects and looks at the empty socket once, as a client waiting for events has: the
    /// runtime then believes the socket has nothing until its next look at the kernel.
    fn connected_and_waiting(rt: &tokio::runtime::Runtime, script: &Script) -> Socket {
        rt.block_on(async {
            let mut socket = Socket::connect(&script.url, None, Duration::from_secs(5))
                .await
                .unwrap();
            assert!(socket.recv().now_or_never().is_none());
            socket
        })
    }

    const BROADCAST: &str = r#"42["admin_message",{"message":"hello"}]"#;

    #[test]
    fn a_heartbeat_deadline_that_passed_while_frozen_drops_no_frame_that_arrived() {
        let rt = runtime();
        let script = Script::start(&[BROADCAST]);
        let mut socket = connected_and_waiting(&rt, &script);
        // The heartbeat deadline passes, and the runtime's timers know it, before the frame is
        // sent: after a freeze, the deadline is due before the runtime has looked at the socket.
        rt.block_on(async {
            let before = Instant::now();
            tokio::time::sleep(Duration::from_millis(20)).await;
            socket.deadline = before;
        });
        script.play_while_frozen();
        rt.block_on(async {
            let event = socket
                .recv()
                .await
                .expect("the frame that arrived comes first");
            assert_eq!(event.name, "admin_message");
            let end = socket.recv().await.unwrap_err();
            assert!(
                !matches!(end, SocketError::HeartbeatTimeout(_)),
                "then the end the server sent: {end:?}"
            );
        });
    }

    #[test]
    fn a_pong_the_server_can_no_longer_take_drops_no_frame_that_arrived_before() {
        let rt = runtime();
        // The server pinged twice, broadcast and closed (it had timed us out): all of it is
        // read at once; the first pong makes the closed end answer with a reset, so the second
        // one fails while the broadcast is still to be handled.
        let script = Script::start(&["2", "2", BROADCAST]);
        let mut socket = connected_and_waiting(&rt, &script);
        script.play_while_frozen();
        rt.block_on(async {
            let event = socket
                .recv()
                .await
                .expect("the broadcast despite the failed pong");
            assert_eq!(event.name, "admin_message");
            assert!(socket.recv().await.is_err(), "then the end");
        });
    }

    #[test]
    fn recv_arrived_reads_only_what_is_there() {
        let rt = runtime();
        let script = Script::start(&["2", BROADCAST, "2"]);
        let mut socket = connected_and_waiting(&rt, &script);
        rt.block_on(async {
            // Nothing arrived: no wait for the server, however long its heartbeat allows.
            assert_eq!(socket.recv_arrived().await, None);
        });
        script.play_while_frozen();
        rt.block_on(async {
            let event = socket.recv_arrived().await.expect("the broadcast");
            assert_eq!(event.name, "admin_message");
            assert_eq!(socket.recv_arrived().await, None, "then the end");
        });
    }

    #[test]
    fn previews_are_short_and_escaped() {
        let long = "é".repeat(10_000);
        assert_eq!(preview(&long).chars().count(), 80);
        assert_eq!(preview("a\nb"), "a\\nb");
    }
}
