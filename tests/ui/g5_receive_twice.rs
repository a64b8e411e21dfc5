// Guarantee 5: a pending flow is consumed by its callback.
use verys_client::{Client, Public};

fn main() {
    let client: Client<Public> = Client::builder("https://auth.example", "app")
        .host("https://app.example")
        .build()
        .unwrap();
    let pending = client.authorize();
    let _first = pending.receive("code=a&state=s");
    let _second = pending.receive("code=b&state=s");
}
