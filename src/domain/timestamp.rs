//! Instants on the wire: RFC 3339 UTC with whole seconds (`2026-04-07T12:30:05Z`).

use serde::{Deserialize, Serialize, Serializer};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use super::{Invalid, Parsed};

/// 0000-01-01T00:00:00Z, the first instant RFC 3339 can write.
const FIRST_WRITABLE: i64 = -62_167_219_200;
/// 9999-12-31T23:59:59Z, the last instant RFC 3339 can write.
const LAST_WRITABLE: i64 = 253_402_300_799;

/// A UTC instant truncated to whole seconds, always within the years RFC 3339 can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    pub fn now() -> Self {
        Self::from_unix(OffsetDateTime::now_utc().unix_timestamp())
    }

    /// The instant `seconds` after the epoch, clamped to the years RFC 3339 can write
    /// (0000–9999), so every `Timestamp` prints: a provider reporting a date past year 9999
    /// gets 9999-12-31T23:59:59Z rather than an error while its listing is written.
    pub fn from_unix(seconds: i64) -> Self {
        let clamped = seconds.clamp(FIRST_WRITABLE, LAST_WRITABLE);
        Self(OffsetDateTime::from_unix_timestamp(clamped).unwrap_or(OffsetDateTime::UNIX_EPOCH))
    }

    pub fn unix(self) -> i64 {
        self.0.unix_timestamp()
    }

    /// The instant `seconds` later (saturating far in the future).
    pub fn plus_seconds(self, seconds: i64) -> Self {
        Self::from_unix(self.unix().saturating_add(seconds))
    }

    /// # Errors
    /// When the text is not an RFC 3339 instant.
    pub fn parse(s: &str) -> Parsed<Self> {
        OffsetDateTime::parse(s, &Rfc3339)
            .map(|t| Self::from_unix(t.unix_timestamp()))
            .map_err(|_| Invalid::new("must be an RFC 3339 instant"))
    }
}

impl Timestamp {
    /// The RFC 3339 text, `YYYY-MM-DDTHH:MM:SSZ`, written from the instant's parts: the
    /// same text as `time`'s `Rfc3339` for a UTC instant in whole seconds, without the
    /// formatting machinery (every connector rendered prints three of these). `None` for
    /// a year RFC 3339 cannot write (it has four-digit years only).
    fn rfc3339(self) -> Option<[u8; 20]> {
        let mut out = *b"0000-00-00T00:00:00Z";
        put_date_time(self.0, &mut out)?;
        Some(out)
    }
}

/// `t` (UTC) as RFC 3339 with microseconds, `YYYY-MM-DDTHH:MM:SS.ffffffZ`, written from its
/// parts: the log lines' timestamp. `None` for a year RFC 3339 cannot write.
pub fn rfc3339_micros(t: OffsetDateTime) -> Option<[u8; 27]> {
    let mut out = *b"0000-00-00T00:00:00.000000Z";
    put_date_time(t, &mut out)?;
    put_digits(&mut out[20..26], t.microsecond());
    Some(out)
}

/// Writes `t`'s `YYYY-MM-DDTHH:MM:SS` over the digits of the template `out` starts with.
fn put_date_time(t: OffsetDateTime, out: &mut [u8]) -> Option<()> {
    let year = u16::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    put_digits(&mut out[0..4], year.into());
    put_digits(&mut out[5..7], u8::from(t.month()).into());
    put_digits(&mut out[8..10], t.day().into());
    put_digits(&mut out[11..13], t.hour().into());
    put_digits(&mut out[14..16], t.minute().into());
    put_digits(&mut out[17..19], t.second().into());
    Some(())
}

/// Writes `value`'s last `slots.len()` decimal digits, zero-padded, into `slots`.
fn put_digits(slots: &mut [u8], mut value: u32) {
    for slot in slots.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = self.rfc3339().ok_or(std::fmt::Error)?;
        f.write_str(std::str::from_utf8(&text).map_err(|_| std::fmt::Error)?)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = self
            .rfc3339()
            .ok_or_else(|| serde::ser::Error::custom("a year RFC 3339 cannot write"))?;
        let text = std::str::from_utf8(&text).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(text)
    }
}

impl TryFrom<String> for Timestamp {
    type Error = Invalid;
    fn try_from(s: String) -> Parsed<Self> {
        Self::parse(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_past_the_writable_years_are_clamped_and_still_print() {
        assert_eq!(
            Timestamp::from_unix(i64::MAX).to_string(),
            "9999-12-31T23:59:59Z"
        );
        assert_eq!(
            Timestamp::from_unix(i64::MIN).to_string(),
            "0000-01-01T00:00:00Z"
        );
        assert_eq!(
            Timestamp::from_unix(LAST_WRITABLE)
                .plus_seconds(1)
                .to_string(),
            "9999-12-31T23:59:59Z"
        );
        assert!(serde_json::to_string(&Timestamp::from_unix(1 << 40)).is_ok());
    }

    #[test]
    fn printing_matches_rfc_3339_formatting_across_the_four_digit_years() {
        for seconds in [
            -62_167_219_200, // 0000-01-01T00:00:00Z
            -1,
            0,
            951_782_400, // 2000-02-29
            1_775_565_005,
            4_102_444_799,
            253_402_300_799, // 9999-12-31T23:59:59Z
        ] {
            let t = Timestamp::from_unix(seconds);
            let expected = t.0.format(&Rfc3339).expect("formats");
            assert_eq!(t.to_string(), expected);
            assert_eq!(
                serde_json::to_value(t).expect("serializes"),
                serde_json::Value::String(expected)
            );
        }
    }

    #[test]
    fn microsecond_printing_matches_rfc_3339_formatting_to_the_microsecond() {
        for (seconds, micros) in [
            (0, 0),
            (951_782_400, 7),
            (1_775_565_005, 654_100),
            (4_102_444_799, 999_999),
        ] {
            let t = OffsetDateTime::from_unix_timestamp(seconds)
                .expect("in range")
                .replace_microsecond(micros)
                .expect("a microsecond");
            let printed = rfc3339_micros(t).expect("prints");
            let expected = t.format(&Rfc3339).expect("formats");
            // `time` drops trailing zeros of the fraction; the log keeps all six digits.
            let reparsed =
                OffsetDateTime::parse(std::str::from_utf8(&printed).expect("ascii"), &Rfc3339);
            assert_eq!(reparsed.expect("parses"), t, "{expected}");
            assert_eq!(&printed[..19], &expected.as_bytes()[..19]);
        }
    }

    #[test]
    fn a_year_before_zero_is_clamped_rather_than_printed_wrongly() {
        let t = Timestamp::from_unix(-62_167_219_201); // -0001-12-31T23:59:59Z
        assert_eq!(
            serde_json::to_value(t).expect("prints"),
            serde_json::json!("0000-01-01T00:00:00Z")
        );
    }

    #[test]
    fn timestamps_print_as_utc_with_whole_seconds() {
        let t = Timestamp::parse("2026-04-07T14:30:05.123+02:00").expect("valid");
        assert_eq!(t.to_string(), "2026-04-07T12:30:05Z");
        assert_eq!(Timestamp::parse(&t.to_string()), Ok(t));
    }
}
