//! The examples, walked end to end: each runs on 127.0.0.1 next to an embedded Verys and is
//! driven over real HTTP, by `testing::Browser` where a browser would be (following redirects
//! between the app and Verys, keeping cookies) and by plain requests for the API.

use std::time::Duration;

use verys_client::{Async, Verifier};
use verys_testing::{Browser, ClientRegistration, IdTokenFault, Page, VerysServer, seed};

// The examples are compiled into this test, so their routers run in process. Their `main`s,
// and what only `main` uses, are not called here.
#[allow(dead_code)]
#[path = "../examples/axum_app.rs"]
mod axum_app;
#[allow(dead_code)]
#[path = "../examples/cli_login.rs"]
mod cli_login;
#[allow(dead_code)]
#[path = "../examples/protected_api.rs"]
mod protected_api;

/// A runtime and a bound 127.0.0.1 listener, so that an app can be told its own address before
/// it serves; the app stops when the runtime is dropped.
fn bind() -> (tokio::runtime::Runtime, tokio::net::TcpListener, String) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    (runtime, listener, base)
}

fn serve(runtime: &tokio::runtime::Runtime, listener: tokio::net::TcpListener, app: axum::Router) {
    runtime.spawn(async move { axum::serve(listener, app).await });
}

/// `url` with its `state` parameter replaced: a forged callback.
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

mod axum_app_walk {
    use super::*;

    const CLIENT_ID: &str = "axum-example";
    const SECRET: &str = "axum-example-secret";

    /// The app on its own address, registered at `verys` with its own redirect URIs.
    fn start(verys: &VerysServer) -> (tokio::runtime::Runtime, String) {
        let (runtime, listener, base) = bind();
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
            same_site: tower_sessions::cookie::SameSite::Lax,
            clock: None,
        })
        .unwrap();
        serve(&runtime, listener, app);
        (runtime, base)
    }

    #[test]
    fn signs_in_shows_the_user_calls_userinfo_and_signs_out() {
        let verys = VerysServer::start();
        let (_runtime, base) = start(&verys);
        let browser = Browser::new(&verys);

        let account = browser.get_once(&format!("{base}/account"));
        assert_eq!(account.status(), 303);
        assert_eq!(
            account.header("location"),
            Some("/login?return_to=%2Faccount")
        );

        let account = browser.get(&format!("{base}/account"));
        assert_eq!(account.status(), 200, "{}", account.body());
        assert_eq!(account.url(), format!("{base}/account"));
        let visited = account.visited();
        assert_eq!(visited.len(), 5, "{visited:?}");
        assert!(visited[2].starts_with(&format!("{}/authorize?", verys.issuer())));
        assert!(visited[3].starts_with(&format!("{base}/auth/callback?code=")));
        assert!(
            account.body().contains("Hello, Ada Lovelace"),
            "{}",
            account.body()
        );

        let me = browser.get(&format!("{base}/me"));
        assert_eq!(me.status(), 200, "{}", me.body());
        assert!(me.body().contains(seed::USER_EMAIL), "{}", me.body());
        assert!(me.body().contains(seed::USER_SUB), "{}", me.body());

        let home = browser.post(&format!("{base}/logout"), &[]);
        assert_eq!(verys.requests("/token/revoke"), 1);
        // Verys accepts the ID token hint and sends the browser back with the logout's state,
        // which the app checks before it shows its home page.
        let visited = home.visited();
        assert!(visited[1].starts_with(&format!("{}/end-session?", verys.issuer())));
        assert!(
            visited[2].starts_with(&format!("{base}/auth/signed-out?state=")),
            "{visited:?}"
        );
        assert_eq!(home.url(), format!("{base}/"));
        assert_eq!(home.status(), 200);

        let account = browser.get_once(&format!("{base}/account"));
        assert_eq!(account.status(), 303, "signed out");
    }

    #[test]
    fn each_browser_signs_in_its_own_user() {
        let verys = VerysServer::start();
        let (_runtime, base) = start(&verys);
        let grace = Browser::new(&verys).as_user(seed::OTHER_USER_EMAIL);
        let ada = Browser::new(&verys);
        let account = format!("{base}/account");
        assert!(grace.get(&account).body().contains("Hello, Grace Hopper"));
        assert!(ada.get(&account).body().contains("Hello, Ada Lovelace"));
        assert!(grace.get(&account).body().contains("Hello, Grace Hopper"));
    }

    /// `/login` and Verys, stopping at the redirect back to the app: its callback URL.
    fn callback_of_a_sign_in(browser: &Browser, verys: &VerysServer, base: &str) -> String {
        let login = browser.get_once(&format!("{base}/login"));
        let authorize = login.header("location").unwrap().to_owned();
        assert!(authorize.starts_with(&format!("{}/authorize?", verys.issuer())));
        let back = browser.get_once(&authorize);
        assert_eq!(back.status(), 302, "{}", back.body());
        back.header("location").unwrap().to_owned()
    }

    #[test]
    fn a_forged_or_replayed_callback_is_a_400() {
        let verys = VerysServer::start();
        let (_runtime, base) = start(&verys);
        let browser = Browser::new(&verys);

        let callback = callback_of_a_sign_in(&browser, &verys, &base);
        let refused = browser.get(&with_state(&callback, "forged"));
        assert_eq!(refused.status(), 400, "{}", refused.body());
        assert!(refused.body().contains("state"), "{}", refused.body());

        // The flow state went with the forged callback: the genuine one finds nothing to finish.
        let replayed = browser.get(&callback);
        assert_eq!(replayed.status(), 400, "{}", replayed.body());
        // A callback in a browser that never started a sign-in.
        let stranger = Browser::new(&verys).get(&callback);
        assert_eq!(stranger.status(), 400, "{}", stranger.body());
        assert_eq!(verys.token_requests("authorization_code"), 0);
    }

    #[test]
    fn a_refused_sign_in_is_a_403_and_a_bad_id_token_a_502() {
        let verys = VerysServer::start();
        let (_runtime, base) = start(&verys);

        verys.set_authorize_error(Some(("access_denied".into(), "The user said no".into())));
        let refused = Browser::new(&verys).get(&format!("{base}/login"));
        assert_eq!(refused.status(), 403, "{}", refused.body());
        // The answer is the crate's fixed text, not Verys's description.
        assert!(!refused.body().contains("said no"), "{}", refused.body());
        verys.set_authorize_error(None);

        verys.set_id_token_fault(Some(IdTokenFault::BadSignature));
        let failed = Browser::new(&verys).get(&format!("{base}/login"));
        assert_eq!(failed.status(), 502, "{}", failed.body());
    }
}

mod cli_login_walk {
    use super::*;
    use std::sync::{Arc, mpsc};

    /// A browser that signs in at Verys as `email` and follows the redirect to the CLI's
    /// loopback listener, the callback URL passed through `edit` first. It runs on a thread of
    /// its own, as `sign_in` waits for it, and sends back the page the CLI answered.
    fn browser(
        verys: &Arc<VerysServer>,
        email: &'static str,
        edit: fn(&str) -> String,
    ) -> (impl FnOnce(&str) + use<>, mpsc::Receiver<Page>) {
        let (verys, (pages, page)) = (verys.clone(), mpsc::channel());
        let open = move |url: &str| {
            let url = url.to_owned();
            std::thread::spawn(move || {
                let callback = edit(&verys.login_as(&url, email));
                let _ = pages.send(Browser::new(&verys).get(&callback));
            });
        };
        (open, page)
    }

    #[test]
    fn embedded_mode_prints_the_users_name() {
        let args = ["--embedded", "--timeout", "60"].map(String::from);
        let options = cli_login::Options::parse(args).unwrap();
        let mut out = Vec::new();
        let tokens = cli_login::run(options, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("Signed in as Ada Lovelace"), "{out}");
        assert!(out.contains("Access token expires at "), "{out}");
        assert_eq!(tokens.sub(), seed::USER_SUB);
    }

    #[test]
    fn signs_in_the_user_of_a_running_verys_on_a_loopback_redirect() {
        let verys = Arc::new(VerysServer::start());
        let (open, page) = browser(&verys, seed::OTHER_USER_EMAIL, str::to_owned);
        let mut out = Vec::new();
        let timeout = Duration::from_secs(60);
        let issuer = verys.issuer();
        let tokens =
            cli_login::sign_in(&issuer, seed::PUBLIC_CLIENT_ID, timeout, &mut out, open).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("Signed in as Grace Hopper"), "{out}");
        assert!(
            out.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A"),
            "{out}"
        );
        assert_eq!(tokens.sub(), seed::OTHER_USER_SUB);
        let page = page.recv_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.body().contains("Signed in."), "{}", page.body());
    }

    #[test]
    fn a_callback_with_another_state_fails_the_sign_in() {
        let verys = Arc::new(VerysServer::start());
        let (open, page) = browser(&verys, seed::USER_EMAIL, |url| with_state(url, "forged"));
        let timeout = Duration::from_secs(60);
        let error = cli_login::sign_in(
            &verys.issuer(),
            seed::PUBLIC_CLIENT_ID,
            timeout,
            &mut Vec::new(),
            open,
        )
        .err()
        .unwrap();
        assert!(
            matches!(
                error.downcast_ref::<verys_client::Error>(),
                Some(verys_client::Error::StateMismatch)
            ),
            "{error}"
        );
        let page = page.recv_timeout(Duration::from_secs(30)).unwrap();
        assert!(page.body().contains("Sign-in failed"), "{}", page.body());
        assert_eq!(verys.token_requests("authorization_code"), 0);
    }

    #[test]
    fn gives_up_when_the_browser_never_comes_back() {
        let verys = VerysServer::start();
        let timeout = Duration::from_secs(1);
        let error = cli_login::sign_in(
            &verys.issuer(),
            seed::PUBLIC_CLIENT_ID,
            timeout,
            &mut Vec::new(),
            |_| {},
        )
        .err()
        .unwrap();
        assert!(error.to_string().contains("timed out"), "{error}");
    }
}

mod protected_api_walk {
    use super::*;

    fn start(verys: &VerysServer) -> (tokio::runtime::Runtime, String) {
        let verifier: Verifier<Async> = Verifier::builder(verys.issuer()).build_async().unwrap();
        let (runtime, listener, base) = bind();
        serve(&runtime, listener, protected_api::router(verifier));
        (runtime, base)
    }

    /// What an API client sees: the status, the challenge and the body.
    struct Answer {
        status: u16,
        www_authenticate: Option<String>,
        body: String,
    }

    fn call(url: &str, authorization: Option<&str>) -> Answer {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into();
        let request = agent.get(url);
        let request = match authorization {
            Some(value) => request.header("Authorization", value),
            None => request,
        };
        let mut response = request.call().unwrap();
        Answer {
            status: response.status().as_u16(),
            www_authenticate: response
                .headers()
                .get("www-authenticate")
                .map(|value| value.to_str().unwrap().to_owned()),
            body: response.body_mut().read_to_string().unwrap(),
        }
    }

    #[test]
    fn a_token_with_the_scope_is_answered_200() {
        let verys = VerysServer::start();
        let (_runtime, base) = start(&verys);
        let token = verys.issue_access_token(
            seed::USER_SUB,
            &verys.issuer(),
            &["openid", "api.read"],
            300,
        );
        let page = call(&format!("{base}/api/me"), Some(&format!("Bearer {token}")));
        assert_eq!(page.status, 200, "{}", page.body);
        let body: serde_json::Value = serde_json::from_str(&page.body).unwrap();
        assert_eq!(body["sub"], seed::USER_SUB);
        assert_eq!(body["roles"], serde_json::json!(["admin", "reader"]));
        // The scheme is case-insensitive.
        let page = call(&format!("{base}/api/me"), Some(&format!("bearer {token}")));
        assert_eq!(page.status, 200, "{}", page.body);
    }

    #[test]
    fn no_token_is_a_401_challenge_without_an_error() {
        let verys = VerysServer::start();
        let (_runtime, base) = start(&verys);
        for authorization in [None, Some("Basic dXNlcjpwYXNz")] {
            let page = call(&format!("{base}/api/me"), authorization);
            assert_eq!(page.status, 401, "{authorization:?}");
            assert_eq!(page.www_authenticate.as_deref(), Some("Bearer"));
        }
    }

    #[test]
    fn a_bearer_header_without_a_token_is_a_400_invalid_request() {
        let verys = VerysServer::start();
        let (_runtime, base) = start(&verys);
        for authorization in ["Bearer", "Bearer ", "Bearer a b", "Bearer a%b"] {
            let page = call(&format!("{base}/api/me"), Some(authorization));
            assert_eq!(page.status, 400, "{authorization:?}");
            assert_eq!(
                page.www_authenticate.as_deref(),
                Some("Bearer error=\"invalid_request\""),
            );
        }
    }

    #[test]
    fn a_bad_or_expired_token_is_a_401_invalid_token() {
        let verys = VerysServer::start();
        let (_runtime, base) = start(&verys);
        let expired =
            verys.issue_access_token(seed::USER_SUB, &verys.issuer(), &["api.read"], -600);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        // Signed with the issuer's own key, but naming another issuer.
        let other_issuer = verys.sign_jwt(
            &serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": verys.key_id()}),
            &serde_json::json!({"iss": "https://elsewhere.example", "sub": seed::USER_SUB,
                "aud": verys.issuer(), "iat": now, "exp": now + 300, "scopes": ["api.read"]}),
        );
        let other_audience =
            verys.issue_access_token(seed::USER_SUB, "another-api", &["api.read"], 300);
        for token in ["garbage", "a.b.c", &expired, &other_issuer, &other_audience] {
            let page = call(&format!("{base}/api/me"), Some(&format!("Bearer {token}")));
            assert_eq!(page.status, 401, "{}", page.body);
            let challenge = page.www_authenticate.unwrap();
            assert!(challenge.starts_with("Bearer "), "{challenge}");
            assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
            assert!(!page.body.contains(token), "the answer quotes the token");
        }
    }

    #[test]
    fn a_token_without_the_scope_is_a_403_insufficient_scope() {
        let verys = VerysServer::start();
        let (_runtime, base) = start(&verys);
        let token = verys.issue_access_token(seed::USER_SUB, &verys.issuer(), &["openid"], 300);
        let page = call(&format!("{base}/api/me"), Some(&format!("Bearer {token}")));
        assert_eq!(page.status, 403, "{}", page.body);
        let challenge = page.www_authenticate.unwrap();
        assert!(challenge.starts_with("Bearer "), "{challenge}");
        assert!(
            challenge.contains("error=\"insufficient_scope\""),
            "{challenge}"
        );
        assert!(challenge.contains("scope=\"api.read\""), "{challenge}");
    }
}
