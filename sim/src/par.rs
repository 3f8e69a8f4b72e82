//! Deterministic parallel runs over rayon.
//!
//! Independent runs (litmus iteration chunks, fuzz seeds, sweep points) are
//! identified by an index; each derives its randomness from (master seed,
//! index), never from the thread that runs it, and results are returned in
//! index order. The output is therefore the same for any number of jobs.

use rayon::prelude::*;

/// Runs `f(0..n)` on `jobs` worker threads (0 = all cores) and returns the
/// results in index order.
pub fn map_indexed<R, F>(n: u64, jobs: usize, f: F) -> Vec<R>
where
    R: Send,
    F: Fn(u64) -> R + Sync + Send,
{
    if jobs == 1 || n <= 1 {
        return (0..n).map(f).collect();
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs).build().expect("building a rayon thread pool");
    pool.install(|| (0..n).into_par_iter().map(&f).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::RngStreams;
    use rand::Rng;

    #[test]
    fn results_do_not_depend_on_the_number_of_jobs() {
        let work = |i: u64| RngStreams::new(9).indexed(i).stream("w").next_u64();
        let one = map_indexed(50, 1, work);
        let two = map_indexed(50, 2, work);
        let four = map_indexed(50, 4, work);
        assert_eq!(one, two);
        assert_eq!(one, four);
    }
}
