//! [`Verifier`]: bearer-token verification for resource servers.

use ed25519_dalek::VerifyingKey;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::client::back_channel::back_channel_setters;
use crate::client::{Client, Transport};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, TokenRule};
use crate::kind::ClientKind;
use crate::protocol::config::Endpoints;
use crate::protocol::jwks::{JwksCache, JwksPolicy, KeyError};
use crate::protocol::wire::{HttpResponse, Limits};
use crate::protocol::{Operation, Run, Step};
use crate::transport::{Blocking, Clients};
use crate::verify::access::{self, AccessClaims, AccessRules};
use crate::verify::claims::CommonRules;
use crate::verify::jwt::{self, Jws};

/// Verifies Verys access tokens presented to a resource server.
///
/// It checks the signature with the issuer's JWKS (`alg` `EdDSA`, key chosen
/// by `kid`), that the token is an access token and not an ID token, `iss`,
/// `aud` (the issuer for ordinary tokens, or the service's own client id for
/// tokens obtained by token exchange: see [`Verifier::for_audience`]),
/// `exp` and `iat` with a leeway, and reads `scopes` as a list.
///
/// A resource server sees the same bearer token on every request of a
/// session, so the verifier remembers the tokens it verified, in a bounded
/// concurrent cache: a token seen again costs a lookup, a comparison with
/// the remembered text, the time rules and a check that no key was dropped
/// from the JWKS since, not a signature check; being no operation, it has
/// no `tracing` span. A token out of its time is forgotten and verified in
/// full, to be refused as any other; so is one remembered before a key was
/// dropped, or while the keys are due for a refresh (older than
/// [`jwks_max_age`](VerifierBuilder::jwks_max_age), a fetch allowed), which
/// the full verification asks for. With its key cached, verification does
/// no I/O and waits on no other verification.
///
/// ```
/// use verys_client::Verifier;
/// use verys_testing::VerysServer;
///
/// let verys = VerysServer::start();
/// let token = verys.issue_access_token("user-1", &verys.issuer(), &["api.read"], 300);
/// let verifier = Verifier::builder(verys.issuer()).build().unwrap();
/// let claims = verifier.verify(&token).unwrap();
/// assert_eq!(claims.sub(), "user-1");
/// assert!(claims.require_scope("api.read").is_ok());
/// assert!(claims.require_scope("api.write").is_err());
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
    capacity: usize,
    seen: Option<Seen>,
}

/// The tokens a verifier remembers, by the start of their signature
/// segment: distinct tokens of one issuer have distinct signatures, whose
/// first 96 bits (the start of the signature's `R`, a hash of the key's
/// secret and the message) tell them apart, and are found without reading
/// the rest of the token.
struct Seen {
    cache: quick_cache::sync::Cache<Index, Remembered>,
    hits: AtomicU64,
}

/// What a verification found, to answer the same token again. Cloning it
/// (a cache hit) counts two references; remembering it allocates the copy
/// of the token alone, the claims being the verification's own.
#[derive(Clone)]
struct Remembered {
    /// The whole token, which a hit must equal byte for byte: the index
    /// alone names a signature, which is not the token.
    token: Arc<str>,
    claims: AccessClaims,
    /// The JWKS removal count when its key was looked up: a hit needs no
    /// key removed since, or the token is verified again in full.
    removals: u64,
}

/// An Ed25519 signature in unpadded base64url.
const SIGNATURE_SEGMENT: usize = 86;

/// The characters of the signature segment a token is remembered by.
type Index = [u8; 16];

const DEFAULT_CAPACITY: usize = 4096;

impl Seen {
    fn new(capacity: usize) -> Option<Self> {
        (capacity > 0).then(|| Self {
            cache: quick_cache::sync::Cache::new(capacity),
            hits: AtomicU64::new(0),
        })
    }

    /// The index a token is remembered under, if it can be.
    fn index(token: &str) -> Option<Index> {
        let start = token.len().checked_sub(SIGNATURE_SEGMENT)?;
        let end = start + std::mem::size_of::<Index>();
        token.as_bytes().get(start..end)?.try_into().ok()
    }
}

/// What the remembered tokens say of a token.
enum Recall {
    /// Verified before, no key removed since, the keys not due for a
    /// refresh, and within its time rules.
    Hit(AccessClaims),
    /// To verify; then to remember under this index, if any.
    Miss(Option<Index>),
}

impl Shared {
    /// A verifier's settings with keys and clock that may be shared, and no
    /// token remembered yet.
    fn new(
        issuer: String,
        audience: String,
        leeway: u64,
        capacity: usize,
        jwks: Arc<JwksCache>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            seen: Seen::new(capacity),
            issuer,
            audience,
            leeway,
            jwks,
            clock,
            capacity,
        }
    }

    fn rules(&self, now: u64) -> AccessRules<'_> {
        AccessRules {
            common: CommonRules {
                issuer: &self.issuer,
                now,
                leeway: self.leeway,
                check_expiry: true,
            },
            audience: &self.audience,
        }
    }

    /// Remembers a token just verified, under `index`.
    fn remember(&self, index: Index, remembered: Remembered) {
        if let Some(seen) = &self.seen {
            // A contended shard skips the insert rather than wait:
            // verifying never blocks on other verifiers.
            let _ = seen.cache.try_insert(index, remembered);
        }
    }

    /// Looks `token` up among the remembered tokens.
    fn recall(&self, token: &str) -> Recall {
        let (Some(seen), Some(index)) = (&self.seen, Seen::index(token)) else {
            return Recall::Miss(None);
        };
        let Some(remembered) = seen.cache.get(&index) else {
            return Recall::Miss(Some(index));
        };
        if *remembered.token != *token {
            // Another text under the same index: verified in full (a token
            // with another's signature is refused), never remembered in
            // place of the token that has it.
            return Recall::Miss(None);
        }
        let now = self.clock.now();
        if self.jwks.removals() != remembered.removals
            || remembered.claims.still_valid(now, self.leeway).is_err()
            || self.jwks.refresh_due(now)
        {
            // A key was dropped since (perhaps this token's), the token is
            // out of its time, or the keys are due for a refresh that only
            // a full verification asks for: it is forgotten and verified in
            // full, to meet the fate of a token never seen, refusal and
            // trace included.
            seen.cache.remove(&index);
            return Recall::Miss(Some(index));
        }
        seen.hits.fetch_add(1, Ordering::Relaxed);
        Recall::Hit(remembered.claims)
    }
}

/// A bearer token's verification, as an operation of the I/O-free core:
/// the key its `kid` names (from the driver, which may fetch the JWKS),
/// then the rules. A token the verifier remembers never gets here: see
/// [`Shared::recall`].
struct BearerCheck<'a> {
    shared: &'a Shared,
    token: &'a str,
    /// Where to remember the token once verified, if anywhere.
    index: Option<Index>,
    pending: Option<Pending<'a>>,
}

/// A token parsed, waiting for its key.
struct Pending<'a> {
    jws: Jws<'a>,
    /// The JWKS removal count before the key was looked up.
    removals: u64,
}

impl<'a> BearerCheck<'a> {
    fn new(shared: &'a Shared, token: &'a str, index: Option<Index>) -> Self {
        Self {
            shared,
            token,
            index,
            pending: None,
        }
    }
}

impl Operation for BearerCheck<'_> {
    type Output = AccessClaims;
    fn name(&self) -> &'static str {
        "verify_access_token"
    }
    fn start(&mut self, _: u64) -> Result<Step<AccessClaims>, Error> {
        let mut jws = jwt::parse(self.token).map_err(Error::InvalidAccessToken)?;
        let kid = jws.take_kid();
        self.pending = Some(Pending {
            jws,
            removals: self.shared.jwks.removals(),
        });
        Ok(Step::Key(kid))
    }
    fn on_response(&mut self, _: HttpResponse, _: u64) -> Result<Step<AccessClaims>, Error> {
        Err(Error::InvalidResponse {
            endpoint: "client",
            reason: "a bearer token's verification sends no request".into(),
        })
    }
    fn on_key(
        &mut self,
        key: Result<VerifyingKey, KeyError>,
        now: u64,
    ) -> Result<Step<AccessClaims>, Error> {
        let key = key.map_err(|e| e.of(Error::InvalidAccessToken))?;
        let Some(Pending { jws, removals }) = self.pending.take() else {
            return Err(Error::InvalidAccessToken(TokenRule::UnknownKeyId));
        };
        let claims = access::verify(jws, &key, &self.shared.rules(now))?;
        if let Some(index) = self.index {
            self.shared.remember(
                index,
                Remembered {
                    token: self.token.into(),
                    claims: claims.clone(),
                    removals,
                },
            );
        }
        Ok(Step::Done(claims))
    }
}

impl<T: Transport> Verifier<T> {
    /// Verifies without any I/O: with the key not cached, fails with
    /// [`TokenRule::UnknownKeyId`] instead of fetching the JWKS; a cached key
    /// older than the JWKS maximum age still serves.
    ///
    /// # Errors
    ///
    /// Those of [`verify`](Verifier::verify) but the JWKS fetch's.
    pub fn verify_cached(&self, token: &str) -> Result<AccessClaims, Error> {
        let shared = &*self.shared;
        match shared.recall(token) {
            Recall::Hit(claims) => Ok(claims),
            Recall::Miss(index) => Run::offline(
                BearerCheck::new(shared, token, index),
                &shared.jwks,
                &*shared.clock,
            ),
        }
    }

    /// A verifier for tokens whose audience is `audience`, such as this
    /// service's own client id for tokens obtained by token exchange. It
    /// shares the JWKS cache and connection pool, not the verified tokens.
    pub fn for_audience(&self, audience: impl Into<String>) -> Self {
        let shared = &self.shared;
        Self {
            shared: Arc::new(Shared::new(
                shared.issuer.clone(),
                audience.into(),
                shared.leeway,
                shared.capacity,
                Arc::clone(&shared.jwks),
                Arc::clone(&shared.clock),
            )),
            http: self.http.clone(),
        }
    }

    /// The audience tokens must name.
    pub fn audience(&self) -> &str {
        &self.shared.audience
    }

    /// How many verified tokens the verifier remembers now (clones share
    /// them); 0 with [`VerifierBuilder::cache_capacity`] 0.
    pub fn cached_tokens(&self) -> usize {
        self.shared.seen.as_ref().map_or(0, |seen| seen.cache.len())
    }

    /// How many verifications the remembered tokens have answered, without
    /// a signature check, since the verifier was built (clones share the
    /// count): a figure for a service's metrics.
    pub fn cache_hits(&self) -> u64 {
        self.shared
            .seen
            .as_ref()
            .map_or(0, |seen| seen.hits.load(Ordering::Relaxed))
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
            http: Limits::default(),
            clients: Clients::default(),
            jwks: JwksPolicy::default(),
            capacity: DEFAULT_CAPACITY,
            http_to_any_host: false,
        }
    }

    /// Verifies a bearer token, fetching the JWKS first only if the token's
    /// key is not cached.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAccessToken`] naming the rule the token broke;
    /// [`Error::NoUsableKey`] or [`Error::JwksFetch`] when the keys are not
    /// to be had.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, Error> {
        let shared = &*self.shared;
        match shared.recall(token) {
            Recall::Hit(claims) => Ok(claims),
            Recall::Miss(index) => {
                let op = BearerCheck::new(shared, token, index);
                self.http.drive(&shared.jwks, &*shared.clock, Ok(op))
            }
        }
    }
}

#[cfg(feature = "async")]
impl Verifier<crate::transport::Async> {
    /// Verifies a bearer token, fetching the JWKS first only if the token's
    /// key is not cached. When many tasks miss the same key, one fetches.
    ///
    /// # Errors
    ///
    /// As the blocking verifier's `verify`.
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, Error> {
        let shared = &*self.shared;
        match shared.recall(token) {
            Recall::Hit(claims) => Ok(claims),
            Recall::Miss(index) => {
                let op = BearerCheck::new(shared, token, index);
                self.http.drive(&shared.jwks, &*shared.clock, Ok(op)).await
            }
        }
    }
}

impl<K: ClientKind, T: Transport> Client<K, T> {
    /// A verifier of access tokens issued by this client's Verys, for an API
    /// served next to this client. It shares the client's JWKS cache, clock
    /// and connection pool; tokens must name the issuer as audience (see
    /// [`Verifier::for_audience`] for exchanged tokens).
    pub fn verifier(&self) -> Verifier<T> {
        Verifier {
            shared: Arc::new(Shared::new(
                self.config.issuer.clone(),
                self.config.issuer.clone(),
                self.config.leeway,
                DEFAULT_CAPACITY,
                Arc::clone(&self.config.jwks),
                Arc::clone(&self.config.clock),
            )),
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
    http: Limits,
    clients: Clients,
    jwks: JwksPolicy,
    capacity: usize,
    http_to_any_host: bool,
}

impl VerifierBuilder {
    /// The audience tokens must name. Default: the issuer, as in every
    /// ordinary Verys access token.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// How many verified tokens are remembered; 0 remembers none, and
    /// every token is verified in full. Default: 4096.
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    back_channel_setters!();

    /// Checks the configuration and builds a blocking verifier.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an issuer that is not an `http(s)` URL, or plain
    /// `http` to another host than this machine, no
    /// [`http_client`](Self::http_client) without the `blocking` feature, or
    /// an async client given (`async_http_client`, `reqwest_client`), which
    /// a blocking verifier would not use.
    pub fn build(mut self) -> Result<Verifier<Blocking>, Error> {
        let http = std::mem::take(&mut self.clients).blocking(self.http)?;
        Ok(Verifier {
            shared: Arc::new(self.into_shared()?),
            http,
        })
    }

    /// Checks the configuration and builds an async verifier.
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build) but for the client given: here
    /// [`Error::Config`] for a blocking [`http_client`](Self::http_client),
    /// which an async verifier would not use, and when reqwest cannot build
    /// a client from the [`reqwest_client`](Self::reqwest_client) builder.
    #[cfg(feature = "async")]
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    pub fn build_async(mut self) -> Result<Verifier<crate::transport::Async>, Error> {
        let http = std::mem::take(&mut self.clients).nonblocking(self.http)?;
        Ok(Verifier {
            shared: Arc::new(self.into_shared()?),
            http,
        })
    }

    fn into_shared(self) -> Result<Shared, Error> {
        let issuer =
            crate::protocol::config::parse_http_url(&self.issuer, "issuer", self.http_to_any_host)?;
        let issuer_text = issuer.as_str().trim_end_matches('/').to_owned();
        let jwks = JwksCache::new(Endpoints::verys(&issuer).jwks, self.jwks);
        Ok(Shared::new(
            issuer_text.clone(),
            self.audience.unwrap_or(issuer_text),
            self.leeway.as_secs(),
            self.capacity,
            Arc::new(jwks),
            self.clock,
        ))
    }
}

/// The token of an `Authorization` header value of the `Bearer` scheme
/// ([RFC 6750 §2.1]: `Bearer`, matched case-insensitively, one or more
/// spaces, a `b64token`), or `None` for another scheme or a malformed token.
///
/// ```
/// assert_eq!(verys_client::bearer_token("Bearer eyJ.a.b"), Some("eyJ.a.b"));
/// assert_eq!(verys_client::bearer_token("bearer eyJ.a.b"), Some("eyJ.a.b"));
/// assert_eq!(verys_client::bearer_token("Basic dXNlcjpwYXNz"), None);
/// assert_eq!(verys_client::bearer_token("Bearer "), None);
/// ```
///
/// [RFC 6750 §2.1]: https://www.rfc-editor.org/rfc/rfc6750#section-2.1
pub fn bearer_token(authorization: &str) -> Option<&str> {
    match parse_bearer(authorization) {
        BearerHeader::Token(token) => Some(token),
        BearerHeader::OtherScheme | BearerHeader::Malformed => None,
    }
}

/// What an `Authorization` header value says about a bearer token.
#[cfg_attr(not(feature = "axum"), allow(dead_code))]
pub(crate) enum BearerHeader<'a> {
    Token(&'a str),
    /// Not the `Bearer` scheme: the request carries no bearer token.
    OtherScheme,
    /// The `Bearer` scheme without a well-formed token.
    Malformed,
}

pub(crate) fn parse_bearer(authorization: &str) -> BearerHeader<'_> {
    let (scheme, rest) = authorization.split_once(' ').unwrap_or((authorization, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return BearerHeader::OtherScheme;
    }
    let token = rest.trim_start_matches(' ');
    // b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    let body = token.trim_end_matches('=');
    let well_formed = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
    if well_formed {
        BearerHeader::Token(token)
    } else {
        BearerHeader::Malformed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    const NOW: u64 = 1_800_000_000;
    const ISSUER: &str = "https://verys.example";

    fn shared() -> Shared {
        let jwks = JwksCache::new(format!("{ISSUER}/jwks"), JwksPolicy::default());
        // Keys fetched just now: no refresh is due.
        let x = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            ed25519_dalek::SigningKey::from_bytes(&[1; 32])
                .verifying_key()
                .as_bytes(),
        );
        let body = format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"k","x":"{x}"}}]}}"#);
        jwks.store(Ok(HttpResponse::new(200, None, body.into_bytes())), NOW);
        let clock = Arc::new(ManualClock::new(NOW));
        Shared::new(ISSUER.into(), ISSUER.into(), 60, 16, Arc::new(jwks), clock)
    }

    fn claims(shared: &Shared) -> AccessClaims {
        let text = format!(
            r#"{{"iss":"{ISSUER}","sub":"u","aud":"{ISSUER}","exp":{},"iat":{NOW},"scopes":["openid"]}}"#,
            NOW + 300
        );
        access::check(text.as_bytes(), &shared.rules(NOW)).unwrap()
    }

    #[test]
    fn any_text_has_an_index_or_none_and_never_panics() {
        let sig = "S".repeat(SIGNATURE_SEGMENT);
        assert_eq!(Seen::index(&sig), Some(*b"SSSSSSSSSSSSSSSS"));
        let token = format!("h.c.{}", "0123456789abcdef".repeat(6));
        let start = token.len() - SIGNATURE_SEGMENT;
        assert_eq!(
            Seen::index(&token).unwrap(),
            token.as_bytes()[start..start + 16]
        );
        assert_eq!(Seen::index(&sig[1..]), None);
        assert_eq!(Seen::index(""), None);
        // The index is bytes, not characters: a multi-byte character across
        // its ends is no char boundary to slice at.
        for text in [
            "é".repeat(60),
            format!("€{}", "x".repeat(85)),
            format!("{}€{}", "x".repeat(10), "x".repeat(80)),
        ] {
            let _ = Seen::index(&text);
        }
    }

    /// Another text under a remembered token's index is no hit, and leaves
    /// the remembered token in place.
    #[test]
    fn another_text_under_the_index_is_verified_in_full() {
        let shared = shared();
        let token = format!("h.c.{}", "A".repeat(SIGNATURE_SEGMENT));
        let index = Seen::index(&token).unwrap();
        let remembered = Remembered {
            token: token.as_str().into(),
            claims: claims(&shared),
            removals: shared.jwks.removals(),
        };
        shared.remember(index, remembered);
        assert!(matches!(shared.recall(&token), Recall::Hit(c) if c.sub() == "u"));
        let other = format!("x.y.{}", "A".repeat(SIGNATURE_SEGMENT));
        assert!(matches!(shared.recall(&other), Recall::Miss(None)));
        assert!(matches!(shared.recall(&token), Recall::Hit(_)));
        let seen = shared.seen.as_ref().unwrap();
        assert_eq!(seen.hits.load(Ordering::Relaxed), 2);
    }
}
