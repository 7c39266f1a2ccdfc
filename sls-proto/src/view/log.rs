//! [`LogView`] and the iterators over logs and key/value pairs.

use std::fmt;
use std::iter::FusedIterator;

use bstr::BStr;

use super::fields;
use crate::wire::Reader;
use crate::{Log, LogContent};

/// One validated `Log`, read in place.
#[derive(Clone, Copy)]
pub struct LogView<'a> {
    bytes: &'a [u8],
    base: usize,
    time: u32,
    /// `Some` once known; a canonical log finds it only when asked.
    time_ns: Option<Option<u32>>,
    /// Where the fields start: past `Time` for a canonical log.
    contents_at: usize,
}

impl<'a> LogView<'a> {
    /// Reads a validated log. A canonical one (see `validate::Layout`)
    /// costs one read of its leading `Time`; any other is scanned whole so
    /// that a repeated field keeps its last value.
    #[inline]
    fn new(bytes: &'a [u8], base: usize, canonical: bool) -> Self {
        let mut reader = Reader::new(bytes, base);
        if canonical {
            if let (Some(_), Ok(time)) = (reader.next_key(), reader.varint()) {
                return Self {
                    bytes,
                    base,
                    // Protobuf truncates a wider varint to the declared uint32.
                    time: time as u32,
                    time_ns: None,
                    contents_at: reader.offset() - base,
                };
            }
        }
        let mut view = Self {
            bytes,
            base,
            time: 0,
            time_ns: Some(None),
            contents_at: 0,
        };
        while let Some((field, wire_type)) = reader.next_key() {
            let step = match field {
                fields::LOG_TIME => reader.varint().map(|t| view.time = t as u32),
                fields::LOG_TIME_NS => reader.fixed32().map(|ns| view.time_ns = Some(Some(ns))),
                _ => reader.skip(wire_type),
            };
            if step.is_err() {
                break;
            }
        }
        view
    }

    /// Seconds since the Unix epoch.
    pub fn time(&self) -> u32 {
        self.time
    }

    /// The sub-second part of the timestamp in nanoseconds, when written.
    pub fn time_ns(&self) -> Option<u32> {
        if let Some(known) = self.time_ns {
            return known;
        }
        let mut found = None;
        let mut reader = Reader::new(
            &self.bytes[self.contents_at..],
            self.base + self.contents_at,
        );
        while let Some((field, wire_type)) = reader.next_key() {
            let step = if field == fields::LOG_TIME_NS {
                reader.fixed32().map(|ns| found = Some(ns))
            } else {
                reader.skip(wire_type)
            };
            if step.is_err() {
                break;
            }
        }
        found
    }

    /// The number of fields (counted by walking them).
    pub fn content_count(&self) -> usize {
        self.contents().count()
    }

    /// The log's fields as `(key, value)` bytes, in order.
    pub fn contents(&self) -> Pairs<'a> {
        Pairs::new(
            &self.bytes[self.contents_at..],
            self.base + self.contents_at,
            fields::LOG_CONTENTS,
        )
    }

    /// The value of the first field whose key is `key`, byte for byte, if
    /// any: `log.get("message")`, or `log.get(b"\xd0\xd5\xc3\xfb")` for a
    /// key written in GBK.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Option<&'a BStr> {
        let key = key.as_ref();
        self.contents().find(|(k, _)| **k == *key).map(|(_, v)| v)
    }

    /// The log's encoded bytes (a `Log` message of log.proto) as they came,
    /// borrowed from the list's buffer: what a sink stores to keep a log
    /// whole without encoding it again. Byte-exact, as
    /// [`LogGroupView::encoded`](super::LogGroupView::encoded) is.
    pub fn encoded(&self) -> &'a [u8] {
        self.bytes
    }

    /// Converts to the owned prost type (allocates every string, whose
    /// bytes it copies unchanged).
    pub fn to_message(&self) -> Log {
        Log {
            time: self.time,
            contents: self
                .contents()
                .map(|(key, value)| LogContent {
                    key: key.to_vec(),
                    value: value.to_vec(),
                })
                .collect(),
            time_ns: self.time_ns(),
        }
    }
}

impl fmt::Debug for LogView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogView")
            .field("time", &self.time)
            .field("time_ns", &self.time_ns())
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// The logs of a [`LogGroupView`](super::LogGroupView), in order.
#[derive(Debug, Clone)]
pub struct Logs<'a> {
    reader: Reader<'a>,
    remaining: usize,
    canonical: bool,
}

impl<'a> Logs<'a> {
    pub(crate) fn new(group: &'a [u8], base: usize, count: usize, canonical: bool) -> Self {
        Self {
            reader: Reader::new(group, base),
            remaining: count,
            canonical,
        }
    }
}

impl<'a> Iterator for Logs<'a> {
    type Item = LogView<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.remaining > 0 {
            let (field, wire_type) = self.reader.next_key()?;
            if field == fields::GROUP_LOGS {
                let (bytes, base) = self.reader.bytes().ok()?;
                self.remaining -= 1;
                return Some(LogView::new(bytes, base, self.canonical));
            }
            self.reader.skip(wire_type).ok()?;
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Logs<'_> {}
impl FusedIterator for Logs<'_> {}

/// `(key, value)` pairs: the fields of a log or the tags of a group, as the
/// bytes the writer sent (see [`BStr`] for text access).
#[derive(Debug, Clone)]
pub struct Pairs<'a> {
    reader: Reader<'a>,
    field: u32,
}

impl<'a> Pairs<'a> {
    /// The pairs stored as repeated field `field` of the message `parent`.
    pub(crate) fn new(parent: &'a [u8], base: usize, field: u32) -> Self {
        Self {
            reader: Reader::new(parent, base),
            field,
        }
    }
}

/// Reads a validated `LogContent` or `LogTag`; missing strings read as empty.
#[inline]
fn pair(bytes: &[u8], base: usize) -> (&BStr, &BStr) {
    if let Some((key, value)) = super::canonical_pair(bytes) {
        return (BStr::new(key), BStr::new(value));
    }
    let (mut key, mut value) = (<&[u8]>::default(), <&[u8]>::default());
    let mut reader = Reader::new(bytes, base);
    while let Some((field, wire_type)) = reader.next_key() {
        let slot = match field {
            fields::PAIR_KEY => &mut key,
            fields::PAIR_VALUE => &mut value,
            _ => {
                if reader.skip(wire_type).is_err() {
                    break;
                }
                continue;
            }
        };
        match reader.bytes() {
            Ok((s, _)) => *slot = s,
            Err(_) => break,
        }
    }
    (BStr::new(key), BStr::new(value))
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a BStr, &'a BStr);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (field, wire_type) = self.reader.next_key()?;
            if field == self.field {
                let (bytes, base) = self.reader.bytes().ok()?;
                return Some(pair(bytes, base));
            }
            self.reader.skip(wire_type).ok()?;
        }
    }
}
impl FusedIterator for Pairs<'_> {}
