//! Times and durations: parsing what users type, and showing what the
//! service sends (RFC 3339 in UTC, durations such as `3m12s`).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::CliError;

/// Now, in Unix microseconds, from this machine's clock.
pub(crate) fn now_micros() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// Unix seconds as RFC 3339 in UTC, such as `2024-05-01T01:00:00Z`.
pub(crate) fn rfc3339(unix_seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| unix_seconds.to_string())
}

/// `TIME` as RFC 3339 (any offset) or Unix seconds.
pub(crate) fn parse_time(text: &str) -> Result<i64, CliError> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map_err(|_| CliError::Usage(format!("bad time {text:?}: too large")));
    }
    OffsetDateTime::parse(text, &Rfc3339)
        .map(OffsetDateTime::unix_timestamp)
        .map_err(|err| {
            CliError::Usage(format!(
                "bad time {text:?}: {err}; give RFC 3339 (2024-05-01T09:00:00+08:00) or Unix seconds"
            ))
        })
}

/// `DUR` such as `1h30m`, `15m`, `2d`, `90s` or `1d2h3m4s`, in seconds.
pub(crate) fn parse_duration(text: &str) -> Result<i64, CliError> {
    let bad = |why: &str| {
        CliError::Usage(format!(
            "bad duration {text:?}: {why}; give numbers with units d, h, m, s, such as 1h30m"
        ))
    };
    let mut total: i64 = 0;
    let mut number = String::new();
    let mut units_seen = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad(&format!("unexpected {c:?}"))),
        };
        if number.is_empty() {
            return Err(bad(&format!("no number before {c:?}")));
        }
        if units_seen.contains(c) {
            return Err(bad(&format!("{c:?} given twice")));
        }
        units_seen.push(c);
        let value: i64 = number.parse().map_err(|_| bad("too large"))?;
        total = value
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| bad("too large"))?;
        number.clear();
    }
    if !number.is_empty() {
        return Err(bad("a number without a unit"));
    }
    if units_seen.is_empty() {
        return Err(bad("empty"));
    }
    Ok(total)
}

/// Seconds as `3m12s`, `1h5s`, `2d4h`, `0s`; negative ones with `-`.
pub(crate) fn human(seconds: i64) -> String {
    if seconds < 0 {
        return format!("-{}", human(seconds.saturating_neg()));
    }
    let mut out = String::new();
    let mut rest = seconds;
    for (unit, name) in [(86_400, 'd'), (3_600, 'h'), (60, 'm')] {
        if rest >= unit {
            out.push_str(&format!("{}{name}", rest / unit));
            rest %= unit;
        }
    }
    if rest > 0 || out.is_empty() {
        out.push_str(&format!("{rest}s"));
    }
    out
}

/// Adds `name` (RFC 3339) and `name_unix` (Unix seconds) to `map`, both
/// null when there is no time.
pub(crate) fn put_time(map: &mut Map<String, Value>, name: &str, unix_seconds: Option<i64>) {
    map.insert(
        name.to_owned(),
        unix_seconds.map_or(Value::Null, |t| Value::String(rfc3339(t))),
    );
    map.insert(
        format!("{name}_unix"),
        unix_seconds.map_or(Value::Null, Value::from),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400);
        assert_eq!(parse_duration("2d").unwrap(), 172_800);
        assert_eq!(parse_duration("90s").unwrap(), 90);
        assert_eq!(parse_duration("1d2h3m4s").unwrap(), 93_784);
        for bad in ["", "90", "1x", "h", "1h1h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_show() {
        assert_eq!(human(0), "0s");
        assert_eq!(human(192), "3m12s");
        assert_eq!(human(3_605), "1h5s");
        assert_eq!(human(93_784), "1d2h3m4s");
        assert_eq!(human(-5), "-5s");
    }

    #[test]
    fn times_parse() {
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000);
        assert_eq!(parse_time("2023-11-14T22:13:20Z").unwrap(), 1_700_000_000);
        assert_eq!(
            parse_time("2023-11-15T06:13:20+08:00").unwrap(),
            1_700_000_000
        );
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert!(parse_time("yesterday").is_err());
    }
}
