//! The claims of the tokens and of `/userinfo`, per the protocol's "Tokens" section.

use serde_json::{Map, Value, json};

use super::directory::{self, User};
use super::faults::{self, IdTokenFault, TokenKind};
use super::signer;
use super::state::State;

/// Lifetime of both ID and access tokens, and the `expires_in` of token responses.
pub(super) const TOKEN_LIFETIME: i64 = 300;

fn header(state: &State) -> Value {
    json!({ "alg": "EdDSA", "typ": "JWT", "kid": state.keys.current().kid() })
}

/// The scope-dependent user claims shared by ID tokens and `/userinfo`.
pub(super) fn user_claims(user: &User, scopes: &[String], into: &mut Map<String, Value>) {
    let has = |scope: &str| scopes.iter().any(|s| s == scope);
    if has("email") {
        into.insert("email".into(), json!(user.email));
        into.insert("email_verified".into(), json!(user.email_verified));
    }
    if has("profile") {
        into.insert("given_name".into(), json!(user.given_name));
        into.insert("family_name".into(), json!(user.family_name));
        into.insert("name".into(), json!(user.name()));
        into.insert("origination".into(), json!(user.origination));
    }
    if !user.roles.is_empty() {
        into.insert("roles".into(), json!(user.roles));
    }
}

/// An access token; `fault` is `None` for tokens that must be right (minted for tests).
pub(super) fn access_token(
    state: &State,
    issuer: &str,
    sub: &str,
    audience: &str,
    scopes: &[String],
    lifetime: i64,
    fault: Option<&IdTokenFault>,
) -> String {
    let now = state.now();
    let roles = directory::user_by_sub(sub).map_or(&[][..], |u| u.roles);
    let claims = json!({
        "iss": issuer,
        "sub": sub,
        "aud": audience,
        "roles": roles,
        "iat": now,
        "exp": now + lifetime,
        "scopes": scopes,
    });
    faults::mint(
        &state.keys,
        header(state),
        claims,
        fault,
        TokenKind::Access,
        now,
    )
}

/// What an ID token says beyond the user: who it is for and how the login went.
pub(super) struct IdTokenContext<'a> {
    pub client_id: &'a str,
    pub scopes: &'a [String],
    pub auth_time: i64,
    pub nonce: Option<&'a str>,
    pub access_token: &'a str,
}

pub(super) fn id_token(
    state: &State,
    issuer: &str,
    user: &User,
    ctx: &IdTokenContext<'_>,
) -> String {
    let now = state.now();
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(issuer));
    claims.insert("sub".into(), json!(user.sub));
    claims.insert("aud".into(), json!(ctx.client_id));
    claims.insert("exp".into(), json!(now + TOKEN_LIFETIME));
    claims.insert("iat".into(), json!(now));
    claims.insert("auth_time".into(), json!(ctx.auth_time));
    if let Some(nonce) = ctx.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    claims.insert("at_hash".into(), json!(signer::at_hash(ctx.access_token)));
    user_claims(user, ctx.scopes, &mut claims);
    faults::mint(
        &state.keys,
        header(state),
        Value::Object(claims),
        state.faults.id_token.as_ref(),
        TokenKind::Id,
        now,
    )
}

/// The `scopes` claim of a verified access token; anything but a list of strings counts as none.
pub(super) fn scopes_of(claims: &Value) -> Vec<String> {
    claims
        .get("scopes")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
