//! What the PostgreSQL store sends, observed where it matters: the statements a connection keeps
//! prepared (in its cache and on the server), and the round trips of a read and of a write, counted
//! on the wire by a proxy between the store and the server. These need a PostgreSQL server, as the
//! black-box suite on PostgreSQL does (`tests/common/pg.rs`: `RUNHUB_TEST_DATABASE_URL`).

#[path = "../../../../tests/common/pg.rs"]
#[allow(dead_code)]
mod pg;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use runhub_model::{
    DisplayName, NewProcess, NewRun, ProcessKind, ReadinessStatus, RunKind, RunPatch, RunStatus, Statistics, TenantId, Timestamp,
};

use super::*;
use crate::{RunParent, RunScope, Store};

fn one_connection() -> Options {
    Options { pool_size: 1, ..Options::default() }
}

/// A statement whose text is new for every `n` (as inlined literals and `IN` lists make them),
/// with `values` bound values.
fn distinct(n: usize, values: usize) -> Sql {
    let list: Vec<String> = (1..=values).map(|i| format!("${i}")).collect();
    let bound = sea_query::Values((0..values).map(|i| sea_query::Value::BigInt(Some(i as i64))).collect());
    Sql { text: format!("SELECT {n} WHERE 0 IN ({})", list.join(", ")).into(), values: bound }
}

#[tokio::test]
async fn a_connection_prepares_each_statement_once_and_keeps_a_bounded_number() {
    let db = pg::TestDb::create().await;
    let store = PgStore::open(&db.url, one_connection()).await.unwrap();
    let mut tx = store.connection().await.unwrap();
    let cached = |tx: &PgTx| tx.client().unwrap().statement_cache.size();

    for _ in 0..3 {
        tx.query(&distinct(0, 1)).await.unwrap();
    }
    assert_eq!(cached(&tx), 1, "one statement, run three times, is prepared once");

    for n in 1..=2 * MAX_CACHED_STATEMENTS + 10 {
        let rows = tx.query(&distinct(n, 1 + n % 8)).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert!(cached(&tx) <= MAX_CACHED_STATEMENTS, "{} statements cached after {n} distinct texts", cached(&tx));
    }
    // A long IN list is sent unprepared.
    let before = cached(&tx);
    let rows = tx.query(&distinct(0, MAX_CACHED_VALUES + 1)).await.unwrap();
    assert_eq!((rows.len(), cached(&tx)), (1, before), "a statement with {} values is not kept", MAX_CACHED_VALUES + 1);
    // The server holds no more than the cache: a statement dropped from it is closed there.
    let rows = tx.query(&Sql::text("SELECT COUNT(*) FROM pg_prepared_statements")).await.unwrap();
    let on_server: i64 = rows[0].get(0);
    assert!(on_server as usize <= MAX_CACHED_STATEMENTS + 1, "{on_server} statements prepared on the server");
    drop(tx);
    Backend::close(&store).await;
}

/// Prepared statements are dropped and prepared again once they are older than the plan age, so
/// that a generic plan made while a table was small does not outlive that for good.
#[tokio::test]
async fn prepared_statements_are_prepared_again_after_a_while() {
    let db = pg::TestDb::create().await;
    let mut store = PgStore::open(&db.url, one_connection()).await.unwrap();
    let cached = |tx: &PgTx| tx.client().unwrap().statement_cache.size();
    let mut tx = store.connection().await.unwrap();
    tx.query(&distinct(0, 1)).await.unwrap();
    drop(tx);
    let tx = store.connection().await.unwrap();
    assert_eq!(cached(&tx), 1, "kept while young");
    drop(tx);
    store.plan_max_age = Duration::ZERO;
    let tx = store.connection().await.unwrap();
    assert_eq!(cached(&tx), 0, "dropped once old");
    drop(tx);
    Backend::close(&store).await;
}

/// A column a prepared statement returns changes type under it (as a migration may do while a
/// replica runs): reads outside a transaction prepare it again, and a write starts over.
#[tokio::test]
async fn a_statement_prepared_before_a_column_changed_is_prepared_again() {
    let db = pg::TestDb::create().await;
    let store = PgStore::open(&db.url, one_connection()).await.unwrap();
    let read = || Sql::text("SELECT value FROM meta WHERE key = 'token_secret'");
    let mut tx = store.connection().await.unwrap();
    tx.query(&read()).await.unwrap();
    let (client, connection) = tokio_postgres::connect(&db.url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client.batch_execute("ALTER TABLE meta ALTER COLUMN value TYPE TEXT USING encode(value, 'hex')").await.unwrap();
    let rows = tx.query(&read()).await.unwrap();
    assert_eq!(*rows[0].columns()[0].type_(), Type::TEXT);
    drop(tx);

    client.batch_execute("ALTER TABLE meta ALTER COLUMN value TYPE BYTEA USING decode(value, 'hex')").await.unwrap();
    let rows = store
        .write((), |tx, _| {
            Box::pin(async move {
                let rows = tx.query(&Sql::text("SELECT value FROM meta WHERE key = 'token_secret'")).await?;
                Ok(rows.len())
            })
        })
        .await
        .unwrap();
    assert_eq!(rows, 1);
    Backend::close(&store).await;
}

/// What the proxy saw, from the client's side: each message it sent (its type byte) and the round
/// trip it went out in. A round trip ends when the server answers anything.
#[derive(Default)]
struct Seen {
    messages: Vec<(usize, u8)>,
    round: usize,
    answered: bool,
}

/// A proxy in front of the test server, for the one connection of a one-connection store.
struct Wire {
    url: String,
    seen: Arc<Mutex<Seen>>,
}

/// Round trips, requests (a simple query, or an extended-protocol exchange ended by Sync) and
/// statements parsed, of what the client sent since the last [`Wire::take`].
#[derive(Debug, PartialEq)]
struct Trips {
    round_trips: usize,
    requests: usize,
    parses: usize,
}

impl Wire {
    fn start(url: &str) -> Self {
        let config: tokio_postgres::Config = url.parse().unwrap();
        let tokio_postgres::config::Host::Tcp(host) = &config.get_hosts()[0] else { panic!("the test server must be reached over TCP") };
        let upstream = format!("{host}:{}", config.get_ports().first().copied().unwrap_or(5432));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = seen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let (client, server) = (client.unwrap(), TcpStream::connect(&upstream).unwrap());
                client.set_nodelay(true).unwrap();
                server.set_nodelay(true).unwrap();
                let (to_client, to_server) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (up, down) = (shared.clone(), shared.clone());
                std::thread::spawn(move || forward_requests(client, to_server, up));
                std::thread::spawn(move || forward_answers(server, to_client, down));
            }
        });
        // The same URL, through the proxy.
        let (scheme, rest) = url.split_once("://").unwrap();
        let at = rest.find('/').unwrap_or(rest.len());
        let authority = &rest[..at];
        let user = authority.rsplit_once('@').map_or(String::new(), |(user, _)| format!("{user}@"));
        let sep = if rest.contains('?') { '&' } else { '?' };
        Self { url: format!("{scheme}://{user}127.0.0.1:{port}{}{sep}sslmode=disable", &rest[at..]), seen }
    }

    fn take(&self) -> Trips {
        let mut seen = self.seen.lock().unwrap();
        let messages = std::mem::take(&mut seen.messages);
        let mut rounds: Vec<usize> = messages.iter().map(|(round, _)| *round).collect();
        rounds.dedup();
        let count = |types: &[u8]| messages.iter().filter(|(_, t)| types.contains(t)).count();
        Trips { round_trips: rounds.len(), requests: count(b"QS"), parses: count(b"P") }
    }
}

fn forward_requests(mut from: TcpStream, mut to: TcpStream, seen: Arc<Mutex<Seen>>) {
    let mut pending = Vec::new();
    let mut started = false;
    let mut buf = [0u8; 65536];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Noted before it is passed on, so that no answer to it can be seen first.
        pending.extend_from_slice(&buf[..n]);
        {
            let mut seen = seen.lock().unwrap();
            if std::mem::take(&mut seen.answered) {
                seen.round += 1;
            }
            loop {
                // The startup message has no type byte; every later one has.
                let head = usize::from(started);
                if pending.len() < head + 4 {
                    break;
                }
                let len = u32::from_be_bytes(pending[head..head + 4].try_into().unwrap()) as usize;
                if pending.len() < head + len {
                    break;
                }
                if started {
                    let round = seen.round;
                    seen.messages.push((round, pending[0]));
                }
                started = true;
                pending.drain(..head + len);
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

fn forward_answers(mut from: TcpStream, mut to: TcpStream, seen: Arc<Mutex<Seen>>) {
    let mut buf = [0u8; 65536];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Noted before the client can see it, so that what it sends in reply is a new round trip.
        seen.lock().unwrap().answered = true;
        if to.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

fn statistics(n: u64) -> Statistics {
    Statistics::parse("statistics", &serde_json::json!({ "people": n })).unwrap()
}

/// A read is one round trip per statement; a write's BEGIN travels with its first statement (a
/// SELECT … FOR UPDATE here), and COMMIT is the one more. Once a connection has run an operation,
/// running it again parses nothing.
#[tokio::test]
async fn reads_and_writes_take_the_fewest_round_trips() {
    let db = pg::TestDb::create().await;
    let wire = Wire::start(&db.url);
    let store = PgStore::open(&wire.url, one_connection()).await.unwrap();
    let tenant = TenantId::default_tenant();
    let flow = store.create_process(&tenant, new_flow("flow")).await.unwrap();
    let new_run = NewRun {
        kind: RunKind::IncomingFlowRun,
        display_name: DisplayName::from_stored("run".into()),
        start: Some(Timestamp::now()),
        end: None,
        status: Some(RunStatus::Running),
        blocking_error: None,
        statistics: None,
    };
    let under_flow = RunScope { parent: RunParent::Process(flow.kind, flow.id), kind: None };
    let run = store.create_run(&tenant, &under_flow, new_run, None).await.unwrap();
    let all = RunScope::all();
    let patch = |n| RunPatch { statistics: Some(statistics(n)), ..RunPatch::default() };
    // Every statement of the operations below prepared once.
    store.get_run(&tenant, &all, run.id).await.unwrap();
    store.update_run(&tenant, &all, run.id, patch(1), None).await.unwrap();
    store.update_run(&tenant, &all, run.id, patch(2), None).await.unwrap();

    wire.take();
    store.get_run(&tenant, &all, run.id).await.unwrap();
    assert_eq!(wire.take(), Trips { round_trips: 1, requests: 1, parses: 0 }, "a read by id");

    store.update_run(&tenant, &all, run.id, patch(3), None).await.unwrap();
    let write = wire.take();
    assert_eq!(write.parses, 0, "{write:?}");
    assert!(write.requests >= 3, "BEGIN, at least one statement, COMMIT: {write:?}");
    assert_eq!(write.round_trips, write.requests - 1, "BEGIN goes out with the first statement: {write:?}");

    // A write whose first statement is not a SELECT waits for BEGIN's answer first.
    store.create_process(&tenant, new_flow("b")).await.unwrap();
    wire.take();
    store.create_process(&tenant, new_flow("c")).await.unwrap();
    let insert = wire.take();
    assert_eq!((insert.parses, insert.round_trips), (0, insert.requests), "{insert:?}");
    Backend::close(&store).await;
}

fn new_flow(name: &str) -> NewProcess {
    NewProcess {
        kind: ProcessKind::IncomingFlow,
        display_name: DisplayName::from_stored(name.into()),
        readiness_status: ReadinessStatus::Ready,
        data_domain: None,
        recurrence_start: None,
        recurrence_end: None,
    }
}
