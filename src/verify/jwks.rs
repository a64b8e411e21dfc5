//! The JWKS: parsing Verys's key set, and a cache of its keys by `kid` that
//! one whole service can share.
//!
//! The cache does no I/O itself. [`JwksCache::lookup`] answers from memory on
//! the hot path (a shared read lock, never an exclusive one); when it cannot,
//! it hands out a [`FetchTicket`], and the client that holds the ticket fetches
//! the JWKS under its single-flight gate and hands the response to
//! [`JwksCache::store`]. The blocking and async clients differ only in how
//! they wait at that gate.
//!
//! A fetch happens when a token names a `kid` the cache does not know (key
//! rotation) and when the keys are older than the maximum age, within a
//! budget: a burst of a few fetches, then one per cooldown. A key rotated
//! right after a fetch is fetched at once, while a stream of tokens with
//! made-up key ids cannot turn into more than a few requests a minute to
//! Verys. If a refetch fails while the needed key is still known, the known
//! key keeps serving.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::VerifyingKey;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use crate::error::{Error, TokenRule};
use crate::transport::{HttpRequest, HttpResponse};

/// More keys than this in one JWKS is not a key set but an attack on the
/// client's memory and time.
const MAX_KEYS: usize = 100;

/// One entry of a JWKS, as far as the rules look at it.
#[derive(Deserialize)]
struct Jwk {
    kty: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    alg: Option<String>,
    kid: Option<String>,
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<serde_json::Value>,
}

/// A key id's entry: a key, or several different keys claiming the same id.
#[derive(Clone, Copy)]
enum Slot {
    Key(VerifyingKey),
    Ambiguous,
}

/// The usable keys of one JWKS document, sorted by `kid`: at most
/// [`MAX_KEYS`], so a binary search, which costs less per token than
/// hashing the `kid`.
#[derive(Default)]
pub(crate) struct KeySet {
    keys: Vec<(String, Slot)>,
}

impl KeySet {
    /// Parses a JWKS document, keeping only keys this client may use:
    /// `kty` `OKP`, `crv` `Ed25519`, `use` absent or `sig`, `alg` absent or
    /// EdDSA, a 32-byte `x` that is a valid and not weak (small-order) point.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, Error> {
        let set: JwkSet = serde_json::from_slice(body).map_err(|error| {
            Error::JwksFetch(format!(
                "not a jwks document: {}",
                crate::error::json_reason(&error)
            ))
        })?;
        if set.keys.len() > MAX_KEYS {
            return Err(Error::JwksFetch(format!(
                "the jwks lists {} keys, more than the {MAX_KEYS} accepted",
                set.keys.len()
            )));
        }
        let mut keys: Vec<(String, Slot)> = Vec::new();
        for value in set.keys {
            let Some((kid, key)) = usable_key(value) else {
                continue;
            };
            match keys.binary_search_by(|(other, _)| other.as_str().cmp(&kid)) {
                Ok(at) => {
                    let slot = &mut keys[at].1;
                    if !matches!(slot, Slot::Key(existing) if *existing == key) {
                        *slot = Slot::Ambiguous;
                    }
                }
                Err(at) => keys.insert(at, (kid, Slot::Key(key))),
            }
        }
        if keys.is_empty() {
            return Err(Error::NoUsableKey);
        }
        Ok(Self { keys })
    }

    /// Whether this exact key is among the keys, under any `kid`.
    fn holds(&self, key: &VerifyingKey) -> bool {
        self.keys
            .iter()
            .any(|(_, slot)| matches!(slot, Slot::Key(held) if held == key))
    }

    fn get(&self, kid: &str) -> Option<Slot> {
        let at = self
            .keys
            .binary_search_by(|(other, _)| other.as_str().cmp(kid))
            .ok()?;
        Some(self.keys[at].1)
    }
}

fn usable_key(value: serde_json::Value) -> Option<(String, VerifyingKey)> {
    let jwk: Jwk = serde_json::from_value(value).ok()?;
    let usable = jwk.kty.as_deref() == Some("OKP")
        && jwk.crv.as_deref() == Some("Ed25519")
        && matches!(jwk.usage.as_deref(), None | Some("sig"))
        && matches!(jwk.alg.as_deref(), None | Some("EdDSA" | "Ed25519"));
    if !usable {
        return None;
    }
    let x = jwk.x?;
    let mut bytes = [0u8; 32];
    if URL_SAFE_NO_PAD.decode_slice(&x, &mut bytes).ok()? != 32 {
        return None;
    }
    let key = VerifyingKey::from_bytes(&bytes).ok()?;
    if key.is_weak() {
        return None;
    }
    let kid = jwk.kid.unwrap_or_else(|| thumbprint(&x));
    Some((kid, key))
}

/// The RFC 7638 thumbprint of an Ed25519 JWK, which Verys uses as `kid`; it
/// names keys that come without one.
pub(crate) fn thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// When to fetch the JWKS again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JwksPolicy {
    /// Seconds to earn one more fetch once the burst is spent.
    pub cooldown: u64,
    /// Fetches that may follow each other at once.
    pub burst: u32,
    /// Seconds after which cached keys are fetched again.
    pub max_age: u64,
}

impl Default for JwksPolicy {
    fn default() -> Self {
        Self {
            cooldown: 30,
            burst: 3,
            max_age: 3600,
        }
    }
}

/// The fetches the policy allows now: a token bucket of `burst` tokens,
/// one more earned every `cooldown`.
#[derive(Debug, Clone, Copy)]
struct Budget {
    /// Tokens left at `since`.
    tokens: u32,
    since: u64,
}

impl Budget {
    fn full(policy: JwksPolicy) -> Self {
        Self {
            tokens: policy.burst,
            since: 0,
        }
    }

    /// Tokens at `now`, and the whole cooldowns earned since `since`.
    fn at(self, policy: JwksPolicy, now: u64) -> (u32, u64) {
        if policy.cooldown == 0 {
            return (policy.burst, 0);
        }
        let earned = now.saturating_sub(self.since) / policy.cooldown;
        let tokens = u64::from(self.tokens)
            .saturating_add(earned)
            .min(u64::from(policy.burst));
        (u32::try_from(tokens).unwrap_or(policy.burst), earned)
    }

    fn allows(self, policy: JwksPolicy, now: u64) -> bool {
        self.at(policy, now).0 > 0
    }

    /// Spends a token at `now`, keeping the part of a cooldown already
    /// waited unless the bucket was full.
    fn spend(&mut self, policy: JwksPolicy, now: u64) {
        let (tokens, earned) = self.at(policy, now);
        self.since = if tokens == policy.burst {
            now
        } else {
            self.since
                .saturating_add(earned.saturating_mul(policy.cooldown))
        };
        self.tokens = tokens.saturating_sub(1);
    }
}

struct CacheState {
    keys: KeySet,
    /// When the current keys were fetched.
    fetched_at: Option<u64>,
    budget: Budget,
    /// Bumped by every stored fetch, so waiters at the gate can tell that
    /// someone else already fetched.
    generation: u64,
    last_error: Option<Error>,
}

/// Permission to fetch the JWKS, tied to the cache's state when it was given.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FetchTicket {
    generation: u64,
}

/// What the cache can say about a key id without I/O.
pub(crate) enum Lookup {
    /// The key, fresh enough.
    Found(VerifyingKey),
    /// The cache needs a fetch to answer.
    Fetch(FetchTicket),
}

/// Keys by `kid`, shared by every client, verifier and thread of a service.
pub(crate) struct JwksCache {
    uri: String,
    policy: JwksPolicy,
    state: RwLock<CacheState>,
    /// How many stored fetches dropped a key that was published before:
    /// what a verification remembered under an older count must check its
    /// key again.
    removals: AtomicU64,
    /// The single-flight gate of blocking fetchers.
    blocking_gate: Mutex<()>,
    /// The single-flight gate of async fetchers: a lock meant to be held
    /// across the fetch's `.await`.
    #[cfg(feature = "async")]
    async_gate: tokio::sync::Mutex<()>,
}

impl JwksCache {
    pub(crate) fn new(uri: String, policy: JwksPolicy) -> Self {
        Self {
            uri,
            policy,
            state: RwLock::new(CacheState {
                keys: KeySet::default(),
                fetched_at: None,
                budget: Budget::full(policy),
                generation: 0,
                last_error: None,
            }),
            removals: AtomicU64::new(0),
            blocking_gate: Mutex::new(()),
            #[cfg(feature = "async")]
            async_gate: tokio::sync::Mutex::new(()),
        }
    }

    /// Answers from memory: the key, a ticket to fetch, or the reason none
    /// can be had until the budget allows another fetch.
    pub(crate) fn lookup(&self, kid: &str, now: u64) -> Result<Lookup, Error> {
        let state = self
            .state
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        let fresh = state
            .fetched_at
            .is_some_and(|at| now < at.saturating_add(self.policy.max_age));
        let found = state.keys.get(kid);
        if let (true, Some(Slot::Key(key))) = (fresh, found) {
            return Ok(Lookup::Found(key));
        }
        if state.budget.allows(self.policy, now) {
            return Ok(Lookup::Fetch(FetchTicket {
                generation: state.generation,
            }));
        }
        Self::settle(&state, found)
    }

    /// The request to send for `ticket`, or `None` when another caller has
    /// stored a fetch since the ticket was given. Call it while holding the
    /// gate, so that many callers that missed at once cause one fetch.
    pub(crate) fn fetch_request(&self, ticket: FetchTicket) -> Option<HttpRequest> {
        let state = self
            .state
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        (state.generation == ticket.generation).then(|| HttpRequest::get(&self.uri))
    }

    /// Records the outcome of a fetch.
    pub(crate) fn store(&self, response: Result<HttpResponse, Error>, now: u64) {
        let parsed = response.and_then(|response| {
            if response.status != 200 {
                return Err(Error::JwksFetch(format!("http {}", response.status)));
            }
            KeySet::parse(&response.body)
        });
        let mut state = self
            .state
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        state.generation += 1;
        state.budget.spend(self.policy, now);
        match parsed {
            Ok(keys) => {
                let removed = state.keys.keys.iter().any(|(_, slot)| match slot {
                    Slot::Key(key) => !keys.holds(key),
                    Slot::Ambiguous => false,
                });
                if removed {
                    // Inside the write lock: a reader that sees the new count
                    // takes the read lock only after it is released, and
                    // finds the new keys.
                    self.removals.fetch_add(1, Ordering::Release);
                }
                state.keys = keys;
                state.fetched_at = Some(now);
                state.last_error = None;
            }
            Err(error) => state.last_error = Some(error),
        }
    }

    /// How many key removals the cache has seen; read it before looking a
    /// key up, and a later [`still_publishes`](Self::still_publishes) with
    /// the count tells whether that key has been dropped since.
    pub(crate) fn removals(&self) -> u64 {
        self.removals.load(Ordering::Acquire)
    }

    /// Whether `key`, found while the removal count was `removals`, is still
    /// published: at once when no key was dropped since, by a look at the
    /// current keys otherwise.
    pub(crate) fn still_publishes(&self, key: &VerifyingKey, removals: u64) -> bool {
        self.removals() == removals
            || self
                .state
                .read()
                .unwrap_or_else(|poison| poison.into_inner())
                .keys
                .holds(key)
    }

    /// The final answer after a fetch (or after waiting for someone else's):
    /// the key if known, even if stale, or why there is none.
    pub(crate) fn resolve(&self, kid: &str) -> Result<VerifyingKey, Error> {
        let state = self
            .state
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        match Self::settle(&state, state.keys.get(kid))? {
            Lookup::Found(key) => Ok(key),
            Lookup::Fetch(_) => Err(Error::InvalidIdToken(TokenRule::UnknownKeyId)),
        }
    }

    /// [`Self::lookup`] before a fetch, [`Self::resolve`] after one.
    pub(crate) fn key(&self, kid: &str, now: u64, after_fetch: bool) -> Result<Lookup, Error> {
        if after_fetch {
            self.resolve(kid).map(Lookup::Found)
        } else {
            self.lookup(kid, now)
        }
    }

    fn settle(state: &CacheState, found: Option<Slot>) -> Result<Lookup, Error> {
        match (found, &state.last_error) {
            (Some(Slot::Key(key)), _) => Ok(Lookup::Found(key)),
            (Some(Slot::Ambiguous), _) => Err(Error::InvalidIdToken(TokenRule::AmbiguousKeyId)),
            (None, Some(error)) => Err(error.clone()),
            (None, None) => Err(Error::InvalidIdToken(TokenRule::UnknownKeyId)),
        }
    }

    pub(crate) fn blocking_gate(&self) -> &Mutex<()> {
        &self.blocking_gate
    }

    #[cfg(feature = "async")]
    pub(crate) fn async_gate(&self) -> &tokio::sync::Mutex<()> {
        &self.async_gate
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn jwk(seed: u8, kid: &str) -> serde_json::Value {
        let x = URL_SAFE_NO_PAD.encode(
            SigningKey::from_bytes(&[seed; 32])
                .verifying_key()
                .as_bytes(),
        );
        serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x, "use": "sig", "alg": "EdDSA", "kid": kid})
    }

    fn body(keys: Vec<serde_json::Value>) -> Vec<u8> {
        serde_json::json!({ "keys": keys }).to_string().into_bytes()
    }

    fn ok(keys: Vec<serde_json::Value>) -> Result<HttpResponse, Error> {
        Ok(HttpResponse::new(200, Some("application/json"), body(keys)))
    }

    #[test]
    fn keeps_only_usable_keys() {
        let mut rsa = jwk(1, "rsa");
        rsa["kty"] = "RSA".into();
        let mut enc = jwk(2, "enc");
        enc["use"] = "enc".into();
        let mut x448 = jwk(3, "x448");
        x448["crv"] = "Ed448".into();
        let mut short = jwk(4, "short");
        short["x"] = "AAAA".into();
        let weak = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "kid": "weak",
            "x": URL_SAFE_NO_PAD.encode([1u8].iter().chain([0u8; 31].iter()).copied().collect::<Vec<u8>>())});
        let set = KeySet::parse(&body(vec![rsa, enc, x448, short, weak, jwk(5, "good")])).unwrap();
        assert_eq!(set.keys.len(), 1);
        assert!(set.get("good").is_some());
    }

    #[test]
    fn no_usable_key_and_unreadable_documents_are_different_errors() {
        let mut rsa = jwk(1, "rsa");
        rsa["kty"] = "RSA".into();
        assert!(matches!(
            KeySet::parse(&body(vec![rsa])),
            Err(Error::NoUsableKey)
        ));
        assert!(matches!(KeySet::parse(b"<html>"), Err(Error::JwksFetch(_))));
        assert!(matches!(
            KeySet::parse(b"{\"keys\": 3}"),
            Err(Error::JwksFetch(_))
        ));
    }

    #[test]
    /// RFC 8037 Appendix A.2 and A.3: the example Ed25519 key and its
    /// RFC 7638 thumbprint, the `kid` of a key that comes without one.
    fn missing_kid_is_the_rfc7638_thumbprint() {
        const X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        const THUMBPRINT: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
        assert_eq!(thumbprint(X), THUMBPRINT);
        let key = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": X});
        let set = KeySet::parse(&body(vec![key])).unwrap();
        assert!(set.get(THUMBPRINT).is_some());
    }

    #[test]
    fn duplicate_kid_with_different_keys_is_ambiguous() {
        let cache = JwksCache::new("http://x/jwks".into(), JwksPolicy::default());
        cache.store(ok(vec![jwk(1, "same"), jwk(2, "same"), jwk(3, "other")]), 0);
        assert!(matches!(
            cache.resolve("same"),
            Err(Error::InvalidIdToken(TokenRule::AmbiguousKeyId))
        ));
        assert!(cache.resolve("other").is_ok());
    }

    #[test]
    fn too_many_keys_are_refused() {
        let keys = (0..=MAX_KEYS).map(|i| jwk(1, &i.to_string())).collect();
        assert!(matches!(
            KeySet::parse(&body(keys)),
            Err(Error::JwksFetch(_))
        ));
    }

    /// Answers `kid` at `now` as a client would: a fetch (of a JWKS holding
    /// only `a`) when the cache asks for one. Whether it fetched.
    fn ask(cache: &JwksCache, kid: &str, now: u64) -> bool {
        match cache.lookup(kid, now) {
            Ok(Lookup::Fetch(ticket)) => {
                assert!(cache.fetch_request(ticket).is_some());
                cache.store(ok(vec![jwk(1, "a")]), now);
                assert!(
                    cache.fetch_request(ticket).is_none(),
                    "a stale ticket must not fetch again"
                );
                true
            }
            _ => false,
        }
    }

    #[test]
    fn a_key_rotated_right_after_a_fetch_is_fetched_at_once() {
        let cache = JwksCache::new("http://x/jwks".into(), JwksPolicy::default());
        assert!(ask(&cache, "a", 100), "an empty cache fetches");
        assert!(matches!(cache.lookup("a", 101), Ok(Lookup::Found(_))));
        assert!(ask(&cache, "rotated", 101), "a new kid a second later");
        assert!(ask(&cache, "rotated-again", 102));
        assert!(!ask(&cache, "made-up", 103), "the burst is spent");
        assert!(matches!(
            cache.lookup("made-up", 103),
            Err(Error::InvalidIdToken(TokenRule::UnknownKeyId))
        ));
        assert!(!ask(&cache, "made-up", 129));
        assert!(ask(&cache, "made-up", 130), "one more per cooldown");
        assert!(!ask(&cache, "made-up", 131));
    }

    #[test]
    fn a_flood_of_made_up_kids_fetches_a_few_times_a_minute() {
        let policy = JwksPolicy::default();
        let cache = JwksCache::new("http://x/jwks".into(), policy);
        let fetches = (0..600u64)
            .filter(|t| ask(&cache, &format!("made-up-{t}"), 1_000 + t))
            .count();
        // Ten minutes of one made-up kid a second: the burst, then one fetch
        // per 30 s cooldown.
        assert_eq!(fetches, 3 + 600 / 30 - 1);
        // Once the flood stops, the budget refills to a whole burst.
        let later = 1_600 + 3 * policy.cooldown;
        assert!((0..3).all(|n| ask(&cache, "new", later + n)));
    }

    #[test]
    fn old_keys_are_refetched_and_kept_when_the_refetch_fails() {
        let policy = JwksPolicy {
            max_age: 600,
            ..JwksPolicy::default()
        };
        let cache = JwksCache::new("http://x/jwks".into(), policy);
        cache.store(ok(vec![jwk(1, "a")]), 0);
        assert!(matches!(cache.lookup("a", 599), Ok(Lookup::Found(_))));
        let Ok(Lookup::Fetch(ticket)) = cache.lookup("a", 600) else {
            panic!("old keys must refetch")
        };
        assert!(cache.fetch_request(ticket).is_some());
        cache.store(Ok(HttpResponse::new(500, None, Vec::new())), 600);
        assert!(cache.resolve("a").is_ok());
        assert!(matches!(cache.resolve("b"), Err(Error::JwksFetch(_))));
    }
}
