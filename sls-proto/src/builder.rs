//! Builders that make log groups short to write, in tests and in producers.
//!
//! Every text argument is `impl AsRef<[u8]>`: `&str`, `String`, byte
//! strings (`b"..."`, `&[u8]`, `Vec<u8>`) and the [`BStr`](bstr::BStr) a view
//! hands out all work, and their bytes are copied unchanged.

use crate::{Log, LogContent, LogGroup, LogTag};

/// The owned bytes of a text argument.
fn owned(text: impl AsRef<[u8]>) -> Vec<u8> {
    text.as_ref().to_vec()
}

impl Log {
    /// A log at `time` (Unix seconds) with the given fields, in order.
    ///
    /// ```
    /// use sls_proto::Log;
    ///
    /// let log = Log::new(1_700_000_000, [("level", &b"info"[..]), ("gbk", b"\xd6\xd0")]);
    /// assert_eq!(log.contents[1].value, b"\xd6\xd0");
    /// ```
    pub fn new<K, V>(time: u32, contents: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        Self {
            time,
            contents: contents
                .into_iter()
                .map(|(key, value)| LogContent {
                    key: owned(key),
                    value: owned(value),
                })
                .collect(),
            time_ns: None,
        }
    }

    /// Sets the sub-second part of the timestamp.
    pub fn with_time_ns(mut self, time_ns: u32) -> Self {
        self.time_ns = Some(time_ns);
        self
    }
}

impl LogGroup {
    /// Starts building a group.
    pub fn builder() -> LogGroupBuilder {
        LogGroupBuilder::default()
    }

    /// A group of `logs` logs with `fields` fields each, every value unique
    /// (`key{j}` = `value-{i}-{j}`), at consecutive seconds from
    /// 1 700 000 000. For tests that need volume but not realism; see
    /// [`crate::sample`] for realistic data.
    pub fn synthetic(logs: usize, fields: usize) -> Self {
        let logs = (0..logs)
            .map(|i| {
                let time = 1_700_000_000u32.wrapping_add(i as u32);
                Log::new(
                    time,
                    (0..fields).map(|j| (format!("key{j}"), format!("value-{i}-{j}"))),
                )
            })
            .collect();
        Self {
            logs,
            ..Self::default()
        }
    }
}

/// Builds a [`LogGroup`] field by field.
///
/// ```
/// use sls_proto::LogGroup;
///
/// let group = LogGroup::builder()
///     .topic("checkout")
///     .source("10.0.0.7")
///     .tag("env", "prod")
///     .log(1_700_000_000, [("level", "info"), ("msg", "paid")])
///     .build();
/// assert_eq!(group.logs.len(), 1);
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct LogGroupBuilder {
    group: LogGroup,
}

impl LogGroupBuilder {
    /// Sets the topic.
    pub fn topic(mut self, topic: impl AsRef<[u8]>) -> Self {
        self.group.topic = Some(owned(topic));
        self
    }

    /// Sets the source.
    pub fn source(mut self, source: impl AsRef<[u8]>) -> Self {
        self.group.source = Some(owned(source));
        self
    }

    /// Sets the reserved category field.
    pub fn category(mut self, category: impl AsRef<[u8]>) -> Self {
        self.group.category = Some(owned(category));
        self
    }

    /// Sets the machine identifier.
    pub fn machine_uuid(mut self, machine_uuid: impl AsRef<[u8]>) -> Self {
        self.group.machine_uuid = Some(owned(machine_uuid));
        self
    }

    /// Adds a tag.
    pub fn tag(mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Self {
        self.group.log_tags.push(LogTag {
            key: owned(key),
            value: owned(value),
        });
        self
    }

    /// Adds a log at `time` with the given fields.
    pub fn log<K, V>(self, time: u32, contents: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        self.push(Log::new(time, contents))
    }

    /// Adds a log.
    pub fn push(mut self, log: Log) -> Self {
        self.group.logs.push(log);
        self
    }

    /// Adds logs.
    pub fn extend(mut self, logs: impl IntoIterator<Item = Log>) -> Self {
        self.group.logs.extend(logs);
        self
    }

    /// The group.
    pub fn build(self) -> LogGroup {
        self.group
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_groups_have_the_asked_shape() {
        let group = LogGroup::synthetic(3, 4);
        assert_eq!(group.logs.len(), 3);
        assert!(group.logs.iter().all(|log| log.contents.len() == 4));
        assert_eq!(group.logs[2].contents[1].value, b"value-2-1");
        assert_eq!(group.logs[1].time, group.logs[0].time + 1);
    }

    #[test]
    fn builder_sets_every_field() {
        let group = LogGroup::builder()
            .topic("t")
            .source("s")
            .category("c")
            .machine_uuid("m")
            .tag("k", "v")
            .push(Log::new(1, [("a", "b")]).with_time_ns(5))
            .extend([Log::new(2, Vec::<(String, String)>::new())])
            .build();
        assert_eq!(group.topic.as_deref(), Some(&b"t"[..]));
        assert_eq!(group.source.as_deref(), Some(&b"s"[..]));
        assert_eq!(group.category.as_deref(), Some(&b"c"[..]));
        assert_eq!(group.machine_uuid.as_deref(), Some(&b"m"[..]));
        assert_eq!(group.log_tags[0].value, b"v");
        assert_eq!(group.logs[0].time_ns, Some(5));
        assert_eq!(group.logs.len(), 2);
    }

    #[test]
    fn builders_keep_any_bytes_unchanged() {
        let latin1 = b"caf\xe9";
        let binary = [0x00, 0xff, 0x80, 0x0a];
        let group = LogGroup::builder()
            .topic(latin1)
            .source(binary)
            .tag(&binary[..], "\u{65e5}\u{5fd7}")
            .log(1, [(latin1.to_vec(), binary.to_vec())])
            .log(2, [(String::from("k"), String::from("v"))])
            .build();
        assert_eq!(group.topic.as_deref(), Some(&latin1[..]));
        assert_eq!(group.source.as_deref(), Some(&binary[..]));
        assert_eq!(group.log_tags[0].key, binary);
        assert_eq!(group.log_tags[0].value, "\u{65e5}\u{5fd7}".as_bytes());
        assert_eq!(group.logs[0].contents[0].key, latin1);
        assert_eq!(group.logs[0].contents[0].value, binary);
        assert_eq!(group.logs[1].contents[0].value, b"v");
    }
}
