//! Grammar: every feature of $filter, its precedence and its errors.

use super::*;

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
    assert_eq!((e.code, e.position), (Code::InvalidQueryOption, Some(position)), "{text:?}: {e}");
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
