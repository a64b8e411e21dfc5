//! Everything the server remembers between requests.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use super::clock;
use super::directory::{self, Client};
use super::faults::{IdTokenFault, RawResponse};
use super::seed;
use super::signer::Keyring;

/// Shared by the HTTP layer, the request handlers and the [`VerysServer`](super::VerysServer)
/// handle.
pub(super) struct Shared {
    pub issuer: String,
    state: Mutex<State>,
    /// Apart from the state, so that a handler may look a client up while holding the state.
    clients: RwLock<Vec<Client>>,
}

impl Shared {
    pub(crate) fn new(issuer: String) -> Shared {
        Shared {
            issuer,
            state: Mutex::new(State::new()),
            clients: RwLock::new(directory::seeded_clients()),
        }
    }

    /// The registered client with this id.
    pub(crate) fn client(&self, id: &str) -> Option<Client> {
        let clients = self.clients.read().unwrap_or_else(PoisonError::into_inner);
        clients.iter().find(|client| client.id == id).cloned()
    }

    /// Registers `client`, replacing a client with its id.
    pub(crate) fn register(&self, client: Client) {
        let mut clients = self.clients.write().unwrap_or_else(PoisonError::into_inner);
        clients.retain(|registered| registered.id != client.id);
        clients.push(client);
    }

    /// A panicking handler must not take the whole server down with a poisoned lock: the state
    /// is plain data, still usable.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub(super) struct State {
    pub keys: Keyring,
    pub faults: Faults,
    pub clock_offset: i64,
    /// `GET /authorize` answers a login form rather than logging the user in at once.
    pub login_page: bool,
    pub codes: HashMap<String, AuthCode>,
    pub refresh_tokens: HashMap<String, RefreshGrant>,
    pub external_tokens: Vec<ExternalToken>,
    pub counters: Counters,
}

impl State {
    fn new() -> State {
        State {
            keys: Keyring::new(),
            faults: Faults::default(),
            clock_offset: 0,
            login_page: false,
            codes: HashMap::new(),
            refresh_tokens: HashMap::new(),
            external_tokens: ExternalToken::seeded(),
            counters: Counters::default(),
        }
    }

    pub(crate) fn now(&self) -> i64 {
        clock::now(self.clock_offset)
    }

    /// Revokes every refresh token `sub` holds for `client_id` (code replay, logout).
    pub(crate) fn revoke_refresh_tokens(&mut self, sub: &str, client_id: &str) {
        for grant in self.refresh_tokens.values_mut() {
            if grant.sub == sub && grant.client_id == client_id {
                grant.revoked = true;
            }
        }
    }
}

#[derive(Default)]
pub(super) struct Faults {
    pub id_token: Option<IdTokenFault>,
    pub access_token: Option<IdTokenFault>,
    pub jwks_failure: bool,
    pub jwks_body: Option<String>,
    pub authorize_error: Option<(String, String)>,
    pub overrides: HashMap<String, RawResponse>,
    pub delays: HashMap<String, Duration>,
    pub withhold_refresh_tokens: bool,
    /// The access token lifetime (and `expires_in`) of the code and refresh grants, if not the
    /// default.
    pub token_lifetime: Option<i64>,
    /// Bodies padded with trailing spaces to this many bytes, per path.
    pub padding: HashMap<String, usize>,
}

#[derive(Default)]
pub(super) struct Counters {
    pub jwks_fetches: usize,
    pub token_requests: HashMap<String, usize>,
    /// Every `POST /token`, as received.
    pub token_requests_received: Vec<super::ReceivedTokenRequest>,
    pub requests: HashMap<String, usize>,
    /// TCP connections accepted, counted as they are accepted.
    pub connections: usize,
}

/// What `/authorize` granted, for `/token` to redeem once.
pub(super) struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub scopes: Vec<String>,
    pub sub: String,
    pub auth_time: i64,
    pub issued_at: i64,
    pub used: bool,
}

/// What a refresh token stands for.
pub(super) struct RefreshGrant {
    pub client_id: String,
    pub sub: String,
    pub scopes: Vec<String>,
    pub auth_time: i64,
    pub revoked: bool,
}

/// A user's token at an upstream provider.
pub(super) struct ExternalToken {
    pub token_id: String,
    pub owner: String,
    pub provider_id: String,
    pub subject: String,
    pub access_token: String,
    pub email: String,
    /// The upstream token expired and its refresh failed: only a new `/federation/initiate`
    /// helps.
    pub needs_reauthorization: bool,
}

impl ExternalToken {
    fn seeded() -> Vec<ExternalToken> {
        vec![
            ExternalToken {
                token_id: seed::GITHUB_TOKEN_ID.to_owned(),
                owner: seed::USER_SUB.to_owned(),
                provider_id: "github".to_owned(),
                subject: "ada-gh".to_owned(),
                access_token: "gho_embedded_github_token".to_owned(),
                email: "ada@users.github.example".to_owned(),
                needs_reauthorization: false,
            },
            ExternalToken {
                token_id: seed::GITLAB_TOKEN_ID.to_owned(),
                owner: seed::USER_SUB.to_owned(),
                provider_id: "gitlab".to_owned(),
                subject: "ada-gl".to_owned(),
                access_token: "glpat_embedded_expired_token".to_owned(),
                email: "ada@users.gitlab.example".to_owned(),
                needs_reauthorization: true,
            },
        ]
    }
}
