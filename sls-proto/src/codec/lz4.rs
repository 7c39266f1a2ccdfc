//! LZ4 raw blocks, as LogHub frames them: no frame header, no size prefix;
//! the raw size travels in `x-log-bodyrawsize`.

use super::{CodecError, CompressType, check_len};

/// The most an LZ4 block can expand: a sequence's length bytes each add at
/// most 255 output bytes, and literals expand by nothing.
const MAX_EXPANSION: u64 = 255;

pub(super) fn compress(raw: &[u8]) -> Vec<u8> {
    // lz4_flex writes literal-only sequences when it finds no match, so
    // incompressible input grows by a few bytes and never fails.
    lz4_flex::block::compress(raw)
}

/// Decompresses into `out`: over its old contents when its capacity
/// holds `declared` bytes (only growth past its length is zeroed first),
/// into a new buffer otherwise.
pub(super) fn decompress_into(
    body: &[u8],
    declared: usize,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    let codec = CompressType::Lz4;
    if declared as u64 > MAX_EXPANSION.saturating_mul(body.len() as u64) {
        return Err(CodecError::RawSizeImpossible {
            codec,
            declared: declared as u64,
            body_len: body.len(),
        });
    }
    if declared == 0 && body.is_empty() {
        out.clear();
        return Ok(());
    }
    let written = if out.capacity() < declared {
        // A fresh buffer: lz4_flex fills it without zeroing it first.
        lz4_flex::block::decompress(body, declared).map(|fresh| {
            *out = fresh;
            out.len()
        })
    } else {
        out.resize(declared, 0);
        lz4_flex::block::decompress_into(body, out)
    };
    match written {
        Ok(written) => {
            out.truncate(written);
            check_len(codec, declared as u64, written)
        }
        Err(lz4_flex::block::DecompressError::OutputTooSmall { .. }) => {
            Err(CodecError::LongerThanDeclared {
                codec,
                declared: declared as u64,
            })
        }
        Err(err) => Err(CodecError::Corrupt {
            codec,
            reason: err.to_string(),
        }),
    }
}
