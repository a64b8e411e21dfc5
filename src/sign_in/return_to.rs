//! Where a browser goes back to after signing in: a path of this
//! application, never another site (an open redirect would let a link to
//! `/login?return_to=https://evil.example` end a real sign-in on a phishing
//! page).

use url::Url;

/// A stand-in origin to resolve a `return_to` against, as a browser would
/// against the application's own: whatever resolves to another origin
/// would leave the application.
const HERE: &str = "https://app.invalid/";

/// The same-origin path (with its query) that `return_to` names, or `/`.
///
/// The `url` crate resolves the text as a browser does (WHATWG URL): a
/// scheme, `//host`, `/\host` and `\\host` all name another origin, and tabs
/// and newlines are removed first. Anything with a backslash or another
/// control character is refused outright, as is a fragment (a browser keeps
/// it to itself); the rest must resolve on the stand-in origin and is kept
/// as the path and query it resolved to, which a browser cannot read as
/// another host, percent-encoded slashes included.
pub(crate) fn sanitize(return_to: &str) -> String {
    const HOME: &str = "/";
    if !return_to.starts_with('/')
        || return_to.contains('\\')
        || return_to.chars().any(char::is_control)
    {
        return HOME.to_owned();
    }
    let Ok(here) = Url::parse(HERE) else {
        return HOME.to_owned();
    };
    let Ok(resolved) = here.join(return_to) else {
        return HOME.to_owned();
    };
    if resolved.origin() != here.origin() || resolved.fragment().is_some() {
        return HOME.to_owned();
    }
    let path = resolved.path();
    // `/%2F%2Fevil.example` stays a path here, but a proxy or framework
    // that decodes it before routing would not keep it one.
    if path.starts_with("//")
        || lowered(path).starts_with("/%2f")
        || lowered(path).starts_with("/%5c")
    {
        return HOME.to_owned();
    }
    match resolved.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    }
}

fn lowered(path: &str) -> String {
    path.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn a_path_of_this_application_is_kept_with_its_query() {
        assert_eq!(sanitize("/reports/7"), "/reports/7");
        assert_eq!(sanitize("/reports/7?tab=2&x=%2F"), "/reports/7?tab=2&x=%2F");
        assert_eq!(sanitize("/"), "/");
        assert_eq!(sanitize("/a/../b"), "/b");
    }

    /// Every spelling of another site goes to `/`.
    #[test]
    fn another_site_in_any_spelling_goes_home() {
        for hostile in [
            "//evil.example",
            "//evil.example/path",
            "https://evil.example",
            "http:evil.example",
            "javascript:alert(1)",
            "/\\evil.example",
            "\\\\evil.example",
            "/\\/evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/%2F%2Fevil.example",
            "/%2f%2fevil.example",
            "/%5Cevil.example",
            "/%5cevil.example",
            "///evil.example",
            "/./\\evil.example",
            "/.//evil.example",
            "evil.example",
            "",
            " /reports",
            "/reports#fragment",
            "/\u{0}",
            "/\u{7f}",
        ] {
            assert_eq!(sanitize(hostile), "/", "{hostile:?}");
        }
    }
}
