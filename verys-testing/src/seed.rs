//! The fixed clients, users and external tokens every [`VerysServer`](super::VerysServer) starts with.
//!
//! Every seeded client may ask for every scope in [`SCOPES`], and has [`REDIRECT_URI`] registered
//! (also as its post-logout redirect URI). The confidential clients ([`CONFIDENTIAL_CLIENT_ID`],
//! [`API_CLIENT_ID`] and [`UNCONSENTED_CLIENT_ID`]) all authenticate with
//! [`CONFIDENTIAL_CLIENT_SECRET`]; [`PUBLIC_CLIENT_ID`] has no secret and must use PKCE.
//!
//! | user | `sub` | email | name | `email_verified` | roles | `origination` |
//! | --- | --- | --- | --- | --- | --- | --- |
//! | Ada | [`USER_SUB`] | [`USER_EMAIL`] | Ada Lovelace | `true` | `admin`, `reader` | `2024-05-01T12:00:00+00:00` |
//! | Grace | [`OTHER_USER_SUB`] | [`OTHER_USER_EMAIL`] | Grace Hopper | `false` | none | `null` |
//!
//! Both users have consented to [`CONFIDENTIAL_CLIENT_ID`], [`PUBLIC_CLIENT_ID`] and
//! [`API_CLIENT_ID`], never to [`UNCONSENTED_CLIENT_ID`].

/// A confidential client (authenticates with [`CONFIDENTIAL_CLIENT_SECRET`]).
pub const CONFIDENTIAL_CLIENT_ID: &str = "verys-confidential";

/// The secret of the confidential clients. Its `/`, `+` and `=` catch clients that URL-encode
/// (or forget to) the credentials of HTTP Basic authentication.
pub const CONFIDENTIAL_CLIENT_SECRET: &str = "conf-secret/with+odd=chars";

/// A public client: no secret, PKCE (`S256`) mandatory. Besides [`REDIRECT_URI`] it accepts any
/// RFC 8252 loopback redirect URI `http://127.0.0.1:{any port}/{any path}`.
pub const PUBLIC_CLIENT_ID: &str = "verys-public";

/// A token-exchange target (an API). Exchanging for it requires the subject token's `scopes` to
/// contain `api.read`; the seeded users have consented to it.
pub const API_CLIENT_ID: &str = "verys-api-b";

/// A token-exchange target the seeded users never consented to: exchanging for it gives
/// HTTP 403 `access_denied`.
pub const UNCONSENTED_CLIENT_ID: &str = "verys-api-c";

/// The redirect URI registered for every seeded client.
pub const REDIRECT_URI: &str = "https://app.example.com/auth/callback";

/// Ada Lovelace's identity id (the `sub` of her tokens). She is the user logged in by default.
pub const USER_SUB: &str = "6f1c2a9e-3b7d-4e58-9a21-5d0c8b7e4f13";

/// Ada Lovelace's email, usable as `login_hint`.
pub const USER_EMAIL: &str = "ada@example.com";

/// Grace Hopper's identity id: a second user, with no roles and an unverified email.
pub const OTHER_USER_SUB: &str = "0b9e4d27-8c15-4a6f-b3e2-71d5a9c0f684";

/// Grace Hopper's email, usable as `login_hint` or with
/// [`VerysServer::login_as`](super::VerysServer::login_as).
pub const OTHER_USER_EMAIL: &str = "grace@example.com";

/// Ada's `github` external token: valid, expiring about an hour after each request, subject
/// `ada-gh`, email `ada@users.github.example`, access token `gho_embedded_github_token`.
pub const GITHUB_TOKEN_ID: &str = "2d8f6b1a-47c3-4e9d-8b50-c6a1e3f7d092";

/// Ada's `gitlab` external token: its upstream token expired and cannot be refreshed, so
/// `GET /federation/{GITLAB_TOKEN_ID}` answers 401 `reauthorization_required` until the user goes
/// through `/federation/initiate?provider_id=gitlab&...` again.
pub const GITLAB_TOKEN_ID: &str = "9a4e7c30-1f62-4b8d-a5e9-3c07d2b61f48";

/// Every scope the server knows, as listed in the discovery document's `scopes_supported`.
/// `github` and `gitlab` grant access to the user's external tokens of that provider.
pub const SCOPES: &[&str] = &["openid", "profile", "email", "api.read", "github", "gitlab"];
