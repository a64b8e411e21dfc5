//! One sign-in shared by several replicas through a real `redis-server` (started here on
//! 127.0.0.1 and stopped by its PID): one refresh per expiry across OS processes, a replica
//! killed holding the lease, a dead refresh token, Redis going away, and blocking threads beside
//! async tasks. The replicas are this test binary run again as the ignored test `replica`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::redis::RedisServer;
use common::{Flavor, sign_in, sign_in_as};
use verys_client::store::redis::RedisStore;
use verys_client::store::{Entry, TokenStore};
use verys_client::{
    Client, Confidential, Error, ManualClock, StoreError, StoreErrorKind, TokenManager, Tokens,
    Verifier,
};
use verys_testing::{VerysServer, seed};

const KEY: &str = "session-1";

fn builder(issuer: &str) -> verys_client::ClientBuilder<Confidential> {
    Client::builder(issuer, seed::CONFIDENTIAL_CLIENT_ID)
        .redirect_uri(seed::REDIRECT_URI)
        .scopes(["openid", "profile", "email"])
        .client_secret(seed::CONFIDENTIAL_CLIENT_SECRET)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A sign-in made five minutes ago, so that its access token is due now, stored under `KEY`.
fn store_an_expiring_sign_in(verys: &VerysServer, redis: &RedisServer) -> Tokens {
    verys.set_clock_offset(-300);
    let clock = Arc::new(ManualClock::new(now() - 300));
    let client = builder(&verys.issuer()).clock(clock).build().unwrap();
    let pending = client.authorize();
    let callback = verys.login(pending.url());
    let tokens = client
        .exchange_code(pending.receive(&callback).unwrap())
        .unwrap();
    verys.set_clock_offset(0);
    let store = Arc::new(RedisStore::open(&redis.url()).unwrap());
    let manager = TokenManager::with_store(client, store, KEY, tokens.clone()).unwrap();
    drop(manager);
    tokens
}

/// What one replica's callers got.
enum Got {
    Token(String),
    Error(String),
}

/// A replica process: `threads` callers (tasks in `async` mode) of one manager.
struct Replica {
    child: Child,
    stdin: ChildStdin,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Replica {
    fn start(verys: &VerysServer, redis: &RedisServer, threads: usize, mode: &str) -> Replica {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "replica",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(
                "VERYS_REPLICA",
                format!("{}|{}|{threads}|{mode}", verys.issuer(), redis.url()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut replica = Replica {
            child,
            stdin,
            lines,
        };
        replica.wait_for("READY");
        replica
    }

    fn wait_for(&mut self, word: &str) {
        // libtest writes `test replica ... ` before the test's first line.
        for line in &mut self.lines {
            if line.unwrap().ends_with(word) {
                return;
            }
        }
        panic!("the replica ended before {word}");
    }

    fn go(&mut self) {
        writeln!(self.stdin, "GO").unwrap();
    }

    fn results(mut self) -> Vec<Got> {
        let mut got = Vec::new();
        for line in &mut self.lines {
            let line = line.unwrap();
            if let Some((_, token)) = line.split_once("TOKEN ") {
                got.push(Got::Token(token.to_owned()));
            } else if let Some((_, error)) = line.split_once("ERROR ") {
                got.push(Got::Error(error.to_owned()));
            }
        }
        assert!(self.child.wait().unwrap().success());
        got
    }
}

/// Run by `Replica::start` in a process of its own: restores the stored sign-in, says READY,
/// and on GO has every caller ask for an access token at once.
#[test]
#[ignore = "a replica process of the multi-process tests, started by them"]
fn replica() {
    let config = std::env::var("VERYS_REPLICA").expect("run by the multi-process tests");
    let [issuer, url, threads, mode] = config.split('|').collect::<Vec<_>>()[..] else {
        panic!("VERYS_REPLICA is issuer|redis url|threads|mode");
    };
    let threads: usize = threads.parse().unwrap();
    let report = |outcome: Result<verys_client::AccessToken, Error>| match outcome {
        Ok(token) => println!("TOKEN {}", token.expose_secret()),
        Err(error) => println!("ERROR {error:?}"),
    };
    let go = || {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).unwrap();
    };
    let store = Arc::new(RedisStore::open(url).unwrap());
    let lease = Duration::from_secs(1);
    if mode == "async" {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let client = builder(issuer).build_async().unwrap();
            let manager = TokenManager::from_store_async(client, store, KEY)
                .await
                .unwrap();
            let manager = Arc::new(manager.lease(lease));
            println!("READY");
            go();
            let tasks: Vec<_> = (0..threads)
                .map(|_| {
                    let manager = Arc::clone(&manager);
                    tokio::spawn(async move { manager.access_token().await })
                })
                .collect();
            for task in tasks {
                report(task.await.unwrap());
            }
        });
    } else {
        let client = builder(issuer).build().unwrap();
        let manager = TokenManager::from_store(client, store, KEY).unwrap();
        let manager = Arc::new(manager.lease(lease));
        println!("READY");
        go();
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (manager, barrier) = (Arc::clone(&manager), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    manager.access_token()
                })
            })
            .collect();
        for handle in handles {
            report(handle.join().unwrap());
        }
    }
}

fn tokens_of(got: Vec<Got>) -> Vec<String> {
    got.into_iter()
        .map(|got| match got {
            Got::Token(token) => token,
            Got::Error(error) => panic!("a caller failed: {error}"),
        })
        .collect()
}

#[test]
fn four_processes_of_eight_threads_refresh_once() {
    let verys = VerysServer::start();
    let redis = RedisServer::start();
    store_an_expiring_sign_in(&verys, &redis);
    let mut replicas: Vec<_> = (0..4)
        .map(|_| Replica::start(&verys, &redis, 8, "blocking"))
        .collect();
    for replica in &mut replicas {
        replica.go();
    }
    let tokens: Vec<String> = replicas
        .into_iter()
        .flat_map(|replica| tokens_of(replica.results()))
        .collect();
    assert_eq!(tokens.len(), 32);
    assert_eq!(
        verys.token_requests("refresh_token"),
        1,
        "one refresh per expiry"
    );
    let verifier = Verifier::builder(verys.issuer()).build().unwrap();
    for token in &tokens {
        let claims = verifier.verify(token).unwrap();
        assert_eq!(claims.sub(), seed::USER_SUB);
    }
    assert!(
        tokens.iter().all(|token| *token == tokens[0]),
        "the one refreshed token"
    );
}

#[test]
fn a_replica_killed_holding_the_lease_is_taken_over_after_it() {
    let verys = VerysServer::start();
    let redis = RedisServer::start();
    store_an_expiring_sign_in(&verys, &redis);
    verys.set_response_delay("/token", Some(Duration::from_secs(3)));
    let mut holder = Replica::start(&verys, &redis, 1, "blocking");
    holder.go();
    let deadline = Instant::now() + Duration::from_secs(20);
    while verys.token_requests("refresh_token") == 0 {
        assert!(Instant::now() < deadline, "the holder never refreshed");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Its refresh is held up at the server, its lease (1 s) in Redis.
    holder.child.kill().unwrap();
    holder.child.wait().unwrap();
    let probe = RedisStore::open(&redis.url()).unwrap();
    assert!(
        !TokenStore::try_lease(&probe, KEY, "probe", Duration::from_millis(1)).unwrap(),
        "the dead holder's lease is still there: the takers wait for it to run out"
    );
    verys.set_response_delay("/token", None);

    let mut takers = Replica::start(&verys, &redis, 4, "blocking");
    takers.go();
    let tokens = tokens_of(takers.results());
    assert_eq!(
        tokens.len(),
        4,
        "no caller saw invalid_grant or any other error"
    );
    let verifier = Verifier::builder(verys.issuer()).build().unwrap();
    for token in &tokens {
        verifier.verify(token).unwrap();
    }
}

#[test]
fn a_dead_refresh_token_ends_the_sign_in_for_every_replica_after_one_request() {
    let verys = VerysServer::start();
    let redis = RedisServer::start();
    store_an_expiring_sign_in(&verys, &redis);
    verys.revoke_all_refresh_tokens();
    let mut replicas: Vec<_> = (0..2)
        .map(|_| Replica::start(&verys, &redis, 4, "blocking"))
        .collect();
    for replica in &mut replicas {
        replica.go();
    }
    for replica in replicas {
        for got in replica.results() {
            match got {
                Got::Error(error) => assert!(
                    error == "SignedOut" || error.contains("invalid_grant"),
                    "{error}"
                ),
                Got::Token(_) => panic!("a revoked sign-in handed out a token"),
            }
        }
    }
    assert_eq!(
        verys.token_requests("refresh_token"),
        1,
        "one request found it dead"
    );
    let store = RedisStore::open(&redis.url()).unwrap();
    let entry = TokenStore::load(&store, KEY).unwrap().unwrap();
    assert_eq!(entry.value, r#""signed_out""#);
    let client = builder(&verys.issuer()).build().unwrap();
    assert!(matches!(
        TokenManager::from_store(client, Arc::new(store), KEY),
        Err(Error::SignedOut)
    ));
}

#[test]
fn async_tasks_and_blocking_threads_share_one_refresh() {
    let verys = VerysServer::start();
    let redis = RedisServer::start();
    store_an_expiring_sign_in(&verys, &redis);
    let mut blocking = Replica::start(&verys, &redis, 8, "blocking");
    let mut tasks = Replica::start(&verys, &redis, 8, "async");
    blocking.go();
    tasks.go();
    let mut tokens = tokens_of(blocking.results());
    tokens.extend(tokens_of(tasks.results()));
    assert_eq!(tokens.len(), 16);
    assert_eq!(verys.token_requests("refresh_token"), 1);
    assert!(tokens.iter().all(|token| *token == tokens[0]));
}

/// Counts the store's calls, to show a fresh access token costs none.
struct Counting {
    inner: RedisStore,
    calls: AtomicUsize,
}

impl TokenStore for Counting {
    fn load(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.load(key)
    }
    fn replace(
        &self,
        key: &str,
        expected: u64,
        version: u64,
        value: &str,
    ) -> Result<bool, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.replace(key, expected, version, value)
    }
    fn remove(&self, key: &str) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.remove(key)
    }
    fn try_lease(&self, key: &str, owner: &str, lease: Duration) -> Result<bool, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.try_lease(key, owner, lease)
    }
    fn release(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.release(key, owner)
    }
}

#[test]
fn a_fresh_access_token_costs_no_round_trip_and_redis_going_away_is_a_typed_error() {
    let verys = VerysServer::start();
    let mut redis = RedisServer::start();
    store_an_expiring_sign_in(&verys, &redis);
    let clock = Arc::new(ManualClock::at_system_time());
    let client = builder(&verys.issuer())
        .clock(clock.clone())
        .build()
        .unwrap();
    let store = Arc::new(Counting {
        inner: RedisStore::open(&redis.url())
            .unwrap()
            .timeout(Duration::from_millis(500)),
        calls: AtomicUsize::new(0),
    });
    let manager = TokenManager::from_store(client, store.clone(), KEY).unwrap();
    let first = manager.access_token().unwrap();
    let refreshing = store.calls.load(Ordering::SeqCst);
    assert_eq!(
        refreshing, 6,
        "from_store's load; then load, lease, load, replace, release"
    );
    for _ in 0..100 {
        assert_eq!(
            manager.access_token().unwrap().expose_secret(),
            first.expose_secret()
        );
    }
    assert_eq!(
        store.calls.load(Ordering::SeqCst),
        refreshing,
        "a fresh token asks nothing"
    );

    // Due again, with Redis gone: a typed error, and nothing sent to Verys.
    redis.kill();
    clock.advance(300);
    verys.set_clock_offset(300);
    let before = verys.token_requests("refresh_token");
    match manager.access_token() {
        Err(Error::Store(error)) => assert!(
            matches!(
                error.kind,
                StoreErrorKind::Unavailable | StoreErrorKind::Timeout
            ),
            "{error}"
        ),
        other => panic!("expected a store error, got {other:?}"),
    }
    assert_eq!(verys.token_requests("refresh_token"), before);

    // Back, with the entry as it was: the refresh goes through and is stored.
    redis.restart();
    // The manager shares a failure for 5 s of its clock before trying again.
    clock.advance(5);
    let stored = TokenStore::load(&store.inner, KEY).unwrap().unwrap();
    let refreshed = manager.access_token().unwrap();
    assert_ne!(refreshed.expose_secret(), first.expose_secret());
    let after = TokenStore::load(&store.inner, KEY).unwrap().unwrap();
    assert_eq!(after.version, stored.version + 1);
}

/// The lease (1 s) runs out while the holder's refresh is held up at the server (2 s): a second
/// replica refreshes too, gets `invalid_grant` as the first one's rotation lands, and reads the
/// first one's tokens back instead of ending the sign-in.
#[test]
fn a_refresh_refused_after_another_replicas_rotation_reads_it_back() {
    let verys = VerysServer::start();
    let redis = RedisServer::start();
    store_an_expiring_sign_in(&verys, &redis);
    let store = RedisStore::open(&redis.url()).unwrap();
    let signed_in = TokenStore::load(&store, KEY).unwrap().unwrap().version;
    verys.set_response_delay("/token", Some(Duration::from_secs(2)));
    let mut first = Replica::start(&verys, &redis, 1, "blocking");
    let mut second = Replica::start(&verys, &redis, 1, "blocking");
    first.go();
    let deadline = Instant::now() + Duration::from_secs(20);
    while verys.token_requests("refresh_token") == 0 {
        assert!(
            Instant::now() < deadline,
            "the first replica never refreshed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    second.go();
    let mut tokens = tokens_of(first.results());
    tokens.extend(tokens_of(second.results()));
    assert_eq!(verys.token_requests("refresh_token"), 2, "both refreshed");
    assert_eq!(tokens.len(), 2);
    assert_eq!(
        tokens[0], tokens[1],
        "the second uses the first one's tokens"
    );
    let entry = TokenStore::load(&store, KEY).unwrap().unwrap();
    assert_eq!(
        entry.version,
        signed_in + 1,
        "the sign-in, then the one rotation that landed"
    );
}

/// The store's own promises, against the real server: a stale writer cannot overwrite, a lease
/// is one owner's until given back or expired.
#[test]
fn the_redis_store_keeps_versions_and_leases() {
    let redis = RedisServer::start();
    let store = RedisStore::open(&redis.url()).unwrap().prefix("probe");
    verys_testing::check_token_store(&store);

    // A session key that ends like another's lease is a session of its own.
    assert!(TokenStore::replace(&store, "k:lease", 0, 1, "a").unwrap());
    let lease = std::time::Duration::from_secs(60);
    assert!(TokenStore::try_lease(&store, "k", "owner", lease).unwrap());
    assert_eq!(
        TokenStore::load(&store, "k:lease")
            .unwrap()
            .map(|entry| entry.version),
        Some(1)
    );
    assert_eq!(TokenStore::load(&store, "k").unwrap(), None);
}

/// What another writer of the store may leave in it: a version past what Lua's doubles count
/// exactly or Redis's integers hold, one that is no number, a value longer than any sign-in.
#[test]
fn the_redis_store_keeps_any_version_and_refuses_what_no_manager_wrote() {
    let redis = RedisServer::start();
    let store = RedisStore::open(&redis.url()).unwrap().prefix("odd");
    let mut raw = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let mut set = |version: &str, value: &str| {
        redis::cmd("HSET")
            .arg("odd:entry:k")
            .arg("version")
            .arg(version)
            .arg("value")
            .arg(value)
            .query::<()>(&mut raw)
            .unwrap();
    };
    for version in [99_999_999_999_999u64, (1 << 53) + 1, u64::MAX - 1] {
        set(&version.to_string(), "a");
        assert!(TokenStore::replace(&store, "k", version, version + 1, "b").unwrap());
        assert_eq!(
            TokenStore::load(&store, "k").unwrap(),
            Some(Entry::new(version + 1, "b".into()))
        );
    }
    let corrupt = |read: Result<Option<Entry>, StoreError>| match read {
        Err(error) => error.kind == StoreErrorKind::Corrupt,
        Ok(_) => false,
    };
    // No number, or a number in another spelling than the store's, which
    // the compare-and-set (comparing the text) would never match.
    for version in ["abc", "07", "+7", " 7", "7.0", ""] {
        set(version, "a");
        assert!(corrupt(TokenStore::load(&store, "k")), "{version:?}");
    }
    let longest = "x".repeat(64 * 1024);
    set("1", &longest);
    assert_eq!(
        TokenStore::load(&store, "k").unwrap().unwrap().value,
        longest
    );
    set("1", &format!("{longest}x"));
    assert!(corrupt(TokenStore::load(&store, "k")));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let read = runtime.block_on(verys_client::store::AsyncTokenStore::load(&store, "k"));
    assert!(corrupt(read), "the async load refuses it too");
}

/// How a sign-in's entry goes away under a manager that holds it.
#[derive(Clone, Copy)]
enum Vanish {
    /// Deleted, as at a sign-out.
    Deleted,
    /// Expired by Redis (`entry_ttl`, as the README recommends).
    Expired,
}

/// Ada's sign-in is held by a manager when its entry vanishes (her refresh
/// token revoked or not); Grace signs in later under the same key, through
/// another manager. Ada's manager, stale, reads Grace's sign-in back: it
/// neither refreshes Ada's tokens and writes them over Grace's, nor writes
/// a sign-out over it.
fn a_stale_manager_meets_a_new_sign_in<F: Flavor>(vanish: Vanish, revoke_old: bool) {
    let verys = VerysServer::start();
    let redis = RedisServer::start();
    let store = Arc::new(RedisStore::open(&redis.url()).unwrap());
    let clock = Arc::new(ManualClock::at_system_time());
    let client = F::build(builder(&verys.issuer()).clock(clock.clone())).unwrap();
    let ada = sign_in::<F, _>(&verys, &client);
    let old = F::managed_with_store(client.clone(), Arc::clone(&store), KEY, ada.clone()).unwrap();
    let mut raw = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let entry_key = format!("verys:entry:{KEY}");
    match vanish {
        Vanish::Deleted => TokenStore::remove(&*store, KEY).unwrap(),
        Vanish::Expired => {
            redis::cmd("PEXPIRE")
                .arg(&entry_key)
                .arg(1)
                .query::<()>(&mut raw)
                .unwrap();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis::cmd("EXISTS")
        .arg(&entry_key)
        .query::<i64>(&mut raw)
        .unwrap()
        == 1
    {
        assert!(Instant::now() < deadline, "the entry never went away");
        std::thread::sleep(Duration::from_millis(5));
    }
    if revoke_old {
        F::revoke(&client, ada.refresh_token().unwrap()).unwrap();
    }
    clock.advance(600);
    verys.set_clock_offset(600);
    let grace = sign_in_as::<F, _>(&verys, &client, seed::OTHER_USER_EMAIL);
    let new =
        F::managed_with_store(client.clone(), Arc::clone(&store), KEY, grace.clone()).unwrap();

    let served = F::managed_access_token(&old).unwrap();
    assert_eq!(
        served.expose_secret(),
        grace.access_token().expose_secret(),
        "the stale manager reads the new sign-in back"
    );
    assert_eq!(old.tokens().sub(), seed::OTHER_USER_SUB);
    assert_eq!(verys.token_requests("refresh_token"), 0);
    let replica = F::managed_from_store(client, store, KEY).unwrap();
    assert_eq!(replica.tokens().sub(), seed::OTHER_USER_SUB);
    assert_eq!(
        F::managed_access_token(&new).unwrap().expose_secret(),
        grace.access_token().expose_secret()
    );
}

fn a_stale_manager_reads_back_a_sign_in_written_after_a_deletion<F: Flavor>() {
    a_stale_manager_meets_a_new_sign_in::<F>(Vanish::Deleted, false);
}

fn a_stale_manager_with_a_revoked_refresh_token_reads_back_a_sign_in_after_a_deletion<F: Flavor>() {
    a_stale_manager_meets_a_new_sign_in::<F>(Vanish::Deleted, true);
}

fn a_stale_manager_reads_back_a_sign_in_written_after_an_expiry<F: Flavor>() {
    a_stale_manager_meets_a_new_sign_in::<F>(Vanish::Expired, false);
}

fn a_stale_manager_with_a_revoked_refresh_token_reads_back_a_sign_in_after_an_expiry<F: Flavor>() {
    a_stale_manager_meets_a_new_sign_in::<F>(Vanish::Expired, true);
}

scenarios!(
    a_stale_manager_reads_back_a_sign_in_written_after_a_deletion,
    a_stale_manager_with_a_revoked_refresh_token_reads_back_a_sign_in_after_a_deletion,
    a_stale_manager_reads_back_a_sign_in_written_after_an_expiry,
    a_stale_manager_with_a_revoked_refresh_token_reads_back_a_sign_in_after_an_expiry,
);

/// A lease or an entry lifetime of any length, `Duration::MAX` included (a
/// lease set from the longest client timeout saturates there), is one Redis
/// takes: the longest is clamped to what Redis accepts, where it refused it
/// and no refresh could ever take the lease.
#[test]
fn the_longest_lease_and_entry_lifetime_are_taken() {
    let redis = RedisServer::start();
    let store = RedisStore::open(&redis.url())
        .unwrap()
        .prefix("long")
        .entry_ttl(Duration::MAX);
    assert_eq!(
        TokenStore::try_lease(&store, "k", "a", Duration::MAX),
        Ok(true)
    );
    assert_eq!(
        TokenStore::try_lease(&store, "k", "b", Duration::MAX),
        Ok(false)
    );
    assert_eq!(TokenStore::replace(&store, "k", 0, 1, "v"), Ok(true));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let leased = runtime.block_on(verys_client::store::AsyncTokenStore::try_lease(
        &store,
        "k2",
        "a",
        Duration::MAX,
    ));
    assert_eq!(leased, Ok(true));
    let mut raw = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    for key in ["long:lease:k", "long:lease:k2", "long:entry:k"] {
        let left: i64 = redis::cmd("PTTL").arg(key).query(&mut raw).unwrap();
        assert!(left > 1 << 50, "{key} expires in {left} ms");
    }
}

/// End to end: a manager whose lease is the longest refreshes through
/// Redis, once.
#[test]
fn a_manager_with_the_longest_lease_refreshes_through_redis() {
    let verys = VerysServer::start();
    let redis = RedisServer::start();
    store_an_expiring_sign_in(&verys, &redis);
    let client = builder(&verys.issuer()).build().unwrap();
    let store = Arc::new(RedisStore::open(&redis.url()).unwrap());
    let manager = TokenManager::from_store(client, store, KEY)
        .unwrap()
        .lease(Duration::MAX);
    manager.access_token().unwrap();
    assert_eq!(verys.token_requests("refresh_token"), 1);
}

/// The compare-and-set every refresh relies on, through a real `redis-server`: writers that
/// read the same version race to replace it and exactly one wins; a write at a stale (or
/// future) version is refused and leaves the winner's value as it was, read back whole. Blocking
/// threads, each with a connection of its own, then async writers.
#[test]
fn of_writers_that_read_the_same_version_only_one_replaces_the_entry() {
    const WRITERS: usize = 8;
    let redis = RedisServer::start();
    let open = || RedisStore::open(&redis.url()).unwrap().prefix("race");
    let (first, second) = (open(), open());
    assert!(TokenStore::replace(&first, "k", 0, 1, "sign-in").unwrap());
    let read = |store: &RedisStore| TokenStore::load(store, "k").unwrap().unwrap();
    let version = read(&first).version;
    assert_eq!(read(&second).version, version);
    assert!(TokenStore::replace(&first, "k", version, version + 1, "first").unwrap());
    assert!(
        !TokenStore::replace(&second, "k", version, version + 1, "second").unwrap(),
        "the second writer read a version that is gone"
    );
    let kept = Entry::new(version + 1, "first".into());
    assert_eq!(read(&second), kept);
    for stale in [0, version, version + 2, 99] {
        assert!(
            !TokenStore::replace(&second, "k", stale, stale + 1, "stale").unwrap(),
            "{stale}"
        );
        assert_eq!(
            read(&first),
            kept,
            "a refused write at {stale} changed the entry"
        );
    }

    let barrier = Arc::new(Barrier::new(WRITERS));
    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let (store, barrier) = (open(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let seen = TokenStore::load(&store, "k").unwrap().unwrap().version;
                barrier.wait();
                let won = TokenStore::replace(&store, "k", seen, seen + 1, &format!("writer {i}"))
                    .unwrap();
                (i, seen, won)
            })
        })
        .collect();
    let outcomes: Vec<(usize, u64, bool)> =
        writers.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(outcomes.iter().all(|&(_, seen, _)| seen == version + 1));
    let winners: Vec<usize> = outcomes
        .iter()
        .filter(|&&(_, _, won)| won)
        .map(|&(i, _, _)| i)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let kept = Entry::new(version + 2, format!("writer {}", winners[0]));
    assert_eq!(read(&first), kept);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use verys_client::store::AsyncTokenStore;
        let (a, b) = (open(), open());
        let seen = AsyncTokenStore::load(&b, "k")
            .await
            .unwrap()
            .unwrap()
            .version;
        assert_eq!(seen, version + 2);
        let (won_a, won_b) = tokio::join!(
            AsyncTokenStore::replace(&a, "k", seen, seen + 1, "task a"),
            AsyncTokenStore::replace(&b, "k", seen, seen + 1, "task b"),
        );
        let (won_a, won_b) = (won_a.unwrap(), won_b.unwrap());
        assert!(won_a != won_b, "a: {won_a}, b: {won_b}");
        let winner = if won_a { "task a" } else { "task b" };
        let kept = Entry::new(seen + 1, winner.into());
        for stale in [0, seen, seen + 2] {
            assert!(
                !AsyncTokenStore::replace(&b, "k", stale, stale + 1, "stale")
                    .await
                    .unwrap()
            );
            assert_eq!(
                AsyncTokenStore::load(&a, "k").await.unwrap(),
                Some(kept.clone())
            );
        }
    });
}
