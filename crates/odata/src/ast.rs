//! The typed query tree. Produced by the parsers in this crate after validation against an
//! [`EntitySet`](crate::schema::EntitySet); consumed by the store (compiled to SQL) and by the
//! test suite's reference evaluator. Every property here has been resolved and type-checked.

/// A value: a literal in `$filter`, or one order-key value inside a `$skiptoken` cursor.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    String(String),
    Int(i64),
    /// Decimal and double literals.
    Float(f64),
    Bool(bool),
    /// DateTimeOffset as microseconds since the Unix epoch, UTC (microsecond precision).
    DateTime(i64),
    /// An enum member by its ordinal (member order = sort order). `None` for
    /// `unknownFutureValue`, which is a valid literal that matches nothing.
    Enum(Option<i64>),
}

/// The type of a property or expression, after resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
    DateTimeOffset,
    Boolean,
    Int64,
    /// An enum, named by its OData type name (`runStatus`, `readinessStatus`, `incomingDomain`).
    Enum(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringFn {
    StartsWith,
    EndsWith,
    Contains,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseFn {
    ToLower,
    ToUpper,
}

/// A value-producing operand: a property path, possibly wrapped in `tolower`/`toupper`, or a
/// literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A property path of the entity set, e.g. `status`, `blockingError/code`, `process/id`.
    Property {
        path: &'static str,
        ty: Type,
    },
    /// `tolower(x)` / `toupper(x)` over a string operand.
    Case(CaseFn, Box<Operand>),
    Literal(Value),
}

/// A boolean expression: the `$filter` tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        op: CmpOp,
        left: Operand,
        right: Operand,
    },
    /// `x in (a, b, …)`; the list is never empty.
    In {
        operand: Operand,
        list: Vec<Value>,
    },
    /// `startswith(x, y)`, `endswith`, `contains`.
    StringMatch {
        func: StringFn,
        haystack: Operand,
        needle: Operand,
    },
    /// `isof('microsoft.graph.industryData.runGroup')`: the entity's concrete kind is this type
    /// or derives from it. Holds the unqualified type name (`runGroup`, `incomingFlowRun`, `run`…).
    IsOf(&'static str),
    /// A boolean property or literal used as a predicate (`true`, `x eq true` is a Compare).
    Bool(Operand),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

/// One `$orderby` key. The store always appends `id asc` as the final tie-breaker.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderKey {
    pub path: &'static str,
    pub ty: Type,
    pub descending: bool,
}
