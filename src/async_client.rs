//! [`AsyncClient`]: the client with the async transport (feature `async`).

use crate::client::Client;
use crate::error::Error;
use crate::federation::ExternalToken;
use crate::flow::CallbackReceived;
use crate::jwks::FetchTicket;
use crate::kind::ClientKind;
use crate::protocol::{self, Operation, Started, Step};
use crate::tokens::{AccessToken, ExchangedToken, Tokens};
use crate::transport::Async;

/// The async Verys client: [`Client`] with the async transport, built with
/// [`ClientBuilder::build_async`](crate::ClientBuilder::build_async). Its
/// methods are those of the blocking client, as `async fn`s.
pub type AsyncClient<K> = Client<K, Async>;

impl<K: ClientKind> Client<K, Async> {
    /// Exchanges the code of a checked callback for tokens, sending the PKCE
    /// verifier kept in the flow state, and verifies the ID token (signature,
    /// `iss`, `aud`, `azp`, `exp`, `iat`, `nonce`, `at_hash`, `auth_time`).
    pub async fn exchange_code(&self, received: CallbackReceived<K>) -> Result<Tokens, Error> {
        self.drive(protocol::code_grant(&self.config, received))
            .await
    }

    /// Refreshes `tokens`. Verys rotates refresh tokens: the returned
    /// `Tokens` holds the new one (or the old one if the server sent none),
    /// and the old one stops working. The new ID token must name the same
    /// issuer, subject and audience.
    pub async fn refresh(&self, tokens: &Tokens) -> Result<Tokens, Error> {
        self.drive(protocol::refresh_grant(&self.config, tokens))
            .await
    }

    /// Exchanges an access token for one whose audience is the client
    /// `audience` (RFC 8693).
    pub async fn exchange_token(
        &self,
        access_token: &AccessToken,
        audience: &str,
    ) -> Result<ExchangedToken, Error> {
        let started = protocol::token_exchange(&self.config, access_token, audience);
        self.drive(Ok(started)).await
    }

    /// Lists the user's federated external tokens that the access token's
    /// scopes cover.
    pub async fn external_tokens(
        &self,
        access_token: &AccessToken,
    ) -> Result<Vec<ExternalToken>, Error> {
        let started = protocol::external_tokens(&self.config, access_token);
        self.drive(Ok(started)).await
    }

    /// Retrieves one external token. When the provider's token expired and
    /// Verys could not refresh it, fails with
    /// [`Error::ExternalReauth`](crate::Error::ExternalReauth).
    pub async fn external_token(
        &self,
        access_token: &AccessToken,
        token_id: &str,
    ) -> Result<ExternalToken, Error> {
        let started = protocol::external_token(&self.config, access_token, token_id);
        self.drive(Ok(started)).await
    }

    /// Drives an operation of the I/O-free core with the async stack.
    async fn drive<O>(&self, started: Result<Started<O>, Error>) -> Result<O::Output, Error>
    where
        O: Operation + Send,
        O::Output: Send,
    {
        let Started { mut step, mut op } = started?;
        loop {
            step = match step {
                Step::Send(request) => {
                    let response = self.http.send(&request).await?;
                    op.on_response(response)?
                }
                Step::FetchKeys(ticket) => {
                    self.await_keys(ticket).await;
                    op.on_keys()?
                }
                Step::Done(output) => return Ok(output),
            };
        }
    }

    /// Fetches the JWKS unless another task did while this one waited at the
    /// gate. The gate is tokio's mutex, made to be held across the fetch's
    /// `.await`; no other lock is held there.
    async fn await_keys(&self, ticket: FetchTicket) {
        let jwks = &self.config.jwks;
        let _gate = jwks.async_gate().lock().await;
        if let Some(request) = jwks.fetch_request(ticket) {
            let response = self.http.send(&request).await;
            jwks.store(response, self.config.clock.now());
        }
    }
}
