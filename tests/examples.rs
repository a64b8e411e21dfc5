//! The examples, walked end to end: each runs on 127.0.0.1 next to an embedded Verys and is
//! driven over real HTTP, following redirects by hand the way a browser would (so the callback
//! meant for `seed::REDIRECT_URI` can be brought to the app's own address).

use std::collections::HashMap;
use std::time::Duration;

use verys_client::testing::{IdTokenFault, VerysServer, seed};
use verys_client::{Async, Verifier};

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

/// Serves `router` on a free 127.0.0.1 port; stops when the runtime is dropped.
fn serve(router: axum::Router) -> (tokio::runtime::Runtime, String) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(async move { axum::serve(listener, router).await });
    (runtime, base)
}

/// What a browser needs here: cookies kept by name, redirects left to the test.
struct Browser {
    agent: ureq::Agent,
    cookies: HashMap<String, String>,
}

struct Page {
    status: u16,
    location: Option<String>,
    www_authenticate: Option<String>,
    body: String,
}

impl Browser {
    fn new() -> Browser {
        let agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            // No test may hang on a server that stopped answering.
            .timeout_global(Some(Duration::from_secs(20)))
            // An HTTP_PROXY of the environment must not capture loopback requests.
            .proxy(None)
            .build()
            .into();
        Browser {
            agent,
            cookies: HashMap::new(),
        }
    }

    fn get(&mut self, url: &str) -> Page {
        let request = self.agent.get(url);
        let request = match self.cookie_header() {
            Some(cookies) => request.header("Cookie", cookies),
            None => request,
        };
        let response = request.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
        self.read(response)
    }

    fn post(&mut self, url: &str) -> Page {
        let request = self.agent.post(url);
        let request = match self.cookie_header() {
            Some(cookies) => request.header("Cookie", cookies),
            None => request,
        };
        let response = request
            .send_empty()
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        self.read(response)
    }

    fn cookie_header(&self) -> Option<String> {
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    fn read(&mut self, mut response: ureq::http::Response<ureq::Body>) -> Page {
        for set_cookie in response.headers().get_all("set-cookie") {
            let set_cookie = set_cookie.to_str().unwrap();
            let (pair, attributes) = set_cookie.split_once(';').unwrap_or((set_cookie, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.to_ascii_lowercase().contains("max-age=0") {
                self.cookies.remove(name.trim());
            } else {
                self.cookies
                    .insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let (location, www_authenticate) = (header("location"), header("www-authenticate"));
        Page {
            status: response.status().as_u16(),
            location,
            www_authenticate,
            body: response.body_mut().read_to_string().unwrap(),
        }
    }
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

    fn start(verys: &VerysServer) -> (tokio::runtime::Runtime, String) {
        let app = axum_app::app(axum_app::Config {
            issuer: verys.issuer(),
            client_id: seed::CONFIDENTIAL_CLIENT_ID.into(),
            client_secret: seed::CONFIDENTIAL_CLIENT_SECRET.into(),
            // Registered at the embedded Verys; `on_app` brings the browser to the real address.
            redirect_uri: seed::REDIRECT_URI.into(),
            post_logout_redirect_uri: seed::REDIRECT_URI.into(),
            secure_cookie: false,
        })
        .unwrap();
        serve(app)
    }

    /// The callback Verys sent to `https://app.example.com/...`, at the app's own address.
    fn on_app(base: &str, callback: &str) -> String {
        let callback = url::Url::parse(callback).unwrap();
        assert_eq!(
            callback.origin(),
            url::Url::parse(seed::REDIRECT_URI).unwrap().origin()
        );
        match callback.query() {
            Some(query) => format!("{base}{}?{query}", callback.path()),
            None => format!("{base}{}", callback.path()),
        }
    }

    /// `/login`, then Verys: the callback URL Verys redirects the browser to.
    fn start_sign_in(browser: &mut Browser, verys: &VerysServer, base: &str) -> String {
        let login = browser.get(&format!("{base}/login"));
        assert!((300..400).contains(&login.status), "{}", login.status);
        let authorize = login.location.unwrap();
        assert!(authorize.starts_with(&format!("{}/authorize?", verys.issuer())));
        assert!(!browser.cookies.is_empty(), "/login set no session cookie");
        verys.login(&authorize)
    }

    #[test]
    fn signs_in_shows_the_seeded_user_and_signs_out() {
        let verys = VerysServer::start();
        let (_runtime, base) = start(&verys);
        let mut browser = Browser::new();

        let me = browser.get(&format!("{base}/me"));
        assert_eq!(me.location.as_deref(), Some("/login"), "{}", me.status);

        let callback = start_sign_in(&mut browser, &verys, &base);
        let back = browser.get(&on_app(&base, &callback));
        assert!(
            (300..400).contains(&back.status),
            "{}: {}",
            back.status,
            back.body
        );
        assert_eq!(back.location.as_deref(), Some("/me"));

        let me = browser.get(&format!("{base}/me"));
        assert_eq!(me.status, 200, "{}", me.body);
        assert!(me.body.contains("Hello, Ada Lovelace"), "{}", me.body);
        assert!(me.body.contains(seed::USER_EMAIL), "{}", me.body);
        assert!(me.body.contains(seed::USER_SUB), "{}", me.body);

        let logout = browser.post(&format!("{base}/logout"));
        assert!((300..400).contains(&logout.status), "{}", logout.status);
        let end_session = logout.location.unwrap();
        assert!(end_session.starts_with(&format!("{}/end-session?", verys.issuer())));
        assert_eq!(verys.requests("/token/revoke"), 1);
        // Verys accepts the ID token hint and sends the browser back with the logout's state.
        let ended = browser.get(&end_session);
        assert_eq!(ended.status, 302, "{}", ended.body);
        let after = ended.location.unwrap();
        assert!(
            after.starts_with(&format!("{}?state=", seed::REDIRECT_URI)),
            "{after}"
        );

        let me = browser.get(&format!("{base}/me"));
        assert_eq!(me.location.as_deref(), Some("/login"));
    }

    #[test]
    fn a_forged_or_replayed_callback_is_a_400() {
        let verys = VerysServer::start();
        let (_runtime, base) = start(&verys);
        let mut browser = Browser::new();

        let callback = start_sign_in(&mut browser, &verys, &base);
        let refused = browser.get(&on_app(&base, &with_state(&callback, "forged")));
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert!(refused.body.contains("state"), "{}", refused.body);

        // The flow state went with the forged callback: the genuine one finds nothing to finish.
        let replayed = browser.get(&on_app(&base, &callback));
        assert_eq!(replayed.status, 400, "{}", replayed.body);
        // A callback in a browser that never started a sign-in.
        let stranger = Browser::new().get(&on_app(&base, &callback));
        assert_eq!(stranger.status, 400, "{}", stranger.body);
        assert_eq!(verys.token_requests("authorization_code"), 0);
    }

    #[test]
    fn a_refused_sign_in_is_a_403_and_a_bad_id_token_a_502() {
        let verys = VerysServer::start();
        let (_runtime, base) = start(&verys);

        verys.set_authorize_error(Some(("access_denied".into(), "The user said no".into())));
        let mut browser = Browser::new();
        let callback = start_sign_in(&mut browser, &verys, &base);
        let refused = browser.get(&on_app(&base, &callback));
        assert_eq!(refused.status, 403, "{}", refused.body);
        verys.set_authorize_error(None);

        verys.set_id_token_fault(Some(IdTokenFault::BadSignature));
        let mut browser = Browser::new();
        let callback = start_sign_in(&mut browser, &verys, &base);
        let failed = browser.get(&on_app(&base, &callback));
        assert_eq!(failed.status, 502, "{}", failed.body);
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
                let _ = pages.send(Browser::new().get(&callback));
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
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Signed in."), "{}", page.body);
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
        assert!(page.body.contains("Sign-in failed"), "{}", page.body);
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
        serve(protected_api::router(verifier))
    }

    fn call(url: &str, authorization: Option<&str>) -> Page {
        let mut browser = Browser::new();
        let request = browser.agent.get(url);
        let request = match authorization {
            Some(value) => request.header("Authorization", value),
            None => request,
        };
        let response = request.call().unwrap();
        browser.read(response)
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
