//! [`MessyLogs`]: log groups whose text is in every encoding the service
//! lets through, as seeded, reproducible data.

use prost::Message;

use crate::{Log, LogGroup, LogGroupList};

/// The same phrases as [`GBK_CHINESE`], in UTF-8.
const UTF8_CHINESE: &[&str] = &[
    "用户登录成功",
    "订单已支付",
    "数据库连接超时",
    "服务器内部错误",
    "请求参数无效",
    "文件上传失败",
    "库存不足",
    "杭州",
    "北京市朝阳区",
    "日志服务",
    "张伟",
    "消息队列积压",
];

/// [`UTF8_CHINESE`] encoded in GBK (none of them is valid UTF-8).
const GBK_CHINESE: &[&[u8]] = &[
    b"\xd3\xc3\xbb\xa7\xb5\xc7\xc2\xbc\xb3\xc9\xb9\xa6",
    b"\xb6\xa9\xb5\xa5\xd2\xd1\xd6\xa7\xb8\xb6",
    b"\xca\xfd\xbe\xdd\xbf\xe2\xc1\xac\xbd\xd3\xb3\xac\xca\xb1",
    b"\xb7\xfe\xce\xf1\xc6\xf7\xc4\xda\xb2\xbf\xb4\xed\xce\xf3",
    b"\xc7\xeb\xc7\xf3\xb2\xce\xca\xfd\xce\xde\xd0\xa7",
    b"\xce\xc4\xbc\xfe\xc9\xcf\xb4\xab\xca\xa7\xb0\xdc",
    b"\xbf\xe2\xb4\xe6\xb2\xbb\xd7\xe3",
    b"\xba\xbc\xd6\xdd",
    b"\xb1\xb1\xbe\xa9\xca\xd0\xb3\xaf\xd1\xf4\xc7\xf8",
    b"\xc8\xd5\xd6\xbe\xb7\xfe\xce\xf1",
    b"\xd5\xc5\xce\xb0",
    b"\xcf\xfb\xcf\xa2\xb6\xd3\xc1\xd0\xbb\xfd\xd1\xb9",
];

/// Words with accents, encoded in Latin-1 (ISO 8859-1): café, Müller,
/// Zürich, señor, naïve, garçon, Ærøskøbing, Straße, Ångström, déjà vu.
const LATIN1: &[&[u8]] = &[
    b"caf\xe9",
    b"M\xfcller",
    b"Z\xfcrich",
    b"se\xf1or",
    b"na\xefve",
    b"gar\xe7on",
    b"\xc6r\xf8sk\xf8bing",
    b"Stra\xdfe",
    b"\xc5ngstr\xf6m",
    b"d\xe9j\xe0 vu",
];

const ASCII: &[&str] = &[
    "GET",
    "/api/v1/orders",
    "status=200",
    "user_id=42",
    "timeout",
    "retrying",
    "ok",
    "level",
    "checkout",
    "10.0.0.7",
];

/// The most logs the service takes in one group.
const MAX_LOGS_PER_GROUP: usize = 4096;

/// The encodings [`MessyLogs`] mixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TextKind {
    /// ASCII words: valid UTF-8.
    Ascii,
    /// Chinese in UTF-8: valid UTF-8, three bytes a character.
    Utf8Chinese,
    /// Chinese in GBK, as Windows and many older Chinese systems write it:
    /// not UTF-8.
    GbkChinese,
    /// Accented Latin words in Latin-1: not UTF-8.
    Latin1,
    /// Random bytes, starting with 0x00 and ending with 0xFF when at least
    /// two long: not UTF-8 (when longer than one byte).
    Binary,
}

impl TextKind {
    /// Every kind, in a fixed order.
    pub const ALL: [TextKind; 5] = [
        TextKind::Ascii,
        TextKind::Utf8Chinese,
        TextKind::GbkChinese,
        TextKind::Latin1,
        TextKind::Binary,
    ];

    /// The kind that comes `n` places after this one in [`TextKind::ALL`],
    /// cyclically.
    fn nth_after(self, n: u64) -> Self {
        let at = Self::ALL.iter().position(|k| *k == self).unwrap_or(0);
        Self::ALL[(at + (n % 5) as usize) % 5]
    }
}

/// A seeded generator of log groups whose keys, values, tags, topic and
/// source mix GBK-encoded Chinese, Latin-1, random binary (0x00 and 0xFF
/// included), UTF-8 Chinese and ASCII, as production logs do. For testing
/// that bytes go through unchanged, from a 1 KB group to a 5 MB one.
///
/// Every log has five fields, two with ASCII keys (`level`, `message`) and
/// three with keys of other kinds; the kinds rotate from log to log, so
/// every group of five logs or more holds every kind in keys and values.
/// Each group has a topic, a source and two tags of rotating kinds.
///
/// ```
/// use sls_proto::ByteSlice;
/// use sls_proto::sample::MessyLogs;
///
/// let group = MessyLogs::new(7).group(10);
/// assert_eq!(group.logs.len(), 10);
/// assert_eq!(MessyLogs::new(7).group(10), group, "same seed, same logs");
/// let values = group.logs.iter().flat_map(|log| &log.contents);
/// assert!(values.clone().any(|c| c.value.to_str().is_err()), "not all UTF-8");
/// assert!(values.clone().any(|c| c.value.contains(&0x00)));
///
/// // About 1 MB, within the service's 4096 logs a group.
/// let big = MessyLogs::new(7).group_of_size(1 << 20);
/// let size = sls_proto::prost::Message::encoded_len(&big);
/// assert!(size >= 1 << 20 && size < (1 << 20) + 16 * 1024 && big.logs.len() <= 4096);
/// ```
#[derive(Debug, Clone)]
pub struct MessyLogs {
    rng: fastrand::Rng,
    time: u32,
    serial: u64,
    groups: u64,
    value_len: usize,
}

impl MessyLogs {
    /// A generator whose logs start at 2023-11-14T22:13:20Z, with values of
    /// about 48 bytes.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(seed),
            time: 1_700_000_000,
            serial: 0,
            groups: 0,
            value_len: 48,
        }
    }

    /// Sets the typical length of a value in bytes (each value is between
    /// half and one and a half times this).
    pub fn value_len(mut self, len: usize) -> Self {
        self.value_len = len;
        self
    }

    /// About `len` bytes of text of the given kind: whole characters of a
    /// few phrases (at least one), or exactly `len` random bytes.
    pub fn text(&mut self, kind: TextKind, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 16);
        if kind == TextKind::Binary {
            out.resize(len, 0);
            self.rng.fill(&mut out);
            if let [first, .., last] = out.as_mut_slice() {
                (*first, *last) = (0x00, 0xff);
            }
            return out;
        }
        loop {
            let piece = match kind {
                TextKind::Ascii => ASCII[self.rng.usize(..ASCII.len())].as_bytes(),
                TextKind::Utf8Chinese => {
                    UTF8_CHINESE[self.rng.usize(..UTF8_CHINESE.len())].as_bytes()
                }
                TextKind::GbkChinese => GBK_CHINESE[self.rng.usize(..GBK_CHINESE.len())],
                TextKind::Latin1 | TextKind::Binary => LATIN1[self.rng.usize(..LATIN1.len())],
            };
            if !out.is_empty() && out.len() + piece.len() + 1 > len {
                return out;
            }
            if !out.is_empty() {
                out.push(b' ');
            }
            out.extend_from_slice(piece);
        }
    }

    /// A short text (a key, a topic): 2 to 12 bytes of the given kind.
    fn short(&mut self, kind: TextKind) -> Vec<u8> {
        let len = self.rng.usize(2..=12);
        self.text(kind, len)
    }

    /// A value of the configured length.
    fn value(&mut self, kind: TextKind, value_len: usize) -> Vec<u8> {
        let len = self.rng.usize(value_len / 2..=value_len + value_len / 2);
        self.text(kind, len)
    }

    fn log_with(&mut self, value_len: usize) -> Log {
        self.serial += 1;
        if self.serial % 64 == 0 {
            self.time = self.time.wrapping_add(1);
        }
        let first = TextKind::ALL[(self.serial % 5) as usize];
        let mut contents = Vec::with_capacity(5);
        contents.push((b"level".to_vec(), self.text(TextKind::Ascii, 5)));
        contents.push((b"message".to_vec(), self.value(first, value_len)));
        for n in 1..4 {
            let key = self.short(first.nth_after(n + 1));
            let value = self.value(first.nth_after(n), value_len);
            contents.push((key, value));
        }
        Log::new(self.time, contents).with_time_ns(self.rng.u32(..1_000_000_000))
    }

    /// The next log.
    pub fn next_log(&mut self) -> Log {
        self.log_with(self.value_len)
    }

    /// A group header: topic, source and two tags of rotating kinds.
    fn header(&mut self) -> LogGroup {
        self.groups += 1;
        let first = TextKind::ALL[(self.groups % 5) as usize];
        let (topic, source) = (self.short(first), self.short(first.nth_after(1)));
        let tags = [
            (
                self.short(first.nth_after(2)),
                self.short(first.nth_after(3)),
            ),
            (self.short(first.nth_after(4)), self.short(first)),
        ];
        let builder = LogGroup::builder().topic(topic).source(source);
        tags.into_iter()
            .fold(builder, |b, (key, value)| b.tag(key, value))
            .build()
    }

    /// A group of `logs` logs.
    pub fn group(&mut self, logs: usize) -> LogGroup {
        let mut group = self.header();
        group.logs = (0..logs).map(|_| self.next_log()).collect();
        group
    }

    /// A group whose encoding is at least `bytes` long and at most one log
    /// longer, within the service's 4096 logs a group: values grow beyond
    /// the configured length when `bytes` needs it, so that a large group
    /// holds about a thousand logs.
    pub fn group_of_size(&mut self, bytes: usize) -> LogGroup {
        // Four of a log's five values have the configured length.
        let value_len = self.value_len.max(bytes / (4 * 1024));
        let mut group = self.header();
        let mut size = group.encoded_len();
        while size < bytes && group.logs.len() < MAX_LOGS_PER_GROUP {
            let log = self.log_with(value_len);
            let len = log.encoded_len();
            size += 1 + prost::length_delimiter_len(len) + len;
            group.logs.push(log);
        }
        group
    }

    /// A list of `groups` groups of `logs_per_group` logs each, as a pull
    /// returns.
    pub fn list(&mut self, groups: usize, logs_per_group: usize) -> LogGroupList {
        LogGroupList {
            log_groups: (0..groups).map(|_| self.group(logs_per_group)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use bstr::ByteSlice;

    use super::*;

    #[test]
    fn phrases_are_in_the_encodings_they_claim() {
        for (utf8, gbk) in UTF8_CHINESE.iter().zip(GBK_CHINESE) {
            assert!(gbk.to_str().is_err(), "{utf8} in GBK reads as UTF-8");
            // Two bytes a character in GBK, three in UTF-8.
            assert_eq!(gbk.len() * 3, utf8.len() * 2, "{utf8}");
        }
        assert!(LATIN1.iter().all(|w| w.to_str().is_err()));
        assert!(ASCII.iter().all(|w| w.is_ascii()));
    }

    #[test]
    fn texts_have_their_kind_and_about_their_length() {
        let mut generator = MessyLogs::new(1);
        for len in [0, 1, 2, 5, 40, 300] {
            for kind in TextKind::ALL {
                let text = generator.text(kind, len);
                match kind {
                    TextKind::Binary => assert_eq!(text.len(), len),
                    // At least one phrase; otherwise within the length.
                    _ => assert!(text.len() <= len.max(24), "{kind:?} {len}: {}", text.len()),
                }
                let utf8 = text.to_str().is_ok();
                match kind {
                    TextKind::Ascii => assert!(text.is_ascii()),
                    TextKind::Utf8Chinese => assert!(utf8 && !text.is_ascii()),
                    TextKind::GbkChinese | TextKind::Latin1 => assert!(!utf8),
                    TextKind::Binary if len >= 2 => {
                        assert!(!utf8);
                        assert_eq!((text[0], text[len - 1]), (0x00, 0xff));
                    }
                    TextKind::Binary => {}
                }
                // It stops only when the next phrase (at most 21 bytes) and
                // its space do not fit.
                assert!(text.len() + 22 > len, "{kind:?} {len}: {}", text.len());
            }
        }
    }

    /// Which kinds occur among some byte strings.
    fn kinds<'a>(texts: impl Iterator<Item = &'a [u8]>) -> [bool; 4] {
        let mut seen = [false; 4];
        for t in texts {
            seen[0] |= t.is_ascii();
            seen[1] |= t.to_str().is_ok() && !t.is_ascii();
            seen[2] |= t.to_str().is_err();
            seen[3] |= t.contains(&0x00) && t.contains(&0xff);
        }
        seen
    }

    #[test]
    fn every_position_mixes_encodings() {
        let mut generator = MessyLogs::new(3);
        let groups: Vec<LogGroup> = (0..5).map(|_| generator.group(5)).collect();
        let contents = || {
            groups
                .iter()
                .flat_map(|g| &g.logs)
                .flat_map(|l| &l.contents)
        };
        assert_eq!(kinds(contents().map(|c| &c.key[..])), [true; 4]);
        assert_eq!(kinds(contents().map(|c| &c.value[..])), [true; 4]);
        let tags = || groups.iter().flat_map(|g| &g.log_tags);
        assert_eq!(kinds(tags().map(|t| &t.key[..])), [true; 4]);
        assert_eq!(kinds(tags().map(|t| &t.value[..])), [true; 4]);
        let topics = groups.iter().filter_map(|g| g.topic.as_deref());
        assert_eq!(kinds(topics), [true; 4]);
        let sources = groups.iter().filter_map(|g| g.source.as_deref());
        assert_eq!(kinds(sources), [true; 4]);
    }

    #[test]
    fn groups_of_a_size_are_that_size_within_the_service_limits() {
        for (seed, bytes) in [(1, 1_000), (2, 300_000), (3, 1 << 20), (4, 5 << 20)] {
            let group = MessyLogs::new(seed).group_of_size(bytes);
            let size = group.encoded_len();
            let longest = group.logs.iter().map(|l| l.encoded_len() + 4).max();
            assert!(size >= bytes, "{bytes}: {size}");
            assert!(size <= bytes + longest.unwrap_or(0), "{bytes}: {size}");
            assert!(
                group.logs.len() <= 2048,
                "{bytes}: {} logs",
                group.logs.len()
            );
        }
    }

    #[test]
    fn seeds_are_reproducible_and_distinct() {
        assert_eq!(MessyLogs::new(9).list(2, 7), MessyLogs::new(9).list(2, 7));
        assert_ne!(MessyLogs::new(9).list(2, 7), MessyLogs::new(10).list(2, 7));
    }
}
