//! The enums of the API (docs/api.md, "Resources"). Member order is sort order; the discriminant is what the store keeps,
//! so ordering by the stored integer orders by member order.

use crate::Code;
use crate::error::FieldError;

/// Shared behaviour of the Graph enums: parse from a request, render, and order.
pub trait GraphEnum: Sized + Copy + 'static {
    /// The OData enum type name, e.g. `runStatus`.
    const TYPE_NAME: &'static str;
    /// Every member, `unknownFutureValue` last, in declaration (= sort) order.
    const MEMBERS: &'static [&'static str];
    const ALL: &'static [Self];

    fn ordinal(self) -> i64;
    fn as_str(self) -> &'static str {
        Self::MEMBERS[self.ordinal() as usize]
    }
    fn from_ordinal(n: i64) -> Option<Self> {
        Self::ALL.get(usize::try_from(n).ok()?).copied()
    }
    /// Parses a member from a request body. `unknownFutureValue` is a valid member name but the
    /// server never stores it, so it is refused here.
    fn parse_input(property: &str, value: &str) -> Result<Self, FieldError> {
        if value == "unknownFutureValue" {
            return Err(FieldError::new(
                property,
                Code::UnknownFutureValueNotAllowed,
                format!("'{property}' may not be 'unknownFutureValue': it is an evolvability sentinel the server never stores"),
            ));
        }
        Self::MEMBERS.iter().position(|m| *m == value).and_then(|i| Self::from_ordinal(i as i64)).ok_or_else(|| {
            FieldError::new(
                property,
                Code::InvalidEnumValue,
                format!(
                    "'{property}' is '{value}', which is not a member of {}; expected one of: {}",
                    Self::TYPE_NAME,
                    Self::MEMBERS[..Self::MEMBERS.len() - 1].join(", ")
                ),
            )
        })
    }
}

macro_rules! graph_enum {
    ($(#[$m:meta])* $name:ident, $type_name:literal, [$($variant:ident = $text:literal),+ $(,)?]) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl GraphEnum for $name {
            const TYPE_NAME: &'static str = $type_name;
            const MEMBERS: &'static [&'static str] = &[$($text),+ , "unknownFutureValue"];
            const ALL: &'static [Self] = &[$(Self::$variant),+];
            fn ordinal(self) -> i64 { self as i64 }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

graph_enum!(
    /// Where a run is in its lifecycle. `Running` is the only non-terminal status.
    RunStatus, "runStatus", [
    Running = "running",
    Failed = "failed",
    Completed = "completed",
    CompletedWithErrors = "completedWithErrors",
    CompletedWithWarnings = "completedWithWarnings",
]);

graph_enum!(
    /// Whether a flow may run.
    ReadinessStatus, "readinessStatus", [
    NotReady = "notReady",
    Ready = "ready",
    Failed = "failed",
    Disabled = "disabled",
    Expired = "expired",
]);

graph_enum!(
    /// The kind of data an incoming flow brings.
    IncomingDomain, "incomingDomain", [
    EducationRostering = "educationRostering",
]);

impl RunStatus {
    pub fn is_terminal(self) -> bool {
        self != RunStatus::Running
    }

    /// Severity used to derive a runGroup's status from its members:
    /// failed > completedWithErrors > completedWithWarnings > completed.
    pub fn severity(self) -> u8 {
        match self {
            RunStatus::Completed => 0,
            RunStatus::CompletedWithWarnings => 1,
            RunStatus::CompletedWithErrors => 2,
            RunStatus::Failed => 3,
            RunStatus::Running => 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_order_is_ordinal_order() {
        assert_eq!(RunStatus::from_ordinal(0), Some(RunStatus::Running));
        assert_eq!(RunStatus::CompletedWithWarnings.ordinal(), 4);
        assert_eq!(RunStatus::MEMBERS.last(), Some(&"unknownFutureValue"));
        assert_eq!(RunStatus::from_ordinal(5), None);
    }

    #[test]
    fn input_refuses_sentinel_and_unknown_members() {
        assert_eq!(RunStatus::parse_input("status", "failed").unwrap(), RunStatus::Failed);
        let e = RunStatus::parse_input("status", "unknownFutureValue").unwrap_err();
        assert_eq!(e.target, "status");
        let e = RunStatus::parse_input("status", "Failed").unwrap_err();
        assert!(e.message.contains("expected one of"), "{}", e.message);
    }
}
