//! glibc allocator settings for training loops.
//!
//! A training step allocates and frees hundreds of tensors of a few MB each. By default
//! glibc serves large blocks with `mmap` and trims the heap top as soon as 128 KB are
//! free, so every step pays page faults and the kernel's page zeroing again, and two
//! threads faulting contend on the address-space lock. Keeping freed memory for reuse
//! (a 1 GB trim threshold) and serving blocks up to 32 MB (glibc's maximum) from the
//! heap raised `bench/pretrain_compare.sh` tokens/s on the tiny model by about 10% (on
//! small the change was within the run-to-run noise); the process keeps its peak heap
//! instead of returning it between steps (peak RSS unchanged, `bench/pretrain_rss.sh`).

/// Apply the settings (once, at start-up, before threads exist). Elsewhere than
/// glibc on Linux this does nothing.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before any other
    // thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
