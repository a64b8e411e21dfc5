//! The HTTP layer: hyper's HTTP/1.1 with keep-alive, on a small tokio runtime the server owns.
//!
//! Every accepted connection is counted, then gets a task of its own that serves it until the
//! client closes it or the server shuts down, so any number of clients can hold keep-alive
//! connections at once. A request is read in full ([`Incoming::read`]), counted and delayed as
//! the fault switches say ([`routes::admit`]), then answered by the synchronous handlers on
//! tokio's blocking pool: they take the state's mutex and sign tokens, and must not stall the
//! runtime's two worker threads.

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::net::TcpListener as StdListener;
use std::pin::pin;
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::task::Poll;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming as Body};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

use super::faults::RawResponse;
use super::routes;
use super::state::Shared;
use super::wire::{self, Incoming};

/// The runtime's worker threads only move bytes; the handlers run on the blocking pool.
const WORKER_THREADS: usize = 2;

/// How long dropping the server waits for the requests in progress to be answered.
pub(super) const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How long a TLS client may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the server adds to every response that has no `Server` header of its own.
const SERVER_NAME: &str = "verys-embedded";

/// Headers about the message's framing or the connection: hyper writes them itself, from the
/// body it is given, so canned values of them are ignored.
const FRAMING: [HeaderName; 5] = [
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::CONNECTION,
    header::TRAILER,
    header::UPGRADE,
];

/// The running HTTP server. Dropping it shuts it down, as its `Drop` implementation says.
pub(super) struct Server {
    /// Always `Some` until the drop takes it.
    runtime: Option<Runtime>,
    /// Set to `true` to stop: the accept loop stops, the connections close once idle.
    stop: watch::Sender<bool>,
    /// Never sent on: the accept loop drops its sender once every connection has closed.
    finished: Mutex<mpsc::Receiver<()>>,
}

impl Server {
    /// Serves `listener` (bound, blocking or not) with `shared`'s routes until dropped, over TLS
    /// when given an acceptor.
    ///
    /// # Panics
    ///
    /// If the runtime cannot be started or the listener cannot be registered with it.
    pub(crate) fn start(
        listener: StdListener,
        shared: Arc<Shared>,
        tls: Option<TlsAcceptor>,
    ) -> Server {
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("VerysServer: cannot make the listener non-blocking: {e}"));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            .thread_name("verys-embedded")
            .enable_io()
            .enable_time()
            .build()
            .unwrap_or_else(|e| panic!("VerysServer: cannot start its tokio runtime: {e}"));
        let listener = {
            let _context = runtime.enter();
            TcpListener::from_std(listener)
                .unwrap_or_else(|e| panic!("VerysServer: cannot register the listener: {e}"))
        };
        let (stop, stopping) = watch::channel(false);
        let (finished_tx, finished) = mpsc::channel::<()>();
        runtime.spawn(async move {
            accept_loop(listener, shared, tls, stopping).await;
            drop(finished_tx);
        });
        Server {
            runtime: Some(runtime),
            stop,
            finished: Mutex::new(finished),
        }
    }
}

/// Stops accepting connections and closes the idle ones at once; waits up to [`SHUTDOWN_GRACE`]
/// for the requests in progress to be answered (their connections close afterwards), then
/// abandons whatever is left. Never panics, and may run inside another tokio runtime: nothing
/// here needs a runtime context, and the wait blocks only while requests are in progress.
impl Drop for Server {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        let finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
        // `Err(Disconnected)` as soon as the accept loop is done, `Err(Timeout)` after the grace.
        let _ = finished.recv_timeout(SHUTDOWN_GRACE);
        if let Some(runtime) = self.runtime.take() {
            // Does not wait, so it cannot hang, nor panic in an async context.
            runtime.shutdown_background();
        }
    }
}

/// Resolves once the server is stopping (or its handle is gone).
async fn stopped(mut stopping: watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<TlsAcceptor>,
    stopping: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    let mut stop = pin!(stopped(stopping.clone()));
    loop {
        let accepted = poll_fn(|cx| {
            if stop.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            // Forget the finished connections, so that the set does not grow with the test.
            while let Poll::Ready(Some(_)) = connections.poll_join_next(cx) {}
            listener.poll_accept(cx).map(Some)
        })
        .await;
        match accepted {
            None => break,
            Some(Ok((stream, _peer))) => {
                shared.lock().counters.connections += 1;
                connections.spawn(accept_connection(
                    stream,
                    tls.clone(),
                    shared.clone(),
                    stopping.clone(),
                ));
            }
            // Out of file descriptors, a connection reset before it was accepted...: nothing
            // that may stop the server. The pause keeps a persistent error from spinning.
            Some(Err(_)) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// Serves one accepted connection, after its TLS handshake if the server speaks TLS. A client
/// that does not trust the certificate, or that never finishes the handshake, is dropped.
async fn accept_connection(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    stopping: watch::Receiver<bool>,
) {
    // Small answers should not wait for Nagle's algorithm; failing to say so is harmless.
    let _ = stream.set_nodelay(true);
    match tls {
        None => serve_connection(stream, shared, stopping).await,
        Some(acceptor) => {
            if let Ok(Ok(stream)) = timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                serve_connection(stream, shared, stopping).await;
            }
        }
    }
}

async fn serve_connection<S>(stream: S, shared: Arc<Shared>, stopping: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(answer(shared, request).await) }
    });
    let mut connection = pin!(
        http1::Builder::new()
            .keep_alive(true)
            // Send `Content-Type` rather than `content-type`, as the handlers spell it.
            .title_case_headers(true)
            .serve_connection(TokioIo::new(stream), service)
    );
    let mut stop = pin!(stopped(stopping));
    let closed = poll_fn(|cx| match connection.as_mut().poll(cx) {
        Poll::Ready(_) => Poll::Ready(true),
        Poll::Pending => stop.as_mut().poll(cx).map(|()| false),
    })
    .await;
    if !closed {
        // An idle connection closes now; one with a request in progress once it is answered.
        connection.as_mut().graceful_shutdown();
        // An I/O error or a client that hung up: nobody is left to tell.
        let _ = connection.await;
    }
}

/// Answers one request; never panics, whatever the request holds.
async fn answer(shared: Arc<Shared>, request: Request<Body>) -> Response<Full<Bytes>> {
    let (incoming, unreadable) = Incoming::read(request).await;
    let (delay, canned) = routes::admit(&shared, &incoming);
    let padding = shared.lock().faults.padding.get(&incoming.path).copied();
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let reply = match canned.or(unreadable) {
        Some(reply) => reply,
        // `route` turns its own panics into a 500 already; this `Err` is a cancelled task, when
        // the server is shutting down.
        None => tokio::task::spawn_blocking(move || routes::route(&shared, &incoming))
            .await
            .unwrap_or_else(|_| wire::error(500, "Internal Server Error")),
    };
    response(pad(reply, padding))
}

/// `reply` with its body padded with trailing spaces to `length` bytes, if it is shorter.
fn pad(mut reply: RawResponse, length: Option<usize>) -> RawResponse {
    if let Some(length) = length
        && reply.body.len() < length
    {
        reply.body.resize(length, b' ');
    }
    reply
}

fn response(reply: RawResponse) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    // Canned statuses are validated when set; the handlers' are all valid.
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    let content_type = reply
        .content_type
        .map(|ct| (header::CONTENT_TYPE.as_str().to_owned(), ct));
    for (name, value) in content_type.into_iter().chain(reply.headers) {
        // Canned headers are validated when set; nothing invalid can reach this point.
        let Some((name, value)) = header(&name, &value) else {
            continue;
        };
        if FRAMING.contains(&name) {
            continue;
        }
        if name == header::CONTENT_TYPE {
            // A canned `Content-Type` header replaces the response's content type.
            headers.insert(name, value);
        } else {
            headers.append(name, value);
        }
    }
    if !headers.contains_key(header::SERVER) {
        headers.insert(header::SERVER, HeaderValue::from_static(SERVER_NAME));
    }
    response
}

/// The header as HTTP/1.1 can carry it: a token for a name, visible ASCII (and spaces and tabs)
/// for a value; `None` otherwise.
pub(super) fn header(name: &str, value: &str) -> Option<(HeaderName, HeaderValue)> {
    let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
    let value = HeaderValue::from_str(value).ok()?;
    Some((name, value))
}

/// Whether HTTP/1.1 can carry this status code (three digits, `100` to `999`).
pub(super) fn valid_status(status: u16) -> bool {
    StatusCode::from_u16(status).is_ok()
}
