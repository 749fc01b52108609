//! How dapt runs on the cores: every command inside one rayon pool.
//!
//! A training step is a few hundred parallel ops of well under a millisecond each on the
//! `small` preset. Called from the process's main thread, which is not a rayon worker,
//! every op is injected into the pool while the main thread blocks on a lock and is
//! woken afterwards: ~23,000 context switches a second at two threads, and the second
//! thread bought `bench/pretrain_compare.sh` (rtd, small) 4% more tokens/s. Run on a
//! worker instead, the command's own thread takes part in every op and the others join
//! by work stealing (+15% tokens/s at two threads, context switches down 7x).
//!
//! candle 0.11 keeps a second pool of its own for elementwise ops, whose threads
//! busy-wait 25,000 spins after each op for the next one; on a machine whose cores are
//! all rayon's, that spinning takes the cores the next op needs. dapt tells them to
//! sleep right away (`CANDLE_BARRIER_POOL_SPIN_LIMIT=0`) unless the user set it.

/// Stack of each pool thread: commands run on one, and candle's backward pass walks the
/// graph recursively (the main thread has 8 MB; rayon's threads 2 MB by default).
const STACK_BYTES: usize = 32 << 20;

/// Environment settings for candle's own threads; call at start-up, before any thread
/// exists (setting the environment is not thread-safe).
pub fn tune_candle() {
    const SPIN: &str = "CANDLE_BARRIER_POOL_SPIN_LIMIT";
    if std::env::var_os(SPIN).is_none() {
        std::env::set_var(SPIN, "0");
    }
}

/// Run `f` on a worker of a rayon pool of `RAYON_NUM_THREADS` threads (default: one per
/// core), where every parallel op it starts runs.
pub fn run<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    match rayon::ThreadPoolBuilder::new()
        .stack_size(STACK_BYTES)
        .thread_name(|i| format!("dapt-{i}"))
        .build()
    {
        Ok(pool) => pool.install(f),
        // No pool (threads cannot be spawned): the ops fall back to rayon's global pool.
        Err(_) => f(),
    }
}
