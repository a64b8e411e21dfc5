//! The async stack: reqwest with rustls, configured like the blocking one.

use secrecy::ExposeSecret;

use super::{HttpConfig, HttpRequest, HttpResponse, Method, USER_AGENT};
use crate::error::{Error, TransportError, TransportErrorKind};

/// The async transport: one reqwest client (one connection pool) per
/// client, configured like the blocking one. Its futures are `Send`.
#[derive(Clone)]
pub struct Async {
    client: reqwest::Client,
    max_response_bytes: u64,
}

impl std::fmt::Debug for Async {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Async")
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl crate::client::sealed::Sealed for Async {}

impl crate::client::Transport for Async {}

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
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
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
        Ok(HttpResponse::new(status, content_type.as_deref(), body))
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
