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
    Replace {
        expected: u64,
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
}

impl Coordination {
    /// Starts from the in-process copy `tokens` (at `version`); a caller
    /// waits until `deadline` for another replica's refresh.
    pub(crate) fn new(
        tokens: Tokens,
        version: u64,
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
        };
        (coordination, Step::Load)
    }

    fn is_fresh(&self, tokens: &Tokens) -> bool {
        !tokens
            .access_token()
            .expires_within(&*self.clock, self.margin)
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
            Ok(Some(entry)) => entry,
            Ok(None) => return self.finish(Err(Error::SignedOut)),
            Err(error) => return self.finish(Err(Error::Store(error))),
        };
        self.read = entry.version;
        match serde_json::from_str::<Session>(&entry.value) {
            Ok(Session::Tokens(stored)) if entry.version > self.version => Step::Restore(stored),
            Ok(Session::Tokens(_)) => self.go_on(),
            Ok(Session::SignedOut) => self.finish(Err(Error::SignedOut)),
            Err(_) => self.finish(Err(Error::Store(StoreError::new(
                StoreErrorKind::Corrupt,
                "the entry is not a stored sign-in",
            )))),
        }
    }

    /// Tokens another replica stored, verified: the newest known now.
    pub(crate) fn restored(&mut self, tokens: Result<Tokens, Error>) -> Step {
        match tokens {
            Ok(tokens) => {
                self.tokens = tokens;
                self.version = self.read;
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
                value: Session::SignedOut.to_value(),
            };
        }
        if self.leased {
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
            let refused = self.refused.take().unwrap_or(Error::SignedOut);
            return self.finish(Err(refused));
        }
        let Some(tokens) = self.refreshed.take() else {
            return self.finish(Err(Error::SignedOut));
        };
        self.tokens = tokens;
        // Not written (the lease ran out and another replica wrote, or the
        // store failed): the tokens are valid all the same, and the entry
        // keeps its version, so this caller's copy is not taken for newer.
        self.version = match written {
            Ok(true) => self.read + 1,
            Ok(false) | Err(_) => self.read,
        };
        let fresh = self.fresh(true);
        self.finish(fresh)
    }
}

fn is_invalid_grant(error: &Error) -> bool {
    matches!(error, Error::TokenRequest(refused) if refused.error() == Some("invalid_grant"))
}
