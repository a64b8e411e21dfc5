//! The axum example in a real browser: headless Chromium, driven through chromedriver (WebDriver),
//! signs in, sees the user, keeps the sign-in across an access token's expiry, and signs out.
//!
//! The app is at `http://127.0.0.1:PORT` and the embedded Verys at `http://localhost:PORT`
//! ([`VerysServer::start_localhost`]): two sites. Verys shows its login page
//! ([`VerysServer::set_login_page`]), where the user signs in, so the return to the app is a
//! navigation started by Verys's page, from another site, and the browser applies `SameSite` as
//! it does in production. With a `Lax` session cookie the sign-in works; with `Strict` the cookie
//! stays behind on the way back and the callback finds no sign-in in progress, which the second
//! test shows. (Without the login page, Verys's instant redirect would leave the navigation the
//! one the test started, and Chromium would send even a `Strict` cookie.)
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them when missing). When
//! either is missing or Chromium cannot start, the tests fail saying so: they are never skipped.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use thirtyfour::prelude::*;
use thirtyfour::{ChromiumLikeCapabilities, SameSite as BrowserSameSite};
use tower_sessions::cookie::SameSite;
use verys_client::ManualClock;
use verys_testing::{ClientRegistration, VerysServer, seed};

// The example is compiled into this test, so its router runs in process; its `main` is not called.
#[allow(dead_code)]
#[path = "../examples/axum_app.rs"]
mod axum_app;

const CLIENT_ID: &str = "axum-example";
const SECRET: &str = "axum-example-secret";
/// The embedded Verys's access token lifetime.
const TOKEN_LIFETIME: u64 = 300;
const INSTALL: &str = "install Debian's chromium and chromium-driver \
                       (apt-get install chromium chromium-driver, as .ci/run does when they are missing)";

/// One Chromium at a time: the tests share a machine's few cores with everything else.
static ONE_BROWSER: Mutex<()> = Mutex::new(());

#[test]
fn signs_in_shows_the_user_refreshes_and_signs_out_with_a_lax_cookie() {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let verys = VerysServer::start_localhost();
    verys.set_login_page(true);
    let clock = Arc::new(ManualClock::at_system_time());
    let app = App::start(&verys, SameSite::Lax, Some(clock.clone()));
    let base = app.base.clone();
    let issuer = verys.issuer();
    assert!(issuer.starts_with("http://localhost:"), "{issuer}");

    app.in_chromium(|driver| async move {
        // /account → /login → Verys's login page, where Ada signs in → the callback, a
        // navigation from Verys's site → /account.
        sign_in_at_verys(&driver, &format!("{base}/account"), &issuer).await?;
        wait_for_url(&driver, &format!("{base}/account")).await?;
        assert_eq!(heading(&driver).await?, "Hello, Ada Lovelace");
        assert_eq!(verys.requests("/authorize"), 2, "the page, then its form");
        assert_eq!(verys.token_requests("authorization_code"), 1);

        driver.goto(format!("{base}/me")).await?;
        let me = body(&driver).await?;
        assert!(me.contains(seed::USER_EMAIL), "{me}");
        assert_eq!(verys.token_requests("refresh_token"), 0);

        // The access token expires: the app's clock and Verys's move together past its lifetime.
        let later = TOKEN_LIFETIME + 60;
        clock.advance(later);
        verys.set_clock_offset(later as i64);
        driver.refresh().await?;
        let me = body(&driver).await?;
        assert!(me.contains(seed::USER_EMAIL), "{me}");
        assert_eq!(driver.current_url().await?.as_str(), format!("{base}/me"));
        assert_eq!(verys.token_requests("refresh_token"), 1);
        assert_eq!(
            verys.token_requests("authorization_code"),
            1,
            "no new sign-in"
        );

        driver.goto(format!("{base}/account")).await?;
        assert_eq!(heading(&driver).await?, "Hello, Ada Lovelace");
        driver
            .find(By::XPath("//button[normalize-space()='Sign out']"))
            .await?
            .click()
            .await?;
        // POST /logout → Verys's end-session → /auth/signed-out (cross-site again) → /.
        wait_for_url(&driver, &format!("{base}/")).await?;
        assert!(body(&driver).await?.contains("Sign in with Verys"));
        assert_eq!(verys.requests("/end-session"), 1);
        assert_eq!(verys.requests("/token/revoke"), 1);

        // Signed out: /account sends the browser to Verys's login page again.
        driver.goto(format!("{base}/account")).await?;
        let url = driver.current_url().await?;
        assert!(
            url.as_str().starts_with(&format!("{issuer}/authorize?")),
            "{url}"
        );
        assert_eq!(heading(&driver).await?, "Sign in to Verys");
        assert_eq!(verys.token_requests("authorization_code"), 1);
        Ok(())
    });
}

#[test]
fn a_strict_cookie_is_not_sent_back_from_verys_and_the_sign_in_fails() {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let verys = VerysServer::start_localhost();
    verys.set_login_page(true);
    let app = App::start(&verys, SameSite::Strict, None);
    let base = app.base.clone();
    let issuer = verys.issuer();

    app.in_chromium(|driver| async move {
        sign_in_at_verys(&driver, &format!("{base}/account"), &issuer).await?;
        wait_for_url_starting(&driver, &format!("{base}/auth/callback?code=")).await?;
        // The browser holds the session cookie of the pending sign-in, set by /login...
        let cookies = driver.get_all_cookies().await?;
        assert!(
            cookies
                .iter()
                .any(|c| c.same_site == Some(BrowserSameSite::Strict)),
            "{cookies:?}"
        );
        // ...but does not send it with the return from Verys, a navigation from another site:
        // the callback finds no sign-in in progress, and no code is exchanged.
        let url = driver.current_url().await?;
        assert!(
            url.as_str()
                .starts_with(&format!("{base}/auth/callback?code=")),
            "{url}"
        );
        assert_eq!(
            body(&driver).await?,
            "sign-in failed: no sign-in is in progress in this session"
        );
        assert_eq!(verys.requests("/authorize"), 2);
        assert_eq!(verys.token_requests("authorization_code"), 0);
        Ok(())
    });
}

/// The example app on 127.0.0.1, registered at `verys`, served by a runtime of its own (which
/// also runs the WebDriver calls).
struct App {
    runtime: tokio::runtime::Runtime,
    base: String,
}

impl App {
    fn start(verys: &VerysServer, same_site: SameSite, clock: Option<Arc<ManualClock>>) -> App {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        verys.register_client(
            ClientRegistration::confidential(CLIENT_ID, SECRET)
                .redirect_uri(format!("{base}/auth/callback"))
                .redirect_uri(format!("{base}/auth/signed-out"))
                .scopes(["openid", "profile", "email"]),
        );
        let app = axum_app::app(axum_app::Config {
            issuer: verys.issuer(),
            client_id: CLIENT_ID.into(),
            client_secret: SECRET.into(),
            app_url: base.clone(),
            same_site,
            clock: clock.map(|clock| clock as Arc<dyn verys_client::Clock>),
        })
        .unwrap();
        runtime.spawn(async move { axum::serve(listener, app).await });
        App { runtime, base }
    }

    /// Runs `walk` in a new headless Chromium, which is closed afterwards, and chromedriver
    /// stopped, whatever happens (a failed assertion included).
    fn in_chromium<F, Fut>(&self, walk: F)
    where
        F: FnOnce(WebDriver) -> Fut,
        Fut: Future<Output = WebDriverResult<()>>,
    {
        let chromedriver = Chromedriver::start();
        self.runtime.block_on(async {
            let driver = chromedriver.session().await;
            if let Err(e) = driver.run_and_quit(walk).await {
                panic!("{e}");
            }
        });
    }
}

/// Opens `url` of the app, which sends the browser to Verys's login page, and signs in there as
/// Ada (the email the page proposes), as a user would.
async fn sign_in_at_verys(driver: &WebDriver, url: &str, issuer: &str) -> WebDriverResult<()> {
    driver.goto(url).await?;
    let at = driver.current_url().await?;
    assert!(
        at.as_str().starts_with(&format!("{issuer}/authorize?")),
        "{at}"
    );
    assert_eq!(heading(driver).await?, "Sign in to Verys");
    let email = driver.find(By::Name("login_hint")).await?;
    assert_eq!(email.value().await?.as_deref(), Some(seed::USER_EMAIL));
    driver
        .find(By::XPath("//button[normalize-space()='Sign in']"))
        .await?
        .click()
        .await
}

/// The page's first heading, or its title.
async fn heading(driver: &WebDriver) -> WebDriverResult<String> {
    match driver.find_all(By::Tag("h1")).await?.first() {
        Some(h1) => h1.text().await,
        None => driver.title().await,
    }
}

/// The page's text, as the user sees it.
async fn body(driver: &WebDriver) -> WebDriverResult<String> {
    driver.find(By::Tag("body")).await?.text().await
}

/// Waits for the navigation a click started to end at `url`.
async fn wait_for_url(driver: &WebDriver, url: &str) -> WebDriverResult<()> {
    wait_for(driver, |now| now == url, url).await
}

/// Waits for the navigation a click started to end at a URL starting with `start`.
async fn wait_for_url_starting(driver: &WebDriver, start: &str) -> WebDriverResult<()> {
    wait_for(driver, |now| now.starts_with(start), start).await
}

async fn wait_for(
    driver: &WebDriver,
    arrived: impl Fn(&str) -> bool,
    expected: &str,
) -> WebDriverResult<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = driver.current_url().await?;
        if arrived(now.as_str()) {
            return Ok(());
        }
        assert!(Instant::now() < deadline, "still at {now}, not {expected}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A chromedriver this test started on a free port of 127.0.0.1, with a fresh Chromium profile
/// directory. Dropping it kills chromedriver (by its own process) and removes the directory.
struct Chromedriver {
    child: Child,
    port: u16,
    chromium: PathBuf,
    dir: PathBuf,
}

impl Chromedriver {
    fn start() -> Chromedriver {
        let chromedriver = in_path("chromedriver")
            .unwrap_or_else(|| panic!("chromedriver is not installed: {INSTALL}"));
        let chromium =
            in_path("chromium").unwrap_or_else(|| panic!("chromium is not installed: {INSTALL}"));
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "verys-client-browser-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("profile")).unwrap();
        let log = fs::File::create(dir.join("chromedriver.log")).unwrap();
        // A port the system just handed out, freed for chromedriver.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
            .port();
        let child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}: {INSTALL}", chromedriver.display()));
        let mut driver = Chromedriver {
            child,
            port,
            chromium,
            dir,
        };
        driver.wait_until_ready();
        driver
    }

    /// Polls chromedriver's `/status` until it answers, for at most 20 seconds.
    fn wait_until_ready(&mut self) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .proxy(None)
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .into();
        let status = format!("http://127.0.0.1:{}/status", self.port);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(exit)) = self.child.try_wait() {
                panic!(
                    "chromedriver exited ({exit}) before it was ready: {}",
                    self.log()
                );
            }
            if let Ok(response) = agent.get(&status).call()
                && response.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer on {status} within 20 s: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A new session: headless Chromium on a fresh profile.
    async fn session(&self) -> WebDriver {
        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary(&self.chromium.to_string_lossy()).unwrap();
        let profile = self.dir.join("profile");
        for arg in [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            // The machine's network may be closed: no connection but to the two servers.
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-proxy-server",
            &format!("--user-data-dir={}", profile.display()),
        ] {
            caps.add_arg(arg).unwrap();
        }
        // This reqwest has no crypto provider of its own (the crate enables
        // `rustls-no-provider`): a user's process installs one, as here.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        WebDriver::builder(format!("http://127.0.0.1:{}", self.port), caps)
            .client(client)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "Chromium ({}) did not start through chromedriver: {e}\n\
                     ({INSTALL})\nchromedriver's log: {}",
                    self.chromium.display(),
                    self.log()
                )
            })
    }

    /// The end of chromedriver's log, for a failure's message.
    fn log(&self) -> String {
        let log = fs::read_to_string(self.dir.join("chromedriver.log")).unwrap_or_default();
        let start = log.len().saturating_sub(4000);
        let start = (start..log.len())
            .find(|&i| log.is_char_boundary(i))
            .unwrap_or(log.len());
        log[start..].to_owned()
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// `name`'s executable in `PATH`.
fn in_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| is_executable(path))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}
