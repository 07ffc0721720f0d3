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
    // The blocking pool runs SQLite's reads (at most one per read connection at a time) and the
    // odd DNS lookup. Tokio's default lets it grow to 512 threads, and it did grow to 20–30 under
    // list loads, as a new read often arrives before the thread of the last one is idle again;
    // each of those threads kept memory of its own: a peak RSS of 98–123 MB under gets and
    // lists over 1,000,000 runs, against 83–85 MB with eight (bench/README.md, "Memory").
    let blocking_threads = runhub_store::sqlite::Options::default().readers + 4;
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
