//! The one pagination helper every list shares: query options → a store page request, and a page
//! → the OData collection reply with `@odata.count` and `@odata.nextLink`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use runhub_odata::ast::Value as KeyValue;
use runhub_odata::{EntitySet, QueryOptions, Target};
use runhub_store::{ListQuery, Page, Table, default_order};

use super::{Ctx, json_reply};
use crate::error::ApiResult;
use crate::paging::{self, TokenScope};
use crate::render::{CollectionBody, Entity};

pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// Parses the query options the URL allows for `target`.
pub fn options(ctx: &Ctx, set: EntitySet, target: Target) -> ApiResult<QueryOptions> {
    Ok(runhub_odata::parse_query(set, target, &ctx.query)?)
}

/// The raw (still encoded) value of a system option.
fn raw_option<'a>(ctx: &'a Ctx, name: &str) -> Option<&'a str> {
    ctx.query.option(name).map(|p| p.raw_value())
}

fn token_scope<'a>(ctx: &'a Ctx) -> TokenScope<'a> {
    TokenScope {
        tenant: &ctx.tenant,
        collection: &ctx.path.context,
        filter: raw_option(ctx, "filter"),
        orderby: raw_option(ctx, "orderby"),
    }
}

/// The store request for one page of a collection.
pub fn list_query(ctx: &Ctx, options: &QueryOptions, table: Table) -> ApiResult<ListQuery> {
    let keys = if options.orderby.is_empty() { default_order(table) } else { options.orderby.clone() };
    let after = match &options.skiptoken {
        Some(token) => Some(paging::verify(ctx.state.store.token_secret(), &token_scope(ctx), token, keys.len())?),
        None => None,
    };
    Ok(ListQuery {
        filter: options.filter.clone(),
        orderby: keys,
        top: options.top.unwrap_or(DEFAULT_PAGE_SIZE),
        // A continuation has already skipped: the cursor says where it is.
        skip: if after.is_some() { 0 } else { options.skip.unwrap_or(0) },
        after,
        count: options.count,
    })
}

/// The store request for the runs an `$expand` nests under each item: its own `$filter`,
/// `$orderby` and `$top`, from the first row.
pub fn nested_query(nested: &QueryOptions) -> ListQuery {
    ListQuery {
        filter: nested.filter.clone(),
        orderby: if nested.orderby.is_empty() { default_order(Table::Runs) } else { nested.orderby.clone() },
        top: nested.top.unwrap_or(DEFAULT_PAGE_SIZE),
        skip: 0,
        after: None,
        count: false,
    }
}

/// The collection reply for a page whose items are already rendered.
pub fn reply<T>(ctx: &Ctx, page: &Page<T>, items: Vec<Entity<'_>>) -> Response {
    let body = CollectionBody {
        context: ctx.context(false),
        count: page.count,
        value: items,
        next_link: page.next.as_ref().map(|cursor| next_link(ctx, cursor)),
    };
    json_reply(StatusCode::OK, &body)
}

fn next_link(ctx: &Ctx, cursor: &[KeyValue]) -> String {
    let token = paging::mint(ctx.state.store.token_secret(), &token_scope(ctx), cursor);
    paging::next_link(&ctx.url(&ctx.path.path), &ctx.query, &token)
}

/// `/$count`: the bare number as text.
pub fn count_reply(count: u64) -> Response {
    let mut response = (StatusCode::OK, count.to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain"));
    response
}
