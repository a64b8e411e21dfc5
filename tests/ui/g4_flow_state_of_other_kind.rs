// Guarantee 4: a public client's flow state cannot be finished by a
// confidential client.
use verys_client::{Client, Confidential, Public};

fn main() {
    let public: Client<Public> = Client::builder("https://auth.example", "app")
        .host("https://app.example")
        .build()
        .unwrap();
    let confidential: Client<Confidential> = Client::builder("https://auth.example", "web")
        .host("https://app.example")
        .client_secret("s3cret")
        .build()
        .unwrap();
    let received = public.authorize().receive("code=c&state=s").unwrap();
    let _ = confidential.exchange_code(received);
}
