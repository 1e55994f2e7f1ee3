//! `now` helper arguments, prepared at parse time: Java `DateTimeFormatter`-style patterns (as
//! WireMock takes them) become chrono items, and `offset='3 days'` becomes a [`TimeDelta`].

use chrono::format::{Fixed, Item, Numeric, Pad, StrftimeItems};
use chrono::TimeDelta;

/// The pattern letters we translate, for error messages.
const SUPPORTED: &str = "yyyy yy MM MMM MMMM M dd d HH H hh h mm m ss s SSS a EEE EEEE Z X XX XXX";

/// The default `{{now}}` format: RFC 3339, UTC, milliseconds (`2024-01-02T03:04:05.678Z`).
pub(super) fn rfc3339_millis() -> Vec<Item<'static>> {
    // A fixed, valid strftime string: parsing it cannot fail.
    StrftimeItems::new("%Y-%m-%dT%H:%M:%S%.3fZ").parse_to_owned().unwrap_or_default()
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

/// Parses `3 days`, `-2 hours`, `+1 week`: a signed integer, spaces, a unit.
pub(super) fn offset(text: &str) -> Result<TimeDelta, String> {
    const UNITS: &str = "seconds, minutes, hours, days, weeks";
    let bad = || {
        format!("bad offset '{text}': expected an amount and a unit, such as '3 days' or '-2 hours' (units: {UNITS})")
    };
    let mut words = text.split_whitespace();
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
    let seconds_per_unit: i64 = match unit.to_ascii_lowercase().as_str() {
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
        .ok_or_else(|| format!("bad offset '{text}': the amount is too large"))
}
