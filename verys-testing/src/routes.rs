//! Request dispatch: counters, fault switches, then the endpoint; plus the two static documents.

use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use serde_json::json;

use super::ReceivedTokenRequest;
use super::faults::RawResponse;
use super::seed;
use super::state::Shared;
use super::wire::{self, Incoming};
use super::{authorize, federation, session, token, userinfo};
use verys_client::ClientAuthMethod;

const JWKS_PATH: &str = "/.well-known/jwks.json";

/// Counts a request and looks up the fault switches for its path: how long to wait before
/// answering, and the canned response to answer with instead of routing it.
pub(super) fn admit(
    shared: &Shared,
    incoming: &Incoming,
) -> (Option<Duration>, Option<RawResponse>) {
    let mut state = shared.lock();
    let counters = &mut state.counters;
    *counters.requests.entry(incoming.path.clone()).or_default() += 1;
    if incoming.path == JWKS_PATH && incoming.method == "GET" {
        counters.jwks_fetches += 1;
    }
    if incoming.path == "/token" && incoming.method == "POST" {
        let form = incoming.form();
        let grant_type = form
            .as_ref()
            .and_then(|form| form.get("grant_type").map(str::to_owned));
        *counters
            .token_requests
            .entry(grant_type.clone().unwrap_or_default())
            .or_default() += 1;
        let pairs = form.map(|form| form.pairs().to_vec()).unwrap_or_default();
        let authentication = if incoming.header("Authorization").is_some() {
            Some(ClientAuthMethod::ClientSecretBasic)
        } else if pairs.iter().any(|(name, _)| name == "client_secret") {
            Some(ClientAuthMethod::ClientSecretPost)
        } else {
            None
        };
        counters.token_requests_received.push(ReceivedTokenRequest {
            grant_type,
            authentication,
            form: pairs,
        });
    }
    let faults = &state.faults;
    (
        faults.delays.get(&incoming.path).copied(),
        faults.overrides.get(&incoming.path).cloned(),
    )
}

/// Answers a request with the endpoint its method and path name; never panics.
pub(super) fn route(shared: &Shared, rq: &Incoming) -> RawResponse {
    // A bug in a handler becomes the protocol's 500, not a dropped connection and a hung client.
    panic::catch_unwind(AssertUnwindSafe(|| dispatch(shared, rq)))
        .unwrap_or_else(|_| wire::error(500, "Internal Server Error"))
}

fn dispatch(shared: &Shared, rq: &Incoming) -> RawResponse {
    let method = rq.method.as_str();
    match rq.path.as_str() {
        "/.well-known/openid-configuration" => match method {
            "GET" => discovery(&shared.issuer),
            _ => wire::method_not_allowed("GET"),
        },
        JWKS_PATH => match method {
            "GET" => jwks(shared),
            _ => wire::method_not_allowed("GET"),
        },
        "/authorize" => match method {
            "GET" => authorize::handle(shared, &rq.query(), true),
            "POST" => authorize::handle(
                shared,
                &rq.form().unwrap_or_else(wire::Params::empty),
                false,
            ),
            _ => wire::method_not_allowed("GET, POST"),
        },
        "/token" => match method {
            "POST" => token::handle(shared, rq),
            _ => wire::method_not_allowed("POST"),
        },
        "/userinfo" => match method {
            "GET" | "POST" => userinfo::handle(shared, rq),
            _ => wire::method_not_allowed("GET, POST"),
        },
        "/token/revoke" => match method {
            "POST" => session::revoke(shared, rq),
            _ => wire::method_not_allowed("POST"),
        },
        "/end-session" => match method {
            "GET" => session::end_session(shared, &rq.query()),
            _ => wire::method_not_allowed("GET"),
        },
        "/federation/initiate" => match method {
            "GET" => federation::initiate(shared, &rq.query()),
            _ => wire::method_not_allowed("GET"),
        },
        "/federation/tokens" => match method {
            "GET" => federation::list(shared, rq),
            _ => wire::method_not_allowed("GET"),
        },
        path => match path.strip_prefix("/federation/") {
            Some(token_id) if !token_id.contains('/') => match method {
                "GET" => federation::get(shared, rq, token_id),
                "DELETE" => federation::delete(shared, rq, token_id),
                _ => wire::method_not_allowed("GET, DELETE"),
            },
            _ => wire::error(404, "Not Found"),
        },
    }
}

fn discovery(issuer: &str) -> RawResponse {
    let mut scopes = seed::SCOPES.to_vec();
    scopes.sort_unstable();
    RawResponse::json(
        200,
        &json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "userinfo_endpoint": format!("{issuer}/userinfo"),
            "jwks_uri": format!("{issuer}{JWKS_PATH}"),
            "end_session_endpoint": format!("{issuer}/end-session"),
            "revocation_endpoint": format!("{issuer}/token/revoke"),
            "scopes_supported": scopes,
            "response_types_supported": ["code"],
            "grant_types_supported": [
                "authorization_code",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["EdDSA"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            "claims_supported": [
                "at_hash", "aud", "auth_time", "email", "email_verified", "exp", "family_name",
                "given_name", "iat", "iss", "name", "nonce", "origination", "roles", "sub",
            ],
            "code_challenge_methods_supported": ["S256"],
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
        }),
    )
}

fn jwks(shared: &Shared) -> RawResponse {
    let state = shared.lock();
    if state.faults.jwks_failure {
        return wire::error(500, "Internal Server Error");
    }
    match &state.faults.jwks_body {
        Some(body) => RawResponse::new(200, "application/json", body.clone()),
        None => RawResponse::json(200, &state.keys.jwks()),
    }
}
