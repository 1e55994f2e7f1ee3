//! `now` with calendar offsets and time zones, and `parseDate`, as WireMock has them. The
//! render time is `tests::render`'s: 2024-03-05 14:07:09.042 UTC.

use super::tests::{assert_err, render, render_in};
use super::Dialect::WireMock;

fn wiremock(src: &str, target: &str) -> String {
    render_in(WireMock, src, target, b"", 1)
}

#[test]
fn now_offsets_in_months_and_years_follow_the_calendar() {
    assert_eq!(render("{{now offset='1 years' format='yyyy'}}"), "2025");
    assert_eq!(render("{{now offset='-3 months' format='yyyy-MM-dd'}}"), "2023-12-05");
    assert_eq!(render("{{now offset='1 month' format='yyyy-MM-dd HH:mm'}}"), "2024-04-05 14:07");
    assert_eq!(render("{{now offset='now +2 years' format='yyyy'}}"), "2026", "WireMock's long form");
    assert_eq!(render("{{now offset='now' format='yyyy'}}"), "2024");
    // A day the target month lacks becomes its last day, as Java's `plusMonths`.
    assert_eq!(render("{{dateFormat (parseDate '2024-01-31T00:00:00Z') 'yyyy-MM-dd'}}"), "2024-01-31");
    let jan31 = chrono::DateTime::parse_from_rfc3339("2024-01-31T10:00:00Z").expect("a date").to_utc();
    let plus =
        |text: &str| super::date::offset(text).expect("an offset").apply(jan31).map(|t| t.to_rfc3339());
    assert_eq!(plus("1 months").as_deref(), Some("2024-02-29T10:00:00+00:00"));
    assert_eq!(plus("-2 months").as_deref(), Some("2023-11-30T10:00:00+00:00"));
    assert_eq!(plus("1 years").as_deref(), Some("2025-01-31T10:00:00+00:00"));
}

#[test]
fn now_prints_in_a_time_zone() {
    // Sydney is on summer time (UTC+11) in March; New York on standard time (UTC-5).
    assert_eq!(render("{{now timezone='Australia/Sydney'}}"), "2024-03-06T01:07:09.042+11:00");
    assert_eq!(wiremock("{{now timezone='Australia/Sydney'}}", "/"), "2024-03-06T01:07:09+11:00");
    assert_eq!(
        render("{{now timezone='Australia/Sydney' format='yyyy-MM-dd HH:mm:ssZ'}}"),
        "2024-03-06 01:07:09+1100"
    );
    assert_eq!(render("{{now timezone='America/New_York' format='HH:mm XXX'}}"), "09:07 -05:00");
    assert_eq!(render("{{now timezone='+05:30' format='HH:mm'}}"), "19:37");
    assert_eq!(render("{{now timezone='GMT-3' format='HH:mm'}}"), "11:07");
    assert_eq!(render("{{now timezone='UTC'}}"), "2024-03-05T14:07:09.042Z");
    assert_eq!(render("{{now timezone='Australia/Sydney' format='epoch'}}"), "1709647629042");
    assert_eq!(render("{{now offset='1 days' timezone='Asia/Tokyo' format='dd HH'}}"), "06 23");
}

#[test]
fn wiremock_prints_a_date_without_a_format_to_the_second() {
    assert_eq!(wiremock("{{now}}", "/"), "2024-03-05T14:07:09Z");
    assert_eq!(render("{{now}}"), "2024-03-05T14:07:09.042Z", "mockplane's own dialect keeps milliseconds");
}

#[test]
fn parse_date_reads_text_and_request_values() {
    // The differential corpus' case (WireMock answered 2024-03-05).
    assert_eq!(render("{{dateFormat (parseDate '2024-03-05T14:07:09Z') format='yyyy-MM-dd'}}"), "2024-03-05");
    assert_eq!(wiremock("{{parseDate '2024-03-05T15:07:09+01:00'}}", "/"), "2024-03-05T14:07:09Z");
    assert_eq!(wiremock("{{parseDate 'Tue, 5 Mar 2024 14:07:09 GMT'}}", "/"), "2024-03-05T14:07:09Z");
    let q = "/?d=05%2F03%2F2024&e=1709647629042&bad=tomorrow";
    assert_eq!(wiremock("{{parseDate request.query.d format='dd/MM/yyyy'}}", q), "2024-03-05T00:00:00Z");
    assert_eq!(wiremock("{{dateFormat (parseDate request.query.e format='epoch') 'HH:mm'}}", q), "14:07");
    assert_eq!(
        wiremock("[{{parseDate request.query.bad}}]", q),
        "[]",
        "text that is no date renders nothing"
    );
    assert_eq!(wiremock("[{{parseDate request.query.missing}}]", q), "[]");
    assert_eq!(
        wiremock("{{#if (gt (parseDate request.query.e format='epoch') (parseDate '2024-01-01T00:00:00Z'))}}later{{/if}}", q),
        "later"
    );
}

#[test]
fn parse_date_mistakes_are_refused_with_their_place() {
    assert_err(
        "{{parseDate 'yesterday'}}",
        1,
        13,
        "'yesterday' is not a date `parseDate` can read (without format",
    );
    assert_err("{{parseDate '2024' format='dd/MM/yyyy'}}", 1, 13, "with that format");
    assert_err(
        "{{parseDate request.query.d format='yyyy-QQ'}}",
        1,
        42,
        "unsupported date pattern letter `Q`",
    );
    assert_err("{{parseDate}}", 1, 3, "needs 1 argument");
    assert_err("{{parseDate 'a' 'b'}}", 1, 3, "found 2");
}
