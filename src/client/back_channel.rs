//! The settings of the back channel that every builder shares (the
//! client's and the resource server's verifier's): the HTTP client and its
//! limits, the JWKS fetch policy, the clock and its leeway. Written once,
//! as setters each builder takes in.

/// The back-channel setters, for a builder whose settings are at
/// `self.$path` (nothing for the builder itself) with the fields `leeway`,
/// `clock`, `http` ([`Limits`](crate::transport::Limits)), `clients`,
/// `jwks` and `http_to_any_host`.
macro_rules! back_channel_setters {
    ($($path:ident).*) => {
        /// Clock skew tolerated by the time rules (`exp`, `iat`, and an ID
        /// token's `auth_time`). Default: 60 s.
        pub fn leeway(mut self, leeway: ::std::time::Duration) -> Self {
            self$(.$path)*.leeway = leeway;
            self
        }

        /// **Danger:** allows plain `http` to hosts other than this machine, for
        /// the issuer and the endpoints. A client's secret, codes and tokens then
        /// travel in clear, and anyone on the network path can read them or
        /// serve keys of their own, which would verify the tokens they sign. By
        /// default `http` is allowed only to `localhost`, `127.0.0.0/8` and
        /// `[::1]`.
        pub fn danger_allow_http_to_any_host(mut self) -> Self {
            self$(.$path)*.http_to_any_host = true;
            self
        }

        /// Time limit for a whole request, from connecting to reading the last
        /// byte of the body. Default: 30 s.
        pub fn timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self$(.$path)*.http.timeout = timeout;
            self
        }

        /// Time limit for establishing a connection. Default: 10 s.
        pub fn connect_timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self$(.$path)*.http.connect_timeout = timeout;
            self
        }

        /// Largest response body read; a larger one fails with
        /// [`TransportErrorKind::BodyTooLarge`](crate::TransportErrorKind::BodyTooLarge)
        /// after reading no more than the limit. Default: 1 MiB.
        pub fn max_response_bytes(mut self, limit: u64) -> Self {
            self$(.$path)*.http.max_response_bytes = limit;
            self
        }

        /// The pace of JWKS fetches, whatever key ids tokens name: one fetch
        /// per `cooldown` on average, after a burst of
        /// [`jwks_burst`](Self::jwks_burst); at least a second. Default: 30 s.
        pub fn jwks_cooldown(mut self, cooldown: ::std::time::Duration) -> Self {
            self$(.$path)*.jwks.cooldown = cooldown.as_secs().max(1);
            self
        }

        /// How many JWKS fetches may follow each other before the
        /// [cooldown](Self::jwks_cooldown) paces them, so that a key rotated just
        /// after a fetch is fetched at once. Default: 3.
        pub fn jwks_burst(mut self, burst: u32) -> Self {
            self$(.$path)*.jwks.burst = burst.max(1);
            self
        }

        /// Age after which cached keys are fetched again; meanwhile the old key
        /// keeps serving, and the next check that finds it old refreshes it.
        /// Default: 1 hour.
        pub fn jwks_max_age(mut self, max_age: ::std::time::Duration) -> Self {
            self$(.$path)*.jwks.max_age = max_age.as_secs();
            self
        }

        /// The clock every time rule reads. Default: the system clock.
        pub fn clock(mut self, clock: ::std::sync::Arc<dyn $crate::Clock>) -> Self {
            self$(.$path)*.clock = clock;
            self
        }

        /// The HTTP client of the blocking builds ([`build`](Self::build) and,
        /// for a client, `build_discovered`): a `ureq::Agent` of
        /// yours (its proxy, private certificate authorities, client
        /// certificate, pool), a closure, or any [`SyncHttpClient`](crate::transport::SyncHttpClient). Default: an
        /// agent of the crate's own (feature `blocking`). The async builds
        /// refuse it rather than leave it unused.
        ///
        /// # Security warning
        ///
        /// The client holds the secret, codes and tokens of every request. With
        /// a `ureq::Agent` the crate sets redirects, timeouts and the size limit
        /// on every request; another client must keep them itself, as the
        /// [`transport`](crate::transport) module says.
        pub fn http_client(mut self, http: impl $crate::transport::SyncHttpClient + 'static) -> Self {
            self$(.$path)*.clients.sync = Some(::std::sync::Arc::new(http));
            self
        }

        /// The HTTP client of the async builds ([`build_async`](Self::build_async)
        /// and, for a client, `build_discovered_async`): a closure
        /// returning a future, or any [`AsyncHttpClient`](crate::transport::AsyncHttpClient). For reqwest, give its
        /// builder to [`reqwest_client`](Self::reqwest_client) instead. The
        /// blocking builds refuse it rather than leave it unused.
        ///
        /// # Security warning
        ///
        /// As for [`http_client`](Self::http_client): the client must not follow
        /// redirects and must keep the [`Limits`](crate::transport::Limits) of each request.
        #[cfg(feature = "async")]
        #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
        pub fn async_http_client(mut self, http: impl $crate::transport::AsyncHttpClient + 'static) -> Self {
            self$(.$path)*.clients.nonblocking = Some(::std::sync::Arc::new(http));
            self
        }

        /// reqwest for the async builds, built from your `reqwest::ClientBuilder`
        /// (proxies, root certificates, a client certificate, pools) with
        /// redirects turned off and this builder's connect timeout. Default: a
        /// client of the crate's own.
        ///
        /// # TLS and the rustls crypto provider
        ///
        /// The crate enables reqwest's `rustls-no-provider` feature only, and
        /// installs no process-wide rustls provider. Its own client (no builder
        /// given) has a rustls config of its own, on ring with the webpki roots,
        /// so it needs no provider from you. Your builder's TLS is left as you
        /// configured it (`add_root_certificate`, `identity`,
        /// `danger_accept_invalid_certs`, `tls_backend_preconfigured`…): the
        /// crate never sets a TLS config on it, which would make reqwest
        /// silently drop those settings. reqwest builds it with
        ///
        /// - the provider of reqwest's `rustls` feature (aws-lc-rs), on when
        ///   your own reqwest dependency keeps its default features, or
        /// - the process default you installed before the build, such as
        ///   `rustls::crypto::ring::default_provider().install_default()`, or
        /// - a `rustls::ClientConfig` of yours given with
        ///   `tls_backend_preconfigured` (which then replaces the builder's
        ///   other TLS settings, as reqwest documents).
        ///
        /// Without any of them reqwest cannot build it, and building this client
        /// is [`Error::Config`](crate::Error::Config) (reqwest panics, and the
        /// crate catches the panic unless your application aborts on panic).
        ///
        /// # Another major of reqwest
        ///
        /// The builder is of the reqwest this crate depends on, 0.13. With
        /// another major of reqwest (0.12, say, or a later one), give your client
        /// to [`async_http_client`](Self::async_http_client) as a closure
        /// instead: it takes an [`http::Request<Vec<u8>>`](http::Request)
        /// (reqwest 0.12 and 0.13 both speak `http` 1, re-exported as
        /// `verys_client::http`) and returns an `http::Response<Vec<u8>>`, and
        /// must keep what [`Reqwest`](crate::transport::Reqwest) keeps for you:
        /// no redirect followed (set on your client), the request's
        /// [`Limits`](crate::transport::Limits) (the overall timeout per
        /// request, the connect timeout on your client, the body read no further
        /// than `max_response_bytes`). The closure below is compiled against the
        /// crate's reqwest 0.13; each reqwest call in it is the same in 0.12
        /// (`Request::try_from` an `http::Request`, `timeout_mut`, `execute`,
        /// `chunk`, `Error::without_url`), so on 0.12 it is this closure over
        /// your own client:
        ///
        /// ```
        /// use std::time::Duration;
        /// use verys_client::transport::Limits;
        /// use verys_client::{Client, TransportError, TransportErrorKind, http};
        ///
        /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
        /// # // reqwest without a provider of its own here: the user's, installed.
        /// # let _ = rustls::crypto::ring::default_provider().install_default();
        /// let own = reqwest::Client::builder()
        ///     .redirect(reqwest::redirect::Policy::none())
        ///     .connect_timeout(Duration::from_secs(10))
        ///     .build()?;
        /// let send = move |request: http::Request<Vec<u8>>| {
        ///     let own = own.clone();
        ///     async move {
        ///         let limits = request.extensions().get::<Limits>().copied().unwrap_or_default();
        ///         // reqwest's message without the URL, which may carry a token id.
        ///         let failed = |error: reqwest::Error| {
        ///             let kind = if error.is_timeout() {
        ///                 TransportErrorKind::Timeout
        ///             } else if error.is_connect() {
        ///                 TransportErrorKind::Connect
        ///             } else {
        ///                 TransportErrorKind::Other
        ///             };
        ///             TransportError::new(kind, error.without_url().to_string())
        ///         };
        ///         let mut request = reqwest::Request::try_from(request).map_err(failed)?;
        ///         *request.timeout_mut() = Some(limits.timeout);
        ///         let mut response = own.execute(request).await.map_err(failed)?;
        ///         let mut body = Vec::new();
        ///         while let Some(chunk) = response.chunk().await.map_err(failed)? {
        ///             if (body.len() + chunk.len()) as u64 > limits.max_response_bytes {
        ///                 return Err(TransportError::new(
        ///                     TransportErrorKind::BodyTooLarge,
        ///                     format!("over {} bytes", limits.max_response_bytes),
        ///                 ));
        ///             }

        ///             body.extend_from_slice(&chunk);
        ///         }

        ///         let mut answer = http::Response::new(body);
        ///         *answer.status_mut() = response.status();
        ///         *answer.headers_mut() = std::mem::take(response.headers_mut());
        ///         Ok(answer)
        ///     }

        /// };
        /// let client = Client::builder("https://auth.verys.example.com", "your-client-id")
        ///     .host("https://app.example.com")
        ///     .client_secret("your-client-secret")
        ///     .async_http_client(send)
        ///     .build_async()?;
        /// # let _ = client; Ok(()) }
        /// ```
        ///
        /// # Security warning
        ///
        /// reqwest's redirect policy belongs to a built client and cannot be
        /// changed for one request, so the crate takes the builder, never a
        /// built `reqwest::Client`: one configured to follow redirects would
        /// re-send a token request, secret included, wherever a redirect
        /// pointed. A client of yours given to
        /// [`async_http_client`](Self::async_http_client) must be built with
        /// redirects off, as above.
        #[cfg(feature = "async")]
        #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
        pub fn reqwest_client(mut self, builder: ::reqwest::ClientBuilder) -> Self {
            self$(.$path)*.clients.reqwest = Some(builder);
            self
        }
    };
}

pub(crate) use back_channel_setters;
