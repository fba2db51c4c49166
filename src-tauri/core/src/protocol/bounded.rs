//! Readers that bound what a hostile server can make the app keep.
//!
//! Every `String` in the protocol models is read through one of these functions (via
//! `#[serde(deserialize_with)]`), under one of two policies:
//!
//! * **reject**: identifiers, tags and tokens the server generates (UUIDs, `type`, `action`,
//!   JWTs). One longer than its cap is not a real value, and a shortened id would silently
//!   point at something else, so the whole payload is a decode error.
//! * **truncate**: free text (names, titles, messages, anything a *user's client* chose, such
//!   as a device name). An over-long value is cut at a char boundary and ends with `…`, so the
//!   result never exceeds the cap in bytes. The event still decodes: one user with a silly
//!   device name must not hide everyone's notifications.
//!
//! Lists are read under a length cap while they are parsed: entries past it are skipped with
//! [`IgnoredAny`] (checked as JSON, never validated against the model, never stored), so a list of
//! 100,000 users costs what [`MAX_LIST_LEN`] of them cost. Most lists keep their first entries;
//! log lines keep their last (the newest).
//!
//! Timestamps are read as milliseconds and accept JSON floats as well as integers.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Unexpected,
    Visitor,
};

use crate::secret::Secret;

/// Longest server-generated identifier or tag kept; a longer one makes the payload malformed.
pub const MAX_ID_BYTES: usize = 1024;
/// Longest name/title kept; longer free text is truncated to this many bytes.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Longest message (admin message, log line, error) kept; longer ones are truncated.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;
/// Longest token kept; a longer one makes the payload malformed (real JWTs are < 1 KiB).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Most entries kept from a list the server sends (users online, sessions, tasks, log lines, ...);
/// the rest are skipped unread. At least what live state keeps of each, so it loses nothing.
pub const MAX_LIST_LEN: usize = 1_000;
/// Most items kept from one `items_added`: a scan's batch is told as a count, so it gets room.
pub const MAX_ITEMS_ADDED: usize = 10_000;

// Live state must never want more than a decoded list can hold.
const _: () = assert!(
    crate::live::MAX_USERS <= MAX_LIST_LEN
        && crate::live::MAX_SESSIONS <= MAX_LIST_LEN
        && crate::live::MAX_SCANS <= MAX_LIST_LEN
        && crate::live::MAX_LOG_LINES <= MAX_LIST_LEN
        && crate::live::MAX_ITEMS <= MAX_ITEMS_ADDED
);

/// Marks where free text was cut.
const ELLIPSIS: char = '…';

/// Cuts `s` to at most `max` bytes at a char boundary, marking the cut with `…`.
pub(crate) fn truncate_str(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut cut = max.saturating_sub(ELLIPSIS.len_utf8()).min(s.len());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = String::with_capacity(cut + ELLIPSIS.len_utf8());
    out.push_str(s.get(..cut).unwrap_or_default());
    out.push(ELLIPSIS);
    out
}

/// How one kind of string is bounded.
trait Policy {
    /// Longest value in bytes.
    const MAX: usize;
    /// Truncate (free text) rather than reject (identifiers).
    const TRUNCATE: bool;
    /// Also accept numbers and booleans, stringified (client-supplied fields).
    const SCALARS: bool;
    /// Used in error messages; never the value itself.
    const WHAT: &'static str;
}

/// Server-generated identifiers and tags: rejected when too long.
struct Id;
impl Policy for Id {
    const MAX: usize = MAX_ID_BYTES;
    const TRUNCATE: bool = false;
    const SCALARS: bool = false;
    const WHAT: &'static str = "identifier";
}

/// Names and titles: truncated.
struct Text;
impl Policy for Text {
    const MAX: usize = MAX_TEXT_BYTES;
    const TRUNCATE: bool = true;
    const SCALARS: bool = false;
    const WHAT: &'static str = "text";
}

/// Client-supplied text that may be a number: truncated, scalars stringified.
struct LooseText;
impl Policy for LooseText {
    const MAX: usize = MAX_TEXT_BYTES;
    const TRUNCATE: bool = true;
    const SCALARS: bool = true;
    const WHAT: &'static str = "text";
}

/// Messages and log lines: truncated at a smaller cap.
struct Message;
impl Policy for Message {
    const MAX: usize = MAX_MESSAGE_BYTES;
    const TRUNCATE: bool = true;
    const SCALARS: bool = false;
    const WHAT: &'static str = "message";
}

/// Tokens: rejected when too long.
struct Token;
impl Policy for Token {
    const MAX: usize = MAX_TOKEN_BYTES;
    const TRUNCATE: bool = false;
    const SCALARS: bool = false;
    const WHAT: &'static str = "token";
}

/// A string read under policy `P`.
struct Capped<P>(String, PhantomData<P>);

impl<'de, P: Policy> Deserialize<'de> for Capped<P> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if P::SCALARS {
            deserializer.deserialize_any(CappedVisitor::<P>(PhantomData))
        } else {
            deserializer.deserialize_str(CappedVisitor::<P>(PhantomData))
        }
    }
}

/// Reads a [`Capped`] string.
struct CappedVisitor<P>(PhantomData<P>);

impl<P: Policy> CappedVisitor<P> {
    /// A number or boolean: kept stringified where the policy allows, else a type error.
    fn scalar<E: de::Error>(
        self,
        shown: String,
        unexpected: Unexpected<'_>,
    ) -> Result<Capped<P>, E> {
        if P::SCALARS {
            Ok(Capped(shown, PhantomData))
        } else {
            Err(E::invalid_type(unexpected, &self))
        }
    }
}

impl<'de, P: Policy> Visitor<'de> for CappedVisitor<P> {
    type Value = Capped<P>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if P::SCALARS {
            write!(f, "a {} (string or number)", P::WHAT)
        } else {
            write!(f, "a {} string", P::WHAT)
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if v.len() <= P::MAX {
            Ok(Capped(v.to_owned(), PhantomData))
        } else if P::TRUNCATE {
            Ok(Capped(truncate_str(v, P::MAX), PhantomData))
        } else {
            Err(E::custom(format_args!(
                "{} of {} bytes is longer than the {}-byte limit",
                P::WHAT,
                v.len(),
                P::MAX
            )))
        }
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        if v.len() <= P::MAX {
            Ok(Capped(v, PhantomData))
        } else {
            self.visit_str(&v)
        }
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        self.scalar(v.to_string(), Unexpected::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.scalar(v.to_string(), Unexpected::Signed(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.scalar(v.to_string(), Unexpected::Unsigned(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.scalar(v.to_string(), Unexpected::Float(v))
    }
}

/// A required string under policy `P`.
fn one<'de, P: Policy, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Capped::<P>::deserialize(d).map(|c| c.0)
}

/// A nullable string under policy `P`.
fn opt<'de, P: Policy, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<Capped<P>>::deserialize(d).map(|o| o.map(|c| c.0))
}

/// A required server-generated identifier or tag (rejected above [`MAX_ID_BYTES`]).
pub(crate) fn ident<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    one::<Id, D>(d)
}

/// A nullable identifier or tag; pair with `#[serde(default)]`.
pub(crate) fn opt_ident<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    opt::<Id, D>(d)
}

/// A list of identifiers or tags, at most [`MAX_LIST_LEN`]; pair with `#[serde(default)]`.
pub(crate) fn idents<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    list::<Capped<Id>, D>(d).map(|v| v.into_iter().map(|c| c.0).collect())
}

/// Which entries of an over-long list are kept.
#[derive(Debug, Clone, Copy)]
enum Keep {
    /// The first ones; the rest are skipped unread.
    First(usize),
    /// The last ones (newest log lines); each is read, and the oldest kept one dropped.
    Last(usize),
}

/// Reads a list's entries under `keep`, never holding more than its cap.
fn read_seq<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(
    seq: &mut A,
    keep: Keep,
) -> Result<Vec<T>, A::Error> {
    // Preallocating from the claimed length would trust the input; grow as entries arrive.
    match keep {
        Keep::First(max) => {
            let mut kept = Vec::new();
            while kept.len() < max {
                match seq.next_element()? {
                    Some(item) => kept.push(item),
                    None => return Ok(kept),
                }
            }
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(kept)
        }
        Keep::Last(max) => {
            let mut kept = VecDeque::new();
            while let Some(item) = seq.next_element()? {
                if kept.len() >= max {
                    kept.pop_front();
                }
                kept.push_back(item);
            }
            Ok(Vec::from(kept))
        }
    }
}

/// Reads a JSON array under a [`Keep`] cap.
struct ListSeed<T> {
    /// The cap.
    keep: Keep,
    /// The entry type.
    entry: PhantomData<T>,
}

impl<T> ListSeed<T> {
    /// A reader keeping what `keep` says.
    fn new(keep: Keep) -> Self {
        Self {
            keep,
            entry: PhantomData,
        }
    }
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for ListSeed<T> {
    type Value = Vec<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<T>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for ListSeed<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        read_seq(&mut seq, self.keep)
    }
}

/// A list of at most [`MAX_LIST_LEN`] entries, the first ones.
pub(crate) fn list<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    ListSeed::new(Keep::First(MAX_LIST_LEN)).deserialize(d)
}

/// A nullable list of at most [`MAX_LIST_LEN`] entries; pair with `#[serde(default)]`.
pub(crate) fn opt_list<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<T>>, D::Error> {
    d.deserialize_option(OptList(PhantomData))
}

/// Reads `null` or a capped list.
struct OptList<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for OptList<T> {
    type Value = Option<Vec<T>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        list(d).map(Some)
    }
}

/// The items of one `items_added`, at most [`MAX_ITEMS_ADDED`], the first ones.
pub(crate) fn items_added<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    ListSeed::new(Keep::First(MAX_ITEMS_ADDED)).deserialize(d)
}

/// A list sent either bare (`[...]`) or as the field `field` of an object (`{"tasks": [...]}`),
/// as servers of different ages do; other fields are skipped unread.
pub(crate) fn bare_or_field<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
    field: &'static str,
    newest: bool,
) -> Result<Vec<T>, D::Error> {
    let keep = if newest {
        Keep::Last(MAX_LIST_LEN)
    } else {
        Keep::First(MAX_LIST_LEN)
    };
    d.deserialize_any(BareOrField {
        field,
        keep,
        entry: PhantomData,
    })
}

/// Reads [`bare_or_field`]'s two shapes without buffering either (serde's `untagged` would copy
/// the whole payload into a tree first).
struct BareOrField<T> {
    /// The field holding the list in the object shape.
    field: &'static str,
    /// The cap.
    keep: Keep,
    /// The entry type.
    entry: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for BareOrField<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list, or an object with the list in `{}`", self.field)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        read_seq(&mut seq, self.keep)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<T>, A::Error> {
        let mut found = None;
        while let Some(is_field) = map.next_key_seed(FieldIs(self.field))? {
            if !is_field {
                map.next_value::<IgnoredAny>()?;
            } else if found.is_some() {
                return Err(de::Error::duplicate_field(self.field));
            } else {
                found = Some(map.next_value_seed(ListSeed::new(self.keep))?);
            }
        }
        found.ok_or_else(|| de::Error::missing_field(self.field))
    }
}

/// Reads an object key and tells whether it is the wanted field, without keeping it.
struct FieldIs(&'static str);

impl<'de> DeserializeSeed<'de> for FieldIs {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for FieldIs {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

/// Required free text (truncated above [`MAX_TEXT_BYTES`]).
pub(crate) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    one::<Text, D>(d)
}

/// Nullable free text; pair with `#[serde(default)]`.
pub(crate) fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    opt::<Text, D>(d)
}

/// Nullable client-supplied text that may arrive as a number (Android sends `sdkVersion: 34`).
pub(crate) fn opt_loose_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    opt::<LooseText, D>(d)
}

/// A required message (truncated above [`MAX_MESSAGE_BYTES`]).
pub(crate) fn message<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    one::<Message, D>(d)
}

/// A nullable message; pair with `#[serde(default)]`.
pub(crate) fn opt_message<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    opt::<Message, D>(d)
}

/// A nullable token, wrapped so it cannot be logged; pair with `#[serde(default)]`.
pub(crate) fn opt_token<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    opt::<Token, D>(d).map(|o| o.map(Secret::from))
}

/// Milliseconds since the epoch, from a JSON integer or float.
struct Ms(i64);

impl<'de> Deserialize<'de> for Ms {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MsVisitor).map(Ms)
    }
}

/// Reads [`Ms`].
struct MsVisitor;

impl Visitor<'_> for MsVisitor {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a timestamp in milliseconds")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        // `i64::MAX as f64` rounds up to 2^63, hence the strict upper bound.
        if v.is_finite() && v >= i64::MIN as f64 && v < i64::MAX as f64 {
            Ok(v as i64)
        } else {
            Err(E::invalid_value(Unexpected::Float(v), &self))
        }
    }
}

/// A required timestamp in milliseconds (integer or float).
pub(crate) fn ms<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ms::deserialize(d).map(|m| m.0)
}

/// A nullable timestamp in milliseconds; pair with `#[serde(default)]`.
pub(crate) fn opt_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Option::<Ms>::deserialize(d).map(|o| o.map(|m| m.0))
}

/// A position or duration in seconds where `null` means "none yet"; pair with `#[serde(default)]`.
pub(crate) fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Option::<f64>::deserialize(d).map(|o| o.unwrap_or(0.0))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "opt_ident")]
        id: Option<String>,
        #[serde(default, deserialize_with = "opt_text")]
        text: Option<String>,
        #[serde(default, deserialize_with = "opt_loose_text")]
        loose: Option<String>,
        #[serde(default, deserialize_with = "opt_message")]
        message: Option<String>,
        #[serde(default, deserialize_with = "opt_token")]
        token: Option<Secret>,
        #[serde(default, deserialize_with = "opt_ms")]
        at: Option<i64>,
    }

    fn probe(v: serde_json::Value) -> Result<Probe, serde_json::Error> {
        Probe::deserialize(&v)
    }

    #[test]
    fn truncation_respects_the_cap_and_char_boundaries() {
        assert_eq!(truncate_str("short", 10), "short");
        let cut = truncate_str("abcdefghij", 6);
        assert_eq!(cut, "abc…");
        assert!(cut.len() <= 6);
        // "é" is two bytes: a cut in its middle must move back to the boundary.
        let cut = truncate_str("ééééé", 6);
        assert_eq!(cut, "é…");
        assert!(cut.len() <= 6);
        // A cap smaller than the ellipsis still yields valid UTF-8.
        assert_eq!(truncate_str("abcdef", 1), "…");
    }

    #[test]
    fn free_text_is_truncated_not_rejected() {
        let long = "x".repeat(MAX_TEXT_BYTES * 2);
        let p = probe(json!({"text": long, "loose": long})).unwrap();
        let text = p.text.unwrap();
        assert!(text.len() <= MAX_TEXT_BYTES);
        assert!(text.ends_with('…'));
        assert!(p.loose.unwrap().len() <= MAX_TEXT_BYTES);
        let p = probe(json!({"message": "m".repeat(MAX_MESSAGE_BYTES + 1)})).unwrap();
        assert!(p.message.unwrap().len() <= MAX_MESSAGE_BYTES);
    }

    #[test]
    fn identifiers_and_tokens_are_rejected_when_too_long() {
        let err = probe(json!({"id": "i".repeat(MAX_ID_BYTES + 1)})).unwrap_err();
        assert!(err.to_string().contains("limit"));
        assert!(
            !err.to_string().contains("iiii"),
            "error must not echo the value"
        );
        let at_cap = "i".repeat(MAX_ID_BYTES);
        assert_eq!(probe(json!({"id": at_cap})).unwrap().id, Some(at_cap));
        assert!(probe(json!({"token": "t".repeat(MAX_TOKEN_BYTES + 1)})).is_err());
    }

    #[test]
    fn loose_text_accepts_scalars_but_strict_text_does_not() {
        let p = probe(json!({"loose": 34})).unwrap();
        assert_eq!(p.loose.as_deref(), Some("34"));
        assert_eq!(
            probe(json!({"loose": true})).unwrap().loose.as_deref(),
            Some("true")
        );
        assert!(probe(json!({"loose": [1]})).is_err());
        assert!(probe(json!({"text": 34})).is_err());
        assert!(probe(json!({"id": 34})).is_err());
    }

    #[test]
    fn timestamps_accept_integers_and_floats() {
        assert_eq!(
            probe(json!({"at": 1795851167177_i64})).unwrap().at,
            Some(1795851167177)
        );
        assert_eq!(
            probe(json!({"at": 1795851167177.9})).unwrap().at,
            Some(1795851167177)
        );
        assert_eq!(probe(json!({"at": null})).unwrap().at, None);
        assert!(probe(json!({"at": "yesterday"})).is_err());
        assert!(probe(json!({"at": 1e300})).is_err());
        assert!(probe(json!({"at": u64::MAX})).is_err());
    }

    #[test]
    fn tokens_are_wrapped() {
        let p = probe(json!({"token": "abc"})).unwrap();
        assert_eq!(p.token.as_ref().map(Secret::expose), Some("abc"));
        assert!(!format!("{p:?}").contains("abc"));
    }
}
