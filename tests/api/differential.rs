//! Differential test of the query pipeline (issue 3 §8): a random dataset, random `$filter` and
//! `$orderby` texts generated from the grammar, answered by the server (SQL) and by a reference
//! evaluator written here over the same parsed tree (`runhub_odata::parse_filter` /
//! `parse_orderby`) with OData 4.01 semantics, in Rust over the JSON rows. They must agree row for
//! row, order included, on every collection, also when walked page by page.

use std::cmp::Ordering;
use std::collections::HashMap;

use futures::future::join_all;
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use runhub_odata::ast::{CaseFn, CmpOp, Filter, Operand, OrderKey, StringFn, Type, Value as V};
use runhub_odata::schema::{QueryProperty, derives_from, entity_type, enum_type};
use runhub_odata::{EntitySet, parse_filter, parse_orderby};
use serde_json::{Value, json};

use crate::helpers::{NS, TestApp, micros};

// ---------------------------------------------------------------------------------------------
// The reference evaluator.

/// A row as the reference sees it: the entity JSON plus what the JSON does not carry.
#[derive(Debug, Clone)]
pub struct Row {
    pub json: Value,
    pub process_id: Option<String>,
    pub group_id: Option<String>,
}

impl Row {
    fn id(&self) -> &str {
        self.json["id"].as_str().unwrap()
    }
    fn kind(&self) -> &str {
        self.json["@odata.type"].as_str().unwrap().rsplit('.').next().unwrap()
    }
}

fn typed(json: &Value, ty: Type) -> V {
    if json.is_null() {
        return V::Null;
    }
    match ty {
        Type::String => V::String(json.as_str().unwrap().to_owned()),
        Type::DateTimeOffset => V::DateTime(micros(json)),
        Type::Boolean => V::Bool(json.as_bool().unwrap()),
        Type::Int64 => V::Int(json.as_i64().unwrap()),
        Type::Enum(name) => {
            let members = enum_type(name).unwrap_or_else(|| panic!("enum {name}")).members;
            V::Enum(Some(members.iter().position(|m| *m == json.as_str().unwrap()).unwrap() as i64))
        }
    }
}

/// The value of a property path on a row.
pub fn property(row: &Row, path: &str, ty: Type) -> V {
    if path == "process/id" {
        return row.process_id.clone().map_or(V::Null, V::String);
    }
    let mut v = &row.json;
    for seg in path.split('/') {
        v = &v[seg];
    }
    typed(v, ty)
}

fn operand(row: &Row, o: &Operand) -> V {
    match o {
        Operand::Property { path, ty } => property(row, path, *ty),
        Operand::Literal(v) => v.clone(),
        Operand::Case(f, inner) => match operand(row, inner) {
            V::String(s) => V::String(match f {
                CaseFn::ToLower => s.to_lowercase(),
                CaseFn::ToUpper => s.to_uppercase(),
            }),
            V::Null => V::Null,
            other => panic!("case function over {other:?}"),
        },
    }
}

/// Equality of two non-null values. `unknownFutureValue` equals nothing.
fn equal(a: &V, b: &V) -> bool {
    match (a, b) {
        (V::Enum(None), _) | (_, V::Enum(None)) => false,
        (V::Int(x), V::Float(y)) | (V::Float(y), V::Int(x)) => (*x as f64) == *y,
        _ => a == b,
    }
}

fn order(a: &V, b: &V) -> Ordering {
    match (a, b) {
        (V::String(x), V::String(y)) => x.cmp(y), // UTF-8 byte order = code point order
        (V::DateTime(x), V::DateTime(y)) | (V::Int(x), V::Int(y)) => x.cmp(y),
        (V::Enum(Some(x)), V::Enum(Some(y))) => x.cmp(y),
        (V::Bool(x), V::Bool(y)) => x.cmp(y),
        (V::Float(x), V::Float(y)) => x.partial_cmp(y).unwrap(),
        (V::Int(x), V::Float(y)) => (*x as f64).partial_cmp(y).unwrap(),
        (V::Float(x), V::Int(y)) => x.partial_cmp(&(*y as f64)).unwrap(),
        _ => panic!("cannot order {a:?} and {b:?}"),
    }
}

/// OData 4.01 §5.1.1: two-valued, `eq null` tests for null, `ne` with one null operand is true,
/// ordering comparisons with a null operand are false.
pub fn eval(row: &Row, f: &Filter) -> bool {
    match f {
        Filter::And(a, b) => eval(row, a) && eval(row, b),
        Filter::Or(a, b) => eval(row, a) || eval(row, b),
        Filter::Not(a) => !eval(row, a),
        Filter::Bool(o) => operand(row, o) == V::Bool(true),
        Filter::IsOf(name) => {
            let ty = entity_type(&format!("{NS}.{}", row.kind())).unwrap();
            derives_from(ty, &format!("{NS}.{name}"))
        }
        Filter::Compare { op, left, right } => {
            let (l, r) = (operand(row, left), operand(row, right));
            let eq = || match (&l, &r) {
                (V::Null, V::Null) => true,
                (V::Null, _) | (_, V::Null) => false,
                _ => equal(&l, &r),
            };
            match op {
                CmpOp::Eq => eq(),
                CmpOp::Ne => !eq(),
                _ if l == V::Null || r == V::Null => false,
                _ if matches!(l, V::Enum(None)) || matches!(r, V::Enum(None)) => false,
                CmpOp::Gt => order(&l, &r) == Ordering::Greater,
                CmpOp::Ge => order(&l, &r) != Ordering::Less,
                CmpOp::Lt => order(&l, &r) == Ordering::Less,
                CmpOp::Le => order(&l, &r) != Ordering::Greater,
            }
        }
        Filter::In { operand: o, list } => {
            let v = operand(row, o);
            if v == V::Null { list.contains(&V::Null) } else { list.iter().any(|item| *item != V::Null && equal(&v, item)) }
        }
        Filter::StringMatch { func, haystack, needle } => match (operand(row, haystack), operand(row, needle)) {
            (V::String(h), V::String(n)) => match func {
                StringFn::StartsWith => h.starts_with(&n),
                StringFn::EndsWith => h.ends_with(&n),
                StringFn::Contains => h.contains(&n),
            },
            _ => false,
        },
    }
}

/// `$orderby` keys then `id asc`; nulls sort lowest.
pub fn compare_rows(a: &Row, b: &Row, keys: &[OrderKey]) -> Ordering {
    for k in keys {
        let (x, y) = (property(a, k.path, k.ty), property(b, k.path, k.ty));
        let o = match (&x, &y) {
            (V::Null, V::Null) => Ordering::Equal,
            (V::Null, _) => Ordering::Less,
            (_, V::Null) => Ordering::Greater,
            _ => order(&x, &y),
        };
        let o = if k.descending { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.id().cmp(b.id())
}

pub fn reference(rows: &[Row], filter: Option<&Filter>, keys: &[OrderKey]) -> Vec<String> {
    let mut hits: Vec<&Row> = rows.iter().filter(|r| filter.is_none_or(|f| eval(r, f))).collect();
    hits.sort_by(|a, b| compare_rows(a, b, keys));
    hits.iter().map(|r| r.id().to_owned()).collect()
}

// ---------------------------------------------------------------------------------------------
// Text generation from the grammar.

/// Percent-encodes everything but the unreserved characters.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn civil(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's days → civil date.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A DateTimeOffset literal for `micros`, written in a random offset with a random fraction form.
pub fn datetime_literal(rng: &mut StdRng, micros: i64) -> String {
    let offset_min: i64 = *[0, 0, 60, -300, 330, 840, -720, 45].choose(rng).unwrap();
    let local = micros + offset_min * 60_000_000;
    let secs = local.div_euclid(1_000_000);
    let frac = local.rem_euclid(1_000_000);
    let (y, mo, d) = civil(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let mut s = format!("{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}", sod / 3600, sod % 3600 / 60, sod % 60);
    match rng.random_range(0..3) {
        0 if frac == 0 => {}
        1 => s.push_str(&format!(".{frac:06}{}", rng.random_range(0..10))), // 7 digits: the 7th is truncated
        _ => s.push_str(&format!(".{}", format!("{frac:06}").trim_end_matches('0')).trim_end_matches('.')),
    }
    if offset_min == 0 && rng.random_bool(0.5) {
        s.push('Z');
    } else {
        let sign = if offset_min < 0 { '-' } else { '+' };
        s.push_str(&format!("{sign}{:02}:{:02}", offset_min.abs() / 60, offset_min.abs() % 60));
    }
    s
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

pub struct Gen<'a> {
    pub rng: StdRng,
    pub set: EntitySet,
    pub rows: &'a [Row],
}

impl Gen<'_> {
    fn props(&self) -> Vec<QueryProperty> {
        self.set.properties().to_vec()
    }

    fn sample(&mut self, p: &QueryProperty) -> V {
        let row = self.rows.choose(&mut self.rng).unwrap();
        property(row, p.path, p.ty)
    }

    /// A literal of `p`'s type, usually one some row has.
    fn literal(&mut self, p: &QueryProperty) -> String {
        if self.rng.random_ratio(1, 10) {
            return "null".into();
        }
        let v = self.sample(p);
        match (p.ty, v) {
            (Type::String, V::String(s)) => quote(&s),
            (Type::String, _) => quote(["zzz", "Alpha", "", "İ", "a'b", "0"].choose(&mut self.rng).unwrap()),
            (Type::DateTimeOffset, v) => {
                let base = match v {
                    V::DateTime(t) => t,
                    _ => 1_700_000_000_000_000,
                };
                let delta = *[0, 0, 0, 1, -1, 3_600_000_000, -86_400_000_000].choose(&mut self.rng).unwrap();
                datetime_literal(&mut self.rng, base + delta)
            }
            (Type::Enum(name), _) => {
                let member = enum_type(name).unwrap().members.choose(&mut self.rng).unwrap();
                if self.rng.random_bool(0.5) { quote(member) } else { format!("{NS}.{name}{}", quote(member)) }
            }
            (Type::Boolean, _) => if self.rng.random_bool(0.5) { "true" } else { "false" }.into(),
            (Type::Int64, _) => self.rng.random_range(-3..100).to_string(),
        }
    }

    /// A substring of some row's value of `p` (for the string functions), or a random one.
    fn needle(&mut self, p: &QueryProperty, fold: Option<CaseFn>) -> String {
        let s = match self.sample(p) {
            V::String(s) => s,
            _ => ["a", "A", "ü", "", "ß", "x"].choose(&mut self.rng).unwrap().to_string(),
        };
        let chars: Vec<char> = s.chars().collect();
        let (i, j) = if chars.is_empty() {
            (0, 0)
        } else {
            let i = self.rng.random_range(0..chars.len());
            (i, self.rng.random_range(i..=chars.len()))
        };
        let mut n: String = chars[i..j].iter().collect();
        match fold {
            Some(CaseFn::ToLower) => n = n.to_lowercase(),
            Some(CaseFn::ToUpper) => n = n.to_uppercase(),
            None if self.rng.random_ratio(1, 5) => n = n.to_uppercase(),
            None => {}
        }
        quote(&n)
    }

    fn string_operand(&mut self, p: &QueryProperty) -> (String, Option<CaseFn>) {
        match self.rng.random_range(0..6) {
            0 => (format!("tolower({})", p.path), Some(CaseFn::ToLower)),
            1 => (format!("toupper({})", p.path), Some(CaseFn::ToUpper)),
            _ => (p.path.to_owned(), None),
        }
    }

    fn atom(&mut self) -> String {
        let props = self.props();
        let p = *props.choose(&mut self.rng).unwrap();
        match self.rng.random_range(0..10) {
            0..=4 => {
                let ops: &[&str] = if matches!(p.ty, Type::Enum(_)) { &["eq", "ne"] } else { &["eq", "ne", "gt", "ge", "lt", "le"] };
                let op = *ops.choose(&mut self.rng).unwrap();
                let (lhs, fold) = if p.ty == Type::String { self.string_operand(&p) } else { (p.path.to_owned(), None) };
                let mut rhs = self.literal(&p);
                if let Some(f) = fold {
                    rhs = match f {
                        CaseFn::ToLower => rhs.to_lowercase(),
                        CaseFn::ToUpper => rhs.to_uppercase(),
                    };
                    if rhs == "NULL" {
                        rhs = "null".into();
                    }
                }
                // Sometimes another property of the same type on the right.
                if self.rng.random_ratio(1, 8) {
                    if let Some(q) = props.iter().filter(|q| q.ty == p.ty && q.path != p.path).collect::<Vec<_>>().choose(&mut self.rng) {
                        rhs = q.path.to_owned();
                    }
                }
                if self.rng.random_ratio(1, 6) { format!("{rhs} {op} {lhs}") } else { format!("{lhs} {op} {rhs}") }
            }
            5 | 6 => {
                let (lhs, _) = if p.ty == Type::String { self.string_operand(&p) } else { (p.path.to_owned(), None) };
                let n = self.rng.random_range(1..5);
                let items: Vec<String> = (0..n).map(|_| self.literal(&p)).collect();
                let items: Vec<String> = if lhs.starts_with("to") {
                    items
                        .into_iter()
                        .map(|s| {
                            if s == "null" {
                                s
                            } else if lhs.starts_with("tolower") {
                                s.to_lowercase()
                            } else {
                                s.to_uppercase()
                            }
                        })
                        .collect()
                } else {
                    items
                };
                format!("{lhs} in ({})", items.join(", "))
            }
            7 | 8 => {
                let strings: Vec<QueryProperty> = props.iter().copied().filter(|q| q.ty == Type::String).collect();
                let p = *strings.choose(&mut self.rng).unwrap();
                let (hay, fold) = self.string_operand(&p);
                let needle = self.needle(&p, fold);
                let func = *["startswith", "endswith", "contains"].choose(&mut self.rng).unwrap();
                format!("{func}({hay}, {needle})")
            }
            _ => {
                let types = self.set.isof_types();
                let t = types.choose(&mut self.rng).unwrap();
                if self.rng.random_bool(0.7) { format!("isof('{NS}.{t}')") } else { format!("isof({NS}.{t})") }
            }
        }
    }

    /// Constant predicates: literal against literal, bare booleans.
    fn constant(&mut self) -> String {
        let pick = [
            "null eq null",
            "null ne null",
            "'a' eq 'a'",
            "'a' ne 'a'",
            "'b' lt 'a'",
            "'B' lt 'a'",
            "true",
            "false",
            "true eq false",
            "2025-01-01T00:00:00Z lt 2025-01-01T01:00:00+02:00",
            "'a' eq null",
            "null lt 'a'",
            "tolower('ÄB') eq 'äb'",
            "contains('abc', 'b')",
            "'x' in ('x', null)",
            "null in ('x', null)",
            "null in ('x')",
        ];
        pick.choose(&mut self.rng).unwrap().to_string()
    }

    pub fn filter(&mut self, depth: u32) -> String {
        if self.rng.random_ratio(1, 25) {
            return self.constant();
        }
        if depth == 0 || self.rng.random_ratio(2, 5) {
            let atom = self.atom();
            // `not` right before a function call or isof needs no parentheses.
            if (atom.ends_with(')') && !atom.contains(" in (")) && self.rng.random_ratio(1, 6) {
                return format!("not {atom}");
            }
            return atom;
        }
        match self.rng.random_range(0..5) {
            0 | 1 => format!("{} and {}", self.filter(depth - 1), self.filter(depth - 1)),
            2 => format!("{} or {}", self.filter(depth - 1), self.filter(depth - 1)),
            3 => format!("not ({})", self.filter(depth - 1)),
            _ => format!("({})", self.filter(depth - 1)),
        }
    }

    pub fn orderby(&mut self) -> Option<String> {
        if self.rng.random_ratio(1, 4) {
            return None;
        }
        let props = self.props();
        let n = self.rng.random_range(1..=3);
        let chosen: Vec<QueryProperty> = props.choose_multiple(&mut self.rng, n).copied().collect();
        let keys: Vec<String> = chosen
            .iter()
            .map(|p| match self.rng.random_range(0..3) {
                0 => format!("{} desc", p.path),
                1 => format!("{} asc", p.path),
                _ => p.path.to_owned(),
            })
            .collect();
        Some(keys.join(","))
    }
}

// ---------------------------------------------------------------------------------------------
// The dataset.

const NAMES: &[&str] = &[
    "alpha",
    "Alpha",
    "ALPHA",
    "beta",
    "Beta run",
    "über",
    "Über",
    "straße",
    "STRASSE",
    "İstanbul",
    "istanbul",
    "日本語",
    "emoji 🎉",
    "a'b",
    "x",
    "zeta",
    "ǅemal",
    "Ωmega",
    "ωmega",
    "naïve",
    "a",
    "b",
    "nul\u{0}byte",
    "tab\there",
];
const CODES: &[Option<&str>] = &[None, Some("E1"), Some("e1"), Some("TIMEOUT"), Some("Über"), Some("")];
const STATUSES: &[&str] = &["running", "failed", "completed", "completedWithErrors", "completedWithWarnings"];
/// A few start times, so that orderings have ties.
const T0: i64 = 1_735_689_600_000_000; // 2025-01-01T00:00:00Z

fn time(micros: i64) -> String {
    runhub_model::Timestamp::from_micros(micros).to_rfc3339()
}

pub struct Dataset {
    pub runs: Vec<Row>,
    pub incoming: Vec<Row>,
    pub outgoing: Vec<Row>,
    pub groups: Vec<String>,
}

pub async fn build_dataset(app: &TestApp, rng: &mut StdRng, flows: usize, runs: usize) -> Dataset {
    // PostgreSQL text cannot hold U+0000: its store refuses such names (a 400, README: Scaling out).
    let names: Vec<&str> = NAMES.iter().copied().filter(|n| app.postgres.is_none() || !n.contains('\u{0}')).collect();
    let mut flow_ids: Vec<(String, &str)> = Vec::new();
    for i in 0..flows {
        let outgoing = i % 3 == 2;
        let name = names.choose(rng).unwrap();
        let readiness = *["notReady", "ready", "failed", "disabled", "expired"].choose(rng).unwrap();
        let mut body = json!({"displayName": name, "readinessStatus": readiness});
        let set = if outgoing { "outgoingFlows" } else { "incomingFlows" };
        if !outgoing && rng.random_bool(0.6) {
            let start = T0 + rng.random_range(-5..5) * 86_400_000_000;
            body["recurrenceEffectiveDateTime"] = json!(time(start));
            if rng.random_bool(0.7) {
                body["recurrenceExpirationDateTime"] = json!(time(start + rng.random_range(1..30) * 86_400_000_000));
            }
        }
        let r = app.post(&format!("/beta/industryData/{set}"), body).await;
        r.assert_status(201);
        let id = r.json()["id"].as_str().unwrap().to_owned();
        // Vary the eTag.
        for _ in 0..rng.random_range(0..3) {
            app.patch(&format!("/beta/industryData/{set}/{id}"), json!({"displayName": names.choose(rng).unwrap()}))
                .await
                .assert_status(200);
        }
        flow_ids.push((id, set));
    }
    let mut bodies = Vec::new();
    for _ in 0..runs {
        let (flow, set) = flow_ids.choose(rng).unwrap().clone();
        let status = *STATUSES.choose(rng).unwrap();
        let start = T0 + rng.random_range(0..12) * 3_600_000_000 + if rng.random_ratio(1, 4) { rng.random_range(0..1_000_000) } else { 0 };
        let mut body = json!({"displayName": names.choose(rng).unwrap(), "status": status, "startDateTime": time(start)});
        if status != "running" {
            body["endDateTime"] = json!(time(start + rng.random_range(0..4) * 1_800_000_000));
        }
        if rng.random_ratio(1, 2) {
            let mut e = serde_json::Map::new();
            if let Some(code) = CODES.choose(rng).unwrap() {
                e.insert("code".into(), json!(code));
            }
            if rng.random_bool(0.5) {
                e.insert("message".into(), json!(names.choose(rng).unwrap()));
            }
            if rng.random_bool(0.3) {
                e.insert("target".into(), json!("t"));
            }
            body["blockingError"] = Value::Object(e);
        }
        bodies.push((format!("/beta/industryData/{set}/{flow}/runs"), body));
    }
    for chunk in bodies.chunks(16) {
        for r in join_all(chunk.iter().map(|(url, body)| app.post(url, body.clone()))).await {
            r.assert_status(201);
        }
    }
    // Groups: some with members (derived values), one without.
    let all = app.walk("/beta/industryData/runs?$top=999&$select=id").await;
    let mut groups = Vec::new();
    let mut member_of: HashMap<String, String> = HashMap::new();
    for g in 0..3 {
        let mut body = json!({"displayName": names.choose(rng).unwrap(), "startDateTime": time(T0 + g * 3_600_000_000)});
        if g == 2 {
            body["status"] = json!("failed");
            body["endDateTime"] = json!(time(T0 + 7_200_000_000));
        }
        let gid = app.group_with(body).await["id"].as_str().unwrap().to_owned();
        if g < 2 {
            for run in all.iter().skip(g as usize * 7).take(5 + g as usize) {
                let rid = run["id"].as_str().unwrap().to_owned();
                app.add_member(&gid, &rid).await;
                member_of.insert(rid, gid.clone());
            }
        }
        groups.push(gid);
    }
    let rows = |items: Vec<Value>| -> Vec<Row> {
        items
            .into_iter()
            .map(|mut j| {
                let process_id = j["process"]["id"].as_str().map(str::to_owned);
                if let Some(m) = j.as_object_mut() {
                    m.remove("process");
                }
                let group_id = member_of.get(j["id"].as_str().unwrap()).cloned();
                Row { json: j, process_id, group_id }
            })
            .collect()
    };
    Dataset {
        runs: rows(app.walk("/beta/industryData/runs?$top=999&$expand=process($select=id)").await),
        incoming: rows(app.walk("/beta/industryData/incomingFlows?$top=999").await),
        outgoing: rows(app.walk("/beta/industryData/outgoingFlows?$top=999").await),
        groups,
    }
}

/// Every collection that can be queried, with the set its options are checked against and the
/// reference rows it holds.
fn collections(data: &Dataset) -> Vec<(String, EntitySet, Vec<Row>)> {
    let runs = &data.runs;
    let of_kind = |k: &str| runs.iter().filter(|r| r.kind() == k).cloned().collect::<Vec<_>>();
    let mut out = vec![
        ("/beta/industryData/runs".to_owned(), EntitySet::Runs, runs.clone()),
        (format!("/beta/industryData/runs/{NS}.incomingFlowRun"), EntitySet::Runs, of_kind("incomingFlowRun")),
        (format!("/beta/industryData/runs/{NS}.outgoingFlowRun"), EntitySet::Runs, of_kind("outgoingFlowRun")),
        (format!("/beta/industryData/runs/{NS}.runGroup"), EntitySet::RunGroups, of_kind("runGroup")),
        ("/beta/industryData/runGroups".to_owned(), EntitySet::RunGroups, of_kind("runGroup")),
        ("/beta/industryData/incomingFlows".to_owned(), EntitySet::IncomingFlows, data.incoming.clone()),
        ("/beta/industryData/outgoingFlows".to_owned(), EntitySet::OutgoingFlows, data.outgoing.clone()),
    ];
    for (set, rows) in [("incomingFlows", &data.incoming), ("outgoingFlows", &data.outgoing)] {
        for flow in rows.iter().take(2) {
            let fid = flow.id().to_owned();
            let members: Vec<Row> = runs.iter().filter(|r| r.process_id.as_deref() == Some(&fid)).cloned().collect();
            out.push((format!("/beta/industryData/{set}/{fid}/runs"), EntitySet::Runs, members));
        }
    }
    for g in &data.groups {
        let members: Vec<Row> = runs.iter().filter(|r| r.group_id.as_deref() == Some(g)).cloned().collect();
        out.push((format!("/beta/industryData/runGroups/{g}/runs"), EntitySet::Runs, members));
    }
    out
}

fn describe(rows: &[Row], ids: &[String], keys: &[OrderKey]) -> String {
    ids.iter()
        .map(|id| {
            let r = rows.iter().find(|r| r.id() == id).unwrap();
            let vals: Vec<String> = keys.iter().map(|k| format!("{:?}", property(r, k.path, k.ty))).collect();
            format!("  {id} [{}]", vals.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_and_reference_agree_on_random_filters_and_orderings() {
    let started = std::time::Instant::now();
    let app = TestApp::spawn().await;
    let seed: u64 = std::env::var("RUNHUB_DIFF_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_0003);
    let cases: usize = std::env::var("RUNHUB_DIFF_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(500);
    let mut rng = StdRng::seed_from_u64(seed);
    let data = build_dataset(&app, &mut rng, 12, 160).await;
    assert!(data.runs.len() >= 160);
    let colls = collections(&data);

    let (mut valid, mut nonempty, mut paged, mut expanded) = (0, 0, 0, 0);
    for case in 0..cases {
        let (url, set, rows) = if rng.random_ratio(1, 2) { &colls[0] } else { colls.choose(&mut rng).unwrap() };
        let mut g = Gen { rng: StdRng::seed_from_u64(rng.random()), set: *set, rows: if rows.is_empty() { &data.runs } else { rows } };
        if matches!(set, EntitySet::IncomingFlows | EntitySet::OutgoingFlows) {
            g.rows = rows;
        }
        let filter_text = (!rng.random_ratio(1, 10)).then(|| g.filter(rng.random_range(0..4)));
        let orderby_text = g.orderby();
        let filter = filter_text.as_deref().map(|t| parse_filter(*set, t));
        let keys = orderby_text.as_deref().map(|t| parse_orderby(*set, t));

        let mut query = Vec::new();
        if let Some(f) = &filter_text {
            query.push(format!("$filter={}", enc(f)));
        }
        if let Some(o) = &orderby_text {
            query.push(format!("$orderby={}", enc(o)));
        }
        let ctx = format!("case {case} seed {seed}: {url}\n  $filter={filter_text:?}\n  $orderby={orderby_text:?}");

        if let Some(Err(e)) = &filter {
            let r = app.get(&format!("{url}?{}", query.join("&"))).await;
            r.assert_target(400, e.code, "$filter");
            continue;
        }
        if let Some(Err(e)) = &keys {
            panic!("{ctx}\n  generated orderby does not parse: {e}");
        }
        valid += 1;
        let filter = filter.map(Result::unwrap);
        let keys = match keys {
            Some(Ok(k)) if !k.is_empty() => k,
            _ => runhub_store::default_order(if matches!(set, EntitySet::IncomingFlows | EntitySet::OutgoingFlows) {
                runhub_store::Table::Processes
            } else {
                runhub_store::Table::Runs
            }),
        };
        let expected = reference(rows, filter.as_ref(), &keys);
        if !expected.is_empty() {
            nonempty += 1;
        }

        // One page, with the count.
        let skip = if rng.random_ratio(1, 8) { rng.random_range(0..5) } else { 0 };
        let mut q = query.clone();
        q.push("$top=999&$count=true".into());
        if skip > 0 {
            q.push(format!("$skip={skip}"));
        }
        let r = app.get(&format!("{url}?{}", q.join("&"))).await;
        assert_eq!(r.status.as_u16(), 200, "{ctx}\n{}", r.text);
        let body = r.json();
        let got: Vec<String> = body["value"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap().to_owned()).collect();
        let want: Vec<String> = expected.iter().skip(skip).cloned().collect();
        assert_eq!(
            got,
            want,
            "{ctx}\n  $skip={skip}\n  server:\n{}\n  reference:\n{}",
            describe(rows, &got, &keys),
            describe(rows, &want, &keys)
        );
        assert_eq!(body["@odata.count"], json!(expected.len()), "{ctx}");

        // Page by page through the nextLinks, sometimes.
        if case % 4 == 0 && expected.len() > 1 {
            paged += 1;
            let top = rng.random_range(1..=expected.len().min(7));
            let mut q = query.clone();
            q.push(format!("$top={top}"));
            let walked: Vec<String> =
                app.walk(&format!("{url}?{}", q.join("&"))).await.iter().map(|v| v["id"].as_str().unwrap().to_owned()).collect();
            assert_eq!(walked, expected, "{ctx}\n  walked with $top={top}");
        }
        // The same options nested in `$expand=runs(…)` on flows and runGroups (one windowed query
        // for every parent), sometimes.
        if *set == EntitySet::Runs && case % 5 == 1 {
            expanded += 1;
            let parent = *["incomingFlows", "outgoingFlows", "runGroups"].choose(&mut rng).unwrap();
            let top = rng.random_range(1..=6usize);
            let mut nested = vec![format!("$top={top}")];
            if let Some(f) = &filter_text {
                nested.push(format!("$filter={f}"));
            }
            if let Some(o) = &orderby_text {
                nested.push(format!("$orderby={o}"));
            }
            nested.shuffle(&mut rng);
            let url = format!("/beta/industryData/{parent}?$top=999&$select=id&$expand={}", enc(&format!("runs({})", nested.join(";"))));
            let r = app.get(&url).await;
            assert_eq!(r.status.as_u16(), 200, "{ctx}\n{url}\n{}", r.text);
            let body = r.json();
            for p in body["value"].as_array().unwrap() {
                let pid = p["id"].as_str().unwrap();
                let members: Vec<Row> = data
                    .runs
                    .iter()
                    .filter(
                        |r| if parent == "runGroups" { r.group_id.as_deref() == Some(pid) } else { r.process_id.as_deref() == Some(pid) },
                    )
                    .cloned()
                    .collect();
                let want: Vec<String> = reference(&members, filter.as_ref(), &keys).into_iter().take(top).collect();
                let got: Vec<String> = p["runs"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap().to_owned()).collect();
                assert_eq!(got, want, "{ctx}\n  expanded under {parent} {pid}: {url}");
            }
        }
        // `/$count` honours the filter.
        if case % 9 == 0 {
            let q = query.iter().filter(|p| p.starts_with("$filter")).cloned().collect::<Vec<_>>().join("&");
            let r = app.get(&format!("{url}/$count?{q}")).await;
            assert_eq!(r.status.as_u16(), 200, "{ctx}\n{}", r.text);
            assert_eq!(r.text, expected.len().to_string(), "{ctx}");
        }
    }
    eprintln!(
        "differential: {valid} valid cases of {cases} ({nonempty} with rows, {paged} walked, {expanded} expanded) in {:?}",
        started.elapsed()
    );
    assert!(valid * 10 >= cases * 7, "too few valid cases: {valid}/{cases}");
    assert!(nonempty * 10 >= valid * 3, "too few cases match anything: {nonempty}/{valid}");
}
