//! A fleet of replicas sharing sign-ins through a real `redis-server`.
//!
//! `processes` replica processes (this crate's binary run again as `verys-load replica`), each
//! with `tasks` tasks asking its [`TokenManager`]s for access tokens, share `sign_ins` sign-ins
//! (each its own registered client, Ada's or Grace's) in Redis. Access tokens live
//! `lifetime_secs`, so a manager refreshes every half of that (its margin is capped at half the
//! lifetime), many times in a run. During the run:
//!
//! 1. at a quarter, the `/token` answers are held up, and the replica holding the lease of a
//!    refresh held up there is killed (`SIGKILL`); the others take over once its lease ran out;
//! 2. at a half, Redis is killed and started again on the same data after `redis_down`;
//! 3. at seven tenths, the first sign-in is deleted from the store and signed in again.
//!
//! Each replica verifies every token it is handed, there and then, with its own [`Verifier`]
//! (no leeway) and reports what it was served; the embedded Verys counts the refresh requests
//! of each sign-in (its client id) and the refresh tokens presented.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use verys_client::store::redis::RedisStore;
use verys_client::store::{AsyncTokenStore, Entry};
use verys_client::transport::BoxFuture;
use verys_client::{
    AsyncClient, Client, ClientAuthMethod, Confidential, Error, StoreError, TokenManager, Tokens,
    Verifier,
};
use verys_testing::{ClientRegistration, VerysServer, seed};

use crate::redis::RedisServer;

/// The shape of a fleet run.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Replica processes.
    pub processes: usize,
    /// Tasks per replica, task `t` asking for sign-in `t % sign_ins`.
    pub tasks: usize,
    /// Sign-ins shared by the fleet, at most 16 (each a user and a set of scopes of its own).
    pub sign_ins: usize,
    /// Lifetime of the access tokens Verys grants, in seconds.
    pub lifetime_secs: i64,
    /// The whole run, from the replicas' start to their stop.
    pub duration: Duration,
    /// The managers' refresh lease.
    pub lease: Duration,
    /// How long the `/token` answers are held up while a lease holder is killed: less than the
    /// lease, so that no other replica refreshes meanwhile.
    pub hold: Duration,
    /// How long Redis stays down.
    pub redis_down: Duration,
    /// A task's pause between two requests for a token.
    pub pause: Duration,
}

impl FleetConfig {
    /// The short run of the CI test.
    pub fn short() -> Self {
        Self {
            processes: 3,
            tasks: 4,
            sign_ins: 3,
            lifetime_secs: 2,
            duration: Duration::from_secs(15),
            lease: Duration::from_secs(3),
            hold: Duration::from_secs(2),
            redis_down: Duration::from_millis(1500),
            pause: Duration::from_millis(20),
        }
    }
}

/// What one sign-in went through.
#[derive(Debug, Clone, Default)]
pub struct SignInCounts {
    /// Refresh requests the embedded Verys received for it.
    pub refreshes: usize,
    /// Refresh tokens it received more than once (each a second refresh of one expiry).
    pub presented_twice: usize,
    /// Times it was signed in (1, or 2 for the one deleted and signed in again).
    pub sign_ins: usize,
    /// Distinct access tokens the surviving replicas were served for it.
    pub distinct_tokens: usize,
    /// Its expiries: the refreshes that succeeded (each replica says so in its `on_refresh`).
    pub expiries: usize,
    /// Tokens of those refreshes that no surviving replica was served.
    pub refreshed_never_served: usize,
    /// Tokens served to callers (surviving replicas).
    pub served: usize,
    /// `SignedOut` answers (expected only between its deletion and its new sign-in).
    pub signed_out: usize,
    /// Whether it could not be had from the store after the run.
    pub lost: bool,
}

/// What a fleet run counted.
#[derive(Debug, Clone, Default)]
pub struct FleetReport {
    /// By sign-in.
    pub sign_ins: Vec<SignInCounts>,
    /// The replica killed holding leases, and the sign-ins whose refresh it held at the
    /// embedded Verys then (the refreshes due at once, it may hold several).
    pub killed: Option<(usize, Vec<usize>)>,
    /// Replicas that reported at the end (all but the killed one).
    pub replicas_reported: usize,
    /// Tokens served that did not verify when served (expired, or refused otherwise).
    pub served_invalid: usize,
    /// Tokens served for a sign-in with another user's `sub`.
    pub crossed_users: usize,
    /// Tokens served for two different sign-ins.
    pub shared_between_sign_ins: usize,
    /// `Error::Store` answers (Redis down, or a wait for a lease cut short).
    pub store_errors: usize,
    /// Of those, the ones from the Redis kill to 6 s after its restart (a manager hands a
    /// failure to its callers for 5 s before it tries again).
    pub store_errors_in_outage: usize,
    /// All of them by when (around the Redis outage) and kind.
    pub store_errors_by: BTreeMap<String, usize>,
    /// Other errors, their texts.
    pub other_errors: Vec<String>,
    /// Calls that had no answer within the hang limit.
    pub hangs: usize,
    /// The run's duration.
    pub elapsed: Duration,
}

const SECRET: &str = "fleet-secret";

/// How long a call for a token may take before it counts as hung: longer than any wait the
/// managers and the store are configured for.
const HANG_LIMIT: Duration = Duration::from_secs(30);

fn client_id(sign_in: usize) -> String {
    format!("fleet-{sign_in}")
}

fn key(sign_in: usize) -> String {
    format!("sign-in-{sign_in}")
}

fn user(sign_in: usize) -> (&'static str, &'static str) {
    if sign_in.is_multiple_of(2) {
        (seed::USER_EMAIL, seed::USER_SUB)
    } else {
        (seed::OTHER_USER_EMAIL, seed::OTHER_USER_SUB)
    }
}

/// The scopes of a sign-in: `openid` and, for each pair of sign-ins (one Ada's, one Grace's), a
/// set of its own of the optional ones, so that no two sign-ins of one user get the same access
/// token (Verys's access tokens name the user and the
/// scopes, not the client), and a token served for the wrong sign-in shows.
fn scopes(sign_in: usize) -> Vec<&'static str> {
    let mut scopes = vec!["openid"];
    for (bit, scope) in ["profile", "email", "api.read"].into_iter().enumerate() {
        if (sign_in / 2) >> bit & 1 == 1 {
            scopes.push(scope);
        }
    }
    scopes
}

/// Whether a token's claims are those of `sign_in`: its user and its scopes.
fn belongs(claims: &verys_client::AccessClaims, sign_in: usize) -> bool {
    let mut got: Vec<&str> = claims.scopes().iter().collect();
    let mut wanted = scopes(sign_in);
    got.sort_unstable();
    wanted.sort_unstable();
    claims.sub() == user(sign_in).1 && got == wanted
}

/// A token's name in the replicas' reports: the end of its signature.
fn fingerprint(token: &str) -> String {
    token[token.len().saturating_sub(16)..].to_owned()
}

fn client(issuer: &str, sign_in: usize) -> AsyncClient<Confidential> {
    Client::builder(issuer, client_id(sign_in))
        .redirect_uri(seed::REDIRECT_URI)
        .scopes(scopes(sign_in))
        .client_secret(SECRET)
        // The client id in the form, so that the embedded Verys's record tells the sign-ins
        // apart.
        .auth_method(ClientAuthMethod::ClientSecretPost)
        .build_async()
        .expect("the fleet's client")
}

async fn sign_in(verys: &VerysServer, sign_in: usize) -> Tokens {
    let client = client(&verys.issuer(), sign_in);
    let pending = client.authorize();
    let callback = verys.login_as(pending.url(), user(sign_in).0);
    let received = pending.receive(&callback).expect("the callback");
    client.exchange_code(received).await.expect("the sign-in")
}

async fn store_sign_in(verys: &VerysServer, store: Arc<RedisStore>, sign_in_index: usize) {
    let tokens = sign_in(verys, sign_in_index).await;
    TokenManager::with_store_async(
        client(&verys.issuer(), sign_in_index),
        store,
        &key(sign_in_index),
        tokens,
    )
    .await
    .expect("the sign-in stored");
}

struct Replica {
    child: Child,
    stdin: Option<ChildStdin>,
}

/// Runs the fleet; `executable` is this crate's binary (`env!("CARGO_BIN_EXE_verys-load")` in
/// its tests, `std::env::current_exe()` in it), run again as each replica.
///
/// # Panics
///
/// If a server or a replica cannot be started, or a sign-in fails.
pub fn run(config: &FleetConfig, executable: &Path) -> FleetReport {
    assert!(config.sign_ins <= 16, "at most 16 sign-ins tell apart");
    let verys = VerysServer::start();
    verys.set_token_lifetime(Some(config.lifetime_secs));
    let mut redis = RedisServer::start();
    for index in 0..config.sign_ins {
        verys.register_client(
            ClientRegistration::confidential(client_id(index), SECRET)
                .redirect_uri(seed::REDIRECT_URI),
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("the harness's runtime");
    let store = Arc::new(RedisStore::open(&redis.url()).expect("the store"));
    runtime.block_on(async {
        for index in 0..config.sign_ins {
            store_sign_in(&verys, Arc::clone(&store), index).await;
        }
    });
    let mut sign_in_counts = vec![1usize; config.sign_ins];

    let (lines, received) = mpsc::channel::<(usize, String)>();
    let mut replicas = Vec::new();
    for index in 0..config.processes {
        let mut child = Command::new(executable)
            .arg("replica")
            .env(
                "VERYS_LOAD_REPLICA",
                format!(
                    "{}|{}|{}|{}|{}|{}",
                    verys.issuer(),
                    redis.url(),
                    config.sign_ins,
                    config.tasks,
                    config.lease.as_millis(),
                    config.pause.as_millis()
                ),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("a replica");
        let stdout = child.stdout.take().expect("its stdout");
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines.send((index, line)).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        replicas.push(Replica { child, stdin });
    }
    drop(lines);
    let mut ready = 0;
    while ready < config.processes {
        let (_, line) = received.recv().expect("a replica ended before READY");
        ready += usize::from(line == "READY");
    }
    let start = Instant::now();
    let at = |fraction: f64| start + config.duration.mul_f64(fraction);
    let mut early_lines = Vec::new();

    sleep_until(at(0.25));
    let killed = kill_a_lease_holder(&verys, &mut replicas, &received, config, &mut early_lines);

    sleep_until(at(0.5));
    let outage_start = unix_millis();
    redis.kill();
    std::thread::sleep(config.redis_down);
    redis.restart();
    let outage_end = unix_millis() + 6_000;

    sleep_until(at(0.7));
    runtime.block_on(async {
        // A new connection: the harness's own went down with the first server.
        let store = Arc::new(RedisStore::open(&redis.url()).expect("the store"));
        AsyncTokenStore::remove(&*store, &key(0))
            .await
            .expect("the sign-in deleted");
        store_sign_in(&verys, store, 0).await;
    });
    sign_in_counts[0] += 1;

    sleep_until(at(1.0));
    for replica in &mut replicas {
        if let Some(mut stdin) = replica.stdin.take() {
            let _ = writeln!(stdin, "STOP");
        }
    }
    let mut report_lines = early_lines;
    report_lines.extend(received.iter());
    for replica in &mut replicas {
        let _ = replica.child.wait();
    }
    let elapsed = start.elapsed();
    let requests = verys.received_token_requests();

    let mut report = FleetReport {
        killed,
        elapsed,
        ..FleetReport::default()
    };
    let mut tokens_of: Vec<HashSet<String>> = vec![HashSet::new(); config.sign_ins];
    let mut refreshed: Vec<Vec<String>> = vec![Vec::new(); config.sign_ins];
    let mut counts = vec![SignInCounts::default(); config.sign_ins];
    let mut reported = HashSet::new();
    for (replica, line) in &report_lines {
        let mut words = line.split(' ');
        match words.next() {
            Some("COUNTS") => {
                reported.insert(*replica);
                let numbers: Vec<usize> = words.filter_map(|w| w.parse().ok()).collect();
                let [
                    index,
                    served,
                    invalid,
                    crossed,
                    store_errors,
                    signed_out,
                    hangs,
                ] = numbers[..]
                else {
                    panic!("a COUNTS line of another shape: {line}");
                };
                counts[index].served += served;
                counts[index].signed_out += signed_out;
                report.served_invalid += invalid;
                report.crossed_users += crossed;
                report.store_errors += store_errors;
                report.hangs += hangs;
            }
            Some("TOKENS") => {
                let index: usize = words.next().and_then(|w| w.parse().ok()).expect("an index");
                tokens_of[index].extend(words.filter(|w| !w.is_empty()).map(str::to_owned));
            }
            Some("REFRESHED") => {
                let index: usize = words.next().and_then(|w| w.parse().ok()).expect("an index");
                refreshed[index].push(words.next().unwrap_or_default().to_owned());
            }
            Some("STOREERR") => {
                let at: u128 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                let in_outage = (outage_start..=outage_end).contains(&at);
                report.store_errors_in_outage += usize::from(in_outage);
                let when = if in_outage {
                    "from the Redis kill to 6 s after its restart"
                } else if at < outage_start {
                    "before the Redis kill"
                } else {
                    "later"
                };
                let kind = words.next().unwrap_or_default();
                *report
                    .store_errors_by
                    .entry(format!("{when}, {kind}"))
                    .or_default() += 1;
            }
            Some("ERROR") => report.other_errors.push(line.clone()),
            _ => {}
        }
    }
    report.replicas_reported = reported.len();
    let mut owner: HashMap<&str, usize> = HashMap::new();
    for (index, tokens) in tokens_of.iter().enumerate() {
        for token in tokens {
            if let Some(other) = owner.insert(token, index) {
                report.shared_between_sign_ins += usize::from(other != index);
            }
        }
    }
    let mut presented: HashMap<(usize, String), usize> = HashMap::new();
    for request in &requests {
        if request.grant_type.as_deref() != Some("refresh_token") {
            continue;
        }
        let Some(index) = request
            .param("client_id")
            .and_then(|id| id.strip_prefix("fleet-"))
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        counts[index].refreshes += 1;
        let token = request
            .param("refresh_token")
            .unwrap_or_default()
            .to_owned();
        *presented.entry((index, token)).or_default() += 1;
    }
    for ((index, _), times) in presented {
        counts[index].presented_twice += usize::from(times > 1);
    }
    // Each sign-in must still be there, for any replica, after all of it.
    let lost: Vec<bool> = runtime.block_on(async {
        let store: Arc<RedisStore> = Arc::new(RedisStore::open(&redis.url()).expect("the store"));
        let verifier = Verifier::builder(verys.issuer())
            .build_async()
            .expect("a verifier");
        let mut lost = Vec::new();
        for index in 0..config.sign_ins {
            let manager = TokenManager::from_store_async(
                client(&verys.issuer(), index),
                Arc::clone(&store) as Arc<dyn AsyncTokenStore>,
                &key(index),
            )
            .await;
            let token = match manager {
                Ok(manager) => manager.access_token().await.ok(),
                Err(_) => None,
            };
            let verified = match token {
                Some(token) => verifier.verify(token.expose_secret()).await.ok(),
                None => None,
            };
            lost.push(verified.is_none_or(|claims| !belongs(&claims, index)));
        }
        lost
    });
    for (index, mut count) in counts.into_iter().enumerate() {
        count.sign_ins = sign_in_counts[index];
        count.distinct_tokens = tokens_of[index].len();
        count.expiries = refreshed[index].len();
        count.refreshed_never_served = refreshed[index]
            .iter()
            .filter(|token| !tokens_of[index].contains(*token))
            .count();
        count.lost = lost[index];
        report.sign_ins.push(count);
    }
    report
}

fn unix_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

fn sleep_until(when: Instant) {
    std::thread::sleep(when.saturating_duration_since(Instant::now()));
}

/// Holds `/token` answers up, waits for a refresh to arrive there, kills the replica that took
/// its lease (the last to print `LEASED` for its key) and lets `/token` answer again.
fn kill_a_lease_holder(
    verys: &VerysServer,
    replicas: &mut [Replica],
    received: &mpsc::Receiver<(usize, String)>,
    config: &FleetConfig,
    kept: &mut Vec<(usize, String)>,
) -> Option<(usize, Vec<usize>)> {
    verys.set_response_delay("/token", Some(config.hold));
    // Requests after this one are admitted with the delay.
    let baseline = verys.received_token_requests().len();
    let mut holders: BTreeMap<String, usize> = BTreeMap::new();
    let mut drain = |holders: &mut BTreeMap<String, usize>| {
        while let Ok((replica, line)) = received.try_recv() {
            if let Some(key) = line.strip_prefix("LEASED ") {
                holders.insert(key.to_owned(), replica);
            } else {
                kept.push((replica, line));
            }
        }
    };
    let deadline = Instant::now() + config.duration;
    let held = loop {
        drain(&mut holders);
        let requests = verys.received_token_requests();
        let held = requests
            .get(baseline..)
            .unwrap_or_default()
            .iter()
            .find_map(|request| {
                (request.grant_type.as_deref() == Some("refresh_token"))
                    .then(|| {
                        request
                            .param("client_id")?
                            .strip_prefix("fleet-")?
                            .parse()
                            .ok()
                    })
                    .flatten()
            });
        if let Some(index) = held {
            break Some(index);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let killed = held.and_then(|index: usize| {
        // Its `LEASED` line was written before its request was sent: let it arrive.
        std::thread::sleep(Duration::from_millis(100));
        drain(&mut holders);
        let replica = *holders.get(&key(index))?;
        let child = &mut replicas[replica].child;
        let _ = child.kill();
        let _ = child.wait();
        replicas[replica].stdin = None;
        // Every sign-in whose lease it took last and whose refresh is held up at Verys.
        let requests = verys.received_token_requests();
        let mut held: Vec<usize> = requests
            .get(baseline..)
            .unwrap_or_default()
            .iter()
            .filter(|request| request.grant_type.as_deref() == Some("refresh_token"))
            .filter_map(|request| {
                request
                    .param("client_id")?
                    .strip_prefix("fleet-")?
                    .parse()
                    .ok()
            })
            .filter(|index| holders.get(&key(*index)) == Some(&replica))
            .collect();
        held.sort_unstable();
        held.dedup();
        Some((replica, held))
    });
    verys.set_response_delay("/token", None);
    killed
}

// The replica's side.

/// Redis, and a line `LEASED key` on stdout whenever this replica takes a lease: how the
/// harness knows whom to kill.
struct Announced {
    inner: RedisStore,
}

impl AsyncTokenStore for Announced {
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
        AsyncTokenStore::load(&self.inner, key)
    }

    fn replace<'a>(
        &'a self,
        key: &'a str,
        expected: u64,
        version: u64,
        value: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        AsyncTokenStore::replace(&self.inner, key, expected, version, value)
    }

    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        AsyncTokenStore::remove(&self.inner, key)
    }

    fn try_lease<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let taken = AsyncTokenStore::try_lease(&self.inner, key, owner, lease).await;
            if matches!(taken, Ok(true)) {
                println!("LEASED {key}");
            }
            taken
        })
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        AsyncTokenStore::release(&self.inner, key, owner)
    }
}

#[derive(Default)]
struct Tally {
    served: usize,
    invalid: usize,
    crossed: usize,
    store_errors: usize,
    signed_out: usize,
    hangs: usize,
    store_error_times: Vec<(u128, String)>,
    tokens: HashSet<String>,
    errors: Vec<String>,
}

/// A replica: run by the harness as `verys-load replica`, configured by `VERYS_LOAD_REPLICA`.
/// Prints `READY`, has its tasks ask for tokens until a line (or the end) on stdin, then prints
/// its counts.
///
/// # Panics
///
/// If it is not run by the harness, or its sign-ins cannot be read at start.
pub fn replica() {
    let config = std::env::var("VERYS_LOAD_REPLICA").expect("run by the fleet harness");
    let [issuer, url, sign_ins, tasks, lease_ms, pause_ms] =
        config.split('|').collect::<Vec<_>>()[..]
    else {
        panic!("VERYS_LOAD_REPLICA is issuer|redis url|sign-ins|tasks|lease ms|pause ms");
    };
    let number = |text: &str| -> usize { text.parse().expect("a number") };
    let (sign_ins, tasks) = (number(sign_ins), number(tasks));
    let lease = Duration::from_millis(number(lease_ms) as u64);
    let pause = Duration::from_millis(number(pause_ms) as u64);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("the replica's runtime");
    runtime.block_on(async move {
        let store: Arc<dyn AsyncTokenStore> = Arc::new(Announced {
            inner: RedisStore::open(url).expect("the store"),
        });
        let verifier = Verifier::builder(issuer)
            .leeway(Duration::ZERO)
            .build_async()
            .expect("a verifier");
        let mut managers = Vec::new();
        for index in 0..sign_ins {
            let manager = TokenManager::from_store_async(
                client(issuer, index),
                Arc::clone(&store),
                &key(index),
            )
            .await
            .expect("the stored sign-in");
            let manager = manager.lease(lease).on_refresh(move |tokens| {
                // Every successful refresh, from every replica (the killed one's too, up to its
                // death): the expiries.
                println!(
                    "REFRESHED {index} {}",
                    fingerprint(tokens.access_token().expose_secret())
                );
            });
            managers.push(Arc::new(manager));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let tallies: Arc<Vec<Mutex<Tally>>> = Arc::new(
            (0..sign_ins)
                .map(|_| Mutex::new(Tally::default()))
                .collect(),
        );
        println!("READY");
        let mut handles = Vec::new();
        for task in 0..tasks {
            let index = task % sign_ins;
            let (manager, stop, tallies) = (
                Arc::clone(&managers[index]),
                Arc::clone(&stop),
                Arc::clone(&tallies),
            );
            let verifier = verifier.clone();
            handles.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let outcome = tokio::time::timeout(HANG_LIMIT, manager.access_token()).await;
                    let verified = match &outcome {
                        Ok(Ok(token)) => Some(verifier.verify(token.expose_secret()).await),
                        _ => None,
                    };
                    {
                        let mut tally = tallies[index].lock().unwrap_or_else(|p| p.into_inner());
                        match (outcome, verified) {
                            (Ok(Ok(token)), Some(verified)) => {
                                tally.served += 1;
                                tally.tokens.insert(fingerprint(token.expose_secret()));
                                match verified {
                                    Ok(claims) if belongs(&claims, index) => {}
                                    Ok(_) => tally.crossed += 1,
                                    Err(_) => tally.invalid += 1,
                                }
                            }
                            (Ok(Err(Error::Store(error))), _) => {
                                tally.store_errors += 1;
                                tally
                                    .store_error_times
                                    .push((unix_millis(), error.kind.to_string()));
                            }
                            (Ok(Err(Error::SignedOut)), _) => tally.signed_out += 1,
                            (Ok(Err(error)), _) => tally.errors.push(format!("{error:?}")),
                            (Err(_), _) => tally.hangs += 1,
                            (Ok(Ok(_)), None) => {}
                        }
                    }
                    tokio::time::sleep(pause).await;
                }
            }));
        }
        // Any line, or the end of stdin (the harness gone), stops the tasks.
        let _ = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        })
        .await;
        stop.store(true, Ordering::Relaxed);
        for handle in handles {
            let _ = handle.await;
        }
        for (index, tally) in tallies.iter().enumerate() {
            let tally = tally.lock().unwrap_or_else(|p| p.into_inner());
            println!(
                "COUNTS {index} {} {} {} {} {} {}",
                tally.served,
                tally.invalid,
                tally.crossed,
                tally.store_errors,
                tally.signed_out,
                tally.hangs
            );
            for (at, kind) in &tally.store_error_times {
                println!("STOREERR {at} {kind}");
            }
            let tokens: Vec<&str> = tally.tokens.iter().map(String::as_str).collect();
            println!("TOKENS {index} {}", tokens.join(" "));
            for error in tally.errors.iter().take(5) {
                println!("ERROR {index} {error}");
            }
        }
    });
}
