//! `where` conditions: the tree and its evaluation over one log.

use std::borrow::Cow;
use std::cmp::Ordering;

use sls_proto::Log;

use super::GroupFields;

/// A value an operand names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    /// A field, by name.
    Field(Vec<u8>),
    /// A `'string'` or a number, as text.
    Literal(Vec<u8>),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// Whether `ordering` (left against right) satisfies the operator.
    pub(crate) fn holds(self, ordering: Ordering) -> bool {
        match self {
            Self::Eq => ordering.is_eq(),
            Self::Ne => ordering.is_ne(),
            Self::Lt => ordering.is_lt(),
            Self::Le => ordering.is_le(),
            Self::Gt => ordering.is_gt(),
            Self::Ge => ordering.is_ge(),
        }
    }
}

/// A `where` condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    /// `left op right`
    Compare(Operand, CmpOp, Operand),
    /// `value [not] like 'pattern'`
    Like {
        value: Operand,
        pattern: Vec<u8>,
        negated: bool,
    },
    /// `a and b`
    And(Box<Expr>, Box<Expr>),
    /// `a or b`
    Or(Box<Expr>, Box<Expr>),
    /// `not a`
    Not(Box<Expr>),
}

/// Three-valued truth ordered `false < null < true`: `and` is the
/// minimum, `or` the maximum and `not` the mirror, which is Kleene's (and
/// SQL's) logic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Truth {
    False,
    Null,
    True,
}

impl Truth {
    fn from_option(value: Option<bool>) -> Self {
        match value {
            Some(false) => Self::False,
            None => Self::Null,
            Some(true) => Self::True,
        }
    }

    fn into_option(self) -> Option<bool> {
        match self {
            Self::False => Some(false),
            Self::Null => None,
            Self::True => Some(true),
        }
    }

    fn not(self) -> Self {
        match self {
            Self::False => Self::True,
            Self::Null => Self::Null,
            Self::True => Self::False,
        }
    }
}

impl Expr {
    /// The condition's value for one log: `None` is SQL's null.
    pub(crate) fn eval(&self, group: GroupFields<'_>, log: &Log) -> Option<bool> {
        self.truth(group, log).into_option()
    }

    fn truth(&self, group: GroupFields<'_>, log: &Log) -> Truth {
        match self {
            Self::Compare(left, op, right) => Truth::from_option(
                match (resolve(left, group, log), resolve(right, group, log)) {
                    (Some(l), Some(r)) => Some(op.holds(compare(&l, &r))),
                    _ => None,
                },
            ),
            Self::Like {
                value,
                pattern,
                negated,
            } => Truth::from_option(
                resolve(value, group, log).map(|v| like(&v, pattern) != *negated),
            ),
            Self::And(a, b) => a.truth(group, log).min(b.truth(group, log)),
            Self::Or(a, b) => a.truth(group, log).max(b.truth(group, log)),
            Self::Not(a) => a.truth(group, log).not(),
        }
    }
}

/// An operand's text for one log; `None` when the field is missing.
fn resolve<'a>(
    operand: &'a Operand,
    group: GroupFields<'a>,
    log: &'a Log,
) -> Option<Cow<'a, [u8]>> {
    let name = match operand {
        Operand::Literal(text) => return Some(Cow::Borrowed(text)),
        Operand::Field(name) => name.as_slice(),
    };
    match name {
        b"__topic__" => group.topic.map(Cow::Borrowed),
        b"__source__" => group.source.map(Cow::Borrowed),
        b"__time__" => Some(Cow::Owned(log.time.to_string().into_bytes())),
        _ => {
            if let Some(tag) = name.strip_prefix(b"__tag__:") {
                return group
                    .tags
                    .iter()
                    .find(|t| t.key == tag)
                    .map(|t| Cow::Borrowed(t.value.as_slice()));
            }
            log.contents
                .iter()
                .find(|c| c.key == name)
                .map(|c| Cow::Borrowed(c.value.as_slice()))
        }
    }
}

/// Numeric when both parse as decimal numbers, else byte-wise.
pub(crate) fn compare(left: &[u8], right: &[u8]) -> Ordering {
    match (number(left), number(right)) {
        // Decimal text never parses to NaN; `Equal` is unreachable.
        (Some(l), Some(r)) => l.partial_cmp(&r).unwrap_or(Ordering::Equal),
        _ => left.cmp(right),
    }
}

/// The value of decimal text: `[+-]?(d+[.d*]|.d+)([eE][+-]?d+)?`. Rust's
/// float parser also takes `inf` and `NaN`, which are text here.
pub(crate) fn number(text: &[u8]) -> Option<f64> {
    if text.is_empty()
        || !text
            .iter()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// SQL `like`: `%` any run, `_` one character (one byte when `value` is
/// not UTF-8). Greedy with backtracking to the last `%`: linear for most
/// patterns, at worst `value × pattern`.
pub(crate) fn like(value: &[u8], pattern: &[u8]) -> bool {
    match (std::str::from_utf8(value), std::str::from_utf8(pattern)) {
        (Ok(v), Ok(p)) => {
            let v: Vec<char> = v.chars().collect();
            let p: Vec<char> = p.chars().collect();
            wildcard(&v, &p, '%', '_')
        }
        _ => wildcard(value, pattern, b'%', b'_'),
    }
}

fn wildcard<T: PartialEq + Copy>(value: &[T], pattern: &[T], any: T, one: T) -> bool {
    let (mut v, mut p) = (0, 0);
    // The last `%` seen and the value position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while v < value.len() {
        if p < pattern.len() && pattern[p] == any {
            star = Some((p, v));
            p += 1;
        } else if p < pattern.len() && (pattern[p] == one || pattern[p] == value[v]) {
            p += 1;
            v += 1;
        } else if let Some((sp, sv)) = star {
            // Let the last `%` swallow one more unit and retry.
            p = sp + 1;
            v = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == any)
}
