//! Verys client (work in progress).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
