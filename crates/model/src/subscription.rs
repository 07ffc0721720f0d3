//! Change-notification subscriptions (docs/webhooks.md): what a subscription watches, which
//! changes it wants, where they go, and until when. Parsed from a request body into values that
//! can only hold valid subscriptions; whether a URL may be *reached* (scheme and address policy)
//! is the server's call, not the model's.

use crate::Code;
use serde_json::{Map, Value};

use crate::error::{FieldError, json_kind};
use crate::process::ProcessKind;
use crate::time::Timestamp;
use crate::{TenantId, Uuid};

/// The longest a subscription may live: 4,230 minutes, as Graph allows.
pub const MAX_LIFETIME_MICROS: i64 = 4_230 * 60 * 1_000_000;
/// The longest `clientState`, in characters.
pub const MAX_CLIENT_STATE_CHARS: usize = 255;
/// The most subscriptions one tenant may hold.
pub const MAX_PER_TENANT: u64 = 100;
/// The most notifications in one POST to a receiver.
pub const MAX_BATCH: usize = 100;

/// What a subscription watches: one of the collections change notifications are offered on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscribedResource {
    /// `industryData/runs`: every run, runGroups included.
    Runs,
    /// `industryData/incomingFlows` or `industryData/outgoingFlows`.
    Processes(ProcessKind),
    /// `industryData/{incoming|outgoing}Flows/{id}/runs`.
    ProcessRuns(ProcessKind, Uuid),
    /// `industryData/runGroups/{id}/runs`.
    GroupRuns(Uuid),
}

impl SubscribedResource {
    /// Parses the `resource` member: a relative path (a leading `/` is allowed).
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let bad = |why: &str| {
            FieldError::new(
                "resource",
                Code::InvalidResource,
                format!(
                    "'{text}' {why}; subscribable resources are industryData/runs, industryData/incomingFlows, \
                     industryData/outgoingFlows, industryData/{{incomingFlows|outgoingFlows}}/{{id}}/runs and \
                     industryData/runGroups/{{id}}/runs"
                ),
            )
        };
        let trimmed = text.trim_start_matches('/');
        if trimmed.contains(['?', '#']) || trimmed.contains("://") {
            return Err(bad("is not a relative resource path"));
        }
        let id = |s: &str| Uuid::parse_str(s).map_err(|_| bad("does not hold a valid id"));
        match trimmed.split('/').collect::<Vec<_>>().as_slice() {
            ["industryData", "runs"] => Ok(Self::Runs),
            ["industryData", set] => ProcessKind::from_entity_set(set).map(Self::Processes).ok_or_else(|| bad("is not subscribable")),
            ["industryData", "runGroups", group, "runs"] => Ok(Self::GroupRuns(id(group)?)),
            ["industryData", set, process, "runs"] => match ProcessKind::from_entity_set(set) {
                Some(kind) => Ok(Self::ProcessRuns(kind, id(process)?)),
                None => Err(bad("is not subscribable")),
            },
            _ => Err(bad("is not subscribable")),
        }
    }

    /// The canonical relative path, as stored and shown.
    pub fn path(&self) -> String {
        match self {
            Self::Runs => "industryData/runs".into(),
            Self::Processes(kind) => format!("industryData/{}", kind.entity_set()),
            Self::ProcessRuns(kind, id) => format!("industryData/{}/{id}/runs", kind.entity_set()),
            Self::GroupRuns(id) => format!("industryData/runGroups/{id}/runs"),
        }
    }

    /// Whether it watches runs (else processes): which read permission it needs.
    pub fn watches_runs(&self) -> bool {
        !matches!(self, Self::Processes(_))
    }
}

/// The kinds of change a subscription wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeTypes {
    pub created: bool,
    pub updated: bool,
    pub deleted: bool,
}

impl ChangeTypes {
    /// Parses `changeType`: a comma-separated, non-empty subset of `created,updated,deleted`.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let mut types = Self { created: false, updated: false, deleted: false };
        for part in text.split(',') {
            let slot = match part.trim() {
                "created" => &mut types.created,
                "updated" => &mut types.updated,
                "deleted" => &mut types.deleted,
                other => {
                    return Err(FieldError::new(
                        "changeType",
                        Code::InvalidChangeType,
                        format!("'{other}' is not a change type; changeType is a comma-separated list of created, updated, deleted"),
                    ));
                }
            };
            if *slot {
                return Err(FieldError::new(
                    "changeType",
                    Code::InvalidChangeType,
                    format!("'{}' is listed twice in changeType", part.trim()),
                ));
            }
            *slot = true;
        }
        Ok(types)
    }

    /// The canonical text (`created,updated,deleted` order).
    pub fn as_text(&self) -> String {
        let names = [(self.created, "created"), (self.updated, "updated"), (self.deleted, "deleted")];
        names.iter().filter(|(on, _)| *on).map(|(_, n)| *n).collect::<Vec<_>>().join(",")
    }

    /// As stored: one bit per type.
    pub fn bits(&self) -> i64 {
        i64::from(self.created) | (i64::from(self.updated) << 1) | (i64::from(self.deleted) << 2)
    }

    pub fn from_bits(bits: i64) -> Self {
        Self { created: bits & 1 != 0, updated: bits & 2 != 0, deleted: bits & 4 != 0 }
    }
}

/// An absolute `http`/`https` URL a notification can be POSTed to (syntax only: whether it may be
/// reached is decided by the server's outbound policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationUrl(String);

impl NotificationUrl {
    pub fn parse(property: &str, text: &str) -> Result<Self, FieldError> {
        let bad = |why: String| FieldError::new(property, Code::InvalidNotificationUrl, format!("'{property}' {why}"));
        let url = url::Url::parse(text).map_err(|e| bad(format!("is not an absolute URL ('{text}'): {e}")))?;
        if url.scheme() != "https" && url.scheme() != "http" {
            return Err(bad(format!("must be an https:// URL, not {}://", url.scheme())));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("has no host".into()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not carry credentials".into()));
        }
        if url.fragment().is_some() {
            return Err(bad("must not have a #fragment".into()));
        }
        Ok(Self(url.into()))
    }

    /// Rebuilds one already checked (read back from the store).
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A subscription as a create request describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    pub change_types: ChangeTypes,
    pub notification_url: NotificationUrl,
    pub lifecycle_url: Option<NotificationUrl>,
    pub resource: SubscribedResource,
    pub expiration: Timestamp,
    pub client_state: Option<String>,
}

/// What a PATCH may change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionPatch {
    pub expiration: Option<Timestamp>,
    pub notification_url: Option<NotificationUrl>,
}

/// A stored subscription: what was asked for, and what the server added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: Uuid,
    pub tenant: TenantId,
    /// The members the client chose (`expirationDateTime` and `notificationUrl` change by PATCH).
    pub spec: NewSubscription,
    pub application_id: Option<String>,
    pub creator_id: Option<String>,
    /// The change-log position it was created at: it hears the changes from there on.
    pub start_position: u64,
}

/// Members Graph clients send that runhub accepts and does not use.
const ACCEPTED_AND_UNUSED: [&str; 4] = ["@odata.type", "latestSupportedTlsVersion", "notificationUrlAppId", "includeResourceData"];

fn text<'a>(property: &str, value: &'a Value) -> Result<&'a str, FieldError> {
    match value {
        Value::String(s) => Ok(s),
        Value::Null => Err(FieldError::new(property, Code::NullNotAllowed, format!("'{property}' cannot be null"))),
        other => {
            Err(FieldError::new(property, Code::InvalidPropertyType, format!("'{property}' must be a string, got {}", json_kind(other))))
        }
    }
}

/// Checks `expirationDateTime`: after `now`, at most 4,230 minutes ahead.
pub fn check_expiration(at: Timestamp, now: Timestamp) -> Result<Timestamp, FieldError> {
    if at.micros() <= now.micros() {
        return Err(FieldError::new("expirationDateTime", Code::InvalidExpiration, "'expirationDateTime' must be in the future"));
    }
    if at.micros() - now.micros() > MAX_LIFETIME_MICROS {
        return Err(FieldError::new(
            "expirationDateTime",
            Code::InvalidExpiration,
            "'expirationDateTime' may be at most 4230 minutes (about 70.5 hours) from now; renew it with PATCH",
        ));
    }
    Ok(at)
}

fn expiration(value: &Value, now: Timestamp) -> Result<Timestamp, FieldError> {
    check_expiration(Timestamp::parse_property("expirationDateTime", text("expirationDateTime", value)?)?, now)
}

fn read_only(property: &str) -> FieldError {
    FieldError::new(property, Code::ReadOnlyProperty, format!("'{property}' is read-only: the server sets it"))
}

fn unknown(property: &str) -> FieldError {
    FieldError::new(property, Code::UnknownProperty, format!("'{property}' is not a property of microsoft.graph.subscription"))
}

const READ_ONLY: [&str; 4] = ["id", "applicationId", "creatorId", "pendingNotifications"];

/// Decodes a create body.
pub fn decode_new_subscription(body: &Map<String, Value>, now: Timestamp) -> Result<NewSubscription, FieldError> {
    let (mut change_types, mut url, mut lifecycle, mut resource, mut expires, mut client_state) = (None, None, None, None, None, None);
    for (key, value) in body {
        match key.as_str() {
            "changeType" => change_types = Some(ChangeTypes::parse(text(key, value)?)?),
            "notificationUrl" => url = Some(NotificationUrl::parse(key, text(key, value)?)?),
            "lifecycleNotificationUrl" if value.is_null() => {}
            "lifecycleNotificationUrl" => lifecycle = Some(NotificationUrl::parse(key, text(key, value)?)?),
            "resource" => resource = Some(SubscribedResource::parse(text(key, value)?)?),
            "expirationDateTime" => expires = Some(expiration(value, now)?),
            "clientState" if value.is_null() => {}
            "clientState" => {
                let state = text(key, value)?;
                if state.chars().count() > MAX_CLIENT_STATE_CHARS {
                    return Err(FieldError::new(
                        key,
                        Code::InvalidClientState,
                        format!("'clientState' may hold at most {MAX_CLIENT_STATE_CHARS} characters"),
                    ));
                }
                client_state = Some(state.to_owned());
            }
            k if READ_ONLY.contains(&k) => return Err(read_only(k)),
            k if ACCEPTED_AND_UNUSED.contains(&k) || k.starts_with("@odata.") => {}
            k => return Err(unknown(k)),
        }
    }
    let missing = |p: &str| FieldError::new(p, Code::MissingProperty, format!("'{p}' is required to create a subscription"));
    Ok(NewSubscription {
        change_types: change_types.ok_or_else(|| missing("changeType"))?,
        notification_url: url.ok_or_else(|| missing("notificationUrl"))?,
        lifecycle_url: lifecycle,
        resource: resource.ok_or_else(|| missing("resource"))?,
        expiration: expires.ok_or_else(|| missing("expirationDateTime"))?,
        client_state,
    })
}

/// Decodes a PATCH body: only `expirationDateTime` and `notificationUrl` may change.
pub fn decode_subscription_patch(body: &Map<String, Value>, now: Timestamp) -> Result<SubscriptionPatch, FieldError> {
    let mut patch = SubscriptionPatch::default();
    for (key, value) in body {
        match key.as_str() {
            "expirationDateTime" => patch.expiration = Some(expiration(value, now)?),
            "notificationUrl" => patch.notification_url = Some(NotificationUrl::parse(key, text(key, value)?)?),
            "changeType" | "resource" | "clientState" | "lifecycleNotificationUrl" => {
                return Err(FieldError::new(
                    key.as_str(),
                    Code::PropertyNotUpdatable,
                    format!("'{key}' cannot be changed; only expirationDateTime and notificationUrl can (delete and create it again)"),
                ));
            }
            k if READ_ONLY.contains(&k) => return Err(read_only(k)),
            k if ACCEPTED_AND_UNUSED.contains(&k) || k.starts_with("@odata.") => {}
            k => return Err(unknown(k)),
        }
    }
    Ok(patch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn good() -> Value {
        json!({
            "changeType": "created,updated",
            "notificationUrl": "https://example.com/hook",
            "resource": "industryData/runs",
            "expirationDateTime": "2026-01-02T00:00:00Z",
        })
    }

    fn now() -> Timestamp {
        Timestamp::parse("2026-01-01T00:00:00Z").unwrap()
    }

    #[test]
    fn resources_parse_and_print_canonically() {
        let id = "01a24ac0-f257-75be-91d9-2f7182158f7b";
        for (given, canonical) in [
            ("industryData/runs", "industryData/runs".to_owned()),
            ("/industryData/outgoingFlows", "industryData/outgoingFlows".to_owned()),
            (&format!("industryData/incomingFlows/{id}/runs"), format!("industryData/incomingFlows/{id}/runs")),
            (&format!("industryData/runGroups/{id}/runs"), format!("industryData/runGroups/{id}/runs")),
        ] {
            assert_eq!(SubscribedResource::parse(given).unwrap().path(), canonical);
        }
        for bad in ["industryData/runGroups", "industryData/incomingFlows/x/runs", "me/messages", "https://x/industryData/runs", ""] {
            assert_eq!(SubscribedResource::parse(bad).unwrap_err().target, "resource", "{bad}");
        }
    }

    #[test]
    fn change_types_are_a_nonempty_subset_without_repeats() {
        assert_eq!(ChangeTypes::parse("deleted,created").unwrap().as_text(), "created,deleted");
        assert_eq!(ChangeTypes::from_bits(ChangeTypes::parse("updated").unwrap().bits()).as_text(), "updated");
        for bad in ["", "created,", "created,created", "moved"] {
            assert!(ChangeTypes::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_bad_member_is_named() {
        let cases = [
            ("changeType", json!("nope")),
            ("notificationUrl", json!("ftp://example.com/")),
            ("notificationUrl", json!("hook")),
            ("notificationUrl", json!("https://user:pw@example.com/")),
            ("resource", json!("industryData/nothing")),
            ("expirationDateTime", json!("2025-12-31T00:00:00Z")),
            ("expirationDateTime", json!("2026-01-05T00:00:00Z")),
            ("expirationDateTime", json!("soon")),
            ("clientState", json!("x".repeat(256))),
            ("clientState", json!(5)),
            ("id", json!("mine")),
            ("color", json!("blue")),
        ];
        for (member, value) in cases {
            let mut b = good();
            b[member] = value;
            assert_eq!(decode_new_subscription(&body(b), now()).unwrap_err().target, member);
        }
        for member in ["changeType", "notificationUrl", "resource", "expirationDateTime"] {
            let mut b = good();
            b.as_object_mut().unwrap().remove(member);
            assert_eq!(decode_new_subscription(&body(b), now()).unwrap_err().code, "missingProperty");
        }
        let ok = decode_new_subscription(&body(good()), now()).unwrap();
        assert_eq!(ok.resource, SubscribedResource::Runs);
        assert!(decode_subscription_patch(&body(json!({"resource": "industryData/runs"})), now()).is_err());
    }
}
