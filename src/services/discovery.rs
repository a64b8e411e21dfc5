//! OpenID Connect discovery: the issuer's `/.well-known/openid-configuration`.

use serde::Deserialize;
use url::Url;

use crate::client::config::{Endpoints, endpoint};
use crate::error::Error;
use crate::protocol;
use crate::transport::{HttpRequest, HttpResponse};

#[derive(Deserialize)]
struct Document {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: Option<String>,
    jwks_uri: String,
    revocation_endpoint: Option<String>,
    end_session_endpoint: Option<String>,
    #[serde(default)]
    id_token_signing_alg_values_supported: Vec<String>,
}

/// `GET {issuer}/.well-known/openid-configuration`.
pub(crate) fn request(issuer: &Url) -> HttpRequest {
    HttpRequest::get(endpoint(issuer, &[".well-known", "openid-configuration"]).as_str())
}

/// Reads the document and checks it belongs to `issuer` (OpenID Connect
/// Discovery 4.3: the `issuer` value must be the URL asked for, exactly) and
/// signs with EdDSA. Endpoints the document leaves out keep the fixed Verys
/// paths; federation is not part of discovery and always does.
pub(crate) fn decode(
    response: HttpResponse,
    issuer: &Url,
    issuer_text: &str,
) -> Result<Endpoints, Error> {
    let document: Document = protocol::decode_success(&response, "discovery")?;
    if document.issuer != issuer_text {
        return Err(Error::Discovery(format!(
            "the document names issuer {:?}, not {issuer_text:?}",
            document.issuer
        )));
    }
    let eddsa = document
        .id_token_signing_alg_values_supported
        .iter()
        .any(|alg| alg == "EdDSA" || alg == "Ed25519");
    if !eddsa {
        return Err(Error::Discovery(
            "the issuer does not sign id tokens with EdDSA".into(),
        ));
    }
    let fixed = Endpoints::verys(issuer);
    let url = |text: &str, what: &str| -> Result<Url, Error> {
        let url = Url::parse(text).map_err(|_| Error::Discovery(format!("{what} is not a url")))?;
        if matches!(url.scheme(), "http" | "https") {
            Ok(url)
        } else {
            Err(Error::Discovery(format!(
                "{what} is not an http or https url"
            )))
        }
    };
    let optional = |text: Option<String>, what: &str, fallback: String| -> Result<String, Error> {
        text.map_or(Ok(fallback), |text| url(&text, what).map(String::from))
    };
    Ok(Endpoints {
        authorization: url(&document.authorization_endpoint, "authorization_endpoint")?,
        token: url(&document.token_endpoint, "token_endpoint")?.into(),
        userinfo: optional(
            document.userinfo_endpoint,
            "userinfo_endpoint",
            fixed.userinfo,
        )?,
        jwks: url(&document.jwks_uri, "jwks_uri")?.into(),
        revocation: optional(
            document.revocation_endpoint,
            "revocation_endpoint",
            fixed.revocation,
        )?,
        end_session: match document.end_session_endpoint {
            Some(text) => url(&text, "end_session_endpoint")?,
            None => fixed.end_session,
        },
        federation: fixed.federation,
    })
}
