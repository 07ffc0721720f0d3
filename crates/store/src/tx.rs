//! What an operation needs from a backend ([`Tx`]): run a statement inside the operation's
//! transaction (or, for reads, on one connection) and hand back its rows as dialect-neutral
//! [`Cell`]s. Statements are rendered for the backend's dialect here, in one place, and rows are
//! decoded in one place too: through [`FromRow`], implemented once per stored type.

use runhub_model::Uuid;

use crate::StoreResult;
use crate::dialect::Dialect;
use crate::query::{Sql, Statement};
use crate::records::internal;

/// The backend's side of an operation. Its futures are `Send` so that an operation written once
/// for every backend can be awaited on any runtime thread.
pub(crate) trait Tx: Send {
    const DIALECT: Dialect;
    /// Runs a rendered statement and returns its rows.
    fn query_rendered(&mut self, sql: Sql) -> impl Future<Output = StoreResult<Vec<Row>>> + Send;
    /// Runs a rendered statement that returns no rows.
    fn execute_rendered(&mut self, sql: Sql) -> impl Future<Output = StoreResult<()>> + Send;
    /// Runs `f` once this operation's transaction has committed (never if it rolls back): for
    /// what must only be reported about committed changes (metrics).
    fn after_commit(&mut self, f: Box<dyn FnOnce() + Send>);
    /// Takes a lock named `name` until the transaction ends, for work that has no row of its own
    /// to lock (PostgreSQL: an advisory lock; SQLite's single writer needs none).
    fn lock_name(&mut self, name: &str) -> impl Future<Output = StoreResult<()>> + Send;

    /// The rows `stmt` returns, each decoded as an `R`.
    fn fetch<R: FromRow>(&mut self, stmt: impl Statement) -> impl Future<Output = StoreResult<Vec<R>>> + Send {
        let sql = stmt.render(Self::DIALECT);
        async move { self.query_rendered(sql).await?.into_iter().map(R::from_row).collect() }
    }

    /// The first row `stmt` returns, if any, decoded as an `R`.
    fn fetch_first<R: FromRow>(&mut self, stmt: impl Statement) -> impl Future<Output = StoreResult<Option<R>>> + Send {
        let sql = stmt.render(Self::DIALECT);
        async move { self.query_rendered(sql).await?.into_iter().next().map(R::from_row).transpose() }
    }

    /// Runs a statement that returns no rows.
    fn execute(&mut self, stmt: impl Statement) -> impl Future<Output = StoreResult<()>> + Send {
        let sql = stmt.render(Self::DIALECT);
        self.execute_rendered(sql)
    }
}

/// One value of a row, as both engines hand it out: every stored value is an integer, text or NULL.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Text(String),
}

/// One result row: its cells in select-list order, read front to back with [`Row::take`].
pub(crate) struct Row {
    cells: std::vec::IntoIter<Cell>,
    at: usize,
}

impl Row {
    pub fn new(cells: Vec<Cell>) -> Self {
        Self { cells: cells.into_iter(), at: 0 }
    }

    /// The next cell, as a `T`.
    pub fn take<T: FromCell>(&mut self) -> StoreResult<T> {
        let at = self.at;
        self.at += 1;
        let cell = self.cells.next().ok_or_else(|| internal(format!("a result row has no column {at}")))?;
        T::from_cell(cell).map_err(|what| internal(format!("column {at} of a result row: expected {what}")))
    }
}

/// A value decoded from one result row; implemented once per stored type (runs, processes,
/// subscriptions, change-log rows) and for tuples of plain values.
pub(crate) trait FromRow: Sized {
    fn from_row(row: Row) -> StoreResult<Self>;
}

/// A value decoded from one cell; the error says what was expected.
pub(crate) trait FromCell: Sized {
    fn from_cell(cell: Cell) -> Result<Self, &'static str>;
}

impl FromCell for i64 {
    fn from_cell(cell: Cell) -> Result<Self, &'static str> {
        match cell {
            Cell::Int(n) => Ok(n),
            _ => Err("an integer"),
        }
    }
}

impl FromCell for String {
    fn from_cell(cell: Cell) -> Result<Self, &'static str> {
        match cell {
            Cell::Text(t) => Ok(t),
            _ => Err("text"),
        }
    }
}

impl FromCell for Uuid {
    fn from_cell(cell: Cell) -> Result<Self, &'static str> {
        Uuid::parse_str(&String::from_cell(cell)?).map_err(|_| "a UUID")
    }
}

impl<T: FromCell> FromCell for Option<T> {
    fn from_cell(cell: Cell) -> Result<Self, &'static str> {
        match cell {
            Cell::Null => Ok(None),
            cell => T::from_cell(cell).map(Some),
        }
    }
}

/// A row of one plain value: its first column.
impl<T: FromCell> FromRow for T {
    fn from_row(mut row: Row) -> StoreResult<Self> {
        row.take()
    }
}

macro_rules! tuple_from_row {
    ($($name:ident),+) => {
        impl<$($name: FromCell),+> FromRow for ($($name,)+) {
            fn from_row(mut row: Row) -> StoreResult<Self> {
                Ok(($(row.take::<$name>()?,)+))
            }
        }
    };
}

tuple_from_row!(A, B);
tuple_from_row!(A, B, C);
tuple_from_row!(A, B, C, D);
tuple_from_row!(A, B, C, D, E, F);
