//! `runhub backup` and `runhub restore` for the embedded store (docs/operations.md).
//!
//! A backup is `VACUUM INTO` a new file: SQLite copies the database as one read transaction — a
//! consistent snapshot of every committed write — and in WAL mode a reader never blocks the
//! writer, so a running `runhub serve` keeps committing while it is taken. The copy is checked and
//! made a self-contained single file before it is renamed into place.
//!
//! A restore never touches the target until the copy is known good: the file is checked (SQLite's
//! `quick_check`, runhub's tables and a schema version this build can migrate), copied into a
//! temporary file in the target directory, checked again there, and only then renamed over the
//! database.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::DATABASE_FILE;
use super::schema::KNOWN;
use crate::{StoreError, StoreResult};

/// What a checked runhub database holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub schema_version: i64,
    pub runs: i64,
    pub processes: i64,
}

fn fail(file: &Path, why: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("'{}' is not a usable runhub database: {why}", file.display()))
}

/// Checks that `conn` (opened on `file`) is an intact runhub database this build can open.
fn check(conn: &Connection, file: &Path) -> StoreResult<Summary> {
    let problems: Vec<String> = conn
        .prepare("PRAGMA quick_check")
        .and_then(|mut s| s.query_map([], |r| r.get::<_, String>(0))?.collect())
        .map_err(|e| fail(file, e))?;
    if problems.first().map(String::as_str) != Some("ok") {
        return Err(fail(file, format!("it is damaged ({})", problems.join("; "))));
    }
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| fail(file, e))?;
    let tables: i64 = conn
        .query_row("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('meta', 'runs', 'processes')", [], |r| r.get(0))
        .map_err(|e| fail(file, e))?;
    if version < 1 || tables != 3 {
        return Err(fail(file, "it is an SQLite database, but not one of runhub's (no runhub schema in it)"));
    }
    crate::pending_migrations(version, KNOWN).map_err(|e| fail(file, e))?;
    let secret: Option<i64> =
        conn.query_row("SELECT 1 FROM meta WHERE key = 'token_secret'", [], |r| r.get(0)).optional().map_err(|e| fail(file, e))?;
    if secret.is_none() {
        return Err(fail(file, "it has runhub's tables but no token secret"));
    }
    let count =
        |table: &str| conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get::<_, i64>(0)).map_err(|e| fail(file, e));
    Ok(Summary { schema_version: version, runs: count("runs")?, processes: count("processes")? })
}

fn open(file: &Path, flags: OpenFlags) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(file, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX).map_err(|e| fail(file, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(|e| fail(file, e))?;
    Ok(conn)
}

/// Opens and checks a file without changing it.
pub fn inspect(file: &Path) -> StoreResult<Summary> {
    if !file.is_file() {
        return Err(StoreError::NotFound(format!("there is no file '{}'", file.display())));
    }
    check(&open(file, OpenFlags::SQLITE_OPEN_READ_ONLY)?, file)
}

fn sync_file(path: &Path) -> StoreResult<()> {
    std::fs::File::open(path).and_then(|f| f.sync_all()).map_err(|e| StoreError::Internal(format!("cannot sync '{}': {e}", path.display())))
}

fn sync_dir(dir: &Path) -> StoreResult<()> {
    // Makes the rename itself durable.
    #[cfg(unix)]
    sync_file(dir)?;
    let _ = dir;
    Ok(())
}

/// A temporary file's name beside `target`, removed on drop unless kept.
struct Temp(PathBuf, bool);

impl Temp {
    fn beside(target: &Path, what: &str) -> StoreResult<Self> {
        let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let path = dir.join(format!(".{name}.{what}-{}.tmp", std::process::id()));
        let _ = std::fs::remove_file(&path);
        Ok(Self(path, false))
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if !self.1 {
            let _ = std::fs::remove_file(&self.0);
            for suffix in ["-wal", "-shm", "-journal"] {
                let mut p = self.0.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(p));
            }
        }
    }
}

/// Copies the database in `data_dir` — which a `runhub serve` may be writing to — to the new file
/// `to`, consistently.
pub fn backup(data_dir: &Path, to: &Path) -> StoreResult<Summary> {
    let source = data_dir.join(DATABASE_FILE);
    if !source.is_file() {
        return Err(StoreError::NotFound(format!("there is no runhub database in '{}' (no {DATABASE_FILE})", data_dir.display())));
    }
    if to.exists() {
        return Err(StoreError::Internal(format!("'{}' already exists; a backup is written to a new file", to.display())));
    }
    // Read-write without create: WAL readers need the shared-memory file, and a wrong directory
    // must be an error rather than a new empty database.
    let conn = open(&source, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    check(&conn, &source)?;
    let temp = Temp::beside(to, "partial")?;
    let target = temp.0.to_str().ok_or_else(|| StoreError::Internal(format!("'{}' is not valid UTF-8", temp.0.display())))?;
    conn.execute("VACUUM INTO ?1", [target]).map_err(|e| StoreError::Internal(format!("the backup failed: {e}")))?;
    drop(conn);
    let copy = open(&temp.0, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    // One self-contained file, whatever the source's journal mode.
    copy.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(())).map_err(|e| fail(&temp.0, e))?;
    reset_run_names(&copy).map_err(|e| fail(&temp.0, e))?;
    let summary = check(&copy, &temp.0)?;
    drop(copy);
    sync_file(&temp.0)?;
    std::fs::rename(&temp.0, to).map_err(|e| StoreError::Internal(format!("cannot move the backup to '{}': {e}", to.display())))?;
    let mut temp = temp;
    temp.1 = true;
    sync_dir(to.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))?;
    Ok(summary)
}

/// Empties the copy's run-name index, which the server rebuilds in the background: the index refers
/// to runs by rowid, and SQLite does not promise that `VACUUM` keeps the rowids of a table without
/// an `INTEGER PRIMARY KEY`. (A database from before the index has nothing to reset.)
fn reset_run_names(conn: &Connection) -> rusqlite::Result<()> {
    let indexed: Option<i64> =
        conn.query_row("SELECT 1 FROM sqlite_master WHERE name = 'run_names_indexed'", [], |r| r.get(0)).optional()?;
    match indexed {
        Some(_) => conn.execute_batch(crate::query::names::RESET),
        None => Ok(()),
    }
}

/// Puts the backup `from` in place as the database of `data_dir`. Refuses a data directory that
/// already holds a database unless `force`; the server must not be running on it.
pub fn restore(from: &Path, data_dir: &Path, force: bool) -> StoreResult<Summary> {
    inspect(from)?;
    let target = data_dir.join(DATABASE_FILE);
    if target.exists() && !force {
        return Err(StoreError::Internal(format!(
            "'{}' already holds a runhub database; pass --force to replace it (with runhub serve stopped)",
            data_dir.display()
        )));
    }
    std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Internal(format!("cannot create '{}': {e}", data_dir.display())))?;
    let temp = Temp::beside(&target, "restore")?;
    std::fs::copy(from, &temp.0)
        .map_err(|e| StoreError::Internal(format!("cannot copy '{}' into '{}': {e}", from.display(), data_dir.display())))?;
    let summary = {
        let copy = open(&temp.0, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        copy.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(())).map_err(|e| fail(&temp.0, e))?;
        check(&copy, &temp.0)?
    };
    sync_file(&temp.0)?;
    if target.exists() {
        // Fold the old database's write-ahead log into it, then drop the log: a stale log beside
        // the new file would be replayed into it.
        if let Ok(old) = open(&target, OpenFlags::SQLITE_OPEN_READ_WRITE) {
            let _ = old.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
    }
    for suffix in ["-wal", "-shm"] {
        let mut p = target.clone().into_os_string();
        p.push(suffix);
        match std::fs::remove_file(PathBuf::from(&p)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::Internal(format!("cannot remove '{}': {e}", PathBuf::from(p).display()))),
        }
    }
    std::fs::rename(&temp.0, &target).map_err(|e| StoreError::Internal(format!("cannot move the restored database into place: {e}")))?;
    let mut temp = temp;
    temp.1 = true;
    sync_dir(data_dir)?;
    Ok(summary)
}
