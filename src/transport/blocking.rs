//! The blocking stack: ureq.

use secrecy::ExposeSecret;

use super::{HttpConfig, HttpRequest, HttpResponse, Method, USER_AGENT};
use crate::error::{Error, TransportError, TransportErrorKind};

/// The blocking transport: one ureq agent (one connection pool) per client,
/// configured for OAuth back-channel calls.
#[derive(Clone)]
pub struct Blocking {
    agent: ureq::Agent,
    max_response_bytes: u64,
}

impl std::fmt::Debug for Blocking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blocking")
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl crate::client::sealed::Sealed for Blocking {}

impl crate::client::Transport for Blocking {}

impl Blocking {
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
