//! [`Verifier`]: bearer-token verification for resource servers.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::client::config::Endpoints;
use crate::client::{Client, Transport};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, TokenRule};
use crate::flow::kind::ClientKind;
use crate::protocol::Keyed;
use crate::transport::{Blocking, HttpConfig};
use crate::verify::access::{self, AccessClaims, AccessRules};
use crate::verify::jwks::{JwksCache, JwksPolicy, Lookup};
use crate::verify::jwt;

/// Verifies Verys access tokens presented to a resource server.
///
/// It checks the signature with the issuer's JWKS (`alg` `EdDSA`, key chosen
/// by `kid`), `iss`, `aud` (the issuer for ordinary tokens, or the service's
/// own client id for tokens obtained by token exchange: see
/// [`Verifier::with_audience`]), `exp` and `iat` with a leeway, and reads
/// `scopes` as a list.
///
/// A resource server sees the same bearer token on every request of a
/// session, so the verifier remembers the tokens it verified (a bounded
/// cache keyed by the whole token): a token seen again costs a lookup and the
/// time rules, not a signature check. With its key cached, verification does
/// no I/O and takes no exclusive lock.
///
/// ```
/// # #[cfg(feature = "testing")] {
/// use verys_client::Verifier;
/// use verys_client::testing::VerysServer;
///
/// let verys = VerysServer::start();
/// let token = verys.issue_access_token("user-1", &verys.issuer(), &["api.read"], 300);
/// let verifier = Verifier::builder(verys.issuer()).build().unwrap();
/// let claims = verifier.verify(&token).unwrap();
/// assert_eq!(claims.sub(), "user-1");
/// assert!(claims.require_scope("api.read").is_ok());
/// assert!(claims.require_scope("api.write").is_err());
/// # }
/// ```
pub struct Verifier<T: Transport = Blocking> {
    shared: Arc<Shared>,
    http: T,
}

struct Shared {
    issuer: String,
    audience: String,
    leeway: u64,
    jwks: Arc<JwksCache>,
    clock: Arc<dyn Clock>,
    seen: RwLock<HashMap<Box<str>, AccessClaims>>,
    capacity: usize,
}

const DEFAULT_CAPACITY: usize = 4096;

impl Shared {
    fn rules(&self, now: u64) -> AccessRules<'_> {
        AccessRules {
            issuer: &self.issuer,
            audience: &self.audience,
            now,
            leeway: self.leeway,
        }
    }

    /// Everything that needs no I/O: the cache of verified tokens, then a
    /// full verification if the key is cached.
    fn check(&self, token: &str, after_fetch: bool) -> Result<Keyed<AccessClaims>, Error> {
        let now = self.clock.now();
        let seen = self
            .seen
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
            .get(token)
            .cloned();
        if let Some(claims) = seen {
            claims.check_times(now, self.leeway)?;
            return Ok(Keyed::Done(claims));
        }
        let jws = jwt::parse(token).map_err(Error::InvalidAccessToken)?;
        let key = match self
            .jwks
            .key(jws.kid(), now, after_fetch)
            .map_err(as_access_error)?
        {
            Lookup::Found(key) => key,
            Lookup::Fetch(ticket) => return Ok(Keyed::Fetch(ticket)),
        };
        let claims = access::verify(jws, &key, &self.rules(now))?;
        self.remember(token, &claims, now);
        Ok(Keyed::Done(claims))
    }

    /// Adds a verified token to the cache. A contended cache skips the
    /// insert rather than wait: verifying never blocks on other verifiers.
    fn remember(&self, token: &str, claims: &AccessClaims, now: u64) {
        let Ok(mut seen) = self.seen.try_write() else {
            return;
        };
        if seen.len() >= self.capacity {
            seen.retain(|_, claims| claims.check_times(now, 0).is_ok());
            if seen.len() >= self.capacity {
                seen.clear();
            }
        }
        seen.insert(token.into(), claims.clone());
    }
}

/// A JWKS failure reads as an ID token rule in the cache; for a bearer token
/// it is an access token rule.
fn as_access_error(error: Error) -> Error {
    match error {
        Error::InvalidIdToken(rule) => Error::InvalidAccessToken(rule),
        other => other,
    }
}

impl<T: Transport> Verifier<T> {
    /// Verifies without any I/O: with the key not cached, fails with
    /// [`TokenRule::UnknownKeyId`] instead of fetching the JWKS.
    pub fn verify_cached(&self, token: &str) -> Result<AccessClaims, Error> {
        match self.shared.check(token, false)? {
            Keyed::Done(claims) => Ok(claims),
            Keyed::Fetch(_) => Err(Error::InvalidAccessToken(TokenRule::UnknownKeyId)),
        }
    }

    /// A verifier for tokens whose audience is `audience`, such as this
    /// service's own client id for tokens obtained by token exchange. It
    /// shares the JWKS cache and connection pool, not the verified tokens.
    pub fn with_audience(&self, audience: impl Into<String>) -> Self {
        let shared = &self.shared;
        Self {
            shared: Arc::new(Shared {
                issuer: shared.issuer.clone(),
                audience: audience.into(),
                leeway: shared.leeway,
                jwks: Arc::clone(&shared.jwks),
                clock: Arc::clone(&shared.clock),
                seen: RwLock::default(),
                capacity: shared.capacity,
            }),
            http: self.http.clone(),
        }
    }

    /// The audience tokens must name.
    pub fn audience(&self) -> &str {
        &self.shared.audience
    }

    fn keys(&self) -> (&JwksCache, &dyn Clock) {
        (&self.shared.jwks, &*self.shared.clock)
    }

    fn after_fetch(&self, token: &str) -> Result<AccessClaims, Error> {
        match self.shared.check(token, true)? {
            Keyed::Done(claims) => Ok(claims),
            Keyed::Fetch(_) => Err(Error::InvalidAccessToken(TokenRule::UnknownKeyId)),
        }
    }
}

impl Verifier<Blocking> {
    /// Starts configuring a verifier for the Verys at `issuer`.
    pub fn builder(issuer: impl Into<String>) -> VerifierBuilder {
        VerifierBuilder {
            issuer: issuer.into(),
            audience: None,
            leeway: Duration::from_secs(60),
            clock: Arc::new(SystemClock),
            http: HttpConfig::default(),
            jwks: JwksPolicy::default(),
            capacity: DEFAULT_CAPACITY,
        }
    }

    /// Verifies a bearer token, fetching the JWKS first only if the token's
    /// key is not cached.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, Error> {
        let ticket = match self.shared.check(token, false)? {
            Keyed::Done(claims) => return Ok(claims),
            Keyed::Fetch(ticket) => ticket,
        };
        let (jwks, clock) = self.keys();
        self.http.fetch_keys(jwks, clock, ticket);
        self.after_fetch(token)
    }
}

#[cfg(feature = "async")]
impl Verifier<crate::transport::Async> {
    /// Verifies a bearer token, fetching the JWKS first only if the token's
    /// key is not cached. When many tasks miss the same key, one fetches.
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, Error> {
        match self.shared.check(token, false)? {
            Keyed::Done(claims) => Ok(claims),
            Keyed::Fetch(ticket) => {
                let (jwks, clock) = self.keys();
                self.http.await_keys(jwks, clock, ticket).await;
                self.after_fetch(token)
            }
        }
    }
}

impl<K: ClientKind, T: Transport> Client<K, T> {
    /// A verifier of access tokens issued by this client's Verys, for an API
    /// served next to this client. It shares the client's JWKS cache, clock
    /// and connection pool; tokens must name the issuer as audience (see
    /// [`Verifier::with_audience`] for exchanged tokens).
    pub fn verifier(&self) -> Verifier<T> {
        Verifier {
            shared: Arc::new(Shared {
                issuer: self.config.issuer.clone(),
                audience: self.config.issuer.clone(),
                leeway: self.config.leeway,
                jwks: Arc::clone(&self.config.jwks),
                clock: Arc::clone(&self.config.clock),
                seen: RwLock::default(),
                capacity: DEFAULT_CAPACITY,
            }),
            http: self.http.clone(),
        }
    }
}

impl<T: Transport> Clone for Verifier<T> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            http: self.http.clone(),
        }
    }
}

impl<T: Transport> fmt::Debug for Verifier<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.shared.issuer)
            .field("audience", &self.shared.audience)
            .finish_non_exhaustive()
    }
}

/// Configures a [`Verifier`].
#[must_use = "call build() to create the verifier"]
#[derive(Debug)]
pub struct VerifierBuilder {
    issuer: String,
    audience: Option<String>,
    leeway: Duration,
    clock: Arc<dyn Clock>,
    http: HttpConfig,
    jwks: JwksPolicy,
    capacity: usize,
}

impl VerifierBuilder {
    /// The audience tokens must name. Default: the issuer, as in every
    /// ordinary Verys access token.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Clock skew tolerated on `exp` and `iat`. Default: 60 s.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The clock the time rules read. Default: the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How many verified tokens are remembered. Default: 4096.
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Time limit for a JWKS fetch. Default: 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.http.timeout = timeout;
        self
    }

    /// Least time between two JWKS fetches. Default: 30 s.
    pub fn jwks_cooldown(mut self, cooldown: Duration) -> Self {
        self.jwks.cooldown = cooldown.as_secs();
        self
    }

    /// Checks the configuration and builds a blocking verifier.
    pub fn build(self) -> Result<Verifier<Blocking>, Error> {
        let http = Blocking::new(self.http);
        Ok(Verifier {
            shared: Arc::new(self.into_shared()?),
            http,
        })
    }

    /// Checks the configuration and builds an async verifier.
    #[cfg(feature = "async")]
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    pub fn build_async(self) -> Result<Verifier<crate::transport::Async>, Error> {
        let http = crate::transport::Async::new(self.http)?;
        Ok(Verifier {
            shared: Arc::new(self.into_shared()?),
            http,
        })
    }

    fn into_shared(self) -> Result<Shared, Error> {
        let issuer = crate::client::builder::parse_http_url(&self.issuer, "issuer")?;
        let issuer_text = issuer.as_str().trim_end_matches('/').to_owned();
        let jwks = JwksCache::new(Endpoints::verys(&issuer).jwks, self.jwks);
        Ok(Shared {
            audience: self.audience.unwrap_or_else(|| issuer_text.clone()),
            issuer: issuer_text,
            leeway: self.leeway.as_secs(),
            jwks: Arc::new(jwks),
            clock: self.clock,
            seen: RwLock::default(),
            capacity: self.capacity,
        })
    }
}
