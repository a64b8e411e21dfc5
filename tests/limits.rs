//! The response size limit at its boundary: on every back-channel endpoint,
//! an answer whose body is exactly `max_response_bytes` long is read and one
//! byte more is refused as `TransportErrorKind::BodyTooLarge`, through the
//! crate's own HTTP stack (ureq for the blocking client, reqwest for the
//! async one) and through the seam (a user's `SyncHttpClient` or
//! `AsyncHttpClient` that reads every body whole, leaving the limit to the
//! crate).
//!
//! The embedded Verys pads its real answers with trailing spaces to the byte
//! (`VerysServer::pad_responses`); no body here is compressed, so the limit
//! counts exactly the bytes sent.

mod common;

use std::sync::Arc;

use ureq::RequestExt as _;

use common::{Canned, Flavor, confidential_builder, sign_in};
use verys_client::{
    Client, Confidential, Error, TransportError, TransportErrorKind, Verifier, VerifierBuilder,
};
use verys_testing::{VerysServer, seed};

scenarios!(
    discovery_of_exactly_the_limit_is_read_and_one_byte_more_refused,
    a_key_set_of_exactly_the_limit_is_read_and_one_byte_more_refused,
    a_code_grant_answer_of_exactly_the_limit_is_read_and_one_byte_more_refused,
    a_refresh_answer_of_exactly_the_limit_is_read_and_one_byte_more_refused,
    userinfo_of_exactly_the_limit_is_read_and_one_byte_more_refused,
    a_revocation_answer_of_exactly_the_limit_is_read_and_one_byte_more_refused,
    federation_answers_of_exactly_the_limit_are_read_and_one_byte_more_refused,
    a_verifiers_key_set_of_exactly_the_default_limit_is_read_and_one_byte_more_refused,
    a_verifiers_key_set_of_exactly_its_limit_is_read_and_one_byte_more_refused,
);

/// The client's `max_response_bytes` in these tests: larger than any real
/// answer of the embedded Verys, so that every one can be padded to it.
const LIMIT: usize = 8 * 1024;

/// `Limits::default().max_response_bytes`, which a `Verifier` keeps unless
/// told otherwise.
const DEFAULT_LIMIT: usize = 1024 * 1024;

/// The HTTP stacks a client reads answers with.
#[derive(Debug, Clone, Copy)]
enum Stack {
    /// The crate's own: ureq (blocking) or reqwest (async), which stop
    /// reading at the limit.
    Own,
    /// A user's client through the seam, which reads every body whole and
    /// leaves the limit to the crate.
    Seam,
}

const STACKS: [Stack; 2] = [Stack::Own, Stack::Seam];

/// A seam client that forwards every request over ureq, with no limit of
/// its own, no redirects and every status read.
fn forwarding() -> Canned {
    let agent: ureq::Agent = ureq::Agent::config_builder().proxy(None).build().into();
    Arc::new(move |request: http::Request<Vec<u8>>| {
        let failed =
            |error: ureq::Error| TransportError::new(TransportErrorKind::Other, error.to_string());
        let mut response = request
            .with_agent(&agent)
            .configure()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .run()
            .map_err(failed)?;
        let body = response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .map_err(failed)?;
        let (parts, _) = response.into_parts();
        Ok(http::Response::from_parts(parts, body))
    })
}

/// The confidential client of `server` reading answers of at most `LIMIT`
/// bytes with `stack`.
fn builder<F: Flavor>(
    server: &VerysServer,
    stack: Stack,
) -> verys_client::ClientBuilder<Confidential> {
    let builder = confidential_builder(server).max_response_bytes(LIMIT as u64);
    match stack {
        Stack::Own => builder,
        Stack::Seam => F::canned(builder, forwarding()),
    }
}

fn client<F: Flavor>(server: &VerysServer, stack: Stack) -> Client<Confidential, F::T> {
    F::build(builder::<F>(server, stack)).unwrap()
}

fn verifier<F: Flavor>(server: &VerysServer, stack: Stack) -> Verifier<F::T> {
    verifier_of::<F>(Verifier::builder(server.issuer()), stack)
}

fn verifier_of<F: Flavor>(builder: VerifierBuilder, stack: Stack) -> Verifier<F::T> {
    let builder = match stack {
        Stack::Own => builder,
        Stack::Seam => F::canned_verifier(builder, forwarding()),
    };
    F::build_verifier(builder).unwrap()
}

/// The call was refused for its answer's size, and for nothing else.
#[track_caller]
fn assert_too_large<T: std::fmt::Debug>(result: Result<T, Error>, stack: Stack) {
    match result {
        Err(Error::Transport(error)) => {
            assert_eq!(
                error.kind,
                TransportErrorKind::BodyTooLarge,
                "{stack:?}: {error}"
            );
        }
        other => panic!("{stack:?}: expected a body too large, got {other:?}"),
    }
}

/// Runs `check` with answers to `path` padded to `length` bytes.
fn padded<T>(server: &VerysServer, path: &str, length: usize, check: impl FnOnce() -> T) -> T {
    server.pad_responses(path, Some(length));
    let outcome = check();
    server.pad_responses(path, None);
    outcome
}

fn discovery_of_exactly_the_limit_is_read_and_one_byte_more_refused<F: Flavor>() {
    const PATH: &str = "/.well-known/openid-configuration";
    for stack in STACKS {
        let server = VerysServer::start();
        padded(&server, PATH, LIMIT, || {
            let client = F::build_discovered(builder::<F>(&server, stack))
                .unwrap_or_else(|error| panic!("{stack:?}: {error:?}"));
            assert_eq!(client.issuer(), server.issuer());
        });
        padded(&server, PATH, LIMIT + 1, || {
            assert_too_large(F::build_discovered(builder::<F>(&server, stack)), stack);
        });
        assert_eq!(server.requests(PATH), 2, "{stack:?}");
    }
}

fn a_key_set_of_exactly_the_limit_is_read_and_one_byte_more_refused<F: Flavor>() {
    const PATH: &str = "/.well-known/jwks.json";
    for stack in STACKS {
        let server = VerysServer::start();
        // A new client for each, so that each fetches the key set.
        padded(&server, PATH, LIMIT, || {
            let client = client::<F>(&server, stack);
            assert_eq!(sign_in::<F, _>(&server, &client).sub(), seed::USER_SUB);
        });
        padded(&server, PATH, LIMIT + 1, || {
            let client = client::<F>(&server, stack);
            let received = common::callback(&server, &client);
            assert_too_large(F::exchange_code(&client, received), stack);
        });
        assert_eq!(server.jwks_fetches(), 2, "{stack:?}");
    }
}

fn a_code_grant_answer_of_exactly_the_limit_is_read_and_one_byte_more_refused<F: Flavor>() {
    for stack in STACKS {
        let server = VerysServer::start();
        let client = client::<F>(&server, stack);
        padded(&server, "/token", LIMIT, || {
            assert_eq!(sign_in::<F, _>(&server, &client).sub(), seed::USER_SUB);
        });
        padded(&server, "/token", LIMIT + 1, || {
            let received = common::callback(&server, &client);
            assert_too_large(F::exchange_code(&client, received), stack);
        });
        assert_eq!(server.token_requests("authorization_code"), 2, "{stack:?}");
    }
}

fn a_refresh_answer_of_exactly_the_limit_is_read_and_one_byte_more_refused<F: Flavor>() {
    for stack in STACKS {
        let server = VerysServer::start();
        let client = client::<F>(&server, stack);
        let tokens = sign_in::<F, _>(&server, &client);
        let refreshed = padded(&server, "/token", LIMIT, || {
            F::refresh(&client, &tokens).unwrap_or_else(|error| panic!("{stack:?}: {error:?}"))
        });
        assert_eq!(refreshed.sub(), seed::USER_SUB);
        padded(&server, "/token", LIMIT + 1, || {
            assert_too_large(F::refresh(&client, &refreshed), stack);
        });
        assert_eq!(server.token_requests("refresh_token"), 2, "{stack:?}");
    }
}

fn userinfo_of_exactly_the_limit_is_read_and_one_byte_more_refused<F: Flavor>() {
    for stack in STACKS {
        let server = VerysServer::start();
        let client = client::<F>(&server, stack);
        let tokens = sign_in::<F, _>(&server, &client);
        padded(&server, "/userinfo", LIMIT, || {
            let info = F::userinfo(&client, &tokens)
                .unwrap_or_else(|error| panic!("{stack:?}: {error:?}"));
            assert_eq!(info.sub, seed::USER_SUB);
        });
        padded(&server, "/userinfo", LIMIT + 1, || {
            assert_too_large(F::userinfo(&client, &tokens), stack);
        });
        assert_eq!(server.requests("/userinfo"), 2, "{stack:?}");
    }
}

fn a_revocation_answer_of_exactly_the_limit_is_read_and_one_byte_more_refused<F: Flavor>() {
    const PATH: &str = "/token/revoke";
    for stack in STACKS {
        let server = VerysServer::start();
        let client = client::<F>(&server, stack);
        let first = sign_in::<F, _>(&server, &client);
        let second = sign_in::<F, _>(&server, &client);
        padded(&server, PATH, LIMIT, || {
            F::revoke(&client, first.refresh_token().unwrap())
                .unwrap_or_else(|error| panic!("{stack:?}: {error:?}"));
        });
        padded(&server, PATH, LIMIT + 1, || {
            assert_too_large(F::revoke(&client, second.refresh_token().unwrap()), stack);
        });
        assert_eq!(server.requests(PATH), 2, "{stack:?}");
    }
}

/// The list, one token, and the deletion's answer.
fn federation_answers_of_exactly_the_limit_are_read_and_one_byte_more_refused<F: Flavor>() {
    const LIST: &str = "/federation/tokens";
    for stack in STACKS {
        let server = VerysServer::start();
        let client = client::<F>(&server, stack);
        let tokens = sign_in::<F, _>(&server, &client);
        let access = tokens.access_token();

        padded(&server, LIST, LIMIT, || {
            let listed = F::external_tokens(&client, access)
                .unwrap_or_else(|error| panic!("{stack:?}: {error:?}"));
            assert!(!listed.is_empty(), "{stack:?}");
        });
        padded(&server, LIST, LIMIT + 1, || {
            assert_too_large(F::external_tokens(&client, access), stack);
        });

        let github = format!("/federation/{}", seed::GITHUB_TOKEN_ID);
        padded(&server, &github, LIMIT, || {
            F::external_token(&client, access, seed::GITHUB_TOKEN_ID)
                .unwrap_or_else(|error| panic!("{stack:?}: {error:?}"));
        });
        padded(&server, &github, LIMIT + 1, || {
            assert_too_large(
                F::external_token(&client, access, seed::GITHUB_TOKEN_ID),
                stack,
            );
        });

        // Each deletion goes through (the server deletes before it
        // answers), so each deletes a token of its own.
        padded(&server, &github, LIMIT, || {
            F::delete_external_token(&client, access, seed::GITHUB_TOKEN_ID)
                .unwrap_or_else(|error| panic!("{stack:?}: {error:?}"));
        });
        let gitlab = format!("/federation/{}", seed::GITLAB_TOKEN_ID);
        padded(&server, &gitlab, LIMIT + 1, || {
            assert_too_large(
                F::delete_external_token(&client, access, seed::GITLAB_TOKEN_ID),
                stack,
            );
        });
        assert_eq!(server.requests(LIST), 2, "{stack:?}");
        assert_eq!(server.requests(&github), 3, "{stack:?}");
        assert_eq!(server.requests(&gitlab), 1, "{stack:?}");
    }
}

/// A `Verifier` left at the default limit, 1 MiB.
fn a_verifiers_key_set_of_exactly_the_default_limit_is_read_and_one_byte_more_refused<F: Flavor>() {
    const PATH: &str = "/.well-known/jwks.json";
    for stack in STACKS {
        let server = VerysServer::start();
        let token = server.issue_access_token(seed::USER_SUB, &server.issuer(), &["openid"], 300);
        padded(&server, PATH, DEFAULT_LIMIT, || {
            let claims = F::verify(&verifier::<F>(&server, stack), &token)
                .unwrap_or_else(|error| panic!("{stack:?}: {error:?}"));
            assert_eq!(claims.sub(), seed::USER_SUB);
        });
        padded(&server, PATH, DEFAULT_LIMIT + 1, || {
            assert_too_large(F::verify(&verifier::<F>(&server, stack), &token), stack);
        });
        assert_eq!(server.jwks_fetches(), 2, "{stack:?}");
    }
}

/// A `Verifier` given a limit of its own (the setter the builders share).
fn a_verifiers_key_set_of_exactly_its_limit_is_read_and_one_byte_more_refused<F: Flavor>() {
    const PATH: &str = "/.well-known/jwks.json";
    for stack in STACKS {
        let server = VerysServer::start();
        let token = server.issue_access_token(seed::USER_SUB, &server.issuer(), &["openid"], 300);
        let verifier = || {
            let builder = Verifier::builder(server.issuer()).max_response_bytes(LIMIT as u64);
            verifier_of::<F>(builder, stack)
        };
        padded(&server, PATH, LIMIT, || {
            let claims = F::verify(&verifier(), &token)
                .unwrap_or_else(|error| panic!("{stack:?}: {error:?}"));
            assert_eq!(claims.sub(), seed::USER_SUB);
        });
        padded(&server, PATH, LIMIT + 1, || {
            assert_too_large(F::verify(&verifier(), &token), stack);
        });
        assert_eq!(server.jwks_fetches(), 2, "{stack:?}");
    }
}
