//! zstd and deflate (zlib) through streaming decoders whose output is cut at
//! one byte past the declared size, so a body can make us allocate only what
//! it really expands to, and never more than the declared size plus one.

use std::io::{Read, Write};

use super::{CodecError, CompressType, check_len};

/// zstd's default level: the speed/ratio balance the service's own writers
/// use for log data.
const ZSTD_LEVEL: i32 = 3;

/// A frame may ask for a decoding window of up to 2^27 bytes; we allow what
/// the declared size needs, but never less than 2^23 (level 19 and below
/// never ask for more) so streamed frames with a generous window still work.
const ZSTD_MIN_WINDOW_LOG: u32 = 23;
const ZSTD_MAX_WINDOW_LOG: u32 = 27;

/// The first buffer we reserve, before the body has shown what it holds.
const FIRST_RESERVE: usize = 64 << 10;

pub(super) fn zstd_compress(raw: &[u8]) -> Result<Vec<u8>, CodecError> {
    zstd::bulk::compress(raw, ZSTD_LEVEL).map_err(|err| CodecError::Compress {
        codec: CompressType::Zstd,
        reason: err.to_string(),
    })
}

pub(super) fn deflate_compress(raw: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(raw.len() / 2 + 64),
        flate2::Compression::default(),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(raw);
    encoder.finish().unwrap_or_default()
}

pub(super) fn zstd_decompress(
    body: &[u8],
    declared: usize,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let codec = CompressType::Zstd;
    let corrupt = |err: std::io::Error| CodecError::Corrupt {
        codec,
        reason: err.to_string(),
    };
    let mut decoder = zstd::stream::read::Decoder::with_buffer(body).map_err(corrupt)?;
    let needed = usize::BITS - declared.max(1).leading_zeros();
    decoder
        .window_log_max(needed.clamp(ZSTD_MIN_WINDOW_LOG, ZSTD_MAX_WINDOW_LOG))
        .map_err(corrupt)?;
    bounded_read(codec, decoder, declared, out)
}

pub(super) fn deflate_decompress(
    body: &[u8],
    declared: usize,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    bounded_read(
        CompressType::Deflate,
        flate2::read::ZlibDecoder::new(body),
        declared,
        out,
    )
}

/// Reads at most `declared + 1` bytes into `out` (emptied first, its
/// capacity kept) and checks the length is exact.
fn bounded_read(
    codec: CompressType,
    decoder: impl Read,
    declared: usize,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    out.clear();
    out.reserve(declared.min(FIRST_RESERVE));
    decoder
        .take(declared as u64 + 1)
        .read_to_end(out)
        .map_err(|err| CodecError::Corrupt {
            codec,
            reason: err.to_string(),
        })?;
    check_len(codec, declared as u64, out.len())
}
