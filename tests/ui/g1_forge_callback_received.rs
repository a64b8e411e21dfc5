// Guarantee 1: a CallbackReceived cannot be built by hand.
use verys_client::{CallbackReceived, Public};

fn main() {
    let _received: CallbackReceived<Public> = CallbackReceived {
        code: "stolen".into(),
    };
}
