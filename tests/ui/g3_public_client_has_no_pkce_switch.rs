// Guarantee 3: a public client cannot turn PKCE off.
use verys_client::Client;

fn main() {
    let _client = Client::builder("https://auth.example", "app")
        .host("https://app.example")
        .pkce(false)
        .build();
}
