//! The runhub domain: resource types, enums and lifecycle rules (docs/api.md, "Lifecycle rules").
//!
//! Values of these types are valid by construction (parse, don't validate); nothing here does I/O,
//! so the rules can be tested without a server or a database.

pub mod code;
pub mod decode;
pub mod enums;
pub mod error;
pub mod process;
pub mod public_error;
pub mod run;
pub mod statistics;
pub mod subscription;
pub mod tenant;
pub mod text;
pub mod time;

pub use code::Code;
pub use enums::{GraphEnum, IncomingDomain, ReadinessStatus, RunStatus};
pub use error::FieldError;
pub use process::{NewProcess, Process, ProcessKind, ProcessPatch};
pub use public_error::{ErrorJson, PublicError};
pub use run::{GroupFacts, MemberCounts, MemberSummary, NewRun, OwnTimes, Run, RunKind, RunPatch, RunVariant};
pub use statistics::Statistics;
pub use subscription::{ChangeTypes, NewSubscription, NotificationUrl, SubscribedResource, Subscription, SubscriptionPatch};
pub use tenant::TenantId;
pub use text::DisplayName;
pub use time::Timestamp;
pub use uuid::Uuid;

/// A new entity id: a UUIDv7, whose time-ordered prefix makes inserts append to the primary-key
/// index instead of touching a random page per insert.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}
