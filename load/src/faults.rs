//! The protected API under load while the embedded Verys rotates its key and its JWKS fails.
//!
//! Clients send, each on its keep-alive connection, a steady stream of requests to
//! `/api/me` (verys-client's `Scoped<api.read>`): half of them with the client's own token,
//! re-issued every 64 requests (a token reused for its lifetime), a quarter with a fresh
//! token, an eighth with a valid token without `api.read` (403 expected), and an eighth with an
//! invalid token (signed by a key in no JWKS, another audience, expired, or a made-up `kid`,
//! which makes the verifier want a fetch). Meanwhile, one phase after the other:
//!
//! 1. steady;
//! 2. a graceful rotation: a new key, the old one still published;
//! 3. a hard rotation: a new key alone, the earlier ones withdrawn;
//! 4. the JWKS answers 500, while the verifier's keys come due for a refresh (a short
//!    maximum age): the known key must keep serving;
//! 5. still failing, a new key is rotated in (the previous one kept);
//! 6. the JWKS answers again, for two phases.
//!
//! # What counts as valid, and the window
//!
//! A token is valid when it is signed by a key the JWKS publishes (whether or not it can be
//! fetched) both when it is sent and when it is answered; a token of a key withdrawn before it
//! was sent is invalid; one sent before a withdrawal and answered after it straddles it and is
//! counted apart. The verifier learns of a key only by fetching the JWKS, within its budget
//! (a burst, then one fetch per cooldown), so the documented window for a key is: from its
//! publication until the verifier has fetched a JWKS that has it, which is at once if the
//! budget allows and the JWKS answers, else the time the JWKS fails plus at most one cooldown.
//! The harness closes a key's window at the first 200 a client receives for a token of that
//! key (the verifier had the key by then); a valid token sent after that must never be refused.
//! Likewise a withdrawn key's tokens may be accepted from the withdrawal until the verifier has
//! fetched the JWKS without it, which the first 200 for the new key's token shows; a token of
//! a withdrawn key sent after that must never be accepted.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use verys_client::Verifier;
use verys_testing::VerysServer;

use crate::api::ApiServer;
use crate::client::Connection;

/// The shape of a fault run.
#[derive(Debug, Clone)]
pub struct FaultsConfig {
    /// Concurrent keep-alive clients.
    pub clients: usize,
    /// How long each of the phases lasts (the last one twice as long).
    pub phase: Duration,
    /// The verifier's `jwks_cooldown` (whole seconds, at least one).
    pub cooldown: Duration,
    /// The verifier's `jwks_burst`.
    pub burst: u32,
    /// The verifier's `jwks_max_age`: short, so that known keys are refreshed during the run,
    /// also while the JWKS fails.
    pub max_age: Duration,
    /// Whether a quarter of the invalid tokens name a made-up `kid`: each makes the verifier
    /// want a fetch, so they spend the budget a real rotation then waits for.
    pub made_up_kids: bool,
}

impl FaultsConfig {
    /// The short run of the CI test: seconds in all.
    pub fn short() -> Self {
        Self {
            clients: 8,
            phase: Duration::from_millis(700),
            cooldown: Duration::from_secs(1),
            burst: 3,
            max_age: Duration::from_secs(1),
            made_up_kids: false,
        }
    }
}

/// What a fault run counted.
#[derive(Debug, Clone, Default)]
pub struct FaultsReport {
    /// Requests answered or failed.
    pub requests: usize,
    /// The load's duration.
    pub elapsed: Duration,
    /// Answers by status.
    pub statuses: BTreeMap<u16, usize>,
    /// Requests that got no answer (connection errors).
    pub transport_errors: usize,
    /// Answers other than 200, 401, 403 and 503, and requests without an answer.
    pub other_answers: usize,
    /// Valid tokens answered as their scopes say (200 with `api.read`, 403 without).
    pub valid_served: usize,
    /// Valid tokens refused (401 or 503) within their key's window.
    pub valid_refused_in_window: usize,
    /// Of those, the ones answered 503 (the keys out of reach) rather than 401.
    pub valid_unavailable_in_window: usize,
    /// Valid tokens refused after their key's window closed: must be 0.
    pub valid_refused_outside_window: usize,
    /// Tokens of a withdrawn key accepted before the verifier could know of the withdrawal.
    pub withdrawn_accepted_in_window: usize,
    /// Invalid tokens accepted (200 or 403) outside any window: must be 0.
    pub invalid_accepted: usize,
    /// Invalid tokens refused (401 or 503).
    pub invalid_refused: usize,
    /// Tokens sent before their key's withdrawal and answered after it, whatever the answer.
    pub straddling: usize,
    /// Valid tokens without `api.read` answered 200: must be 0.
    pub scope_bypassed: usize,
    /// JWKS requests the embedded Verys answered during the load.
    pub jwks_fetches: usize,
    /// The most the verifier's budget allows in `elapsed`: the burst, one per whole cooldown,
    /// and one for the second boundaries the budget counts in.
    pub fetch_budget: usize,
    /// Each key rotated in: how long from its publication to the first 200 for its tokens.
    pub windows: Vec<(String, Option<Duration>)>,
}

/// Why a request's token was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Signed by the key of the moment, with `api.read`: reused or fresh.
    Valid,
    /// Signed by the key of the moment, without `api.read`.
    NoScope,
    /// Invalid whatever the keys: forged, another audience, expired, a made-up `kid`.
    Invalid,
}

struct Sample {
    kind: Kind,
    kid: Option<String>,
    sent: Instant,
    received: Instant,
    status: Option<u16>,
}

/// A key's life as the controller made it.
#[derive(Debug, Clone)]
struct KeyLife {
    published: Instant,
    /// When it was withdrawn (just before the rotation that withdrew it), and the key that
    /// rotation brought.
    withdrawn: Option<(Instant, String)>,
}

#[derive(Default)]
struct Timeline {
    keys: HashMap<String, KeyLife>,
    /// The keys rotated in during the run, in order.
    rotated_in: Vec<String>,
}

impl Timeline {
    fn rotate(&mut self, verys: &VerysServer, keep_old: bool) {
        let before = Instant::now();
        if keep_old {
            verys.rotate_key_keep_old();
        } else {
            verys.rotate_key();
        }
        let kid = verys.key_id();
        if !keep_old {
            for life in self.keys.values_mut() {
                if life.withdrawn.is_none() {
                    life.withdrawn = Some((before, kid.clone()));
                }
            }
        }
        self.keys.insert(
            kid.clone(),
            KeyLife {
                published: before,
                withdrawn: None,
            },
        );
        self.rotated_in.push(kid);
    }
}

/// Runs the phases under load and counts.
///
/// # Panics
///
/// If a server cannot be started.
pub fn run(config: &FaultsConfig) -> FaultsReport {
    let verys = Arc::new(VerysServer::start());
    let issuer = verys.issuer();
    let mut timeline = Timeline::default();
    timeline.keys.insert(
        verys.key_id(),
        KeyLife {
            published: Instant::now(),
            withdrawn: None,
        },
    );
    let server = ApiServer::start(
        &issuer,
        Verifier::builder(&issuer)
            .jwks_cooldown(config.cooldown)
            .jwks_burst(config.burst)
            .jwks_max_age(config.max_age),
    );
    // The reference route's own fetch at start is not the verifier's.
    let fetches_before = verys.jwks_fetches();
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (verys, stop, clients) = (Arc::clone(&verys), Arc::clone(&stop), config.clients);
        let made_up_kids = config.made_up_kids;
        let address = server.address();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the clients' runtime");
            runtime.block_on(async move {
                let mut tasks = tokio::task::JoinSet::new();
                for client in 0..clients {
                    let (verys, stop) = (Arc::clone(&verys), Arc::clone(&stop));
                    tasks.spawn(async move {
                        let mut connection = Connection::open(address).await.expect("connect");
                        client_loop(&verys, &mut connection, client, &stop, made_up_kids).await
                    });
                }
                let mut samples = Vec::new();
                while let Some(done) = tasks.join_next().await {
                    samples.extend(done.expect("a client task"));
                }
                samples
            })
        })
    };
    let start = Instant::now();
    std::thread::sleep(config.phase);
    timeline.rotate(&verys, true);
    std::thread::sleep(config.phase);
    timeline.rotate(&verys, false);
    std::thread::sleep(config.phase);
    // The keys known, due for a refresh (a short maximum age) that fails: they keep serving.
    verys.set_jwks_failure(true);
    std::thread::sleep(config.phase);
    timeline.rotate(&verys, true);
    std::thread::sleep(config.phase);
    verys.set_jwks_failure(false);
    std::thread::sleep(config.phase * 2);
    stop.store(true, Ordering::Relaxed);
    let samples = load.join().expect("the load thread");
    let elapsed = start.elapsed();
    let jwks_fetches = verys.jwks_fetches() - fetches_before;
    drop(server);
    let cooldown = config.cooldown.as_secs().max(1);
    let fetch_budget = config.burst as usize + (elapsed.as_secs().div_ceil(cooldown)) as usize + 1;
    classify(&timeline, samples, elapsed, jwks_fetches, fetch_budget)
}

/// The claims of a token `/token` would issue, for the forged ones.
fn claims(issuer: &str, sub: &str) -> serde_json::Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    json!({
        "iss": issuer, "sub": sub, "aud": issuer, "roles": [],
        "iat": now, "exp": now + 3600, "scopes": ["api.read"],
    })
}

async fn client_loop(
    verys: &VerysServer,
    connection: &mut Connection,
    client: usize,
    stop: &AtomicBool,
    made_up_kids: bool,
) -> Vec<Sample> {
    let issuer = verys.issuer();
    let mut samples = Vec::new();
    let mut reused = String::new();
    let mut request = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let sub = format!("client-{client}-{request}");
        if request.is_multiple_of(64) {
            reused = verys.issue_access_token(&sub, &issuer, &["api.read"], 3600);
        }
        let (kind, token) = match request % 8 {
            0 | 2 | 4 | 6 => (Kind::Valid, reused.clone()),
            1 | 3 => (
                Kind::Valid,
                verys.issue_access_token(&sub, &issuer, &["api.read"], 3600),
            ),
            5 => (
                Kind::NoScope,
                verys.issue_access_token(&sub, &issuer, &["openid"], 3600),
            ),
            _ => {
                let token = match (request / 8) % 4 {
                    0 | 3 if !made_up_kids => verys.sign_jwt_with_random_key(
                        &json!({"alg": "EdDSA", "typ": "JWT", "kid": verys.key_id()}),
                        &claims(&issuer, &sub),
                    ),
                    0 => verys.sign_jwt_with_random_key(
                        &json!({"alg": "EdDSA", "typ": "JWT", "kid": verys.key_id()}),
                        &claims(&issuer, &sub),
                    ),
                    1 => {
                        verys.issue_access_token(&sub, "https://other.example", &["api.read"], 3600)
                    }
                    2 => verys.issue_access_token(&sub, &issuer, &["api.read"], -300),
                    _ => verys.sign_jwt(
                        &json!({"alg": "EdDSA", "typ": "JWT", "kid": format!("made-up-{sub}")}),
                        &claims(&issuer, &sub),
                    ),
                };
                (Kind::Invalid, token)
            }
        };
        let kid = jsonwebtoken::decode_header(&token).ok().and_then(|h| h.kid);
        let sent = Instant::now();
        let status = connection
            .get("/api/me", Some(&token))
            .await
            .ok()
            .map(|(status, _)| status);
        let received = Instant::now();
        samples.push(Sample {
            kind,
            kid,
            sent,
            received,
            status,
        });
        if status.is_none() {
            // The connection is gone: a new one, counted as the failure it is.
            match Connection::open(*connection.address()).await {
                Ok(fresh) => *connection = fresh,
                Err(_) => break,
            }
        }
        request += 1;
    }
    samples
}

fn classify(
    timeline: &Timeline,
    samples: Vec<Sample>,
    elapsed: Duration,
    jwks_fetches: usize,
    fetch_budget: usize,
) -> FaultsReport {
    // The first 200 received for each key's tokens: the verifier had the key then.
    let mut first_ok: HashMap<&str, Instant> = HashMap::new();
    for sample in &samples {
        if let (Some(200), Some(kid)) = (sample.status, &sample.kid) {
            let at = first_ok.entry(kid.as_str()).or_insert(sample.received);
            *at = (*at).min(sample.received);
        }
    }
    let mut report = FaultsReport {
        requests: samples.len(),
        elapsed,
        jwks_fetches,
        fetch_budget,
        ..FaultsReport::default()
    };
    for sample in &samples {
        match sample.status {
            Some(status) => *report.statuses.entry(status).or_default() += 1,
            None => report.transport_errors += 1,
        }
        let accepted = matches!(sample.status, Some(200 | 403));
        let refused = matches!(sample.status, Some(401 | 503));
        if !accepted && !refused {
            report.other_answers += 1;
            continue;
        }
        let life = sample.kid.as_deref().and_then(|kid| timeline.keys.get(kid));
        let (kind, life) = match (sample.kind, life) {
            (Kind::Invalid, _) | (_, None) => {
                if accepted {
                    report.invalid_accepted += 1;
                } else {
                    report.invalid_refused += 1;
                }
                continue;
            }
            (kind, Some(life)) => (kind, life),
        };
        match &life.withdrawn {
            Some((withdrawn, _)) if sample.sent < *withdrawn && sample.received >= *withdrawn => {
                report.straddling += 1;
            }
            Some((withdrawn, successor)) if sample.sent >= *withdrawn => {
                // Sent after its key was withdrawn: invalid.
                let known_withdrawn = first_ok.get(successor.as_str());
                if refused {
                    report.invalid_refused += 1;
                } else if known_withdrawn.is_none_or(|at| sample.sent < *at) {
                    report.withdrawn_accepted_in_window += 1;
                } else {
                    report.invalid_accepted += 1;
                }
            }
            _ => {
                // Published throughout.
                let expected = if kind == Kind::Valid { 200 } else { 403 };
                if sample.status == Some(expected) {
                    report.valid_served += 1;
                } else if accepted {
                    // 200 for a token without the scope (or 403 for one with it).
                    report.scope_bypassed += usize::from(sample.status == Some(200));
                    report.valid_refused_outside_window += usize::from(sample.status == Some(403));
                } else {
                    let kid = sample.kid.as_deref().unwrap_or_default();
                    let closed = first_ok.get(kid);
                    if closed.is_none_or(|at| sample.sent < *at) && sample.sent >= life.published {
                        report.valid_refused_in_window += 1;
                        report.valid_unavailable_in_window +=
                            usize::from(sample.status == Some(503));
                    } else {
                        report.valid_refused_outside_window += 1;
                    }
                }
            }
        }
    }
    report.windows = timeline
        .rotated_in
        .iter()
        .map(|kid| {
            let published = timeline.keys[kid].published;
            let window = first_ok.get(kid.as_str()).map(|at| *at - published);
            (kid.clone(), window)
        })
        .collect();
    report
}
