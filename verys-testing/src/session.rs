//! Ending things: `POST /token/revoke` and `GET /end-session`.

use serde_json::{Value, json};

use super::faults::RawResponse;
use super::signer;
use super::state::Shared;
use super::wire::{self, Incoming, Params};

/// RFC 7009 2.2: the answer is the same whether or not the token was known, so that revocation
/// cannot be used to probe for valid tokens.
pub(super) fn revoke(shared: &Shared, rq: &Incoming) -> RawResponse {
    let token = rq
        .form()
        .and_then(|form| form.get("token").map(str::to_owned));
    if let Some(token) = token
        && let Some(grant) = shared.lock().refresh_tokens.get_mut(&token)
    {
        grant.revoked = true;
    }
    RawResponse::json(200, &json!({ "message": "Token revoked." }))
}

/// RP-initiated logout. The hint's signature is checked but not its expiry: OIDC RP-Initiated
/// Logout 1.0 lets a relying party send an ID token that has since expired.
pub(super) fn end_session(shared: &Shared, params: &Params) -> RawResponse {
    let hint = match params.get("id_token_hint") {
        None => None,
        Some(token) => {
            let state = shared.lock();
            match signer::verify(&state.keys, &shared.issuer, token, state.now(), false) {
                Ok(claims) => Some(claims),
                Err(_) => return wire::error(400, "Invalid id_token_hint"),
            }
        }
    };
    let client_id = hint
        .as_ref()
        .and_then(|c| c.get("aud"))
        .and_then(Value::as_str);
    let sub = hint
        .as_ref()
        .and_then(|c| c.get("sub"))
        .and_then(Value::as_str);
    let post_logout = params.get("post_logout_redirect_uri");
    if let Some(uri) = post_logout {
        let Some(client) = client_id.and_then(|id| shared.client(id)) else {
            return wire::error(
                400,
                "id_token_hint is required with post_logout_redirect_uri",
            );
        };
        if !client.accepts_redirect_uri(uri) {
            return wire::error(400, "Invalid post_logout_redirect_uri");
        }
    }
    if let (Some(sub), Some(client_id)) = (sub, client_id) {
        shared.lock().revoke_refresh_tokens(sub, client_id);
    }
    match post_logout {
        Some(uri) if params.get("state").is_none() => RawResponse::redirect(uri),
        Some(uri) => wire::redirect_with_state(uri, &[], params.get("state")),
        None => RawResponse::new(
            200,
            "text/html; charset=utf-8",
            "<!doctype html><title>Signed out</title><p>You have been signed out.</p>",
        ),
    }
}
