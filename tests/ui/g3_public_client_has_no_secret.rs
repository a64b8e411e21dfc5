// Guarantee 3: a public client has no secret to send or choose a method for.
use verys_client::{ClientAuthMethod, Client};

fn main() {
    let _client = Client::builder("https://auth.example", "app")
        .host("https://app.example")
        .auth_method(ClientAuthMethod::ClientSecretBasic)
        .build();
}
