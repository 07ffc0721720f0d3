//! Tests of the query-option parsers: every grammar feature, every error class (code, option,
//! position), precedence, limits, and robustness against arbitrary input — one file per part.

mod grammar;
mod limits;
mod query_string;
mod robustness;
mod select_orderby_expand;

use crate::ast::{CaseFn, CmpOp, Filter, Operand, OrderKey, StringFn, Type, Value};
use crate::error::QueryError;
use crate::filter::parse_filter;
use crate::options::{Expand, QueryOptions, Target, parse_expand, parse_orderby, parse_query, parse_select};
use crate::query_string::QueryString;
use crate::schema::EntitySet;
use runhub_model::Code;

const RUNS: EntitySet = EntitySet::Runs;

fn ok(text: &str) -> Filter {
    parse_filter(RUNS, text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn ok_in(set: EntitySet, text: &str) -> Filter {
    parse_filter(set, text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn err(text: &str) -> QueryError {
    err_in(RUNS, text)
}

fn err_in(set: EntitySet, text: &str) -> QueryError {
    match parse_filter(set, text) {
        Ok(f) => panic!("{text:?} was accepted: {f:?}"),
        Err(e) => e,
    }
}

/// Asserts an invalid `$filter` error at `position` whose message contains `fragment`.
fn invalid(text: &str, position: usize, fragment: &str) {
    let e = err(text);
    assert_eq!((e.code, e.option.as_str()), (Code::InvalidQueryOption, "$filter"), "{text:?}: {e}");
    assert_eq!(e.position, Some(position), "{text:?}: {e}");
    assert!(e.message.contains(fragment), "{text:?}: {:?} lacks {fragment:?}", e.message);
    assert!(e.message.contains("$filter") && e.message.contains(&format!("position {position}")), "{}", e.message);
}

fn prop(path: &'static str) -> Operand {
    let p = RUNS.property(path).or_else(|| EntitySet::IncomingFlows.property(path)).expect(path);
    Operand::Property { path: p.path, ty: p.ty }
}

fn s(v: &str) -> Operand {
    Operand::Literal(Value::String(v.into()))
}

fn lit(v: Value) -> Operand {
    Operand::Literal(v)
}

fn cmp(op: CmpOp, left: Operand, right: Operand) -> Filter {
    Filter::Compare { op, left, right }
}

fn and(a: Filter, b: Filter) -> Filter {
    Filter::And(Box::new(a), Box::new(b))
}

fn or(a: Filter, b: Filter) -> Filter {
    Filter::Or(Box::new(a), Box::new(b))
}

fn not(a: Filter) -> Filter {
    Filter::Not(Box::new(a))
}

const JAN_1_2024: i64 = 1_704_067_200_000_000;
