//! Black-box tests: each starts the real router on a random port over a fresh SQLite database (or a
//! PostgreSQL schema of its own, with RUNHUB_TEST_STORE=postgres) and talks to it over HTTP.

mod helpers;
mod paths;
mod lifecycle;
mod protocol;
mod bad_input;
mod differential;
mod tokens;
mod auth;
mod permissions;
mod tenancy;
mod limits;
mod hostile;
mod query_filter;
mod query_options;
mod paging;
mod external;
mod strings;
