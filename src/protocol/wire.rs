//! The core's wire types: a request as the core wants it sent, an answer as
//! read, and the [`Limits`] every HTTP client keeps. The `transport` seam
//! turns them into the `http` crate's types and back.

use secrecy::SecretString;
use std::fmt;
use std::time::Duration;

/// The rules of the back channel, in every request's extensions
/// (`request.extensions().get::<Limits>()`) for the client to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The whole exchange, from connecting to the answer's last byte.
    pub timeout: Duration,
    /// Establishing a connection.
    pub connect_timeout: Duration,
    /// The largest answer body read; a larger one is refused without
    /// reading it all.
    pub max_response_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_response_bytes: 1024 * 1024,
        }
    }
}

/// HTTP methods the Verys protocol uses from the back channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Delete,
}

/// A request as the core wants it sent. Its `Authorization` header and its
/// form body may hold secrets, so `Debug` shows neither.
pub(crate) struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub authorization: Option<SecretString>,
    /// `application/x-www-form-urlencoded` body.
    pub form: Option<SecretString>,
    /// The secrets the request carries (a client secret, a code, a token):
    /// an error about its answer quotes none of them.
    pub secrets: Vec<SecretString>,
}

impl HttpRequest {
    pub(crate) fn get(url: &str) -> Self {
        Self {
            method: Method::Get,
            url: url.to_owned(),
            authorization: None,
            form: None,
            secrets: Vec::new(),
        }
    }

    pub(crate) fn with_bearer(mut self, token: &str) -> Self {
        self.authorization = Some(SecretString::from(format!("Bearer {token}")));
        self.secrets.push(SecretString::from(token));
        self
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// A response as read from the wire, body already bounded by the size limit.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub(crate) fn new(status: u16, content_type: Option<&str>, body: Vec<u8>) -> Self {
        Self {
            status,
            content_type: content_type.map(str::to_owned),
            body,
        }
    }
}
