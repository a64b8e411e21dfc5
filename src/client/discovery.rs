//! OpenID Connect discovery: the issuer's `/.well-known/openid-configuration`
//! ([OpenID Connect Discovery 1.0]).
//!
//! A discovery document tells the client where to send its secret and codes,
//! so it is held to the issuer: it must name exactly this issuer, and every
//! endpoint must be `https` when the issuer is, and on the issuer's host
//! unless the builder allows another host by name.
//!
//! [OpenID Connect Discovery 1.0]: https://openid.net/specs/openid-connect-discovery-1_0.html

use serde::Deserialize;
use std::sync::Arc;
use url::Url;

use crate::error::Error;
use crate::protocol;
use crate::protocol::config::{Config, Endpoints, endpoint, is_loopback};
use crate::protocol::jwks::JwksCache;
use crate::protocol::wire::{HttpRequest, HttpResponse};

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
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

/// What a client takes from a discovery document.
pub(crate) struct Discovered {
    pub endpoints: Endpoints,
    /// RFC 9207 §3: the provider puts `iss` in every authorization
    /// response, so a callback without it is refused.
    pub issuer_parameter: bool,
}

/// Where discovered endpoints may be.
pub(crate) struct EndpointPolicy {
    pub issuer: Url,
    /// Hosts besides the issuer's, allowed by name.
    pub hosts: Vec<String>,
    /// `http` to hosts other than this machine ("danger").
    pub http_to_any_host: bool,
}

impl EndpointPolicy {
    /// `text` as an endpoint the client may send to; `what` names it.
    fn check(&self, text: &str, what: &str) -> Result<Url, Error> {
        let refused = |reason: &str| Err(Error::Discovery(format!("{what} {reason}")));
        let Ok(url) = Url::parse(text) else {
            return refused("is not a url");
        };
        let https = url.scheme() == "https";
        if !https && url.scheme() != "http" {
            return refused("is not an http or https url");
        }
        if !https && self.issuer.scheme() == "https" {
            return refused("is plain http for an https issuer");
        }
        if !https && !self.http_to_any_host && !is_loopback(&url) {
            return refused("is plain http to another host than this machine");
        }
        let host = url.host_str().unwrap_or_default();
        let same_host = self
            .issuer
            .host_str()
            .is_some_and(|issuer| issuer.eq_ignore_ascii_case(host));
        let allowed = self
            .hosts
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(host));
        if !same_host && !allowed {
            return refused("is on another host than the issuer, and that host is not allowed");
        }
        Ok(url)
    }
}

/// `GET {issuer}/.well-known/openid-configuration`.
pub(crate) fn request(issuer: &Url) -> HttpRequest {
    HttpRequest::get(endpoint(issuer, &[".well-known", "openid-configuration"]).as_str())
}

/// Reads the document and checks it belongs to the issuer (OpenID Connect
/// Discovery 4.3: the `issuer` value must be the URL asked for, exactly),
/// signs with EdDSA and names endpoints the policy allows. Endpoints the
/// document leaves out keep the fixed Verys paths; federation is not part of
/// discovery and always does.
pub(crate) fn decode(
    response: HttpResponse,
    policy: &EndpointPolicy,
    issuer_text: &str,
) -> Result<Discovered, Error> {
    let document: Document = protocol::decode_success(&response, "discovery")?;
    if document.issuer != issuer_text {
        // The document's own value is not quoted: it is the server's text.
        return Err(Error::Discovery(format!(
            "the document names another issuer than {issuer_text}"
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
    let fixed = Endpoints::verys(&policy.issuer);
    let optional = |text: Option<String>, what: &str, fallback: String| -> Result<String, Error> {
        text.map_or(Ok(fallback), |text| {
            policy.check(&text, what).map(String::from)
        })
    };
    let endpoints = Endpoints {
        authorization: policy.check(&document.authorization_endpoint, "authorization_endpoint")?,
        token: policy
            .check(&document.token_endpoint, "token_endpoint")?
            .into(),
        userinfo: optional(
            document.userinfo_endpoint,
            "userinfo_endpoint",
            fixed.userinfo,
        )?,
        jwks: policy.check(&document.jwks_uri, "jwks_uri")?.into(),
        revocation: optional(
            document.revocation_endpoint,
            "revocation_endpoint",
            fixed.revocation,
        )?,
        end_session: match document.end_session_endpoint {
            Some(text) => policy.check(&text, "end_session_endpoint")?,
            None => fixed.end_session,
        },
        federation: fixed.federation,
    };
    Ok(Discovered {
        endpoints,
        issuer_parameter: document.authorization_response_iss_parameter_supported,
    })
}

impl Config {
    /// Takes what a discovery document says: its endpoints (the JWKS cache
    /// starts afresh at the discovered `jwks_uri`) and whether callbacks
    /// carry `iss`.
    pub(crate) fn adopt(&mut self, document: Discovered) {
        self.jwks = Arc::new(JwksCache::new(
            document.endpoints.jwks.clone(),
            self.jwks_policy,
        ));
        self.endpoints = document.endpoints;
        self.require_issuer_parameter |= document.issuer_parameter;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "https://auth.example.com";

    fn policy(hosts: &[&str]) -> EndpointPolicy {
        EndpointPolicy {
            issuer: Url::parse(ISSUER).unwrap(),
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            http_to_any_host: false,
        }
    }

    fn document(token_endpoint: &str) -> HttpResponse {
        let body = serde_json::json!({
            "issuer": ISSUER,
            "authorization_endpoint": format!("{ISSUER}/authorize"),
            "token_endpoint": token_endpoint,
            "jwks_uri": format!("{ISSUER}/jwks"),
            "id_token_signing_alg_values_supported": ["EdDSA"],
        });
        HttpResponse::new(200, Some("application/json"), body.to_string().into_bytes())
    }

    fn refusal(token_endpoint: &str, hosts: &[&str]) -> String {
        match decode(document(token_endpoint), &policy(hosts), ISSUER) {
            Err(Error::Discovery(reason)) => reason,
            Err(other) => panic!("{token_endpoint}: {other:?}"),
            Ok(_) => panic!("{token_endpoint}: accepted"),
        }
    }

    /// The client secret goes to the token endpoint: an https issuer's
    /// document cannot send it over plain http, nor to another host.
    #[test]
    fn endpoints_of_an_https_issuer_are_https_on_its_host() {
        let plain = refusal("http://auth.example.com/token", &[]);
        assert!(plain.contains("plain http"), "{plain}");
        let plain_allowed = refusal("http://login.example.com/token", &["login.example.com"]);
        assert!(plain_allowed.contains("plain http"), "{plain_allowed}");
        let elsewhere = refusal("https://collector.example.net/token", &[]);
        assert!(elsewhere.contains("another host"), "{elsewhere}");
        let lookalike = refusal(
            "https://auth.example.com.evil.net/token",
            &["auth.example.com"],
        );
        assert!(lookalike.contains("another host"), "{lookalike}");
        for accepted in [
            ("https://auth.example.com/oauth2/token", &[][..]),
            ("https://AUTH.example.com:8443/token", &[][..]),
            (
                "https://login.example.com/token",
                &["login.example.com"][..],
            ),
        ] {
            let discovered = decode(document(accepted.0), &policy(accepted.1), ISSUER).unwrap();
            assert_eq!(
                discovered.endpoints.token,
                Url::parse(accepted.0).unwrap().as_str()
            );
            assert!(!discovered.issuer_parameter);
        }
    }
}
