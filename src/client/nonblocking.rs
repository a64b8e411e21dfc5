//! [`AsyncClient`]: the client with the async transport (feature `async`).

use crate::client::Client;
use crate::error::Error;
use crate::flow::tokens::{AccessToken, ExchangedToken, RefreshToken, StoredTokens, Tokens};
use crate::flow::{CallbackReceived, grant, id_tokens};
use crate::kind::ClientKind;
use crate::protocol::Operation;
use crate::services::federation::{self, ExternalToken};
use crate::services::revocation;
use crate::services::userinfo::{self, UserInfo};
use crate::transport::Async;
use crate::verify::id_token::IdTokenClaims;

/// The async Verys client: [`Client`] with the async transport. Its methods
/// are those of the blocking client, as `async fn`s, and its futures are
/// `Send`.
///
/// It is built by the one builder, [`Client::builder`], finished with
/// [`build_async`](crate::ClientBuilder::build_async):
///
/// ```no_run
/// # fn demo() -> Result<(), verys_client::Error> {
/// use verys_client::{AsyncClient, Client, Confidential};
///
/// let client: AsyncClient<Confidential> = Client::builder("https://auth.verys.example.com", "web")
///     .host("https://app.example.com")
///     .client_secret("secret")
///     .build_async()?;
/// # let _ = client; Ok(()) }
/// ```
///
/// There is no `AsyncClient::builder`: this type is `Client<K, Async>`, so
/// the compiler would find that function and [`Client::builder`] under the
/// same path and could not tell which one `Client::builder` means.
pub type AsyncClient<K> = Client<K, Async>;

impl<K: ClientKind> Client<K, Async> {
    /// Exchanges the code of a checked callback for tokens, sending the PKCE
    /// verifier kept in the flow state, and verifies the ID token (signature,
    /// `iss`, `aud`, `azp`, `exp`, `iat`, `nonce`, `at_hash`, `auth_time`).
    ///
    /// # Errors
    ///
    /// As the blocking client's `exchange_code`.
    pub async fn exchange_code(&self, received: CallbackReceived<K>) -> Result<Tokens, Error> {
        self.run(grant::code_grant(&self.config, received)).await
    }

    /// Refreshes `tokens`. Verys rotates refresh tokens: the returned
    /// `Tokens` holds the new one (or the old one if the server sent none),
    /// and the old one stops working. The new ID token must name the same
    /// issuer, subject and audience.
    ///
    /// # Errors
    ///
    /// As the blocking client's `refresh`.
    pub async fn refresh(&self, tokens: &Tokens) -> Result<Tokens, Error> {
        self.run(grant::refresh_grant(&self.config, tokens)).await
    }

    /// Exchanges an access token for one whose audience is the client
    /// `audience` (RFC 8693).
    ///
    /// # Errors
    ///
    /// As the blocking client's `exchange_token`.
    pub async fn exchange_token(
        &self,
        access_token: &AccessToken,
        audience: &str,
    ) -> Result<ExchangedToken, Error> {
        let op = grant::token_exchange(&self.config, access_token, audience);
        self.run(Ok(op)).await
    }

    /// Verifies an ID token obtained outside this client's flows (a token
    /// handed over by a front end, an `id_token_hint`): signature, `iss`,
    /// `aud`/`azp`, `exp`, `iat`, and `nonce` equal to `nonce` (or absent
    /// when `nonce` is `None`). `at_hash` is not checked, for want of the
    /// access token. Fetches the JWKS only if the key is not cached.
    ///
    /// # Errors
    ///
    /// As the blocking client's `verify_id_token`.
    pub async fn verify_id_token(
        &self,
        id_token: &str,
        nonce: Option<&str>,
    ) -> Result<IdTokenClaims, Error> {
        let op = id_tokens::IdTokenCheck::new(&self.config, id_token, nonce);
        self.run(Ok(op)).await
    }

    /// The user's claims from `/userinfo`, read with the access token of
    /// `tokens`; fails with [`Error::UserinfoSubjectMismatch`] if they
    /// describe another subject than the ID token.
    ///
    /// # Errors
    ///
    /// As the blocking client's `userinfo`.
    pub async fn userinfo(&self, tokens: &Tokens) -> Result<UserInfo, Error> {
        let op = userinfo::call(&self.config, tokens);
        self.run(Ok(op)).await
    }

    /// Revokes a refresh token (RFC 7009), for example at logout.
    ///
    /// # Errors
    ///
    /// As the blocking client's `revoke`.
    pub async fn revoke(&self, refresh_token: &RefreshToken) -> Result<(), Error> {
        let op = revocation::revoke(&self.config, refresh_token);
        self.run(Ok(op)).await
    }

    /// Unlinks one external token.
    ///
    /// # Errors
    ///
    /// As the blocking client's `delete_external_token`.
    pub async fn delete_external_token(
        &self,
        access_token: &AccessToken,
        token_id: &str,
    ) -> Result<(), Error> {
        let op = federation::delete_external_token(&self.config, access_token, token_id);
        self.run(op).await
    }

    /// Restores stored tokens ([`Tokens::to_stored`]), verifying their ID
    /// token again against this client (signature, `iss`, `aud`, `iat`,
    /// `nonce`), except its expiry: a stored sign-in outlives its ID token,
    /// and its refresh token says whether the session still holds.
    ///
    /// # Errors
    ///
    /// As the blocking client's `restore_tokens`.
    pub async fn restore_tokens(&self, stored: StoredTokens) -> Result<Tokens, Error> {
        self.run(Ok(id_tokens::Restore::new(&self.config, stored)))
            .await
    }

    /// Lists the user's federated external tokens that the access token's
    /// scopes cover.
    ///
    /// # Errors
    ///
    /// As the blocking client's `external_tokens`.
    pub async fn external_tokens(
        &self,
        access_token: &AccessToken,
    ) -> Result<Vec<ExternalToken>, Error> {
        let op = federation::external_tokens(&self.config, access_token);
        self.run(Ok(op)).await
    }

    /// Retrieves one external token. When the provider's token expired and
    /// Verys could not refresh it, fails with
    /// [`Error::ExternalReauth`](crate::Error::ExternalReauth).
    ///
    /// # Errors
    ///
    /// As the blocking client's `external_token`.
    pub async fn external_token(
        &self,
        access_token: &AccessToken,
        token_id: &str,
    ) -> Result<ExternalToken, Error> {
        let op = federation::external_token(&self.config, access_token, token_id);
        self.run(op).await
    }

    /// Runs an operation of the I/O-free core with this client's keys and
    /// clock.
    async fn run<O>(&self, op: Result<O, Error>) -> Result<O::Output, Error>
    where
        O: Operation + Send,
        O::Output: Send,
    {
        self.http
            .drive(&self.config.jwks, &*self.config.clock, op)
            .await
    }
}
