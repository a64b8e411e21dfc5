//! The blocking transport: a [`SyncHttpClient`] and the driver that pumps
//! the core's operations with it.

use std::fmt;
use std::sync::Arc;

use super::{HttpRequest, HttpResponse, Limits, SyncHttpClient};
use crate::clock::Clock;
use crate::error::Error;
use crate::protocol::jwks::JwksCache;
use crate::protocol::{Io, Operation, Run};

/// The blocking transport: one [`SyncHttpClient`] (ureq's `Agent` unless
/// the builder was given another) and the limits every request carries.
#[derive(Clone)]
pub struct Blocking {
    http: Arc<dyn SyncHttpClient>,
    limits: Limits,
}

impl fmt::Debug for Blocking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blocking")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Blocking {
    pub(crate) fn new(http: Arc<dyn SyncHttpClient>, limits: Limits) -> Self {
        Self { http, limits }
    }

    /// The client the builder was given, or ureq's (feature `blocking`).
    pub(crate) fn with(
        http: Option<Arc<dyn SyncHttpClient>>,
        limits: Limits,
    ) -> Result<Self, Error> {
        let http = match http {
            Some(http) => http,
            None => default_client()?,
        };
        Ok(Self::new(http, limits))
    }

    pub(crate) fn send(&self, request: &HttpRequest) -> Result<HttpResponse, Error> {
        let answer = self.http.call(request.to_http(self.limits)?)?;
        HttpResponse::from_http(answer, self.limits)
    }

    /// Runs an operation of the I/O-free core to its end, with its keys in
    /// `jwks` and its time from `clock`.
    pub(crate) fn drive<O: Operation>(
        &self,
        jwks: &JwksCache,
        clock: &dyn Clock,
        op: Result<O, Error>,
    ) -> Result<O::Output, Error> {
        let (mut run, mut io) = Run::start(op?, jwks, clock);
        loop {
            io = match io {
                Io::Send(request) => run.responded(self.send(&request)),
                Io::Fetch(ticket) => {
                    // Many threads missing the same keys cause one fetch; one
                    // with a key to use meanwhile does not wait for it.
                    let gate = if ticket.waits() {
                        Some(jwks.gate().enter())
                    } else {
                        jwks.gate().try_enter()
                    };
                    let response = gate
                        .as_ref()
                        .and_then(|_| run.jwks_request(ticket))
                        .map(|request| self.send(&request));
                    run.fetched(response)
                }
                Io::Done(outcome) => return outcome,
            };
        }
    }
}

#[cfg(feature = "blocking")]
fn default_client() -> Result<Arc<dyn SyncHttpClient>, Error> {
    Ok(Arc::new(super::ureq::default_agent()))
}

#[cfg(not(feature = "blocking"))]
fn default_client() -> Result<Arc<dyn SyncHttpClient>, Error> {
    Err(Error::Config(
        "no http client: enable the blocking feature, or give one with http_client".into(),
    ))
}
