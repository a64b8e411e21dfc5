//! The cache of Verys's keys by `kid` that one whole service can share (the
//! key set itself is parsed by `verify::keys`).
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

use ed25519_dalek::VerifyingKey;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};

use super::wire::{HttpRequest, HttpResponse};
use crate::error::{Error, TokenRule};
use crate::single_flight::Gate;
use crate::verify::keys::{KeySet, Slot};

/// When to fetch the JWKS again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JwksPolicy {
    /// Seconds to earn one more fetch once the burst is spent (at least 1).
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
/// one more earned every `cooldown`, spent when a fetch is granted.
#[derive(Debug, Clone, Copy)]
struct Budget {
    /// Tokens left at `since`.
    tokens: u32,
    since: u64,
    /// The generation of keys a granted fetch will replace: callers that
    /// miss the same keys share that fetch and spend nothing more.
    granted: Option<u64>,
    /// The generation a fetch was sent for. Still current when the next
    /// holder of the gate asks to fetch, that fetch was abandoned before its
    /// answer was stored (an async caller's future dropped, a panic in the
    /// user's HTTP client), and another one costs a token of its own.
    sent: Option<u64>,
}

impl Budget {
    fn full(policy: JwksPolicy) -> Self {
        Self {
            tokens: policy.burst,
            since: 0,
            granted: None,
            sent: None,
        }
    }

    /// Takes a wall clock set back since the last spend as the new start:
    /// the budget refills from `now` on instead of freezing until the clock
    /// reaches the old start again.
    fn follow_clock(&mut self, now: u64) {
        self.since = self.since.min(now);
    }

    /// Tokens at `now`, and the whole cooldowns earned since `since`.
    fn at(self, policy: JwksPolicy, now: u64) -> (u32, u64) {
        let cooldown = policy.cooldown.max(1);
        let earned = now.saturating_sub(self.since) / cooldown;
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
                .saturating_add(earned.saturating_mul(policy.cooldown.max(1)))
        };
        self.tokens = tokens.saturating_sub(1);
    }
}

struct CacheState {
    keys: KeySet,
    /// When the current keys were fetched.
    fetched_at: Option<u64>,
    /// Bumped by every stored fetch, so waiters at the gate can tell that
    /// someone else already fetched.
    generation: u64,
    last_error: Option<Error>,
}

/// Permission to fetch the JWKS, tied to the cache's state when it was given.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FetchTicket {
    generation: u64,
    /// Whether its holder waits for the gate. One that has a key to use
    /// meanwhile (an old one) fetches only if nobody else is: it does not
    /// wait behind a slow JWKS endpoint.
    wait: bool,
}

impl FetchTicket {
    /// Whether its holder waits for the gate, or goes on if it is taken.
    pub(crate) fn waits(self) -> bool {
        self.wait
    }
}

/// What the cache can say about a key id without I/O.
pub(crate) enum Lookup {
    /// The key, fresh enough.
    Found(VerifyingKey),
    /// No key for the id: a fetch first, to wait for.
    Fetch(FetchTicket),
    /// The key is known but older than the maximum age: a fetch if nobody
    /// else is doing one, then the key as it is then (refreshed or old).
    Refresh(FetchTicket),
}

/// Why the cache has no key for a `kid`, for the caller to name as a rule of
/// its own token kind: the cache serves ID tokens and bearer tokens alike.
#[derive(Debug, Clone)]
pub(crate) enum KeyError {
    /// No key of the set has this id.
    UnknownKeyId,
    /// Several different keys claim it.
    AmbiguousKeyId,
    /// No key at all: the JWKS could not be fetched or read, or publishes
    /// no usable key.
    Unavailable(Error),
}

impl KeyError {
    /// The error of the caller's token, whose rules `invalid` names
    /// ([`Error::InvalidIdToken`], [`Error::InvalidAccessToken`]).
    pub(crate) fn of(self, invalid: fn(TokenRule) -> Error) -> Error {
        match self {
            Self::UnknownKeyId => invalid(TokenRule::UnknownKeyId),
            Self::AmbiguousKeyId => invalid(TokenRule::AmbiguousKeyId),
            Self::Unavailable(error) => error,
        }
    }
}

/// Keys by `kid`, shared by every client, verifier and thread of a service.
pub(crate) struct JwksCache {
    uri: String,
    policy: JwksPolicy,
    state: RwLock<CacheState>,
    /// Taken after `state`, never before.
    budget: Mutex<Budget>,
    /// How many stored fetches dropped a key that was published before: a
    /// token remembered under an older count is verified again in full.
    removals: AtomicU64,
    /// Until when the keys are fresh (the last fetch stored plus the maximum
    /// age), kept outside `state` for the verifier's cache hits.
    fresh_until: AtomicU64,
    gate: Gate,
}

impl JwksCache {
    pub(crate) fn new(uri: String, policy: JwksPolicy) -> Self {
        Self {
            uri,
            policy,
            state: RwLock::new(CacheState {
                keys: KeySet::default(),
                fetched_at: None,
                generation: 0,
                last_error: None,
            }),
            budget: Mutex::new(Budget::full(policy)),
            removals: AtomicU64::new(0),
            fresh_until: AtomicU64::new(0),
            gate: Gate::default(),
        }
    }

    /// Answers from memory: the key, a ticket to fetch, or the reason none
    /// can be had until the budget allows another fetch.
    pub(crate) fn lookup(&self, kid: &str, now: u64) -> Result<Lookup, KeyError> {
        let state = self
            .state
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        // Keys fetched after `now` were fetched before the wall clock was
        // set back: their age is unknown, so they are refreshed.
        let fresh = state
            .fetched_at
            .is_some_and(|at| at <= now && now < at.saturating_add(self.policy.max_age));
        let found = state.keys.get(kid);
        let known = matches!(found, Some(Slot::Key(_)));
        if fresh && known {
            return Self::settle(&state, found).map(Lookup::Found);
        }
        match self.grant(state.generation, now, !known) {
            Some(ticket) if known => Ok(Lookup::Refresh(ticket)),
            Some(ticket) => Ok(Lookup::Fetch(ticket)),
            None => Self::settle(&state, found).map(Lookup::Found),
        }
    }

    /// A ticket to fetch the keys of `generation`, if the budget allows one
    /// or grants one already (shared, spending nothing more).
    fn grant(&self, generation: u64, now: u64, wait: bool) -> Option<FetchTicket> {
        let mut budget = self.budget.lock().unwrap_or_else(PoisonError::into_inner);
        budget.follow_clock(now);
        if budget.granted != Some(generation) {
            if !budget.allows(self.policy, now) {
                return None;
            }
            budget.spend(self.policy, now);
            budget.granted = Some(generation);
        }
        Some(FetchTicket { generation, wait })
    }

    /// The request to send for `ticket` at `now`, or `None` when another
    /// caller has stored a fetch since the ticket was given, or when the
    /// fetch the ticket's grant paid for was abandoned and the budget allows
    /// no other (see [`Budget::sent`]). Call it while holding the gate, so
    /// that many callers that missed at once cause one fetch.
    pub(crate) fn fetch_request(&self, ticket: FetchTicket, now: u64) -> Option<HttpRequest> {
        let state = self
            .state
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        if state.generation != ticket.generation {
            return None;
        }
        let mut budget = self.budget.lock().unwrap_or_else(PoisonError::into_inner);
        if budget.sent == Some(ticket.generation) {
            budget.follow_clock(now);
            if !budget.allows(self.policy, now) {
                return None;
            }
            budget.spend(self.policy, now);
        }
        budget.sent = Some(ticket.generation);
        Some(HttpRequest::get(&self.uri))
    }

    /// Records the outcome of a fetch.
    pub(crate) fn store(&self, response: Result<HttpResponse, Error>, now: u64) {
        let parsed = response.and_then(|response| {
            if response.status != 200 {
                return Err(Error::JwksFetch(format!("http {}", response.status)));
            }
            KeySet::parse(&response.body)
        });
        crate::trace::jwks_stored(&parsed.as_ref().map(|keys| keys.len()).map_err(Clone::clone));
        let mut state = self
            .state
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        state.generation += 1;
        match parsed {
            Ok(keys) => {
                // Removed: a key no longer published under its id.
                let removed = state.keys.loses_a_key_in(&keys);
                if removed {
                    // Inside the write lock: a reader that sees the new count
                    // takes the read lock only after it is released, and
                    // finds the new keys.
                    self.removals.fetch_add(1, Ordering::Release);
                }
                // A well-formed set is the issuer's word, even without a
                // usable key: keys it stopped publishing (a leaked key
                // withdrawn) must not keep serving.
                state.last_error = keys.is_empty().then_some(Error::NoUsableKey);
                state.keys = keys;
                state.fetched_at = Some(now);
                self.fresh_until
                    .store(now.saturating_add(self.policy.max_age), Ordering::Release);
            }
            Err(error) => state.last_error = Some(error),
        }
    }

    /// How many key removals the cache has seen: read before a key is looked
    /// up, the same count later says that no key has been dropped since.
    pub(crate) fn removals(&self) -> u64 {
        self.removals.load(Ordering::Acquire)
    }

    /// Whether a lookup at `now` would ask for a refresh: the keys are older
    /// than the maximum age and the fetch budget allows one. A verifier then
    /// verifies a token it remembers in full, which refreshes them, so that
    /// a service seeing only remembered tokens still learns of a withdrawn
    /// key; while the budget holds fetches back (the JWKS endpoint failing),
    /// remembered tokens are answered as the old keys answer fresh ones.
    pub(crate) fn refresh_due(&self, now: u64) -> bool {
        let fresh_until = self.fresh_until.load(Ordering::Acquire);
        // As in `lookup`: keys fetched after `now` are of unknown age.
        let fetched_later = fresh_until.saturating_sub(self.policy.max_age) > now;
        (now >= fresh_until || fetched_later) && {
            let mut budget = self.budget.lock().unwrap_or_else(PoisonError::into_inner);
            budget.follow_clock(now);
            budget.allows(self.policy, now)
        }
    }

    /// The final answer after a fetch (or after waiting for someone else's):
    /// the key if known, even if stale, or why there is none.
    pub(crate) fn resolve(&self, kid: &str) -> Result<VerifyingKey, KeyError> {
        let state = self
            .state
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        Self::settle(&state, state.keys.get(kid))
    }

    /// [`Self::lookup`] when a fetch may follow, [`Self::resolve`] when it
    /// may not (after a fetch, or for a caller that does no I/O).
    pub(crate) fn key(&self, kid: &str, now: u64, may_fetch: bool) -> Result<Lookup, KeyError> {
        if may_fetch {
            self.lookup(kid, now)
        } else {
            self.resolve(kid).map(Lookup::Found)
        }
    }

    /// The answer without a fetch: the key if known, even if old, or why
    /// there is none.
    fn settle(state: &CacheState, found: Option<Slot>) -> Result<VerifyingKey, KeyError> {
        match (found, &state.last_error) {
            (Some(Slot::Key(key)), _) => Ok(key),
            (Some(Slot::Ambiguous), _) => Err(KeyError::AmbiguousKeyId),
            (None, Some(error)) => Err(KeyError::Unavailable(error.clone())),
            (None, None) => Err(KeyError::UnknownKeyId),
        }
    }

    /// The single-flight gate of the fetches.
    pub(crate) fn gate(&self) -> &Gate {
        &self.gate
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::keys::tests::{body, jwk};

    fn ok(keys: Vec<serde_json::Value>) -> Result<HttpResponse, Error> {
        Ok(HttpResponse::new(200, Some("application/json"), body(keys)))
    }

    #[test]
    fn no_usable_key_and_unreadable_documents_are_different_errors() {
        let mut rsa = jwk(1, "rsa");
        rsa["kty"] = "RSA".into();
        let cache = JwksCache::new("http://x/jwks".into(), JwksPolicy::default());
        cache.store(ok(vec![rsa]), 0);
        assert!(matches!(
            cache.resolve("rsa"),
            Err(KeyError::Unavailable(Error::NoUsableKey))
        ));
        for unreadable in [&b"<html>"[..], b"{\"keys\": 3}"] {
            assert!(matches!(
                KeySet::parse(unreadable),
                Err(Error::JwksFetch(reason)) if reason.starts_with("not a jwks document")
            ));
        }
    }

    /// A leaked key withdrawn by publishing no usable key at all is not
    /// served from the cache any more, and counts as removed; a JWKS that
    /// cannot be fetched or read leaves the known keys serving.
    #[test]
    fn a_set_without_usable_keys_replaces_the_known_ones() {
        let cache = JwksCache::new("http://x/jwks".into(), JwksPolicy::default());
        cache.store(ok(vec![jwk(1, "a")]), 0);
        let removals = cache.removals();
        cache.store(Ok(HttpResponse::new(500, None, Vec::new())), 1);
        cache.store(Ok(HttpResponse::new(200, None, b"<html>".to_vec())), 2);
        assert!(cache.resolve("a").is_ok());
        assert_eq!(cache.removals(), removals);
        cache.store(ok(Vec::new()), 3);
        assert!(matches!(
            cache.resolve("a"),
            Err(KeyError::Unavailable(Error::NoUsableKey))
        ));
        assert!(!matches!(cache.lookup("a", 4), Ok(Lookup::Found(_))));
        assert_eq!(cache.removals(), removals + 1);
    }

    #[test]
    fn duplicate_kid_with_different_keys_is_ambiguous() {
        let cache = JwksCache::new("http://x/jwks".into(), JwksPolicy::default());
        cache.store(ok(vec![jwk(1, "same"), jwk(2, "same"), jwk(3, "other")]), 0);
        assert!(matches!(
            cache.resolve("same"),
            Err(KeyError::AmbiguousKeyId)
        ));
        assert!(cache.resolve("other").is_ok());
    }

    /// Answers `kid` at `now` as a client would: a fetch (of a JWKS holding
    /// only `a`) when the cache asks for one. Whether it fetched.
    fn ask(cache: &JwksCache, kid: &str, now: u64) -> bool {
        match cache.lookup(kid, now) {
            Ok(Lookup::Fetch(ticket)) => {
                assert!(cache.fetch_request(ticket, now).is_some());
                cache.store(ok(vec![jwk(1, "a")]), now);
                assert!(
                    cache.fetch_request(ticket, now).is_none(),
                    "a stale ticket must not fetch again"
                );
                true
            }
            _ => false,
        }
    }

    /// A fetch abandoned before its answer was stored (an async caller's
    /// future dropped mid-fetch, a client hanging up) leaves no grant for
    /// the next caller to fetch on for free: each fetch sent costs a token.
    #[test]
    fn an_abandoned_fetch_costs_its_token() {
        let cache = JwksCache::new("http://x/jwks".into(), JwksPolicy::default());
        let sent = (0..10)
            .filter(|n| match cache.lookup(&format!("made-up-{n}"), 100) {
                Ok(Lookup::Fetch(ticket)) => cache.fetch_request(ticket, 100).is_some(),
                _ => false,
            })
            .count();
        assert_eq!(sent, 3, "the burst, however many fetches were abandoned");
        let sends = |now| match cache.lookup("rotated", now) {
            Ok(Lookup::Fetch(ticket)) => cache.fetch_request(ticket, now).is_some(),
            _ => false,
        };
        assert!(!sends(129));
        assert!(sends(130), "one more per cooldown");
        assert!(!sends(131));
    }

    /// A wall clock set back (an hour and a half here) neither freezes the
    /// fetch budget until it reads its old time again, nor keeps keys it
    /// fetched "later" fresh for that long.
    #[test]
    fn a_clock_set_back_neither_freezes_the_budget_nor_keeps_keys_fresh() {
        let cache = JwksCache::new("http://x/jwks".into(), JwksPolicy::default());
        assert!(ask(&cache, "a", 10_000));
        assert!(!cache.refresh_due(10_001));
        assert!(cache.refresh_due(4_600), "keys of unknown age");
        assert!(matches!(cache.lookup("a", 4_600), Ok(Lookup::Refresh(_))));
        assert!(ask(&cache, "b", 4_600));
        assert!(ask(&cache, "c", 4_600));
        assert!(!ask(&cache, "d", 4_600), "the burst is spent");
        assert!(ask(&cache, "d", 4_630), "one more per cooldown from now");
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
            Err(KeyError::UnknownKeyId)
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

    /// An old key is refreshed without anyone waiting for it: the callers
    /// share one granted fetch, spend the budget once, and may go on with
    /// the old key, which serves while the refresh fails.
    #[test]
    fn an_old_key_is_refreshed_by_whoever_finds_the_gate_free() {
        let policy = JwksPolicy {
            max_age: 600,
            ..JwksPolicy::default()
        };
        let cache = JwksCache::new("http://x/jwks".into(), policy);
        assert!(ask(&cache, "a", 0));
        let first = cache.lookup("a", 700);
        let Ok(Lookup::Refresh(ticket)) = first else {
            panic!("an old key is refreshed")
        };
        assert!(!ticket.waits(), "with a key to use, nobody waits");
        for _ in 0..10 {
            assert!(matches!(cache.lookup("a", 700), Ok(Lookup::Refresh(_))));
        }
        let Ok(Lookup::Fetch(unknown)) = cache.lookup("b", 700) else {
            panic!("an unknown kid fetches")
        };
        assert!(unknown.waits(), "without a key, the caller waits");
        assert!(cache.fetch_request(ticket, 700).is_some());
        cache.store(Ok(HttpResponse::new(503, None, Vec::new())), 700);
        assert!(cache.resolve("a").is_ok(), "the old key serves on");
        // One grant was spent for the dozen callers: two are left.
        assert!(matches!(cache.lookup("a", 701), Ok(Lookup::Refresh(_))));
        cache.store(Ok(HttpResponse::new(503, None, Vec::new())), 701);
        assert!(matches!(cache.lookup("a", 702), Ok(Lookup::Refresh(_))));
        cache.store(Ok(HttpResponse::new(503, None, Vec::new())), 702);
        assert!(matches!(cache.lookup("a", 703), Ok(Lookup::Found(_))));
    }

    /// A `kid` pointed at another key counts as the removal of the key it
    /// named, even if that key stays published under another id.
    #[test]
    fn a_kid_pointed_at_another_key_removes_the_old_one() {
        let cache = JwksCache::new("http://x/jwks".into(), JwksPolicy::default());
        cache.store(ok(vec![jwk(1, "a")]), 0);
        let Ok(Lookup::Found(old)) = cache.lookup("a", 1) else {
            panic!("the key is cached")
        };
        let removals = cache.removals();
        cache.store(ok(vec![jwk(2, "a"), jwk(1, "b")]), 2);
        assert_eq!(cache.removals(), removals + 1);
        assert!(matches!(cache.lookup("a", 3), Ok(Lookup::Found(new)) if new != old));
        assert!(matches!(cache.lookup("b", 3), Ok(Lookup::Found(same)) if same == old));
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
        let Ok(Lookup::Refresh(ticket)) = cache.lookup("a", 600) else {
            panic!("old keys must refetch")
        };
        assert!(cache.fetch_request(ticket, 600).is_some());
        cache.store(Ok(HttpResponse::new(500, None, Vec::new())), 600);
        assert!(cache.resolve("a").is_ok());
        assert!(matches!(
            cache.resolve("b"),
            Err(KeyError::Unavailable(Error::JwksFetch(_)))
        ));
    }
}
