//! A bootable system image: code for every CPU, per-CPU data, stacks and
//! the tables a kernel computes at boot — what a loader puts in memory
//! before the cores start.
//!
//! ```text
//!   KERNEL_TEXT   kernel code (vectors first, VBAR_EL1 points at them)
//!   USER_TEXT     programs loaded after the kernel
//!   PERCPU_BASE   one PERCPU_SIZE area per CPU; TPIDR_EL1 = its address,
//!                 the kernel stack grows down from its end (SP_EL1)
//!   CFD_BASE      per sending CPU, one call-function descriptor (csd, one
//!                 cache line each) per target CPU, as Linux's cfd_data
//!   SGI_TABLE     per CPU, the ICC_SGI1R_EL1 value that targets it alone
//!                 (Linux derives it from cpu_logical_map(), i.e. MPIDRs)
//!   KERNEL_DATA   kernel variables shared by CPUs (isolation.S: KDATA_*)
//!   DATA_BASE     free memory for programs ([`System::alloc`])
//! ```
//!
//! Each region's address is a symbol that every program loaded into the
//! system can use in immediates (`MOV X0, #PERCPU_BASE`); every label of a
//! loaded program becomes a symbol too, so later programs can branch to it
//! (`BL smp_call_function_many`) or take its address (`MOV X2, #ipi_nop`).
//!
//! ```
//! use workloads::system::System;
//! use cpu_model::topology::{Topology, TopologyConfig};
//!
//! let topo = Topology::new(&TopologyConfig::default()).unwrap();
//! let mut sys = System::new(&topo);
//! sys.load_kernel().unwrap();
//! sys.load("main.S", "main: MOV X0, #NR_CPUS\n BL smp_processor_id", System::USER_TEXT).unwrap();
//! assert_eq!(sys.symbol("NR_CPUS"), Some(topo.num_cores() as u64));
//! ```

use std::fmt;
use std::sync::Arc;

use cpu_model::asm::{AsmError, Symbols, assemble_with};
use cpu_model::code::CodeSpace;
use cpu_model::gic::encode_sgi1r;
use cpu_model::isa::{Reg, SysReg};
use cpu_model::machine::{Machine, MachineConfig, RunError, ThreadInit};
use cpu_model::topology::Topology;
use memory_model::Addr;
use memory_model::memory::FlatMemory;
use sim::{Cycle, Engine};

use crate::kernel::KernelConfig;

/// A program that failed to assemble, named by the file it came from.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// A syntax or support error: `file:line:col: what`.
    #[error("{file}:{}", .error)]
    Asm {
        /// Where the text came from.
        file: String,
        /// The error, with its line and column.
        error: AsmError,
    },
    /// A program that would overlap code already loaded.
    #[error("{file}: code at {base:#x}..{end:#x} overlaps code already loaded")]
    Overlap {
        /// Where the text came from.
        file: String,
        /// First address.
        base: Addr,
        /// One past the last.
        end: Addr,
    },
    /// A label named at start-up that no program defines.
    #[error("no program defines `{0}`")]
    NoSuchLabel(String),
}

/// Code, memory and start-up state of every CPU.
#[derive(Clone, Debug)]
pub struct System {
    cpus: usize,
    symbols: Symbols,
    code: CodeSpace,
    mem: FlatMemory,
    threads: Vec<ThreadInit>,
    next_data: Addr,
    /// The protocol whose file [`System::load_kernel`] loads.
    protocol: crate::kernel::Protocol,
}

impl System {
    /// Where kernel code goes.
    pub const KERNEL_TEXT: Addr = 0x0010_0000;
    /// Where other programs go.
    pub const USER_TEXT: Addr = 0x0040_0000;
    /// First per-CPU area.
    pub const PERCPU_BASE: Addr = 0x0100_0000;
    /// Bytes per per-CPU area (variables at the bottom, stack at the top).
    pub const PERCPU_SIZE: u64 = 1 << Self::PERCPU_SHIFT;
    /// log2 of [`System::PERCPU_SIZE`].
    pub const PERCPU_SHIFT: u64 = 14;
    /// log2 of the bytes per call-function descriptor (one cache line).
    pub const CSD_SHIFT: u64 = 6;
    /// Start of the call-function descriptors.
    pub const CFD_BASE: Addr = 0x0200_0000;
    /// Kernel variables that CPUs share (one page, just below the data).
    pub const KERNEL_DATA: Addr = 0x03ff_0000;
    /// Start of free data memory.
    pub const DATA_BASE: Addr = 0x0400_0000;

    /// A system with one CPU per core of `topo`, nothing loaded yet: every
    /// CPU starts at EL1 with interrupts masked, its per-CPU pointer in
    /// TPIDR_EL1 and its stack pointer at the top of its per-CPU area. The
    /// kernel's compute-block lengths are [`KernelConfig`]'s defaults.
    pub fn new(topo: &Topology) -> Self {
        Self::with_kernel(topo, &KernelConfig::default())
    }

    /// As [`System::new`], with the kernel's compute-block lengths from `kernel`.
    pub fn with_kernel(topo: &Topology, kernel: &KernelConfig) -> Self {
        let cpus = topo.num_cores();
        let cfd_shift = (cpus.next_power_of_two().trailing_zeros() as u64 + Self::CSD_SHIFT).max(12);
        let sgi_table = Self::CFD_BASE + ((cpus as u64) << cfd_shift);
        let mut symbols = Symbols::new();
        for (name, v) in [
            ("NR_CPUS", cpus as u64),
            ("KERNEL_TEXT", Self::KERNEL_TEXT),
            ("USER_TEXT", Self::USER_TEXT),
            ("PERCPU_BASE", Self::PERCPU_BASE),
            ("PERCPU_SHIFT", Self::PERCPU_SHIFT),
            ("PERCPU_SIZE", Self::PERCPU_SIZE),
            ("CFD_BASE", Self::CFD_BASE),
            ("CFD_SHIFT", cfd_shift),
            ("CSD_SHIFT", Self::CSD_SHIFT),
            ("SGI_TABLE", sgi_table),
            ("DATA_BASE", Self::DATA_BASE),
            ("KERNEL_DATA", Self::KERNEL_DATA),
        ]
        .into_iter()
        .chain(kernel.symbols())
        {
            symbols.insert(name.to_string(), v);
        }
        let mut mem = FlatMemory::new();
        for cpu in 0..cpus {
            let one = encode_sgi1r(0, &[cpu], topo).expect("every core of the topology is addressable");
            mem.init(sgi_table + 8 * cpu as u64, one);
        }
        let threads = (0..cpus)
            .map(|cpu| {
                let area = Self::percpu(cpu);
                ThreadInit {
                    pc: 0,
                    el: 1,
                    daif: 0xf,
                    regs: vec![(Reg::SP, area + Self::PERCPU_SIZE)],
                    sysregs: vec![(SysReg::TpidrEl1, area), (SysReg::SpEl1, area + Self::PERCPU_SIZE)],
                }
            })
            .collect();
        System {
            cpus,
            symbols,
            code: CodeSpace::new(),
            mem,
            threads,
            next_data: Self::DATA_BASE,
            protocol: kernel.protocol,
        }
    }

    /// As [`System::with_kernel`], with only the first `cpus` cores of
    /// `topo` (a scenario that needs fewer CPUs than the machine has):
    /// `NR_CPUS` is `cpus` and there are `cpus` threads. Panics if `cpus` is
    /// 0 or more than the topology has.
    pub fn with_cpus(topo: &Topology, kernel: &KernelConfig, cpus: usize) -> Self {
        assert!((1..=topo.num_cores()).contains(&cpus), "{cpus} CPUs on a {}-core topology", topo.num_cores());
        let mut sys = Self::with_kernel(topo, kernel);
        sys.cpus = cpus;
        sys.threads.truncate(cpus);
        sys.symbols.insert("NR_CPUS".to_string(), cpus as u64);
        sys
    }

    /// Address of `cpu`'s per-CPU area.
    pub fn percpu(cpu: usize) -> Addr {
        Self::PERCPU_BASE + ((cpu as u64) << Self::PERCPU_SHIFT)
    }

    /// Number of CPUs.
    pub fn cpus(&self) -> usize {
        self.cpus
    }

    /// Assembles `text` (from `file`, for error messages) at `base` with
    /// every symbol defined so far, then exports its labels and `.equ`
    /// constants as symbols. A name that is already a symbol keeps its
    /// first value.
    pub fn load(&mut self, file: &str, text: &str, base: Addr) -> Result<(), LoadError> {
        let prog =
            assemble_with(text, base, &self.symbols).map_err(|error| LoadError::Asm { file: file.into(), error })?;
        if self.code.programs().iter().any(|q| !(prog.end() <= q.base || q.end() <= prog.base || prog.insts.is_empty()))
        {
            return Err(LoadError::Overlap { file: file.into(), base: prog.base, end: prog.end() });
        }
        for (name, &v) in prog.labels.iter().chain(&prog.constants) {
            self.symbols.entry(name.clone()).or_insert(v);
        }
        if let Some(&v) = self.symbols.get("vectors") {
            for t in &mut self.threads {
                if !t.sysregs.iter().any(|(r, _)| *r == SysReg::VbarEl1) {
                    t.sysregs.push((SysReg::VbarEl1, v));
                }
            }
        }
        self.code.add(prog);
        Ok(())
    }

    /// Assembles several files as one program at `base` (their labels may
    /// refer to each other, as a linker would allow); errors name the file
    /// and the line within it.
    pub fn load_unit(&mut self, files: &[(&str, &str)], base: Addr) -> Result<(), LoadError> {
        let mut text = String::new();
        let mut starts = vec![];
        for (name, body) in files {
            starts.push((text.lines().count(), *name));
            text.push_str(body);
            if !body.ends_with('\n') {
                text.push('\n');
            }
        }
        self.load("", &text, base).map_err(|e| match e {
            LoadError::Asm { mut error, .. } => {
                let (first, file) =
                    starts.iter().rev().find(|(first, _)| *first < error.line).copied().unwrap_or((0, ""));
                error.line -= first;
                LoadError::Asm { file: file.to_string(), error }
            }
            LoadError::Overlap { base, end, .. } => {
                LoadError::Overlap { file: files.iter().map(|f| f.0).collect::<Vec<_>>().join("+"), base, end }
            }
            other => other,
        })
    }

    /// Loads the kernel ([`crate::kernel::files`] of the protocol the
    /// system's kernel configuration names) at [`System::KERNEL_TEXT`] and
    /// declares its patch sites ([`crate::kernel::PATCH_SITES`]).
    pub fn load_kernel(&mut self) -> Result<(), LoadError> {
        self.load_kernel_from(&crate::kernel::files(self.protocol))
    }

    /// Loads a kernel given as (file name, text) pairs, assembled as one
    /// unit in that order, at [`System::KERNEL_TEXT`]: the shipped kernel
    /// with some files replaced by a protocol variant, say. It must define
    /// the patch sites ([`crate::kernel::PATCH_SITES`]).
    pub fn load_kernel_from(&mut self, files: &[(&str, &str)]) -> Result<(), LoadError> {
        self.load_unit(files, Self::KERNEL_TEXT)?;
        for site in crate::kernel::PATCH_SITES {
            let pc = self.symbol(site).ok_or_else(|| LoadError::NoSuchLabel(site.to_string()))?;
            self.code.mark_patchable(pc);
        }
        Ok(())
    }

    /// Defines a symbol for programs loaded from now on (a loader's
    /// constant, a command-line definition). Returns false, changing
    /// nothing, if it exists already.
    pub fn define(&mut self, name: &str, value: u64) -> bool {
        if self.symbols.contains_key(name) {
            return false;
        }
        self.symbols.insert(name.to_string(), value);
        true
    }

    /// The value of a symbol or label.
    pub fn symbol(&self, name: &str) -> Option<u64> {
        self.symbols.get(name).copied()
    }

    /// Every symbol, by name.
    pub fn symbols(&self) -> &Symbols {
        &self.symbols
    }

    /// Reserves `bytes` of data memory aligned to 64 bytes (a cache line),
    /// defines `name` as its address and returns it.
    pub fn alloc(&mut self, name: &str, bytes: u64) -> Addr {
        let addr = self.next_data;
        self.next_data = (addr + bytes.max(1)).next_multiple_of(64);
        self.symbols.insert(name.to_string(), addr);
        addr
    }

    /// As [`System::alloc`], aligned to `align` bytes (a power of two; at
    /// least a cache line), e.g. a page that page tables map.
    pub fn alloc_aligned(&mut self, name: &str, bytes: u64, align: u64) -> Addr {
        assert!(align.is_power_of_two(), "alignment {align} is not a power of two");
        self.next_data = self.next_data.next_multiple_of(align.max(64));
        self.alloc(name, bytes)
    }

    /// Sets the initial 64-bit value at `addr`.
    pub fn poke(&mut self, addr: Addr, value: u64) {
        self.mem.init(addr, value);
    }

    /// Starts `cpu` at `label` (at `el`, with interrupt masks `daif`).
    pub fn start(&mut self, cpu: usize, label: &str, el: u8, daif: u8) -> Result<(), LoadError> {
        let pc = self.symbol(label).filter(|&a| self.code.contains(a));
        let pc = pc.ok_or_else(|| LoadError::NoSuchLabel(label.to_string()))?;
        let t = &mut self.threads[cpu];
        t.pc = pc;
        t.el = el;
        t.daif = daif;
        Ok(())
    }

    /// Sets a register of `cpu` at start-up.
    pub fn set_reg(&mut self, cpu: usize, reg: Reg, value: u64) {
        let regs = &mut self.threads[cpu].regs;
        regs.retain(|(r, _)| *r != reg);
        regs.push((reg, value));
    }

    /// Sets a system register of `cpu` at start-up.
    pub fn set_sysreg(&mut self, cpu: usize, reg: SysReg, value: u64) {
        let regs = &mut self.threads[cpu].sysregs;
        regs.retain(|(r, _)| *r != reg);
        regs.push((reg, value));
    }

    /// The code.
    pub fn code(&self) -> &CodeSpace {
        &self.code
    }

    /// The code, e.g. to declare patchable instructions.
    pub fn code_mut(&mut self) -> &mut CodeSpace {
        &mut self.code
    }

    /// Initial memory.
    pub fn memory(&self) -> &FlatMemory {
        &self.mem
    }

    /// Initial memory, e.g. for page tables.
    pub fn memory_mut(&mut self) -> &mut FlatMemory {
        &mut self.mem
    }

    /// Start-up state of every CPU.
    pub fn threads(&self) -> &[ThreadInit] {
        &self.threads
    }

    /// Splits the system into what [`cpu_model::machine::Machine::new`] takes.
    pub fn into_parts(self) -> (CodeSpace, Vec<ThreadInit>, FlatMemory) {
        (self.code, self.threads, self.mem)
    }

    /// Boots the system on a machine configured by `cfg` and runs it, timed,
    /// until the CPUs in `finish` are done (the others may idle forever) or
    /// `limit` cycles pass. Returns the engine, to read the machine's state,
    /// and the cycle at which the run ended.
    pub fn run_until_done(
        self,
        cfg: &MachineConfig,
        finish: Vec<usize>,
        limit: Cycle,
    ) -> Result<(Engine<Machine>, Cycle), RunError> {
        let cpus = self.threads.len();
        let (code, threads, mem) = self.into_parts();
        let mut machine = Machine::new(Arc::new(cfg.clone()), Arc::new(code), &threads, mem);
        machine.finish_when_done(Some(finish));
        let mut engine = Engine::new(machine);
        let end = cpu_model::machine::run(&mut engine, &vec![0; cpus], limit)?;
        Ok((engine, end))
    }
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, v) in &self.symbols {
            writeln!(f, "{name:<32} {v:#x}")?;
        }
        Ok(())
    }
}
