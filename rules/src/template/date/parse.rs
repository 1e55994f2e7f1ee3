//! `parseDate`: text to an instant, as WireMock's `DateTimeParser` reads it. Without a format,
//! ISO 8601 with an offset (`2024-03-05T14:07:09Z`, `…+01:00`, `…+01:00[Europe/Paris]`), then
//! RFC 1123 (`Tue, 5 Mar 2024 14:07:09 GMT`), RFC 1036 (`Tuesday, 05-Mar-24 14:07:09 GMT`) and
//! asctime (`Tue Mar  5 14:07:09 2024`, in GMT). With `format='epoch'` / `'unix'`, milliseconds
//! / seconds since 1970; with a Java pattern, that pattern, where a date without a zone is in
//! UTC and missing parts are the start of the day, month or year.

use chrono::format::{parse, Item, Parsed};
use chrono::{DateTime, NaiveDateTime, Utc};

/// How `parseDate` reads its text, decided when the template is parsed.
#[derive(Debug, Clone)]
pub(in crate::template) enum DateParser {
    /// WireMock's list of zoned formats, tried in order.
    Zoned,
    /// Milliseconds since 1970.
    Epoch,
    /// Seconds since 1970.
    Unix,
    /// A Java pattern, as chrono items.
    Pattern(Vec<Item<'static>>),
}

/// The instant `text` names, or `None` when it is not a date in that form (WireMock then
/// renders nothing).
pub(in crate::template) fn parse_date(text: &str, parser: &DateParser) -> Option<DateTime<Utc>> {
    match parser {
        DateParser::Zoned => zoned(text),
        DateParser::Epoch => DateTime::from_timestamp_millis(text.parse().ok()?),
        DateParser::Unix => DateTime::from_timestamp(text.parse().ok()?, 0),
        DateParser::Pattern(items) => pattern(text, items),
    }
}

fn zoned(text: &str) -> Option<DateTime<Utc>> {
    // ISO_ZONED_DATE_TIME: an offset, then optionally the zone's name in brackets.
    let iso = match text.strip_suffix(']').and_then(|t| t.rsplit_once('[')) {
        Some((offset_part, _zone)) => offset_part,
        None => text,
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(iso) {
        return Some(t.to_utc());
    }
    if let Ok(t) = DateTime::parse_from_rfc2822(text) {
        return Some(t.to_utc());
    }
    let gmt = |format: &str| {
        let local = ["GMT", "UTC", "UT", "Z"].iter().find_map(|zone| text.strip_suffix(zone))?;
        NaiveDateTime::parse_from_str(local.trim_end(), format).ok().map(|t| t.and_utc())
    };
    gmt("%A, %d-%b-%y %H:%M:%S")
        .or_else(|| NaiveDateTime::parse_from_str(text, "%a %b %e %H:%M:%S %Y").ok().map(|t| t.and_utc()))
}

fn pattern(text: &str, items: &[Item<'static>]) -> Option<DateTime<Utc>> {
    let mut parsed = Parsed::new();
    parse(&mut parsed, text, items.iter()).ok()?;
    if let Ok(t) = parsed.to_datetime() {
        return Some(t.to_utc());
    }
    if let Ok(t) = parsed.to_naive_datetime_with_offset(0) {
        return Some(t.and_utc());
    }
    // A date alone is its midnight; a month its first day; a year its first of January. A
    // field already set keeps its value (setting it again to another is refused).
    let _ = parsed.set_month(1);
    let _ = parsed.set_day(1);
    parsed.to_naive_date().ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::{parse_date, DateParser};
    use crate::template::date::java_pattern;

    fn iso(parser: &DateParser, text: &str) -> Option<String> {
        parse_date(text, parser).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    }

    #[test]
    fn without_a_format_the_zoned_forms_wiremock_tries() {
        let z = DateParser::Zoned;
        let want = Some("2024-03-05T14:07:09.000Z".to_string());
        assert_eq!(iso(&z, "2024-03-05T14:07:09Z"), want);
        assert_eq!(iso(&z, "2024-03-05T15:07:09+01:00"), want);
        assert_eq!(iso(&z, "2024-03-05T15:07:09+01:00[Europe/Paris]"), want);
        assert_eq!(iso(&z, "Tue, 5 Mar 2024 14:07:09 GMT"), want);
        assert_eq!(iso(&z, "Tuesday, 05-Mar-24 14:07:09 GMT"), want);
        assert_eq!(iso(&z, "Tue Mar  5 14:07:09 2024"), want);
        assert_eq!(iso(&z, "2024-03-05"), None, "ISO without a time and an offset is not zoned");
        assert_eq!(iso(&z, "yesterday"), None);
    }

    #[test]
    fn epoch_unix_and_patterns() {
        assert_eq!(iso(&DateParser::Epoch, "1709647629042").as_deref(), Some("2024-03-05T14:07:09.042Z"));
        assert_eq!(iso(&DateParser::Unix, "1709647629").as_deref(), Some("2024-03-05T14:07:09.000Z"));
        assert_eq!(iso(&DateParser::Unix, "soon"), None);
        let p = |pattern: &str| DateParser::Pattern(java_pattern(pattern).expect("a valid pattern"));
        assert_eq!(iso(&p("dd/MM/yyyy"), "05/03/2024").as_deref(), Some("2024-03-05T00:00:00.000Z"));
        assert_eq!(
            iso(&p("dd/MM/yyyy HH:mm"), "05/03/2024 14:07").as_deref(),
            Some("2024-03-05T14:07:00.000Z")
        );
        assert_eq!(
            iso(&p("yyyy-MM-dd HH:mm Z"), "2024-03-05 15:07 +0100").as_deref(),
            Some("2024-03-05T14:07:00.000Z")
        );
        assert_eq!(iso(&p("MMM yyyy"), "Mar 2024").as_deref(), Some("2024-03-01T00:00:00.000Z"));
        assert_eq!(iso(&p("yyyy"), "2024").as_deref(), Some("2024-01-01T00:00:00.000Z"));
        assert_eq!(iso(&p("dd/MM/yyyy"), "2024-03-05"), None);
    }
}
