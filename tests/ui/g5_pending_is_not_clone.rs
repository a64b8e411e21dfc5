// Guarantee 5: a flow state cannot be duplicated to be used twice.
use verys_client::{Client, Public};

fn main() {
    let client: Client<Public> = Client::builder("https://auth.example", "app")
        .host("https://app.example")
        .build()
        .unwrap();
    let pending = client.authorize();
    let _copy = pending.clone();
}
