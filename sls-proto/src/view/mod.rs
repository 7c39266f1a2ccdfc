//! A zero-copy decoder for the hot path of consumption.
//!
//! [`LogGroupListView::decode`] takes the decompressed body of a PullLogs
//! response as [`Bytes`], validates its structure in one pass (wire
//! structure, the wire type of every known field) without allocating, and
//! then hands out groups, logs, fields and tags as [`BStr`](bstr::BStr) borrowed from
//! the buffer. Iteration cannot fail: anything malformed was refused up front
//! with a [`DecodeError`], so a consumer never processes half a batch of a
//! corrupt body.
//!
//! Text is not checked for UTF-8, by design: the service stores keys, values,
//! tags, topic, source, category and machine uuid as the writer sent them,
//! and GBK, Latin-1 or binary bytes are normal in production logs. Refusing
//! them would refuse the whole body, and so stop a shard at that log for
//! good. A [`BStr`](bstr::BStr) is the bytes as they are, with text access when wanted:
//! `to_str()` (checked, from [`ByteSlice`](bstr::ByteSlice)),
//! `to_str_lossy()` (invalid sequences become U+FFFD), a lossy `Display`, an
//! escaping `Debug` and comparison with `&str`.
//!
//! Decoding follows protobuf's rules as prost does: unknown fields are
//! skipped, a repeated scalar keeps its last value, a missing `Time` or
//! string reads as zero or empty, and a `Time` varint wider than 32 bits is
//! truncated. [`LogGroupListView::to_message`] and friends convert to the
//! owned prost types.
//!
//! # Layout
//! - `validate`: the validation pass.
//! - `group`: [`LogGroupView`], its tags and the group iterator.
//! - `log`: [`LogView`] and the iterators over logs and key/value pairs.
//! - `standalone`: [`LogGroupBytes`], one validated encoded `LogGroup`.

mod group;
mod log;
mod standalone;
mod validate;

use std::fmt;

use bytes::Bytes;

pub use self::group::{LogGroupView, LogGroups};
pub use self::log::{LogView, Logs, Pairs};
pub use self::standalone::LogGroupBytes;
use crate::LogGroupList;
use crate::decode_error::DecodeError;

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
    // A length byte with the high bit set starts a longer varint: that is
    // the general path's to read, even when its value happens to match.
    (*value_len < 0x80 && usize::from(*value_len) == value.len()).then_some((key, value))
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
///     assert_eq!(group.topic(), Some("nginx".into()));
///     for log in group.logs() {
///         assert_eq!(log.get("status").unwrap(), "200");
///         // Keys and values are bytes; `Display` is lossy, `to_str()` checked.
///         let line: Vec<String> = log.contents().map(|(k, v)| format!("{k}={v}")).collect();
///         assert_eq!(line, ["status=200", "path=/"]);
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

    /// Converts to the owned prost type (allocates every string, whose
    /// bytes it copies unchanged).
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
