//! Token revocation (RFC 7009).

use crate::client::config::Config;
use crate::flow::tokens::RefreshToken;
use crate::protocol::{Call, Started, decode_success};

/// `POST /token/revoke` (RFC 7009). Verys answers 200 whether or not it
/// knew the token, so success says only that the request was accepted.
pub(crate) fn revoke(config: &Config, refresh_token: &RefreshToken) -> Started<Call<()>> {
    let request = config.revocation_request(refresh_token.expose_secret());
    Call::start(request, |response| {
        decode_success::<serde_json::Value>(&response, "revocation").map(drop)
    })
}
