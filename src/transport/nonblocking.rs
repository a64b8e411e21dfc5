//! The async stack: reqwest with rustls, configured like the blocking one.

use secrecy::ExposeSecret;

use super::{HttpConfig, HttpRequest, HttpResponse, Method, USER_AGENT};
use crate::clock::Clock;
use crate::error::{Error, TransportError, TransportErrorKind};
use crate::protocol::{self, Operation, Started, Step};
use crate::verify::jwks::{FetchTicket, JwksCache};

/// The async transport: one reqwest client (one connection pool) per
/// client, configured like the blocking one. Its futures are `Send`.
#[derive(Clone, Debug)]
pub struct Async {
    client: reqwest::Client,
    max_response_bytes: u64,
}

impl Async {
    pub(crate) fn new(config: HttpConfig) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            // A back-channel redirect would carry credentials to another place.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|error| Error::Config(format!("http client: {}", error.without_url())))?;
        Ok(Self {
            client,
            max_response_bytes: config.max_response_bytes,
        })
    }

    pub(crate) async fn send(&self, request: &HttpRequest) -> Result<HttpResponse, Error> {
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self.client.request(method, &request.url);
        if let Some(authorization) = &request.authorization {
            builder = builder.header("authorization", authorization.expose_secret());
        }
        if let Some(form) = &request.form {
            builder = builder
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.expose_secret().to_owned());
        }
        let mut response = builder.send().await.map_err(transport_error)?;
        let (status, headers) = (response.status(), response.headers().clone());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            if (body.len() + chunk.len()) as u64 > self.max_response_bytes {
                return Err(Error::Transport(TransportError::new(
                    TransportErrorKind::BodyTooLarge,
                    format!("body exceeds {} bytes", self.max_response_bytes),
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse::from_head(status, &headers, body))
    }
}

fn transport_error(error: reqwest::Error) -> Error {
    let kind = if error.is_timeout() {
        TransportErrorKind::Timeout
    } else if error.is_connect() {
        TransportErrorKind::Connect
    } else {
        TransportErrorKind::Other
    };
    Error::Transport(TransportError::new(kind, error.without_url().to_string()))
}

impl Async {
    /// Drives an operation of the I/O-free core with the async stack,
    /// fetching keys for it into `jwks` when it asks.
    pub(crate) async fn drive<O>(
        &self,
        jwks: &JwksCache,
        clock: &dyn Clock,
        started: Result<Started<O>, Error>,
    ) -> Result<O::Output, Error>
    where
        O: Operation + Send,
        O::Output: Send,
    {
        let Started { mut step, mut op } = started?;
        loop {
            step = match step {
                Step::Send(request) => {
                    let response = self.send(&request).await;
                    protocol::respond(&mut op, &request, response)?
                }
                Step::FetchKeys(ticket) => {
                    self.await_keys(jwks, clock, ticket).await;
                    op.on_keys()?
                }
                Step::Done(output) => return Ok(output),
            };
        }
    }

    /// Fetches the JWKS unless another task did while this one waited at the
    /// gate (held across the fetch's `.await`; no other lock is held there).
    /// A ticket that does not wait fetches only if the gate is free.
    pub(crate) async fn await_keys(
        &self,
        jwks: &JwksCache,
        clock: &dyn Clock,
        ticket: FetchTicket,
    ) {
        let _gate = if ticket.waits() {
            jwks.gate().enter_async().await
        } else {
            match jwks.gate().try_enter_async() {
                Some(gate) => gate,
                None => return,
            }
        };
        if let Some(request) = jwks.fetch_request(ticket) {
            let response = self.send(&request).await;
            jwks.store(response, clock.now());
        }
    }
}
