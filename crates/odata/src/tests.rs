//! Tests of the query-option parsers: every grammar feature, every error class (code, option,
//! position), precedence, limits, and robustness against arbitrary input.

use crate::ast::{CaseFn, CmpOp, Filter, Operand, OrderKey, StringFn, Type, Value};
use crate::error::{QueryError, codes};
use crate::filter::parse_filter;
use crate::options::{Expand, QueryOptions, Target, parse_expand, parse_orderby, parse_query, parse_select};
use crate::schema::EntitySet;

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
    assert_eq!((e.code, e.option.as_str()), (codes::INVALID, "$filter"), "{text:?}: {e}");
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

// ---------------------------------------------------------------------------------------------
// Grammar

#[test]
fn comparison_operators() {
    for (kw, op) in [("eq", CmpOp::Eq), ("ne", CmpOp::Ne), ("gt", CmpOp::Gt), ("ge", CmpOp::Ge), ("lt", CmpOp::Lt), ("le", CmpOp::Le)] {
        assert_eq!(ok(&format!("displayName {kw} 'a'")), cmp(op, prop("displayName"), s("a")));
    }
    // Extra whitespace, tabs and surrounding spaces are fine.
    assert_eq!(ok("  displayName \t eq   'a'  "), cmp(CmpOp::Eq, prop("displayName"), s("a")));
}

#[test]
fn string_literals() {
    assert_eq!(ok("displayName eq 'it''s'"), cmp(CmpOp::Eq, prop("displayName"), s("it's")));
    assert_eq!(ok("displayName eq ''"), cmp(CmpOp::Eq, prop("displayName"), s("")));
    assert_eq!(ok("displayName eq 'é ☃ (x) and y'"), cmp(CmpOp::Eq, prop("displayName"), s("é ☃ (x) and y")));
}

#[test]
fn nested_paths() {
    assert_eq!(ok("blockingError/code eq 'E1'"), cmp(CmpOp::Eq, prop("blockingError/code"), s("E1")));
    assert_eq!(ok("process/id eq null"), cmp(CmpOp::Eq, prop("process/id"), lit(Value::Null)));
    assert_eq!(ok("blockingError/target ne null"), cmp(CmpOp::Ne, prop("blockingError/target"), lit(Value::Null)));
}

#[test]
fn datetime_literals() {
    let start = |v: i64| cmp(CmpOp::Gt, prop("startDateTime"), lit(Value::DateTime(v)));
    assert_eq!(ok("startDateTime gt 2024-01-01T00:00:00Z"), start(JAN_1_2024));
    assert_eq!(ok("startDateTime gt 2024-01-01T00:00Z"), start(JAN_1_2024));
    assert_eq!(ok("startDateTime gt 2024-01-01T02:00:00+02:00"), start(JAN_1_2024));
    assert_eq!(ok("startDateTime gt 2023-12-31T23:30:00-00:30"), start(JAN_1_2024));
    // Seven fractional digits, truncated to microseconds.
    assert_eq!(ok("startDateTime gt 2024-01-01T00:00:00.1234567Z"), start(JAN_1_2024 + 123_456));
    assert_eq!(ok("startDateTime gt 2024-01-01T00:00:00.5Z"), start(JAN_1_2024 + 500_000));
    assert_eq!(ok("startDateTime gt 2024-01-01T00:00:00.000001Z"), start(JAN_1_2024 + 1));
    assert_eq!(ok("startDateTime lt endDateTime"), cmp(CmpOp::Lt, prop("startDateTime"), prop("endDateTime")));
}

#[test]
fn datetime_errors() {
    invalid("startDateTime gt 2024-01-01", 17, "a date alone is not a DateTimeOffset");
    invalid("startDateTime gt 2024-01-01T00:00:00", 36, "time-zone offset");
    invalid("startDateTime gt 2024-01-01T00:00:00.12345678Z", 37, "at most 7 fractional digits");
    invalid("startDateTime gt 2024-02-30T00:00:00Z", 17, "not a valid date");
    invalid("startDateTime gt 2024-01-01T25:00:00Z", 17, "not a valid date");
    invalid("startDateTime gt 2024-1-01T00:00:00Z", 17, "invalid date");
    // An unencoded '+' in the URL became a space.
    invalid("startDateTime gt 2024-01-01T00:00:00 02:00", 36, "%2B");
    // A quoted DateTimeOffset is a string.
    invalid("startDateTime eq 'abc'", 17, "unquoted");
    invalid("startDateTime eq '2024-01-01T00:00:00Z'", 17, "unquoted");
    invalid("startDateTime eq 5", 17, "cannot compare");
}

#[test]
fn numbers_and_booleans() {
    assert_eq!(ok("1 eq 1"), cmp(CmpOp::Eq, lit(Value::Int(1)), lit(Value::Int(1))));
    assert_eq!(ok("-2 lt 1.5"), cmp(CmpOp::Lt, lit(Value::Int(-2)), lit(Value::Float(1.5))));
    assert_eq!(ok("1e3 eq 1000"), cmp(CmpOp::Eq, lit(Value::Float(1000.0)), lit(Value::Int(1000))));
    assert_eq!(ok("true"), Filter::Bool(lit(Value::Bool(true))));
    assert_eq!(ok("false"), Filter::Bool(lit(Value::Bool(false))));
    assert_eq!(ok("true eq false"), cmp(CmpOp::Eq, lit(Value::Bool(true)), lit(Value::Bool(false))));
    assert_eq!(ok("null eq null"), cmp(CmpOp::Eq, lit(Value::Null), lit(Value::Null)));
    assert_eq!(ok("'a' lt 'b'"), cmp(CmpOp::Lt, s("a"), s("b")));
    invalid("1 eq 99999999999999999999", 5, "out of range");
    invalid("1 eq 12abc", 7, "after the number");
    invalid("'a' eq 1", 7, "cannot compare a string literal with an integer literal");
    invalid("1 eq -x", 5, "unary minus");
}

#[test]
fn enums() {
    let status = |v: Option<i64>| cmp(CmpOp::Eq, prop("status"), lit(Value::Enum(v)));
    assert_eq!(ok("status eq 'running'"), status(Some(0)));
    assert_eq!(ok("status eq 'failed'"), status(Some(1)));
    assert_eq!(ok("status eq microsoft.graph.industryData.runStatus'completedWithWarnings'"), status(Some(4)));
    // The sentinel is a valid literal that matches nothing.
    assert_eq!(ok("status eq 'unknownFutureValue'"), status(None));
    assert_eq!(ok("status eq null"), status_null());
    assert_eq!(ok("'failed' ne status"), cmp(CmpOp::Ne, lit(Value::Enum(Some(1))), prop("status")));
    assert_eq!(
        ok("status in ('failed', microsoft.graph.industryData.runStatus'completed')"),
        Filter::In { operand: prop("status"), list: vec![Value::Enum(Some(1)), Value::Enum(Some(2))] }
    );
    assert_eq!(
        ok_in(EntitySet::IncomingFlows, "readinessStatus eq 'ready' and dataDomain eq 'educationRostering'"),
        and(
            cmp(CmpOp::Eq, prop("readinessStatus"), lit(Value::Enum(Some(1)))),
            cmp(CmpOp::Eq, prop("dataDomain"), lit(Value::Enum(Some(0))))
        )
    );
    // Two enum literals of one type.
    assert_eq!(
        ok("microsoft.graph.industryData.runStatus'failed' eq 'failed'"),
        cmp(CmpOp::Eq, lit(Value::Enum(Some(1))), lit(Value::Enum(Some(1))))
    );
}

fn status_null() -> Filter {
    cmp(CmpOp::Eq, prop("status"), lit(Value::Null))
}

#[test]
fn enum_errors() {
    invalid("status gt 'failed'", 7, "only be compared with eq, ne and in");
    invalid("status le null", 7, "only be compared with eq, ne and in");
    invalid("status eq 'Failed'", 10, "'Failed' is not a member of microsoft.graph.industryData.runStatus");
    invalid("status eq 'nope'", 10, "members are: running, failed");
    invalid("status in ('failed', 'nope')", 21, "not a member");
    invalid("status eq 5", 10, "cannot compare 'status'");
    invalid("status eq microsoft.graph.industryData.readinessStatus'ready'", 10, "readinessStatus literal");
    invalid("status eq microsoft.graph.industryData.color'red'", 10, "unknown enum type");
    invalid("status eq microsoft.graph.industryData.runStatus'nope'", 10, "not a member");
    invalid("displayName eq microsoft.graph.industryData.runStatus'failed'", 15, "cannot compare 'displayName'");
    invalid("status eq displayName", 10, "cannot compare 'status'");
    invalid("status eq duration'P1D'", 10, "literals are not supported");
}

#[test]
fn null_compares_with_anything() {
    for text in ["endDateTime eq null", "null eq endDateTime", "displayName gt null", "startDateTime le null", "blockingError/code ne null"]
    {
        ok(text);
    }
}

#[test]
fn in_operator() {
    assert_eq!(
        ok("displayName in ('a','b' , 'c')"),
        Filter::In { operand: prop("displayName"), list: vec!["a", "b", "c"].into_iter().map(|v| Value::String(v.into())).collect() }
    );
    assert_eq!(
        ok("endDateTime in (null, 2024-01-01T00:00:00Z)"),
        Filter::In { operand: prop("endDateTime"), list: vec![Value::Null, Value::DateTime(JAN_1_2024)] }
    );
    assert_eq!(
        ok("tolower(displayName) in ('a')"),
        Filter::In { operand: Operand::Case(CaseFn::ToLower, Box::new(prop("displayName"))), list: vec![Value::String("a".into())] }
    );
    assert_eq!(ok("displayName in('a')"), ok("displayName in ('a')"));
    invalid("displayName in ()", 15, "the 'in' list is empty");
    invalid("displayName in ('a', id)", 21, "must be literals");
    invalid("displayName in ('a', 1)", 21, "cannot compare");
    invalid("displayName in 'a'", 15, "expected '(' starting the list");
    invalid("displayName in ('a'", 19, "')' to close the '(' at position 15");
}

#[test]
fn string_functions() {
    for (name, func) in [("startswith", StringFn::StartsWith), ("endswith", StringFn::EndsWith), ("contains", StringFn::Contains)] {
        assert_eq!(ok(&format!("{name}(displayName,'x')")), Filter::StringMatch { func, haystack: prop("displayName"), needle: s("x") });
    }
    assert_eq!(
        ok("contains( tolower(blockingError/message) , toupper('x') )"),
        Filter::StringMatch {
            func: StringFn::Contains,
            haystack: Operand::Case(CaseFn::ToLower, Box::new(prop("blockingError/message"))),
            needle: Operand::Case(CaseFn::ToUpper, Box::new(s("x"))),
        }
    );
    assert_eq!(
        ok("tolower(toupper(displayName)) eq 'x'"),
        cmp(CmpOp::Eq, Operand::Case(CaseFn::ToLower, Box::new(Operand::Case(CaseFn::ToUpper, Box::new(prop("displayName"))))), s("x"))
    );
    // A condition compared with a boolean literal is the condition (or its negation).
    let c = Filter::StringMatch { func: StringFn::Contains, haystack: prop("displayName"), needle: s("x") };
    assert_eq!(ok("contains(displayName,'x') eq true"), c);
    assert_eq!(ok("contains(displayName,'x') eq false"), not(c.clone()));
    assert_eq!(ok("true ne contains(displayName,'x')"), not(c));
}

#[test]
fn function_errors() {
    invalid("contains(startDateTime,'x')", 9, "'startDateTime' is Edm.DateTimeOffset");
    invalid("contains(displayName,1)", 21, "found an integer literal");
    invalid("contains(displayName,null)", 21, "found null");
    invalid("startswith(status,'f')", 11, "'status' is microsoft.graph.industryData.runStatus");
    invalid("tolower(status) eq 'x'", 8, "needs string arguments");
    invalid("contains(displayName)", 0, "contains takes 2 arguments, found 1");
    invalid("tolower(displayName,'x') eq 'y'", 0, "tolower takes 1 argument, found 2");
    invalid("length(displayName) eq 3", 0, "unsupported function 'length'");
    invalid("Contains(displayName,'x')", 0, "function names are lower-case");
    invalid("tolower(displayName)", 0, "returns a string, not a condition");
    invalid("contains(displayName,'x') eq 'y'", 0, "a condition cannot be used as a value");
    invalid("runs/any(r: r eq 1)", 0, "lambda operators");
    invalid("contains(displayName,'x'", 24, "')' to close the '(' at position 8");
}

#[test]
fn isof() {
    assert_eq!(ok("isof('microsoft.graph.industryData.runGroup')"), Filter::IsOf("runGroup"));
    assert_eq!(ok("isof(microsoft.graph.industryData.incomingFlowRun)"), Filter::IsOf("incomingFlowRun"));
    assert_eq!(ok("not isof('microsoft.graph.industryData.outgoingFlowRun')"), not(Filter::IsOf("outgoingFlowRun")));
    assert_eq!(ok("isof('microsoft.graph.industryData.run')"), Filter::IsOf("run"));
    assert_eq!(ok_in(EntitySet::IncomingFlows, "isof('microsoft.graph.industryData.incomingFlow')"), Filter::IsOf("incomingFlow"));
    invalid("isof('runGroup')", 5, "namespace-qualified: 'microsoft.graph.industryData.runGroup'");
    invalid("isof('microsoft.graph.industryData.incomingFlow')", 5, "not a type of this collection");
    invalid("isof(displayName)", 5, "isof expects a qualified type name");
    invalid("isof(process, 'microsoft.graph.industryData.incomingFlow')", 0, "not supported");
    invalid("isof()", 0, "isof takes 1 argument, found 0");
    invalid("microsoft.graph.industryData.runGroup", 0, "type names go inside isof()");
    invalid("displayName eq microsoft.graph.industryData.runGroup", 15, "only allowed inside isof()");
    let e = err_in(EntitySet::OutgoingFlows, "isof('microsoft.graph.industryData.incomingFlow')");
    assert!(e.message.contains("'microsoft.graph.industryData.outgoingFlow'"), "{}", e.message);
}

#[test]
fn precedence_and_grouping() {
    let a = || cmp(CmpOp::Eq, prop("displayName"), s("a"));
    let b = || cmp(CmpOp::Eq, prop("id"), s("b"));
    let c = || cmp(CmpOp::Eq, prop("status"), lit(Value::Enum(Some(1))));
    // and binds tighter than or.
    assert_eq!(ok("displayName eq 'a' or id eq 'b' and status eq 'failed'"), or(a(), and(b(), c())));
    assert_eq!(ok("displayName eq 'a' and id eq 'b' or status eq 'failed'"), or(and(a(), b()), c()));
    // Parentheses override it.
    assert_eq!(ok("(displayName eq 'a' or id eq 'b') and status eq 'failed'"), and(or(a(), b()), c()));
    // Chains are left-associative.
    assert_eq!(ok("displayName eq 'a' or id eq 'b' or status eq 'failed'"), or(or(a(), b()), c()));
    // not binds tighter than and/or.
    assert_eq!(ok("not (displayName eq 'a') and id eq 'b'"), and(not(a()), b()));
    assert_eq!(ok("not(displayName eq 'a') or id eq 'b'"), or(not(a()), b()));
    assert_eq!(ok("not not (displayName eq 'a')"), not(not(a())));
    // Redundant parentheses vanish.
    assert_eq!(ok("((((displayName eq 'a'))))"), a());
    assert_eq!(ok("(displayName) eq ('a')"), a());
    assert_eq!(ok("true and displayName eq 'a'"), and(Filter::Bool(lit(Value::Bool(true))), a()));
    // not binds tighter than comparisons, so this compares `not displayName`.
    invalid("not displayName eq 'a'", 0, "write not (a eq b)");
}

#[test]
fn property_errors() {
    let e = err("foo eq 'x'");
    assert_eq!(e.position, Some(0));
    assert!(e.message.contains("unknown property 'foo'"), "{}", e.message);
    assert!(e.message.contains("id, displayName, startDateTime, endDateTime, status, blockingError/code"), "{}", e.message);
    invalid("displayName eq 'x' and blockingError/foo eq 'x'", 23, "unknown property 'blockingError/foo'");
    invalid("blockingError eq null", 0, "complex property");
    invalid("process eq null", 0, "navigation property");
    invalid("statistics eq null", 0, "complex property");
    invalid("DisplayName eq 'x'", 0, "unknown property 'DisplayName'");
    invalid("displayName", 0, "not a condition");
    invalid("'x'", 0, "expected a condition, found a string literal");
    invalid("displayName eq startDateTime", 15, "cannot compare 'displayName' (Edm.String) with 'startDateTime'");
    invalid_in(EntitySet::OutgoingFlows, "dataDomain eq null", 0, "unknown property 'dataDomain'");
    ok_in(EntitySet::IncomingFlows, "recurrenceExpirationDateTime ge 2024-01-01T00:00:00Z and eTag ne 'x'");
    ok_in(EntitySet::Processes, "readinessStatus eq 'ready'");
}

fn invalid_in(set: EntitySet, text: &str, position: usize, fragment: &str) {
    let e = err_in(set, text);
    assert_eq!((e.code, e.position), (codes::INVALID, Some(position)), "{text:?}: {e}");
    assert!(e.message.contains(fragment), "{text:?}: {}", e.message);
}

#[test]
fn syntax_errors() {
    invalid("", 0, "empty");
    invalid("   ", 0, "empty");
    invalid("displayName eq", 14, "expected an operand after 'eq'");
    invalid("displayName eq ", 15, "expected an operand");
    invalid("displayName eq 'x' and", 22, "expected an operand after 'and'");
    invalid("displayName eq 'x' and ", 23, "expected an operand");
    invalid("displayName eq 'x' AND id eq 'y'", 19, "'AND' (operators and keywords are lower-case)");
    invalid("displayName EQ 'x'", 12, "lower-case");
    invalid("displayName eq 'x'and id eq 'y'", 18, "separated from their operands by spaces");
    invalid("displayName eq'x'", 14, "expected a space after 'eq'");
    invalid("displayName eq 'abc", 15, "unterminated string literal");
    invalid("(displayName eq 'x'", 19, "')' to close the '(' at position 0");
    invalid("displayName eq 'x')", 18, "unbalanced ')'");
    invalid("()", 1, "expected an operand");
    invalid("displayName eq 'a' eq 'b'", 19, "cannot be chained");
    invalid("displayName add 'x'", 12, "arithmetic operators");
    invalid("displayName eq 'x' &", 19, "found '&'");
    invalid("blockingError/ eq 'x'", 14, "property name after '/'");
    invalid("microsoft.graph.industryData.runGroup/x eq 1", 0, "type-cast segments");
    invalid("$it eq 1", 0, "expected an operand");
    invalid("notx", 0, "unknown property 'notx'");
    invalid("not", 3, "expected an operand after 'not'");
    // Positions are characters, not bytes.
    invalid("displayName eq 'é' AND x", 19, "'AND'");
}

// ---------------------------------------------------------------------------------------------
// Limits

fn too_complex(text: &str) -> QueryError {
    let e = err(text);
    assert_eq!(e.code, codes::TOO_COMPLEX, "{e}");
    assert_eq!(e.option, "$filter");
    e
}

#[test]
fn length_limit() {
    let pad = " ".repeat(4096 - "displayName eq 'x'".len());
    ok(&format!("displayName eq 'x'{pad}"));
    let e = too_complex(&format!("displayName eq 'x'{pad} "));
    assert_eq!(e.position, Some(4096));
    assert!(e.message.contains("4096"), "{}", e.message);
}

#[test]
fn depth_limit() {
    let nots = |n: usize| format!("{}true", "not ".repeat(n));
    ok(&nots(32));
    let e = too_complex(&nots(33));
    assert_eq!(e.position, Some(4 * 32));
    assert!(e.message.contains("32 levels"), "{}", e.message);
    // Comparisons count: 31 nots + eq is 32 levels; one more is too deep.
    ok(&format!("{}(displayName eq 'x')", "not ".repeat(31)));
    too_complex(&format!("{}(displayName eq 'x')", "not ".repeat(32)));
    // Function nesting counts.
    let cases = |n: usize| format!("{}displayName{} eq 'x'", "tolower(".repeat(n), ")".repeat(n));
    ok(&cases(31));
    too_complex(&cases(32));
    // Redundant parentheses and long chains of one operator don't.
    ok(&format!("{}displayName eq 'x'{}", "(".repeat(60), ")".repeat(60)));
    ok(&vec!["displayName eq 'x'"; 50].join(" or "));
    // Alternating and/or inside parentheses does count.
    let mut deep = "displayName eq 'x'".to_owned();
    for i in 0..40 {
        let op = if i % 2 == 0 { "and" } else { "or" };
        deep = format!("(id eq 'y' {op} {deep})");
    }
    too_complex(&deep);
}

#[test]
fn node_limit() {
    let list = |n: usize| format!("id in ({})", vec!["'x'"; n].join(","));
    ok(&list(254)); // in + operand + 254 values = 256 nodes
    let e = too_complex(&list(255));
    assert!(e.message.contains("256 nodes"), "{}", e.message);
    assert_eq!(e.position, Some(7 + 4 * 254));
    let chain = |n: usize| vec!["id eq 'x'"; n].join(" or ");
    ok(&chain(64)); // 64 × 3 + 63 = 255
    too_complex(&chain(65));
}

#[test]
fn syntactic_nesting_is_bounded() {
    // Far more parentheses than the parser will follow: a clean error, no stack overflow.
    for open in ["(", "not ", "not(", "tolower(", "id in (", "contains("] {
        let text: String = open.repeat(4000 / open.len());
        let e = parse_filter(RUNS, &text[..text.len().min(4096)]).unwrap_err();
        assert!(matches!(e.code, codes::TOO_COMPLEX | codes::INVALID), "{open}: {e}");
    }
    let e = too_complex(&format!("{}true{}", "(".repeat(150), ")".repeat(150)));
    assert_eq!(e.position, Some(100));
    assert!(e.message.contains("more than 100 levels"), "{}", e.message);
    // Oversized inputs never reach the parser.
    too_complex(&"(".repeat(100_000));
    too_complex(&"not ".repeat(100_000));
}

#[test]
fn deep_input_fits_a_small_stack() {
    // An unoptimised build needs ~14 KiB of stack per nesting level, over 1 MiB at the
    // syntactic limit: the parser must grow its stack rather than overflow a small one.
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            for open in ["(", "not (", "not ", "tolower(", "id in (", "contains(", "contains(tolower("] {
                let e = parse_filter(RUNS, &open.repeat(120)).unwrap_err();
                assert_eq!(e.code, codes::TOO_COMPLEX, "{open}: {e}");
            }
        })
        .unwrap();
    handle.join().unwrap();
}

// ---------------------------------------------------------------------------------------------
// $orderby, $select, $expand

#[test]
fn orderby() {
    let key = |path: &'static str, descending: bool| {
        let p = RUNS.property(path).unwrap();
        OrderKey { path: p.path, ty: p.ty, descending }
    };
    assert_eq!(parse_orderby(RUNS, "startDateTime desc").unwrap(), vec![key("startDateTime", true)]);
    assert_eq!(
        parse_orderby(RUNS, " status asc , displayName,blockingError/code desc ").unwrap(),
        vec![key("status", false), key("displayName", false), key("blockingError/code", true)]
    );
    assert_eq!(parse_orderby(RUNS, "process/id").unwrap(), vec![key("process/id", false)]);
    let e = parse_orderby(RUNS, "displayName, startDateTime desc, displayName desc").unwrap_err();
    assert_eq!((e.code, e.option.as_str(), e.position), (codes::INVALID, "$orderby", Some(33)));
    assert!(e.message.contains("more than once"), "{}", e.message);
    let bad = |text: &str, position: usize, fragment: &str| {
        let e = parse_orderby(RUNS, text).unwrap_err();
        assert_eq!((e.code, e.option.as_str(), e.position), (codes::INVALID, "$orderby", Some(position)), "{text}: {e}");
        assert!(e.message.contains(fragment), "{text}: {}", e.message);
    };
    bad("foo", 0, "'foo' is not a known property");
    bad("displayName, foo desc", 13, "properties that can be ordered by are: id, displayName");
    bad("statistics", 0, "not a primitive property");
    bad("displayName DESC", 12, "lower-case");
    bad("displayName,", 12, "expected a property name");
    bad(",displayName", 0, "expected a property name");
    bad("tolower(displayName)", 0, "only property paths");
    bad("displayName desc desc", 17, "expected ',', 'asc', 'desc' or the end");
    let incoming = parse_orderby(EntitySet::IncomingFlows, "readinessStatus desc").unwrap();
    assert_eq!(incoming[0].ty, Type::Enum("readinessStatus"));
}

#[test]
fn select() {
    assert_eq!(parse_select(RUNS, "id,displayName").unwrap(), Some(vec!["id", "displayName"]));
    assert_eq!(parse_select(RUNS, " status , status,statistics").unwrap(), Some(vec!["status", "statistics"]));
    assert_eq!(parse_select(RUNS, "*").unwrap(), None);
    assert_eq!(parse_select(RUNS, "blockingError").unwrap(), Some(vec!["blockingError"]));
    assert_eq!(parse_select(EntitySet::IncomingFlows, "eTag,dataDomain").unwrap(), Some(vec!["eTag", "dataDomain"]));
    let bad = |set: EntitySet, text: &str, position: usize, fragment: &str| {
        let e = parse_select(set, text).unwrap_err();
        assert_eq!((e.code, e.option.as_str(), e.position), (codes::INVALID, "$select", Some(position)), "{text}: {e}");
        assert!(e.message.contains(fragment), "{text}: {}", e.message);
    };
    bad(RUNS, "id,foo", 3, "unknown property 'foo'; selectable properties are: id, displayName");
    bad(RUNS, "id,,status", 3, "expected a property name");
    bad(RUNS, "process", 0, "use $expand=process");
    bad(RUNS, "blockingError/code", 0, "not supported");
    bad(EntitySet::OutgoingFlows, "dataDomain", 0, "unknown property");
}

#[test]
fn expand() {
    let e = parse_expand(RUNS, "process").unwrap();
    assert_eq!(e, Expand { navigation: "process", target: EntitySet::Processes, collection: false, options: Box::default() });
    let e = parse_expand(RUNS, "process($select=id,displayName;$filter=readinessStatus eq 'ready')").unwrap();
    assert_eq!(e.options.select, Some(vec!["id", "displayName"]));
    assert_eq!(e.options.filter, Some(cmp(CmpOp::Eq, prop("readinessStatus"), lit(Value::Enum(Some(1))))));
    let e = parse_expand(
        EntitySet::IncomingFlows,
        "runs($filter=status eq 'failed' and displayName eq 'a;b)';top=5;$orderby=startDateTime desc;select=id)",
    )
    .unwrap();
    assert_eq!((e.navigation, e.target, e.collection), ("runs", EntitySet::Runs, true));
    assert_eq!(e.options.top, Some(5));
    assert_eq!(e.options.orderby.len(), 1);
    assert_eq!(e.options.select, Some(vec!["id"]));
    assert!(e.options.filter.is_some());
    let e = parse_expand(EntitySet::RunGroups, "runs").unwrap();
    assert_eq!(e.target, EntitySet::Runs);
    assert_eq!(parse_expand(EntitySet::OutgoingFlows, " runs ").unwrap().navigation, "runs");
}

#[test]
fn expand_errors() {
    let bad = |set: EntitySet, text: &str, code: &str, position: usize, fragment: &str| {
        let e = parse_expand(set, text).unwrap_err();
        assert_eq!((e.code, e.option.as_str(), e.position), (code, "$expand", Some(position)), "{text}: {e}");
        assert!(e.message.contains(fragment), "{text}: {}", e.message);
    };
    bad(RUNS, "runs", codes::INVALID, 0, "'runs' is not known; navigation properties that can be expanded: process");
    bad(RUNS, "status", codes::INVALID, 0, "not a navigation property");
    bad(EntitySet::RunGroups, "runs,process", codes::INVALID, 5, "only one navigation property");
    bad(RUNS, "*", codes::INVALID, 0, "$expand=* is not supported");
    bad(RUNS, "process/$ref", codes::UNSUPPORTED, 7, "not supported");
    bad(RUNS, "process(", codes::INVALID, 7, "never closed");
    bad(RUNS, "process)", codes::INVALID, 7, "unbalanced ')'");
    bad(RUNS, "process x", codes::INVALID, 7, "expected '('");
    bad(RUNS, "process($top=1)", codes::INVALID, 8, "'$top' is not allowed inside $expand=process(…); allowed: $select, $filter");
    bad(EntitySet::IncomingFlows, "runs($skip=1)", codes::INVALID, 5, "'$skip' is not allowed");
    bad(EntitySet::IncomingFlows, "runs($expand=process)", codes::INVALID, 5, "not allowed");
    bad(EntitySet::IncomingFlows, "runs($foo=1)", codes::UNKNOWN, 5, "not allowed");
    bad(EntitySet::IncomingFlows, "runs($top=1;$top=2)", codes::INVALID, 12, "more than once");
    bad(EntitySet::IncomingFlows, "runs($top)", codes::INVALID, 5, "expected name=value");
    bad(EntitySet::IncomingFlows, "runs($top=)", codes::INVALID, 10, "empty");
    bad(EntitySet::IncomingFlows, "runs($top=1000)", codes::INVALID, 10, "nested $top of 'runs': must be from 1 to 999");
    // Nested errors point into the $expand value.
    bad(EntitySet::IncomingFlows, "runs($filter=status gt 'failed')", codes::INVALID, 20, "in the nested $filter of 'runs'");
    bad(EntitySet::IncomingFlows, "runs($select=id;$orderby=foo)", codes::INVALID, 25, "'foo' is not a known property");
    bad(EntitySet::IncomingFlows, "runs($filter=readinessStatus eq 'ready')", codes::INVALID, 13, "unknown property 'readinessStatus'");
    bad(EntitySet::IncomingFlows, "runs($filter='unterminated)", codes::INVALID, 13, "unterminated");
    let e = parse_expand(EntitySet::IncomingFlows, &format!("runs($filter={})", "not ".repeat(40) + "true")).unwrap_err();
    assert_eq!(e.code, codes::TOO_COMPLEX);
}

// ---------------------------------------------------------------------------------------------
// The query string

fn query(set: EntitySet, target: Target, raw: &str) -> QueryOptions {
    parse_query(set, target, Some(raw)).unwrap_or_else(|e| panic!("{raw}: {e}"))
}

fn query_err(target: Target, raw: &str) -> QueryError {
    match parse_query(RUNS, target, Some(raw)) {
        Ok(o) => panic!("{raw} was accepted: {o:?}"),
        Err(e) => e,
    }
}

#[test]
fn every_option() {
    let o = query(
        RUNS,
        Target::Collection,
        "$filter=status%20eq%20'failed'&$orderby=startDateTime+desc&$select=id,status&$expand=process&$top=10&$skip=5&$skiptoken=abc%3D&$count=true",
    );
    assert_eq!(o.filter, Some(cmp(CmpOp::Eq, prop("status"), lit(Value::Enum(Some(1))))));
    assert_eq!(o.orderby.len(), 1);
    assert!(o.orderby[0].descending);
    assert_eq!(o.select, Some(vec!["id", "status"]));
    assert_eq!(o.expand.as_ref().map(|e| e.navigation), Some("process"));
    assert_eq!((o.top, o.skip, o.skiptoken.as_deref(), o.count), (Some(10), Some(5), Some("abc="), true));
    assert!(!query(RUNS, Target::Collection, "$count=false").count);
    assert_eq!(parse_query(RUNS, Target::Collection, None).unwrap(), QueryOptions::default());
    assert_eq!(query(RUNS, Target::Collection, ""), QueryOptions::default());
    assert_eq!(query(RUNS, Target::Collection, "?&&"), QueryOptions::default());
}

#[test]
fn option_names() {
    // Without `$`, percent-encoded, with a leading '?'.
    let o = query(RUNS, Target::Collection, "?filter=displayName eq 'a'&top=3&%24skip=1");
    assert!(o.filter.is_some());
    assert_eq!((o.top, o.skip), (Some(3), Some(1)));
    // Custom options (no `$`) are ignored, whatever their value.
    let o = query(RUNS, Target::Collection, "foo=bar&Filter=nonsense&$top=2&baz&x=%FF");
    assert_eq!(o.top, Some(2));
    assert!(o.filter.is_none());
    // `$format=json` is accepted.
    query(RUNS, Target::Collection, "$format=json");
    query(RUNS, Target::Entity, "$format=application/json;odata.metadata=minimal");
}

#[test]
fn plus_is_a_space() {
    let o = query(RUNS, Target::Collection, "$filter=displayName+eq+'a+b'");
    assert_eq!(o.filter, Some(cmp(CmpOp::Eq, prop("displayName"), s("a b"))));
    let o = query(RUNS, Target::Collection, "$filter=displayName eq 'a%2Bb'");
    assert_eq!(o.filter, Some(cmp(CmpOp::Eq, prop("displayName"), s("a+b"))));
    let e = query_err(Target::Collection, "$filter=startDateTime+gt+2024-01-01T00:00:00+02:00");
    assert!(e.message.contains("%2B"), "{}", e.message);
}

#[test]
fn option_errors() {
    let check = |target: Target, raw: &str, code: &str, option: &str, position: Option<usize>, fragment: &str| {
        let e = query_err(target, raw);
        assert_eq!((e.code, e.option.as_str(), e.position), (code, option, position), "{raw}: {e}");
        assert!(e.message.contains(fragment), "{raw}: {}", e.message);
        assert!(e.message.contains(option), "{raw}: {}", e.message);
    };
    let c = Target::Collection;
    check(c, "$foo=1", codes::UNKNOWN, "$foo", None, "Unknown query option '$foo'");
    check(c, "$Filter=id eq 'a'", codes::UNKNOWN, "$Filter", None, "did you mean '$filter'?");
    check(c, "$search=abc", codes::UNSUPPORTED, "$search", None, "not supported");
    check(c, "search=abc", codes::UNSUPPORTED, "$search", None, "not supported");
    check(c, "$apply=groupby((status))", codes::UNSUPPORTED, "$apply", None, "not supported");
    check(c, "$format=xml", codes::UNSUPPORTED, "$format", None, "only JSON");
    check(c, "$filter=id eq 'a'&filter=id eq 'b'", codes::INVALID, "$filter", None, "more than once");
    check(c, "$top=1&$top=1", codes::INVALID, "$top", None, "more than once");
    check(c, "$filter=", codes::INVALID, "$filter", None, "empty");
    check(c, "$count", codes::INVALID, "$count", None, "empty");
    check(c, "$top=0", codes::INVALID, "$top", None, "from 1 to 999");
    check(c, "$top=1000", codes::INVALID, "$top", None, "from 1 to 999");
    check(c, "$top=99999999999999999999", codes::INVALID, "$top", None, "from 1 to 999");
    check(c, "$top=-1", codes::INVALID, "$top", Some(0), "from 1 to 999");
    check(c, "$top=1x", codes::INVALID, "$top", Some(1), "integer");
    check(c, "$skip=-1", codes::INVALID, "$skip", Some(0), "non-negative integer");
    check(c, "$skip=99999999999999999999999", codes::INVALID, "$skip", None, "too large");
    check(c, "$count=yes", codes::INVALID, "$count", None, "true or false");
    check(c, "$count=True", codes::INVALID, "$count", None, "true or false");
    check(c, "$filter=foo eq 1", codes::INVALID, "$filter", Some(0), "unknown property 'foo'");
    check(c, "$filter=%FF", codes::INVALID, "$filter", None, "UTF-8");
    check(c, "$orderby=foo", codes::INVALID, "$orderby", Some(0), "not a known property");
    check(c, "$select=foo", codes::INVALID, "$select", Some(0), "unknown property");
    check(c, "$expand=foo", codes::INVALID, "$expand", Some(0), "not known");
    check(c, &format!("$filter={}", "not ".repeat(1100)), codes::TOO_COMPLEX, "$filter", Some(4096), "4096");
    // What the URL addresses decides what applies.
    let entity = Target::Entity;
    for raw in ["$filter=id eq 'a'", "$top=1", "$skip=1", "$orderby=id", "$count=true", "$skiptoken=x"] {
        let e = query_err(entity, raw);
        assert_eq!(e.code, codes::INVALID, "{raw}");
        assert!(e.message.contains("does not apply to a single entity"), "{}", e.message);
    }
    let o = query(RUNS, entity, "$select=id&$expand=process($select=id)");
    assert!(o.select.is_some() && o.expand.is_some());
    for raw in ["$top=1", "$skip=1", "$orderby=id", "$count=true", "$select=id", "$expand=process", "$skiptoken=x"] {
        let e = query_err(Target::Count, raw);
        assert!(e.message.contains("does not apply to a /$count request"), "{}", e.message);
    }
    assert!(query(RUNS, Target::Count, "$filter=status eq 'failed'").filter.is_some());
    // Unknown options are reported even where no option applies.
    check(Target::Count, "$bogus=1", codes::UNKNOWN, "$bogus", None, "Unknown");
}

#[test]
fn query_on_other_sets() {
    let o = query(
        EntitySet::IncomingFlows,
        Target::Collection,
        "$filter=readinessStatus eq 'ready' and dataDomain eq microsoft.graph.industryData.incomingDomain'educationRostering'&$expand=runs($top=3;$orderby=startDateTime desc)&$select=id,dataDomain",
    );
    assert!(o.filter.is_some());
    let expand = o.expand.unwrap();
    assert_eq!((expand.navigation, expand.options.top), ("runs", Some(3)));
    let e = parse_query(EntitySet::OutgoingFlows, Target::Collection, Some("$select=dataDomain")).unwrap_err();
    assert_eq!(e.option, "$select");
}

// ---------------------------------------------------------------------------------------------
// Robustness

mod robustness {
    use proptest::prelude::*;

    use super::*;

    const VOCABULARY: &[&str] = &[
        "(",
        ")",
        " ",
        "  ",
        ",",
        "'",
        "''",
        "/",
        "-",
        ".",
        "$",
        "%",
        "&",
        "=",
        ";",
        "\t",
        "é",
        "☃",
        "and",
        "or",
        "not",
        "eq",
        "ne",
        "gt",
        "ge",
        "lt",
        "le",
        "in",
        "AND",
        "null",
        "true",
        "false",
        "status",
        "displayName",
        "startDateTime",
        "endDateTime",
        "blockingError/code",
        "process/id",
        "id",
        "foo",
        "'failed'",
        "'x'",
        "'it''s'",
        "'unknownFutureValue'",
        "1",
        "1.5",
        "-3",
        "1e400",
        "99999999999999999999",
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00.12345678+02:00",
        "2024-13-45T99:99Z",
        "2024-01-01",
        "contains",
        "startswith",
        "endswith",
        "tolower",
        "toupper",
        "isof",
        "length",
        "microsoft.graph.industryData.runStatus'failed'",
        "microsoft.graph.industryData.runGroup",
        "'microsoft.graph.industryData.runGroup'",
        "microsoft.graph.industryData.runStatus",
        "asc",
        "desc",
        "*",
        "runs",
        "process",
        "$filter",
        "$top",
        "filter",
    ];

    fn soup() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(VOCABULARY), 0..40).prop_flat_map(|tokens| {
            prop::collection::vec(prop::bool::ANY, tokens.len()).prop_map(move |spaces| {
                let mut out = String::new();
                for (t, sp) in tokens.iter().zip(spaces) {
                    out.push_str(t);
                    if sp {
                        out.push(' ');
                    }
                }
                out
            })
        })
    }

    /// Every parser, on every set and target: must return, never panic.
    fn exercise(text: &str) {
        for set in EntitySet::ALL {
            if let Ok(f) = parse_filter(set, text) {
                // Accepted filters are well-formed: a second parse of the same text agrees.
                assert_eq!(parse_filter(set, text).ok(), Some(f));
            } else if let Err(e) = parse_filter(set, text) {
                assert!(!e.message.is_empty());
                if let Some(p) = e.position {
                    assert!(p <= text.chars().count(), "{text:?}: position {p} past the end");
                }
            }
            let _ = parse_orderby(set, text);
            let _ = parse_select(set, text);
            let _ = parse_expand(set, text);
        }
        for target in [Target::Collection, Target::Entity, Target::Count] {
            let _ = parse_query(EntitySet::Runs, target, Some(text));
            let _ = parse_query(EntitySet::IncomingFlows, target, Some(&format!("$filter={text}&$expand=runs({text})")));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_strings_never_panic(text in any::<String>()) {
            exercise(&text);
        }

        #[test]
        fn token_soups_never_panic(text in soup()) {
            exercise(&text);
        }

        #[test]
        fn ascii_noise_never_panics(text in "[ -~]{0,80}") {
            exercise(&text);
        }
    }
}
