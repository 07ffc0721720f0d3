#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Indexes in mimalloc's option enum (the same in its v2 and v3).
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> std::process::ExitCode {
    // Freed memory goes back to the OS at once and arenas are committed lazily: with mimalloc's
    // defaults, freed reply buffers stayed resident and the list benchmark peaked at 130 MB RSS.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
    }
    if let Err(e) = sqlite_memory::use_mimalloc() {
        eprintln!("runhub: SQLite keeps the C library's allocator: {e}");
    }
    let sqlite = runhub_store::sqlite::Options::default();
    if let Err(e) = sqlite_memory::use_page_pool(sqlite.page_cache_bytes()) {
        eprintln!("runhub: SQLite's page caches allocate each page: {e}");
    }
    // The blocking pool runs SQLite's reads (at most one per read connection at a time) and the
    // odd DNS lookup. Tokio's default lets it grow to 512 threads, and it did grow to 20–30 under
    // list loads, as a new read often arrives before the thread of the last one is idle again;
    // each of those threads kept memory of its own: a peak RSS of 98–123 MB under gets and
    // lists over 1,000,000 runs, against 83–85 MB with eight (bench/README.md, "Memory").
    let blocking_threads = sqlite.readers + 4;
    match tokio::runtime::Builder::new_multi_thread().enable_all().max_blocking_threads(blocking_threads).build() {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("runhub: cannot start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> std::process::ExitCode {
    match runhub_server::cli::main().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("runhub: {e:#}");
            std::process::ExitCode::from(runhub_server::cli::exit_status(&e))
        }
    }
}

/// SQLite's own allocations (page caches, prepared statements, sorter and FTS buffers) go to
/// mimalloc too. Through the C library's allocator they were spread over an arena per thread that
/// ran a statement, and freed memory stayed resident there: 40 of the 112 MB peak with 1,000,000
/// runs (bench/README.md, "SQLite allocates from mimalloc"). SQLite's memory statistics are switched off as well: they
/// take a global mutex around every allocation, and nothing here reads them.
mod sqlite_memory {
    use std::ffi::{c_int, c_void};

    use rusqlite::ffi;

    unsafe extern "C" fn malloc(size: c_int) -> *mut c_void {
        // SQLite asks for 8-byte alignment; mimalloc's smallest is 16.
        unsafe { libmimalloc_sys::mi_malloc(usize::try_from(size).unwrap_or(0)) }
    }

    unsafe extern "C" fn free(ptr: *mut c_void) {
        unsafe { libmimalloc_sys::mi_free(ptr) }
    }

    unsafe extern "C" fn realloc(ptr: *mut c_void, size: c_int) -> *mut c_void {
        unsafe { libmimalloc_sys::mi_realloc(ptr, usize::try_from(size).unwrap_or(0)) }
    }

    unsafe extern "C" fn size(ptr: *mut c_void) -> c_int {
        let usable = unsafe { libmimalloc_sys::mi_usable_size(ptr) };
        c_int::try_from(usable).unwrap_or(c_int::MAX)
    }

    unsafe extern "C" fn roundup(size: c_int) -> c_int {
        let good = unsafe { libmimalloc_sys::mi_good_size(usize::try_from(size).unwrap_or(0)) };
        c_int::try_from(good).unwrap_or(size)
    }

    unsafe extern "C" fn init(_: *mut c_void) -> c_int {
        ffi::SQLITE_OK
    }

    unsafe extern "C" fn shutdown(_: *mut c_void) {}

    /// The table SQLite is handed; its only pointer (`pAppData`) is null.
    struct Methods(ffi::sqlite3_mem_methods);
    // SAFETY: nothing is behind the null `pAppData`; the rest are function pointers.
    unsafe impl Sync for Methods {}

    static METHODS: Methods = Methods(ffi::sqlite3_mem_methods {
        xMalloc: Some(malloc),
        xFree: Some(free),
        xRealloc: Some(realloc),
        xSize: Some(size),
        xRoundup: Some(roundup),
        xInit: Some(init),
        xShutdown: Some(shutdown),
        pAppData: std::ptr::null_mut(),
    });

    /// The database's page size (SQLite's default; the store does not change it).
    const PAGE_SIZE: usize = 4096;

    /// Page caches take their pages from one pool of `bytes` (as many page slots as fit), allocated
    /// once and never returned, instead of allocating each page. In WAL mode a connection drops its whole page
    /// cache when it starts a read after another connection has committed, so under a mixed load
    /// every read refilled a freed cache: each page was a fresh allocation, a page fault, and a
    /// purge when it was freed again (bench/README.md, "A pool for SQLite's pages"). Past the
    /// pool, pages are allocated as before. Must run before SQLite is first used.
    pub fn use_page_pool(bytes: usize) -> Result<(), String> {
        let mut header: c_int = 0;
        // SAFETY: SQLite writes the per-page header size into the int it is given.
        let rc = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_PCACHE_HDRSZ, &mut header as *mut c_int) };
        if rc != ffi::SQLITE_OK {
            return Err(format!("sqlite3_config(SQLITE_CONFIG_PCACHE_HDRSZ) returned {rc}"));
        }
        // A slot holds a page and its header, rounded up to 8 bytes (SQLite's alignment).
        let slot = (PAGE_SIZE + usize::try_from(header).unwrap_or(0)).div_ceil(8) * 8;
        let pages = bytes / slot;
        let (Ok(slot_bytes), Ok(count)) = (c_int::try_from(slot), c_int::try_from(pages)) else {
            return Err(format!("a pool of {pages} slots of {slot} bytes is too large"));
        };
        // Zeroed and untouched: the system lends its pages only as slots are first used.
        let pool: &'static mut [u64] = Box::leak(vec![0u64; slot / 8 * pages].into_boxed_slice());
        // SAFETY: the pool is 8-byte aligned, `slot * pages` bytes long, and lives as long as the
        // program; SQLite is not initialised yet.
        let rc = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_PAGECACHE, pool.as_mut_ptr().cast::<c_void>(), slot_bytes, count) };
        if rc != ffi::SQLITE_OK {
            return Err(format!("sqlite3_config(SQLITE_CONFIG_PAGECACHE) returned {rc}"));
        }
        Ok(())
    }

    /// Must run before SQLite is first used (`sqlite3_config` refuses afterwards).
    pub fn use_mimalloc() -> Result<(), String> {
        // SAFETY: called before any connection exists; SQLite copies the table, whose functions
        // live as long as the program.
        let rc = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_MALLOC, &METHODS.0 as *const ffi::sqlite3_mem_methods) };
        if rc != ffi::SQLITE_OK {
            return Err(format!("sqlite3_config(SQLITE_CONFIG_MALLOC) returned {rc}"));
        }
        let rc = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int) };
        if rc != ffi::SQLITE_OK {
            return Err(format!("sqlite3_config(SQLITE_CONFIG_MEMSTATUS) returned {rc}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::{Connection, ffi};

    /// After `use_mimalloc` and `use_page_pool`, what SQLite allocates comes from mimalloc's heap,
    /// its pages from the pool, and SQLite works on them: statements, a table larger than the
    /// pool, a sort and a value grown by reallocation. (One test: both must precede SQLite's first
    /// use in this process.)
    #[test]
    fn sqlite_allocates_from_mimalloc_and_its_page_pool() {
        super::sqlite_memory::use_mimalloc().expect("configured before SQLite's first use");
        super::sqlite_memory::use_page_pool(64 * 4300).expect("configured before SQLite's first use");
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("pool.sqlite3")).unwrap();
        conn.execute_batch(
            "CREATE TABLE t (v TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
             INSERT INTO t SELECT printf('%0500d', i) FROM n;",
        )
        .unwrap();
        let (mut used, mut highwater) = (0, 0);
        let rc = unsafe { ffi::sqlite3_status(ffi::SQLITE_STATUS_PAGECACHE_USED, &mut used, &mut highwater, 0) };
        assert_eq!(rc, ffi::SQLITE_OK);
        // The pool holds about 64 pages; SQLite keeps a few slots in reserve and allocates the pages
        // that do not fit.
        assert!((32..=64).contains(&highwater), "the page cache used {highwater} of the pool's 60-odd slots");
        let total: i64 = conn.query_row("SELECT sum(length(v)) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(total, 2000 * 500);
        let joined: String = conn
            .query_row(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
                 SELECT group_concat(i, ',') FROM (SELECT i FROM n ORDER BY -i)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(joined.starts_with("20000,19999,") && joined.ends_with(",2,1"));
        unsafe {
            let p = ffi::sqlite3_malloc(100);
            assert!(libmimalloc_sys::mi_is_in_heap_region(p), "sqlite3_malloc did not allocate from mimalloc");
            assert_eq!(usize::try_from(ffi::sqlite3_msize(p)).unwrap(), libmimalloc_sys::mi_usable_size(p));
            ffi::sqlite3_free(p);
        }
    }
}
