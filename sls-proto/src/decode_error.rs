//! The error of the view decoder and of the wire primitives under it.

/// Why a byte string is not a well-formed LogHub message.
///
/// Carries the absolute byte offset in the decoded buffer where decoding
/// failed, which is where to look in a captured body.
///
/// Boxed, so that the `Result`s of the decoder's hot path stay one word.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed LogHub protobuf at byte {}: {}", .0.offset, .0.kind)]
pub struct DecodeError(Box<Inner>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    kind: DecodeErrorKind,
    offset: usize,
}

impl DecodeError {
    #[cold]
    pub(crate) fn new(kind: DecodeErrorKind, offset: usize) -> Self {
        Self(Box::new(Inner { kind, offset }))
    }

    /// What was wrong.
    pub fn kind(&self) -> &DecodeErrorKind {
        &self.0.kind
    }

    /// The offset, in bytes from the start of the decoded buffer, of the
    /// element that could not be decoded.
    pub fn offset(&self) -> usize {
        self.0.offset
    }
}

/// The kinds of [`DecodeError`].
///
/// All are structural: text that is not UTF-8 is not an error (the service
/// stores and returns such bytes unchecked; see [`LogGroupListView`]).
///
/// [`LogGroupListView`]: crate::LogGroupListView
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The buffer ends inside a value.
    #[error("truncated value")]
    Truncated,
    /// A varint is longer than ten bytes or does not fit in 64 bits.
    #[error("varint overflows 64 bits")]
    VarintOverflow,
    /// A length prefix points past the end of its enclosing message.
    #[error("length prefix points past the end of the message")]
    LengthOutOfBounds,
    /// A field key has field number zero or one too large for protobuf.
    #[error("invalid field number")]
    InvalidFieldNumber,
    /// A field key uses a wire type that is not allowed here (the deprecated
    /// groups, 3 and 4, or the undefined 6 and 7).
    #[error("unsupported wire type {0}")]
    UnsupportedWireType(u8),
    /// A known field arrived with a wire type its schema does not allow.
    #[error("field {field} has wire type {found}, expected {expected}")]
    WireTypeMismatch {
        /// The field, as `Message.Field`.
        field: &'static str,
        /// The wire type the schema gives.
        expected: &'static str,
        /// The wire type found.
        found: &'static str,
    },
}
