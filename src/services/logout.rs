//! RP-initiated logout: the end-session URL and the check of its return.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::Error;
use crate::flow::callback::{CallbackParams, CallbackUrl};
use crate::flow::pkce::random_value;
use crate::protocol::config::Config;

/// A started logout: the URL to send the browser to, and the `state` its
/// return must carry. `Serialize + Deserialize`, to survive the redirect in a
/// session store.
#[derive(Serialize, Deserialize)]
pub struct PendingLogout {
    url: String,
    state: String,
}

impl PendingLogout {
    pub(crate) fn new(
        config: &Config,
        id_token_hint: &str,
        post_logout_redirect_uri: &str,
    ) -> Self {
        let state = random_value(&*config.randomness, 32);
        let mut url = config.endpoints.end_session.clone();
        url.query_pairs_mut()
            .append_pair("id_token_hint", id_token_hint)
            .append_pair("post_logout_redirect_uri", post_logout_redirect_uri)
            .append_pair("state", &state);
        Self {
            url: url.into(),
            state,
        }
    }

    /// The end-session URL to redirect the browser to. Verys revokes the
    /// user's refresh tokens for this client and ends its session there.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Checks the redirect back to `post_logout_redirect_uri`: its `state`
    /// must be this logout's ([`Error::MissingState`],
    /// [`Error::StateMismatch`]), with no repeated parameter.
    ///
    /// # Errors
    ///
    /// [`Error::MissingState`], [`Error::StateMismatch`],
    /// [`Error::DuplicateParameter`], and [`Error::MalformedCallback`] for a
    /// value that is no callback.
    pub fn receive(self, callback: &(impl CallbackUrl + ?Sized)) -> Result<(), Error> {
        let params = CallbackParams::parse(callback)?;
        params.check_state(&self.state)?;
        params.check_no_repeats()
    }
}

impl fmt::Debug for PendingLogout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL carries the ID token as a hint: not shown.
        f.debug_struct("PendingLogout").finish_non_exhaustive()
    }
}
