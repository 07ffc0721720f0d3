//! The SQLite side of [`Tx`]: statements on the writer's (or a reader's) connection. Nothing here
//! awaits, so the shared operations' futures complete on their first poll.

use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row};
use sea_query_rusqlite::{RusqliteValue, RusqliteValues};

use crate::StoreResult;
use crate::dialect::Dialect;
use crate::ops::{Cell, Tx};
use crate::query::Sql;
use crate::records::{ProcessRecord, RunRecord, internal};
use runhub_model::{Process, Run};

pub(crate) struct SqliteTx<'c>(pub &'c Connection);

fn params(sql: &Sql) -> RusqliteValues {
    RusqliteValues(sql.values.0.iter().cloned().map(RusqliteValue).collect())
}

fn run_record(row: &Row<'_>) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        id: row.get(0)?,
        kind: row.get(1)?,
        display_name: row.get(2)?,
        start_time: row.get(3)?,
        end_time: row.get(4)?,
        status: row.get(5)?,
        blocking_error: row.get(6)?,
        statistics: row.get(7)?,
        process_id: row.get(8)?,
        group_id: row.get(9)?,
        version: row.get(10)?,
        own_start: row.get(11)?,
        own_end: row.get(12)?,
        own_status: row.get(13)?,
        member_counts: row.get(14)?,
    })
}

fn process_record(row: &Row<'_>) -> rusqlite::Result<ProcessRecord> {
    Ok(ProcessRecord {
        id: row.get(0)?,
        kind: row.get(1)?,
        display_name: row.get(2)?,
        readiness_status: row.get(3)?,
        data_domain: row.get(4)?,
        recurrence_start: row.get(5)?,
        recurrence_end: row.get(6)?,
        version: row.get(7)?,
    })
}

impl SqliteTx<'_> {
    fn rows<R>(&self, sql: &Sql, f: impl FnMut(&Row<'_>) -> rusqlite::Result<R>) -> StoreResult<Vec<R>> {
        let values = params(sql);
        let mut stmt = self.0.prepare_cached(&sql.text).map_err(internal)?;
        let rows = stmt.query_map(&*values.as_params(), f).map_err(internal)?.collect::<Result<Vec<R>, _>>().map_err(internal)?;
        Ok(rows)
    }
}

impl Tx for SqliteTx<'_> {
    const DIALECT: Dialect = Dialect::Sqlite;

    async fn runs(&mut self, sql: Sql) -> StoreResult<Vec<Run>> {
        self.rows(&sql, run_record)?.into_iter().map(RunRecord::into_run).collect()
    }

    async fn processes(&mut self, sql: Sql) -> StoreResult<Vec<Process>> {
        self.rows(&sql, process_record)?.into_iter().map(ProcessRecord::into_process).collect()
    }

    async fn integers(&mut self, sql: Sql) -> StoreResult<Vec<Vec<Option<i64>>>> {
        self.rows(&sql, |row| (0..row.as_ref().column_count()).map(|i| row.get::<_, Option<i64>>(i)).collect())
    }

    async fn cells(&mut self, sql: Sql) -> StoreResult<Vec<Vec<Cell>>> {
        self.rows(&sql, |row| {
            (0..row.as_ref().column_count())
                .map(|i| {
                    Ok(match row.get_ref(i)? {
                        ValueRef::Null => Cell::Null,
                        ValueRef::Integer(n) => Cell::Int(n),
                        ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                        other => return Err(rusqlite::Error::InvalidColumnType(i, "cell".into(), other.data_type())),
                    })
                })
                .collect()
        })
    }

    fn after_commit(&mut self, f: Box<dyn FnOnce() + Send>) {
        // Writes run on the writer thread, which runs these after its batch commits.
        super::writer::after_commit(f);
    }

    async fn lock_name(&mut self, _name: &str) -> StoreResult<()> {
        Ok(())
    }

    async fn execute(&mut self, sql: Sql) -> StoreResult<()> {
        let values = params(&sql);
        let mut stmt = self.0.prepare_cached(&sql.text).map_err(internal)?;
        stmt.execute(&*values.as_params()).map(|_| ()).map_err(internal)
    }
}
