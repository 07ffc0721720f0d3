//! The dashboard's files as the service serves them (docs/dashboard.md): content types, ETags and
//! revalidation, the Content-Security-Policy, client-side views, and no shadowing of the API.

use reqwest::Method;

use crate::helpers::TestApp;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; \
                   base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

#[tokio::test]
async fn every_view_serves_the_app_with_a_strict_policy() {
    let app = TestApp::spawn().await;
    for path in ["/", "/runs", "/runs/some-id", "/processes", "/timeline", "/published", "/runs?status=failed&name=x"] {
        let reply = app.get(path).await;
        reply.assert_status(200);
        assert_eq!(reply.header("content-type").as_deref(), Some("text/html; charset=utf-8"), "{path}");
        assert_eq!(reply.header("content-security-policy").as_deref(), Some(CSP), "{path}");
        assert_eq!(reply.header("x-content-type-options").as_deref(), Some("nosniff"), "{path}");
        assert!(reply.text.contains(r#"<script type="module" src="/ui/app.js"></script>"#), "{path}");
        // No inline script or style for the policy to block.
        assert!(!reply.text.contains("<style") && !reply.text.contains(" style=") && !reply.text.contains("<script>"), "{path}");
    }
}

#[tokio::test]
async fn assets_have_their_content_types_and_revalidate_by_etag() {
    let app = TestApp::spawn().await;
    for (path, kind) in [
        ("/ui/app.js", "text/javascript; charset=utf-8"),
        ("/ui/views/runs.js", "text/javascript; charset=utf-8"),
        ("/ui/vendor/htm-preact.js", "text/javascript; charset=utf-8"),
        ("/ui/app.css", "text/css; charset=utf-8"),
        ("/ui/favicon.svg", "image/svg+xml"),
        ("/ui/vendor/LICENSE-preact.txt", "text/plain; charset=utf-8"),
    ] {
        let reply = app.get(path).await;
        reply.assert_status(200);
        assert_eq!(reply.header("content-type").as_deref(), Some(kind), "{path}");
        assert_eq!(reply.header("cache-control").as_deref(), Some("no-cache"), "{path}");
        assert_eq!(reply.header("content-security-policy").as_deref(), Some(CSP), "{path}");
        let etag = reply.header("etag").expect("an ETag");
        assert!(etag.starts_with('"') && etag.len() == 34, "{path}: {etag}");
        let again = app.send(Method::GET, path, None, &[("If-None-Match", &etag)]).await;
        again.assert_status(304);
        assert!(again.text.is_empty());
        assert_eq!(again.header("etag").as_deref(), Some(etag.as_str()));
        app.send(Method::GET, path, None, &[("If-None-Match", "\"0\"")]).await.assert_status(200);
    }
    // The page and the code are the files of the running binary: the ETag follows the content.
    assert_ne!(app.get("/ui/app.js").await.header("etag"), app.get("/ui/app.css").await.header("etag"));
}

#[tokio::test]
async fn unknown_files_and_paths_are_404_and_the_api_is_not_shadowed() {
    let app = TestApp::spawn().await;
    app.get("/ui/nothing.js").await.assert_error(404, "itemNotFound");
    app.get("/ui/../Cargo.toml").await.assert_status(404);
    app.get("/ui/%2e%2e/Cargo.toml").await.assert_status(404);
    app.get("/somewhere-else").await.assert_error(404, "itemNotFound");
    app.get("/runs/a/b").await.assert_error(404, "itemNotFound");
    // The API, the probes and their errors are untouched.
    let service = app.get("/beta").await;
    service.assert_status(200);
    assert!(service.header("content-type").unwrap().starts_with("application/json"));
    assert!(service.header("content-security-policy").is_none());
    app.get("/beta/industryData/runs").await.assert_status(200);
    app.get("/beta/nothing").await.assert_error(404, "itemNotFound");
    app.get("/healthz").await.assert_status(200);
    app.get("/livez").await.assert_status(200);
    app.send(Method::POST, "/runs", None, &[]).await.assert_error(405, "methodNotAllowed");
}
