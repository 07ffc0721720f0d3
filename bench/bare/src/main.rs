//! The ceiling the benchmarks measure runhub against (bench/README.md): axum with one handler and
//! no layers, answering every request with `200 ok`. What it serves is what this machine's HTTP
//! stack can do at the moment of measuring; runhub's figures are fractions of it.
//!
//!     runhub-bench-bare 127.0.0.1:8081

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("bare server listening on http://{}", listener.local_addr()?);
    let app = axum::Router::new().fallback(|| async { "ok" });
    axum::serve(listener, app).await
}
