//! The error of compression and decompression.

use super::CompressType;

/// Why a body could not be compressed or decompressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// `x-log-compresstype` names no codec this crate knows.
    #[error("unknown compress type {0:?}")]
    UnknownCompressType(String),
    /// The declared raw size is above the decompressor's limit; nothing was
    /// allocated.
    #[error("declared raw size {declared} exceeds the limit of {limit} bytes")]
    RawSizeOverLimit {
        /// The size the body claims to decompress to.
        declared: u64,
        /// The decompressor's limit.
        limit: usize,
    },
    /// The declared raw size is more than the body could possibly hold
    /// (an lz4 block expands at most 255 times); nothing was allocated.
    #[error("declared raw size {declared} is impossible for a {body_len}-byte {codec} body")]
    RawSizeImpossible {
        /// The codec of the body.
        codec: CompressType,
        /// The size the body claims to decompress to.
        declared: u64,
        /// The size of the compressed body.
        body_len: usize,
    },
    /// The body decompressed to more bytes than declared.
    #[error("{codec} body decompresses to more than the declared {declared} bytes")]
    LongerThanDeclared {
        /// The codec of the body.
        codec: CompressType,
        /// The declared raw size.
        declared: u64,
    },
    /// The body decompressed to fewer bytes than declared.
    #[error("{codec} body decompresses to {actual} bytes, but {declared} were declared")]
    ShorterThanDeclared {
        /// The codec of the body.
        codec: CompressType,
        /// The declared raw size.
        declared: u64,
        /// What the body decompressed to.
        actual: u64,
    },
    /// The body is not valid data of its codec.
    #[error("corrupt {codec} body: {reason}")]
    Corrupt {
        /// The codec of the body.
        codec: CompressType,
        /// What the codec reported.
        reason: String,
    },
    /// Compression failed (only zstd can fail, and only on resource errors).
    #[error("{codec} compression failed: {reason}")]
    Compress {
        /// The codec used.
        codec: CompressType,
        /// What the codec reported.
        reason: String,
    },
}
