//! Change notifications delivered as webhooks (docs/webhooks.md): the validation handshake,
//! which changes a subscription hears and what a notification says, and the dispatcher that
//! derives what is owed from the change log and delivers it.

mod dispatcher;
pub mod outbound;

use std::sync::Arc;
use std::time::Duration;

use runhub_model::{NotificationUrl, ProcessKind, RunKind, SubscribedResource, Subscription, Timestamp};
use runhub_store::{ChangeRecord, ChangeType, EntityKind, OutboxBatch};
use serde_json::json;

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
        ChangeType::Created => sub.spec.change_types.created,
        ChangeType::Updated => sub.spec.change_types.updated,
        ChangeType::Deleted => sub.spec.change_types.deleted,
    };
    wanted
        && change.tenant == sub.tenant
        && change.position >= sub.start_position
        && change.at.micros() <= sub.spec.expiration.micros()
        && match (sub.spec.resource, change.kind) {
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

/// One notification as the outbox keeps it — `[change seq, change type, kind, entity id, version]`,
/// about a sixth of the JSON it becomes (the outbox's bytes are write cost); the rest is rendered
/// when it is sent.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Owed(i64, u8, i64, String, i64);

const PROCESS_KINDS: i64 = 100;

fn owed(change: &ChangeRecord) -> Owed {
    let kind = match change.kind {
        EntityKind::Run(k) => k.ordinal(),
        EntityKind::Process(k) => PROCESS_KINDS + k.ordinal(),
    };
    let change_type = match change.change {
        ChangeType::Created => 0,
        ChangeType::Updated => 1,
        ChangeType::Deleted => 2,
    };
    Owed(change.seq, change_type, kind, change.id.to_string(), change.version)
}

/// A notification as Graph sends it.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Notification<'a> {
    id: String,
    subscription_id: &'a str,
    subscription_expiration_date_time: &'a str,
    client_state: Option<&'a str>,
    change_type: &'static str,
    resource: String,
    tenant_id: &'a str,
    resource_data: ResourceData<'a>,
}

#[derive(serde::Serialize)]
struct ResourceData<'a> {
    #[serde(rename = "@odata.type")]
    odata_type: String,
    #[serde(rename = "@odata.id")]
    odata_id: String,
    #[serde(rename = "@odata.etag")]
    odata_etag: String,
    id: &'a str,
}

#[derive(serde::Serialize)]
struct Body<'a> {
    value: Vec<Notification<'a>>,
}

/// Writes `{"value": [...]}` for `owed` — with a serializer, not a `Value` tree: this runs for
/// every notification delivered.
fn render(sub: &Subscription, owed: &[Owed]) -> Result<String, String> {
    let (subscription_id, expiration) = (sub.id.to_string(), sub.spec.expiration.to_rfc3339());
    let (hi, lo) = sub.id.as_u64_pair();
    let mut value = Vec::with_capacity(owed.len());
    for o in owed {
        let Owed(seq, change, kind, id, version) = o;
        let unknown = || format!("an unknown kind or change in {o:?}");
        let change = [ChangeType::Created, ChangeType::Updated, ChangeType::Deleted].get(usize::from(*change)).ok_or_else(unknown)?;
        let (path, type_name) = if *kind >= PROCESS_KINDS {
            let k = ProcessKind::from_ordinal(kind - PROCESS_KINDS).ok_or_else(unknown)?;
            (format!("industryData/{}/{id}", k.entity_set()), k.type_name())
        } else {
            (format!("industryData/runs/{id}"), RunKind::from_ordinal(*kind).ok_or_else(unknown)?.type_name())
        };
        value.push(Notification {
            // Stable across retries and unique per subscription: the subscription's id with the
            // change's sequence number mixed into its low half.
            id: runhub_model::Uuid::from_u64_pair(hi, lo ^ (*seq as u64)).to_string(),
            subscription_id: &subscription_id,
            subscription_expiration_date_time: &expiration,
            client_state: sub.spec.client_state.as_deref(),
            change_type: change_type(*change),
            tenant_id: sub.tenant.as_str(),
            resource_data: ResourceData {
                odata_type: format!("#microsoft.graph.industryData.{type_name}"),
                odata_id: path.clone(),
                odata_etag: runhub_store::etag(*version),
                id,
            },
            resource: path,
        });
    }
    serde_json::to_string(&Body { value }).map_err(|e| e.to_string())
}

/// What `changes` owe to `subs`: per subscription, POSTs of up to 100 notifications.
pub fn batches(subs: &[Subscription], changes: &[ChangeRecord]) -> Vec<OutboxBatch> {
    let mut out = Vec::new();
    for sub in subs {
        let items: Vec<Owed> = changes.iter().filter(|c| hears(sub, c)).map(owed).collect();
        for chunk in items.chunks(runhub_model::subscription::MAX_BATCH) {
            out.push(OutboxBatch {
                subscription_id: sub.id,
                lifecycle: false,
                items: serde_json::to_string(chunk).unwrap_or_default(),
                count: chunk.len() as u32,
            });
        }
    }
    out
}

/// A `missed` lifecycle event for `sub`, when it has somewhere to go.
pub fn missed(sub: &Subscription) -> Option<OutboxBatch> {
    sub.spec.lifecycle_url.as_ref().map(|_| OutboxBatch { subscription_id: sub.id, lifecycle: true, items: "missed".into(), count: 1 })
}

/// The body POSTed to the receiver: the notifications of an outbox row, or its lifecycle event.
pub fn body(sub: &Subscription, items: &str, lifecycle: bool) -> Result<String, String> {
    if lifecycle {
        let event = json!({
            "subscriptionId": sub.id.to_string(),
            "subscriptionExpirationDateTime": sub.spec.expiration.to_rfc3339(),
            "tenantId": sub.tenant.as_str(),
            "clientState": sub.spec.client_state,
            "lifecycleEvent": items,
        });
        return Ok(json!({ "value": [event] }).to_string());
    }
    let owed: Vec<Owed> = serde_json::from_str(items).map_err(|e| e.to_string())?;
    render(sub, &owed)
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
