//! The registered clients and users behind the constants of [`seed`].

use super::seed;

/// A registered OAuth client.
pub(super) struct Client {
    pub id: &'static str,
    /// `None` for a public client, which must use PKCE instead.
    pub secret: Option<&'static str>,
    /// Scopes a subject token must carry to be exchanged for a token addressed to this client.
    pub required_scopes: &'static [&'static str],
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.secret.is_none()
    }

    /// Exact match against the registered URI, plus RFC 8252 loopback URIs for public clients
    /// because native apps pick a free port at run time.
    pub fn accepts_redirect_uri(&self, uri: &str) -> bool {
        uri == seed::REDIRECT_URI || (self.is_public() && is_loopback_uri(uri))
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

const CLIENTS: &[Client] = &[
    Client {
        id: seed::CONFIDENTIAL_CLIENT_ID,
        secret: Some(seed::CONFIDENTIAL_CLIENT_SECRET),
        required_scopes: &[],
    },
    Client {
        id: seed::PUBLIC_CLIENT_ID,
        secret: None,
        required_scopes: &[],
    },
    Client {
        id: seed::API_CLIENT_ID,
        secret: Some(seed::CONFIDENTIAL_CLIENT_SECRET),
        required_scopes: &["api.read"],
    },
    Client {
        id: seed::UNCONSENTED_CLIENT_ID,
        secret: Some(seed::CONFIDENTIAL_CLIENT_SECRET),
        required_scopes: &[],
    },
];

pub(super) fn client(id: &str) -> Option<&'static Client> {
    CLIENTS.iter().find(|c| c.id == id)
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
    /// Clients this user has consented to; token exchange towards any other is refused.
    pub consents: &'static [&'static str],
}

impl User {
    pub fn name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
    }
}

const CONSENTS: &[&str] = &[
    seed::CONFIDENTIAL_CLIENT_ID,
    seed::PUBLIC_CLIENT_ID,
    seed::API_CLIENT_ID,
];

const USERS: &[User] = &[
    User {
        sub: seed::USER_SUB,
        email: seed::USER_EMAIL,
        email_verified: true,
        given_name: "Ada",
        family_name: "Lovelace",
        origination: Some("2024-05-01T12:00:00+00:00"),
        roles: &["admin", "reader"],
        consents: CONSENTS,
    },
    User {
        sub: seed::OTHER_USER_SUB,
        email: seed::OTHER_USER_EMAIL,
        email_verified: false,
        given_name: "Grace",
        family_name: "Hopper",
        origination: None,
        roles: &[],
        consents: CONSENTS,
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
