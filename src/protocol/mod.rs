//! The I/O-free core of every back-channel operation: which request to send,
//! how to read the answer, which key it needs, and what to check.
//!
//! An operation is a small state machine ([`Operation`]): it is given the
//! time at each step, asks for a request to be sent or for the key a `kid`
//! names, and is handed the answer, until it is done. It reads neither the
//! clock nor the JWKS cache itself. [`Run`] pumps one operation: it answers
//! key lookups from the cache, collects the secrets the operation sent so
//! that no error quotes them, and tells its driver which I/O comes next
//! ([`Io`]). The blocking and the async transport each own one driver, a loop
//! of a few lines that performs that I/O; nothing else differs between them.

pub(crate) mod config;
pub(crate) mod jwks;
pub(crate) mod wire;

use ed25519_dalek::VerifyingKey;
use secrecy::SecretString;
use serde::de::DeserializeOwned;

use crate::clock::Clock;
use crate::error::{
    DESCRIPTION_LIMIT, ERROR_CODE_LIMIT, Error, ServerError, json_reason, server_text,
};
use crate::trace;
use jwks::{FetchTicket, JwksCache, KeyError, Lookup};
use wire::{HttpRequest, HttpResponse};

/// What an operation needs next.
pub(crate) enum Step<T> {
    /// Send this request; its answer goes to [`Operation::on_response`].
    Send(HttpRequest),
    /// The key this `kid` names; it goes to [`Operation::on_key`].
    Key(String),
    /// Finished.
    Done(T),
}

/// A back-channel operation as a state machine. Every call is given `now`,
/// seconds since the Unix epoch, read by the driver.
pub(crate) trait Operation {
    type Output;
    /// What the operation is, for its `tracing` span: `authorization_code`,
    /// `userinfo`...
    fn name(&self) -> &'static str;
    /// The first step.
    fn start(&mut self, now: u64) -> Result<Step<Self::Output>, Error>;
    /// The answer to the request of the last [`Step::Send`].
    fn on_response(
        &mut self,
        response: HttpResponse,
        now: u64,
    ) -> Result<Step<Self::Output>, Error>;
    /// The key of the last [`Step::Key`], or why there is none, which the
    /// operation names as a rule of its token ([`KeyError::of`]).
    fn on_key(
        &mut self,
        key: Result<VerifyingKey, KeyError>,
        now: u64,
    ) -> Result<Step<Self::Output>, Error> {
        let _ = (key, now);
        Err(unexpected("a key"))
    }
}

/// The I/O a driver does next for a [`Run`].
pub(crate) enum Io<T> {
    /// Send this request, then hand its outcome to [`Run::responded`].
    Send(HttpRequest),
    /// Take the JWKS cache's gate (waiting for it, or only if it is free, as
    /// [`FetchTicket::waits`] says); inside it, send
    /// [`Run::jwks_request`] if there is one, and hand its outcome (or
    /// `None`) to [`Run::fetched`] before leaving the gate.
    Fetch(FetchTicket),
    /// The operation's outcome.
    Done(Result<T, Error>),
}

/// One operation on its way, with what it needs besides I/O.
pub(crate) struct Run<'a, O: Operation> {
    op: O,
    jwks: &'a JwksCache,
    clock: &'a dyn Clock,
    /// The key id of a lookup waiting for a fetch.
    kid: Option<String>,
    /// Whether a missing or old key may be fetched; if not, keys come from
    /// the cache as they are.
    may_fetch: bool,
    /// The secrets of every request sent so far: no error of the operation
    /// quotes one.
    secrets: Vec<SecretString>,
    trace: trace::Operation,
}

impl<'a, O: Operation> Run<'a, O> {
    /// Starts `op`, whose keys come from `jwks` and time from `clock`.
    pub(crate) fn start(op: O, jwks: &'a JwksCache, clock: &'a dyn Clock) -> (Self, Io<O::Output>) {
        Self::begin(op, jwks, clock, true)
    }

    /// Runs `op` to its end with the keys `jwks` holds now, never asking for
    /// a fetch: for an operation that sends no request, its outcome.
    pub(crate) fn offline(
        op: O,
        jwks: &'a JwksCache,
        clock: &'a dyn Clock,
    ) -> Result<O::Output, Error> {
        match Self::begin(op, jwks, clock, false).1 {
            Io::Done(outcome) => outcome,
            Io::Send(_) | Io::Fetch(_) => Err(unexpected("i/o")),
        }
    }

    fn begin(
        op: O,
        jwks: &'a JwksCache,
        clock: &'a dyn Clock,
        may_fetch: bool,
    ) -> (Self, Io<O::Output>) {
        let trace = trace::Operation::start(op.name());
        let mut run = Self {
            op,
            jwks,
            clock,
            kid: None,
            may_fetch,
            secrets: Vec::new(),
            trace,
        };
        let step = run.op.start(clock.now());
        let io = run.advance(step);
        (run, io)
    }

    /// After an [`Io::Send`]: the answer, or why there is none.
    pub(crate) fn responded(&mut self, response: Result<HttpResponse, Error>) -> Io<O::Output> {
        // Scrubbed before it is traced: the message of a transport error is
        // the HTTP client's, which may be the user's own and quote the request.
        let response = response.map_err(|error| error.without(&self.secrets));
        self.trace.answered(response.as_ref().map(|r| r.status));
        let step = response.and_then(|response| self.op.on_response(response, self.clock.now()));
        self.advance(step)
    }

    /// Inside the gate of an [`Io::Fetch`]: the JWKS request, unless another
    /// caller has stored a fetch since the ticket was given.
    pub(crate) fn jwks_request(&mut self, ticket: FetchTicket) -> Option<HttpRequest> {
        let request = self.jwks.fetch_request(ticket, self.clock.now())?;
        self.trace.sending(&request.url);
        Some(request)
    }

    /// Inside the gate of an [`Io::Fetch`]: the answer to the JWKS request,
    /// or `None` when none was sent. Stores it, then answers the lookup.
    pub(crate) fn fetched(
        &mut self,
        response: Option<Result<HttpResponse, Error>>,
    ) -> Io<O::Output> {
        if let Some(response) = response {
            self.trace.answered(response.as_ref().map(|r| r.status));
            self.jwks.store(response, self.clock.now());
        }
        let key = match self.kid.take() {
            Some(kid) => self.jwks.resolve(&kid),
            None => Err(KeyError::Unavailable(unexpected("keys"))),
        };
        let step = self.op.on_key(key, self.clock.now());
        self.advance(step)
    }

    fn advance(&mut self, mut step: Result<Step<O::Output>, Error>) -> Io<O::Output> {
        loop {
            step = match step {
                Err(error) => {
                    let outcome = Err(error.without(&self.secrets));
                    self.trace.finished(&outcome);
                    return Io::Done(outcome);
                }
                Ok(Step::Done(output)) => {
                    let outcome = Ok(output);
                    self.trace.finished(&outcome);
                    return Io::Done(outcome);
                }
                Ok(Step::Send(request)) => {
                    self.secrets.extend(request.secrets.iter().cloned());
                    self.trace.sending(&request.url);
                    return Io::Send(request);
                }
                Ok(Step::Key(kid)) => {
                    let now = self.clock.now();
                    match self.jwks.key(&kid, now, self.may_fetch) {
                        Ok(Lookup::Found(key)) => self.op.on_key(Ok(key), now),
                        Ok(Lookup::Fetch(ticket) | Lookup::Refresh(ticket)) => {
                            self.kid = Some(kid);
                            return Io::Fetch(ticket);
                        }
                        Err(error) => self.op.on_key(Err(error), now),
                    }
                }
            };
        }
    }
}

/// How a [`Call`] reads its answer, at the time it arrived.
pub(crate) type Decode<T> = Box<dyn FnOnce(HttpResponse, u64) -> Result<T, Error> + Send + Sync>;

/// The simplest operation: one request, one decoded answer.
pub(crate) struct Call<T> {
    name: &'static str,
    request: Option<HttpRequest>,
    decode: Option<Decode<T>>,
}

impl<T> Call<T> {
    /// The operation `name`: `request`, its answer read by `decode`.
    pub(crate) fn new(
        name: &'static str,
        request: HttpRequest,
        decode: impl FnOnce(HttpResponse, u64) -> Result<T, Error> + Send + Sync + 'static,
    ) -> Self {
        Self {
            name,
            request: Some(request),
            decode: Some(Box::new(decode)),
        }
    }
}

impl<T> Operation for Call<T> {
    type Output = T;
    fn name(&self) -> &'static str {
        self.name
    }
    fn start(&mut self, _: u64) -> Result<Step<T>, Error> {
        self.request
            .take()
            .map(Step::Send)
            .ok_or_else(|| unexpected("a second start"))
    }
    fn on_response(&mut self, response: HttpResponse, now: u64) -> Result<Step<T>, Error> {
        let decode = self
            .decode
            .take()
            .ok_or_else(|| unexpected("a second response"))?;
        decode(response, now).map(Step::Done)
    }
}

pub(crate) fn unexpected(what: &str) -> Error {
    Error::InvalidResponse {
        endpoint: "client",
        reason: format!("operation was not waiting for {what}"),
    }
}

/// A JSON object as serde_json reads it, member names unescaped.
type Object = serde_json::Map<String, serde_json::Value>;

/// Reads an error answer: the OAuth `error`/`error_description` of a JSON
/// body when there is one, and only the status otherwise (an HTML page of a
/// proxy, an empty body).
pub(crate) fn server_error(response: &HttpResponse) -> ServerError {
    let body: Option<Object> = serde_json::from_slice(&response.body).ok();
    refusal(response, body.as_ref())
}

/// The refusal `response` says it is, its texts read from `body`.
fn refusal(response: &HttpResponse, body: Option<&Object>) -> ServerError {
    let text = |name, max| match body.and_then(|body| body.get(name)) {
        Some(serde_json::Value::String(text)) => server_text(text, max),
        _ => None,
    };
    let media_type = response.content_type.as_deref().and_then(|value| {
        let essence = value.split(';').next().unwrap_or_default().trim();
        server_text(essence, ERROR_CODE_LIMIT)
    });
    ServerError {
        status: response.status,
        error: text("error", ERROR_CODE_LIMIT),
        description: text("error_description", DESCRIPTION_LIMIT),
        content_type: media_type,
    }
}

/// Reads a 2xx answer's JSON object once: as `T`, or as the refusal its
/// `error` member names, whatever that member's value (one that is not a
/// string, too long or token-like is not repeated, but refuses all the
/// same). `T` is read from the same parse: serde_json skips the members a
/// type does not name without checking them, so a body that only the object
/// reader refuses (a number past `f64`, a lone surrogate, nesting past 128)
/// would otherwise hide its `error` from the one reader and pass the other.
/// An object, not a derived struct of the error, also reads an `error` named
/// twice.
///
/// # Errors
///
/// [`Error::InvalidResponse`] for a body that is not one JSON object, or not
/// a `T`.
pub(crate) fn read_answer<T: DeserializeOwned>(
    response: &HttpResponse,
    endpoint: &'static str,
) -> Result<Result<T, ServerError>, Error> {
    let invalid = |error: serde_json::Error| Error::InvalidResponse {
        endpoint,
        reason: json_reason(&error),
    };
    let body: Object = serde_json::from_slice(&response.body).map_err(invalid)?;
    if body.contains_key("error") {
        return Ok(Err(refusal(response, Some(&body))));
    }
    serde_json::from_value(serde_json::Value::Object(body))
        .map(Ok)
        .map_err(invalid)
}

/// Decodes a successful JSON answer of a non-token endpoint; a 2xx whose
/// object has an `error` member is the refusal it says it is (see
/// [`read_answer`]).
pub(crate) fn decode_success<T: DeserializeOwned>(
    response: &HttpResponse,
    endpoint: &'static str,
) -> Result<T, Error> {
    let refused = |error| Error::Endpoint { endpoint, error };
    if !(200..300).contains(&response.status) {
        return Err(refused(server_error(response)));
    }
    read_answer(response, endpoint)?.map_err(refused)
}
