//! The protobuf wire format at the level the view decoder needs: varints,
//! field keys, length-delimited slices and skipping unknown fields.
//!
//! Every read is bounds-checked and returns a [`DecodeError`] carrying the
//! absolute offset in the decoded buffer, so a malformed body is reported at
//! the byte where it goes wrong.

use crate::decode_error::{DecodeError, DecodeErrorKind};

/// The wire types of protobuf; the deprecated group types are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireType {
    Varint,
    Fixed64,
    LengthDelimited,
    Fixed32,
}

impl WireType {
    #[inline(always)]
    fn from_bits(bits: u8) -> Option<Self> {
        match bits {
            0 => Some(Self::Varint),
            1 => Some(Self::Fixed64),
            2 => Some(Self::LengthDelimited),
            5 => Some(Self::Fixed32),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Varint => "varint",
            Self::Fixed64 => "fixed64",
            Self::LengthDelimited => "length-delimited",
            Self::Fixed32 => "fixed32",
        }
    }
}

/// A cursor over one message's bytes. `base` is the offset of `buf` in the
/// whole decoded buffer, used only for error offsets.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The absolute offset of the next byte to read.
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    fn error(&self, at: usize, kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(kind, self.base + at)
    }

    #[inline(always)]
    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        // One-byte varints (field keys, short lengths) are the common case.
        match self.buf.get(self.pos..) {
            Some([b0, ..]) if *b0 < 0x80 => {
                self.pos += 1;
                Ok(u64::from(*b0))
            }
            // Two bytes: lengths of logs and long strings.
            Some([b0, b1, ..]) if *b1 < 0x80 => {
                self.pos += 2;
                Ok(u64::from(b0 & 0x7f) | (u64::from(*b1) << 7))
            }
            _ => self.varint_slow(),
        }
    }

    #[cold]
    #[inline(never)]
    fn varint_slow(&mut self) -> Result<u64, DecodeError> {
        let start = self.pos;
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(start + i) else {
                return Err(self.error(start, DecodeErrorKind::Truncated));
            };
            // The tenth byte may only carry the top bit of a u64.
            if i == 9 && b > 1 {
                return Err(self.error(start, DecodeErrorKind::VarintOverflow));
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.pos = start + i + 1;
                return Ok(value);
            }
        }
        Err(self.error(start, DecodeErrorKind::VarintOverflow))
    }

    /// Reads a field key: the field number and its wire type.
    #[inline(always)]
    pub(crate) fn key(&mut self) -> Result<(u32, WireType), DecodeError> {
        let start = self.pos;
        if let Some(&b) = self.buf.get(start) {
            // Fields 1 to 15 have one-byte keys; wire types 0, 1, 2, 5 are valid.
            if (0x08..0x80).contains(&b) && (0b0010_0111u8 >> (b & 7)) & 1 == 1 {
                self.pos = start + 1;
                let wire_type = WireType::from_bits(b & 7).unwrap_or(WireType::Varint);
                return Ok((u32::from(b >> 3), wire_type));
            }
        }
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 || field > u64::from(u32::MAX >> 3) {
            return Err(self.error(start, DecodeErrorKind::InvalidFieldNumber));
        }
        let bits = (key & 0x7) as u8;
        match WireType::from_bits(bits) {
            Some(wire_type) => Ok((field as u32, wire_type)),
            None => Err(self.error(start, DecodeErrorKind::UnsupportedWireType(bits))),
        }
    }

    /// The next field key of a buffer that validation accepted: `None` at
    /// the end (without building an error), or on a malformation that
    /// validation would have refused.
    #[inline(always)]
    pub(crate) fn next_key(&mut self) -> Option<(u32, WireType)> {
        if self.is_empty() {
            return None;
        }
        self.key().ok()
    }

    /// Reads a length-delimited payload; returns it with its absolute offset.
    #[inline(always)]
    pub(crate) fn bytes(&mut self) -> Result<(&'a [u8], usize), DecodeError> {
        let start = self.pos;
        let len = self.varint()?;
        let begin = self.pos;
        let remaining = self.buf.len() - begin;
        if len > remaining as u64 {
            return Err(self.error(start, DecodeErrorKind::LengthOutOfBounds));
        }
        let end = begin + len as usize;
        self.pos = end;
        Ok((&self.buf[begin..end], self.base + begin))
    }

    pub(crate) fn fixed32(&mut self) -> Result<u32, DecodeError> {
        let start = self.pos;
        match self.buf.get(start..start + 4) {
            Some(b) => {
                self.pos = start + 4;
                Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            None => Err(self.error(start, DecodeErrorKind::Truncated)),
        }
    }

    /// Skips a field's value of the given wire type.
    pub(crate) fn skip(&mut self, wire_type: WireType) -> Result<(), DecodeError> {
        match wire_type {
            WireType::Varint => self.varint().map(drop),
            WireType::LengthDelimited => self.bytes().map(drop),
            WireType::Fixed32 => self.fixed32().map(drop),
            WireType::Fixed64 => {
                let start = self.pos;
                if self.buf.len() - start < 8 {
                    return Err(self.error(start, DecodeErrorKind::Truncated));
                }
                self.pos = start + 8;
                Ok(())
            }
        }
    }

    /// Checks that a known field arrived with the wire type its schema gives.
    #[inline]
    pub(crate) fn expect(
        &self,
        key_offset: usize,
        field: &'static str,
        expected: WireType,
        found: WireType,
    ) -> Result<(), DecodeError> {
        if expected == found {
            Ok(())
        } else {
            Err(DecodeError::new(
                DecodeErrorKind::WireTypeMismatch {
                    field,
                    expected: expected.name(),
                    found: found.name(),
                },
                key_offset,
            ))
        }
    }
}

/// Appends a varint to `out`.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trips_edges() {
        for value in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut buf = Vec::new();
            put_varint(&mut buf, value);
            let mut reader = Reader::new(&buf, 0);
            assert_eq!(reader.varint().unwrap(), value);
            assert!(reader.is_empty());
        }
    }

    #[test]
    fn varint_errors_are_typed() {
        let mut r = Reader::new(&[0x80, 0x80], 7);
        let err = r.varint().unwrap_err();
        assert_eq!(err.kind(), &DecodeErrorKind::Truncated);
        assert_eq!(err.offset(), 7);
        let eleven = [0xff; 11];
        assert_eq!(
            Reader::new(&eleven, 0).varint().unwrap_err().kind(),
            &DecodeErrorKind::VarintOverflow
        );
        let mut ten = [0xff; 10];
        ten[9] = 0x02;
        assert_eq!(
            Reader::new(&ten, 0).varint().unwrap_err().kind(),
            &DecodeErrorKind::VarintOverflow
        );
    }

    #[test]
    fn length_past_the_end_is_refused() {
        let mut r = Reader::new(&[0x05, 1, 2], 0);
        assert_eq!(
            r.bytes().unwrap_err().kind(),
            &DecodeErrorKind::LengthOutOfBounds
        );
        // A length near u64::MAX must not overflow the bounds arithmetic.
        let mut huge = Vec::new();
        put_varint(&mut huge, u64::MAX);
        assert_eq!(
            Reader::new(&huge, 0).bytes().unwrap_err().kind(),
            &DecodeErrorKind::LengthOutOfBounds
        );
    }

    #[test]
    fn group_wire_types_and_field_zero_are_refused() {
        assert_eq!(
            Reader::new(&[0x0b], 0).key().unwrap_err().kind(),
            &DecodeErrorKind::UnsupportedWireType(3)
        );
        assert_eq!(
            Reader::new(&[0x02], 0).key().unwrap_err().kind(),
            &DecodeErrorKind::InvalidFieldNumber
        );
    }
}
