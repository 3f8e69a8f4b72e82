//! Broadcast TLB invalidation as noise: a job next to an mprotect() loop.
//!
//! On ThunderX2 an unrelated job took 39 ms alone and 49 ms while a
//! sibling CPU ran mprotect() in a loop (DESIGN.md): arm64 invalidates a
//! user page with `TLBI VALE1IS`, which every CPU's TLB must process. Here
//! the job (`workloads/programs/mprotect.S`) computes a fixed number of
//! cycles in user space on one CPU while another CPU's user process calls
//! `SYS_MPROTECT` (entry.S: `sys_mprotect`, which flips a page's write
//! permission and runs `flush_tlb_page`) as fast as it can. Both time
//! themselves with the counter; the slowdown is the job's time with the
//! loop over its time alone. The only coupling between the two is the
//! broadcast invalidation, whose per-receiver cost is
//! `tlb.broadcast_disturbance_cycles`.
//!
//! ```
//! use cpu_model::machine::MachineConfig;
//! use workloads::kernel::{KernelConfig, TlbScheme};
//! use workloads::tlbi_bench::MprotectBench;
//!
//! let cfg = MachineConfig::default();
//! let kernel = KernelConfig { tlb_scheme: TlbScheme::Broadcast, ..KernelConfig::default() };
//! let bench = MprotectBench { job_cycles: 2_000_000, ..MprotectBench::sibling(0, 1) };
//! let alone = bench.run(&cfg, &kernel, false).unwrap();
//! let loaded = bench.run(&cfg, &kernel, true).unwrap();
//! assert_eq!(alone.disturbances, 0);
//! assert!(loaded.disturbances >= loaded.calls, "each call's TLBI reached the job's CPU");
//! assert!(loaded.job > alone.job);
//! ```

use cpu_model::machine::MachineConfig;
use memory_model::Addr;
use memory_model::tlb::{PageFlags, PageTableBuilder};
use serde::Serialize;
use sim::Cycle;

use crate::ipi::BenchError;
use crate::kernel::KernelConfig;
use crate::system::System;

/// The benchmark's program (`workloads/programs/mprotect.S`).
pub const PROGRAM: &str = include_str!("../programs/mprotect.S");

/// The page the loop changes (a user address of its own process) and its ASID.
const MPROTECT_VA: Addr = 0x7000_0000;
const MPROTECT_ASID: u64 = 2;
/// Page-table pool, in pages.
const TABLE_POOL_PAGES: u64 = 8;

/// One configuration of the experiment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MprotectBench {
    /// The CPU that runs the job.
    pub job_cpu: usize,
    /// The CPU that runs the mprotect() loop.
    pub loop_cpu: usize,
    /// The job's length alone, in cycles.
    pub job_cycles: Cycle,
    /// The job's compute-block length (a disturbance lengthens the block in progress).
    pub block_cycles: Cycle,
}

/// What one run measured (cycles, from the CPUs' own counter reads).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MprotectRun {
    /// The job, start to end.
    pub job: Cycle,
    /// mprotect() calls the loop completed while the job ran (0 without the loop).
    pub calls: u64,
    /// The loop's time from its start to the end of its last call.
    pub loop_time: Cycle,
    /// Broadcast invalidations that reached the job's CPU.
    pub disturbances: u64,
    /// Core clock (MHz), to convert to time.
    pub clock_mhz: u64,
}

impl MprotectRun {
    /// Mean time of one mprotect() call in the loop, in nanoseconds.
    pub fn call_ns(&self) -> f64 {
        self.loop_time as f64 * 1000.0 / self.clock_mhz as f64 / self.calls.max(1) as f64
    }
}

impl MprotectBench {
    /// The job on `job_cpu`, the loop on `loop_cpu`, the job as long as
    /// ThunderX2's was alone (39 ms) at 2.1 GHz, in 10 000-cycle blocks.
    pub fn sibling(job_cpu: usize, loop_cpu: usize) -> Self {
        MprotectBench { job_cpu, loop_cpu, job_cycles: 39 * 2_100_000, block_cycles: 10_000 }
    }

    /// Builds the system: the kernel, the program, the loop's page (mapped
    /// in a page table of its own), the job's and (if `with_loop`) the
    /// loop's CPUs started, every other CPU idle.
    pub fn system(&self, cfg: &MachineConfig, kernel: &KernelConfig, with_loop: bool) -> Result<System, BenchError> {
        let topo = cpu_model::topology::Topology::new(&cfg.topology)?;
        let cpus = topo.num_cores();
        if let Some(&cpu) = [self.job_cpu, self.loop_cpu].iter().find(|&&c| c >= cpus) {
            return Err(BenchError::NoSuchCpu { cpu, cpus });
        }
        let page = cfg.tlb.page_bytes;
        let mut sys = System::with_kernel(&topo, kernel);
        let pool_bytes = TABLE_POOL_PAGES * page;
        let pool = sys.alloc_aligned("MPROTECT_TABLES", pool_bytes, page);
        let frame = sys.alloc_aligned("MPROTECT_PAGE", page, page);
        let user = PageFlags { user: true, read_only: false, global: false };
        let pt_err = |e: memory_model::tlb::PageTableError| BenchError::PageTables(e.to_string());
        let mut pt = PageTableBuilder::new(&cfg.tlb, pool..pool + pool_bytes, sys.memory_mut()).map_err(pt_err)?;
        let pte = pt.map(sys.memory_mut(), MPROTECT_VA, frame, user).map_err(pt_err)?;
        sys.define("MPROTECT_VA", MPROTECT_VA);
        sys.define("MPROTECT_PTE", pte);
        sys.define("MPROTECT_ASID", MPROTECT_ASID);
        sys.define("JOB_BLOCKS", self.job_cycles.div_ceil(self.block_cycles.max(1)));
        sys.define("JOB_BLOCK_CYCLES", self.block_cycles.max(1));
        sys.alloc("JOB_RESULT", 16);
        sys.alloc("LOOP_RESULT", 24);
        sys.load_kernel()?;
        sys.load("workloads/programs/mprotect.S", PROGRAM, System::USER_TEXT)?;
        for cpu in 0..cpus {
            if cpu == self.job_cpu {
                sys.start(cpu, "job_start", 1, 0xf)?;
            } else if cpu == self.loop_cpu && with_loop {
                sys.start(cpu, "mprotect_start", 1, 0xf)?;
            } else {
                sys.start(cpu, "cpu_idle", 1, 0xf)?;
            }
        }
        Ok(sys)
    }

    /// Runs the job, alone or next to the loop, until the job ends.
    pub fn run(&self, cfg: &MachineConfig, kernel: &KernelConfig, with_loop: bool) -> Result<MprotectRun, BenchError> {
        let sys = self.system(cfg, kernel, with_loop)?;
        let job = sys.symbol("JOB_RESULT").expect("allocated by system()");
        let lp = sys.symbol("LOOP_RESULT").expect("allocated by system()");
        // However much the loop slows it, the job cannot take ten times its length.
        let limit = self.job_cycles.saturating_mul(10).max(1_000_000);
        let (engine, _) = sys.run_until_done(cfg, vec![self.job_cpu], limit)?;
        let m = engine.model();
        let s = m.state();
        let word = |a: Addr| s.mem.read(a).value;
        Ok(MprotectRun {
            job: word(job + 8).saturating_sub(word(job)),
            calls: word(lp + 8),
            loop_time: word(lp + 16).saturating_sub(word(lp)),
            disturbances: s.cores[self.job_cpu].tlbi_disturbances(),
            clock_mhz: cfg.clock_mhz,
        })
    }

    /// The job's slowdown next to the loop: (time with ÷ time alone) − 1,
    /// with both runs.
    pub fn slowdown(
        &self,
        cfg: &MachineConfig,
        kernel: &KernelConfig,
    ) -> Result<(f64, MprotectRun, MprotectRun), BenchError> {
        let alone = self.run(cfg, kernel, false)?;
        let loaded = self.run(cfg, kernel, true)?;
        Ok((loaded.job as f64 / alone.job.max(1) as f64 - 1.0, alone, loaded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpu_model::core::UserCode;

    /// The job's CPU is the only busy one: after `ret_to_user`, no other event comes that could
    /// step it, so the in-order core must take over on its own (it used to stop for good there:
    /// "deadlock at cycle 208"). It then times the job as the pipeline does, but for the few
    /// cycles each compute block's hand-over costs.
    #[test]
    fn a_lone_job_runs_to_its_end_whichever_core_runs_user_code() {
        let bench = MprotectBench { job_cycles: 200_000, ..MprotectBench::sibling(0, 1) };
        let mut cfg = MachineConfig::default();
        let pipeline = [false, true].map(|with_loop| bench.run(&cfg, &KernelConfig::default(), with_loop).unwrap());
        for user_code in [UserCode::InOrder, UserCode::Dataflow] {
            cfg.core.user_code = user_code;
            for (with_loop, on_pipeline) in [false, true].into_iter().zip(&pipeline) {
                let run = bench
                    .run(&cfg, &KernelConfig::default(), with_loop)
                    .unwrap_or_else(|e| panic!("{user_code:?}: {e}"));
                let close = run.job >= on_pipeline.job && run.job < on_pipeline.job * 101 / 100;
                assert!(close, "{user_code:?}: {run:?} against {on_pipeline:?}");
                assert_eq!(run.disturbances, on_pipeline.disturbances, "{user_code:?}");
            }
        }
    }
}
