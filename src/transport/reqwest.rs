//! reqwest as the async client's HTTP stack (feature `async`).

use super::{AsyncHttpClient, BoxFuture, Limits, USER_AGENT, tls_cause, too_large};
use crate::error::{Error, TransportError, TransportErrorKind};

/// reqwest, built from a `reqwest::ClientBuilder` the user configured
/// (proxies, root certificates, a client certificate, pools), with
/// redirects turned off: reqwest's redirect policy belongs to the client,
/// and a built client's cannot be changed for one request, so the crate
/// takes the builder and never a built client. Timeouts and the body limit
/// are set per request.
#[derive(Debug, Clone)]
pub struct Reqwest {
    client: reqwest::Client,
}

impl Reqwest {
    /// Builds the client from `builder`, with redirects off, the connect
    /// timeout of `limits` and the crate's user agent.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when reqwest cannot build it (a TLS setting it
    /// refuses, say).
    pub fn new(builder: reqwest::ClientBuilder, limits: Limits) -> Result<Self, Error> {
        let client = builder
            // A back-channel redirect would carry credentials elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(limits.connect_timeout)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|error| Error::Config(format!("http client: {}", error.without_url())))?;
        Ok(Self { client })
    }
}

impl AsyncHttpClient for Reqwest {
    fn call(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, TransportError>> {
        Box::pin(async move {
            let limits = request
                .extensions()
                .get::<Limits>()
                .copied()
                .unwrap_or_default();
            let mut request = reqwest::Request::try_from(request).map_err(transport_error)?;
            *request.timeout_mut() = Some(limits.timeout);
            let mut response = self
                .client
                .execute(request)
                .await
                .map_err(transport_error)?;
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
                if (body.len() + chunk.len()) as u64 > limits.max_response_bytes {
                    return Err(too_large(limits));
                }
                body.extend_from_slice(&chunk);
            }
            let mut answer = http::Response::new(body);
            *answer.status_mut() = response.status();
            *answer.headers_mut() = std::mem::take(response.headers_mut());
            Ok(answer)
        })
    }
}

fn transport_error(error: reqwest::Error) -> TransportError {
    let error = error.without_url();
    // reqwest's own words name only the step that failed ("error sending
    // request"); the TLS failure is worth naming too. Of the causes only that
    // one is repeated: another (a proxy's) may quote what it was given.
    if let Some(tls) = tls_cause(&error) {
        return TransportError::new(TransportErrorKind::Tls, format!("{error}: {tls}"));
    }
    let kind = if error.is_timeout() {
        TransportErrorKind::Timeout
    } else if error.is_connect() {
        TransportErrorKind::Connect
    } else {
        TransportErrorKind::Other
    };
    TransportError::new(kind, error.to_string())
}
