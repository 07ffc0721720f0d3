//! Property-based fuzzing of body decoding — whatever bytes or JSON a client sends,
//! `runhub_model::decode` answers Ok or a FieldError that names a code and a message — it never
//! panics — and whatever it accepts satisfies the model's invariants.

use proptest::prelude::*;
use runhub_model::decode::{
    KindRule, decode_new_process, decode_new_run, decode_process_patch, decode_reference, decode_run_patch, parse_object,
};
use runhub_model::{FieldError, ProcessKind, RunKind, RunStatus, Timestamp};
use serde_json::{Map, Value, json};

const KEYS: &[&str] = &[
    "displayName",
    "status",
    "startDateTime",
    "endDateTime",
    "blockingError",
    "statistics",
    "@odata.type",
    "process@odata.bind",
    "readinessStatus",
    "dataDomain",
    "recurrenceEffectiveDateTime",
    "recurrenceExpirationDateTime",
    "@odata.id",
    "@odata.etag",
    "@odata.context",
    "id",
    "eTag",
    "runs",
    "process",
    "memberRuns",
    "code",
    "message",
    "target",
    "details",
    "innerError",
    "",
    "DisplayName",
    "displayname",
    "status\u{0}",
    "@odata.type ",
];

/// Strings a hostile client would send: edge-case unicode, injections, lookalikes, long runs.
fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\PC]{0,300}",
        Just(String::new()),
        Just(" \t\n ".into()),
        Just("x".repeat(257)),
        Just("é".repeat(256)),
        Just("\u{FEFF}\u{200B}\u{202E}abc".into()),
        Just("🏳️‍🌈".repeat(100)),
        Just("'; DROP TABLE runs; --".into()),
        Just("../../etc/passwd".into()),
        Just("\u{0}".into()),
        Just("\u{D7FF}\u{E000}\u{10FFFF}".into()),
        Just("running".into()),
        Just("unknownFutureValue".into()),
        Just("completedWithWarnings".into()),
        Just("ready".into()),
        Just("educationRostering".into()),
        Just("#microsoft.graph.industryData.incomingFlowRun".into()),
        Just("#microsoft.graph.industryData.runGroup".into()),
        Just("microsoft.graph.industryData.outgoingFlowRun".into()),
        Just("2024-02-29T23:59:59.9999999+14:00".into()),
        Just("2024-13-01T00:00:00Z".into()),
        Just("0000-01-01T00:00:00Z".into()),
        Just("9999-12-31T23:59:59.9999999-14:00".into()),
        Just("2024-01-01T00:00:00.12345678901234567890Z".into()),
        Just("https://x/beta/industryData/incomingFlows/7f3c8c9e-4a3e-4a39-9a77-1d3c6f0b1a20".into()),
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        // Huge and odd literals, kept exactly under arbitrary_precision.
        "-?[0-9]{1,400}(\\.[0-9]{1,50})?([eE][+-]?[0-9]{1,5})?".prop_map(|s| serde_json::from_str(&s).unwrap_or(Value::Null)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![Just(Value::Null), any::<bool>().prop_map(Value::Bool), number(), nasty_string().prop_map(Value::String)];
    leaf.prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((prop_oneof![prop::sample::select(KEYS).prop_map(str::to_owned), nasty_string()], inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// An object with mostly the real property names, each with any value.
fn body() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((prop::sample::select(KEYS).prop_map(str::to_owned), prop_oneof![3 => plausible(), 2 => json_value()]), 0..10)
        .prop_map(|kv| kv.into_iter().collect())
}

/// Values that often pass the type checks, so that decoding gets deep.
fn plausible() -> impl Strategy<Value = Value> {
    prop_oneof![
        nasty_string().prop_map(Value::String),
        Just(json!({"code": "E1", "message": "m", "details": [{"code": "d", "message": "x", "target": "t"}]})),
        Just(json!({"rows": 1, "nested": {"a": [1, 2, {"b": null}]}})),
        Just(json!({"memberRuns": {"total": 1}})),
        Just(json!({"@odata.type": "#microsoft.graph.industryData.runStatistics", "x": 1})),
        Just(Value::Null),
    ]
}

fn check_error(e: &FieldError) {
    assert_eq!(e.code.status(), 400, "a body mistake is a 400: {e:?}");
    assert!(!e.message.is_empty());
}

fn check<T>(result: Result<T, FieldError>, ok: impl FnOnce(T)) {
    match result {
        Ok(v) => ok(v),
        Err(e) => check_error(&e),
    }
}

fn check_name(name: &str) {
    assert_eq!(name, name.trim());
    assert!(!name.is_empty());
    assert!(name.chars().count() <= 256);
}

fn check_all(body: &Map<String, Value>) {
    for rule in [
        KindRule::Required,
        KindRule::Implied(RunKind::IncomingFlowRun),
        KindRule::Implied(RunKind::OutgoingFlowRun),
        KindRule::Implied(RunKind::RunGroup),
    ] {
        check(decode_new_run(body, rule), |created| {
            check_name(created.run.display_name.as_str());
            if let (Some(start), Some(end)) = (created.run.start, created.run.end) {
                assert!(end >= start, "end before start accepted");
            }
            if created.run.status == Some(RunStatus::Running) {
                assert!(created.run.end.is_none(), "a running run with an end accepted");
            }
        });
    }
    check(decode_run_patch(body), |patch| {
        if let Some(name) = &patch.display_name {
            check_name(name.as_str());
        }
    });
    for kind in [ProcessKind::IncomingFlow, ProcessKind::OutgoingFlow] {
        check(decode_new_process(body, kind), |p| check_name(p.display_name.as_str()));
        check(decode_process_patch(body, kind), |_| {});
    }
    check(decode_reference(body), |url| assert!(!url.is_empty() || body.get("@odata.id").is_some()));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, max_shrink_iters: 2000, .. ProptestConfig::default() })]

    #[test]
    fn any_bytes_parse_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        check(parse_object(&bytes), |map| check_all(&map));
    }

    #[test]
    fn any_json_text_parses_or_fails_cleanly(value in json_value()) {
        let text = value.to_string();
        check(parse_object(text.as_bytes()), |map| check_all(&map));
        // Truncated and spliced variants of real JSON.
        for cut in [text.len() / 2, text.len().saturating_sub(1)] {
            if text.is_char_boundary(cut) {
                check(parse_object(&text.as_bytes()[..cut]), |map| check_all(&map));
            }
        }
    }

    #[test]
    fn objects_with_real_property_names_decode_or_fail_cleanly(body in body()) {
        check_all(&body);
    }

    #[test]
    fn timestamps_parse_or_fail_cleanly(text in prop_oneof![nasty_string(), "[0-9]{1,5}-[0-9]{1,3}-[0-9]{1,3}T[0-9]{1,3}:[0-9]{1,3}:[0-9]{1,3}(\\.[0-9]{0,12})?(Z|[+-][0-9]{1,2}:[0-9]{1,2})?"]) {
        if let Ok(t) = Timestamp::parse(&text) {
            // What is accepted renders and parses back to itself — within years 0000–9999 in UTC
            // (see `timestamps_past_year_9999_in_utc_round_trip`).
            let rendered = t.to_rfc3339();
            if !rendered.starts_with(['+', '-']) {
                let again = Timestamp::parse(&rendered).expect("a rendered timestamp parses");
                prop_assert_eq!(again, t);
            }
        }
    }
}

#[test]
fn deep_nesting_and_huge_numbers_fail_cleanly() {
    for depth in [64, 127, 128, 129, 1_000, 100_000] {
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        check(parse_object(arrays.as_bytes()), |_| {});
        let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        check(parse_object(objects.as_bytes()), |map| check_all(&map));
        let stats = format!("{{\"displayName\":\"x\",\"statistics\":{}1{}}}", "{\"a\":".repeat(depth), "}".repeat(depth));
        check(parse_object(stats.as_bytes()), |map| check_all(&map));
        let unclosed = "[".repeat(depth);
        check(parse_object(unclosed.as_bytes()), |_| {});
    }
    let huge = format!("{{\"displayName\":\"x\",\"statistics\":{{\"n\":{}}},\"status\":1{}}}", "9".repeat(100_000), "0".repeat(10_000));
    check(parse_object(huge.as_bytes()), |map| check_all(&map));
    let exp = "{\"displayName\":\"x\",\"statistics\":{\"n\":1e999999999}}";
    check(parse_object(exp.as_bytes()), |map| check_all(&map));
    check(parse_object(b"\xff\xfe{\"displayName\":\"x\"}"), |_| {});
    check(parse_object(b"{\"displayName\":\"\\ud800\"}"), |map| check_all(&map));
}

/// Found by `timestamps_parse_or_fail_cleanly`: a local time inside 0000–9999 whose UTC instant is
/// outside it (`9999-12-31T23:59:59-14:00` is year 10000 in UTC) used to be accepted and rendered as
/// `+10000-01-01T13:59:59Z`, which is not RFC 3339. Every accepted instant must round-trip.
#[test]
fn timestamps_past_year_9999_in_utc_round_trip() {
    for text in ["9999-12-31T23:59:59.9999999-14:00", "0000-01-01T00:00:00+14:00"] {
        if let Ok(t) = Timestamp::parse(text) {
            let rendered = t.to_rfc3339();
            assert!(Timestamp::parse(&rendered).is_ok(), "'{text}' was accepted but renders as '{rendered}'");
        }
    }
}
