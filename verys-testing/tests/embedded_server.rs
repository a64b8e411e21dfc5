//! The embedded Verys, driven over real HTTP with a plain `ureq` agent and checked against
//! `verys-protocol.md` with an independent verifier (ed25519-dalek directly).
use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256, Sha512};
use verys_testing::{ClientRegistration, IdTokenFault, RawResponse, VerysServer, seed};

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

// ---- HTTP plumbing ----

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .proxy(None)
        .build()
        .into()
}

struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

impl Reply {
    fn from(mut response: ureq::http::Response<ureq::Body>) -> Reply {
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        Reply {
            status: response.status().as_u16(),
            headers,
            body: response.body_mut().read_to_string().unwrap(),
        }
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// Asserts an error reply: status and `error` member.
    fn assert_error(&self, status: u16, error: &str) -> Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        let body = self.json();
        assert_eq!(body["error"], error, "body: {}", self.body);
        body
    }
}

fn get(agent: &ureq::Agent, url: &str, bearer: Option<&str>) -> Reply {
    let mut request = agent.get(url);
    if let Some(token) = bearer {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    Reply::from(request.call().unwrap())
}

fn post_form(agent: &ureq::Agent, url: &str, form: &[(&str, &str)], basic: Option<&str>) -> Reply {
    let mut request = agent.post(url);
    if let Some(credentials) = basic {
        request = request.header("Authorization", credentials);
    }
    Reply::from(request.send_form(form.iter().copied()).unwrap())
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

fn query_of(location: &str) -> HashMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

// ---- OAuth helpers ----

fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 64]>());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn authorize_url(server: &VerysServer, params: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&format!("{}/authorize", server.issuer())).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.into()
}

/// Logs Ada in for the confidential client and returns the callback's `code`.
fn confidential_code(server: &VerysServer, scope: &str) -> String {
    let location = server.login(&authorize_url(
        server,
        &[
            ("response_type", "code"),
            ("client_id", seed::CONFIDENTIAL_CLIENT_ID),
            ("redirect_uri", seed::REDIRECT_URI),
            ("scope", scope),
            ("state", "st"),
            ("nonce", "n-0S6_WzA2Mj"),
        ],
    ));
    query_of(&location)["code"].clone()
}

/// A complete confidential-client login: the token response.
fn confidential_tokens(server: &VerysServer, agent: &ureq::Agent, scope: &str) -> Value {
    let code = confidential_code(server, scope);
    let reply = post_form(
        agent,
        &format!("{}/token", server.issuer()),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", seed::REDIRECT_URI),
        ],
        Some(&basic(
            seed::CONFIDENTIAL_CLIENT_ID,
            seed::CONFIDENTIAL_CLIENT_SECRET,
        )),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

fn refresh(server: &VerysServer, agent: &ureq::Agent, refresh_token: &str) -> Reply {
    post_form(
        agent,
        &format!("{}/token", server.issuer()),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", seed::CONFIDENTIAL_CLIENT_ID),
            ("client_secret", seed::CONFIDENTIAL_CLIENT_SECRET),
        ],
        None,
    )
}

fn exchange(server: &VerysServer, agent: &ureq::Agent, subject: &str, audience: &str) -> Reply {
    post_form(
        agent,
        &format!("{}/token", server.issuer()),
        &[
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", subject),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("audience", audience),
        ],
        Some(&basic(
            seed::CONFIDENTIAL_CLIENT_ID,
            seed::CONFIDENTIAL_CLIENT_SECRET,
        )),
    )
}

// ---- JWT helpers (independent of the crate) ----

fn segment(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Verifies `token` against the server's JWKS (strict Ed25519) and returns its claims.
fn verify(server: &VerysServer, agent: &ureq::Agent, token: &str) -> Result<Value, String> {
    let header = segment(token, 0);
    if header["alg"] != "EdDSA" {
        return Err(format!("alg {}", header["alg"]));
    }
    let jwks = get(
        agent,
        &format!("{}/.well-known/jwks.json", server.issuer()),
        None,
    )
    .json();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .ok_or("kid not in JWKS")?;
    let x: [u8; 32] = URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key = VerifyingKey::from_bytes(&x).unwrap();
    let (input, signature) = token.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|e| e.to_string())?;
    let signature = Signature::from_slice(&signature).map_err(|e| e.to_string())?;
    key.verify_strict(input.as_bytes(), &signature)
        .map_err(|e| e.to_string())?;
    Ok(segment(token, 1))
}

fn expected_at_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(&Sha512::digest(access_token.as_bytes())[..32])
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

// ---- Discovery and JWKS ----

#[test]
fn discovery_lists_the_protocol_fields() {
    let server = VerysServer::start();
    let issuer = server.issuer();
    assert!(issuer.starts_with("http://127.0.0.1:") && !issuer.ends_with('/'));
    let doc = get(
        &agent(),
        &format!("{issuer}/.well-known/openid-configuration"),
        None,
    )
    .json();
    assert_eq!(doc["issuer"], issuer);
    assert_eq!(doc["authorization_endpoint"], format!("{issuer}/authorize"));
    assert_eq!(doc["token_endpoint"], format!("{issuer}/token"));
    assert_eq!(doc["userinfo_endpoint"], format!("{issuer}/userinfo"));
    assert_eq!(doc["jwks_uri"], format!("{issuer}/.well-known/jwks.json"));
    assert_eq!(doc["end_session_endpoint"], format!("{issuer}/end-session"));
    assert_eq!(doc["revocation_endpoint"], format!("{issuer}/token/revoke"));
    assert_eq!(
        doc["scopes_supported"],
        json!(["api.read", "email", "github", "gitlab", "openid", "profile"])
    );
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(
        doc["grant_types_supported"],
        json!(["authorization_code", "refresh_token", TOKEN_EXCHANGE])
    );
    assert_eq!(doc["subject_types_supported"], json!(["public"]));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["EdDSA"])
    );
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post", "none"])
    );
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(doc["request_parameter_supported"], false);
    assert_eq!(doc["request_uri_parameter_supported"], false);
    assert!(
        doc["claims_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("roles"))
    );
}

#[test]
fn jwks_kid_is_the_rfc7638_thumbprint() {
    let server = VerysServer::start();
    let jwks = get(
        &agent(),
        &format!("{}/.well-known/jwks.json", server.issuer()),
        None,
    )
    .json();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(
        (&key["kty"], &key["crv"], &key["use"], &key["alg"]),
        (
            &json!("OKP"),
            &json!("Ed25519"),
            &json!("sig"),
            &json!("EdDSA")
        )
    );
    let x = key["x"].as_str().unwrap();
    assert_eq!(URL_SAFE_NO_PAD.decode(x).unwrap().len(), 32);
    let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(
        format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#).as_bytes(),
    ));
    assert_eq!(key["kid"], thumbprint);
    assert_eq!(server.key_id(), thumbprint);
}

// ---- Code flow ----

#[test]
fn public_client_code_flow_with_pkce() {
    let server = VerysServer::start();
    let agent = agent();
    let (verifier, challenge) = pkce();
    let location = server.login(&authorize_url(
        &server,
        &[
            ("response_type", "code"),
            ("client_id", seed::PUBLIC_CLIENT_ID),
            ("redirect_uri", seed::REDIRECT_URI),
            ("scope", "openid profile email"),
            ("state", "the-state"),
            ("nonce", "the-nonce"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    ));
    assert!(location.starts_with(&format!("{}?", seed::REDIRECT_URI)));
    let callback = query_of(&location);
    assert_eq!(callback["state"], "the-state");

    let token_url = format!("{}/token", server.issuer());
    let form = |verifier: &str| {
        vec![
            ("grant_type", "authorization_code"),
            ("code", callback["code"].as_str()),
            ("redirect_uri", seed::REDIRECT_URI),
            ("client_id", seed::PUBLIC_CLIENT_ID),
        ]
        .into_iter()
        .chain((!verifier.is_empty()).then_some(("code_verifier", verifier)))
        .map(|(k, v)| (k, v.to_owned()))
        .collect::<Vec<_>>()
    };
    let send =
        |pairs: Vec<(&str, String)>| Reply::from(agent.post(&token_url).send_form(pairs).unwrap());
    let missing = send(form(""));
    assert_eq!(
        missing.json()["error_description"],
        "Code verifier is required"
    );
    missing.assert_error(400, "invalid_request");
    let (other_verifier, _) = pkce();
    let wrong = send(form(&other_verifier));
    assert_eq!(wrong.json()["error_description"], "Invalid code verifier");
    wrong.assert_error(400, "invalid_grant");

    let reply = send(form(&verifier));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let tokens = reply.json();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 300);
    assert_eq!(tokens["scope"], "openid profile email");
    assert!(
        tokens["refresh_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );

    let id_token = tokens["id_token"].as_str().unwrap();
    let access_token = tokens["access_token"].as_str().unwrap();
    let header = segment(id_token, 0);
    assert_eq!(
        header,
        json!({"alg": "EdDSA", "typ": "JWT", "kid": server.key_id()})
    );
    let claims = verify(&server, &agent, id_token).unwrap();
    assert_eq!(claims["iss"], server.issuer());
    assert_eq!(claims["sub"], seed::USER_SUB);
    assert_eq!(claims["aud"], seed::PUBLIC_CLIENT_ID);
    assert_eq!(claims["nonce"], "the-nonce");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
    assert!((claims["iat"].as_i64().unwrap() - now()).abs() < 5);
    assert!(claims["auth_time"].is_i64());
    assert_eq!(claims["at_hash"], expected_at_hash(access_token));
    assert_eq!(claims["email"], seed::USER_EMAIL);
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["name"], "Ada Lovelace");
    assert_eq!(claims["given_name"], "Ada");
    assert_eq!(claims["family_name"], "Lovelace");
    assert_eq!(claims["origination"], "2024-05-01T12:00:00+00:00");
    assert_eq!(claims["roles"], json!(["admin", "reader"]));

    let access = verify(&server, &agent, access_token).unwrap();
    assert_eq!(access["aud"], server.issuer());
    assert_eq!(access["sub"], seed::USER_SUB);
    assert_eq!(access["scopes"], json!(["openid", "profile", "email"]));
    assert_eq!(access["roles"], json!(["admin", "reader"]));
}

#[test]
fn confidential_client_authenticates_by_post_and_basic() {
    let server = VerysServer::start();
    let agent = agent();
    let token_url = format!("{}/token", server.issuer());
    let code_form = |code: &str| -> Vec<(&'static str, String)> {
        vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", seed::REDIRECT_URI),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect()
    };
    fn pairs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
        v.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    // client_secret_post
    let mut form = code_form(&confidential_code(&server, "openid"));
    form.push(("client_id", seed::CONFIDENTIAL_CLIENT_ID.into()));
    form.push(("client_secret", seed::CONFIDENTIAL_CLIENT_SECRET.into()));
    assert_eq!(
        post_form(&agent, &token_url, &pairs(&form), None).status,
        200
    );

    // client_secret_basic, secret verbatim (not form-encoded)
    let form = code_form(&confidential_code(&server, "openid"));
    let good = basic(
        seed::CONFIDENTIAL_CLIENT_ID,
        seed::CONFIDENTIAL_CLIENT_SECRET,
    );
    let encoded_secret =
        url::form_urlencoded::byte_serialize(seed::CONFIDENTIAL_CLIENT_SECRET.as_bytes())
            .collect::<String>();
    let url_encoded = basic(seed::CONFIDENTIAL_CLIENT_ID, &encoded_secret);
    let refused = post_form(&agent, &token_url, &pairs(&form), Some(&url_encoded));
    refused.assert_error(401, "invalid_client");
    assert_eq!(refused.header("www-authenticate"), Some("Basic"));
    assert_eq!(
        refused.json()["error_description"],
        "Client authentication failed"
    );
    assert_eq!(
        post_form(&agent, &token_url, &pairs(&form), Some(&good)).status,
        200
    );

    // No secret at all from a confidential client.
    let mut form = code_form(&confidential_code(&server, "openid"));
    form.push(("client_id", seed::CONFIDENTIAL_CLIENT_ID.into()));
    let refused = post_form(&agent, &token_url, &pairs(&form), None);
    refused.assert_error(401, "invalid_client");
    assert_eq!(refused.header("www-authenticate"), Some("Basic"));
}

#[test]
fn authorization_code_errors() {
    let server = VerysServer::start();
    let agent = agent();
    let token_url = format!("{}/token", server.issuer());
    let auth = basic(
        seed::CONFIDENTIAL_CLIENT_ID,
        seed::CONFIDENTIAL_CLIENT_SECRET,
    );
    let redeem = |code: &str, redirect_uri: &str, credentials: &str| {
        post_form(
            &agent,
            &token_url,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
            ],
            Some(credentials),
        )
    };
    let description = |reply: Reply| {
        let body = reply.assert_error(400, "invalid_grant");
        body["error_description"].as_str().unwrap().to_owned()
    };

    assert_eq!(
        description(redeem("no-such-code", seed::REDIRECT_URI, &auth)),
        "Authorization code not found"
    );
    let code = confidential_code(&server, "openid");
    assert_eq!(
        description(redeem(&code, "https://app.example.com/other", &auth)),
        "Redirect URI mismatch"
    );
    let api_b = basic(seed::API_CLIENT_ID, seed::CONFIDENTIAL_CLIENT_SECRET);
    assert_eq!(
        description(redeem(&code, seed::REDIRECT_URI, &api_b)),
        "Client mismatch"
    );

    // Replay: the second use fails and kills the refresh token the first one bought.
    let first = redeem(&code, seed::REDIRECT_URI, &auth).json();
    let replay = redeem(&code, seed::REDIRECT_URI, &auth);
    assert!(description(replay).contains("already been used"));
    let after = refresh(&server, &agent, first["refresh_token"].as_str().unwrap());
    assert_eq!(
        after.json()["error_description"],
        "Refresh token is revoked or expired"
    );
    after.assert_error(400, "invalid_grant");

    let code = confidential_code(&server, "openid");
    server.set_clock_offset(61);
    assert!(description(redeem(&code, seed::REDIRECT_URI, &auth)).contains("expired"));
    server.set_clock_offset(0);

    let missing = post_form(
        &agent,
        &token_url,
        &[("grant_type", "authorization_code")],
        Some(&auth),
    );
    missing.assert_error(400, "invalid_request");
    let unknown = post_form(
        &agent,
        &token_url,
        &[("grant_type", "password")],
        Some(&auth),
    );
    unknown.assert_error(400, "unsupported_grant_type");
}

#[test]
fn authorize_errors() {
    let server = VerysServer::start();
    let agent = agent();
    let base = [
        ("response_type", "code"),
        ("client_id", seed::CONFIDENTIAL_CLIENT_ID),
        ("redirect_uri", seed::REDIRECT_URI),
        ("scope", "openid"),
        ("state", "s1"),
    ];
    let with = |changes: &[(&'static str, &'static str)]| {
        let mut params: Vec<(&str, &str)> = base
            .iter()
            .copied()
            .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
            .collect();
        params.extend(changes.iter().copied().filter(|(_, v)| !v.is_empty()));
        authorize_url(&server, &params)
    };

    let reply = get(&agent, &with(&[("client_id", "nobody")]), None);
    assert_eq!(
        reply.assert_error(400, "Invalid client_id"),
        json!({"error": "Invalid client_id"})
    );
    get(
        &agent,
        &with(&[("redirect_uri", "https://evil.example/cb")]),
        None,
    )
    .assert_error(400, "Invalid redirect_uri");
    let reply = get(&agent, &with(&[("scope", ""), ("response_type", "")]), None);
    let body = reply.assert_error(
        422,
        "Missing required query parameter(s): response_type, scope",
    );
    assert!(body["error"].as_str().unwrap().contains("scope"));

    let error_of = |url: String| {
        let location = server.login(&url);
        assert!(location.starts_with(seed::REDIRECT_URI), "{location}");
        let query = query_of(&location);
        assert_eq!(query["state"], "s1");
        assert!(!query.contains_key("code"));
        query["error"].clone()
    };
    assert_eq!(error_of(with(&[("scope", "profile")])), "invalid_scope");
    assert_eq!(
        error_of(with(&[("scope", "openid admin")])),
        "invalid_scope"
    );
    assert_eq!(
        error_of(with(&[("response_type", "token")])),
        "unsupported_response_type"
    );
    assert_eq!(
        error_of(with(&[("prompt", "none login")])),
        "invalid_request"
    );
    assert_eq!(
        error_of(with(&[("request", "eyJ.x.y")])),
        "request_not_supported"
    );
    assert_eq!(
        error_of(with(&[("request_uri", "https://x")])),
        "request_uri_not_supported"
    );
    assert_eq!(
        error_of(with(&[
            ("code_challenge", "abc"),
            ("code_challenge_method", "plain")
        ])),
        "invalid_request"
    );
    assert_eq!(
        error_of(with(&[("client_id", seed::PUBLIC_CLIENT_ID)])),
        "invalid_request",
        "a public client without PKCE"
    );

    server.set_authorize_error(Some(("access_denied".into(), "The user said no".into())));
    let query = query_of(&server.login(&with(&[])));
    assert_eq!(query["error"], "access_denied");
    assert_eq!(query["error_description"], "The user said no");
    server.set_authorize_error(None);

    // RFC 8252 loopback redirects: public client only.
    let (_, challenge) = pkce();
    let loopback = "http://127.0.0.1:49152/callback";
    let public = authorize_url(
        &server,
        &[
            ("response_type", "code"),
            ("client_id", seed::PUBLIC_CLIENT_ID),
            ("redirect_uri", loopback),
            ("scope", "openid"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    assert!(
        server
            .login(&public)
            .starts_with(&format!("{loopback}?code="))
    );
    get(&agent, &with(&[("redirect_uri", loopback)]), None)
        .assert_error(400, "Invalid redirect_uri");
}

#[test]
fn login_hint_picks_the_user() {
    let server = VerysServer::start();
    let agent = agent();
    let url = authorize_url(
        &server,
        &[
            ("response_type", "code"),
            ("client_id", seed::CONFIDENTIAL_CLIENT_ID),
            ("redirect_uri", seed::REDIRECT_URI),
            ("scope", "openid email profile"),
        ],
    );
    let code = query_of(&server.login_as(&url, seed::OTHER_USER_EMAIL))["code"].clone();
    let tokens = post_form(
        &agent,
        &format!("{}/token", server.issuer()),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", seed::REDIRECT_URI),
        ],
        Some(&basic(
            seed::CONFIDENTIAL_CLIENT_ID,
            seed::CONFIDENTIAL_CLIENT_SECRET,
        )),
    )
    .json();
    let claims = verify(&server, &agent, tokens["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(claims["sub"], seed::OTHER_USER_SUB);
    assert_eq!(claims["email_verified"], false);
    assert_eq!(claims["origination"], Value::Null);
    assert_eq!(claims["name"], "Grace Hopper");
    assert!(claims.get("roles").is_none());
    assert!(claims.get("nonce").is_none(), "no nonce was sent");

    let query = query_of(&server.login_as(&url, "nobody@example.com"));
    assert_eq!(query["error"], "access_denied");
}

// ---- Refresh, revocation, logout ----

#[test]
fn refresh_tokens_rotate_and_reuse_fails() {
    let server = VerysServer::start();
    let agent = agent();
    let tokens = confidential_tokens(&server, &agent, "openid email");
    let old = tokens["refresh_token"].as_str().unwrap();
    let old_claims = verify(&server, &agent, tokens["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(old_claims["nonce"], "n-0S6_WzA2Mj");

    let reply = refresh(&server, &agent, old);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let fresh = reply.json();
    let new = fresh["refresh_token"].as_str().unwrap();
    assert_ne!(new, old);
    assert_eq!(fresh["scope"], "openid email");
    let claims = verify(&server, &agent, fresh["id_token"].as_str().unwrap()).unwrap();
    assert!(claims.get("nonce").is_none());
    assert_eq!(
        (
            &claims["iss"],
            &claims["sub"],
            &claims["aud"],
            &claims["auth_time"]
        ),
        (
            &old_claims["iss"],
            &old_claims["sub"],
            &old_claims["aud"],
            &old_claims["auth_time"]
        )
    );
    assert_eq!(
        claims["at_hash"],
        expected_at_hash(fresh["access_token"].as_str().unwrap())
    );

    let reuse = refresh(&server, &agent, old);
    assert_eq!(
        reuse.json()["error_description"],
        "Refresh token is revoked or expired"
    );
    reuse.assert_error(400, "invalid_grant");
    assert_eq!(refresh(&server, &agent, new).status, 200);

    server.revoke_all_refresh_tokens();
    let latest = confidential_tokens(&server, &agent, "openid");
    server.revoke_all_refresh_tokens();
    refresh(&server, &agent, latest["refresh_token"].as_str().unwrap())
        .assert_error(400, "invalid_grant");
}

#[test]
fn revocation_always_succeeds_and_revokes() {
    let server = VerysServer::start();
    let agent = agent();
    let revoke_url = format!("{}/token/revoke", server.issuer());
    let tokens = confidential_tokens(&server, &agent, "openid");
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    for token in [refresh_token, "never-issued"] {
        let reply = post_form(&agent, &revoke_url, &[("token", token)], None);
        assert_eq!(reply.status, 200);
        assert_eq!(reply.json(), json!({"message": "Token revoked."}));
    }
    refresh(&server, &agent, refresh_token).assert_error(400, "invalid_grant");
}

#[test]
fn end_session_revokes_and_redirects() {
    let server = VerysServer::start();
    let agent = agent();
    let tokens = confidential_tokens(&server, &agent, "openid");
    let id_token = tokens["id_token"].as_str().unwrap();
    let end = |post_logout: &str| {
        let mut url = url::Url::parse(&format!("{}/end-session", server.issuer())).unwrap();
        url.query_pairs_mut()
            .append_pair("id_token_hint", id_token)
            .append_pair("post_logout_redirect_uri", post_logout)
            .append_pair("state", "bye");
        get(&agent, url.as_str(), None)
    };
    end("https://evil.example/").assert_error(400, "Invalid post_logout_redirect_uri");
    assert_eq!(
        refresh(&server, &agent, tokens["refresh_token"].as_str().unwrap()).status,
        200
    );

    let tokens = confidential_tokens(&server, &agent, "openid");
    let reply = end(seed::REDIRECT_URI);
    assert_eq!(reply.status, 302);
    assert_eq!(
        reply.header("location").unwrap(),
        format!("{}?state=bye", seed::REDIRECT_URI)
    );
    refresh(&server, &agent, tokens["refresh_token"].as_str().unwrap())
        .assert_error(400, "invalid_grant");
}

// ---- Token exchange ----

#[test]
fn token_exchange_and_its_refusals() {
    let server = VerysServer::start();
    let agent = agent();
    let tokens = confidential_tokens(&server, &agent, "openid api.read");
    let subject = tokens["access_token"].as_str().unwrap();

    let reply = exchange(&server, &agent, subject, seed::API_CLIENT_ID);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = reply.json();
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN_TYPE);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert!(body.get("refresh_token").is_none());
    let claims = verify(&server, &agent, body["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(claims["aud"], seed::API_CLIENT_ID);
    assert_eq!(claims["sub"], seed::USER_SUB);
    assert_eq!(claims["scopes"], json!(["openid", "api.read"]));

    let body =
        exchange(&server, &agent, subject, "not-a-client").assert_error(400, "invalid_target");
    assert_eq!(
        body["error_description"],
        "Audience is not a registered OAuth client"
    );
    exchange(&server, &agent, subject, seed::UNCONSENTED_CLIENT_ID)
        .assert_error(403, "access_denied");
    let narrow = confidential_tokens(&server, &agent, "openid");
    exchange(
        &server,
        &agent,
        narrow["access_token"].as_str().unwrap(),
        seed::API_CLIENT_ID,
    )
    .assert_error(403, "insufficient_scope");

    let expired = server.issue_access_token(seed::USER_SUB, &server.issuer(), &["api.read"], -10);
    exchange(&server, &agent, &expired, seed::API_CLIENT_ID).assert_error(400, "invalid_grant");
    let forged = server.sign_jwt_with_random_key(&segment(subject, 0), &segment(subject, 1));
    exchange(&server, &agent, &forged, seed::API_CLIENT_ID).assert_error(400, "invalid_grant");
    let reply = post_form(
        &agent,
        &format!("{}/token", server.issuer()),
        &[
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", subject),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:id_token",
            ),
            ("audience", seed::API_CLIENT_ID),
        ],
        Some(&basic(
            seed::CONFIDENTIAL_CLIENT_ID,
            seed::CONFIDENTIAL_CLIENT_SECRET,
        )),
    );
    reply.assert_error(400, "invalid_request");
}

// ---- Userinfo and federation ----

#[test]
fn userinfo_answers_by_scope() {
    let server = VerysServer::start();
    let agent = agent();
    let url = format!("{}/userinfo", server.issuer());
    let tokens = confidential_tokens(&server, &agent, "openid email");
    let access_token = tokens["access_token"].as_str().unwrap();
    let reply = get(&agent, &url, Some(access_token));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json(),
        json!({"sub": seed::USER_SUB, "email": seed::USER_EMAIL, "email_verified": true,
               "roles": ["admin", "reader"]})
    );
    let by_form = post_form(&agent, &url, &[("access_token", access_token)], None);
    assert_eq!(by_form.json()["sub"], seed::USER_SUB);

    get(&agent, &url, None).assert_error(401, "Missing access token");
    get(&agent, &url, Some("not.a.jwt")).assert_error(401, "Invalid token");
    let expired = server.issue_access_token(seed::USER_SUB, &server.issuer(), &["openid"], -1);
    get(&agent, &url, Some(&expired)).assert_error(401, "Token expired");
    let stranger = server.issue_access_token(
        "11111111-2222-4333-8444-555555555555",
        &server.issuer(),
        &["openid"],
        300,
    );
    get(&agent, &url, Some(&stranger)).assert_error(401, "Identity not found");
}

#[test]
fn federation_tokens_by_scope_with_reauthorization() {
    let server = VerysServer::start();
    let agent = agent();
    let issuer = server.issuer();
    let token = |scopes: &[&str]| server.issue_access_token(seed::USER_SUB, &issuer, scopes, 300);
    let both = token(&["openid", "github", "gitlab"]);
    let github_only = token(&["openid", "github"]);

    let list = get(&agent, &format!("{issuer}/federation/tokens"), Some(&both));
    assert_eq!(list.status, 200);
    let list = list.json();
    assert_eq!(list["message"], "External tokens retrieved.");
    assert_eq!(list["tokens"].as_array().unwrap().len(), 2);
    let list = get(
        &agent,
        &format!("{issuer}/federation/tokens"),
        Some(&github_only),
    )
    .json();
    assert_eq!(list["tokens"].as_array().unwrap().len(), 1);
    assert_eq!(list["tokens"][0]["token_id"], seed::GITHUB_TOKEN_ID);

    let one = get(
        &agent,
        &format!("{issuer}/federation/{}", seed::GITHUB_TOKEN_ID),
        Some(&both),
    );
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.header("cache-control"), Some("no-store"));
    let one = one.json();
    assert_eq!(one["message"], "External token retrieved.");
    assert_eq!(one["provider_id"], "github");
    assert_eq!(one["subject"], "ada-gh");
    assert_eq!(one["email"], "ada@users.github.example");
    assert_eq!(one["access_token"], "gho_embedded_github_token");
    assert_eq!(one["token_type"], "Bearer");
    let expires_at = one["expires_at"].as_str().unwrap();
    assert!(
        expires_at.ends_with("+00:00") && expires_at.len() == 25,
        "{expires_at}"
    );

    let gitlab = format!("{issuer}/federation/{}", seed::GITLAB_TOKEN_ID);
    let body = get(&agent, &gitlab, Some(&both)).assert_error(401, "reauthorization_required");
    assert_eq!(body["provider_id"], "gitlab");
    assert!(body["error_description"].is_string());
    get(&agent, &gitlab, Some(&github_only))
        .assert_error(403, "Access not granted for this token.");
    let grace = server.issue_access_token(seed::OTHER_USER_SUB, &issuer, &["gitlab"], 300);
    get(&agent, &gitlab, Some(&grace)).assert_error(403, "Unauthorized to perform this action.");
    get(
        &agent,
        &format!("{issuer}/federation/00000000-0000-4000-8000-000000000000"),
        Some(&both),
    )
    .assert_error(404, "External token not found");
    get(&agent, &format!("{issuer}/federation/tokens"), None)
        .assert_error(401, "Authorization header required.");
    let reply = Reply::from(
        agent
            .get(format!("{issuer}/federation/tokens"))
            .header("Authorization", "Token abc")
            .call()
            .unwrap(),
    );
    reply.assert_error(401, "Bad authorization header.");
    get(
        &agent,
        &format!("{issuer}/federation/tokens"),
        Some("garbage"),
    )
    .assert_error(401, "Not authenticated");

    // Re-linking through /federation/initiate cures the gitlab token.
    let initiate = |provider: &str| {
        let mut url = url::Url::parse(&format!("{issuer}/federation/initiate")).unwrap();
        url.query_pairs_mut()
            .append_pair("provider_id", provider)
            .append_pair("client_id", seed::CONFIDENTIAL_CLIENT_ID)
            .append_pair("redirect_uri", seed::REDIRECT_URI);
        let reply = get(&agent, url.as_str(), None);
        assert_eq!(reply.status, 302, "{}", reply.body);
        query_of(reply.header("location").unwrap())
    };
    let failed = initiate("myspace");
    assert_eq!(failed["error"], "federation_failed");
    assert_eq!(failed["provider_id"], "myspace");
    assert_eq!(
        initiate("gitlab"),
        HashMap::from([("provider_id".into(), "gitlab".into())])
    );
    assert_eq!(get(&agent, &gitlab, Some(&both)).status, 200);

    let delete = Reply::from(
        agent
            .delete(format!("{issuer}/federation/{}", seed::GITHUB_TOKEN_ID))
            .header("Authorization", format!("Bearer {both}"))
            .call()
            .unwrap(),
    );
    assert_eq!(delete.json(), json!({"message": "External token deleted."}));
    get(
        &agent,
        &format!("{issuer}/federation/{}", seed::GITHUB_TOKEN_ID),
        Some(&both),
    )
    .assert_error(404, "External token not found");
}

// ---- Faults ----

#[test]
fn key_rotation_and_jwks_faults() {
    let server = VerysServer::start();
    let agent = agent();
    let jwks_url = format!("{}/.well-known/jwks.json", server.issuer());
    let kids = || -> Vec<String> {
        get(&agent, &jwks_url, None).json()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = server.key_id();
    server.rotate_key();
    let second = server.key_id();
    assert_ne!(first, second);
    assert_eq!(kids(), vec![second.clone()]);
    let tokens = confidential_tokens(&server, &agent, "openid");
    assert_eq!(
        segment(tokens["id_token"].as_str().unwrap(), 0)["kid"],
        second
    );
    server.rotate_key_keep_old();
    assert_eq!(kids(), vec![server.key_id(), second]);

    server.set_jwks_failure(true);
    get(&agent, &jwks_url, None).assert_error(500, "Internal Server Error");
    server.set_jwks_failure(false);
    server.set_jwks_body(Some(r#"{"keys": []}"#.into()));
    let reply = get(&agent, &jwks_url, None);
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, r#"{"keys": []}"#)
    );
    assert_eq!(reply.header("content-type"), Some("application/json"));
    server.set_jwks_body(None);
    assert_eq!(kids().len(), 2);
}

/// Claims that differ from one sign-in to the next: the times, and the
/// hash of an access token that carries them.
const VOLATILE: [&str; 4] = ["iat", "exp", "auth_time", "at_hash"];

/// An ID token minted with `fault` (and its access token), decoded.
struct Minted {
    token: String,
    access_token: String,
    header: Value,
    claims: Value,
}

fn mint(server: &VerysServer, agent: &ureq::Agent, fault: Option<IdTokenFault>) -> Minted {
    server.set_id_token_fault(fault);
    let tokens = confidential_tokens(server, agent, "openid email");
    server.set_id_token_fault(None);
    let token = tokens["id_token"].as_str().unwrap().to_owned();
    Minted {
        header: segment(&token, 0),
        claims: segment(&token, 1),
        access_token: tokens["access_token"].as_str().unwrap().to_owned(),
        token,
    }
}

/// Whether the signature of `token` is the current key's over its signing
/// input, whatever its header says.
fn signed_by_current_key(server: &VerysServer, agent: &ureq::Agent, token: &str) -> bool {
    let jwks = get(
        agent,
        &format!("{}/.well-known/jwks.json", server.issuer()),
        None,
    )
    .json();
    let x = jwks["keys"][0]["x"].as_str().unwrap();
    let x: [u8; 32] = URL_SAFE_NO_PAD.decode(x).unwrap().try_into().unwrap();
    let (input, signature) = token.rsplit_once('.').unwrap();
    let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    Signature::from_slice(&signature).is_ok_and(|signature| {
        VerifyingKey::from_bytes(&x)
            .unwrap()
            .verify_strict(input.as_bytes(), &signature)
            .is_ok()
    })
}

/// `value` without the members `names`, so that what a fault may change is
/// left out of a comparison.
fn without(value: &Value, names: &[&str]) -> Value {
    let mut value = value.clone();
    for name in names {
        value.as_object_mut().unwrap().remove(*name);
    }
    value
}

/// Every fault breaks its one rule and leaves the rest of the token as a
/// sign-in without it: the other header members and claims equal, and the
/// signature the current key's unless the fault is about the signature.
#[test]
fn token_faults_break_exactly_one_rule() {
    let server = VerysServer::start();
    let agent = agent();
    let reference = mint(&server, &agent, None);
    assert!(signed_by_current_key(&server, &agent, &reference.token));
    assert_eq!(
        reference.claims["at_hash"],
        expected_at_hash(&reference.access_token)
    );
    // The check sees the faulted token and the reference.
    type Check = fn(&Minted, &Minted);
    // A fault, the claims it may change, the header members it may change,
    // whether the signature stays the current key's, and what it did.
    type Case = (
        IdTokenFault,
        &'static [&'static str],
        &'static [&'static str],
        bool,
        Check,
    );
    let cases: Vec<Case> = vec![
        (IdTokenFault::WrongNonce, &["nonce"], &[], true, |m, r| {
            assert!(m.claims["nonce"].is_string() && m.claims["nonce"] != r.claims["nonce"]);
        }),
        (IdTokenFault::NoNonce, &["nonce"], &[], true, |m, _| {
            assert!(m.claims.get("nonce").is_none());
        }),
        (IdTokenFault::WrongAudience, &["aud"], &[], true, |m, _| {
            assert_eq!(m.claims["aud"], "some-other-client");
        }),
        (IdTokenFault::WrongIssuer, &["iss"], &[], true, |m, _| {
            assert_eq!(m.claims["iss"], "https://impostor.example.com");
        }),
        (IdTokenFault::Expired, &[], &[], true, |m, _| {
            let exp = m.claims["exp"].as_i64().unwrap();
            assert!(exp < now() - 3000);
            assert_eq!(m.claims["iat"].as_i64().unwrap(), exp - 300);
        }),
        (IdTokenFault::IssuedInFuture, &[], &[], true, |m, _| {
            let iat = m.claims["iat"].as_i64().unwrap();
            assert!(iat > now() + 3000);
            assert_eq!(m.claims["exp"].as_i64().unwrap(), iat + 300);
        }),
        (IdTokenFault::BadSignature, &[], &[], false, |m, _| {
            let signature = m.token.rsplit_once('.').unwrap().1;
            assert_eq!(URL_SAFE_NO_PAD.decode(signature).unwrap().len(), 64);
        }),
        (IdTokenFault::SignedByOtherKey, &[], &[], false, |m, _| {
            let signature = m.token.rsplit_once('.').unwrap().1;
            assert_eq!(URL_SAFE_NO_PAD.decode(signature).unwrap().len(), 64);
        }),
        (IdTokenFault::BadAtHash, &[], &[], true, |m, _| {
            assert_ne!(m.claims["at_hash"], expected_at_hash(&m.access_token));
            assert_eq!(m.claims["at_hash"].as_str().unwrap().len(), 43);
        }),
        (IdTokenFault::NoAtHash, &[], &[], true, |m, _| {
            assert!(m.claims.get("at_hash").is_none());
        }),
        (IdTokenFault::UnknownKid, &[], &["kid"], true, |m, r| {
            assert_ne!(m.header["kid"], r.header["kid"]);
            assert_eq!(m.header["kid"].as_str().unwrap().len(), 43);
        }),
        (IdTokenFault::AlgNone, &[], &["alg"], false, |m, _| {
            assert_eq!(m.header["alg"], "none");
            assert!(m.token.ends_with('.'));
        }),
        (IdTokenFault::AlgHs256, &[], &["alg"], false, |m, _| {
            assert_eq!(m.header["alg"], "HS256");
            let mac = m.token.rsplit_once('.').unwrap().1;
            assert_eq!(URL_SAFE_NO_PAD.decode(mac).unwrap().len(), 32);
        }),
        (IdTokenFault::AlgRs256, &[], &["alg"], true, |m, _| {
            assert_eq!(m.header["alg"], "RS256");
        }),
        (IdTokenFault::NoAlg, &[], &["alg"], true, |m, _| {
            assert!(m.header.get("alg").is_none());
        }),
        (IdTokenFault::WrongSub, &["sub"], &[], true, |m, r| {
            assert_ne!(m.claims["sub"], r.claims["sub"]);
            assert_eq!(m.claims["sub"].as_str().unwrap().len(), 36);
        }),
        (
            IdTokenFault::AudArrayWithClient,
            &["aud"],
            &[],
            true,
            |m, _| {
                assert_eq!(
                    m.claims["aud"],
                    json!([seed::CONFIDENTIAL_CLIENT_ID, "other"])
                );
                assert!(m.claims.get("azp").is_none());
            },
        ),
        (
            IdTokenFault::AudArrayWithAzp,
            &["aud", "azp"],
            &[],
            true,
            |m, _| {
                assert_eq!(
                    m.claims["aud"],
                    json!([seed::CONFIDENTIAL_CLIENT_ID, "other"])
                );
                assert_eq!(m.claims["azp"], seed::CONFIDENTIAL_CLIENT_ID);
            },
        ),
        (
            IdTokenFault::WrongAzp,
            &["aud", "azp"],
            &[],
            true,
            |m, _| {
                assert_eq!(
                    m.claims["aud"],
                    json!([seed::CONFIDENTIAL_CLIENT_ID, "other"])
                );
                assert_eq!(m.claims["azp"], "other");
            },
        ),
        (
            IdTokenFault::Custom(std::sync::Arc::new(|header, claims| {
                header["x-test"] = json!(1);
                claims["email"] = json!("mallory@example.com");
            })),
            &["email"],
            &["x-test"],
            true,
            |m, _| {
                assert_eq!(m.claims["email"], "mallory@example.com");
                assert_eq!(m.header["x-test"], 1);
            },
        ),
    ];
    for (fault, claims_changed, header_changed, signed, check) in cases {
        let name = format!("{fault:?}");
        let minted = mint(&server, &agent, Some(fault));
        let changed: Vec<&str> = VOLATILE.iter().chain(claims_changed).copied().collect();
        assert_eq!(
            without(&minted.claims, &changed),
            without(&reference.claims, &changed),
            "{name}: other claims changed"
        );
        assert_eq!(
            without(&minted.header, header_changed),
            without(&reference.header, header_changed),
            "{name}: other header members changed"
        );
        assert_eq!(
            signed_by_current_key(&server, &agent, &minted.token),
            signed,
            "{name}: signature"
        );
        check(&minted, &reference);
    }

    // An access-token fault reaches the server's own checks too; the faults
    // of ID tokens only leave an access token as it was.
    server.set_access_token_fault(Some(IdTokenFault::WrongIssuer));
    let tokens = confidential_tokens(&server, &agent, "openid");
    get(
        &agent,
        &format!("{}/userinfo", server.issuer()),
        tokens["access_token"].as_str(),
    )
    .assert_error(401, "Invalid token");
    for fault in [
        IdTokenFault::WrongNonce,
        IdTokenFault::NoNonce,
        IdTokenFault::BadAtHash,
        IdTokenFault::NoAtHash,
    ] {
        server.set_access_token_fault(Some(fault));
        let access_token = confidential_tokens(&server, &agent, "openid")["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        server.set_access_token_fault(None);
        let plain = confidential_tokens(&server, &agent, "openid")["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(signed_by_current_key(&server, &agent, &access_token));
        assert_eq!(
            without(&segment(&access_token, 1), &VOLATILE),
            without(&segment(&plain, 1), &VOLATILE)
        );
    }
}

#[test]
fn hostile_and_malformed_traffic_gets_protocol_errors() {
    let server = VerysServer::start();
    let agent = agent();
    let issuer = server.issuer();

    server.override_response(
        "/token",
        Some(
            RawResponse::new(502, "text/html", "<html>Bad Gateway</html>").header("X-Proxy", "yes"),
        ),
    );
    let reply = post_form(
        &agent,
        &format!("{issuer}/token"),
        &[("grant_type", "refresh_token")],
        None,
    );
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (502, "<html>Bad Gateway</html>")
    );
    assert_eq!(reply.header("x-proxy"), Some("yes"));
    server.override_response("/token", None);

    let json_body = Reply::from(
        agent
            .post(format!("{issuer}/token"))
            .header("Content-Type", "application/json")
            .send(r#"{"grant_type": "refresh_token"}"#)
            .unwrap(),
    );
    json_body.assert_error(400, "invalid_request");
    let wrong_method = get(&agent, &format!("{issuer}/token"), None);
    wrong_method.assert_error(405, "Method Not Allowed");
    get(&agent, &format!("{issuer}/nowhere"), None).assert_error(404, "Not Found");
    let garbage = Reply::from(
        agent
            .post(format!("{issuer}/token"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Authorization", "Basic %%%")
            .send(&[0xff_u8, 0xfe, b'=', b'&'][..])
            .unwrap(),
    );
    garbage.assert_error(401, "invalid_client");

    let odd_query = get(
        &agent,
        &format!("{issuer}/authorize?%zz=%ff&client_id=%ff"),
        None,
    );
    odd_query.assert_error(
        422,
        "Missing required query parameter(s): response_type, redirect_uri, scope",
    );
    let huge = Reply::from(
        agent
            .post(format!("{issuer}/token"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(vec![b'a'; 2 << 20])
            .unwrap(),
    );
    huge.assert_error(413, "Request body too large");

    // Not even HTTP: the server shrugs it off and keeps serving.
    use std::io::{Read as _, Write as _};
    let mut raw = std::net::TcpStream::connect(issuer.trim_start_matches("http://")).unwrap();
    raw.write_all(b"\x00\x01 NOT HTTP\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = raw.read_to_end(&mut answer);
    let reply = get(
        &agent,
        &format!("{issuer}/.well-known/openid-configuration"),
        None,
    );
    assert_eq!(reply.status, 200);
}

// ---- Counters and concurrency ----

#[test]
fn counters_count_requests_and_connections() {
    let server = VerysServer::start();
    let agent = agent();
    let jwks_url = format!("{}/.well-known/jwks.json", server.issuer());
    get(&agent, &jwks_url, None);
    server.set_jwks_failure(true);
    get(&agent, &jwks_url, None);
    assert_eq!(server.jwks_fetches(), 2);
    assert_eq!(server.requests("/.well-known/jwks.json"), 2);
    assert_eq!(
        server.connections(),
        1,
        "one keep-alive agent, one connection"
    );

    let tokens = confidential_tokens(&server, &agent, "openid");
    refresh(&server, &agent, tokens["refresh_token"].as_str().unwrap());
    refresh(&server, &agent, tokens["refresh_token"].as_str().unwrap());
    assert_eq!(server.token_requests("authorization_code"), 1);
    assert_eq!(server.token_requests("refresh_token"), 2);
    assert_eq!(server.token_requests(TOKEN_EXCHANGE), 0);
    assert_eq!(server.requests("/authorize"), 1);
    assert_eq!(
        server.connections(),
        2,
        "login() uses a connection of its own"
    );
}

/// A request held up at one endpoint does not hold up another: the fast one
/// is answered while the slow one is still waiting, as the slow thread's
/// state shows (no bound on either's duration).
#[test]
fn a_slow_endpoint_does_not_block_the_others() {
    let server = VerysServer::start();
    let issuer = server.issuer();
    server.set_response_delay("/userinfo", Some(Duration::from_secs(3)));
    std::thread::scope(|s| {
        let slow = s.spawn(|| get(&agent(), &format!("{issuer}/userinfo"), None).status);
        // The server counts a request before it holds it up.
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.requests("/userinfo") == 0 {
            assert!(Instant::now() < deadline, "the slow request never arrived");
            std::thread::yield_now();
        }
        let reply = get(
            &agent(),
            &format!("{issuer}/.well-known/openid-configuration"),
            None,
        );
        assert_eq!(reply.status, 200);
        assert!(!slow.is_finished(), "answered before the slow request was");
        assert_eq!(slow.join().unwrap(), 401);
    });
}

/// Every client holds its connection open across two requests, and none
/// sends its second until all have had their first answered: a server that
/// served one connection at a time, until it closed, would answer a single
/// first request and then wait forever (here: until the clients' timeout).
#[test]
fn many_keep_alive_connections_are_served_at_once() {
    const CLIENTS: usize = 16;
    let server = VerysServer::start();
    let issuer = server.issuer();
    let barrier = std::sync::Barrier::new(CLIENTS);
    let all_answered = std::sync::Barrier::new(CLIENTS);
    std::thread::scope(|s| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                s.spawn(|| {
                    // Its own agent, so its own keep-alive connection, held across both requests.
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .proxy(None)
                        .timeout_global(Some(Duration::from_secs(10)))
                        .build()
                        .into();
                    barrier.wait();
                    // No unwrap before the second barrier: a client that
                    // failed still reaches it, so the others cannot hang.
                    let token = agent
                        .post(&format!("{issuer}/token"))
                        .header(
                            "Authorization",
                            &basic(
                                seed::CONFIDENTIAL_CLIENT_ID,
                                seed::CONFIDENTIAL_CLIENT_SECRET,
                            ),
                        )
                        .send_form([("grant_type", "refresh_token"), ("refresh_token", "nope")])
                        .map(|reply| Reply::from(reply).status);
                    all_answered.wait();
                    let discovery = token.as_ref().ok().map(|_| {
                        get(
                            &agent,
                            &format!("{issuer}/.well-known/openid-configuration"),
                            None,
                        )
                        .status
                    });
                    (token.map_err(|e| e.to_string()), discovery)
                })
            })
            .collect();
        for client in clients {
            assert_eq!(client.join().unwrap(), (Ok(400), Some(200)));
        }
    });
    assert_eq!(server.token_requests("refresh_token"), CLIENTS);
    assert_eq!(
        server.requests("/.well-known/openid-configuration"),
        CLIENTS
    );
    assert_eq!(server.connections(), CLIENTS, "one connection per agent");
}

#[test]
fn connections_counts_every_accepted_connection() {
    let server = VerysServer::start();
    let discovery = format!("{}/.well-known/openid-configuration", server.issuer());
    let first = agent();
    for _ in 0..5 {
        assert_eq!(get(&first, &discovery, None).status, 200);
    }
    assert_eq!(
        server.connections(),
        1,
        "one keep-alive agent, one connection"
    );

    let agents: Vec<ureq::Agent> = (0..4).map(|_| agent()).collect();
    for agent in &agents {
        assert_eq!(get(agent, &discovery, None).status, 200);
        assert_eq!(get(agent, &discovery, None).status, 200);
    }
    assert_eq!(server.connections(), 1 + agents.len(), "one per agent");

    // A connection counts even if it never sends a request.
    let idle = std::net::TcpStream::connect(server.issuer().trim_start_matches("http://")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.connections() < 2 + agents.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(server.connections(), 2 + agents.len());
    drop(idle);
}

#[test]
fn dropping_the_server_closes_its_keep_alive_connections() {
    let server = VerysServer::start();
    let discovery = format!("{}/.well-known/openid-configuration", server.issuer());
    let agent = agent();
    assert_eq!(get(&agent, &discovery, None).status, 200);
    // Idle keep-alive connections must not keep the drop waiting.
    let idle = std::net::TcpStream::connect(server.issuer().trim_start_matches("http://")).unwrap();
    drop(server);
    assert!(agent.get(&discovery).call().is_err());
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_starts_and_drops_inside_a_tokio_runtime() {
    let server = VerysServer::start();
    let discovery = format!("{}/.well-known/openid-configuration", server.issuer());
    let status = tokio::task::spawn_blocking(move || get(&agent(), &discovery, None).status)
        .await
        .unwrap();
    assert_eq!(status, 200);
    drop(server);
}

#[test]
#[should_panic(expected = "invalid status")]
fn a_canned_status_must_be_sendable() {
    VerysServer::start().override_response("/token", Some(RawResponse::new(42, "text/plain", "")));
}

#[test]
#[should_panic(expected = "invalid header")]
fn a_canned_header_must_be_sendable() {
    VerysServer::start().override_response(
        "/token",
        Some(RawResponse::new(502, "text/plain", "").header("X-Injected", "a\r\nSet-Cookie: x")),
    );
}

/// A client a test registers: its own id, secret, redirect URI and scopes, and nothing else.
#[test]
fn a_registered_client_signs_in_with_its_redirect_uri_and_scopes_only() {
    let server = VerysServer::start();
    let agent = agent();
    let redirect_uri = "http://127.0.0.1:4000/auth/callback";
    server.register_client(
        ClientRegistration::confidential("my-app", "my-secret")
            .redirect_uri(redirect_uri)
            .scopes(["openid", "email"]),
    );
    let authorize = |redirect: &str, scope: &str| {
        authorize_url(
            &server,
            &[
                ("response_type", "code"),
                ("client_id", "my-app"),
                ("redirect_uri", redirect),
                ("scope", scope),
                ("state", "st"),
            ],
        )
    };
    let location = server.login(&authorize(redirect_uri, "openid email"));
    assert!(
        location.starts_with(&format!("{redirect_uri}?code=")),
        "{location}"
    );
    let code = query_of(&location)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect_uri),
    ];
    let token_url = format!("{}/token", server.issuer());
    let wrong = post_form(&agent, &token_url, &form, Some(&basic("my-app", "not-it")));
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    let tokens = post_form(
        &agent,
        &token_url,
        &form,
        Some(&basic("my-app", "my-secret")),
    );
    assert_eq!(tokens.status, 200, "{}", tokens.body);

    // A scope beyond the registration is refused back at the redirect URI.
    let location = server.login(&authorize(redirect_uri, "openid profile"));
    assert_eq!(query_of(&location)["error"], "invalid_scope");
    // The seeded redirect URI is not this client's.
    let refused = get(&agent, &authorize(seed::REDIRECT_URI, "openid"), None);
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["error"], "Invalid redirect_uri");

    // Registering the id again replaces the client.
    server.register_client(
        ClientRegistration::confidential("my-app", "new-secret")
            .redirect_uri("http://127.0.0.1:4000/other"),
    );
    let replaced = get(&agent, &authorize(redirect_uri, "openid"), None);
    assert_eq!(replaced.json()["error"], "Invalid redirect_uri");
}
