//! A zero-copy decoder for the hot path of consumption.
//!
//! [`LogGroupListView::decode`] takes the decompressed body of a PullLogs
//! response as [`Bytes`], validates it in one pass (wire structure, the wire
//! type of every known field, the UTF-8 of every string) without allocating,
//! and then hands out groups, logs, fields and tags as `&str` borrowed from
//! the buffer. Iteration cannot fail: anything malformed was refused up front
//! with a [`DecodeError`], so a consumer never processes half a batch of a
//! corrupt body.
//!
//! Decoding follows protobuf's rules as prost does: unknown fields are
//! skipped, a repeated scalar keeps its last value, a missing `Time` or
//! string reads as zero or empty, and a `Time` varint wider than 32 bits is
//! truncated. [`LogGroupListView::to_message`] and friends convert to the
//! owned prost types.
//!
//! # Layout
//! - `error`: [`DecodeError`] and its kinds.
//! - `validate`: the validation pass.
//! - `group`: [`LogGroupView`], its tags and the group iterator.
//! - `log`: [`LogView`] and the iterators over logs and key/value pairs.
//! - `standalone`: [`LogGroupBytes`], one validated encoded `LogGroup`.

mod error;
mod group;
mod log;
mod standalone;
mod validate;

use std::fmt;

use bytes::Bytes;

pub use self::error::{DecodeError, DecodeErrorKind};
pub use self::group::{LogGroupView, LogGroups};
pub use self::log::{LogView, Logs, Pairs};
pub use self::standalone::LogGroupBytes;
use crate::LogGroupList;

/// Field numbers of `log.proto`.
pub(crate) mod fields {
    pub(crate) const LIST_GROUPS: u32 = 1;

    pub(crate) const GROUP_LOGS: u32 = 1;
    pub(crate) const GROUP_CATEGORY: u32 = 2;
    pub(crate) const GROUP_TOPIC: u32 = 3;
    pub(crate) const GROUP_SOURCE: u32 = 4;
    pub(crate) const GROUP_MACHINE_UUID: u32 = 5;
    pub(crate) const GROUP_TAGS: u32 = 6;

    pub(crate) const LOG_TIME: u32 = 1;
    pub(crate) const LOG_CONTENTS: u32 = 2;
    pub(crate) const LOG_TIME_NS: u32 = 4;

    /// `Key` of `LogContent` and of `LogTag`.
    pub(crate) const PAIR_KEY: u32 = 1;
    /// `Value` of `LogContent` and of `LogTag`.
    pub(crate) const PAIR_VALUE: u32 = 2;

    pub(crate) fn group_string_name(field: u32) -> &'static str {
        match field {
            GROUP_CATEGORY => "LogGroup.Category",
            GROUP_TOPIC => "LogGroup.Topic",
            GROUP_SOURCE => "LogGroup.Source",
            _ => "LogGroup.MachineUUID",
        }
    }
}

/// Checks that a string field is UTF-8: most log text is ASCII, which a
/// word-at-a-time check settles inline; the rest goes to a SIMD validator.
#[inline(always)]
fn is_utf8(bytes: &[u8]) -> bool {
    is_ascii(bytes) || simdutf8::basic::from_utf8(bytes).is_ok()
}

/// Splits a `LogContent` or `LogTag` laid out as every encoder writes it:
/// key then value, each with a one-byte length. Anything else (other
/// orders, repeated or unknown fields, longer strings) returns `None` and
/// takes the general path.
#[inline(always)]
fn canonical_pair(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let [0x0a, key_len, rest @ ..] = buf else {
        return None;
    };
    if *key_len >= 0x80 {
        return None;
    }
    let (key, rest) = rest.split_at_checked(usize::from(*key_len))?;
    let [0x12, value_len, value @ ..] = rest else {
        return None;
    };
    (usize::from(*value_len) == value.len()).then_some((key, value))
}

/// Whether `bytes` is ASCII: eight bytes at a time, inline, with no
/// alignment prologue (the strings of logs are short).
#[inline(always)]
fn is_ascii(bytes: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let word = |chunk: &[u8]| {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        u64::from_le_bytes(w)
    };
    if bytes.len() < 8 {
        return word(bytes) & HIGH == 0;
    }
    let mut acc = 0u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        acc |= word(chunk);
    }
    // The last eight bytes, overlapping what was read, cover the tail.
    acc |= word(&bytes[bytes.len() - 8..]);
    acc & HIGH == 0
}

/// A canonical pair (see [`canonical_pair`]) whose bytes are all ASCII, as
/// strings: one scan of the message settles both (its keys and one-byte
/// lengths are ASCII too).
#[inline(always)]
fn ascii_pair(buf: &[u8]) -> Option<(&str, &str)> {
    if !is_ascii(buf) {
        return None;
    }
    let (key, value) = canonical_pair(buf)?;
    #[allow(unsafe_code)]
    // SAFETY: `key` and `value` are sub-slices of `buf`, which is ASCII, and
    // ASCII is valid UTF-8.
    unsafe {
        Some((
            std::str::from_utf8_unchecked(key),
            std::str::from_utf8_unchecked(value),
        ))
    }
}

/// A string field of a buffer that the validation pass has accepted.
///
/// The validation pass and the accessors walk the same immutable bytes with
/// the same reader, so every slice handed here was checked to be UTF-8. We
/// still check rather than trust that (an impossible failure reads as
/// empty): ASCII, the common case, by an inline word-at-a-time scan; the
/// rest by the SIMD validator.
#[inline(always)]
fn text(bytes: &[u8]) -> &str {
    if is_ascii(bytes) {
        #[allow(unsafe_code)]
        // SAFETY: every ASCII byte string is valid UTF-8; `is_ascii` just
        // checked that this one is ASCII. (`std::str::from_utf8` would check
        // again, out of line, at a third of the decoder's time.)
        unsafe {
            std::str::from_utf8_unchecked(bytes)
        }
    } else {
        simdutf8::basic::from_utf8(bytes).unwrap_or_default()
    }
}

/// A validated `LogGroupList` (the body of a PullLogs response), read in
/// place.
///
/// Cloning is cheap: the buffer is reference-counted.
///
/// ```
/// use bytes::Bytes;
/// use prost::Message;
/// use sls_proto::{LogGroup, LogGroupList, LogGroupListView};
///
/// let group = LogGroup::builder()
///     .topic("nginx")
///     .log(1_700_000_000, [("status", "200"), ("path", "/")])
///     .build();
/// let body = LogGroupList { log_groups: vec![group] }.encode_to_vec();
///
/// let view = LogGroupListView::decode(Bytes::from(body))?;
/// for group in &view {
///     assert_eq!(group.topic(), Some("nginx"));
///     for log in group.logs() {
///         let fields: Vec<(&str, &str)> = log.contents().collect();
///         assert_eq!(fields, [("status", "200"), ("path", "/")]);
///     }
/// }
/// # Ok::<(), sls_proto::DecodeError>(())
/// ```
#[derive(Clone)]
pub struct LogGroupListView {
    buf: Bytes,
    index: validate::ListIndex,
}

impl LogGroupListView {
    /// Validates `buf` as a `LogGroupList` and returns a view of it.
    pub fn decode(buf: Bytes) -> Result<Self, DecodeError> {
        let index = validate::log_group_list(&buf)?;
        Ok(Self { buf, index })
    }

    /// Builds a list from validated groups, copying each group's bytes once
    /// and nothing else: how a server assembles a pull from stored groups.
    pub fn from_groups<'a>(groups: impl IntoIterator<Item = &'a LogGroupBytes>) -> Self {
        let mut buf = Vec::new();
        let mut index = validate::ListIndex::default();
        for group in groups {
            let bytes = group.as_bytes();
            buf.push(((fields::LIST_GROUPS << 3) | 2) as u8);
            crate::wire::put_varint(&mut buf, bytes.len() as u64);
            let meta = group.meta().moved_to(buf.len());
            buf.extend_from_slice(bytes);
            index.logs += meta.logs;
            index.groups.push(meta);
        }
        Self {
            buf: Bytes::from(buf),
            index,
        }
    }

    /// A list with no groups, as an empty pull returns.
    pub fn empty() -> Self {
        Self {
            buf: Bytes::new(),
            index: validate::ListIndex::default(),
        }
    }

    /// The number of log groups.
    pub fn len(&self) -> usize {
        self.index.groups.len()
    }

    /// Whether the list holds no log group.
    pub fn is_empty(&self) -> bool {
        self.index.groups.is_empty()
    }

    /// The number of logs in all groups.
    pub fn log_count(&self) -> usize {
        self.index.logs
    }

    /// The encoded list this view reads.
    pub fn as_bytes(&self) -> &Bytes {
        &self.buf
    }

    /// Consumes the view, returning its buffer.
    pub fn into_bytes(self) -> Bytes {
        self.buf
    }

    /// The log groups, in order.
    pub fn groups(&self) -> LogGroups<'_> {
        LogGroups::new(&self.buf, &self.index.groups)
    }

    /// Converts to the owned prost type (allocates every string).
    pub fn to_message(&self) -> LogGroupList {
        LogGroupList {
            log_groups: self.groups().map(|g| g.to_message()).collect(),
        }
    }
}

impl<'a> IntoIterator for &'a LogGroupListView {
    type Item = LogGroupView<'a>;
    type IntoIter = LogGroups<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.groups()
    }
}

impl fmt::Debug for LogGroupListView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogGroupListView")
            .field("groups", &self.index.groups.len())
            .field("logs", &self.index.logs)
            .field("bytes", &self.buf.len())
            .finish()
    }
}

impl Default for LogGroupListView {
    fn default() -> Self {
        Self::empty()
    }
}
