//! What stands in front of a server in real set-ups, for the CLI tests: TLS with a self-signed
//! certificate or one from a private CA, and a reverse proxy that drops the WebSocket upgrade
//! headers (the classic nginx mistake). Each is a real TCP listener on loopback that forwards to
//! the simulator byte for byte.
#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "test code: a panic is a test failure"
)]

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A certificate and its key, in PEM.
pub struct Identity {
    /// The certificate (PEM).
    pub cert_pem: String,
    /// Its PKCS#8 private key (PEM).
    pub key_pem: String,
    /// The certificate (DER), for fingerprints.
    pub cert_der: Vec<u8>,
}

/// A self-signed certificate for `localhost` and `127.0.0.1`.
pub fn self_signed(name: &str) -> Identity {
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Identity {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().to_vec(),
    }
}

/// A private CA named `name` (its certificate, PEM) and a leaf it signed for 127.0.0.1 only.
pub fn private_ca(name: &str) -> (String, Identity) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let mut leaf_params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "abs.test");
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    (
        ca_cert.pem(),
        Identity {
            cert_pem: leaf.pem(),
            key_pem: leaf_key.serialize_pem(),
            cert_der: leaf.der().to_vec(),
        },
    )
}

/// TLS in front of `upstream` (plain HTTP): REST and WebSockets pass through unchanged.
pub async fn tls_front(upstream: SocketAddr, identity: &Identity) -> SocketAddr {
    let identity =
        native_tls::Identity::from_pkcs8(identity.cert_pem.as_bytes(), identity.key_pem.as_bytes())
            .unwrap();
    let acceptor = tokio_native_tls::TlsAcceptor::from(
        native_tls::TlsAcceptor::builder(identity).build().unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
            });
        }
    });
    addr
}

/// A reverse proxy that forwards everything to `upstream` but drops the `Upgrade` and
/// `Connection` headers of each connection's first request, as nginx does without
/// `proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade";`. A WebSocket
/// always opens its own connection, so its upgrade request is always a first request.
pub async fn upgrade_dropping_front(upstream: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    match client.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let kept: Vec<&str> = head
                    .split("\r\n")
                    .filter(|line| {
                        let lower = line.to_ascii_lowercase();
                        !lower.starts_with("upgrade:") && !lower.starts_with("connection:")
                    })
                    .collect();
                let Ok(mut server) = TcpStream::connect(upstream).await else {
                    return;
                };
                if server
                    .write_all(kept.join("\r\n").as_bytes())
                    .await
                    .is_err()
                    || server.write_all(&buf[head_end..]).await.is_err()
                {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    addr
}
