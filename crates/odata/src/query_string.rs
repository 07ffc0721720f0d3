//! A request's query string, split and percent-decoded once, right after the path is parsed.
//! Everything that reads query options — the option parser, the permission check of `$expand`,
//! `$skiptoken` binding and `nextLink`s, delta tokens — reads this, so a name is decoded one way.
//! Splitting never fails; what a pair means (and whether it is an error) is decided by
//! [`crate::parse_query`].

use percent_encoding::percent_decode_str;

/// One `name=value` pair, as sent and decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The pair as sent (still percent-encoded), for links that repeat it.
    raw: String,
    /// Where `=` is in `raw` (the end when there is none).
    split: usize,
    /// The decoded name; `None` when it is not UTF-8 once decoded.
    pub name: Option<String>,
    /// The decoded value; `None` when it is not UTF-8 once decoded.
    pub value: Option<String>,
}

impl Param {
    /// The name as sent, still encoded.
    pub fn raw_name(&self) -> &str {
        &self.raw[..self.split]
    }

    /// The value as sent, still encoded.
    pub fn raw_value(&self) -> &str {
        self.raw.get(self.split + 1..).unwrap_or("")
    }

    /// The decoded name without its leading `$` (system options may be named without it).
    pub fn bare_name(&self) -> Option<&str> {
        self.name.as_deref().map(|n| n.strip_prefix('$').unwrap_or(n))
    }
}

/// The pairs of a query string, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryString {
    params: Vec<Param>,
}

/// Percent-decodes a query component, `+` meaning a space (as ASP.NET OData does).
fn decode(raw: &str) -> Option<String> {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8().ok().map(|s| s.into_owned())
}

impl QueryString {
    /// Splits a raw query string (with or without its leading `?`, still percent-encoded).
    pub fn parse(raw: Option<&str>) -> Self {
        let raw = raw.unwrap_or("");
        let raw = raw.strip_prefix('?').unwrap_or(raw);
        let params = raw
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let split = pair.find('=').unwrap_or(pair.len());
                let value = pair.get(split + 1..).unwrap_or("");
                Param { raw: pair.to_owned(), split, name: decode(&pair[..split]), value: decode(value) }
            })
            .collect();
        Self { params }
    }

    pub fn params(&self) -> &[Param] {
        &self.params
    }

    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// The first pair naming the system option `bare` (`$filter` or `filter` for `"filter"`).
    pub fn option(&self, bare: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.bare_name() == Some(bare))
    }

    /// The pairs naming none of the system options `bare`, as sent, joined by `&`.
    pub fn without(&self, bare: &[&str]) -> String {
        self.joined(|p| !p.bare_name().is_some_and(|n| bare.contains(&n)))
    }

    /// Only the pairs naming one of the system options `bare`, as sent, joined by `&`.
    pub fn only(&self, bare: &[&str]) -> String {
        self.joined(|p| p.bare_name().is_some_and(|n| bare.contains(&n)))
    }

    fn joined(&self, keep: impl Fn(&Param) -> bool) -> String {
        self.params.iter().filter(|p| keep(p)).map(|p| p.raw.as_str()).collect::<Vec<_>>().join("&")
    }
}

#[cfg(test)]
mod tests {
    use super::QueryString;

    #[test]
    fn splits_and_decodes_once() {
        let q = QueryString::parse(Some("?%24filter=a%20eq+1&top=2&&x&%ff=1"));
        let p = q.option("filter").unwrap();
        assert_eq!((p.raw_name(), p.raw_value(), p.value.as_deref()), ("%24filter", "a%20eq+1", Some("a eq 1")));
        assert_eq!(q.option("top").and_then(|p| p.value.as_deref()), Some("2"));
        assert_eq!(q.params().len(), 4);
        assert_eq!(q.params()[2].value.as_deref(), Some(""));
        assert_eq!(q.params()[3].name, None, "not UTF-8");
        assert_eq!(q.without(&["filter", "x"]), "top=2&%ff=1");
        assert_eq!(q.only(&["filter"]), "%24filter=a%20eq+1");
        assert!(QueryString::parse(None).is_empty());
    }
}
