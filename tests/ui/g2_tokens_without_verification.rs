// Guarantee 2: Tokens come only from verification: no Deserialize.
use verys_client::Tokens;

fn main() {
    let _tokens: Tokens = serde_json::from_str("{}").unwrap();
}
