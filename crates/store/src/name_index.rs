//! Substring search on run names over SQLite's trigram index (`run_names`, an FTS5 table the
//! writer keeps up to date; see the SQLite migration that creates it).
//!
//! The index only narrows: a run is a candidate when its name holds every trigram of the pattern,
//! and the exact test (`rh_contains`, `rh_startswith`, `rh_endswith`) still decides. Whether to use
//! it is decided per pattern, by asking the index how many candidates it has: a rare pattern is
//! answered from its candidates (a handful of row lookups), a common one by walking the page's
//! index in order, which finds a page of matches quickly — the candidate set of a pattern found in
//! most names would cost more to read than the walk. Patterns shorter than three characters have
//! no trigram and are always walked. PostgreSQL needs none of this: its planner weighs the
//! pg_trgm index with its own statistics.

use runhub_odata::{Filter, Operand, Value};

use crate::StoreResult;
use crate::query::Sql;
use crate::tx::Tx;

/// A pattern with fewer candidates than this is answered from them.
pub(crate) const SELECTIVE_BELOW: i64 = 10_000;

/// The FTS5 query for the names holding every trigram of `pattern`; `None` when the index cannot
/// narrow it (fewer than three characters, or a NUL, which the index does not see as text).
pub(crate) fn candidates_query(pattern: &str) -> Option<String> {
    let chars: Vec<char> = pattern.chars().collect();
    if chars.len() < 3 || pattern.contains('\0') {
        return None;
    }
    let mut trigrams: Vec<String> = chars.windows(3).map(|w| w.iter().collect()).collect();
    trigrams.sort();
    trigrams.dedup();
    // Each trigram a quoted FTS5 string (a `"` inside doubled), all of them required.
    Some(trigrams.iter().map(|t| format!("\"{}\"", t.replace('"', "\"\""))).collect::<Vec<_>>().join(" AND "))
}

/// The literal patterns of `filter`'s `contains`/`startswith`/`endswith` on `displayName`.
fn name_patterns<'a>(filter: &'a Filter, out: &mut Vec<&'a str>) {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            name_patterns(a, out);
            name_patterns(b, out);
        }
        Filter::Not(a) => name_patterns(a, out),
        Filter::StringMatch {
            haystack: Operand::Property { path: "displayName", .. }, needle: Operand::Literal(Value::String(s)), ..
        } => out.push(s),
        _ => {}
    }
}

/// The patterns of `filter` on run names that are rare enough to be answered from the index.
pub(crate) async fn selective_patterns<T: Tx>(tx: &mut T, filter: Option<&Filter>) -> StoreResult<Vec<String>> {
    let mut patterns = Vec::new();
    if let Some(filter) = filter {
        name_patterns(filter, &mut patterns);
    }
    let mut selective = Vec::new();
    for pattern in patterns {
        let Some(query) = candidates_query(pattern) else { continue };
        let probe = Sql {
            text: format!("SELECT COUNT(*) FROM (SELECT 1 FROM run_names WHERE run_names MATCH ? LIMIT {SELECTIVE_BELOW})"),
            values: sea_query::Values(vec![query.into()]),
        };
        let candidates: i64 = tx.fetch_first(probe).await?.unwrap_or(SELECTIVE_BELOW);
        if candidates < SELECTIVE_BELOW {
            selective.push(pattern.to_owned());
        }
    }
    Ok(selective)
}

#[cfg(test)]
mod tests {
    use super::candidates_query;

    #[test]
    fn a_pattern_becomes_all_of_its_trigrams() {
        assert_eq!(candidates_query("ab"), None);
        assert_eq!(candidates_query("a\0bc"), None);
        assert_eq!(candidates_query("abc").as_deref(), Some("\"abc\""));
        assert_eq!(candidates_query("abcd").as_deref(), Some("\"abc\" AND \"bcd\""));
        assert_eq!(candidates_query("aaaa").as_deref(), Some("\"aaa\""));
        assert_eq!(candidates_query("a\"bc").as_deref(), Some("\"\"\"bc\" AND \"a\"\"b\""));
        assert_eq!(candidates_query("日本語テ").as_deref(), Some("\"日本語\" AND \"本語テ\""));
    }
}
