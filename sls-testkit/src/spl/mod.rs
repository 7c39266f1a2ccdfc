//! The subset of SPL (the service's Structured Process Language) that the
//! fake evaluates on PullLogs `query` and named consume processors.
//!
//! A statement is `*` followed by any number of `| instruction`:
//!
//! - `where <condition>`: keeps the logs for which the condition is true.
//!   Conditions compare operands with `=`, `!=` (or `<>`), `<`, `<=`, `>`,
//!   `>=`, match them with `like` / `not like`, and combine with `and`,
//!   `or`, `not` and parentheses. Operands are fields, `'strings'` (a
//!   quote doubled inside) and numbers.
//! - `project f1, f2`: keeps only the listed fields, in that order.
//! - `project-away f1, f2`: removes the listed fields.
//! - `extend f = 'literal'[, g = 'literal']`: sets fields to string
//!   literals, replacing any existing value.
//!
//! Fields are names of `[A-Za-z0-9_]` or double-quoted (`"__tag__:ip"`, a
//! `"` doubled inside). Keywords and instruction names ignore case; field
//! names do not ("case-sensitive" in real-time consumption, SPL General
//! reference, alibabacloud.com/help/en/sls/user-guide/spl-general-reference).
//!
//! # Semantics (choices where the service's documents are silent)
//!
//! - In `where`, `__topic__`, `__source__` and `"__tag__:NAME"` read the
//!   log's group, `__time__` the log's time (decimal); other names read the
//!   log's first content of that key.
//! - A missing field is null, and `where` follows SQL's three-valued logic
//!   (SPL conditions are SQL expressions): a comparison or `like` with a
//!   null is null, `not null` is null, `false and null` is false, `true or
//!   null` is true, and a log is kept only when the whole condition is
//!   true. So `where not (a = '1')` drops logs without `a`.
//! - A comparison is numeric when both sides are decimal numbers
//!   (`[+-]?(digits[.digits]|.digits)([eE][+-]?digits)?`, compared as
//!   `f64`), otherwise a byte-wise comparison of the text: text is bytes
//!   (the service serves text that is not UTF-8: aliyun-log-python-sdk
//!   issue 105) and non-UTF-8 values compare like any other. The
//!   service types fields as text and wants `cast(f as bigint)` for numeric
//!   comparison; the fake's leniency is what issue 14 asked for.
//! - `like`: `%` matches any run, `_` exactly one character (one byte when
//!   the value is not UTF-8), everything else itself; no `escape`.
//! - `project`, `project-away` and `extend` act on log contents only; time
//!   fields are kept (General reference: "project, project-away, and
//!   project-rename: By default, time fields are retained"), and the
//!   group's topic, source and tags are kept as they are. Naming `__time__`,
//!   `__time_ns_part__`, `__topic__`, `__source__` or a `__tag__:` field in
//!   them is refused as outside the subset rather than guessed.
//! - A field listed in `project` that a log lacks is left out of it.
//! - A group whose logs are all filtered out is omitted from the answer,
//!   so a pull may return no groups while its cursor advances
//!   (as the service's do: the Go consumer's `processInternal` guards against
//!   "empty content (filter by query)", aliyun-log-go-sdk
//!   consumer/shard_worker.go).
//!
//! Anything else (other instructions, functions, `is null`, `in`,
//! arithmetic, `cast`, an index query before the first `|`) is refused with
//! a [`SplError`] naming what the fake does not support: a test must never
//! pass on data a query did not filter.

mod eval;
mod parse;
#[cfg(test)]
mod tests;

use std::fmt;

use sls_proto::{Log, LogContent, LogGroup};

pub(crate) use self::eval::Expr;

/// A parsed SPL statement: the instructions after `*`, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pipeline {
    steps: Vec<Step>,
}

/// One instruction.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// `where <condition>`
    Where(Expr),
    /// `project f, ...`
    Project(Vec<Vec<u8>>),
    /// `project-away f, ...`
    ProjectAway(Vec<Vec<u8>>),
    /// `extend f = 'v', ...`
    Extend(Vec<(Vec<u8>, Vec<u8>)>),
}

/// Why a statement was refused: malformed, or outside the fake's subset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SplError {
    message: String,
}

impl SplError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for SplError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SplError {}

/// The longest statement the fake takes (bytes). The service's own limit
/// is not documented; real consumer queries are a few hundred bytes.
pub(crate) const MAX_STATEMENT_BYTES: usize = 4096;
/// The deepest nesting of parentheses, and the most `not`s, a statement
/// may hold (each is a level of recursion in the parser and evaluator).
pub(crate) const MAX_NESTING: usize = 32;
/// The longest `like` pattern (bytes): matching costs up to the value's
/// length times the pattern's.
pub(crate) const MAX_LIKE_PATTERN_BYTES: usize = 256;

/// Refuses a statement past the fake's bounds, before parsing it.
/// Quoted text ('...' and "...") is skipped: parentheses and words in it
/// are literal.
fn check_bounds(text: &str) -> Result<(), SplError> {
    if text.len() > MAX_STATEMENT_BYTES {
        return Err(SplError::new(format!(
            "the fake takes SPL statements of at most {MAX_STATEMENT_BYTES} bytes; this one has {}",
            text.len()
        )));
    }
    let bytes = text.as_bytes();
    let (mut depth, mut deepest, mut nots) = (0usize, 0usize, 0usize);
    let mut quote: Option<u8> = None;
    let mut quoted_len = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if let Some(q) = quote {
            if b == q {
                if bytes.get(i + 1) == Some(&q) {
                    // A doubled quote is one quote character.
                    i += 2;
                    quoted_len += 1;
                    continue;
                }
                quote = None;
                if q == b'\'' && quoted_len > MAX_LIKE_PATTERN_BYTES {
                    return Err(SplError::new(format!(
                        "the fake takes string literals (and so `like` patterns) of at most \
                         {MAX_LIKE_PATTERN_BYTES} bytes"
                    )));
                }
            } else {
                quoted_len += 1;
            }
            i += 1;
            continue;
        }
        match b {
            b'\'' | b'"' => {
                quote = Some(b);
                quoted_len = 0;
            }
            b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' => depth = depth.saturating_sub(1),
            _ if (b == b'n' || b == b'N')
                && bytes
                    .get(i..i + 3)
                    .is_some_and(|w| w.eq_ignore_ascii_case(b"not"))
                && (i == 0 || !is_word_byte(bytes[i - 1]))
                && bytes.get(i + 3).is_none_or(|next| !is_word_byte(*next)) =>
            {
                nots += 1;
            }
            _ => {}
        }
        i += 1;
    }
    if deepest > MAX_NESTING || nots > MAX_NESTING {
        return Err(SplError::new(format!(
            "the fake takes at most {MAX_NESTING} levels of parentheses and {MAX_NESTING} `not`s \
             in a statement"
        )));
    }
    Ok(())
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The group-level fields a log's `where` can read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GroupFields<'a> {
    pub(crate) topic: Option<&'a [u8]>,
    pub(crate) source: Option<&'a [u8]>,
    pub(crate) tags: &'a [sls_proto::LogTag],
}

impl Pipeline {
    /// Parses a statement; refuses anything outside the subset, and
    /// statements past the fake's bounds ([`MAX_STATEMENT_BYTES`],
    /// [`MAX_NESTING`], [`MAX_LIKE_PATTERN_BYTES`]): the parser and the
    /// evaluator recurse, and a request must not overflow the server's
    /// stack or hold a thread for minutes.
    pub(crate) fn parse(text: &str) -> Result<Self, SplError> {
        check_bounds(text)?;
        parse::statement(text).map(|steps| Self { steps })
    }

    /// Whether the statement is `*` alone: every log passes unchanged.
    pub(crate) fn is_identity(&self) -> bool {
        self.steps.is_empty()
    }

    /// Runs the statement on one log; `None` when a `where` drops it.
    pub(crate) fn apply_log(&self, group: GroupFields<'_>, mut log: Log) -> Option<Log> {
        for step in &self.steps {
            match step {
                Step::Where(condition) => {
                    if condition.eval(group, &log) != Some(true) {
                        return None;
                    }
                }
                Step::Project(fields) => {
                    let mut kept = Vec::with_capacity(fields.len());
                    for field in fields {
                        kept.extend(log.contents.iter().filter(|c| &c.key == field).cloned());
                    }
                    log.contents = kept;
                }
                Step::ProjectAway(fields) => {
                    log.contents.retain(|c| !fields.contains(&c.key));
                }
                Step::Extend(assignments) => {
                    for (key, value) in assignments {
                        log.contents.retain(|c| &c.key != key);
                        log.contents.push(LogContent {
                            key: key.clone(),
                            value: value.clone(),
                        });
                    }
                }
            }
        }
        Some(log)
    }

    /// Runs the statement on every log of a group; `None` when no log is
    /// left (the group is then omitted from the answer).
    pub(crate) fn apply_group(&self, mut group: LogGroup) -> Option<LogGroup> {
        let logs = std::mem::take(&mut group.logs);
        let fields = GroupFields {
            topic: group.topic.as_deref(),
            source: group.source.as_deref(),
            tags: &group.log_tags,
        };
        let kept: Vec<Log> = logs
            .into_iter()
            .filter_map(|log| self.apply_log(fields, log))
            .collect();
        if kept.is_empty() {
            return None;
        }
        group.logs = kept;
        Some(group)
    }
}
