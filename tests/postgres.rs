//! PostgreSQL-specific checks of the store's SQL (the behaviour shared with SQLite is covered by
//! the API suite, which `.ci/run` runs on both stores).

#[path = "common/pg.rs"]
#[allow(dead_code)]
mod pg;

use tokio_postgres::NoTls;

/// OData's tolower/toupper must agree between the stores: the SQLite store folds with Rust's
/// `str::to_lowercase`/`to_uppercase`; the PostgreSQL store with `lower`/`upper` under the ICU root
/// collation `runhub_fold` (migration 1). Compared here over every Unicode scalar value, alone
/// and as the last letter of a word (where Greek final sigma applies). Measured on Debian 12
/// (PostgreSQL 15, ICU 72): all agree but 110 characters whose case pairs are new in Unicode 16,
/// which PostgreSQL leaves unchanged (README: Scaling out).
#[tokio::test]
async fn case_functions_fold_every_character_like_rust() {
    let db = pg::TestDb::create().await;
    // Applies the migrations, which create the collation.
    let store = runhub_store::open_postgres(&db.url, Default::default()).await.unwrap();
    let (client, connection) = tokio_postgres::connect(&db.url, NoTls).await.unwrap();
    tokio::spawn(connection);

    let texts: Vec<String> = (0..=0x10FFFFu32)
        .filter_map(char::from_u32)
        .filter(|c| *c != '\0') // PostgreSQL text cannot hold NUL
        .flat_map(|c| [c.to_string(), format!("a{c}")])
        .collect();
    let rows = client
        .query(
            "SELECT (lower(t COLLATE runhub_fold) COLLATE \"C\"), (upper(t COLLATE runhub_fold) COLLATE \"C\") \
             FROM unnest($1::text[]) WITH ORDINALITY AS x(t, n) ORDER BY n",
            &[&texts],
        )
        .await
        .unwrap();
    // The one accepted difference: a character whose case mapping is newer than the Unicode
    // version of the server's ICU (Debian 12: ICU 72 = Unicode 15; Rust's tables are newer) is
    // left as it is by PostgreSQL. Anything folded *differently* fails.
    let mut unknown_to_icu = std::collections::BTreeSet::new();
    let mut wrong = Vec::new();
    for (text, row) in texts.iter().zip(&rows) {
        let (lower, upper): (String, String) = (row.get(0), row.get(1));
        if lower == text.to_lowercase() && upper == text.to_uppercase() {
            continue;
        }
        let Some(last) = text.chars().last() else { continue };
        let prefix: String = text.chars().take(text.chars().count() - 1).collect();
        let unmapped = lower == format!("{}{last}", prefix.to_lowercase()) || lower == text.to_lowercase();
        let unmapped = unmapped && (upper == format!("{}{last}", prefix.to_uppercase()) || upper == text.to_uppercase());
        if unmapped {
            unknown_to_icu.insert(last);
        } else {
            wrong.push(format!("{text:?}: PostgreSQL {lower:?}/{upper:?}, Rust {:?}/{:?}", text.to_lowercase(), text.to_uppercase()));
        }
    }
    let listed: String = unknown_to_icu.iter().map(|c| format!("U+{:04X} ", *c as u32)).collect();
    println!("{} of {} characters have a case mapping the server's ICU lacks: {listed}", unknown_to_icu.len(), texts.len() / 2);
    assert!(wrong.is_empty(), "{} strings fold differently, e.g. {:?}", wrong.len(), &wrong[..wrong.len().min(10)]);
    // Rust 1.95 knows Unicode 16's case pairs, ICU 72 does not: about a hundred characters, all new.
    assert!(unknown_to_icu.len() < 200, "{listed}");
    drop(store);
}

/// Migrations are versioned and applied once: replicas starting together on an empty database
/// (each racing through the advisory lock) leave one row per version, and agree on one `$skiptoken`
/// secret; opening again applies nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_and_replicas_share_one_secret() {
    let db = pg::TestDb::create().await;
    let opens = (0..4).map(|_| runhub_store::postgres::PgStore::open(&db.url, Default::default()));
    let stores: Vec<_> = futures::future::join_all(opens).await.into_iter().map(Result::unwrap).collect();
    use runhub_store::Store;
    assert!(stores.windows(2).all(|w| w[0].token_secret() == w[1].token_secret()));
    assert_eq!(stores[0].token_secret().len(), 32);
    let again = runhub_store::postgres::PgStore::open(&db.url, Default::default()).await.unwrap();
    assert_eq!(again.token_secret(), stores[0].token_secret());

    let (client, connection) = tokio_postgres::connect(&db.url, NoTls).await.unwrap();
    tokio::spawn(connection);
    let versions: Vec<i32> =
        client.query("SELECT version FROM runhub_migrations ORDER BY version", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    let expected: Vec<i32> = (1..=runhub_store::postgres::SCHEMA_VERSION as i32).collect();
    assert_eq!(versions, expected, "one row per migration, each applied once");
    // Every text column compares by code point.
    let collations: Vec<String> = client
        .query(
            "SELECT DISTINCT COALESCE(collation_name, '') FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name IN ('runs', 'processes', 'meta', 'changes') AND data_type = 'text'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(collations, ["C"]);
}

/// Every key's run count as the rows say it, and as the stored counts' delta rows sum it.
async fn run_counts(
    client: &tokio_postgres::Client,
) -> (Vec<(String, i64, i64, Option<String>, i64)>, Vec<(String, i64, i64, Option<String>, i64)>) {
    let read = |sql: &'static str| async move {
        client.query(sql, &[]).await.unwrap().iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4))).collect::<Vec<_>>()
    };
    let rows = read("SELECT tenant, kind, status, process_id, COUNT(*) FROM runs GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4").await;
    let sums = read(
        "SELECT tenant, kind, status, process_id, SUM(n)::bigint FROM run_counts GROUP BY 1, 2, 3, 4 HAVING SUM(n) <> 0 ORDER BY 1, 2, 3, 4",
    )
    .await;
    (rows, sums)
}

/// The counts kept by the writes equal the rows, and what the migration backfills from them.
#[tokio::test]
async fn stored_counts_equal_the_backfill() {
    use runhub_model::{DisplayName, NewProcess, NewRun, ProcessKind, ReadinessStatus, RunKind, RunPatch, RunStatus, TenantId, Timestamp};
    use runhub_store::{RunParent, RunScope, Store};

    let db = pg::TestDb::create().await;
    let store = runhub_store::postgres::PgStore::open(&db.url, Default::default()).await.unwrap();
    let tenant = TenantId::default_tenant();
    let new_flow = NewProcess {
        kind: ProcessKind::IncomingFlow,
        display_name: DisplayName::from_stored("flow".into()),
        readiness_status: ReadinessStatus::Ready,
        data_domain: None,
        recurrence_start: None,
        recurrence_end: None,
    };
    let flow = store.create_process(&tenant, new_flow).await.unwrap();
    let under = RunScope { parent: RunParent::Process(flow.kind, flow.id), kind: None };
    let new_run = |kind| NewRun {
        kind,
        display_name: DisplayName::from_stored("run".into()),
        start: Some(Timestamp::now()),
        end: None,
        status: Some(RunStatus::Running),
        blocking_error: None,
        statistics: None,
    };
    let mut runs = Vec::new();
    for _ in 0..5 {
        runs.push(store.create_run(&tenant, &under, new_run(RunKind::IncomingFlowRun), None).await.unwrap());
    }
    let group = store.create_run(&tenant, &RunScope::all(), new_run(RunKind::RunGroup), None).await.unwrap();
    store.add_group_member(&tenant, group.id, runs[0].id).await.unwrap();
    let failed = RunPatch { status: Some(RunStatus::Failed), ..RunPatch::default() };
    store.update_run(&tenant, &RunScope::all(), runs[0].id, failed.clone(), None).await.unwrap();
    store.update_run(&tenant, &RunScope::all(), runs[1].id, failed, None).await.unwrap();
    store.delete_run(&tenant, &RunScope::all(), runs[2].id, None).await.unwrap();
    store.run_now(&tenant, flow.id).await.unwrap();

    let (client, connection) = tokio_postgres::connect(&db.url, NoTls).await.unwrap();
    tokio::spawn(connection);
    let (rows, incremental) = run_counts(&client).await;
    assert_eq!(incremental, rows, "the deltas sum to what the rows say");
    assert!(rows.len() >= 3, "{rows:?}");
    store.compact_counts(100).await.unwrap();
    assert_eq!(run_counts(&client).await.1, rows, "compaction keeps every count");
    store.close().await;

    // Undo the migration (the last one) and open again: it runs once more and backfills from the rows.
    client.batch_execute("DROP TABLE run_counts, process_counts; DELETE FROM runhub_migrations WHERE version = (SELECT MAX(version) FROM runhub_migrations)").await.unwrap();
    let store = runhub_store::postgres::PgStore::open(&db.url, Default::default()).await.unwrap();
    assert_eq!(run_counts(&client).await.1, rows);
    store.close().await;
}
