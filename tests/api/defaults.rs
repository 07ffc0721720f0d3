//! Promises about defaults and links: `--public-url` in every minted URL, the default page size,
//! `406 Not Acceptable`, and the serve defaults (address and data directory).

use reqwest::Method;
use runhub_server::cli::{Cli, Command};
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn public_url_is_the_base_of_every_minted_url() {
    let app = TestApp::spawn().await;
    let public = app.alongside(|settings| settings.public_url = Some("https://runs.example.com/".into())).await;
    let base = "https://runs.example.com/beta";
    let flow = public.incoming_flow("f").await;
    let created = public.post(&format!("/beta/industryData/incomingFlows/{flow}/runs"), json!({"displayName": "r"})).await;
    created.assert_status(201);
    let run = created.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(created.header("location").unwrap(), format!("{base}/industryData/incomingFlows/{flow}/runs/{run}"));
    assert_eq!(created.json()["@odata.context"], format!("{base}/$metadata#industryData/incomingFlows('{flow}')/runs/$entity"));
    public.run_of(&flow, json!({"displayName": "second"})).await;
    let page = public.get("/beta/industryData/runs?$top=1").await.json();
    assert_eq!(page["@odata.context"], format!("{base}/$metadata#industryData/runs"));
    assert!(page["@odata.nextLink"].as_str().unwrap().starts_with(&format!("{base}/industryData/runs?")), "{page}");
    let minimal = public
        .send(Method::POST, "/beta/industryData/runGroups", Some(&json!({"displayName": "g"})), &[("prefer", "return=minimal")])
        .await;
    minimal.assert_status(204);
    assert!(minimal.header("odata-entityid").unwrap().starts_with(&format!("{base}/industryData/runGroups/")));
    let reference = public.get(&format!("/beta/industryData/runs/{run}/process/$ref")).await.json();
    assert_eq!(reference["@odata.id"], format!("{base}/industryData/incomingFlows/{flow}"));
    // Without it, URLs follow the request's Host.
    let plain = app.get("/beta/industryData/runs?$top=1").await.json();
    assert!(plain["@odata.nextLink"].as_str().unwrap().starts_with(&app.beta("industryData/runs?")), "{plain}");
}

#[tokio::test]
async fn pages_hold_100_entities_unless_top_says_otherwise() {
    let app = TestApp::spawn().await;
    let flow = app.outgoing_flow("many").await;
    for i in 0..101 {
        app.outgoing_run_of(&flow, json!({"displayName": format!("r{i}")})).await;
    }
    let page = app.get("/beta/industryData/runs").await.json();
    assert_eq!(page["value"].as_array().unwrap().len(), 100);
    let next = page["@odata.nextLink"].as_str().expect("a nextLink after 100 of 101");
    let rest = app.get(next).await.json();
    assert_eq!(rest["value"].as_array().unwrap().len(), 1);
    assert!(rest.get("@odata.nextLink").is_none());
}

#[tokio::test]
async fn an_accept_header_without_json_is_406() {
    let app = TestApp::spawn().await;
    for accept in ["application/xml", "text/html, image/png", "application/json;q=0"] {
        let r = app.send(Method::GET, "/beta/industryData/runs", None, &[("accept", accept)]).await;
        let error = r.assert_error(406, "notAcceptable");
        assert_eq!(error["code"], "notAcceptable");
        assert_eq!(error["target"], "Accept");
    }
    for accept in ["application/json", "*/*", "application/json;odata.metadata=minimal", "text/html, application/*;q=0.1"] {
        app.send(Method::GET, "/beta/industryData/runs", None, &[("accept", accept)]).await.assert_status(200);
    }
    // $metadata (XML) and /$count (text) answer whatever a client's Accept says.
    app.send(Method::GET, "/beta/$metadata", None, &[("accept", "application/json")]).await.assert_status(200);
    app.send(Method::GET, "/beta/industryData/runs/$count", None, &[("accept", "application/json")]).await.assert_status(200);
}

#[test]
fn serve_defaults_to_loopback_8080_and_runhub_data() {
    use clap::Parser;
    let Command::Serve(args) = Cli::try_parse_from(["runhub", "serve"]).unwrap().command else { panic!("not serve") };
    assert_eq!(args.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(args.data_dir, std::path::PathBuf::from("./runhub-data"));
}

#[test]
fn the_binary_keeps_its_data_in_runhub_data_of_the_working_directory() {
    let cwd = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_runhub"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(cwd.path())
        .env_remove("RUNHUB_DATA_DIR")
        .env_remove("RUNHUB_DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let listening = cwd.path().join("runhub-data").is_dir();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("http://127.0.0.1:"), "{line}");
    assert!(listening, "no ./runhub-data in the working directory once it listens");
}
