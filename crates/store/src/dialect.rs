//! The SQL dialects the store speaks: every statement is built once and rendered for either.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}
