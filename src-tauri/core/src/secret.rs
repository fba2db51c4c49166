//! A string that must never end up in logs: access, refresh and legacy tokens.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A token kept out of `Debug` output so that logging a model never leaks a credential.
///
/// It deliberately implements neither `Display` nor `Serialize`: the only way to read it is
/// [`Secret::expose`], which makes every use easy to find.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential read from somewhere other than a server reply (keyring, user input).
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Gives the raw token to the one place that must send it (a header, the socket `auth`).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let secret = Secret::new("eyJhbGciOiJIUzI1NiJ9.payload.signature");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{secret:#?}"), "[redacted]");
        let wrapped = Some(vec![secret.clone()]);
        assert!(!format!("{wrapped:?}").contains("eyJ"));
    }

    #[test]
    fn expose_returns_the_token() {
        let secret: Secret = serde_json::from_str("\"tok\"").unwrap();
        assert_eq!(secret.expose(), "tok");
        assert_eq!(Secret::from(String::from("tok")), secret);
    }

    #[test]
    fn deserialize_rejects_non_strings() {
        assert!(serde_json::from_str::<Secret>("5").is_err());
        assert!(serde_json::from_str::<Secret>("null").is_err());
    }
}
