//! The typed query tree → SQL, as sea-query expressions with bound values. One compiler serves every
//! backend; the few functions that differ are chosen by [`Dialect`].
//!
//! OData's logic is two-valued (OData 4.01 §5.1.1): `ne` with one null operand is true,
//! `gt ge lt le` with a null operand are false, and `not` of either is its opposite. SQL's is
//! three-valued, so every predicate compiled here is made to yield only TRUE or FALSE — guarding
//! nullable columns with `IS [NOT] NULL` — so that `NOT` can be applied without surprises. Plain
//! `col op ?` terms stay visible to the planner, so indexes still apply.

use runhub_odata::ast::{CaseFn, CmpOp, Filter, Operand, OrderKey, StringFn, Value};
use sea_query::{Expr, ExprTrait, Func, Order};

use crate::StoreError;
use crate::columns::{Table, column, kind_in, kinds_of};
use crate::dialect::Dialect;

/// A value bound as a parameter (never spliced into the SQL text).
pub(crate) fn bind(value: &Value) -> Expr {
    match value {
        Value::Null => Expr::null(),
        Value::String(s) => Expr::val(s.as_str()),
        Value::Int(i) => Expr::val(*i),
        Value::Float(f) => Expr::val(*f),
        Value::Bool(b) => Expr::val(*b),
        Value::DateTime(micros) => Expr::val(*micros),
        // `unknownFutureValue` is never stored: an ordinal no row has makes it match nothing.
        Value::Enum(ordinal) => Expr::val(ordinal.unwrap_or(-1)),
    }
}

/// A compiled operand, with whether it can be NULL.
struct Term {
    expr: Expr,
    nullable: bool,
    /// A literal `null`.
    null: bool,
}

pub(crate) struct Compiler {
    pub table: Table,
    pub dialect: Dialect,
}

/// `s` as a LIKE pattern matching itself, `\\` escaping `%`, `_` and `\\`.
fn like_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn unknown_path(path: &str) -> StoreError {
    StoreError::Internal(format!("property path '{path}' has no column"))
}

fn always(b: bool) -> Expr {
    Expr::cust(if b { "1 = 1" } else { "1 = 0" })
}

impl Compiler {
    fn term(&self, operand: &Operand) -> Result<Term, StoreError> {
        Ok(match operand {
            Operand::Property { path, .. } => {
                let c = column(self.table, path).ok_or_else(|| unknown_path(path))?;
                Term { expr: c.expr(self.dialect), nullable: c.nullable, null: false }
            }
            Operand::Literal(Value::Null) => Term { expr: Expr::null(), nullable: true, null: true },
            // PostgreSQL: a string literal compared with another literal would otherwise take the
            // database's default collation; pin it to code point order like every text column.
            Operand::Literal(v @ Value::String(_)) if self.dialect == Dialect::Postgres => {
                Term { expr: Expr::cust_with_expr("(CAST($1 AS TEXT) COLLATE \"C\")", bind(v)), nullable: false, null: false }
            }
            Operand::Literal(v) => Term { expr: bind(v), nullable: false, null: false },
            Operand::Case(func, inner) => {
                let inner = self.term(inner)?;
                let expr = match (func, self.dialect) {
                    // SQLite's lower()/upper() only fold ASCII; rh_lower/rh_upper are Rust's
                    // str::to_lowercase/to_uppercase (all of Unicode, full mappings).
                    (CaseFn::ToLower, Dialect::Sqlite) => Func::cust("rh_lower").arg(inner.expr).into(),
                    (CaseFn::ToUpper, Dialect::Sqlite) => Func::cust("rh_upper").arg(inner.expr).into(),
                    // PostgreSQL folds only ASCII under COLLATE "C"; under the ICU root collation
                    // (migration 1: runhub_fold) it applies Unicode's full case mappings, as Rust
                    // does. The result goes back to "C" so comparisons stay by code point.
                    (CaseFn::ToLower, Dialect::Postgres) => {
                        Expr::cust_with_expr("(lower(CAST($1 AS TEXT) COLLATE runhub_fold) COLLATE \"C\")", inner.expr)
                    }
                    (CaseFn::ToUpper, Dialect::Postgres) => {
                        Expr::cust_with_expr("(upper(CAST($1 AS TEXT) COLLATE runhub_fold) COLLATE \"C\")", inner.expr)
                    }
                };
                Term { expr, ..inner }
            }
        })
    }

    /// `guard AND pred` for each nullable term, so a null operand yields FALSE, never NULL.
    fn not_null_guarded(terms: &[&Term], pred: Expr) -> Expr {
        terms.iter().filter(|t| t.nullable).fold(pred, |acc, t| t.expr.clone().is_not_null().and(acc))
    }

    pub fn filter(&self, f: &Filter) -> Result<Expr, StoreError> {
        Ok(match f {
            Filter::And(a, b) => self.filter(a)?.and(self.filter(b)?),
            Filter::Or(a, b) => self.filter(a)?.or(self.filter(b)?),
            Filter::Not(a) => self.filter(a)?.not(),
            Filter::Bool(operand) => {
                let t = self.term(operand)?;
                Self::not_null_guarded(&[&t], t.expr.clone().eq(Expr::val(true)))
            }
            Filter::IsOf(type_name) => match kinds_of(self.table, type_name) {
                None => always(true),
                Some(kinds) if kinds.is_empty() => always(false),
                Some(kinds) => kind_in(&kinds),
            },
            Filter::Compare { op, left, right } => self.compare(*op, &self.term(left)?, &self.term(right)?),
            Filter::In { operand, list } => {
                let t = self.term(operand)?;
                let has_null = list.contains(&Value::Null);
                let values: Vec<Expr> = list.iter().filter(|v| **v != Value::Null).map(bind).collect();
                let matches = if values.is_empty() { always(false) } else { Self::not_null_guarded(&[&t], t.expr.clone().is_in(values)) };
                if has_null && t.nullable { matches.or(t.expr.is_null()) } else { matches }
            }
            Filter::StringMatch { func, haystack, needle } => {
                let (h, n) = (self.term(haystack)?, self.term(needle)?);
                if h.null || n.null {
                    return Ok(always(false));
                }
                let len = |e: Expr| -> Expr { Func::cust("length").arg(e).into() };
                if self.dialect == Dialect::Sqlite {
                    // SQLite's length() and substr() stop counting at the first NUL character, which
                    // a stored string may hold: the string functions are ours (registered on every
                    // connection), exact over the whole string.
                    let name = match func {
                        StringFn::StartsWith => "rh_startswith",
                        StringFn::EndsWith => "rh_endswith",
                        StringFn::Contains => "rh_contains",
                    };
                    let pred = Expr::from(Func::cust(name).args([h.expr.clone(), n.expr.clone()])).eq(Expr::val(1));
                    return Ok(Self::not_null_guarded(&[&h, &n], pred));
                }
                // A literal needle is a LIKE pattern, which the trigram index (pg_trgm) serves.
                if let Operand::Literal(Value::String(s)) = needle {
                    let pattern = match func {
                        StringFn::StartsWith => format!("{}%", like_literal(s)),
                        StringFn::EndsWith => format!("%{}", like_literal(s)),
                        StringFn::Contains => format!("%{}%", like_literal(s)),
                    };
                    let pred = Expr::cust_with_exprs("$1 LIKE $2 ESCAPE '\\'", [h.expr.clone(), Expr::val(pattern)]);
                    return Ok(Self::not_null_guarded(&[&h], pred));
                }
                let pred = match func {
                    StringFn::StartsWith => {
                        Expr::from(Func::cust("substr").args([h.expr.clone(), Expr::val(1), len(n.expr.clone())])).eq(n.expr.clone())
                    }
                    // substr(h, len(h) - len(n) + 1) = n; when n is longer than h the start is ≤ 0
                    // and the substring is shorter than n, so it cannot match by accident.
                    StringFn::EndsWith => Expr::from(
                        Func::cust("substr").args([h.expr.clone(), len(h.expr.clone()).sub(len(n.expr.clone())).add(Expr::val(1))]),
                    )
                    .eq(n.expr.clone()),
                    StringFn::Contains => {
                        let pos = match self.dialect {
                            Dialect::Sqlite => Func::cust("instr").args([h.expr.clone(), n.expr.clone()]),
                            Dialect::Postgres => Func::cust("strpos").args([h.expr.clone(), n.expr.clone()]),
                        };
                        Expr::from(pos).gt(Expr::val(0))
                    }
                };
                Self::not_null_guarded(&[&h, &n], pred)
            }
        })
    }

    fn compare(&self, op: CmpOp, l: &Term, r: &Term) -> Expr {
        // Literal null on either side: `eq`/`ne` test for null; ordering comparisons are false.
        if l.null || r.null {
            let other = if l.null { r } else { l };
            return match op {
                CmpOp::Eq if other.null => always(true),
                CmpOp::Ne if other.null => always(false),
                CmpOp::Eq if other.nullable => other.expr.clone().is_null(),
                CmpOp::Ne if other.nullable => other.expr.clone().is_not_null(),
                CmpOp::Eq => always(false),
                CmpOp::Ne => always(true),
                _ => always(false),
            };
        }
        let (le, re) = (l.expr.clone(), r.expr.clone());
        match op {
            CmpOp::Eq => {
                let eq = Self::not_null_guarded(&[l, r], le.clone().eq(re.clone()));
                if l.nullable && r.nullable { eq.or(le.is_null().and(re.is_null())) } else { eq }
            }
            CmpOp::Ne => self.compare(CmpOp::Eq, l, r).not(),
            CmpOp::Gt => Self::not_null_guarded(&[l, r], le.gt(re)),
            CmpOp::Ge => Self::not_null_guarded(&[l, r], le.gte(re)),
            CmpOp::Lt => Self::not_null_guarded(&[l, r], le.lt(re)),
            CmpOp::Le => Self::not_null_guarded(&[l, r], le.lte(re)),
        }
    }

    /// `ORDER BY` terms: the keys, then `id asc`. Nulls sort lowest (SQLite's native order; stated
    /// explicitly for PostgreSQL, whose native order is the opposite).
    pub fn order_by(&self, keys: &[OrderKey]) -> Result<Vec<(Expr, Order, Option<sea_query::NullOrdering>)>, StoreError> {
        let mut out = Vec::with_capacity(keys.len() + 1);
        for key in keys {
            let c = column(self.table, key.path).ok_or_else(|| unknown_path(key.path))?;
            let order = if key.descending { Order::Desc } else { Order::Asc };
            let nulls = (c.nullable && self.dialect == Dialect::Postgres).then_some(if key.descending {
                sea_query::NullOrdering::Last
            } else {
                sea_query::NullOrdering::First
            });
            out.push((c.expr(self.dialect), order, nulls));
        }
        out.push((Expr::col(sea_query::Alias::new("id")), Order::Asc, None));
        Ok(out)
    }

    /// The keyset condition "comes after `after` in this ordering" (nulls lowest, `id` last).
    /// `after` holds one value per key plus the id.
    pub fn after(&self, keys: &[OrderKey], after: &[Value]) -> Result<Expr, StoreError> {
        if after.len() != keys.len() + 1 {
            return Err(StoreError::Internal("cursor does not fit the ordering".into()));
        }
        let mut parts: Vec<(Expr, bool, bool)> = Vec::new(); // (expr, nullable, descending)
        for key in keys {
            let c = column(self.table, key.path).ok_or_else(|| unknown_path(key.path))?;
            parts.push((c.expr(self.dialect), c.nullable, key.descending));
        }
        parts.push((Expr::col(sea_query::Alias::new("id")), false, false));

        let mut result: Option<Expr> = None;
        let mut equal_prefix: Option<Expr> = None;
        for ((expr, nullable, descending), value) in parts.iter().zip(after) {
            let beyond = match (value, descending) {
                (Value::Null, false) => expr.clone().is_not_null(),
                (Value::Null, true) => always(false),
                (v, false) => {
                    Self::not_null_guarded(&[&Term { expr: expr.clone(), nullable: *nullable, null: false }], expr.clone().gt(bind(v)))
                }
                (v, true) if *nullable => expr.clone().lt(bind(v)).or(expr.clone().is_null()),
                (v, true) => expr.clone().lt(bind(v)),
            };
            let branch = match &equal_prefix {
                None => beyond,
                Some(prefix) => prefix.clone().and(beyond),
            };
            result = Some(match result {
                None => branch,
                Some(r) => r.or(branch),
            });
            let same = match value {
                Value::Null => expr.clone().is_null(),
                v => expr.clone().eq(bind(v)),
            };
            equal_prefix = Some(match equal_prefix {
                None => same,
                Some(p) => p.and(same),
            });
        }
        let mut cond = result.unwrap_or_else(|| always(true));
        // A leading range bound the planner can use with an index on the first key.
        if let (Some((expr, false, descending)), Some(v)) = (parts.first(), after.first())
            && *v != Value::Null
        {
            let bound = if *descending { expr.clone().lte(bind(v)) } else { expr.clone().gte(bind(v)) };
            cond = bound.and(cond);
        }
        Ok(cond)
    }
}
