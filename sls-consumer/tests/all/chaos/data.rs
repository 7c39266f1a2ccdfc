//! What the chaos run writes, and where it landed.
//!
//! Every log carries a key and a per-key sequence number (ASCII, read by
//! [`keyed::read`]), whatever else it holds. Most groups are three such
//! logs; a few per seed are large (1 to 5 MB, up to the service's 4096
//! logs) with filler that lz4 cannot shrink much, so pulls are refused for
//! size and asked again. [`Writes`] writes them; its [`Ledger`] records the
//! shard and cursor of every group, which lets the checker say what each
//! batch must hold and which logs retention took.

use std::collections::{BTreeMap, BTreeSet};

use sls_client::{Client, PutLogsRequest};
use sls_proto::{Cursor, LogGroup};
use sls_testkit::FakeLogHub;

use super::figures::Figures;
use super::retention::oldest;
use crate::harness::{LOGSTORE, PROJECT, keyed};

/// A log the checker follows: its key and sequence number.
pub(super) type Tagged = (u32, u64);

/// The raw size a large group aims at, at most: under the service's 5 MB
/// group limit with room for the framing of up to 4096 logs.
const LARGE_BYTES: std::ops::RangeInclusive<usize> = 1_000_000..=4_800_000;

/// What the text of the run's groups is made of (chosen per seed). Keys
/// and sequence numbers stay ASCII, so the checker reads them as ever;
/// the rest (filler, topic, source, tags) is of this kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Text {
    /// Letters and digits.
    Ascii,
    /// Any UTF-8: multi-byte letters, emoji, control characters, NUL, a
    /// byte-order mark.
    Unicode,
    /// Bytes that are not UTF-8, as the service stores and returns them:
    /// random bytes (0x00 and 0xFF included) behind a lone continuation
    /// byte, GBK-encoded Chinese, Latin-1. Small groups carry such text
    /// too (topic, source, a tag and a field).
    Raw,
}

impl Text {
    /// The kind seed `seed` writes: each in turn.
    pub(super) fn for_seed(seed: u64) -> Self {
        match seed % 3 {
            0 => Self::Ascii,
            1 => Self::Unicode,
            _ => Self::Raw,
        }
    }
}

/// GBK-encoded Chinese and a Latin-1 word: common non-UTF-8 text.
const NOT_UTF8: &[&[u8]] = &[
    &[0xc4, 0xe3, 0xba, 0xc3, 0xca, 0xc0, 0xbd, 0xe7],
    &[0x63, 0x61, 0x66, 0xe9],
    &[0x80],
    &[0xe2, 0x82],
    &[0xc0, 0xaf],
];

/// The characters [`Text::Unicode`] draws from.
const UNICODE: &str = "aZ7 éßЖي中語😀🦀\0\t\n\u{7f}\u{feff}\u{10ffff}\"\\";

/// The characters [`Text::Ascii`] draws from.
const ASCII: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

impl Text {
    /// About `bytes` bytes of filler (whole characters, so a little more),
    /// one random byte a character.
    pub(super) fn filler(self, rng: &mut fastrand::Rng, bytes: usize) -> Vec<u8> {
        let mut noise = vec![0; bytes];
        rng.fill(&mut noise);
        match self {
            Self::Ascii => noise.iter().map(|b| ASCII[usize::from(b % 64)]).collect(),
            Self::Raw => {
                let mut text = NOT_UTF8
                    [usize::from(noise.first().copied().unwrap_or(0)) % NOT_UTF8.len()]
                .to_vec();
                text.extend_from_slice(&noise);
                text
            }
            Self::Unicode => {
                let palette: Vec<char> = UNICODE.chars().collect();
                let mut text = String::with_capacity(bytes + 4);
                for b in noise {
                    if text.len() >= bytes {
                        break;
                    }
                    text.push(palette[usize::from(b) % palette.len()]);
                }
                text.into_bytes()
            }
        }
    }
}

/// A large group of `key`'s logs numbered on from `seqs`, about `bytes`
/// raw bytes in `logs` logs; returns it with the logs it holds.
pub(super) fn large_group(
    rng: &mut fastrand::Rng,
    text: Text,
    key: u32,
    seqs: &mut BTreeMap<u32, u64>,
) -> (LogGroup, Vec<Tagged>) {
    let bytes = rng.usize(LARGE_BYTES);
    let logs = rng.usize(1..=sls_client::MAX_LOGS_PER_GROUP);
    let pad = bytes / logs;
    // The filler has its own generator: its length does not shift the
    // scenario's draws.
    let mut fill = fastrand::Rng::with_seed(rng.u64(..));
    let seq = seqs.entry(key).or_default();
    let mut tagged = Vec::with_capacity(logs);
    let mut builder = LogGroup::builder()
        .topic(text.filler(&mut fill, 16))
        .source(text.filler(&mut fill, 8))
        .tag("filler", text.filler(&mut fill, 32));
    for _ in 0..logs {
        builder = builder.log(
            1_700_000_000,
            [
                (&b"key"[..], key.to_string().into_bytes()),
                (b"seq", seq.to_string().into_bytes()),
                (b"pad", text.filler(&mut fill, pad)),
            ],
        );
        tagged.push((key, *seq));
        *seq += 1;
    }
    (builder.build(), tagged)
}

/// A group of three of `key`'s logs numbered on from `seqs` (as
/// [`keyed::write`] writes them); with [`Text::Raw`], with text that is
/// not UTF-8 in its topic, source, a tag and a field of each log.
pub(super) fn small_group(
    rng: &mut fastrand::Rng,
    text: Text,
    key: u32,
    seqs: &mut BTreeMap<u32, u64>,
) -> (LogGroup, Vec<Tagged>) {
    let seq = seqs.entry(key).or_default();
    let mut builder = LogGroup::builder();
    let raw = text == Text::Raw;
    let mut fill = fastrand::Rng::with_seed(rng.u64(..));
    if raw {
        builder = builder
            .topic(text.filler(&mut fill, 6))
            .source(text.filler(&mut fill, 4))
            .tag(text.filler(&mut fill, 3), text.filler(&mut fill, 5));
    }
    let mut tagged = Vec::with_capacity(3);
    for _ in 0..3 {
        let note = if raw {
            text.filler(&mut fill, 8)
        } else {
            Vec::new()
        };
        builder = builder.log(
            1_700_000_000,
            [
                (b"key".to_vec(), key.to_string().into_bytes()),
                (b"seq".to_vec(), seq.to_string().into_bytes()),
                (b"note".to_vec(), note),
            ],
        );
        tagged.push((key, *seq));
        *seq += 1;
    }
    (builder.build(), tagged)
}

/// Every group the run wrote: its shard and cursor, and its logs.
#[derive(Debug, Default)]
pub(super) struct Ledger {
    groups: BTreeMap<(u32, Cursor), Vec<Tagged>>,
}

impl Ledger {
    /// Every shard's end cursor now, read from the fake without a request
    /// (shard ids are consecutive from 0).
    fn ends(hub: &FakeLogHub) -> BTreeMap<u32, Cursor> {
        (0..)
            .map_while(|id| Some((id, hub.end_cursor(PROJECT, LOGSTORE, id)?)))
            .collect()
    }

    /// Writes `group` to `key`'s spot of the hash range and records where
    /// it landed: the one shard whose end moved. Nothing else writes, and
    /// the only write faults are 503s the fake answers without storing, so
    /// the retries the request allows cannot duplicate it.
    pub(super) async fn put(
        &mut self,
        hub: &FakeLogHub,
        client: &Client,
        key: u32,
        (group, tagged): (LogGroup, Vec<Tagged>),
    ) -> Result<(), String> {
        let before = Self::ends(hub);
        let put = PutLogsRequest::from_group(PROJECT, LOGSTORE, &group)
            .hash_key(keyed::hash_key(key))
            .retry_may_duplicate(true);
        client
            .put_logs(put)
            .await
            .map_err(|e| format!("write failed: {e}"))?;
        let moved: Vec<(u32, Cursor)> = Self::ends(hub)
            .into_iter()
            .filter(|(id, end)| before.get(id).is_none_or(|was| was != end))
            .collect();
        match moved[..] {
            [(shard, end)] if before.get(&shard).and_then(|b| b.checked_add(1)) == Some(end) => {
                self.groups.insert((shard, before[&shard]), tagged);
                Ok(())
            }
            _ => Err(format!(
                "a write of key {key} did not land as one group: {moved:?}"
            )),
        }
    }

    /// The logs of the groups of `shard` in `from..to`, in order; `None`
    /// when one of them was never written.
    pub(super) fn logs(&self, shard: u32, from: Cursor, to: Cursor) -> Option<Vec<Tagged>> {
        let mut logs = Vec::new();
        let mut at = from;
        while at < to {
            logs.extend(self.groups.get(&(shard, at))?);
            at = at.checked_add(1)?;
        }
        Some(logs)
    }

    /// The logs of the group of `shard` at `cursor`, if one was written.
    pub(super) fn group(&self, shard: u32, cursor: Cursor) -> Option<&[Tagged]> {
        self.groups.get(&(shard, cursor)).map(Vec::as_slice)
    }

    /// Every group: (shard, cursor) and its logs.
    pub(super) fn groups(&self) -> impl Iterator<Item = (&(u32, Cursor), &Vec<Tagged>)> {
        self.groups.iter()
    }
}

/// What the run writes and where it went.
pub(super) struct Writes {
    pub(super) ledger: Ledger,
    pub(super) seqs: BTreeMap<u32, u64>,
    /// The text of the groups, past keys and sequence numbers.
    pub(super) text: Text,
}

impl Writes {
    /// Writes `groups` groups of 3 logs for random keys, each to its key's
    /// hash range, then a large group for a random key when `large`.
    pub(super) async fn write(
        &mut self,
        hub: &FakeLogHub,
        rng: &mut fastrand::Rng,
        groups: usize,
        large: bool,
        figures: &mut Figures,
    ) -> Result<(), String> {
        let client = hub.client();
        for _ in 0..groups {
            let key = rng.u32(..keyed::KEYS);
            let group = small_group(rng, self.text, key, &mut self.seqs);
            figures.written += group.1.len() as u64;
            if self.text == Text::Raw {
                figures.not_utf8_logs += group.1.len() as u64;
            }
            self.ledger.put(hub, &client, key, group).await?;
        }
        if large {
            let key = rng.u32(..keyed::KEYS);
            let group = large_group(rng, self.text, key, &mut self.seqs);
            let logs = group.1.len() as u64;
            figures.written += logs;
            figures.large_groups += 1;
            figures.large_logs += logs;
            if self.text == Text::Raw {
                figures.not_utf8_logs += logs;
            }
            self.ledger.put(hub, &client, key, group).await?;
        }
        Ok(())
    }

    /// Every log written to a group retention has not dropped (nothing
    /// drops any more once this is asked).
    pub(super) fn retained(&self, hub: &FakeLogHub) -> BTreeSet<Tagged> {
        self.ledger
            .groups()
            .filter(|((shard, cursor), _)| {
                oldest(hub, *shard).is_none_or(|oldest| *cursor >= oldest)
            })
            .flat_map(|(_, logs)| logs.iter().copied())
            .collect()
    }
}
