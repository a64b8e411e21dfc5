//! The promises a [`TokenStore`] must keep, as a check a store's own tests
//! can run.

use std::time::{Duration, Instant};

use verys_client::store::{Entry, TokenStore};

/// The key [`check_token_store`] writes under.
const KEY: &str = "verys-client-store-check";

/// Checks that `store` keeps the promises [`TokenManager`](verys_client::TokenManager)
/// relies on to refresh once across replicas: a write needs the version it
/// read (so a stale writer cannot overwrite newer tokens) and keeps the
/// version it names, to the last digit; a removed entry is gone, for a
/// writer that expected it too; and a lease is one
/// owner's until that owner gives it back or it runs out. Run it against the
/// store you wrote (a SQL table, say) in its tests; it writes under the key
/// `verys-client-store-check`, which must not hold an entry or a lease, and
/// waits up to 10 s for a lease of 1 ms to run out.
///
/// ```
/// verys_testing::check_token_store(&verys_client::store::MemoryStore::new());
/// ```
///
/// # Panics
///
/// When the store breaks a promise (the message names it) or fails with a
/// [`StoreError`](verys_client::StoreError).
pub fn check_token_store<S: TokenStore + ?Sized>(store: &S) {
    let ok = |step: &str, result: Result<bool, verys_client::StoreError>| {
        result.unwrap_or_else(|error| panic!("{step}: {error}"))
    };
    let load = || {
        store
            .load(KEY)
            .unwrap_or_else(|error| panic!("load: {error}"))
    };

    assert_eq!(load(), None, "the check's key must start empty");
    // Past 2^53, where a version kept as a double loses its last digits.
    let first = (1 << 62) + 1;
    assert!(
        !ok("replace", store.replace(KEY, 1, 2, "a")),
        "a write expecting an entry that does not exist was made"
    );
    assert!(
        ok("replace", store.replace(KEY, 0, first, "a")),
        "the first write was refused"
    );
    assert!(
        !ok("replace", store.replace(KEY, 0, 1, "b")),
        "a writer expecting no entry overwrote one"
    );
    assert!(
        !ok("replace", store.replace(KEY, first - 1, first + 1, "b")),
        "a writer expecting another version overwrote the entry"
    );
    assert!(
        ok("replace", store.replace(KEY, first, first + 1, "b")),
        "a write at the current version was refused"
    );
    assert_eq!(
        load(),
        Some(Entry::new(first + 1, "b".into())),
        "the entry is not the last write, at the version it named"
    );
    store
        .remove(KEY)
        .unwrap_or_else(|error| panic!("remove: {error}"));
    assert_eq!(load(), None, "a removed entry was read back");
    assert!(
        !ok("replace", store.replace(KEY, first + 1, first + 2, "c")),
        "a writer expecting the removed entry wrote"
    );
    assert!(
        ok("replace", store.replace(KEY, 0, 5, "d")),
        "a removed entry's key could not be written anew"
    );
    store
        .remove(KEY)
        .unwrap_or_else(|error| panic!("remove: {error}"));
    store
        .remove(KEY)
        .unwrap_or_else(|error| panic!("remove of no entry: {error}"));

    let long = Duration::from_secs(60);
    assert!(
        ok("try_lease", store.try_lease(KEY, "a", long)),
        "a free lease was refused"
    );
    assert!(
        !ok("try_lease", store.try_lease(KEY, "b", long)),
        "a held lease was granted to another owner"
    );
    store
        .release(KEY, "b")
        .unwrap_or_else(|error| panic!("release: {error}"));
    assert!(
        !ok("try_lease", store.try_lease(KEY, "b", long)),
        "another owner released the lease"
    );
    store
        .release(KEY, "a")
        .unwrap_or_else(|error| panic!("release: {error}"));
    assert!(
        ok(
            "try_lease",
            store.try_lease(KEY, "b", Duration::from_millis(1))
        ),
        "a released lease was not free"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok("try_lease", store.try_lease(KEY, "c", long)) {
        assert!(Instant::now() < deadline, "a lease of 1 ms never ran out");
        std::thread::sleep(Duration::from_millis(5));
    }
    store
        .release(KEY, "c")
        .unwrap_or_else(|error| panic!("release: {error}"));
}
