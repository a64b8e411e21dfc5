//! reqwest as the async client's HTTP stack (feature `async`).

use super::{AsyncHttpClient, BoxFuture, Limits, USER_AGENT, tls_cause, too_large};
use crate::error::{Error, TransportError, TransportErrorKind};

/// reqwest, built from a `reqwest::ClientBuilder` the user configured
/// (proxies, root certificates, a client certificate, pools), with
/// redirects turned off: reqwest's redirect policy belongs to the client,
/// and a built client's cannot be changed for one request, so the crate
/// takes the builder and never a built client. Timeouts and the body limit
/// are set per request.
///
/// The crate enables reqwest's `rustls-no-provider` and installs no
/// process-wide rustls provider. Its own client ([`Reqwest::own`]) has a TLS
/// config of its own, on ring with the webpki roots. A user's builder keeps
/// its TLS settings: reqwest builds it with the provider of the user's
/// reqwest (its `rustls` feature, aws-lc-rs) or the process default the
/// user installed.
#[derive(Debug, Clone)]
pub struct Reqwest {
    client: reqwest::Client,
}

impl Reqwest {
    /// Builds the client from `builder`, with redirects off, the connect
    /// timeout of `limits` and the crate's user agent. Its TLS is the
    /// builder's, untouched: see
    /// [`ClientBuilder::reqwest_client`](crate::ClientBuilder::reqwest_client).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when reqwest cannot build it (a TLS setting it
    /// refuses, say), and when reqwest has no rustls crypto provider (see
    /// [`ClientBuilder::reqwest_client`](crate::ClientBuilder::reqwest_client)),
    /// which reqwest reports by panicking: the panic is caught, unless
    /// the application aborts on panic.
    pub fn new(builder: reqwest::ClientBuilder, limits: Limits) -> Result<Self, Error> {
        let builder = builder
            // A back-channel redirect would carry credentials elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(limits.connect_timeout)
            .user_agent(USER_AGENT);
        // reqwest's `rustls-no-provider` panics at build when neither its
        // `rustls` feature nor a process default gives it a provider. The
        // builder is consumed either way: nothing half-built is seen again.
        let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| builder.build()))
            .map_err(|_| {
                Error::Config(
                    "http client: reqwest has no rustls crypto provider: enable reqwest's \
                     `rustls` feature, install one process-wide \
                     (rustls::crypto::CryptoProvider::install_default), or give the \
                     builder a config of yours (tls_backend_preconfigured)"
                        .into(),
                )
            })?;
        let client = built
            .map_err(|error| Error::Config(format!("http client: {}", error.without_url())))?;
        Ok(Self { client })
    }

    /// The crate's own client, when no builder is given: reqwest with a
    /// rustls config on the ring provider (the one ureq and redis use here)
    /// trusting the webpki roots (the roots of ureq's default), so that no
    /// process-wide provider is needed or installed.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when reqwest cannot build it.
    pub fn own(limits: Limits) -> Result<Self, Error> {
        Self::new(
            reqwest::Client::builder().tls_backend_preconfigured(tls_config()?),
            limits,
        )
    }
}

/// rustls on ring, TLS 1.2 and 1.3, the webpki roots, HTTP/1.1 by ALPN (the
/// only version the crate's reqwest speaks): what reqwest's own config would
/// be, on the crate's provider.
fn tls_config() -> Result<rustls::ClientConfig, Error> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|error| Error::Config(format!("http client: tls: {error}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
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
