//! Body compression as `x-log-compresstype` names it: `lz4` (a raw LZ4 block
//! with no frame and no size prefix), `zstd` (a standard frame), `deflate`
//! (zlib, RFC 1950) and none.
//!
//! Decompression is for untrusted bodies: the declared raw size
//! (`x-log-bodyrawsize`) is checked against a cap and, for lz4, against what
//! the body could possibly expand to, before anything is allocated; the
//! output must be exactly the declared size. zstd and deflate output grows
//! with what the body really produces, never past the declared size.
//!
//! # Layout
//! - `error`: [`CodecError`].
//! - `lz4`: the raw-block codec.
//! - `stream`: zstd and deflate, through bounded streaming decoders.
//! - `splice`: [`Lz4Block`], joining compressed blocks without recompressing.

mod error;
mod lz4;
mod splice;
mod stream;

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;

pub use self::error::CodecError;
pub use self::splice::Lz4Block;

/// The compression of a request or response body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CompressType {
    /// Not compressed (`x-log-compresstype` absent or empty).
    #[default]
    None,
    /// A raw LZ4 block, the service's default.
    Lz4,
    /// A zstd frame.
    Zstd,
    /// zlib (RFC 1950), called `deflate` by the service.
    Deflate,
}

impl CompressType {
    /// Every compression type, for tests and tables.
    pub const ALL: [CompressType; 4] = [Self::None, Self::Lz4, Self::Zstd, Self::Deflate];

    /// Parses an `x-log-compresstype` value; empty means uncompressed.
    /// Case is ignored.
    pub fn from_header(value: &str) -> Result<Self, CodecError> {
        let value = value.trim();
        if value.is_empty() {
            Ok(Self::None)
        } else if value.eq_ignore_ascii_case("lz4") {
            Ok(Self::Lz4)
        } else if value.eq_ignore_ascii_case("zstd") {
            Ok(Self::Zstd)
        } else if value.eq_ignore_ascii_case("deflate") {
            Ok(Self::Deflate)
        } else {
            // Keep an untrusted header's echo short.
            let shown: String = value.chars().take(32).collect();
            Err(CodecError::UnknownCompressType(shown))
        }
    }

    /// The `x-log-compresstype` value, or `None` when the header is omitted.
    pub fn header_value(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::Lz4 => Some("lz4"),
            Self::Zstd => Some("zstd"),
            Self::Deflate => Some("deflate"),
        }
    }

    /// Compresses `raw`. lz4 falls back to a literal-only block for
    /// incompressible data, so any input compresses.
    pub fn compress(self, raw: &[u8]) -> Result<Vec<u8>, CodecError> {
        match self {
            Self::None => Ok(raw.to_vec()),
            Self::Lz4 => Ok(lz4::compress(raw)),
            Self::Zstd => stream::zstd_compress(raw),
            Self::Deflate => Ok(stream::deflate_compress(raw)),
        }
    }
}

impl fmt::Display for CompressType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.header_value().unwrap_or("none"))
    }
}

impl FromStr for CompressType {
    type Err = CodecError;

    /// Like [`CompressType::from_header`], and also accepts `none`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("none") {
            Ok(Self::None)
        } else {
            Self::from_header(s)
        }
    }
}

/// The default cap on a declared raw size: 64 MiB, well above the largest
/// body the service sends (a pull of 1000 groups of at most 5 MB is capped by
/// the server at far less).
pub const DEFAULT_MAX_RAW_SIZE: usize = 64 << 20;

/// Decompresses untrusted bodies under a cap on the declared raw size.
///
/// ```
/// use bytes::Bytes;
/// use sls_proto::{CompressType, Decompressor};
///
/// let raw = b"hello hello hello hello".repeat(10);
/// let body = CompressType::Lz4.compress(&raw)?;
/// let out = Decompressor::default().decompress(CompressType::Lz4, Bytes::from(body), raw.len() as u64)?;
/// assert_eq!(out, raw);
///
/// // A 10-byte body claiming 4 GiB is refused before anything is allocated.
/// let lie = Decompressor::default().decompress(CompressType::Lz4, Bytes::from_static(&[0; 10]), 4 << 30);
/// assert!(lie.is_err());
/// # Ok::<(), sls_proto::CodecError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decompressor {
    max_raw_size: usize,
}

impl Default for Decompressor {
    fn default() -> Self {
        Self {
            max_raw_size: DEFAULT_MAX_RAW_SIZE,
        }
    }
}

impl Decompressor {
    /// A decompressor that refuses declared raw sizes above `max_raw_size`.
    pub fn with_max_raw_size(max_raw_size: usize) -> Self {
        Self { max_raw_size }
    }

    /// The cap on a declared raw size.
    pub fn max_raw_size(&self) -> usize {
        self.max_raw_size
    }

    /// Decompresses `body`, which claims to expand to `declared_raw_size`
    /// bytes. The result is exactly that long, or an error. An uncompressed
    /// body is returned as is, without a copy.
    pub fn decompress(
        &self,
        codec: CompressType,
        body: Bytes,
        declared_raw_size: u64,
    ) -> Result<Bytes, CodecError> {
        if codec == CompressType::None {
            self.admit(declared_raw_size)?;
            check_len(codec, declared_raw_size, body.len())?;
            return Ok(body);
        }
        let mut out = Vec::new();
        self.decompress_into(codec, &body, declared_raw_size, &mut out)?;
        Ok(Bytes::from(out))
    }

    /// Decompresses `body` into `out`, reusing its memory: what
    /// [`Decompressor::decompress`] does, for a caller that recycles its
    /// buffers. `out`'s old contents are overwritten; on success it holds
    /// exactly `declared_raw_size` bytes. When its capacity is too small,
    /// it is replaced by a new buffer of the right size, so a reader
    /// should hand over the smallest buffer that fits. The same checks
    /// apply as for a fresh buffer, before anything is allocated; on an
    /// error `out`'s contents are unspecified.
    ///
    /// ```
    /// use sls_proto::{CompressType, Decompressor};
    ///
    /// let raw = b"hello hello hello hello".repeat(10);
    /// let body = CompressType::Lz4.compress(&raw)?;
    /// let mut buf = Vec::with_capacity(4096);
    /// let reused = buf.as_ptr();
    /// Decompressor::default().decompress_into(CompressType::Lz4, &body, raw.len() as u64, &mut buf)?;
    /// assert_eq!(buf, raw);
    /// assert_eq!(buf.as_ptr(), reused);
    /// # Ok::<(), sls_proto::CodecError>(())
    /// ```
    pub fn decompress_into(
        &self,
        codec: CompressType,
        body: &[u8],
        declared_raw_size: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        let declared = self.admit(declared_raw_size)?;
        match codec {
            CompressType::None => {
                check_len(codec, declared_raw_size, body.len())?;
                out.clear();
                out.extend_from_slice(body);
                Ok(())
            }
            CompressType::Lz4 => lz4::decompress_into(body, declared, out),
            CompressType::Zstd => stream::zstd_decompress(body, declared, out),
            CompressType::Deflate => stream::deflate_decompress(body, declared, out),
        }
    }

    /// Checks a declared size against the cap, before any allocation.
    fn admit(&self, declared: u64) -> Result<usize, CodecError> {
        match usize::try_from(declared) {
            Ok(size) if size <= self.max_raw_size => Ok(size),
            _ => Err(CodecError::RawSizeOverLimit {
                declared,
                limit: self.max_raw_size,
            }),
        }
    }
}

/// Checks that `actual` output bytes match the declared size.
fn check_len(codec: CompressType, declared: u64, actual: usize) -> Result<(), CodecError> {
    let actual = actual as u64;
    if actual == declared {
        Ok(())
    } else if actual > declared {
        Err(CodecError::LongerThanDeclared { codec, declared })
    } else {
        Err(CodecError::ShorterThanDeclared {
            codec,
            declared,
            actual,
        })
    }
}
