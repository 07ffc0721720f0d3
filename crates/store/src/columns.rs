//! Where each queryable property path lives in the schema. One table per resource family: every
//! run kind in `runs`, both flow kinds in `processes`.

use sea_query::{Alias, Expr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Runs,
    Processes,
}

impl Table {
    pub fn name(self) -> &'static str {
        match self {
            Table::Runs => "runs",
            Table::Processes => "processes",
        }
    }
}

/// How a property is held: a column, or (for `eTag`) an expression over one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    pub name: &'static str,
    pub nullable: bool,
}

impl Column {
    pub fn expr(self, dialect: crate::dialect::Dialect) -> Expr {
        if self.name == "etag" {
            // eTag is rendered from the version counter; compare it in its rendered form — by code
            // point in PostgreSQL too, where a computed text would take the database's collation.
            return Expr::cust(match dialect {
                crate::dialect::Dialect::Sqlite => "('\"' || version || '\"')",
                crate::dialect::Dialect::Postgres => "(('\"' || version || '\"') COLLATE \"C\")",
            });
        }
        Expr::col(Alias::new(self.name))
    }
}

const fn col(name: &'static str, nullable: bool) -> Column {
    Column { name, nullable }
}

/// The column behind a property path of an entity set's schema, or `None` if the path is not
/// stored in this table (the query layer never produces such a path).
pub(crate) fn column(table: Table, path: &str) -> Option<Column> {
    Some(match (table, path) {
        (_, "id") => col("id", false),
        (_, "displayName") => col("display_name", false),
        (Table::Runs, "startDateTime") => col("start_time", false),
        (Table::Runs, "endDateTime") => col("end_time", true),
        (Table::Runs, "status") => col("status", false),
        (Table::Runs, "blockingError/code") => col("error_code", true),
        (Table::Runs, "blockingError/message") => col("error_message", true),
        (Table::Runs, "blockingError/target") => col("error_target", true),
        (Table::Runs, "process/id") => col("process_id", true),
        (Table::Processes, "eTag") => col("etag", false),
        (Table::Processes, "readinessStatus") => col("readiness_status", false),
        (Table::Processes, "dataDomain") => col("data_domain", true),
        (Table::Processes, "recurrenceEffectiveDateTime") => col("recurrence_start", true),
        (Table::Processes, "recurrenceExpirationDateTime") => col("recurrence_end", true),
        _ => return None,
    })
}

/// The `kind` ordinals `isof(type)` matches in a table; `None` means every row.
pub(crate) fn kinds_of(table: Table, type_name: &str) -> Option<Vec<i64>> {
    use runhub_model::{ProcessKind, RunKind};
    match table {
        Table::Runs => match type_name {
            "run" | "entity" => None,
            name => Some(RunKind::from_type_name(name).map(|k| vec![k.ordinal()]).unwrap_or_default()),
        },
        Table::Processes => match type_name {
            "process" | "entity" => None,
            name => Some(ProcessKind::ALL.into_iter().filter(|k| k.type_name() == name).map(|k| k.ordinal()).collect()),
        },
    }
}

/// `kind IN (…)` with the ordinals inlined as literals: they come from our own enums, never from a
/// request, and a literal lets the planner use the partial index on runGroups (`WHERE kind = 2`).
pub(crate) fn kind_in(ordinals: &[i64]) -> Expr {
    let list = ordinals.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
    Expr::cust(format!("\"kind\" IN ({list})"))
}
