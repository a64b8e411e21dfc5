//! The web sign-in (`verys_client::sign_in`) through its real routes: an axum app on
//! 127.0.0.1 next to the embedded Verys, walked by `testing::Browser` (redirects followed,
//! cookies kept). Each behaviour runs on the in-process token store and on Redis; the last
//! tests run two instances of the app sharing Redis for tokens and sessions, with no sticky
//! routing.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use common::redis::RedisServer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{SessionManagerLayer, SessionStore};
use verys_client::sign_in::{SignIn, SignedIn};
use verys_client::store::redis::RedisStore;
use verys_client::store::{AsyncTokenStore, Entry, MemoryStore};
use verys_client::transport::BoxFuture;
use verys_client::{Client, ManualClock, StoreError};
use verys_testing::{Browser, ClientRegistration, VerysServer, seed};

const CLIENT_ID: &str = "web-app";
const SECRET: &str = "web-app-secret";

/// A token store that knows which keys hold an entry: written and not removed.
struct Tracking {
    inner: Arc<dyn AsyncTokenStore>,
    live: Mutex<HashSet<String>>,
}

impl Tracking {
    fn new(inner: Arc<dyn AsyncTokenStore>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            live: Mutex::new(HashSet::new()),
        })
    }

    fn live(&self) -> usize {
        self.live.lock().unwrap().len()
    }
}

impl AsyncTokenStore for Tracking {
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
        self.inner.load(key)
    }
    fn replace<'a>(
        &'a self,
        key: &'a str,
        expected: u64,
        version: u64,
        value: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let written = self.inner.replace(key, expected, version, value).await?;
            if written {
                self.live.lock().unwrap().insert(key.to_owned());
            }
            Ok(written)
        })
    }
    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.inner.remove(key).await?;
            self.live.lock().unwrap().remove(key);
            Ok(())
        })
    }
    fn try_lease<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.inner.try_lease(key, owner, lease)
    }
    fn release<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.release(key, owner)
    }
}

/// Where an app keeps its users' tokens.
#[derive(Clone, Copy, Debug)]
enum Tokens {
    Memory,
    Redis,
}

/// The embedded Verys, its clock, a Redis, and the apps started next to them.
struct World {
    verys: VerysServer,
    clock: Arc<ManualClock>,
    redis: RedisServer,
    runtime: tokio::runtime::Runtime,
}

impl World {
    fn new() -> World {
        World {
            verys: VerysServer::start(),
            clock: Arc::new(ManualClock::at_system_time()),
            redis: RedisServer::start(),
            runtime: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
        }
    }

    /// A bound listener and its base URL.
    fn bind(&self) -> (tokio::net::TcpListener, String) {
        let listener = self
            .runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        (listener, base)
    }

    /// The sign-in of an app whose callback is at `callback_base`, on `tokens`.
    fn sign_in(&self, callback_base: &str, tokens: Arc<dyn AsyncTokenStore>) -> SignIn {
        self.verys.register_client(
            ClientRegistration::confidential(CLIENT_ID, SECRET)
                .redirect_uri(format!("{callback_base}/auth/callback"))
                .redirect_uri(format!("{callback_base}/auth/signed-out"))
                .scopes(["openid", "profile", "email"]),
        );
        let client = Client::builder(self.verys.issuer(), CLIENT_ID)
            .client_secret(SECRET)
            .host(callback_base)
            .scopes(["openid", "profile", "email"])
            .clock(self.clock.clone())
            .build_async()
            .unwrap();
        SignIn::new(client).store(tokens)
    }

    /// Serves the app of `sign_in` with sessions in `sessions` on `listener`.
    fn serve<S: SessionStore + Clone>(
        &self,
        listener: tokio::net::TcpListener,
        sign_in: SignIn,
        sessions: S,
    ) {
        let app = Router::new()
            .route("/", get(|| async { "home" }))
            .route("/account", get(account))
            .route("/reports/{id}", get(report))
            .merge(sign_in.routes())
            .layer(SessionManagerLayer::new(sessions).with_same_site(SameSite::Lax))
            .with_state(sign_in);
        self.runtime
            .spawn(async move { axum::serve(listener, app).await });
    }

    /// A token store of the kind given, tracked.
    fn tokens(&self, kind: Tokens) -> Arc<Tracking> {
        match kind {
            Tokens::Memory => Tracking::new(Arc::new(MemoryStore::new())),
            Tokens::Redis => Tracking::new(Arc::new(RedisStore::open(&self.redis.url()).unwrap())),
        }
    }

    /// One app on its own address, sessions in its memory, tokens in `kind`.
    fn app(&self, kind: Tokens) -> (String, Arc<Tracking>) {
        let (listener, base) = self.bind();
        let tokens = self.tokens(kind);
        let sign_in = self.sign_in(&base, tokens.clone());
        self.serve(listener, sign_in, tower_sessions::MemoryStore::default());
        (base, tokens)
    }

    /// Moves Verys's and the apps' clocks forward together.
    fn advance(&self, seconds: u64) {
        self.clock.advance(seconds);
        let offset = verys_client::Clock::now(&*self.clock) as i64
            - std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
        self.verys.set_clock_offset(offset);
    }
}

async fn account(user: SignedIn) -> String {
    format!(
        "Hello, {} ({})",
        user.claims().name().unwrap_or("?"),
        user.access_token().expose_secret().len()
    )
}

async fn report(Path(id): Path<String>, user: SignedIn) -> String {
    format!("report {id} for {}", user.claims().name().unwrap_or("?"))
}

/// Runs `scenario` on the in-process token store and on Redis.
fn on_both_stores(scenario: impl Fn(&World, Tokens)) {
    for kind in [Tokens::Memory, Tokens::Redis] {
        let world = World::new();
        scenario(&world, kind);
    }
}

#[test]
fn a_sign_in_returns_to_the_page_it_started_from() {
    on_both_stores(|world, kind| {
        let (base, _) = world.app(kind);
        let browser = Browser::new(&world.verys);
        let page = browser.get(&format!("{base}/reports/7?tab=2"));
        assert_eq!(page.url(), format!("{base}/reports/7?tab=2"), "{kind:?}");
        assert_eq!(page.body(), "report 7 for Ada Lovelace");
        let visited = page.visited();
        assert_eq!(
            visited[1],
            format!("{base}/login?return_to=%2Freports%2F7%3Ftab%3D2")
        );
    });
}

/// Every spelling of another site as `return_to` lands on the app's `/`.
#[test]
fn a_return_to_another_site_in_any_spelling_lands_on_the_home_page() {
    let world = World::new();
    let (base, _) = world.app(Tokens::Memory);
    for hostile in [
        "%2F%2Fevil.example",
        "https%3A%2F%2Fevil.example",
        "https://evil.example/",
        "%2F%5Cevil.example",
        "/%5Cevil.example",
        "%5C%5Cevil.example",
        "%2F%2F%2Fevil.example",
        "%2F%09%2Fevil.example",
        "%2F%0A%2Fevil.example",
        "%2F%252F%252Fevil.example",
        "%2F%255Cevil.example",
        "javascript%3Aalert(1)",
        "evil.example",
    ] {
        let browser = Browser::new(&world.verys);
        let page = browser.get(&format!("{base}/login?return_to={hostile}"));
        assert_eq!(page.url(), format!("{base}/"), "{hostile}");
        assert_eq!(page.body(), "home", "{hostile}");
    }
}

/// The callback of a sign-in, without following it.
fn callback_of_a_sign_in(browser: &Browser, base: &str) -> String {
    let login = browser.get_once(&format!("{base}/login"));
    let authorize = login.header("location").unwrap().to_owned();
    let back = browser.get_once(&authorize);
    assert_eq!(back.status(), 302, "{}", back.body());
    back.header("location").unwrap().to_owned()
}

/// `url` with its `state` parameter replaced.
fn with_state(url: &str, state: &str) -> String {
    let mut url = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" { state.into() } else { v };
            (k.into_owned(), v.into_owned())
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.into()
}

/// A forged callback (another state), the genuine one replayed after it, a stale one (its
/// sign-in replaced by a second in the same session) and one in a session that lost its
/// pending sign-in are all refused with a 400 before any token request.
#[test]
fn forged_replayed_stale_and_orphan_callbacks_are_refused() {
    on_both_stores(|world, kind| {
        let (base, tokens) = world.app(kind);
        let browser = Browser::new(&world.verys);
        let callback = callback_of_a_sign_in(&browser, &base);
        let forged = browser.get(&with_state(&callback, "forged"));
        assert_eq!(forged.status(), 400, "{kind:?}: {}", forged.body());
        let replayed = browser.get(&callback);
        assert_eq!(replayed.status(), 400);
        assert!(replayed.body().contains("no sign-in is in progress"));

        let stale = callback_of_a_sign_in(&browser, &base);
        let _second = callback_of_a_sign_in(&browser, &base);
        let refused = browser.get(&stale);
        assert_eq!(refused.status(), 400, "{}", refused.body());

        // A browser whose session lost the pending sign-in (or never had one).
        let orphan = callback_of_a_sign_in(&browser, &base);
        let elsewhere = Browser::new(&world.verys).get(&orphan);
        assert_eq!(elsewhere.status(), 400);
        assert!(elsewhere.body().contains("no sign-in is in progress"));
        assert_eq!(world.verys.token_requests("authorization_code"), 0);
        assert_eq!(tokens.live(), 0);
    });
}

#[test]
fn two_browsers_sign_in_two_users() {
    on_both_stores(|world, kind| {
        let (base, tokens) = world.app(kind);
        let ada = Browser::new(&world.verys);
        let grace = Browser::new(&world.verys).as_user(seed::OTHER_USER_EMAIL);
        let account = format!("{base}/account");
        assert!(ada.get(&account).body().starts_with("Hello, Ada Lovelace"));
        assert!(
            grace
                .get(&account)
                .body()
                .starts_with("Hello, Grace Hopper")
        );
        assert!(
            ada.get(&account).body().starts_with("Hello, Ada Lovelace"),
            "{kind:?}"
        );
        assert_eq!(tokens.live(), 2);
    });
}

/// A script's request (no HTML in `Accept`) without a sign-in gets 401, not a redirect; a
/// browser's navigation is sent to sign in.
#[test]
fn a_script_gets_401_and_a_browser_a_sign_in() {
    let world = World::new();
    let (base, _) = world.app(Tokens::Memory);
    let browser = Browser::new(&world.verys);
    let script = browser.fetch(&format!("{base}/account"));
    assert_eq!(script.status(), 401);
    assert_eq!(script.header("location"), None);
    let navigation = browser.get_once(&format!("{base}/account"));
    assert_eq!(navigation.status(), 303);
    assert_eq!(
        navigation.header("location"),
        Some("/login?return_to=%2Faccount")
    );
    browser.get(&format!("{base}/account"));
    assert_eq!(browser.fetch(&format!("{base}/account")).status(), 200);
}

/// Many requests of one session at the expiry of its access token: one refresh reaches Verys,
/// and every request is served the new token.
#[test]
fn an_expiry_costs_one_refresh_for_many_concurrent_requests() {
    on_both_stores(|world, kind| {
        let (base, _) = world.app(kind);
        let browser = Arc::new(Browser::new(&world.verys));
        let before = browser.get(&format!("{base}/account")).body().to_owned();
        world.advance(600);
        let barrier = Arc::new(Barrier::new(8));
        let pages: Vec<_> = (0..8)
            .map(|_| {
                let (browser, barrier, url) = (
                    Arc::clone(&browser),
                    Arc::clone(&barrier),
                    format!("{base}/account"),
                );
                std::thread::spawn(move || {
                    barrier.wait();
                    browser.fetch(&url)
                })
            })
            .collect();
        for page in pages {
            let page = page.join().unwrap();
            assert_eq!(page.status(), 200, "{kind:?}: {}", page.body());
            assert!(page.body().starts_with("Hello, Ada Lovelace"));
        }
        assert_eq!(world.verys.token_requests("refresh_token"), 1, "{kind:?}");
        assert!(before.starts_with("Hello, Ada Lovelace"));
    });
}

/// A refresh token Verys no longer honours ends the sign-in: the browser is sent to sign in
/// again (a script gets 401), not shown an error, and the stored sign-in is removed.
#[test]
fn a_revoked_refresh_token_leads_to_a_new_sign_in() {
    on_both_stores(|world, kind| {
        let (base, tokens) = world.app(kind);
        let browser = Browser::new(&world.verys);
        browser.get(&format!("{base}/account"));
        assert_eq!(tokens.live(), 1);
        world.verys.revoke_all_refresh_tokens();
        world.advance(600);
        let page = browser.get_once(&format!("{base}/account"));
        assert_eq!(page.status(), 303, "{kind:?}: {}", page.body());
        assert_eq!(page.header("location"), Some("/login?return_to=%2Faccount"));
        assert_eq!(tokens.live(), 0, "the ended sign-in is removed");
        assert_eq!(browser.fetch(&format!("{base}/account")).status(), 401);
        let again = browser.get(&format!("{base}/account"));
        assert_eq!(again.status(), 200);
        assert!(again.body().starts_with("Hello, Ada Lovelace"));
        assert_eq!(tokens.live(), 1);
    });
}

/// Sign-out revokes, removes the stored sign-in and ends the session: a second tab (the same
/// cookies) is signed out too; Verys's return is checked and lands on `/`.
#[test]
fn a_sign_out_ends_the_sign_in_everywhere() {
    on_both_stores(|world, kind| {
        let (base, tokens) = world.app(kind);
        let browser = Browser::new(&world.verys);
        browser.get(&format!("{base}/account"));
        let home = browser.post(&format!("{base}/logout"), &[]);
        assert_eq!(
            home.url(),
            format!("{base}/"),
            "{kind:?}: {:?}",
            home.visited()
        );
        assert!(
            home.visited()[2].starts_with(&format!("{base}/auth/signed-out?state=")),
            "{:?}",
            home.visited()
        );
        assert_eq!(world.verys.requests("/token/revoke"), 1);
        assert_eq!(tokens.live(), 0);
        let tab = browser.fetch(&format!("{base}/account"));
        assert_eq!(tab.status(), 401);
        // A GET cannot sign out: only the POST route exists.
        assert_eq!(browser.fetch(&format!("{base}/logout")).status(), 405);
    });
}

/// The return from Verys's end-session with another state than the sign-out's is refused.
#[test]
fn a_forged_return_from_the_sign_out_is_refused() {
    let world = World::new();
    let (base, _) = world.app(Tokens::Memory);
    let browser = Browser::new(&world.verys);
    browser.get(&format!("{base}/account"));
    let logout = browser.post_once(&format!("{base}/logout"), &[]);
    let end_session = logout.header("location").unwrap().to_owned();
    assert!(end_session.starts_with(&format!("{}/end-session?", world.verys.issuer())));
    let forged = browser.get(&format!("{base}/auth/signed-out?state=forged"));
    assert_eq!(forged.status(), 400, "{}", forged.body());
}

/// Two instances of the app behind no sticky routing, sharing Redis for tokens and sessions:
/// a sign-in started on one finishes on the other, a refresh on one is used by the other, a
/// sign-out on one is seen by the other.
#[test]
fn two_instances_share_sign_ins_refreshes_and_sign_outs() {
    let world = World::new();
    let (listener_a, a) = world.bind();
    let (listener_b, b) = world.bind();
    let sessions = world.runtime.block_on(async {
        use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Pool};
        let pool = Pool::new(
            Config::from_url(&world.redis.url()).unwrap(),
            None,
            None,
            None,
            2,
        )
        .unwrap();
        pool.init().await.unwrap();
        tower_sessions_redis_store::RedisStore::new(pool)
    });
    let tokens = world.tokens(Tokens::Redis);
    // Verys sends every callback to B, whichever instance started the sign-in.
    world.serve(
        listener_a,
        world.sign_in(&b, tokens.clone()),
        sessions.clone(),
    );
    world.serve(listener_b, world.sign_in(&b, tokens.clone()), sessions);

    let browser = Browser::new(&world.verys);
    let page = browser.get(&format!("{a}/login?return_to=/account"));
    let visited = page.visited();
    assert!(visited[0].starts_with(&a));
    assert!(
        visited[2].starts_with(&format!("{b}/auth/callback?")),
        "{visited:?}"
    );
    assert_eq!(page.status(), 200, "{}", page.body());
    assert!(page.body().starts_with("Hello, Ada Lovelace"));
    assert!(
        browser
            .get(&format!("{a}/account"))
            .body()
            .starts_with("Hello, Ada Lovelace")
    );

    world.advance(600);
    let on_a = browser.fetch(&format!("{a}/account"));
    assert_eq!(on_a.status(), 200, "{}", on_a.body());
    let on_b = browser.fetch(&format!("{b}/account"));
    assert_eq!(on_b.status(), 200, "{}", on_b.body());
    assert_eq!(
        world.verys.token_requests("refresh_token"),
        1,
        "B used A's refresh"
    );

    browser.post_once(&format!("{a}/logout"), &[]);
    assert_eq!(browser.fetch(&format!("{b}/account")).status(), 401);
    assert_eq!(tokens.live(), 0);
}

/// `retry_after` reaches the managers of the sign-ins, those made at the callback and those
/// read back from the store (here, by a second instance sharing the sessions and tokens):
/// with no pause, the request after a failed refresh tries again, where by default the
/// failure is answered again for 5 s.
#[test]
fn the_pause_after_a_failed_refresh_is_the_sign_ins_setting() {
    for (pause, elsewhere) in [
        (None, false),
        (Some(Duration::ZERO), false),
        (Some(Duration::ZERO), true),
    ] {
        let world = World::new();
        let (listener_a, a) = world.bind();
        let (listener_b, b) = world.bind();
        let (tokens, sessions) = (
            world.tokens(Tokens::Memory),
            tower_sessions::MemoryStore::default(),
        );
        for listener in [listener_a, listener_b] {
            let mut sign_in = world.sign_in(&a, tokens.clone());
            if let Some(pause) = pause {
                sign_in = sign_in.retry_after(pause);
            }
            world.serve(listener, sign_in, sessions.clone());
        }
        let browser = Browser::new(&world.verys);
        assert_eq!(browser.get(&format!("{a}/account")).status(), 200);
        // On B, the sign-in made on A is read from the store.
        let account = format!("{}/account", if elsewhere { &b } else { &a });
        world.advance(600);
        let unavailable = verys_testing::RawResponse::new(503, "text/html", "<h1>503</h1>");
        world.verys.override_response("/token", Some(unavailable));
        let failed = browser.fetch(&account);
        assert_eq!(
            failed.status(),
            503,
            "{pause:?} {elsewhere}: {}",
            failed.body()
        );
        world.verys.override_response("/token", None);
        let next = browser.fetch(&account);
        let case = format!("{pause:?}, elsewhere {elsewhere}: {}", next.body());
        if pause.is_some() {
            assert_eq!(next.status(), 200, "{case}");
            assert_eq!(world.verys.token_requests("refresh_token"), 2, "{case}");
        } else {
            assert_eq!(next.status(), 503, "{case}");
            assert_eq!(world.verys.token_requests("refresh_token"), 1, "{case}");
        }
    }
}

/// The session id a browser had before signing in (one an attacker may have planted) is not
/// the signed-in session's: the callback sets a new one.
#[test]
fn a_sign_in_cycles_the_session_id() {
    let world = World::new();
    let (base, _) = world.app(Tokens::Memory);
    let browser = Browser::new(&world.verys);
    let login = browser.get_once(&format!("{base}/login"));
    let before = login
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let callback = {
        let authorize = login.header("location").unwrap().to_owned();
        browser
            .get_once(&authorize)
            .header("location")
            .unwrap()
            .to_owned()
    };
    let back = browser.get_once(&callback);
    assert_eq!(back.status(), 303, "{}", back.body());
    let after = back
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(before.starts_with("id=") && after.starts_with("id="));
    assert_ne!(before, after);
}
