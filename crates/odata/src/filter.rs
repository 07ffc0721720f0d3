//! `$filter`: syntax (the winnow grammar in `syntax`) → limits → resolution and type checking
//! against an [`EntitySet`] → the typed [`Filter`] tree.

use crate::ast::{CaseFn, CmpOp, Filter, Operand, StringFn, Type, Value};
use crate::error::{Problem, QueryError, char_offset};
use crate::schema::{self, EntitySet, NAMESPACE, QueryProperty, edm_type_name, split_qualified};
use crate::syntax::{self, Expr, ExprKind, Lit, SynErr};

/// Longest `$filter` value accepted, in bytes.
pub const MAX_FILTER_BYTES: usize = 4096;
/// Deepest nesting of operators and function calls; redundant parentheses and chains of the
/// same operator (`a or b or c`) count once.
pub const MAX_FILTER_DEPTH: usize = 32;
/// Most nodes in a filter tree: operators, function calls, properties and literals, counting
/// a chain of n `and`/`or` operands as n − 1 operators, as in the binary [`Filter`] tree.
pub const MAX_FILTER_NODES: usize = 256;

/// Parses and type-checks a `$filter` value against `set`.
///
/// Errors carry option `$filter` and the 0-based character position where the problem starts.
pub fn parse_filter(set: EntitySet, text: &str) -> Result<Filter, QueryError> {
    filter_problem(set, text).map_err(|p| p.into_error("$filter"))
}

/// [`parse_filter`] before the error is attributed to an option.
pub(crate) fn filter_problem(set: EntitySet, text: &str) -> Result<Filter, Problem> {
    if text.len() > MAX_FILTER_BYTES {
        return Err(Problem::too_complex(
            Some(char_offset(text, MAX_FILTER_BYTES)),
            format!("the filter is {} bytes long; at most {MAX_FILTER_BYTES} are allowed", text.len()),
        ));
    }
    if text.trim_matches([' ', '\t']).is_empty() {
        return Err(Problem::invalid(Some(0), "the filter is empty"));
    }
    let expr = syntax::parse_filter(text).map_err(|e| syntax_problem(text, e))?;
    check_limits(&expr, text)?;
    Checker { set, text }.condition(&expr)
}

/// Turns a syntax error (byte offset) into a problem (character offset).
pub(crate) fn syntax_problem(text: &str, e: SynErr) -> Problem {
    let position = Some(char_offset(text, e.pos));
    let reason = e.message.unwrap_or_else(|| "syntax error".into());
    if e.too_complex { Problem::too_complex(position, reason) } else { Problem::invalid(position, reason) }
}

// ---------------------------------------------------------------------------------------------
// Limits

#[derive(Clone, Copy, PartialEq, Eq)]
enum Chain {
    Or,
    And,
    Other,
}

fn check_limits(expr: &Expr<'_>, text: &str) -> Result<(), Problem> {
    let mut nodes = 0;
    walk_limits(expr, 0, Chain::Other, &mut nodes, text)
}

/// Counts nodes and operator levels, pre-order, so the error points at the first node over a
/// limit. Recursion is bounded by the syntactic depth limit.
fn walk_limits(expr: &Expr<'_>, level: usize, parent: Chain, nodes: &mut usize, text: &str) -> Result<(), Problem> {
    let (chain, children): (Chain, Vec<&Expr<'_>>) = match &expr.kind {
        ExprKind::Or(items) => (Chain::Or, items.iter().collect()),
        ExprKind::And(items) => (Chain::And, items.iter().collect()),
        ExprKind::Not(inner) => (Chain::Other, vec![inner]),
        ExprKind::Cmp { left, right, .. } => (Chain::Other, vec![left, right]),
        ExprKind::In { operand, list } => (Chain::Other, std::iter::once(&**operand).chain(list).collect()),
        ExprKind::Call { args, .. } => (Chain::Other, args.iter().collect()),
        ExprKind::Literal(_) | ExprKind::EnumLiteral { .. } | ExprKind::TypeName(_) | ExprKind::Path(_) => (Chain::Other, Vec::new()),
    };
    // A chain of n operands is n − 1 binary operators.
    *nodes += match &expr.kind {
        ExprKind::Or(items) | ExprKind::And(items) => items.len().saturating_sub(1),
        _ => 1,
    };
    if *nodes > MAX_FILTER_NODES {
        return Err(Problem::too_complex(
            Some(char_offset(text, expr.pos)),
            format!("the filter has more than {MAX_FILTER_NODES} nodes (operators, functions, properties and literals)"),
        ));
    }
    let is_operator = !children.is_empty() || matches!(expr.kind, ExprKind::Call { .. });
    let continues_chain = chain != Chain::Other && chain == parent;
    let level = if is_operator && !continues_chain { level + 1 } else { level };
    if level > MAX_FILTER_DEPTH {
        return Err(Problem::too_complex(
            Some(char_offset(text, expr.pos)),
            format!("the filter nests more than {MAX_FILTER_DEPTH} levels of operators and functions"),
        ));
    }
    for child in children {
        walk_limits(child, level, chain, nodes, text)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Type checking

/// A checked value-producing operand.
#[derive(Debug, Clone)]
enum Val {
    /// A property path or a function of one: typed by the schema.
    Typed { operand: Operand, ty: Type, desc: String, pos: usize },
    /// A literal whose type may still depend on what it is compared with (`'failed'` is a
    /// string or an enum member).
    Lit { lit: Lit, pos: usize },
    /// A qualified enum literal; `member` is `None` for `unknownFutureValue`.
    Enum { ty: &'static str, member: Option<i64>, pos: usize },
}

struct Checker<'t> {
    set: EntitySet,
    text: &'t str,
}

const BOOL_FUNCTIONS: &[&str] = &["startswith", "endswith", "contains", "isof"];
const ALL_FUNCTIONS: &[&str] = &["startswith", "endswith", "contains", "tolower", "toupper", "isof"];

fn lit_desc(lit: &Lit) -> &'static str {
    match lit {
        Lit::Null => "null",
        Lit::Bool(_) => "a boolean literal",
        Lit::Int(_) => "an integer literal",
        Lit::Float(_) => "a decimal literal",
        Lit::String(_) => "a string literal",
        Lit::DateTime(_) => "a DateTimeOffset literal",
    }
}

fn lit_value(lit: Lit) -> Value {
    match lit {
        Lit::Null => Value::Null,
        Lit::Bool(b) => Value::Bool(b),
        Lit::Int(n) => Value::Int(n),
        Lit::Float(f) => Value::Float(f),
        Lit::String(s) => Value::String(s),
        Lit::DateTime(us) => Value::DateTime(us),
    }
}

/// The schema type a literal has on its own, if it has one.
fn lit_type(lit: &Lit) -> Option<Type> {
    match lit {
        Lit::Null | Lit::Float(_) => None,
        Lit::Bool(_) => Some(Type::Boolean),
        Lit::Int(_) => Some(Type::Int64),
        Lit::String(_) => Some(Type::String),
        Lit::DateTime(_) => Some(Type::DateTimeOffset),
    }
}

fn is_condition(expr: &Expr<'_>) -> bool {
    match &expr.kind {
        ExprKind::Or(_) | ExprKind::And(_) | ExprKind::Not(_) | ExprKind::Cmp { .. } | ExprKind::In { .. } => true,
        ExprKind::Call { name, .. } => BOOL_FUNCTIONS.contains(name),
        _ => false,
    }
}

impl Checker<'_> {
    fn err(&self, byte: usize, reason: impl Into<String>) -> Problem {
        Problem::invalid(Some(char_offset(self.text, byte)), reason)
    }

    /// A boolean expression.
    fn condition(&self, expr: &Expr<'_>) -> Result<Filter, Problem> {
        match &expr.kind {
            ExprKind::Or(items) => self.chain(items, Filter::Or),
            ExprKind::And(items) => self.chain(items, Filter::And),
            ExprKind::Not(inner) => Ok(Filter::Not(Box::new(self.condition(inner)?))),
            ExprKind::Cmp { op, op_pos, left, right } => self.compare(*op, *op_pos, left, right),
            ExprKind::In { operand, list } => self.in_list(operand, list),
            ExprKind::Call { name, args } => self.bool_call(expr.pos, name, args),
            ExprKind::Literal(Lit::Bool(b)) => Ok(Filter::Bool(Operand::Literal(Value::Bool(*b)))),
            ExprKind::Path(path) => {
                let prop = self.property(expr.pos, path)?;
                if prop.ty == Type::Boolean {
                    return Ok(Filter::Bool(Operand::Property { path: prop.path, ty: prop.ty }));
                }
                Err(self.err(expr.pos, format!("'{path}' is {}, not a condition; compare it, e.g. {path} eq …", edm_type_name(prop.ty))))
            }
            ExprKind::Literal(lit) => Err(self.err(expr.pos, format!("expected a condition, found {}", lit_desc(lit)))),
            ExprKind::EnumLiteral { .. } => Err(self.err(expr.pos, "expected a condition, found an enum literal")),
            ExprKind::TypeName(name) => {
                Err(self.err(expr.pos, format!("expected a condition, found the type name '{name}' (type names go inside isof())")))
            }
        }
    }

    /// `a or b or c` → `Or(Or(a, b), c)`.
    fn chain(&self, items: &[Expr<'_>], make: fn(Box<Filter>, Box<Filter>) -> Filter) -> Result<Filter, Problem> {
        let mut result: Option<Filter> = None;
        for item in items {
            let next = self.condition(item)?;
            result = Some(match result {
                None => next,
                Some(acc) => make(Box::new(acc), Box::new(next)),
            });
        }
        result.ok_or_else(|| Problem::invalid(None, "empty expression"))
    }

    fn property(&self, pos: usize, path: &str) -> Result<&'static QueryProperty, Problem> {
        if let Some(prop) = self.set.property(path) {
            return Ok(prop);
        }
        let valid: Vec<&str> = self.set.properties().iter().map(|p| p.path).collect();
        let why = if self.set.selectable().contains(&path) {
            format!("'{path}' is a complex property and cannot be filtered on; filterable properties are: ")
        } else if self.set.navigation(path).is_some() {
            format!("'{path}' is a navigation property; filter on its key ({path}/id) where available. Filterable properties are: ")
        } else {
            format!("unknown property '{path}'; filterable properties are: ")
        };
        Err(self.err(pos, format!("{why}{}", valid.join(", "))))
    }

    fn enum_member(&self, pos: usize, enum_name: &'static str, member: &str) -> Result<Option<i64>, Problem> {
        let members = schema::enum_type(enum_name).map_or(&[][..], |e| e.members);
        match members.iter().position(|m| *m == member) {
            // The sentinel is a valid literal that matches nothing.
            Some(i) if members[i] == "unknownFutureValue" => Ok(None),
            Some(i) => Ok(Some(i as i64)),
            None => {
                Err(self.err(pos, format!("'{member}' is not a member of {NAMESPACE}.{enum_name}; members are: {}", members.join(", "))))
            }
        }
    }

    fn enum_literal(&self, pos: usize, qualified: &str, member: &str) -> Result<Val, Problem> {
        let (namespace, name) = split_qualified(qualified);
        let Some(enum_type) = schema::enum_type(name).filter(|_| namespace == NAMESPACE) else {
            let known: Vec<String> = schema::ENUM_TYPES.iter().map(|e| format!("{NAMESPACE}.{}", e.name)).collect();
            return Err(self.err(pos, format!("unknown enum type '{qualified}'; enum types are: {}", known.join(", "))));
        };
        let member = self.enum_member(pos, enum_type.name, member)?;
        Ok(Val::Enum { ty: enum_type.name, member, pos })
    }

    /// A value-producing expression.
    fn value(&self, expr: &Expr<'_>) -> Result<Val, Problem> {
        match &expr.kind {
            ExprKind::Path(path) => {
                let prop = self.property(expr.pos, path)?;
                Ok(Val::Typed {
                    operand: Operand::Property { path: prop.path, ty: prop.ty },
                    ty: prop.ty,
                    desc: format!("'{path}'"),
                    pos: expr.pos,
                })
            }
            ExprKind::Literal(lit) => Ok(Val::Lit { lit: lit.clone(), pos: expr.pos }),
            ExprKind::EnumLiteral { ty, member } => self.enum_literal(expr.pos, ty, member),
            ExprKind::Call { name, args } if matches!(*name, "tolower" | "toupper") => {
                let func = if *name == "tolower" { CaseFn::ToLower } else { CaseFn::ToUpper };
                self.arity(expr.pos, name, args, 1)?;
                let inner = self.string_argument(name, &args[0])?;
                Ok(Val::Typed {
                    operand: Operand::Case(func, Box::new(inner)),
                    ty: Type::String,
                    desc: format!("{name}(…)"),
                    pos: expr.pos,
                })
            }
            ExprKind::Call { name, .. } if !ALL_FUNCTIONS.contains(name) => Err(self.unknown_function(expr.pos, name)),
            ExprKind::TypeName(name) => Err(self.err(expr.pos, format!("the type name '{name}' is only allowed inside isof()"))),
            ExprKind::Not(_) => {
                Err(self.err(expr.pos, "'not' applies to the operand right after it, before any comparison: write not (a eq b)"))
            }
            _ => Err(self.err(
                expr.pos,
                "a condition cannot be used as a value here; compare values, and combine conditions with 'and', 'or' and 'not'",
            )),
        }
    }

    fn arity(&self, pos: usize, name: &str, args: &[Expr<'_>], n: usize) -> Result<(), Problem> {
        if args.len() == n {
            return Ok(());
        }
        let plural = if n == 1 { "" } else { "s" };
        Err(self.err(pos, format!("{name} takes {n} argument{plural}, found {}", args.len())))
    }

    fn unknown_function(&self, pos: usize, name: &str) -> Problem {
        let hint = if ALL_FUNCTIONS.contains(&name.to_ascii_lowercase().as_str()) { " (function names are lower-case)" } else { "" };
        self.err(pos, format!("unsupported function '{name}'{hint}; supported functions are: {}", ALL_FUNCTIONS.join(", ")))
    }

    fn string_argument(&self, func: &str, expr: &Expr<'_>) -> Result<Operand, Problem> {
        match self.value(expr)? {
            Val::Typed { operand, ty: Type::String, .. } => Ok(operand),
            Val::Typed { ty, desc, .. } => {
                Err(self.err(expr.pos, format!("{func} needs string arguments; {desc} is {}", edm_type_name(ty))))
            }
            Val::Lit { lit: Lit::String(s), .. } => Ok(Operand::Literal(Value::String(s))),
            Val::Lit { lit, pos } => Err(self.err(pos, format!("{func} needs string arguments, found {}", lit_desc(&lit)))),
            Val::Enum { pos, .. } => Err(self.err(pos, format!("{func} needs string arguments, found an enum literal"))),
        }
    }

    fn bool_call(&self, pos: usize, name: &str, args: &[Expr<'_>]) -> Result<Filter, Problem> {
        let func = match name {
            "startswith" => StringFn::StartsWith,
            "endswith" => StringFn::EndsWith,
            "contains" => StringFn::Contains,
            "isof" => {
                if args.len() == 2 {
                    return Err(
                        self.err(pos, "isof with an expression argument is not supported; use isof('microsoft.graph.industryData.<type>')")
                    );
                }
                self.arity(pos, name, args, 1)?;
                return self.isof(&args[0]);
            }
            "tolower" | "toupper" => {
                return Err(self.err(pos, format!("{name} returns a string, not a condition; compare it, e.g. {name}(displayName) eq 'x'")));
            }
            _ => return Err(self.unknown_function(pos, name)),
        };
        self.arity(pos, name, args, 2)?;
        let haystack = self.string_argument(name, &args[0])?;
        let needle = self.string_argument(name, &args[1])?;
        Ok(Filter::StringMatch { func, haystack, needle })
    }

    fn isof(&self, arg: &Expr<'_>) -> Result<Filter, Problem> {
        let name: &str = match &arg.kind {
            ExprKind::Literal(Lit::String(s)) => s,
            ExprKind::TypeName(t) => t,
            _ => {
                return Err(self.err(arg.pos, "isof expects a qualified type name, e.g. isof('microsoft.graph.industryData.runGroup')"));
            }
        };
        let types = self.set.isof_types();
        let (namespace, short) = split_qualified(name);
        if namespace == NAMESPACE
            && let Some(t) = types.iter().find(|t| **t == short)
        {
            return Ok(Filter::IsOf(t));
        }
        let valid: Vec<String> = types.iter().map(|t| format!("'{NAMESPACE}.{t}'")).collect();
        let reason = if namespace.is_empty() && types.contains(&name) {
            format!("type names must be namespace-qualified: '{NAMESPACE}.{name}'")
        } else {
            format!("'{name}' is not a type of this collection; isof accepts: {}", valid.join(", "))
        };
        Err(self.err(arg.pos, reason))
    }

    fn compare(&self, op: CmpOp, op_pos: usize, left: &Expr<'_>, right: &Expr<'_>) -> Result<Filter, Problem> {
        // `contains(…) eq true`: a condition compared with a boolean literal is that condition
        // (or its negation).
        if matches!(op, CmpOp::Eq | CmpOp::Ne) {
            let pair = match (&left.kind, &right.kind) {
                (_, ExprKind::Literal(Lit::Bool(b))) if is_condition(left) => Some((left, *b)),
                (ExprKind::Literal(Lit::Bool(b)), _) if is_condition(right) => Some((right, *b)),
                _ => None,
            };
            if let Some((cond, b)) = pair {
                let filter = self.condition(cond)?;
                return Ok(if (op == CmpOp::Eq) == b { filter } else { Filter::Not(Box::new(filter)) });
            }
        }
        let l = self.value(left)?;
        let r = self.value(right)?;
        let (left, right, ty) = self.unify(l, r)?;
        if let Some(Type::Enum(name)) = ty
            && !matches!(op, CmpOp::Eq | CmpOp::Ne)
        {
            return Err(self.err(op_pos, format!("{NAMESPACE}.{name} values can only be compared with eq, ne and in")));
        }
        Ok(Filter::Compare { op, left, right })
    }

    /// Makes two operands comparable, typing literals by what they meet. Returns the common
    /// type when there is one.
    fn unify(&self, l: Val, r: Val) -> Result<(Operand, Operand, Option<Type>), Problem> {
        match (l, r) {
            (Val::Typed { operand: a, ty: ta, desc: da, .. }, Val::Typed { operand: b, ty: tb, desc: db, pos: pb }) => {
                if ta == tb {
                    Ok((a, b, Some(ta)))
                } else {
                    Err(self.err(pb, format!("cannot compare {da} ({}) with {db} ({})", edm_type_name(ta), edm_type_name(tb))))
                }
            }
            (Val::Typed { operand, ty, desc, .. }, lit) => {
                let v = self.coerce(lit, ty, &desc)?;
                Ok((operand, Operand::Literal(v), Some(ty)))
            }
            (lit, Val::Typed { operand, ty, desc, .. }) => {
                let v = self.coerce(lit, ty, &desc)?;
                Ok((Operand::Literal(v), operand, Some(ty)))
            }
            (a, b) => {
                // Two literals: an enum literal types the other side; otherwise the kinds must
                // agree (integers and decimals mix; null goes with anything).
                if let (Val::Enum { ty, .. }, _) | (_, Val::Enum { ty, .. }) = (&a, &b) {
                    let desc = "an enum literal";
                    let ty = Type::Enum(ty);
                    return Ok((self.coerce(a, ty, desc)?.into(), self.coerce(b, ty, desc)?.into(), Some(ty)));
                }
                let (Val::Lit { lit: la, .. }, Val::Lit { lit: lb, pos: pb }) = (a, b) else {
                    return Err(Problem::invalid(None, "internal error: unexpected operand"));
                };
                let numeric = |l: &Lit| matches!(l, Lit::Int(_) | Lit::Float(_));
                let compatible = matches!(la, Lit::Null)
                    || matches!(lb, Lit::Null)
                    || (numeric(&la) && numeric(&lb))
                    || std::mem::discriminant(&la) == std::mem::discriminant(&lb);
                if !compatible {
                    return Err(self.err(pb, format!("cannot compare {} with {}", lit_desc(&la), lit_desc(&lb))));
                }
                let ty = lit_type(&la).or(lit_type(&lb));
                Ok((Operand::Literal(lit_value(la)), Operand::Literal(lit_value(lb)), ty))
            }
        }
    }

    /// Types a literal as `ty`, the type of what it is compared with (`desc`).
    fn coerce(&self, val: Val, ty: Type, desc: &str) -> Result<Value, Problem> {
        match val {
            Val::Typed { .. } => Err(Problem::invalid(None, "internal error: expected a literal")),
            Val::Enum { ty: lit_ty, member, pos } => match ty {
                Type::Enum(name) if name == lit_ty => Ok(Value::Enum(member)),
                _ => Err(self.err(pos, format!("cannot compare {desc} ({}) with a {NAMESPACE}.{lit_ty} literal", edm_type_name(ty)))),
            },
            Val::Lit { lit, pos } => match (lit, ty) {
                (Lit::Null, _) => Ok(Value::Null),
                (Lit::String(s), Type::String) => Ok(Value::String(s)),
                (Lit::String(s), Type::Enum(name)) => Ok(Value::Enum(self.enum_member(pos, name, &s)?)),
                (Lit::DateTime(us), Type::DateTimeOffset) => Ok(Value::DateTime(us)),
                (Lit::String(_), Type::DateTimeOffset) => Err(self.err(
                    pos,
                    format!("{desc} is Edm.DateTimeOffset: write the value unquoted, e.g. 2024-01-01T00:00:00Z, not as a string"),
                )),
                (Lit::Bool(b), Type::Boolean) => Ok(Value::Bool(b)),
                (Lit::Int(n), Type::Int64) => Ok(Value::Int(n)),
                (lit, ty) => Err(self.err(pos, format!("cannot compare {desc} ({}) with {}", edm_type_name(ty), lit_desc(&lit)))),
            },
        }
    }

    fn in_list(&self, operand: &Expr<'_>, list: &[Expr<'_>]) -> Result<Filter, Problem> {
        let subject = self.value(operand)?;
        let mut checked_operand = None;
        let mut values = Vec::with_capacity(list.len());
        for item in list {
            let lit = self.value(item)?;
            if matches!(lit, Val::Typed { .. }) {
                return Err(self.err(item.pos, "the items of an 'in' list must be literals"));
            }
            let (o, v, _) = self.unify(subject.clone(), lit)?;
            let Operand::Literal(v) = v else {
                return Err(self.err(item.pos, "the items of an 'in' list must be literals"));
            };
            values.push(v);
            checked_operand = Some(o);
        }
        let operand = checked_operand.ok_or_else(|| self.err(operand.pos, "the 'in' list is empty"))?;
        Ok(Filter::In { operand, list: values })
    }
}

impl From<Value> for Operand {
    fn from(v: Value) -> Self {
        Operand::Literal(v)
    }
}
