//! What the routes see of a request, and the reply shapes the protocol repeats.

use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use hyper::Request;
use hyper::body::Incoming as Body;
use serde_json::{Value, json};

use super::faults::RawResponse;

/// Bodies beyond this are refused: no legitimate request to an identity provider comes close, and
/// a test server must not be made to buffer whatever a buggy client streams at it.
const MAX_BODY: usize = 1 << 20;

/// How much of a refused body is still read, and discarded, before giving up on it.
const MAX_DRAIN: usize = 64 << 20;

/// A request read in full, detached from the connection.
pub(super) struct Incoming {
    pub method: String,
    pub path: String,
    query: String,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Incoming {
    /// Reads the request in full. A body that cannot be read still yields the request (the
    /// counters want it) together with the error reply to send instead of routing it.
    pub(crate) async fn read(request: Request<Body>) -> (Incoming, Option<RawResponse>) {
        let (parts, mut body) = request.into_parts();
        // An absolute-form target (`GET http://host/path`) routes by its path too.
        let path = parts.uri.path().to_owned();
        let query = parts.uri.query().unwrap_or_default().to_owned();
        let headers = parts
            .headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect();
        let mut bytes = Vec::new();
        let mut limited = Limited::new(&mut body, MAX_BODY);
        let problem = loop {
            match limited.frame().await {
                None => break None,
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        bytes.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) if e.is::<LengthLimitError>() => {
                    drain(&mut body).await;
                    break Some(error(413, "Request body too large"));
                }
                Some(Err(_)) => break Some(error(400, "Could not read the request body")),
            }
        };
        let incoming = Incoming {
            method: parts.method.as_str().to_ascii_uppercase(),
            path,
            query,
            headers,
            body: bytes,
        };
        (incoming, problem)
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn query(&self) -> Params {
        Params::parse(self.query.as_bytes())
    }

    /// The form body, or `None` when the body is not declared as a form: reading a JSON or
    /// multipart body as a form would silently lose every field.
    pub(crate) fn form(&self) -> Option<Params> {
        let content_type = self.header("Content-Type")?;
        let essence = content_type.split(';').next().unwrap_or("").trim();
        essence
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            .then(|| Params::parse(&self.body))
    }

    /// The `Bearer` token of the `Authorization` header: `Ok(None)` without the header,
    /// `Err(())` with another scheme or no token.
    pub(crate) fn bearer(&self) -> Result<Option<&str>, ()> {
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

/// Reads and discards the rest of a refused body (up to [`MAX_DRAIN`]): a client still sending
/// it then reads the refusal, where closing the connection on unread data would reset it.
async fn drain(body: &mut Body) {
    let mut left = MAX_DRAIN;
    while let Some(Ok(frame)) = body.frame().await {
        let len = frame.data_ref().map_or(0, |data| data.len());
        match left.checked_sub(len) {
            Some(rest) => left = rest,
            None => break,
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

    pub(crate) fn empty() -> Params {
        Params(Vec::new())
    }

    /// Every parameter, in order.
    pub(crate) fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// RFC 6749 3.1/3.2: parameters must not be repeated; the first repeated name, if any.
    pub(crate) fn repeated(&self) -> Option<&str> {
        self.0
            .iter()
            .enumerate()
            .find(|(i, (k, _))| self.0[..*i].iter().any(|(seen, _)| seen == k))
            .map(|(_, (k, _))| k.as_str())
    }

    /// FastAPI-style check of required parameters: the names missing, comma separated.
    pub(crate) fn missing(&self, required: &[&str]) -> Option<String> {
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
