//! `runs list` flags → an OData `$filter`. User text only ever enters as an escaped string literal.

use chrono::{DateTime, NaiveDate, SecondsFormat, SubsecRound, Utc};

/// An OData string literal: single quotes around the text, each `'` inside doubled.
pub fn string_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A DateTimeOffset literal (unquoted, UTC, at most microseconds: the service keeps no more).
pub fn time_literal(time: DateTime<Utc>) -> String {
    time.trunc_subsecs(6).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The run statuses a filter or a finish may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Status {
    #[value(name = "running")]
    Running,
    #[value(name = "failed")]
    Failed,
    #[value(name = "completed")]
    Completed,
    #[value(name = "completedWithErrors")]
    CompletedWithErrors,
    #[value(name = "completedWithWarnings")]
    CompletedWithWarnings,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Failed => "failed",
            Status::Completed => "completed",
            Status::CompletedWithErrors => "completedWithErrors",
            Status::CompletedWithWarnings => "completedWithWarnings",
        }
    }
}

/// The kinds of run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// incomingFlowRun
    Incoming,
    /// outgoingFlowRun
    Outgoing,
    /// runGroup
    Group,
}

impl Kind {
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::Incoming => "microsoft.graph.industryData.incomingFlowRun",
            Kind::Outgoing => "microsoft.graph.industryData.outgoingFlowRun",
            Kind::Group => "microsoft.graph.industryData.runGroup",
        }
    }
}

/// The filters of `runs list`.
#[derive(Debug, Default, Clone)]
pub struct RunFilter {
    pub statuses: Vec<Status>,
    pub kinds: Vec<Kind>,
    pub process: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub name: Option<String>,
}

impl RunFilter {
    /// The `$filter` expression, or None when no flag filters.
    pub fn expression(&self) -> Option<String> {
        let mut terms = Vec::new();
        match self.statuses.as_slice() {
            [] => {}
            [one] => terms.push(format!("status eq '{}'", one.as_str())),
            many => {
                let list: Vec<String> = many.iter().map(|s| format!("'{}'", s.as_str())).collect();
                terms.push(format!("status in ({})", list.join(",")));
            }
        }
        if !self.kinds.is_empty() {
            let any: Vec<String> = self.kinds.iter().map(|k| format!("isof('{}')", k.type_name())).collect();
            terms.push(if any.len() == 1 { any[0].clone() } else { format!("({})", any.join(" or ")) });
        }
        if let Some(process) = &self.process {
            terms.push(format!("process/id eq {}", string_literal(process)));
        }
        if let Some(since) = self.since {
            terms.push(format!("startDateTime ge {}", time_literal(since)));
        }
        if let Some(until) = self.until {
            terms.push(format!("startDateTime lt {}", time_literal(until)));
        }
        if let Some(name) = &self.name {
            terms.push(format!("contains(displayName,{})", string_literal(name)));
        }
        (!terms.is_empty()).then(|| terms.join(" and "))
    }
}

/// A point in time as `--since`/`--until` take it: RFC 3339 (`2026-12-01T08:00:00Z`, any
/// offset), a date (`2026-12-01`, midnight UTC), or a duration back from now (`2h`, `3d`, `90min`).
pub fn parse_point(text: &str) -> Result<DateTime<Utc>, String> {
    parse_point_at(text, Utc::now())
}

fn parse_point_at(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    if let Ok(d) = humantime::parse_duration(text) {
        let d = chrono::TimeDelta::from_std(d).map_err(|_| format!("'{text}' is too long ago"))?;
        return now.checked_sub_signed(d).ok_or_else(|| format!("'{text}' is too long ago"));
    }
    Err(format!("'{text}' is neither a time (2026-12-01T08:00:00Z, 2026-12-01) nor a duration back from now (2h, 3d, 90min)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_escaped() {
        assert_eq!(string_literal("it's"), "'it''s'");
        assert_eq!(string_literal("' or 1 eq 1 or '"), "''' or 1 eq 1 or '''");
    }

    #[test]
    fn flags_become_one_filter() {
        assert_eq!(RunFilter::default().expression(), None);
        let f = RunFilter {
            statuses: vec![Status::Failed, Status::CompletedWithErrors],
            kinds: vec![Kind::Incoming],
            process: Some("p'1".into()),
            since: Some(parse_point_at("2026-12-01", Utc::now()).unwrap()),
            until: Some(parse_point_at("2026-12-02T10:00:00+02:00", Utc::now()).unwrap()),
            name: Some("O'Brien".into()),
        };
        assert_eq!(
            f.expression().unwrap(),
            "status in ('failed','completedWithErrors') and isof('microsoft.graph.industryData.incomingFlowRun') and \
             process/id eq 'p''1' and startDateTime ge 2026-12-01T00:00:00Z and startDateTime lt 2026-12-02T08:00:00Z and \
             contains(displayName,'O''Brien')"
        );
        let two = RunFilter { kinds: vec![Kind::Incoming, Kind::Group], ..Default::default() };
        assert_eq!(
            two.expression().unwrap(),
            "(isof('microsoft.graph.industryData.incomingFlowRun') or isof('microsoft.graph.industryData.runGroup'))"
        );
    }

    #[test]
    fn points_in_time() {
        let now = DateTime::parse_from_rfc3339("2026-12-06T12:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(time_literal(parse_point_at("2h", now).unwrap()), "2026-12-06T10:00:00Z");
        assert_eq!(time_literal(parse_point_at("3d", now).unwrap()), "2026-12-03T12:00:00Z");
        assert!(parse_point_at("yesterday-ish", now).is_err());
    }
}
