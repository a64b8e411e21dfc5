//! `/userinfo`: claims about the user, by the access token's scopes.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::flow::tokens::Tokens;
use crate::protocol::config::Config;
use crate::protocol::wire::{HttpResponse, Method};
use crate::protocol::{self, Call};

/// The userinfo answer, typed.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[non_exhaustive]
pub struct UserInfo {
    /// The subject, equal to the ID token's (checked).
    pub sub: String,
    /// E-mail address (scope `email`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether Verys verified the address (scope `email`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// Given name (scope `profile`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Family name (scope `profile`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Full name (scope `profile`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where the identity came from, an ISO-8601 string (scope `profile`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origination: Option<String>,
    /// The user's roles.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// `GET /userinfo` with the access token of `tokens`, checked against the
/// subject of their ID token (OpenID Connect Core 5.3.2: a different `sub`
/// means the answer is not about this user).
pub(crate) fn call(config: &Config, tokens: &Tokens) -> Call<UserInfo> {
    let request = config.bearer_request(
        Method::Get,
        &config.endpoints.userinfo,
        tokens.access_token().expose_secret(),
    );
    let expected = tokens.sub().to_owned();
    Call::new("userinfo", request, move |response: HttpResponse, _| {
        let info: UserInfo = protocol::decode_success(&response, "userinfo")?;
        if info.sub == expected {
            Ok(info)
        } else {
            Err(Error::UserinfoSubjectMismatch)
        }
    })
}
