//! `GET|POST /authorize`: the authorization-code request, with the login and the consent of a
//! browser session taken for granted, or (with the login page on) a login form whose `POST` back
//! logs the user in.

use super::directory::{self, Client};
use super::faults::RawResponse;
use super::ids;
use super::seed;
use super::state::{AuthCode, Shared};
use super::wire::{self, Params};

const REQUIRED: &[&str] = &["response_type", "client_id", "redirect_uri", "scope"];

/// `may_show_page`: a `GET`, which the login page (when on) answers instead of logging in.
pub(super) fn handle(shared: &Shared, params: &Params, may_show_page: bool) -> RawResponse {
    if let Some(missing) = params.missing(REQUIRED) {
        return wire::error(
            422,
            &format!("Missing required query parameter(s): {missing}"),
        );
    }
    let client_id = params.get("client_id").unwrap_or_default();
    let redirect_uri = params.get("redirect_uri").unwrap_or_default();
    // Checked before anything is reported by redirect: redirecting errors to an unverified URI
    // would make the server an open redirector.
    let Some(client) = shared
        .client(client_id)
        .filter(|_| params.repeated() != Some("client_id"))
    else {
        return wire::error(400, "Invalid client_id");
    };
    if !client.accepts_redirect_uri(redirect_uri) || params.repeated() == Some("redirect_uri") {
        return wire::error(400, "Invalid redirect_uri");
    }
    let state_param = params.get("state");
    let refuse = |error: &str, description: &str| {
        wire::redirect_with_state(
            redirect_uri,
            &[("error", error), ("error_description", description)],
            state_param,
        )
    };

    if let Some((error, description)) = shared.lock().faults.authorize_error.clone() {
        return refuse(&error, &description);
    }
    match check(&client, params) {
        Err((error, description)) => refuse(error, &description),
        Ok(_) if may_show_page && shared.lock().login_page => login_page(params),
        Ok(request) => {
            let user = match params.get("login_hint") {
                None => directory::user_by_email(seed::USER_EMAIL),
                Some(email) => directory::user_by_email(email),
            };
            let Some(user) = user else {
                return refuse("access_denied", "Unknown user");
            };
            let code = ids::opaque_secret();
            let mut state = shared.lock();
            let now = state.now();
            state.codes.insert(
                code.clone(),
                AuthCode {
                    client_id: client.id.to_owned(),
                    redirect_uri: redirect_uri.to_owned(),
                    code_challenge: request.code_challenge,
                    nonce: params.get("nonce").map(str::to_owned),
                    scopes: request.scopes,
                    sub: user.sub.to_owned(),
                    auth_time: now,
                    issued_at: now,
                    used: false,
                },
            );
            wire::redirect_with_state(redirect_uri, &[("code", code.as_str())], state_param)
        }
    }
}

/// The form a browser without a session at Verys gets: the request's parameters, the user's
/// email (`login_hint`'s, else Ada's) to edit, posted back to `/authorize`.
fn login_page(params: &Params) -> RawResponse {
    let mut fields = String::new();
    for (name, value) in params
        .pairs()
        .iter()
        .filter(|(name, _)| name != "login_hint")
    {
        fields.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape(name),
            escape(value)
        ));
    }
    let email = params.get("login_hint").unwrap_or(seed::USER_EMAIL);
    let body = format!(
        "<!doctype html><title>Sign in to Verys</title><form method=\"post\" action=\"/authorize\">\
         {fields}<label>Email <input name=\"login_hint\" value=\"{}\"></label>\
         <button>Sign in</button></form>",
        escape(email)
    );
    RawResponse::new(200, "text/html; charset=utf-8", body)
}

/// Text as an HTML attribute value or element content.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

struct Accepted {
    scopes: Vec<String>,
    code_challenge: Option<String>,
}

/// The checks whose failures go back to the client by redirect.
fn check(client: &Client, params: &Params) -> Result<Accepted, (&'static str, String)> {
    if params.get("request").is_some() {
        return Err((
            "request_not_supported",
            "The request parameter is not supported".into(),
        ));
    }
    if params.get("request_uri").is_some() {
        return Err((
            "request_uri_not_supported",
            "The request_uri parameter is not supported".into(),
        ));
    }
    if let Some(name) = params.repeated() {
        return Err(("invalid_request", format!("Parameter {name} is repeated")));
    }
    if params.get("response_type") != Some("code") {
        return Err((
            "unsupported_response_type",
            "Only response_type=code is supported".into(),
        ));
    }

    let mut scopes: Vec<String> = Vec::new();
    for scope in params.get("scope").unwrap_or_default().split(' ') {
        if scope.is_empty() || scopes.iter().any(|s| s == scope) {
            continue;
        }
        if !seed::SCOPES.contains(&scope) {
            return Err(("invalid_scope", format!("Unknown scope: {scope}")));
        }
        if !client.allows_scope(scope) {
            return Err((
                "invalid_scope",
                format!("Scope {scope} is not allowed for this client"),
            ));
        }
        scopes.push(scope.to_owned());
    }
    if !scopes.iter().any(|s| s == "openid") {
        return Err(("invalid_scope", "The openid scope is required".into()));
    }

    let code_challenge = match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (None, None) if client.is_public() => {
            return Err((
                "invalid_request",
                "Public clients must send a code_challenge (PKCE)".into(),
            ));
        }
        (None, None) => None,
        (Some(challenge), Some("S256")) if is_s256_challenge(challenge) => {
            Some(challenge.to_owned())
        }
        (Some(_), Some("S256")) => {
            return Err((
                "invalid_request",
                "code_challenge must be 43 base64url characters".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(("invalid_request", "code_challenge is missing".into()));
        }
        (Some(_), _) => {
            return Err((
                "invalid_request",
                "code_challenge_method must be S256".into(),
            ));
        }
    };

    if let Some(prompt) = params.get("prompt") {
        let values: Vec<&str> = prompt.split(' ').filter(|v| !v.is_empty()).collect();
        if let Some(bad) = values
            .iter()
            .find(|v| !["none", "login", "consent"].contains(v))
        {
            return Err((
                "invalid_request",
                format!("Unsupported prompt value: {bad}"),
            ));
        }
        if values.contains(&"none") && values.len() > 1 {
            return Err((
                "invalid_request",
                "prompt=none cannot be combined with other values".into(),
            ));
        }
    }
    if let Some(max_age) = params.get("max_age")
        && max_age.parse::<u64>().is_err()
    {
        return Err((
            "invalid_request",
            "max_age must be a non-negative integer".into(),
        ));
    }
    Ok(Accepted {
        scopes,
        code_challenge,
    })
}

/// A SHA-256 digest in base64url without padding is exactly 43 characters.
fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
