//! `/subscriptions` (docs/webhooks.md): change notifications as Graph subscriptions. A create, or a
//! PATCH that moves the notification URL, first passes the outbound policy and the validation
//! handshake; nothing is stored otherwise.

use axum::http::StatusCode;
use axum::response::Response;
use runhub_model::Code;
use runhub_model::subscription::{MAX_PER_TENANT, decode_new_subscription, decode_subscription_patch};
use runhub_model::{NotificationUrl, RunKind, SubscribedResource, Subscription, Timestamp};
use runhub_store::{RunParent, RunScope, StoreError};
use serde_json::{Map, Value, json};

use super::{Ctx, json_reply, no_content};
use crate::auth::Identity;
use crate::error::{ApiError, ApiResult};
use crate::webhooks::OutboundError;

fn render(sub: &Subscription) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), json!(sub.id.to_string()));
    m.insert("resource".into(), json!(sub.spec.resource.path()));
    m.insert("changeType".into(), json!(sub.spec.change_types.as_text()));
    m.insert("clientState".into(), json!(sub.spec.client_state));
    m.insert("notificationUrl".into(), json!(sub.spec.notification_url.as_str()));
    m.insert("lifecycleNotificationUrl".into(), json!(sub.spec.lifecycle_url.as_ref().map(NotificationUrl::as_str)));
    m.insert("expirationDateTime".into(), json!(sub.spec.expiration.to_rfc3339()));
    m.insert("applicationId".into(), json!(sub.application_id));
    m.insert("creatorId".into(), json!(sub.creator_id));
    m.insert("includeResourceData".into(), json!(false));
    m.insert("latestSupportedTlsVersion".into(), json!("v1_2"));
    m
}

fn reply(ctx: &Ctx, status: StatusCode, entity: Map<String, Value>) -> Response {
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(format!("{}/$metadata#subscriptions/$entity", ctx.root)));
    body.extend(entity);
    json_reply(status, &Value::Object(body))
}

/// Subscriptions take no query options.
fn no_options(ctx: &Ctx) -> ApiResult<()> {
    match ctx.query.params().first().map(|p| p.raw_name()) {
        Some(name) => {
            Err(ApiError::new(Code::InvalidQueryOption, format!("subscriptions take no query options; '{name}' is not supported here"))
                .with_target(name.to_owned()))
        }
        None => Ok(()),
    }
}

/// The destination passes the outbound policy (its resolved addresses included) and answers the
/// validation handshake.
async fn reachable(ctx: &Ctx, member: &str, url: &NotificationUrl) -> ApiResult<()> {
    match ctx.webhooks.outbound().check_resolved(url).await {
        Err(OutboundError::Refused(why)) => {
            return Err(ApiError::new(Code::NotificationUrlRefused, format!("'{member}' {why}")).with_target(member));
        }
        Err(other) => {
            let why = format!("Subscription validation request failed: {other}");
            return Err(ApiError::new(Code::SubscriptionValidationFailed, why).with_target(member));
        }
        Ok(()) => {}
    }
    ctx.webhooks.validate(url).await.map_err(|why| ApiError::new(Code::SubscriptionValidationFailed, why).with_target(member))
}

/// A subscription on one flow's or group's runs needs that flow or group to exist.
async fn check_exists(ctx: &Ctx, resource: SubscribedResource) -> ApiResult<()> {
    let found = match resource {
        SubscribedResource::ProcessRuns(kind, id) => ctx.state.store.get_process(&ctx.tenant, kind, id).await.map(|_| ()),
        SubscribedResource::GroupRuns(id) => {
            let scope = RunScope { parent: RunParent::All, kind: Some(RunKind::RunGroup) };
            ctx.state.store.get_run(&ctx.tenant, &scope, id).await.map(|_| ())
        }
        _ => Ok(()),
    };
    match found {
        Err(StoreError::NotFound(message)) => {
            Err(ApiError::new(Code::InvalidResource, format!("'resource': {message}")).with_target("resource"))
        }
        other => Ok(other?),
    }
}

pub async fn create(ctx: &Ctx) -> ApiResult<Response> {
    no_options(ctx)?;
    let new = decode_new_subscription(&ctx.json_body()?, Timestamp::now())?;
    let local = Identity::local();
    let identity = ctx.extensions.get::<Identity>().unwrap_or(&local);
    crate::permissions::check_subscription(&identity.grants, new.resource.watches_runs())?;
    check_exists(ctx, new.resource).await?;
    reachable(ctx, "notificationUrl", &new.notification_url).await?;
    if let Some(url) = &new.lifecycle_url {
        reachable(ctx, "lifecycleNotificationUrl", url).await?;
    }
    let sub = Subscription {
        id: runhub_model::new_id(),
        tenant: ctx.tenant.clone(),
        spec: new,
        application_id: identity.application_id.clone(),
        creator_id: identity.principal_id.clone(),
        start_position: 0,
    };
    let sub = ctx.state.store.create_subscription(sub, MAX_PER_TENANT).await?;
    let mut response = reply(ctx, StatusCode::CREATED, render(&sub));
    if let Ok(location) = axum::http::HeaderValue::from_str(&ctx.url(&format!("subscriptions/{}", sub.id))) {
        response.headers_mut().insert(axum::http::header::LOCATION, location);
    }
    Ok(response)
}

pub async fn list(ctx: &Ctx) -> ApiResult<Response> {
    no_options(ctx)?;
    let subs = ctx.state.store.list_subscriptions(&ctx.tenant).await?;
    let value: Vec<Value> = subs.iter().map(|s| Value::Object(render(s))).collect();
    Ok(json_reply(StatusCode::OK, &json!({"@odata.context": format!("{}/$metadata#subscriptions", ctx.root), "value": value})))
}

/// One subscription, with how many notifications are still owed to it (`pendingNotifications`,
/// read-only, a runhub addition).
pub async fn get(ctx: &Ctx) -> ApiResult<Response> {
    let id = ctx.path.subscription()?;
    no_options(ctx)?;
    let sub = ctx.state.store.get_subscription(&ctx.tenant, id).await?;
    let mut entity = render(&sub);
    entity.insert("pendingNotifications".into(), json!(ctx.state.store.pending_notifications(id).await?));
    Ok(reply(ctx, StatusCode::OK, entity))
}

pub async fn update(ctx: &Ctx) -> ApiResult<Response> {
    let id = ctx.path.subscription()?;
    no_options(ctx)?;
    let patch = decode_subscription_patch(&ctx.json_body()?, Timestamp::now())?;
    // Another tenant's subscription is a 404 before any request goes out.
    let current = ctx.state.store.get_subscription(&ctx.tenant, id).await?;
    if let Some(url) = &patch.notification_url
        && url != &current.spec.notification_url
    {
        reachable(ctx, "notificationUrl", url).await?;
    }
    let sub = ctx.state.store.update_subscription(&ctx.tenant, id, patch).await?;
    Ok(reply(ctx, StatusCode::OK, render(&sub)))
}

pub async fn delete(ctx: &Ctx) -> ApiResult<Response> {
    let id = ctx.path.subscription()?;
    no_options(ctx)?;
    ctx.state.store.delete_subscription(&ctx.tenant, id).await?;
    Ok(no_content())
}
