//! `POST /token`: client authentication and the three grants.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::claims::{self, IdTokenContext, TOKEN_LIFETIME};
use super::directory::{self, Client, User};
use super::faults::RawResponse;
use super::ids;
use super::signer::{self, Rejection};
use super::state::{RefreshGrant, Shared, State};
use super::wire::{self, Incoming, Params};

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const CODE_LIFETIME: i64 = 60;

pub(super) fn handle(shared: &Shared, rq: &Incoming) -> RawResponse {
    // RFC 6749 5.1/5.2: token responses, errors included, must never be cached.
    grant(shared, rq)
        .unwrap_or_else(|refusal| refusal)
        .header("Cache-Control", "no-store")
        .header("Pragma", "no-cache")
}

fn grant(shared: &Shared, rq: &Incoming) -> Result<RawResponse, RawResponse> {
    let Some(form) = rq.form() else {
        return Err(invalid_request(
            "The body must be application/x-www-form-urlencoded",
        ));
    };
    if let Some(name) = form.repeated() {
        return Err(invalid_request(&format!("Parameter {name} is repeated")));
    }
    let client = authenticate(shared, rq, &form)?;
    match form.get("grant_type") {
        None => Err(invalid_request("grant_type is required")),
        Some("authorization_code") => code_grant(shared, &client, &form),
        Some("refresh_token") => refresh_grant(shared, &client, &form),
        Some(TOKEN_EXCHANGE) => token_exchange(shared, &form),
        Some(_) => Err(wire::oauth_error(
            400,
            "unsupported_grant_type",
            "Unsupported grant type",
        )),
    }
}

fn invalid_request(description: &str) -> RawResponse {
    wire::oauth_error(400, "invalid_request", description)
}

fn invalid_grant(description: &str) -> RawResponse {
    wire::oauth_error(400, "invalid_grant", description)
}

fn invalid_client() -> RawResponse {
    wire::oauth_error(401, "invalid_client", "Client authentication failed")
        .header("WWW-Authenticate", "Basic")
}

/// HTTP Basic first, then the form. The Basic credentials are taken verbatim after base64
/// decoding: Verys does not apply RFC 6749 2.3.1's form-decoding, so a client that URL-encodes
/// the secret's `/`, `+` and `=` fails here, as it would against the real server.
fn authenticate(shared: &Shared, rq: &Incoming, form: &Params) -> Result<Client, RawResponse> {
    if let Some(value) = rq.header("Authorization") {
        let (id, secret) = basic_credentials(value).ok_or_else(invalid_client)?;
        if form.get("client_secret").is_some() {
            return Err(invalid_request(
                "Use one client authentication method, not two",
            ));
        }
        if form.get("client_id").is_some_and(|form_id| form_id != id) {
            return Err(invalid_client());
        }
        let client = shared.client(&id).ok_or_else(invalid_client)?;
        return match &client.secret {
            Some(expected) if same_secret(expected, &secret) => Ok(client),
            _ => Err(invalid_client()),
        };
    }
    let client = form
        .get("client_id")
        .and_then(|id| shared.client(id))
        .ok_or_else(invalid_client)?;
    match (client.secret.as_deref(), form.get("client_secret")) {
        (None, None) => Ok(client),
        (Some(expected), Some(given)) if same_secret(expected, given) => Ok(client),
        _ => Err(invalid_client()),
    }
}

fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("Basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// Constant-time, so that users copying this server's habits copy a good one.
fn same_secret(expected: &str, given: &str) -> bool {
    expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn code_grant(shared: &Shared, client: &Client, form: &Params) -> Result<RawResponse, RawResponse> {
    let Some(code) = form.get("code") else {
        return Err(invalid_request("Authorization code is required"));
    };
    let mut state = shared.lock();
    let now = state.now();
    let Some(record) = state.codes.get(code) else {
        return Err(invalid_grant("Authorization code not found"));
    };
    if record.used {
        // A replayed code suggests it leaked: whatever it bought must stop working.
        let (sub, client_id) = (record.sub.clone(), record.client_id.clone());
        state.revoke_refresh_tokens(&sub, &client_id);
        return Err(invalid_grant("Authorization code has already been used"));
    }
    if now > record.issued_at + CODE_LIFETIME {
        return Err(invalid_grant("Authorization code has expired"));
    }
    if record.client_id != client.id {
        return Err(invalid_grant("Client mismatch"));
    }
    if form.get("redirect_uri") != Some(record.redirect_uri.as_str()) {
        return Err(invalid_grant("Redirect URI mismatch"));
    }
    match (&record.code_challenge, form.get("code_verifier")) {
        (None, None) => {}
        (Some(_), None) => return Err(invalid_request("Code verifier is required")),
        (Some(challenge), Some(verifier))
            if is_code_verifier(verifier)
                && URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == *challenge => {}
        // A verifier without a challenge is refused too: it means a downgrade somewhere.
        _ => return Err(invalid_grant("Invalid code verifier")),
    }
    let Some(user) = directory::user_by_sub(&record.sub) else {
        return Err(invalid_grant("Unknown identity"));
    };
    let Some(record) = state.codes.get_mut(code) else {
        return Err(invalid_grant("Authorization code not found"));
    };
    record.used = true;
    let (scopes, auth_time, nonce) = (
        record.scopes.clone(),
        record.auth_time,
        record.nonce.clone(),
    );
    Ok(issue(
        &mut state,
        &shared.issuer,
        &client.id,
        user,
        scopes,
        auth_time,
        nonce.as_deref(),
    ))
}

/// RFC 7636 4.1: 43 to 128 unreserved characters.
fn is_code_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

fn refresh_grant(
    shared: &Shared,
    client: &Client,
    form: &Params,
) -> Result<RawResponse, RawResponse> {
    let Some(token) = form.get("refresh_token") else {
        return Err(invalid_request("Refresh token is required"));
    };
    let mut state = shared.lock();
    let rotates = !state.faults.withhold_refresh_tokens;
    let Some(grant) = state.refresh_tokens.get_mut(token).filter(|g| !g.revoked) else {
        return Err(invalid_grant("Refresh token is revoked or expired"));
    };
    if grant.client_id != client.id {
        return Err(invalid_grant("Client mismatch"));
    }
    let mut scopes = grant.scopes.clone();
    if let Some(requested) = form.get("scope") {
        let requested: Vec<String> = requested
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if requested.iter().any(|s| !scopes.contains(s)) {
            return Err(wire::oauth_error(
                400,
                "invalid_scope",
                "Requested scope exceeds the original grant",
            ));
        }
        scopes = requested;
    }
    // Without rotation the old refresh token stays the client's only one.
    grant.revoked = rotates;
    let (sub, auth_time) = (grant.sub.clone(), grant.auth_time);
    let Some(user) = directory::user_by_sub(&sub) else {
        return Err(invalid_grant("Unknown identity"));
    };
    Ok(issue(
        &mut state,
        &shared.issuer,
        &client.id,
        user,
        scopes,
        auth_time,
        None,
    ))
}

/// The response of the code and refresh grants, recording the new refresh token.
fn issue(
    state: &mut State,
    issuer: &str,
    client_id: &str,
    user: &User,
    scopes: Vec<String>,
    auth_time: i64,
    nonce: Option<&str>,
) -> RawResponse {
    let lifetime = state.faults.token_lifetime.unwrap_or(TOKEN_LIFETIME);
    let access_token = claims::access_token(
        state,
        issuer,
        user.sub,
        issuer,
        &scopes,
        lifetime,
        state.faults.access_token.as_ref(),
    );
    let id_token = claims::id_token(
        state,
        issuer,
        user,
        &IdTokenContext {
            client_id,
            scopes: &scopes,
            auth_time,
            nonce,
            access_token: &access_token,
        },
    );
    let scope = scopes.join(" ");
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "id_token": id_token,
        "scope": scope,
    });
    if !state.faults.withhold_refresh_tokens {
        let refresh_token = ids::opaque_secret();
        body["refresh_token"] = refresh_token.clone().into();
        state.refresh_tokens.insert(
            refresh_token,
            RefreshGrant {
                client_id: client_id.to_owned(),
                sub: user.sub.to_owned(),
                scopes,
                auth_time,
                revoked: false,
            },
        );
    }
    RawResponse::json(200, &body)
}

/// RFC 8693, with the subject token checked as the server's own access token. The exchanged token
/// keeps the subject token's scopes; only its audience changes.
fn token_exchange(shared: &Shared, form: &Params) -> Result<RawResponse, RawResponse> {
    let Some(subject_token) = form.get("subject_token") else {
        return Err(invalid_request("subject_token is required"));
    };
    if form.get("subject_token_type") != Some(ACCESS_TOKEN_TYPE) {
        return Err(invalid_request(&format!(
            "subject_token_type must be {ACCESS_TOKEN_TYPE}"
        )));
    }
    if form
        .get("requested_token_type")
        .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
    {
        return Err(invalid_request(&format!(
            "requested_token_type must be {ACCESS_TOKEN_TYPE}"
        )));
    }
    let Some(audience) = form.get("audience") else {
        return Err(invalid_request("audience is required"));
    };
    let state = shared.lock();
    let subject = signer::verify(
        &state.keys,
        &shared.issuer,
        subject_token,
        state.now(),
        true,
    )
    .map_err(|rejection| match rejection {
        Rejection::Expired => invalid_grant("Subject token has expired"),
        Rejection::Malformed | Rejection::Invalid => invalid_grant("Invalid subject token"),
    })?;
    let Some(user) = subject
        .get("sub")
        .and_then(|s| s.as_str())
        .and_then(directory::user_by_sub)
    else {
        return Err(invalid_grant("Unknown identity"));
    };
    let Some(target) = shared.client(audience) else {
        return Err(wire::oauth_error(
            400,
            "invalid_target",
            "Audience is not a registered OAuth client",
        ));
    };
    let scopes = claims::scopes_of(&subject);
    let lacking: Vec<&str> = target
        .required_scopes
        .iter()
        .map(String::as_str)
        .filter(|needed| !scopes.iter().any(|s| s == needed))
        .collect();
    if !lacking.is_empty() {
        return Err(wire::oauth_error(
            403,
            "insufficient_scope",
            &format!(
                "The subject token lacks scope(s) required by {audience}: {}",
                lacking.join(" ")
            ),
        ));
    }
    if !target.consented_by_all {
        return Err(wire::oauth_error(
            403,
            "access_denied",
            &format!("The user has not consented to {audience}"),
        ));
    }
    let access_token = claims::access_token(
        &state,
        &shared.issuer,
        user.sub,
        audience,
        &scopes,
        TOKEN_LIFETIME,
        state.faults.access_token.as_ref(),
    );
    Ok(RawResponse::json(
        200,
        &json!({
            "access_token": access_token,
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
        }),
    ))
}
