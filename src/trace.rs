//! What the crate reports to [`tracing`](https://docs.rs/tracing) (feature
//! `tracing`): a span per operation (a bearer token the verifier answers
//! from its memory is none), an event per request with its status and
//! duration, the operation's outcome (a refused token with
//! the rule it broke), JWKS fetches and token refreshes. Without the
//! feature every function here is empty.
//!
//! Nothing here is ever handed a secret: URLs lose their query, errors are
//! the crate's own texts (which quote no token, code or secret, and from
//! which the secrets a request carried were already scrubbed), and no token
//! is a field.

#[cfg(feature = "tracing")]
mod imp {
    use std::time::Instant;

    use crate::error::Error;

    /// The target of every span and event, so that one directive
    /// (`verys_client=debug`) selects them.
    macro_rules! target {
        () => {
            "verys_client"
        };
    }

    /// One operation's span, and the request it is waiting on.
    pub(crate) struct Operation {
        span: tracing::Span,
        started: Instant,
        sent: Option<(String, Instant)>,
    }

    impl Operation {
        pub(crate) fn start(name: &'static str) -> Self {
            Self {
                span: tracing::info_span!(target: target!(), "verys", operation = name),
                started: Instant::now(),
                sent: None,
            }
        }

        pub(crate) fn sending(&mut self, url: &str) {
            self.sent = Some((without_query(url), Instant::now()));
        }

        /// The answer to the request last sent: its status, or why there
        /// is none.
        pub(crate) fn answered(&mut self, outcome: Result<u16, &Error>) {
            let Some((url, at)) = self.sent.take() else {
                return;
            };
            let elapsed_ms = millis(at);
            match outcome {
                Ok(status) => tracing::debug!(
                    target: target!(), parent: &self.span,
                    %url, status, elapsed_ms, "answered"
                ),
                Err(error) => tracing::warn!(
                    target: target!(), parent: &self.span,
                    %url, elapsed_ms, %error, "no answer"
                ),
            }
        }

        pub(crate) fn finished<T>(&self, outcome: &Result<T, Error>) {
            // Inside each event, the clock is read only when it is enabled.
            match outcome {
                Ok(_) => tracing::debug!(
                    target: target!(), parent: &self.span,
                    elapsed_ms = millis(self.started), "done"
                ),
                Err(Error::InvalidIdToken(rule) | Error::InvalidAccessToken(rule)) => {
                    tracing::warn!(
                        target: target!(), parent: &self.span,
                        elapsed_ms = millis(self.started), %rule, "token refused"
                    );
                }
                Err(error) => tracing::warn!(
                    target: target!(), parent: &self.span,
                    elapsed_ms = millis(self.started), %error, "failed"
                ),
            }
        }
    }

    pub(crate) fn jwks_stored(outcome: &Result<usize, Error>) {
        match outcome {
            Ok(keys) => tracing::info!(target: target!(), keys, "jwks fetched"),
            Err(error) => tracing::warn!(target: target!(), %error, "jwks fetch failed"),
        }
    }

    pub(crate) fn refreshed<T>(outcome: &Result<T, Error>) {
        match outcome {
            Ok(_) => tracing::info!(target: target!(), "tokens refreshed"),
            Err(error) => tracing::warn!(
                target: target!(),
                %error, requires_sign_in = error.requires_sign_in(), "refresh failed"
            ),
        }
    }

    /// A step of the web sign-in that failed (feature `axum-sign-in`): the
    /// error answered, or one that did not stop the step (a revocation).
    #[cfg(feature = "axum-sign-in")]
    pub(crate) fn sign_in_failed(step: &'static str, error: &Error) {
        tracing::warn!(target: target!(), step, %error, "sign-in step failed");
    }

    fn millis(since: Instant) -> u64 {
        u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Back-channel URLs carry no secret, but a query is left out all the
    /// same: it is where one would be.
    fn without_query(url: &str) -> String {
        url.split(['?', '#']).next().unwrap_or_default().to_owned()
    }
}

#[cfg(not(feature = "tracing"))]
mod imp {
    use crate::error::Error;

    pub(crate) struct Operation;

    impl Operation {
        pub(crate) fn start(_: &'static str) -> Self {
            Self
        }
        pub(crate) fn sending(&mut self, _: &str) {}
        pub(crate) fn answered(&mut self, _: Result<u16, &Error>) {}
        pub(crate) fn finished<T>(&self, _: &Result<T, Error>) {}
    }

    pub(crate) fn jwks_stored(_: &Result<usize, Error>) {}
    pub(crate) fn refreshed<T>(_: &Result<T, Error>) {}
    #[cfg(feature = "axum-sign-in")]
    pub(crate) fn sign_in_failed(_: &'static str, _: &Error) {}
}

#[cfg(feature = "axum-sign-in")]
pub(crate) use imp::sign_in_failed;
pub(crate) use imp::{Operation, jwks_stored, refreshed};
