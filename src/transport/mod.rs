//! The one HTTP seam between the I/O-free core and an HTTP stack, in the
//! `http` crate's types: [`SyncHttpClient`] for the blocking client,
//! [`AsyncHttpClient`] for the async one, each implemented for closures (a
//! test's canned answers), for ureq's `Agent` (feature `blocking`) and for
//! [`Reqwest`] (feature `async`), and for any stack a user plugs in.
//!
//! The crate hands a client every back-channel request as an
//! `http::Request<Vec<u8>>` whose extensions hold the [`Limits`] it must
//! keep, and takes the whole answer back as an `http::Response<Vec<u8>>`.
//!
//! # Security warning
//!
//! Whoever implements the seam holds the client secret, codes and tokens:
//! they travel in the requests' bodies and `Authorization` headers. An
//! implementation must
//!
//! - **not follow redirects**: the crate treats any 3xx answer as a refusal,
//!   but a redirect followed inside the client has already re-sent the
//!   request elsewhere, its body (the secret, the code) with it for a
//!   307 or 308;
//! - **keep the [`Limits`]**: the crate refuses a body over the size limit,
//!   but only after the client read it; a timeout only the client can keep;
//! - **not log bodies or `Authorization` headers**.
//!
//! ureq's `Agent` and [`Reqwest`] keep all three whatever the user
//! configured: ureq's redirects, timeouts and status handling are set per
//! request, reqwest's redirect policy is set on the client the crate builds
//! from the user's `ClientBuilder`, the only way it can be: a built
//! `reqwest::Client`'s policy cannot be changed, so one is not accepted.
//! Middleware the user installs in ureq sees every request, secrets
//! included.

mod blocking;
#[cfg(feature = "async")]
mod nonblocking;
#[cfg(feature = "async")]
mod reqwest;
#[cfg(feature = "blocking")]
mod ureq;

use secrecy::ExposeSecret;
use std::fmt;
#[cfg(feature = "async")]
use std::future::Future;
#[cfg(feature = "async")]
use std::pin::Pin;

use crate::error::{Error, TransportError, TransportErrorKind};
use crate::protocol::wire::{HttpRequest, HttpResponse, Method};

pub use crate::protocol::wire::Limits;

pub use blocking::Blocking;
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub use nonblocking::Async;
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub use reqwest::Reqwest;

/// A blocking HTTP client the crate sends its back-channel requests with.
/// See the [module documentation](self) for what it must keep.
///
/// Implemented for closures, so a test can answer every request itself:
///
/// ```
/// use verys_client::TransportError;
/// use verys_client::transport::SyncHttpClient;
///
/// let canned = |request: http::Request<Vec<u8>>| -> Result<http::Response<Vec<u8>>, TransportError> {
///     assert_eq!(request.uri().path(), "/token/revoke");
///     Ok(http::Response::new(Vec::new()))
/// };
/// let client = verys_client::Client::builder("https://auth.example.com", "app")
///     .host("https://app.example.com")
///     .http_client(canned)
///     .build()
///     .unwrap();
/// # let _ = client;
/// ```
pub trait SyncHttpClient: Send + Sync {
    /// Sends `request` and reads its whole answer.
    ///
    /// # Errors
    ///
    /// A [`TransportError`] when there is no answer to read (no connection,
    /// a timeout, a body over the limit, a broken answer).
    fn call(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError>;
}

impl<F> SyncHttpClient for F
where
    F: Fn(http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, TransportError> + Send + Sync,
{
    fn call(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        self(request)
    }
}

/// A boxed future that may move between threads, as [`AsyncHttpClient`]
/// returns.
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An async HTTP client the crate sends its back-channel requests with.
/// See the [module documentation](self) for what it must keep.
///
/// Implemented for closures returning a future, as [`SyncHttpClient`] is.
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub trait AsyncHttpClient: Send + Sync {
    /// Sends `request` and reads its whole answer.
    ///
    /// # Errors
    ///
    /// As [`SyncHttpClient::call`].
    fn call(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, TransportError>>;
}

#[cfg(feature = "async")]
impl<F, A> AsyncHttpClient for F
where
    F: Fn(http::Request<Vec<u8>>) -> A + Send + Sync,
    A: Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send + 'static,
{
    fn call(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, TransportError>> {
        Box::pin(self(request))
    }
}

/// The HTTP clients a builder was given, for whichever transport it builds.
#[derive(Default)]
pub(crate) struct Clients {
    pub sync: Option<std::sync::Arc<dyn SyncHttpClient>>,
    #[cfg(feature = "async")]
    pub nonblocking: Option<std::sync::Arc<dyn AsyncHttpClient>>,
    #[cfg(feature = "async")]
    pub reqwest: Option<::reqwest::ClientBuilder>,
}

impl fmt::Debug for Clients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Clients");
        debug.field("sync", &self.sync.is_some());
        #[cfg(feature = "async")]
        debug
            .field("nonblocking", &self.nonblocking.is_some())
            .field("reqwest", &self.reqwest.is_some());
        debug.finish()
    }
}

impl Clients {
    /// The blocking transport: the client given, or ureq's (feature
    /// `blocking`).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when an async client was given: the proxy, the
    /// certificate authorities and the client certificate set on it would
    /// silently not apply.
    pub(crate) fn blocking(self, limits: Limits) -> Result<Blocking, Error> {
        #[cfg(feature = "async")]
        if self.nonblocking.is_some() || self.reqwest.is_some() {
            return Err(Error::Config(
                "an async http client was given to a blocking client: give it \
                 with http_client, or build with build_async"
                    .into(),
            ));
        }
        Blocking::with(self.sync, limits)
    }

    /// The async transport: the client given, or reqwest built from the
    /// builder given (or a new one).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when a blocking client was given (see
    /// [`Clients::blocking`]), or reqwest cannot build its client.
    #[cfg(feature = "async")]
    pub(crate) fn nonblocking(self, limits: Limits) -> Result<Async, Error> {
        if self.sync.is_some() {
            return Err(Error::Config(
                "a blocking http client was given to an async client: give it \
                 with async_http_client or reqwest_client, or build with build"
                    .into(),
            ));
        }
        let http: std::sync::Arc<dyn AsyncHttpClient> = match (self.nonblocking, self.reqwest) {
            (Some(http), _) => http,
            (None, Some(builder)) => std::sync::Arc::new(Reqwest::new(builder, limits)?),
            (None, None) => std::sync::Arc::new(Reqwest::own(limits)?),
        };
        Ok(Async::new(http, limits))
    }
}

impl HttpRequest {
    /// The request in the `http` crate's types, carrying `limits`.
    fn to_http(&self, limits: Limits) -> Result<http::Request<Vec<u8>>, Error> {
        let method = match self.method {
            Method::Get => http::Method::GET,
            Method::Post => http::Method::POST,
            Method::Delete => http::Method::DELETE,
        };
        let mut builder = http::Request::builder()
            .method(method)
            .uri(&self.url)
            .header(http::header::USER_AGENT, USER_AGENT)
            .header(http::header::ACCEPT, "application/json");
        if let Some(authorization) = &self.authorization {
            builder = builder.header(http::header::AUTHORIZATION, authorization.expose_secret());
        }
        let body = match &self.form {
            Some(form) => {
                builder = builder.header(
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                );
                form.expose_secret().as_bytes().to_vec()
            }
            None => Vec::new(),
        };
        let mut request = builder.body(body).map_err(|_| {
            Error::Transport(TransportError::new(
                TransportErrorKind::Other,
                "the request cannot be written as http",
            ))
        })?;
        request.extensions_mut().insert(limits);
        Ok(request)
    }
}

impl HttpResponse {
    /// The answer of a seam, refused if its body is over the limit (a client
    /// that did not keep it has read it all the same).
    fn from_http(response: http::Response<Vec<u8>>, limits: Limits) -> Result<Self, Error> {
        let (parts, body) = response.into_parts();
        if body.len() as u64 > limits.max_response_bytes {
            return Err(Error::Transport(too_large(limits)));
        }
        let content_type = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok());
        Ok(Self::new(parts.status.as_u16(), content_type, body))
    }
}

/// The rustls error among `error`'s causes, however deep the I/O errors
/// that wrap it: ureq and reqwest both report a refused certificate as an
/// I/O failure (reqwest: of connecting), an `io::Error` inside another.
#[cfg(any(feature = "blocking", feature = "async"))]
fn tls_cause<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(error);
    while let Some(cause) = next {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        // An `io::Error`'s `source` skips the error it wraps.
        next = match cause.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => cause.source(),
        };
    }
    None
}

/// The error of a body over the limit.
pub(crate) fn too_large(limits: Limits) -> TransportError {
    TransportError::new(
        TransportErrorKind::BodyTooLarge,
        format!("body exceeds {} bytes", limits.max_response_bytes),
    )
}

const USER_AGENT: &str = concat!("verys-client/", env!("CARGO_PKG_VERSION"));
