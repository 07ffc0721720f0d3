//! Delta queries and the live stream over the change log (docs/change-tracking.md):
//! `GET …/runs/delta`, `…/incomingFlows/delta`, `…/outgoingFlows/delta` (also spelled
//! `microsoft.graph.delta()`), and the same URL with `Accept: text/event-stream`.
//!
//! A delta round is a state carried by an opaque token (`$skiptoken` inside a round,
//! `$deltatoken` between rounds, an SSE event's `id`): where the round's changes start and end in
//! the log, how far into the round the client is, and the first request's `$select`/`$filter`.
//! Tokens are authenticated like `$skiptoken`s (crate::paging), bound to the tenant and the
//! collection.

use runhub_model::Code;
use std::convert::Infallible;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use runhub_model::{ProcessKind, Timestamp, Uuid};
use runhub_odata::ast::{CmpOp, Filter, Operand, Value as Literal};
use runhub_odata::{EntitySet, QueryOptions, QueryString, Target};
use runhub_store::{ChangeRange, Collection, Entity, EntityChange, ListQuery, RunScope, Table, default_order};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{Ctx, json_reply};
use crate::error::{ApiError, ApiResult};
use crate::paging::{self, TokenScope};
use crate::render;

const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 999;
const NS: &str = "microsoft.graph.industryData";

/// Where a client is in the change log: the state every delta token carries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct State {
    /// The first request's `$select`/`$filter`, as sent (still encoded): `$select=…&$filter=…`.
    o: String,
    /// The round's first log position.
    f: u64,
    /// When `f` was taken (microseconds): a token older than the retention is refused (410).
    t: i64,
    /// The round's end, once taken (inside a round); `None` between rounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    u: Option<u64>,
    /// When `u` was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ut: Option<i64>,
    /// Inside a round: the `seq` of the last change handed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    a: Option<i64>,
    /// The first round, which lists every current entity (then follows the log from `f`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    l: bool,
    /// The first round's keyset cursor after the last entity listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<Vec<Value>>,
}

fn entity_set(collection: Collection) -> EntitySet {
    match collection {
        Collection::Runs => EntitySet::Runs,
        Collection::IncomingFlows => EntitySet::IncomingFlows,
        Collection::OutgoingFlows => EntitySet::OutgoingFlows,
    }
}

fn process_kind(collection: Collection) -> Option<ProcessKind> {
    match collection {
        Collection::Runs => None,
        Collection::IncomingFlows => Some(ProcessKind::IncomingFlow),
        Collection::OutgoingFlows => Some(ProcessKind::OutgoingFlow),
    }
}

/// What a delta token is bound to: tenant and collection (the options are inside it).
fn scope<'a>(ctx: &'a Ctx, collection: &'a str) -> TokenScope<'a> {
    TokenScope { tenant: &ctx.tenant, collection, filter: None, orderby: None }
}

fn bound_collection(ctx: &Ctx) -> String {
    format!("{}/$delta", ctx.path.context)
}

fn mint(ctx: &Ctx, state: &State) -> String {
    let payload = serde_json::to_vec(state).unwrap_or_default();
    paging::mint_payload(ctx.state.store.token_secret(), &scope(ctx, &bound_collection(ctx)), &payload)
}

fn invalid_token(name: &str) -> ApiError {
    let follow = if name == "Last-Event-ID" { "an SSE event's id" } else { "the @odata.nextLink / @odata.deltaLink as given" };
    ApiError::new(
        Code::InvalidDeltaToken,
        format!("{name} is not a token this server issued for this collection; follow {follow}, or start over without a token"),
    )
    .with_target(name)
}

fn verify(ctx: &Ctx, name: &str, token: &str) -> ApiResult<State> {
    let payload = paging::verify_payload(ctx.state.store.token_secret(), &scope(ctx, &bound_collection(ctx)), token)
        .ok_or_else(|| invalid_token(name))?;
    serde_json::from_slice(&payload).map_err(|_| invalid_token(name))
}

/// Only `process/id eq '…'` and `isof(…)` terms joined by `and`/`or`: what a change can be
/// matched against without reading anything but the log.
fn check_filter(filter: &Filter) -> ApiResult<()> {
    let ok = match filter {
        Filter::IsOf(_) => true,
        Filter::And(a, b) | Filter::Or(a, b) => return check_filter(a).and_then(|()| check_filter(b)),
        Filter::Compare { op: CmpOp::Eq, left, right } => matches!(
            (left, right),
            (Operand::Property { path: "process/id", .. }, Operand::Literal(Literal::String(_)))
                | (Operand::Literal(Literal::String(_)), Operand::Property { path: "process/id", .. })
        ),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::InvalidQueryOption,
            "$filter on a delta query may only combine `process/id eq '…'` and `isof('…')` terms with `and` and `or`",
        )
        .with_target("$filter"))
    }
}

/// Whether an entity of this concrete type with this process matches the (restricted) filter.
fn matches(filter: &Filter, type_name: &str, process: Option<Uuid>) -> bool {
    match filter {
        Filter::And(a, b) => matches(a, type_name, process) && matches(b, type_name, process),
        Filter::Or(a, b) => matches(a, type_name, process) || matches(b, type_name, process),
        Filter::IsOf(name) => runhub_odata::schema::entity_type(&format!("{NS}.{type_name}"))
            .is_some_and(|t| runhub_odata::schema::type_chain(t).iter().any(|a| a.name() == *name)),
        Filter::Compare { left, right, .. } => {
            let literal = match (left, right) {
                (Operand::Literal(Literal::String(s)), _) | (_, Operand::Literal(Literal::String(s))) => s,
                _ => return false,
            };
            process.is_some_and(|p| p.to_string() == *literal)
        }
        _ => false,
    }
}

/// `Prefer: odata.maxpagesize=N` (1–999), when sent.
fn max_page_size(ctx: &Ctx) -> ApiResult<Option<u32>> {
    for value in ctx.headers.get_all("prefer").iter() {
        let text = value.to_str().map_err(|_| ApiError::new(Code::InvalidHeader, "Prefer is not valid text").with_target("Prefer"))?;
        for pref in text.split(',') {
            let Some((name, n)) = pref.trim().split_once('=') else { continue };
            if !name.trim().eq_ignore_ascii_case("odata.maxpagesize") {
                continue;
            }
            return match n.trim().trim_matches('"').parse::<u32>() {
                Ok(n @ 1..=MAX_PAGE) => Ok(Some(n)),
                _ => Err(ApiError::new(
                    Code::InvalidPreference,
                    format!("Prefer: odata.maxpagesize must be a whole number from 1 to {MAX_PAGE}, not '{}'", n.trim()),
                )
                .with_target("Prefer")),
            };
        }
    }
    Ok(None)
}

/// Whether the request asks for the live stream (`Accept: text/event-stream`).
pub(super) fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|m| m.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("text/event-stream")))
}

/// The options of a round: parsed from the first request, or from the token's copy of them.
fn parse_options(collection: Collection, query: &QueryString) -> ApiResult<QueryOptions> {
    let options = runhub_odata::parse_query(entity_set(collection), Target::Delta, query)?;
    if let Some(filter) = &options.filter {
        check_filter(filter)?;
    }
    Ok(options)
}

/// The delta URL and what it answers: a page (JSON) or, with `Accept: text/event-stream`, the live stream.
pub async fn delta(ctx: &Ctx) -> ApiResult<Response> {
    let collection = ctx.path.delta_collection()?;
    let given = parse_options(collection, &ctx.query)?;
    let page_size = max_page_size(ctx)?;
    let last_event_id = match ctx.headers.get("last-event-id") {
        Some(v) => Some(v.to_str().map_err(|_| invalid_token("Last-Event-ID"))?.trim().to_owned()),
        None => None,
    };
    let tokens = [("$deltatoken", given.deltatoken.clone()), ("$skiptoken", given.skiptoken.clone()), ("Last-Event-ID", last_event_id)];
    let mut sent = tokens.into_iter().filter_map(|(name, t)| t.map(|t| (name, t)));
    let token = sent.next();
    if let Some((name, _)) = sent.next() {
        return Err(ApiError::new(Code::InvalidQueryOption, format!("send one token only; {name} comes with another")).with_target(name));
    }
    let now = Timestamp::now().micros();
    let store = &ctx.state.store;
    let token_name = token.as_ref().map(|(name, _)| *name);
    let state = match token {
        Some((name, text)) if !(name == "$deltatoken" && text == "latest") => {
            if given.filter.is_some() || given.select.is_some() {
                let option = if given.filter.is_some() { "$filter" } else { "$select" };
                return Err(ApiError::new(
                    Code::InvalidQueryOption,
                    format!("{option} belongs to the first delta request only; the token carries it on, follow the links as given"),
                )
                .with_target(option));
            }
            let state = verify(ctx, name, &text)?;
            check_fresh(ctx, &state).await?;
            state
        }
        first => State {
            // The first request's options, kept (encoded) in every token of the rounds that follow.
            o: ctx.query.only(&["select", "filter"]),
            f: store.change_watermark().await?,
            t: now,
            u: None,
            ut: None,
            a: None,
            // The first request lists everything; `latest` and a stream start from now.
            l: first.is_none() && !wants_stream(&ctx.headers),
            k: None,
        },
    };
    let options = parse_options(collection, &QueryString::parse(Some(&state.o)))?;
    if wants_stream(&ctx.headers) {
        return super::stream::open(ctx, collection, state_into_follow(state)?, options);
    }
    let page = page_size.unwrap_or(DEFAULT_PAGE);
    let latest = given.deltatoken.as_deref() == Some("latest");
    let (items, next) = if latest {
        (Vec::new(), Next::Delta(State { u: None, ut: None, a: None, l: false, k: None, ..state }))
    } else {
        let resumed = state.u.is_some() && token_name.is_some_and(|name| name != "$skiptoken");
        let (mut items, next) = one_page(ctx, collection, &options, state, page).await?;
        match next {
            // An event id (a token from inside a round): the rest of that round, then on to now.
            Next::Delta(state) if resumed && (items.len() as u32) < page => {
                let (more, next) = one_page(ctx, collection, &options, state, page - items.len() as u32).await?;
                items.extend(more);
                (items, next)
            }
            next => (items, next),
        }
    };
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(format!("{}/$metadata#{}/$delta", ctx.root, ctx.path.context)));
    body.insert("value".into(), Value::Array(items.into_iter().map(Value::Object).collect()));
    let link = ctx.url(&ctx.path.path);
    match next {
        Next::Page(s) => body.insert("@odata.nextLink".into(), json!(format!("{link}?$skiptoken={}", mint(ctx, &s)))),
        Next::Delta(s) => body.insert("@odata.deltaLink".into(), json!(format!("{link}?$deltatoken={}", mint(ctx, &s)))),
    };
    let mut response = json_reply(StatusCode::OK, &Value::Object(body));
    if let Some(v) = page_size.and_then(|n| HeaderValue::from_str(&format!("odata.maxpagesize={n}")).ok()) {
        response.headers_mut().insert("preference-applied", v);
    }
    Ok(response)
}

/// A stream follows the log: a token still in the first round's listing cannot be streamed.
fn state_into_follow(state: State) -> ApiResult<Follow> {
    if state.l && state.k.is_some() {
        return Err(ApiError::new(
            Code::InvalidDeltaToken,
            "this $skiptoken is inside the first round's listing; follow its @odata.nextLink to the deltaLink, then stream from there",
        )
        .with_target("$skiptoken"));
    }
    Ok(Follow(State { l: false, ..state }))
}

/// A state that follows the log (no listing): what a stream runs on.
pub(super) struct Follow(State);

/// 410 Gone when the token's changes may have been pruned.
async fn check_fresh(ctx: &Ctx, state: &State) -> ApiResult<()> {
    let retention = i64::try_from(ctx.feed.settings().retention.as_micros()).unwrap_or(i64::MAX);
    let too_old = Timestamp::now().micros().saturating_sub(state.t) > retention;
    if too_old || state.f < ctx.state.store.change_horizon().await? {
        let mut location = ctx.url(&ctx.path.path);
        if !state.o.is_empty() {
            location = format!("{location}?{}", state.o);
        }
        return Err(ApiError::new(
            Code::SyncStateNotFound,
            "this delta token is older than the change retention; start over with the initial delta request (Location)",
        )
        .with_header(header::LOCATION, location));
    }
    Ok(())
}

enum Next {
    Page(State),
    Delta(State),
}

/// One page of a round: the listing of the first round, or the changes of a later one.
async fn one_page(
    ctx: &Ctx,
    collection: Collection,
    options: &QueryOptions,
    state: State,
    page: u32,
) -> ApiResult<(Vec<Map<String, Value>>, Next)> {
    let select = options.select.as_deref();
    let store = &ctx.state.store;
    if state.l {
        let table = if collection == Collection::Runs { Table::Runs } else { Table::Processes };
        let after = match &state.k {
            Some(k) => Some(paging::decode_cursor(k).ok_or_else(|| invalid_token("$skiptoken"))?),
            None => None,
        };
        let query = ListQuery { filter: options.filter.clone(), orderby: default_order(table), top: page, skip: 0, after, count: false };
        let (items, cursor) = match process_kind(collection) {
            None => {
                let p = store.list_runs(&ctx.tenant, &RunScope::all(), &query).await?;
                (p.items.iter().map(|r| render::run(r, select).into_map()).collect(), p.next)
            }
            Some(kind) => {
                let p = store.list_processes(&ctx.tenant, kind, &query).await?;
                (p.items.iter().map(|r| render::process(r, select).into_map()).collect(), p.next)
            }
        };
        let next = match cursor {
            Some(c) => Next::Page(State { k: Some(paging::encode_cursor(&c)), ..state }),
            None => Next::Delta(State { l: false, k: None, ..state }),
        };
        return Ok((items, next));
    }
    let (to, to_time) = match state.u {
        Some(u) => (u, state.ut.unwrap_or(state.t)),
        None => (store.change_watermark().await?, Timestamp::now().micros()),
    };
    let changes = store.entity_changes(&ctx.tenant, collection, ChangeRange { from: state.f, to, after_seq: state.a, limit: page }).await?;
    let items = changes.items.iter().filter_map(|c| delta_item(c, options, select)).collect();
    let next = match changes.items.last() {
        Some(last) if changes.more => Next::Page(State { u: Some(to), ut: Some(to_time), a: Some(last.last_seq), ..state }),
        _ => Next::Delta(State { f: to, t: to_time, u: None, ut: None, a: None, ..state }),
    };
    Ok((items, next))
}

fn removed(change: &EntityChange, reason: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("@odata.type".into(), json!(format!("#{NS}.{}", change.kind.type_name())));
    m.insert("id".into(), json!(change.id.to_string()));
    m.insert("@removed".into(), json!({ "reason": reason }));
    m
}

/// The delta item for one changed entity, or `None` when the round's filter never showed it.
pub(super) fn delta_item(change: &EntityChange, options: &QueryOptions, select: Option<&[&str]>) -> Option<Map<String, Value>> {
    let type_name = change.kind.type_name();
    let matched = |process: Option<Uuid>| options.filter.as_ref().is_none_or(|f| matches(f, type_name, process));
    match (&change.current, change.deleted) {
        (Some(Entity::Run(run)), false) if matched(run.process_id()) => Some(render::run(run, select).into_map()),
        (Some(Entity::Process(p)), false) if matched(None) => Some(render::process(p, select).into_map()),
        // It exists but no longer matches: it was moved away (`$ref`) from a process that matched.
        (Some(_), false) => change.moved_from.iter().any(|m| matched(Some(*m))).then(|| removed(change, "changed")),
        _ => matched(change.process_id).then(|| removed(change, "deleted")),
    }
}

impl Follow {
    /// Hands out every change up to the round's end — `watermark` unless the token was inside a
    /// round — as `(event id, delta item)` pairs (the id: the token just after that change), then
    /// moves on to the next round.
    pub(super) async fn advance(&mut self, ctx: &StreamCtx, watermark: u64) -> Result<Vec<(String, Value)>, runhub_store::StoreError> {
        let mut events = Vec::new();
        // A token from inside a round first finishes that round, then goes on to the watermark.
        loop {
            let inside = self.0.u.is_some();
            let (to, to_time) = match self.0.u {
                Some(u) => (u, self.0.ut.unwrap_or(self.0.t)),
                None => (watermark, Timestamp::now().micros()),
            };
            if to <= self.0.f {
                return Ok(events);
            }
            loop {
                let page = ctx
                    .store
                    .entity_changes(
                        &ctx.tenant,
                        ctx.collection,
                        ChangeRange { from: self.0.f, to, after_seq: self.0.a, limit: DEFAULT_PAGE },
                    )
                    .await?;
                for change in &page.items {
                    self.0.u = Some(to);
                    self.0.ut = Some(to_time);
                    self.0.a = Some(change.last_seq);
                    if let Some(item) = delta_item(change, &ctx.options, ctx.options.select.as_deref()) {
                        events.push((ctx.mint(&self.0), Value::Object(item)));
                    }
                }
                if !page.more {
                    break;
                }
            }
            self.0 = State { f: to, t: to_time, u: None, ut: None, a: None, l: false, k: None, o: std::mem::take(&mut self.0.o) };
            if !inside {
                return Ok(events);
            }
        }
    }
}

/// What a stream keeps of its request after the handler returned.
pub(super) struct StreamCtx {
    pub store: std::sync::Arc<dyn runhub_store::Store>,
    pub tenant: runhub_model::TenantId,
    pub collection: Collection,
    pub options: QueryOptions,
    pub secret_scope: String,
}

impl StreamCtx {
    pub(super) fn new(ctx: &Ctx, collection: Collection, options: QueryOptions) -> Self {
        Self { store: ctx.state.store.clone(), tenant: ctx.tenant.clone(), collection, options, secret_scope: bound_collection(ctx) }
    }

    fn mint(&self, state: &State) -> String {
        let payload = serde_json::to_vec(state).unwrap_or_default();
        let scope = TokenScope { tenant: &self.tenant, collection: &self.secret_scope, filter: None, orderby: None };
        paging::mint_payload(self.store.token_secret(), &scope, &payload)
    }
}

/// The 503 for a replica that has its maximum of open streams.
pub(super) fn too_many_streams(max: usize) -> Response {
    ApiError::new(Code::TooManyStreams, format!("this replica has its maximum of {max} live streams open; retry shortly"))
        .with_header(header::RETRY_AFTER, "5")
        .into_response()
}

/// An SSE reply over a channel of events, with the keep-alive comment every `keepalive`.
pub(super) fn sse(rx: tokio::sync::mpsc::Receiver<Event>, keepalive: Duration) -> Response {
    let events = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx)) });
    Sse::new(events).keep_alive(KeepAlive::new().interval(keepalive).text("keep-alive")).into_response()
}
