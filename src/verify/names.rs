//! The text claims of a verified token, kept in one buffer: a token's
//! issuer, subject, audiences, roles and scopes are a dozen short strings,
//! and owning each in a `String` of its own (and each list in a `Vec`) cost
//! more than the rest of the claims' work after the signature. They are
//! appended to one [`Lists`] as serde_json reads them ([`Append`]) and handed
//! out as [`Names`], a borrowed view.

use serde::Deserialize as _;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;
use std::iter::FusedIterator;

use crate::verify::object::{Member, Text};

/// Where one name lies in the text: byte offsets.
type Span = (usize, usize);

/// A list of names in a [`Lists`]: indices into its spans.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub(crate) struct List {
    start: usize,
    end: usize,
}

/// How much unused room [`Lists::shrink`] leaves alone: a Verys token's
/// unread JSON (quotes, names, numbers) is about this much.
const SLACK: usize = 512;

/// The names of one token, one buffer for their text and one for where
/// each lies.
#[derive(Default)]
pub(crate) struct Lists {
    text: String,
    spans: Vec<Span>,
}

impl Lists {
    /// Room for the names of a claims object of `bytes` bytes: a string's
    /// text is never longer than its JSON, escaped or not, so the text never
    /// grows past it.
    pub(crate) fn for_claims(bytes: usize) -> Self {
        Self {
            text: String::with_capacity(bytes),
            spans: Vec::with_capacity(16),
        }
    }

    /// Appends one name, a list of its own.
    pub(crate) fn push(&mut self, name: &str) -> List {
        self.extend([name])
    }

    /// Appends `names`, one list.
    pub(crate) fn extend<'n>(&mut self, names: impl IntoIterator<Item = &'n str>) -> List {
        let start = self.spans.len();
        for name in names {
            let at = self.text.len();
            self.text.push_str(name);
            self.spans.push((at, self.text.len()));
        }
        List {
            start,
            end: self.spans.len(),
        }
    }

    /// Gives back the room a claims object's unread members took, when
    /// there is much of it: the names live as long as the claims (in a
    /// verifier's cache, thousands of them), and a token may carry large
    /// claims the crate does not read.
    pub(crate) fn shrink(&mut self) {
        if self.text.capacity() - self.text.len() > SLACK {
            self.text.shrink_to_fit();
        }
    }

    /// The bytes the text holds room for.
    #[cfg(test)]
    pub(crate) fn room(&self) -> usize {
        self.text.capacity()
    }

    /// The names of `list`.
    pub(crate) fn names(&self, list: List) -> Names<'_> {
        Names {
            text: &self.text,
            spans: self.spans.get(list.start..list.end).unwrap_or_default(),
        }
    }

    /// The one name of a list of one (an empty string for an empty list,
    /// which [`push`](Self::push) never makes).
    pub(crate) fn one(&self, list: List) -> &str {
        self.names(list).get(0).unwrap_or_default()
    }
}

/// A list of names a verified token carries: its audiences, roles or
/// scopes, in the token's order.
///
/// A borrowed view of the claims, as cheap to copy as a slice. It compares
/// equal to arrays, slices and vectors of strings with the same names in the
/// same order, and serializes as a JSON array of strings.
///
/// ```
/// # fn show(claims: &verys_client::AccessClaims) {
/// let scopes = claims.scopes();
/// if scopes.contains("api.write") { /* … */ }
/// for role in claims.roles() {
///     println!("{role}");
/// }
/// let owned: Vec<String> = scopes.to_vec();
/// # }
/// ```
#[derive(Clone, Copy)]
pub struct Names<'a> {
    text: &'a str,
    spans: &'a [Span],
}

impl<'a> Names<'a> {
    /// How many names.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The `index`th name.
    pub fn get(&self, index: usize) -> Option<&'a str> {
        let &(start, end) = self.spans.get(index)?;
        self.text.get(start..end)
    }

    /// Whether `name` is among them, exactly.
    pub fn contains(&self, name: &str) -> bool {
        self.iter().any(|n| n == name)
    }

    /// The names in order.
    pub fn iter(&self) -> NamesIter<'a> {
        NamesIter {
            text: self.text,
            spans: self.spans.iter(),
        }
    }

    /// The names as owned strings.
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_owned).collect()
    }

    /// The names as an `aud` claim writes them ([RFC 7519 §4.1.3]): a
    /// string for one audience, an array for several.
    ///
    /// [RFC 7519 §4.1.3]: https://www.rfc-editor.org/rfc/rfc7519#section-4.1.3
    pub(crate) fn to_audience_json(self) -> Value {
        match (self.len(), self.get(0)) {
            (1, Some(one)) => one.into(),
            _ => self.to_vec().into(),
        }
    }
}

impl<'a> IntoIterator for Names<'a> {
    type Item = &'a str;
    type IntoIter = NamesIter<'a>;
    fn into_iter(self) -> NamesIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &Names<'a> {
    type Item = &'a str;
    type IntoIter = NamesIter<'a>;
    fn into_iter(self) -> NamesIter<'a> {
        self.iter()
    }
}

impl fmt::Debug for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl serde::Serialize for Names<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl PartialEq for Names<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Names<'_> {}

impl<S: AsRef<str>> PartialEq<[S]> for Names<'_> {
    fn eq(&self, other: &[S]) -> bool {
        self.iter().eq(other.iter().map(AsRef::as_ref))
    }
}

impl<S: AsRef<str>> PartialEq<&[S]> for Names<'_> {
    fn eq(&self, other: &&[S]) -> bool {
        *self == **other
    }
}

impl<S: AsRef<str>, const N: usize> PartialEq<[S; N]> for Names<'_> {
    fn eq(&self, other: &[S; N]) -> bool {
        *self == other[..]
    }
}

impl<S: AsRef<str>, const N: usize> PartialEq<&[S; N]> for Names<'_> {
    fn eq(&self, other: &&[S; N]) -> bool {
        *self == other[..]
    }
}

impl<S: AsRef<str>> PartialEq<Vec<S>> for Names<'_> {
    fn eq(&self, other: &Vec<S>) -> bool {
        *self == other[..]
    }
}

/// The names of a [`Names`], in order.
#[derive(Clone)]
pub struct NamesIter<'a> {
    text: &'a str,
    spans: std::slice::Iter<'a, Span>,
}

impl<'a> Iterator for NamesIter<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        let &(start, end) = self.spans.next()?;
        self.text.get(start..end)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.spans.size_hint()
    }
}

impl DoubleEndedIterator for NamesIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let &(start, end) = self.spans.next_back()?;
        self.text.get(start..end)
    }
}

impl ExactSizeIterator for NamesIter<'_> {}

/// The names left, and nothing else of the buffer they are in (which holds
/// the token's other texts, an ID token's nonce among them).
impl fmt::Debug for NamesIter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

impl FusedIterator for NamesIter<'_> {}

/// Reads the member `name`, a JSON array of strings (or `null` when
/// `nullable`), into `lists`.
pub(crate) fn read_list<'de, A: MapAccess<'de>>(
    value: Member<'_, 'de, A>,
    name: &'static str,
    lists: &mut Lists,
    nullable: bool,
) -> Result<Option<List>, A::Error> {
    value.read_seed(name, Append { lists, nullable })
}

/// Reads a JSON array of strings straight into a [`Lists`], without a
/// `String` or `Vec` of its own; `null` too when `nullable`.
struct Append<'l> {
    lists: &'l mut Lists,
    nullable: bool,
}

impl<'de> DeserializeSeed<'de> for Append<'_> {
    type Value = Option<List>;
    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for Append<'_> {
    type Value = Option<List>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of strings")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        if self.nullable {
            Ok(None)
        } else {
            Err(E::invalid_type(de::Unexpected::Unit, &self))
        }
    }

    fn visit_some<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let start = self.lists.spans.len();
        while let Some(Text(name)) = seq.next_element::<Text<'de>>()? {
            self.lists.push(&name);
        }
        Ok(Some(List {
            start,
            end: self.lists.spans.len(),
        }))
    }
}

/// A claim of any JSON type whose text, when it is a string, goes to the
/// names: a profile claim, a string at Verys but kept as whatever the token
/// says.
#[derive(Clone, Debug)]
pub(crate) enum Kept {
    Text(List),
    Json(Value),
}

impl Kept {
    /// The claim as JSON.
    pub(crate) fn to_json(&self, lists: &Lists) -> Value {
        match self {
            Kept::Text(list) => Value::String(lists.one(*list).to_owned()),
            Kept::Json(value) => value.clone(),
        }
    }
}

/// Reads any JSON value, a string into a [`Lists`].
pub(crate) struct Keep<'l>(pub(crate) &'l mut Lists);

impl<'de> DeserializeSeed<'de> for Keep<'_> {
    type Value = Kept;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Kept, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Keep<'_> {
    type Value = Kept;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any json value")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Kept, E> {
        Ok(Kept::Text(self.0.push(text)))
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Kept, E> {
        Ok(Kept::Json(Value::Bool(value)))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Kept, E> {
        Ok(Kept::Json(value.into()))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Kept, E> {
        Ok(Kept::Json(value.into()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Kept, E> {
        Ok(Kept::Json(value.into()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Kept, E> {
        Ok(Kept::Json(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Kept, A::Error> {
        Value::deserialize(SeqAccessDeserializer::new(seq)).map(Kept::Json)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Kept, A::Error> {
        Value::deserialize(MapAccessDeserializer::new(map)).map(Kept::Json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(json: &str, nullable: bool) -> Result<(Lists, Option<List>), serde_json::Error> {
        let mut lists = Lists::for_claims(json.len());
        lists.push("before");
        let list = Append {
            lists: &mut lists,
            nullable,
        }
        .deserialize(&mut serde_json::Deserializer::from_str(json))?;
        Ok((lists, list))
    }

    #[test]
    fn an_array_is_appended_as_one_list_escapes_read() {
        let (lists, list) = append(r#"["a", "b\u0063", ""]"#, false).unwrap();
        let names = lists.names(list.unwrap());
        assert_eq!(names, ["a", "bc", ""]);
        assert_eq!(names.len(), 3);
        assert_eq!(names.get(1), Some("bc"));
        assert_eq!(names.get(3), None);
        assert!(names.contains("") && !names.contains("b"));
        assert_eq!(names.iter().rev().collect::<Vec<_>>(), ["", "bc", "a"]);
        assert_eq!(lists.one(List { start: 0, end: 1 }), "before");
    }

    #[test]
    fn much_unused_room_is_given_back_and_little_is_kept() {
        let mut lists = Lists::for_claims(100 + SLACK);
        lists.push(&"n".repeat(100));
        let room = lists.text.capacity();
        lists.shrink();
        assert_eq!(lists.text.capacity(), room, "{SLACK} bytes unused are kept");
        let mut lists = Lists::for_claims(101 + SLACK);
        lists.push(&"n".repeat(100));
        lists.shrink();
        assert!(
            lists.text.capacity() < 100 + SLACK,
            "{}",
            lists.text.capacity()
        );
        assert_eq!(lists.one(List { start: 0, end: 1 }), "n".repeat(100));
    }

    #[test]
    fn null_is_a_list_only_where_it_may_be() {
        let (_, list) = append("null", true).unwrap();
        assert_eq!(list, None);
        assert!(append("null", false).is_err());
        for wrong in [r#""a b""#, "[1]", r#"["a", null]"#, r#"{"a":1}"#, "3"] {
            assert!(append(wrong, true).is_err(), "{wrong}");
        }
    }

    /// What a kept claim reads back as is what serde_json reads, every
    /// JSON type, with strings in the names.
    #[test]
    fn a_kept_claim_is_any_json_value() {
        for json in [
            r#""ada""#,
            r#""a\u0064a""#,
            "true",
            "null",
            "-3",
            "18446744073709551615",
            "2.5",
            r#"[1, "x", {"y": null}]"#,
            r#"{"a": [true]}"#,
        ] {
            let mut lists = Lists::default();
            lists.push("before");
            let kept = Keep(&mut lists)
                .deserialize(&mut serde_json::Deserializer::from_str(json))
                .unwrap();
            let expected: Value = serde_json::from_str(json).unwrap();
            assert_eq!(kept.to_json(&lists), expected, "{json}");
            assert_eq!(
                matches!(kept, Kept::Text(_)),
                expected.is_string(),
                "{json}"
            );
        }
    }

    #[test]
    fn names_compare_serialize_and_show_as_lists() {
        let mut lists = Lists::default();
        let list = lists.extend(["x", "y"]);
        let empty = lists.extend([]);
        let names = lists.names(list);
        assert_eq!(names, vec!["x".to_owned(), "y".to_owned()]);
        assert_eq!(names, &["x", "y"][..]);
        assert_ne!(names, ["x"]);
        assert_ne!(names, ["x", "z"]);
        assert_eq!(names.to_vec(), ["x", "y"]);
        assert_eq!(serde_json::to_string(&names).unwrap(), r#"["x","y"]"#);
        assert_eq!(names.to_audience_json(), serde_json::json!(["x", "y"]));
        assert_eq!(lists.names(empty).to_audience_json(), serde_json::json!([]));
        let mut app = Lists::default();
        let one = app.push("app");
        assert_eq!(app.names(one).to_audience_json(), serde_json::json!("app"));
        assert_eq!(format!("{names:?}"), r#"["x", "y"]"#);
        assert!(lists.names(empty).is_empty());
        assert_eq!(names, &["x", "y"]);
        // An iterator shows its own names, not the rest of the buffer.
        let mut secret = Lists::default();
        secret.push("a-nonce");
        let roles = secret.extend(["admin"]);
        let iter = secret.names(roles).iter();
        assert_eq!(format!("{iter:?}"), r#"["admin"]"#);
        assert_ne!(names, lists.names(empty));
    }
}
