//! A throw-away PostgreSQL schema per test, for the black-box suite run against the PostgreSQL
//! store (`RUNHUB_TEST_STORE=postgres`) and for the replica tests.
//!
//! Every test works in a schema of its own (`t_<pid>_<random>`) of one shared database,
//! `runhub_test`, reached through a URL whose `search_path` names it: all of runhub's SQL uses
//! unqualified names, so the schema is a complete, private runhub database — and creating one takes
//! milliseconds where `CREATE DATABASE` takes most of a second. The schema is dropped when the test
//! ends; schemas left behind by test processes that died are dropped by the next run. PostgreSQL
//! being unreachable is a test failure that says how to provide one — never a skip.

use tokio_postgres::NoTls;

/// `postgres` runs the suite on PostgreSQL; anything else (or unset) on SQLite.
pub const STORE_ENV: &str = "RUNHUB_TEST_STORE";
/// The server to make the test database on (any database of it; the user must be allowed to
/// create databases, or `runhub_test` must exist and be theirs).
pub const URL_ENV: &str = "RUNHUB_TEST_DATABASE_URL";
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The database every test's schema lives in.
pub const DATABASE: &str = "runhub_test";

pub fn wanted() -> bool {
    std::env::var(STORE_ENV).is_ok_and(|v| v.eq_ignore_ascii_case("postgres"))
}

pub fn admin_url() -> String {
    std::env::var(URL_ENV).unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// `url` with its database name replaced, and `extra` added to its parameters.
pub fn with_database(url: &str, name: &str, extra: Option<&str>) -> String {
    let (base, params) = match url.split_once('?') {
        Some((b, p)) => (b, Some(p)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    let params: Vec<&str> = params.into_iter().chain(extra).collect();
    if params.is_empty() { format!("{root}/{name}") } else { format!("{root}/{name}?{}", params.join("&")) }
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

fn unreachable(url: &str, e: impl std::fmt::Display) -> ! {
    panic!(
        "PostgreSQL is not reachable at {url} ({e}). These tests need a PostgreSQL server (15 or newer, \
         built with ICU) where the user may create a database: start one (e.g. \
         `pg_ctlcluster --skip-systemctl-redirect 15 main start`) or point {URL_ENV} at one, \
         e.g. {URL_ENV}=postgres://user:password@host:5432/postgres"
    )
}

/// Makes sure `runhub_test` exists (once per process) and drops the schemas of test processes
/// that are no longer running.
async fn prepare() {
    static READY: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    READY
        .get_or_init(|| async {
            let url = admin_url();
            let admin = connect(&url).await.unwrap_or_else(|e| unreachable(&url, e));
            if let Err(e) = admin.batch_execute(&format!("CREATE DATABASE {DATABASE}")).await {
                // Made already (42P04), or by a concurrent test process at this very moment (23505).
                let code = e.code().map(|c| c.code().to_owned()).unwrap_or_default();
                assert!(code == "42P04" || code == "23505", "cannot create the test database {DATABASE}: {e}");
            }
            let db = with_database(&url, DATABASE, None);
            let client = connect(&db).await.unwrap_or_else(|e| unreachable(&db, e));
            let Ok(rows) = client.query("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 't\\_%'", &[]).await else { return };
            for row in rows {
                let name: String = row.get(0);
                let pid = name.split('_').nth(1).and_then(|p| p.parse::<u32>().ok());
                if pid.is_some_and(|p| !std::path::Path::new(&format!("/proc/{p}")).exists()) {
                    let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")).await;
                }
            }
        })
        .await;
}

pub struct TestDb {
    /// The schema.
    pub name: String,
    /// A URL whose connections work in the schema.
    pub url: String,
}

impl TestDb {
    pub async fn create() -> Self {
        prepare().await;
        let name = format!("t_{}_{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let db = with_database(&admin_url(), DATABASE, None);
        let client = connect(&db).await.unwrap_or_else(|e| unreachable(&db, e));
        client
            .batch_execute(&format!("CREATE SCHEMA \"{name}\""))
            .await
            .unwrap_or_else(|e| panic!("cannot create the test schema {name}: {e}"));
        // The application name tells this schema's sessions apart when the schema is dropped.
        let url = with_database(&admin_url(), DATABASE, Some(&format!("options=-csearch_path%3D{name}&application_name={name}")));
        Self { name, url }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which cannot block on itself: use a thread of our own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async move {
                if let Ok(client) = connect(&with_database(&admin_url(), DATABASE, None)).await {
                    // The test's runtime is blocked in this drop, so its own sessions can never end a
                    // transaction they hold open (a background task's, cut off mid-way): end them
                    // here, or the DROP would wait for their locks forever.
                    let _ = client
                        .execute(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()",
                            &[&name],
                        )
                        .await;
                    // A session missed here only delays the drop: it gives up after 2 s, and the next
                    // run removes a schema left behind, once this process is gone.
                    let _ = client.batch_execute(&format!("SET lock_timeout = '2s'; DROP SCHEMA IF EXISTS \"{name}\" CASCADE")).await;
                }
            });
        })
        .join();
    }
}
