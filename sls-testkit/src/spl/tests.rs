//! The subset's documented behaviour, and the evaluator checked against a
//! reference written another way: a tree generated directly, evaluated by
//! explicit truth tables, a recursive `like` and a hand-written number
//! recogniser, against the parser's reading of that tree's printed form.

use std::cmp::Ordering;

use proptest::prelude::*;
use sls_proto::{Log, LogContent, LogGroup, LogTag};

use super::eval::{self, CmpOp};
use super::{GroupFields, Pipeline};

fn log(pairs: &[(&str, &str)]) -> Log {
    Log {
        time: 1_700_000_000,
        contents: pairs
            .iter()
            .map(|(k, v)| LogContent {
                key: k.as_bytes().to_vec(),
                value: v.as_bytes().to_vec(),
            })
            .collect(),
        time_ns: None,
    }
}

fn group(logs: Vec<Log>) -> LogGroup {
    LogGroup {
        logs,
        topic: Some(b"web".to_vec()),
        source: Some(b"10.0.0.1".to_vec()),
        log_tags: vec![LogTag {
            key: b"__client_ip__".to_vec(),
            value: b"1.2.3.4".to_vec(),
        }],
        ..LogGroup::default()
    }
}

/// The values of `field` in the logs a statement keeps.
fn run(spl: &str, logs: Vec<Log>) -> Vec<Vec<(String, String)>> {
    let pipeline = Pipeline::parse(spl).unwrap_or_else(|e| panic!("{spl}: {e}"));
    match pipeline.apply_group(group(logs)) {
        None => Vec::new(),
        Some(g) => g
            .logs
            .iter()
            .map(|l| {
                l.contents
                    .iter()
                    .map(|c| {
                        (
                            String::from_utf8_lossy(&c.key).into_owned(),
                            String::from_utf8_lossy(&c.value).into_owned(),
                        )
                    })
                    .collect()
            })
            .collect(),
    }
}

fn statuses(spl: &str) -> Vec<String> {
    let logs = ["200", "404", "500", "1000"]
        .iter()
        .map(|s| log(&[("status", s), ("uri", "/a")]))
        .chain([log(&[("uri", "/none")])])
        .collect();
    run(spl, logs)
        .into_iter()
        .map(|l| {
            l.into_iter()
                .find(|(k, _)| k == "status")
                .map_or("-".to_owned(), |(_, v)| v)
        })
        .collect()
}

#[test]
fn star_alone_keeps_everything_unchanged() {
    let pipeline = Pipeline::parse("  *  ").unwrap();
    assert!(pipeline.is_identity());
    assert_eq!(statuses("*"), ["200", "404", "500", "1000", "-"]);
}

#[test]
fn where_compares_numbers_numerically_and_text_bytewise() {
    assert_eq!(statuses("* | where status = '200'"), ["200"]);
    assert_eq!(statuses("* | where status = 200.0"), ["200"]);
    // 1000 > 500 as numbers, though "1000" < "500" as text.
    assert_eq!(statuses("* | where status >= 500"), ["500", "1000"]);
    // Quotes do not matter: both sides are numbers.
    assert_eq!(statuses("* | where status < '404'"), ["200"]);
    // "/none" > "/b" byte-wise.
    assert_eq!(
        statuses("* | where uri < '/b'"),
        ["200", "404", "500", "1000"]
    );
    assert_eq!(statuses("* | where uri > 'a'"), Vec::<String>::new());
    assert_eq!(
        statuses("* | where status != '404'"),
        ["200", "500", "1000"]
    );
    assert_eq!(
        statuses("* | where status <> '404'"),
        ["200", "500", "1000"]
    );
    assert_eq!(statuses("* | where status <= 404"), ["200", "404"]);
    assert_eq!(statuses("* | where status > 404"), ["500", "1000"]);
}

#[test]
fn missing_fields_are_null_and_drop_the_log_even_under_not() {
    assert_eq!(
        statuses("* | where not status = '200'"),
        ["404", "500", "1000"]
    );
    assert_eq!(
        statuses("* | where not (status = '200')"),
        ["404", "500", "1000"]
    );
    // null or true is true: the log without status passes.
    assert_eq!(statuses("* | where status = '1' or uri = '/none'"), ["-"]);
}

#[test]
fn and_binds_tighter_than_or_and_parentheses_regroup() {
    assert_eq!(
        statuses("* | where status = '200' or status = '404' and uri = '/x'"),
        ["200"]
    );
    assert_eq!(
        statuses("* | where (status = '200' or status = '404') and uri = '/a'"),
        ["200", "404"]
    );
    assert_eq!(
        statuses("* | WHERE status = '200' OR NOT status < 1000"),
        ["200", "1000"]
    );
}

#[test]
fn like_matches_percent_and_underscore() {
    assert_eq!(statuses("* | where status like '4%'"), ["404"]);
    assert_eq!(
        statuses("* | where status like '_0_'"),
        ["200", "404", "500"]
    );
    assert_eq!(statuses("* | where status not like '%0'"), ["404"]);
    assert!(eval::like("中文x".as_bytes(), "__x".as_bytes()));
    assert!(
        eval::like(b"\xff\xfex", b"__x"),
        "one byte each when not UTF-8"
    );
    assert!(!eval::like(b"abc", b"a_"));
    assert!(eval::like(b"", b"%"));
}

#[test]
fn where_reads_topic_source_tags_and_time() {
    let one = || vec![log(&[("k", "v")])];
    assert_eq!(run("* | where __topic__ = 'web'", one()).len(), 1);
    assert_eq!(run("* | where __source__ like '10.%'", one()).len(), 1);
    assert_eq!(
        run("* | where \"__tag__:__client_ip__\" = '1.2.3.4'", one()).len(),
        1
    );
    assert_eq!(run("* | where __time__ >= 1700000000", one()).len(), 1);
    assert_eq!(run("* | where \"__tag__:nope\" = '1'", one()).len(), 0);
    assert_eq!(run("* | where __topic__ = 'db'", one()).len(), 0);
}

#[test]
fn project_project_away_and_extend_reshape_contents() {
    let logs = || vec![log(&[("a", "1"), ("b", "2"), ("c", "3")])];
    let pairs = |v: &[(&str, &str)]| -> Vec<Vec<(String, String)>> {
        vec![
            v.iter()
                .map(|(k, x)| ((*k).to_owned(), (*x).to_owned()))
                .collect(),
        ]
    };
    assert_eq!(
        run("* | project c, a, zz", logs()),
        pairs(&[("c", "3"), ("a", "1")])
    );
    assert_eq!(
        run("* | project-away b", logs()),
        pairs(&[("a", "1"), ("c", "3")])
    );
    assert_eq!(
        run("* | extend a = 'x', \"d e\" = 'it''s'", logs()),
        pairs(&[("b", "2"), ("c", "3"), ("a", "x"), ("d e", "it's")])
    );
    // Steps run in order: the filter sees the extended field.
    assert_eq!(
        run("* | extend a = '9' | where a = 9 | project a", logs()),
        pairs(&[("a", "9")])
    );
}

#[test]
fn a_group_with_every_log_filtered_out_is_omitted() {
    let pipeline = Pipeline::parse("* | where a = '1'").unwrap();
    assert!(
        pipeline
            .apply_group(group(vec![log(&[("a", "2")])]))
            .is_none()
    );
    let kept = pipeline
        .apply_group(group(vec![log(&[("a", "2")]), log(&[("a", "1")])]))
        .unwrap();
    assert_eq!(kept.logs.len(), 1);
    assert_eq!(
        kept.topic.as_deref(),
        Some(&b"web"[..]),
        "group fields kept"
    );
}

#[test]
fn statements_outside_the_subset_are_refused_by_name() {
    for (spl, named) in [
        ("* | parse-json content", "parse-json"),
        ("* | where a in ('1', '2')", "in ("),
        ("* | where cast(a as bigint) > 1", "(a as bigint)"),
        ("* | where a is null", "is null"),
        ("* | where a like '%x' escape '\\'", "escape"),
        ("* | extend b = a", "extend"),
        ("* | extend b = concat(a, 'x')", "extend"),
        ("error and level: warn | project a", "must start with `*`"),
        ("* | project -wildcard 'a*'", "project"),
        ("* | project-away __time__", "__time__"),
        ("* | extend \"__tag__:x\" = '1'", "__tag__:x"),
        ("* | where a = '1", "(`= '1`)"),
        ("* | where", "ends early"),
        ("* |", "ends early"),
        ("* | where a = 1 + 2", "+ 2"),
        ("* | where a", "ends early"),
        ("* where a = '1'", "where a"),
    ] {
        let err = Pipeline::parse(spl).expect_err(spl).to_string();
        assert!(err.contains(named), "{spl}: {err}");
        assert!(err.contains("SPL"), "{spl}: {err}");
    }
}

// --- The reference ---

/// A condition as generated.
#[derive(Debug, Clone)]
enum Cond {
    Compare(Opd, CmpOp, Opd),
    Like(Opd, String, bool),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
}

#[derive(Debug, Clone)]
enum Opd {
    Field(&'static str),
    Text(String),
    Number(String),
}

const FIELDS: [&str; 8] = [
    "a",
    "b",
    "__topic__",
    "__source__",
    "__tag__:t",
    "__time__",
    "x y",
    "and",
];

fn quote(text: &str, q: char) -> String {
    let doubled: String = [q, q].iter().collect();
    format!("{q}{}{q}", text.replace(q, &doubled))
}

fn print_operand(o: &Opd) -> String {
    match o {
        Opd::Field(name)
            if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !["and", "or", "not", "like"].contains(name) =>
        {
            (*name).to_owned()
        }
        Opd::Field(name) => quote(name, '"'),
        Opd::Text(text) => quote(text, '\''),
        Opd::Number(n) => n.clone(),
    }
}

fn op_text(op: CmpOp, variant: bool) -> &'static str {
    match op {
        CmpOp::Eq => "=",
        CmpOp::Ne if variant => "<>",
        CmpOp::Ne => "!=",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
    }
}

/// Prints with as few parentheses as precedence allows: or 1, and 2,
/// not 3, predicates 4.
fn print(c: &Cond, min: u8) -> String {
    let (prec, text) = match c {
        Cond::Compare(l, op, r) => (
            4,
            format!(
                "{} {} {}",
                print_operand(l),
                op_text(*op, l.is_text()),
                print_operand(r)
            ),
        ),
        Cond::Like(v, p, negated) => (
            4,
            format!(
                "{}{} like {}",
                print_operand(v),
                if *negated { " NOT" } else { "" },
                quote(p, '\'')
            ),
        ),
        Cond::Or(a, b) => (1, format!("{} or {}", print(a, 1), print(b, 2))),
        Cond::And(a, b) => (2, format!("{} AND {}", print(a, 2), print(b, 3))),
        Cond::Not(a) => (3, format!("not {}", print(a, 3))),
    };
    if prec < min {
        format!("({text})")
    } else {
        text
    }
}

impl Opd {
    fn is_text(&self) -> bool {
        matches!(self, Opd::Text(_))
    }
}

/// A log and its group, as the reference sees them.
#[derive(Debug, Clone)]
struct Record {
    contents: Vec<(String, Vec<u8>)>,
    topic: Option<Vec<u8>>,
    source: Option<Vec<u8>>,
    tag_t: Option<Vec<u8>>,
    time: u32,
}

fn lookup(r: &Record, o: &Opd) -> Option<Vec<u8>> {
    match o {
        Opd::Text(t) | Opd::Number(t) => Some(t.as_bytes().to_vec()),
        Opd::Field("__topic__") => r.topic.clone(),
        Opd::Field("__source__") => r.source.clone(),
        Opd::Field("__tag__:t") => r.tag_t.clone(),
        Opd::Field("__time__") => Some(format!("{}", r.time).into_bytes()),
        Opd::Field(name) => r
            .contents
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone()),
    }
}

/// `[+-]?(d+[.d*]|.d+)([eE][+-]?d+)?`, by hand.
fn reference_number(text: &[u8]) -> Option<f64> {
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < text.len() && text[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < text.len() && (text[i] == b'+' || text[i] == b'-') {
        i += 1;
    }
    let whole = digits(&mut i);
    let mut fraction = 0;
    if i < text.len() && text[i] == b'.' {
        i += 1;
        fraction = digits(&mut i);
    }
    if whole + fraction == 0 {
        return None;
    }
    if i < text.len() && (text[i] == b'e' || text[i] == b'E') {
        i += 1;
        if i < text.len() && (text[i] == b'+' || text[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return None;
        }
    }
    (i == text.len()).then(|| std::str::from_utf8(text).unwrap().parse().unwrap())
}

fn reference_compare(l: &[u8], r: &[u8]) -> Ordering {
    match (reference_number(l), reference_number(r)) {
        (Some(a), Some(b)) => a.partial_cmp(&b).unwrap(),
        _ => l.cmp(r),
    }
}

/// `like`, by recursion over characters (bytes when not UTF-8).
fn reference_like(value: &[u8], pattern: &str) -> bool {
    fn go<T: PartialEq>(v: &[T], p: &[Option<T>], star: &Option<T>) -> bool {
        match p.split_first() {
            None => v.is_empty(),
            Some((first, rest)) if first == star => {
                (0..=v.len()).any(|skip| go(&v[skip..], rest, star))
            }
            Some((None, rest)) => !v.is_empty() && go(&v[1..], rest, star),
            Some((Some(c), rest)) => v.first() == Some(c) && go(&v[1..], rest, star),
        }
    }
    match std::str::from_utf8(value) {
        Ok(v) => {
            let v: Vec<char> = v.chars().collect();
            // `_` is `None`; `%` a sentinel no value holds.
            let p: Vec<Option<char>> = pattern
                .chars()
                .map(|c| match c {
                    '_' => None,
                    '%' => Some('\u{10FFFF}'),
                    c => Some(c),
                })
                .collect();
            !v.contains(&'\u{10FFFF}') && go(&v, &p, &Some('\u{10FFFF}'))
        }
        Err(_) => {
            let v: Vec<u16> = value.iter().map(|&b| u16::from(b)).collect();
            let p: Vec<Option<u16>> = pattern
                .bytes()
                .map(|b| match b {
                    b'_' => None,
                    b'%' => Some(0x100),
                    b => Some(u16::from(b)),
                })
                .collect();
            go(&v, &p, &Some(0x100))
        }
    }
}

fn and3(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

fn or3(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}

fn reference(c: &Cond, r: &Record) -> Option<bool> {
    match c {
        Cond::Compare(l, op, rt) => {
            let (l, rt) = (lookup(r, l)?, lookup(r, rt)?);
            let ord = reference_compare(&l, &rt);
            Some(match op {
                CmpOp::Eq => ord == Ordering::Equal,
                CmpOp::Ne => ord != Ordering::Equal,
                CmpOp::Lt => ord == Ordering::Less,
                CmpOp::Le => ord != Ordering::Greater,
                CmpOp::Gt => ord == Ordering::Greater,
                CmpOp::Ge => ord != Ordering::Less,
            })
        }
        Cond::Like(v, p, negated) => Some(reference_like(&lookup(r, v)?, p) ^ negated),
        Cond::And(a, b) => and3(reference(a, r), reference(b, r)),
        Cond::Or(a, b) => or3(reference(a, r), reference(b, r)),
        Cond::Not(a) => reference(a, r).map(|x| !x),
    }
}

// --- Generators ---

fn value_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "", "1", "10", "2", "-3", "+4", "1.5", "1.50", ".5", "5.", "1e2", "100", "inf", "NaN",
            ".", "1e", "-", "abc", "ab", "a%c", "a_c", "中文", "it's", "AND",
        ])
        .prop_map(str::to_owned),
        "[ab%_中]{0,4}",
        (-50i32..50).prop_map(|n| n.to_string()),
    ]
}

fn value_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => value_text().prop_map(String::into_bytes),
        1 => prop::collection::vec(prop::sample::select(vec![b'a', b'b', 0xff, 0xe4, b'%']), 0..4),
    ]
}

fn operand() -> impl Strategy<Value = Opd> {
    prop_oneof![
        3 => prop::sample::select(FIELDS.to_vec()).prop_map(Opd::Field),
        2 => value_text().prop_map(Opd::Text),
        1 => (-20i32..20, prop::option::of(0u8..100))
            .prop_map(|(n, f)| Opd::Number(match f {
                Some(f) => format!("{n}.{f}"),
                None => n.to_string(),
            })),
    ]
}

fn cmp_op() -> impl Strategy<Value = CmpOp> {
    prop::sample::select(vec![
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ])
}

fn condition() -> impl Strategy<Value = Cond> {
    let leaf = prop_oneof![
        (operand(), cmp_op(), operand()).prop_map(|(l, op, r)| Cond::Compare(l, op, r)),
        (operand(), "[ab%_中']{0,5}", any::<bool>()).prop_map(|(v, p, n)| Cond::Like(v, p, n)),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Cond::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Cond::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| Cond::Not(Box::new(a))),
        ]
    })
}

fn record() -> impl Strategy<Value = Record> {
    (
        prop::collection::vec(
            (
                prop::sample::select(vec!["a", "b", "x y", "and"]),
                value_bytes(),
            ),
            0..4,
        ),
        prop::option::of(value_bytes()),
        prop::option::of(value_bytes()),
        prop::option::of(value_bytes()),
        prop::sample::select(vec![0u32, 5, 1_700_000_000]),
    )
        .prop_map(|(contents, topic, source, tag_t, time)| Record {
            contents: contents
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            topic,
            source,
            tag_t,
            time,
        })
}

fn eval_parsed(spl: &str, r: &Record) -> Option<bool> {
    let pipeline = Pipeline::parse(spl).unwrap_or_else(|e| panic!("{spl}: {e}"));
    let [super::Step::Where(expr)] = pipeline.steps.as_slice() else {
        panic!("{spl}: not one where: {pipeline:?}");
    };
    let log = Log {
        time: r.time,
        contents: r
            .contents
            .iter()
            .map(|(k, v)| LogContent {
                key: k.as_bytes().to_vec(),
                value: v.clone(),
            })
            .collect(),
        time_ns: None,
    };
    let tags: Vec<LogTag> = r
        .tag_t
        .iter()
        .map(|v| LogTag {
            key: b"t".to_vec(),
            value: v.clone(),
        })
        .collect();
    let fields = GroupFields {
        topic: r.topic.as_deref(),
        source: r.source.as_deref(),
        tags: &tags,
    };
    expr.eval(fields, &log)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_evaluator_agrees_with_the_reference(c in condition(), r in record()) {
        let spl = format!("* | where {}", print(&c, 0));
        prop_assert_eq!(eval_parsed(&spl, &r), reference(&c, &r), "{}", spl);
    }

    #[test]
    fn like_agrees_with_the_recursive_reference(v in value_bytes(), p in "[ab%_中]{0,6}") {
        prop_assert_eq!(eval::like(&v, p.as_bytes()), reference_like(&v, &p));
    }

    #[test]
    fn numbers_agree_with_the_hand_recogniser(t in "[-+0-9.eE]{0,6}") {
        prop_assert_eq!(eval::number(t.as_bytes()), reference_number(t.as_bytes()));
    }

    #[test]
    fn any_text_parses_or_is_refused_without_panicking(t in "\\PC{0,40}") {
        let _ = Pipeline::parse(&t);
        let _ = Pipeline::parse(&format!("* | where {t}"));
    }
}

/// A request must not overflow the server's stack or hold a thread for
/// minutes: deep nesting, long statements and long `like` patterns are
/// refused before parsing; the longest chain the size bound allows
/// evaluates.
#[test]
fn statements_past_the_bounds_are_refused_and_the_longest_chain_runs() {
    use super::{MAX_LIKE_PATTERN_BYTES, MAX_NESTING, MAX_STATEMENT_BYTES};
    let deep = format!(
        "* | where {}a = '1'{}",
        "(".repeat(MAX_NESTING + 1),
        ")".repeat(MAX_NESTING + 1)
    );
    let err = Pipeline::parse(&deep).unwrap_err().to_string();
    assert!(err.contains("levels of parentheses"), "{err}");
    let nots = format!("* | where {}a = '1'", "not ".repeat(MAX_NESTING + 1));
    assert!(Pipeline::parse(&nots).is_err());
    let pattern = format!("* | where a like '{}'", "%a".repeat(MAX_LIKE_PATTERN_BYTES));
    let err = Pipeline::parse(&pattern).unwrap_err().to_string();
    assert!(err.contains("string literals"), "{err}");
    let long = format!("* | where a = '{}'", "x".repeat(MAX_STATEMENT_BYTES));
    assert!(Pipeline::parse(&long).is_err());
    // Quoted parentheses and words are literal, not nesting.
    let quoted = format!("* | where a = '{}not'", "(".repeat(MAX_NESTING + 1));
    assert!(Pipeline::parse(&quoted).is_ok());
    // Within the bounds: as deep as allowed, and the longest `or` chain.
    let allowed = format!(
        "* | where {}a = '1'{}",
        "(".repeat(MAX_NESTING),
        ")".repeat(MAX_NESTING)
    );
    assert_eq!(run(&allowed, vec![log(&[("a", "1")])]).len(), 1);
    let mut chain = String::from("* | where a = '0'");
    while chain.len() + " or a = '0'".len() <= MAX_STATEMENT_BYTES {
        chain.push_str(" or a = '0'");
    }
    chain.replace_range(chain.len() - 3.., "'1'");
    assert_eq!(run(&chain, vec![log(&[("a", "1")])]).len(), 1);
}
