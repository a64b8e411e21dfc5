//! Federated external tokens: the upstream providers' tokens (GitHub, …) that
//! Verys holds for a user.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::SystemTime;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::clock::system_time_signed;
use crate::error::{ERROR_CODE_LIMIT, Error, server_text};
use crate::flow::callback::{CallbackParams, CallbackUrl};
use crate::flow::pkce::random_value;
use crate::flow::tokens::AccessToken;
use crate::protocol::config::{Config, endpoint};
use crate::protocol::wire::{HttpResponse, Method};
use crate::protocol::{self, Call, server_error};

/// An upstream provider's token that Verys keeps for the user.
#[derive(Clone)]
#[non_exhaustive]
pub struct ExternalToken {
    /// Verys's id of this token (a UUID), for [`crate::Client::external_token`].
    pub token_id: String,
    /// The provider, such as `github`.
    pub provider_id: String,
    /// The user's id at the provider.
    pub subject: String,
    /// The provider's token type, usually `Bearer`.
    pub token_type: String,
    /// When the provider's token expires, if it does.
    pub expires_at: Option<SystemTime>,
    /// The user's e-mail address at the provider.
    pub email: Option<String>,
    access_token: SecretString,
}

impl ExternalToken {
    /// The provider's access token, to call the provider's API.
    pub fn expose_secret(&self) -> &str {
        self.access_token.expose_secret()
    }
}

impl fmt::Debug for ExternalToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalToken")
            .field("token_id", &self.token_id)
            .field("provider_id", &self.provider_id)
            .field("subject", &self.subject)
            .field("access_token", &"[REDACTED]")
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .field("email", &self.email)
            .finish()
    }
}

#[derive(Deserialize)]
struct WireToken {
    token_id: String,
    provider_id: String,
    subject: String,
    access_token: SecretString,
    token_type: String,
    expires_at: Option<String>,
    email: Option<String>,
}

impl TryFrom<WireToken> for ExternalToken {
    type Error = Error;
    fn try_from(wire: WireToken) -> Result<Self, Error> {
        let expires_at = match wire.expires_at {
            None => None,
            Some(text) => {
                let seconds = parse_rfc3339(&text).ok_or_else(|| Error::InvalidResponse {
                    endpoint: "federation",
                    reason: "expires_at is not an rfc 3339 date-time".into(),
                })?;
                Some(system_time_signed(seconds))
            }
        };
        Ok(Self {
            token_id: wire.token_id,
            provider_id: wire.provider_id,
            subject: wire.subject,
            token_type: wire.token_type,
            expires_at,
            email: wire.email,
            access_token: wire.access_token,
        })
    }
}

#[derive(Deserialize)]
struct TokenList {
    tokens: Vec<WireToken>,
}

/// Reads `GET /federation/tokens`.
pub(crate) fn decode_list(response: HttpResponse, _: u64) -> Result<Vec<ExternalToken>, Error> {
    let list: TokenList = protocol::decode_success(&federation_answer(response)?, "federation")?;
    list.tokens
        .into_iter()
        .map(ExternalToken::try_from)
        .collect()
}

/// Reads `GET /federation/{token_id}`.
pub(crate) fn decode_one(response: HttpResponse, _: u64) -> Result<ExternalToken, Error> {
    let wire: WireToken = protocol::decode_success(&federation_answer(response)?, "federation")?;
    ExternalToken::try_from(wire)
}

#[derive(Deserialize)]
struct ReauthBody {
    provider_id: String,
}

/// Turns the 401 `reauthorization_required` answer into its own error, so a
/// caller can send the browser to link the provider again.
fn federation_answer(response: HttpResponse) -> Result<HttpResponse, Error> {
    if response.status == 401 {
        let error = server_error(&response);
        if error.error() == Some("reauthorization_required") {
            let provider_id = serde_json::from_slice::<ReauthBody>(&response.body)
                .map_err(|e| Error::InvalidResponse {
                    endpoint: "federation",
                    reason: crate::error::json_reason(&e),
                })?
                .provider_id;
            // The id goes into an error text and a link: an identifier only.
            let provider_id = server_text(&provider_id, ERROR_CODE_LIMIT)
                .filter(|id| !id.is_empty() && !id.contains(' '))
                .ok_or_else(|| Error::InvalidResponse {
                    endpoint: "federation",
                    reason: "provider_id is not a provider id".into(),
                })?;
            return Err(Error::ExternalReauth {
                provider_id,
                description: error.description,
            });
        }
    }
    Ok(response)
}

/// Reads `DELETE /federation/{token_id}`: Verys confirms with a `message`,
/// and a 200 without one (an empty object, `null`) says nothing was deleted.
pub(crate) fn decode_deleted(response: HttpResponse, _: u64) -> Result<(), Error> {
    protocol::decode_success::<Deleted>(&federation_answer(response)?, "federation").map(drop)
}

/// The confirmation of a deletion; its text is not read.
#[derive(Deserialize)]
struct Deleted {
    #[serde(rename = "message")]
    _message: String,
}

/// A started link of an external provider: the `/federation/initiate` URL
/// to send the browser to (it needs the user's Verys session), and what its
/// return must say. `Serialize + Deserialize`, to survive the redirect.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingLink {
    url: String,
    provider_id: String,
    state: String,
}

impl PendingLink {
    pub(crate) fn new(config: &Config, provider_id: &str) -> Self {
        let state = random_value(&*config.randomness, 32);
        let mut url = endpoint(&config.endpoints.federation, &["initiate"]);
        url.query_pairs_mut()
            .append_pair("provider_id", provider_id)
            .append_pair("client_id", &config.client_id)
            .append_pair("redirect_uri", &config.redirect_uri)
            .append_pair("state", &state);
        Self {
            url: url.into(),
            provider_id: provider_id.to_owned(),
            state,
        }
    }

    /// The URL to send the browser to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The provider being linked.
    pub fn provider_id(&self) -> &str {
        &self.provider_id
    }

    /// Checks the redirect back: `error=federation_failed` becomes
    /// [`Error::FederationFailed`], any other `error` [`Error::Callback`]; the
    /// `provider_id` must be the one asked for, and a `state`, when Verys
    /// returns one, must be this link's. Returns the linked provider.
    ///
    /// The protocol does not promise that Verys returns `state` (the link
    /// request carries one all the same). A return without it cannot be tied
    /// to this link: anyone can send a browser to the redirect URI with
    /// `provider_id=github`. So `Ok` says only that the browser came back
    /// saying the provider is linked; confirm it with
    /// [`Client::external_tokens`](crate::Client::external_tokens) before
    /// relying on it. An error without `state` keeps its code but not its
    /// description, which anyone could have written.
    ///
    /// # Errors
    ///
    /// The errors above, [`Error::StateMismatch`] for another link's
    /// `state`, [`Error::MalformedCallback`] for another provider or an
    /// unreadable callback, [`Error::DuplicateParameter`].
    pub fn receive(self, callback: &(impl CallbackUrl + ?Sized)) -> Result<String, Error> {
        let params = CallbackParams::parse(callback)?;
        let tied = params.first("state").is_some();
        if tied {
            params.check_state(&self.state)?;
        }
        let description = params.error_description().filter(|_| tied);
        match params.error_code() {
            Some(error) if error == "federation_failed" => {
                return Err(Error::FederationFailed {
                    provider_id: self.provider_id,
                    description,
                });
            }
            Some(error) => return Err(Error::Callback { error, description }),
            None => {}
        }
        if params.first("provider_id") != Some(self.provider_id.as_str()) {
            return Err(Error::MalformedCallback(
                "the callback names another provider".into(),
            ));
        }
        params.check_no_repeats()?;
        Ok(self.provider_id)
    }
}

/// `GET /federation/tokens`.
pub(crate) fn external_tokens(
    config: &Config,
    access_token: &AccessToken,
) -> Call<Vec<ExternalToken>> {
    let url = endpoint(&config.endpoints.federation, &["tokens"]);
    let request = config.bearer_request(Method::Get, url.as_str(), access_token.expose_secret());
    Call::new("external_tokens", request, decode_list)
}

/// `{federation}/{token_id}`, for a token id in the hyphenated UUID form
/// Verys gives (the protocol: "token_id is a UUID"). Anything else could
/// address another resource with the user's bearer token: URL joining drops
/// `.` and `..`, and removes tabs and newlines first, so `"..\t"` is `..`.
fn token_url(config: &Config, token_id: &str) -> Result<url::Url, Error> {
    let hyphenated = token_id.len() == uuid::fmt::Hyphenated::LENGTH;
    if !hyphenated || uuid::Uuid::try_parse(token_id).is_err() {
        return Err(Error::InvalidTokenId);
    }
    Ok(endpoint(&config.endpoints.federation, &[token_id]))
}

/// `DELETE /federation/{token_id}`.
pub(crate) fn delete_external_token(
    config: &Config,
    access_token: &AccessToken,
    token_id: &str,
) -> Result<Call<()>, Error> {
    let url = token_url(config, token_id)?;
    let request = config.bearer_request(Method::Delete, url.as_str(), access_token.expose_secret());
    Ok(Call::new("delete_external_token", request, decode_deleted))
}

/// `GET /federation/{token_id}`.
pub(crate) fn external_token(
    config: &Config,
    access_token: &AccessToken,
    token_id: &str,
) -> Result<Call<ExternalToken>, Error> {
    let url = token_url(config, token_id)?;
    let request = config.bearer_request(Method::Get, url.as_str(), access_token.expose_secret());
    Ok(Call::new("external_token", request, decode_one))
}

/// Seconds since the Unix epoch of an RFC 3339 date-time with an offset (`Z`
/// or `±hh:mm`), negative before 1970; fractions of a second are dropped.
/// `None` for anything else.
///
/// The date and time are separated by `T`, `t` or a space (RFC 3339, 5.6);
/// the year has four digits (`0000` to `9999`). A leap second is accepted
/// where `time` accepts one, `23:59:60` of the last day of a month in UTC,
/// and read as the second before it; a `:60` anywhere else is refused.
pub(crate) fn parse_rfc3339(text: &str) -> Option<i64> {
    // `time` takes any one byte between the date and the time.
    if !matches!(text.as_bytes().get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

#[cfg(test)]
mod tests {
    use super::parse_rfc3339;

    #[test]
    fn reads_offsets_and_fractions() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2026-11-26T18:05:19+00:00"),
            Some(1_795_716_319)
        );
        assert_eq!(
            parse_rfc3339("2026-11-26T19:05:19.123456+01:00"),
            Some(1_795_716_319)
        );
        assert_eq!(
            parse_rfc3339("2026-11-26T13:05:19-05:00"),
            Some(1_795_716_319)
        );
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), Some(1_709_164_800));
    }

    #[test]
    fn reads_the_separators_and_the_years_of_rfc3339() {
        assert_eq!(parse_rfc3339("2026-11-26t18:05:19z"), Some(1_795_716_319));
        assert_eq!(parse_rfc3339("2026-11-26 18:05:19Z"), Some(1_795_716_319));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some(-1));
        assert_eq!(parse_rfc3339("0000-01-01T00:00:00Z"), Some(-62_167_219_200));
        assert_eq!(parse_rfc3339("9999-12-31T23:59:59Z"), Some(253_402_300_799));
    }

    #[test]
    fn reads_a_leap_second_as_the_second_before_it() {
        assert_eq!(parse_rfc3339("2016-12-31T23:59:60Z"), Some(1_483_228_799));
        assert_eq!(
            parse_rfc3339("2017-01-01T00:59:60+01:00"),
            Some(1_483_228_799)
        );
        assert_eq!(parse_rfc3339("2016-12-31T12:00:60Z"), None);
    }

    #[test]
    fn refuses_what_is_not_rfc3339() {
        for text in [
            "",
            "2026-11-26",
            "2026-11-26T18:05:19",
            "2026-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-11-26T24:00:00Z",
            "2026-11-26T18:05:19.Z",
            "2026-11-26T18:05:19+0100",
            "2026-11-26T18:05:19+01:00x",
            "２０２６-11-26T18:05:19Z",
            "2026-11-26T18:05:19é0:00",
            "2026-11-26T18:05:19+0é:0",
            "2026-11-26T18:05:1é+00:00",
            "2026-11-26X18:05:19Z",
            "2026-11-26T18:05:19+24:00",
            "2026-11-26T18:05:19+01:60",
            "10000-01-01T00:00:00Z",
            "-0001-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(text), None, "{text}");
        }
    }
}
