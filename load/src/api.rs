//! The protected API under load: three routes of one axum server, three token mixes.
//!
//! The routes, on one router so that they share everything but the check:
//!
//! - `/open`: no authentication, the same small JSON answer (the ceiling);
//! - `/api/me`: `examples/protected_api.rs`'s route, behind `verys_client::axum::Scoped`
//!   with the scope `api.read`, on a [`Verifier`] built from the builder the run is given;
//! - `/jwt/me`: the same answer behind a `jsonwebtoken` extractor written as that crate's
//!   documentation shows (keys from the JWKS fetched once at start, by `kid`, `decode` with a
//!   `Validation` of the algorithm, issuer and audience), the check most axum services
//!   hand-write.
//!
//! The mixes: every client reuses one token for the whole run, as real clients do for its
//! lifetime ([`Mix::Reused`]); every request carries a token never seen ([`Mix::Fresh`]); or
//! every other request does ([`Mix::Half`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use serde_json::json;
use verys_client::axum::{Scope, Scoped};
use verys_client::{Async, Verifier, VerifierBuilder};
use verys_testing::VerysServer;

use crate::Latencies;
use crate::client::Connection;

/// The scope every call to the protected routes needs, as in `examples/protected_api.rs`.
struct ApiRead;

impl Scope for ApiRead {
    const NAME: &'static str = "api.read";
}

/// A route of the server under load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/open`: no authentication.
    Open,
    /// `/api/me`: verys-client's `Scoped<ApiRead>` extractor.
    Verys,
    /// `/jwt/me`: the `jsonwebtoken` extractor.
    Jwt,
}

impl Route {
    /// Every route, in the order the reports list them.
    pub const ALL: [Route; 3] = [Route::Open, Route::Verys, Route::Jwt];

    /// The route's path.
    pub fn path(self) -> &'static str {
        match self {
            Route::Open => "/open",
            Route::Verys => "/api/me",
            Route::Jwt => "/jwt/me",
        }
    }

    /// The route's name in the reports.
    pub fn name(self) -> &'static str {
        match self {
            Route::Open => "unauthenticated",
            Route::Verys => "verys-client",
            Route::Jwt => "jsonwebtoken",
        }
    }
}

/// Which tokens the clients send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// Each client its own token, on every request.
    Reused,
    /// A token never sent before on every request.
    Fresh,
    /// Each client's own token on even requests, a never-sent one on odd requests.
    Half,
}

impl Mix {
    /// Every mix, in the order the reports list them.
    pub const ALL: [Mix; 3] = [Mix::Reused, Mix::Half, Mix::Fresh];

    /// The mix's name in the reports.
    pub fn name(self) -> &'static str {
        match self {
            Mix::Reused => "reused",
            Mix::Fresh => "fresh",
            Mix::Half => "half",
        }
    }
}

/// The protected API, served on 127.0.0.1 by a runtime of its own (two workers, the machine's
/// cores) in a thread of its own; dropping it stops the server and ends the thread.
pub struct ApiServer {
    address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ApiServer {
    /// Serves the three routes for tokens of `issuer`, `/api/me` on a verifier built by
    /// `verifier` (async), `/jwt/me` on the keys the issuer's JWKS publishes now.
    ///
    /// # Panics
    ///
    /// If no port can be bound, the verifier cannot be built or the JWKS cannot be read: a run
    /// cannot go on without its server.
    pub fn start(issuer: &str, verifier: VerifierBuilder) -> ApiServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port on 127.0.0.1");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking socket");
        let address = listener.local_addr().expect("the listener's address");
        let issuer = issuer.to_owned();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, is_ready) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("the server's runtime");
            runtime.block_on(async move {
                let verifier = verifier.build_async().expect("the verifier");
                let jwt = JwtState::fetch(&issuer).await;
                let listener = tokio::net::TcpListener::from_std(listener).expect("the listener");
                let _ = ready.send(());
                tokio::select! {
                    _ = axum::serve(listener, router(verifier, jwt)) => {}
                    _ = stopped => {}
                }
            });
            // Dropping the runtime drops every connection still open.
        });
        is_ready
            .recv()
            .expect("the API server did not start (see its panic above)");
        ApiServer {
            address,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn router(verifier: Verifier<Async>, jwt: JwtState) -> Router {
    let verys = Router::new()
        .route("/api/me", get(verys_me))
        .with_state(verifier);
    let reference = Router::new().route("/jwt/me", get(jwt_me)).with_state(jwt);
    Router::new()
        .route("/open", get(open))
        .merge(verys)
        .merge(reference)
}

fn json_answer(body: &serde_json::Value) -> Response {
    let content_type = [(header::CONTENT_TYPE, "application/json")];
    (StatusCode::OK, content_type, body.to_string()).into_response()
}

async fn open() -> Response {
    json_answer(&json!({ "sub": null, "scopes": [], "roles": [] }))
}

async fn verys_me(Scoped(claims, _): Scoped<ApiRead>) -> Response {
    json_answer(&json!({
        "sub": claims.sub(),
        "scopes": claims.scopes(),
        "roles": claims.roles(),
    }))
}

// The reference: what the `jsonwebtoken` documentation shows, put in an axum extractor.

/// The claims the reference deserializes.
#[derive(Debug, Deserialize)]
struct JwtClaims {
    sub: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
}

/// The reference's state: the decoding keys by `kid`, fetched once, and the validation.
#[derive(Clone)]
struct JwtState {
    keys: Arc<HashMap<String, DecodingKey>>,
    validation: Arc<Validation>,
}

impl JwtState {
    async fn fetch(issuer: &str) -> JwtState {
        let address: SocketAddr = issuer
            .trim_start_matches("http://")
            .parse()
            .expect("an http://127.0.0.1:PORT issuer");
        let mut connection = Connection::open(address).await.expect("the embedded Verys");
        let (status, body) = connection
            .get("/.well-known/jwks.json", None)
            .await
            .expect("the JWKS");
        assert_eq!(status, 200, "the JWKS answered {status}");
        let set: JwkSet = serde_json::from_slice(&body).expect("a JWKS");
        let keys = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                Some((kid, DecodingKey::from_jwk(jwk).ok()?))
            })
            .collect();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[issuer]);
        JwtState {
            keys: Arc::new(keys),
            validation: Arc::new(validation),
        }
    }
}

struct JwtUser(JwtClaims);

impl FromRequestParts<JwtState> for JwtUser {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(
        parts: &mut Parts,
        state: &JwtState,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized = (StatusCode::UNAUTHORIZED, "invalid token");
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or(unauthorized)?;
        let kid = decode_header(token)
            .map_err(|_| unauthorized)?
            .kid
            .ok_or(unauthorized)?;
        let key = state.keys.get(&kid).ok_or(unauthorized)?;
        let data = decode::<JwtClaims>(token, key, &state.validation).map_err(|_| unauthorized)?;
        Ok(JwtUser(data.claims))
    }
}

async fn jwt_me(JwtUser(claims): JwtUser, State(_): State<JwtState>) -> Response {
    if !claims.scopes.iter().any(|scope| scope == ApiRead::NAME) {
        return (StatusCode::FORBIDDEN, "insufficient scope").into_response();
    }
    json_answer(&json!({
        "sub": claims.sub,
        "scopes": claims.scopes,
        "roles": claims.roles,
    }))
}

// The load.

/// The tokens of a run: one per client, reused, and one per request, each sent once.
pub struct Tokens {
    reused: Vec<String>,
    fresh: Vec<String>,
}

impl Tokens {
    /// Tokens valid for an hour with `api.read`, signed by `verys`: `clients` to reuse, and
    /// `requests` distinct ones (distinct subjects, hence distinct signatures) to send once.
    pub fn issue(verys: &VerysServer, clients: usize, requests: usize) -> Tokens {
        let issuer = verys.issuer();
        let issue = |sub: String| verys.issue_access_token(&sub, &issuer, &["api.read"], 3600);
        Tokens {
            reused: (0..clients).map(|c| issue(format!("client-{c}"))).collect(),
            fresh: (0..requests)
                .map(|i| issue(format!("request-{i}")))
                .collect(),
        }
    }

    fn pick(&self, mix: Mix, client: usize, request: usize) -> &str {
        let reused = &self.reused[client % self.reused.len()];
        let fresh = &self.fresh[request % self.fresh.len()];
        match mix {
            Mix::Reused => reused,
            Mix::Fresh => fresh,
            Mix::Half if request.is_multiple_of(2) => reused,
            Mix::Half => fresh,
        }
    }
}

/// One route under one mix.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The route.
    pub route: Route,
    /// The mix.
    pub mix: Mix,
    /// Requests answered (of any status).
    pub requests: usize,
    /// Answers other than 200, and failed requests.
    pub not_ok: usize,
    /// From the first request to the last answer, connections already open.
    pub elapsed: Duration,
    /// Every request's latency.
    pub latencies: Latencies,
}

impl Cell {
    /// Requests per second.
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// Sends `requests` requests to `route` of a new [`ApiServer`] (a new verifier, nothing
/// remembered) from `clients` keep-alive connections at once, taking tokens as `mix` says.
/// The clients run on one thread (a current-thread runtime), the server on two.
///
/// # Panics
///
/// If a connection cannot be opened or a request fails: the server under load must answer
/// every request.
pub fn run_cell(
    verys: &VerysServer,
    tokens: &Arc<Tokens>,
    route: Route,
    mix: Mix,
    clients: usize,
    requests: usize,
) -> Cell {
    let server = ApiServer::start(&verys.issuer(), Verifier::builder(verys.issuer()));
    // A token of its own for the warm-up, which fetches the JWKS and opens the connections:
    // none of the run's tokens is remembered before the run.
    let warm_up = verys.issue_access_token("warm-up", &verys.issuer(), &["api.read"], 3600);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the clients' runtime");
    runtime.block_on(async {
        let mut connections = Vec::with_capacity(clients);
        for _ in 0..clients {
            let mut connection = Connection::open(server.address()).await.expect("connect");
            let (status, _) = connection
                .get(route.path(), Some(&warm_up))
                .await
                .expect("the warm-up request");
            assert_eq!(status, 200, "the warm-up request of {}", route.path());
            connections.push(connection);
        }
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for (client, mut connection) in connections.into_iter().enumerate() {
            let next = Arc::clone(&next);
            let tokens = Arc::clone(tokens);
            tasks.spawn(async move {
                let mut latencies = Latencies::default();
                let mut not_ok = 0;
                loop {
                    let request = next.fetch_add(1, Ordering::Relaxed);
                    if request >= requests {
                        break;
                    }
                    let token = tokens.pick(mix, client, request);
                    let sent = Instant::now();
                    let (status, _) = connection
                        .get(route.path(), Some(token))
                        .await
                        .expect("a request of the run");
                    latencies.record(sent.elapsed());
                    if status != 200 {
                        not_ok += 1;
                    }
                }
                (latencies, not_ok)
            });
        }
        let mut latencies = Latencies::default();
        let mut not_ok = 0;
        while let Some(done) = tasks.join_next().await {
            let (client_latencies, client_not_ok) = done.expect("a client task");
            latencies.merge(client_latencies);
            not_ok += client_not_ok;
        }
        let elapsed = start.elapsed();
        Cell {
            route,
            mix,
            requests: latencies.len(),
            not_ok,
            elapsed,
            latencies,
        }
    })
}
