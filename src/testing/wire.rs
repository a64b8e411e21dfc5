//! What the routes see of a request, and the reply shapes the protocol repeats.

use std::io::Read as _;
use std::net::SocketAddr;

use serde_json::{Value, json};

use super::faults::RawResponse;

/// Bodies beyond this are refused: no legitimate request to an identity provider comes close, and
/// a test server must not be made to buffer whatever a buggy client streams at it.
const MAX_BODY: u64 = 1 << 20;

/// A request read in full, detached from the connection.
pub(super) struct Incoming {
    pub method: String,
    pub path: String,
    query: String,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub remote: Option<SocketAddr>,
}

impl Incoming {
    /// Reads the request in full. A body that cannot be read still yields the request (the
    /// counters want it) together with the error reply to send instead of routing it.
    pub fn read(request: &mut tiny_http::Request) -> (Incoming, Option<RawResponse>) {
        let target = request.url().to_owned();
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_owned(), q.to_owned()),
            None => (target, String::new()),
        };
        let headers = request
            .headers()
            .iter()
            .map(|h| {
                (
                    h.field.as_str().as_str().to_owned(),
                    h.value.as_str().to_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        let read = request
            .as_reader()
            .take(MAX_BODY + 1)
            .read_to_end(&mut body);
        let problem = match read {
            Err(_) => Some(error(400, "Could not read the request body")),
            Ok(_) if body.len() as u64 > MAX_BODY => Some(error(413, "Request body too large")),
            Ok(_) => None,
        };
        let incoming = Incoming {
            method: request.method().as_str().to_ascii_uppercase(),
            path,
            query,
            headers,
            body,
            remote: request.remote_addr().copied(),
        };
        (incoming, problem)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn query(&self) -> Params {
        Params::parse(self.query.as_bytes())
    }

    /// The form body, or `None` when the body is not declared as a form: reading a JSON or
    /// multipart body as a form would silently lose every field.
    pub fn form(&self) -> Option<Params> {
        let content_type = self.header("Content-Type")?;
        let essence = content_type.split(';').next().unwrap_or("").trim();
        essence
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            .then(|| Params::parse(&self.body))
    }

    /// The `Bearer` token of the `Authorization` header: `Ok(None)` without the header,
    /// `Err(())` with another scheme or no token.
    pub fn bearer(&self) -> Result<Option<&str>, ()> {
        let Some(value) = self.header("Authorization") else {
            return Ok(None);
        };
        let (scheme, token) = value.trim().split_once(' ').ok_or(())?;
        let token = token.trim();
        if scheme.eq_ignore_ascii_case("Bearer") && !token.is_empty() {
            Ok(Some(token))
        } else {
            Err(())
        }
    }
}

/// Query or form parameters, in order, duplicates kept so they can be refused.
pub(super) struct Params(Vec<(String, String)>);

impl Params {
    fn parse(raw: &[u8]) -> Params {
        Params(
            url::form_urlencoded::parse(raw)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn empty() -> Params {
        Params(Vec::new())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// RFC 6749 3.1/3.2: parameters must not be repeated; the first repeated name, if any.
    pub fn repeated(&self) -> Option<&str> {
        self.0
            .iter()
            .enumerate()
            .find(|(i, (k, _))| self.0[..*i].iter().any(|(seen, _)| seen == k))
            .map(|(_, (k, _))| k.as_str())
    }

    /// FastAPI-style check of required parameters: the names missing, comma separated.
    pub fn missing(&self, required: &[&str]) -> Option<String> {
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|name| self.get(name).is_none())
            .collect();
        (!missing.is_empty()).then(|| missing.join(", "))
    }
}

/// The non-OAuth error shape, `{"error": "<text>"}`.
pub(super) fn error(status: u16, text: &str) -> RawResponse {
    RawResponse::json(status, &json!({ "error": text }))
}

/// The OAuth error shape, `{"error": <code>, "error_description": <text>}`.
pub(super) fn oauth_error(status: u16, code: &str, description: &str) -> RawResponse {
    RawResponse::json(
        status,
        &json!({ "error": code, "error_description": description }),
    )
}

/// A success of a non-OAuth endpoint: `{"message": <text>, ...payload}`.
pub(super) fn message(text: &str, payload: Value) -> RawResponse {
    let mut body = json!({ "message": text });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), payload) {
        body.extend(extra);
    }
    RawResponse::json(200, &body)
}

pub(super) fn method_not_allowed(allowed: &str) -> RawResponse {
    error(405, "Method Not Allowed").header("Allow", allowed)
}

/// `base` with `pairs` appended to its query, for redirects back to a client.
pub(super) fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(base) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(pairs);
            url.into()
        }
        // Only registered (hence parseable) URIs get here; keep the text rather than panic.
        Err(_) => {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish();
            format!("{base}?{query}")
        }
    }
}

/// A redirect to `base` with `pairs` and, when the client sent one, its `state` echoed back.
pub(super) fn redirect_with_state(
    base: &str,
    pairs: &[(&str, &str)],
    state: Option<&str>,
) -> RawResponse {
    let mut all = pairs.to_vec();
    all.extend(state.map(|s| ("state", s)));
    RawResponse::redirect(&with_query(base, &all))
}
