//! The one HTTP seam: plain request and response values that the I/O-free
//! core produces and consumes, and the HTTP libraries that carry them (ureq
//! for the blocking client, reqwest for the async one).

use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::time::Duration;

use crate::error::{Error, TransportError, TransportErrorKind};

/// HTTP methods the Verys protocol uses from the back channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
}

/// A request as the core wants it sent. Its `Authorization` header and its
/// form body may hold secrets, so `Debug` shows neither.
pub(crate) struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub authorization: Option<SecretString>,
    /// `application/x-www-form-urlencoded` body.
    pub form: Option<SecretString>,
}

impl HttpRequest {
    pub(crate) fn get(url: &str) -> Self {
        Self {
            method: Method::Get,
            url: url.to_owned(),
            authorization: None,
            form: None,
        }
    }

    pub(crate) fn with_bearer(mut self, token: &str) -> Self {
        self.authorization = Some(SecretString::from(format!("Bearer {token}")));
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

/// Timeouts and limits of the back channel, shared by both HTTP stacks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HttpConfig {
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_response_bytes: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_response_bytes: 1024 * 1024,
        }
    }
}

pub(crate) const USER_AGENT: &str = concat!("verys-client/", env!("CARGO_PKG_VERSION"));

/// The blocking HTTP stack: one ureq agent (one connection pool) per client.
#[derive(Clone)]
pub(crate) struct BlockingHttp {
    agent: ureq::Agent,
    max_response_bytes: u64,
}

impl BlockingHttp {
    pub(crate) fn new(config: HttpConfig) -> Self {
        let agent = ureq::Agent::config_builder()
            // OAuth errors travel in 4xx bodies: read them instead of failing early.
            .http_status_as_error(false)
            // A back-channel redirect would carry credentials to another place.
            .max_redirects(0)
            .timeout_global(Some(config.timeout))
            .timeout_connect(Some(config.connect_timeout))
            .user_agent(USER_AGENT)
            .build()
            .into();
        Self {
            agent,
            max_response_bytes: config.max_response_bytes,
        }
    }

    pub(crate) fn send(&self, request: &HttpRequest) -> Result<HttpResponse, Error> {
        let authorization = request.authorization.as_ref().map(|a| a.expose_secret());
        let result = match request.method {
            Method::Get => with_auth(self.agent.get(&request.url), authorization).call(),
            Method::Post => with_auth(self.agent.post(&request.url), authorization)
                .content_type("application/x-www-form-urlencoded")
                .send(request.form.as_ref().map_or("", |f| f.expose_secret())),
        };
        let mut response = result.map_err(transport_error)?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = response
            .body_mut()
            .with_config()
            .limit(self.max_response_bytes)
            .read_to_vec()
            .map_err(transport_error)?;
        Ok(HttpResponse::new(status, content_type.as_deref(), body))
    }
}

fn with_auth<B>(
    request: ureq::RequestBuilder<B>,
    authorization: Option<&str>,
) -> ureq::RequestBuilder<B> {
    match authorization {
        Some(value) => request.header("authorization", value),
        None => request,
    }
}

fn transport_error(error: ureq::Error) -> Error {
    let kind = match &error {
        ureq::Error::Timeout(_) => TransportErrorKind::Timeout,
        ureq::Error::BodyExceedsLimit(_) => TransportErrorKind::BodyTooLarge,
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => TransportErrorKind::Connect,
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            TransportErrorKind::Connect
        }
        _ => TransportErrorKind::Other,
    };
    Error::Transport(TransportError::new(kind, error.to_string()))
}
