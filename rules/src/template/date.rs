//! `now` helper arguments, prepared at parse time: Java `DateTimeFormatter`-style patterns (as
//! WireMock takes them) become chrono items, `offset='3 days'` becomes an [`Offset`], and
//! `timezone='Europe/Paris'` a [`Zone`]. `parseDate`'s text is read in `date/parse.rs`.

use chrono::format::{Fixed, Item, Numeric, Pad, StrftimeItems};
use chrono::{DateTime, FixedOffset, Months, TimeDelta, Utc};

mod parse;
pub(super) use parse::{parse_date, DateParser};

/// How far `now` moves from the current time: a duration, or whole months (a year is twelve),
/// which land on the same day of the month, or its last day when that is shorter, as Java's
/// `ZonedDateTime.plus` does in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Offset {
    Duration(TimeDelta),
    Months(i64),
}

impl Offset {
    pub(super) const ZERO: Offset = Offset::Duration(TimeDelta::zero());

    /// `t` moved by the offset; `None` past the representable range.
    pub(super) fn apply(self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Offset::Duration(d) => t.checked_add_signed(d),
            Offset::Months(n) => {
                let months = Months::new(u32::try_from(n.unsigned_abs()).ok()?);
                if n < 0 {
                    t.checked_sub_months(months)
                } else {
                    t.checked_add_months(months)
                }
            }
        }
    }
}

/// The zone a date is printed in (`timezone='…'`): an IANA name, or a fixed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Zone {
    Named(chrono_tz::Tz),
    Fixed(FixedOffset),
}

/// Reads a zone as Java's `ZoneId.of` does: `Europe/Paris`, `UTC`, `Z`, `+02:00`, `-5`,
/// `+0530`, `UTC+2`, `GMT-03:00`.
pub(super) fn zone(text: &str) -> Result<Zone, String> {
    let bad = || {
        format!("unknown time zone '{text}': give a name such as 'Europe/Paris' or 'UTC', or an offset such as '+02:00'")
    };
    if text == "Z" {
        return Ok(Zone::Fixed(FixedOffset::east_opt(0).ok_or_else(bad)?));
    }
    let offset = ["UTC", "GMT", "UT", ""]
        .iter()
        .find_map(|prefix| text.strip_prefix(prefix).filter(|rest| rest.starts_with(['+', '-'])));
    if let Some(offset) = offset {
        return fixed_offset(offset).map(Zone::Fixed).ok_or_else(bad);
    }
    text.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| bad())
}

/// `+h`, `+hh`, `+hh:mm`, `+hhmm`, `+hh:mm:ss`, `+hhmmss` (or `-`), up to 18 hours.
fn fixed_offset(text: &str) -> Option<FixedOffset> {
    let (sign, rest) = match text.split_at(1) {
        ("+", rest) => (1, rest),
        ("-", rest) => (-1, rest),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|&c| c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || rest.starts_with(':') {
        return None;
    }
    let field = |from: usize| digits.get(from..from + 2).and_then(|d| d.parse::<i32>().ok());
    let (h, m, s) = match digits.len() {
        1 => (digits.parse().ok()?, 0, 0),
        2 => (field(0)?, 0, 0),
        4 => (field(0)?, field(2)?, 0),
        6 => (field(0)?, field(2)?, field(4)?),
        _ => return None,
    };
    if h > 18 || m > 59 || s > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60 + s))
}

/// The pattern letters we translate, for error messages.
const SUPPORTED: &str = "yyyy yy MM MMM MMMM M dd d HH H hh h mm m ss s SSS a EEE EEEE Z X XX XXX";

/// The default `{{now}}` format: RFC 3339 with milliseconds (`2024-01-02T03:04:05.678Z`), or
/// without them (`2024-01-02T03:04:05Z`) as WireMock prints it; `Z` in UTC, else the offset
/// (`+11:00`).
pub(super) fn rfc3339(millis: bool) -> Vec<Item<'static>> {
    // Fixed, valid strftime strings: parsing them cannot fail.
    let spec = if millis { "%Y-%m-%dT%H:%M:%S%.3f" } else { "%Y-%m-%dT%H:%M:%S" };
    let mut items = StrftimeItems::new(spec).parse_to_owned().unwrap_or_default();
    items.push(Item::Fixed(Fixed::TimezoneOffsetColonZ));
    items
}

/// Translates a Java-style date pattern. On error, returns the byte offset in `pattern` of the
/// offending part and a message.
pub(super) fn java_pattern(pattern: &str) -> Result<Vec<Item<'static>>, (usize, String)> {
    let mut items = Vec::new();
    let mut literal = String::new();
    let chars: Vec<(usize, char)> = pattern.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        if c == '\'' {
            // `''` is a quote; `'text'` is literal text, in which `''` is a quote too.
            if chars.get(i + 1).map(|&(_, c)| c) == Some('\'') {
                literal.push('\'');
                i += 2;
                continue;
            }
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err((at, "unterminated quote in date format".to_string())),
                    Some(&(_, '\'')) => {
                        if chars.get(i + 1).map(|&(_, c)| c) == Some('\'') {
                            literal.push('\'');
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(&(_, c)) => {
                        literal.push(c);
                        i += 1;
                    }
                }
            }
            continue;
        }
        if !c.is_ascii_alphabetic() {
            literal.push(c);
            i += 1;
            continue;
        }
        let mut n = 1;
        while chars.get(i + n).map(|&(_, d)| d) == Some(c) {
            n += 1;
        }
        let item = letter(c, n).map_err(|unsupported_letter| {
            let run: String = std::iter::repeat_n(c, n).collect();
            let message = if unsupported_letter {
                format!("unsupported date pattern letter `{c}` (supported: {SUPPORTED})")
            } else {
                format!("unsupported date pattern `{run}` (supported: {SUPPORTED})")
            };
            (at, message)
        })?;
        if !literal.is_empty() {
            items.push(Item::OwnedLiteral(std::mem::take(&mut literal).into_boxed_str()));
        }
        items.push(item);
        i += n;
    }
    if !literal.is_empty() {
        items.push(Item::OwnedLiteral(literal.into_boxed_str()));
    }
    Ok(items)
}

/// The item for `n` repetitions of the pattern letter `c`. `Err(true)`: the letter is not
/// supported at all; `Err(false)`: it is, but not with this many repetitions.
fn letter(c: char, n: usize) -> Result<Item<'static>, bool> {
    let num = |numeric: Numeric, n: usize| match n {
        1 => Ok(Item::Numeric(numeric, Pad::None)),
        2 => Ok(Item::Numeric(numeric, Pad::Zero)),
        _ => Err(false),
    };
    match c {
        'y' => match n {
            2 => Ok(Item::Numeric(Numeric::YearMod100, Pad::Zero)),
            1 | 3 => Ok(Item::Numeric(Numeric::Year, Pad::None)),
            4 => Ok(Item::Numeric(Numeric::Year, Pad::Zero)),
            _ => Err(false),
        },
        'M' => match n {
            1 | 2 => num(Numeric::Month, n),
            3 => Ok(Item::Fixed(Fixed::ShortMonthName)),
            4 => Ok(Item::Fixed(Fixed::LongMonthName)),
            _ => Err(false),
        },
        'd' => num(Numeric::Day, n),
        'H' => num(Numeric::Hour, n),
        'h' => num(Numeric::Hour12, n),
        'm' => num(Numeric::Minute, n),
        's' => num(Numeric::Second, n),
        'S' => {
            let spec = match n {
                3 => "%3f",
                6 => "%6f",
                9 => "%9f",
                _ => return Err(false),
            };
            StrftimeItems::new(spec).next().map(Item::to_owned).ok_or(false)
        }
        'a' if n == 1 => Ok(Item::Fixed(Fixed::UpperAmPm)),
        'E' => match n {
            1..=3 => Ok(Item::Fixed(Fixed::ShortWeekdayName)),
            4 => Ok(Item::Fixed(Fixed::LongWeekdayName)),
            _ => Err(false),
        },
        'Z' if n <= 3 => Ok(Item::Fixed(Fixed::TimezoneOffset)),
        'X' => match n {
            1 | 2 => Ok(Item::Fixed(Fixed::TimezoneOffsetZ)),
            3 => Ok(Item::Fixed(Fixed::TimezoneOffsetColonZ)),
            _ => Err(false),
        },
        'a' | 'Z' => Err(false),
        _ => Err(true),
    }
}

/// Parses `3 days`, `-2 hours`, `+1 week`, `now +5 years` (WireMock's long form), `now`: a
/// signed integer, spaces, a unit.
pub(super) fn offset(text: &str) -> Result<Offset, String> {
    const UNITS: &str = "seconds, minutes, hours, days, weeks, months, years";
    let bad = || {
        format!("bad offset '{text}': expected an amount and a unit, such as '3 days' or '-2 hours' (units: {UNITS})")
    };
    let mut words = text.split_whitespace().peekable();
    if words.peek().is_some_and(|w| w.eq_ignore_ascii_case("now")) {
        words.next();
        if words.peek().is_none() {
            return Ok(Offset::ZERO);
        }
    }
    let (Some(amount), Some(unit), None) = (words.next(), words.next(), words.next()) else {
        return Err(bad());
    };
    let digits = amount.strip_prefix(['+', '-']).unwrap_or(amount);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let amount: i64 = amount
        .trim_start_matches('+')
        .parse()
        .map_err(|_| format!("bad offset '{text}': the amount is too large"))?;
    let too_large = || format!("bad offset '{text}': the amount is too large");
    let seconds_per_unit: i64 = match unit.to_ascii_lowercase().as_str() {
        "month" | "months" => return Ok(Offset::Months(amount)),
        "year" | "years" => return amount.checked_mul(12).map(Offset::Months).ok_or_else(too_large),
        "second" | "seconds" => 1,
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3_600,
        "day" | "days" => 86_400,
        "week" | "weeks" => 604_800,
        _ => return Err(format!("bad offset '{text}': unknown unit `{unit}` (units: {UNITS})")),
    };
    amount
        .checked_mul(seconds_per_unit)
        .and_then(TimeDelta::try_seconds)
        .map(Offset::Duration)
        .ok_or_else(too_large)
}
