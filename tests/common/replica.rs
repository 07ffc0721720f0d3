//! A replica as the multi-replica tests run it: the service built and served as `runhub serve`
//! does, on a free port, in front of a store of its own; shut down when dropped.

use std::sync::Arc;

use runhub_server::{Application, Settings, StoreSettings};
use runhub_store::Store;

pub struct Replica {
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn serve(store: Arc<dyn Store>) -> Replica {
    let app = Application::build(Settings::new(StoreSettings::Open(store))).await.unwrap();
    let base = app.base_url();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = app
            .run_until_stopped(async {
                let _ = stopped.await;
            })
            .await;
    });
    Replica { base, stop: Some(stop) }
}
