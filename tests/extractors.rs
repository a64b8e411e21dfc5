//! The axum extractors of a resource server (`verys_client::axum`) against
//! tokens the embedded Verys signed: a route's scope is granted by that
//! exact name alone, never by a name that begins or ends like it.

use std::marker::PhantomData;

use axum_core::extract::FromRequestParts;
use axum_core::response::IntoResponse;
use http::{StatusCode, header};
use verys_client::axum::{Rejection, Scope, Scoped};
use verys_client::{Async, Verifier};
use verys_testing::{VerysServer, seed};

/// The scope the route under test requires.
struct NotesRead;

impl Scope for NotesRead {
    const NAME: &'static str = "notes.read";
}

/// Runs `Scoped<NotesRead>` on a request bearing a token granted `scopes`.
async fn extract(
    server: &VerysServer,
    verifier: &Verifier<Async>,
    scopes: &[&str],
) -> Result<Scoped<NotesRead>, Rejection> {
    let token = server.issue_access_token(seed::USER_SUB, &server.issuer(), scopes, 300);
    let (mut parts, ()) = http::Request::builder()
        .uri("/notes")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(())
        .unwrap()
        .into_parts();
    Scoped::<NotesRead>::from_request_parts(&mut parts, verifier).await
}

fn verifier(server: &VerysServer) -> Verifier<Async> {
    Verifier::builder(server.issuer()).build_async().unwrap()
}

/// A refusal for want of `notes.read`: the typed rejection, and the 403
/// with RFC 6750's `insufficient_scope` challenge naming it.
fn assert_insufficient_scope(result: Result<Scoped<NotesRead>, Rejection>, scopes: &[&str]) {
    let rejection = match result {
        Err(rejection) => rejection,
        Ok(Scoped(claims, PhantomData)) => {
            panic!("{scopes:?} passed for notes.read: {:?}", claims.scopes())
        }
    };
    assert!(
        matches!(rejection, Rejection::InsufficientScope("notes.read")),
        "{scopes:?}: {rejection:?}"
    );
    let response = rejection.into_response();
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{scopes:?}");
    assert_eq!(
        response.headers()[header::WWW_AUTHENTICATE],
        "Bearer error=\"insufficient_scope\", scope=\"notes.read\"",
        "{scopes:?}"
    );
}

/// Names that begin with `notes.read`, that it begins with, or that end
/// with it, are other scopes: each is refused with a 403.
#[tokio::test]
async fn a_scope_that_only_begins_or_ends_like_the_required_one_is_refused() {
    let server = VerysServer::start();
    let verifier = verifier(&server);
    let lookalikes: [&[&str]; 9] = [
        &["notes.readwrite"],
        &["notes"],
        &["notes.read.x"],
        &["notes.rea"],
        &["x.notes.read"],
        &["xnotes.read"],
        &["NOTES.READ"],
        &[],
        &["notes.readwrite", "x.notes.read", "notes", "openid"],
    ];
    for scopes in lookalikes {
        assert_insufficient_scope(extract(&server, &verifier, scopes).await, scopes);
    }
}

/// The exact name is accepted, alone or among other scopes, lookalikes
/// included.
#[tokio::test]
async fn the_exact_scope_is_accepted_alone_or_among_others() {
    let server = VerysServer::start();
    let verifier = verifier(&server);
    let granted: [&[&str]; 3] = [
        &["notes.read"],
        &["openid", "notes.read", "api.read"],
        &["notes.readwrite", "x.notes.read", "notes.read", "notes"],
    ];
    for scopes in granted {
        let Scoped(claims, PhantomData) = extract(&server, &verifier, scopes)
            .await
            .unwrap_or_else(|rejection| panic!("{scopes:?} refused: {rejection:?}"));
        assert_eq!(claims.sub(), seed::USER_SUB);
        assert_eq!(claims.scopes(), scopes);
    }
}
