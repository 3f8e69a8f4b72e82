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

use cpu_model::asm::{AsmError, Program, Symbols, assemble_with};
use cpu_model::code::CodeSpace;
use cpu_model::gic::encode_sgi1r;
use cpu_model::isa::{Inst, Reg, SysReg};
use cpu_model::machine::{Machine, MachineConfig, RunError, ThreadInit};
use cpu_model::topology::Topology;
use memory_model::Addr;
use memory_model::memory::FlatMemory;
use sim::{Cycle, Engine};

use crate::kernel::KernelConfig;
use crate::protocol::label_of;

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
    /// Two programs' code overlap. Programs grow upwards from their bases, so
    /// the one that starts lower ran into the other: it is the one named, at
    /// the line whose code (or `.org`/alignment padding) reaches the other's base.
    #[error(
        "{}: code here reaches {other_base:#x}, where {other} starts (this program: {base:#x}..{end:#x})",
        at(file, *line)
    )]
    Overlap {
        /// The file whose code reaches too far.
        file: String,
        /// Its line that reaches `other_base` (0: unknown).
        line: usize,
        /// First address of its program.
        base: Addr,
        /// One past its program's last instruction.
        end: Addr,
        /// The program it runs into (its files).
        other: String,
        /// Where that program starts.
        other_base: Addr,
    },
    /// A label named at start-up that no program defines.
    #[error("no program defines `{0}`")]
    NoSuchLabel(String),
    /// A label the kernel needs, missing from the file that replaced the
    /// shipped file defining it (a protocol variant, a `--kernel-file`).
    #[error("{}", missing_label(label, file, *line, after.as_deref(), shipped))]
    MissingLabel {
        /// The label.
        label: String,
        /// The loaded file that should define it.
        file: String,
        /// The line of `after` in `file` (0: none).
        line: usize,
        /// The nearest label before it in the shipped file that `file` defines too, if any.
        after: Option<String>,
        /// The shipped file that defines it.
        shipped: String,
    },
}

/// `file:line:1`, or `file` when the line is unknown (0).
fn at(file: &str, line: usize) -> String {
    if line == 0 { file.to_string() } else { format!("{file}:{line}:1") }
}

fn missing_label(label: &str, file: &str, line: usize, after: Option<&str>, shipped: &str) -> String {
    match after {
        Some(f) => {
            format!("{}: no `{label}` label after `{f}`: the kernel needs it ({shipped} has it there)", at(file, line))
        }
        None => format!("{file}: no `{label}` label: the kernel needs it ({shipped} defines it)"),
    }
}

/// The files a loaded program was assembled from: each file's name with the
/// program line its text starts after.
#[derive(Clone, Debug)]
struct Origin {
    base: Addr,
    files: Vec<(usize, String)>,
}

impl Origin {
    /// The file and the line in it of program line `line`.
    fn locate(&self, line: usize) -> (String, usize) {
        match self.files.iter().rev().find(|(first, _)| *first < line).or(self.files.first()) {
            Some((first, file)) => (file.clone(), line.saturating_sub(*first)),
            None => (String::new(), line),
        }
    }

    fn name(&self) -> String {
        self.files.iter().map(|f| f.1.as_str()).collect::<Vec<_>>().join("+")
    }
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
    /// Where each loaded program came from, for messages.
    origins: Vec<Origin>,
    /// The kernel's files as loaded (name, text), for messages about labels it lacks.
    kernel_files: Vec<(String, String)>,
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
            origins: vec![],
            kernel_files: vec![],
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
        self.load_files(vec![(0, file.to_string())], text, base)
    }

    /// [`System::load`] of `text`, made of `files` (each starting after a program line).
    fn load_files(&mut self, files: Vec<(usize, String)>, text: &str, base: Addr) -> Result<(), LoadError> {
        let origin = Origin { base, files };
        let prog = assemble_with(text, base, &self.symbols).map_err(|mut error| {
            let (file, line) = origin.locate(error.line);
            error.line = line;
            LoadError::Asm { file, error }
        })?;
        // The same test as CodeSpace::add, which must not fail.
        if let Some(q) = self
            .code
            .programs()
            .iter()
            .find(|q| !(prog.end() <= q.base || q.end() <= prog.base || prog.insts.is_empty()))
        {
            // Code added through code_mut() has no origin: name it by its address.
            let unknown = Origin { base: q.base, files: vec![(0, format!("the code at {:#x}", q.base))] };
            let q_origin = self.origins.iter().find(|o| o.base == q.base).unwrap_or(&unknown);
            return Err(Self::overlap((q, q_origin), (&prog, &origin)));
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
        self.origins.push(origin);
        Ok(())
    }

    /// The error for overlapping programs `a` and `b`: the one starting lower
    /// (the later one on a tie) reached into the other's base.
    fn overlap(a: (&Program, &Origin), b: (&Program, &Origin)) -> LoadError {
        let ((low, low_origin), (high, high_origin)) = if a.0.base < b.0.base { (a, b) } else { (b, a) };
        let index = ((high.base - low.base) / Inst::BYTES) as usize;
        let (file, line) = match low.lines.get(index) {
            Some(&l) => low_origin.locate(l),
            None => (low_origin.name(), 0),
        };
        LoadError::Overlap {
            file,
            line,
            base: low.base,
            end: low.end(),
            other: high_origin.name(),
            other_base: high.base,
        }
    }

    /// Assembles several files as one program at `base` (their labels may
    /// refer to each other, as a linker would allow); errors name the file
    /// and the line within it.
    pub fn load_unit(&mut self, files: &[(&str, &str)], base: Addr) -> Result<(), LoadError> {
        let mut text = String::new();
        let mut starts = vec![];
        for (name, body) in files {
            starts.push((text.lines().count(), name.to_string()));
            text.push_str(body);
            if !body.ends_with('\n') {
                text.push('\n');
            }
        }
        self.load_files(starts, &text, base)
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
        self.kernel_files = files.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
        self.load_unit(files, Self::KERNEL_TEXT).map_err(|e| match &e {
            // A label the kernel branches to: the file that should define it is at fault, not the branch.
            LoadError::Asm { error, .. } => match error.undefined_label() {
                Some(name) => match self.missing(name) {
                    LoadError::NoSuchLabel(_) => e,
                    blamed => blamed,
                },
                None => e,
            },
            _ => e,
        })?;
        for site in crate::kernel::PATCH_SITES {
            let pc = self.label(site)?;
            self.code.mark_patchable(pc);
        }
        Ok(())
    }

    /// The value of a label the caller needs, or an error naming the file
    /// that should define it: when the shipped kernel defines it, the
    /// loaded file in that file's place (a protocol variant, a replaced
    /// kernel file), at the line of the function that should hold it.
    pub fn label(&self, name: &str) -> Result<u64, LoadError> {
        self.symbol(name).ok_or_else(|| self.missing(name))
    }

    /// Why label `name` is missing: see [`System::label`].
    fn missing(&self, name: &str) -> LoadError {
        let mut shipped = crate::kernel::FILES.to_vec();
        shipped.push(self.protocol.file());
        let Some(i) = shipped.iter().position(|(_, t)| t.lines().any(|l| label_of(l) == Some(name))) else {
            return LoadError::NoSuchLabel(name.to_string());
        };
        // Replaced kernel files keep their place; the protocol (a variant's own text) comes last.
        let loaded = if i < crate::kernel::FILES.len() { self.kernel_files.get(i) } else { self.kernel_files.last() };
        let Some((file, text)) = loaded.filter(|_| self.kernel_files.len() >= shipped.len()) else {
            return LoadError::NoSuchLabel(name.to_string());
        };
        // Point at the nearest label before it that the loaded file has too (its function, usually).
        let mut before = vec![];
        for l in shipped[i].1.lines().filter_map(label_of) {
            if l == name {
                break;
            }
            before.push(l);
        }
        let found =
            before.iter().rev().find_map(|&f| text.lines().position(|l| label_of(l) == Some(f)).map(|k| (f, k + 1)));
        LoadError::MissingLabel {
            label: name.to_string(),
            file: file.clone(),
            line: found.map_or(0, |f| f.1),
            after: found.map(|f| f.0.to_string()),
            shipped: shipped[i].0.to_string(),
        }
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

    /// [`System::poke`] of each (address, value): a table of any length in one merge.
    pub fn poke_all(&mut self, values: impl IntoIterator<Item = (Addr, u64)>) {
        self.mem.init_all(values);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{FILES, Protocol};
    use crate::protocol::ProtocolFile;

    fn with_variant(text: &str) -> (System, Result<(), LoadError>) {
        let topo = Topology::new(&Default::default()).unwrap();
        let mut sys = System::with_kernel(&topo, &KernelConfig { protocol: Protocol::Deferred, ..Default::default() });
        let files = ProtocolFile::parse("mine.S", text).unwrap().kernel_files();
        let refs: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
        let loaded = sys.load_kernel_from(&refs);
        (sys, loaded)
    }

    #[test]
    fn code_that_runs_into_a_later_program_is_blamed_on_its_own_line() {
        let (mut sys, loaded) =
            with_variant("// @base deferred\nisolation_publish:\n        RET\n        .org 0x300004\n");
        loaded.unwrap();
        let e = sys.load("user.S", "NOP\n", System::USER_TEXT).unwrap_err().to_string();
        assert!(
            e.starts_with("mine.S:4:1: code here reaches 0x400000, where user.S starts (this program: 0x100000.."),
            "{e}"
        );
        // A program loaded below another and reaching into it is the one blamed, at the line that reaches.
        let e = sys.load("low.S", "NOP\nNOP\n.org 0x200\nNOP\n", System::KERNEL_TEXT - 0x100).unwrap_err().to_string();
        assert!(e.starts_with("low.S:3:1: code here reaches 0x100000, where workloads/kernel/entry.S+"), "{e}");
    }

    #[test]
    fn a_label_the_kernel_needs_is_asked_of_the_file_that_replaced_its_definition() {
        let (sys, loaded) = with_variant("// @base deferred\n\nenter_from_user_mode:\n        RET\n");
        loaded.unwrap();
        assert_eq!(
            sys.label("entry_hook_done").unwrap_err().to_string(),
            "mine.S:3:1: no `entry_hook_done` label after `enter_from_user_mode`: the kernel needs it \
             (workloads/protocols/deferred.S has it there)"
        );
        assert_eq!(sys.label("nowhere").unwrap_err().to_string(), "no program defines `nowhere`");
        // A replaced kernel file that defines none of the labels before the missing one.
        let topo = Topology::new(&Default::default()).unwrap();
        let mut sys = System::with_kernel(&topo, &KernelConfig::default());
        let mut files = crate::kernel::files(Protocol::Broadcast);
        let i = FILES.iter().position(|f| f.0.ends_with("isolation.S")).unwrap();
        files[i] = ("my-isolation.S", "sys_isolate:\n        RET\n");
        let e = sys.load_kernel_from(&files).unwrap_err().to_string();
        assert_eq!(
            e,
            "my-isolation.S:1:1: no `sys_touch` label after `sys_isolate`: the kernel needs it (workloads/kernel/isolation.S has it there)"
        );
    }
}
