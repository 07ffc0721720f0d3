//! A replica as the multi-replica tests run it: the real router over HTTP on a free port, in front
//! of a store of its own; stopped when dropped.

use std::sync::Arc;

use runhub_server::{AppState, router};
use runhub_store::Store;

pub struct Replica {
    pub base: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub async fn serve(store: Arc<dyn Store>) -> Replica {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(AppState { store, public_url: None });
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Replica { base: format!("http://{addr}"), server }
}
