//! Token revocation ([RFC 7009]).
//!
//! [RFC 7009]: https://www.rfc-editor.org/rfc/rfc7009

use crate::error::Error;
use crate::flow::tokens::RefreshToken;
use crate::protocol::config::Config;
use crate::protocol::{Call, server_error};

/// `POST /token/revoke`. RFC 7009 §2.2: any 200 means the token is revoked
/// (or was not valid), and the client ignores the body, which Verys fills
/// and other providers leave empty.
pub(crate) fn revoke(config: &Config, refresh_token: &RefreshToken) -> Call<()> {
    let request = config.revocation_request(refresh_token.expose_secret());
    Call::new("revocation", request, |response, _| {
        if response.status == 200 {
            Ok(())
        } else {
            Err(Error::Endpoint {
                endpoint: "revocation",
                error: server_error(&response),
            })
        }
    })
}
