//! Deterministic parallel runs over rayon.
//!
//! Independent runs (litmus iteration chunks, fuzz seeds, sweep points) are
//! identified by an index; each derives its randomness from (master seed,
//! index), never from the thread that runs it, and results are folded in
//! index order. The output is therefore the same for any number of jobs.
//!
//! The number of runs comes from users (`--runs`), so nothing here holds
//! more than a small window of results at once: a count of 2^64 - 1 runs in
//! bounded memory, for as long as the user lets it.

use rayon::prelude::*;

/// Results computed ahead of the fold, per worker thread: enough to keep
/// every worker busy between two folds, few enough to be memory-bounded.
const WINDOW_PER_JOB: usize = 4;

/// Runs `f(0..n)` on `jobs` worker threads (0 = all cores) and folds each
/// result into `acc` with `fold`, in index order, as the results come in.
/// The first error `fold` returns (in index order) ends the work and is
/// returned; work already started on later indices is dropped.
///
/// At most `jobs × 4` results exist at any time, whatever `n` is, and the
/// sequence of `fold` calls does not depend on `jobs`.
pub fn fold_indexed<R, A, E, F, G>(n: u64, jobs: usize, mut acc: A, f: F, mut fold: G) -> Result<A, E>
where
    R: Send,
    F: Fn(u64) -> R + Sync + Send,
    G: FnMut(&mut A, R) -> Result<(), E>,
{
    if jobs == 1 || n <= 1 {
        for i in 0..n {
            fold(&mut acc, f(i))?;
        }
        return Ok(acc);
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs).build().expect("building a rayon thread pool");
    let window = (pool.current_num_threads().max(1) * WINDOW_PER_JOB) as u64;
    let mut start = 0;
    while start < n {
        let len = window.min(n - start);
        let batch: Vec<R> = pool.install(|| (0..len as usize).into_par_iter().map(|k| f(start + k as u64)).collect());
        for r in batch {
            fold(&mut acc, r)?;
        }
        start += len;
    }
    Ok(acc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::RngStreams;
    use rand::Rng;

    fn collect(n: u64, jobs: usize, work: impl Fn(u64) -> u64 + Sync + Send) -> Vec<u64> {
        fold_indexed(n, jobs, vec![], work, |v, r| {
            v.push(r);
            Ok::<_, ()>(())
        })
        .unwrap()
    }

    #[test]
    fn results_do_not_depend_on_the_number_of_jobs() {
        let work = |i: u64| RngStreams::new(9).indexed(i).stream("w").next_u64();
        let one = collect(50, 1, work);
        assert_eq!(one.len(), 50);
        for jobs in [2, 3, 4, 7, 0] {
            assert_eq!(collect(50, jobs, work), one, "{jobs} jobs");
        }
    }

    #[test]
    fn a_count_of_two_to_the_64_streams_and_stops_at_the_first_error_in_index_order() {
        // Collecting 2^64 - 1 results up front would abort; folding holds a window.
        for jobs in [1, 2, 4] {
            let mut seen = 0u64;
            let r = fold_indexed(
                u64::MAX,
                jobs,
                (),
                |i| i,
                |_, i| {
                    seen += 1;
                    if i % 1000 == 999 { Err(i) } else { Ok(()) }
                },
            );
            assert_eq!((r, seen), (Err(999), 1000), "{jobs} jobs");
        }
    }
}
