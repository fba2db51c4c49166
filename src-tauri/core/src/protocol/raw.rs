//! One Socket.IO argument kept as the JSON text it arrived in.
//!
//! The socket splits a `42[...]` frame into its event name and these arguments without building a
//! JSON tree: a hostile `init` listing 100,000 users would otherwise cost hundreds of megabytes as
//! `Value`s before the bounded models could drop what they do not keep. The typed decode reads
//! straight from the text ([`decode`](super::decode)).

use std::fmt;

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// A JSON argument as text, validated once when it was read; compares by its text.
#[derive(Clone)]
pub struct RawArg(Box<RawValue>);

impl RawArg {
    /// Validates `json` as one JSON value (surrounding whitespace is dropped).
    pub fn from_json(json: impl Into<String>) -> Result<Self, serde_json::Error> {
        RawValue::from_string(json.into()).map(Self)
    }

    /// The argument's JSON text.
    pub fn json(&self) -> &str {
        self.0.get()
    }

    /// The argument as a borrowed raw value, for the typed decode.
    pub(crate) fn raw(&self) -> &RawValue {
        &self.0
    }

    /// The argument as a JSON tree, for callers that print unmodelled payloads; it costs memory
    /// in proportion to the text, so the decode path never calls it.
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(self.json())
    }
}

impl From<&RawValue> for RawArg {
    fn from(raw: &RawValue) -> Self {
        Self(raw.to_owned())
    }
}

impl From<&Value> for RawArg {
    fn from(value: &Value) -> Self {
        // Serializing a `Value` cannot fail (its keys are strings), so `null` is never reached.
        serde_json::value::to_raw_value(value)
            .map(Self)
            .unwrap_or_else(|_| Self::from(RawValue::NULL))
    }
}

impl From<Value> for RawArg {
    fn from(value: Value) -> Self {
        Self::from(&value)
    }
}

impl PartialEq for RawArg {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json()
    }
}

impl Eq for RawArg {}

impl fmt::Debug for RawArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Shown as the JSON itself, as a `Value` would be; callers shorten what they log.
        f.write_str(self.json())
    }
}

impl<'de> Deserialize<'de> for RawArg {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_the_text_and_compares_by_it() {
        let arg = RawArg::from_json("  {\"a\": [1, 2]} \n").unwrap();
        assert_eq!(arg.json(), "{\"a\": [1, 2]}");
        assert_eq!(arg.to_value().unwrap(), json!({"a": [1, 2]}));
        assert_eq!(RawArg::from(json!({"a": [1, 2]})).json(), "{\"a\":[1,2]}");
        assert_ne!(arg, RawArg::from(json!({"a": [1, 2]})));
        assert!(RawArg::from_json("{").is_err());
        assert!(RawArg::from_json("1 2").is_err());
        assert!(RawArg::from_json("").is_err());
    }
}
