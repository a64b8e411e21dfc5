//! The async transport: an [`AsyncHttpClient`] and the driver that pumps
//! the core's operations with it.

use std::fmt;
use std::sync::Arc;

use super::{AsyncHttpClient, HttpRequest, HttpResponse, Limits};
use crate::clock::Clock;
use crate::error::Error;
use crate::protocol::jwks::JwksCache;
use crate::protocol::{Io, Operation, Run};

/// The async transport: one [`AsyncHttpClient`] ([`Reqwest`](super::Reqwest)
/// unless the builder was given another) and the limits every request
/// carries. Its futures are `Send`.
#[derive(Clone)]
pub struct Async {
    http: Arc<dyn AsyncHttpClient>,
    limits: Limits,
}

impl fmt::Debug for Async {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Async")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Async {
    pub(crate) fn new(http: Arc<dyn AsyncHttpClient>, limits: Limits) -> Self {
        Self { http, limits }
    }

    pub(crate) async fn send(&self, request: &HttpRequest) -> Result<HttpResponse, Error> {
        let answer = self.http.call(request.to_http(self.limits)?).await?;
        HttpResponse::from_http(answer, self.limits)
    }

    /// Runs an operation of the I/O-free core to its end, with its keys in
    /// `jwks` and its time from `clock`.
    pub(crate) async fn drive<O>(
        &self,
        jwks: &JwksCache,
        clock: &dyn Clock,
        op: Result<O, Error>,
    ) -> Result<O::Output, Error>
    where
        O: Operation + Send,
        O::Output: Send,
    {
        let (mut run, mut io) = Run::start(op?, jwks, clock);
        loop {
            io = match io {
                Io::Send(request) => {
                    let response = self.send(&request).await;
                    run.responded(response)
                }
                Io::Fetch(ticket) => {
                    // The gate is held across the fetch's `.await`; no other
                    // lock is held there.
                    let gate = if ticket.waits() {
                        Some(jwks.gate().enter_async().await)
                    } else {
                        jwks.gate().try_enter_async()
                    };
                    let response = match gate.as_ref().and_then(|_| run.jwks_request(ticket)) {
                        Some(request) => Some(self.send(&request).await),
                        None => None,
                    };
                    run.fetched(response)
                }
                Io::Done(outcome) => return outcome,
            };
        }
    }
}
