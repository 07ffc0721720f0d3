//! $orderby, $select and $expand.

use super::*;

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
    assert_eq!((e.code, e.option.as_str(), e.position), (Code::InvalidQueryOption, "$orderby", Some(33)));
    assert!(e.message.contains("more than once"), "{}", e.message);
    let bad = |text: &str, position: usize, fragment: &str| {
        let e = parse_orderby(RUNS, text).unwrap_err();
        assert_eq!((e.code, e.option.as_str(), e.position), (Code::InvalidQueryOption, "$orderby", Some(position)), "{text}: {e}");
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
        assert_eq!((e.code, e.option.as_str(), e.position), (Code::InvalidQueryOption, "$select", Some(position)), "{text}: {e}");
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
    assert_eq!(e, Expand::Process(Box::default()));
    let e = parse_expand(RUNS, "process($select=id,displayName;$filter=readinessStatus eq 'ready')").unwrap();
    assert_eq!(e.options().select, Some(vec!["id", "displayName"]));
    assert_eq!(e.options().filter, Some(cmp(CmpOp::Eq, prop("readinessStatus"), lit(Value::Enum(Some(1))))));
    let e = parse_expand(
        EntitySet::IncomingFlows,
        "runs($filter=status eq 'failed' and displayName eq 'a;b)';top=5;$orderby=startDateTime desc;select=id)",
    )
    .unwrap();
    assert!(matches!(e, Expand::Runs(_)), "{e:?}");
    assert_eq!(e.options().top, Some(5));
    assert_eq!(e.options().orderby.len(), 1);
    assert_eq!(e.options().select, Some(vec!["id"]));
    assert!(e.options().filter.is_some());
    assert_eq!(parse_expand(EntitySet::RunGroups, "runs").unwrap(), Expand::Runs(Box::default()));
    assert_eq!(parse_expand(EntitySet::OutgoingFlows, " runs ").unwrap().navigation(), "runs");
}

#[test]
fn expand_errors() {
    let bad = |set: EntitySet, text: &str, code: Code, position: usize, fragment: &str| {
        let e = parse_expand(set, text).unwrap_err();
        assert_eq!((e.code, e.option.as_str(), e.position), (code, "$expand", Some(position)), "{text}: {e}");
        assert!(e.message.contains(fragment), "{text}: {}", e.message);
    };
    bad(RUNS, "runs", Code::InvalidQueryOption, 0, "'runs' is not known; navigation properties that can be expanded: process");
    bad(RUNS, "status", Code::InvalidQueryOption, 0, "not a navigation property");
    bad(EntitySet::RunGroups, "runs,process", Code::InvalidQueryOption, 5, "only one navigation property");
    bad(RUNS, "*", Code::InvalidQueryOption, 0, "$expand=* is not supported");
    bad(RUNS, "process/$ref", Code::UnsupportedQueryOption, 7, "not supported");
    bad(RUNS, "process(", Code::InvalidQueryOption, 7, "never closed");
    bad(RUNS, "process)", Code::InvalidQueryOption, 7, "unbalanced ')'");
    bad(RUNS, "process x", Code::InvalidQueryOption, 7, "expected '('");
    bad(RUNS, "process($top=1)", Code::InvalidQueryOption, 8, "'$top' is not allowed inside $expand=process(…); allowed: $select, $filter");
    bad(EntitySet::IncomingFlows, "runs($skip=1)", Code::InvalidQueryOption, 5, "'$skip' is not allowed");
    bad(EntitySet::IncomingFlows, "runs($expand=process)", Code::InvalidQueryOption, 5, "not allowed");
    bad(EntitySet::IncomingFlows, "runs($foo=1)", Code::UnknownQueryOption, 5, "not allowed");
    bad(EntitySet::IncomingFlows, "runs($top=1;$top=2)", Code::InvalidQueryOption, 12, "more than once");
    bad(EntitySet::IncomingFlows, "runs($top)", Code::InvalidQueryOption, 5, "expected name=value");
    bad(EntitySet::IncomingFlows, "runs($top=)", Code::InvalidQueryOption, 10, "empty");
    bad(EntitySet::IncomingFlows, "runs($top=1000)", Code::InvalidQueryOption, 10, "nested $top of 'runs': must be from 1 to 999");
    // Nested errors point into the $expand value.
    bad(EntitySet::IncomingFlows, "runs($filter=status gt 'failed')", Code::InvalidQueryOption, 20, "in the nested $filter of 'runs'");
    bad(EntitySet::IncomingFlows, "runs($select=id;$orderby=foo)", Code::InvalidQueryOption, 25, "'foo' is not a known property");
    bad(
        EntitySet::IncomingFlows,
        "runs($filter=readinessStatus eq 'ready')",
        Code::InvalidQueryOption,
        13,
        "unknown property 'readinessStatus'",
    );
    bad(EntitySet::IncomingFlows, "runs($filter='unterminated)", Code::InvalidQueryOption, 13, "unterminated");
    let e = parse_expand(EntitySet::IncomingFlows, &format!("runs($filter={})", "not ".repeat(40) + "true")).unwrap_err();
    assert_eq!(e.code, Code::QueryTooComplex);
}
