//! [`LogGroupView`] and the iterator over the groups of a list.

use std::fmt;
use std::iter::FusedIterator;

use bstr::BStr;
use bytes::Bytes;

use super::fields;
use super::log::{Logs, Pairs};
use super::validate::{GroupMeta, Span};
use crate::{LogGroup, LogTag};

/// One validated `LogGroup`, read in place.
///
/// The header fields were located by validation; logs and tags are decoded
/// as they are iterated. Text comes as [`BStr`]: the bytes the writer sent,
/// whatever their encoding.
#[derive(Clone, Copy)]
pub struct LogGroupView<'a> {
    /// The whole buffer the group sits in.
    whole: &'a Bytes,
    meta: &'a GroupMeta,
}

impl<'a> LogGroupView<'a> {
    pub(crate) fn new(whole: &'a Bytes, meta: &'a GroupMeta) -> Self {
        Self { whole, meta }
    }

    fn string(&self, span: Option<Span>) -> Option<&'a BStr> {
        let (start, len) = span?;
        self.whole.get(start..start + len).map(BStr::new)
    }

    fn bytes(&self) -> &'a [u8] {
        let (start, len) = self.meta.span;
        self.whole.get(start..start + len).unwrap_or_default()
    }

    /// The group's topic, when the writer set one.
    pub fn topic(&self) -> Option<&'a BStr> {
        self.string(self.meta.topic)
    }

    /// The group's source (usually the writer's IP address), when set.
    pub fn source(&self) -> Option<&'a BStr> {
        self.string(self.meta.source)
    }

    /// The reserved `Category` field, when set.
    pub fn category(&self) -> Option<&'a BStr> {
        self.string(self.meta.category)
    }

    /// The writing machine's identifier, when set.
    pub fn machine_uuid(&self) -> Option<&'a BStr> {
        self.string(self.meta.machine_uuid)
    }

    /// The number of logs in the group.
    pub fn log_count(&self) -> usize {
        self.meta.logs
    }

    /// The logs, in order.
    pub fn logs(&self) -> Logs<'a> {
        let (base, _) = self.meta.span;
        Logs::new(self.bytes(), base, self.meta.logs, self.meta.canonical)
    }

    /// The group's tags as `(key, value)` bytes, in order.
    pub fn tags(&self) -> Pairs<'a> {
        Pairs::new(self.bytes(), self.meta.span.0, fields::GROUP_TAGS)
    }

    pub(crate) fn meta(&self) -> GroupMeta {
        *self.meta
    }

    /// The group's encoded bytes, shared with the list's buffer (no copy):
    /// what PutLogs sends to write this group elsewhere unchanged, byte for
    /// byte, whatever its text's encoding.
    pub fn encoded(&self) -> Bytes {
        let (start, len) = self.meta.span;
        self.whole.slice(start..start + len)
    }

    /// Converts to the owned prost type (allocates every string, whose
    /// bytes it copies unchanged).
    pub fn to_message(&self) -> LogGroup {
        let owned = |s: &BStr| s.to_vec();
        LogGroup {
            logs: self.logs().map(|log| log.to_message()).collect(),
            category: self.category().map(owned),
            topic: self.topic().map(owned),
            source: self.source().map(owned),
            machine_uuid: self.machine_uuid().map(owned),
            log_tags: self
                .tags()
                .map(|(key, value)| LogTag {
                    key: key.to_vec(),
                    value: value.to_vec(),
                })
                .collect(),
        }
    }
}

impl fmt::Debug for LogGroupView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogGroupView")
            .field("topic", &self.topic())
            .field("source", &self.source())
            .field("logs", &self.meta.logs)
            .field("bytes", &self.meta.span.1)
            .finish()
    }
}

/// The groups of a [`LogGroupListView`](super::LogGroupListView), in order.
#[derive(Debug, Clone)]
pub struct LogGroups<'a> {
    whole: &'a Bytes,
    metas: std::slice::Iter<'a, GroupMeta>,
}

impl<'a> LogGroups<'a> {
    pub(crate) fn new(whole: &'a Bytes, metas: &'a [GroupMeta]) -> Self {
        Self {
            whole,
            metas: metas.iter(),
        }
    }
}

impl<'a> Iterator for LogGroups<'a> {
    type Item = LogGroupView<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        self.metas
            .next()
            .map(|meta| LogGroupView::new(self.whole, meta))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.metas.size_hint()
    }
}

impl DoubleEndedIterator for LogGroups<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.metas
            .next_back()
            .map(|meta| LogGroupView::new(self.whole, meta))
    }
}

impl ExactSizeIterator for LogGroups<'_> {}
impl FusedIterator for LogGroups<'_> {}
