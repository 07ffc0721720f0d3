//! The live stream (docs/change-tracking.md): the delta URL with `Accept: text/event-stream`.
//! Each change is an SSE event — `id:` the delta token just after it, `event: change`, `data:` the
//! delta item — first the changes the token says the client missed, then new ones as they
//! commit. A task per stream follows the log; it ends when the client goes away or the
//! replica shuts down (the stream then ends cleanly and the client reconnects with `Last-Event-ID`).

use axum::response::Response;
use axum::response::sse::Event;
use runhub_odata::QueryOptions;
use runhub_store::Collection;

use super::Ctx;
use super::delta::{Follow, StreamCtx, sse, too_many_streams};
use crate::error::ApiResult;

/// Events buffered per stream before the follower waits for the client to read.
const BUFFER: usize = 64;

pub(super) fn open(ctx: &Ctx, collection: Collection, follow: Follow, options: QueryOptions) -> ApiResult<Response> {
    let feed = ctx.feed.clone();
    let Some(slot) = feed.open_stream() else { return Ok(too_many_streams(feed.settings().max_streams)) };
    let follower = StreamCtx::new(ctx, collection, options);
    let mut watermarks = feed.watermarks(&ctx.state.store);
    let mut closing = feed.closing();
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(BUFFER);
    tokio::spawn(async move {
        let _slot = slot;
        let mut follow = follow;
        // The first read looks at the log itself; later ones at what the watermark follower saw.
        let mut watermark = match follower.store.change_watermark().await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "a live stream cannot read the change log; closing it");
                return;
            }
        };
        loop {
            match follow.advance(&follower, watermark).await {
                Ok(events) => {
                    for (id, item) in events {
                        if tx.send(Event::default().id(id).event("change").data(item.to_string())).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a live stream cannot read the change log; closing it (the client resumes with Last-Event-ID)");
                    return;
                }
            }
            tokio::select! {
                changed = watermarks.changed() => if changed.is_err() { return },
                _ = closing.wait_for(|c| *c) => return,
                () = tx.closed() => return,
            }
            watermark = Ord::max(watermark, *watermarks.borrow_and_update());
        }
    });
    Ok(sse(rx, feed.settings().keepalive))
}
