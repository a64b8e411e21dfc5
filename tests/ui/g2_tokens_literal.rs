// Guarantee 2: Tokens have no public constructor.
use verys_client::Tokens;

fn main() {
    let _tokens = Tokens {
        id_token: String::new(),
    };
}
