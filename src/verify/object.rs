//! One JSON object of a token (its JOSE header or its claims), read with
//! serde_json in one pass, member by member.
//!
//! serde's derive keeps the last of two members with the same name and
//! skips unknown ones unchecked, so a token could say `"alg":"none"` and
//! `"alg":"EdDSA"` and leave open which one the rules saw. RFC 7515 §4 and
//! RFC 7519 §4 let a parser refuse repeated names; this reader refuses them
//! at the top level, where the rules read. Strings without escapes are
//! borrowed from the decoded segment.
//!
//! Failures are described without quoting the token: serde_json's messages
//! quote the values they could not read, and a value may be a secret.

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;

/// A JSON string, borrowed from the text unless it holds escapes.
#[derive(Deserialize)]
#[serde(transparent)]
pub(crate) struct Text<'a>(#[serde(borrow)] pub(crate) Cow<'a, str>);

/// A type filled from the members of one JSON object.
pub(crate) trait Members<'de>: Default {
    /// Reads (or skips) the value of the member `name`: `Some(n)` when
    /// `name` is the `n`th (below 64) of the names the type knows, `None`
    /// for any other name.
    fn member<A: MapAccess<'de>>(
        &mut self,
        name: Cow<'de, str>,
        value: Member<'_, 'de, A>,
    ) -> Result<Option<u32>, A::Error>;
}

/// The value of one member, to read or skip.
pub(crate) struct Member<'m, 'de, A: MapAccess<'de>> {
    map: &'m mut A,
    failure: &'m mut Option<Failure>,
    _de: PhantomData<&'de ()>,
}

impl<'de, A: MapAccess<'de>> Member<'_, 'de, A> {
    /// The value as `T`. `name` (a name the reader knows, never the
    /// token's own text) is what a failure will name.
    pub(crate) fn read<T: Deserialize<'de>>(self, name: &'static str) -> Result<T, A::Error> {
        self.read_seed(name, PhantomData)
    }

    /// The value as `seed` reads it, for a value read into memory the
    /// caller already holds.
    pub(crate) fn read_seed<S: DeserializeSeed<'de>>(
        self,
        name: &'static str,
        seed: S,
    ) -> Result<S::Value, A::Error> {
        *self.failure = Some(Failure::Member(name));
        let value = self.map.next_value_seed(seed)?;
        *self.failure = None;
        Ok(value)
    }

    /// The value as JSON, for a member kept without a type of its own.
    pub(crate) fn keep(self) -> Result<serde_json::Value, A::Error> {
        self.map.next_value()
    }

    /// Skips the value, which must still be valid JSON.
    pub(crate) fn skip(self) -> Result<(), A::Error> {
        self.map.next_value::<IgnoredAny>().map(drop)
    }
}

/// What went wrong, as far as the reader knows it; serde_json's own message
/// is never shown.
#[derive(Clone, Copy)]
enum Failure {
    Member(&'static str),
    Repeated,
}

/// Up to this many other names, a repeat is found by comparing with each
/// one seen; beyond it, by hashing, so that an object of many members costs
/// linear time.
const SCAN_LIMIT: usize = 16;

/// The names seen so far: a bit per known name, the others themselves.
#[derive(Default)]
struct Seen<'de> {
    known: u64,
    scanned: Vec<Cow<'de, str>>,
    hashed: HashSet<Cow<'de, str>>,
}

impl<'de> Seen<'de> {
    /// Whether `name` (the `index`th known name, if known) was seen before.
    fn repeats(&mut self, index: Option<u32>, name: Cow<'de, str>) -> bool {
        if let Some(index) = index {
            let bit = 1u64 << index;
            let repeated = self.known & bit != 0;
            self.known |= bit;
            return repeated;
        }
        if self.hashed.is_empty() && self.scanned.len() < SCAN_LIMIT {
            let repeated = self.scanned.contains(&name);
            self.scanned.push(name);
            return repeated;
        }
        self.hashed.extend(self.scanned.drain(..));
        !self.hashed.insert(name)
    }
}

/// Fills the members in place: the types are large, and a verification
/// should not copy them from frame to frame.
struct Seed<'f, T> {
    members: &'f mut T,
    failure: &'f mut Option<Failure>,
}

impl<'de, T: Members<'de>> DeserializeSeed<'de> for Seed<'_, T> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T: Members<'de>> Visitor<'de> for Seed<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a json object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let members = self.members;
        let mut seen = Seen::default();
        while let Some(Text(name)) = map.next_key::<Text<'de>>()? {
            let value = Member {
                map: &mut map,
                failure: self.failure,
                _de: PhantomData,
            };
            // A known name read twice has had its first value replaced,
            // and is refused all the same.
            let index = members.member(name.clone(), value)?;
            if seen.repeats(index, name) {
                *self.failure = Some(Failure::Repeated);
                return Err(de::Error::custom("repeated member name"));
            }
        }
        Ok(())
    }
}

/// Reads `bytes` as one JSON object into `members`; the reason it is not
/// one otherwise. The text must be UTF-8 as a whole (RFC 8259 §8.1),
/// skipped strings included.
pub(crate) fn read_into<'de, T: Members<'de>>(
    bytes: &'de [u8],
    members: &mut T,
) -> Result<(), String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not utf-8".to_owned())?;
    let mut failure = None;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let seed = Seed {
        members,
        failure: &mut failure,
    };
    seed.deserialize(&mut deserializer)
        .and_then(|()| deserializer.end())
        .map_err(|error| describe(&error, failure))
}

/// [`read_into`] a new `T`.
pub(crate) fn read<'de, T: Members<'de>>(bytes: &'de [u8]) -> Result<T, String> {
    let mut members = T::default();
    read_into(bytes, &mut members).map(|()| members)
}

fn describe(error: &serde_json::Error, failure: Option<Failure>) -> String {
    match (error.classify(), failure) {
        (serde_json::error::Category::Data, Some(Failure::Member(name))) => {
            format!("the {name} member has the wrong type")
        }
        (serde_json::error::Category::Data, Some(Failure::Repeated)) => {
            format!("a member name appears twice (column {})", error.column())
        }
        (serde_json::error::Category::Data, None) => "not a json object".to_owned(),
        _ => crate::error::json_reason(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default, Debug)]
    struct Sub<'a> {
        sub: Option<Cow<'a, str>>,
        exp: Option<u64>,
    }

    impl<'de> Members<'de> for Sub<'de> {
        fn member<A: MapAccess<'de>>(
            &mut self,
            name: Cow<'de, str>,
            value: Member<'_, 'de, A>,
        ) -> Result<Option<u32>, A::Error> {
            Ok(match &*name {
                "sub" => {
                    self.sub = Some(value.read::<Text<'de>>("sub")?.0);
                    Some(0)
                }
                "exp" => {
                    self.exp = Some(value.read("exp")?);
                    Some(1)
                }
                _ => {
                    value.skip()?;
                    None
                }
            })
        }
    }

    #[test]
    fn strings_without_escapes_are_borrowed() {
        let plain: Sub<'_> = read(br#"{"sub":"ada","exp":7,"x":[1,{"y":null}]}"#).unwrap();
        assert!(matches!(plain.sub, Some(Cow::Borrowed("ada"))));
        assert_eq!(plain.exp, Some(7));
        let escaped: Sub<'_> = read(br#"{"sub":"a\u0064a"}"#).unwrap();
        assert!(matches!(escaped.sub, Some(Cow::Owned(ref s)) if s == "ada"));
    }

    #[test]
    fn repeated_names_are_refused_however_many_members_there_are() {
        for count in [0, 3, SCAN_LIMIT - 1, SCAN_LIMIT, SCAN_LIMIT + 5, 200] {
            let mut text: String = (0..count).map(|i| format!("\"m{i}\":1,")).collect();
            text = format!("{{{text}\"sub\":\"a\",\"sub\":\"b\"}}");
            let error = read::<Sub<'_>>(text.as_bytes()).unwrap_err();
            assert!(error.contains("twice"), "{count}: {error}");
            // An escape spells the same name another way.
            let escaped = text.replacen("\"sub\":\"b\"", "\"s\\u0075b\":\"b\"", 1);
            let error = read::<Sub<'_>>(escaped.as_bytes()).unwrap_err();
            assert!(error.contains("twice"), "{count}: {error}");
            let distinct = text.replacen("\"sub\":\"b\"", "\"other\":\"b\"", 1);
            assert!(read::<Sub<'_>>(distinct.as_bytes()).is_ok(), "{count}");
            // A name the type does not know, repeated after all the others:
            // found whether the names were scanned or hashed by then.
            if count > 0 {
                let unknown = format!("{},\"m0\":0}}", distinct.trim_end_matches('}'));
                let error = read::<Sub<'_>>(unknown.as_bytes()).unwrap_err();
                assert!(error.contains("twice"), "{count}: {error}");
            }
        }
    }

    /// A header is read before its signature is checked: a flood of names
    /// must cost linear time, so past the scan limit they are hashed.
    #[test]
    fn beyond_the_scan_limit_names_are_hashed() {
        let names: Vec<String> = (0..=SCAN_LIMIT + 1).map(|i| format!("m{i}")).collect();
        let mut seen = Seen::default();
        for (i, name) in names.iter().enumerate() {
            assert!(!seen.repeats(None, Cow::Borrowed(name)), "{i}");
            assert_eq!(seen.hashed.is_empty(), i < SCAN_LIMIT, "{i}");
        }
        assert!(seen.repeats(None, Cow::Borrowed("m0")));
        assert!(seen.repeats(None, Cow::Borrowed("m17")));
    }

    #[test]
    fn failures_name_the_member_and_quote_no_value() {
        let secret = "eyJ-a-token-in-the-wrong-place";
        let cases = [
            (
                format!(r#"{{"exp":"{secret}"}}"#),
                "the exp member has the wrong type",
            ),
            (format!(r#"["{secret}"]"#), "not a json object"),
            (format!(r#""{secret}""#), "not a json object"),
            (format!(r#"{{"sub":"{secret}"#), "not json"),
            (format!(r#"{{"sub":"{secret}"}} x"#), "not json"),
            (
                format!(r#"{{"exp":"x\"{secret}"}}"#),
                "the exp member has the wrong type",
            ),
            (
                format!(r#"{{"sub":"{secret}","sub":"{secret}"}}"#),
                "a member name appears twice",
            ),
        ];
        for (text, expected) in cases {
            let error = read::<Sub<'_>>(text.as_bytes()).unwrap_err();
            assert!(error.starts_with(expected), "{text}: {error}");
            assert!(!error.contains(secret), "{error}");
        }
    }

    #[test]
    fn the_whole_text_must_be_utf8() {
        assert_eq!(
            read::<Sub<'_>>(b"{\"x\":\"\xff\"}").unwrap_err(),
            "not utf-8"
        );
    }
}
