//! `/federation/...`: the user's tokens at upstream providers.
//!
//! There is no upstream here: the seeded tokens stand for what a real provider would have handed
//! out, and `/federation/initiate` (re)links a provider at once.

use serde_json::{Value, json};

use super::claims;
use super::clock;
use super::directory;
use super::faults::RawResponse;
use super::ids;
use super::seed;
use super::signer;
use super::state::{ExternalToken, Shared};
use super::wire::{self, Incoming, Params};

/// How long an upstream token stays valid after each refresh (the server refreshes before
/// answering, so `expires_at` is always about this far ahead).
const UPSTREAM_LIFETIME: i64 = 3600;

struct Caller {
    sub: String,
    scopes: Vec<String>,
}

impl Caller {
    /// A caller sees a provider's tokens only when its access token carries the provider's id
    /// as a scope.
    fn covers(&self, provider_id: &str) -> bool {
        self.scopes.iter().any(|s| s == provider_id)
    }
}

fn caller(shared: &Shared, rq: &Incoming) -> Result<Caller, RawResponse> {
    if rq.header("Authorization").is_none() {
        return Err(wire::error(401, "Authorization header required."));
    }
    let Ok(Some(token)) = rq.bearer() else {
        return Err(wire::error(401, "Bad authorization header."));
    };
    let not_authenticated = || wire::error(401, "Not authenticated");
    let state = shared.lock();
    let claims = signer::verify(&state.keys, &shared.issuer, token, state.now(), true)
        .map_err(|_| not_authenticated())?;
    let user = claims
        .get("sub")
        .and_then(Value::as_str)
        .and_then(directory::user_by_sub)
        .ok_or_else(not_authenticated)?;
    Ok(Caller {
        sub: user.sub.to_owned(),
        scopes: claims::scopes_of(&claims),
    })
}

fn token_json(token: &ExternalToken, now: i64) -> Value {
    let expires_at =
        (!token.needs_reauthorization).then(|| clock::iso8601(now + UPSTREAM_LIFETIME));
    json!({
        "token_id": token.token_id,
        "provider_id": token.provider_id,
        "subject": token.subject,
        "access_token": token.access_token,
        "token_type": "Bearer",
        "expires_at": expires_at,
        "email": token.email,
    })
}

pub(super) fn list(shared: &Shared, rq: &Incoming) -> RawResponse {
    let caller = match caller(shared, rq) {
        Ok(c) => c,
        Err(refusal) => return refusal,
    };
    let state = shared.lock();
    let now = state.now();
    let tokens: Vec<Value> = state
        .external_tokens
        .iter()
        .filter(|t| t.owner == caller.sub && caller.covers(&t.provider_id))
        .map(|t| token_json(t, now))
        .collect();
    wire::message("External tokens retrieved.", json!({ "tokens": tokens }))
}

/// The index of the caller's token `token_id`, after the ownership and scope checks.
fn find(shared: &Shared, rq: &Incoming, token_id: &str) -> Result<usize, RawResponse> {
    let caller = caller(shared, rq)?;
    let not_found = || wire::error(404, "External token not found");
    if !ids::is_uuid(token_id) {
        return Err(not_found());
    }
    let state = shared.lock();
    let index = state
        .external_tokens
        .iter()
        .position(|t| t.token_id.eq_ignore_ascii_case(token_id))
        .ok_or_else(not_found)?;
    let token = &state.external_tokens[index];
    if token.owner != caller.sub {
        return Err(wire::error(403, "Unauthorized to perform this action."));
    }
    if !caller.covers(&token.provider_id) {
        return Err(wire::error(403, "Access not granted for this token."));
    }
    Ok(index)
}

pub(super) fn get(shared: &Shared, rq: &Incoming, token_id: &str) -> RawResponse {
    let index = match find(shared, rq, token_id) {
        Ok(i) => i,
        Err(refusal) => return refusal,
    };
    let state = shared.lock();
    let Some(token) = state.external_tokens.get(index) else {
        return wire::error(404, "External token not found");
    };
    if token.needs_reauthorization {
        return RawResponse::json(
            401,
            &json!({
                "error": "reauthorization_required",
                "error_description": format!(
                    "The {} token expired and could not be refreshed; the user must authorize again.",
                    token.provider_id
                ),
                "provider_id": token.provider_id,
            }),
        );
    }
    wire::message("External token retrieved.", token_json(token, state.now()))
        .header("Cache-Control", "no-store")
}

pub(super) fn delete(shared: &Shared, rq: &Incoming, token_id: &str) -> RawResponse {
    let index = match find(shared, rq, token_id) {
        Ok(i) => i,
        Err(refusal) => return refusal,
    };
    let mut state = shared.lock();
    if index < state.external_tokens.len() {
        state.external_tokens.remove(index);
    }
    wire::message("External token deleted.", json!({}))
}

/// Links `provider_id` for the session's user (the one named by `login_hint`, else Ada) and sends
/// the browser straight back, as if the upstream consent screen had been accepted.
pub(super) fn initiate(shared: &Shared, params: &Params) -> RawResponse {
    if let Some(missing) = params.missing(&["provider_id", "client_id", "redirect_uri"]) {
        return wire::error(
            422,
            &format!("Missing required query parameter(s): {missing}"),
        );
    }
    let provider_id = params.get("provider_id").unwrap_or_default();
    let redirect_uri = params.get("redirect_uri").unwrap_or_default();
    let Some(client) = params.get("client_id").and_then(|id| shared.client(id)) else {
        return wire::error(400, "Invalid client_id");
    };
    if !client.accepts_redirect_uri(redirect_uri) {
        return wire::error(400, "Invalid redirect_uri");
    }
    let state_param = params.get("state");
    let back = |pairs: &[(&str, &str)]| wire::redirect_with_state(redirect_uri, pairs, state_param);
    let email = params.get("login_hint").unwrap_or(seed::USER_EMAIL);
    let Some(user) = directory::user_by_email(email) else {
        return back(&[
            ("error", "federation_failed"),
            ("error_description", "Unknown user"),
            ("provider_id", provider_id),
        ]);
    };
    if !directory::PROVIDERS.contains(&provider_id) {
        let description = format!("Unknown provider: {provider_id}");
        return back(&[
            ("error", "federation_failed"),
            ("error_description", &description),
            ("provider_id", provider_id),
        ]);
    }
    let mut state = shared.lock();
    let linked = state
        .external_tokens
        .iter_mut()
        .find(|t| t.owner == user.sub && t.provider_id == provider_id);
    match linked {
        Some(token) => {
            token.needs_reauthorization = false;
            token.access_token = format!("{provider_id}_relinked_{}", ids::opaque_secret());
        }
        None => {
            let local = user.email.split('@').next().unwrap_or_default();
            state.external_tokens.push(ExternalToken {
                token_id: ids::uuid(),
                owner: user.sub.to_owned(),
                provider_id: provider_id.to_owned(),
                subject: format!("{local}-{provider_id}"),
                access_token: format!("{provider_id}_linked_{}", ids::opaque_secret()),
                email: format!("{local}@users.{provider_id}.example"),
                needs_reauthorization: false,
            });
        }
    }
    drop(state);
    back(&[("provider_id", provider_id)])
}
