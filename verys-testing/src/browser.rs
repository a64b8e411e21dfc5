//! A browser for tests of a user's own application: it follows redirects between the
//! application and the embedded Verys, and keeps cookies as a browser does (`cookie_store`, the
//! jar ureq uses), so a test walks `/login` → Verys → `/auth/callback` → `/me` in one call.

use std::sync::{Mutex, PoisonError};

use cookie_store::CookieStore;
use url::Url;

use super::VerysServer;

/// What a browser accepts when it navigates, as Chromium sends it.
const NAVIGATION: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// The most redirects one navigation follows, as browsers cap them too.
const MAX_REDIRECTS: usize = 20;

/// A browser for tests: follows redirects, keeps cookies, and signs in at the embedded Verys as
/// the user chosen with [`as_user`](Self::as_user) (Ada by default).
///
/// ```
/// use verys_testing::{Browser, VerysServer, seed};
///
/// let verys = VerysServer::start();
/// let browser = Browser::new(&verys).as_user(seed::OTHER_USER_EMAIL);
/// let authorize = format!(
///     "{}/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid&state=s",
///     verys.issuer(),
///     seed::CONFIDENTIAL_CLIENT_ID,
///     seed::REDIRECT_URI,
/// );
/// // One request: Verys answers with the redirect to the application.
/// let page = browser.get_once(&authorize);
/// assert_eq!(page.status(), 302);
/// assert!(page.header("location").unwrap().starts_with(seed::REDIRECT_URI));
/// ```
///
/// The module documentation has a whole sign-in through an axum application.
pub struct Browser {
    agent: ureq::Agent,
    cookies: Mutex<CookieStore>,
    /// The embedded Verys's `/authorize`, whose requests carry the chosen user.
    authorize: String,
    user: Option<String>,
}

/// The answer a [`Browser`] ended on, with the way there.
#[derive(Debug, Clone)]
pub struct Page {
    status: u16,
    url: String,
    visited: Vec<String>,
    headers: Vec<(String, String)>,
    body: String,
}

impl Page {
    /// The status of the last answer.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The URL of the last request.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every URL requested, in order, ending with [`url`](Self::url).
    pub fn visited(&self) -> &[String] {
        &self.visited
    }

    /// The first value of the last answer's header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The last answer's body, as text.
    pub fn body(&self) -> &str {
        &self.body
    }
}

impl Browser {
    /// A browser with no cookies yet, trusting `verys`'s certificate authority when it speaks
    /// HTTPS.
    pub fn new(verys: &VerysServer) -> Browser {
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(der) = verys.ca_certificate_der() {
            let ca = ureq::tls::Certificate::from_der(der).to_owned();
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&[ca]));
        }
        let agent = ureq::Agent::config_builder()
            .tls_config(tls.build())
            // Redirects are followed here, where cookies and the user are handled.
            .max_redirects(0)
            .http_status_as_error(false)
            // A test environment's HTTP_PROXY must not capture a loopback request.
            .proxy(None)
            // No test may hang on an application that stopped answering.
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .build()
            .into();
        Browser {
            agent,
            cookies: Mutex::new(CookieStore::new()),
            authorize: format!("{}/authorize", verys.issuer()),
            user: None,
        }
    }

    /// Signs in at Verys as the user with this email (a [`seed`](super::seed) user): every
    /// request to its `/authorize` carries it as `login_hint`.
    pub fn as_user(mut self, email: impl Into<String>) -> Browser {
        self.user = Some(email.into());
        self
    }

    /// `GET url`, following redirects.
    ///
    /// # Panics
    ///
    /// If `url` is not a URL, a request fails to get an answer, or a `Location` is not a URL:
    /// a test cannot go on.
    pub fn get(&self, url: &str) -> Page {
        self.navigate("GET", url, None, MAX_REDIRECTS)
    }

    /// `POST url` with `form` as `application/x-www-form-urlencoded`, following redirects (as
    /// `GET` after a 301, 302 or 303, as browsers do).
    ///
    /// # Panics
    ///
    /// As [`get`](Self::get).
    pub fn post(&self, url: &str, form: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.navigate("POST", url, Some(body), MAX_REDIRECTS)
    }

    /// `POST url` with `form`, without following a redirect.
    ///
    /// # Panics
    ///
    /// As [`get`](Self::get).
    pub fn post_once(&self, url: &str, form: &[(&str, &str)]) -> Page {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.navigate("POST", url, Some(body), 0)
    }

    /// `GET url` without following a redirect: one request, whose answer may be a 3xx.
    ///
    /// # Panics
    ///
    /// As [`get`](Self::get).
    pub fn get_once(&self, url: &str) -> Page {
        self.navigate("GET", url, None, 0)
    }

    /// `GET url` as a script in a page would send it (`fetch`): with the
    /// jar's cookies, `Accept: */*` rather than a navigation's HTML, and
    /// no redirect followed.
    ///
    /// # Panics
    ///
    /// As [`get`](Self::get).
    pub fn fetch(&self, url: &str) -> Page {
        let url = Url::parse(url).unwrap_or_else(|e| panic!("Browser: {url} is not a URL: {e}"));
        let (status, headers, body) = self.send("GET", &url, None, "*/*");
        Page {
            status,
            url: url.to_string(),
            visited: vec![url.to_string()],
            headers,
            body,
        }
    }

    fn navigate(&self, method: &str, url: &str, body: Option<String>, redirects: usize) -> Page {
        let mut url =
            Url::parse(url).unwrap_or_else(|e| panic!("Browser: {url} is not a URL: {e}"));
        let (mut method, mut body) = (method.to_owned(), body);
        let mut visited = Vec::new();
        loop {
            self.choose_user(&mut url);
            visited.push(url.to_string());
            let (status, headers, text) = self.send(&method, &url, body.as_deref(), NAVIGATION);
            let location = headers
                .iter()
                .find(|(name, _)| name == "location")
                .map(|(_, value)| value.clone());
            match location {
                Some(location) if (300..400).contains(&status) && visited.len() <= redirects => {
                    url = url.join(&location).unwrap_or_else(|e| {
                        panic!("Browser: Location {location} of {url} is not a URL: {e}")
                    });
                    // 307 and 308 repeat the request; the others turn it into a GET.
                    if !matches!(status, 307 | 308) {
                        method = "GET".into();
                        body = None;
                    }
                }
                _ => {
                    return Page {
                        status,
                        url: url.to_string(),
                        visited,
                        headers,
                        body: text,
                    };
                }
            }
        }
    }

    fn choose_user(&self, url: &mut Url) {
        let Some(user) = &self.user else {
            return;
        };
        if !url.as_str().starts_with(&self.authorize) {
            return;
        }
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(name, _)| name != "login_hint")
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        url.query_pairs_mut()
            .clear()
            .extend_pairs(kept)
            .append_pair("login_hint", user);
    }

    /// One request with the jar's cookies; the answer's cookies go into the jar.
    fn send(
        &self,
        method: &str,
        url: &Url,
        body: Option<&str>,
        accept: &str,
    ) -> (u16, Vec<(String, String)>, String) {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(url.as_str())
            .header("accept", accept);
        let cookie = {
            let jar = self.cookies.lock().unwrap_or_else(PoisonError::into_inner);
            jar.get_request_values(url)
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        if !cookie.is_empty() {
            request = request.header("cookie", cookie);
        }
        if body.is_some() {
            request = request.header("content-type", "application/x-www-form-urlencoded");
        }
        let built = |e| -> ! { panic!("Browser: cannot build {method} {url}: {e}") };
        let response = match body {
            Some(body) => self
                .agent
                .run(request.body(body.to_owned()).unwrap_or_else(|e| built(e))),
            None => self
                .agent
                .run(request.body(()).unwrap_or_else(|e| built(e))),
        };
        let mut response =
            response.unwrap_or_else(|e| panic!("Browser: {method} {url} failed: {e}"));
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect();
        {
            let mut jar = self.cookies.lock().unwrap_or_else(PoisonError::into_inner);
            for (_, set_cookie) in headers.iter().filter(|(name, _)| name == "set-cookie") {
                // A cookie the jar refuses (a bad domain, say) is dropped, as browsers do.
                let _ = jar.parse(set_cookie, url);
            }
        }
        let text = response
            .body_mut()
            .read_to_string()
            .unwrap_or_else(|e| panic!("Browser: the body of {method} {url}: {e}"));
        (response.status().as_u16(), headers, text)
    }
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}
