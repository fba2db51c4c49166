//! The server address as people paste it, normalised once so every other module builds URLs the
//! same way (REST, Socket.IO, keyring and settings keys).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::{Host, Url};

/// Why a pasted address cannot be used; each message tells the user what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerUrlError {
    /// Nothing was typed.
    #[error("enter the address of your Audiobookshelf server")]
    Empty,
    /// `ftp://`, `ws://`, ...: ABS is reached over HTTP(S) only.
    #[error("use an http:// or https:// address (not {0}://)")]
    UnsupportedScheme(String),
    /// `https://user:pass@host`: credentials in a URL end up in logs and settings.
    #[error("remove the user name and password from the address; sign in below instead")]
    UserInfo,
    /// `https:///path` or similar.
    #[error("the address has no host name")]
    NoHost,
    /// `?redirect=...`: a query is never part of a server address.
    #[error("remove the part after '?' from the address")]
    Query,
    /// `#...`: a fragment is never part of a server address.
    #[error("remove the part after '#' from the address")]
    Fragment,
    /// A host name longer than DNS allows (253 characters), or an address longer than any server's.
    #[error("the address is too long for a server address; check what was pasted")]
    TooLong,
    /// The URL parser refused it (bad port, bad characters, ...).
    #[error("not a valid address: {0}")]
    Invalid(String),
}

/// The longest host name DNS can carry.
const MAX_HOST_CHARS: usize = 253;
/// The longest address accepted as typed (host, port and a base path).
const MAX_ADDRESS_CHARS: usize = 2048;

/// HTTP or HTTPS; kept as an enum so the insecure-transport check cannot be fooled by spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain text: fine on a LAN, a warning elsewhere.
    Http,
    /// TLS.
    Https,
}

impl Scheme {
    /// The lowercase scheme name, as written in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// A normalised Audiobookshelf server address: scheme, host, port and base path (no trailing slash).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ServerUrl {
    scheme: Scheme,
    host: Host<String>,
    port: u16,
    /// `scheme://host[:port]` with the default port left out, as browsers show it.
    origin: String,
    /// Empty or `/some/path` (no trailing slash, `@` percent-encoded).
    base_path: String,
}

impl ServerUrl {
    /// Same scheme, host and port (discovery may add a base path such as `/audiobookshelf`).
    pub fn same_origin(&self, other: &ServerUrl) -> bool {
        self.scheme() == other.scheme()
            && self.host() == other.host()
            && self.port() == other.port()
    }

    /// Parses what people paste: `abs.example.com` (https is assumed), `https://host/audiobookshelf/`,
    /// `http://192.168.1.5:13378`, with surrounding whitespace, trailing slashes, or the web client's
    /// `/login` page path.
    pub fn parse(input: &str) -> Result<Self, ServerUrlError> {
        let (trimmed, typed) = split_scheme(input)?;
        Self::parse_with(typed.unwrap_or(Scheme::Https), trimmed)
    }

    /// The addresses to try, in order, for what people type: the address itself when it names
    /// its scheme (never anything else after an explicit `https://`); for a bare `host[:port]`,
    /// https first and then plain http, since ABS itself serves plain http (port 13378).
    pub fn candidates(input: &str) -> Result<Vec<Self>, ServerUrlError> {
        let (trimmed, typed) = split_scheme(input)?;
        match typed {
            Some(scheme) => Ok(vec![Self::parse_with(scheme, trimmed)?]),
            None => Ok(vec![
                Self::parse_with(Scheme::Https, trimmed)?,
                Self::parse_with(Scheme::Http, trimmed)?,
            ]),
        }
    }

    /// Parses `text`, with the scheme prefixed when it has none.
    fn parse_with(scheme: Scheme, text: &str) -> Result<Self, ServerUrlError> {
        let with_scheme = if text.contains("://") {
            text.to_owned()
        } else {
            format!("{}://{text}", scheme.as_str())
        };
        let url = Url::parse(&with_scheme).map_err(|e| match e {
            url::ParseError::EmptyHost => ServerUrlError::NoHost,
            other => ServerUrlError::Invalid(other.to_string()),
        })?;
        Self::from_url(&url)
    }

    /// Validates and normalises an already parsed URL.
    fn from_url(url: &Url) -> Result<Self, ServerUrlError> {
        let scheme = match url.scheme() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => return Err(ServerUrlError::UnsupportedScheme(other.to_owned())),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ServerUrlError::UserInfo);
        }
        if url.query().is_some() {
            return Err(ServerUrlError::Query);
        }
        if url.fragment().is_some() {
            return Err(ServerUrlError::Fragment);
        }
        let host = match url.host() {
            None => return Err(ServerUrlError::NoHost),
            Some(Host::Domain("")) => return Err(ServerUrlError::NoHost),
            Some(Host::Domain(name)) if name.len() > MAX_HOST_CHARS => {
                return Err(ServerUrlError::TooLong);
            }
            Some(host) => host.to_owned(),
        };
        let port = url.port_or_known_default().ok_or(ServerUrlError::NoHost)?;
        Ok(Self {
            scheme,
            origin: url.origin().ascii_serialization(),
            host,
            port,
            base_path: normalise_path(url.path()),
        })
    }

    /// The same server under another base path (used by base-path discovery).
    pub fn with_base_path(&self, base_path: &str) -> Self {
        Self {
            base_path: normalise_path(base_path),
            ..self.clone()
        }
    }

    /// HTTP or HTTPS.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Host name or IP address as it appears in URLs (IPv6 in brackets, IDN as punycode).
    pub fn host(&self) -> String {
        self.host.to_string()
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Empty for a server at the root, else e.g. `/audiobookshelf`.
    pub fn base_path(&self) -> &str {
        &self.base_path
    }

    /// The full URL of a REST endpoint; `path` starts with `/` (e.g. `/status`, `/api/authorize`).
    pub fn rest(&self, path: &str) -> String {
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("{}{}{slash}{path}", self.origin, self.base_path)
    }

    /// The Socket.IO address: always `<base>/socket.io/`, so clients that append `/socket.io/`
    /// only to a bare `/` path (rust_socketio) and clients that take the path verbatim agree.
    pub fn socket_url(&self) -> String {
        self.rest("/socket.io/")
    }

    /// A stable identifier for the keyring and settings: `scheme://host:port/base`, port always
    /// written so `https://h` and `https://h:443` are the same server. Never contains `@`.
    pub fn storage_key(&self) -> String {
        format!(
            "{}://{}:{}{}",
            self.scheme.as_str(),
            self.host,
            self.port,
            self.base_path
        )
    }

    /// What a user must know about how the connection travels: `None` over https, a short note
    /// over plain http (with [`insecure_warning`](Self::insecure_warning)'s advice off the local network).
    pub fn transport_note(&self) -> Option<String> {
        if self.scheme == Scheme::Https {
            return None;
        }
        Some(match self.insecure_warning() {
            Some(warning) => format!("Connected over http: not encrypted. {warning}"),
            None => "Connected over http: not encrypted.".to_owned(),
        })
    }

    /// `Some(warning)` when the password and tokens would cross a network in clear text: plain
    /// http to a host that is not loopback, private (RFC 1918, CGNAT/Tailscale, link-local, ULA)
    /// or a local name (`localhost`, `.local`, `.home.arpa`).
    pub fn insecure_warning(&self) -> Option<String> {
        if self.scheme == Scheme::Https || is_local_host(&self.host) {
            return None;
        }
        Some(format!(
            "{} is reached over plain http: your password and tokens cross the network unencrypted. \
             Use https:// unless this server is on your own network.",
            self.host
        ))
    }
}

/// The input trimmed, and the scheme it names (`None` for a bare `host[:port]`); refuses empty,
/// overlong and non-HTTP input.
fn split_scheme(input: &str) -> Result<(&str, Option<Scheme>), ServerUrlError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(ServerUrlError::Empty);
    }
    if trimmed.len() > MAX_ADDRESS_CHARS {
        return Err(ServerUrlError::TooLong);
    }
    let Some((scheme, _)) = trimmed.split_once("://") else {
        return Ok((trimmed, None));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "http" => Ok((trimmed, Some(Scheme::Http))),
        "https" => Ok((trimmed, Some(Scheme::Https))),
        _ => Err(ServerUrlError::UnsupportedScheme(scheme.to_owned())),
    }
}

impl fmt::Display for ServerUrl {
    /// The address as the user should see it (default port left out).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.origin, self.base_path)
    }
}

impl fmt::Debug for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerUrl({self})")
    }
}

impl FromStr for ServerUrl {
    type Err = ServerUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for ServerUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ServerUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Drops trailing slashes and a pasted `/login` page, and percent-encodes `@` so storage keys
/// can use `@` as a separator.
fn normalise_path(path: &str) -> String {
    let mut path = path.trim_end_matches('/');
    if let Some(stripped) = path.strip_suffix("/login") {
        path = stripped.trim_end_matches('/');
    }
    let path = path.replace('@', "%40");
    if path.is_empty() || path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    }
}

/// Loopback, private, link-local or a local-only name: plain http there is the user's choice.
fn is_local_host(host: &Host<String>) -> bool {
    match host {
        Host::Ipv4(ip) => is_local_v4(*ip),
        Host::Ipv6(ip) => is_local_v6(*ip),
        Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost"
                || [".localhost", ".local", ".home.arpa"]
                    .iter()
                    .any(|suffix| name.ends_with(suffix))
        }
    }
}

/// RFC 1918, loopback, link-local, and 100.64/10 (CGNAT, used by Tailscale's encrypted overlay).
fn is_local_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || (a == 100 && (64..128).contains(&b))
}

/// Loopback, link-local (fe80::/10), unique local (fc00::/7), or an IPv4-mapped local address.
fn is_local_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_local_v4(v4);
    }
    let first = ip.segments()[0];
    ip.is_loopback() || (first & 0xffc0) == 0xfe80 || (first & 0xfe00) == 0xfc00
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ServerUrl {
        ServerUrl::parse(s).unwrap()
    }

    #[test]
    fn bare_host_means_https_at_the_root() {
        let url = parse("  abs.example.com  ");
        assert_eq!(url.scheme(), Scheme::Https);
        assert_eq!(url.host(), "abs.example.com");
        assert_eq!(url.port(), 443);
        assert_eq!(url.base_path(), "");
        assert_eq!(url.to_string(), "https://abs.example.com");
        assert_eq!(url.rest("/status"), "https://abs.example.com/status");
        assert_eq!(url.storage_key(), "https://abs.example.com:443");
    }

    #[test]
    fn bare_host_with_port_is_not_mistaken_for_a_scheme() {
        let url = parse("nas.example.org:13378");
        assert_eq!(url.scheme(), Scheme::Https);
        assert_eq!(url.port(), 13378);
        assert_eq!(url.to_string(), "https://nas.example.org:13378");
    }

    #[test]
    fn a_bare_address_tries_https_then_http_on_the_same_port() {
        for (typed, https, http) in [
            (
                "127.0.0.1:13378",
                "https://127.0.0.1:13378",
                "http://127.0.0.1:13378",
            ),
            (
                " LocalHost:13378/ ",
                "https://localhost:13378",
                "http://localhost:13378",
            ),
            ("abs.lan", "https://abs.lan", "http://abs.lan"),
            ("[::1]:13378", "https://[::1]:13378", "http://[::1]:13378"),
            (
                "nas.lan/audiobookshelf/",
                "https://nas.lan/audiobookshelf",
                "http://nas.lan/audiobookshelf",
            ),
        ] {
            let found: Vec<String> = ServerUrl::candidates(typed)
                .unwrap()
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(found, [https, http], "{typed}");
        }
    }

    #[test]
    fn an_explicit_scheme_is_the_only_candidate() {
        for typed in [
            "https://127.0.0.1:13378",
            "HTTPS://abs.lan",
            "http://abs.lan",
        ] {
            let found = ServerUrl::candidates(typed).unwrap();
            assert_eq!(found.len(), 1, "{typed}");
            assert_eq!(found[0], parse(typed));
        }
        assert_eq!(
            ServerUrl::candidates("ftp://abs.lan"),
            Err(ServerUrlError::UnsupportedScheme("ftp".into()))
        );
    }

    #[test]
    fn overlong_hosts_and_addresses_are_refused() {
        let host = format!("{}.example", "a".repeat(5000));
        assert_eq!(ServerUrl::parse(&host), Err(ServerUrlError::TooLong));
        assert_eq!(
            ServerUrl::parse(&format!("https://h.example/{}", "p".repeat(3000))),
            Err(ServerUrlError::TooLong)
        );
        let longest = format!(
            "{}.{}.{}.{}",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61)
        );
        assert_eq!(longest.len(), 253);
        assert!(ServerUrl::parse(&longest).is_ok());
    }

    #[test]
    fn plain_http_is_named() {
        assert_eq!(
            parse("http://127.0.0.1:13378").transport_note().as_deref(),
            Some("Connected over http: not encrypted.")
        );
        assert!(
            parse("http://abs.example.com")
                .transport_note()
                .is_some_and(|note| note.contains("unencrypted"))
        );
        assert_eq!(parse("https://abs.example.com").transport_note(), None);
    }

    #[test]
    fn base_path_and_trailing_slashes() {
        let url = parse("HTTPS://Host.Example.com/audiobookshelf///");
        assert_eq!(url.host(), "host.example.com");
        assert_eq!(url.base_path(), "/audiobookshelf");
        assert_eq!(
            url.rest("/api/authorize"),
            "https://host.example.com/audiobookshelf/api/authorize"
        );
        assert_eq!(
            url.socket_url(),
            "https://host.example.com/audiobookshelf/socket.io/"
        );
        assert_eq!(
            url.storage_key(),
            "https://host.example.com:443/audiobookshelf"
        );
    }

    #[test]
    fn pasted_login_page_is_dropped() {
        assert_eq!(parse("https://h.example/login").base_path(), "");
        assert_eq!(
            parse("https://h.example/audiobookshelf/login/").base_path(),
            "/audiobookshelf"
        );
    }

    #[test]
    fn root_socket_url_has_the_socket_io_path() {
        assert_eq!(
            parse("http://192.168.1.5:13378").socket_url(),
            "http://192.168.1.5:13378/socket.io/"
        );
    }

    #[test]
    fn default_port_spelled_out_is_the_same_server() {
        let a = parse("https://abs.example.com");
        let b = parse("https://abs.example.com:443/");
        assert_eq!(a, b);
        assert_eq!(a.storage_key(), b.storage_key());
        assert_ne!(
            a.storage_key(),
            parse("http://abs.example.com").storage_key()
        );
    }

    #[test]
    fn ipv6_hosts_keep_their_brackets() {
        let url = parse("http://[::1]:13378/");
        assert_eq!(url.host(), "[::1]");
        assert_eq!(url.rest("/status"), "http://[::1]:13378/status");
        assert_eq!(url.insecure_warning(), None);
    }

    #[test]
    fn rejections_say_what_to_fix() {
        assert_eq!(ServerUrl::parse("   "), Err(ServerUrlError::Empty));
        assert_eq!(
            ServerUrl::parse("ftp://h.example"),
            Err(ServerUrlError::UnsupportedScheme("ftp".into()))
        );
        assert_eq!(
            ServerUrl::parse("https://me:pw@h.example"),
            Err(ServerUrlError::UserInfo)
        );
        assert_eq!(
            ServerUrl::parse("https://h.example/login?next=/"),
            Err(ServerUrlError::Query)
        );
        assert_eq!(
            ServerUrl::parse("https://h.example/#/x"),
            Err(ServerUrlError::Fragment)
        );
        assert_eq!(ServerUrl::parse("https://"), Err(ServerUrlError::NoHost));
        assert!(matches!(
            ServerUrl::parse("https://h.example:99999"),
            Err(ServerUrlError::Invalid(_))
        ));
        assert!(matches!(
            ServerUrl::parse("https://bad host"),
            Err(ServerUrlError::Invalid(_))
        ));
    }

    #[test]
    fn storage_key_never_contains_an_at_sign() {
        let url = parse("https://h.example/a@b/");
        assert_eq!(url.base_path(), "/a%40b");
        assert!(!url.storage_key().contains('@'));
    }

    #[test]
    fn insecure_warning_only_for_plain_http_off_the_local_network() {
        for local in [
            "http://localhost:13378",
            "http://abs.localhost",
            "http://127.0.0.1:13378",
            "http://10.1.2.3",
            "http://172.16.0.9",
            "http://192.168.1.5:13378",
            "http://169.254.1.1",
            "http://100.101.102.103",
            "http://[fe80::1]",
            "http://[fd12:3456::1]",
            "http://[::ffff:192.168.1.5]",
            "http://nas.local",
            "http://nas.home.arpa",
            "https://abs.example.com",
            "https://8.8.8.8",
        ] {
            assert_eq!(parse(local).insecure_warning(), None, "{local}");
        }
        for remote in [
            "http://abs.example.com",
            "http://8.8.8.8",
            "http://172.32.0.1",
            "http://[2001:db8::1]",
            "http://local.example.com",
        ] {
            let warning = parse(remote).insecure_warning();
            assert!(
                warning.as_deref().is_some_and(|w| w.contains("plain http")),
                "{remote}: {warning:?}"
            );
        }
    }

    #[test]
    fn serde_round_trips_as_a_string() {
        let url = parse("https://h.example:8443/abs/");
        let json = serde_json::to_string(&url).unwrap();
        assert_eq!(json, "\"https://h.example:8443/abs\"");
        assert_eq!(serde_json::from_str::<ServerUrl>(&json).unwrap(), url);
        assert!(serde_json::from_str::<ServerUrl>("\"ftp://x\"").is_err());
    }

    #[test]
    fn with_base_path_normalises() {
        let url = parse("http://127.0.0.1:13378").with_base_path("/audiobookshelf/");
        assert_eq!(
            url.rest("/status"),
            "http://127.0.0.1:13378/audiobookshelf/status"
        );
    }
}
