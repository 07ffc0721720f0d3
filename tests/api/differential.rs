//! Differential test of the query pipeline: a random dataset; random `$filter` expressions generated
//! as trees and random `$orderby` keys, rendered to text for the server (which parses them and
//! answers with SQL) and evaluated directly by a reference written here with OData 4.01 semantics
//! over the JSON rows. Nothing of the project's query crate is on the reference side — its own table
//! of properties and types, its own default orders — so a parser, precedence or typing bug shows as a
//! difference. They must agree row for row, order included, on every collection, also when walked
//! page by page.

use std::cmp::Ordering;
use std::collections::HashMap;

use futures::future::join_all;
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::helpers::{NS, TestApp, micros};

// ---------------------------------------------------------------------------------------------
// What the reference knows of the data model: each collection's filterable properties.

const RUN_STATUS: &[&str] = &["running", "failed", "completed", "completedWithErrors", "completedWithWarnings", "unknownFutureValue"];
const READINESS: &[&str] = &["notReady", "ready", "failed", "disabled", "expired", "unknownFutureValue"];
const DOMAIN: &[&str] = &["educationRostering", "unknownFutureValue"];

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ty {
    Str,
    Time,
    /// The enum's name and its members in sort order (`unknownFutureValue` last).
    Enum(&'static str, &'static [&'static str]),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prop {
    pub path: &'static str,
    pub ty: Ty,
}

const fn prop(path: &'static str, ty: Ty) -> Prop {
    Prop { path, ty }
}

const RUN_PROPS: &[Prop] = &[
    prop("id", Ty::Str),
    prop("displayName", Ty::Str),
    prop("startDateTime", Ty::Time),
    prop("endDateTime", Ty::Time),
    prop("status", Ty::Enum("runStatus", RUN_STATUS)),
    prop("blockingError/code", Ty::Str),
    prop("blockingError/message", Ty::Str),
    prop("blockingError/target", Ty::Str),
    prop("process/id", Ty::Str),
];
const OUTGOING_PROPS: &[Prop] = &[
    prop("id", Ty::Str),
    prop("eTag", Ty::Str),
    prop("displayName", Ty::Str),
    prop("readinessStatus", Ty::Enum("readinessStatus", READINESS)),
];
const INCOMING_PROPS: &[Prop] = &[
    prop("id", Ty::Str),
    prop("eTag", Ty::Str),
    prop("displayName", Ty::Str),
    prop("readinessStatus", Ty::Enum("readinessStatus", READINESS)),
    prop("dataDomain", Ty::Enum("incomingDomain", DOMAIN)),
    prop("recurrenceEffectiveDateTime", Ty::Time),
    prop("recurrenceExpirationDateTime", Ty::Time),
];

/// A queryable collection, as the reference sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Coll {
    Runs,
    RunGroups,
    IncomingFlows,
    OutgoingFlows,
}

impl Coll {
    pub fn props(self) -> &'static [Prop] {
        match self {
            Coll::Runs | Coll::RunGroups => RUN_PROPS,
            Coll::IncomingFlows => INCOMING_PROPS,
            Coll::OutgoingFlows => OUTGOING_PROPS,
        }
    }

    /// The type names `isof` may name on this collection.
    fn isof_types(self) -> &'static [&'static str] {
        match self {
            Coll::Runs => &["run", "incomingFlowRun", "outgoingFlowRun", "runGroup"],
            Coll::RunGroups => &["run", "runGroup"],
            Coll::IncomingFlows => &["process", "incomingFlow"],
            Coll::OutgoingFlows => &["process", "outgoingFlow"],
        }
    }

    /// The order without `$orderby`: runs newest first, processes by name (ties by id).
    fn default_order(self) -> Vec<Key> {
        match self {
            Coll::Runs | Coll::RunGroups => vec![Key { prop: prop("startDateTime", Ty::Time), descending: true }],
            Coll::IncomingFlows | Coll::OutgoingFlows => vec![Key { prop: prop("displayName", Ty::Str), descending: false }],
        }
    }
}

/// One `$orderby` key.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub prop: Prop,
    pub descending: bool,
}

// ---------------------------------------------------------------------------------------------
// The reference evaluator.

/// A row as the reference sees it: the entity JSON plus what the JSON does not carry.
#[derive(Debug, Clone)]
pub struct Row {
    pub json: Value,
    pub process_id: Option<String>,
    pub group_id: Option<String>,
}

impl Row {
    fn id(&self) -> &str {
        self.json["id"].as_str().unwrap()
    }
    fn kind(&self) -> &str {
        self.json["@odata.type"].as_str().unwrap().rsplit('.').next().unwrap()
    }
}

/// A value: `Enum(None)` is `unknownFutureValue`, which equals nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Str(String),
    Time(i64),
    Enum(Option<usize>),
    Bool(bool),
}

fn typed(json: &Value, ty: Ty) -> Val {
    if json.is_null() {
        return Val::Null;
    }
    match ty {
        Ty::Str => Val::Str(json.as_str().unwrap().to_owned()),
        Ty::Time => Val::Time(micros(json)),
        Ty::Enum(_, members) => Val::Enum(Some(members.iter().position(|m| *m == json.as_str().unwrap()).unwrap())),
    }
}

/// The value of a property path on a row.
fn property(row: &Row, p: Prop) -> Val {
    if p.path == "process/id" {
        return row.process_id.clone().map_or(Val::Null, Val::Str);
    }
    let mut v = &row.json;
    for seg in p.path.split('/') {
        v = &v[seg];
    }
    typed(v, p.ty)
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fold {
    Lower,
    Upper,
}

fn fold(f: Fold, s: &str) -> String {
    match f {
        Fold::Lower => s.to_lowercase(),
        Fold::Upper => s.to_uppercase(),
    }
}

/// An operand of a comparison.
#[derive(Debug, Clone)]
pub enum Term {
    Prop(Prop),
    Fold(Fold, Box<Term>),
    /// A literal: its value and its text as written.
    Lit(Val, String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, Copy)]
pub enum StrFn {
    StartsWith,
    EndsWith,
    Contains,
}

/// A `$filter` expression as generated.
#[derive(Debug, Clone)]
pub enum Expr {
    Cmp(Op, Term, Term),
    In(Term, Vec<Term>),
    Str(StrFn, Term, Term),
    /// A type name; whether it is written quoted.
    IsOf(&'static str, bool),
    Bool(bool),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    /// Parentheses the expression does not need.
    Paren(Box<Expr>),
}

fn term_value(row: &Row, t: &Term) -> Val {
    match t {
        Term::Prop(p) => property(row, *p),
        Term::Lit(v, _) => v.clone(),
        Term::Fold(f, inner) => match term_value(row, inner) {
            Val::Str(s) => Val::Str(fold(*f, &s)),
            Val::Null => Val::Null,
            other => panic!("case function over {other:?}"),
        },
    }
}

fn order(a: &Val, b: &Val) -> Ordering {
    match (a, b) {
        (Val::Str(x), Val::Str(y)) => x.cmp(y), // UTF-8 byte order = code point order
        (Val::Time(x), Val::Time(y)) => x.cmp(y),
        (Val::Enum(Some(x)), Val::Enum(Some(y))) => x.cmp(y),
        (Val::Bool(x), Val::Bool(y)) => x.cmp(y),
        _ => panic!("cannot order {a:?} and {b:?}"),
    }
}

/// OData 4.01 §5.1.1: two-valued; `eq null` tests for null, `ne` with one null operand is true,
/// ordering comparisons with a null operand are false; `unknownFutureValue` matches nothing.
fn eval(row: &Row, e: &Expr) -> bool {
    match e {
        Expr::And(a, b) => eval(row, a) && eval(row, b),
        Expr::Or(a, b) => eval(row, a) || eval(row, b),
        Expr::Not(a) => !eval(row, a),
        Expr::Paren(a) => eval(row, a),
        Expr::Bool(b) => *b,
        Expr::IsOf(name, _) => {
            // Every run kind derives from `run`, every flow kind from `process`.
            let kind = row.kind();
            let base = if kind.ends_with("Flow") { "process" } else { "run" };
            *name == kind || *name == base
        }
        Expr::Cmp(op, left, right) => {
            let (l, r) = (term_value(row, left), term_value(row, right));
            let unknown = matches!(l, Val::Enum(None)) || matches!(r, Val::Enum(None));
            let eq = match (&l, &r) {
                (Val::Null, Val::Null) => true,
                (Val::Null, _) | (_, Val::Null) => false,
                _ => !unknown && l == r,
            };
            match op {
                Op::Eq => eq,
                Op::Ne => !eq,
                _ if l == Val::Null || r == Val::Null || unknown => false,
                Op::Gt => order(&l, &r) == Ordering::Greater,
                Op::Ge => order(&l, &r) != Ordering::Less,
                Op::Lt => order(&l, &r) == Ordering::Less,
                Op::Le => order(&l, &r) != Ordering::Greater,
            }
        }
        Expr::In(t, list) => {
            let v = term_value(row, t);
            let items: Vec<Val> = list.iter().map(|i| term_value(row, i)).collect();
            if v == Val::Null {
                items.contains(&Val::Null)
            } else {
                !matches!(v, Val::Enum(None)) && items.iter().any(|i| *i == v && !matches!(i, Val::Enum(None)))
            }
        }
        Expr::Str(func, hay, needle) => match (term_value(row, hay), term_value(row, needle)) {
            (Val::Str(h), Val::Str(n)) => match func {
                StrFn::StartsWith => h.starts_with(&n),
                StrFn::EndsWith => h.ends_with(&n),
                StrFn::Contains => h.contains(&n),
            },
            _ => false,
        },
    }
}

/// `$orderby` keys then `id asc`; nulls sort lowest.
fn compare_rows(a: &Row, b: &Row, keys: &[Key]) -> Ordering {
    for k in keys {
        let (x, y) = (property(a, k.prop), property(b, k.prop));
        let o = match (&x, &y) {
            (Val::Null, Val::Null) => Ordering::Equal,
            (Val::Null, _) => Ordering::Less,
            (_, Val::Null) => Ordering::Greater,
            _ => order(&x, &y),
        };
        let o = if k.descending { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.id().cmp(b.id())
}

pub fn reference(rows: &[Row], filter: Option<&Expr>, keys: &[Key]) -> Vec<String> {
    let mut hits: Vec<&Row> = rows.iter().filter(|r| filter.is_none_or(|f| eval(r, f))).collect();
    hits.sort_by(|a, b| compare_rows(a, b, keys));
    hits.iter().map(|r| r.id().to_owned()).collect()
}

// ---------------------------------------------------------------------------------------------
// Rendering trees as `$filter` text, with OData's precedence: `not` applies to a primary (a
// function call or a parenthesized expression), comparisons bind tighter than `and`, `and` tighter
// than `or`.

fn render_term(t: &Term) -> String {
    match t {
        Term::Prop(p) => p.path.to_owned(),
        Term::Lit(_, text) => text.clone(),
        Term::Fold(Fold::Lower, inner) => format!("tolower({})", render_term(inner)),
        Term::Fold(Fold::Upper, inner) => format!("toupper({})", render_term(inner)),
    }
}

pub fn render(e: &Expr) -> String {
    match e {
        Expr::Cmp(op, l, r) => {
            let op = match op {
                Op::Eq => "eq",
                Op::Ne => "ne",
                Op::Gt => "gt",
                Op::Ge => "ge",
                Op::Lt => "lt",
                Op::Le => "le",
            };
            format!("{} {op} {}", render_term(l), render_term(r))
        }
        Expr::In(t, list) => format!("{} in ({})", render_term(t), list.iter().map(render_term).collect::<Vec<_>>().join(", ")),
        Expr::Str(f, hay, needle) => {
            let f = match f {
                StrFn::StartsWith => "startswith",
                StrFn::EndsWith => "endswith",
                StrFn::Contains => "contains",
            };
            format!("{f}({}, {})", render_term(hay), render_term(needle))
        }
        Expr::IsOf(name, true) => format!("isof('{NS}.{name}')"),
        Expr::IsOf(name, false) => format!("isof({NS}.{name})"),
        Expr::Bool(b) => b.to_string(),
        Expr::Not(inner) => match **inner {
            Expr::Str(..) | Expr::IsOf(..) | Expr::Paren(_) => format!("not {}", render(inner)),
            _ => format!("not ({})", render(inner)),
        },
        Expr::And(a, b) => {
            let side = |x: &Expr| if matches!(x, Expr::Or(..)) { format!("({})", render(x)) } else { render(x) };
            format!("{} and {}", side(a), side(b))
        }
        Expr::Or(a, b) => format!("{} or {}", render(a), render(b)),
        Expr::Paren(inner) => format!("({})", render(inner)),
    }
}

/// Percent-encodes everything but the unreserved characters.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn civil(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's days → civil date.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A DateTimeOffset literal for `micros`, written in a random offset with a random fraction form.
pub fn datetime_literal(rng: &mut StdRng, micros: i64) -> String {
    let offset_min: i64 = *[0, 0, 60, -300, 330, 840, -720, 45].choose(rng).unwrap();
    let local = micros + offset_min * 60_000_000;
    let secs = local.div_euclid(1_000_000);
    let frac = local.rem_euclid(1_000_000);
    let (y, mo, d) = civil(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let mut s = format!("{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}", sod / 3600, sod % 3600 / 60, sod % 60);
    match rng.random_range(0..3) {
        0 if frac == 0 => {}
        1 => s.push_str(&format!(".{frac:06}{}", rng.random_range(0..10))), // 7 digits: the 7th is truncated
        _ => s.push_str(format!(".{}", format!("{frac:06}").trim_end_matches('0')).trim_end_matches('.')),
    }
    if offset_min == 0 && rng.random_bool(0.5) {
        s.push('Z');
    } else {
        let sign = if offset_min < 0 { '-' } else { '+' };
        s.push_str(&format!("{sign}{:02}:{:02}", offset_min.abs() / 60, offset_min.abs() % 60));
    }
    s
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn string_lit(s: &str) -> Term {
    Term::Lit(Val::Str(s.to_owned()), quote(s))
}

fn null() -> Term {
    Term::Lit(Val::Null, "null".into())
}

// ---------------------------------------------------------------------------------------------
// Generating expressions.

pub struct Gen<'a> {
    pub rng: StdRng,
    pub coll: Coll,
    pub rows: &'a [Row],
}

impl Gen<'_> {
    fn sample(&mut self, p: Prop) -> Val {
        let row = self.rows.choose(&mut self.rng).unwrap();
        property(row, p)
    }

    /// A literal of `p`'s type, usually one some row has, folded like the other side when it is.
    fn literal(&mut self, p: Prop, folded: Option<Fold>) -> Term {
        if self.rng.random_ratio(1, 10) {
            return null();
        }
        let sampled = self.sample(p);
        match (p.ty, sampled) {
            (Ty::Str, v) => {
                let s = match v {
                    Val::Str(s) => s,
                    _ => ["zzz", "Alpha", "", "İ", "a'b", "0"].choose(&mut self.rng).unwrap().to_string(),
                };
                string_lit(&folded.map_or(s.clone(), |f| fold(f, &s)))
            }
            (Ty::Time, v) => {
                let base = match v {
                    Val::Time(t) => t,
                    _ => 1_700_000_000_000_000,
                };
                let delta = *[0, 0, 0, 1, -1, 3_600_000_000, -86_400_000_000].choose(&mut self.rng).unwrap();
                let text = datetime_literal(&mut self.rng, base + delta);
                Term::Lit(Val::Time(base + delta), text)
            }
            (Ty::Enum(name, members), _) => {
                let index = self.rng.random_range(0..members.len());
                let member = members[index];
                let value = Val::Enum((member != "unknownFutureValue").then_some(index));
                let text = if self.rng.random_bool(0.5) { quote(member) } else { format!("{NS}.{name}{}", quote(member)) };
                Term::Lit(value, text)
            }
        }
    }

    /// A substring of some row's value of `p` (for the string functions), or a random one.
    fn needle(&mut self, p: Prop, folded: Option<Fold>) -> Term {
        let s = match self.sample(p) {
            Val::Str(s) => s,
            _ => ["a", "A", "ü", "", "ß", "x"].choose(&mut self.rng).unwrap().to_string(),
        };
        let chars: Vec<char> = s.chars().collect();
        let (i, j) = if chars.is_empty() {
            (0, 0)
        } else {
            let i = self.rng.random_range(0..chars.len());
            (i, self.rng.random_range(i..=chars.len()))
        };
        let n: String = chars[i..j].iter().collect();
        let n = match folded {
            Some(f) => fold(f, &n),
            None if self.rng.random_ratio(1, 5) => n.to_uppercase(),
            None => n,
        };
        string_lit(&n)
    }

    /// A string property, sometimes under `tolower`/`toupper`.
    fn string_operand(&mut self, p: Prop) -> (Term, Option<Fold>) {
        match self.rng.random_range(0..6) {
            0 => (Term::Fold(Fold::Lower, Box::new(Term::Prop(p))), Some(Fold::Lower)),
            1 => (Term::Fold(Fold::Upper, Box::new(Term::Prop(p))), Some(Fold::Upper)),
            _ => (Term::Prop(p), None),
        }
    }

    fn operand(&mut self, p: Prop) -> (Term, Option<Fold>) {
        if p.ty == Ty::Str { self.string_operand(p) } else { (Term::Prop(p), None) }
    }

    fn atom(&mut self) -> Expr {
        let props = self.coll.props();
        let p = *props.choose(&mut self.rng).unwrap();
        match self.rng.random_range(0..10) {
            0..=4 => {
                let ops: &[Op] =
                    if matches!(p.ty, Ty::Enum(..)) { &[Op::Eq, Op::Ne] } else { &[Op::Eq, Op::Ne, Op::Gt, Op::Ge, Op::Lt, Op::Le] };
                let op = *ops.choose(&mut self.rng).unwrap();
                let (lhs, folded) = self.operand(p);
                let mut rhs = self.literal(p, folded);
                // Sometimes another property of the same type on the right.
                if self.rng.random_ratio(1, 8)
                    && let Some(q) = props.iter().filter(|q| q.ty == p.ty && q.path != p.path).collect::<Vec<_>>().choose(&mut self.rng)
                {
                    rhs = Term::Prop(**q);
                }
                if self.rng.random_ratio(1, 6) { Expr::Cmp(op, rhs, lhs) } else { Expr::Cmp(op, lhs, rhs) }
            }
            5 | 6 => {
                let (lhs, folded) = self.operand(p);
                let n = self.rng.random_range(1..5);
                let items = (0..n).map(|_| self.literal(p, folded)).collect();
                Expr::In(lhs, items)
            }
            7 | 8 => {
                let strings: Vec<Prop> = props.iter().copied().filter(|q| q.ty == Ty::Str).collect();
                let p = *strings.choose(&mut self.rng).unwrap();
                let (hay, folded) = self.string_operand(p);
                let needle = self.needle(p, folded);
                let func = *[StrFn::StartsWith, StrFn::EndsWith, StrFn::Contains].choose(&mut self.rng).unwrap();
                Expr::Str(func, hay, needle)
            }
            _ => {
                let t = *self.coll.isof_types().choose(&mut self.rng).unwrap();
                Expr::IsOf(t, self.rng.random_bool(0.7))
            }
        }
    }

    /// Constant predicates: literal against literal, bare booleans.
    fn constant(&mut self) -> Expr {
        let s = string_lit;
        let time = |text: &str, micros: i64| Term::Lit(Val::Time(micros), text.to_owned());
        let boolean = |b: bool| Term::Lit(Val::Bool(b), b.to_string());
        let pick = self.rng.random_range(0..17);
        match pick {
            0 => Expr::Cmp(Op::Eq, null(), null()),
            1 => Expr::Cmp(Op::Ne, null(), null()),
            2 => Expr::Cmp(Op::Eq, s("a"), s("a")),
            3 => Expr::Cmp(Op::Ne, s("a"), s("a")),
            4 => Expr::Cmp(Op::Lt, s("b"), s("a")),
            5 => Expr::Cmp(Op::Lt, s("B"), s("a")),
            6 => Expr::Bool(true),
            7 => Expr::Bool(false),
            8 => Expr::Cmp(Op::Eq, boolean(true), boolean(false)),
            9 => Expr::Cmp(
                Op::Lt,
                time("2025-01-01T00:00:00Z", 1_735_689_600_000_000),
                time("2025-01-01T01:00:00+02:00", 1_735_689_600_000_000 - 3_600_000_000),
            ),
            10 => Expr::Cmp(Op::Eq, s("a"), null()),
            11 => Expr::Cmp(Op::Lt, null(), s("a")),
            12 => Expr::Cmp(Op::Eq, Term::Fold(Fold::Lower, Box::new(s("ÄB"))), s("äb")),
            13 => Expr::Str(StrFn::Contains, s("abc"), s("b")),
            14 => Expr::In(s("x"), vec![s("x"), null()]),
            15 => Expr::In(null(), vec![s("x"), null()]),
            _ => Expr::In(null(), vec![s("x")]),
        }
    }

    pub fn filter(&mut self, depth: u32) -> Expr {
        if self.rng.random_ratio(1, 25) {
            return self.constant();
        }
        if depth == 0 || self.rng.random_ratio(2, 5) {
            let atom = self.atom();
            if self.rng.random_ratio(1, 8) {
                return Expr::Not(Box::new(atom));
            }
            return atom;
        }
        let sub = |g: &mut Self| Box::new(g.filter(depth - 1));
        match self.rng.random_range(0..5) {
            0 | 1 => Expr::And(sub(self), sub(self)),
            2 => Expr::Or(sub(self), sub(self)),
            3 => Expr::Not(sub(self)),
            _ => Expr::Paren(sub(self)),
        }
    }

    /// Random keys and their text.
    pub fn orderby(&mut self) -> Option<(Vec<Key>, String)> {
        if self.rng.random_ratio(1, 4) {
            return None;
        }
        let n = self.rng.random_range(1..=3);
        let chosen: Vec<Prop> = self.coll.props().choose_multiple(&mut self.rng, n).copied().collect();
        let mut keys = Vec::new();
        let mut texts = Vec::new();
        for p in chosen {
            let (descending, text) = match self.rng.random_range(0..3) {
                0 => (true, format!("{} desc", p.path)),
                1 => (false, format!("{} asc", p.path)),
                _ => (false, p.path.to_owned()),
            };
            keys.push(Key { prop: p, descending });
            texts.push(text);
        }
        Some((keys, texts.join(",")))
    }
}

// ---------------------------------------------------------------------------------------------
// The dataset.

const NAMES: &[&str] = &[
    "alpha",
    "Alpha",
    "ALPHA",
    "beta",
    "Beta run",
    "über",
    "Über",
    "straße",
    "STRASSE",
    "İstanbul",
    "istanbul",
    "日本語",
    "emoji 🎉",
    "a'b",
    "x",
    "zeta",
    "ǅemal",
    "Ωmega",
    "ωmega",
    "naïve",
    "a",
    "b",
    "nul\u{0}byte",
    "tab\there",
];
const CODES: &[Option<&str>] = &[None, Some("E1"), Some("e1"), Some("TIMEOUT"), Some("Über"), Some("")];
const STATUSES: &[&str] = &["running", "failed", "completed", "completedWithErrors", "completedWithWarnings"];
/// A few start times, so that orderings have ties.
const T0: i64 = 1_735_689_600_000_000; // 2025-01-01T00:00:00Z

fn time(micros: i64) -> String {
    runhub_model::Timestamp::from_micros(micros).to_rfc3339()
}

pub struct Dataset {
    pub runs: Vec<Row>,
    pub incoming: Vec<Row>,
    pub outgoing: Vec<Row>,
    pub groups: Vec<String>,
}

pub async fn build_dataset(app: &TestApp, rng: &mut StdRng, flows: usize, runs: usize) -> Dataset {
    // PostgreSQL text cannot hold U+0000: its store refuses such names (a 400, README: Scaling out).
    let names: Vec<&str> = NAMES.iter().copied().filter(|n| app.postgres.is_none() || !n.contains('\u{0}')).collect();
    let mut flow_ids: Vec<(String, &str)> = Vec::new();
    for i in 0..flows {
        let outgoing = i % 3 == 2;
        let name = names.choose(rng).unwrap();
        let readiness = *["notReady", "ready", "failed", "disabled", "expired"].choose(rng).unwrap();
        let mut body = json!({"displayName": name, "readinessStatus": readiness});
        let set = if outgoing { "outgoingFlows" } else { "incomingFlows" };
        if !outgoing && rng.random_bool(0.6) {
            let start = T0 + rng.random_range(-5..5) * 86_400_000_000;
            body["recurrenceEffectiveDateTime"] = json!(time(start));
            if rng.random_bool(0.7) {
                body["recurrenceExpirationDateTime"] = json!(time(start + rng.random_range(1..30) * 86_400_000_000));
            }
        }
        let r = app.post(&format!("/beta/industryData/{set}"), body).await;
        r.assert_status(201);
        let id = r.json()["id"].as_str().unwrap().to_owned();
        // Vary the eTag.
        for _ in 0..rng.random_range(0..3) {
            app.patch(&format!("/beta/industryData/{set}/{id}"), json!({"displayName": names.choose(rng).unwrap()}))
                .await
                .assert_status(200);
        }
        flow_ids.push((id, set));
    }
    let mut bodies = Vec::new();
    for _ in 0..runs {
        let (flow, set) = flow_ids.choose(rng).unwrap().clone();
        let status = *STATUSES.choose(rng).unwrap();
        let start = T0 + rng.random_range(0..12) * 3_600_000_000 + if rng.random_ratio(1, 4) { rng.random_range(0..1_000_000) } else { 0 };
        let mut body = json!({"displayName": names.choose(rng).unwrap(), "status": status, "startDateTime": time(start)});
        if status != "running" {
            body["endDateTime"] = json!(time(start + rng.random_range(0..4) * 1_800_000_000));
        }
        if rng.random_ratio(1, 2) {
            let mut e = serde_json::Map::new();
            if let Some(code) = CODES.choose(rng).unwrap() {
                e.insert("code".into(), json!(code));
            }
            if rng.random_bool(0.5) {
                e.insert("message".into(), json!(names.choose(rng).unwrap()));
            }
            if rng.random_bool(0.3) {
                e.insert("target".into(), json!("t"));
            }
            body["blockingError"] = Value::Object(e);
        }
        bodies.push((format!("/beta/industryData/{set}/{flow}/runs"), body));
    }
    for chunk in bodies.chunks(16) {
        for r in join_all(chunk.iter().map(|(url, body)| app.post(url, body.clone()))).await {
            r.assert_status(201);
        }
    }
    // Groups: some with members (derived values), one without.
    let all = app.walk("/beta/industryData/runs?$top=999&$select=id").await;
    let mut groups = Vec::new();
    let mut member_of: HashMap<String, String> = HashMap::new();
    for g in 0..3 {
        let mut body = json!({"displayName": names.choose(rng).unwrap(), "startDateTime": time(T0 + g * 3_600_000_000)});
        if g == 2 {
            body["status"] = json!("failed");
            body["endDateTime"] = json!(time(T0 + 7_200_000_000));
        }
        let gid = app.group_with(body).await["id"].as_str().unwrap().to_owned();
        if g < 2 {
            for run in all.iter().skip(g as usize * 7).take(5 + g as usize) {
                let rid = run["id"].as_str().unwrap().to_owned();
                app.add_member(&gid, &rid).await;
                member_of.insert(rid, gid.clone());
            }
        }
        groups.push(gid);
    }
    let rows = |items: Vec<Value>| -> Vec<Row> {
        items
            .into_iter()
            .map(|mut j| {
                let process_id = j["process"]["id"].as_str().map(str::to_owned);
                if let Some(m) = j.as_object_mut() {
                    m.remove("process");
                }
                let group_id = member_of.get(j["id"].as_str().unwrap()).cloned();
                Row { json: j, process_id, group_id }
            })
            .collect()
    };
    Dataset {
        runs: rows(app.walk("/beta/industryData/runs?$top=999&$expand=process($select=id)").await),
        incoming: rows(app.walk("/beta/industryData/incomingFlows?$top=999").await),
        outgoing: rows(app.walk("/beta/industryData/outgoingFlows?$top=999").await),
        groups,
    }
}

/// Every collection that can be queried, with the set its options are checked against and the
/// reference rows it holds.
fn collections(data: &Dataset) -> Vec<(String, Coll, Vec<Row>)> {
    let runs = &data.runs;
    let of_kind = |k: &str| runs.iter().filter(|r| r.kind() == k).cloned().collect::<Vec<_>>();
    let mut out = vec![
        ("/beta/industryData/runs".to_owned(), Coll::Runs, runs.clone()),
        (format!("/beta/industryData/runs/{NS}.incomingFlowRun"), Coll::Runs, of_kind("incomingFlowRun")),
        (format!("/beta/industryData/runs/{NS}.outgoingFlowRun"), Coll::Runs, of_kind("outgoingFlowRun")),
        (format!("/beta/industryData/runs/{NS}.runGroup"), Coll::RunGroups, of_kind("runGroup")),
        ("/beta/industryData/runGroups".to_owned(), Coll::RunGroups, of_kind("runGroup")),
        ("/beta/industryData/incomingFlows".to_owned(), Coll::IncomingFlows, data.incoming.clone()),
        ("/beta/industryData/outgoingFlows".to_owned(), Coll::OutgoingFlows, data.outgoing.clone()),
    ];
    for (set, rows) in [("incomingFlows", &data.incoming), ("outgoingFlows", &data.outgoing)] {
        for flow in rows.iter().take(2) {
            let fid = flow.id().to_owned();
            let members: Vec<Row> = runs.iter().filter(|r| r.process_id.as_deref() == Some(&fid)).cloned().collect();
            out.push((format!("/beta/industryData/{set}/{fid}/runs"), Coll::Runs, members));
        }
    }
    for g in &data.groups {
        let members: Vec<Row> = runs.iter().filter(|r| r.group_id.as_deref() == Some(g)).cloned().collect();
        out.push((format!("/beta/industryData/runGroups/{g}/runs"), Coll::Runs, members));
    }
    out
}

fn describe(rows: &[Row], ids: &[String], keys: &[Key]) -> String {
    ids.iter()
        .map(|id| {
            let r = rows.iter().find(|r| r.id() == id).unwrap();
            let vals: Vec<String> = keys.iter().map(|k| format!("{:?}", property(r, k.prop))).collect();
            format!("  {id} [{}]", vals.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_and_reference_agree_on_random_filters_and_orderings() {
    let started = std::time::Instant::now();
    let app = TestApp::spawn().await;
    let seed: u64 = std::env::var("RUNHUB_DIFF_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_0003);
    let cases: usize = std::env::var("RUNHUB_DIFF_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(500);
    let mut rng = StdRng::seed_from_u64(seed);
    let data = build_dataset(&app, &mut rng, 12, 160).await;
    assert!(data.runs.len() >= 160);
    let colls = collections(&data);

    let (mut valid, mut nonempty, mut paged, mut expanded) = (0, 0, 0, 0);
    for case in 0..cases {
        let (url, set, rows) = if rng.random_ratio(1, 2) { &colls[0] } else { colls.choose(&mut rng).unwrap() };
        let rows_for_literals = if rows.is_empty() && *set == Coll::Runs { &data.runs } else { rows };
        let mut g = Gen { rng: StdRng::seed_from_u64(rng.random()), coll: *set, rows: rows_for_literals };
        let filter = (!rng.random_ratio(1, 10)).then(|| g.filter(rng.random_range(0..4)));
        let filter_text = filter.as_ref().map(render);
        let ordering = g.orderby();
        let orderby_text = ordering.as_ref().map(|(_, text)| text.clone());

        let mut query = Vec::new();
        if let Some(f) = &filter_text {
            query.push(format!("$filter={}", enc(f)));
        }
        if let Some(o) = &orderby_text {
            query.push(format!("$orderby={}", enc(o)));
        }
        let ctx = format!("case {case} seed {seed}: {url}\n  $filter={filter_text:?}\n  $orderby={orderby_text:?}\n  tree: {filter:?}");
        valid += 1;
        let keys = ordering.map_or_else(|| set.default_order(), |(keys, _)| keys);
        let expected = reference(rows, filter.as_ref(), &keys);
        if !expected.is_empty() {
            nonempty += 1;
        }

        // One page, with the count.
        let skip = if rng.random_ratio(1, 8) { rng.random_range(0..5) } else { 0 };
        let mut q = query.clone();
        q.push("$top=999&$count=true".into());
        if skip > 0 {
            q.push(format!("$skip={skip}"));
        }
        let r = app.get(&format!("{url}?{}", q.join("&"))).await;
        assert_eq!(r.status.as_u16(), 200, "{ctx}\n{}", r.text);
        let body = r.json();
        let got: Vec<String> = body["value"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap().to_owned()).collect();
        let want: Vec<String> = expected.iter().skip(skip).cloned().collect();
        assert_eq!(
            got,
            want,
            "{ctx}\n  $skip={skip}\n  server:\n{}\n  reference:\n{}",
            describe(rows, &got, &keys),
            describe(rows, &want, &keys)
        );
        assert_eq!(body["@odata.count"], json!(expected.len()), "{ctx}");

        // Page by page through the nextLinks, sometimes.
        if case % 4 == 0 && expected.len() > 1 {
            paged += 1;
            let top = rng.random_range(1..=expected.len().min(7));
            let mut q = query.clone();
            q.push(format!("$top={top}"));
            let walked: Vec<String> =
                app.walk(&format!("{url}?{}", q.join("&"))).await.iter().map(|v| v["id"].as_str().unwrap().to_owned()).collect();
            assert_eq!(walked, expected, "{ctx}\n  walked with $top={top}");
        }
        // The same options nested in `$expand=runs(…)` on flows and runGroups (one windowed query
        // for every parent), sometimes.
        if *set == Coll::Runs && case % 5 == 1 {
            expanded += 1;
            let parent = *["incomingFlows", "outgoingFlows", "runGroups"].choose(&mut rng).unwrap();
            let top = rng.random_range(1..=6usize);
            let mut nested = vec![format!("$top={top}")];
            if let Some(f) = &filter_text {
                nested.push(format!("$filter={f}"));
            }
            if let Some(o) = &orderby_text {
                nested.push(format!("$orderby={o}"));
            }
            nested.shuffle(&mut rng);
            let url = format!("/beta/industryData/{parent}?$top=999&$select=id&$expand={}", enc(&format!("runs({})", nested.join(";"))));
            let r = app.get(&url).await;
            assert_eq!(r.status.as_u16(), 200, "{ctx}\n{url}\n{}", r.text);
            let body = r.json();
            for p in body["value"].as_array().unwrap() {
                let pid = p["id"].as_str().unwrap();
                let members: Vec<Row> = data
                    .runs
                    .iter()
                    .filter(
                        |r| if parent == "runGroups" { r.group_id.as_deref() == Some(pid) } else { r.process_id.as_deref() == Some(pid) },
                    )
                    .cloned()
                    .collect();
                let want: Vec<String> = reference(&members, filter.as_ref(), &keys).into_iter().take(top).collect();
                let got: Vec<String> = p["runs"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap().to_owned()).collect();
                assert_eq!(got, want, "{ctx}\n  expanded under {parent} {pid}: {url}");
            }
        }
        // `/$count` honours the filter.
        if case % 9 == 0 {
            let q = query.iter().filter(|p| p.starts_with("$filter")).cloned().collect::<Vec<_>>().join("&");
            let r = app.get(&format!("{url}/$count?{q}")).await;
            assert_eq!(r.status.as_u16(), 200, "{ctx}\n{}", r.text);
            assert_eq!(r.text, expected.len().to_string(), "{ctx}");
        }
    }
    eprintln!(
        "differential: {valid} valid cases of {cases} ({nonempty} with rows, {paged} walked, {expanded} expanded) in {:?}",
        started.elapsed()
    );
    assert!(nonempty * 10 >= valid * 3, "too few cases match anything: {nonempty}/{valid}");
}
