//! Listening: the axum server on a listener whose connections can be cut all at once (a crash
//! or restart as clients see it) or frozen (a stalled server), and coming back on the same port.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::ServiceExt;
use axum::body::Body;
use axum::extract::connect_info::Connected;
use axum::extract::{Request, State};
use axum::http::Uri;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use socketioxide::SocketIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower::Layer;

use crate::logs::{self, LogLevel};
use crate::rest;
use crate::socket;
use crate::state::CoreRef;

/// The peer address of a request (axum `ConnectInfo`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct PeerAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, SimListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

/// Shared switches of every connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Control {
    /// Connections of an older generation are cut.
    generation: u64,
    /// Connections answer nothing and new ones are held unanswered.
    stalled: bool,
}

type Wait = Pin<Box<dyn Future<Output = ()> + Send>>;

enum Gate {
    Open,
    Killed,
    Frozen,
}

/// Decides whether a connection may do I/O now; registers the waker for the next switch change.
fn gate(
    control: &watch::Sender<Control>,
    generation: u64,
    wait: &mut Option<Wait>,
    cx: &mut Context<'_>,
) -> Gate {
    loop {
        let fut = wait.get_or_insert_with(|| {
            let mut rx = control.subscribe();
            Box::pin(async move {
                let _ = rx.changed().await;
            })
        });
        let now = *control.borrow();
        if now.generation != generation {
            return Gate::Killed;
        }
        match fut.as_mut().poll(cx) {
            Poll::Ready(()) => *wait = None,
            Poll::Pending => {
                return if now.stalled {
                    Gate::Frozen
                } else {
                    Gate::Open
                };
            }
        }
    }
}

/// A TCP connection that dies when the generation changes and freezes while stalled.
pub(crate) struct SimStream {
    inner: TcpStream,
    generation: u64,
    control: Arc<watch::Sender<Control>>,
    read_wait: Option<Wait>,
    write_wait: Option<Wait>,
}

fn killed() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection cut by the simulator",
    )
}

impl AsyncRead for SimStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match gate(&this.control, this.generation, &mut this.read_wait, cx) {
            Gate::Killed => Poll::Ready(Err(killed())),
            Gate::Frozen => Poll::Pending,
            Gate::Open => Pin::new(&mut this.inner).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match gate(&this.control, this.generation, &mut this.write_wait, cx) {
            Gate::Killed => Poll::Ready(Err(killed())),
            Gate::Frozen => Poll::Pending,
            Gate::Open => Pin::new(&mut this.inner).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match gate(&this.control, this.generation, &mut this.write_wait, cx) {
            Gate::Killed => Poll::Ready(Err(killed())),
            Gate::Frozen => Poll::Pending,
            Gate::Open => Pin::new(&mut this.inner).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The TCP listener handed to axum; holds new connections unanswered while stalled.
pub(crate) struct SimListener {
    inner: TcpListener,
    control: Arc<watch::Sender<Control>>,
    rx: watch::Receiver<Control>,
    held: VecDeque<(TcpStream, SocketAddr)>,
}

impl SimListener {
    fn wrap(&self, stream: TcpStream) -> SimStream {
        let _ = stream.set_nodelay(true);
        SimStream {
            inner: stream,
            generation: self.control.borrow().generation,
            control: self.control.clone(),
            read_wait: None,
            write_wait: None,
        }
    }
}

impl Listener for SimListener {
    type Io = SimStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let stalled = self.rx.borrow_and_update().stalled;
            if !stalled && let Some((stream, addr)) = self.held.pop_front() {
                return (self.wrap(stream), addr);
            }
            tokio::select! {
                accepted = self.inner.accept() => match accepted {
                    Ok((stream, addr)) => {
                        if self.control.borrow().stalled {
                            self.held.push_back((stream, addr));
                        } else {
                            return (self.wrap(stream), addr);
                        }
                    }
                    Err(e) => {
                        tracing::debug!("accept error: {e}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                },
                _ = self.rx.changed() => {}
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// `/audiobookshelf/...` is the same server as `/...` (REST and `/audiobookshelf/socket.io`).
fn strip_base_path(req: &mut Request) {
    const BASE: &str = "/audiobookshelf";
    let path = req.uri().path();
    if path == BASE || path.starts_with("/audiobookshelf/") {
        let rest = &path[BASE.len()..];
        let rest = if rest.is_empty() { "/" } else { rest };
        let target = match req.uri().query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest.to_string(),
        };
        if let Ok(uri) = target.parse::<Uri>() {
            *req.uri_mut() = uri;
        }
    }
}

/// engine.io answers handshake errors with a numeric code (`{"code":5,...}`), engineioxide
/// with a string (`{"code":"5",...}`): rewrite them.
async fn numeric_engine_error(resp: Response) -> Response {
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if resp.status() != StatusCode::BAD_REQUEST || !is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 4096).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let fixed = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|mut v| {
            let code = v.get("code")?.as_str()?.parse::<u64>().ok()?;
            v["code"] = code.into();
            serde_json::to_vec(&v).ok()
        })
        .unwrap_or_else(|| bytes.to_vec());
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(fixed))
}

/// True for a `transport=websocket` request that node would not treat as an upgrade: it lacks
/// `Upgrade: websocket` or the `upgrade` token in `Connection` (what a reverse proxy that drops
/// them sends). engineioxide upgrades on `Sec-WebSocket-Key` alone; engine.io refuses it.
fn websocket_not_upgraded(req: &Request) -> bool {
    let wants_websocket = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .any(|pair| pair == "transport=websocket");
    if !wants_websocket {
        return false;
    }
    let has_token = |name: header::HeaderName, token: &str| {
        req.headers().get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    !(has_token(header::UPGRADE, "websocket") && has_token(header::CONNECTION, "upgrade"))
}

/// engine.io's `abortRequest(res, BAD_REQUEST)`.
fn engine_bad_request() -> Response {
    let mut resp = Response::new(Body::from(r#"{"code":3,"message":"Bad request"}"#));
    *resp.status_mut() = StatusCode::BAD_REQUEST;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// The Socket.IO server's `cors: {origin: '*', methods: ['GET','POST']}`: the preflight answer.
fn engine_preflight(req: &Request) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET,POST"),
    );
    if let Some(asked) = req.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    h.insert(
        header::VARY,
        HeaderValue::from_static("Access-Control-Request-Headers"),
    );
    resp
}

/// The outermost layer: base-path rewrite before routing, the per-path request count; for
/// engine.io requests CORS, numeric error codes and the refusal of un-upgraded websockets.
async fn outer(State(core): State<CoreRef>, mut req: Request, next: Next) -> Response {
    strip_base_path(&mut req);
    *core
        .requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(req.uri().path().to_owned())
        .or_default() += 1;
    core.request_seq.send_modify(|n| *n += 1);
    if !req.uri().path().starts_with("/socket.io") {
        return next.run(req).await;
    }
    if req.method() == Method::OPTIONS {
        return engine_preflight(&req);
    }
    let mut resp = if websocket_not_upgraded(&req) {
        engine_bad_request()
    } else {
        numeric_engine_error(next.run(req).await).await
    };
    resp.headers_mut()
        .entry(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .or_insert(HeaderValue::from_static("*"));
    resp
}

struct Running {
    task: JoinHandle<()>,
    io: SocketIo,
}

/// The listening side of one simulator: fixed address, start/stop/restart, cut, stall.
pub(crate) struct Server {
    addr: SocketAddr,
    control: Arc<watch::Sender<Control>>,
    running: Mutex<Option<Running>>,
    pending_restart: Mutex<Option<JoinHandle<()>>>,
    listening: watch::Sender<bool>,
}

impl Server {
    /// Binds `addr` (port 0 picks one) and starts serving.
    pub(crate) async fn start(core: &CoreRef, addr: SocketAddr) -> io::Result<Arc<Server>> {
        let listener = TcpListener::bind(addr).await?;
        let (control, _) = watch::channel(Control::default());
        let server = Arc::new(Server {
            addr: listener.local_addr()?,
            control: Arc::new(control),
            running: Mutex::new(None),
            pending_restart: Mutex::new(None),
            listening: watch::channel(false).0,
        });
        server.serve(core, listener);
        Ok(server)
    }

    /// The bound address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// True while the port is open.
    pub(crate) fn is_listening(&self) -> bool {
        *self.listening.borrow()
    }

    /// Resolves once the port is open (immediately if it is).
    pub(crate) async fn listening(&self) {
        let mut rx = self.listening.subscribe();
        let _ = rx.wait_for(|up| *up).await;
    }

    fn serve(&self, core: &CoreRef, listener: TcpListener) {
        let (layer, io) = socket::build(core);
        let router = rest::router(core.clone()).layer(layer);
        let app = axum::middleware::from_fn_with_state(core.clone(), outer).layer(router);
        let make = app.into_make_service_with_connect_info::<PeerAddr>();
        let listener = SimListener {
            inner: listener,
            control: self.control.clone(),
            rx: self.control.subscribe(),
            held: VecDeque::new(),
        };
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, make).await {
                tracing::error!("server stopped: {e}");
            }
        });
        *self.running.lock().unwrap_or_else(|e| e.into_inner()) = Some(Running { task, io });
        self.listening.send_replace(true);
        let mut st = core.lock();
        logs::log(
            core,
            &mut st,
            LogLevel::Info,
            "Server.js:423",
            format!("Listening on port {}", self.addr.port()),
        );
    }

    /// Cuts every open connection (sockets see a transport close; polling sessions survive).
    pub(crate) fn cut_connections(&self) {
        self.control.send_modify(|c| c.generation += 1);
    }

    /// Freezes (or thaws) every connection; new ones are accepted but not answered.
    pub(crate) fn stall(&self, on: bool) {
        self.control.send_modify(|c| c.stalled = on);
    }

    /// Stops listening like a dying process: volatile state forgotten without events, port
    /// closed, every connection cut.
    pub(crate) async fn stop(&self, core: &CoreRef) {
        if let Some(pending) = self
            .pending_restart
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            pending.abort();
        }
        let running = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        self.listening.send_replace(false);
        core.lock().clear_volatile();
        self.stall(false);
        if let Some(r) = running {
            r.task.abort();
            let _ = r.task.await;
            self.cut_connections();
            let _ = tokio::time::timeout(Duration::from_secs(1), r.io.close()).await;
        }
        core.lock().clear_volatile();
    }

    /// Synchronous stop for drop paths: no waiting for the Socket.IO side to close.
    pub(crate) fn abort_now(&self, core: &CoreRef) {
        if let Some(pending) = self
            .pending_restart
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            pending.abort();
        }
        if let Some(r) = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            r.task.abort();
        }
        self.listening.send_replace(false);
        core.lock().clear_volatile();
        self.cut_connections();
    }

    /// Stops, then listens again on the same address after `after`.
    pub(crate) async fn restart_after(self: &Arc<Self>, core: &CoreRef, after: Duration) {
        self.stop(core).await;
        let server = self.clone();
        let core2 = core.clone();
        let handle = tokio::spawn(async move {
            tokio::time::sleep(after).await;
            for _ in 0..100 {
                match TcpListener::bind(server.addr).await {
                    Ok(listener) => {
                        {
                            let mut st = core2.lock();
                            logs::log(
                                &core2,
                                &mut st,
                                LogLevel::Info,
                                "Server.js:180",
                                "=== Starting Server ===",
                            );
                        }
                        server.serve(&core2, listener);
                        return;
                    }
                    Err(e) => {
                        tracing::debug!("rebinding {}: {e}", server.addr);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
            tracing::error!("could not listen on {} again", server.addr);
        });
        *self
            .pending_restart
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(handle);
    }
}
