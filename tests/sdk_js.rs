//! The Microsoft Graph JavaScript client (tests/sdk-js, pinned by its package-lock.json) against
//! the real binary over HTTPS, with a CA made here and a token minted by `runhub token`. Needs
//! Node.js ≥ 18 and `npm ci` in tests/sdk-js (.ci/run does both); fails, never skips, without them.

#[path = "common/binary.rs"]
mod binary;
#[path = "common/certs.rs"]
mod certs;

use std::path::{Path, PathBuf};
use std::process::Command;

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

#[test]
fn the_graph_javascript_client_works_against_runhub_over_https() {
    let sdk = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk-js");
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".to_owned());
    match Command::new(&node).arg("--version").output() {
        Ok(out) if out.status.success() => {}
        _ => panic!(
            "Node.js ('{node}') is not installed: this test drives the Graph JavaScript client; install Node.js ≥ 18, then run `npm ci` in tests/sdk-js"
        ),
    }
    assert!(
        sdk.join("node_modules/@microsoft/microsoft-graph-client/package.json").is_file(),
        "tests/sdk-js/node_modules is missing: run `npm ci` in tests/sdk-js first (.ci/run does)"
    );

    let dir = tempfile::tempdir().unwrap();
    let pki = certs::Pki::new();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pki.root_pem()).unwrap();
    let (cert, key) = pki.server("runhub", certs::KeyKind::Ecdsa, false).write(dir.path(), "server");
    let secret = dir.path().join("jwt-secret");
    std::fs::write(&secret, "a shared secret for the JavaScript client test, 32+ bytes").unwrap();
    let data = dir.path().join("data");
    let hub = binary::spawn(
        &[
            "--data-dir",
            path(&data),
            "--tls-cert",
            path(&cert),
            "--tls-key",
            path(&key),
            "--auth",
            "jwt",
            "--jwt-secret-file",
            path(&secret),
            "--schedule-interval",
            "0",
        ],
        &[],
    );
    assert!(hub.base.starts_with("https://"), "{}", hub.base);
    let token = Command::new(env!("CARGO_BIN_EXE_runhub")).args(["token", "--jwt-secret-file", path(&secret)]).output().unwrap();
    assert!(token.status.success(), "runhub token: {}", String::from_utf8_lossy(&token.stderr));
    let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();

    let out = Command::new(&node)
        .args(["--test", "--test-reporter", "spec", "graph_client.test.mjs"])
        .current_dir(&sdk)
        .env("RUNHUB_BASE", &hub.base)
        .env("RUNHUB_TOKEN", &token)
        .env("NODE_EXTRA_CA_CERTS", &ca)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}\n{stderr}");
    assert!(out.status.success(), "the Graph JavaScript client test failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("pass 7") && stdout.contains("fail 0"), "not every JavaScript test ran:\n{stdout}");
}
