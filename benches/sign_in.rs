//! What a signed-in request of a web application costs (`verys_client::sign_in`): the same
//! axum router answering a route behind `SignedIn` and a public one, in process (no socket),
//! with the session cookie of a real sign-in at the embedded Verys. See benches/README.md.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use tower::ServiceExt;
use tower_sessions::cookie::SameSite;
use tower_sessions::{MemoryStore, SessionManagerLayer};
use verys_client::Client;
use verys_client::sign_in::{SignIn, SignedIn};
use verys_testing::{ClientRegistration, VerysServer};

const APP: &str = "http://127.0.0.1:9";

async fn account(user: SignedIn) -> String {
    format!("hello, {}", user.claims().sub())
}

async fn public() -> String {
    format!("hello, {}", "anyone")
}

/// The app and the session cookie of a signed-in user.
fn signed_in(verys: &VerysServer, runtime: &tokio::runtime::Runtime) -> (Router, String) {
    verys.register_client(
        ClientRegistration::confidential("bench", "bench-secret")
            .redirect_uri(format!("{APP}/auth/callback"))
            .scopes(["openid", "profile", "email"]),
    );
    let client = Client::builder(verys.issuer(), "bench")
        .client_secret("bench-secret")
        .host(APP)
        .scopes(["openid", "profile", "email"])
        .build_async()
        .unwrap();
    let sign_in = SignIn::new(client);
    let app = Router::new()
        .route("/account", get(account))
        .route("/public", get(public))
        .merge(sign_in.routes())
        .layer(SessionManagerLayer::new(MemoryStore::default()).with_same_site(SameSite::Lax))
        .with_state(sign_in);
    let cookie = runtime.block_on(async {
        let login = app
            .clone()
            .oneshot(get_request("/login", None))
            .await
            .unwrap();
        let cookie = session_cookie(&login);
        let authorize = login.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .to_owned();
        let callback = verys.login(&authorize);
        let path = callback.strip_prefix(APP).unwrap();
        let back = app
            .clone()
            .oneshot(get_request(path, Some(&cookie)))
            .await
            .unwrap();
        assert_eq!(back.status(), StatusCode::SEE_OTHER);
        session_cookie(&back)
    });
    (app, cookie)
}

fn get_request(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path).header(header::ACCEPT, "text/html");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Body::empty()).unwrap()
}

fn session_cookie(response: &axum::response::Response) -> String {
    let set = response.headers()[header::SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

fn sign_in(c: &mut Criterion) {
    let verys = VerysServer::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (app, cookie) = signed_in(&verys, &runtime);
    let runtime = &runtime;
    let answer = |path: &'static str| {
        let (app, cookie) = (app.clone(), cookie.clone());
        move || {
            let (app, cookie) = (app.clone(), cookie.clone());
            runtime.block_on(async move {
                let response = app.oneshot(get_request(path, Some(&cookie))).await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
            })
        }
    };
    let mut group = c.benchmark_group("sign_in");
    group.measurement_time(Duration::from_secs(5));
    let public = answer("/public");
    group.bench_function("public_request", |b| b.iter(&public));
    let account = answer("/account");
    group.bench_function("signed_in_request", |b| b.iter(&account));
    group.finish();
    assert_eq!(verys.token_requests("refresh_token"), 0);
}

criterion_group!(benches, sign_in);
criterion_main!(benches);
