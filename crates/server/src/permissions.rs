//! Who may do what. Each row of the URL table (`router.rs`) names its [`Access`]: a caller needs
//! any one of its permissions; `$expand` additionally needs read access to what it expands.

use axum::http::{Method, header};
use runhub_model::Code;

use runhub_odata::QueryString;

use crate::auth::{Grants, Permission};
use crate::error::{ApiError, ApiResult};
use crate::path::ResourcePath;

use Permission::{FlowRead, FlowReadWrite, RunRead, RunReadWrite, RunStart};

/// Who may call a route: a caller needs any one of `any_of` (empty: any authenticated caller), and
/// for a route that returns a run's flow, flow read as well.
#[derive(Debug, Clone, Copy)]
pub struct Access {
    pub any_of: &'static [Permission],
    pub and_flow_read: bool,
}

const fn any_of(any_of: &'static [Permission]) -> Access {
    Access { any_of, and_flow_read: false }
}

const READ_RUNS: &[Permission] = &[RunRead, RunReadWrite];
const READ_FLOWS: &[Permission] = &[FlowRead, FlowReadWrite];

/// Any authenticated caller (no permission needed): the service document and `$metadata` describe
/// the API, not anyone's data; `$batch` checks each of its requests on its own; subscriptions are
/// checked against what they watch.
pub const AUTHENTICATED: Access = any_of(&[]);
pub const RUNS_READ: Access = any_of(READ_RUNS);
pub const RUNS_WRITE: Access = any_of(&[RunReadWrite]);
pub const RUNS_START: Access = any_of(&[RunStart, RunReadWrite]);
pub const FLOWS_READ: Access = any_of(READ_FLOWS);
pub const FLOWS_WRITE: Access = any_of(&[FlowReadWrite]);
/// A run's flow: run read, and flow read for the flow it returns.
pub const RUN_AND_FLOW_READ: Access = Access { any_of: READ_RUNS, and_flow_read: true };

/// The read permission a subscription needs for what it watches.
pub fn check_subscription(grants: &Grants, watches_runs: bool) -> ApiResult<()> {
    let needs = if watches_runs { READ_RUNS } else { READ_FLOWS };
    if allows(grants, needs) { Ok(()) } else { Err(denied(needs, "subscribing to this resource")) }
}

/// What a navigation brings in, beside the row's own permission: `process` (a run's flow) needs
/// flow read, `runs` (a flow's or group's runs) needs run read. Used for `$expand` and for
/// `…/runs/{runId}/process`, which returns a flow.
pub const NAVIGATION: &[(&str, &[Permission])] = &[("process", READ_FLOWS), ("runs", READ_RUNS)];

fn denied(needs: &[Permission], what: &str) -> ApiError {
    let names: Vec<&str> = needs.iter().map(|p| p.as_str()).collect();
    ApiError::new(Code::AccessDenied, format!("{what} requires one of these permissions (scp or roles): {}", names.join(", "))).with_header(
        header::WWW_AUTHENTICATE,
        format!("Bearer realm=\"runhub\", error=\"insufficient_scope\", scope=\"{}\"", names.join(" ")),
    )
}

fn allows(grants: &Grants, any_of: &[Permission]) -> bool {
    any_of.is_empty() || any_of.iter().any(|p| grants.has(*p))
}

/// Refuses (403) what the caller's grants do not allow: the route's access, plus read access to
/// whatever `$expand` brings in.
pub fn check(grants: &Grants, access: Access, path: &ResourcePath, method: &Method, query: &QueryString) -> ApiResult<()> {
    if *grants == Grants::All {
        return Ok(());
    }
    if !allows(grants, access.any_of) {
        return Err(denied(access.any_of, &format!("{method} /beta/{}", path.path)));
    }
    if access.and_flow_read && !allows(grants, READ_FLOWS) {
        return Err(denied(READ_FLOWS, "reading a run's process"));
    }
    // What `$expand` brings in, at any depth: a navigation named anywhere in an `$expand` value
    // (nested options included) needs its read permission. Over-inclusive by design: a stray
    // mention costs a 403, never a leak. An unknown navigation is the query parser's 400.
    let expanded = query.params().iter().filter(|p| p.bare_name().is_some_and(|n| n.trim().eq_ignore_ascii_case("expand")));
    let values: Vec<&str> = expanded.filter_map(|p| p.value.as_deref()).collect();
    for (nav, needs) in NAVIGATION {
        if values.iter().any(|v| v.contains(nav)) && !allows(grants, needs) {
            return Err(denied(needs, &format!("$expand of {nav}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_expansions_need_their_permissions() {
        use std::collections::BTreeSet;
        let path = ResourcePath {
            resource: crate::path::Resource::Runs(runhub_store::RunScope::all()),
            count: false,
            context: String::new(),
            path: "x".into(),
        };
        let runs_only = Grants::Some(BTreeSet::from([Permission::RunRead]));
        let get = Method::GET;
        assert!(check(&runs_only, RUNS_READ, &path, &get, &QueryString::parse(Some("$top=1"))).is_ok());
        assert!(check(&runs_only, RUNS_READ, &path, &get, &QueryString::parse(Some("$expand=process"))).is_err());
        assert!(check(&runs_only, RUNS_READ, &path, &get, &QueryString::parse(Some("%24expand=runs(%24expand%3Dprocess)"))).is_err());
        assert!(check(&runs_only, RUNS_READ, &path, &get, &QueryString::parse(Some("expand=runs"))).is_ok());
    }
}
