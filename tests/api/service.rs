//! The service's own resources: the service document, `$metadata` (CSDL), `/healthz` and `/livez`.

use roxmltree::{Document, Node};
use serde_json::json;

use crate::helpers::{NS, TestApp};

#[tokio::test]
async fn service_document_lists_the_industry_data_singleton() {
    let app = TestApp::spawn().await;
    for path in ["/beta", "/beta/"] {
        let r = app.get(path).await;
        r.assert_status(200);
        assert_eq!(r.header("content-type").as_deref(), Some("application/json;odata.metadata=minimal"));
        assert_eq!(
            r.json(),
            json!({
                "@odata.context": app.beta("$metadata"),
                "value": [{"name": "industryData", "kind": "Singleton", "url": "industryData"}]
            })
        );
    }
}

#[tokio::test]
async fn healthz_answers_200() {
    let app = TestApp::spawn().await;
    let r = app.get("/healthz").await;
    r.assert_status(200);
    assert_eq!(r.json(), json!({"status": "healthy"}));
}

const EDMX: &str = "http://docs.oasis-open.org/odata/ns/edmx";
const EDM: &str = "http://docs.oasis-open.org/odata/ns/edm";

fn kids<'a, 'i>(node: Node<'a, 'i>, tag: &'static str) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(move |n| n.has_tag_name((EDM, tag)))
}

#[track_caller]
fn named<'a, 'i>(node: Node<'a, 'i>, tag: &'static str, name: &str) -> Node<'a, 'i> {
    kids(node, tag).find(|n| n.attribute("Name") == Some(name)).unwrap_or_else(|| panic!("no {tag} named {name}"))
}

fn names(node: Node<'_, '_>, tag: &'static str) -> Vec<(String, String)> {
    kids(node, tag).map(|n| (n.attribute("Name").unwrap().to_owned(), n.attribute("Type").unwrap().to_owned())).collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

#[tokio::test]
async fn metadata_is_csdl_declaring_every_type_enum_property_and_operation() {
    let app = TestApp::spawn().await;
    let r = app.get("/beta/$metadata").await;
    r.assert_status(200);
    assert!(r.header("content-type").unwrap().starts_with("application/xml"));
    let doc = Document::parse(&r.text).expect("well-formed XML");
    let root = doc.root_element();
    assert!(root.has_tag_name((EDMX, "Edmx")));
    assert_eq!(root.attribute("Version"), Some("4.0"));
    let services = root.children().find(|n| n.has_tag_name((EDMX, "DataServices"))).expect("DataServices");
    let schema =
        |ns: &str| kids(services, "Schema").find(|s| s.attribute("Namespace") == Some(ns)).unwrap_or_else(|| panic!("no schema {ns}"));
    let graph = schema("microsoft.graph");
    let idata = schema(NS);

    // Enums: members in order, with their values.
    for (name, members) in [
        ("runStatus", &["running", "failed", "completed", "completedWithErrors", "completedWithWarnings", "unknownFutureValue"][..]),
        ("readinessStatus", &["notReady", "ready", "failed", "disabled", "expired", "unknownFutureValue"][..]),
        ("incomingDomain", &["educationRostering", "unknownFutureValue"][..]),
    ] {
        let declared: Vec<(String, String)> = kids(named(idata, "EnumType", name), "Member")
            .map(|m| (m.attribute("Name").unwrap().to_owned(), m.attribute("Value").unwrap().to_owned()))
            .collect();
        let expected: Vec<(String, String)> = members.iter().enumerate().map(|(i, m)| ((*m).to_owned(), i.to_string())).collect();
        assert_eq!(declared, expected, "{name}");
    }

    // Complex types.
    let public_error = named(graph, "ComplexType", "publicError");
    assert_eq!(
        names(public_error, "Property"),
        pairs(&[
            ("code", "Edm.String"),
            ("message", "Edm.String"),
            ("target", "Edm.String"),
            ("details", "Collection(microsoft.graph.publicErrorDetail)"),
            ("innerError", "microsoft.graph.publicInnerError"),
        ])
    );
    assert_eq!(
        names(named(graph, "ComplexType", "publicErrorDetail"), "Property"),
        pairs(&[("code", "Edm.String"), ("message", "Edm.String"), ("target", "Edm.String")])
    );
    assert_eq!(
        names(named(graph, "ComplexType", "publicInnerError"), "Property"),
        pairs(&[
            ("code", "Edm.String"),
            ("message", "Edm.String"),
            ("target", "Edm.String"),
            ("details", "Collection(microsoft.graph.publicErrorDetail)")
        ])
    );
    assert_eq!(named(idata, "ComplexType", "runStatistics").attribute("OpenType"), Some("true"));

    // Entity types: (schema, name, base, abstract, properties, navigations).
    let run_props = [
        ("displayName", "Edm.String"),
        ("startDateTime", "Edm.DateTimeOffset"),
        ("endDateTime", "Edm.DateTimeOffset"),
        ("status", "microsoft.graph.industryData.runStatus"),
        ("blockingError", "microsoft.graph.publicError"),
        ("statistics", "microsoft.graph.industryData.runStatistics"),
    ];
    /// (schema, name, base type, abstract, properties, navigation properties)
    type Declared<'a> = (Node<'a, 'a>, &'a str, Option<&'a str>, bool, Vec<(&'a str, &'a str)>, Vec<(&'a str, &'a str)>);
    let types: Vec<Declared<'_>> = vec![
        (graph, "entity", None, true, vec![("id", "Edm.String")], vec![]),
        (graph, "mutableEntity", Some("microsoft.graph.entity"), true, vec![], vec![]),
        (
            idata,
            "process",
            Some("microsoft.graph.mutableEntity"),
            true,
            vec![
                ("eTag", "Edm.String"),
                ("displayName", "Edm.String"),
                ("readinessStatus", "microsoft.graph.industryData.readinessStatus"),
            ],
            vec![("runs", "Collection(microsoft.graph.industryData.run)")],
        ),
        (
            idata,
            "incomingFlow",
            Some("microsoft.graph.industryData.process"),
            false,
            vec![
                ("dataDomain", "microsoft.graph.industryData.incomingDomain"),
                ("recurrenceEffectiveDateTime", "Edm.DateTimeOffset"),
                ("recurrenceExpirationDateTime", "Edm.DateTimeOffset"),
            ],
            vec![],
        ),
        (idata, "outgoingFlow", Some("microsoft.graph.industryData.process"), false, vec![], vec![]),
        (idata, "run", Some("microsoft.graph.entity"), true, run_props.to_vec(), vec![("process", "microsoft.graph.industryData.process")]),
        (idata, "incomingFlowRun", Some("microsoft.graph.industryData.run"), false, vec![], vec![]),
        (idata, "outgoingFlowRun", Some("microsoft.graph.industryData.run"), false, vec![], vec![]),
        (
            idata,
            "runGroup",
            Some("microsoft.graph.industryData.run"),
            false,
            vec![],
            vec![("runs", "Collection(microsoft.graph.industryData.run)")],
        ),
        (
            idata,
            "industryDataRoot",
            Some("microsoft.graph.entity"),
            false,
            vec![],
            vec![
                ("incomingFlows", "Collection(microsoft.graph.industryData.incomingFlow)"),
                ("outgoingFlows", "Collection(microsoft.graph.industryData.outgoingFlow)"),
                ("runs", "Collection(microsoft.graph.industryData.run)"),
                ("runGroups", "Collection(microsoft.graph.industryData.runGroup)"),
            ],
        ),
    ];
    for (schema, name, base, is_abstract, props, navs) in &types {
        let t = named(*schema, "EntityType", name);
        assert_eq!(t.attribute("BaseType"), *base, "{name}");
        assert_eq!(t.attribute("Abstract") == Some("true"), *is_abstract, "{name}");
        assert_eq!(names(t, "Property"), pairs(props), "{name} properties");
        assert_eq!(names(t, "NavigationProperty"), pairs(navs), "{name} navigations");
    }
    // The key is declared once, on entity.
    let key = kids(named(graph, "EntityType", "entity"), "Key").next().expect("entity has a Key");
    assert_eq!(kids(key, "PropertyRef").map(|p| p.attribute("Name").unwrap()).collect::<Vec<_>>(), ["id"]);
    // The root's collections are contained, so they are addressable below the singleton.
    for nav in kids(named(idata, "EntityType", "industryDataRoot"), "NavigationProperty") {
        assert_eq!(nav.attribute("ContainsTarget"), Some("true"), "{:?}", nav.attribute("Name"));
    }

    // The singleton.
    let container = kids(graph, "EntityContainer").chain(kids(idata, "EntityContainer")).next().expect("an EntityContainer");
    assert_eq!(named(container, "Singleton", "industryData").attribute("Type"), Some("microsoft.graph.industryData.industryDataRoot"));

    // The bound action and function.
    for (tag, name, binding, returns) in [
        ("Action", "runNow", "microsoft.graph.industryData.incomingFlow", "microsoft.graph.industryData.incomingFlowRun"),
        ("Function", "getErrorsAndWarningsFile", "microsoft.graph.industryData.runGroup", "Edm.String"),
    ] {
        let op = named(idata, tag, name);
        assert_eq!(op.attribute("IsBound"), Some("true"), "{name}");
        assert_eq!(kids(op, "Parameter").next().and_then(|p| p.attribute("Type")), Some(binding), "{name}");
        assert_eq!(kids(op, "ReturnType").next().and_then(|p| p.attribute("Type")), Some(returns), "{name}");
    }

    // Every referenced type is declared.
    let mut declared = std::collections::HashSet::new();
    for s in kids(services, "Schema") {
        let ns = s.attribute("Namespace").unwrap();
        for t in s.children().filter(|n| n.is_element() && ["EntityType", "ComplexType", "EnumType"].contains(&n.tag_name().name())) {
            declared.insert(format!("{ns}.{}", t.attribute("Name").unwrap()));
        }
    }
    for node in doc.descendants() {
        for attr in ["Type", "BaseType"] {
            let Some(ty) = node.attribute(attr) else { continue };
            let ty = ty.strip_prefix("Collection(").and_then(|t| t.strip_suffix(')')).unwrap_or(ty);
            assert!(ty.starts_with("Edm.") || declared.contains(ty), "{ty} is not declared");
        }
    }
}

/// `/livez` answers without touching the store: the liveness probe, and the benchmarks' ceiling.
#[tokio::test]
async fn livez_answers_without_the_store() {
    let app = TestApp::spawn().await;
    let r = app.get("/livez").await;
    r.assert_status(200);
    assert_eq!(r.json()["status"], "live");
    assert!(r.header("request-id").is_some());
}
