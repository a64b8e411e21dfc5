//! The callback checks of `PendingAuth::receive`, in the order they apply. No
//! server is needed: a callback is checked before anything is sent.

use verys_client::{Client, Error, PendingAuth, Public};

const ISSUER: &str = "https://auth.verys.example";

fn pending() -> (PendingAuth<Public>, String) {
    let client = Client::builder(ISSUER, "app")
        .host("https://app.example.com")
        .build()
        .unwrap();
    assert_eq!(
        client.redirect_uri(),
        "https://app.example.com/auth/callback"
    );
    let pending = client.authorize();
    let state = url::Url::parse(pending.url())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    (pending, state)
}

fn receive(query: impl FnOnce(&str) -> String) -> Result<(), Error> {
    let (pending, state) = pending();
    pending.receive(&query(&state)).map(drop)
}

#[test]
fn full_url_and_bare_query_are_both_accepted() {
    assert!(
        receive(|s| format!("https://app.example.com/auth/callback?code=abc&state={s}")).is_ok()
    );
    assert!(receive(|s| format!("?code=abc&state={s}")).is_ok());
    assert!(receive(|s| format!("code=abc&state={s}")).is_ok());
}

#[test]
fn error_parameter_wins_and_keeps_its_description() {
    match receive(|s| format!("error=access_denied&error_description=User%20said%20no&state={s}")) {
        Err(Error::Callback { error, description }) => {
            assert_eq!(error, "access_denied");
            assert_eq!(description.as_deref(), Some("User said no"));
        }
        other => panic!("{other:?}"),
    }
    match receive(|_| "error=login_required".into()) {
        Err(Error::Callback { error, description }) => {
            assert_eq!(error, "login_required");
            assert_eq!(description, None);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn missing_code_comes_before_missing_state() {
    assert!(matches!(receive(|_| "".into()), Err(Error::MissingCode)));
    assert!(matches!(
        receive(|s| format!("code=&state={s}")),
        Err(Error::MissingCode)
    ));
    assert!(matches!(
        receive(|_| "code=abc".into()),
        Err(Error::MissingState)
    ));
    assert!(matches!(
        receive(|_| "code=abc&state=".into()),
        Err(Error::MissingState)
    ));
}

#[test]
fn another_state_is_a_mismatch() {
    assert!(matches!(
        receive(|_| "code=abc&state=forged".into()),
        Err(Error::StateMismatch)
    ));
    assert!(matches!(
        receive(|s| format!("code=abc&state={}", &s[..42])),
        Err(Error::StateMismatch)
    ));
    // The first value of a repeated state is the one compared.
    assert!(matches!(
        receive(|s| format!("code=abc&state=forged&state={s}")),
        Err(Error::StateMismatch)
    ));
}

#[test]
fn issuer_parameter_must_name_our_issuer() {
    assert!(receive(|s| format!("code=abc&state={s}&iss={ISSUER}")).is_ok());
    assert!(matches!(
        receive(|s| format!("code=abc&state={s}&iss=https://evil.example")),
        Err(Error::IssuerMismatch)
    ));
}

#[test]
fn repeated_parameters_are_refused() {
    match receive(|s| format!("code=abc&code=def&state={s}")) {
        Err(Error::DuplicateParameter(name)) => assert_eq!(name, "code"),
        other => panic!("{other:?}"),
    }
    match receive(|s| format!("code=abc&state={s}&state={s}")) {
        Err(Error::DuplicateParameter(name)) => assert_eq!(name, "state"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn odd_characters_are_decoded_not_trusted() {
    assert!(receive(|s| format!("code=a%2Fb%2Bc%3D%26%00%F0%9F%98%80&state={s}")).is_ok());
    assert!(matches!(
        receive(|_| "code=abc&state=%FF%FE".into()),
        Err(Error::StateMismatch)
    ));
    assert!(matches!(
        receive(|_| "http://[bad".into()),
        Err(Error::MalformedCallback(_))
    ));
}

#[test]
fn bad_configuration_fails_at_build() {
    let config_error = |result: Result<Client<Public>, Error>| match result {
        Err(Error::Config(reason)) => reason,
        other => panic!("expected a configuration error, got {other:?}"),
    };
    let base = || Client::builder(ISSUER, "app").host("https://app.example.com");
    assert!(
        config_error(Client::builder("ftp://x", "app").host("https://a").build()).contains("http")
    );
    assert!(
        config_error(
            Client::builder("not a url", "app")
                .host("https://a")
                .build()
        )
        .contains("url")
    );
    assert!(
        config_error(Client::builder(ISSUER, " ").host("https://a").build()).contains("client id")
    );
    assert!(config_error(base().scopes(["profile"]).build()).contains("openid"));
    assert!(config_error(base().scopes(["openid", "two words"]).build()).contains("scope"));
    assert!(config_error(Client::builder(ISSUER, "app").build()).contains("redirect_uri"));
    let empty_secret = base().client_secret("").build();
    assert!(matches!(empty_secret, Err(Error::Config(reason)) if reason.contains("secret")));
}
