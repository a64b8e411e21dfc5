//! Every back-channel operation driven through the HTTP seam with canned
//! answers and no socket, as oauth2-rs tests with closure mocks: what each
//! operation sends, and what it makes of each answer. Each scenario runs
//! once per transport (the blocking and the async driver over the same core).

mod common;

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256, Sha512};
use verys_client::transport::Limits;
use verys_client::{
    Client, ClientAuthMethod, ClientKind, Confidential, Error, ManualClock, Randomness, TokenRule,
    TransportError, TransportErrorKind, Verifier,
};

use common::{Canned, Flavor};

scenarios!(
    authorization_url_carries_the_values_the_randomness_seam_drew,
    authorization_url_asks_each_scope_once_with_the_options_set,
    code_grant_posts_the_code_and_verifier_then_verifies_the_id_token,
    code_grant_refuses_an_id_token_with_another_nonce,
    code_grant_refusal_keeps_the_oauth_error_and_fetches_no_keys,
    a_redirect_the_seam_returns_is_a_refusal,
    a_transport_error_of_the_seam_is_kept,
    a_body_over_the_limit_is_refused_even_when_the_seam_read_it,
    refresh_posts_the_refresh_token_and_holds_the_subject,
    token_exchange_posts_the_rfc8693_fields,
    token_exchange_refuses_a_token_of_another_type,
    a_2xx_naming_an_error_is_a_refusal_at_every_endpoint,
    a_transport_error_quoting_the_client_secret_is_withheld,
    a_token_manager_takes_the_longest_timeout,
    a_token_managers_debug_shows_its_settings_and_no_token,
    a_token_granted_for_less_than_the_margin_is_refreshed_at_half_its_life,
    userinfo_sends_the_bearer_and_checks_the_subject,
    revocation_posts_the_token_and_takes_any_200,
    federation_lists_fetches_and_deletes_with_the_bearer,
    federation_reauthorization_names_the_provider,
    discovery_sends_later_requests_to_the_discovered_endpoints,
    verifier_fetches_keys_through_the_seam_once,
    verified_claims_serialize_as_the_token_said,
);

const ISSUER: &str = "https://verys.example";
const CLIENT_ID: &str = "app";
const SECRET: &str = "s3cret";
const REDIRECT_URI: &str = "https://app.example.com/auth/callback";
const NOW: u64 = 1_800_000_000;
const KID: &str = "k1";
/// RFC 6749 §4.1.2's example code. A short one would make every error text
/// containing it withheld, as errors never quote what a request carried.
const CODE: &str = "SplxlOBeZQQYbYS6WxSbIA";

/// One request as the seam received it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// Path and query.
    target: String,
    authorization: Option<String>,
    form: Vec<(String, String)>,
    limits: Option<Limits>,
}

impl Seen {
    fn param(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

type Reply = Box<dyn Fn(&Seen) -> http::Response<Vec<u8>> + Send + Sync>;

/// A Verys of canned answers: a signing key, the JWKS it publishes, and the
/// replies a scenario sets per method and path.
struct Idp {
    key: SigningKey,
    jwks: Value,
    replies: Mutex<Vec<(String, String, Reply)>>,
    seen: Mutex<Vec<Seen>>,
}

impl Idp {
    fn new() -> Arc<Self> {
        let key = SigningKey::from_bytes(&[7; 32]);
        let public = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
        let jwks = json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "x": public, "use": "sig", "alg": "EdDSA", "kid": KID,
        }]});
        let idp = Arc::new(Self {
            key,
            jwks: jwks.clone(),
            replies: Mutex::new(Vec::new()),
            seen: Mutex::new(Vec::new()),
        });
        idp.on("GET", "/.well-known/jwks.json", move |_| answer(200, &jwks));
        idp
    }

    fn on(
        &self,
        method: &str,
        path: &str,
        reply: impl Fn(&Seen) -> http::Response<Vec<u8>> + Send + Sync + 'static,
    ) {
        let mut replies = self.replies.lock().unwrap();
        replies.retain(|(m, p, _)| !(m == method && p == path));
        replies.push((method.to_owned(), path.to_owned(), Box::new(reply)));
    }

    /// The HTTP client: records the request, answers as the scenario said.
    /// A reply runs under the lock of the replies, so it sets none itself.
    fn http(self: &Arc<Self>) -> Canned {
        let idp = Arc::clone(self);
        Arc::new(move |request: http::Request<Vec<u8>>| {
            let seen = Seen {
                method: request.method().as_str().to_owned(),
                target: request
                    .uri()
                    .path_and_query()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                authorization: request
                    .headers()
                    .get(http::header::AUTHORIZATION)
                    .map(|value| value.to_str().unwrap().to_owned()),
                form: url::form_urlencoded::parse(request.body())
                    .into_owned()
                    .collect(),
                limits: request.extensions().get::<Limits>().copied(),
            };
            assert_eq!(
                request.uri().authority().map(|a| a.as_str()),
                Some("verys.example"),
                "every request goes to the issuer's host"
            );
            idp.seen.lock().unwrap().push(seen.clone());
            let replies = idp.replies.lock().unwrap();
            let reply = replies
                .iter()
                .find(|(method, path, _)| *method == seen.method && *path == seen.path())
                .map(|(_, _, reply)| reply)
                .unwrap_or_else(|| panic!("no canned answer for {} {}", seen.method, seen.target));
            Ok(reply(&seen))
        })
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn seen_at(&self, path: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|seen| seen.path() == path)
            .collect()
    }

    fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": KID});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    fn access_token(&self, sub: &str, aud: &str) -> String {
        self.sign(&json!({
            "iss": ISSUER, "sub": sub, "aud": aud, "roles": ["reader"],
            "scopes": ["openid", "profile", "github"], "iat": NOW, "exp": NOW + 300,
        }))
    }

    fn id_token(&self, sub: &str, nonce: Option<&str>, access_token: &str) -> String {
        let digest = Sha512::digest(access_token.as_bytes());
        let mut claims = json!({
            "iss": ISSUER, "sub": sub, "aud": CLIENT_ID, "iat": NOW, "exp": NOW + 300,
            "auth_time": NOW - 10, "email": "ada@example.com",
            "at_hash": URL_SAFE_NO_PAD.encode(&digest[..32]),
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        self.sign(&claims)
    }

    /// A token endpoint that signs `sub` in, echoing the nonce `nonce`
    /// gives (the one the client sent, unless a scenario lies).
    fn token_grant(
        self: &Arc<Self>,
        sub: &'static str,
        nonce: impl Fn() -> Option<String> + Send + Sync + 'static,
    ) {
        let idp = Arc::clone(self);
        self.on("POST", "/token", move |seen| {
            let access = idp.access_token(sub, ISSUER);
            let refresh = format!("refresh-{}", idp.seen_at("/token").len());
            let id_token = idp.id_token(sub, nonce().as_deref(), &access);
            let _ = seen;
            answer(
                200,
                &json!({
                    "access_token": access, "token_type": "Bearer", "expires_in": 300,
                    "id_token": id_token, "refresh_token": refresh, "scope": "openid profile",
                }),
            )
        });
    }
}

fn answer(status: u16, body: &Value) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body.to_string().into_bytes())
        .unwrap()
}

/// A predictable source: the n-th value drawn is all bytes `n`.
#[derive(Debug, Default)]
struct Counting(Mutex<u8>);

impl Randomness for Counting {
    fn fill(&self, bytes: &mut [u8]) {
        let mut next = self.0.lock().unwrap();
        *next += 1;
        bytes.fill(*next);
    }
}

fn b64(byte: u8, len: usize) -> String {
    URL_SAFE_NO_PAD.encode(vec![byte; len])
}

fn builder<F: Flavor>(idp: &Arc<Idp>) -> verys_client::ClientBuilder<Confidential> {
    let builder = Client::builder(ISSUER, CLIENT_ID)
        .redirect_uri(REDIRECT_URI)
        .scopes(["openid", "profile", "email"])
        .client_secret(SECRET)
        .auth_method(ClientAuthMethod::ClientSecretBasic)
        .clock(Arc::new(ManualClock::new(NOW)))
        .randomness(Arc::new(Counting::default()));
    F::canned(builder, idp.http())
}

/// The callback Verys would send back for `pending`.
fn callback(url: &str, code: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    let state = url
        .query_pairs()
        .find(|(name, _)| name == "state")
        .map(|(_, value)| value.into_owned())
        .unwrap();
    format!("{REDIRECT_URI}?code={code}&state={state}")
}

/// Signs in through the canned token endpoint.
fn signed_in<F: Flavor>(
    idp: &Arc<Idp>,
) -> (
    verys_client::Client<Confidential, F::T>,
    verys_client::Tokens,
) {
    idp.token_grant("ada", || Some(b64(2, 32)));
    let client = F::build(builder::<F>(idp)).unwrap();
    let pending = client.authorize();
    let returned = callback(pending.url(), CODE);
    let received = pending.receive(&returned).unwrap();
    let tokens = F::exchange_code(&client, received).unwrap();
    (client, tokens)
}

fn authorization_url_carries_the_values_the_randomness_seam_drew<F: Flavor>() {
    let idp = Idp::new();
    let client = F::build(builder::<F>(&idp)).unwrap();
    let pending = client.authorize();
    let url = url::Url::parse(pending.url()).unwrap();
    let query = |name: &str| {
        url.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    // state, nonce and the verifier are drawn in this order.
    assert_eq!(query("state"), Some(b64(1, 32)));
    assert_eq!(query("nonce"), Some(b64(2, 32)));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(b64(3, 64).as_bytes()));
    assert_eq!(query("code_challenge"), Some(challenge));
    assert_eq!(query("code_challenge_method").as_deref(), Some("S256"));
    assert!(idp.seen().is_empty(), "starting a sign-in sends nothing");
}

fn authorization_url_asks_each_scope_once_with_the_options_set<F: Flavor>() {
    let idp = Idp::new();
    let client = F::build(builder::<F>(&idp)).unwrap();
    let pending = client
        .authorization()
        .scope("api.read")
        .scope("api.read")
        .scope("email")
        .scope("")
        .scope("api write")
        .scope("api.write")
        .prompt(verys_client::Prompt::Consent)
        .max_age(std::time::Duration::from_secs(300))
        .login_hint("ada@example.com")
        .start();
    let url = url::Url::parse(pending.url()).unwrap();
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let names: Vec<&str> = pairs.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "response_type",
            "client_id",
            "redirect_uri",
            "scope",
            "state",
            "nonce",
            "code_challenge",
            "code_challenge_method",
            "prompt",
            "max_age",
            "login_hint"
        ]
    );
    let query = |name: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    // A configured or repeated scope is asked once; an empty one or one with
    // white space would change the list's meaning and is left out.
    assert_eq!(
        query("scope"),
        Some("openid profile email api.read api.write")
    );
    assert_eq!(query("response_type"), Some("code"));
    assert_eq!(query("client_id"), Some(CLIENT_ID));
    assert_eq!(query("redirect_uri"), Some(REDIRECT_URI));
    assert_eq!(query("prompt"), Some("consent"));
    assert_eq!(query("max_age"), Some("300"));
    assert_eq!(query("login_hint"), Some("ada@example.com"));
    assert!(url.as_str().starts_with(&format!("{ISSUER}/authorize?")));
}

fn code_grant_posts_the_code_and_verifier_then_verifies_the_id_token<F: Flavor>() {
    let idp = Idp::new();
    let (_, tokens) = signed_in::<F>(&idp);
    assert_eq!(tokens.sub(), "ada");
    assert_eq!(tokens.claims().email(), Some("ada@example.com"));
    assert_eq!(tokens.refresh_token().unwrap().expose_secret(), "refresh-1");

    let seen = idp.seen();
    let paths: Vec<_> = seen.iter().map(|s| (s.method.as_str(), s.path())).collect();
    assert_eq!(
        paths,
        [("POST", "/token"), ("GET", "/.well-known/jwks.json")]
    );
    let token = &seen[0];
    assert_eq!(token.param("grant_type"), Some("authorization_code"));
    assert_eq!(token.param("code"), Some(CODE));
    assert_eq!(token.param("redirect_uri"), Some(REDIRECT_URI));
    assert_eq!(token.param("code_verifier"), Some(b64(3, 64).as_str()));
    assert_eq!(
        token.param("client_secret"),
        None,
        "basic sends the secret once"
    );
    let basic = STANDARD.encode(format!("{CLIENT_ID}:{SECRET}"));
    assert_eq!(
        token.authorization.as_deref(),
        Some(format!("Basic {basic}").as_str())
    );
    assert_eq!(
        token.limits,
        Some(Limits::default()),
        "every request carries its limits"
    );
    assert_eq!(
        seen[1].authorization, None,
        "the jwks is fetched without credentials"
    );
}

fn code_grant_refuses_an_id_token_with_another_nonce<F: Flavor>() {
    let idp = Idp::new();
    idp.token_grant("ada", || Some(b64(9, 32)));
    let client = F::build(builder::<F>(&idp)).unwrap();
    let pending = client.authorize();
    let returned = callback(pending.url(), CODE);
    let received = pending.receive(&returned).unwrap();
    assert!(matches!(
        F::exchange_code(&client, received),
        Err(Error::NonceMismatch)
    ));
}

fn code_grant_refusal_keeps_the_oauth_error_and_fetches_no_keys<F: Flavor>() {
    let idp = Idp::new();
    idp.on("POST", "/token", |_| {
        answer(
            400,
            &json!({"error": "invalid_grant", "error_description": "Invalid code verifier"}),
        )
    });
    let client = F::build(builder::<F>(&idp)).unwrap();
    let pending = client.authorize();
    let returned = callback(pending.url(), CODE);
    let received = pending.receive(&returned).unwrap();
    match F::exchange_code(&client, received) {
        Err(Error::TokenRequest(error)) => {
            assert_eq!(error.status, 400);
            assert_eq!(error.error(), Some("invalid_grant"));
            assert_eq!(error.description.as_deref(), Some("Invalid code verifier"));
        }
        other => panic!("expected the token refusal, got {other:?}"),
    }
    assert!(idp.seen_at("/.well-known/jwks.json").is_empty());
}

fn a_redirect_the_seam_returns_is_a_refusal<F: Flavor>() {
    let idp = Idp::new();
    idp.on("POST", "/token", |_| {
        http::Response::builder()
            .status(307)
            .header(http::header::LOCATION, "https://verys.example/elsewhere")
            .body(Vec::new())
            .unwrap()
    });
    let client = F::build(builder::<F>(&idp)).unwrap();
    let pending = client.authorize();
    let returned = callback(pending.url(), CODE);
    let received = pending.receive(&returned).unwrap();
    match F::exchange_code(&client, received) {
        Err(Error::TokenRequest(error)) => assert_eq!(error.status, 307),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(idp.seen().len(), 1, "the location is not requested");
}

fn a_transport_error_of_the_seam_is_kept<F: Flavor>() {
    let failing: Canned = Arc::new(|_| {
        Err(TransportError::new(
            TransportErrorKind::Tls,
            "certificate refused",
        ))
    });
    let builder = Client::builder(ISSUER, CLIENT_ID).redirect_uri(REDIRECT_URI);
    match code_grant_over::<F, _>(builder, failing) {
        Err(Error::Transport(error)) => {
            assert_eq!(error.kind, TransportErrorKind::Tls);
            assert_eq!(error.message, "certificate refused");
        }
        other => panic!("expected the transport error, got {other:?}"),
    }
}

/// A sign-in as far as the code grant, the client's requests answered by
/// `http`.
fn code_grant_over<F: Flavor, K: ClientKind>(
    builder: verys_client::ClientBuilder<K>,
    http: Canned,
) -> Result<verys_client::Tokens, Error> {
    let client = F::build(F::canned(builder, http)).unwrap();
    let pending = client.authorize();
    let returned = callback(pending.url(), CODE);
    F::exchange_code(&client, pending.receive(&returned).unwrap())
}

fn a_body_over_the_limit_is_refused_even_when_the_seam_read_it<F: Flavor>() {
    let idp = Idp::new();
    idp.on("GET", "/userinfo", |_| {
        answer(200, &json!({"sub": "ada", "name": "x".repeat(2000)}))
    });
    let (_, tokens) = signed_in::<F>(&idp);
    let client = F::build(builder::<F>(&idp).max_response_bytes(1024)).unwrap();
    match F::userinfo(&client, &tokens) {
        Err(Error::Transport(error)) => assert_eq!(error.kind, TransportErrorKind::BodyTooLarge),
        other => panic!("expected body too large, got {other:?}"),
    }
    let limits = idp.seen_at("/userinfo")[0].limits.unwrap();
    assert_eq!(
        limits.max_response_bytes, 1024,
        "the seam is told the limit"
    );
}

fn refresh_posts_the_refresh_token_and_holds_the_subject<F: Flavor>() {
    let idp = Idp::new();
    let (client, tokens) = signed_in::<F>(&idp);
    let refreshed = F::refresh(&client, &tokens).unwrap();
    assert_eq!(
        refreshed.refresh_token().unwrap().expose_secret(),
        "refresh-2"
    );
    let request = idp.seen_at("/token").pop().unwrap();
    assert_eq!(request.param("grant_type"), Some("refresh_token"));
    assert_eq!(request.param("refresh_token"), Some("refresh-1"));
    assert_eq!(request.param("code"), None);

    // The server now speaks of another user.
    idp.token_grant("grace", || None);
    match F::refresh(&client, &refreshed) {
        Err(Error::InvalidIdToken(TokenRule::Changed(what))) => assert_eq!(what, "subject"),
        other => panic!("expected a changed subject, got {other:?}"),
    }
}

fn token_exchange_posts_the_rfc8693_fields<F: Flavor>() {
    let idp = Idp::new();
    let (client, tokens) = signed_in::<F>(&idp);
    let exchanged = Arc::new(Mutex::new(String::new()));
    let given = Arc::clone(&exchanged);
    let signer = Arc::clone(&idp);
    idp.on("POST", "/token", move |_| {
        let token = signer.access_token("ada", "verys-api-b");
        *given.lock().unwrap() = token.clone();
        answer(
            200,
            &json!({
                "access_token": token, "token_type": "Bearer", "expires_in": 300,
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            }),
        )
    });
    let before = idp.seen().len();
    let result = F::exchange_token(&client, tokens.access_token(), "verys-api-b").unwrap();
    assert_eq!(
        result.access_token.expose_secret(),
        *exchanged.lock().unwrap()
    );
    assert_eq!(
        result.issued_token_type,
        "urn:ietf:params:oauth:token-type:access_token"
    );
    let seen = idp.seen();
    assert_eq!(
        seen.len(),
        before + 1,
        "an exchanged token is not verified here"
    );
    let request = &seen[before];
    assert_eq!(
        request.param("grant_type"),
        Some("urn:ietf:params:oauth:grant-type:token-exchange")
    );
    assert_eq!(
        request.param("subject_token"),
        Some(tokens.access_token().expose_secret())
    );
    assert_eq!(
        request.param("subject_token_type"),
        Some("urn:ietf:params:oauth:token-type:access_token")
    );
    assert_eq!(request.param("audience"), Some("verys-api-b"));
}

fn token_exchange_refuses_a_token_of_another_type<F: Flavor>() {
    let idp = Idp::new();
    let (client, tokens) = signed_in::<F>(&idp);
    let issued = idp.id_token("ada", None, "x");
    idp.on("POST", "/token", move |_| {
        answer(
            200,
            &json!({
                "access_token": issued, "token_type": "Bearer", "expires_in": 300,
                "issued_token_type": "urn:ietf:params:oauth:token-type:id_token",
            }),
        )
    });
    match F::exchange_token(&client, tokens.access_token(), "verys-api-b") {
        Err(Error::InvalidResponse { endpoint, reason }) => {
            assert_eq!(
                (endpoint, reason.as_str()),
                ("token", "issued_token_type is not an access token")
            );
        }
        other => panic!("expected an invalid response, got {other:?}"),
    }
}

/// A 2xx whose body has an `error` member, however odd its value or
/// however often it is named, is the refusal it says it is: the members of
/// a success beside it are not taken.
fn a_2xx_naming_an_error_is_a_refusal_at_every_endpoint<F: Flavor>() {
    let idp = Idp::new();
    let (client, tokens) = signed_in::<F>(&idp);
    // A refresh needs no ID token: named twice (which a derived struct of
    // the error would refuse to read) or not a string, `error` must still
    // refuse the access token beside it.
    let access = idp.access_token("ada", ISSUER);
    for (error, repeated) in [
        (
            r#""error":"invalid_grant","error":"invalid_grant""#,
            Some("invalid_grant"),
        ),
        (r#""error":{"code":"invalid_grant"}"#, None),
        (r#""error":null"#, None),
    ] {
        let body = format!(r#"{{"access_token":"{access}","token_type":"Bearer",{error}}}"#);
        idp.on("POST", "/token", move |_| {
            http::Response::builder()
                .status(200)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body.clone().into_bytes())
                .unwrap()
        });
        match F::refresh(&client, &tokens) {
            Err(Error::TokenRequest(refused)) => {
                assert_eq!(
                    (refused.status, refused.error()),
                    (200, repeated),
                    "{error}"
                );
            }
            other => panic!("{error}: expected a refusal, got {other:?}"),
        }
    }
    // A body that only the object reader refuses (a number past f64, a lone
    // surrogate, nesting past 128, bytes that are not UTF-8) is no success
    // either: a reader of the success alone would skip its `error` unchecked.
    let nested = format!("{}1{}", "[".repeat(129), "]".repeat(129));
    for error in [
        br#""error":1e400"#.to_vec(),
        br#""error":"\udc00""#.to_vec(),
        format!(r#""error":"invalid_grant","x":{nested}"#).into_bytes(),
        b"\"error\":\"invalid_grant\xff\"".to_vec(),
    ] {
        let mut body =
            format!(r#"{{"access_token":"{access}","token_type":"Bearer","#).into_bytes();
        body.extend_from_slice(&error);
        body.push(b'}');
        let shown = String::from_utf8_lossy(&body).into_owned();
        idp.on("POST", "/token", move |_| {
            http::Response::builder()
                .status(200)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .unwrap()
        });
        match F::refresh(&client, &tokens) {
            Err(Error::InvalidResponse { endpoint, .. }) => assert_eq!(endpoint, "token"),
            other => panic!("{shown}: expected an invalid response, got {other:?}"),
        }
    }
    let exchanged = access.clone();
    idp.on("POST", "/token", move |_| {
        answer(
            200,
            &json!({
                "access_token": exchanged, "token_type": "Bearer", "error": 42,
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            }),
        )
    });
    assert!(matches!(
        F::exchange_token(&client, tokens.access_token(), "verys-api-b"),
        Err(Error::TokenRequest(refused)) if refused.status == 200
    ));

    let access_token = tokens.access_token();
    let refused_at = |result: Result<(), Error>| match result {
        Err(Error::Endpoint { endpoint, error }) => (endpoint, error.status, error.error),
        other => panic!("expected an endpoint refusal, got {other:?}"),
    };
    idp.on("GET", "/userinfo", |_| {
        answer(200, &json!({"sub": "ada", "error": "invalid_token"}))
    });
    assert_eq!(
        refused_at(F::userinfo(&client, &tokens).map(drop)),
        ("userinfo", 200, Some("invalid_token".to_owned()))
    );
    idp.on("GET", "/federation/tokens", |_| {
        answer(200, &json!({"error": "server_error", "tokens": []}))
    });
    assert_eq!(
        refused_at(F::external_tokens(&client, access_token).map(drop)),
        ("federation", 200, Some("server_error".to_owned()))
    );
    let one_path = format!("/federation/{TOKEN_ID}");
    idp.on("DELETE", &one_path, |_| {
        answer(200, &json!({"error": "not_found"}))
    });
    assert_eq!(
        refused_at(F::delete_external_token(&client, access_token, TOKEN_ID)),
        ("federation", 200, Some("not_found".to_owned()))
    );
    // A deletion is confirmed by a message; a 200 without one says nothing.
    for said in [json!({}), json!(null), json!([])] {
        idp.on("DELETE", &one_path, move |_| answer(200, &said));
        assert!(matches!(
            F::delete_external_token(&client, access_token, TOKEN_ID),
            Err(Error::InvalidResponse {
                endpoint: "federation",
                ..
            })
        ));
    }
}

/// The user's HTTP client may quote the request in its error: the client
/// secret as the request carries it (Basic credentials, a percent-encoded
/// form pair) is withheld.
fn a_transport_error_quoting_the_client_secret_is_withheld<F: Flavor>() {
    for method in [
        ClientAuthMethod::ClientSecretBasic,
        ClientAuthMethod::ClientSecretPost,
    ] {
        let quoted = Arc::new(Mutex::new(String::new()));
        let http = common::quoting_the_client_secret(Arc::clone(&quoted));
        let builder = Client::builder(ISSUER, CLIENT_ID)
            .redirect_uri(REDIRECT_URI)
            .client_secret("s3cret/with+odd=chars")
            .auth_method(method);
        match code_grant_over::<F, _>(builder, http) {
            Err(Error::Transport(error)) => {
                assert_eq!(error.kind, TransportErrorKind::Other);
                assert_eq!(error.message, "details withheld", "{method}");
            }
            other => panic!("expected the transport error, got {other:?}"),
        }
        let spelling = quoted.lock().unwrap().clone();
        assert_ne!(spelling, "s3cret/with+odd=chars", "quoted as sent");
    }
}

/// The refresh lease is three timeouts and 5 s: with the longest timeout
/// it saturates instead of overflowing, and so does the memory store's
/// lease of that length.
fn a_token_manager_takes_the_longest_timeout<F: Flavor>() {
    let idp = Idp::new();
    let (_, tokens) = signed_in::<F>(&idp);
    let clock = Arc::new(ManualClock::new(NOW));
    let longest = builder::<F>(&idp)
        .timeout(std::time::Duration::MAX)
        .clock(clock.clone());
    let manager = verys_client::TokenManager::new(F::build(longest).unwrap(), tokens);
    // A refresh takes the store's lease for that long.
    clock.advance(300);
    let refreshed = F::managed_access_token(&manager).unwrap();
    assert_eq!(
        refreshed.expires_at(),
        Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(NOW + 600))
    );
}

fn a_token_managers_debug_shows_its_settings_and_no_token<F: Flavor>() {
    let idp = Idp::new();
    let (client, tokens) = signed_in::<F>(&idp);
    let secrets = [
        tokens.access_token().expose_secret().to_owned(),
        tokens.refresh_token().unwrap().expose_secret().to_owned(),
        tokens.id_token().to_owned(),
    ];
    let manager =
        verys_client::TokenManager::new(client, tokens).margin(std::time::Duration::from_secs(45));
    let debug = format!("{manager:?}");
    assert!(debug.starts_with("TokenManager {"), "{debug}");
    for shown in [
        "margin: 45s",
        "key: \"tokens\"",
        "on_refresh: false",
        "expires_at",
    ] {
        assert!(debug.contains(shown), "{debug} lacks {shown}");
    }
    for secret in &secrets {
        assert!(!debug.contains(secret.as_str()), "{debug}");
    }
}

/// Tokens granted for 20 s against the default margin of 30 s: each is
/// used for half its life, not refreshed on every request.
fn a_token_granted_for_less_than_the_margin_is_refreshed_at_half_its_life<F: Flavor>() {
    let idp = Idp::new();
    let clock = Arc::new(ManualClock::new(NOW));
    let signer = Arc::clone(&idp);
    idp.on("POST", "/token", move |_| {
        let access = signer.access_token("ada", ISSUER);
        let refresh = format!("refresh-{}", signer.seen_at("/token").len());
        // The nonce the sign-in drew (see `signed_in`), kept on refresh.
        let id_token = signer.id_token("ada", Some(&b64(2, 32)), &access);
        answer(
            200,
            &json!({
                "access_token": access, "token_type": "Bearer", "expires_in": 20,
                "id_token": id_token,
                "refresh_token": refresh, "scope": "openid",
            }),
        )
    });
    let client = F::build(builder::<F>(&idp).clock(clock.clone())).unwrap();
    let pending = client.authorize();
    let returned = callback(pending.url(), CODE);
    let tokens = F::exchange_code(&client, pending.receive(&returned).unwrap()).unwrap();
    let manager = verys_client::TokenManager::new(client, tokens);
    let requests = || idp.seen_at("/token").len();
    let signed_in = requests();
    for _ in 0..5 {
        F::managed_access_token(&manager).unwrap();
    }
    assert_eq!(requests(), signed_in, "a new token is not refreshed");
    assert_eq!(
        manager.next_refresh_at(),
        Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(NOW + 10))
    );
    clock.advance(9);
    F::managed_access_token(&manager).unwrap();
    assert_eq!(requests(), signed_in, "11 s left, more than half its life");
    clock.advance(1);
    for _ in 0..5 {
        F::managed_access_token(&manager).unwrap();
    }
    assert_eq!(requests(), signed_in + 1, "one refresh at half its life");
}

fn userinfo_sends_the_bearer_and_checks_the_subject<F: Flavor>() {
    let idp = Idp::new();
    let (client, tokens) = signed_in::<F>(&idp);
    idp.on("GET", "/userinfo", |_| {
        answer(200, &json!({"sub": "ada", "email": "ada@example.com"}))
    });
    let info = F::userinfo(&client, &tokens).unwrap();
    assert_eq!(info.email.as_deref(), Some("ada@example.com"));
    let bearer = format!("Bearer {}", tokens.access_token().expose_secret());
    assert_eq!(
        idp.seen_at("/userinfo")[0].authorization.as_deref(),
        Some(bearer.as_str())
    );

    idp.on("GET", "/userinfo", |_| {
        answer(200, &json!({"sub": "grace"}))
    });
    assert!(matches!(
        F::userinfo(&client, &tokens),
        Err(Error::UserinfoSubjectMismatch)
    ));
}

fn revocation_posts_the_token_and_takes_any_200<F: Flavor>() {
    let idp = Idp::new();
    let (client, tokens) = signed_in::<F>(&idp);
    let refresh = tokens.refresh_token().unwrap();
    idp.on("POST", "/token/revoke", |_| http::Response::new(Vec::new()));
    F::revoke(&client, refresh).unwrap();
    let request = &idp.seen_at("/token/revoke")[0];
    assert_eq!(request.param("token"), Some("refresh-1"));
    assert_eq!(request.param("token_type_hint"), Some("refresh_token"));

    idp.on("POST", "/token/revoke", |_| {
        answer(503, &json!({"error": "temporarily_unavailable"}))
    });
    match F::revoke(&client, refresh) {
        Err(Error::Endpoint { endpoint, error }) => {
            assert_eq!(endpoint, "revocation");
            assert_eq!(error.status, 503);
        }
        other => panic!("expected the endpoint error, got {other:?}"),
    }
}

const TOKEN_ID: &str = "2d8f6b1a-47c3-4e9d-8b50-c6a1e3f7d092";

fn federation_lists_fetches_and_deletes_with_the_bearer<F: Flavor>() {
    let idp = Idp::new();
    let (client, tokens) = signed_in::<F>(&idp);
    let external = json!({
        "token_id": TOKEN_ID, "provider_id": "github", "subject": "ada-gh",
        "access_token": "gho_upstream", "token_type": "Bearer",
        "expires_at": "2027-01-01T00:00:00+00:00", "email": null,
    });
    let listed = json!({"message": "External tokens retrieved.", "tokens": [external.clone()]});
    idp.on("GET", "/federation/tokens", move |_| answer(200, &listed));
    let mut one = external.clone();
    one["message"] = json!("External token retrieved.");
    idp.on("GET", &format!("/federation/{TOKEN_ID}"), move |_| {
        answer(200, &one)
    });
    idp.on("DELETE", &format!("/federation/{TOKEN_ID}"), |_| {
        answer(200, &json!({"message": "External token deleted."}))
    });

    let access = tokens.access_token();
    let list = F::external_tokens(&client, access).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].provider_id, "github");
    assert_eq!(list[0].expose_secret(), "gho_upstream");
    let token = F::external_token(&client, access, TOKEN_ID).unwrap();
    assert_eq!(token.subject, "ada-gh");
    assert_eq!(
        token.expires_at,
        Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_798_761_600))
    );
    F::delete_external_token(&client, access, TOKEN_ID).unwrap();

    let bearer = format!("Bearer {}", access.expose_secret());
    let federation: Vec<_> = idp
        .seen()
        .into_iter()
        .filter(|seen| seen.path().starts_with("/federation/"))
        .collect();
    let calls: Vec<_> = federation
        .iter()
        .map(|s| (s.method.as_str(), s.path()))
        .collect();
    let one_path = format!("/federation/{TOKEN_ID}");
    assert_eq!(
        calls,
        [
            ("GET", "/federation/tokens"),
            ("GET", one_path.as_str()),
            ("DELETE", one_path.as_str())
        ]
    );
    assert!(
        federation
            .iter()
            .all(|s| s.authorization.as_deref() == Some(bearer.as_str()))
    );
}

fn federation_reauthorization_names_the_provider<F: Flavor>() {
    let idp = Idp::new();
    let (client, tokens) = signed_in::<F>(&idp);
    idp.on("GET", &format!("/federation/{TOKEN_ID}"), |_| {
        answer(
            401,
            &json!({
                "error": "reauthorization_required",
                "error_description": "The upstream token expired", "provider_id": "github",
            }),
        )
    });
    let error = F::external_token(&client, tokens.access_token(), TOKEN_ID).unwrap_err();
    match &error {
        Error::ExternalReauth { provider_id, .. } => assert_eq!(provider_id, "github"),
        other => panic!("expected reauthorization, got {other:?}"),
    }
    let link = client.relink(&error).unwrap();
    assert!(
        link.url()
            .starts_with("https://verys.example/federation/initiate?provider_id=github")
    );
}

fn discovery_sends_later_requests_to_the_discovered_endpoints<F: Flavor>() {
    let idp = Idp::new();
    idp.on("GET", "/.well-known/openid-configuration", |_| {
        answer(
            200,
            &json!({
                "issuer": ISSUER,
                "authorization_endpoint": "https://verys.example/oauth/authorize",
                "token_endpoint": "https://verys.example/oauth/token",
                "userinfo_endpoint": "https://verys.example/oauth/userinfo",
                "jwks_uri": "https://verys.example/oauth/keys",
                "id_token_signing_alg_values_supported": ["EdDSA"],
            }),
        )
    });
    let jwks = idp.jwks.clone();
    idp.on("GET", "/oauth/keys", move |_| answer(200, &jwks));
    let token_signer = Arc::clone(&idp);
    idp.on("POST", "/oauth/token", move |_| {
        let access = token_signer.access_token("ada", ISSUER);
        let id_token = token_signer.id_token("ada", Some(&b64(2, 32)), &access);
        answer(
            200,
            &json!({"access_token": access, "token_type": "Bearer", "id_token": id_token}),
        )
    });
    let client = F::build_discovered(builder::<F>(&idp)).unwrap();
    let pending = client.authorize();
    assert!(
        pending
            .url()
            .starts_with("https://verys.example/oauth/authorize?")
    );
    let returned = callback(pending.url(), CODE);
    let received = pending.receive(&returned).unwrap();
    F::exchange_code(&client, received).unwrap();
    let paths: Vec<_> = idp.seen().iter().map(|s| s.path().to_owned()).collect();
    assert_eq!(
        paths,
        [
            "/.well-known/openid-configuration",
            "/oauth/token",
            "/oauth/keys"
        ]
    );
}

fn verifier_fetches_keys_through_the_seam_once<F: Flavor>() {
    let idp = Idp::new();
    let builder = Verifier::builder(ISSUER).clock(Arc::new(ManualClock::new(NOW)));
    let verifier = F::build_verifier(F::canned_verifier(builder, idp.http())).unwrap();
    let token = idp.access_token("ada", ISSUER);
    assert_eq!(F::verify(&verifier, &token).unwrap().sub(), "ada");
    let other = idp.access_token("grace", ISSUER);
    assert_eq!(F::verify(&verifier, &other).unwrap().sub(), "grace");
    assert_eq!(idp.seen_at("/.well-known/jwks.json").len(), 1);
    assert_eq!(idp.seen().len(), 1);
}

/// Without the `blocking` feature there is no ureq to fall back on: the
/// blocking client is built over the user's client or not at all.
#[cfg(not(feature = "blocking"))]
#[test]
fn without_the_blocking_feature_a_blocking_client_needs_an_http_client() {
    match Client::builder(ISSUER, CLIENT_ID)
        .redirect_uri(REDIRECT_URI)
        .build()
    {
        Err(Error::Config(reason)) => assert!(reason.starts_with("no http client"), "{reason}"),
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

fn verified_claims_serialize_as_the_token_said<F: Flavor>() {
    let idp = Idp::new();
    let (client, tokens) = signed_in::<F>(&idp);
    let access = tokens.access_token().expose_secret();
    let digest = Sha512::digest(access.as_bytes());
    assert_eq!(
        serde_json::to_value(tokens.claims()).unwrap(),
        json!({
            "iss": ISSUER, "sub": "ada", "aud": CLIENT_ID, "iat": NOW, "exp": NOW + 300,
            "auth_time": NOW - 10, "email": "ada@example.com", "nonce": b64(2, 32),
            "at_hash": URL_SAFE_NO_PAD.encode(&digest[..32]),
        })
    );

    let builder = Verifier::builder(ISSUER).clock(Arc::new(ManualClock::new(NOW)));
    let verifier = F::build_verifier(F::canned_verifier(builder, idp.http())).unwrap();
    assert_eq!(
        serde_json::to_value(F::verify(&verifier, access).unwrap()).unwrap(),
        json!({
            "iss": ISSUER, "sub": "ada", "aud": ISSUER, "exp": NOW + 300, "iat": NOW,
            "roles": ["reader"], "scopes": ["openid", "profile", "github"],
        })
    );

    idp.on("GET", "/userinfo", |_| {
        answer(200, &json!({"sub": "ada", "name": "Ada"}))
    });
    assert_eq!(
        serde_json::to_value(F::userinfo(&client, &tokens).unwrap()).unwrap(),
        json!({"sub": "ada", "name": "Ada", "roles": []})
    );
}
