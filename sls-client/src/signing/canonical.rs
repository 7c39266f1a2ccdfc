//! Shared canonicalisation helpers: header selection, query ordering,
//! percent-encoding, time formatting and the keyed hashes.
//!
//! Everything here is total: no input makes these functions panic.

use std::time::SystemTime;

use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha1::Sha1;
use sha2::Sha256;
use time::{OffsetDateTime, PrimitiveDateTime};

/// RFC 3986 unreserved characters stay as they are; every other byte of the
/// UTF-8 encoding becomes `%XX` (upper-case hex), a space becomes `%20`.
pub(crate) const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes `value` as v4 query values are encoded.
pub(crate) fn percent_encode(value: &str) -> String {
    utf8_percent_encode(value, RFC3986).to_string()
}

/// A header as it is canonicalised: name trimmed and ASCII-lowercased,
/// value trimmed.
pub(crate) type Header = (String, String);

/// Selects the request headers whose canonical (trimmed, lowercased) name
/// passes `keep`, adds `added` (whose names are already canonical), then
/// sorts by name and removes duplicate names. On a duplicate the later entry
/// wins, so a header the signer adds replaces one the request already had.
pub(crate) fn canonical_headers(
    request: &[(&str, &str)],
    keep: impl Fn(&str) -> bool,
    added: &[(&str, &str)],
) -> Vec<Header> {
    let mut all: Vec<Header> = request
        .iter()
        .map(|(name, value)| (canonical_name(name), value.trim()))
        .filter(|(name, _)| keep(name))
        .map(|(name, value)| (name, value.to_owned()))
        .collect();
    all.extend(
        added
            .iter()
            .filter(|(name, _)| keep(name))
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    );
    // Stable: among equal names, the original order is kept, so the last
    // one is the request's last occurrence or the signer's own value.
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<Header> = Vec::with_capacity(all.len());
    for (name, value) in all {
        match out.last_mut() {
            Some(last) if last.0 == name => last.1 = value,
            _ => out.push((name, value)),
        }
    }
    out
}

/// The canonical form of a header name: trimmed, ASCII-lowercased.
/// Appends `name:value\n` for each header, in the order given.
pub(crate) fn push_header_lines(out: &mut String, headers: &[(String, String)]) {
    for (name, value) in headers {
        out.push_str(name);
        out.push(':');
        out.push_str(value);
        out.push('\n');
    }
}

pub(crate) fn canonical_name(name: &str) -> String {
    name.trim().to_ascii_lowercase()
}

/// The trimmed value of the last request header named `wanted`
/// (case-insensitive), if any.
pub(crate) fn find_header<'a>(headers: &[(&'a str, &'a str)], wanted: &str) -> Option<&'a str> {
    headers
        .iter()
        .rev()
        .find(|(name, _)| name.trim().eq_ignore_ascii_case(wanted))
        .map(|(_, value)| value.trim())
}

/// The query parameters sorted by raw key (byte order); parameters with the
/// same key keep their relative order.
pub(crate) fn sorted_query<'a>(query: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut sorted = query.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    sorted
}

/// `time` as a UTC date-time, clamped to the range `time` can represent
/// (years -9999 to 9999) instead of failing.
pub(crate) fn utc(time: SystemTime) -> OffsetDateTime {
    let seconds = match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    };
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or_else(|_| {
        if seconds < 0 {
            PrimitiveDateTime::MIN.assume_utc()
        } else {
            PrimitiveDateTime::MAX.assume_utc()
        }
    })
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// RFC 1123 in GMT with a two-digit day: `Thu, 01 Jan 1970 00:00:00 GMT`.
pub(crate) fn http_date(time: OffsetDateTime) -> String {
    let weekday = WEEKDAYS[usize::from(time.weekday().number_days_from_monday()) % 7];
    let month = MONTHS[(usize::from(u8::from(time.month())) + 11) % 12];
    format!(
        "{weekday}, {:02} {month} {:04} {:02}:{:02}:{:02} GMT",
        time.day(),
        time.year(),
        time.hour(),
        time.minute(),
        time.second()
    )
}

/// ISO 8601 basic format in UTC, as `x-log-date` wants: `20220808T032330Z`.
pub(crate) fn iso8601_basic(time: OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        time.year(),
        u8::from(time.month()),
        time.day(),
        time.hour(),
        time.minute(),
        time.second()
    )
}

/// HMAC-SHA1 of `message` under `key`.
pub(crate) fn hmac_sha1(key: &[u8], message: &[u8]) -> [u8; 20] {
    // HMAC takes keys of any length, so this constructor cannot fail.
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA256 of `message` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length, so this constructor cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn percent_encoding_matches_the_sdk_vectors() {
        assert_eq!(
            percent_encode("123abc!@#$%^&*()-=_+ ~|\\/"),
            "123abc%21%40%23%24%25%5E%26%2A%28%29-%3D_%2B%20~%7C%5C%2F"
        );
        assert_eq!(
            percent_encode("!@#$%^&*()=-+ ~./_[()]%20你好\0\u{111}❤😓"),
            "%21%40%23%24%25%5E%26%2A%28%29%3D-%2B%20~.%2F_%5B%28%29%5D%2520\
             %E4%BD%A0%E5%A5%BD%00%C4%91%E2%9D%A4%F0%9F%98%93"
        );
    }

    #[test]
    fn dates_are_formatted() {
        let epoch = utc(SystemTime::UNIX_EPOCH);
        assert_eq!(http_date(epoch), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(iso8601_basic(epoch), "19700101T000000Z");
        let t = utc(SystemTime::UNIX_EPOCH + Duration::from_secs(1_659_929_010));
        assert_eq!(iso8601_basic(t), "20220808T032330Z");
        assert_eq!(http_date(t), "Mon, 08 Aug 2022 03:23:30 GMT");
    }

    #[test]
    fn extreme_times_are_clamped() {
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::MAX / 4);
        assert_eq!(utc(far).year(), 9999);
        if let Some(before) = SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(1 << 40)) {
            assert_eq!(utc(before).year(), -9999);
        }
    }

    #[test]
    fn later_duplicates_win() {
        let headers = canonical_headers(
            &[(" X-Log-A ", " 1 "), ("x-log-a", "2"), ("other", "x")],
            |name| name.starts_with("x-log-"),
            &[("x-log-b", "3")],
        );
        assert_eq!(
            headers,
            vec![
                ("x-log-a".to_owned(), "2".to_owned()),
                ("x-log-b".to_owned(), "3".to_owned())
            ]
        );
    }
}
