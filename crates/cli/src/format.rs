//! Human output: tables, relative times, durations, status colors. Everything is written through
//! `anstream`, which drops the colors when stdout is not a terminal or `NO_COLOR` is set.

use std::io::Write;

use anstyle::{AnsiColor, Style};
use chrono::{DateTime, Utc};
use comfy_table::{Cell, ContentArrangement, Table, presets};
use serde_json::Value;

use crate::client::{Error, Result};

/// Writes to stdout. A closed pipe (`runhub runs list | head -1`) is not an error: output stops.
pub fn out(text: &str) -> Result<()> {
    let mut stdout = anstream::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::other(format!("cannot write to stdout: {e}"))),
    }
}

pub fn outln(text: &str) -> Result<()> {
    out(&format!("{text}\n"))
}

/// A warning or note for the person running the command, on stderr.
pub fn note(text: &str) {
    let style = Style::new().fg_color(Some(AnsiColor::Yellow.into()));
    let _ = writeln!(anstream::stderr(), "{style}runhub:{style:#} {text}");
}

pub fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

pub fn bold(text: &str) -> String {
    paint(Style::new().bold(), text)
}

pub fn dim(text: &str) -> String {
    paint(Style::new().dimmed(), text)
}

pub fn status_style(status: &str) -> Style {
    let color = match status {
        "running" => AnsiColor::Cyan,
        "completed" => AnsiColor::Green,
        "completedWithWarnings" | "completedWithErrors" => AnsiColor::Yellow,
        "failed" | "deleted" => AnsiColor::Red,
        _ => return Style::new(),
    };
    Style::new().fg_color(Some(color.into()))
}

pub fn status(status: &str) -> String {
    paint(status_style(status), status)
}

/// An aligned table without borders; the header in bold.
pub fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled);
    table.set_header(header.iter().map(|h| Cell::new(bold(h))));
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    table
}

/// Prints a table, trimming the spaces comfy-table leaves at the end of lines.
pub fn print_table(table: &Table) -> Result<()> {
    let mut text = String::new();
    for line in table.lines() {
        text.push_str(line.trim_end());
        text.push('\n');
    }
    out(&text)
}

pub fn parse_time(value: &Value) -> Option<DateTime<Utc>> {
    value.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|t| t.with_timezone(&Utc))
}

/// "just now", "12 s ago", "3 min ago", "5 h ago", "2 d ago", "in 3 min"; a date after 30 days.
pub fn relative(time: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - time).num_seconds();
    let past = seconds >= 0;
    let s = seconds.unsigned_abs();
    let amount = match s {
        0..5 => return "just now".to_owned(),
        5..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h", s / 3600),
        86_400..2_592_000 => format!("{} d", s / 86_400),
        _ => return time.format("%Y-%m-%d").to_string(),
    };
    if past { format!("{amount} ago") } else { format!("in {amount}") }
}

/// "850 ms", "12 s", "3m 12s", "2h 05m", "3d 04h".
pub fn duration(d: chrono::TimeDelta) -> String {
    let ms = d.num_milliseconds().max(0);
    let s = ms / 1000;
    match s {
        0 => format!("{ms} ms"),
        1..60 => format!("{s} s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// The short kind of an entity from its `@odata.type`: `incomingFlowRun` → `incoming`, …
pub fn kind(entity: &Value) -> &'static str {
    match entity.get("@odata.type").and_then(Value::as_str).unwrap_or_default().rsplit('.').next().unwrap_or_default() {
        "incomingFlowRun" | "incomingFlow" => "incoming",
        "outgoingFlowRun" | "outgoingFlow" => "outgoing",
        "runGroup" => "group",
        _ => "?",
    }
}

pub fn str_of<'a>(entity: &'a Value, key: &str) -> &'a str {
    entity.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// A run's start, relative, and its duration (so far, when still running).
pub fn run_times(run: &Value, now: DateTime<Utc>) -> (String, String) {
    let start = parse_time(&run["startDateTime"]);
    let end = parse_time(&run["endDateTime"]);
    let started = start.map(|s| relative(s, now)).unwrap_or_default();
    let took = match (start, end) {
        (Some(s), Some(e)) => duration(e - s),
        (Some(s), None) => format!("{}…", duration(now - s)),
        _ => String::new(),
    };
    (started, took)
}

/// The JSON text of a value as a cell shows it: strings bare, the rest compact JSON.
pub fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn relative_times() {
        let now = Utc::now();
        assert_eq!(relative(now, now), "just now");
        assert_eq!(relative(now - TimeDelta::seconds(12), now), "12 s ago");
        assert_eq!(relative(now - TimeDelta::seconds(190), now), "3 min ago");
        assert_eq!(relative(now - TimeDelta::hours(5), now), "5 h ago");
        assert_eq!(relative(now - TimeDelta::days(2), now), "2 d ago");
        assert_eq!(relative(now + TimeDelta::seconds(200), now), "in 3 min");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(TimeDelta::milliseconds(850)), "850 ms");
        assert_eq!(duration(TimeDelta::seconds(12)), "12 s");
        assert_eq!(duration(TimeDelta::seconds(192)), "3m 12s");
        assert_eq!(duration(TimeDelta::seconds(7500)), "2h 05m");
        assert_eq!(duration(TimeDelta::hours(76)), "3d 04h");
        assert_eq!(duration(TimeDelta::seconds(-3)), "0 ms");
    }
}
