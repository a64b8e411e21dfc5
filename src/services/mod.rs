//! The Verys services beyond signing in: userinfo, federation, logout and
//! revocation. Each builds its requests and reads its answers
//! for the I/O-free core; the clients only carry them.

pub(crate) mod federation;
pub(crate) mod logout;
pub(crate) mod revocation;
pub(crate) mod userinfo;
