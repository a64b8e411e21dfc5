//! The hot path's hand-written readers side by side with the libraries
//! they replace there: the JSON object reader with serde_json, the
//! base64url decoder with `base64`. Property tests (`src/properties.rs`,
//! `src/base64url.rs`) and fuzz targets (`fuzz/`) feed them inputs; any
//! disagreement panics with both verdicts.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use std::fmt;

use crate::verify::json::{FromObject, Object};

/// The JSON reader reads `text` (every member skipped) exactly when
/// serde_json reads it as an object whose top-level member names are
/// unique. Two differences are by design and not compared: serde_json
/// refuses numbers beyond the range of `f64`, whose grammar alone the reader
/// checks, and the two nesting limits (the reader's [`crate::verify::json::MAX_DEPTH`]
/// below the top, serde_json's 128 in all) differ by a level or two.
pub(crate) fn compare_json(text: &str) {
    if nesting(text) > 120 {
        return;
    }
    let verdict = match serde_json::from_str::<serde_json::Value>(text) {
        Err(error) if error.to_string().contains("number out of range") => return,
        Ok(serde_json::Value::Object(_)) => serde_json::from_str::<Names>(text).map(|names| {
            let Names(mut names) = names;
            let count = names.len();
            names.sort_unstable();
            names.dedup();
            names.len() == count
        }),
        Ok(_) => Ok(false),
        Err(error) => Err(error),
    };
    let ours = crate::verify::json::read::<Skipped>(text);
    assert_eq!(
        ours.is_ok(),
        verdict.as_ref().is_ok_and(|unique| *unique),
        "{text:?}: ours {:?}, serde_json {verdict:?}",
        ours.err(),
    );
}

/// The base64url decoder and `base64`'s `URL_SAFE_NO_PAD.decode_slice`
/// give the same verdict and the same bytes; the decoder writes nothing past
/// them, decodes as many as `decoded_len` predicts, and refuses an output
/// one byte short rather than overrun it.
pub(crate) fn compare_base64url(data: &[u8]) {
    let mut theirs = vec![0xAA; data.len() + 8];
    let mut ours = vec![0x55; data.len() + 8];
    match (
        URL_SAFE_NO_PAD.decode_slice(data, &mut theirs),
        crate::verify::base64url::decode(data, &mut ours),
    ) {
        (Ok(n), Ok(m)) => {
            assert_eq!(n, m, "{data:?}");
            assert_eq!(theirs[..n], ours[..n], "{data:?}");
            assert!(ours[n..].iter().all(|&b| b == 0x55), "{data:?}");
            assert_eq!(
                crate::verify::base64url::decoded_len(data),
                Some(n),
                "{data:?}"
            );
            if n > 0 {
                let mut short = vec![0; n - 1];
                assert!(
                    crate::verify::base64url::decode(data, &mut short).is_err(),
                    "{data:?}"
                );
            }
        }
        (Err(_), Err(_)) => {}
        (theirs, ours) => panic!("{data:?}: base64 {theirs:?}, ours {ours:?}"),
    }
}

/// Every member skipped: the JSON reader's verdict on the text alone.
pub(crate) struct Skipped;

impl FromObject for Skipped {
    fn from_object(mut object: Object<'_>) -> Result<Self, crate::verify::json::Error> {
        while object.next_name()?.is_some() {
            object.skip()?;
        }
        Ok(Skipped)
    }
}

/// The top-level member names of a JSON object, repeats included, which
/// serde_json's `Value` would have merged (the last value wins).
struct Names(Vec<String>);

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NamesVisitor;
        impl<'de> Visitor<'de> for NamesVisitor {
            type Value = Names;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Names, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    map.next_value::<IgnoredAny>()?;
                    names.push(name);
                }
                Ok(Names(names))
            }
        }
        deserializer.deserialize_map(NamesVisitor)
    }
}

/// The deepest nesting of brackets outside strings: exact up to the first
/// syntax error, which is as far as either parser reads, so it tells which
/// inputs come near either nesting limit.
fn nesting(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0);
    let (mut in_string, mut escaped) = (false, false);
    for b in text.bytes() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if in_string => escaped = true,
            b'"' => in_string = !in_string,
            b'{' | b'[' if !in_string => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' if !in_string => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}
