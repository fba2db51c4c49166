//! The TLS step's judgement: what a server certificate says (read with x509-parser from the
//! verified or, when verification failed, the unverified handshake) and, when the trust settings
//! refused it, which of the usual faults it is and what to do about it.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::shorten;
use crate::tls;

/// What a server certificate says, as far as the doctor needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CertFacts {
    /// Subject common name (or the whole subject).
    pub(super) subject: String,
    /// Issuer common name (or the whole issuer).
    pub(super) issuer: String,
    /// DNS names and IP addresses it is valid for (SAN, else the subject CN).
    pub(super) names: Vec<String>,
    /// Start of validity, Unix seconds.
    pub(super) not_before: i64,
    /// End of validity, Unix seconds.
    pub(super) not_after: i64,
    /// Issuer and subject are the same: nobody vouches for it but itself.
    pub(super) self_signed: bool,
    /// SHA-256 fingerprint, `AB:CD:...`.
    pub(super) fingerprint: String,
}

impl CertFacts {
    /// Whether pinning this certificate is a sensible trust choice at `now`: it is in its
    /// validity period (pinning does not make an expired certificate right).
    pub(super) fn pinnable(&self, now: i64) -> bool {
        (self.not_before..=self.not_after).contains(&now)
    }

    /// Reads a DER certificate; `None` when it cannot be parsed.
    pub(super) fn parse(der: &[u8]) -> Option<Self> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let common_name = |name: &x509_parser::x509::X509Name<'_>| {
            name.iter_common_name()
                .next()
                .and_then(|cn| cn.as_str().ok())
                .map_or_else(|| name.to_string(), str::to_owned)
        };
        let mut names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for general in &san.value.general_names {
                match general {
                    GeneralName::DNSName(dns) => names.push((*dns).to_owned()),
                    GeneralName::IPAddress(bytes) => {
                        if let Some(ip) = ip_from_bytes(bytes) {
                            names.push(ip.to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
        let subject = common_name(cert.subject());
        if names.is_empty() {
            names.push(subject.clone());
        }
        Some(Self {
            issuer: common_name(cert.issuer()),
            names,
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
            fingerprint: tls::fingerprint(der),
            subject,
        })
    }
}

/// An IPv4 or IPv6 address from a SAN entry's bytes.
fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// Whether a certificate valid for `names` covers `host` (one-label `*.` wildcards, IPs).
fn matches_host(names: &[String], host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let host_ip = host.parse::<IpAddr>().ok();
    names.iter().any(|name| {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(ip) = host_ip {
            return name.parse::<IpAddr>().ok() == Some(ip);
        }
        if name == host {
            return true;
        }
        match (name.strip_prefix("*."), host.split_once('.')) {
            (Some(suffix), Some((_, rest))) => suffix == rest,
            _ => false,
        }
    })
}

/// The headline, detail and fix for a certificate the trust settings refused; `error` is
/// native-tls's text, `facts` the certificate fetched without verification (when that worked).
pub(super) fn untrusted(
    error: &str,
    facts: Option<&CertFacts>,
    host: &str,
    now: i64,
) -> (String, String, String) {
    let Some(facts) = facts else {
        let lower = error.to_ascii_lowercase();
        let plain_http = [
            "wrong version number",
            "packet length too long",
            "http request",
        ]
        .iter()
        .any(|needle| lower.contains(needle));
        let (headline, fix) = if plain_http {
            (
                "This port answers plain http, not https: type the address with http:// in front.",
                "This port answers plain HTTP, not HTTPS: use http:// with this port, or the \
                 proxy's https port.",
            )
        } else {
            (
                "The secure connection failed: check the TLS setup of the server or its proxy.",
                "Check the TLS setup of the server or proxy (protocol versions, certificate chain).",
            )
        };
        return (
            headline.into(),
            format!("no TLS handshake possible: {}", shorten(error)),
            fix.into(),
        );
    };
    if now > facts.not_after {
        return (
            format!(
                "The server's certificate expired on {}: renew it on the server, or check its clock.",
                date(facts.not_after)
            ),
            format!(
                "the certificate for {} expired on {}",
                facts.subject,
                date(facts.not_after)
            ),
            "Renew it on the server or proxy (e.g. `certbot renew`) and reload it; also check \
             that the server's clock is right."
                .into(),
        );
    }
    if now < facts.not_before {
        return (
            "The server's certificate is not valid yet: check this computer's clock and the \
             server's."
                .into(),
            format!(
                "the certificate for {} is only valid from {}",
                facts.subject,
                date(facts.not_before)
            ),
            "Check this computer's clock and the server's (turn on automatic time).".into(),
        );
    }
    if facts.self_signed {
        return (
            "The server's certificate is self-signed: trust it only if its fingerprint matches \
             your server's."
                .into(),
            format!(
                "the certificate for {} is self-signed (SHA-256 {})",
                facts.subject, facts.fingerprint
            ),
            "Compare this fingerprint with the server's certificate, then pin it in ABS Tray \
             (TLS option `pinned_cert_sha256`; the certificate is kept under certs/ in the \
             configuration folder). If you had pinned one before, the server now presents a \
             different certificate: pin again only if you know why it changed."
                .into(),
        );
    }
    if !matches_host(&facts.names, host) {
        return (
            format!(
                "The server's certificate is for another name ({}): connect with that name, or \
                 trust this certificate if the server is yours.",
                facts.names.first().map_or("none", String::as_str)
            ),
            format!(
                "the certificate is for {}, not for {host}",
                facts.names.join(", ")
            ),
            format!(
                "Connect with one of those names, or reissue the certificate to include {host}."
            ),
        );
    }
    (
        format!(
            "The server's certificate comes from a CA this computer does not trust (\"{}\"): \
             trust that CA, or this certificate if the server is yours.",
            facts.issuer
        ),
        format!(
            "the certificate for {} was issued by \"{}\", which this computer does not trust ({})",
            facts.subject,
            facts.issuer,
            shorten(error)
        ),
        "Add that CA's certificate (PEM) as the extra CA (TLS option `extra_ca_pem` in \
         settings.toml) or to the system's trust store."
            .into(),
    )
}

/// The DER bytes of the first certificate of a PEM text.
pub(super) fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .ok()
        .map(|(_, pem)| pem.contents)
}

/// Now as Unix seconds.
pub(super) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Unix seconds as an HTTP date (`Tue, 15 Nov 2026 08:12:31 GMT`), for certificate dates.
pub(super) fn date(unix: i64) -> String {
    let time = match u64::try_from(unix) {
        Ok(secs) => UNIX_EPOCH.checked_add(Duration::from_secs(secs)),
        Err(_) => None,
    };
    time.map_or_else(|| format!("{unix} (Unix time)"), httpdate::fmt_http_date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::{Check, Step, Verdict, diagnose_within};
    use crate::tls::TlsConfig;

    fn facts(names: &[&str]) -> CertFacts {
        CertFacts {
            subject: "abs".into(),
            issuer: "Home CA".into(),
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            not_before: 1_000,
            not_after: 2_000,
            self_signed: false,
            fingerprint: "AB:CD".into(),
        }
    }

    #[test]
    fn host_names_match_like_browsers() {
        let names = vec![
            "abs.example.com".to_owned(),
            "*.home.example".to_owned(),
            "10.0.0.5".to_owned(),
        ];
        assert!(matches_host(&names, "ABS.example.com."));
        assert!(matches_host(&names, "nas.home.example"));
        assert!(!matches_host(&names, "a.b.home.example"), "one label only");
        assert!(!matches_host(&names, "home.example"));
        assert!(matches_host(&names, "10.0.0.5"));
        assert!(!matches_host(&names, "10.0.0.6"));
        assert!(!matches_host(&names, "example.com"));
    }

    #[test]
    fn certificate_problems_are_told_apart() {
        let error = "certificate verify failed";
        let (_, detail, fix) = untrusted(error, Some(&facts(&["abs.test"])), "abs.test", 3_000);
        assert!(detail.contains("expired"), "{detail}");
        assert!(fix.contains("Renew"), "{fix}");
        let (_, detail, _) = untrusted(error, Some(&facts(&["abs.test"])), "abs.test", 500);
        assert!(detail.contains("only valid from"), "{detail}");
        let self_signed = CertFacts {
            self_signed: true,
            ..facts(&["abs.test"])
        };
        let (_, detail, fix) = untrusted(error, Some(&self_signed), "abs.test", 1_500);
        assert!(
            detail.contains("self-signed") && detail.contains("AB:CD"),
            "{detail}"
        );
        assert!(fix.contains("pinned_cert_sha256"), "{fix}");
        let (_, detail, fix) = untrusted(error, Some(&facts(&["abs.test"])), "10.1.1.1", 1_500);
        assert!(detail.contains("not for 10.1.1.1"), "{detail}");
        assert!(fix.contains("reissue"), "{fix}");
        let (_, detail, fix) = untrusted(error, Some(&facts(&["abs.test"])), "abs.test", 1_500);
        assert!(detail.contains("Home CA"), "{detail}");
        assert!(fix.contains("extra_ca_pem"), "{fix}");
        let (_, detail, fix) = untrusted(
            "error:0A00010B:SSL routines::wrong version number",
            None,
            "h",
            0,
        );
        assert!(detail.contains("no TLS handshake"), "{detail}");
        assert!(fix.contains("plain HTTP"), "{fix}");
    }

    /// A certificate for `names` named `cn`, signed by `issuer` (self-signed when `None`),
    /// expired since 2021 when `expired`: (cert PEM, key PEM).
    fn certificate(
        names: &[&str],
        cn: &str,
        issuer: Option<&rcgen::Issuer<'_, rcgen::KeyPair>>,
        expired: bool,
    ) -> (String, String) {
        let mut params = rcgen::CertificateParams::new(
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
        )
        .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = match issuer {
            Some(issuer) => params.signed_by(&key, issuer).unwrap(),
            None => params.self_signed(&key).unwrap(),
        };
        (cert.pem(), key.serialize_pem())
    }

    /// A private CA: (its PEM, the issuer to sign leaves with).
    fn home_ca() -> (String, rcgen::Issuer<'static, rcgen::KeyPair>) {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Home CA");
        let key = rcgen::KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        (pem, rcgen::Issuer::new(params, key))
    }

    /// A loopback listener that completes TLS handshakes with this certificate and says nothing.
    async fn tls_server(cert_pem: &str, key_pem: &str) -> String {
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
                    let _ = acceptor.accept(tcp).await;
                });
            }
        });
        format!("https://127.0.0.1:{port}")
    }

    /// The TLS step of a diagnosis of `url` trusting `tls`.
    async fn tls_check(url: &str, tls: &TlsConfig) -> Check {
        let report = diagnose_within(url, tls, None, Duration::from_secs(3)).await;
        report.check(Step::Tls).unwrap().clone()
    }

    /// Trust settings with `ca_pem` as the extra CA.
    fn trusting(ca_pem: &str) -> (tempfile::TempDir, TlsConfig) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, ca_pem).unwrap();
        let options = tls::TlsOptions {
            extra_ca_pem: Some(path),
            pinned_cert_sha256: None,
        };
        let tls = options.build(dir.path()).unwrap();
        (dir, tls)
    }

    #[tokio::test]
    async fn a_self_signed_certificate_is_named_with_its_fingerprint_and_pinning_advice() {
        let (cert, key) = certificate(&["localhost", "127.0.0.1"], "nas", None, false);
        let url = tls_server(&cert, &key).await;
        let report = diagnose_within(
            &url,
            &TlsConfig::system().unwrap(),
            None,
            Duration::from_secs(3),
        )
        .await;
        let check = report.check(Step::Tls).unwrap();
        assert_eq!(check.verdict, Verdict::Fail);
        assert!(
            check.detail.contains("self-signed") && check.detail.contains("SHA-256"),
            "{check:?}"
        );
        assert!(check.fix.as_deref().unwrap().contains("pin"), "{check:?}");
        assert_eq!(
            report.check(Step::Status).unwrap().verdict,
            Verdict::Skipped
        );
        assert!(!report.unreachable());
    }

    #[tokio::test]
    async fn a_private_ca_is_trusted_only_when_configured() {
        let (ca, issuer) = home_ca();
        let (cert, key) = certificate(&["127.0.0.1"], "abs.home", Some(&issuer), false);
        let url = tls_server(&cert, &key).await;
        let check = tls_check(&url, &TlsConfig::system().unwrap()).await;
        assert_eq!(check.verdict, Verdict::Fail);
        assert!(check.detail.contains("\"Home CA\""), "{check:?}");
        assert!(
            check.fix.as_deref().unwrap().contains("extra_ca_pem"),
            "{check:?}"
        );
        let (_dir, tls) = trusting(&ca);
        let check = tls_check(&url, &tls).await;
        assert_eq!(check.verdict, Verdict::Ok, "{check:?}");
        assert!(check.detail.contains("issued by Home CA"), "{check:?}");
    }

    #[tokio::test]
    async fn a_wrong_name_and_an_expired_certificate_are_told_apart() {
        let (ca, issuer) = home_ca();
        let (_dir, tls) = trusting(&ca);
        let (cert, key) = certificate(&["abs.home.example"], "abs.home", Some(&issuer), false);
        let check = tls_check(&tls_server(&cert, &key).await, &tls).await;
        assert_eq!(check.verdict, Verdict::Fail);
        assert!(
            check.detail.contains("abs.home.example, not for 127.0.0.1"),
            "{check:?}"
        );
        let (cert, key) = certificate(&["127.0.0.1"], "abs.home", Some(&issuer), true);
        let check = tls_check(&tls_server(&cert, &key).await, &tls).await;
        assert_eq!(check.verdict, Verdict::Fail);
        assert!(
            check.detail.contains("expired on") && check.detail.contains("2021"),
            "{check:?}"
        );
        assert!(check.fix.as_deref().unwrap().contains("Renew"), "{check:?}");
    }

    #[tokio::test]
    async fn https_to_a_plain_http_port_says_so() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            while let Ok((mut tcp, _)) = listener.accept().await {
                let _ = tcp
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let check = tls_check(
            &format!("https://127.0.0.1:{port}"),
            &TlsConfig::system().unwrap(),
        )
        .await;
        assert_eq!(check.verdict, Verdict::Fail);
        assert!(check.detail.contains("no TLS handshake"), "{check:?}");
        assert!(
            check.fix.as_deref().unwrap().contains("plain HTTP"),
            "{check:?}"
        );
    }
}
