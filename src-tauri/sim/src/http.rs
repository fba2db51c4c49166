//! Small HTTP helpers shared by the REST and control routers: express-like status answers,
//! JSON bodies, tokens from headers/query/cookies, cookies.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

/// The error side of a handler step: a finished (boxed) response.
pub(crate) type Fail = Box<Response>;

/// `Err` of a handler step: express `res.sendStatus(code)`.
pub(crate) fn fail(code: StatusCode) -> Fail {
    Box::new(status(code))
}

/// `Err` of a handler step: express `res.status(code).send(text)`.
pub(crate) fn fail_text(code: StatusCode, body: &str) -> Fail {
    Box::new(text(code, body))
}

/// express `res.sendStatus(code)`: the reason phrase as a text body.
pub(crate) fn status(code: StatusCode) -> Response {
    let text = code.canonical_reason().unwrap_or("Unknown");
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

/// express `res.status(code).send(text)`.
pub(crate) fn text(code: StatusCode, body: &str) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

/// express `res.json(value)` (with a status).
pub(crate) fn json<T: Serialize>(code: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => (
            code,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            bytes,
        )
            .into_response(),
        Err(_) => status(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// express's answer for a route that does not exist.
pub(crate) fn cannot(method: &str, path: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot {method} {path}</pre>\n</body>\n</html>\n"
    );
    text(StatusCode::NOT_FOUND, &body)
}

/// The request body as express.json() sees it: parsed when the content type is JSON, `{}` else.
pub(crate) fn body_json(headers: &HeaderMap, body: &[u8]) -> Result<Value, Fail> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !is_json || body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(body).map_err(|_| fail(StatusCode::BAD_REQUEST))
}

/// A header as a string.
pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// passport-jwt's extractors: `Authorization: Bearer <t>`, then `?token=<t>`.
pub(crate) fn bearer(headers: &HeaderMap, query: &HashMap<String, String>) -> Option<String> {
    let from_header = header_str(headers, "authorization").and_then(|v| {
        let (scheme, token) = v.trim().split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string())
    });
    from_header.or_else(|| query.get("token").cloned())
}

/// A cookie's value.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// express `res.cookie('refresh_token', token, {httpOnly, sameSite:'lax', maxAge, path:'/'})`.
pub(crate) fn refresh_cookie(token: &str, max_age_secs: u64, secure: bool) -> Option<HeaderValue> {
    let expires = chrono::Utc::now() + chrono::Duration::seconds(i64::try_from(max_age_secs).ok()?);
    let mut value = format!(
        "refresh_token={token}; Max-Age={max_age_secs}; Path=/; Expires={}; HttpOnly",
        expires.format("%a, %d %b %Y %H:%M:%S GMT")
    );
    if secure {
        value.push_str("; Secure");
    }
    value.push_str("; SameSite=Lax");
    HeaderValue::from_str(&value).ok()
}

/// express `res.clearCookie('refresh_token', {path:'/'})`.
pub(crate) fn clear_refresh_cookie() -> HeaderValue {
    HeaderValue::from_static("refresh_token=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
}

/// A JSON number or numeric value as f64.
pub(crate) fn number(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64).filter(|f| f.is_finite())
}

/// A JSON string field.
pub(crate) fn string(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// JavaScript `!!value` of a JSON field.
pub(crate) fn truthy(v: &Value, key: &str) -> bool {
    match v.get(key) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}
