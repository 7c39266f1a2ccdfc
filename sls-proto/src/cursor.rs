//! Shard cursors: a position in a shard, as LogHub writes it on the wire.
//!
//! A cursor is the standard base64 of the decimal ASCII of an int64 sequence
//! number; consecutive log groups of a shard have consecutive numbers.
//! [`Cursor`] keeps the number, so cursors order and subtract naturally.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The longest cursor string we decode: the base64 of 19 digits is 28 bytes;
/// anything much longer is not a cursor and is refused before decoding.
const MAX_ENCODED_LEN: usize = 64;

/// A position in a shard: the sequence number of the next log group to read.
///
/// ```
/// use sls_proto::Cursor;
///
/// let cursor: Cursor = "MTQ0NzI5OTYwNjg5NjYzMjM1Ng==".parse()?;
/// assert_eq!(cursor.sequence(), 1447299606896632356);
/// assert_eq!(cursor.to_string(), "MTQ0NzI5OTYwNjg5NjYzMjM1Ng==");
/// assert!(cursor < cursor.checked_add(1).unwrap());
/// # Ok::<(), sls_proto::CursorError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor(i64);

impl Cursor {
    /// The cursor of a sequence number.
    pub const fn from_sequence(sequence: i64) -> Self {
        Self(sequence)
    }

    /// The sequence number.
    pub const fn sequence(self) -> i64 {
        self.0
    }

    /// Decodes a cursor string. Only the canonical form is accepted: standard
    /// base64 with padding, of decimal digits without sign, spaces or leading
    /// zeros, so that `Cursor::parse(s)?.to_string() == s`.
    pub fn parse(encoded: &str) -> Result<Self, CursorError> {
        if encoded.is_empty() {
            return Err(CursorError::Empty);
        }
        if encoded.len() > MAX_ENCODED_LEN {
            return Err(CursorError::TooLong(encoded.len()));
        }
        let mut digits = [0u8; MAX_ENCODED_LEN];
        let n = STANDARD
            .decode_slice(encoded, &mut digits)
            .map_err(|_| CursorError::NotBase64)?;
        Self::parse_decimal(&digits[..n])
    }

    /// Parses the decimal form the service uses in `x-log-read-last-cursor`.
    pub fn parse_decimal(digits: &[u8]) -> Result<Self, CursorError> {
        let canonical = !digits.is_empty()
            && digits.iter().all(u8::is_ascii_digit)
            && (digits[0] != b'0' || digits.len() == 1);
        if !canonical {
            return Err(CursorError::NotDecimal);
        }
        // All ASCII digits, so this is UTF-8 and parses unless it overflows.
        std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .map(Self)
            .ok_or(CursorError::OutOfRange)
    }

    /// The cursor `n` groups later (or earlier, for negative `n`), if it does
    /// not overflow.
    pub fn checked_add(self, n: i64) -> Option<Self> {
        self.0.checked_add(n).map(Self)
    }

    /// How many groups lie from `self` up to `later`; negative when `later`
    /// is before `self`.
    pub fn distance_to(self, later: Cursor) -> Option<i64> {
        later.0.checked_sub(self.0)
    }

    /// The cursor of each group of a pull, oldest first, as the official Go
    /// SDK derives them: from `x-log-read-last-cursor` (the sequence number of
    /// the last group returned) when the server sent it, else from the
    /// request cursor. Returns `None` when the groups are not consecutive
    /// (`filtered`: the pull had an SPL query, which drops groups) or when
    /// the numbers would overflow.
    pub fn group_cursors(
        request: Cursor,
        read_last: Option<Cursor>,
        count: usize,
        filtered: bool,
    ) -> Option<impl ExactSizeIterator<Item = Cursor>> {
        if filtered {
            return None;
        }
        let n = i64::try_from(count).ok()?;
        let first = match read_last {
            Some(last) if n > 0 => last.0.checked_sub(n - 1)?,
            _ => request.0,
        };
        first.checked_add(n)?;
        // No overflow: `first + n` was checked above.
        Some((0..count).map(move |i| Cursor(first + i as i64)))
    }
}

impl fmt::Display for Cursor {
    /// The wire form: base64 of the decimal sequence number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&STANDARD.encode(self.0.to_string()))
    }
}

impl FromStr for Cursor {
    type Err = CursorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Why a string is not a cursor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CursorError {
    /// The cursor is empty.
    #[error("empty cursor")]
    Empty,
    /// The cursor is far longer than any real cursor.
    #[error("cursor of {0} bytes is too long")]
    TooLong(usize),
    /// The cursor is not standard, padded base64.
    #[error("cursor is not base64")]
    NotBase64,
    /// The decoded cursor is not a canonical unsigned decimal number.
    #[error("cursor does not encode a decimal sequence number")]
    NotDecimal,
    /// The decoded number does not fit in an i64.
    #[error("cursor sequence number is out of range")]
    OutOfRange,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_cursor_round_trips() {
        let c = Cursor::parse("MTQ0NzI5OTYwNjg5NjYzMjM1Ng==").unwrap();
        assert_eq!(c.sequence(), 1_447_299_606_896_632_356);
        assert_eq!(c.to_string(), "MTQ0NzI5OTYwNjg5NjYzMjM1Ng==");
        assert_eq!(Cursor::from_sequence(0).to_string(), "MA==");
        assert_eq!(
            Cursor::from_sequence(i64::MAX)
                .to_string()
                .parse::<Cursor>()
                .unwrap()
                .sequence(),
            i64::MAX
        );
    }

    #[test]
    fn malformed_cursors_are_typed_errors() {
        let b64 = |s: &str| STANDARD.encode(s);
        assert_eq!(Cursor::parse(""), Err(CursorError::Empty));
        assert_eq!(Cursor::parse("!!!!"), Err(CursorError::NotBase64));
        assert_eq!(
            Cursor::parse("MTI"),
            Err(CursorError::NotBase64),
            "padding is required"
        );
        assert_eq!(
            Cursor::parse(&"A".repeat(100)),
            Err(CursorError::TooLong(100))
        );
        for bad in ["", "-1", "+1", "01", " 1", "1 ", "1a", "1.0"] {
            if bad.is_empty() {
                continue;
            }
            assert_eq!(
                Cursor::parse(&b64(bad)),
                Err(CursorError::NotDecimal),
                "{bad:?}"
            );
        }
        assert_eq!(
            Cursor::parse(&b64("9223372036854775808")),
            Err(CursorError::OutOfRange)
        );
        assert_eq!(Cursor::parse(&b64("0")).unwrap().sequence(), 0);
    }

    #[test]
    fn group_cursors_follow_read_last_cursor() {
        // The Go SDK's own case: read-last ...655 with three groups.
        let last = Cursor::parse_decimal(b"1729070618428044655").unwrap();
        let got: Vec<i64> = Cursor::group_cursors(Cursor::from_sequence(0), Some(last), 3, false)
            .unwrap()
            .map(Cursor::sequence)
            .collect();
        assert_eq!(
            got,
            [
                1729070618428044653,
                1729070618428044654,
                1729070618428044655
            ]
        );
    }

    #[test]
    fn group_cursors_fall_back_to_the_request_cursor() {
        let got: Vec<i64> = Cursor::group_cursors(Cursor::from_sequence(10), None, 2, false)
            .unwrap()
            .map(Cursor::sequence)
            .collect();
        assert_eq!(got, [10, 11]);
        assert!(Cursor::group_cursors(Cursor::from_sequence(10), None, 2, true).is_none());
        assert!(Cursor::group_cursors(Cursor::from_sequence(i64::MAX), None, 2, false).is_none());
        assert_eq!(
            Cursor::group_cursors(
                Cursor::from_sequence(5),
                Some(Cursor::from_sequence(9)),
                0,
                false
            )
            .unwrap()
            .len(),
            0
        );
    }
}
