//! Nothing lost: the real `runhub` binary, killed with SIGKILL while clients write, keeps every run
//! whose create it acknowledged, and every acknowledged update, under the default durability; SIGTERM drains in-flight requests and exits 0.

#[path = "common/binary.rs"]
mod binary;

use std::process::Child;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Mutex;

type Server = binary::Runhub;

fn start(data_dir: &std::path::Path) -> Server {
    binary::spawn(&["--data-dir", data_dir.to_str().expect("a UTF-8 temp path")], &[])
}

fn signal(child: &Child, sig: i32) {
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

async fn create_flow(client: &reqwest::Client, base: &str) -> String {
    let r = client
        .post(format!("{base}/beta/industryData/incomingFlows"))
        .json(&json!({"displayName": "durable", "readinessStatus": "ready"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_creates_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path());
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let flow = create_flow(&client, &server.base).await;

    // Several clients create runs and finish them, as fast as they can; each remembers the last
    // version of every run the server acknowledged.
    let acknowledged: Arc<Mutex<Vec<Value>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..8 {
        let (client, base, flow, acknowledged) = (client.clone(), server.base.clone(), flow.clone(), acknowledged.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..10_000 {
                let body = json!({"displayName": format!("w{w}-{i}"), "statistics": {"writer": w, "seq": i}});
                let Ok(r) = client.post(format!("{base}/beta/industryData/incomingFlows/{flow}/runs")).json(&body).send().await else {
                    return; // the server died mid-request: never acknowledged
                };
                if r.status() != 201 {
                    return;
                }
                let mut run: Value = r.json().await.unwrap();
                run.as_object_mut().unwrap().remove("@odata.context");
                let id = run["id"].as_str().unwrap().to_owned();
                let slot = {
                    let mut acked = acknowledged.lock().await;
                    acked.push(run);
                    acked.len() - 1
                };
                if i % 2 == 0 {
                    let finish = json!({"status": "completedWithWarnings", "statistics": {"writer": w, "seq": i, "done": true}});
                    let Ok(r) = client.patch(format!("{base}/beta/industryData/runs/{id}")).json(&finish).send().await else { return };
                    if r.status() != 200 {
                        return;
                    }
                    let mut run: Value = r.json().await.unwrap();
                    run.as_object_mut().unwrap().remove("@odata.context");
                    acknowledged.lock().await[slot] = run;
                }
            }
        }));
    }
    // Let them write for a while, then kill the server without warning.
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if acknowledged.lock().await.len() >= 300 {
            break;
        }
    }
    signal(&server.child, libc::SIGKILL);
    server.child.wait().unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let acknowledged = acknowledged.lock().await.clone();
    assert!(acknowledged.len() >= 300);

    // Restart on the same data and find every acknowledged run, intact.
    let mut server = start(dir.path());
    for run in &acknowledged {
        let id = run["id"].as_str().unwrap();
        let r = client.get(format!("{}/beta/industryData/runs/{id}", server.base)).send().await.unwrap();
        assert_eq!(r.status(), 200, "acknowledged run {id} is missing after SIGKILL");
        let mut stored: Value = r.json().await.unwrap();
        stored.as_object_mut().unwrap().remove("@odata.context");
        if stored["@odata.etag"] == run["@odata.etag"] {
            assert_eq!(&stored, run, "run {id} changed");
        } else {
            // A finish the server committed but could not answer before it died: newer, never older.
            assert_eq!(run["status"], "running", "acknowledged finish of {id} lost: {stored}");
            assert_eq!(stored["status"], "completedWithWarnings", "{stored}");
        }
    }
    signal(&server.child, libc::SIGTERM);
    server.child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_drains_in_flight_requests_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path());
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let flow = create_flow(&client, &server.base).await;

    // Requests in flight when SIGTERM arrives: all must be answered.
    let mut in_flight = Vec::new();
    for i in 0..50 {
        let (client, base, flow) = (client.clone(), server.base.clone(), flow.clone());
        in_flight.push(tokio::spawn(async move {
            client
                .post(format!("{base}/beta/industryData/incomingFlows/{flow}/runs"))
                .json(&json!({"displayName": format!("drain-{i}")}))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    signal(&server.child, libc::SIGTERM);
    let mut answered = 0;
    for f in in_flight {
        match f.await.unwrap() {
            Ok(201) => answered += 1,
            Ok(other) => panic!("in-flight request answered {other}"),
            // Sent after the listener closed: refused, never half-done.
            Err(e) => assert!(e.is_connect() || e.is_request(), "{e}"),
        }
    }
    let status = server.child.wait().unwrap();
    assert!(status.success(), "runhub exited with {status}");

    // Every answered create is there after a restart.
    let mut server = start(dir.path());
    let r = client.get(format!("{}/beta/industryData/incomingFlows/{flow}/runs/$count", server.base)).send().await.unwrap();
    let count: usize = r.text().await.unwrap().parse().unwrap();
    assert!(count >= answered, "{count} stored < {answered} answered");
    signal(&server.child, libc::SIGTERM);
    server.child.wait().unwrap();
}
