//! Joining independently compressed LZ4 blocks into one block, without
//! recompressing: how a server serves a pull of many stored groups at the
//! cost of a copy.
//!
//! A raw LZ4 block is a run of sequences (literals, then a back-reference)
//! ending with a literals-only sequence. Two blocks cannot simply be
//! concatenated: the first one's final literals would be read as a sequence
//! expecting a back-reference. [`Lz4Block::splice`] instead carries each
//! block's final literals over into the next block's first sequence. Back-
//! references are distances, and each block's only reach inside itself, so
//! they stay valid in the joined output.

use super::CodecError;
use super::CompressType;

/// One LZ4 block with what splicing needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lz4Block {
    bytes: Vec<u8>,
    raw_len: usize,
    /// Offset of the final (literals-only) sequence's token.
    tail_at: usize,
}

/// A sequence's token and literals, as parsed.
struct Literals {
    /// The token's low nibble (the match length code).
    match_nibble: u8,
    /// Where the literals start.
    start: usize,
    /// How many literals.
    len: usize,
}

fn corrupt(reason: &str) -> CodecError {
    CodecError::Corrupt {
        codec: CompressType::Lz4,
        reason: reason.to_owned(),
    }
}

/// Reads the token at `at` and its literal length.
fn literals(block: &[u8], at: usize) -> Result<Literals, CodecError> {
    let token = *block.get(at).ok_or_else(|| corrupt("truncated token"))?;
    let mut len = usize::from(token >> 4);
    let mut pos = at + 1;
    if len == 15 {
        loop {
            let byte = *block.get(pos).ok_or_else(|| corrupt("truncated length"))?;
            pos += 1;
            len = len
                .checked_add(usize::from(byte))
                .ok_or_else(|| corrupt("length overflow"))?;
            if byte != 255 {
                break;
            }
        }
    }
    if block.len() - pos < len {
        return Err(corrupt("literals past the end"));
    }
    Ok(Literals {
        match_nibble: token & 0x0f,
        start: pos,
        len,
    })
}

/// Skips a sequence's back-reference (offset and extra match length) from
/// `at`; returns where the next sequence starts.
fn skip_match(block: &[u8], at: usize, match_nibble: u8) -> Result<usize, CodecError> {
    let mut pos = at + 2;
    if pos > block.len() {
        return Err(corrupt("truncated offset"));
    }
    if match_nibble == 15 {
        loop {
            let byte = *block
                .get(pos)
                .ok_or_else(|| corrupt("truncated match length"))?;
            pos += 1;
            if byte != 255 {
                break;
            }
        }
    }
    Ok(pos)
}

/// Writes a token for `len` literals and `match_nibble`, with its length
/// bytes.
fn put_token(out: &mut Vec<u8>, len: usize, match_nibble: u8) {
    if len < 15 {
        out.push(((len as u8) << 4) | match_nibble);
    } else {
        out.push(0xf0 | match_nibble);
        let mut rest = len - 15;
        while rest >= 255 {
            out.push(255);
            rest -= 255;
        }
        out.push(rest as u8);
    }
}

impl Lz4Block {
    /// Compresses `raw` into a block.
    pub fn compress(raw: &[u8]) -> Self {
        let bytes = lz4_flex::block::compress(raw);
        // lz4_flex's own output is well formed; the walk cannot fail on it.
        let tail_at = Self::find_tail(&bytes).unwrap_or(0);
        Self {
            bytes,
            raw_len: raw.len(),
            tail_at,
        }
    }

    /// Walks the sequences to the final, literals-only one.
    fn find_tail(block: &[u8]) -> Result<usize, CodecError> {
        let mut at = 0;
        loop {
            let lits = literals(block, at)?;
            let end = lits.start + lits.len;
            if end == block.len() {
                return Ok(at);
            }
            at = skip_match(block, end, lits.match_nibble)?;
        }
    }

    /// The compressed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The size it decompresses to.
    pub fn raw_len(&self) -> usize {
        self.raw_len
    }

    /// Joins blocks into one block that decompresses to the concatenation
    /// of their contents; returns it with its raw size.
    pub fn splice<'a>(blocks: impl IntoIterator<Item = &'a Lz4Block>) -> (Vec<u8>, usize) {
        let mut out = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut raw_len = 0;
        for block in blocks {
            raw_len += block.raw_len;
            let bytes = &block.bytes;
            // Both parses were done on this block when it was made.
            let (Ok(first), Ok(tail)) = (literals(bytes, 0), literals(bytes, block.tail_at)) else {
                continue;
            };
            if block.tail_at == 0 {
                // Literals only: carry them all forward.
                pending.extend_from_slice(&bytes[first.start..first.start + first.len]);
                continue;
            }
            put_token(&mut out, pending.len() + first.len, first.match_nibble);
            out.extend_from_slice(&pending);
            out.extend_from_slice(&bytes[first.start..block.tail_at]);
            pending.clear();
            pending.extend_from_slice(&bytes[tail.start..tail.start + tail.len]);
        }
        put_token(&mut out, pending.len(), 0);
        out.extend_from_slice(&pending);
        (out, raw_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(parts: &[Vec<u8>]) {
        let blocks: Vec<Lz4Block> = parts.iter().map(|p| Lz4Block::compress(p)).collect();
        let (joined, raw_len) = Lz4Block::splice(&blocks);
        let expected: Vec<u8> = parts.concat();
        assert_eq!(raw_len, expected.len());
        let out = lz4_flex::block::decompress(&joined, raw_len).unwrap();
        assert_eq!(out, expected);
    }

    #[test]
    fn joins_compressible_incompressible_and_empty_blocks() {
        let text = b"GET /api/v1/orders 200 GET /api/v1/orders 200 ".repeat(40);
        let mut noise = vec![0u8; 3000];
        fastrand::Rng::with_seed(1).fill(&mut noise);
        check(&[]);
        check(&[Vec::new()]);
        check(std::slice::from_ref(&text));
        check(&[text.clone(), text.clone(), text.clone()]);
        check(&[
            noise.clone(),
            text.clone(),
            Vec::new(),
            b"x".to_vec(),
            noise.clone(),
        ]);
        check(&[b"a".to_vec(), b"b".to_vec()]);
        // Long pending literals need extended length bytes.
        check(&[noise.clone(), noise, text]);
    }

    #[test]
    fn joins_arbitrary_parts() {
        let mut rng = fastrand::Rng::with_seed(9);
        for _ in 0..300 {
            let parts: Vec<Vec<u8>> = (0..rng.usize(0..6))
                .map(|_| {
                    let len = rng.usize(0..600);
                    let alphabet = rng.u8(1..=255);
                    (0..len).map(|_| rng.u8(..alphabet)).collect()
                })
                .collect();
            check(&parts);
        }
    }
}
