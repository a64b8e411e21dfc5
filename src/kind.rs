//! The two kinds of OAuth client, as type parameters.
//!
//! A [`Public`] client (a CLI, a single-page or mobile app) cannot keep a
//! secret and proves possession of its flow with PKCE alone. A
//! [`Confidential`] client (a server-side web app) also authenticates with a
//! client secret. The kind is fixed when the client is built and travels in
//! every flow state the client creates, so a state cannot be finished by a
//! client of the other kind.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::UnknownName;

mod sealed {
    pub trait Sealed {}
}

/// A client kind: [`Public`] or [`Confidential`]. Sealed: no other kind exists.
pub trait ClientKind: sealed::Sealed + Send + Sync + 'static {
    /// The kind's name, recorded in stored flow states.
    const NAME: &'static str;
}

/// A client without a secret; PKCE is always used.
#[derive(Debug)]
pub enum Public {}

/// A client that authenticates to the token endpoint with a client secret.
#[derive(Debug)]
pub enum Confidential {}

impl sealed::Sealed for Public {}
impl sealed::Sealed for Confidential {}

impl ClientKind for Public {
    const NAME: &'static str = "public";
}

impl ClientKind for Confidential {
    const NAME: &'static str = "confidential";
}

/// How a confidential client authenticates to the token endpoint, named as
/// in the [OAuth registry](https://www.iana.org/assignments/oauth-parameters/oauth-parameters.xhtml#token-endpoint-auth-method)
/// (`client_secret_post`, `client_secret_basic`) by `as_str`, `Display`,
/// `FromStr` and serde, so it can come from a configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// `client_id` and `client_secret` form fields (what the reference client
    /// sends).
    #[default]
    ClientSecretPost,
    /// HTTP Basic with `client_id:client_secret`. Verys base64-decodes the
    /// credentials without URL-decoding them, so they are sent as they are,
    /// not form-encoded first as RFC 6749 2.3.1 would have it.
    ClientSecretBasic,
}

impl ClientAuthMethod {
    /// The registered name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
        }
    }
}

impl fmt::Display for ClientAuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClientAuthMethod {
    type Err = UnknownName;

    fn from_str(name: &str) -> Result<Self, UnknownName> {
        [
            ClientAuthMethod::ClientSecretPost,
            ClientAuthMethod::ClientSecretBasic,
        ]
        .into_iter()
        .find(|method| method.as_str() == name)
        .ok_or_else(|| UnknownName {
            what: "client authentication method",
            value: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_have_their_registered_names_in_every_form() {
        for (method, name) in [
            (ClientAuthMethod::ClientSecretPost, "client_secret_post"),
            (ClientAuthMethod::ClientSecretBasic, "client_secret_basic"),
        ] {
            assert_eq!(method.as_str(), name);
            assert_eq!(method.to_string(), name);
            assert_eq!(name.parse::<ClientAuthMethod>(), Ok(method));
            let json = serde_json::to_string(&method).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(
                serde_json::from_str::<ClientAuthMethod>(&json).unwrap(),
                method
            );
        }
        let unknown = "Client_Secret_Post"
            .parse::<ClientAuthMethod>()
            .unwrap_err();
        assert_eq!(unknown.what, "client authentication method");
        assert_eq!(
            unknown.to_string(),
            "\"Client_Secret_Post\" is not a known client authentication method"
        );
    }
}
