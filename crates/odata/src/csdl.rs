//! `GET /$metadata`: the CSDL 4.0 XML of everything the service serves, written from the one
//! description in [`crate::schema`].

use std::fmt::Write;
use std::sync::LazyLock;

use crate::schema::{
    self, ComplexType, EntityType, GRAPH_NAMESPACE, INDUSTRY_DATA_ROOT, NAMESPACE, NavigationProperty, PropType, Property,
};

const EDMX_NS: &str = "http://docs.oasis-open.org/odata/ns/edmx";
const EDM_NS: &str = "http://docs.oasis-open.org/odata/ns/edm";

/// The name of the entity container (as in Microsoft Graph).
pub const CONTAINER_NAME: &str = "GraphService";
/// The singleton every URL starts from.
pub const SINGLETON_NAME: &str = "industryData";

/// A bound operation: `runNow` (action) and `getErrorsAndWarningsFile` (function).
struct Operation {
    kind: &'static str,
    name: &'static str,
    binding: &'static str,
    returns: &'static str,
}

const OPERATIONS: &[Operation] = &[
    Operation {
        kind: "Action",
        name: "runNow",
        binding: "microsoft.graph.industryData.incomingFlow",
        returns: "microsoft.graph.industryData.incomingFlowRun",
    },
    Operation {
        kind: "Function",
        name: "getErrorsAndWarningsFile",
        binding: "microsoft.graph.industryData.runGroup",
        returns: "Edm.String",
    },
    // The published operations on `external/industryData/runs`.
    Operation {
        kind: "Function",
        name: "getStatistics",
        binding: "microsoft.graph.industryData.industryDataRun",
        returns: "microsoft.graph.industryData.industryDataRunStatistics",
    },
    Operation {
        kind: "Function",
        name: "getStatistics",
        binding: "Collection(microsoft.graph.industryData.industryDataRun)",
        returns: "microsoft.graph.industryData.industryDataRunStatistics",
    },
    // 202 Accepted with `Location`, no body.
    Operation { kind: "Action", name: "start", binding: "Collection(microsoft.graph.industryData.industryDataRun)", returns: "" },
];

/// `delta` (Graph's own function, in the `microsoft.graph` namespace), bound to each collection
/// whose changes are tracked: the runs and the two flow sets (docs/change-tracking.md).
const DELTA_OPERATIONS: &[Operation] = &[
    Operation {
        kind: "Function",
        name: "delta",
        binding: "Collection(microsoft.graph.industryData.run)",
        returns: "Collection(microsoft.graph.industryData.run)",
    },
    Operation {
        kind: "Function",
        name: "delta",
        binding: "Collection(microsoft.graph.industryData.incomingFlow)",
        returns: "Collection(microsoft.graph.industryData.incomingFlow)",
    },
    Operation {
        kind: "Function",
        name: "delta",
        binding: "Collection(microsoft.graph.industryData.outgoingFlow)",
        returns: "Collection(microsoft.graph.industryData.outgoingFlow)",
    },
];

static METADATA: LazyLock<String> = LazyLock::new(build);

/// The CSDL document (built once).
pub fn metadata_xml() -> String {
    METADATA.clone()
}

/// Escapes text for an XML attribute value.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn type_name(ty: PropType) -> String {
    match ty {
        PropType::Primitive(t) => schema::edm_type_name(t),
        PropType::Complex(q) => q.to_owned(),
        PropType::ComplexCollection(q) => format!("Collection({q})"),
    }
}

fn property(out: &mut String, p: &Property) {
    let nullable = if p.nullable { "" } else { " Nullable=\"false\"" };
    let _ = writeln!(out, "        <Property Name=\"{}\" Type=\"{}\"{nullable} />", esc(p.name), esc(&type_name(p.ty)));
}

fn navigation(out: &mut String, n: &NavigationProperty) {
    let ty = if n.collection { format!("Collection({})", n.target) } else { n.target.to_owned() };
    let contains = if n.contains_target { " ContainsTarget=\"true\"" } else { "" };
    let _ = writeln!(out, "        <NavigationProperty Name=\"{}\" Type=\"{}\"{contains} />", esc(n.name), esc(&ty));
}

fn entity_type(out: &mut String, t: &EntityType) {
    let base = t.base.map(|b| format!(" BaseType=\"{}\"", esc(b))).unwrap_or_default();
    let abstract_ = if t.is_abstract { " Abstract=\"true\"" } else { "" };
    let _ = writeln!(out, "      <EntityType Name=\"{}\"{base}{abstract_}>", esc(t.name()));
    // Only the root of the hierarchy declares the key.
    if t.base.is_none() {
        out.push_str("        <Key><PropertyRef Name=\"id\" /></Key>\n");
    }
    for p in t.properties {
        property(out, p);
    }
    for n in t.navigations {
        navigation(out, n);
    }
    out.push_str("      </EntityType>\n");
}

fn complex_type(out: &mut String, t: &ComplexType) {
    let open = if t.open { " OpenType=\"true\"" } else { "" };
    let _ = writeln!(out, "      <ComplexType Name=\"{}\"{open}>", esc(t.name()));
    for p in t.properties {
        property(out, p);
    }
    out.push_str("      </ComplexType>\n");
}

fn operation(out: &mut String, op: &Operation) {
    let _ = writeln!(out, "      <{} Name=\"{}\" IsBound=\"true\">", op.kind, op.name);
    let _ = writeln!(out, "        <Parameter Name=\"bindingParameter\" Type=\"{}\" Nullable=\"false\" />", op.binding);
    if !op.returns.is_empty() {
        let _ = writeln!(out, "        <ReturnType Type=\"{}\" Nullable=\"false\" />", op.returns);
    }
    let _ = writeln!(out, "      </{}>", op.kind);
}

fn build() -> String {
    let mut out = String::with_capacity(8 * 1024);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    let _ = writeln!(out, "<edmx:Edmx Version=\"4.0\" xmlns:edmx=\"{EDMX_NS}\">");
    out.push_str("  <edmx:DataServices>\n");
    for namespace in [GRAPH_NAMESPACE, NAMESPACE] {
        let _ = writeln!(out, "    <Schema Namespace=\"{namespace}\" xmlns=\"{EDM_NS}\">");
        if namespace == NAMESPACE {
            for e in schema::ENUM_TYPES {
                let _ = writeln!(out, "      <EnumType Name=\"{}\">", esc(e.name));
                for (value, member) in e.members.iter().enumerate() {
                    let _ = writeln!(out, "        <Member Name=\"{}\" Value=\"{value}\" />", esc(member));
                }
                out.push_str("      </EnumType>\n");
            }
        }
        for t in schema::COMPLEX_TYPES.iter().filter(|t| t.namespace() == namespace) {
            complex_type(&mut out, t);
        }
        for t in schema::ENTITY_TYPES.iter().filter(|t| t.namespace() == namespace) {
            entity_type(&mut out, t);
        }
        if namespace == NAMESPACE {
            for op in OPERATIONS {
                operation(&mut out, op);
            }
        } else {
            for op in DELTA_OPERATIONS {
                operation(&mut out, op);
            }
            let _ = writeln!(out, "      <EntityContainer Name=\"{CONTAINER_NAME}\">");
            let _ = writeln!(out, "        <Singleton Name=\"{SINGLETON_NAME}\" Type=\"{INDUSTRY_DATA_ROOT}\" />");
            // `external/industryData/runs`, the published Graph paths.
            let _ = writeln!(out, "        <Singleton Name=\"external\" Type=\"{}\" />", schema::EXTERNAL_ROOT);
            out.push_str("      </EntityContainer>\n");
        }
        out.push_str("    </Schema>\n");
    }
    out.push_str("  </edmx:DataServices>\n</edmx:Edmx>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use roxmltree::{Document, Node};

    fn children<'a, 'i>(node: Node<'a, 'i>, tag: &'a str) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
        node.children().filter(move |n| n.has_tag_name((EDM_NS, tag)))
    }

    fn named<'a, 'i>(node: Node<'a, 'i>, tag: &'a str, name: &str) -> Node<'a, 'i> {
        children(node, tag).find(|n| n.attribute("Name") == Some(name)).unwrap_or_else(|| panic!("no {tag} named {name}"))
    }

    fn prop<'a, 'i>(ty: Node<'a, 'i>, name: &str) -> (String, Option<String>) {
        let p = named(ty, "Property", name);
        (p.attribute("Type").unwrap().to_owned(), p.attribute("Nullable").map(str::to_owned))
    }

    #[test]
    fn metadata_declares_everything() {
        let xml = metadata_xml();
        let doc = Document::parse(&xml).expect("well-formed XML");
        let root = doc.root_element();
        assert!(root.has_tag_name((EDMX_NS, "Edmx")));
        assert_eq!(root.attribute("Version"), Some("4.0"));
        let services = root.children().find(|n| n.has_tag_name((EDMX_NS, "DataServices"))).unwrap();
        let schema_of = |ns: &str| children(services, "Schema").find(|s| s.attribute("Namespace") == Some(ns)).unwrap();
        let graph = schema_of("microsoft.graph");
        let idata = schema_of("microsoft.graph.industryData");

        // microsoft.graph
        let entity = named(graph, "EntityType", "entity");
        assert_eq!(entity.attribute("Abstract"), Some("true"));
        let key = entity.children().find(|n| n.has_tag_name((EDM_NS, "Key"))).unwrap();
        assert_eq!(children(key, "PropertyRef").next().unwrap().attribute("Name"), Some("id"));
        assert_eq!(prop(entity, "id"), ("Edm.String".into(), Some("false".into())));
        let public_error = named(graph, "ComplexType", "publicError");
        for m in ["code", "message", "target"] {
            assert_eq!(prop(public_error, m).0, "Edm.String");
        }
        assert_eq!(prop(public_error, "details").0, "Collection(microsoft.graph.publicErrorDetail)");
        assert_eq!(prop(public_error, "innerError").0, "microsoft.graph.publicInnerError");
        let detail = named(graph, "ComplexType", "publicErrorDetail");
        for m in ["code", "message", "target"] {
            prop(detail, m);
        }
        let inner = named(graph, "ComplexType", "publicInnerError");
        for m in ["code", "message", "target", "details"] {
            prop(inner, m);
        }
        let container = children(graph, "EntityContainer").next().unwrap();
        let singleton = named(container, "Singleton", "industryData");
        assert_eq!(singleton.attribute("Type"), Some("microsoft.graph.industryData.industryDataRoot"));

        // Enums, with values in member order and the sentinel last.
        for (name, members) in [
            ("runStatus", &["running", "failed", "completed", "completedWithErrors", "completedWithWarnings", "unknownFutureValue"][..]),
            ("readinessStatus", &["notReady", "ready", "failed", "disabled", "expired", "unknownFutureValue"][..]),
            ("incomingDomain", &["educationRostering", "unknownFutureValue"][..]),
        ] {
            let e = named(idata, "EnumType", name);
            let declared: Vec<(&str, &str)> =
                children(e, "Member").map(|m| (m.attribute("Name").unwrap(), m.attribute("Value").unwrap())).collect();
            let expected: Vec<(&str, String)> = members.iter().enumerate().map(|(i, m)| (*m, i.to_string())).collect();
            assert_eq!(declared.len(), expected.len(), "{name}");
            for ((dn, dv), (en, ev)) in declared.iter().zip(&expected) {
                assert_eq!((*dn, *dv), (*en, ev.as_str()));
            }
        }
        assert_eq!(named(idata, "ComplexType", "runStatistics").attribute("OpenType"), Some("true"));

        // Processes.
        let process = named(idata, "EntityType", "process");
        assert_eq!(process.attribute("Abstract"), Some("true"));
        assert_eq!(process.attribute("BaseType"), Some("microsoft.graph.mutableEntity"));
        assert_eq!(named(graph, "EntityType", "mutableEntity").attribute("BaseType"), Some("microsoft.graph.entity"));
        assert_eq!(prop(process, "displayName"), ("Edm.String".into(), Some("false".into())));
        assert_eq!(prop(process, "eTag").0, "Edm.String");
        assert_eq!(prop(process, "readinessStatus").0, "microsoft.graph.industryData.readinessStatus");
        assert_eq!(named(process, "NavigationProperty", "runs").attribute("Type"), Some("Collection(microsoft.graph.industryData.run)"));
        let incoming = named(idata, "EntityType", "incomingFlow");
        assert_eq!(incoming.attribute("BaseType"), Some("microsoft.graph.industryData.process"));
        assert_eq!(prop(incoming, "dataDomain"), ("microsoft.graph.industryData.incomingDomain".into(), None));
        assert_eq!(prop(incoming, "recurrenceEffectiveDateTime"), ("Edm.DateTimeOffset".into(), None));
        assert_eq!(prop(incoming, "recurrenceExpirationDateTime"), ("Edm.DateTimeOffset".into(), None));
        let outgoing = named(idata, "EntityType", "outgoingFlow");
        assert_eq!(outgoing.attribute("BaseType"), Some("microsoft.graph.industryData.process"));

        // Runs.
        let run = named(idata, "EntityType", "run");
        assert_eq!(run.attribute("Abstract"), Some("true"));
        assert_eq!(run.attribute("BaseType"), Some("microsoft.graph.entity"));
        assert_eq!(prop(run, "displayName"), ("Edm.String".into(), Some("false".into())));
        assert_eq!(prop(run, "startDateTime"), ("Edm.DateTimeOffset".into(), Some("false".into())));
        assert_eq!(prop(run, "endDateTime"), ("Edm.DateTimeOffset".into(), None));
        assert_eq!(prop(run, "status"), ("microsoft.graph.industryData.runStatus".into(), Some("false".into())));
        assert_eq!(prop(run, "blockingError"), ("microsoft.graph.publicError".into(), None));
        assert_eq!(prop(run, "statistics").0, "microsoft.graph.industryData.runStatistics");
        assert_eq!(named(run, "NavigationProperty", "process").attribute("Type"), Some("microsoft.graph.industryData.process"));
        for kind in ["incomingFlowRun", "outgoingFlowRun", "runGroup"] {
            let t = named(idata, "EntityType", kind);
            assert_eq!(t.attribute("BaseType"), Some("microsoft.graph.industryData.run"), "{kind}");
            assert_eq!(t.attribute("Abstract"), None, "{kind}");
        }
        let group = named(idata, "EntityType", "runGroup");
        assert_eq!(named(group, "NavigationProperty", "runs").attribute("Type"), Some("Collection(microsoft.graph.industryData.run)"));

        // The root.
        let root_type = named(idata, "EntityType", "industryDataRoot");
        for (nav, target) in
            [("incomingFlows", "incomingFlow"), ("outgoingFlows", "outgoingFlow"), ("runs", "run"), ("runGroups", "runGroup")]
        {
            let n = named(root_type, "NavigationProperty", nav);
            assert_eq!(n.attribute("Type"), Some(format!("Collection(microsoft.graph.industryData.{target})").as_str()));
            assert_eq!(n.attribute("ContainsTarget"), Some("true"));
        }

        // Operations.
        let run_now = named(idata, "Action", "runNow");
        assert_eq!(run_now.attribute("IsBound"), Some("true"));
        let binding = children(run_now, "Parameter").next().unwrap();
        assert_eq!(binding.attribute("Type"), Some("microsoft.graph.industryData.incomingFlow"));
        let returns = children(run_now, "ReturnType").next().unwrap();
        assert_eq!(returns.attribute("Type"), Some("microsoft.graph.industryData.incomingFlowRun"));
        let file = named(idata, "Function", "getErrorsAndWarningsFile");
        assert_eq!(file.attribute("IsBound"), Some("true"));
        assert_eq!(children(file, "Parameter").next().unwrap().attribute("Type"), Some("microsoft.graph.industryData.runGroup"));
        assert_eq!(children(file, "ReturnType").next().unwrap().attribute("Type"), Some("Edm.String"));

        // delta, bound to each tracked collection, returning it.
        let deltas: Vec<_> = children(graph, "Function").filter(|f| f.attribute("Name") == Some("delta")).collect();
        for set in ["run", "incomingFlow", "outgoingFlow"] {
            let ty = format!("Collection(microsoft.graph.industryData.{set})");
            let f = deltas
                .iter()
                .find(|f| children(**f, "Parameter").next().unwrap().attribute("Type") == Some(ty.as_str()))
                .unwrap_or_else(|| panic!("no delta bound to {ty}"));
            assert_eq!(f.attribute("IsBound"), Some("true"));
            assert_eq!(children(*f, "ReturnType").next().unwrap().attribute("Type"), Some(ty.as_str()));
        }
    }

    #[test]
    fn every_referenced_type_is_declared() {
        let xml = metadata_xml();
        let doc = Document::parse(&xml).unwrap();
        let mut declared = std::collections::HashSet::new();
        for schema in doc.descendants().filter(|n| n.has_tag_name((EDM_NS, "Schema"))) {
            let ns = schema.attribute("Namespace").unwrap();
            for t in
                schema.children().filter(|n| ["EntityType", "ComplexType", "EnumType"].iter().any(|tag| n.has_tag_name((EDM_NS, *tag))))
            {
                declared.insert(format!("{ns}.{}", t.attribute("Name").unwrap()));
            }
        }
        for node in doc.descendants() {
            for attr in ["Type", "BaseType"] {
                let Some(ty) = node.attribute(attr) else {
                    continue;
                };
                let ty = ty.strip_prefix("Collection(").and_then(|t| t.strip_suffix(')')).unwrap_or(ty);
                assert!(ty.starts_with("Edm.") || declared.contains(ty), "{ty} is not declared");
            }
        }
    }
}
