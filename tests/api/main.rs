//! Black-box tests: each starts the real router on a random port over a fresh SQLite database (or a
//! PostgreSQL schema of its own, with RUNHUB_TEST_STORE=postgres) and talks to it over HTTP.

mod auth;
mod bad_input;
mod batch;
mod counts;
mod dashboard;
mod defaults;
mod delta;
mod differential;
mod external;
mod helpers;
mod hostile;
mod lifecycle;
mod limits;
mod paging;
mod paths;
mod permissions;
mod protocol;
mod query_filter;
mod query_options;
mod service;
mod stream;
mod strings;
mod tenancy;
mod tokens;
