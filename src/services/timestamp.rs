//! RFC 3339 timestamps (`2026-11-26T18:05:19.123+01:00`), as Verys writes
//! `expires_at`, read into seconds since the Unix epoch by the `time` crate.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Seconds since the Unix epoch of an RFC 3339 date-time with an offset (`Z`
/// or `±hh:mm`), negative before 1970; fractions of a second are dropped.
/// `None` for anything else.
///
/// The date and time are separated by `T`, `t` or a space (RFC 3339, 5.6);
/// the year has four digits (`0000` to `9999`). A leap second is accepted
/// where `time` accepts one, `23:59:60` of the last day of a month in UTC,
/// and read as the second before it; a `:60` anywhere else is refused.
pub(crate) fn parse_rfc3339(text: &str) -> Option<i64> {
    // `time` takes any one byte between the date and the time.
    if !matches!(text.as_bytes().get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

#[cfg(test)]
mod tests {
    use super::parse_rfc3339;

    #[test]
    fn reads_offsets_and_fractions() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2026-11-26T18:05:19+00:00"),
            Some(1_795_716_319)
        );
        assert_eq!(
            parse_rfc3339("2026-11-26T19:05:19.123456+01:00"),
            Some(1_795_716_319)
        );
        assert_eq!(
            parse_rfc3339("2026-11-26T13:05:19-05:00"),
            Some(1_795_716_319)
        );
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), Some(1_709_164_800));
    }

    #[test]
    fn reads_the_separators_and_the_years_of_rfc3339() {
        assert_eq!(parse_rfc3339("2026-11-26t18:05:19z"), Some(1_795_716_319));
        assert_eq!(parse_rfc3339("2026-11-26 18:05:19Z"), Some(1_795_716_319));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some(-1));
        assert_eq!(parse_rfc3339("0000-01-01T00:00:00Z"), Some(-62_167_219_200));
        assert_eq!(parse_rfc3339("9999-12-31T23:59:59Z"), Some(253_402_300_799));
    }

    #[test]
    fn reads_a_leap_second_as_the_second_before_it() {
        assert_eq!(parse_rfc3339("2016-12-31T23:59:60Z"), Some(1_483_228_799));
        assert_eq!(
            parse_rfc3339("2017-01-01T00:59:60+01:00"),
            Some(1_483_228_799)
        );
        assert_eq!(parse_rfc3339("2016-12-31T12:00:60Z"), None);
    }

    #[test]
    fn refuses_what_is_not_rfc3339() {
        for text in [
            "",
            "2026-11-26",
            "2026-11-26T18:05:19",
            "2026-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-11-26T24:00:00Z",
            "2026-11-26T18:05:19.Z",
            "2026-11-26T18:05:19+0100",
            "2026-11-26T18:05:19+01:00x",
            "２０２６-11-26T18:05:19Z",
            "2026-11-26T18:05:19é0:00",
            "2026-11-26T18:05:19+0é:0",
            "2026-11-26T18:05:1é+00:00",
            "2026-11-26X18:05:19Z",
            "2026-11-26T18:05:19+24:00",
            "2026-11-26T18:05:19+01:60",
            "10000-01-01T00:00:00Z",
            "-0001-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(text), None, "{text}");
        }
    }
}
