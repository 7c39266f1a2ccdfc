//! [`LogGroupView`] and the iterator over the groups of a list.

use std::fmt;
use std::iter::FusedIterator;

use bytes::Bytes;

use super::log::{Logs, Pairs};
use super::{fields, text};
use crate::wire::Reader;
use crate::{LogGroup, LogTag};

/// One validated `LogGroup`, read in place.
///
/// The header fields are read when the view is made; logs and tags are
/// decoded as they are iterated.
#[derive(Clone, Copy)]
pub struct LogGroupView<'a> {
    /// The whole buffer the group sits in, for [`LogGroupView::encoded`].
    whole: &'a Bytes,
    bytes: &'a [u8],
    base: usize,
    category: Option<&'a str>,
    topic: Option<&'a str>,
    source: Option<&'a str>,
    machine_uuid: Option<&'a str>,
    logs: usize,
    tags: usize,
}

impl<'a> LogGroupView<'a> {
    /// Reads the header of a validated group at `base..base + bytes.len()`
    /// of `whole`.
    pub(crate) fn new(whole: &'a Bytes, bytes: &'a [u8], base: usize) -> Self {
        let mut view = Self {
            whole,
            bytes,
            base,
            category: None,
            topic: None,
            source: None,
            machine_uuid: None,
            logs: 0,
            tags: 0,
        };
        let mut reader = Reader::new(bytes, base);
        while let Ok((field, wire_type)) = reader.key() {
            if field == fields::GROUP_LOGS {
                view.logs += 1;
                if reader.skip(wire_type).is_err() {
                    break;
                }
                continue;
            }
            if field == fields::GROUP_TAGS {
                view.tags += 1;
            }
            let slot = match field {
                fields::GROUP_CATEGORY => &mut view.category,
                fields::GROUP_TOPIC => &mut view.topic,
                fields::GROUP_SOURCE => &mut view.source,
                fields::GROUP_MACHINE_UUID => &mut view.machine_uuid,
                _ => {
                    if reader.skip(wire_type).is_err() {
                        break;
                    }
                    continue;
                }
            };
            match reader.bytes() {
                Ok((value, _)) => *slot = Some(text(value)),
                Err(_) => break,
            }
        }
        view
    }

    /// The group's topic, when the writer set one.
    pub fn topic(&self) -> Option<&'a str> {
        self.topic
    }

    /// The group's source (usually the writer's IP address), when set.
    pub fn source(&self) -> Option<&'a str> {
        self.source
    }

    /// The reserved `Category` field, when set.
    pub fn category(&self) -> Option<&'a str> {
        self.category
    }

    /// The writing machine's identifier, when set.
    pub fn machine_uuid(&self) -> Option<&'a str> {
        self.machine_uuid
    }

    /// The number of logs in the group.
    pub fn log_count(&self) -> usize {
        self.logs
    }

    /// The logs, in order.
    pub fn logs(&self) -> Logs<'a> {
        Logs::new(self.bytes, self.base, self.logs)
    }

    /// The group's tags as `(key, value)`, in order.
    pub fn tags(&self) -> Pairs<'a> {
        Pairs::new(self.bytes, self.base, fields::GROUP_TAGS, self.tags)
    }

    /// The group's encoded bytes, shared with the list's buffer (no copy):
    /// what PutLogs sends to write this group elsewhere unchanged.
    pub fn encoded(&self) -> Bytes {
        self.whole.slice(self.base..self.base + self.bytes.len())
    }

    /// Converts to the owned prost type (allocates every string).
    pub fn to_message(&self) -> LogGroup {
        LogGroup {
            logs: self.logs().map(|log| log.to_message()).collect(),
            category: self.category.map(str::to_owned),
            topic: self.topic.map(str::to_owned),
            source: self.source.map(str::to_owned),
            machine_uuid: self.machine_uuid.map(str::to_owned),
            log_tags: self
                .tags()
                .map(|(key, value)| LogTag {
                    key: key.to_owned(),
                    value: value.to_owned(),
                })
                .collect(),
        }
    }
}

impl fmt::Debug for LogGroupView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogGroupView")
            .field("topic", &self.topic)
            .field("source", &self.source)
            .field("logs", &self.logs)
            .field("tags", &self.tags)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// The groups of a [`LogGroupListView`](super::LogGroupListView), in order.
#[derive(Debug, Clone)]
pub struct LogGroups<'a> {
    whole: &'a Bytes,
    reader: Reader<'a>,
    remaining: usize,
}

impl<'a> LogGroups<'a> {
    pub(crate) fn new(whole: &'a Bytes, count: usize) -> Self {
        Self {
            whole,
            reader: Reader::new(whole, 0),
            remaining: count,
        }
    }
}

impl<'a> Iterator for LogGroups<'a> {
    type Item = LogGroupView<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.remaining > 0 {
            let (field, wire_type) = self.reader.key().ok()?;
            if field == fields::LIST_GROUPS {
                let (bytes, base) = self.reader.bytes().ok()?;
                self.remaining -= 1;
                return Some(LogGroupView::new(self.whole, bytes, base));
            }
            self.reader.skip(wire_type).ok()?;
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for LogGroups<'_> {}
impl FusedIterator for LogGroups<'_> {}
