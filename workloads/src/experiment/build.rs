//! Laying out the experiment's machine and running it.

use std::sync::Arc;

use cpu_model::isa::{Inst, Reg, SysReg};
use cpu_model::machine::{Machine, MachineConfig, Probe};
use cpu_model::topology::Topology;
use memory_model::Addr;
use memory_model::tlb::{Descriptor, PageFlags, PageTableBuilder};
use sim::rng::RngStreams;
use sim::{Cycle, Engine};

use super::ExperimentConfig;
use super::chrome_trace::{self, ChromeTrace, TraceWindow};
use super::measure::{self, Report};
use super::oslat;
use super::safety::Checker;
use crate::activity::{Op, TaskLoop, schedules, syscall_gaps, syscall_times};
use crate::kernel::{KernelConfig, Protocol, TlbScheme};
use crate::system::{LoadError, System};

/// How the isolated task starts (`workloads/programs/isolated-start.S`), before either loop.
pub const ISOLATED_START: &str = include_str!("../../programs/isolated-start.S");
/// The isolated task's program (`workloads/programs/isolated.S`).
pub const ISOLATED: &str = include_str!("../../programs/isolated.S");
/// The isolated task's program with oslat's loop (`workloads/programs/oslat.S`).
pub const OSLAT: &str = include_str!("../../programs/oslat.S");
/// The housekeeping CPUs' program (`workloads/programs/housekeeping.S`).
pub const HOUSEKEEPING: &str = include_str!("../../programs/housekeeping.S");

/// Where the isolated task's code goes (a user page).
const ISOLATED_TEXT: Addr = System::USER_TEXT;
/// Where the housekeeping code goes (kernel text, after the kernel).
const HOUSEKEEPING_TEXT: Addr = 0x0030_0000;
/// The vmalloc'ed object's address (in a vmalloc-like area away from the
/// identity-mapped layout).
const VMAP_VA: Addr = 0x4000_0000;
/// User pages a housekeeping process unmaps (never touched: only the
/// invalidations matter) and its ASID.
const MUNMAP_VA: Addr = 0x7000_0000;
const MUNMAP_ASID: u64 = 1;
/// Page-table pool, in pages.
const TABLE_POOL_PAGES: u64 = 256;
/// Bytes of a schedule entry and of a log entry (housekeeping.S).
const HK_ENTRY: u64 = 32;
pub(crate) const HK_LOG: u64 = 24;

/// Why an experiment could not be built or run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExperimentError {
    /// The configuration does not make sense.
    #[error("experiment configuration: {0}")]
    Config(String),
    /// Configuration values that do not make sense (on this machine), with their keys.
    #[error("experiment configuration: {0}")]
    Invalid(#[from] sim::Invalid),
    /// A program (kernel or workload) failed to assemble.
    #[error("{0}")]
    Load(#[from] LoadError),
    /// The page tables could not be built.
    #[error("page tables: {0}")]
    PageTables(String),
    /// Another CPU touched an isolated task's own data after its in-order core had run past
    /// the access (a kernel variant that reads or writes user memory it should not).
    #[error("{0}")]
    NotPrivate(cpu_model::machine::PrivateFault),
}

/// Named kernel and program labels the run probes, with the registers each
/// probe reads (see isolation.S for what each label marks).
/// The kernel's probes come first; the user loop's follow (see [`loop_probes`]).
pub(crate) const PROBES: [(&str, [Reg; 3]); 9] = [
    ("kick_publish", [Reg::ZR; 3]),
    ("kick_decided", [Reg(24), Reg(0), Reg::ZR]),
    ("kick_done", [Reg::ZR; 3]),
    ("flush_publish", [Reg::ZR; 3]),
    ("flush_decided", [Reg(23), Reg(0), Reg::ZR]),
    ("flush_done", [Reg::ZR; 3]),
    ("entry_hook_done", [Reg::ZR; 3]),
    ("call_func", [Reg(9), Reg::ZR, Reg::ZR]),
    ("call_func_done", [Reg::ZR; 3]),
];

/// The user loop's probes, numbered from [`probe::USER_ITER`]: the loop head of the `work`
/// loop; the `oslat` loop's counter read that ends an iteration (X22) and the one that
/// restarts its clock after a system call (X21).
pub(crate) fn loop_probes(task_loop: TaskLoop) -> &'static [(&'static str, [Reg; 3])] {
    match task_loop {
        TaskLoop::Work => &[("user_iter", [Reg::ZR; 3])],
        TaskLoop::Oslat => {
            &[("user_stamp", [Reg(22), Reg::ZR, Reg::ZR]), ("user_resumed", [Reg(21), Reg::ZR, Reg::ZR])]
        }
    }
}

/// Probe numbers (indices into [`PROBES`]).
pub(crate) mod probe {
    pub const KICK_PUBLISH: u16 = 0;
    pub const KICK_DECIDED: u16 = 1;
    pub const KICK_DONE: u16 = 2;
    pub const FLUSH_PUBLISH: u16 = 3;
    pub const FLUSH_DECIDED: u16 = 4;
    pub const FLUSH_DONE: u16 = 5;
    pub const ENTRY_HOOK_DONE: u16 = 6;
    pub const CALL_FUNC: u16 = 7;
    /// The IPI handler's return from the call (`csd:csd_function_exit`).
    pub const CALL_FUNC_DONE: u16 = 8;
    /// The `work` loop's head; the `oslat` loop's iteration-ending counter read.
    pub const USER_ITER: u16 = 9;
    /// The `oslat` loop's clock restart after a system call.
    pub const USER_RESUMED: u16 = 10;
}

/// Where things are in the experiment's memory.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    /// Housekeeping CPUs that generate activity, with their log addresses
    /// and how many operations each was scheduled.
    pub generators: Vec<(usize, Addr, usize)>,
    /// Isolated CPUs.
    pub isolated: Vec<usize>,
    /// Watched data addresses, with names for reports.
    pub watched: Vec<(Addr, String)>,
    /// The patched instruction's address.
    pub patch_site: Addr,
    /// The vmalloc'ed object's virtual address.
    pub vmap_va: Addr,
    /// Per isolated CPU, the per-CPU words a sender reads to decide about it
    /// (ll_isol_flags, the context-tracking word): watched so that a decision
    /// is timed by when its read was satisfied.
    pub state_words: Vec<[Addr; 2]>,
    /// Per isolated CPU, the `oslat` loop's histogram (empty for the `work` loop).
    pub oslat: Vec<Addr>,
    /// Each isolated task's own data, which no other CPU touches (physical; user data is
    /// identity-mapped): its system-call table and its histogram.
    pub private: Vec<(usize, std::ops::Range<Addr>)>,
}

impl Layout {
    /// The name reports give address `a`: a watched word's, or `cpuN.isol_flags` and
    /// `cpuN.context` for the state words of isolated CPU N.
    pub fn name(&self, a: Addr) -> Option<String> {
        if let Some((_, n)) = self.watched.iter().find(|w| w.0 == a) {
            return Some(n.clone());
        }
        let (i, k) =
            self.state_words.iter().enumerate().find_map(|(i, w)| Some((i, w.iter().position(|&x| x == a)?)))?;
        Some(format!("cpu{}.{}", self.isolated[i], ["isol_flags", "context"][k]))
    }

    /// `name = value`, the value spelled out for the state words (hexadecimal otherwise).
    pub fn assignment(&self, a: Addr, v: u64) -> String {
        let name = self.name(a).unwrap_or_else(|| format!("[{a:#x}]"));
        format!("{name} = {}", self.value(a, v))
    }

    /// A value of address `a`: spelled out for the state words, hexadecimal otherwise.
    pub fn value(&self, a: Addr, v: u64) -> String {
        let name = self.name(a).unwrap_or_default();
        crate::verify::timeline::state_assignment(&name, v)
            .and_then(|s| s.split_once(" = ").map(|(_, v)| v.to_string()))
            .unwrap_or_else(|| format!("{v:#x}"))
    }
}

/// Where an experiment put what its tests look at after a run.
#[derive(Clone, Debug)]
pub struct ExperimentLayout {
    /// The isolated CPUs.
    pub isolated: Vec<usize>,
    /// Per isolated CPU, the `oslat` loop's histogram (empty for the `work` loop).
    pub oslat: Vec<Addr>,
}

/// A built experiment, ready to run.
pub struct Experiment {
    pub(crate) machine: Arc<MachineConfig>,
    pub(crate) run: ExperimentConfig,
    pub(crate) protocol: Protocol,
    pub(crate) name: String,
    pub(crate) kernel: KernelConfig,
    pub(crate) seed: u64,
    pub(crate) system: System,
    pub(crate) layout: Layout,
    pub(crate) horizon: Cycle,
    /// Probe the user loop's iterations (the `work` loop's measure; for the `oslat` loop, a
    /// cross-check of its histogram that costs a record per iteration).
    pub(crate) iteration_probes: bool,
    /// Gather every core's statistics into the report ([`Experiment::with_core_stats`]).
    pub(crate) core_stats: bool,
    /// Write a trace of this window, its processes numbered from this id
    /// ([`Experiment::with_trace`]).
    pub(crate) trace: Option<(TraceWindow, u32)>,
    /// For a protocol in C: the C line each of its instructions was compiled from (timelines
    /// show it as `L<n>`).
    pub(crate) c_lines: std::collections::BTreeMap<Addr, usize>,
}

impl Experiment {
    /// Lays out the machine for `protocol`: the kernel (with
    /// `kernel.protocol = protocol`; the deferred and ct-work protocols also
    /// defer TLB flushes, `kernel.tlb_scheme = deferred`, while the
    /// broadcast protocol keeps the configured scheme, which is the
    /// architecture's own), page tables, the programs, their schedules
    /// drawn from `seed`.
    pub fn build(
        machine: &MachineConfig,
        kernel: &KernelConfig,
        run: &ExperimentConfig,
        protocol: Protocol,
        seed: u64,
    ) -> Result<Experiment, ExperimentError> {
        Self::build_with_kernel(machine, kernel, run, protocol, seed, &crate::kernel::files(protocol))
    }

    /// Checks that `run` can be built on `machine` (the checks [`Experiment::build_with_kernel`]
    /// makes before building anything) and returns the machine's topology.
    pub fn check_config(machine: &MachineConfig, run: &ExperimentConfig) -> Result<Topology, ExperimentError> {
        Ok(Self::check(machine, run)?)
    }

    /// [`Experiment::check_config`] with the keys at fault, as paths of a whole configuration
    /// (`machine.topology.sockets`, `run.cpus`). Whatever the configuration came from (a file, a
    /// replay file's run, a fuzz campaign's draw), this is where it is checked before anything
    /// is built from it: the MMU's parameters, the run at the machine's clock, the topology.
    pub fn check(machine: &MachineConfig, run: &ExperimentConfig) -> Result<Topology, sim::Invalid> {
        machine.tlb.validate().map_err(|e| e.under("machine.tlb"))?;
        run.validate_at(machine.clock_mhz)?;
        let topo = Topology::new(&machine.topology).map_err(|e| sim::Invalid::from(e).under("machine.topology"))?;
        if run.cpus > topo.num_cores() {
            let keys = [
                "run.cpus",
                "machine.topology.sockets",
                "machine.topology.clusters_per_socket",
                "machine.topology.cores_per_cluster",
            ];
            return Err(sim::Invalid::new(
                &keys,
                format!("cpus = {}, but the machine's topology has {} CPUs", run.cpus, topo.num_cores()),
            ));
        }
        Ok(topo)
    }

    /// [`Experiment::build`] with another kernel text: (file name, text)
    /// pairs in load order, e.g. [`crate::protocol::ProtocolFile::kernel_files`]
    /// of a variant of `protocol`. The kernel must keep the labels the run
    /// probes (`kick_publish`, `kick_decided`, … in isolation.S and tlb.S,
    /// `entry_hook_done` in the protocol file) and the symbols the programs
    /// use.
    pub fn build_with_kernel(
        machine: &MachineConfig,
        kernel: &KernelConfig,
        run: &ExperimentConfig,
        protocol: Protocol,
        seed: u64,
        kernel_text: &[(&str, &str)],
    ) -> Result<Experiment, ExperimentError> {
        let topo = Self::check_config(machine, run)?;
        let mut kernel = kernel.clone();
        kernel.protocol = protocol;
        if protocol != Protocol::Broadcast {
            kernel.tlb_scheme = TlbScheme::Deferred;
        }
        let streams = RngStreams::new(seed);
        let clock = machine.clock_mhz;
        let horizon = ExperimentConfig::cycles("run.duration_us", run.duration_us, clock)?;
        let cpus = run.cpus;
        let act = &run.activity;
        let page = machine.tlb.page_bytes;
        let pt_err = |e: memory_model::tlb::PageTableError| ExperimentError::PageTables(e.to_string());

        let mut sys = System::with_cpus(&topo, &kernel, cpus);

        // Page tables and the vmalloc'ed object, whose symbols the programs use.
        let pool_bytes = TABLE_POOL_PAGES * page;
        let pool = sys.alloc_aligned("PAGE_TABLES", pool_bytes, page);
        let mut pt = PageTableBuilder::new(&machine.tlb, pool..pool + pool_bytes, sys.memory_mut()).map_err(pt_err)?;
        let vmap_pages = [sys.alloc_aligned("VMAP_PAGE0", page, page), sys.alloc_aligned("VMAP_PAGE1", page, page)];
        let vmap_pte = pt.map(sys.memory_mut(), VMAP_VA, vmap_pages[0], PageFlags::KERNEL).map_err(pt_err)?;
        sys.define("VMAP_VA", VMAP_VA);
        sys.define("VMAP_PTE", vmap_pte);
        sys.define("ITER_WORK", act.iter_work_cycles);
        oslat::define(&mut sys, clock);

        sys.load_kernel_from(kernel_text)?;
        let syscall = sys.label(act.syscall.symbol())?;
        sys.define("USER_SYSCALL", syscall);
        sys.load("workloads/programs/housekeeping.S", HOUSEKEEPING, HOUSEKEEPING_TEXT)?;
        let task = match act.task_loop {
            TaskLoop::Work => ("workloads/programs/isolated.S", ISOLATED),
            TaskLoop::Oslat => ("workloads/programs/oslat.S", OSLAT),
        };
        sys.load_unit(&[("workloads/programs/isolated-start.S", ISOLATED_START), task], ISOLATED_TEXT)?;
        let sym = |sys: &System, name: &str| sys.label(name);

        // The operations, and the data each needs.
        let per_gen = schedules(act, &streams, clock, horizon);
        let count = |op: Op| per_gen.iter().flatten().filter(|a| a.op == op).count() as u64;
        let slab_arrays = count(Op::SlabTune) + 1;
        let arrays = sys.alloc("SLAB_ARRAYS", 64 * slab_arrays);
        sys.poke_all((0..slab_arrays).map(|i| (arrays + 64 * i, 0x5000 + i)));
        let kdata = System::KERNEL_DATA;
        let (key, cpu_cache, vmap) =
            (sym(&sys, "KDATA_STATIC_KEY")?, sym(&sys, "KDATA_CPU_CACHE")?, sym(&sys, "KDATA_VMAP")?);
        sys.poke(key, 0);
        sys.poke(cpu_cache, arrays);
        sys.poke(vmap, VMAP_VA);
        sys.poke(vmap_pages[0], 1000);
        let site = sym(&sys, "static_key_site")?;
        let key_on = sym(&sys, "static_key_on")?;
        let nop = sys.code_mut().encode(Inst::Nop, site);
        let branch = sys.code_mut().encode(Inst::B { target: key_on }, site);

        // Housekeeping CPUs are the ones not isolated; the first of them generate the activity.
        let isolated: Vec<usize> = run.isolated.cpus(cpus);
        let housekeeping: Vec<usize> = (0..cpus).filter(|c| isolated.binary_search(c).is_err()).collect();
        let mut generators = vec![];
        for (g, arrivals) in per_gen.iter().enumerate() {
            let cpu = housekeeping[g];
            let sched = sys.alloc(&format!("HK_SCHEDULE{g}"), HK_ENTRY * (arrivals.len() as u64 + 1));
            // Each entry's words, set in one merge: a schedule may hold a million entries.
            let mut words = Vec::with_capacity(4 * arrivals.len());
            for (k, a) in arrivals.iter().enumerate() {
                let i = a.index;
                let (arg0, arg1) = match a.op {
                    Op::TextPatch => {
                        let on = (i + 1) % 2;
                        (on, if on == 1 { branch } else { nop })
                    }
                    Op::Vmalloc => {
                        let pa = vmap_pages[((i + 1) % 2) as usize];
                        (Descriptor::page(pa, PageFlags::KERNEL).0, 1001 + i)
                    }
                    Op::SlabTune => (arrays + 64 * (i + 1), 0),
                    Op::Munmap => (MUNMAP_VA + (i % 16) * page, MUNMAP_ASID),
                };
                let e = sched + HK_ENTRY * k as u64;
                words.extend([(e, a.at), (e + 8, a.op.code()), (e + 16, arg0), (e + 24, arg1)]);
            }
            sys.poke_all(words);
            let log = sys.alloc(&format!("HK_LOG{g}"), HK_LOG * (arrivals.len() as u64 + 1));
            sys.set_reg(cpu, Reg::x(19), sched);
            sys.set_reg(cpu, Reg::x(20), log);
            sys.start(cpu, "housekeeping", 1, 0xf)?;
            generators.push((cpu, log, arrivals.len()));
        }
        for &c in &housekeeping[act.generators..] {
            sys.start(c, "cpu_idle", 1, 0xf)?;
        }
        // The isolated tasks' system-call tables (and oslat histograms) live in user memory.
        let user_data_start = sys.alloc_aligned("USER_DATA", 0, page);
        let mut histograms = vec![];
        let mut private = vec![];
        for &c in &isolated {
            let words = match act.task_loop {
                TaskLoop::Work => syscall_gaps(act, &streams, clock, c, horizon),
                TaskLoop::Oslat => syscall_times(act, &streams, clock, c, horizon),
            };
            let table = sys.alloc(&format!("SYSCALL_TABLE{c}"), 8 * words.len() as u64);
            sys.poke_all(words.iter().enumerate().map(|(i, g)| (table + 8 * i as u64, *g)));
            sys.set_reg(c, Reg::x(19), table);
            // `alloc` starts every allocation on a line of its own.
            private.push((c, table..(table + 8 * words.len() as u64).next_multiple_of(64)));
            if act.task_loop == TaskLoop::Oslat {
                let h = sys.alloc(&format!("OSLAT{c}"), oslat::BYTES);
                sys.poke_all(oslat::initial(h));
                sys.set_reg(c, Reg::x(24), h);
                histograms.push(h);
                private.push((c, h..(h + oslat::BYTES).next_multiple_of(64)));
            }
            sys.start(c, "isolated_start", 1, 0xf)?;
        }
        let user_data_end = sys.alloc("USER_DATA_END", 0);

        // Identity maps: kernel-only global pages for the kernel's layout and
        // code, user pages for the isolated task's code and tables.
        let sgi = sym(&sys, "SGI_TABLE")?;
        let kernel_regions = [
            System::PERCPU_BASE..System::percpu(cpus),
            System::CFD_BASE..sgi + 8 * cpus as u64,
            kdata..kdata + page,
            System::DATA_BASE..user_data_start,
        ];
        let user = PageFlags { user: true, read_only: false, global: true };
        let mut regions: Vec<(std::ops::Range<Addr>, PageFlags)> =
            kernel_regions.into_iter().map(|r| (r, PageFlags::KERNEL)).collect();
        regions.push((user_data_start..user_data_end, user));
        for p in sys.code().programs() {
            let flags = if p.base == ISOLATED_TEXT { user } else { PageFlags::KERNEL };
            regions.push((p.base..p.end() + 1, flags));
        }
        for (r, flags) in regions {
            if r.is_empty() {
                continue;
            }
            let first = r.start / page * page;
            let pages = (r.end - first).div_ceil(page);
            pt.map_range(sys.memory_mut(), first, first, pages, flags).map_err(pt_err)?;
        }
        let root = pt.root();
        for c in 0..cpus {
            sys.set_sysreg(c, SysReg::Ttbr0El1, root);
            sys.set_sysreg(c, SysReg::SctlrEl1, 1);
        }

        let mut watched = vec![
            (key, "static key".to_string()),
            (cpu_cache, "cachep->cpu_cache".to_string()),
            (vmap, "vmalloc pointer".to_string()),
            (site, "static_key_site (code)".to_string()),
        ];
        for i in 0..slab_arrays {
            watched.push((arrays + 64 * i, format!("slab array {i}")));
        }
        for (i, p) in vmap_pages.iter().enumerate() {
            watched.push((*p, format!("vmalloc page {i}")));
        }
        let (flags_off, ct_off) = (sym(&sys, "PCPU_ISOL_FLAGS")?, sym(&sys, "PCPU_CONTEXT")?);
        let state_words =
            isolated.iter().map(|&c| [System::percpu(c) + flags_off, System::percpu(c) + ct_off]).collect();
        let layout = Layout {
            generators,
            isolated,
            watched,
            patch_site: site,
            vmap_va: VMAP_VA,
            state_words,
            oslat: histograms,
            private,
        };
        Ok(Experiment {
            machine: Arc::new(machine.clone()),
            run: run.clone(),
            protocol,
            name: protocol.name().to_string(),
            kernel,
            seed,
            system: sys,
            layout,
            horizon,
            iteration_probes: act.task_loop == TaskLoop::Work,
            core_stats: false,
            trace: None,
            c_lines: Default::default(),
        })
    }

    /// Builds the experiment with protocol file `p` (a shipped protocol or a
    /// variant) in the kernel, [`crate::kernel::FILES`] for the rest.
    pub fn build_with_protocol(
        machine: &MachineConfig,
        kernel: &KernelConfig,
        run: &ExperimentConfig,
        p: &crate::protocol::ProtocolFile,
        seed: u64,
    ) -> Result<Experiment, ExperimentError> {
        let owned = p.kernel_files();
        let files: Vec<(&str, &str)> = owned.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
        let mut exp = Self::build_with_kernel(machine, kernel, run, p.base, seed, &files)?.named(&p.name);
        exp.c_lines = p.c_lines_in(&owned, exp.system.code(), System::KERNEL_TEXT);
        Ok(exp)
    }

    /// The same experiment under another protocol name in its report (a variant's).
    pub fn named(mut self, name: &str) -> Experiment {
        self.name = name.to_string();
        self
    }

    /// Probes every iteration of the `oslat` loop too (its two counter reads), so that
    /// [`Experiment::run_keeping_machine`]'s caller can recompute the program's histogram from what
    /// it read. Costs a record per iteration; the `work` loop is always probed.
    pub fn with_iteration_probes(mut self) -> Experiment {
        self.iteration_probes = true;
        self
    }

    /// Puts every core's statistics in the report ([`Report::core_stats`]: committed
    /// instructions, accesses, TLB lookups, invalidations, IPIs, exceptions).
    pub fn with_core_stats(mut self) -> Experiment {
        self.core_stats = true;
        self
    }

    /// Makes [`Experiment::run_with_trace`] trace cycles `window` of the run as a Chrome/Perfetto
    /// trace, with one process per CPU numbered `pid_base + cpu` (so that the traces of several
    /// runs can share a file).
    pub fn with_trace(mut self, window: TraceWindow, pid_base: u32) -> Experiment {
        self.trace = Some((window, pid_base));
        self
    }

    /// The system as built (symbols, memory, code), e.g. to inspect or extend it.
    pub fn system(&self) -> &System {
        &self.system
    }

    /// The kernel configuration the run uses (protocol and TLB scheme applied).
    pub fn kernel(&self) -> &KernelConfig {
        &self.kernel
    }

    /// Runs the experiment to its horizon (or to the first safety violation,
    /// if so configured) and measures it.
    pub fn run(self) -> Result<Report, ExperimentError> {
        self.run_inner(|_, _| {}, 0, None).map(|r| r.0)
    }

    /// [`Experiment::run`], handing back the machine as the run left it too (for tests that look
    /// past the report: the probes' records, memory). The layout's addresses come with it.
    pub fn run_keeping_machine(self) -> Result<(Report, Machine, ExperimentLayout), ExperimentError> {
        let layout = ExperimentLayout { isolated: self.layout.isolated.clone(), oslat: self.layout.oslat.clone() };
        self.run_inner(|_, _| {}, 0, None).map(|r| (r.0, r.2, layout))
    }

    /// [`Experiment::run`], calling `progress(now, end)` with the simulated cycle reached each time
    /// a hundredth of the run is done (for a progress bar).
    pub fn run_with_progress(self, progress: impl FnMut(Cycle, Cycle)) -> Result<Report, ExperimentError> {
        self.run_inner(progress, 0, None).map(|r| r.0)
    }

    /// [`Experiment::run_with_progress`], with the trace [`Experiment::with_trace`] asked for
    /// (`None` if it was not).
    pub fn run_with_trace(
        self,
        progress: impl FnMut(Cycle, Cycle),
    ) -> Result<(Report, Option<ChromeTrace>), ExperimentError> {
        self.run_inner(progress, 0, None).map(|r| (r.0, r.3))
    }

    /// Runs it, and draws the last `rows` events of every CPU up to the
    /// first violation (or the end) as a timeline.
    pub fn run_traced(self, rows: usize) -> Result<(Report, Vec<crate::verify::timeline::Row>), ExperimentError> {
        self.run_inner(|_, _| {}, rows, None).map(|r| (r.0, r.1))
    }

    /// [`Experiment::run_traced`], with the trace [`Experiment::with_trace`] asked for (`None` if
    /// it was not).
    #[allow(clippy::type_complexity)]
    pub fn run_traced_with_trace(
        self,
        rows: usize,
    ) -> Result<(Report, Vec<crate::verify::timeline::Row>, Option<ChromeTrace>), ExperimentError> {
        self.run_inner(|_, _| {}, rows, None).map(|r| (r.0, r.1, r.3))
    }

    /// Runs it, and draws the last `rows` events of every CPU up to cycle `until`.
    pub fn run_traced_to(
        self,
        rows: usize,
        until: Cycle,
    ) -> Result<(Report, Vec<crate::verify::timeline::Row>), ExperimentError> {
        self.run_inner(|_, _| {}, rows, Some(until)).map(|r| (r.0, r.1))
    }

    fn run_inner(
        self,
        mut progress: impl FnMut(Cycle, Cycle),
        rows: usize,
        trace_until: Option<Cycle>,
    ) -> Result<(Report, Vec<crate::verify::timeline::Row>, Machine, Option<ChromeTrace>), ExperimentError> {
        let user = if self.iteration_probes { loop_probes(self.run.activity.task_loop) } else { &[] };
        let probes = PROBES
            .iter()
            .chain(user)
            .map(|(label, regs)| self.system.label(label).map(|pc| Probe { pc, regs: *regs }))
            .collect::<Result<Vec<Probe>, _>>()?;
        let watch: Vec<Addr> =
            self.layout.watched.iter().map(|w| w.0).chain(self.layout.state_words.iter().flatten().copied()).collect();
        let (code, threads, mem) = self.system.clone().into_parts();
        let code = Arc::new(code);
        let mut machine = Machine::new(self.machine.clone(), code.clone(), &threads, mem);
        machine.seed(&RngStreams::new(self.seed).child("machine"));
        machine.set_probes(&probes);
        machine.set_watch(&watch);
        for (c, range) in &self.layout.private {
            machine.keep_private(*c, range.clone());
        }
        let mut engine = Engine::new(machine);
        {
            let (m, s) = engine.parts();
            m.start(s, &vec![0; threads.len()]);
        }
        let mut checker = Checker::new(&self, &code);
        // Chunks of simulated time: the checker looks at each as it ends,
        // so a violation stops the run close to where it happened.
        let chunks = 100;
        let mut stopped_at = None;
        for k in 1..=chunks {
            // In u128: the horizon may use most of a u64's range.
            let until = (u128::from(self.horizon) * k as u128 / chunks as u128) as Cycle;
            engine.run_until(until, u64::MAX);
            if let Some(f) = engine.model().private_fault() {
                return Err(ExperimentError::NotPrivate(f));
            }
            checker.ingest(engine.model());
            progress(until, self.horizon);
            if self.run.stop_on_violation && !checker.violations().is_empty() {
                stopped_at = Some(until);
                break;
            }
        }
        let end = stopped_at.unwrap_or(self.horizon);
        let events = engine.scheduler().events_processed();
        let violation_at = checker.violations().first().map(|v| v.at);
        let (report, isolated_since) = measure::report(&self, engine.model(), &code, &checker, end, events);
        let trace = self.trace.map(|(window, pid_base)| {
            chrome_trace::build(&self, engine.model(), &checker, &isolated_since, end, window, pid_base)
        });
        // Up to the first violation; else up to where the first isolation break's IPI landed.
        let until = trace_until
            .or(violation_at)
            .or_else(|| report.first_break.as_ref().map(|b| super::trace::break_landed(engine.model(), b)))
            .unwrap_or(end);
        let timeline = if rows > 0 { super::trace::timeline(&self, engine.model(), until, rows) } else { vec![] };
        Ok((report, timeline, engine.into_model(), trace))
    }
}
