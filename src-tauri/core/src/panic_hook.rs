//! A panic hook that says where and what panicked with anything secret-shaped redacted.
//!
//! The default hook prints the payload as is (a panic message may quote a response body, a header
//! or a token) and, with `RUST_BACKTRACE` set, a backtrace. This one prints one line: the thread,
//! the location and the payload after [`redact`], and never a backtrace, whatever the environment
//! says. The location is printed as is: it is a path in our source, not data.

use std::any::Any;
use std::io::Write as _;
use std::panic::PanicHookInfo;

/// What a secret-shaped run of text is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Runs shorter than this are never redacted for their shape alone (words, ids, numbers).
const MIN_SECRET_LEN: usize = 20;
/// Runs at least this long with both letter cases look like base64 even without a digit.
const MIN_CASED_SECRET_LEN: usize = 32;

/// Replaces the process's panic hook with one that never prints a secret or a backtrace.
pub fn install() {
    std::panic::set_hook(Box::new(report));
}

/// The hook: one redacted line on stderr.
fn report(info: &PanicHookInfo<'_>) {
    let location = info.location().map_or_else(
        || "an unknown location".to_owned(),
        |at| format!("{}:{}:{}", at.file(), at.line(), at.column()),
    );
    let thread = std::thread::current();
    let thread = thread.name().unwrap_or("<unnamed>");
    let message = redact(&payload_text(info.payload()));
    // Nothing sensible is left to do when stderr itself fails while panicking.
    let _ = writeln!(
        std::io::stderr().lock(),
        "thread '{thread}' panicked at {location}:\n{message}\n\
         (no backtrace: ABS Tray's panic hook leaves it out so no secret can reach the output)"
    );
}

/// The panic's message (`panic!` payloads are `&str` or `String`).
fn payload_text(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// The text with secret-shaped runs replaced by [`REDACTED`]: JWT-shaped strings, whatever
/// follows `Bearer`, and long base64- or hex-looking runs (API keys, tokens, hashes).
///
/// Overcautious on purpose: a long id may go too, which costs a little debugging; a token that
/// stays costs an account.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut after_bearer = false;
    let mut rest = text;
    while let Some(start) = rest.find(is_run_char) {
        let (gap, tail) = rest.split_at(start);
        out.push_str(gap);
        let end = tail.find(|c| !is_run_char(c)).unwrap_or(tail.len());
        let (run, tail) = tail.split_at(end);
        // "Bearer" and its token are separate runs with only whitespace between them.
        let bearer_token = after_bearer && gap.chars().all(char::is_whitespace) && !gap.is_empty();
        if bearer_token || is_jwt(run) {
            out.push_str(REDACTED);
        } else {
            redact_segments(run, &mut out);
        }
        after_bearer = run.eq_ignore_ascii_case("bearer");
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// Characters a token, key or hash is made of (base64, base64url, hex, JWT dots, `=` padding).
fn is_run_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '/' | '=' | '.')
}

/// A JWT, possibly with a prefix glued to it (`token=eyJ...`): `eyJ` (`{"` in base64) with a
/// dot somewhere after it.
fn is_jwt(run: &str) -> bool {
    run.find("eyJ")
        .is_some_and(|at| run[at..].contains('.') && run.len() - at >= MIN_SECRET_LEN)
}

/// Appends the run, each dot-separated part redacted on its own when it looks like a secret
/// (so `example.com` and `main.rs` stay readable).
fn redact_segments(run: &str, out: &mut String) {
    for (i, segment) in run.split('.').enumerate() {
        if i > 0 {
            out.push('.');
        }
        if looks_secret(segment) {
            out.push_str(REDACTED);
        } else {
            out.push_str(segment);
        }
    }
}

/// Long and mixed like random base64 or hex: letters and digits, or both letter cases.
fn looks_secret(segment: &str) -> bool {
    let has = |pred: fn(&char) -> bool| segment.chars().any(|c| pred(&c));
    let len = segment.len();
    (len >= MIN_SECRET_LEN && has(char::is_ascii_digit) && has(char::is_ascii_alphabetic))
        || (len >= MIN_CASED_SECRET_LEN
            && has(char::is_ascii_uppercase)
            && has(char::is_ascii_lowercase))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An access token as the server mints them.
    const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VySWQiOiJyb290IiwidHlwZSI6ImFjY2VzcyIsImlhdCI6MTcwMDAwMDAwMH0.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    #[test]
    fn jwts_are_redacted_wherever_they_stand() {
        assert_eq!(redact(JWT), REDACTED);
        assert_eq!(
            redact(&format!("auth failed for \"{JWT}\", retrying")),
            format!("auth failed for \"{REDACTED}\", retrying")
        );
        assert_eq!(
            redact(&format!("GET /api/me?token={JWT}")),
            format!("GET /api/me?{REDACTED}")
        );
        assert_eq!(
            redact(&format!("42[\"auth\",\"{JWT}\"]")),
            format!("42[\"auth\",\"{REDACTED}\"]")
        );
    }

    #[test]
    fn bearer_hides_what_follows_however_short() {
        assert_eq!(
            redact("Authorization: Bearer abc"),
            "Authorization: Bearer [redacted]"
        );
        assert_eq!(redact("bearer  x.y"), "bearer  [redacted]");
        assert_eq!(redact("BEARER\tk"), "BEARER\t[redacted]");
        // Only whitespace links the word to its token.
        assert_eq!(redact("Bearer, then more"), "Bearer, then more");
    }

    #[test]
    fn long_base64_and_hex_runs_are_redacted() {
        let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        assert_eq!(
            redact(&format!("key {hex} rejected")),
            "key [redacted] rejected"
        );
        let base64 = "dGhpcyBpcyBhIHNlY3JldCBrZXkgb2YgMzIgYnl0ZXM=";
        assert_eq!(redact(&format!("api key: {base64}")), "api key: [redacted]");
        // Base64 without a digit is still base64 when it is long and mixes cases.
        let cased = "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh";
        assert_eq!(redact(cased), REDACTED);
    }

    #[test]
    fn ordinary_text_stays() {
        for text in [
            "called `Option::unwrap()` on a `None` value",
            "index out of bounds: the len is 3 but the index is 7",
            "could not reach https://abs.example.com:13378/api/me (connection refused)",
            "src-tauri/core/src/connection.rs:412:9",
            "user alice started The Hitchhiker's Guide on phone-1",
            "authentication_required_after_refresh",
            "Grüße, naïve café",
            "",
        ] {
            assert_eq!(redact(text), text);
        }
    }

    #[test]
    fn only_the_secret_part_of_a_dotted_name_goes() {
        let key = "a1b2c3d4e5f6a7b8c9d0e1f2";
        assert_eq!(
            redact(&format!("host.{key}.example.com")),
            "host.[redacted].example.com"
        );
    }
}
