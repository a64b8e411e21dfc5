//! Reading a redirect back to the application: a callback URL or its query
//! string, as the login, logout and federation-link flows receive it.

use std::borrow::Cow;

use url::Url;

use crate::error::{DESCRIPTION_LIMIT, ERROR_CODE_LIMIT, Error, server_text};
use crate::verify::jwt::constant_time_eq;

/// The parameters the flows read, the only names an error repeats.
const KNOWN: [&str; 6] = [
    "code",
    "state",
    "iss",
    "error",
    "error_description",
    "provider_id",
];

mod sealed {
    pub trait Sealed {}
}

/// What a redirect back to the application can be handed over as, to
/// [`PendingAuth::receive`](crate::PendingAuth::receive) and the other
/// `receive` methods: the full URL (`&str`, `String`, [`url::Url`]), its
/// path and query as a server framework's request holds it
/// ([`http::Uri`], `"/auth/callback?code=…"`), or its query string alone,
/// with or without the leading `?`. Sealed.
pub trait CallbackUrl: sealed::Sealed {
    /// The callback as text, in one of the forms above.
    fn as_callback(&self) -> Cow<'_, str>;
}

impl sealed::Sealed for str {}
impl CallbackUrl for str {
    fn as_callback(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

impl sealed::Sealed for String {}
impl CallbackUrl for String {
    fn as_callback(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

impl sealed::Sealed for Url {}
impl CallbackUrl for Url {
    fn as_callback(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.as_str())
    }
}

impl sealed::Sealed for http::Uri {}
impl CallbackUrl for http::Uri {
    fn as_callback(&self) -> Cow<'_, str> {
        // An absolute URI prints whole, an origin-form one as `/path?query`.
        Cow::Owned(self.to_string())
    }
}

/// The percent-decoded parameters of a callback, in order, repeats kept.
pub(crate) struct CallbackParams(Vec<(String, String)>);

impl CallbackParams {
    /// Parses a full callback URL, its path and query (`/auth/callback?…`,
    /// what a server framework's request target holds), or just its query
    /// string with or without the leading `?`. Anything else is
    /// [`Error::MalformedCallback`], so that a value of the wrong shape is
    /// not misread as a callback that lacks its parameters.
    pub(crate) fn parse(callback: &(impl CallbackUrl + ?Sized)) -> Result<Self, Error> {
        let callback = callback.as_callback();
        let callback = callback.trim();
        let malformed = |why: &str| Err(Error::MalformedCallback(why.to_owned()));
        let query = if callback.is_empty() {
            return malformed("the callback is empty");
        } else if let Some(query) = callback.strip_prefix('?') {
            query.to_owned()
        } else if callback.starts_with('/') {
            let target = callback.split('#').next().unwrap_or_default();
            target
                .split_once('?')
                .map_or("", |(_, query)| query)
                .to_owned()
        } else {
            match Url::parse(callback) {
                Ok(url) => url.query().unwrap_or_default().to_owned(),
                // A relative URL without its leading slash (`auth/callback?…`)
                // would read as one odd parameter name.
                Err(url::ParseError::RelativeUrlWithoutBase) if callback.contains(['?', '#']) => {
                    return malformed("neither a url, a path with its query, nor a query string");
                }
                // Not a URL of its own (no scheme): the query string alone.
                Err(url::ParseError::RelativeUrlWithoutBase) => callback.to_owned(),
                Err(error) => return Err(Error::MalformedCallback(error.to_string())),
            }
        };
        Ok(Self(
            url::form_urlencoded::parse(query.as_bytes())
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect(),
        ))
    }

    /// The first value of `name`.
    pub(crate) fn first(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The first value of `name`, if present and not empty.
    pub(crate) fn non_empty(&self, name: &str) -> Option<&str> {
        self.first(name).filter(|value| !value.is_empty())
    }

    /// `state` present ([`Error::MissingState`]) and equal to `expected`,
    /// compared in constant time ([`Error::StateMismatch`]).
    pub(crate) fn check_state(&self, expected: &str) -> Result<(), Error> {
        let state = self.non_empty("state").ok_or(Error::MissingState)?;
        if constant_time_eq(state, expected) {
            Ok(())
        } else {
            Err(Error::StateMismatch)
        }
    }

    /// `iss` (RFC 9207), when present, equal to `expected`
    /// ([`Error::IssuerMismatch`]), and present when `required`
    /// ([`Error::MissingIssuer`]).
    pub(crate) fn check_issuer(&self, expected: &str, required: bool) -> Result<(), Error> {
        match self.first("iss") {
            Some(iss) if iss != expected => Err(Error::IssuerMismatch),
            None if required => Err(Error::MissingIssuer),
            _ => Ok(()),
        }
    }

    /// The `error` parameter as [`Error::Callback`], if there is one; its
    /// texts repeated only when fit to be (see [`server_text`]).
    pub(crate) fn oauth_error(&self) -> Option<Error> {
        Some(Error::Callback {
            error: self.error_code()?,
            description: self.error_description(),
        })
    }

    /// The `error` parameter, if there is one: `unreadable` when it is not
    /// fit to be repeated.
    pub(crate) fn error_code(&self) -> Option<String> {
        let error = self.first("error")?;
        Some(server_text(error, ERROR_CODE_LIMIT).unwrap_or_else(|| "unreadable".into()))
    }

    /// The `error_description` parameter, if there is one fit to repeat.
    pub(crate) fn error_description(&self) -> Option<String> {
        self.first("error_description")
            .and_then(|text| server_text(text, DESCRIPTION_LIMIT))
    }

    /// [`Error::DuplicateParameter`] for the first parameter that repeats,
    /// named if it is one the flows read.
    pub(crate) fn check_no_repeats(&self) -> Result<(), Error> {
        // A set, not a scan of the names before each: a callback is the
        // browser's (an attacker's) text, and tens of thousands of names fit
        // in a URL.
        let mut seen = std::collections::HashSet::with_capacity(self.0.len());
        for (name, _) in &self.0 {
            if !seen.insert(name.as_str()) {
                let named = KNOWN.iter().find(|known| **known == name);
                return Err(Error::DuplicateParameter(
                    named.map_or_else(|| "another".to_owned(), |known| (*known).to_owned()),
                ));
            }
        }
        Ok(())
    }
}
