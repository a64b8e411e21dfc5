//! The callback checks of `PendingAuth::receive`, in the order they apply. No
//! server is needed: a callback is checked before anything is sent.

use verys_client::{Client, Confidential, Error, PendingAuth, Public};

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
    // The request target a server framework hands a handler.
    assert!(receive(|s| format!("/auth/callback?code=abc&state={s}")).is_ok());
    assert!(receive(|s| format!("/auth/callback?code=abc&state={s}#ignored")).is_ok());
    assert!(matches!(
        receive(|_| "/auth/callback".into()),
        Err(Error::MissingState)
    ));
}

/// What an axum handler has (`Uri`, `OriginalUri`) and what a URL parser
/// gives are taken as they are; their parameters are read, not skipped.
#[test]
fn a_request_uri_and_a_parsed_url_are_received() {
    let (flow, state) = pending();
    let uri: http::Uri = format!("/auth/callback?code=abc&state={state}")
        .parse()
        .unwrap();
    assert!(flow.receive(&uri).is_ok());
    let (flow, _) = pending();
    assert!(matches!(flow.receive(&uri), Err(Error::StateMismatch)));

    let (flow, state) = pending();
    let url = url::Url::parse(&format!(
        "https://app.example.com/auth/callback?code=abc&state={state}"
    ))
    .unwrap();
    assert!(flow.receive(&url).is_ok());
    let (flow, state) = pending();
    let absolute: http::Uri = format!("https://app.example.com/auth/callback?state={state}")
        .parse()
        .unwrap();
    assert!(matches!(flow.receive(&absolute), Err(Error::MissingCode)));
}

/// A value of the wrong shape says so, instead of reading as a callback that
/// lacks its parameters.
#[test]
fn a_value_of_the_wrong_shape_is_malformed_not_missing_a_parameter() {
    for wrong in [
        "",
        "   ",
        "auth/callback?code=abc&state=s",
        "callback#code=abc",
    ] {
        match receive(|_| wrong.to_owned()) {
            Err(Error::MalformedCallback(_)) => {}
            other => panic!("{wrong:?}: expected a malformed callback, got {other:?}"),
        }
    }
}

#[test]
fn an_error_with_this_flows_state_keeps_its_description() {
    match receive(|s| format!("error=access_denied&error_description=User%20said%20no&state={s}")) {
        Err(Error::Callback { error, description }) => {
            assert_eq!(error, "access_denied");
            assert_eq!(description.as_deref(), Some("User said no"));
        }
        other => panic!("{other:?}"),
    }
    match receive(|s| format!("error=login_required&state={s}")) {
        Err(Error::Callback { error, description }) => {
            assert_eq!(error, "login_required");
            assert_eq!(description, None);
        }
        other => panic!("{other:?}"),
    }
}

/// RFC 6749 §10.12, RFC 9207 §2.4: an error response is a callback like any
/// other, believed only once its state (and issuer) show it belongs to this
/// flow; a forged one says nothing of the attacker's choosing.
#[test]
fn an_error_is_believed_only_from_this_flow_and_issuer() {
    let forged = "error=access_denied&error_description=Call%20%2B1-555-0100%20to%20unlock";
    assert!(matches!(
        receive(|_| forged.into()),
        Err(Error::MissingState)
    ));
    assert!(matches!(
        receive(|_| format!("{forged}&state=another")),
        Err(Error::StateMismatch)
    ));
    assert!(matches!(
        receive(|s| format!("{forged}&state={s}&iss=https://evil.example")),
        Err(Error::IssuerMismatch)
    ));
}

/// The texts of an error are the browser's to choose: one that looks like a
/// token, or is long, is not repeated in the error.
#[test]
fn error_texts_that_could_carry_a_token_are_not_repeated() {
    let token = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJl";
    let secret = "Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg";
    match receive(|s| format!("error={token}&error_description=leaked%20{secret}&state={s}")) {
        Err(error @ Error::Callback { .. }) => {
            for text in [error.to_string(), format!("{error:?}")] {
                assert!(!text.contains(token) && !text.contains(secret), "{text}");
            }
            let Error::Callback { error, description } = error else {
                unreachable!()
            };
            assert_eq!((error.as_str(), description), ("unreadable", None));
        }
        other => panic!("{other:?}"),
    }
    let long = "x".repeat(300);
    match receive(|s| format!("error=server_error&error_description={long}&state={s}")) {
        Err(Error::Callback { error, description }) => {
            assert_eq!((error.as_str(), description), ("server_error", None));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn missing_state_comes_before_missing_code() {
    assert!(matches!(receive(|_| "?".into()), Err(Error::MissingState)));
    assert!(matches!(
        receive(|_| "code=abc".into()),
        Err(Error::MissingState)
    ));
    assert!(matches!(
        receive(|_| "code=abc&state=".into()),
        Err(Error::MissingState)
    ));
    assert!(matches!(
        receive(|s| format!("code=&state={s}")),
        Err(Error::MissingCode)
    ));
    assert!(matches!(
        receive(|s| format!("state={s}")),
        Err(Error::MissingCode)
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

/// RFC 9207 §2.4: a client that knows its provider sends `iss` refuses a
/// callback without it.
#[test]
fn issuer_parameter_is_required_when_the_client_requires_it() {
    let client = Client::builder(ISSUER, "app")
        .host("https://app.example.com")
        .require_issuer_parameter(true)
        .build()
        .unwrap();
    let with = |query: &dyn Fn(&str) -> String| {
        let pending = client.authorize();
        let state = url::Url::parse(pending.url())
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        pending.receive(&query(&state)).map(drop)
    };
    assert!(matches!(
        with(&|s| format!("code=abc&state={s}")),
        Err(Error::MissingIssuer)
    ));
    assert!(with(&|s| format!("code=abc&state={s}&iss={ISSUER}")).is_ok());
    // Stored and read back, the flow state still requires it.
    let pending = client.authorize();
    let stored = serde_json::to_string(&pending).unwrap();
    let state = url::Url::parse(pending.url())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let restored: PendingAuth<Public> = serde_json::from_str(&stored).unwrap();
    assert!(matches!(
        restored.receive(&format!("code=abc&state={state}")),
        Err(Error::MissingIssuer)
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
    // A name the browser chose is not repeated in the error.
    let token_like = "eyJhbGciOiJFZERTQSJ9eyJzdWIiOiJhZGEifQ";
    match receive(|s| format!("code=abc&state={s}&{token_like}=1&{token_like}=2")) {
        Err(Error::DuplicateParameter(name)) => assert_eq!(name, "another"),
        other => panic!("{other:?}"),
    }
    // As many names as a URL holds, the first one repeated last: found
    // (by a set; a scan of the names before each would take quadratic time).
    let names: String = (0..20_000).map(|n| format!("&p{n}=1")).collect();
    match receive(|s| format!("code=abc&state={s}{names}&p0=2")) {
        Err(Error::DuplicateParameter(name)) => assert_eq!(name, "another"),
        other => panic!("{other:?}"),
    }
    assert!(receive(|s| format!("code=abc&state={s}{names}")).is_ok());
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

/// Plain http carries the secret, codes and keys in clear: allowed to this
/// machine, and to another host only behind the named opt-in.
#[test]
fn plain_http_is_allowed_to_this_machine_only() {
    let build = |issuer: &str| {
        Client::builder(issuer, "app")
            .host("https://app.example.com")
            .build()
    };
    for remote in [
        "http://auth.example.com",
        "http://10.0.0.7:8080",
        "http://[2001:db8::1]",
    ] {
        match build(remote) {
            Err(Error::Config(reason)) => assert!(reason.contains("plain http"), "{reason}"),
            other => panic!("{remote}: {other:?}"),
        }
        match verys_client::Verifier::builder(remote).build() {
            Err(Error::Config(reason)) => assert!(reason.contains("plain http"), "{reason}"),
            other => panic!("{remote}: {other:?}"),
        }
        let dangerous = Client::builder(remote, "app")
            .host("https://app.example.com")
            .danger_allow_http_to_any_host()
            .build();
        assert!(dangerous.is_ok(), "{remote}");
        let dangerous = verys_client::Verifier::builder(remote)
            .danger_allow_http_to_any_host()
            .build();
        assert!(dangerous.is_ok(), "{remote}");
    }
    for local in [
        "http://127.0.0.1:8080",
        "http://127.9.8.7",
        "http://localhost:3000",
        "http://LOCALHOST",
        "http://[::1]:8080",
        "https://auth.example.com",
    ] {
        assert!(build(local).is_ok(), "{local}");
        assert!(
            verys_client::Verifier::builder(local).build().is_ok(),
            "{local}"
        );
    }
}

/// An unreachable issuer on this machine: a client that sent anything
/// would fail with a connection error, not the error a test expects.
fn unreachable_issuer() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

/// A stored flow state that lost its verifier must not send the code
/// unbound: marked as a PKCE flow, it does not read back; marked as a flow
/// without PKCE, for a client that uses it, the code is refused before any
/// request.
#[test]
fn a_stored_state_that_lost_its_verifier_is_refused() {
    let issuer = unreachable_issuer();
    let client = Client::builder(&issuer, "app")
        .host("https://app.example.com")
        .client_secret("secret")
        .build()
        .unwrap();
    let pending = client.authorize();
    let state = url::Url::parse(pending.url())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let mut stored = serde_json::to_value(&pending).unwrap();
    assert_eq!(stored["pkce"], true);
    stored["code_verifier"] = serde_json::Value::Null;
    let refused = serde_json::from_value::<PendingAuth<Confidential>>(stored.clone());
    assert!(
        refused
            .unwrap_err()
            .to_string()
            .contains("flow state of a pkce flow lacks its pkce verifier")
    );
    stored["pkce"] = false.into();
    let downgraded: PendingAuth<Confidential> = serde_json::from_value(stored).unwrap();
    let received = downgraded
        .receive(&format!("code=abc&state={state}"))
        .unwrap();
    assert!(matches!(
        client.exchange_code(received),
        Err(Error::MissingPkceVerifier)
    ));

    // A public client always uses PKCE: its stored state without a verifier
    // is refused when read back, whatever `pkce` says or lacks.
    let public = Client::builder(&issuer, "app")
        .host("https://app.example.com")
        .build()
        .unwrap();
    let mut stored = serde_json::to_value(public.authorize()).unwrap();
    stored["code_verifier"] = serde_json::Value::Null;
    stored["pkce"] = false.into();
    let refused = serde_json::from_value::<PendingAuth<Public>>(stored).unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("flow state of a public client lacks its pkce verifier"),
        "{refused}"
    );

    // Without its state or its nonce a stored flow could not be checked.
    for emptied in ["state", "nonce"] {
        let mut stored = serde_json::to_value(public.authorize()).unwrap();
        stored[emptied] = serde_json::Value::from("");
        let refused = serde_json::from_value::<PendingAuth<Public>>(stored).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("stored flow state lacks its state or nonce"),
            "{emptied}: {refused}"
        );
    }
}

/// The client's own settings decide, whatever a stored flow state says: a
/// store that turned off the `iss` requirement, or a state made for another
/// redirect URI, is refused before any request.
#[test]
fn a_stored_state_cannot_turn_off_the_clients_own_checks() {
    let issuer = unreachable_issuer();
    let client = Client::builder(&issuer, "app")
        .host("https://app.example.com")
        .require_issuer_parameter(true)
        .build()
        .unwrap();
    let pending = client.authorize();
    let state = url::Url::parse(pending.url())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let mut stored = serde_json::to_value(&pending).unwrap();
    stored["require_issuer_parameter"] = false.into();
    let tampered: PendingAuth<Public> = serde_json::from_value(stored.clone()).unwrap();
    let received = tampered
        .receive(&format!("code=abc&state={state}"))
        .unwrap();
    assert!(matches!(
        client.exchange_code(received),
        Err(Error::MissingIssuer)
    ));
    let elsewhere = Client::builder(&issuer, "app")
        .redirect_uri("https://other.example.com/callback")
        .build()
        .unwrap();
    let restored: PendingAuth<Public> = serde_json::from_value(stored).unwrap();
    let received = restored
        .receive(&format!("code=abc&state={state}&iss={issuer}"))
        .unwrap();
    assert!(matches!(
        elsewhere.exchange_code(received),
        Err(Error::ClientMismatch)
    ));
}

/// A stored state of the other kind is refused, and the refusal repeats no
/// text of the store's but the kinds' own names.
#[test]
fn a_stored_state_of_another_kind_names_no_text_of_the_stores() {
    let (pending, _) = pending();
    let mut stored = serde_json::to_value(&pending).unwrap();
    for (kind, said) in [
        ("confidential", "confidential"),
        ("<script>alert(1)</script>", "unknown"),
    ] {
        stored["kind"] = kind.into();
        let error = serde_json::from_value::<PendingAuth<Public>>(stored.clone()).unwrap_err();
        let text = error.to_string();
        assert!(text.contains(&format!("of a {said} client")), "{text}");
        assert!(!text.contains("script"), "{text}");
    }
}

/// The stored form of a confidential client's flow with PKCE and `max_age`:
/// every field the authorization request sent, none of them empty.
fn stored_flow() -> serde_json::Value {
    let client = Client::builder(unreachable_issuer(), "app")
        .host("https://app.example.com")
        .client_secret("secret")
        .require_issuer_parameter(true)
        .build()
        .unwrap();
    let pending = client
        .authorization()
        .max_age(std::time::Duration::from_secs(300))
        .start();
    serde_json::to_value(&pending).unwrap()
}

/// The flow read back without `field`: refused, naming it. A session store
/// that dropped a field must not drop the check it carries.
fn refused_without(field: &str) {
    let mut stored = stored_flow();
    assert!(
        serde_json::from_value::<PendingAuth<Confidential>>(stored.clone()).is_ok(),
        "the complete state reads back"
    );
    assert!(
        stored.as_object_mut().unwrap().remove(field).is_some(),
        "the stored state has no {field}"
    );
    let refused = serde_json::from_value::<PendingAuth<Confidential>>(stored).unwrap_err();
    assert!(
        refused
            .to_string()
            .contains(&format!("missing field `{field}`")),
        "{field}: {refused}"
    );
}

/// Without `max_age`, the `auth_time` check of the callback's ID token
/// would be skipped.
#[test]
fn a_stored_state_without_max_age_is_refused() {
    let stored = stored_flow();
    assert_eq!(stored["max_age"], 300, "the request sent max_age");
    refused_without("max_age");
}

/// A flow without `max_age` stores it as `null`, which reads back.
#[test]
fn a_stored_state_with_a_null_max_age_reads_back() {
    let client = Client::builder(unreachable_issuer(), "app")
        .host("https://app.example.com")
        .build()
        .unwrap();
    let stored = serde_json::to_value(client.authorize()).unwrap();
    assert!(stored["max_age"].is_null());
    serde_json::from_value::<PendingAuth<Public>>(stored).unwrap();
}

#[test]
fn a_stored_state_without_require_issuer_parameter_is_refused() {
    refused_without("require_issuer_parameter");
}

/// Without `pkce`, a state whose verifier was lost too would read back as
/// a flow without PKCE.
#[test]
fn a_stored_state_without_pkce_is_refused() {
    refused_without("pkce");
}

#[test]
fn a_stored_state_without_code_verifier_is_refused() {
    refused_without("code_verifier");
}

#[test]
fn a_stored_state_without_its_nonce_is_refused() {
    refused_without("nonce");
}

#[test]
fn a_stored_state_without_its_state_is_refused() {
    refused_without("state");
}

#[test]
fn a_stored_state_without_its_issuer_is_refused() {
    refused_without("issuer");
}

#[test]
fn a_stored_state_without_its_client_id_is_refused() {
    refused_without("client_id");
}

#[test]
fn a_stored_state_without_its_redirect_uri_is_refused() {
    refused_without("redirect_uri");
}

#[test]
fn a_stored_state_without_its_url_is_refused() {
    refused_without("url");
}

#[test]
fn a_stored_state_without_its_kind_is_refused() {
    refused_without("kind");
}

/// A state that says it used no PKCE but holds a verifier was not written
/// by this crate: it is refused, not half believed.
#[test]
fn a_stored_state_with_a_verifier_but_no_pkce_is_refused() {
    let mut stored = stored_flow();
    stored["pkce"] = false.into();
    let refused = serde_json::from_value::<PendingAuth<Confidential>>(stored).unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("flow state without pkce holds a pkce verifier"),
        "{refused}"
    );
}
