//! The whole Verys sign-in flow against the embedded Verys, step by step.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! In a real application the issuer is your Verys URL, the login happens in
//! the user's browser, and the callback arrives at your redirect URI; here the
//! embedded server plays Verys and logs its seeded user in without a browser.

use verys_client::{Client, Error};
use verys_testing::{VerysServer, seed};

fn main() -> Result<(), Error> {
    let verys = VerysServer::start();
    println!("1. embedded Verys listening at {}", verys.issuer());

    let client = Client::builder(verys.issuer(), seed::CONFIDENTIAL_CLIENT_ID)
        .redirect_uri(seed::REDIRECT_URI)
        .scopes(["openid", "profile", "email", "api.read", "github", "gitlab"])
        .client_secret(seed::CONFIDENTIAL_CLIENT_SECRET)
        .build()?;
    println!("2. built {client:?}");

    // Redirect the browser to this URL; keep `pending` (it is Serialize) in the session.
    let pending = client.authorize();
    println!("3. authorization url: {}", pending.url());

    // The browser logs in and comes back to the redirect URI with `code` and `state`.
    let callback = verys.login(pending.url());
    println!("4. browser came back to: {}", redact_code(&callback));

    // `receive` checks the callback (error, code, state) and consumes the pending flow.
    let received = pending.receive(&callback)?;
    println!("5. state matched");

    // The code grant, with the PKCE verifier kept in the flow, then every ID token check.
    let tokens = client.exchange_code(received)?;
    let claims = tokens.claims();
    println!(
        "6. signed in: sub={} name={:?} email={:?} roles={:?}",
        tokens.sub(),
        claims.name().unwrap_or("-"),
        claims.email().unwrap_or("-"),
        claims.roles()
    );
    println!("   access token (redacted): {}", tokens.access_token());
    println!("   expires at: {:?}", tokens.expires_at());

    // Refresh tokens rotate: persist the new one.
    let tokens = client.refresh(&tokens)?;
    println!(
        "7. refreshed: same user {}, new refresh token {}",
        tokens.sub(),
        tokens
            .refresh_token()
            .map_or("none".into(), ToString::to_string)
    );

    // RFC 8693: a token for another client's API.
    let exchanged = client.exchange_token(tokens.access_token(), seed::API_CLIENT_ID)?;
    println!(
        "8. token exchange: {} expiring at {:?}",
        exchanged.issued_token_type,
        exchanged.access_token.expires_at()
    );

    // Federated tokens that Verys keeps for the user.
    for external in client.external_tokens(tokens.access_token())? {
        println!(
            "9. external token {} from {} for {}",
            external.token_id, external.provider_id, external.subject
        );
    }

    // An upstream token that expired for good: send the browser to re-link it.
    match client.external_token(tokens.access_token(), seed::GITLAB_TOKEN_ID) {
        Err(Error::ExternalReauth { provider_id, .. }) => {
            println!("10. {provider_id} needs re-authorization, as expected");
        }
        other => println!("10. unexpected: {other:?}"),
    }
    println!("done: the flow completed");
    Ok(())
}

/// The authorization code is a credential: show the callback without it.
fn redact_code(callback: &str) -> String {
    match url::Url::parse(callback) {
        Ok(mut url) => {
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k == "code" {
                        "[REDACTED]".into()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            url.query_pairs_mut().clear().extend_pairs(pairs);
            url.to_string()
        }
        Err(_) => "[unparsable callback]".into(),
    }
}
