//! `GET|POST /userinfo`.

use serde_json::{Map, Value, json};

use super::claims;
use super::directory;
use super::faults::RawResponse;
use super::signer::{self, Rejection};
use super::state::Shared;
use super::wire::{self, Incoming};

pub(super) fn handle(shared: &Shared, rq: &Incoming) -> RawResponse {
    let token = match rq.bearer() {
        Ok(Some(token)) => Some(token.to_owned()),
        Err(()) => return unauthorized("Invalid token"),
        // RFC 6750 2.2: the form field is only for POST bodies.
        Ok(None) if rq.method == "POST" => rq
            .form()
            .and_then(|form| form.get("access_token").map(str::to_owned)),
        Ok(None) => None,
    };
    let Some(token) = token else {
        return unauthorized("Missing access token");
    };
    let state = shared.lock();
    let verified = signer::verify(&state.keys, &shared.issuer, &token, state.now(), true);
    drop(state);
    let token_claims = match verified {
        Ok(c) => c,
        Err(Rejection::Expired) => return unauthorized("Token expired"),
        Err(Rejection::Malformed | Rejection::Invalid) => return unauthorized("Invalid token"),
    };
    let Some(user) = token_claims
        .get("sub")
        .and_then(Value::as_str)
        .and_then(directory::user_by_sub)
    else {
        return unauthorized("Identity not found");
    };
    let mut body = Map::new();
    body.insert("sub".into(), json!(user.sub));
    claims::user_claims(user, &claims::scopes_of(&token_claims), &mut body);
    RawResponse::json(200, &Value::Object(body))
}

fn unauthorized(text: &str) -> RawResponse {
    wire::error(401, text).header("WWW-Authenticate", "Bearer")
}
