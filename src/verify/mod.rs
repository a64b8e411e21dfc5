//! Token verification, without I/O: compact JWS and Ed25519 signatures, the
//! JWKS and its cache, and the claim rules of ID tokens and access tokens.

pub(crate) mod access;
pub(crate) mod base64url;
pub(crate) mod claims;
#[cfg(any(test, fuzzing))]
pub(crate) mod differential;
pub(crate) mod json;
pub(crate) mod jwks;
pub(crate) mod jwt;
