// Guarantee 5: a received callback is consumed by the code exchange.
use verys_client::{Client, Public};

fn main() {
    let client: Client<Public> = Client::builder("https://auth.example", "app")
        .host("https://app.example")
        .build()
        .unwrap();
    let received = client.authorize().receive("code=a&state=s").unwrap();
    let _first = client.exchange_code(received);
    let _second = client.exchange_code(received);
}
