//! The SPL subset's grammar (winnow), and the errors naming what it
//! leaves out.

use winnow::ModalResult;
use winnow::ascii::{Caseless, digit1, multispace0};
use winnow::combinator::{alt, delimited, not, opt, peek, preceded, repeat, separated};
use winnow::prelude::*;
use winnow::token::{none_of, one_of, take_while};

use super::eval::{CmpOp, Expr, Operand};
use super::{SplError, Step};

/// What the fake evaluates, for error messages.
const SUBSET: &str = "the fake supports `*` followed by `| where` (=, !=, <>, <, <=, >, >=, \
[not] like, and, or, not, parentheses), `| project f, ...`, `| project-away f, ...` and \
`| extend f = 'literal', ...`";

/// Fields that `project`, `project-away` and `extend` may not name.
fn is_metadata(name: &[u8]) -> bool {
    matches!(
        name,
        b"__time__" | b"__time_ns_part__" | b"__topic__" | b"__source__"
    ) || name.starts_with(b"__tag__:")
}

/// Parses a whole statement into its instructions.
pub(super) fn statement(text: &str) -> Result<Vec<Step>, SplError> {
    let mut input = text;
    let at = |rest: &str| text.len() - rest.len();
    let _ = ws(&mut input);
    if input.strip_prefix('*').is_none() {
        return Err(SplError::new(format!(
            "unsupported SPL: a statement must start with `*` (index queries before the \
             first `|` are not supported by the fake); {SUBSET}"
        )));
    }
    input = &input[1..];
    let mut steps = Vec::new();
    loop {
        let _ = ws(&mut input);
        if input.is_empty() {
            return Ok(steps);
        }
        let Some(rest) = input.strip_prefix('|') else {
            return Err(unexpected(at(input), input));
        };
        input = rest;
        let _ = ws(&mut input);
        let name_at = at(input);
        let name: &str = instruction_name(&mut input).map_err(|_| unexpected(name_at, input))?;
        let body_at = at(input);
        let step = match name.to_ascii_lowercase().as_str() {
            "where" => condition.parse_next(&mut input).map(Step::Where),
            "project" => field_list.parse_next(&mut input).map(Step::Project),
            "project-away" => field_list.parse_next(&mut input).map(Step::ProjectAway),
            "extend" => assignments.parse_next(&mut input).map(Step::Extend),
            _ => {
                return Err(SplError::new(format!(
                    "unsupported SPL instruction `{name}` at byte {name_at}; {SUBSET}"
                )));
            }
        }
        .map_err(|_| {
            let err = unexpected(at(input).max(body_at), input);
            SplError::new(format!("in `{name}`: {err}"))
        })?;
        if let Step::Project(fields) | Step::ProjectAway(fields) = &step {
            refuse_metadata(name, fields.iter())?;
        }
        if let Step::Extend(pairs) = &step {
            refuse_metadata(name, pairs.iter().map(|(k, _)| k))?;
        }
        steps.push(step);
    }
}

fn refuse_metadata<'a>(
    instruction: &str,
    mut fields: impl Iterator<Item = &'a Vec<u8>>,
) -> Result<(), SplError> {
    match fields.find(|f| is_metadata(f)) {
        Some(field) => Err(SplError::new(format!(
            "unsupported SPL: `{instruction}` on the metadata field `{}` is not supported by \
             the fake (it acts on log contents only)",
            String::from_utf8_lossy(field)
        ))),
        None => Ok(()),
    }
}

/// An error at byte `at`, quoting a little of what follows.
fn unexpected(at: usize, rest: &str) -> SplError {
    let shown: String = rest.chars().take(24).collect();
    if shown.is_empty() {
        SplError::new(format!(
            "unsupported or malformed SPL: the statement ends early (byte {at}); {SUBSET}"
        ))
    } else {
        SplError::new(format!(
            "unsupported or malformed SPL at byte {at} (`{shown}`); {SUBSET}"
        ))
    }
}

fn ws<'i>(input: &mut &'i str) -> ModalResult<&'i str> {
    multispace0.parse_next(input)
}

fn instruction_name<'i>(input: &mut &'i str) -> ModalResult<&'i str> {
    take_while(1.., |c: char| c.is_ascii_alphanumeric() || c == '-').parse_next(input)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// A keyword, any case, not followed by a name character.
fn keyword<'i>(
    word: &'static str,
) -> impl Parser<&'i str, (), winnow::error::ErrMode<winnow::error::ContextError>> {
    (Caseless(word), peek(not(one_of(is_name_char)))).void()
}

/// `or` binds loosest, then `and`, then `not`.
fn condition(input: &mut &str) -> ModalResult<Expr> {
    let first = conjunction(input)?;
    let rest: Vec<Expr> =
        repeat(0.., preceded((ws, keyword("or")), conjunction)).parse_next(input)?;
    Ok(rest
        .into_iter()
        .fold(first, |a, b| Expr::Or(Box::new(a), Box::new(b))))
}

fn conjunction(input: &mut &str) -> ModalResult<Expr> {
    let first = negation(input)?;
    let rest: Vec<Expr> =
        repeat(0.., preceded((ws, keyword("and")), negation)).parse_next(input)?;
    Ok(rest
        .into_iter()
        .fold(first, |a, b| Expr::And(Box::new(a), Box::new(b))))
}

fn negation(input: &mut &str) -> ModalResult<Expr> {
    preceded(
        ws,
        alt((
            preceded(keyword("not"), negation).map(|e| Expr::Not(Box::new(e))),
            predicate,
        )),
    )
    .parse_next(input)
}

fn predicate(input: &mut &str) -> ModalResult<Expr> {
    alt((delimited('(', condition, (ws, ')')), comparison)).parse_next(input)
}

fn comparison(input: &mut &str) -> ModalResult<Expr> {
    let left = operand(input)?;
    let _ = ws(input)?;
    alt((
        (comparison_op, operand).map(|(op, right)| Expr::Compare(left.clone(), op, right)),
        (opt((keyword("not"), ws)), keyword("like"), ws, quoted('\'')).map(
            |(negated, (), _, pattern)| Expr::Like {
                value: left.clone(),
                pattern,
                negated: negated.is_some(),
            },
        ),
    ))
    .parse_next(input)
}

fn comparison_op(input: &mut &str) -> ModalResult<CmpOp> {
    alt((
        "<=".value(CmpOp::Le),
        ">=".value(CmpOp::Ge),
        "<>".value(CmpOp::Ne),
        "!=".value(CmpOp::Ne),
        "=".value(CmpOp::Eq),
        "<".value(CmpOp::Lt),
        ">".value(CmpOp::Gt),
    ))
    .parse_next(input)
}

fn operand(input: &mut &str) -> ModalResult<Operand> {
    preceded(
        ws,
        alt((
            quoted('\'').map(Operand::Literal),
            number.map(|n: &str| Operand::Literal(n.as_bytes().to_vec())),
            field_name.map(Operand::Field),
        )),
    )
    .parse_next(input)
}

/// A number literal, kept as its text: `-?digits[.digits]`.
fn number<'i>(input: &mut &'i str) -> ModalResult<&'i str> {
    (
        opt('-'),
        digit1,
        opt(('.', digit1)),
        peek(not(one_of(is_name_char))),
    )
        .take()
        .parse_next(input)
}

/// A name of `[A-Za-z_][A-Za-z0-9_]*`, or double-quoted.
fn field_name(input: &mut &str) -> ModalResult<Vec<u8>> {
    alt((
        quoted('"'),
        (
            one_of(|c: char| c.is_ascii_alphabetic() || c == '_'),
            take_while(0.., is_name_char),
        )
            .take()
            .map(|name: &str| name.as_bytes().to_vec()),
    ))
    .parse_next(input)
}

/// Text between `quote`s, a doubled `quote` standing for one.
fn quoted<'i>(
    quote: char,
) -> impl Parser<&'i str, Vec<u8>, winnow::error::ErrMode<winnow::error::ContextError>> {
    let doubled: &'static str = if quote == '\'' { "''" } else { "\"\"" };
    delimited(
        quote,
        repeat(0.., alt((doubled.value(quote), none_of(quote)))),
        quote,
    )
    .map(|text: String| text.into_bytes())
}

fn field_list(input: &mut &str) -> ModalResult<Vec<Vec<u8>>> {
    separated(1.., preceded(ws, field_name), (ws, ',')).parse_next(input)
}

fn assignments(input: &mut &str) -> ModalResult<Vec<(Vec<u8>, Vec<u8>)>> {
    separated(
        1..,
        (preceded(ws, field_name), ws, '=', ws, quoted('\''))
            .map(|(name, _, _, _, value)| (name, value)),
        (ws, ','),
    )
    .parse_next(input)
}
