//! ID tokens checked outside a grant: one handed over by someone else, and
//! the one of a stored sign-in being restored.

use ed25519_dalek::VerifyingKey;

use crate::error::Error;
use crate::flow::tokens::{StoredTokens, Tokens};
use crate::protocol::config::Config;
use crate::protocol::jwks::KeyError;
use crate::protocol::wire::HttpResponse;
use crate::protocol::{Operation, Step, unexpected};
use crate::verify::id_token::{IdTokenClaims, IdTokenRules, NonceRule};
use crate::verify::jwt::{self, Jws};

/// Verification of an ID token obtained outside this client's flows. It
/// borrows everything, and parses the token once: on the hot path (key
/// cached) nothing is copied.
pub(crate) struct IdTokenCheck<'a> {
    config: &'a Config,
    token: &'a str,
    nonce: Option<&'a str>,
    jws: Option<Jws<'a>>,
}

impl<'a> IdTokenCheck<'a> {
    pub(crate) fn new(config: &'a Config, token: &'a str, nonce: Option<&'a str>) -> Self {
        Self {
            config,
            token,
            nonce,
            jws: None,
        }
    }
}

impl Operation for IdTokenCheck<'_> {
    type Output = IdTokenClaims;
    fn name(&self) -> &'static str {
        "verify_id_token"
    }
    fn start(&mut self, _: u64) -> Result<Step<IdTokenClaims>, Error> {
        let mut jws = jwt::parse(self.token).map_err(Error::InvalidIdToken)?;
        let kid = jws.take_kid();
        self.jws = Some(jws);
        Ok(Step::Key(kid))
    }
    fn on_response(&mut self, _: HttpResponse, _: u64) -> Result<Step<IdTokenClaims>, Error> {
        Err(unexpected("a response"))
    }
    fn on_key(
        &mut self,
        key: Result<VerifyingKey, KeyError>,
        now: u64,
    ) -> Result<Step<IdTokenClaims>, Error> {
        let jws = self.jws.take().ok_or_else(|| unexpected("a key"))?;
        let nonce = match self.nonce {
            Some(nonce) => NonceRule::Equals(nonce),
            None => NonceRule::AbsentOrEquals(None),
        };
        let rules = self.config.id_token_rules(now, nonce);
        IdTokenClaims::verify(jws, &key.map_err(|e| e.of(Error::InvalidIdToken))?, &rules)
            .map(Step::Done)
    }
}

/// Restoration of stored tokens: their ID token verified again (signature,
/// `iss`, `aud`/`azp`, `iat`, `nonce`), bound to the stored access token by
/// its `at_hash` when it has one (always, if the client requires it), and no
/// older than the client allows; but not its expiry, which a stored sign-in
/// outlives.
pub(crate) struct Restore<'a> {
    config: &'a Config,
    stored: Option<StoredTokens>,
}

impl<'a> Restore<'a> {
    pub(crate) fn new(config: &'a Config, stored: StoredTokens) -> Self {
        Self {
            config,
            stored: Some(stored),
        }
    }
}

impl Operation for Restore<'_> {
    type Output = Tokens;
    fn name(&self) -> &'static str {
        "restore_tokens"
    }
    fn start(&mut self, _: u64) -> Result<Step<Tokens>, Error> {
        let stored = self.stored.as_ref().ok_or_else(|| unexpected("a start"))?;
        let mut jws = jwt::parse(stored.id_token()).map_err(Error::InvalidIdToken)?;
        Ok(Step::Key(jws.take_kid()))
    }
    fn on_response(&mut self, _: HttpResponse, _: u64) -> Result<Step<Tokens>, Error> {
        Err(unexpected("a response"))
    }
    fn on_key(
        &mut self,
        key: Result<VerifyingKey, KeyError>,
        now: u64,
    ) -> Result<Step<Tokens>, Error> {
        let stored = self.stored.take().ok_or_else(|| unexpected("a key"))?;
        let mut rules = IdTokenRules {
            access_token: Some(stored.access_token()),
            max_token_age: Some(self.config.restored_max_age),
            ..self
                .config
                .id_token_rules(now, NonceRule::AbsentOrEquals(stored.nonce()))
        };
        rules.common.check_expiry = false;
        let jws = jwt::parse(stored.id_token()).map_err(Error::InvalidIdToken)?;
        let claims =
            IdTokenClaims::verify(jws, &key.map_err(|e| e.of(Error::InvalidIdToken))?, &rules)?;
        Ok(Step::Done(stored.into_tokens(claims)))
    }
}
