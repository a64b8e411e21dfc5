//! The load and fault harness of verys-client, run by hand (`cargo run --release -p verys-load
//! -- api|faults|fleet`, see `load/README.md`) and, short and bounded, by the tests in
//! `load/tests`.
//!
//! - [`api`]: the protected API of `examples/protected_api.rs` under concurrent keep-alive
//!   clients, beside the same server's unauthenticated route and a route behind a
//!   `jsonwebtoken` extractor written as that crate's documentation shows.
//! - [`faults`]: the same API under load while the embedded Verys rotates its key and its JWKS
//!   fails, counting what was refused, accepted and fetched.
//! - [`fleet`]: processes of tasks sharing sign-ins through a real `redis-server`, while a
//!   replica is killed holding a lease, Redis restarts and a sign-in is replaced, counting
//!   refreshes at the embedded Verys.
//!
//! Every server is started by the harness on 127.0.0.1 and stopped by it (Redis by its PID);
//! every run is bounded in requests or time.

pub mod api;
mod client;
pub mod faults;
pub mod fleet;
pub mod redis;
mod stats;

pub use stats::Latencies;
