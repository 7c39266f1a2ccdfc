//! The service's naming rules for projects, logstores, consumer groups and
//! consumers, in one place: the consumer refuses a bad name when its
//! configuration is built, and sls-testkit's fake refuses it as the service
//! does.
//!
//! Sources:
//! - Projects: 3 to 63 characters; lowercase letters, digits and hyphens;
//!   starting and ending with a lowercase letter or a digit (Alibaba Cloud
//!   docs, Simple Log Service CLI reference, `create_project`; the
//!   `ALIYUN::SLS::Project` resource of ROS gives the same rule).
//! - Logstores: 3 to 63 characters; lowercase letters, digits, hyphens and
//!   underscores; starting and ending with a lowercase letter or a digit
//!   (Alibaba Cloud docs, developer reference, "Logstores", naming rules).
//! - Consumer groups: no rule is documented. The CreateConsumerGroup API
//!   reference's own example is `consumerGroupX` (upper case), the Python
//!   SDK's docs use `syc_data`, the CLI reference `consumer-group-1`, and a
//!   maintainer's comment on aliyun-log-go-sdk issue 77 says the service
//!   refuses some names (a failed creation the Go library only logs). We
//!   chose: 2 to 128 characters of ASCII letters, digits, `-` and `_`.
//!   A group name is a path segment (`/consumergroups/{name}`), so `/`,
//!   `?`, spaces and the like can never name one.
//! - Consumers: no rule is documented, and the official libraries name
//!   consumers freely (host names, process ids). We chose only what cannot
//!   work: 1 to 128 bytes with no control characters.

use std::fmt;

/// What a name names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NameKind {
    /// A project.
    Project,
    /// A logstore.
    Logstore,
    /// A consumer group.
    ConsumerGroup,
    /// A consumer in a consumer group.
    Consumer,
}

impl NameKind {
    /// The kind in words, as error messages say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Project => "project",
            Self::Logstore => "logstore",
            Self::ConsumerGroup => "consumer group",
            Self::Consumer => "consumer",
        }
    }
}

/// Which rule a name broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NameRule {
    /// Too short or too long: the name's length (in characters, bytes for
    /// consumers) and the bounds.
    Length {
        /// The name's length.
        len: usize,
        /// The fewest allowed.
        min: usize,
        /// The most allowed.
        max: usize,
    },
    /// A character outside the allowed set.
    Character(char),
    /// The first or last character is not a lowercase letter or a digit.
    Edge,
}

/// A name the service would refuse: what it names and the rule it broke.
/// The name itself is left out (it may be long or hold control
/// characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub struct NameError {
    kind: NameKind,
    rule: NameRule,
}

impl NameError {
    /// What the refused name names.
    pub fn kind(&self) -> NameKind {
        self.kind
    }

    /// The rule it broke.
    pub fn rule(&self) -> NameRule {
        self.rule
    }
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.kind.as_str();
        match self.rule {
            NameRule::Length { len, min, max } => {
                write!(f, "a {kind} name is {min} to {max} long; this one is {len}")
            }
            NameRule::Character(c) => write!(
                f,
                "a {kind} name may hold only {}; this one holds {c:?}",
                allowed(self.kind)
            ),
            NameRule::Edge => write!(
                f,
                "a {kind} name starts and ends with a lowercase letter or a digit"
            ),
        }
    }
}

fn allowed(kind: NameKind) -> &'static str {
    match kind {
        NameKind::Project => "lowercase letters, digits and '-'",
        NameKind::Logstore => "lowercase letters, digits, '-' and '_'",
        NameKind::ConsumerGroup => "ASCII letters, digits, '-' and '_'",
        NameKind::Consumer => "characters other than control characters",
    }
}

/// Checks a name of `kind` against its rule (see the module docs).
pub fn check(kind: NameKind, name: &str) -> Result<(), NameError> {
    let fail = |rule| Err(NameError { kind, rule });
    let (min, max, len) = match kind {
        NameKind::Project | NameKind::Logstore => (3, 63, name.chars().count()),
        NameKind::ConsumerGroup => (2, 128, name.chars().count()),
        NameKind::Consumer => (1, 128, name.len()),
    };
    if !(min..=max).contains(&len) {
        return fail(NameRule::Length { len, min, max });
    }
    let lower_or_digit = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let fits = |c: char| match kind {
        NameKind::Project => lower_or_digit(c) || c == '-',
        NameKind::Logstore => lower_or_digit(c) || c == '-' || c == '_',
        NameKind::ConsumerGroup => c.is_ascii_alphanumeric() || c == '-' || c == '_',
        NameKind::Consumer => !c.is_control(),
    };
    if let Some(c) = name.chars().find(|c| !fits(*c)) {
        return fail(NameRule::Character(c));
    }
    if matches!(kind, NameKind::Project | NameKind::Logstore) {
        let edges = [name.chars().next(), name.chars().next_back()];
        if !edges.into_iter().flatten().all(lower_or_digit) {
            return fail(NameRule::Edge);
        }
    }
    Ok(())
}

/// Checks a project name: 3 to 63 lowercase letters, digits and `-`,
/// starting and ending with a letter or a digit.
pub fn check_project(name: &str) -> Result<(), NameError> {
    check(NameKind::Project, name)
}

/// Checks a logstore name: 3 to 63 lowercase letters, digits, `-` and `_`,
/// starting and ending with a letter or a digit.
pub fn check_logstore(name: &str) -> Result<(), NameError> {
    check(NameKind::Logstore, name)
}

/// Checks a consumer group name: 2 to 128 ASCII letters, digits, `-` and
/// `_` (our choice; the service documents no rule).
pub fn check_consumer_group(name: &str) -> Result<(), NameError> {
    check(NameKind::ConsumerGroup, name)
}

/// Checks a consumer name: 1 to 128 bytes, no control characters (our
/// choice; the service documents no rule).
pub fn check_consumer(name: &str) -> Result<(), NameError> {
    check(NameKind::Consumer, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_examples_pass() {
        for name in ["project-a", "aliyun-test-project", "abc", &"a".repeat(63)] {
            check_project(name).unwrap();
        }
        for name in ["access_log", "access-log", "app", "aliyun-test-logstore"] {
            check_logstore(name).unwrap();
        }
        for name in [
            "consumerGroupX",
            "syc_data",
            "consumer-group-1",
            "cg",
            "etl",
        ] {
            check_consumer_group(name).unwrap();
        }
        for name in ["c", "worker-1", "host.example.com-4242", "消费者"] {
            check_consumer(name).unwrap();
        }
    }

    #[test]
    fn each_rule_is_named() {
        let cases: [(NameKind, &str, NameRule); 12] = [
            (
                NameKind::Project,
                "ab",
                NameRule::Length {
                    len: 2,
                    min: 3,
                    max: 63,
                },
            ),
            (
                NameKind::Project,
                &"a".repeat(64),
                NameRule::Length {
                    len: 64,
                    min: 3,
                    max: 63,
                },
            ),
            (NameKind::Project, "my_project", NameRule::Character('_')),
            (NameKind::Project, "Demo", NameRule::Character('D')),
            (NameKind::Project, "-demo", NameRule::Edge),
            (NameKind::Logstore, "app_", NameRule::Edge),
            (NameKind::Logstore, "a.pp", NameRule::Character('.')),
            (
                NameKind::ConsumerGroup,
                "bad name/?",
                NameRule::Character(' '),
            ),
            (
                NameKind::ConsumerGroup,
                "g",
                NameRule::Length {
                    len: 1,
                    min: 2,
                    max: 128,
                },
            ),
            (NameKind::ConsumerGroup, "a/b", NameRule::Character('/')),
            (
                NameKind::Consumer,
                "",
                NameRule::Length {
                    len: 0,
                    min: 1,
                    max: 128,
                },
            ),
            (NameKind::Consumer, "a\nb", NameRule::Character('\n')),
        ];
        for (kind, name, rule) in cases {
            let err = check(kind, name).unwrap_err();
            assert_eq!((err.kind(), err.rule()), (kind, rule), "{name:?}");
            assert!(err.to_string().contains(kind.as_str()), "{err}");
            assert!(!err.to_string().contains(name) || name.len() < 3, "{err}");
        }
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        // Multi-byte characters are refused by the character set, not
        // miscounted as long names.
        let err = check_consumer_group("ääää").unwrap_err();
        assert_eq!(err.rule(), NameRule::Character('ä'));
        let err = check_consumer(&"é".repeat(65)).unwrap_err();
        assert_eq!(
            err.rule(),
            NameRule::Length {
                len: 130,
                min: 1,
                max: 128
            }
        );
    }
}
