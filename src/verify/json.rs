//! A strict reader of one JSON object (RFC 8259): the JOSE header and the
//! claims of every token the crate verifies.
//!
//! It walks the members in order and lets the caller take each value as the
//! type it expects; values the caller has no use for are skipped, but
//! checked as strictly as the rest. On the verification hot path it replaces
//! serde's derive, whose generic machinery cost more than the rest of the
//! path together (see `benches/README.md`): member names are compared as
//! borrowed text, strings without escapes are never copied, and string
//! contents are scanned eight bytes at a time.
//!
//! What it refuses, besides what RFC 8259 does not allow:
//!
//! * anything but an object at the top (serde would read an array into a
//!   struct field by field);
//! * a member name that appears twice at the top level (RFC 7515 4 and
//!   RFC 7519 4 allow a parser to refuse them, which leaves no doubt about
//!   which value the rules checked);
//! * `\u` escapes that are unpaired UTF-16 surrogates;
//! * nesting deeper than [`MAX_DEPTH`].

use std::borrow::Cow;
use std::fmt;

/// Deeper nesting is refused rather than followed.
pub(crate) const MAX_DEPTH: u32 = 128;

/// Why a text is not the JSON object a reader expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Error(String);

impl Error {
    /// A member the reader requires is absent.
    pub(crate) fn missing(name: &str) -> Self {
        Error(format!("member `{name}` is missing"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A type read from one JSON object.
pub(crate) trait FromObject: Sized {
    /// Reads every member of `object`.
    fn from_object(object: Object<'_>) -> Result<Self, Error>;
}

/// Reads `text` as one JSON object into `T`.
pub(crate) fn read<T: FromObject>(text: &str) -> Result<T, Error> {
    T::from_object(Object::new(text)?)
}

/// A value that may be one string or an array of strings.
pub(crate) enum OneOrMany<'a> {
    One(Cow<'a, str>),
    Many(Vec<String>),
}

/// The members of one JSON object, read in order: [`Object::next_name`]
/// gives each name, then one of the value methods reads its value.
pub(crate) struct Object<'a> {
    text: &'a str,
    at: usize,
    names: Names<'a>,
    /// One bit per name read, chosen by its fingerprint: most names find
    /// their bit clear and need no scan at all.
    filter: u64,
    /// A name has been read and its value not yet.
    value_pending: bool,
    done: bool,
}

impl<'a> Object<'a> {
    /// Starts reading `text`, which must hold an object.
    pub(crate) fn new(text: &'a str) -> Result<Self, Error> {
        let mut object = Self {
            text,
            at: 0,
            names: Names::default(),
            filter: 0,
            value_pending: false,
            done: false,
        };
        if object.peek()? != b'{' {
            return Err(object.error("not a json object"));
        }
        object.at += 1;
        Ok(object)
    }

    /// The whole text being read, which borrowed strings are slices of.
    pub(crate) fn text(&self) -> &'a str {
        self.text
    }

    /// The next member's name, or `None` after the last member. A value
    /// left unread is skipped.
    pub(crate) fn next_name(&mut self) -> Result<Option<Cow<'a, str>>, Error> {
        if self.done {
            return Ok(None);
        }
        if self.value_pending {
            self.skip()?;
        }
        let first = self.names.count == 0;
        match self.peek()? {
            b'}' if first => return self.close(),
            b'"' if first => {}
            b',' if !first => {
                self.at += 1;
                if self.peek()? != b'"' {
                    return Err(self.error("expected a member name"));
                }
            }
            b'}' => return self.close(),
            _ if first => return Err(self.error("expected a member name or `}`")),
            _ => return Err(self.error("expected `,` or `}`")),
        }
        self.at += 1;
        let name = self.string_body(true)?;
        let print = fingerprint(&name);
        let bit = 1 << (print.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58);
        if self.filter & bit != 0 && self.names.contains(print, &name) {
            return Err(self.error("a member name appears twice"));
        }
        self.filter |= bit;
        self.names.push(print, &name);
        if self.peek()? != b':' {
            return Err(self.error("expected `:`"));
        }
        self.at += 1;
        self.value_pending = true;
        Ok(Some(name))
    }

    fn close(&mut self) -> Result<Option<Cow<'a, str>>, Error> {
        self.at += 1;
        self.skip_whitespace();
        if self.at != self.text.len() {
            return Err(self.error("trailing characters after the object"));
        }
        self.done = true;
        Ok(None)
    }

    /// The value as a string.
    pub(crate) fn string(&mut self) -> Result<Cow<'a, str>, Error> {
        match self.value_start()? {
            b'"' => {
                self.at += 1;
                self.string_body(true)
            }
            _ => Err(self.type_error("a string")),
        }
    }

    /// The value as a string, `None` if it is `null`.
    pub(crate) fn optional_string(&mut self) -> Result<Option<Cow<'a, str>>, Error> {
        if self.null()? {
            return Ok(None);
        }
        self.string().map(Some)
    }

    /// The value as a non-negative integer that fits in 64 bits.
    pub(crate) fn unsigned(&mut self) -> Result<u64, Error> {
        if !self.value_start()?.is_ascii_digit() {
            return Err(self.type_error("a non-negative integer"));
        }
        let bytes = self.text.as_bytes();
        let mut value: u64 = 0;
        let start = self.at;
        while let Some(digit) = bytes.get(self.at).filter(|b| b.is_ascii_digit()) {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(digit - b'0')))
                .ok_or_else(|| self.type_error("an integer of at most 64 bits"))?;
            self.at += 1;
        }
        if bytes[start] == b'0' && self.at - start > 1 {
            return Err(self.error("a number has a leading zero"));
        }
        if matches!(bytes.get(self.at), Some(b'.' | b'e' | b'E')) {
            return Err(self.type_error("a non-negative integer"));
        }
        Ok(value)
    }

    /// The value as a non-negative integer, `None` if it is `null`.
    pub(crate) fn optional_unsigned(&mut self) -> Result<Option<u64>, Error> {
        if self.null()? {
            return Ok(None);
        }
        self.unsigned().map(Some)
    }

    /// The value as an array of strings.
    pub(crate) fn strings(&mut self) -> Result<Vec<String>, Error> {
        if self.value_start()? != b'[' {
            return Err(self.type_error("an array of strings"));
        }
        self.at += 1;
        let mut strings = Vec::new();
        if self.peek()? == b']' {
            self.at += 1;
            return Ok(strings);
        }
        loop {
            if self.peek()? != b'"' {
                return Err(self.type_error("an array of strings"));
            }
            self.at += 1;
            strings.push(self.string_body(true)?.into_owned());
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Ok(strings);
                }
                _ => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    /// The value as one string or an array of strings (the `aud` claim).
    pub(crate) fn string_or_strings(&mut self) -> Result<OneOrMany<'a>, Error> {
        match self.value_start()? {
            b'"' => self.string().map(OneOrMany::One),
            b'[' => self.strings().map(OneOrMany::Many),
            _ => Err(self.type_error("a string or an array of strings")),
        }
    }

    /// Reads the value if it is `null`, and says whether it was; any other
    /// value is left to read.
    pub(crate) fn null(&mut self) -> Result<bool, Error> {
        if self.peek()? == b'n' {
            self.literal("null")?;
            self.value_pending = false;
            return Ok(true);
        }
        Ok(false)
    }

    /// Skips the value, checking that it is well-formed JSON.
    pub(crate) fn skip(&mut self) -> Result<(), Error> {
        self.value_start()?;
        self.value_pending = false;
        // One bit per open container (set: object), deepest lowest.
        let mut stack: u128 = 0;
        let mut depth = 0u32;
        loop {
            // A value starts here.
            match self.peek()? {
                open @ (b'{' | b'[') => {
                    if depth == MAX_DEPTH {
                        return Err(self.error("nested too deep"));
                    }
                    self.at += 1;
                    depth += 1;
                    stack = (stack << 1) | u128::from(open == b'{');
                    let close = if open == b'{' { b'}' } else { b']' };
                    if self.peek()? != close {
                        if open == b'{' {
                            self.member_name()?;
                        }
                        continue;
                    }
                    self.at += 1;
                    depth -= 1;
                    stack >>= 1;
                }
                b'"' => {
                    self.at += 1;
                    self.string_body(false)?;
                }
                b't' => self.literal("true")?,
                b'f' => self.literal("false")?,
                b'n' => self.literal("null")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return Err(self.error("expected a value")),
            }
            // A value ended: close containers until one continues.
            loop {
                if depth == 0 {
                    return Ok(());
                }
                let in_object = stack & 1 == 1;
                match (self.peek()?, in_object) {
                    (b',', _) => {
                        self.at += 1;
                        if in_object {
                            self.member_name()?;
                        }
                        break;
                    }
                    (b'}', true) | (b']', false) => {
                        self.at += 1;
                        depth -= 1;
                        stack >>= 1;
                    }
                    (_, true) => return Err(self.error("expected `,` or `}`")),
                    (_, false) => return Err(self.error("expected `,` or `]`")),
                }
            }
        }
    }

    /// A nested object's member name and its colon (their uniqueness is
    /// not this reader's concern below the top level).
    fn member_name(&mut self) -> Result<(), Error> {
        if self.peek()? != b'"' {
            return Err(self.error("expected a member name"));
        }
        self.at += 1;
        self.string_body(false)?;
        if self.peek()? != b':' {
            return Err(self.error("expected `:`"));
        }
        self.at += 1;
        Ok(())
    }

    /// Checks a number's grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)?
    /// ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Result<(), Error> {
        let bytes = self.text.as_bytes();
        let digits = |at: &mut usize| {
            let start = *at;
            while bytes.get(*at).is_some_and(u8::is_ascii_digit) {
                *at += 1;
            }
            *at - start
        };
        let mut at = self.at;
        if bytes[at] == b'-' {
            at += 1;
        }
        let start = at;
        match digits(&mut at) {
            0 => return Err(self.error_at(at, "invalid number")),
            n if n > 1 && bytes[start] == b'0' => {
                return Err(self.error_at(start, "a number has a leading zero"));
            }
            _ => {}
        }
        if bytes.get(at) == Some(&b'.') {
            at += 1;
            if digits(&mut at) == 0 {
                return Err(self.error_at(at, "invalid number"));
            }
        }
        if matches!(bytes.get(at), Some(b'e' | b'E')) {
            at += 1;
            if matches!(bytes.get(at), Some(b'+' | b'-')) {
                at += 1;
            }
            if digits(&mut at) == 0 {
                return Err(self.error_at(at, "invalid number"));
            }
        }
        self.at = at;
        Ok(())
    }

    fn literal(&mut self, word: &'static str) -> Result<(), Error> {
        if !self.text.as_bytes()[self.at..].starts_with(word.as_bytes()) {
            return Err(self.error("expected a value"));
        }
        self.at += word.len();
        Ok(())
    }

    /// A string's contents and its closing quote, the opening one already
    /// read. Without `decode` the contents are only checked, and an escaped
    /// string comes back empty.
    #[inline(always)]
    fn string_body(&mut self, decode: bool) -> Result<Cow<'a, str>, Error> {
        let start = self.at;
        let end = special_byte(self.text.as_bytes(), start);
        if self.text.as_bytes().get(end) == Some(&b'"') {
            self.at = end + 1;
            return Ok(Cow::Borrowed(&self.text[start..end]));
        }
        self.escaped_string_body(end, decode)
    }

    /// The rest of a string from `at`, where a plain run ended on something
    /// other than the closing quote.
    #[cold]
    fn escaped_string_body(&mut self, mut at: usize, decode: bool) -> Result<Cow<'a, str>, Error> {
        let bytes = self.text.as_bytes();
        let mut decoded = String::new();
        let mut copied = self.at;
        loop {
            match bytes.get(at) {
                Some(b'"') => {
                    self.at = at + 1;
                    if decode {
                        decoded.push_str(&self.text[copied..at]);
                    }
                    return Ok(Cow::Owned(decoded));
                }
                Some(b'\\') => {
                    if decode {
                        decoded.push_str(&self.text[copied..at]);
                    }
                    let (c, length) = self.escape(at)?;
                    if decode {
                        decoded.push(c);
                    }
                    at += length;
                    copied = at;
                    at = special_byte(bytes, at);
                }
                Some(_) => return Err(self.error_at(at, "a control character in a string")),
                None => return Err(self.error_at(at, "unterminated string")),
            }
        }
    }

    /// The character an escape at `at` stands for, and the escape's length.
    fn escape(&self, at: usize) -> Result<(char, usize), Error> {
        let bytes = self.text.as_bytes();
        let c = match bytes.get(at + 1) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => return self.unicode_escape(at),
            _ => return Err(self.error_at(at, "invalid escape")),
        };
        Ok((c, 2))
    }

    /// A `\uXXXX` escape, or two of them forming a surrogate pair.
    fn unicode_escape(&self, at: usize) -> Result<(char, usize), Error> {
        let unit = |at: usize| {
            let hex = self
                .text
                .get(at + 2..at + 6)
                .filter(|_| self.text.as_bytes()[at..].starts_with(b"\\u"))?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            u32::from_str_radix(hex, 16).ok()
        };
        let invalid = || self.error_at(at, "invalid unicode escape");
        let high = unit(at).ok_or_else(invalid)?;
        match high {
            0xD800..=0xDBFF => {
                let low = unit(at + 6)
                    .filter(|low| (0xDC00..=0xDFFF).contains(low))
                    .ok_or_else(|| self.error_at(at, "unpaired surrogate in a unicode escape"))?;
                let c = char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
                    .ok_or_else(invalid)?;
                Ok((c, 12))
            }
            0xDC00..=0xDFFF => Err(self.error_at(at, "unpaired surrogate in a unicode escape")),
            _ => Ok((char::from_u32(high).ok_or_else(invalid)?, 6)),
        }
    }

    /// The first byte of a value, whitespace skipped; the value is then
    /// being read.
    #[inline(always)]
    fn value_start(&mut self) -> Result<u8, Error> {
        self.value_pending = false;
        self.peek()
    }

    /// The next byte after whitespace, not consumed.
    #[inline(always)]
    fn peek(&mut self) -> Result<u8, Error> {
        match self.text.as_bytes().get(self.at) {
            // Tokens are sent without whitespace: one compare settles it.
            Some(&b) if b > b' ' => Ok(b),
            _ => {
                self.skip_whitespace();
                match self.text.as_bytes().get(self.at) {
                    Some(&b) => Ok(b),
                    None => Err(self.error("unexpected end of input")),
                }
            }
        }
    }

    fn skip_whitespace(&mut self) {
        let bytes = self.text.as_bytes();
        while matches!(bytes.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn error(&self, what: &str) -> Error {
        self.error_at(self.at, what)
    }

    fn error_at(&self, at: usize, what: &str) -> Error {
        Error(format!("{what} at byte {at}"))
    }

    /// A value of the wrong type, named by its member (which may be
    /// anything the token says, hence shortened).
    fn type_error(&self, expected: &str) -> Error {
        let name: String = self.names.last().chars().take(32).collect();
        Error(format!("member `{name}` is not {expected}"))
    }
}

/// The names an object's members have had so far, each with its
/// fingerprint so that most comparisons are one integer compare. A token has
/// a few dozen names at most: a linear scan costs less than hashing, and the
/// first names are kept in place rather than in an allocation.
#[derive(Default)]
struct Names<'a> {
    count: usize,
    first: [(u64, &'a str); 16],
    /// The names after the first 16, and those written with escapes.
    more: Vec<(u64, Cow<'a, str>)>,
    /// Whether the last name went to `more`.
    last_in_more: bool,
}

impl<'a> Names<'a> {
    #[expect(
        clippy::ptr_arg,
        reason = "a name borrowed from the text is kept as it is, for the text's lifetime"
    )]
    fn push(&mut self, print: u64, name: &Cow<'a, str>) {
        let in_place = self.count - self.more.len();
        self.last_in_more = match name {
            Cow::Borrowed(name) if in_place < self.first.len() => {
                self.first[in_place] = (print, name);
                false
            }
            _ => {
                self.more.push((print, name.clone()));
                true
            }
        };
        self.count += 1;
    }

    fn contains(&self, print: u64, name: &str) -> bool {
        let in_place = &self.first[..self.count - self.more.len()];
        in_place
            .iter()
            .any(|(seen, other)| *seen == print && *other == name)
            || self
                .more
                .iter()
                .any(|(seen, other)| *seen == print && *other == name)
    }

    fn last(&self) -> &str {
        match (self.last_in_more, self.more.last()) {
            (true, Some((_, name))) => name,
            _ => {
                let in_place = self.count - self.more.len();
                in_place
                    .checked_sub(1)
                    .map_or("", |last| self.first[last].1)
            }
        }
    }
}

/// A name's length with its first, middle and last bytes: different for
/// almost all pairs of distinct names, and cheap.
#[inline(always)]
fn fingerprint(name: &str) -> u64 {
    match name.as_bytes() {
        [] => 0,
        bytes @ [first, ..] => {
            let (middle, last) = (bytes[bytes.len() / 2], bytes[bytes.len() - 1]);
            (bytes.len() as u64) << 24
                | u64::from(*first) << 16
                | u64::from(middle) << 8
                | u64::from(last)
        }
    }
}

/// The index of the first byte from `at` on that ends a plain run of string
/// contents (`"`, `\` or a control character), or `bytes.len()`.
#[inline]
fn special_byte(bytes: &[u8], mut at: usize) -> usize {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    // The high bit of each byte of `word` below `n` (n <= 128). A borrow can
    // also mark bytes above a marked one, never below it, so the lowest
    // mark is exact.
    let below = |word: u64, n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let marks = below(word, 0x20)
            | below(word ^ (ONES * u64::from(b'"')), 1)
            | below(word ^ (ONES * u64::from(b'\\')), 1);
        if marks != 0 {
            return at + (marks.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while let Some(&b) = bytes.get(at) {
        if b == b'"' || b == b'\\' || b < 0x20 {
            return at;
        }
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Skips every member: the object's well-formedness alone.
    struct Any;

    impl FromObject for Any {
        fn from_object(mut object: Object<'_>) -> Result<Self, Error> {
            while object.next_name()?.is_some() {
                object.skip()?;
            }
            Ok(Any)
        }
    }

    fn accepts(text: &str) -> bool {
        read::<Any>(text).is_ok()
    }

    #[test]
    fn well_formed_objects_are_read() {
        for text in [
            "{}",
            " { } ",
            r#"{"a":1}"#,
            r#"{"a":[1,-2.5e+3,0,0.0,1E9,true,false,null,"x",{"b":{}},[]]}"#,
            "{\"a\" : \"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\",\n\t\"b\":{\"a\":1,\"a\":2}}",
            r#"{"long":"a string well over eight bytes, é and 😀 included"}"#,
        ] {
            assert!(accepts(text), "{text}");
        }
    }

    #[test]
    fn malformed_text_is_refused() {
        for text in [
            "",
            "[]",
            "\"a\"",
            "{",
            r#"{"a"}"#,
            r#"{"a":}"#,
            r#"{"a":1,}"#,
            r#"{,"a":1}"#,
            r#"{"a":1 "b":2}"#,
            r#"{"a":01}"#,
            r#"{"a":-}"#,
            r#"{"a":1.}"#,
            r#"{"a":1e}"#,
            r#"{"a":.5}"#,
            r#"{"a":+1}"#,
            r#"{"a":tru}"#,
            r#"{"a":nul}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":[1}"#,
            r#"{"a":{"b":1]}"#,
            r#"{"a":{"b"}}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12"}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\udc00\ud800"}"#,
            r#"{"a":"\ud800\u0041"}"#,
            "{\"a\":\"tab\there\"}",
            r#"{"a":"unterminated}"#,
            r#"{} {}"#,
            r#"{}x"#,
            r#"{"a":1}}"#,
            r#"{a:1}"#,
            r#"{"a":1,"a":1}"#,
        ] {
            assert!(!accepts(text), "{text}");
        }
    }

    #[test]
    fn repeated_names_are_named_in_the_error() {
        let error = read::<Any>(r#"{"a":1,"b":2,"\u0061":3}"#).err().unwrap();
        assert!(error.to_string().contains("twice"), "{error}");
    }

    #[test]
    fn repeats_are_found_past_the_names_kept_in_place() {
        let many: Vec<String> = (0..40).map(|i| format!("\"m{i}\":{i}")).collect();
        let object = |extra: &str| format!("{{{},{extra}}}", many.join(","));
        assert!(accepts(&object(r#""m40":1"#)));
        for repeat in [
            r#""m3":1"#,
            r#""m39":1"#,
            r#""\u006d3":1"#,
            r#""m\u0033\u0039":1"#,
        ] {
            let error = read::<Any>(&object(repeat)).err().unwrap();
            assert!(error.to_string().contains("twice"), "{repeat}: {error}");
        }
        let escaped_twice = r#"{"\u0061":1,"b":2,"\u0061":3}"#;
        assert!(!accepts(escaped_twice));
    }

    #[test]
    fn nesting_is_limited() {
        let deep = |n: usize| format!("{{\"a\":{}{}}}", "[".repeat(n), "]".repeat(n));
        assert!(accepts(&deep(MAX_DEPTH as usize)));
        assert!(!accepts(&deep(MAX_DEPTH as usize + 1)));
    }

    struct Typed {
        s: Option<String>,
        n: Option<u64>,
        list: Vec<String>,
    }

    impl FromObject for Typed {
        fn from_object(mut object: Object<'_>) -> Result<Self, Error> {
            let mut typed = Typed {
                s: None,
                n: None,
                list: Vec::new(),
            };
            while let Some(name) = object.next_name()? {
                match &*name {
                    "s" => typed.s = object.optional_string()?.map(Cow::into_owned),
                    "n" => typed.n = object.optional_unsigned()?,
                    "list" => {
                        typed.list = match object.string_or_strings()? {
                            OneOrMany::One(one) => vec![one.into_owned()],
                            OneOrMany::Many(many) => many,
                        }
                    }
                    _ => {}
                }
            }
            Ok(typed)
        }
    }

    #[test]
    fn values_are_read_as_their_types() {
        let typed: Typed =
            read(r#"{"s":"a\"b\u00e9","n":18446744073709551615,"list":["x","y"],"z":[1]}"#)
                .unwrap();
        assert_eq!(typed.s.as_deref(), Some("a\"bé"));
        assert_eq!(typed.n, Some(u64::MAX));
        assert_eq!(typed.list, ["x", "y"]);
        let typed: Typed = read(r#"{"s":null,"n":null,"list":"one"}"#).unwrap();
        assert_eq!((typed.s, typed.n), (None, None));
        assert_eq!(typed.list, ["one"]);
    }

    #[test]
    fn wrong_types_name_the_member() {
        for (text, what) in [
            (
                r#"{"n":18446744073709551616}"#,
                "`n` is not an integer of at most 64",
            ),
            (r#"{"n":-1}"#, "`n` is not a non-negative integer"),
            (r#"{"n":1.0}"#, "`n` is not a non-negative integer"),
            (r#"{"n":1e3}"#, "`n` is not a non-negative integer"),
            (r#"{"n":"1"}"#, "`n` is not a non-negative integer"),
            (r#"{"s":1}"#, "`s` is not a string"),
            (r#"{"list":[1]}"#, "`list` is not an array of strings"),
            (r#"{"list":null}"#, "`list` is not a string or an array"),
        ] {
            let error = read::<Typed>(text).err().unwrap().to_string();
            assert!(error.contains(what), "{text}: {error}");
        }
        let leading_zero = read::<Typed>(r#"{"n":012}"#).err().unwrap().to_string();
        assert!(leading_zero.contains("leading zero"), "{leading_zero}");
    }

    #[test]
    fn special_bytes_are_found_in_every_position() {
        for length in 0..24 {
            for at in 0..=length {
                for special in [b'"', b'\\', 0x1f, 0x00] {
                    let mut bytes = vec![b'a'; length];
                    if at < length {
                        bytes[at] = special;
                    }
                    assert_eq!(special_byte(&bytes, 0), at, "{length} {at} {special}");
                }
            }
        }
        let high = "ééééééééé\"".as_bytes();
        assert_eq!(special_byte(high, 0), high.len() - 1);
    }
}
