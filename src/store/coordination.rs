//! The refresh of one session's tokens through a store, as an I/O-free
//! state machine: it says which store step, refresh or restore comes next
//! and is handed the outcome; the blocking and the async
//! [`TokenManager`](crate::TokenManager) each pump it with their own I/O.
//! The [module documentation](super) tells the protocol.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::Entry;
use crate::clock::Clock;
use crate::error::{Error, StoreError, StoreErrorKind};
use crate::flow::tokens::{StoredTokens, Tokens};
use crate::randomness::Randomness;

/// How often a caller that found the lease taken looks for the new tokens.
pub(crate) const POLL: Duration = Duration::from_millis(50);

/// What an entry's value says: the JSON a manager writes.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Session {
    Tokens(StoredTokens),
    /// The refresh token was found dead: every replica's callers are told to
    /// sign in again, and nobody refreshes with it.
    SignedOut,
}

impl Session {
    pub(crate) fn to_value(&self) -> String {
        // Serializing plain strings and numbers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Tokens to use, and the version of the entry they are.
pub(crate) struct Fresh {
    pub tokens: Tokens,
    pub version: u64,
    /// Whether this manager refreshed them (rather than another replica).
    pub ours: bool,
}

/// What the driver does next.
pub(crate) enum Step {
    Load,
    TryLease,
    /// Wait, then [`Coordination::slept`].
    Sleep(Duration),
    /// Verify tokens another replica stored: `Client::restore_tokens`.
    Restore(StoredTokens),
    /// Refresh these tokens: `Client::refresh`.
    Refresh(Box<Tokens>),
    /// Write `value` as `version` if the entry is still at `expected`.
    Replace {
        expected: u64,
        version: u64,
        value: String,
    },
    /// Give the lease back (its outcome does not matter: it expires), then
    /// finish with the outcome.
    Release(Result<Fresh, Error>),
    Done(Result<Fresh, Error>),
}

/// One caller's way through the store, from its in-process copy.
pub(crate) struct Coordination {
    clock: Arc<dyn Clock>,
    margin: Duration,
    deadline: Instant,
    /// The newest tokens known, and their version.
    tokens: Tokens,
    version: u64,
    /// The version of the entry last read.
    read: u64,
    leased: bool,
    /// Tokens this caller refreshed, waiting to be stored.
    refreshed: Option<Tokens>,
    /// An `invalid_grant` this caller got, while the entry is read again.
    refused: Option<Error>,
    /// What is being written: the refreshed tokens, or the end of the
    /// sign-in.
    writing_sign_out: bool,
    /// A write of refreshed tokens lost to another writer, and the entry is
    /// read again: see [`Coordination::replaced`].
    rewriting: bool,
    /// A write of the end of the sign-in lost to another writer: the entry
    /// must have changed since [`Coordination::read`] was read.
    sign_out_lost: bool,
    /// The refreshes this caller asked for (see [`REFRESH_ATTEMPTS`]).
    refreshes: u8,
    /// The held tokens' refresh token was refused for good: at their version
    /// the entry holds nothing to refresh.
    dead: bool,
}

/// Refreshes one caller asks for before giving up. A second one is due when
/// another replica rotated the refresh token first (`invalid_grant`) and
/// stored tokens that are already within the margin; an entry newer and
/// stale again after every refresh is no replica's doing, and must not send
/// a caller to the token endpoint without end.
const REFRESH_ATTEMPTS: u8 = 3;

impl Coordination {
    /// Starts from the in-process copy `tokens` (at `version`), whose
    /// refresh token is known `dead` or not; a caller waits until `deadline`
    /// for another replica's refresh.
    pub(crate) fn new(
        tokens: Tokens,
        version: u64,
        dead: bool,
        clock: Arc<dyn Clock>,
        margin: Duration,
        deadline: Instant,
    ) -> (Self, Step) {
        let coordination = Self {
            clock,
            margin,
            deadline,
            tokens,
            version,
            read: 0,
            leased: false,
            refreshed: None,
            refused: None,
            writing_sign_out: false,
            rewriting: false,
            sign_out_lost: false,
            refreshes: 0,
            dead,
        };
        (coordination, Step::Load)
    }

    fn is_fresh(&self, tokens: &Tokens) -> bool {
        !tokens.access_token().refresh_due(&*self.clock, self.margin)
    }

    fn finish(&mut self, outcome: Result<Fresh, Error>) -> Step {
        if self.leased {
            self.leased = false;
            Step::Release(outcome)
        } else {
            Step::Done(outcome)
        }
    }

    fn fresh(&self, ours: bool) -> Result<Fresh, Error> {
        Ok(Fresh {
            tokens: self.tokens.clone(),
            version: self.version,
            ours,
        })
    }

    pub(crate) fn loaded(&mut self, entry: Result<Option<Entry>, StoreError>) -> Step {
        let entry = match entry {
            // No manager writes version 0 (no entry): a store that hands it
            // out would let a write expecting "none" land on an entry.
            Ok(Some(entry)) if entry.version == 0 => return self.finish(Err(version_zero())),
            Ok(Some(entry)) => entry,
            // A lost write read again, and the store fails: the refreshed
            // tokens are valid all the same.
            Err(_) if self.rewriting => return self.keep_refreshed(),
            // No sign-in (removed, perhaps while this caller refreshed it:
            // its new tokens end with it, never handed out).
            Ok(None) => return self.finish(Err(Error::SignedOut)),
            Err(error) => return self.finish(Err(Error::Store(error))),
        };
        let session = serde_json::from_str::<Session>(&entry.value);
        if self.rewriting {
            return self.reread_after_lost_write(entry.version, session.ok());
        }
        if self.sign_out_lost && entry.version == self.read {
            // A compare-and-set that fails against the very version read is
            // a store that does not keep its promise: writing the end of
            // the sign-in again would loop.
            return self.finish(Err(Error::Store(StoreError::new(
                StoreErrorKind::Corrupt,
                "the entry refused a write at the version it was read at",
            ))));
        }
        self.read = entry.version;
        match session {
            // Any other version is another writer's: a newer refresh, another
            // sign-in written under the key (after a deletion or an expiry
            // too, as versions never come back), or an older state a store
            // brought back. It is read back, never written over.
            Ok(Session::Tokens(stored)) if entry.version != self.version => Step::Restore(stored),
            Ok(Session::Tokens(_)) if self.dead => self.finish(Err(Error::SignedOut)),
            Ok(Session::Tokens(_)) => self.go_on(),
            Ok(Session::SignedOut) => self.finish(Err(Error::SignedOut)),
            Err(_) => self.finish(Err(not_a_sign_in())),
        }
    }

    /// Tokens another replica stored, verified: the newest known now.
    pub(crate) fn restored(&mut self, tokens: Result<Tokens, Error>) -> Step {
        match tokens {
            Ok(tokens) => {
                self.tokens = tokens;
                self.version = self.read;
                self.dead = false;
                // An `invalid_grant` was for an older refresh token than
                // these tokens carry: it says nothing about theirs.
                self.refused = None;
                if self.is_fresh(&self.tokens) {
                    let fresh = self.fresh(false);
                    self.finish(fresh)
                } else {
                    self.go_on()
                }
            }
            Err(error) => self.finish(Err(error)),
        }
    }

    /// The entry holds nothing fresher than what this caller has.
    fn go_on(&mut self) -> Step {
        if let Some(refused) = self.refused.take() {
            // Read again after an `invalid_grant`, and nothing newer: the
            // refresh token is dead for every replica.
            self.refused = Some(refused);
            self.writing_sign_out = true;
            return Step::Replace {
                expected: self.read,
                version: next_version(self.read),
                value: Session::SignedOut.to_value(),
            };
        }
        if self.leased {
            if self.refreshes == REFRESH_ATTEMPTS {
                return self.finish(Err(Error::Store(StoreError::new(
                    StoreErrorKind::Corrupt,
                    "the entry held stale tokens again after every refresh",
                ))));
            }
            self.refreshes += 1;
            Step::Refresh(Box::new(self.tokens.clone()))
        } else {
            Step::TryLease
        }
    }

    pub(crate) fn leased(&mut self, taken: Result<bool, StoreError>, now: Instant) -> Step {
        match taken {
            Ok(true) => {
                self.leased = true;
                // Someone may have stored new tokens just before.
                Step::Load
            }
            Ok(false) if now < self.deadline => Step::Sleep(POLL),
            Ok(false) => self.finish(Err(Error::Store(StoreError::new(
                StoreErrorKind::Timeout,
                "another process held the refresh lease for longer than callers wait",
            )))),
            Err(error) => self.finish(Err(Error::Store(error))),
        }
    }

    pub(crate) fn slept(&mut self) -> Step {
        Step::Load
    }

    pub(crate) fn refreshed(&mut self, outcome: Result<Tokens, Error>) -> Step {
        match outcome {
            Ok(tokens) => {
                let value = Session::Tokens(tokens.to_stored()).to_value();
                self.refreshed = Some(tokens);
                Step::Replace {
                    expected: self.read,
                    version: next_version(self.read),
                    value,
                }
            }
            Err(error) if is_invalid_grant(&error) => {
                // Another replica may have rotated the token: read again
                // before calling it dead.
                self.refused = Some(error);
                Step::Load
            }
            Err(error) => self.finish(Err(error)),
        }
    }

    pub(crate) fn replaced(&mut self, written: Result<bool, StoreError>) -> Step {
        if self.writing_sign_out {
            self.writing_sign_out = false;
            if matches!(written, Ok(false)) {
                // The entry changed since it was read: another replica's
                // rotation landed after all, and is read back.
                self.sign_out_lost = true;
                return Step::Load;
            }
            let refused = self.refused.take().unwrap_or(Error::SignedOut);
            return self.finish(Err(refused));
        }
        let Some(tokens) = self.refreshed.take() else {
            return self.finish(Err(Error::SignedOut));
        };
        match written {
            Ok(true) => {
                self.tokens = tokens;
                self.version = next_version(self.read);
                let fresh = self.fresh(true);
                self.finish(fresh)
            }
            Ok(false) if !self.rewriting => {
                // Another writer came first (this caller's lease ran out):
                // read what it wrote before giving up the write.
                self.refreshed = Some(tokens);
                self.rewriting = true;
                Step::Load
            }
            Ok(false) | Err(_) => {
                self.refreshed = Some(tokens);
                self.keep_refreshed()
            }
        }
    }

    /// After a lost write, what the entry holds now. At the version next
    /// after the one this caller read, another replica wrote this sign-in:
    /// a `SignedOut` came from its `invalid_grant` with the refresh token
    /// this caller rotated, so the refreshed tokens replace it; its own
    /// tokens leave this caller's valid all the same. At any other version
    /// the entry is another sign-in (the one refreshed was removed
    /// meanwhile): it is read back, and the refreshed tokens end with the
    /// sign-in they belong to.
    fn reread_after_lost_write(&mut self, version: u64, session: Option<Session>) -> Step {
        let successor = version == next_version(self.read);
        match (session, &self.refreshed) {
            (Some(Session::SignedOut), Some(tokens)) if successor => {
                self.read = version;
                Step::Replace {
                    expected: version,
                    version: next_version(version),
                    value: Session::Tokens(tokens.to_stored()).to_value(),
                }
            }
            (Some(Session::Tokens(stored)), _) if !successor => {
                self.refreshed = None;
                self.rewriting = false;
                self.read = version;
                Step::Restore(stored)
            }
            // Another sign-in's end (or, with nothing refreshed, this one's).
            (Some(Session::SignedOut), _) => self.drop_refreshed(Err(Error::SignedOut)),
            _ => self.keep_refreshed(),
        }
    }

    /// The refreshed tokens belong to a sign-in that ended: not handed out.
    fn drop_refreshed(&mut self, outcome: Result<Fresh, Error>) -> Step {
        self.refreshed = None;
        self.finish(outcome)
    }

    /// The refreshed tokens, not written: valid all the same, and kept at
    /// the version last read, so that this caller's copy is not taken for
    /// newer than the entry.
    fn keep_refreshed(&mut self) -> Step {
        let Some(tokens) = self.refreshed.take() else {
            return self.finish(Err(Error::SignedOut));
        };
        self.tokens = tokens;
        self.version = self.read;
        let fresh = self.fresh(true);
        self.finish(fresh)
    }
}

/// Writes of a new sign-in before giving up: each lost one means another
/// writer came in between, and a store whose versions never match what it
/// reads (a corrupt entry) must not keep a caller forever.
const WRITE_ATTEMPTS: usize = 16;

/// What the driver of a [`NewSignIn`] does next.
pub(crate) enum WriteStep {
    Load,
    /// Write [`NewSignIn::value`] as `version` if the entry is still at
    /// `expected`.
    Replace {
        expected: u64,
        version: u64,
    },
    /// The version written, or why there is none.
    Done(Result<u64, Error>),
}

/// The write of a new sign-in over whatever the key holds (an older
/// sign-in, an ended one, nothing): read the version, write over it, and
/// read again when another writer came in between.
///
/// A sign-in starts at a random version (see [`first_version`]) and each
/// refresh writes the next one, so the version names the sign-in as well as
/// its state: a manager still holding an older sign-in under the same key,
/// even one written before the entry was deleted or expired, never expects
/// the new sign-in's version, and its compare-and-set fails.
pub(crate) struct NewSignIn {
    value: String,
    version: u64,
    attempts: usize,
}

impl NewSignIn {
    /// The write of `tokens` as a sign-in at `version` (from
    /// [`first_version`]).
    pub(crate) fn new(tokens: &Tokens, version: u64) -> (Self, WriteStep) {
        let value = Session::Tokens(tokens.to_stored()).to_value();
        let write = Self {
            value,
            version,
            attempts: 0,
        };
        (write, WriteStep::Load)
    }

    /// The entry's value to write.
    pub(crate) fn value(&self) -> &str {
        &self.value
    }

    pub(crate) fn loaded(&mut self, entry: Result<Option<Entry>, StoreError>) -> WriteStep {
        match entry {
            Ok(Some(entry)) if entry.version == 0 => WriteStep::Done(Err(version_zero())),
            Ok(entry) => WriteStep::Replace {
                expected: entry.map_or(0, |entry| entry.version),
                version: self.version,
            },
            Err(error) => WriteStep::Done(Err(Error::Store(error))),
        }
    }

    pub(crate) fn replaced(&mut self, written: Result<bool, StoreError>) -> WriteStep {
        match written {
            Ok(true) => WriteStep::Done(Ok(self.version)),
            Ok(false) => {
                self.attempts += 1;
                if self.attempts < WRITE_ATTEMPTS {
                    WriteStep::Load
                } else {
                    WriteStep::Done(Err(Error::Store(StoreError::new(
                        StoreErrorKind::Corrupt,
                        "the entry changed under every write of the sign-in",
                    ))))
                }
            }
            Err(error) => WriteStep::Done(Err(Error::Store(error))),
        }
    }
}

/// The version of a new sign-in: random, below 2^62 so that counting its
/// refreshes never wraps, and never 0 (no entry).
pub(crate) fn first_version(randomness: &dyn Randomness) -> u64 {
    let mut bytes = [0; 8];
    randomness.fill(&mut bytes);
    (u64::from_le_bytes(bytes) >> 2).max(1)
}

/// The version written after `version`. Only a store that hands out the
/// last version (a hostile or corrupt one) makes it wrap, and never to 0.
fn next_version(version: u64) -> u64 {
    version.checked_add(1).unwrap_or(1)
}

/// The sign-in an entry holds, and its version: what a manager starts from.
pub(crate) fn stored_sign_in(entry: Option<Entry>) -> Result<(StoredTokens, u64), Error> {
    let entry = entry.ok_or(Error::SignedOut)?;
    if entry.version == 0 {
        return Err(version_zero());
    }
    match serde_json::from_str::<Session>(&entry.value) {
        Ok(Session::Tokens(stored)) => Ok((stored, entry.version)),
        Ok(Session::SignedOut) => Err(Error::SignedOut),
        Err(_) => Err(not_a_sign_in()),
    }
}

fn version_zero() -> Error {
    Error::Store(StoreError::new(
        StoreErrorKind::Corrupt,
        "the entry is at version 0, which no manager writes",
    ))
}

fn not_a_sign_in() -> Error {
    Error::Store(StoreError::new(
        StoreErrorKind::Corrupt,
        "the entry is not a stored sign-in",
    ))
}

fn is_invalid_grant(error: &Error) -> bool {
    matches!(error, Error::TokenRequest(refused) if refused.error() == Some("invalid_grant"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ServerError;
    use crate::flow::tokens::{AccessToken, RefreshToken};
    use crate::verify::claims::CommonRules;
    use crate::verify::id_token::{IdTokenClaims, IdTokenRules};
    use secrecy::SecretString;

    const NOW: u64 = 1_800_000_000;

    #[derive(Debug)]
    struct At;

    impl Clock for At {
        fn now(&self) -> u64 {
            NOW
        }
    }

    /// Tokens whose access token is `access`, expiring `expires_in` from now.
    fn tokens(access: &str, expires_in: u64) -> Tokens {
        let text = format!(
            r#"{{"iss":"https://verys.example","sub":"ada","aud":"app","exp":{},"iat":{NOW}}}"#,
            NOW + 300
        );
        let common = CommonRules {
            issuer: "https://verys.example",
            now: NOW,
            leeway: 0,
            check_expiry: true,
        };
        let rules = IdTokenRules::basic(common, "app");
        Tokens {
            id_token: "header.claims.signature".into(),
            claims: IdTokenClaims::check(text.as_bytes(), &rules).unwrap(),
            access_token: AccessToken::issued(SecretString::from(access), NOW, Some(expires_in)),
            refresh_token: Some(RefreshToken::new(SecretString::from(format!("r-{access}")))),
            scopes: vec!["openid".into()],
            nonce: None,
        }
    }

    fn entry(version: u64, session: &Session) -> Result<Option<Entry>, StoreError> {
        Ok(Some(Entry::new(version, session.to_value())))
    }

    fn invalid_grant() -> Error {
        Error::TokenRequest(ServerError {
            status: 400,
            error: Some("invalid_grant".into()),
            description: None,
            content_type: None,
        })
    }

    /// A caller at version 1 whose copy has expired, holding the lease with
    /// the entry still at version 1: it asks to refresh.
    fn leased_and_refreshing() -> Coordination {
        let stale = tokens("old", 0);
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut c, step) =
            Coordination::new(stale, 1, false, Arc::new(At), Duration::ZERO, deadline);
        assert!(matches!(step, Step::Load));
        let stored = Session::Tokens(tokens("old", 0).to_stored());
        assert!(matches!(c.loaded(entry(1, &stored)), Step::TryLease));
        assert!(matches!(c.leased(Ok(true), Instant::now()), Step::Load));
        assert!(matches!(c.loaded(entry(1, &stored)), Step::Refresh(_)));
        c
    }

    fn released(step: Step) -> Result<Fresh, Error> {
        match step {
            Step::Release(outcome) => outcome,
            _ => panic!("expected the lease to be given back"),
        }
    }

    /// This caller's lease ran out mid-refresh; another replica refreshed
    /// with the same, already rotated, refresh token, got `invalid_grant`,
    /// and wrote `SignedOut` first. The tokens this caller got are the
    /// user's valid ones: they replace the marker.
    #[test]
    fn a_sign_out_written_over_a_rotation_in_flight_is_replaced_by_it() {
        let mut c = leased_and_refreshing();
        assert!(matches!(
            c.refreshed(Ok(tokens("new", 300))),
            Step::Replace { expected: 1, .. }
        ));
        assert!(
            matches!(c.replaced(Ok(false)), Step::Load),
            "lost: read again"
        );
        let Step::Replace {
            expected,
            version,
            value,
        } = c.loaded(entry(2, &Session::SignedOut))
        else {
            panic!("expected the marker to be replaced");
        };
        assert_eq!((expected, version), (2, 3));
        assert!(
            value.contains("\"new\""),
            "the refreshed tokens are written"
        );
        let fresh = released(c.replaced(Ok(true))).unwrap();
        assert_eq!(fresh.tokens.access_token().expose_secret(), "new");
        assert_eq!(fresh.version, 3);
        assert!(fresh.ours);
    }

    /// The same race the other way round: this caller's `invalid_grant`
    /// found nothing newer, but its `SignedOut` lost to the other replica's
    /// rotation, which it reads back instead of ending the sign-in.
    #[test]
    fn a_sign_out_that_loses_to_a_rotation_reads_the_rotation_back() {
        let mut c = leased_and_refreshing();
        assert!(matches!(c.refreshed(Err(invalid_grant())), Step::Load));
        let same = Session::Tokens(tokens("old", 0).to_stored());
        assert!(matches!(
            c.loaded(entry(1, &same)),
            Step::Replace { expected: 1, .. }
        ));
        assert!(
            matches!(c.replaced(Ok(false)), Step::Load),
            "lost: read again"
        );
        let rotated = Session::Tokens(tokens("rotated", 300).to_stored());
        assert!(matches!(c.loaded(entry(2, &rotated)), Step::Restore(_)));
        let fresh = released(c.restored(Ok(tokens("rotated", 300)))).unwrap();
        assert_eq!(fresh.tokens.access_token().expose_secret(), "rotated");
        assert_eq!(fresh.version, 2);
        assert!(!fresh.ours);
    }

    /// A store whose entry is newer and stale again after every refresh
    /// (each `invalid_grant` read back as yet another version of expired
    /// tokens) sends a caller to the token endpoint a bounded number of
    /// times, then fails as a corrupt entry.
    #[test]
    fn an_entry_stale_after_every_refresh_ends_the_attempts() {
        let mut c = leased_and_refreshing();
        let mut refreshes = 1;
        let mut version = 1;
        let outcome = loop {
            assert!(matches!(c.refreshed(Err(invalid_grant())), Step::Load));
            version += 1;
            let stale = Session::Tokens(tokens("stale", 0).to_stored());
            assert!(matches!(c.loaded(entry(version, &stale)), Step::Restore(_)));
            match c.restored(Ok(tokens("stale", 0))) {
                Step::Refresh(_) => refreshes += 1,
                step => break released(step),
            }
            assert!(refreshes <= REFRESH_ATTEMPTS, "refreshes without end");
        };
        assert_eq!(refreshes, REFRESH_ATTEMPTS);
        match outcome {
            Err(Error::Store(error)) => assert_eq!(error.kind, StoreErrorKind::Corrupt),
            other => panic!("expected a corrupt entry, got {:?}", other.err()),
        }
    }

    /// An `invalid_grant` for an older refresh token says nothing about the
    /// newer tokens read back: they are refreshed, not signed out.
    #[test]
    fn newer_tokens_read_back_after_a_refusal_are_refreshed_not_signed_out() {
        let mut c = leased_and_refreshing();
        assert!(matches!(c.refreshed(Err(invalid_grant())), Step::Load));
        let newer = Session::Tokens(tokens("newer", 0).to_stored());
        assert!(matches!(c.loaded(entry(2, &newer)), Step::Restore(_)));
        let Step::Refresh(refreshing) = c.restored(Ok(tokens("newer", 0))) else {
            panic!("expected a refresh of the newer tokens");
        };
        assert_eq!(refreshing.access_token().expose_secret(), "newer");
    }

    /// A dead refresh token: nothing newer, the marker written, the caller
    /// that asked told what the server said.
    #[test]
    fn a_dead_refresh_token_ends_the_sign_in() {
        let mut c = leased_and_refreshing();
        assert!(matches!(c.refreshed(Err(invalid_grant())), Step::Load));
        let same = Session::Tokens(tokens("old", 0).to_stored());
        let Step::Replace { value, .. } = c.loaded(entry(1, &same)) else {
            panic!("expected the marker to be written");
        };
        assert_eq!(value, Session::SignedOut.to_value());
        let refused = released(c.replaced(Ok(true))).err().unwrap();
        assert!(refused.requires_sign_in(), "{refused:?}");
    }

    /// After a lost write, a `SignedOut` that is not the next version of
    /// the one this caller read was written for another sign-in (the entry
    /// was removed, and a new sign-in written and ended meanwhile): it is
    /// left as it is, and the refreshed tokens end with their sign-in.
    #[test]
    fn a_sign_out_of_another_sign_in_is_not_replaced_after_a_lost_write() {
        let mut c = leased_and_refreshing();
        c.refreshed(Ok(tokens("new", 300)));
        assert!(matches!(c.replaced(Ok(false)), Step::Load));
        assert!(matches!(
            released(c.loaded(entry(77, &Session::SignedOut))),
            Err(Error::SignedOut)
        ));
    }

    /// Any version but the caller's own is another writer's, lower ones
    /// included (a sign-in written after the entry vanished): read back,
    /// never refreshed and written over.
    #[test]
    fn a_lower_version_is_read_back_not_written_over() {
        let stale = tokens("old", 0);
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut c, _) = Coordination::new(stale, 9, false, Arc::new(At), Duration::ZERO, deadline);
        let other = Session::Tokens(tokens("other", 300).to_stored());
        assert!(matches!(c.loaded(entry(3, &other)), Step::Restore(_)));
        let fresh = c.restored(Ok(tokens("other", 300)));
        let Step::Done(Ok(fresh)) = fresh else {
            panic!("expected the other sign-in's tokens, without the lease");
        };
        assert_eq!(fresh.tokens.access_token().expose_secret(), "other");
        assert_eq!(fresh.version, 3);
        assert!(!fresh.ours);
    }

    /// A caller whose refresh token was refused for good finds the sign-in
    /// ended at its own version, without another refresh, and a new one at
    /// any other.
    #[test]
    fn a_dead_sign_in_is_not_refreshed_again_and_a_new_one_is_read_back() {
        let deadline = Instant::now() + Duration::from_secs(60);
        let start = || {
            Coordination::new(
                tokens("old", 0),
                4,
                true,
                Arc::new(At),
                Duration::ZERO,
                deadline,
            )
            .0
        };
        let same = Session::Tokens(tokens("old", 0).to_stored());
        assert!(matches!(
            start().loaded(entry(4, &same)),
            Step::Done(Err(Error::SignedOut))
        ));
        let new = Session::Tokens(tokens("new", 300).to_stored());
        let mut c = start();
        assert!(matches!(c.loaded(entry(5, &new)), Step::Restore(_)));
        let Step::Done(Ok(fresh)) = c.restored(Ok(tokens("new", 300))) else {
            panic!("expected the new sign-in");
        };
        assert_eq!(fresh.version, 5);
    }

    /// A store whose compare-and-set fails against the very version it
    /// hands out (a Redis entry whose version reads as a number in another
    /// spelling) refuses the end of the sign-in again and again: the second
    /// read at that version is a corrupt store, not another write.
    #[test]
    fn a_sign_out_write_refused_at_the_version_read_does_not_loop() {
        let mut c = leased_and_refreshing();
        assert!(matches!(c.refreshed(Err(invalid_grant())), Step::Load));
        let same = Session::Tokens(tokens("old", 0).to_stored());
        assert!(matches!(
            c.loaded(entry(1, &same)),
            Step::Replace { expected: 1, .. }
        ));
        assert!(matches!(c.replaced(Ok(false)), Step::Load));
        match released(c.loaded(entry(1, &same))) {
            Err(Error::Store(error)) => assert_eq!(error.kind, StoreErrorKind::Corrupt),
            other => panic!("expected a corrupt store, got {:?}", other.err()),
        }
    }

    /// The sign-in was removed while this caller refreshed it: the
    /// refreshed tokens end with it, and are not handed out.
    #[test]
    fn tokens_refreshed_for_a_removed_sign_in_are_not_handed_out() {
        let mut c = leased_and_refreshing();
        c.refreshed(Ok(tokens("new", 300)));
        assert!(matches!(c.replaced(Ok(false)), Step::Load));
        assert!(matches!(
            released(c.loaded(Ok(None))),
            Err(Error::SignedOut)
        ));
    }

    /// A lost write read again, and the store fails to answer: the tokens
    /// this caller refreshed are the user's valid ones, handed out at the
    /// version read.
    #[test]
    fn a_store_failure_after_a_lost_write_keeps_the_refreshed_tokens() {
        let mut c = leased_and_refreshing();
        c.refreshed(Ok(tokens("new", 300)));
        assert!(matches!(c.replaced(Ok(false)), Step::Load));
        let down = StoreError::new(StoreErrorKind::Unavailable, "down");
        let fresh = released(c.loaded(Err(down))).unwrap();
        assert_eq!(fresh.tokens.access_token().expose_secret(), "new");
        assert_eq!(fresh.version, 1);
    }

    /// A second lost write, after the marker was to be replaced: the
    /// refreshed tokens are handed out, not written again and again.
    #[test]
    fn a_second_lost_write_keeps_the_refreshed_tokens_without_a_third() {
        let mut c = leased_and_refreshing();
        c.refreshed(Ok(tokens("new", 300)));
        assert!(matches!(c.replaced(Ok(false)), Step::Load));
        assert!(matches!(
            c.loaded(entry(2, &Session::SignedOut)),
            Step::Replace { expected: 2, .. }
        ));
        let fresh = released(c.replaced(Ok(false))).unwrap();
        assert_eq!(fresh.tokens.access_token().expose_secret(), "new");
        assert_eq!(fresh.version, 2, "kept at the version read");
    }

    /// Another replica holds the lease past the time callers wait: a
    /// timeout, not a wait without end.
    #[test]
    fn a_lease_held_past_the_deadline_is_a_timeout() {
        let stale = tokens("old", 0);
        let deadline = Instant::now();
        let (mut c, _) = Coordination::new(stale, 1, false, Arc::new(At), Duration::ZERO, deadline);
        let stored = Session::Tokens(tokens("old", 0).to_stored());
        assert!(matches!(c.loaded(entry(1, &stored)), Step::TryLease));
        assert!(matches!(
            c.leased(Ok(false), deadline - Duration::from_millis(1)),
            Step::Sleep(_)
        ));
        match c.leased(Ok(false), deadline) {
            Step::Done(Err(Error::Store(error))) => {
                assert_eq!(error.kind, StoreErrorKind::Timeout);
            }
            _ => panic!("expected a timeout at the deadline"),
        }
    }

    /// The sign-in was removed and another written while this caller
    /// refreshed the first: the other is read back, the refreshed tokens
    /// dropped.
    #[test]
    fn another_sign_in_found_after_a_lost_write_is_read_back() {
        let mut c = leased_and_refreshing();
        c.refreshed(Ok(tokens("new", 300)));
        assert!(matches!(c.replaced(Ok(false)), Step::Load));
        let other = Session::Tokens(tokens("other", 300).to_stored());
        assert!(matches!(c.loaded(entry(77, &other)), Step::Restore(_)));
        let fresh = released(c.restored(Ok(tokens("other", 300)))).unwrap();
        assert_eq!(fresh.tokens.access_token().expose_secret(), "other");
        assert_eq!(fresh.version, 77);
        assert!(!fresh.ours);
    }

    /// A refresh of the same sign-in by another replica (the next version)
    /// leaves this caller's refreshed tokens valid: they are handed out.
    #[test]
    fn the_same_sign_in_refreshed_elsewhere_keeps_this_callers_tokens() {
        let mut c = leased_and_refreshing();
        c.refreshed(Ok(tokens("new", 300)));
        assert!(matches!(c.replaced(Ok(false)), Step::Load));
        let theirs = Session::Tokens(tokens("theirs", 300).to_stored());
        let fresh = released(c.loaded(entry(2, &theirs))).unwrap();
        assert_eq!(fresh.tokens.access_token().expose_secret(), "new");
        assert_eq!(
            fresh.version, 1,
            "kept at the version read, to read theirs next"
        );
    }

    /// Version 0 means "no entry": no manager writes it, and an entry at it
    /// is refused wherever it is read.
    #[test]
    fn an_entry_at_version_zero_is_corrupt() {
        let corrupt = |outcome: Result<Fresh, Error>| matches!(outcome, Err(Error::Store(e)) if e.kind == StoreErrorKind::Corrupt);
        let stored = Session::Tokens(tokens("old", 0).to_stored());
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut c, _) = Coordination::new(
            tokens("old", 0),
            0,
            false,
            Arc::new(At),
            Duration::ZERO,
            deadline,
        );
        let Step::Done(outcome) = c.loaded(entry(0, &stored)) else {
            panic!("expected the caller to stop");
        };
        assert!(corrupt(outcome));
        assert!(matches!(
            stored_sign_in(entry(0, &stored).unwrap()),
            Err(Error::Store(e)) if e.kind == StoreErrorKind::Corrupt
        ));
        let (expected, outcome) = write_new(&[entry(0, &Session::SignedOut)], &[]);
        assert!(expected.is_empty(), "nothing written over it");
        assert!(matches!(outcome, Err(Error::Store(e)) if e.kind == StoreErrorKind::Corrupt));
    }

    /// A version at the top of the range, from a hostile or corrupt entry,
    /// does not overflow: the next one wraps to 1, never to 0 (no entry)
    /// or to the same version.
    #[test]
    fn the_last_version_does_not_overflow() {
        let mut c = leased_and_refreshing();
        c.read = u64::MAX;
        let Step::Replace { version, .. } = c.refreshed(Ok(tokens("new", 300))) else {
            panic!("expected a write");
        };
        assert_eq!(version, 1);
        assert_eq!(released(c.replaced(Ok(true))).unwrap().version, 1);
    }

    #[derive(Debug)]
    struct Bytes(u8);

    impl Randomness for Bytes {
        fn fill(&self, bytes: &mut [u8]) {
            bytes.fill(self.0);
        }
    }

    /// A sign-in's first version leaves room for 2^62 refreshes and is
    /// never 0, whatever the random bytes.
    #[test]
    fn a_first_version_is_below_two_to_the_62_and_never_zero() {
        assert_eq!(first_version(&Bytes(0xff)), (1 << 62) - 1);
        assert_eq!(first_version(&Bytes(0)), 1);
        assert_eq!(first_version(&Bytes(1)), 0x0101_0101_0101_0101 >> 2);
    }

    /// The version the new sign-ins of these tests start at.
    const FIRST: u64 = 4242;

    /// Drives a [`NewSignIn`] against the loads and write outcomes given,
    /// in turn; the steps it asked for, and how it ended.
    fn write_new(
        loads: &[Result<Option<Entry>, StoreError>],
        writes: &[Result<bool, StoreError>],
    ) -> (Vec<u64>, Result<u64, Error>) {
        let (mut write, mut step) = NewSignIn::new(&tokens("new", 300), FIRST);
        let (mut loads, mut writes) = (loads.iter().cloned(), writes.iter().cloned());
        let mut expected = Vec::new();
        loop {
            step = match step {
                WriteStep::Load => write.loaded(loads.next().expect("one load too many")),
                WriteStep::Replace {
                    expected: read,
                    version,
                } => {
                    assert_eq!(version, FIRST, "a new sign-in writes its own version");
                    expected.push(read);
                    write.replaced(writes.next().expect("one write too many"))
                }
                WriteStep::Done(outcome) => return (expected, outcome),
            };
        }
    }

    #[test]
    fn a_new_sign_in_is_written_over_the_version_read() {
        let ended = entry(7, &Session::SignedOut);
        let (expected, outcome) = write_new(&[ended], &[Ok(true)]);
        assert_eq!(expected, [7]);
        assert_eq!(outcome.unwrap(), FIRST);
        let (expected, outcome) = write_new(&[Ok(None)], &[Ok(true)]);
        assert_eq!((expected, outcome.unwrap()), (vec![0], FIRST));
    }

    #[test]
    fn a_new_sign_in_that_lost_a_write_reads_again() {
        let (expected, outcome) = write_new(
            &[entry(1, &Session::SignedOut), entry(2, &Session::SignedOut)],
            &[Ok(false), Ok(true)],
        );
        assert_eq!(expected, [1, 2]);
        assert_eq!(outcome.unwrap(), FIRST);
    }

    #[test]
    fn a_new_sign_in_gives_up_after_sixteen_lost_writes() {
        let loads = vec![entry(1, &Session::SignedOut); 16];
        let (expected, outcome) = write_new(&loads, &vec![Ok(false); 16]);
        assert_eq!(expected.len(), 16);
        let Err(Error::Store(error)) = outcome else {
            panic!("expected a store error, got {outcome:?}");
        };
        assert_eq!(error.kind, StoreErrorKind::Corrupt);
    }

    #[test]
    fn a_store_error_ends_a_new_sign_in() {
        let down = || StoreError::new(StoreErrorKind::Unavailable, "down");
        let (expected, outcome) = write_new(&[Err(down())], &[]);
        assert!(expected.is_empty());
        assert!(matches!(outcome, Err(Error::Store(e)) if e.kind == StoreErrorKind::Unavailable));
        let (_, outcome) = write_new(&[Ok(None)], &[Err(down())]);
        assert!(matches!(outcome, Err(Error::Store(e)) if e.kind == StoreErrorKind::Unavailable));
        let (_, outcome) = write_new(&[Ok(None)], &[Ok(true)]);
        assert_eq!(outcome.unwrap(), FIRST);
    }

    #[test]
    fn a_new_sign_in_over_the_last_version_does_not_overflow() {
        let top = entry(u64::MAX, &Session::SignedOut);
        let (expected, outcome) = write_new(&[top], &[Ok(true)]);
        assert_eq!((expected, outcome.unwrap()), (vec![u64::MAX], FIRST));
    }

    #[test]
    fn a_stored_sign_in_is_read_with_its_version() {
        let stored = Session::Tokens(tokens("kept", 300).to_stored());
        let (read, version) = stored_sign_in(entry(4, &stored).unwrap()).unwrap();
        assert_eq!(version, 4);
        assert_eq!(Session::Tokens(read).to_value(), stored.to_value());
        assert!(matches!(stored_sign_in(None), Err(Error::SignedOut)));
        let ended = entry(5, &Session::SignedOut).unwrap();
        assert!(matches!(stored_sign_in(ended), Err(Error::SignedOut)));
        let garbage = Some(Entry::new(6, "{\"tokens\":1}".into()));
        assert!(
            matches!(stored_sign_in(garbage), Err(Error::Store(e)) if e.kind == StoreErrorKind::Corrupt)
        );
    }
}
