//! Change notifications delivered as webhooks (docs/webhooks.md): the validation handshake,
//! which changes a subscription hears and what a notification says, and the dispatcher that
//! derives what is owed from the change log and delivers it.

mod dispatcher;
pub mod outbound;

use std::sync::Arc;
use std::time::Duration;

use runhub_model::{NotificationUrl, SubscribedResource, Subscription, Timestamp};
use runhub_store::{ChangeRecord, ChangeType, EntityKind, OutboxBatch};
use serde_json::{Map, Value, json};

pub use dispatcher::spawn;
pub use outbound::{OutboundError, Policy};

/// How webhooks are delivered (`runhub serve --webhook-…`).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub policy: Policy,
    /// How long undelivered notifications are retried before they are dropped (`missed`).
    pub retry_for: Duration,
    /// A delivery counts when the receiver answers 2xx within this.
    pub delivery_timeout: Duration,
    /// The validation handshake's limit.
    pub validation_timeout: Duration,
    /// The delay before the first retry (later ones grow to `max_retry_delay`).
    pub first_retry: Duration,
    pub max_retry_delay: Duration,
    /// Deliveries in flight at once on this replica.
    pub concurrency: usize,
    /// How often the dispatcher looks for due retries and other replicas' work.
    pub poll: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            retry_for: Duration::from_secs(4 * 3600),
            delivery_timeout: Duration::from_secs(3),
            validation_timeout: Duration::from_secs(10),
            first_retry: Duration::from_secs(5),
            max_retry_delay: Duration::from_secs(600),
            concurrency: 32,
            poll: Duration::from_secs(1),
        }
    }
}

/// The webhook settings and client of this replica, shared by the routes and the dispatcher.
#[derive(Debug, Clone)]
pub struct Webhooks(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    settings: WebhookSettings,
    outbound: outbound::Outbound,
}

impl Default for Webhooks {
    fn default() -> Self {
        Self::new(WebhookSettings::default())
    }
}

impl Webhooks {
    pub fn new(settings: WebhookSettings) -> Self {
        let outbound = outbound::Outbound::new(settings.policy);
        Self(Arc::new(Inner { settings, outbound }))
    }

    pub fn settings(&self) -> &WebhookSettings {
        &self.0.settings
    }

    pub fn outbound(&self) -> &outbound::Outbound {
        &self.0.outbound
    }

    /// The validation handshake: POSTs `url?validationToken=<token>` and wants the decoded token
    /// back, as a 200, within the validation timeout. The error says why not.
    pub async fn validate(&self, url: &NotificationUrl) -> Result<(), String> {
        let token = format!("Validation: runhub checks that this endpoint answers {}", runhub_model::new_id());
        let mut target = url::Url::parse(url.as_str()).map_err(|e| e.to_string())?;
        target.query_pairs_mut().append_pair("validationToken", &token);
        let timeout = self.settings().validation_timeout;
        let reply = self.outbound().post(target.as_str(), "text/plain", String::new(), timeout).await.map_err(|e| match e {
            OutboundError::Timeout(_) => format!("Subscription validation request timed out (no answer within {timeout:?})"),
            other => format!("Subscription validation request failed: {other}"),
        })?;
        if reply.status != reqwest::StatusCode::OK {
            return Err(format!(
                "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request \
                 (it answered {})",
                reply.status
            ));
        }
        if reply.body != token.as_bytes() {
            return Err("Subscription validation request failed. Response must exactly match validationToken query parameter".into());
        }
        Ok(())
    }
}

/// Whether `sub` hears `change`: its tenant, after it was created, while it was active, a
/// change type it wants, in the resource it watches.
pub fn hears(sub: &Subscription, change: &ChangeRecord) -> bool {
    let wanted = match change.change {
        ChangeType::Created => sub.change_types.created,
        ChangeType::Updated => sub.change_types.updated,
        ChangeType::Deleted => sub.change_types.deleted,
    };
    wanted
        && change.tenant == sub.tenant
        && change.position >= sub.start_position
        && change.at.micros() <= sub.expiration.micros()
        && match (sub.resource, change.kind) {
            (SubscribedResource::Runs, EntityKind::Run(_)) => true,
            (SubscribedResource::Processes(kind), EntityKind::Process(k)) => kind == k,
            // A run moved away by `$ref` changed for the flow it left, too.
            (SubscribedResource::ProcessRuns(_, flow), EntityKind::Run(_)) => {
                change.process_id == Some(flow) || change.moved_from == Some(flow)
            }
            (SubscribedResource::GroupRuns(group), EntityKind::Run(_)) => change.group_id == Some(group),
            _ => false,
        }
}

fn change_type(change: ChangeType) -> &'static str {
    match change {
        ChangeType::Created => "created",
        ChangeType::Updated => "updated",
        ChangeType::Deleted => "deleted",
    }
}

/// A notification's own members (the subscription's are added at delivery, as they are then).
fn notification(change: &ChangeRecord) -> Value {
    let path = match change.kind {
        EntityKind::Run(_) => format!("industryData/runs/{}", change.id),
        EntityKind::Process(kind) => format!("industryData/{}/{}", kind.entity_set(), change.id),
    };
    json!({
        "id": runhub_model::new_id().to_string(),
        "changeType": change_type(change.change),
        "resource": path,
        "resourceData": {
            "@odata.type": format!("#microsoft.graph.industryData.{}", change.kind.type_name()),
            "@odata.id": path,
            "@odata.etag": runhub_store::etag(change.version),
            "id": change.id.to_string(),
        },
    })
}

/// What `changes` owe to `subs`: per subscription, POSTs of up to 100 notifications.
pub fn batches(subs: &[Subscription], changes: &[ChangeRecord]) -> Vec<OutboxBatch> {
    let mut out = Vec::new();
    for sub in subs {
        let items: Vec<Value> = changes.iter().filter(|c| hears(sub, c)).map(notification).collect();
        for chunk in items.chunks(runhub_model::subscription::MAX_BATCH) {
            out.push(OutboxBatch {
                subscription_id: sub.id,
                lifecycle: false,
                items: Value::Array(chunk.to_vec()).to_string(),
                count: chunk.len() as u32,
            });
        }
    }
    out
}

/// A `missed` lifecycle event for `sub`, when it has somewhere to go.
pub fn missed(sub: &Subscription) -> Option<OutboxBatch> {
    sub.lifecycle_url.as_ref().map(|_| OutboxBatch {
        subscription_id: sub.id,
        lifecycle: true,
        items: json!([{"lifecycleEvent": "missed"}]).to_string(),
        count: 1,
    })
}

/// The body POSTed to the receiver: each stored item with the subscription's members added.
pub fn body(sub: &Subscription, items: &str) -> Result<String, serde_json::Error> {
    let items: Vec<Map<String, Value>> = serde_json::from_str(items)?;
    let value: Vec<Value> = items
        .into_iter()
        .map(|mut item| {
            item.insert("subscriptionId".into(), json!(sub.id.to_string()));
            item.insert("subscriptionExpirationDateTime".into(), json!(sub.expiration.to_rfc3339()));
            item.insert("clientState".into(), json!(sub.client_state));
            item.insert("tenantId".into(), json!(sub.tenant.as_str()));
            Value::Object(item)
        })
        .collect();
    Ok(json!({ "value": value }).to_string())
}

/// When to try again after `attempts` failed ones, or `None` once the retry window since
/// `created` is over.
pub fn next_attempt(settings: &WebhookSettings, attempts: u32, created: Timestamp, now: Timestamp) -> Option<Timestamp> {
    use backon::BackoffBuilder;
    let window_end = created.micros().saturating_add(i64::try_from(settings.retry_for.as_micros()).unwrap_or(i64::MAX));
    if now.micros() >= window_end {
        return None;
    }
    let delay = backon::ExponentialBuilder::default()
        .with_min_delay(settings.first_retry)
        .with_max_delay(settings.max_retry_delay)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
        .nth(attempts.saturating_sub(1) as usize)
        .unwrap_or(settings.max_retry_delay)
        .min(settings.max_retry_delay);
    let at = now.micros().saturating_add(i64::try_from(delay.as_micros()).unwrap_or(i64::MAX));
    // The last try comes at the end of the window.
    Some(Timestamp::from_micros(at.min(window_end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_grow_within_bounds_and_stop_at_the_window() {
        let settings = WebhookSettings::default();
        let created = Timestamp::from_micros(0);
        let first = next_attempt(&settings, 1, created, created).unwrap();
        assert!(first.micros() <= 10_000_000, "the first retry within 10 s: {first:?}");
        let later = next_attempt(&settings, 30, created, Timestamp::from_micros(1_000_000)).unwrap();
        assert!(later.micros() - 1_000_000 <= 600_000_000, "at most 10 min apart");
        let end = i64::try_from(settings.retry_for.as_micros()).unwrap();
        assert_eq!(next_attempt(&settings, 3, created, Timestamp::from_micros(end)), None);
        assert_eq!(next_attempt(&settings, 40, created, Timestamp::from_micros(end - 1)).unwrap().micros(), end);
    }
}
