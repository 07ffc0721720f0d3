//! HTTPS on runhub's own listener (docs/tls.md), through the real binary with certificates made
//! here: both protocols by ALPN, https links, a chain and RSA/ECDSA keys, start-up errors, hostile
//! bytes on the TLS port, the connection cap, SIGHUP reloads and an expired certificate.

#[path = "common/binary.rs"]
mod binary;
#[path = "common/certs.rs"]
mod certs;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use certs::{KeyKind, Pki, ServerCert};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

const DEADLINE: Duration = Duration::from_secs(30);

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

/// `runhub serve` over TLS with the given files and more flags; the log is collected.
fn serve(data: &Path, cert: &Path, key: &Path, more: &[&str]) -> (binary::Runhub, Arc<std::sync::Mutex<String>>) {
    let mut args = vec!["--data-dir", path(data), "--tls-cert", path(cert), "--tls-key", path(key), "--schedule-interval", "0"];
    args.extend_from_slice(more);
    let (hub, log) = binary::spawn_logged(&args, &[]);
    assert!(hub.base.starts_with("https://127.0.0.1:"), "{}", hub.base);
    (hub, log)
}

fn client(pki: &Pki, http1_only: bool) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pki.root_pem().as_bytes()).unwrap())
        .https_only(true)
        .timeout(DEADLINE);
    if http1_only {
        builder = builder.http1_only();
    }
    builder.build().unwrap()
}

fn addr(base: &str) -> String {
    base.trim_start_matches("https://").to_owned()
}

async fn wait_for_log(log: &std::sync::Mutex<String>, needle: &str) -> String {
    let start = Instant::now();
    loop {
        let text = log.lock().unwrap().clone();
        if text.contains(needle) {
            return text;
        }
        assert!(start.elapsed() < DEADLINE, "the log never said '{needle}':\n{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn both_protocols_are_served_and_every_link_is_https() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = pki.server("runhub", KeyKind::Ecdsa, false).write(dir.path(), "server");
    let (hub, _log) = serve(dir.path(), &cert, &key, &[]);
    let base = hub.base.clone();
    let below_root = format!("{base}/beta/");
    for (http1_only, version) in [(true, reqwest::Version::HTTP_11), (false, reqwest::Version::HTTP_2)] {
        let client = client(&pki, http1_only);
        let r = client
            .post(format!("{base}/beta/industryData/incomingFlows"))
            .json(&json!({"displayName": "f", "readinessStatus": "ready"}))
            .send()
            .await
            .unwrap();
        assert_eq!((r.status().as_u16(), r.version()), (201, version));
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with(&below_root), "Location over {version:?}: {location}");
        let flow: Value = r.json().await.unwrap();
        assert!(flow["@odata.context"].as_str().unwrap().starts_with(&format!("{base}/beta/$metadata#")), "{flow}");
        let runs = format!("{base}/beta/industryData/incomingFlows/{}/runs", flow["id"].as_str().unwrap());

        let r = client.post(&runs).header("Prefer", "return=minimal").json(&json!({"displayName": "r1"})).send().await.unwrap();
        assert_eq!(r.status(), 204);
        for name in ["location", "odata-entityid"] {
            let url = r.headers()[name].to_str().unwrap();
            assert!(url.starts_with(&below_root), "{name} over {version:?}: {url}");
        }
        let run: Value = client.post(&runs).json(&json!({"displayName": "r2"})).send().await.unwrap().json().await.unwrap();

        let page: Value = client.get(format!("{runs}?$top=1")).send().await.unwrap().json().await.unwrap();
        let next = page["@odata.nextLink"].as_str().unwrap();
        assert!(next.starts_with(&below_root), "nextLink over {version:?}: {next}");
        let rest: Value = client.get(next).send().await.unwrap().json().await.unwrap();
        assert_eq!(rest["value"].as_array().unwrap().len(), 1, "the nextLink is followed over https");

        let reference: Value = client
            .get(format!("{base}/beta/industryData/runs/{}/process/$ref", run["id"].as_str().unwrap()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(reference["@odata.id"].as_str().unwrap().starts_with(&below_root), "{reference}");
    }
}

#[tokio::test]
async fn an_rsa_key_in_pkcs1_pem_named_by_the_environment_is_served() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let server = pki.server("runhub", KeyKind::Rsa, false);
    assert!(server.key_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let (cert, key) = server.write(dir.path(), "server");
    // Given by the environment this time.
    let (hub, _log) = binary::spawn_logged(
        &["--data-dir", path(dir.path()), "--schedule-interval", "0"],
        &[("RUNHUB_TLS_CERT", path(&cert)), ("RUNHUB_TLS_KEY", path(&key))],
    );
    assert!(hub.base.starts_with("https://"), "{}", hub.base);
    let r = client(&pki, false).get(format!("{}/healthz", hub.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

/// Runs `runhub serve` expecting it to give up at start-up: (exit status, stderr).
fn fails_to_start(args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_runhub"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", path(dir.path())])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("runhub {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn a_missing_unreadable_or_mismatched_certificate_or_key_is_a_startup_error_naming_the_file() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = pki.server("a", KeyKind::Ecdsa, false).write(dir.path(), "a");
    let (_, other_key) = pki.server("b", KeyKind::Ecdsa, false).write(dir.path(), "b");
    let (_, rsa_key) = pki.server("c", KeyKind::Rsa, false).write(dir.path(), "c");
    let missing = dir.path().join("missing.pem");
    let not_pem = dir.path().join("not-pem.txt");
    std::fs::write(&not_pem, "hello, I am not a certificate\n").unwrap();
    let broken_pem = dir.path().join("broken.pem");
    std::fs::write(&broken_pem, "-----BEGIN CERTIFICATE-----\nnot base64 !!!\n-----END CERTIFICATE-----\n").unwrap();
    let cases: [(&Path, &Path, &[&Path]); 8] = [
        (&missing, &key, &[&missing]),
        (&cert, &missing, &[&missing]),
        (&not_pem, &key, &[&not_pem]),
        (&broken_pem, &key, &[&broken_pem]),
        (&cert, &not_pem, &[&not_pem]),
        (&cert, &cert, &[&cert]),
        (&cert, &other_key, &[&other_key, &cert]),
        (&cert, &rsa_key, &[&rsa_key, &cert]),
    ];
    for (cert_file, key_file, named) in cases {
        let (status, stderr) = fails_to_start(&["--tls-cert", path(cert_file), "--tls-key", path(key_file)]);
        assert_eq!(status, Some(2), "{cert_file:?} + {key_file:?}: {stderr}");
        for file in named {
            assert!(stderr.contains(path(file)), "{cert_file:?} + {key_file:?}: the error does not name {file:?}: {stderr}");
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let (status, stderr) = fails_to_start(&["--tls-cert", path(&cert)]);
    assert_eq!(status, Some(2), "{stderr}");
    assert!(stderr.contains("--tls-key"), "{stderr}");
}

/// Reads until the server closes the connection (panics past the deadline); what it sent before.
async fn closed_by_server(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    loop {
        match tokio::time::timeout(DEADLINE, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return got,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept the connection open for {:?}", start.elapsed()),
        }
    }
}

#[tokio::test]
async fn plain_http_and_garbage_on_the_tls_port_close_that_connection_and_serving_goes_on() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = pki.server("runhub", KeyKind::Ecdsa, false).write(dir.path(), "server");
    let (hub, _log) = serve(dir.path(), &cert, &key, &["--header-timeout", "1"]);
    let client = client(&pki, false);
    let shots: Vec<Vec<u8>> = vec![
        b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_vec(),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
        (0..=255u8).cycle().take(5000).collect(),
        // A handshake record that claims 16 KiB and stops after 3 bytes.
        vec![0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0x3f],
        // A ClientHello header followed by nonsense.
        [&[0x16u8, 0x03, 0x01, 0x00, 0x30, 0x01, 0x00, 0x00, 0x2c][..], &[0xff; 0x30][..]].concat(),
        // Nothing at all: the handshake timeout closes it.
        Vec::new(),
    ];
    for shot in &shots {
        let mut stream = TcpStream::connect(addr(&hub.base)).await.unwrap();
        stream.write_all(shot).await.unwrap();
        let reply = closed_by_server(&mut stream).await;
        assert!(!reply.starts_with(b"HTTP/"), "an HTTP reply on the TLS port: {:?}", String::from_utf8_lossy(&reply));
        let r = client.get(format!("{}/healthz", hub.base)).send().await.unwrap();
        assert_eq!(r.status(), 200, "still serving after {:?}", &shot[..shot.len().min(16)]);
    }
}

async fn tls_connect(pki: &Pki, base: &str) -> TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(pki.root_pem().as_bytes()).unwrap()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(addr(base)).await.unwrap();
    TlsConnector::from(Arc::new(config)).connect(ServerName::try_from("127.0.0.1").unwrap(), tcp).await.unwrap()
}

fn presented(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// One keep-alive GET /livez on an open HTTP/1.1-over-TLS connection; the status line.
async fn livez(stream: &mut TlsStream<TcpStream>) -> String {
    stream.write_all(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let head_end = loop {
        let n = tokio::time::timeout(DEADLINE, stream.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "the connection closed: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&got[..head_end]).into_owned();
    let length: usize =
        head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap())).unwrap_or(0);
    while got.len() < head_end + length {
        let n = tokio::time::timeout(DEADLINE, stream.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    head.lines().next().unwrap().to_owned()
}

fn replace(server: &ServerCert, cert: &Path, key: &Path) {
    // Written beside and renamed over, as a certificate manager does.
    let dir = cert.parent().unwrap();
    let (new_cert, new_key) = server.write(dir, "next");
    std::fs::rename(new_cert, cert).unwrap();
    std::fs::rename(new_key, key).unwrap();
}

#[tokio::test]
async fn sighup_reloads_the_files_for_new_handshakes_keeps_open_connections_and_survives_a_bad_reload() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let first = pki.server("first", KeyKind::Ecdsa, false);
    let (cert, key) = first.write(dir.path(), "server");
    let (hub, log) = serve(dir.path(), &cert, &key, &[]);
    let hup = || unsafe {
        libc::kill(hub.child.id() as i32, libc::SIGHUP);
    };

    let mut open = tls_connect(&pki, &hub.base).await;
    assert_eq!(presented(&open), first.leaf_der);
    assert_eq!(livez(&mut open).await, "HTTP/1.1 200 OK");

    let second = pki.server("second", KeyKind::Rsa, false);
    replace(&second, &cert, &key);
    hup();
    let start = Instant::now();
    loop {
        let fresh = tls_connect(&pki, &hub.base).await;
        if presented(&fresh) == second.leaf_der {
            break;
        }
        assert_eq!(presented(&fresh), first.leaf_der);
        assert!(start.elapsed() < DEADLINE, "SIGHUP did not switch to the new certificate");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(livez(&mut open).await, "HTTP/1.1 200 OK", "the connection opened before the reload still works");

    // A broken pair: the reload is refused and logged, the second certificate stays.
    std::fs::write(&key, pki.server("third", KeyKind::Ecdsa, false).key_pem).unwrap();
    hup();
    let text = wait_for_log(&log, "TLS reload failed").await;
    assert!(text.contains(path(&key)), "the error names the key file: {text}");
    let mut fresh = tls_connect(&pki, &hub.base).await;
    assert_eq!(presented(&fresh), second.leaf_der);
    assert_eq!(livez(&mut fresh).await, "HTTP/1.1 200 OK");
    assert_eq!(livez(&mut open).await, "HTTP/1.1 200 OK");
}

#[tokio::test]
async fn an_expired_certificate_is_served_with_a_warning_at_startup() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = pki.server("old", KeyKind::Ecdsa, true).write(dir.path(), "server");
    let (hub, log) = serve(dir.path(), &cert, &key, &[]);
    let text = wait_for_log(&log, "expired").await;
    assert!(text.contains(path(&cert)), "{text}");
    let strict = client(&pki, false).get(format!("{}/healthz", hub.base)).send().await;
    assert!(strict.is_err(), "a verifying client refuses an expired certificate");
    let lenient = reqwest::Client::builder().danger_accept_invalid_certs(true).timeout(DEADLINE).build().unwrap();
    let r = lenient.get(format!("{}/healthz", hub.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn the_connection_cap_counts_tls_connections_and_answers_503_over_tls() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = pki.server("runhub", KeyKind::Ecdsa, false).write(dir.path(), "server");
    let (hub, _log) = serve(dir.path(), &cert, &key, &["--max-connections", "2", "--header-timeout", "60"]);
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = tls_connect(&pki, &hub.base).await;
        assert_eq!(livez(&mut stream).await, "HTTP/1.1 200 OK");
        held.push(stream);
    }
    // h2 is offered; the connection over the cap is answered over HTTP/1.1 all the same.
    let r = client(&pki, false).get(format!("{}/healthz", hub.base)).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["innerError"]["code"], "tooManyConnections", "{body}");
    drop(held);
    let start = Instant::now();
    loop {
        let r = client(&pki, false).get(format!("{}/healthz", hub.base)).send().await.unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "connections were not released");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
