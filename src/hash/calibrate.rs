//! Tuning helpers behind `gatehouse hashers argon2 calibrate|load-test`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Argon2Params, argon2id_hash};

const SALT_LENGTH: u32 = 16;
const KEY_LENGTH: u32 = 32;

/// Best of two runs: the minimum filters out scheduler noise.
fn time_hash(params: &Argon2Params) -> Duration {
    (0..2)
        .map(|_| {
            let start = Instant::now();
            // Parameters are produced here and always valid.
            let _ = argon2id_hash(params, b"calibration password");
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// Finds argon2id parameters whose single hash takes about `target` on this
/// machine: first iterations (memory stays as given), and if even one
/// iteration is too slow, less memory.
pub fn calibrate(target: Duration, memory_kib: u32, parallelism: u32) -> Argon2Params {
    let parallelism = parallelism.max(1);
    let min_memory = 8 * parallelism;
    let mut p = Argon2Params {
        memory_kib: memory_kib.max(min_memory),
        iterations: 1,
        parallelism,
        salt_length: SALT_LENGTH,
        key_length: KEY_LENGTH,
    };
    let target_s = target.as_secs_f64().max(1e-6);

    let mut elapsed = time_hash(&p);
    // Memory cost is roughly linear, so scale it down proportionally; a few
    // rounds absorb the non-linear part.
    for _ in 0..8 {
        if elapsed.as_secs_f64() <= target_s || p.memory_kib <= min_memory {
            break;
        }
        let scaled = f64::from(p.memory_kib) * target_s / elapsed.as_secs_f64() * 0.95;
        p.memory_kib = (scaled as u32).clamp(min_memory, p.memory_kib - 1);
        elapsed = time_hash(&p);
    }

    // Iterations scale time linearly; refine until the estimate is stable.
    for _ in 0..6 {
        let per_iteration = elapsed.as_secs_f64() / f64::from(p.iterations);
        let next = ((target_s / per_iteration).round() as u32).max(1);
        if next == p.iterations {
            break;
        }
        p.iterations = next;
        elapsed = time_hash(&p);
    }
    p
}

/// Hashes continuously on `threads` threads for `duration` and returns the
/// achieved hashes per second.
pub fn measure_rate(params: &Argon2Params, threads: usize, duration: Duration) -> f64 {
    let count = AtomicU64::new(0);
    let start = Instant::now();
    let deadline = start + duration;
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                while Instant::now() < deadline {
                    if argon2id_hash(params, b"load test password").is_ok() {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    count.load(Ordering::Relaxed) as f64 / secs.max(1e-9)
}
