//! The SQLite side of [`Tx`]: statements on the writer's (or a reader's) connection. Nothing here
//! awaits, so the shared operations' futures complete on their first poll.

use rusqlite::Connection;
use rusqlite::types::ValueRef;
use sea_query_rusqlite::{RusqliteValue, RusqliteValues};

use crate::StoreResult;
use crate::dialect::Dialect;
use crate::query::Sql;
use crate::records::internal;
use crate::tx::{Cell, Row, Tx};

/// A connection the shared operations run on: the writer's, or a pooled reader's.
pub(crate) struct SqliteTx(pub Connection);

fn params(sql: &Sql) -> RusqliteValues {
    RusqliteValues(sql.values.0.iter().cloned().map(RusqliteValue).collect())
}

fn cell(value: ValueRef<'_>, at: usize) -> rusqlite::Result<Cell> {
    Ok(match value {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(n) => Cell::Int(n),
        ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
        other => return Err(rusqlite::Error::InvalidColumnType(at, "cell".into(), other.data_type())),
    })
}

impl Tx for SqliteTx {
    const DIALECT: Dialect = Dialect::Sqlite;

    async fn query_rendered(&mut self, sql: Sql) -> StoreResult<Vec<Row>> {
        let values = params(&sql);
        let mut stmt = self.0.prepare_cached(&sql.text).map_err(internal)?;
        let rows = stmt
            .query_map(&*values.as_params(), |row| {
                (0..row.as_ref().column_count()).map(|i| cell(row.get_ref(i)?, i)).collect::<rusqlite::Result<Vec<Cell>>>().map(Row::new)
            })
            .map_err(internal)?
            .collect::<Result<Vec<Row>, _>>()
            .map_err(internal)?;
        Ok(rows)
    }

    async fn execute_rendered(&mut self, sql: Sql) -> StoreResult<()> {
        let values = params(&sql);
        let mut stmt = self.0.prepare_cached(&sql.text).map_err(internal)?;
        stmt.execute(&*values.as_params()).map(|_| ()).map_err(internal)
    }

    fn after_commit(&mut self, f: Box<dyn FnOnce() + Send>) {
        // Writes run on the writer thread, which runs these after its batch commits.
        super::writer::after_commit(f);
    }

    async fn lock_name(&mut self, _name: &str) -> StoreResult<()> {
        Ok(())
    }
}
