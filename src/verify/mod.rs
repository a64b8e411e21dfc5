//! Token verification, without I/O: compact JWS and Ed25519 signatures
//! ([`jwt`]), the keys of a JWKS ([`keys`]), the claims and rules every
//! token kind shares ([`claims`]), and those of ID tokens ([`id_token`]) and
//! access tokens ([`access`]). Headers and claims are read once each, by
//! serde_json ([`object`]), the claims' text into one buffer ([`names`]).

pub(crate) mod access;
pub(crate) mod claims;
pub(crate) mod id_token;
pub(crate) mod jwt;
pub(crate) mod keys;
pub(crate) mod names;
pub(crate) mod object;
#[cfg(test)]
mod vectors;
