//! Shard key ranges: 128-bit MD5 space written as 32 lowercase hex digits.

/// Parses a 32-hex-digit key.
pub(crate) fn parse(key: &str) -> Option<u128> {
    if key.len() != 32 {
        return None;
    }
    u128::from_str_radix(key, 16).ok()
}

/// Formats a key as 32 lowercase hex digits.
pub(crate) fn format(key: u128) -> String {
    format!("{key:032x}")
}

/// `n` equal ranges covering the key space, `[begin, end)`; the last ends
/// at `u128::MAX` (written `ffff…`), which it also covers.
pub(crate) fn even_ranges(n: u32) -> Vec<(u128, u128)> {
    let n = u128::from(n.max(1));
    let step = u128::MAX / n;
    (0..n)
        .map(|i| {
            let begin = step * i;
            let end = if i + 1 == n {
                u128::MAX
            } else {
                step * (i + 1)
            };
            (begin, end)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_tile_the_space() {
        for n in 1..10 {
            let r = even_ranges(n);
            assert_eq!(r[0].0, 0);
            assert_eq!(r.last().unwrap().1, u128::MAX);
            assert!(r.windows(2).all(|w| w[0].1 == w[1].0));
        }
        assert_eq!(parse(&format(12345)), Some(12345));
        assert_eq!(parse("xyz"), None);
    }
}
