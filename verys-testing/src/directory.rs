//! The registered clients and users behind the constants of [`seed`].

use super::seed;

/// A registered OAuth client: seeded, or registered by a test
/// ([`VerysServer::register_client`](super::VerysServer::register_client)).
#[derive(Clone)]
pub(super) struct Client {
    pub id: String,
    /// `None` for a public client, which must use PKCE instead.
    pub secret: Option<String>,
    /// Exact redirect (and post-logout redirect) URIs.
    pub redirect_uris: Vec<String>,
    /// The scopes it may ask for.
    pub scopes: Vec<String>,
    /// Scopes a subject token must carry to be exchanged for a token addressed to this client.
    pub required_scopes: Vec<String>,
    /// Whether every user has consented to it (token exchange towards it is allowed), as for
    /// every client a test registers.
    pub consented_by_all: bool,
}

impl Client {
    pub(crate) fn is_public(&self) -> bool {
        self.secret.is_none()
    }

    /// Exact match against the registered URIs, plus RFC 8252 loopback URIs for public clients
    /// because native apps pick a free port at run time.
    pub(crate) fn accepts_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| registered == uri)
            || (self.is_public() && is_loopback_uri(uri))
    }

    pub(crate) fn allows_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|allowed| allowed == scope)
    }
}

fn is_loopback_uri(uri: &str) -> bool {
    let Ok(parsed) = url::Url::parse(uri) else {
        return false;
    };
    // Compare against the raw text as well, because the parser would normalise away oddities
    // (`http://127.0.0.1:80/`, `http://127.1:9/`) a real provider compares verbatim.
    parsed.scheme() == "http"
        && parsed.host_str() == Some("127.0.0.1")
        && parsed.username().is_empty()
        && parsed.password().is_none()
        && parsed.query().is_none()
        && parsed.fragment().is_none()
        && uri.starts_with("http://127.0.0.1:")
}

/// The clients of [`seed`], allowed every known scope and [`seed::REDIRECT_URI`].
pub(super) fn seeded_clients() -> Vec<Client> {
    let seeded = |id: &str, secret: Option<&str>, required_scopes: &[&str], consented| Client {
        id: id.to_owned(),
        secret: secret.map(str::to_owned),
        redirect_uris: vec![seed::REDIRECT_URI.to_owned()],
        scopes: seed::SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        required_scopes: required_scopes.iter().map(|s| (*s).to_owned()).collect(),
        consented_by_all: consented,
    };
    vec![
        seeded(
            seed::CONFIDENTIAL_CLIENT_ID,
            Some(seed::CONFIDENTIAL_CLIENT_SECRET),
            &[],
            true,
        ),
        seeded(seed::PUBLIC_CLIENT_ID, None, &[], true),
        seeded(
            seed::API_CLIENT_ID,
            Some(seed::CONFIDENTIAL_CLIENT_SECRET),
            &["api.read"],
            true,
        ),
        // No user has consented to this one: token exchange towards it is refused.
        seeded(
            seed::UNCONSENTED_CLIENT_ID,
            Some(seed::CONFIDENTIAL_CLIENT_SECRET),
            &[],
            false,
        ),
    ]
}

/// A seeded identity.
pub(super) struct User {
    pub sub: &'static str,
    pub email: &'static str,
    pub email_verified: bool,
    pub given_name: &'static str,
    pub family_name: &'static str,
    pub origination: Option<&'static str>,
    pub roles: &'static [&'static str],
}

impl User {
    pub(crate) fn name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
    }
}

const USERS: &[User] = &[
    User {
        sub: seed::USER_SUB,
        email: seed::USER_EMAIL,
        email_verified: true,
        given_name: "Ada",
        family_name: "Lovelace",
        origination: Some("2024-05-01T12:00:00+00:00"),
        roles: &["admin", "reader"],
    },
    User {
        sub: seed::OTHER_USER_SUB,
        email: seed::OTHER_USER_EMAIL,
        email_verified: false,
        given_name: "Grace",
        family_name: "Hopper",
        origination: None,
        roles: &[],
    },
];

pub(super) fn user_by_sub(sub: &str) -> Option<&'static User> {
    USERS.iter().find(|u| u.sub == sub)
}

/// Emails compare case-insensitively, as mailbox domains do and login forms usually do.
pub(super) fn user_by_email(email: &str) -> Option<&'static User> {
    USERS.iter().find(|u| u.email.eq_ignore_ascii_case(email))
}

/// Providers `/federation/initiate` can link.
pub(super) const PROVIDERS: &[&str] = &["github", "gitlab"];
