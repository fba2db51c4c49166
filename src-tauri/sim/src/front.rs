//! What stands in front of a server in real set-ups, for tests (feature `front`): a reverse proxy
//! that can serve https with a self-signed or private-CA certificate, publish ABS under a base
//! path (`https://host/audiobookshelf`, stripped before the request reaches the server), or drop
//! the WebSocket upgrade headers (the classic nginx mistake). Request heads are read, everything
//! else is piped byte for byte; a WebSocket upgrade passes through.

use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Longest request head the proxy reads before giving up on a connection.
const MAX_HEAD: usize = 64 * 1024;

/// How the proxy presents the server.
#[derive(Debug, Clone, Default)]
pub struct FrontConfig {
    /// TLS with this certificate; plain http when `None`.
    pub tls: Option<Identity>,
    /// Requests must start with this path (e.g. `/audiobookshelf`), which is removed; any other
    /// path answers 404, as a proxy that only publishes ABS there does.
    pub base_path: Option<String>,
    /// Drops the `Upgrade` and `Connection` headers, the classic reverse-proxy mistake that
    /// leaves REST working and refuses every WebSocket.
    pub strip_upgrade: bool,
}

/// A running proxy; it stops when dropped.
pub struct Front {
    /// Where it listens.
    addr: SocketAddr,
    /// The accept loop.
    task: JoinHandle<()>,
}

impl Front {
    /// Starts a proxy on loopback in front of `upstream`.
    pub async fn start(upstream: SocketAddr, config: FrontConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let acceptor = match &config.tls {
            Some(tls) => {
                let identity = native_tls::Identity::from_pkcs8(
                    tls.cert_pem.as_bytes(),
                    tls.key_pem.as_bytes(),
                )
                .map_err(std::io::Error::other)?;
                let acceptor = native_tls::TlsAcceptor::builder(identity)
                    .build()
                    .map_err(std::io::Error::other)?;
                Some(tokio_native_tls::TlsAcceptor::from(acceptor))
            }
            None => None,
        };
        let base = config.base_path.unwrap_or_default();
        let strip = config.strip_upgrade;
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let base = base.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    match acceptor {
                        Some(acceptor) => {
                            if let Ok(client) = acceptor.accept(client).await {
                                serve(client, server, &base, strip).await;
                            }
                        }
                        None => serve(client, server, &base, strip).await,
                    }
                });
            }
        });
        Ok(Self { addr, task })
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Relays one client connection: request heads are read (to strip the base path), bodies and
/// the server's answers are piped; after an upgrade, both directions are piped as they are.
async fn serve<C>(mut client: C, server: TcpStream, base: &str, strip_upgrade: bool)
where
    C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut pending = vec![0u8; 4096];
    let first = match client.read(&mut pending).await {
        Ok(0) | Err(_) => return,
        Ok(n) => n,
    };
    pending.truncate(first);
    if !pending[0].is_ascii_uppercase() {
        // Not HTTP (a TLS hello on a plain port, say): answer 400 at once, as web servers do.
        let _ = client
            .write_all(
                b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            )
            .await;
        let _ = client.shutdown().await;
        return;
    }
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut server_read, mut server_write) = server.into_split();
    let answers = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    });
    loop {
        let Some(head_len) = read_head(&mut client_read, &mut pending).await else {
            break;
        };
        let head = String::from_utf8_lossy(&pending[..head_len]).into_owned();
        let body_start = head_len + 4;
        let Some((method, path, rest)) = split_request_line(&head) else {
            break;
        };
        // Outside the base path the server is asked for a path it does not have: a 404, as
        // from a proxy that publishes ABS only under its base path.
        let path = strip_base(path, base).unwrap_or_else(|| format!("/not-published{path}").into());
        let rest = if strip_upgrade {
            without_upgrade(rest)
        } else {
            rest.to_owned()
        };
        let rest = rest.as_str();
        let upgrade = rest.to_ascii_lowercase().contains("\nupgrade:");
        let length = content_length(rest);
        let rewritten = format!("{method} {path}{rest}\r\n\r\n");
        if server_write.write_all(rewritten.as_bytes()).await.is_err() {
            break;
        }
        pending.drain(..body_start);
        if upgrade {
            if server_write.write_all(&pending).await.is_err() {
                break;
            }
            let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
            break;
        }
        let mut left = length;
        let now = left.min(pending.len());
        if server_write.write_all(&pending[..now]).await.is_err() {
            break;
        }
        pending.drain(..now);
        left -= now;
        while left > 0 {
            let mut buf = vec![0u8; left.min(16 * 1024)];
            match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if server_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    left -= n;
                }
            }
        }
    }
    let _ = server_write.shutdown().await;
    let _ = answers.await;
}

/// Reads until `pending` holds a whole request head; its length without the blank line.
async fn read_head<R: AsyncRead + Unpin>(reader: &mut R, pending: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(at) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(at);
        }
        if pending.len() > MAX_HEAD {
            return None;
        }
        let mut buf = [0u8; 4096];
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
    }
}

/// `GET /path HTTP/1.1\r\n...` as method, path, and the rest from " HTTP/1.1".
fn split_request_line(head: &str) -> Option<(&str, &str, &str)> {
    let (method, after) = head.split_once(' ')?;
    let space = after.find(' ')?;
    Some((method, &after[..space], &after[space..]))
}

/// The path without the base path; `None` when it is outside it.
fn strip_base<'a>(path: &'a str, base: &str) -> Option<std::borrow::Cow<'a, str>> {
    if base.is_empty() {
        return Some(path.into());
    }
    let rest = path.strip_prefix(base)?;
    match rest.chars().next() {
        None => Some("/".into()),
        Some('/' | '?') => Some(rest.into()),
        Some(_) => None,
    }
}

/// The head without its `Upgrade` and `Connection` header lines.
fn without_upgrade(rest: &str) -> String {
    rest.split("\r\n")
        .filter(|line| {
            let name = line.split(':').next().unwrap_or_default().trim();
            !name.eq_ignore_ascii_case("upgrade") && !name.eq_ignore_ascii_case("connection")
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// The `Content-Length` of a request head (0 when absent).
fn content_length(head: &str) -> usize {
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0)
}

/// A certificate and its key.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The certificate (PEM).
    pub cert_pem: String,
    /// Its PKCS#8 private key (PEM).
    pub key_pem: String,
    /// The certificate (DER), for fingerprints.
    pub cert_der: Vec<u8>,
}

/// A self-signed certificate named `name`, for `127.0.0.1` and `localhost` (a home server's
/// usual first https set-up).
pub fn self_signed(name: &str) -> Result<Identity, rcgen::Error> {
    let mut params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok(Identity {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().to_vec(),
    })
}

/// A private CA named `name` (its certificate, PEM) and a leaf it signed for `127.0.0.1` only.
pub fn private_ca(name: &str) -> Result<(String, Identity), rcgen::Error> {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let ca_key = rcgen::KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let mut leaf_params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])?;
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "abs.test");
    let leaf_key = rcgen::KeyPair::generate()?;
    let leaf = leaf_params.signed_by(&leaf_key, &issuer)?;
    Ok((
        ca_cert.pem(),
        Identity {
            cert_pem: leaf.pem(),
            key_pem: leaf_key.serialize_pem(),
            cert_der: leaf.der().to_vec(),
        },
    ))
}
