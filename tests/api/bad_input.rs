//! Each kind of bad input gets the right 4xx in the Graph error format, with a message
//! that names the property and the reason — and leaves the store exactly as it was.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{NS, Reply, TestApp, odata_type};

/// A store with something of everything in it, so that an accidental change shows.
struct Seed {
    app: TestApp,
    inf: String,
    outf: String,
    running: String,
    finished: String,
    group: String,
    member: String,
}

impl Seed {
    async fn new() -> Self {
        let app = TestApp::spawn().await;
        let inf = app.incoming_flow("in").await;
        let outf = app.outgoing_flow("out").await;
        let running =
            app.run_of(&inf, json!({"displayName": "running", "statistics": {"rows": 1}})).await["id"].as_str().unwrap().to_owned();
        let finished = app
            .run_of(&inf, json!({"displayName": "finished", "status": "completed", "startDateTime": "2024-01-01T00:00:00Z", "endDateTime": "2024-01-01T01:00:00Z"}))
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let group = app.group("group").await;
        let member = app.outgoing_run_of(&outf, json!({"displayName": "member"})).await["id"].as_str().unwrap().to_owned();
        app.add_member(&group, &member).await;
        Self { app, inf, outf, running, finished, group, member }
    }

    fn inf_path(&self) -> String {
        format!("/beta/industryData/incomingFlows/{}", self.inf)
    }

    fn outf_path(&self) -> String {
        format!("/beta/industryData/outgoingFlows/{}", self.outf)
    }

    fn new_run_path(&self) -> String {
        format!("/beta/industryData/incomingFlows/{}/runs", self.inf)
    }

    fn running_path(&self) -> String {
        format!("/beta/industryData/runs/{}", self.running)
    }

    fn finished_path(&self) -> String {
        format!("/beta/industryData/runs/{}", self.finished)
    }

    fn group_path(&self) -> String {
        format!("/beta/industryData/runGroups/{}", self.group)
    }

    /// Every place a body describes a run or a process: (method, path, minimal valid body).
    fn body_targets(&self) -> Vec<(Method, String, Value)> {
        vec![
            (Method::POST, "/beta/industryData/incomingFlows".to_owned(), json!({"displayName": "x", "readinessStatus": "ready"})),
            (Method::POST, "/beta/industryData/outgoingFlows".to_owned(), json!({"displayName": "x", "readinessStatus": "ready"})),
            (Method::PATCH, self.inf_path(), json!({})),
            (Method::PATCH, self.outf_path(), json!({})),
            (Method::POST, self.new_run_path(), json!({"displayName": "x"})),
            (
                Method::POST,
                "/beta/industryData/runs".to_owned(),
                json!({"@odata.type": odata_type("incomingFlowRun"), "displayName": "x", "process@odata.bind": format!("industryData/incomingFlows/{}", self.inf)}),
            ),
            (Method::POST, "/beta/industryData/runGroups".to_owned(), json!({"displayName": "x"})),
            (Method::PATCH, self.running_path(), json!({})),
            (Method::PATCH, self.group_path(), json!({})),
        ]
    }

    /// The run bodies only (create and patch of a running run).
    fn run_targets(&self) -> Vec<(Method, String, Value)> {
        self.body_targets().into_iter().filter(|(_, p, _)| !p.contains("Flows") || p.ends_with("/runs")).collect()
    }

    async fn send(&self, method: &Method, path: &str, body: &Value) -> Reply {
        self.app.send(method.clone(), path, Some(body), &[]).await
    }
}

fn with(base: &Value, key: &str, value: Value) -> Value {
    let mut b = base.clone();
    b[key] = value;
    b
}

/// Runs `requests` and asserts the store is exactly as before.
macro_rules! unchanged {
    ($seed:expr, $body:block) => {{
        let before = $seed.app.snapshot_state().await;
        $body
        assert_eq!($seed.app.snapshot_state().await, before, "the store changed");
    }};
}

// ---- the body as a whole --------------------------------------------------------------------

#[tokio::test]
async fn malformed_json_is_400() {
    let s = Seed::new().await;
    unchanged!(s, {
        for (method, path, _) in s.body_targets() {
            for text in ["{\"displayName\": ", "{displayName: \"x\"}", "not json", "{\"displayName\": \"x\",}", "{\"a\":1} {\"b\":2}"] {
                let r = s.app.raw(method.clone(), &path, Some("application/json"), text.as_bytes().to_vec()).await;
                let e = r.assert_error(400, "malformedJson");
                assert!(e["message"].as_str().unwrap().contains("not valid JSON"), "{method} {path}: {}", r.text);
            }
        }
    });
}

#[tokio::test]
async fn an_array_or_a_number_instead_of_an_object_is_400() {
    let s = Seed::new().await;
    unchanged!(s, {
        for (method, path, _) in s.body_targets() {
            for (text, kind) in [
                ("[]", "an array"),
                ("[{\"displayName\": \"x\"}]", "an array"),
                ("42", "a number"),
                ("\"x\"", "a string"),
                ("null", "null"),
            ] {
                let r = s.app.raw(method.clone(), &path, Some("application/json"), text.as_bytes().to_vec()).await;
                let e = r.assert_error(400, "invalidRequestBody");
                let message = e["message"].as_str().unwrap();
                assert!(message.contains("JSON object") && message.contains(kind), "{method} {path}: {message}");
            }
        }
    });
}

#[tokio::test]
async fn an_empty_body_is_400() {
    let s = Seed::new().await;
    unchanged!(s, {
        for (method, path, _) in s.body_targets() {
            s.app.raw(method.clone(), &path, Some("application/json"), Vec::new()).await.assert_error(400, "missingRequestBody");
        }
    });
}

// ---- properties -----------------------------------------------------------------------------

#[tokio::test]
async fn an_unknown_property_is_400() {
    let s = Seed::new().await;
    unchanged!(s, {
        for (method, path, body) in s.body_targets() {
            s.send(&method, &path, &with(&body, "colour", json!("blue"))).await.assert_bad(400, "unknownProperty", "colour");
        }
        // incomingFlow's own members are unknown on an outgoingFlow, and process members on runs.
        for (method, path) in [(Method::POST, "/beta/industryData/outgoingFlows".to_owned()), (Method::PATCH, s.outf_path())] {
            let body = json!({"displayName": "x", "readinessStatus": "ready", "dataDomain": "educationRostering"});
            s.send(&method, &path, &body).await.assert_bad(400, "unknownProperty", "dataDomain");
        }
        for (method, path, body) in s.run_targets() {
            s.send(&method, &path, &with(&body, "readinessStatus", json!("ready"))).await.assert_bad(
                400,
                "unknownProperty",
                "readinessStatus",
            );
        }
    });
}

#[tokio::test]
async fn an_unknown_member_of_blocking_error_is_400() {
    let s = Seed::new().await;
    unchanged!(s, {
        for (method, path, body) in s.run_targets() {
            let r = s.send(&method, &path, &with(&body, "blockingError", json!({"code": "x", "bogus": 1}))).await;
            let e = r.assert_bad(400, "invalidProperty", "blockingError");
            assert!(e["message"].as_str().unwrap().contains("bogus"), "{}", r.text);
        }
    });
}

#[tokio::test]
async fn a_read_only_id_or_etag_is_400() {
    let s = Seed::new().await;
    unchanged!(s, {
        for (method, path, body) in s.body_targets() {
            s.send(&method, &path, &with(&body, "id", json!(s.running))).await.assert_bad(400, "readOnlyProperty", "id");
        }
        for (method, path) in [
            (Method::POST, "/beta/industryData/incomingFlows".to_owned()),
            (Method::POST, "/beta/industryData/outgoingFlows".to_owned()),
            (Method::PATCH, s.inf_path()),
            (Method::PATCH, s.outf_path()),
        ] {
            let body = json!({"displayName": "x", "readinessStatus": "ready", "eTag": "\"7\""});
            s.send(&method, &path, &body).await.assert_bad(400, "readOnlyProperty", "eTag");
        }
    });
}

#[tokio::test]
async fn a_wrong_json_type_is_400() {
    let s = Seed::new().await;
    unchanged!(s, {
        for (method, path, body) in s.body_targets() {
            s.send(&method, &path, &with(&body, "displayName", json!(5))).await.assert_bad(400, "invalidPropertyType", "displayName");
            s.send(&method, &path, &with(&body, "displayName", json!(["x"]))).await.assert_bad(400, "invalidPropertyType", "displayName");
        }
        for (method, path, body) in s.run_targets() {
            for (key, value) in [
                ("status", json!(1)),
                ("startDateTime", json!(1_700_000_000)),
                ("endDateTime", json!(true)),
                ("blockingError", json!("broken")),
            ] {
                s.send(&method, &path, &with(&body, key, value)).await.assert_bad(400, "invalidPropertyType", key);
            }
        }
        for (key, value) in [("readinessStatus", json!(true)), ("dataDomain", json!(0)), ("recurrenceEffectiveDateTime", json!({}))] {
            let body = json!({"displayName": "x", "readinessStatus": "ready"});
            s.send(&Method::POST, "/beta/industryData/incomingFlows", &with(&body, key, value.clone())).await.assert_bad(
                400,
                "invalidPropertyType",
                key,
            );
            s.send(&Method::PATCH, &s.inf_path(), &json!({key: value})).await.assert_bad(400, "invalidPropertyType", key);
        }
    });
}

#[tokio::test]
async fn null_for_a_required_property_is_400() {
    let s = Seed::new().await;
    unchanged!(s, {
        for (method, path, body) in s.body_targets() {
            s.send(&method, &path, &with(&body, "displayName", Value::Null)).await.assert_bad(400, "nullNotAllowed", "displayName");
        }
        for (method, path, body) in s.run_targets() {
            for key in ["status", "startDateTime", "statistics"] {
                s.send(&method, &path, &with(&body, key, Value::Null)).await.assert_bad(400, "nullNotAllowed", key);
            }
        }
    });
}

#[tokio::test]
async fn a_missing_required_property_is_400() {
    let s = Seed::new().await;
    unchanged!(s, {
        s.app.post("/beta/industryData/incomingFlows", json!({"readinessStatus": "ready"})).await.assert_bad(
            400,
            "missingProperty",
            "displayName",
        );
        s.app.post("/beta/industryData/outgoingFlows", json!({"displayName": "x"})).await.assert_bad(
            400,
            "missingProperty",
            "readinessStatus",
        );
        s.app.post(&s.new_run_path(), json!({})).await.assert_bad(400, "missingProperty", "displayName");
        s.app.post("/beta/industryData/runGroups", json!({"status": "running"})).await.assert_bad(400, "missingProperty", "displayName");
    });
}

// ---- enums ----------------------------------------------------------------------------------

#[tokio::test]
async fn an_unknown_enum_member_is_400() {
    let s = Seed::new().await;
    unchanged!(s, {
        for (method, path, body) in s.run_targets() {
            for member in ["done", "Failed", "COMPLETED", ""] {
                let r = s.send(&method, &path, &with(&body, "status", json!(member))).await;
                let e = r.assert_bad(400, "invalidEnumValue", "status");
                let message = e["message"].as_str().unwrap();
                assert!(message.contains(&format!("'{member}'")) && message.contains("completedWithWarnings"), "{message}");
            }
        }
        let flow = json!({"displayName": "x", "readinessStatus": "ready"});
        s.app.post("/beta/industryData/incomingFlows", with(&flow, "readinessStatus", json!("maybe"))).await.assert_bad(
            400,
            "invalidEnumValue",
            "readinessStatus",
        );
        s.app.patch(&s.outf_path(), json!({"readinessStatus": "maybe"})).await.assert_bad(400, "invalidEnumValue", "readinessStatus");
        s.app.post("/beta/industryData/incomingFlows", with(&flow, "dataDomain", json!("finance"))).await.assert_bad(
            400,
            "invalidEnumValue",
            "dataDomain",
        );
        s.app.patch(&s.inf_path(), json!({"dataDomain": "finance"})).await.assert_bad(400, "invalidEnumValue", "dataDomain");
    });
}

#[tokio::test]
async fn unknown_future_value_in_a_body_is_400() {
    let s = Seed::new().await;
    unchanged!(s, {
        for (method, path, body) in s.run_targets() {
            s.send(&method, &path, &with(&body, "status", json!("unknownFutureValue"))).await.assert_bad(
                400,
                "unknownFutureValueNotAllowed",
                "status",
            );
        }
        s.app.patch(&s.finished_path(), json!({"status": "unknownFutureValue"})).await.assert_bad(
            400,
            "unknownFutureValueNotAllowed",
            "status",
        );
        let flow = json!({"displayName": "x", "readinessStatus": "ready"});
        for (method, path) in [(Method::POST, "/beta/industryData/incomingFlows".to_owned()), (Method::PATCH, s.inf_path())] {
            for key in ["readinessStatus", "dataDomain"] {
                s.send(&method, &path, &with(&flow, key, json!("unknownFutureValue"))).await.assert_bad(
                    400,
                    "unknownFutureValueNotAllowed",
                    key,
                );
            }
        }
        s.app.patch(&s.outf_path(), json!({"readinessStatus": "unknownFutureValue"})).await.assert_bad(
            400,
            "unknownFutureValueNotAllowed",
            "readinessStatus",
        );
    });
}

// ---- DateTimeOffset and the run's times -----------------------------------------------------

#[tokio::test]
async fn a_bad_date_time_offset_is_400() {
    let s = Seed::new().await;
    unchanged!(s, {
        for bad in [
            "yesterday",
            "2024-13-01T00:00:00Z",
            "2024-03-01T10:00:00",
            "2024-03-01 10:00:00Z",
            "2024-03-01T10:00:00.12345678Z",
            "2024-02-30T00:00:00Z",
            "",
        ] {
            for (method, path, body) in s.run_targets() {
                let r = s.send(&method, &path, &with(&body, "startDateTime", json!(bad))).await;
                let e = r.assert_bad(400, "invalidDateTimeOffset", "startDateTime");
                assert!(e["message"].as_str().unwrap().contains(&format!("'{bad}'")), "{}", r.text);
            }
            s.app.patch(&s.running_path(), json!({"status": "completed", "endDateTime": bad})).await.assert_bad(
                400,
                "invalidDateTimeOffset",
                "endDateTime",
            );
            for key in ["recurrenceEffectiveDateTime", "recurrenceExpirationDateTime"] {
                s.app.patch(&s.inf_path(), json!({key: bad})).await.assert_bad(400, "invalidDateTimeOffset", key);
            }
        }
    });
}

#[tokio::test]
async fn an_inverted_recurrence_window_is_400() {
    let s = Seed::new().await;
    unchanged!(s, {
        let body = json!({
            "displayName": "x", "readinessStatus": "ready",
            "recurrenceEffectiveDateTime": "2024-02-01T00:00:00Z", "recurrenceExpirationDateTime": "2024-01-01T00:00:00Z"
        });
        s.app.post("/beta/industryData/incomingFlows", body.clone()).await.assert_bad(
            400,
            "invalidRecurrenceWindow",
            "recurrenceExpirationDateTime",
        );
        s.app.patch(&s.inf_path(), body).await.assert_bad(400, "invalidRecurrenceWindow", "recurrenceExpirationDateTime");
    });
}

#[tokio::test]
async fn end_date_time_before_start_date_time_is_400() {
    let s = Seed::new().await;
    unchanged!(s, {
        let body =
            json!({"displayName": "x", "status": "failed", "startDateTime": "2024-01-02T00:00:00Z", "endDateTime": "2024-01-01T00:00:00Z"});
        s.app.post(&s.new_run_path(), body.clone()).await.assert_bad(400, "endBeforeStart", "endDateTime");
        s.app.post("/beta/industryData/runGroups", body).await.assert_bad(400, "endBeforeStart", "endDateTime");
        s.app.patch(&s.running_path(), json!({"status": "failed", "endDateTime": "2000-01-01T00:00:00Z"})).await.assert_bad(
            400,
            "endBeforeStart",
            "endDateTime",
        );
    });
}

#[tokio::test]
async fn end_date_time_on_a_running_run_is_400() {
    let s = Seed::new().await;
    unchanged!(s, {
        // (The seed's group has members, so its endDateTime is derived: 409, tested in lifecycle.)
        for (method, path, body) in s.run_targets().into_iter().filter(|(_, p, _)| *p != s.group_path()) {
            let r = s.send(&method, &path, &with(&body, "endDateTime", json!("2999-01-01T00:00:00Z"))).await;
            let e = r.assert_bad(400, "endDateTimeWhileRunning", "endDateTime");
            assert!(e["message"].as_str().unwrap().contains("running"), "{}", r.text);
        }
    });
}

// ---- displayName ----------------------------------------------------------------------------

#[tokio::test]
async fn display_name_empty_blank_or_too_long_is_400() {
    let s = Seed::new().await;
    unchanged!(s, {
        for (method, path, body) in s.body_targets() {
            for bad in
                [String::new(), "   ".to_owned(), "\t\n ".to_owned(), "x".repeat(257), "é".repeat(257), format!("  {}  ", "y".repeat(257))]
            {
                let r = s.send(&method, &path, &with(&body, "displayName", json!(bad))).await;
                r.assert_bad(400, "invalidProperty", "displayName");
            }
        }
    });
}

#[tokio::test]
async fn display_name_of_256_characters_after_trimming_is_accepted() {
    let s = Seed::new().await;
    for (method, path, body) in s.body_targets() {
        for name in ["x".repeat(256), "é".repeat(256), "𝄞".repeat(256), format!("   {}\t", "ü".repeat(256))] {
            let r = s.send(&method, &path, &with(&body, "displayName", json!(name))).await;
            assert!(r.status == 200 || r.status == 201, "{method} {path}: {}", r.text);
            assert_eq!(r.json()["displayName"], name.trim(), "{method} {path}");
        }
    }
}

// ---- statistics -----------------------------------------------------------------------------

#[tokio::test]
async fn statistics_that_is_not_an_object_is_400() {
    let s = Seed::new().await;
    unchanged!(s, {
        for (method, path, body) in s.run_targets() {
            for (value, kind) in [(json!([]), "an array"), (json!("lots"), "a string"), (json!(5), "a number"), (json!(true), "a boolean")]
            {
                let r = s.send(&method, &path, &with(&body, "statistics", value)).await;
                let e = r.assert_bad(400, "invalidPropertyType", "statistics");
                assert!(e["message"].as_str().unwrap().contains(kind), "{}", r.text);
            }
        }
    });
}

/// A statistics object of exactly `bytes` bytes as compact JSON: `{"x":"aaa…"}`.
fn statistics_of(bytes: usize) -> Value {
    let value = json!({"x": "a".repeat(bytes - 8)});
    assert_eq!(value.to_string().len(), bytes);
    value
}

#[tokio::test]
async fn statistics_over_64_kib_is_400() {
    let s = Seed::new().await;
    unchanged!(s, {
        for (method, path, body) in s.run_targets() {
            let r = s.send(&method, &path, &with(&body, "statistics", statistics_of(64 * 1024 + 1))).await;
            let e = r.assert_bad(400, "propertyTooLarge", "statistics");
            assert!(e["message"].as_str().unwrap().contains("65537"), "{}", e["message"]);
        }
    });
}

#[tokio::test]
async fn statistics_of_exactly_64_kib_is_accepted_and_returned_as_given() {
    let s = Seed::new().await;
    let stats = statistics_of(64 * 1024);
    for (method, path, body) in s.run_targets() {
        let r = s.send(&method, &path, &with(&body, "statistics", stats.clone())).await;
        assert!(r.status == 200 || r.status == 201, "{method} {path}: {}", &r.text[..200.min(r.text.len())]);
        assert_eq!(r.json()["statistics"]["x"], stats["x"]);
    }
}

// ---- size and media type --------------------------------------------------------------------

#[tokio::test]
async fn a_body_over_1_mib_is_413() {
    let s = Seed::new().await;
    unchanged!(s, {
        let mut body = br#"{"displayName": "x"}"#.to_vec();
        body.resize(1024 * 1024 + 1, b' ');
        for path in [s.new_run_path(), "/beta/industryData/runGroups".to_owned()] {
            let r = s.app.raw(Method::POST, &path, Some("application/json"), body.clone()).await;
            let e = r.assert_error(413, "payloadTooLarge");
            assert!(e["message"].as_str().unwrap().contains("1048576"), "{}", r.text);
        }
        let r = s.app.raw(Method::PATCH, &s.running_path(), Some("application/json"), body).await;
        r.assert_error(413, "payloadTooLarge");
    });
}

#[tokio::test]
async fn a_chunked_body_over_1_mib_is_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = Seed::new().await;
    unchanged!(s, {
        // No Content-Length: the limit must hold while the body streams in.
        let addr = s.app.base.trim_start_matches("http://").to_owned();
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /beta/industryData/runGroups HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut body = br#"{"displayName": "x"}"#.to_vec();
        body.resize(1024 * 1024 + 1, b' ');
        for chunk in body.chunks(64 * 1024) {
            // The server may answer and close before it has read everything.
            if stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await.is_err()
                || stream.write_all(chunk).await.is_err()
                || stream.write_all(b"\r\n").await.is_err()
            {
                break;
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n").await;
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply).await;
        let reply = String::from_utf8_lossy(&reply);
        assert!(reply.starts_with("HTTP/1.1 413"), "{}", &reply[..reply.len().min(300)]);
        assert!(reply.contains("\"payloadTooLarge\""), "{reply}");
    });
}

#[tokio::test]
async fn a_body_of_exactly_1_mib_is_accepted() {
    let s = Seed::new().await;
    let mut body = br#"{"displayName": "x"}"#.to_vec();
    body.resize(1024 * 1024, b' ');
    let r = s.app.raw(Method::POST, &s.new_run_path(), Some("application/json"), body).await;
    r.assert_status(201);
}

#[tokio::test]
async fn a_wrong_content_type_is_415() {
    let s = Seed::new().await;
    unchanged!(s, {
        for (method, path, body) in s.body_targets() {
            for ct in
                [Some("text/plain"), Some("application/xml"), Some("application/x-www-form-urlencoded"), Some("application/jsonx"), None]
            {
                let r = s.app.raw(method.clone(), &path, ct, body.to_string().into_bytes()).await;
                let e = r.assert_error(415, "unsupportedMediaType");
                assert_eq!(e["target"], "Content-Type", "{}", r.text);
                assert!(e["message"].as_str().unwrap().contains("application/json"), "{}", r.text);
            }
        }
    });
}

#[tokio::test]
async fn json_content_types_with_parameters_are_accepted() {
    let s = Seed::new().await;
    for ct in ["application/json; charset=utf-8", "application/json;odata.metadata=minimal", "Application/JSON"] {
        let r = s.app.raw(Method::POST, "/beta/industryData/runGroups", Some(ct), br#"{"displayName": "g"}"#.to_vec()).await;
        r.assert_status(201);
    }
}

// ---- addressing -----------------------------------------------------------------------------

#[tokio::test]
async fn an_unknown_path_is_404() {
    let s = Seed::new().await;
    unchanged!(s, {
        // `/` itself is the dashboard (tests/api/dashboard.rs).
        for path in [
            "/nothing".to_owned(),
            "/v1.0/industryData/runs".to_owned(),
            "/beta/nothing".to_owned(),
            "/beta/industryData/nothing".to_owned(),
            "/beta/industryData/flows".to_owned(),
            format!("{}/nothing", s.running_path()),
            format!("{}/runs/{}/nothing", s.inf_path(), s.running),
            format!("{}/process/nothing", s.running_path()),
            format!("{}/getErrorsAndWarningsFile/x", s.group_path()),
            format!("/beta/industryData/runs/{NS}.incomingFlowRun/{NS}.runGroup"),
        ] {
            for method in [Method::GET, Method::POST, Method::PATCH, Method::DELETE] {
                let r = s.app.send(method.clone(), &path, Some(&json!({"displayName": "x"})), &[]).await;
                let e = r.assert_error(404, "itemNotFound");
                let last = path.rsplit('/').next().unwrap();
                assert!(e["message"].as_str().unwrap().contains(last), "{method} {path}: {}", r.text);
            }
        }
    });
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow() {
    let s = Seed::new().await;
    unchanged!(s, {
        for (method, path, allow) in [
            (Method::PUT, "/beta/industryData/runs".to_owned(), "GET, POST"),
            (Method::DELETE, "/beta/industryData/incomingFlows".to_owned(), "GET, POST"),
            (Method::PATCH, "/beta/industryData/runGroups".to_owned(), "GET, POST"),
            (Method::POST, s.running_path(), "GET, PATCH, DELETE"),
            (Method::PUT, s.inf_path(), "GET, PATCH, DELETE"),
            (Method::POST, s.group_path(), "GET, PATCH, DELETE"),
            (Method::POST, format!("{}/process", s.running_path()), "GET"),
            (Method::DELETE, format!("{}/process/$ref", s.running_path()), "GET, PUT, POST"),
            (Method::GET, format!("{}/runNow", s.inf_path()), "POST"),
            (Method::GET, format!("{}/runs/$ref", s.group_path()), "POST"),
            (Method::GET, format!("{}/runs/{}/$ref", s.group_path(), s.member), "DELETE"),
            (Method::POST, format!("{}/getErrorsAndWarningsFile()", s.group_path()), "GET"),
            (Method::POST, "/beta/industryData/runs/$count".to_owned(), "GET"),
            (Method::POST, format!("/beta/industryData/runs/{NS}.incomingFlowRun"), "GET"),
            (Method::DELETE, "/beta/$metadata".to_owned(), "GET"),
            (Method::POST, "/beta".to_owned(), "GET"),
            (Method::POST, "/healthz".to_owned(), "GET"),
        ] {
            let r = s.app.send(method.clone(), &path, Some(&json!({"displayName": "x"})), &[]).await;
            let e = r.assert_error(405, "methodNotAllowed");
            assert_eq!(r.header("allow").as_deref(), Some(allow), "{method} {path}");
            assert!(e["message"].as_str().unwrap().contains(allow), "{method} {path}: {}", r.text);
        }
    });
}

#[tokio::test]
async fn an_id_that_does_not_exist_is_404() {
    let s = Seed::new().await;
    unchanged!(s, {
        let missing = uuid::Uuid::new_v4().to_string();
        for bad in [missing.as_str(), "not-a-uuid", "12345", "'quoted'"] {
            for path in [
                format!("/beta/industryData/runs/{bad}"),
                format!("/beta/industryData/incomingFlows/{bad}"),
                format!("/beta/industryData/outgoingFlows/{bad}"),
                format!("/beta/industryData/runGroups/{bad}"),
                format!("{}/runs/{bad}", s.inf_path()),
                format!("{}/runs/{bad}", s.group_path()),
            ] {
                for (method, body) in [(Method::GET, None), (Method::PATCH, Some(json!({"displayName": "x"}))), (Method::DELETE, None)] {
                    let r = s.app.send(method.clone(), &path, body.as_ref(), &[]).await;
                    let e = r.assert_error(404, "itemNotFound");
                    assert!(e["message"].as_str().unwrap().contains(bad), "{method} {path}: {}", r.text);
                }
            }
            for path in
                [format!("/beta/industryData/runs/{bad}/process"), format!("/beta/industryData/runGroups/{bad}/getErrorsAndWarningsFile()")]
            {
                s.app.get(&path).await.assert_error(404, "itemNotFound");
            }
            let r = s
                .app
                .post(
                    &format!("/beta/industryData/runGroups/{bad}/runs/$ref"),
                    json!({"@odata.id": format!("industryData/runs/{}", s.running)}),
                )
                .await;
            r.assert_error(404, "itemNotFound");
            s.app.delete(&format!("{}/runs/{bad}/$ref", s.group_path())).await.assert_error(404, "itemNotFound");
        }
    });
}

// ---- references -----------------------------------------------------------------------------

#[tokio::test]
async fn process_bind_to_a_missing_process_is_400() {
    let s = Seed::new().await;
    unchanged!(s, {
        let missing = uuid::Uuid::new_v4();
        for url in [
            s.app.beta(&format!("industryData/incomingFlows/{missing}")),
            format!("industryData/incomingFlows/{missing}"),
            "industryData/incomingFlows/nope".to_owned(),
        ] {
            let body = json!({"@odata.type": odata_type("incomingFlowRun"), "displayName": "x", "process@odata.bind": url});
            let r = s.app.post("/beta/industryData/runs", body.clone()).await;
            r.assert_bad(400, "bindingTargetNotFound", "process@odata.bind");
            s.app.post(&format!("{}/runs", s.group_path()), body).await.assert_bad(400, "bindingTargetNotFound", "process@odata.bind");
            let r = s.app.send(Method::PUT, &format!("{}/process/$ref", s.running_path()), Some(&json!({"@odata.id": url})), &[]).await;
            r.assert_bad(400, "bindingTargetNotFound", "@odata.id");
        }
        // A run that does not exist cannot be added to a group either.
        let r = s.app.post(&format!("{}/runs/$ref", s.group_path()), json!({"@odata.id": format!("industryData/runs/{missing}")})).await;
        r.assert_bad(400, "bindingTargetNotFound", "@odata.id");
    });
}

#[tokio::test]
async fn process_bind_to_a_process_of_the_wrong_kind_is_400() {
    let s = Seed::new().await;
    unchanged!(s, {
        let out_url = s.app.beta(&format!("industryData/outgoingFlows/{}", s.outf));
        let in_url = s.app.beta(&format!("industryData/incomingFlows/{}", s.inf));
        // The URL names a process of one kind, the run is of the other.
        let r = s
            .app
            .post(
                "/beta/industryData/runs",
                json!({"@odata.type": odata_type("incomingFlowRun"), "displayName": "x", "process@odata.bind": out_url}),
            )
            .await;
        r.assert_bad(400, "invalidBinding", "process@odata.bind");
        let r = s
            .app
            .post(
                "/beta/industryData/runs",
                json!({"@odata.type": odata_type("outgoingFlowRun"), "displayName": "x", "process@odata.bind": in_url}),
            )
            .await;
        r.assert_bad(400, "invalidBinding", "process@odata.bind");
        // The URL names an incomingFlow's id under the outgoingFlows set: no such outgoingFlow.
        let r = s.app.post("/beta/industryData/runs", json!({"@odata.type": odata_type("outgoingFlowRun"), "displayName": "x", "process@odata.bind": format!("industryData/outgoingFlows/{}", s.inf)})).await;
        r.assert_bad(400, "bindingTargetNotFound", "process@odata.bind");
        // The URL is not a process at all.
        for url in [format!("industryData/runs/{}", s.running), "https://example.com/".to_owned(), "industryData/incomingFlows".to_owned()]
        {
            let r = s
                .app
                .post(
                    "/beta/industryData/runs",
                    json!({"@odata.type": odata_type("incomingFlowRun"), "displayName": "x", "process@odata.bind": url}),
                )
                .await;
            r.assert_bad(400, "invalidBinding", "process@odata.bind");
        }
        // Under a flow, the binding may only name that flow.
        let other = format!("industryData/incomingFlows/{}", uuid::Uuid::new_v4());
        s.app.post(&s.new_run_path(), json!({"displayName": "x", "process@odata.bind": other})).await.assert_bad(
            400,
            "invalidBinding",
            "process@odata.bind",
        );
        // Re-pointing through $ref.
        let r = s.app.send(Method::PUT, &format!("{}/process/$ref", s.running_path()), Some(&json!({"@odata.id": out_url})), &[]).await;
        r.assert_bad(400, "invalidBinding", "@odata.id");
        let r = s.app.post(&format!("{}/process/$ref", s.group_path()), json!({"@odata.id": in_url})).await;
        r.assert_target(400, "invalidBinding", "@odata.id");
    });
}

#[tokio::test]
async fn a_reference_body_with_other_members_is_400() {
    let s = Seed::new().await;
    unchanged!(s, {
        let url = format!("industryData/runs/{}", s.running);
        let r = s.app.post(&format!("{}/runs/$ref", s.group_path()), json!({"@odata.id": url, "extra": 1})).await;
        r.assert_bad(400, "unknownProperty", "extra");
        let r = s.app.post(&format!("{}/runs/$ref", s.group_path()), json!({})).await;
        r.assert_bad(400, "missingProperty", "@odata.id");
        let r = s.app.post(&format!("{}/runs/$ref", s.group_path()), json!({"@odata.id": 5})).await;
        r.assert_bad(400, "invalidPropertyType", "@odata.id");
    });
}

// ---- state conflicts ------------------------------------------------------------------------

#[tokio::test]
async fn reopening_a_finished_run_is_409() {
    let s = Seed::new().await;
    unchanged!(s, {
        let r = s.app.patch(&s.finished_path(), json!({"status": "running"})).await;
        let e = r.assert_bad(409, "invalidStatusTransition", "status");
        assert!(e["message"].as_str().unwrap().contains("completed"), "{}", r.text);
        let r = s.app.patch(&s.finished_path(), json!({"status": "running", "endDateTime": null})).await;
        r.assert_error(409, "invalidStatusTransition");
    });
}

#[tokio::test]
async fn deleting_a_process_that_has_runs_is_409() {
    let s = Seed::new().await;
    unchanged!(s, {
        for path in [s.inf_path(), s.outf_path()] {
            let r = s.app.delete(&path).await;
            let e = r.assert_target(409, "processHasRuns", "runs");
            assert!(e["message"].as_str().unwrap().contains("run"), "{}", r.text);
        }
    });
}

#[tokio::test]
async fn adding_a_run_that_is_in_another_group_is_409() {
    let s = Seed::new().await;
    let other = s.app.group("other").await;
    unchanged!(s, {
        let r = s
            .app
            .post(
                &format!("/beta/industryData/runGroups/{other}/runs/$ref"),
                json!({"@odata.id": s.app.beta(&format!("industryData/runs/{}", s.member))}),
            )
            .await;
        let e = r.assert_target(409, "runAlreadyInGroup", "@odata.id");
        let message = e["message"].as_str().unwrap();
        assert!(message.contains(&s.member) && message.contains(&s.group), "{message}");
    });
}
