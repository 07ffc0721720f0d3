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
                    return Ok(()); // the server died mid-request: never acknowledged
                };
                if r.status() != 201 {
                    return Err(format!("create answered {}: {}", r.status(), r.text().await.unwrap_or_default()));
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
                    let Ok(r) = client.patch(format!("{base}/beta/industryData/runs/{id}")).json(&finish).send().await else {
                        return Ok(());
                    };
                    if r.status() != 200 {
                        return Err(format!("finish answered {}: {}", r.status(), r.text().await.unwrap_or_default()));
                    }
                    let mut run: Value = r.json().await.unwrap();
                    run.as_object_mut().unwrap().remove("@odata.context");
                    acknowledged.lock().await[slot] = run;
                }
            }
            Ok(())
        }));
    }
    // Let them write for a while, then kill the server without warning.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if acknowledged.lock().await.len() >= 300 {
            break;
        }
        assert!(writers.iter().any(|w| !w.is_finished()), "every writer stopped before 300 acknowledged writes");
        assert!(tokio::time::Instant::now() < deadline, "300 acknowledged writes took over a minute");
    }
    signal(&server.child, libc::SIGKILL);
    server.child.wait().unwrap();
    for w in writers {
        if let Err(e) = w.await.unwrap() {
            panic!("a writer got an error before the kill: {e}");
        }
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

/// Sends a request's head with `Expect: 100-continue` and waits for the `100 Continue` that hyper
/// sends once the handler starts reading the body: from then on the request is in flight.
async fn open_in_flight_create(addr: &str, flow: &str, body: &str) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /beta/industryData/incomingFlows/{flow}/runs HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await.expect("100 Continue in time").unwrap();
        assert!(n > 0, "connection closed before 100 Continue");
        seen.extend_from_slice(&buf[..n]);
    }
    let interim = String::from_utf8_lossy(&seen);
    assert!(interim.starts_with("HTTP/1.1 100"), "expected 100 Continue, got {interim:?}");
    stream
}

/// SIGTERM or SIGINT while requests are in flight: each of them is answered 201 and durable, a
/// connection opened after the signal is refused, and the process exits 0.
async fn drains_on(sig: i32) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path());
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let flow = create_flow(&client, &server.base).await;
    let addr = server.base.trim_start_matches("http://").to_owned();

    let mut in_flight = Vec::new();
    for i in 0..20 {
        let body = json!({"displayName": format!("drain-{i}")}).to_string();
        in_flight.push((open_in_flight_create(&addr, &flow, &body).await, body));
    }
    signal(&server.child, sig);

    // The listener closes: a new connection is refused (poll; the signal is handled asynchronously).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::net::TcpStream::connect(&addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
            // A connection that sat in the backlog as the listener closed is reset: not served either.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("unexpected connect error: {e}"),
            Ok(_) => {}
        }
        assert!(tokio::time::Instant::now() < deadline, "still accepting connections 10 s after the signal");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The requests that were in flight finish and are answered.
    let mut ids = Vec::new();
    for (mut stream, body) in in_flight {
        stream.write_all(body.as_bytes()).await.unwrap();
        let mut reply = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut reply)).await.expect("an answer in time").unwrap();
        let reply = String::from_utf8(reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 201"), "in-flight request not answered 201: {reply}");
        let json_body = &reply[reply.find("\r\n\r\n").unwrap() + 4..];
        let run: Value = serde_json::from_str(json_body).unwrap();
        ids.push(run["id"].as_str().unwrap().to_owned());
    }
    let status = server.child.wait().unwrap();
    assert!(status.success(), "runhub exited with {status}");

    // Every answered create is there after a restart.
    let mut server = start(dir.path());
    for id in &ids {
        let r = client.get(format!("{}/beta/industryData/runs/{id}", server.base)).send().await.unwrap();
        assert_eq!(r.status(), 200, "run {id} answered 201 during the drain is missing after restart");
    }
    signal(&server.child, libc::SIGTERM);
    assert!(server.child.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_drains_in_flight_requests_and_exits_zero() {
    drains_on(libc::SIGTERM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigint_drains_in_flight_requests_and_exits_zero() {
    drains_on(libc::SIGINT).await;
}
