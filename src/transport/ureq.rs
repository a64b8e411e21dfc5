//! ureq as the blocking client's HTTP stack (feature `blocking`), the
//! back-channel rules set on every request whatever the agent's own
//! configuration says.

use ureq::RequestExt as _;

use super::{Limits, SyncHttpClient, tls_cause};
use crate::error::{TransportError, TransportErrorKind};

/// The agent the crate builds when the builder was given none: a
/// connection pool of its own, the proxy the environment names.
pub(crate) fn default_agent() -> ureq::Agent {
    ureq::Agent::config_builder().build().into()
}

/// A user's agent keeps its proxy, TLS roots, client certificate and pool;
/// redirects, timeouts, status handling and the body limit are this
/// request's, set here.
impl SyncHttpClient for ureq::Agent {
    fn call(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let limits = request
            .extensions()
            .get::<Limits>()
            .copied()
            .unwrap_or_default();
        let mut response = request
            .with_agent(self)
            .configure()
            // OAuth errors travel in 4xx bodies: read them instead of failing.
            .http_status_as_error(false)
            // A back-channel redirect would carry credentials elsewhere.
            .max_redirects(0)
            .timeout_global(Some(limits.timeout))
            .timeout_connect(Some(limits.connect_timeout))
            .build()
            .run()
            .map_err(transport_error)?;
        let body = response
            .body_mut()
            .with_config()
            .limit(limits.max_response_bytes)
            .read_to_vec()
            .map_err(transport_error)?;
        let (parts, _) = response.into_parts();
        Ok(http::Response::from_parts(parts, body))
    }
}

fn transport_error(error: ureq::Error) -> TransportError {
    let kind = match &error {
        ureq::Error::Timeout(_) => TransportErrorKind::Timeout,
        ureq::Error::BodyExceedsLimit(_) => TransportErrorKind::BodyTooLarge,
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => TransportErrorKind::Connect,
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            TransportErrorKind::Connect
        }
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => TransportErrorKind::Tls,
        ureq::Error::Io(io) if tls_cause(io).is_some() => TransportErrorKind::Tls,
        _ => TransportErrorKind::Other,
    };
    TransportError::new(kind, error.to_string())
}
