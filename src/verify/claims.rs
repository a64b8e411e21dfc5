//! What ID tokens and access tokens share: the claims `iss`, `sub`, `aud`,
//! `exp`, `iat` (and `nbf` when present), read in the same serde_json pass as
//! each kind's own claims, and the rules on them. Each kind adds a small
//! rule set of its own ([`crate::verify::id_token`],
//! [`crate::verify::access`]).
//!
//! # Token kinds
//!
//! Verys signs both kinds with the same key and the same header, and both
//! carry the claims above, so nothing but their other claims tells them
//! apart. Each kind's rules refuse a token carrying the other kind's claims
//! ([`TokenRule::OtherKind`], the mutually exclusive rules of
//! [RFC 8725 §3.12]): an access token exchanged for client X would otherwise
//! verify as an ID token of X, and sign its holder in to X as the user.
//!
//! [RFC 8725 §3.12]: https://www.rfc-editor.org/rfc/rfc8725#section-3.12

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

use crate::error::TokenRule;
use crate::verify::jwt;
use crate::verify::object::{Member, Members, Text};

/// `aud` as the token wrote it: a string or an array of strings.
pub(crate) enum AudienceText<'a> {
    One(Cow<'a, str>),
    Many(Vec<Cow<'a, str>>),
}

impl AudienceText<'_> {
    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, many) = match self {
            AudienceText::One(one) => (Some(&**one), &[][..]),
            AudienceText::Many(many) => (None, &many[..]),
        };
        one.into_iter().chain(many.iter().map(|a| &**a))
    }

    pub(crate) fn contains(&self, audience: &str) -> bool {
        self.iter().any(|a| a == audience)
    }
}

impl<'de> Deserialize<'de> for AudienceText<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OneOrMany;
        impl<'de> Visitor<'de> for OneOrMany {
            type Value = AudienceText<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
                Ok(AudienceText::One(Cow::Borrowed(value)))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                Ok(AudienceText::One(Cow::Owned(value.to_owned())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut many = Vec::new();
                while let Some(Text(audience)) = seq.next_element::<Text<'de>>()? {
                    many.push(audience);
                }
                Ok(AudienceText::Many(many))
            }
        }
        deserializer.deserialize_any(OneOrMany)
    }
}

/// The claims of a token: those every kind has, and those of kind `K`,
/// read in one pass.
#[derive(Default)]
pub(crate) struct Claims<'a, K> {
    pub iss: Option<Cow<'a, str>>,
    pub sub: Option<Cow<'a, str>>,
    pub aud: Option<AudienceText<'a>>,
    pub exp: Option<u64>,
    pub iat: Option<u64>,
    pub nbf: Option<u64>,
    pub kind: K,
}

impl<'de, K: Members<'de>> Members<'de> for Claims<'de, K> {
    fn member<A: MapAccess<'de>>(
        &mut self,
        name: Cow<'de, str>,
        value: Member<'_, 'de, A>,
    ) -> Result<Option<u32>, A::Error> {
        let text = |value: Text<'de>| Some(value.0);
        Ok(Some(match &*name {
            "iss" => {
                self.iss = text(value.read("iss")?);
                0
            }
            "sub" => {
                self.sub = text(value.read("sub")?);
                1
            }
            "aud" => {
                self.aud = Some(value.read("aud")?);
                2
            }
            "exp" => {
                self.exp = Some(value.read("exp")?);
                3
            }
            "iat" => {
                self.iat = Some(value.read("iat")?);
                4
            }
            "nbf" => {
                self.nbf = value.read("nbf")?;
                5
            }
            // The kind's own names come after the shared ones.
            _ => return Ok(self.kind.member(name, value)?.map(|index| index + 8)),
        }))
    }
}

/// The shared claims of a token that has all of them.
pub(crate) struct Core<'a> {
    pub iss: Cow<'a, str>,
    pub sub: Cow<'a, str>,
    pub aud: AudienceText<'a>,
    pub exp: u64,
    pub iat: u64,
    pub nbf: Option<u64>,
}

impl<'a, K> Claims<'a, K> {
    /// Reads the claims of a token whose signature has just been verified,
    /// the kind's own into `kind`.
    pub(crate) fn read(bytes: &'a [u8], kind: K) -> Result<Self, TokenRule>
    where
        K: Members<'a>,
    {
        let mut claims = Claims {
            iss: None,
            sub: None,
            aud: None,
            exp: None,
            iat: None,
            nbf: None,
            kind,
        };
        crate::verify::object::read_into(bytes, &mut claims)
            .map(|()| claims)
            .map_err(|reason| jwt::malformed("claims", reason))
    }

    /// The shared claims, all required but `nbf` (a missing `aud` is left to
    /// the audience rule, as an empty audience), and the kind's own.
    pub(crate) fn split(self) -> Result<(Core<'a>, K), TokenRule> {
        let missing =
            |name: &str| jwt::malformed("claims", format!("the {name} member is missing"));
        Ok((
            Core {
                iss: self.iss.ok_or_else(|| missing("iss"))?,
                sub: self.sub.ok_or_else(|| missing("sub"))?,
                aud: self.aud.unwrap_or(AudienceText::Many(Vec::new())),
                exp: self.exp.ok_or_else(|| missing("exp"))?,
                iat: self.iat.ok_or_else(|| missing("iat"))?,
                nbf: self.nbf,
            },
            self.kind,
        ))
    }
}

/// The rules both kinds share, after the signature ([`jwt`]): who issued the
/// token and whether it is valid now.
pub(crate) struct CommonRules<'a> {
    /// The issuer `iss` must equal, exactly.
    pub issuer: &'a str,
    /// Seconds since the Unix epoch.
    pub now: u64,
    /// Clock skew tolerated by the time rules, in seconds.
    pub leeway: u64,
    /// Whether `exp` is checked: not when restoring a stored sign-in, whose
    /// ID token has served its purpose (its age is bounded otherwise).
    pub check_expiry: bool,
}

impl CommonRules<'_> {
    /// Applies the rules, in this order.
    pub(crate) fn check(&self, core: &Core<'_>) -> Result<(), TokenRule> {
        // The issuer: OpenID Connect Core 3.1.3.7 step 2, RFC 9068 §4, RFC 7519 §4.1.1.
        if core.iss != self.issuer {
            return Err(TokenRule::Issuer);
        }
        core.times().check(self.now, self.leeway, self.check_expiry)
    }
}

impl Core<'_> {
    pub(crate) fn times(&self) -> Times {
        Times {
            exp: self.exp,
            iat: self.iat,
            nbf: self.nbf,
        }
    }
}

/// A token's time claims, which claims verified earlier keep to be checked
/// again: a remembered access token.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Times {
    pub exp: u64,
    pub iat: u64,
    pub nbf: Option<u64>,
}

impl Times {
    /// The time rules, each within the leeway: `exp` in the future
    /// (OpenID Connect Core 3.1.3.7 step 9, RFC 7519 §4.1.4) unless
    /// `check_expiry` is off, `iat` not in the future (step 10, RFC 7519
    /// §4.1.6), `nbf` when present not in the future (RFC 7519 §4.1.5).
    /// Saturating arithmetic keeps a huge `exp` from wrapping around into
    /// the past.
    pub(crate) fn check(self, now: u64, leeway: u64, check_expiry: bool) -> Result<(), TokenRule> {
        if check_expiry && self.exp.saturating_add(leeway) <= now {
            return Err(TokenRule::Expired);
        }
        let future = |at: u64| at > now.saturating_add(leeway);
        if future(self.iat) {
            return Err(TokenRule::IssuedInFuture);
        }
        if self.nbf.is_some_and(future) {
            return Err(TokenRule::NotYetValid);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn core(exp: u64, iat: u64, nbf: Option<u64>) -> Core<'static> {
        Core {
            iss: "https://issuer".into(),
            sub: "u".into(),
            aud: AudienceText::One("a".into()),
            exp,
            iat,
            nbf,
        }
    }

    fn rules(now: u64) -> CommonRules<'static> {
        CommonRules {
            issuer: "https://issuer",
            now,
            leeway: 60,
            check_expiry: true,
        }
    }

    #[test]
    fn time_rules_respect_leeway_and_saturate() {
        assert_eq!(rules(159).check(&core(100, 50, None)), Ok(()));
        assert_eq!(
            rules(160).check(&core(100, 50, None)),
            Err(TokenRule::Expired)
        );
        assert_eq!(
            rules(200).check(&core(500, 261, None)),
            Err(TokenRule::IssuedInFuture)
        );
        assert_eq!(rules(200).check(&core(500, 260, Some(260))), Ok(()));
        assert_eq!(
            rules(200).check(&core(500, 200, Some(261))),
            Err(TokenRule::NotYetValid)
        );
        assert_eq!(rules(u64::MAX - 1).check(&core(u64::MAX, 0, None)), Ok(()));
        assert_eq!(
            rules(u64::MAX).check(&core(u64::MAX, u64::MAX, Some(u64::MAX))),
            Err(TokenRule::Expired)
        );
        assert_eq!(
            rules(u64::MAX - 60).check(&core(u64::MAX, u64::MAX, Some(u64::MAX))),
            Ok(())
        );
        let restoring = CommonRules {
            check_expiry: false,
            ..rules(10_000)
        };
        assert_eq!(restoring.check(&core(100, 50, None)), Ok(()));
    }

    #[test]
    fn the_issuer_must_match_exactly() {
        let mut other = core(500, 100, None);
        other.iss = "https://issuer/".into();
        assert_eq!(rules(200).check(&other), Err(TokenRule::Issuer));
    }

    #[test]
    fn audience_is_one_string_or_an_array_of_strings() {
        let one: AudienceText<'_> = serde_json::from_str(r#""a""#).unwrap();
        assert!(one.contains("a") && !one.contains("b"));
        let many: AudienceText<'_> = serde_json::from_str(r#"["a","b"]"#).unwrap();
        assert_eq!(many.iter().collect::<Vec<_>>(), ["a", "b"]);
        for wrong in ["3", "[3]", "null", r#"{"a":1}"#] {
            assert!(
                serde_json::from_str::<AudienceText<'_>>(wrong).is_err(),
                "{wrong}"
            );
        }
    }
}
