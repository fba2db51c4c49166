//! Which server certificates to trust, applied identically to REST (reqwest) and to the socket
//! (a `native_tls::TlsConnector`).
//!
//! Self-hosted servers often use a private CA or a self-signed certificate. Two options cover that:
//!
//! * **Extra CA** (`extra_ca_pem`): a PEM (or DER) file with one or more CA certificates, trusted
//!   in addition to the system roots.
//! * **Pinned certificate** (`pinned_cert_sha256`): native-tls cannot run a custom verifier, so
//!   pinning is trust-on-first-use. [`fetch_certificate`] connects once *without* verification and
//!   reads the server's certificate; the UI shows its SHA-256 fingerprint; when the user accepts,
//!   [`pin_certificate`] stores the certificate as `certs/<sha256>.pem` in the configuration folder
//!   and the settings keep the fingerprint. Every later connection trusts that certificate as its
//!   **only** root (system roots and any extra CA are switched off), and [`TlsOptions::build`]
//!   re-hashes the stored file and refuses it when it no longer matches the pinned fingerprint.
//!   Host names are not checked in this mode (a self-signed certificate made for `nas.local` is
//!   commonly reached by IP): the pinned certificate itself is the identity. Pinning works for
//!   self-signed certificates (their own root); a CA-issued leaf cannot be a trust anchor here,
//!   so such servers need the extra-CA option instead.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::server_url::{Scheme, ServerUrl};

/// Folder (inside the configuration folder) holding pinned certificates.
const CERTS_DIR: &str = "certs";
/// How long [`fetch_certificate`] waits for the TCP connection and the handshake.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest certificate file read (a CA bundle of a few hundred certificates fits).
const MAX_CERT_FILE_BYTES: u64 = 1024 * 1024;

/// The user's trust choices, as stored in the settings file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsOptions {
    /// A CA file to trust in addition to the system roots.
    pub extra_ca_pem: Option<PathBuf>,
    /// SHA-256 fingerprint of the pinned server certificate (its PEM is in `certs/`).
    pub pinned_cert_sha256: Option<String>,
}

/// Why the trust settings cannot be applied; each message says which file or value is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// The CA or pinned certificate file cannot be read.
    #[error("cannot read the certificate file {}: {reason}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        reason: String,
    },
    /// The file holds no certificate, or one native-tls cannot parse.
    #[error("{} does not contain a valid certificate: {reason}", path.display())]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The pinned fingerprint in the settings is not 32 hex bytes.
    #[error("the pinned fingerprint is not a SHA-256 fingerprint (64 hex digits)")]
    BadFingerprint,
    /// The settings pin a certificate whose file is gone.
    #[error("the pinned certificate {} is missing; pin the server's certificate again", path.display())]
    PinnedCertificateMissing {
        /// Where it should be.
        path: PathBuf,
    },
    /// The stored certificate's hash differs from the pinned fingerprint (file replaced).
    #[error("the stored certificate {} does not match the pinned fingerprint {expected}; pin the server's certificate again", path.display())]
    FingerprintMismatch {
        /// The stored file.
        path: PathBuf,
        /// Fingerprint from the settings.
        expected: String,
        /// Fingerprint of the file's certificate.
        actual: String,
    },
    /// native-tls could not build a connector (should not happen with valid certificates).
    #[error("cannot set up TLS: {0}")]
    Build(String),
    /// Fetching a certificate from a plain-http address.
    #[error("the server address is not https://, so it has no certificate to pin")]
    NotHttps,
    /// [`fetch_certificate`] could not reach the server.
    #[error("cannot reach the server: {0}")]
    Connect(String),
    /// [`fetch_certificate`]'s handshake failed even without verification.
    #[error("the server did not complete a TLS handshake: {0}")]
    Handshake(String),
    /// The server presents another certificate than the one the user chose to trust.
    #[error(
        "the server presents a certificate with the SHA-256 fingerprint {presented}, not the one \
         you chose to trust; check which certificate the server should have before trusting it"
    )]
    CertificateChanged {
        /// The fingerprint of the certificate the server presents.
        presented: String,
    },
    /// Writing the pinned certificate failed.
    #[error("cannot save the pinned certificate {}: {reason}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        reason: String,
    },
}

impl TlsError {
    /// A stable snake_case identifier for the UI (`{code, message}`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::ReadFile { .. } => "tls_cert_unreadable",
            Self::BadCertificate { .. } => "tls_cert_invalid",
            Self::BadFingerprint => "tls_bad_fingerprint",
            Self::PinnedCertificateMissing { .. } => "tls_pinned_missing",
            Self::FingerprintMismatch { .. } => "tls_fingerprint_mismatch",
            Self::Build(_) => "tls_setup_failed",
            Self::NotHttps => "tls_not_https",
            Self::Connect(_) => "unreachable",
            Self::Handshake(_) => "tls_handshake_failed",
            Self::Write { .. } => "tls_pin_write_failed",
            Self::CertificateChanged { .. } => "tls_certificate_changed",
        }
    }
}

/// Trust settings ready to use: one connector shared by REST and the socket, so both accept
/// exactly the same servers.
#[derive(Clone)]
pub struct TlsConfig {
    connector: native_tls::TlsConnector,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConfig")
    }
}

impl TlsConfig {
    /// The system's roots only, for servers with a publicly trusted certificate.
    pub fn system() -> Result<Self, TlsError> {
        TlsOptions::default().build(Path::new(""))
    }

    /// The connector for the Socket.IO client (and reqwest, via [`crate::auth::AbsClient`]).
    pub fn connector(&self) -> native_tls::TlsConnector {
        self.connector.clone()
    }
}

impl TlsOptions {
    /// Applies the options; `config_dir` is where [`pin_certificate`] stored pinned certificates.
    /// A pinned certificate is re-hashed here and refused if it does not match the fingerprint.
    pub fn build(&self, config_dir: &Path) -> Result<TlsConfig, TlsError> {
        let mut builder = native_tls::TlsConnector::builder();
        if let Some(pinned) = &self.pinned_cert_sha256 {
            let hex = normalise_fingerprint(pinned)?;
            let path = pinned_cert_path(config_dir, &hex);
            if !path.exists() {
                return Err(TlsError::PinnedCertificateMissing { path });
            }
            let certs = read_certificates(&path)?;
            let [(cert, der)] = certs.as_slice() else {
                return Err(TlsError::BadCertificate {
                    path,
                    reason: "a pinned certificate file holds exactly one certificate".into(),
                });
            };
            let actual = hex_digest(der);
            if actual != hex {
                return Err(TlsError::FingerprintMismatch {
                    path,
                    expected: display_fingerprint(&hex),
                    actual: display_fingerprint(&actual),
                });
            }
            builder
                .disable_built_in_roots(true)
                .danger_accept_invalid_hostnames(true)
                .add_root_certificate(cert.clone());
        } else if let Some(ca) = &self.extra_ca_pem {
            for (cert, _) in read_certificates(ca)? {
                builder.add_root_certificate(cert);
            }
        }
        let connector = builder
            .build()
            .map_err(|e| TlsError::Build(e.to_string()))?;
        Ok(TlsConfig { connector })
    }
}

/// A server certificate read without verifying it, for the user to inspect and pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    /// The certificate in PEM form.
    pub pem: String,
    /// Its SHA-256 fingerprint, `AB:CD:...` (as browsers show it).
    pub sha256: String,
}

/// Trust-on-first-use, step 1: connects to `url` with verification OFF and returns the
/// certificate the server presents. Show [`PeerCertificate::sha256`] to the user; only call
/// [`pin_certificate`] once they accepted it.
pub async fn fetch_certificate(url: &ServerUrl) -> Result<PeerCertificate, TlsError> {
    if url.scheme() != Scheme::Https {
        return Err(TlsError::NotHttps);
    }
    let host = url.host();
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let connector = native_tls::TlsConnector::builder()
        .danger_accept_invalid_certs(true)
        .danger_accept_invalid_hostnames(true)
        .build()
        .map_err(|e| TlsError::Build(e.to_string()))?;
    let connector = tokio_native_tls::TlsConnector::from(connector);
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect((host.as_str(), url.port()))
            .await
            .map_err(|e| TlsError::Connect(e.to_string()))?;
        let tls = connector
            .connect(&host, tcp)
            .await
            .map_err(|e| TlsError::Handshake(e.to_string()))?;
        tls.get_ref()
            .peer_certificate()
            .map_err(|e| TlsError::Handshake(e.to_string()))?
            .ok_or_else(|| TlsError::Handshake("the server sent no certificate".into()))?
            .to_der()
            .map_err(|e| TlsError::Handshake(e.to_string()))
    };
    let der = tokio::time::timeout(FETCH_TIMEOUT, exchange)
        .await
        .map_err(|_| TlsError::Connect(format!("no answer within {FETCH_TIMEOUT:?}")))??;
    Ok(PeerCertificate {
        pem: to_pem(&der),
        sha256: display_fingerprint(&hex_digest(&der)),
    })
}

/// The user's trust choice carried out: pins the certificate `url` presents, but only when it is
/// the one with `fingerprint` (the one they were shown or gave), and returns the trust settings
/// that use it.
pub async fn pin_presented(
    config_dir: &Path,
    url: &ServerUrl,
    fingerprint: &str,
) -> Result<TlsOptions, TlsError> {
    let presented = fetch_certificate(url).await?;
    if !same_fingerprint(&presented.sha256, fingerprint) {
        return Err(TlsError::CertificateChanged {
            presented: presented.sha256,
        });
    }
    Ok(TlsOptions {
        extra_ca_pem: None,
        pinned_cert_sha256: Some(pin_certificate(config_dir, &presented)?),
    })
}

/// Trust-on-first-use, step 2 (after the user accepted the fingerprint): stores the certificate
/// as `certs/<sha256>.pem` in `config_dir` and returns the fingerprint to put in
/// [`TlsOptions::pinned_cert_sha256`].
pub fn pin_certificate(config_dir: &Path, cert: &PeerCertificate) -> Result<String, TlsError> {
    let path = config_dir.join(CERTS_DIR).join("incoming.pem");
    let der = parse_pem_blocks(cert.pem.as_bytes(), &path)?
        .into_iter()
        .next()
        .ok_or_else(|| TlsError::BadCertificate {
            path: path.clone(),
            reason: "no certificate".into(),
        })?;
    let hex = hex_digest(&der);
    let path = pinned_cert_path(config_dir, &hex);
    crate::config::write_atomically(&path, to_pem(&der).as_bytes(), 0o644).map_err(|e| {
        TlsError::Write {
            path,
            reason: e.to_string(),
        }
    })?;
    Ok(display_fingerprint(&hex))
}

/// `AB:CD:...` SHA-256 fingerprint of a DER certificate, as browsers show it.
pub fn fingerprint(der: &[u8]) -> String {
    display_fingerprint(&hex_digest(der))
}

/// Where a pinned certificate with this (normalised, lowercase) fingerprint is stored.
fn pinned_cert_path(config_dir: &Path, hex: &str) -> PathBuf {
    config_dir.join(CERTS_DIR).join(format!("{hex}.pem"))
}

/// Whether two SHA-256 fingerprints are the same, however they are written (`AB:CD…`, `abcd…`).
pub fn same_fingerprint(a: &str, b: &str) -> bool {
    matches!(
        (normalise_fingerprint(a), normalise_fingerprint(b)),
        (Ok(a), Ok(b)) if a == b
    )
}

/// Accepts `AB:CD:..`, `abcd..`, with spaces; returns 64 lowercase hex digits.
fn normalise_fingerprint(text: &str) -> Result<String, TlsError> {
    let hex: String = text
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(hex)
    } else {
        Err(TlsError::BadFingerprint)
    }
}

/// Lowercase hex SHA-256 of `der`.
fn hex_digest(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .fold(String::with_capacity(64), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

/// `ab12..` → `AB:12:..`.
fn display_fingerprint(hex: &str) -> String {
    hex.as_bytes()
        .chunks(2)
        .map(|pair| String::from_utf8_lossy(pair).to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(":")
}

/// DER → PEM text.
fn to_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// Every certificate in a PEM bundle (or a single DER file), with its DER bytes.
fn read_certificates(path: &Path) -> Result<Vec<(native_tls::Certificate, Vec<u8>)>, TlsError> {
    let read_error = |reason: String| TlsError::ReadFile {
        path: path.to_owned(),
        reason,
    };
    // A FIFO or device given as a CA file must not hang the app or the CLI.
    let bytes = crate::config::read_regular_file(path, MAX_CERT_FILE_BYTES)
        .map_err(|e| read_error(e.to_string()))?;
    let ders = if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        parse_pem_blocks(&bytes, path)?
    } else {
        vec![bytes]
    };
    if ders.is_empty() {
        return Err(TlsError::BadCertificate {
            path: path.to_owned(),
            reason: "no CERTIFICATE block".into(),
        });
    }
    ders.into_iter()
        .map(|der| {
            native_tls::Certificate::from_der(&der)
                .map(|cert| (cert, der))
                .map_err(|e| TlsError::BadCertificate {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })
        })
        .collect()
}

/// The DER bytes of each `CERTIFICATE` block of a PEM text (other blocks are skipped).
fn parse_pem_blocks(bytes: &[u8], path: &Path) -> Result<Vec<Vec<u8>>, TlsError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let bad = |reason: &str| TlsError::BadCertificate {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let text = std::str::from_utf8(bytes).map_err(|_| bad("not a PEM text file"))?;
    let mut ders = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let body_start = start + BEGIN.len();
        let end = rest[body_start..]
            .find(END)
            .ok_or_else(|| bad("a CERTIFICATE block is not closed"))?;
        let body: String = rest[body_start..body_start + end]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| bad("a CERTIFICATE block is not valid base64"))?;
        ders.push(der);
        rest = &rest[body_start + end + END.len()..];
    }
    Ok(ders)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AbsClient, AuthError};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A self-signed certificate for localhost/127.0.0.1 named `name`: (cert PEM, PKCS#8 key
    /// PEM, cert DER). Distinct names matter: OpenSSL finds issuers by name.
    fn self_signed(name: &str) -> (String, String, Vec<u8>) {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().to_vec())
    }

    /// A private CA named `name` and a leaf for 127.0.0.1 it signed: (CA PEM, leaf PEM, leaf key PEM).
    fn private_ca(name: &str) -> (String, String, String) {
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
        (ca_cert.pem(), leaf.pem(), leaf_key.serialize_pem())
    }

    /// A TLS listener on loopback answering every request with an ABS-like `/status`.
    async fn tls_server(cert_pem: &str, key_pem: &str) -> ServerUrl {
        let identity =
            native_tls::Identity::from_pkcs8(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
        let acceptor = tokio_native_tls::TlsAcceptor::from(
            native_tls::TlsAcceptor::builder(identity).build().unwrap(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let body = r#"{"app":"audiobookshelf","serverVersion":"2.36.0","isInit":true,"authMethods":["local"]}"#;
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(reply.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        ServerUrl::parse(&format!("https://127.0.0.1:{port}")).unwrap()
    }

    /// Handshake through the socket's connector (what tokio-tungstenite will use).
    async fn socket_handshake(tls: &TlsConfig, url: &ServerUrl) -> Result<(), String> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", url.port()))
            .await
            .unwrap();
        tokio_native_tls::TlsConnector::from(tls.connector())
            .connect("127.0.0.1", tcp)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    async fn rest_status(tls: &TlsConfig, url: &ServerUrl) -> Result<(), AuthError> {
        AbsClient::new(url.clone(), tls)?.status().await.map(drop)
    }

    #[tokio::test]
    async fn system_roots_reject_a_self_signed_server_clearly() {
        let (cert, key, _) = self_signed("server");
        let url = tls_server(&cert, &key).await;
        let tls = TlsConfig::system().unwrap();
        let err = rest_status(&tls, &url).await.unwrap_err();
        assert_eq!(err.code(), "tls_untrusted", "{err:?}");
        assert!(err.to_string().contains("not trusted"), "{err}");
        assert!(socket_handshake(&tls, &url).await.is_err());
    }

    #[tokio::test]
    async fn an_extra_ca_file_is_trusted_by_rest_and_socket() {
        let (ca, leaf, key) = private_ca("Home CA");
        let url = tls_server(&leaf, &key).await;
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("ca.pem");
        // A bundle: an unrelated CA first, then the one that signed the server's certificate.
        let (other, _, _) = private_ca("Other CA");
        std::fs::write(&bundle, format!("{other}\n{ca}")).unwrap();
        let options = TlsOptions {
            extra_ca_pem: Some(bundle),
            pinned_cert_sha256: None,
        };
        let tls = options.build(dir.path()).unwrap();
        rest_status(&tls, &url).await.unwrap();
        socket_handshake(&tls, &url).await.unwrap();
        // Without the CA the same server is refused.
        let err = rest_status(&TlsConfig::system().unwrap(), &url)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "tls_untrusted", "{err:?}");
    }

    #[tokio::test]
    async fn trust_on_first_use_pins_the_fetched_certificate() {
        let (cert, key, der) = self_signed("server");
        let url = tls_server(&cert, &key).await;
        let dir = tempfile::tempdir().unwrap();
        let fetched = fetch_certificate(&url).await.unwrap();
        assert_eq!(fetched.sha256, fingerprint(&der));
        assert_eq!(fetched.sha256.len(), 32 * 3 - 1);
        let pinned = pin_certificate(dir.path(), &fetched).unwrap();
        assert_eq!(pinned, fetched.sha256);
        let options = TlsOptions {
            extra_ca_pem: None,
            pinned_cert_sha256: Some(pinned.to_lowercase().replace(':', "")),
        };
        let tls = options.build(dir.path()).unwrap();
        rest_status(&tls, &url).await.unwrap();
        socket_handshake(&tls, &url).await.unwrap();
    }

    #[tokio::test]
    async fn pinning_trusts_only_the_pinned_certificate() {
        let (cert, key, _) = self_signed("server");
        let url = tls_server(&cert, &key).await;
        let (other_cert, other_key, _) = self_signed("impostor");
        let other_url = tls_server(&other_cert, &other_key).await;
        let dir = tempfile::tempdir().unwrap();
        let pinned = pin_certificate(dir.path(), &fetch_certificate(&url).await.unwrap()).unwrap();
        let tls = TlsOptions {
            extra_ca_pem: None,
            pinned_cert_sha256: Some(pinned),
        }
        .build(dir.path())
        .unwrap();
        let err = rest_status(&tls, &other_url).await.unwrap_err();
        assert_eq!(err.code(), "tls_untrusted", "{err:?}");
        assert!(socket_handshake(&tls, &other_url).await.is_err());
    }

    #[test]
    fn a_wrong_fingerprint_is_refused() {
        let (cert, _, der) = self_signed("server");
        let dir = tempfile::tempdir().unwrap();
        let fetched = PeerCertificate {
            pem: cert,
            sha256: fingerprint(&der),
        };
        let pinned = pin_certificate(dir.path(), &fetched).unwrap();
        // The settings name another certificate: its file does not exist.
        let wrong = "00".repeat(32);
        let err = TlsOptions {
            extra_ca_pem: None,
            pinned_cert_sha256: Some(wrong),
        }
        .build(dir.path())
        .unwrap_err();
        assert!(matches!(err, TlsError::PinnedCertificateMissing { .. }));
        // The stored file was swapped for another certificate under the pinned name.
        let (swapped, _, _) = self_signed("swapped");
        let hex = normalise_fingerprint(&pinned).unwrap();
        std::fs::write(pinned_cert_path(dir.path(), &hex), swapped).unwrap();
        let err = TlsOptions {
            extra_ca_pem: None,
            pinned_cert_sha256: Some(pinned.clone()),
        }
        .build(dir.path())
        .unwrap_err();
        assert!(
            matches!(&err, TlsError::FingerprintMismatch { expected, .. } if *expected == pinned),
            "{err:?}"
        );
        assert_eq!(err.code(), "tls_fingerprint_mismatch");
        // Not a fingerprint at all.
        let err = TlsOptions {
            extra_ca_pem: None,
            pinned_cert_sha256: Some("AB:CD".into()),
        }
        .build(dir.path())
        .unwrap_err();
        assert_eq!(err, TlsError::BadFingerprint);
    }

    #[test]
    fn unreadable_or_empty_ca_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = TlsOptions {
            extra_ca_pem: Some(missing.clone()),
            pinned_cert_sha256: None,
        }
        .build(dir.path())
        .unwrap_err();
        assert!(matches!(&err, TlsError::ReadFile { path, .. } if *path == missing));
        let junk = dir.path().join("junk.pem");
        std::fs::write(
            &junk,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let err = TlsOptions {
            extra_ca_pem: Some(junk.clone()),
            pinned_cert_sha256: None,
        }
        .build(dir.path())
        .unwrap_err();
        assert!(matches!(&err, TlsError::BadCertificate { path, .. } if *path == junk));
        assert!(err.to_string().contains("junk.pem"));
        // A FIFO would wait for a writer forever; it is refused at once.
        #[cfg(unix)]
        {
            let fifo = dir.path().join("fifo.pem");
            let made = std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap();
            assert!(made.success());
            let err = TlsOptions {
                extra_ca_pem: Some(fifo.clone()),
                pinned_cert_sha256: None,
            }
            .build(dir.path())
            .unwrap_err();
            assert!(matches!(&err, TlsError::ReadFile { path, .. } if *path == fifo));
            assert!(err.to_string().contains("not a regular file"), "{err}");
        }
    }

    #[tokio::test]
    async fn a_trusted_ca_for_another_name_is_a_host_name_error() {
        // The leaf is made out to 127.0.0.1; "localhost" reaches the same server under a name the
        // certificate does not list. Trusting the CA cannot fix that: the message must not say so.
        let (ca, leaf, key) = private_ca("Name CA");
        let by_ip = tls_server(&leaf, &key).await;
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("ca.pem");
        std::fs::write(&bundle, ca).unwrap();
        let tls = TlsOptions {
            extra_ca_pem: Some(bundle),
            pinned_cert_sha256: None,
        }
        .build(dir.path())
        .unwrap();
        rest_status(&tls, &by_ip).await.unwrap();
        let by_name = ServerUrl::parse(&format!("https://localhost:{}", by_ip.port())).unwrap();
        let err = rest_status(&tls, &by_name).await.unwrap_err();
        assert_eq!(err.code(), "tls_host_mismatch", "{err:?}");
        let message = err.to_string();
        assert!(message.contains("localhost"), "{message}");
        assert!(
            !message.contains("trust its CA") && !message.contains("pin"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn fetching_needs_https() {
        let url = ServerUrl::parse("http://127.0.0.1:1").unwrap();
        assert_eq!(fetch_certificate(&url).await, Err(TlsError::NotHttps));
    }

    #[test]
    fn pem_round_trip() {
        let (_, _, der) = self_signed("server");
        let pem = to_pem(&der);
        let back = parse_pem_blocks(pem.as_bytes(), Path::new("x")).unwrap();
        assert_eq!(back, vec![der]);
    }
}
