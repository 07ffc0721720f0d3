//! A throw-away PostgreSQL database per test, for the black-box suite run against the PostgreSQL
//! store (`RUNHUB_TEST_STORE=postgres`) and for the replica tests.
//!
//! Each test creates its own database (`runhub_t_<pid>_<random>`) and drops it when done; databases
//! left behind by test processes that died are dropped by the next run. PostgreSQL being
//! unreachable is a test failure that says how to provide one — never a skip.

use tokio_postgres::NoTls;

/// `postgres` runs the suite on PostgreSQL; anything else (or unset) on SQLite.
pub const STORE_ENV: &str = "RUNHUB_TEST_STORE";
/// The server to make test databases on (any database of it; the user must be allowed to create
/// databases).
pub const URL_ENV: &str = "RUNHUB_TEST_DATABASE_URL";
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub fn wanted() -> bool {
    std::env::var(STORE_ENV).is_ok_and(|v| v.eq_ignore_ascii_case("postgres"))
}

pub fn admin_url() -> String {
    std::env::var(URL_ENV).unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, params) = match url.split_once('?') {
        Some((b, p)) => (b, format!("?{p}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{root}/{name}{params}")
}

async fn admin() -> tokio_postgres::Client {
    let url = admin_url();
    let (client, connection) = match tokio_postgres::connect(&url, NoTls).await {
        Ok(c) => c,
        Err(e) => panic!(
            "PostgreSQL is not reachable at {url} ({e}). These tests need a PostgreSQL server (15 or newer, \
             built with ICU) where the user may create databases: start one (e.g. `pg_ctlcluster 15 main start`) \
             or point {URL_ENV} at one, e.g. {URL_ENV}=postgres://user:password@host:5432/postgres"
        ),
    };
    tokio::spawn(connection);
    client
}

/// Drops the test databases of test processes that are no longer running.
async fn sweep(client: &tokio_postgres::Client) {
    let Ok(rows) = client.query("SELECT datname FROM pg_database WHERE datname LIKE 'runhub_t_%'", &[]).await else { return };
    for row in rows {
        let name: String = row.get(0);
        let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !std::path::Path::new(&format!("/proc/{p}")).exists()) {
            let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
        }
    }
}

static SWEPT: std::sync::Once = std::sync::Once::new();

pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn create() -> Self {
        let client = admin().await;
        let mut first = false;
        SWEPT.call_once(|| first = true);
        if first {
            sweep(&client).await;
        }
        let name = format!("runhub_t_{}_{}", std::process::id(), uuid::Uuid::new_v4().simple());
        client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
        let url = with_database(&admin_url(), &name);
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
                if let Ok((client, connection)) = tokio_postgres::connect(&admin_url(), NoTls).await {
                    tokio::spawn(connection);
                    let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
                }
            });
        })
        .join();
    }
}
