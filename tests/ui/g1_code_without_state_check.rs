// Guarantee 1: no code exchange without a callback whose state was checked.
use verys_client::{Client, Public};

fn main() {
    let client: Client<Public> = Client::builder("https://auth.example", "app")
        .host("https://app.example")
        .build()
        .unwrap();
    let pending = client.authorize();
    // A pending flow is not a received callback.
    let _ = client.exchange_code(pending);
}
