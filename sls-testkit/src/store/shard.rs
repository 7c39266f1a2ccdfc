//! One shard: an append-only sequence of log groups, each stored
//! compressed once, in receive-time order so that retention only ever
//! looks at the front.

use std::collections::VecDeque;

use sls_proto::Lz4Block;

/// Read-write or read-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShardStatus {
    /// Takes writes.
    ReadWrite,
    /// Split or merged: its end is fixed.
    ReadOnly,
}

impl ShardStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::ReadWrite => "readwrite",
            Self::ReadOnly => "readonly",
        }
    }
}

/// A group as stored: its `LogGroupList` framing, compressed once.
#[derive(Debug)]
struct Stored {
    block: Lz4Block,
    received: i64,
}

/// What a pull reads.
#[derive(Debug)]
pub(crate) struct Read {
    pub(crate) body: Vec<u8>,
    pub(crate) raw_len: usize,
    pub(crate) count: usize,
    pub(crate) next: i64,
    pub(crate) cursor_time: i64,
}

#[derive(Debug)]
pub(crate) struct Shard {
    pub(crate) id: u32,
    pub(crate) status: ShardStatus,
    pub(crate) begin_key: u128,
    pub(crate) end_key: u128,
    pub(crate) create_time: i64,
    /// The shards this one was split or merged from.
    pub(crate) parents: Vec<u32>,
    /// The sequence number of `groups[0]`.
    base: i64,
    /// Oldest first, receive times never decreasing.
    groups: VecDeque<Stored>,
}

/// The first cursor of shard `id`: distinct ranges per shard, so a cursor
/// of one shard is refused by another.
fn first_cursor(id: u32) -> i64 {
    (i64::from(id) + 1) * 1_000_000_000_000
}

impl Shard {
    pub(crate) fn new(id: u32, begin_key: u128, end_key: u128, create_time: i64) -> Self {
        Self {
            id,
            status: ShardStatus::ReadWrite,
            begin_key,
            end_key,
            create_time,
            parents: Vec::new(),
            base: first_cursor(id),
            groups: VecDeque::new(),
        }
    }

    /// Whether `key` falls in this shard's range.
    pub(crate) fn covers(&self, key: u128) -> bool {
        self.begin_key <= key && (key < self.end_key || self.end_key == u128::MAX)
    }

    pub(crate) fn begin_cursor(&self) -> i64 {
        self.base
    }

    pub(crate) fn end_cursor(&self) -> i64 {
        self.base + self.groups.len() as i64
    }

    pub(crate) fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// One encoded `LogGroup` as stored: framed as a `LogGroupList` entry
    /// and lz4-compressed. Done before taking the world's lock: it is the
    /// costly part of a write.
    pub(crate) fn store_form(group: &[u8]) -> Lz4Block {
        let mut framed = Vec::with_capacity(group.len() + 6);
        framed.push(0x0a);
        let mut len = group.len() as u64;
        while len >= 0x80 {
            framed.push((len as u8) | 0x80);
            len >>= 7;
        }
        framed.push(len as u8);
        framed.extend_from_slice(group);
        Lz4Block::compress(&framed)
    }

    /// Appends one group in its [`Shard::store_form`]. Receive times never
    /// go back (a time before the last group's counts as the last group's),
    /// so the oldest group is always at the front.
    pub(crate) fn append(&mut self, block: Lz4Block, received: i64) {
        let received = self
            .groups
            .back()
            .map_or(received, |last| received.max(last.received));
        self.groups.push_back(Stored { block, received });
    }

    /// Drops the groups received before `before` (retention); the begin
    /// cursor moves past them. Looks only at the front: the work is the
    /// number dropped (plus one), whatever the shard holds. Returns how
    /// many went.
    pub(crate) fn expire(&mut self, before: i64) -> usize {
        let mut dropped = 0;
        while self.groups.front().is_some_and(|g| g.received < before) {
            self.groups.pop_front();
            dropped += 1;
        }
        self.base += dropped as i64;
        dropped
    }

    /// Drops the oldest `count` groups (at most all), as retention does
    /// once they pass the TTL; returns how many went.
    pub(crate) fn drop_oldest(&mut self, count: usize) -> usize {
        let n = count.min(self.groups.len());
        self.groups.drain(..n);
        self.base += n as i64;
        n
    }

    /// Whether `cursor` pointed into this shard's data before retention
    /// dropped it.
    pub(crate) fn is_dropped(&self, cursor: i64) -> bool {
        (first_cursor(self.id)..self.base).contains(&cursor)
    }

    /// The first group received at or after `time`, or the end.
    pub(crate) fn cursor_at(&self, time: i64) -> i64 {
        let index = self.groups.partition_point(|g| g.received < time);
        self.base + index as i64
    }

    /// Whether `cursor` points into (or at the end of) this shard.
    pub(crate) fn contains_cursor(&self, cursor: i64) -> bool {
        (self.begin_cursor()..=self.end_cursor()).contains(&cursor)
    }

    /// The receive time of the group at `cursor`; at the end, of the last
    /// group (or the shard's creation when it is empty).
    pub(crate) fn cursor_time(&self, cursor: i64) -> i64 {
        let index = (cursor - self.base).clamp(0, self.groups.len() as i64) as usize;
        self.groups
            .get(index)
            .or(self.groups.back())
            .map_or(self.create_time, |g| g.received)
    }

    /// Up to `count` groups from `cursor` (a valid cursor), stopping before
    /// `end` when given.
    pub(crate) fn read(&self, cursor: i64, count: usize, end: Option<i64>) -> Read {
        let from = (cursor - self.base) as usize;
        let mut to = (from + count).min(self.groups.len());
        if let Some(end) = end {
            to = to.min((end - self.base).max(from as i64) as usize);
        }
        let (body, raw_len) = Lz4Block::splice(self.groups.range(from..to).map(|g| &g.block));
        Read {
            body,
            raw_len,
            count: to - from,
            next: self.base + to as i64,
            cursor_time: self.cursor_time(cursor),
        }
    }
}
