//! The concrete syntax of `$filter` and `$orderby`, parsed with [winnow] into an untyped tree
//! that remembers where each node starts. Resolution and type checking happen afterwards
//! ([`crate::filter`]), so this layer only knows the OData ABNF.
//!
//! Grammar (OData 4.01 ABNF, the subset runhub serves; keywords are case-sensitive, binary
//! operators need whitespace on both sides):
//!
//! ```text
//! filter  = OWS or OWS
//! or      = and *( RWS "or" RWS and )
//! and     = cmp *( RWS "and" RWS cmp )
//! cmp     = unary [ RWS op RWS unary / RWS "in" OWS list ]      ; op = eq ne gt ge lt le
//! unary   = "not" ( RWS / &"(" ) unary / primary
//! primary = "(" OWS or OWS ")" / string / datetime / number / "true" / "false" / "null"
//!         / qualifiedName string          ; enum literal: microsoft.graph.industryData.runStatus'failed'
//!         / qualifiedName                 ; a type name, for isof(...)
//!         / ident "(" OWS [ or *( OWS "," OWS or ) ] OWS ")"
//!         / ident *( "/" ident )          ; property path
//! list    = "(" OWS or *( OWS "," OWS or ) OWS ")"
//! ```
//!
//! Every construct that recurses (parentheses, `not`, function arguments, `in` lists) goes
//! through [`nested`], which bounds the recursion so that no input can overflow the stack.

use winnow::Parser;
use winnow::ascii::digit1;
use winnow::combinator::{alt, cut_err, not, opt, preceded, repeat, separated};
use winnow::error::{ErrMode, ParserError};
use winnow::stream::{Stateful, Stream};
use winnow::token::{one_of, take_till, take_while};

use crate::ast::CmpOp;
use crate::error::char_offset;

/// How deeply parentheses, `not`, function calls and `in` lists may nest syntactically: well
/// above the semantic limit of 32 levels (redundant parentheses don't count there),
/// so that only absurd inputs meet it. The stack is guarded separately, in [`nested`].
pub(crate) const MAX_SYNTAX_DEPTH: usize = 100;
/// Stack that must remain before descending one more level…
const STACK_RED_ZONE: usize = 128 * 1024;
/// …else a new segment of this size is allocated for the rest of the descent.
const STACK_SEGMENT: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy)]
pub(crate) struct State<'i> {
    /// The whole text, to turn the remaining input into offsets.
    text: &'i str,
    depth: usize,
}

pub(crate) type Input<'i> = Stateful<&'i str, State<'i>>;
type PResult<T> = Result<T, ErrMode<SynErr>>;

fn input(text: &str) -> Input<'_> {
    Stateful { input: text, state: State { text, depth: 0 } }
}

/// Byte offset of the parse position in the whole text.
fn offset(i: &Input<'_>) -> usize {
    i.state.text.len() - i.input.len()
}

/// A syntax error: where (byte offset) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SynErr {
    pub pos: usize,
    /// `None` for winnow's own backtracking errors, which are given a generic message if they
    /// ever reach the top.
    pub message: Option<String>,
    /// Over the nesting limit rather than malformed.
    pub too_complex: bool,
}

impl<'i> ParserError<Input<'i>> for SynErr {
    type Inner = Self;

    fn from_input(input: &Input<'i>) -> Self {
        SynErr { pos: offset(input), message: None, too_complex: false }
    }

    /// winnow panics here in debug builds; a request must never panic the server.
    fn assert(input: &Input<'i>, _message: &'static str) -> Self {
        Self::from_input(input)
    }

    /// Alternatives: report the one that got furthest, preferring an explained one.
    fn or(self, other: Self) -> Self {
        match (self.pos.cmp(&other.pos), self.message.is_some()) {
            (std::cmp::Ordering::Greater, _) | (std::cmp::Ordering::Equal, true) => self,
            _ => other,
        }
    }

    fn into_inner(self) -> Result<Self::Inner, Self> {
        Ok(self)
    }
}

/// An unrecoverable error at `pos` (a byte offset).
fn fail<T>(pos: usize, message: impl Into<String>) -> PResult<T> {
    Err(ErrMode::Cut(SynErr { pos, message: Some(message.into()), too_complex: false }))
}

/// An unrecoverable error at the current position, naming what was found there.
fn expected<T>(i: &Input<'_>, what: &str) -> PResult<T> {
    fail(offset(i), format!("expected {what}, found {}", describe_next(i.input)))
}

// ---------------------------------------------------------------------------------------------
// The untyped tree

/// A node of the untyped tree. `pos` is the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Expr<'i> {
    pub pos: usize,
    pub kind: ExprKind<'i>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ExprKind<'i> {
    /// A chain `a or b or …`, kept flat so long chains do not make deep trees.
    Or(Vec<Expr<'i>>),
    And(Vec<Expr<'i>>),
    Not(Box<Expr<'i>>),
    Cmp {
        op: CmpOp,
        op_pos: usize,
        left: Box<Expr<'i>>,
        right: Box<Expr<'i>>,
    },
    In {
        operand: Box<Expr<'i>>,
        list: Vec<Expr<'i>>,
    },
    Call {
        name: &'i str,
        args: Vec<Expr<'i>>,
    },
    Literal(Lit),
    /// `Namespace.enumType'member'`.
    EnumLiteral {
        ty: &'i str,
        member: String,
    },
    /// A bare qualified name (`microsoft.graph.industryData.runGroup`), only meaningful in isof.
    TypeName(&'i str),
    /// A property path, `status` or `blockingError/code`.
    Path(&'i str),
}

/// A literal as written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    /// Microseconds since the Unix epoch, UTC.
    DateTime(i64),
}

// ---------------------------------------------------------------------------------------------
// Tokens

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn ws0(i: &mut Input<'_>) -> PResult<()> {
    take_while(0.., is_ws).void().parse_next(i)
}

fn ws1(i: &mut Input<'_>) -> PResult<()> {
    take_while(1.., is_ws).void().parse_next(i)
}

/// A keyword: the exact (lower-case) text, not followed by an identifier character, so that
/// `notes` is not `not` + `es`.
fn word<'i>(kw: &'static str) -> impl Parser<Input<'i>, (), ErrMode<SynErr>> {
    (kw, not(one_of(is_ident_char))).void()
}

fn ident<'i>(i: &mut Input<'i>) -> PResult<&'i str> {
    (one_of(is_ident_start), take_while(0.., is_ident_char)).take().parse_next(i)
}

/// `ident *( "/" ident )`.
fn path<'i>(i: &mut Input<'i>) -> PResult<&'i str> {
    let segments = repeat::<_, _, (), _, _>(
        0..,
        preceded('/', |i: &mut Input<'i>| match ident(i) {
            Ok(s) => Ok(s),
            Err(_) => expected(i, "a property name after '/'"),
        }),
    );
    (ident, segments).take().parse_next(i)
}

/// Describes what starts at the front of `rest`, for "expected X, found Y" messages, with a
/// hint for the usual mistakes (upper-case keywords, unsupported operators).
fn describe_next(rest: &str) -> String {
    let Some(c) = rest.chars().next() else {
        return "the end of the expression".into();
    };
    if is_ident_char(c) {
        let word: &str = rest.split(|c: char| !is_ident_char(c)).next().unwrap_or(rest);
        let lower = word.to_ascii_lowercase();
        const KEYWORDS: &[&str] = &["and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le", "in", "true", "false", "null", "asc", "desc"];
        let hint = if KEYWORDS.contains(&lower.as_str()) && lower != word {
            " (operators and keywords are lower-case)"
        } else if ["add", "sub", "mul", "div", "divby", "mod", "has"].contains(&word) {
            " (arithmetic operators and 'has' are not supported)"
        } else {
            ""
        };
        let shown: String = word.chars().take(40).collect();
        return format!("'{shown}'{hint}");
    }
    if c == '\'' {
        let shown: String = rest.chars().take(20).collect();
        return format!("{shown}…");
    }
    format!("'{c}'")
}

// ---------------------------------------------------------------------------------------------
// $filter

/// Parses a `$filter` value into the untyped tree.
pub(crate) fn parse_filter(text: &str) -> Result<Expr<'_>, SynErr> {
    fn whole<'i>(i: &mut Input<'i>) -> PResult<Expr<'i>> {
        ws0(i)?;
        let expr = or_expr(i)?;
        ws0(i)?;
        if !i.input.is_empty() {
            return trailing(i);
        }
        Ok(expr)
    }
    finish(whole.parse_next(&mut input(text)), text)
}

fn finish<T>(result: PResult<T>, text: &str) -> Result<T, SynErr> {
    match result {
        Ok(v) => Ok(v),
        Err(ErrMode::Backtrack(mut e) | ErrMode::Cut(mut e)) => {
            if e.message.is_none() {
                let rest = text.get(e.pos..).unwrap_or("");
                e.message = Some(format!("syntax error at {}", describe_next(rest)));
            }
            Err(e)
        }
        Err(ErrMode::Incomplete(_)) => Err(SynErr { pos: text.len(), message: Some("incomplete expression".into()), too_complex: false }),
    }
}

/// Something follows a complete expression.
fn trailing<T>(i: &Input<'_>) -> PResult<T> {
    let pos = offset(i);
    if i.input.starts_with(')') {
        return fail(pos, "unbalanced ')': there is no '(' for it to close");
    }
    // `a eq 1and b eq 2`: a keyword glued to the previous token.
    let glued = ["and", "or", "eq", "ne", "gt", "ge", "lt", "le", "in"]
        .iter()
        .any(|kw| i.input.starts_with(kw) && !i.input[kw.len()..].starts_with(is_ident_char));
    if glued && !i.state.text[..pos].ends_with(is_ws) {
        return fail(pos, "operators must be separated from their operands by spaces");
    }
    expected(i, "an operator ('and', 'or', 'eq', …) or the end of the expression")
}

/// Runs `parser` one nesting level deeper, refusing to go past [`MAX_SYNTAX_DEPTH`].
/// `at` is where the construct opening the level starts, for the error.
fn nested<'i, O>(i: &mut Input<'i>, at: usize, mut parser: impl Parser<Input<'i>, O, ErrMode<SynErr>>) -> PResult<O> {
    if i.state.depth >= MAX_SYNTAX_DEPTH {
        return Err(ErrMode::Cut(SynErr {
            pos: at,
            message: Some(format!("the expression nests more than {MAX_SYNTAX_DEPTH} levels of parentheses, 'not' and function calls")),
            too_complex: true,
        }));
    }
    i.state.depth += 1;
    // Unoptimised builds spend ~14 KiB of stack per level; whatever thread this runs on, make
    // sure the next level has room (stacker switches to a heap-allocated segment if not).
    let result = stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, || parser.parse_next(i));
    i.state.depth -= 1;
    result
}

/// The whitespace OData requires after a binary operator or `not`.
fn space_after(i: &mut Input<'_>, keyword: &str) -> PResult<()> {
    if opt(ws1).parse_next(i)?.is_some() {
        return Ok(());
    }
    if i.input.is_empty() {
        return expected(i, &format!("an operand after '{keyword}'"));
    }
    fail(offset(i), format!("expected a space after '{keyword}'"))
}

/// `RWS keyword RWS`; backtracks unless the keyword is there.
fn binary_keyword<'i>(kw: &'static str) -> impl Parser<Input<'i>, (), ErrMode<SynErr>> {
    move |i: &mut Input<'i>| {
        (ws1, word(kw)).void().parse_next(i)?;
        space_after(i, kw)
    }
}

fn chain<'i>(
    i: &mut Input<'i>,
    kw: &'static str,
    mut operand: impl Parser<Input<'i>, Expr<'i>, ErrMode<SynErr>>,
    make: fn(Vec<Expr<'i>>) -> ExprKind<'i>,
) -> PResult<Expr<'i>> {
    let pos = offset(i);
    let first = operand.parse_next(i)?;
    let rest: Vec<Expr<'i>> = repeat(0.., preceded(binary_keyword(kw), cut_err(operand.by_ref()))).parse_next(i)?;
    if rest.is_empty() {
        return Ok(first);
    }
    let mut items = Vec::with_capacity(rest.len() + 1);
    items.push(first);
    items.extend(rest);
    Ok(Expr { pos, kind: make(items) })
}

fn or_expr<'i>(i: &mut Input<'i>) -> PResult<Expr<'i>> {
    chain(i, "or", and_expr, ExprKind::Or)
}

fn and_expr<'i>(i: &mut Input<'i>) -> PResult<Expr<'i>> {
    chain(i, "and", cmp_expr, ExprKind::And)
}

fn cmp_op(i: &mut Input<'_>) -> PResult<CmpOp> {
    alt((
        word("eq").value(CmpOp::Eq),
        word("ne").value(CmpOp::Ne),
        word("gt").value(CmpOp::Gt),
        word("ge").value(CmpOp::Ge),
        word("lt").value(CmpOp::Lt),
        word("le").value(CmpOp::Le),
    ))
    .parse_next(i)
}

fn cmp_keyword(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "eq",
        CmpOp::Ne => "ne",
        CmpOp::Gt => "gt",
        CmpOp::Ge => "ge",
        CmpOp::Lt => "lt",
        CmpOp::Le => "le",
    }
}

fn cmp_expr<'i>(i: &mut Input<'i>) -> PResult<Expr<'i>> {
    let pos = offset(i);
    let left = unary(i)?;
    let start = i.checkpoint();
    if opt(ws1).parse_next(i)?.is_some() {
        let op_pos = offset(i);
        if let Some(op) = opt(cmp_op).parse_next(i)? {
            space_after(i, cmp_keyword(op))?;
            let right = cut_err(unary).parse_next(i)?;
            no_chained_comparison(i)?;
            let kind = ExprKind::Cmp { op, op_pos, left: Box::new(left), right: Box::new(right) };
            return Ok(Expr { pos, kind });
        }
        if opt(word("in")).parse_next(i)?.is_some() {
            ws0(i)?;
            let list = in_list(i)?;
            no_chained_comparison(i)?;
            return Ok(Expr { pos, kind: ExprKind::In { operand: Box::new(left), list } });
        }
    }
    i.reset(&start);
    Ok(left)
}

/// `a eq b eq c` is not meaningful in OData's typed world; say so instead of "expected …".
fn no_chained_comparison(i: &mut Input<'_>) -> PResult<()> {
    let start = i.checkpoint();
    if opt(ws1).parse_next(i)?.is_some() {
        let pos = offset(i);
        if opt(alt((cmp_op.void(), word("in")))).parse_next(i)?.is_some() {
            return fail(pos, "comparisons cannot be chained; combine them with 'and' or 'or'");
        }
    }
    i.reset(&start);
    Ok(())
}

fn in_list<'i>(i: &mut Input<'i>) -> PResult<Vec<Expr<'i>>> {
    let open = offset(i);
    if opt('(').parse_next(i)?.is_none() {
        return expected(i, "'(' starting the list after 'in'");
    }
    nested(i, open, move |i: &mut Input<'i>| {
        ws0(i)?;
        if i.input.starts_with(')') {
            return fail(open, "the 'in' list is empty");
        }
        let items = separated(1.., cut_err(or_expr), (ws0, ',', ws0)).parse_next(i)?;
        close_paren(i, open)?;
        Ok(items)
    })
}

/// `OWS ")"`, or an error pointing back at the `(` it should close.
fn close_paren(i: &mut Input<'_>, open: usize) -> PResult<()> {
    ws0(i)?;
    if opt(')').parse_next(i)?.is_some() {
        return Ok(());
    }
    let open_char = char_offset(i.state.text, open);
    expected(i, &format!("')' to close the '(' at position {open_char}"))
}

fn unary<'i>(i: &mut Input<'i>) -> PResult<Expr<'i>> {
    let pos = offset(i);
    if opt(word("not")).parse_next(i)?.is_some() {
        // OData wants RWS after `not`; `not(…)` is accepted as well, being unambiguous.
        if !i.input.starts_with('(') {
            space_after(i, "not")?;
        }
        let operand = nested(i, pos, cut_err(unary))?;
        return Ok(Expr { pos, kind: ExprKind::Not(Box::new(operand)) });
    }
    primary(i)
}

fn primary<'i>(i: &mut Input<'i>) -> PResult<Expr<'i>> {
    let pos = offset(i);
    let rest = i.input;
    let Some(first) = rest.chars().next() else {
        return expected(i, "an operand (a property, a literal, a function call or '(')");
    };
    match first {
        '(' => {
            '('.parse_next(i)?;
            nested(i, pos, move |i: &mut Input<'i>| {
                ws0(i)?;
                let expr = cut_err(or_expr).parse_next(i)?;
                close_paren(i, pos)?;
                Ok(expr)
            })
        }
        '\'' => {
            let s = string_literal(i)?;
            Ok(Expr { pos, kind: ExprKind::Literal(Lit::String(s)) })
        }
        '0'..='9' if looks_like_date(rest) => datetime(i),
        '0'..='9' => number(i),
        '-' if rest[1..].starts_with(|c: char| c.is_ascii_digit()) => number(i),
        '-' => fail(pos, "unary minus is only supported in number literals"),
        c if is_ident_start(c) => identifier(i),
        _ => expected(i, "an operand (a property, a literal, a function call or '(')"),
    }
}

/// `'…'` with `''` standing for one quote.
fn string_literal(i: &mut Input<'_>) -> PResult<String> {
    let pos = offset(i);
    '\''.parse_next(i)?;
    let mut value = String::new();
    loop {
        let chunk: &str = take_till(0.., '\'').parse_next(i)?;
        value.push_str(chunk);
        if opt('\'').parse_next(i)?.is_none() {
            return fail(pos, "unterminated string literal (a quote inside a string is written '')");
        }
        if opt('\'').parse_next(i)?.is_none() {
            return Ok(value);
        }
        value.push('\'');
    }
}

fn number<'i>(i: &mut Input<'i>) -> PResult<Expr<'i>> {
    let pos = offset(i);
    let text: &str =
        (opt('-'), digit1, opt(('.', digit1)), opt((one_of(['e', 'E']), opt(one_of(['+', '-'])), digit1))).take().parse_next(i)?;
    if i.input.starts_with(|c: char| is_ident_char(c) || c == '.') {
        return fail(offset(i), format!("unexpected {} after the number {text} (type suffixes are not supported)", describe_next(i.input)));
    }
    let lit = if text.contains(['.', 'e', 'E']) {
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Lit::Float(f),
            _ => return fail(pos, format!("the number {text} is out of range")),
        }
    } else {
        match text.parse::<i64>() {
            Ok(n) => Lit::Int(n),
            Err(_) => return fail(pos, format!("the integer {text} is out of range")),
        }
    };
    Ok(Expr { pos, kind: ExprKind::Literal(lit) })
}

/// `YYYY-` starts a date, which must be a full DateTimeOffset here.
fn looks_like_date(rest: &str) -> bool {
    let b = rest.as_bytes();
    b.len() >= 5 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-'
}

fn digits<'i>(n: usize) -> impl Parser<Input<'i>, u32, ErrMode<SynErr>> {
    // At most 4 ASCII digits: no overflow possible.
    take_while(n, |c: char| c.is_ascii_digit()).map(|s: &str| s.bytes().fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0')))
}

const DATETIME_FORMAT: &str = "YYYY-MM-DDThh:mm[:ss[.fffffff]] followed by Z or ±hh:mm";

/// An unquoted DateTimeOffset: `2024-01-01T00:00Z`, `2024-01-01T00:00:00.1234567+02:00`.
/// Up to 7 fractional digits; stored as microseconds (extra digits truncated).
fn datetime<'i>(i: &mut Input<'i>) -> PResult<Expr<'i>> {
    use chrono::{FixedOffset, NaiveDate, NaiveTime, TimeZone};

    let pos = offset(i);
    let Ok((year, _, month, _, day)) = (digits(4), '-', digits(2), '-', digits(2)).parse_next(i) else {
        return fail(pos, format!("invalid date; a DateTimeOffset is written {DATETIME_FORMAT}"));
    };
    if opt(one_of(['T', 't'])).parse_next(i)?.is_none() {
        return fail(
            pos,
            format!("a date alone is not a DateTimeOffset; add a time and an offset, e.g. {year:04}-{month:02}-{day:02}T00:00:00Z"),
        );
    }
    let time_pos = offset(i);
    let Ok((hour, _, minute)) = (digits(2), ':', digits(2)).parse_next(i) else {
        return fail(time_pos, format!("invalid time; a DateTimeOffset is written {DATETIME_FORMAT}"));
    };
    let mut second = 0;
    let mut micros = 0;
    if opt(':').parse_next(i)?.is_some() {
        let Ok(s) = digits(2).parse_next(i) else {
            return expected(i, "two digits of seconds");
        };
        second = s;
        if opt('.').parse_next(i)?.is_some() {
            let frac_pos = offset(i);
            let Ok(frac) = digit1::<_, ErrMode<SynErr>>.parse_next(i) else {
                return expected(i, "fractional seconds after '.'");
            };
            if frac.len() > 7 {
                return fail(frac_pos, "at most 7 fractional digits are allowed in a DateTimeOffset");
            }
            // Microsecond precision: keep 6 digits, padding or truncating.
            micros = format!("{frac:0<6}")[..6].parse::<u32>().unwrap_or(0);
        }
    }
    let offset_pos = offset(i);
    let offset_seconds: i32 = if opt(one_of(['Z', 'z'])).parse_next(i)?.is_some() {
        0
    } else if let Some(sign) = opt(one_of(['+', '-'])).parse_next(i)? {
        let Ok((h, _, m)) = (digits(2), ':', digits(2)).parse_next(i) else {
            return fail(offset_pos, "invalid time-zone offset; expected ±hh:mm");
        };
        if h > 23 || m > 59 {
            return fail(offset_pos, "invalid time-zone offset; expected ±hh:mm");
        }
        let magnitude = (h * 3600 + m * 60) as i32;
        if sign == '-' { -magnitude } else { magnitude }
    } else {
        let rest = i.input;
        let b = rest.as_bytes();
        // `+02:00` unencoded in a URL arrives as ` 02:00`.
        if b.len() >= 6 && b[0] == b' ' && b[1].is_ascii_digit() && b[2].is_ascii_digit() && b[3] == b':' {
            return fail(offset_pos, "expected a time-zone offset; a '+' in a URL query means a space, so write it as %2B");
        }
        return fail(offset_pos, "expected a time-zone offset: 'Z' or ±hh:mm");
    };
    if i.input.starts_with(|c: char| is_ident_char(c) || c == '.' || c == ':') {
        return expected(i, "the end of the DateTimeOffset literal");
    }
    let text = &i.state.text[pos..offset(i)];
    let micros_since_epoch = NaiveDate::from_ymd_opt(year as i32, month, day)
        .zip(NaiveTime::from_hms_micro_opt(hour, minute, second, micros))
        .map(|(d, t)| d.and_time(t))
        .zip(FixedOffset::east_opt(offset_seconds))
        .and_then(|(local, tz)| tz.from_local_datetime(&local).single())
        .map(|dt| dt.timestamp_micros());
    match micros_since_epoch {
        Some(us) => Ok(Expr { pos, kind: ExprKind::Literal(Lit::DateTime(us)) }),
        None => fail(pos, format!("{text} is not a valid date and time")),
    }
}

/// Everything that starts with a letter: keyword literals, enum literals, type names,
/// function calls and property paths.
///
/// This function is on the recursive path (through function calls), so the non-recursive
/// cases live in their own functions: their temporaries then stay out of every nesting level's
/// stack frame.
fn identifier<'i>(i: &mut Input<'i>) -> PResult<Expr<'i>> {
    let pos = offset(i);
    if let Some(lit) = keyword_literal(i)? {
        return Ok(Expr { pos, kind: ExprKind::Literal(lit) });
    }
    let start = i.checkpoint();
    let name = qualified_name(i)?;
    if name.contains('.') {
        return qualified(i, pos, name);
    }
    if i.input.starts_with('(') {
        let args = call_arguments(i)?;
        return Ok(Expr { pos, kind: ExprKind::Call { name, args } });
    }
    i.reset(&start);
    property_path(i, pos)
}

fn keyword_literal(i: &mut Input<'_>) -> PResult<Option<Lit>> {
    opt(alt((word("null").value(Lit::Null), word("true").value(Lit::Bool(true)), word("false").value(Lit::Bool(false))))).parse_next(i)
}

/// `ident *( "." ident )`.
fn qualified_name<'i>(i: &mut Input<'i>) -> PResult<&'i str> {
    (ident, repeat::<_, _, (), _, _>(0.., ('.', ident))).take().parse_next(i)
}

/// After a dotted name: an enum literal or a type name.
fn qualified<'i>(i: &mut Input<'i>, pos: usize, name: &'i str) -> PResult<Expr<'i>> {
    if i.input.starts_with('\'') {
        let member = string_literal(i)?;
        return Ok(Expr { pos, kind: ExprKind::EnumLiteral { ty: name, member } });
    }
    if i.input.starts_with('/') {
        return fail(pos, "type-cast segments are not supported in $filter; use isof()");
    }
    if i.input.starts_with('(') {
        return fail(pos, format!("unsupported function '{name}'"));
    }
    Ok(Expr { pos, kind: ExprKind::TypeName(name) })
}

fn property_path<'i>(i: &mut Input<'i>, pos: usize) -> PResult<Expr<'i>> {
    let path = path(i)?;
    if i.input.starts_with('\'') {
        return fail(
            pos,
            format!("'{path}' literals are not supported; an enum literal is written microsoft.graph.industryData.runStatus'failed'"),
        );
    }
    if i.input.starts_with('(') {
        return fail(pos, format!("'{path}(…)' is not supported: lambda operators and functions on paths are not available"));
    }
    Ok(Expr { pos, kind: ExprKind::Path(path) })
}

fn call_arguments<'i>(i: &mut Input<'i>) -> PResult<Vec<Expr<'i>>> {
    let open = offset(i);
    '('.parse_next(i)?;
    nested(i, open, move |i: &mut Input<'i>| {
        ws0(i)?;
        if opt(')').parse_next(i)?.is_some() {
            return Ok(Vec::new());
        }
        let args = separated(1.., cut_err(or_expr), (ws0, ',', ws0)).parse_next(i)?;
        close_paren(i, open)?;
        Ok(args)
    })
}

// ---------------------------------------------------------------------------------------------
// $orderby

/// One `$orderby` item as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OrderItem<'i> {
    pub pos: usize,
    pub path: &'i str,
    pub descending: bool,
}

/// `OWS item *( OWS "," OWS item ) OWS` with `item = path [ RWS ( "asc" / "desc" ) ]`.
pub(crate) fn parse_orderby(text: &str) -> Result<Vec<OrderItem<'_>>, SynErr> {
    fn item<'i>(i: &mut Input<'i>) -> PResult<OrderItem<'i>> {
        let pos = offset(i);
        if !i.input.starts_with(is_ident_start) {
            return expected(i, "a property name");
        }
        let path = path(i)?;
        if i.input.starts_with('(') {
            return fail(pos, "only property paths can be ordered by, not expressions");
        }
        let direction = opt(preceded(ws1, alt((word("asc").value(false), word("desc").value(true))))).parse_next(i)?;
        Ok(OrderItem { pos, path, descending: direction.unwrap_or(false) })
    }
    fn whole<'i>(i: &mut Input<'i>) -> PResult<Vec<OrderItem<'i>>> {
        ws0(i)?;
        let items = separated(1.., item, (ws0, ',', ws0)).parse_next(i)?;
        ws0(i)?;
        if !i.input.is_empty() {
            return expected(i, "',', 'asc', 'desc' or the end of $orderby");
        }
        Ok(items)
    }
    finish(whole.parse_next(&mut input(text)), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> ExprKind<'_> {
        parse_filter(text).unwrap_or_else(|e| panic!("{text}: {e:?}")).kind
    }

    #[test]
    fn datetimes() {
        let dt = |t: &str| match kind(t) {
            ExprKind::Literal(Lit::DateTime(us)) => us,
            other => panic!("{other:?}"),
        };
        assert_eq!(dt("1970-01-01T00:00:00Z"), 0);
        assert_eq!(dt("1970-01-01T00:00Z"), 0);
        assert_eq!(dt("1970-01-01T01:00:00+01:00"), 0);
        assert_eq!(dt("1970-01-01T00:00:00.1234567Z"), 123_456);
        assert_eq!(dt("1970-01-01T00:00:00.5-00:30"), 1_800_500_000);
        assert_eq!(dt("2024-01-01T00:00:00Z"), 1_704_067_200_000_000);
    }

    #[test]
    fn numbers_and_strings() {
        assert_eq!(kind("-12"), ExprKind::Literal(Lit::Int(-12)));
        assert_eq!(kind("1.5e3"), ExprKind::Literal(Lit::Float(1500.0)));
        assert_eq!(kind("'it''s'"), ExprKind::Literal(Lit::String("it's".into())));
        assert_eq!(kind("''''"), ExprKind::Literal(Lit::String("'".into())));
        assert_eq!(kind("''"), ExprKind::Literal(Lit::String(String::new())));
    }

    #[test]
    fn or_and_chains_are_flat() {
        match kind("a eq 1 or b eq 2 or c eq 3 and d eq 4") {
            ExprKind::Or(items) => {
                assert_eq!(items.len(), 3);
                assert!(matches!(items[2].kind, ExprKind::And(ref v) if v.len() == 2));
            }
            other => panic!("{other:?}"),
        }
    }
}
