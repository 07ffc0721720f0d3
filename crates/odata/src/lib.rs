//! OData for runhub: the static schema of the `microsoft.graph.industryData` run API, the
//! parsing and validation of system query options, the CSDL `$metadata` document and
//! the service document.
//!
//! # Public API
//!
//! ```text
//! QueryString::parse(raw_query: Option<&str>) -> QueryString
//! parse_query(set: EntitySet, target: Target, query: &QueryString) -> Result<QueryOptions, QueryError>
//! parse_filter(set: EntitySet, text: &str) -> Result<Filter, QueryError>
//! parse_orderby(set: EntitySet, text: &str) -> Result<Vec<OrderKey>, QueryError>
//! parse_select(set: EntitySet, text: &str) -> Result<Option<Vec<&'static str>>, QueryError>
//! parse_expand(set: EntitySet, text: &str) -> Result<Expand, QueryError>
//! metadata_xml() -> String
//! service_document(metadata_url: &str) -> serde_json::Value
//! ```
//!
//! - [`QueryString::parse`] splits a request's raw query string on `&` and percent-decodes each
//!   name and value (`+` is a space), once; everything that reads options reads it.
//! - [`parse_query`] reads a [`QueryString`], accepts system option names with or without `$`
//!   (case-sensitive), ignores custom options and validates every system option against the
//!   [`EntitySet`] the URL addresses and whether it addresses a collection, one entity or a
//!   `/$count` ([`Target`]).
//! - Everything resolved is typed: property paths in the [`ast`] are `&'static str` taken from
//!   [`schema`], literals are typed by what they are compared with (enum members become
//!   ordinals, DateTimeOffsets microseconds).
//! - Every error is a [`QueryError`]: `option` (`$filter`…), `position` (0-based character offset
//!   in the option's decoded value), `code` (a [`runhub_model::Code`]) and a `message` naming all
//!   three. The server maps it to a 400 `badRequest` with `innerError.code = code` and
//!   `target = option`.
//!
//! Which [`EntitySet`] to pass: `Runs` for `/runs`, a process's or a runGroup's `runs` and the
//! `incomingFlowRun`/`outgoingFlowRun` cast segments; `RunGroups` for `/runGroups` and the
//! `runGroup` cast (it adds `$expand=runs`); `IncomingFlows`/`OutgoingFlows` for the process
//! sets. `Processes` (the abstract `process` type) is what `$expand=process` targets.
//!
//! `$filter` and `$orderby` are parsed with [winnow](https://docs.rs/winnow) (module `syntax`),
//! then resolved and type-checked ([`filter`]). Parsing is bounded in input size (4 KiB),
//! syntactic depth (100) and tree size (256 nodes), and the recursive descent grows its stack
//! on demand ([stacker](https://docs.rs/stacker)), so no input can panic it or overflow the
//! stack, whatever thread it runs on.

pub mod ast;
pub mod csdl;
pub mod error;
pub mod filter;
pub mod options;
pub mod query_string;
pub mod schema;
pub mod service_document;
mod syntax;

pub use ast::{CaseFn, CmpOp, Filter, Operand, OrderKey, StringFn, Type, Value};
pub use csdl::metadata_xml;
pub use error::QueryError;
pub use filter::parse_filter;
pub use options::{Expand, QueryOptions, Target, parse_expand, parse_orderby, parse_query, parse_select};
pub use query_string::{Param, QueryString};
pub use schema::EntitySet;
pub use service_document::service_document;

#[cfg(test)]
mod tests;
