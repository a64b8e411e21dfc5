//! The blocking stack: ureq.

use secrecy::ExposeSecret;

use super::{HttpConfig, HttpRequest, HttpResponse, Method, USER_AGENT};
use crate::clock::Clock;
use crate::error::{Error, TransportError, TransportErrorKind};
use crate::protocol::{self, Operation, Started, Step};
use crate::verify::jwks::{FetchTicket, JwksCache};

/// The blocking transport: one ureq agent (one connection pool) per client,
/// configured for OAuth back-channel calls.
#[derive(Clone, Debug)]
pub struct Blocking {
    agent: ureq::Agent,
    max_response_bytes: u64,
}

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
            Method::Delete => with_auth(self.agent.delete(&request.url), authorization).call(),
            Method::Post => with_auth(self.agent.post(&request.url), authorization)
                .content_type("application/x-www-form-urlencoded")
                .send(request.form.as_ref().map_or("", |f| f.expose_secret())),
        };
        let mut response = result.map_err(transport_error)?;
        let body = response
            .body_mut()
            .with_config()
            .limit(self.max_response_bytes)
            .read_to_vec()
            .map_err(transport_error)?;
        Ok(HttpResponse::from_head(
            response.status(),
            response.headers(),
            body,
        ))
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

impl Blocking {
    /// Drives an operation of the I/O-free core with the blocking stack,
    /// fetching keys for it into `jwks` when it asks.
    pub(crate) fn drive<O: Operation>(
        &self,
        jwks: &JwksCache,
        clock: &dyn Clock,
        started: Result<Started<O>, Error>,
    ) -> Result<O::Output, Error> {
        let Started { mut step, mut op } = started?;
        loop {
            step = match step {
                Step::Done(output) => return Ok(output),
                Step::Send(request) => protocol::respond(&mut op, &request, self.send(&request))?,
                Step::FetchKeys(ticket) => {
                    self.fetch_keys(jwks, clock, ticket);
                    op.on_keys()?
                }
            };
        }
    }

    /// Fetches the JWKS unless another thread did while this one waited at
    /// the gate: many threads missing the same `kid` cause one fetch. A
    /// ticket that does not wait (an old key to use meanwhile) fetches only
    /// if the gate is free.
    pub(crate) fn fetch_keys(&self, jwks: &JwksCache, clock: &dyn Clock, ticket: FetchTicket) {
        let _gate = if ticket.waits() {
            jwks.gate().enter()
        } else {
            match jwks.gate().try_enter() {
                Some(gate) => gate,
                None => return,
            }
        };
        if let Some(request) = jwks.fetch_request(ticket) {
            let response = self.send(&request);
            jwks.store(response, clock.now());
        }
    }
}
