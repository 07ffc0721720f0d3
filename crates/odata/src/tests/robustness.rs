//! Robustness: arbitrary input never panics and always answers.

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
        let _ = parse_query(EntitySet::Runs, target, &QueryString::parse(Some(text)));
        let _ = parse_query(EntitySet::IncomingFlows, target, &QueryString::parse(Some(&format!("$filter={text}&$expand=runs({text})"))));
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
