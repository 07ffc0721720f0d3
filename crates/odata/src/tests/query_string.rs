//! The query string: options as a whole.

use super::*;

fn query(set: EntitySet, target: Target, raw: &str) -> QueryOptions {
    parse_query(set, target, &QueryString::parse(Some(raw))).unwrap_or_else(|e| panic!("{raw}: {e}"))
}

fn query_err(target: Target, raw: &str) -> QueryError {
    match parse_query(RUNS, target, &QueryString::parse(Some(raw))) {
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
    assert_eq!(o.expand.as_ref().map(|e| e.navigation()), Some("process"));
    assert_eq!((o.top, o.skip, o.skiptoken.as_deref(), o.count), (Some(10), Some(5), Some("abc="), true));
    assert!(!query(RUNS, Target::Collection, "$count=false").count);
    assert_eq!(parse_query(RUNS, Target::Collection, &QueryString::parse(None)).unwrap(), QueryOptions::default());
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
    let check = |target: Target, raw: &str, code: Code, option: &str, position: Option<usize>, fragment: &str| {
        let e = query_err(target, raw);
        assert_eq!((e.code, e.option.as_str(), e.position), (code, option, position), "{raw}: {e}");
        assert!(e.message.contains(fragment), "{raw}: {}", e.message);
        assert!(e.message.contains(option), "{raw}: {}", e.message);
    };
    let c = Target::Collection;
    check(c, "$foo=1", Code::UnknownQueryOption, "$foo", None, "Unknown query option '$foo'");
    check(c, "$Filter=id eq 'a'", Code::UnknownQueryOption, "$Filter", None, "did you mean '$filter'?");
    check(c, "$search=abc", Code::UnsupportedQueryOption, "$search", None, "not supported");
    check(c, "search=abc", Code::UnsupportedQueryOption, "$search", None, "not supported");
    check(c, "$apply=groupby((status))", Code::UnsupportedQueryOption, "$apply", None, "not supported");
    check(c, "$format=xml", Code::UnsupportedQueryOption, "$format", None, "only JSON");
    check(c, "$filter=id eq 'a'&filter=id eq 'b'", Code::InvalidQueryOption, "$filter", None, "more than once");
    check(c, "$top=1&$top=1", Code::InvalidQueryOption, "$top", None, "more than once");
    check(c, "$filter=", Code::InvalidQueryOption, "$filter", None, "empty");
    check(c, "$count", Code::InvalidQueryOption, "$count", None, "empty");
    check(c, "$top=0", Code::InvalidQueryOption, "$top", None, "from 1 to 999");
    check(c, "$top=1000", Code::InvalidQueryOption, "$top", None, "from 1 to 999");
    check(c, "$top=99999999999999999999", Code::InvalidQueryOption, "$top", None, "from 1 to 999");
    check(c, "$top=-1", Code::InvalidQueryOption, "$top", Some(0), "from 1 to 999");
    check(c, "$top=1x", Code::InvalidQueryOption, "$top", Some(1), "integer");
    check(c, "$skip=-1", Code::InvalidQueryOption, "$skip", Some(0), "non-negative integer");
    check(c, "$skip=99999999999999999999999", Code::InvalidQueryOption, "$skip", None, "too large");
    check(c, "$count=yes", Code::InvalidQueryOption, "$count", None, "true or false");
    check(c, "$count=True", Code::InvalidQueryOption, "$count", None, "true or false");
    check(c, "$filter=foo eq 1", Code::InvalidQueryOption, "$filter", Some(0), "unknown property 'foo'");
    check(c, "$filter=%FF", Code::InvalidQueryOption, "$filter", None, "UTF-8");
    check(c, "$orderby=foo", Code::InvalidQueryOption, "$orderby", Some(0), "not a known property");
    check(c, "$select=foo", Code::InvalidQueryOption, "$select", Some(0), "unknown property");
    check(c, "$expand=foo", Code::InvalidQueryOption, "$expand", Some(0), "not known");
    check(c, &format!("$filter={}", "not ".repeat(1100)), Code::QueryTooComplex, "$filter", Some(4096), "4096");
    // What the URL addresses decides what applies.
    let entity = Target::Entity;
    for raw in ["$filter=id eq 'a'", "$top=1", "$skip=1", "$orderby=id", "$count=true", "$skiptoken=x"] {
        let e = query_err(entity, raw);
        assert_eq!(e.code, Code::InvalidQueryOption, "{raw}");
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
    check(Target::Count, "$bogus=1", Code::UnknownQueryOption, "$bogus", None, "Unknown");
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
    assert!(matches!(&expand, Expand::Runs(nested) if nested.top == Some(3)), "{expand:?}");
    let e = parse_query(EntitySet::OutgoingFlows, Target::Collection, &QueryString::parse(Some("$select=dataDomain"))).unwrap_err();
    assert_eq!(e.option, "$select");
}
