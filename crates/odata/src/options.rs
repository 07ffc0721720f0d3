//! The query string: splitting, decoding, naming rules and every system query option (docs/api.md, "Query options").

use crate::ast::{Filter, OrderKey};
use runhub_model::Code;

use crate::error::{Problem, QueryError, char_offset};
use crate::filter::{filter_problem, syntax_problem};
use crate::query_string::QueryString;
use crate::schema::EntitySet;
use crate::syntax;

/// Largest `$top` (Microsoft Graph's page-size range is 1–999).
pub const MAX_TOP: u32 = 999;

/// What the request URL addresses; decides which options apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A collection: every option.
    Collection,
    /// One entity: `$select` and `$expand` only.
    Entity,
    /// A collection's `/$count`: `$filter` only.
    Count,
    /// A delta query (`…/delta`): `$select`, `$filter`, `$skiptoken` and `$deltatoken` only.
    Delta,
}

/// The parsed, validated system query options of one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryOptions {
    pub filter: Option<Filter>,
    /// Empty when not given (the store applies the default order).
    pub orderby: Vec<OrderKey>,
    /// `None` when not given or `*`: every property. Otherwise the listed properties, without
    /// duplicates, in the order given (`id` is always returned anyway).
    pub select: Option<Vec<&'static str>>,
    pub expand: Option<Expand>,
    pub top: Option<u32>,
    pub skip: Option<u64>,
    /// Opaque: verified by whoever minted it.
    pub skiptoken: Option<String>,
    /// A delta query's state token (opaque, like `skiptoken`).
    pub deltatoken: Option<String>,
    pub count: bool,
}

/// `$expand=nav(…)`: the navigation expanded, with the options nested in it (only `filter`,
/// `select`, and for collections `orderby` and `top`, are ever set).
#[derive(Debug, Clone, PartialEq)]
pub enum Expand {
    /// A run's flow (single-valued; a nested `$filter` makes a non-matching flow expand to null).
    Process(Box<QueryOptions>),
    /// A flow's runs, or a runGroup's members.
    Runs(Box<QueryOptions>),
    /// An industryDataRun's activities (the published paths).
    Activities(Box<QueryOptions>),
    /// An activity's flow (the published paths).
    Activity(Box<QueryOptions>),
}

impl Expand {
    fn of(navigation: &str, options: QueryOptions) -> Option<Self> {
        let options = Box::new(options);
        Some(match navigation {
            "process" => Expand::Process(options),
            "runs" => Expand::Runs(options),
            "activities" => Expand::Activities(options),
            "activity" => Expand::Activity(options),
            _ => return None,
        })
    }

    /// The navigation property's name.
    pub fn navigation(&self) -> &'static str {
        match self {
            Expand::Process(_) => "process",
            Expand::Runs(_) => "runs",
            Expand::Activities(_) => "activities",
            Expand::Activity(_) => "activity",
        }
    }

    /// The options nested in it.
    pub fn options(&self) -> &QueryOptions {
        match self {
            Expand::Process(o) | Expand::Runs(o) | Expand::Activities(o) | Expand::Activity(o) => o,
        }
    }

    pub fn options_mut(&mut self) -> &mut QueryOptions {
        match self {
            Expand::Process(o) | Expand::Runs(o) | Expand::Activities(o) | Expand::Activity(o) => o,
        }
    }
}

/// The system query options this service implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SystemOption {
    Filter,
    OrderBy,
    Select,
    Expand,
    Top,
    Skip,
    SkipToken,
    Count,
    /// Accepted for JSON only, which is all the service speaks.
    Format,
    /// Delta queries only.
    DeltaToken,
}

const SUPPORTED: &[SystemOption] = &[
    SystemOption::Filter,
    SystemOption::OrderBy,
    SystemOption::Select,
    SystemOption::Expand,
    SystemOption::Top,
    SystemOption::Skip,
    SystemOption::SkipToken,
    SystemOption::Count,
    SystemOption::Format,
    SystemOption::DeltaToken,
];

/// OData system options the service does not implement: a clear "unsupported" beats "unknown".
const UNSUPPORTED: &[&str] = &["search", "apply", "compute", "levels", "index", "schemaversion", "id"];

impl SystemOption {
    fn bare_name(self) -> &'static str {
        match self {
            SystemOption::Filter => "filter",
            SystemOption::OrderBy => "orderby",
            SystemOption::Select => "select",
            SystemOption::Expand => "expand",
            SystemOption::Top => "top",
            SystemOption::Skip => "skip",
            SystemOption::SkipToken => "skiptoken",
            SystemOption::Count => "count",
            SystemOption::Format => "format",
            SystemOption::DeltaToken => "deltatoken",
        }
    }

    fn name(self) -> String {
        format!("${}", self.bare_name())
    }

    fn from_bare(name: &str) -> Option<Self> {
        SUPPORTED.iter().copied().find(|o| o.bare_name() == name)
    }

    fn applies_to(self, target: Target) -> bool {
        match target {
            Target::Collection => self != SystemOption::DeltaToken,
            Target::Delta => {
                matches!(
                    self,
                    SystemOption::Select | SystemOption::Filter | SystemOption::SkipToken | SystemOption::DeltaToken | SystemOption::Format
                )
            }
            Target::Entity => matches!(self, SystemOption::Select | SystemOption::Expand | SystemOption::Format),
            Target::Count => matches!(self, SystemOption::Filter | SystemOption::Format),
        }
    }
}

fn supported_list() -> String {
    SUPPORTED.iter().map(|o| o.name()).collect::<Vec<_>>().join(", ")
}

/// Sorts an option name: `Ok(None)` for a custom option (ignored).
fn classify(name: &str) -> Result<Option<SystemOption>, QueryError> {
    let (bare, dollar) = match name.strip_prefix('$') {
        Some(bare) => (bare, true),
        None => (name, false),
    };
    if let Some(option) = SystemOption::from_bare(bare) {
        return Ok(Some(option));
    }
    // Graph treats `search` as `$search` too.
    if UNSUPPORTED.contains(&bare) && (dollar || bare == "search") {
        return Err(QueryError::about_option(
            Code::UnsupportedQueryOption,
            format!("${bare}"),
            format!("The query option '${bare}' is not supported by this service; supported options are: {}", supported_list()),
        ));
    }
    if !dollar {
        return Ok(None);
    }
    let lower = bare.to_ascii_lowercase();
    let hint = match SystemOption::from_bare(&lower) {
        Some(o) => format!(" (option names are case-sensitive: did you mean '{}'?)", o.name()),
        None => String::new(),
    };
    Err(QueryError::about_option(
        Code::UnknownQueryOption,
        name,
        format!("Unknown query option '{name}'{hint}; supported options are: {}", supported_list()),
    ))
}

/// Parses the query options of a URL addressing `target` in `set`.
///
/// Options are named with or without `$`; other names without `$` are custom options and
/// ignored. Every error names the option and, inside its value, the character position.
pub fn parse_query(set: EntitySet, target: Target, query: &QueryString) -> Result<QueryOptions, QueryError> {
    let mut options = QueryOptions::default();
    let mut seen: Vec<SystemOption> = Vec::new();
    for param in query.params() {
        let Some(name) = &param.name else {
            let raw_name = param.raw_name();
            return Err(QueryError::about_option(
                Code::InvalidQueryOption,
                raw_name,
                format!("The query option name '{raw_name}' is not valid UTF-8 once percent-decoded"),
            ));
        };
        let Some(option) = classify(name)? else {
            continue;
        };
        let option_name = option.name();
        let Some(value) = &param.value else {
            return Err(QueryError::new(Code::InvalidQueryOption, option_name, None, "the value is not valid UTF-8 once percent-decoded"));
        };
        if seen.contains(&option) {
            return Err(QueryError::about_option(
                Code::InvalidQueryOption,
                &option_name,
                format!("The query option '{option_name}' is given more than once"),
            ));
        }
        seen.push(option);
        if !option.applies_to(target) {
            let (what, allowed) = match target {
                Target::Entity => ("a single entity", "only $select and $expand apply"),
                Target::Count => ("a /$count request", "only $filter applies"),
                Target::Collection => ("a collection", "$deltatoken belongs to delta queries (…/delta)"),
                Target::Delta => ("a delta query", "only $select and $filter apply, and only on the first request"),
            };
            return Err(QueryError::about_option(
                Code::InvalidQueryOption,
                &option_name,
                format!("The query option '{option_name}' does not apply to {what}; {allowed}"),
            ));
        }
        if value.is_empty() {
            return Err(QueryError::new(Code::InvalidQueryOption, option_name, None, "the value is empty"));
        }
        apply(set, option, value, &mut options).map_err(|p| p.into_error(&option_name))?;
    }
    Ok(options)
}

fn apply(set: EntitySet, option: SystemOption, value: &str, options: &mut QueryOptions) -> Result<(), Problem> {
    match option {
        SystemOption::Filter => options.filter = Some(filter_problem(set, value)?),
        SystemOption::OrderBy => options.orderby = orderby_problem(set, value)?,
        SystemOption::Select => options.select = select_problem(set, value)?,
        SystemOption::Expand => options.expand = Some(expand_problem(set, value)?),
        SystemOption::Top => options.top = Some(top_problem(value)?),
        SystemOption::Skip => options.skip = Some(skip_problem(value)?),
        SystemOption::SkipToken => options.skiptoken = Some(value.to_owned()),
        SystemOption::DeltaToken => options.deltatoken = Some(value.to_owned()),
        SystemOption::Count => {
            options.count = match value {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(Problem::invalid(None, format!("expected true or false, found '{value}'")));
                }
            }
        }
        SystemOption::Format => {
            let json = value == "json" || value.starts_with("application/json");
            if !json {
                return Err(Problem {
                    code: Code::UnsupportedQueryOption,
                    position: None,
                    reason: format!("only JSON is supported (json or application/json), found '{value}'"),
                });
            }
        }
    }
    Ok(())
}

/// Where the first non-digit is, if any.
fn non_digit(value: &str) -> Option<usize> {
    value.chars().position(|c| !c.is_ascii_digit())
}

fn top_problem(value: &str) -> Result<u32, Problem> {
    if let Some(pos) = non_digit(value) {
        return Err(Problem::invalid(Some(pos), format!("expected an integer from 1 to {MAX_TOP}, found '{value}'")));
    }
    match value.parse::<u32>() {
        Ok(n @ 1..=MAX_TOP) => Ok(n),
        _ => Err(Problem::invalid(None, format!("must be from 1 to {MAX_TOP}, found {value}"))),
    }
}

fn skip_problem(value: &str) -> Result<u64, Problem> {
    if let Some(pos) = non_digit(value) {
        return Err(Problem::invalid(Some(pos), format!("expected a non-negative integer, found '{value}'")));
    }
    value.parse::<u64>().map_err(|_| Problem::invalid(None, format!("{value} is too large")))
}

/// Parses an `$orderby` value against `set`: comma-separated property paths, each optionally
/// followed by `asc` or `desc`. Errors carry option `$orderby`.
pub fn parse_orderby(set: EntitySet, text: &str) -> Result<Vec<OrderKey>, QueryError> {
    orderby_problem(set, text).map_err(|p| p.into_error("$orderby"))
}

fn orderby_problem(set: EntitySet, text: &str) -> Result<Vec<OrderKey>, Problem> {
    let items = syntax::parse_orderby(text).map_err(|e| syntax_problem(text, e))?;
    let mut keys: Vec<OrderKey> = Vec::with_capacity(items.len());
    for item in items {
        let pos = Some(char_offset(text, item.pos));
        let Some(prop) = set.property(item.path) else {
            let valid: Vec<&str> = set.properties().iter().map(|p| p.path).collect();
            let what = if set.selectable().contains(&item.path) || set.navigation(item.path).is_some() {
                "is not a primitive property and cannot be ordered by"
            } else {
                "is not a known property"
            };
            return Err(Problem::invalid(
                pos,
                format!("'{}' {what}; properties that can be ordered by are: {}", item.path, valid.join(", ")),
            ));
        };
        if keys.iter().any(|k| k.path == prop.path) {
            return Err(Problem::invalid(pos, format!("'{}' appears more than once", prop.path)));
        }
        keys.push(OrderKey { path: prop.path, ty: prop.ty, descending: item.descending });
    }
    Ok(keys)
}

/// Parses a `$select` value against `set`. `None` means every property (`*`).
pub fn parse_select(set: EntitySet, text: &str) -> Result<Option<Vec<&'static str>>, QueryError> {
    select_problem(set, text).map_err(|p| p.into_error("$select"))
}

fn select_problem(set: EntitySet, text: &str) -> Result<Option<Vec<&'static str>>, Problem> {
    let mut selected: Vec<&'static str> = Vec::new();
    let mut star = false;
    let mut start = 0;
    for item in text.split(',') {
        let leading = item.len() - item.trim_start_matches([' ', '\t']).len();
        let name = item.trim_matches([' ', '\t']);
        let pos = Some(char_offset(text, start + leading));
        start += item.len() + 1;
        if name.is_empty() {
            return Err(Problem::invalid(pos, "expected a property name"));
        }
        if name == "*" {
            star = true;
            continue;
        }
        if let Some(p) = set.selectable().iter().find(|p| **p == name) {
            if !selected.contains(p) {
                selected.push(p);
            }
            continue;
        }
        let valid = set.selectable().join(", ");
        let reason = if set.navigation(name).is_some() {
            format!("'{name}' is a navigation property: use $expand={name}")
        } else if name.contains('/') {
            format!("selecting part of a property ('{name}') is not supported; selectable properties are: {valid}")
        } else {
            format!("unknown property '{name}'; selectable properties are: {valid}")
        };
        return Err(Problem::invalid(pos, reason));
    }
    Ok(if star { None } else { Some(selected) })
}

/// Splits `text` at `sep` outside quotes and parentheses. Returns (byte offset, piece).
fn split_top_level(text: &str, sep: char) -> Result<Vec<(usize, &str)>, Problem> {
    let mut pieces = Vec::new();
    let mut open_parens: Vec<usize> = Vec::new();
    let mut quote_start: Option<usize> = None;
    let mut piece_start = 0;
    for (i, c) in text.char_indices() {
        match c {
            // `''` inside a string closes and reopens it, which is harmless here.
            '\'' => quote_start = if quote_start.is_some() { None } else { Some(i) },
            _ if quote_start.is_some() => {}
            '(' => open_parens.push(i),
            ')' if open_parens.pop().is_none() => {
                return Err(Problem::invalid(Some(char_offset(text, i)), "unbalanced ')'"));
            }
            c if c == sep && open_parens.is_empty() => {
                pieces.push((piece_start, &text[piece_start..i]));
                piece_start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if let Some(q) = quote_start {
        return Err(Problem::invalid(Some(char_offset(text, q)), "unterminated string literal"));
    }
    if let Some(&p) = open_parens.first() {
        return Err(Problem::invalid(Some(char_offset(text, p)), "this '(' is never closed"));
    }
    pieces.push((piece_start, &text[piece_start..]));
    Ok(pieces)
}

/// Parses an `$expand` value against `set`: one navigation property, optionally with nested
/// `$select`, `$filter`, `$orderby` and `$top` separated by `;`.
pub fn parse_expand(set: EntitySet, text: &str) -> Result<Expand, QueryError> {
    expand_problem(set, text).map_err(|p| p.into_error("$expand"))
}

fn expand_problem(set: EntitySet, text: &str) -> Result<Expand, Problem> {
    let at = |byte: usize| Some(char_offset(text, byte));
    let items = split_top_level(text, ',')?;
    if let Some((second, _)) = items.get(1) {
        return Err(Problem::invalid(at(*second), "only one navigation property can be expanded"));
    }
    let (item_start, item) = items[0];
    let leading = item.len() - item.trim_start_matches([' ', '\t']).len();
    let item = item.trim_matches([' ', '\t']);
    let start = item_start + leading;
    let name_len = item.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(item.len());
    let (name, rest) = item.split_at(name_len);
    let navigable: Vec<&str> = set.navigations().iter().map(|n| n.name).collect();
    let can_expand = if navigable.is_empty() {
        "nothing can be expanded here".to_owned()
    } else {
        format!("navigation properties that can be expanded: {}", navigable.join(", "))
    };
    if name.is_empty() {
        let reason = if item.starts_with('*') {
            format!("$expand=* is not supported; name the navigation property ({can_expand})")
        } else {
            format!("expected a navigation property name ({can_expand})")
        };
        return Err(Problem::invalid(at(start), reason));
    }
    let Some(nav) = set.navigation(name) else {
        let what = if set.selectable().contains(&name) { "is not a navigation property" } else { "is not known" };
        return Err(Problem::invalid(at(start), format!("'{name}' {what}; {can_expand}")));
    };
    let rest_start = start + name_len;
    if rest.starts_with('/') {
        return Err(Problem {
            code: Code::UnsupportedQueryOption,
            position: at(rest_start),
            reason: format!("'{item}' is not supported; expand '{name}' itself"),
        });
    }
    let mut options = QueryOptions::default();
    if !rest.is_empty() {
        let inner = rest
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(|| Problem::invalid(at(rest_start), format!("expected '(' with nested options or nothing after '{name}'")))?;
        nested_options(nav, text, rest_start + 1, inner, &mut options)?;
    }
    Expand::of(nav.name, options).ok_or_else(|| Problem::invalid(at(start), format!("'{name}' cannot be expanded here; {can_expand}")))
}

/// The `;`-separated options inside `$expand=nav(…)`. `inner` starts at byte `base` of `text`.
fn nested_options(
    nav: &crate::schema::NavigationTarget,
    text: &str,
    base: usize,
    inner: &str,
    options: &mut QueryOptions,
) -> Result<(), Problem> {
    let at = |byte: usize| Some(char_offset(text, byte));
    let allowed: &[SystemOption] = if nav.collection {
        &[SystemOption::Select, SystemOption::Filter, SystemOption::OrderBy, SystemOption::Top]
    } else {
        &[SystemOption::Select, SystemOption::Filter]
    };
    let allowed_names = allowed.iter().map(|o| o.name()).collect::<Vec<_>>().join(", ");
    let mut seen: Vec<SystemOption> = Vec::new();
    for (offset, piece) in split_top_level(inner, ';')? {
        let piece_start = base + offset;
        let Some((raw_name, value)) = piece.split_once('=') else {
            return Err(Problem::invalid(at(piece_start), format!("expected name=value inside $expand=({allowed_names})")));
        };
        let name = raw_name.trim_matches([' ', '\t']);
        let bare = name.strip_prefix('$').unwrap_or(name);
        let Some(option) = SystemOption::from_bare(bare).filter(|o| allowed.contains(o)) else {
            let code = if SystemOption::from_bare(bare).is_some() || UNSUPPORTED.contains(&bare) {
                Code::InvalidQueryOption
            } else {
                Code::UnknownQueryOption
            };
            return Err(Problem {
                code,
                position: at(piece_start),
                reason: format!("'{name}' is not allowed inside $expand={}(…); allowed: {allowed_names}", nav.name),
            });
        };
        if seen.contains(&option) {
            return Err(Problem::invalid(at(piece_start), format!("{} is given more than once", option.name())));
        }
        seen.push(option);
        let value_start = piece_start + raw_name.len() + 1;
        if value.is_empty() {
            return Err(Problem::invalid(at(value_start), format!("the nested {} is empty", option.name())));
        }
        let shift = char_offset(text, value_start);
        apply(nav.target, option, value, options).map_err(|p| Problem {
            code: p.code,
            position: p.position.map(|q| q + shift).or(Some(shift)),
            reason: format!("in the nested {} of '{}': {}", option.name(), nav.name, p.reason),
        })?;
    }
    Ok(())
}
