//! Scenarios: user-written programs on the simulated machine (`isolsim exec`).
//!
//! A scenario is a TOML file that lays out a [`System`]: the kernel, data, the programs (assembler
//! text in files next to it, or inline), optional page tables, and what every CPU starts with. It
//! is run on a machine built from a configuration ([`crate::config`]) and reports what happened:
//! exceptions, stale instructions and stale translations, and the memory cells and registers the
//! scenario asks for.
//!
//! ```toml
//! kernel = true                  # load the kernel (workloads/kernel/*.S) first (default)
//! cpus = 4                       # optional: the first N cores of the topology (default: all)
//! finish = [0, 1]                # optional: the run ends when these CPUs are done
//!                                # (default: every CPU with a [[cpu]] entry)
//! max_cycles = 1_000_000         # optional (default 100 000 000)
//!
//! [defines]                      # symbols for every program; `--define NAME=VALUE` overrides
//! SYNC = 1
//!
//! [[data]]                       # System::alloc: `name` is the address of the cells
//! name = "log"
//! bytes = "8 * 64"               # zeroed bytes, or `words = [1, 2, "log + 8"]` (8-byte cells)
//! # align = 4096                 # optional, e.g. for a page that a [[map]] maps
//!
//! [[encode]]                     # a symbol whose value is the encoding of one instruction
//! name = "NEW_INSN"
//! insn = "MOV X0, #2"
//!
//! [[program]]
//! file = "patch-text.S"          # relative to the scenario file; or `text = """..."""`
//! patchable = ["site"]           # labels of instructions that stores may change
//! # base = 0x500000              # optional (default: the next free page from USER_TEXT)
//!
//! [[map]]                        # optional page tables (see below)
//! name = "buf"                   # defines `buf` (the VA) and `buf_pte` (its leaf descriptor)
//! va = 0x40000000
//! pa = "page"
//! pages = 1                      # default 1; flags `user`, `read_only`, `global` default false
//!
//! [[cpu]]
//! cpus = "1"                     # "0", "1-7", "1,3,5-6", "all"; a later entry overrides
//! start = "reader"               # a label
//! el = 1                         # 0 or 1 (default 1)
//! irqs = true                    # interrupts unmasked (default false: DAIF.I set)
//! mmu = true                     # TTBR0_EL1 = the tables' root, SCTLR_EL1.M = 1
//! regs = { x0 = 5, x1 = "log + CPU * 8" }
//!
//! [report]
//! words = ["log", "log + 8"]     # 8-byte cells to print (physical addresses)
//! regs = ["1:x0"]                # CPU:register
//! ```
//!
//! **Values.** Every number may also be a string holding a constant expression in the
//! assembler's immediate syntax ([`cpu_model::asm::eval`]) over the symbols defined so far:
//! the layout constants of [`System`] (`NR_CPUS`, `PERCPU_BASE`, …), the kernel's labels, the
//! defines, data and map names, and, once the programs are loaded, their labels. `[[cpu]]`
//! registers may also use `CPU`, the number of the CPU being set up.
//!
//! **Order.** The kernel is loaded first, then the defines (in file order), the data, the maps,
//! the encodings and the programs (in order; each program's labels are symbols for the next
//! ones, the first definition of a name winning). Data `words` are evaluated after all programs,
//! so they may hold code addresses. An `[[encode]]` instruction may branch only to labels known
//! before the programs (the kernel's).
//!
//! **Programs** end by running off their last instruction; each default base leaves a gap after
//! the previous program so that this always ends the CPU. CPUs without a `[[cpu]]` entry run the
//! kernel's `cpu_idle` (interrupts on, asleep in WFI), or nothing without a kernel.
//!
//! **Page tables.** When a `[[map]]` is given or a CPU has `mmu = true`, the loader reserves a
//! pool of table pages in data memory (symbol `PAGE_TABLES`) and builds one address space with
//! [`PageTableBuilder`]: every region the system uses (the programs, per-CPU areas, call-function
//! descriptors, SGI table, data and the tables themselves) identity-mapped, global and
//! kernel-only; then each `[[map]]`, which replaces an identity mapping it overlaps (an EL0
//! program with the MMU on needs its code mapped with `user = true`). `NAME_pte` is the address
//! of the first page's leaf descriptor: a program unmaps the page with `STR XZR, [X0]`.
//!
//! **Errors** are [`ScenarioError`]s, `file:line:col: message`; inline program text is
//! positioned inside the scenario file.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::ops::Range;
use std::path::{Path, PathBuf};

use cpu_model::asm::{self, Symbols};
use cpu_model::code::CodeSpace;
use cpu_model::core::ExceptionKind;
use cpu_model::isa::{Disasm, Inst, Reg, SysReg, Width};
use cpu_model::machine::RunError;
use cpu_model::topology::Topology;
use memory_model::tlb::{PageFlags, PageTableBuilder};
use memory_model::{Addr, Mode, WriteId};
use serde::{Deserialize, Serialize};
use sim::Cycle;
use toml::Spanned;
use workloads::experiment::chrome_trace::{ChromeTrace, TraceWindow, machine_trace};
use workloads::system::{LoadError, System};

use crate::config::{self, Config, ConfigError};

/// Default cycle budget of a run.
pub const DEFAULT_MAX_CYCLES: Cycle = 100_000_000;

/// Bytes reserved for page tables when a scenario uses the MMU: 512 pages of 4 KiB, far more
/// than identity maps of the system's few regions need (memory is sparse, unused pages cost
/// nothing).
const TABLE_POOL_PAGES: u64 = 512;

/// Records of one kind printed in text form (the JSON form has them all).
const TEXT_RECORDS: usize = 20;

// ---------------------------------------------------------------------------------------------
// Errors.

/// A scenario that cannot be run as written: `file:line:col: message`, or `file: message`
/// where no position applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file the error is in (the scenario, or a program file).
    pub file: String,
    /// 1-based line and column, when the error has a position.
    pub pos: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some((line, col)) => write!(f, "{}:{line}:{col}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

impl From<workloads::input::ReadError> for ScenarioError {
    fn from(e: workloads::input::ReadError) -> Self {
        ScenarioError { file: e.path, pos: e.pos, message: e.message }
    }
}

/// Why `isolsim exec` failed.
#[derive(Debug)]
pub enum ExecError {
    /// The machine configuration could not be read.
    Config(ConfigError),
    /// The scenario (or a program, a define) is wrong.
    Scenario(ScenarioError),
    /// The run did not finish (or stored to code that is not patchable).
    Run {
        /// The scenario file.
        file: String,
        /// What went wrong, with what the unfinished CPUs are doing.
        error: RunError,
    },
}

impl ExecError {
    /// The process exit code: 2 for bad input, 1 for a run that did not finish.
    pub fn exit_code(&self) -> u8 {
        match self {
            ExecError::Config(_) | ExecError::Scenario(_) => 2,
            ExecError::Run { .. } => 1,
        }
    }
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecError::Config(e) => e.fmt(f),
            ExecError::Scenario(e) => e.fmt(f),
            ExecError::Run { file, error } => write!(f, "{file}: {error}"),
        }
    }
}

impl std::error::Error for ExecError {}

impl From<ScenarioError> for ExecError {
    fn from(e: ScenarioError) -> Self {
        ExecError::Scenario(e)
    }
}

// ---------------------------------------------------------------------------------------------
// The file format, as read.

/// A number, or a constant expression in a string.
#[derive(Clone, Debug, PartialEq)]
enum Expr {
    Int(u64),
    Text(String),
}

impl<'de> Deserialize<'de> for Expr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Expr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a string holding a constant expression")
            }
            fn visit_i64<E>(self, v: i64) -> Result<Expr, E> {
                // Negative numbers are two's complement, as in the assembler.
                Ok(Expr::Int(v as u64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Expr, E> {
                Ok(Expr::Int(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Expr, E> {
                Ok(Expr::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    #[serde(default = "yes")]
    kernel: bool,
    cpus: Option<Spanned<u64>>,
    finish: Option<Spanned<Vec<Spanned<u64>>>>,
    max_cycles: Option<u64>,
    #[serde(default)]
    defines: BTreeMap<Spanned<String>, Spanned<Expr>>,
    #[serde(default)]
    data: Vec<Spanned<RawData>>,
    #[serde(default)]
    encode: Vec<RawEncode>,
    #[serde(default)]
    program: Vec<Spanned<RawProgram>>,
    #[serde(default)]
    map: Vec<RawMap>,
    #[serde(default)]
    cpu: Vec<RawCpu>,
    #[serde(default)]
    report: RawReport,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawData {
    name: Spanned<String>,
    words: Option<Vec<Spanned<Expr>>>,
    bytes: Option<Spanned<Expr>>,
    align: Option<Spanned<Expr>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEncode {
    name: Spanned<String>,
    insn: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProgram {
    file: Option<Spanned<String>>,
    text: Option<Spanned<String>>,
    base: Option<Spanned<Expr>>,
    #[serde(default)]
    patchable: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMap {
    name: Spanned<String>,
    va: Spanned<Expr>,
    pa: Spanned<Expr>,
    pages: Option<Spanned<Expr>>,
    #[serde(default)]
    user: bool,
    #[serde(default)]
    read_only: bool,
    #[serde(default)]
    global: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCpu {
    cpus: Spanned<Expr>,
    start: Spanned<String>,
    el: Option<Spanned<u8>>,
    #[serde(default)]
    irqs: bool,
    #[serde(default)]
    mmu: bool,
    #[serde(default)]
    regs: BTreeMap<Spanned<String>, Spanned<Expr>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReport {
    #[serde(default)]
    words: Vec<Spanned<String>>,
    #[serde(default)]
    regs: Vec<Spanned<String>>,
}

/// A scenario file, read and checked for syntax and types; [`Scenario::prepare`] lays it out.
#[derive(Debug)]
pub struct Scenario {
    name: String,
    dir: PathBuf,
    text: String,
    raw: RawScenario,
}

impl Scenario {
    /// Reads the scenario at `path` (program files are relative to its directory).
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let name = path.display().to_string();
        let text = workloads::input::read_text_at_most(path, workloads::input::MAX_TOML_BYTES)?;
        Self::parse(&name, path.parent().unwrap_or(Path::new("")), &text)
    }

    /// Reads scenario text; `name` names it in errors, `dir` is where program files are.
    pub fn parse(name: &str, dir: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        const TABLES: [&str; 6] = ["data[]", "encode[]", "program[]", "map[]", "cpu[]", "report"];
        let raw = config::parse_toml_tables::<RawScenario>(name, text, &TABLES).map_err(|c| ScenarioError {
            file: name.to_string(),
            pos: c.pos,
            message: c.message,
        })?;
        Ok(Scenario { name: name.to_string(), dir: dir.to_path_buf(), text: text.to_string(), raw })
    }

    /// The file name used in errors and reports.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn err(&self, at: usize, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: self.name.clone(),
            pos: Some(crate::config::line_col(&self.text, at)),
            message: message.into(),
        }
    }

    fn err_file(&self, message: impl Into<String>) -> ScenarioError {
        ScenarioError { file: self.name.clone(), pos: None, message: message.into() }
    }

    /// An error at column `col` (1-based) of line `line` of the string value at `span`; at the
    /// string itself when escapes make the column uncertain.
    fn err_in_str(&self, span: &Range<usize>, line: usize, col: usize, message: impl Into<String>) -> ScenarioError {
        let pos = match string_contents_start(&self.text, span.clone()) {
            Some(start) => {
                let (l0, c0) = crate::config::line_col(&self.text, start);
                if line <= 1 { (l0, c0 + col.saturating_sub(1)) } else { (l0 + line - 1, col) }
            }
            None => crate::config::line_col(&self.text, span.start),
        };
        ScenarioError { file: self.name.clone(), pos: Some(pos), message: message.into() }
    }

    /// Evaluates a number or expression over `syms`.
    fn eval(&self, v: &Spanned<Expr>, syms: &Symbols) -> Result<u64, ScenarioError> {
        match v.get_ref() {
            Expr::Int(n) => Ok(*n),
            Expr::Text(t) => asm::eval(t, syms).map_err(|(col, msg)| self.err_in_str(&v.span(), 1, col, msg)),
        }
    }

    /// Evaluates `v` and checks it against `max` (sizes, counts).
    fn eval_at_most(&self, v: &Spanned<Expr>, syms: &Symbols, what: &str, max: u64) -> Result<u64, ScenarioError> {
        let n = self.eval(v, syms)?;
        if n > max {
            return Err(self.err(v.span().start, format!("{what} = {n} is too large (at most {max})")));
        }
        Ok(n)
    }

    /// Checks that `name` can be a new symbol.
    fn new_symbol(&self, sys: &System, name: &Spanned<String>) -> Result<(), ScenarioError> {
        let n = name.get_ref();
        let ident = n.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '.')
            && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$'));
        if !ident {
            return Err(self.err(name.span().start, format!("`{n}` is not a symbol name (letters, digits, `_`)")));
        }
        if asm::parse_reg(n).is_some() {
            return Err(self.err(name.span().start, format!("`{n}` is a register name and cannot be a symbol")));
        }
        if sys.symbol(n).is_some() {
            return Err(self.err(name.span().start, format!("symbol `{n}` is already defined")));
        }
        Ok(())
    }

    /// Lays the scenario out on a machine configured by `cfg`, with command-line `defines`
    /// (`NAME`, value text) overriding the file's `[defines]`.
    pub fn prepare(&self, cfg: &Config, defines: &[(String, String)]) -> Result<Prepared, ScenarioError> {
        let raw = &self.raw;
        let topo = Topology::new(&cfg.machine.topology).map_err(|e| self.err_file(format!("configuration: {e}")))?;
        let cores = topo.num_cores();
        let cpus = match &raw.cpus {
            None => cores,
            Some(n) if *n.get_ref() == 0 || *n.get_ref() > cores as u64 => {
                return Err(self.err(
                    n.span().start,
                    format!("cpus = {}, but the configuration's topology has {cores} cores", n.get_ref()),
                ));
            }
            Some(n) => *n.get_ref() as usize,
        };
        let mut sys = System::with_cpus(&topo, &cfg.kernel, cpus);
        if raw.kernel {
            sys.load_kernel().map_err(|e| self.err_file(format!("loading the kernel: {e}")))?;
        }
        let defines = self.define(&mut sys, defines)?;

        // Data: addresses now, contents once every label is known. Each entry's size and where it
        // is set, to point at the largest when the data cannot be mapped.
        let mut sizes: Vec<(usize, u64)> = vec![];
        for d in &raw.data {
            let d = d.get_ref();
            self.new_symbol(&sys, &d.name)?;
            let bytes = match (&d.words, &d.bytes) {
                (Some(w), None) => {
                    sizes.push((d.name.span().start, 8 * w.len() as u64));
                    8 * w.len() as u64
                }
                (None, Some(b)) => {
                    let n = self.eval_at_most(b, sys.symbols(), "bytes", 1 << 32)?;
                    sizes.push((b.span().start, n));
                    n
                }
                _ => {
                    return Err(self.err(
                        d.name.span().start,
                        format!("[[data]] `{}` needs exactly one of `words` and `bytes`", d.name.get_ref()),
                    ));
                }
            };
            match &d.align {
                None => sys.alloc(d.name.get_ref(), bytes),
                Some(a) => {
                    let align = self.eval(a, sys.symbols())?;
                    if !align.is_power_of_two() || align > 1 << 30 {
                        return Err(self.err(a.span().start, format!("align = {align} is not a power of two")));
                    }
                    sys.alloc_aligned(d.name.get_ref(), bytes, align)
                }
            };
        }

        // Page tables: the pool and the scenario's maps now (programs use their symbols), the
        // identity maps of the whole layout once the programs are placed.
        let mut tables = if !raw.map.is_empty() || raw.cpu.iter().any(|c| c.mmu) {
            Some(self.map_pages(&mut sys, cfg, sizes)?)
        } else {
            None
        };

        for e in &raw.encode {
            self.new_symbol(&sys, &e.name)?;
            let value = self.encode(&mut sys, &e.insn)?;
            sys.define(e.name.get_ref(), value);
        }

        let programs = self.load_programs(&mut sys)?;

        for d in &raw.data {
            let d = d.get_ref();
            let base = sys.symbol(d.name.get_ref()).expect("allocated above");
            for (i, w) in d.words.iter().flatten().enumerate() {
                let v = self.eval(w, sys.symbols())?;
                sys.poke(base + 8 * i as u64, v);
            }
        }

        let root = match &mut tables {
            Some(t) => Some(self.identity_map(&mut sys, cfg, t, cpus, &programs)?),
            None => None,
        };
        let started = self.start_cpus(&mut sys, cpus, root)?;

        let finish = match &raw.finish {
            None => started.clone(),
            Some(list) => {
                if list.get_ref().is_empty() {
                    return Err(self.err(list.span().start, "`finish` is empty: name the CPUs whose end ends the run"));
                }
                let mut f = BTreeSet::new();
                for c in list.get_ref() {
                    if *c.get_ref() >= cpus as u64 {
                        return Err(
                            self.err(c.span().start, format!("CPU {} does not exist ({cpus} CPUs)", c.get_ref()))
                        );
                    }
                    f.insert(*c.get_ref() as usize);
                }
                f.into_iter().collect()
            }
        };
        if finish.is_empty() {
            return Err(self.err_file("no [[cpu]] entry: nothing to run"));
        }

        let mut words = vec![];
        for w in &raw.report.words {
            let addr = asm::eval(w.get_ref(), sys.symbols()).map_err(|(c, m)| self.err_in_str(&w.span(), 1, c, m))?;
            words.push((w.get_ref().trim().to_string(), addr));
        }
        let mut regs = vec![];
        for r in &raw.report.regs {
            let (cpu, reg) = self.report_reg(r, cpus)?;
            regs.push((r.get_ref().trim().to_string(), cpu, reg));
        }

        Ok(Prepared {
            scenario: self.name.clone(),
            system: sys,
            cpus,
            topology_cores: cores,
            finish,
            max_cycles: raw.max_cycles.unwrap_or(DEFAULT_MAX_CYCLES),
            defines,
            maps: tables.as_ref().map_or(vec![], Tables::named),
            words,
            regs,
        })
    }

    /// Applies `[defines]` in file order, each overridden by a command-line definition of the
    /// same name; a command-line name the file does not define is an error (a typo would
    /// otherwise change nothing).
    fn define(&self, sys: &mut System, cli: &[(String, String)]) -> Result<Vec<(String, u64)>, ScenarioError> {
        let mut file: Vec<(&Spanned<String>, &Spanned<Expr>)> = self.raw.defines.iter().collect();
        file.sort_by_key(|(k, _)| k.span().start);
        for (name, value) in cli {
            if !file.iter().any(|(k, _)| k.get_ref() == name) {
                let known: Vec<&str> = file.iter().map(|(k, _)| k.get_ref().as_str()).collect();
                let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
                return Err(self.err_file(format!(
                    "--define {name}={value}: the scenario's [defines] has no `{name}` (it has: {known})"
                )));
            }
        }
        let mut out = vec![];
        for (name, value) in file {
            self.new_symbol(sys, name)?;
            let v = match cli.iter().rev().find(|(n, _)| n == name.get_ref()) {
                Some((n, text)) => asm::eval(text, sys.symbols())
                    .map_err(|(col, msg)| self.err_file(format!("--define {n}={text}: column {col}: {msg}")))?,
                None => self.eval(value, sys.symbols())?,
            };
            sys.define(name.get_ref(), v);
            out.push((name.get_ref().clone(), v));
        }
        Ok(out)
    }

    /// The encoding of one instruction (`[[encode]]`).
    fn encode(&self, sys: &mut System, insn: &Spanned<String>) -> Result<u64, ScenarioError> {
        let text = insn.get_ref();
        if text.contains('\n') {
            return Err(self.err(insn.span().start, "`insn` must be one instruction on one line"));
        }
        // Parsed as a one-line program so that a branch target resolves against the symbols
        // known now (kernel labels), as in any program.
        let p = asm::assemble_with(text, 0, sys.symbols())
            .map_err(|e| self.err_in_str(&insn.span(), e.line, e.col, e.msg))?;
        match (p.insts.as_slice(), p.labels.is_empty()) {
            // A branch's or ADR's encoding holds its target relative to where it is stored,
            // which an `[[encode]]` symbol does not know.
            ([Inst::B { .. } | Inst::BCond { .. } | Inst::Cbz { .. } | Inst::Bl { .. } | Inst::Adr { .. }], _) => {
                Err(self.err(
                    insn.span().start,
                    "`insn` may not be a branch or ADR: its encoding would hold its target relative to \
                     where it is stored, which [[encode]] does not know",
                ))
            }
            ([inst], true) => Ok(sys.code_mut().encode(*inst, 0)),
            _ => Err(self.err(insn.span().start, "`insn` must be exactly one instruction, without a label")),
        }
    }

    /// Loads every `[[program]]` and marks its patchable instructions; returns each one's base
    /// with where its entry starts in the file.
    fn load_programs(&self, sys: &mut System) -> Result<Vec<(Addr, usize)>, ScenarioError> {
        let mut next = System::USER_TEXT;
        let mut loaded = vec![];
        for (n, p) in self.raw.program.iter().enumerate() {
            let span = p.span();
            let p = p.get_ref();
            let (name, text, inline) = match (&p.file, &p.text) {
                (Some(f), None) => {
                    let path = self.dir.join(f.get_ref());
                    let name = path.display().to_string();
                    let text = workloads::input::read_text(&path).map_err(|e| match e.pos {
                        // Bad text is shown where it is; a file that cannot be read where it is named.
                        Some(_) => ScenarioError::from(e),
                        None => self.err(f.span().start, format!("program `{name}`: {}", e.message)),
                    })?;
                    (name, text, None)
                }
                (None, Some(t)) => (format!("{}:[[program]] {}", self.name, n + 1), t.get_ref().clone(), Some(t)),
                _ => return Err(self.err(span.start, "[[program]] needs exactly one of `file` and `text`")),
            };
            let base = match &p.base {
                Some(b) => {
                    let v = self.eval(b, sys.symbols())?;
                    if v % 4 != 0 {
                        return Err(self.err(b.span().start, format!("base {v:#x} is not 4-byte aligned")));
                    }
                    v
                }
                None => next,
            };
            sys.load(&name, &text, base).map_err(|e| match (e, inline) {
                (LoadError::Asm { error, .. }, Some(t)) => self.err_in_str(&t.span(), error.line, error.col, error.msg),
                (LoadError::Asm { file, error }, None) => {
                    ScenarioError { file, pos: Some((error.line, error.col)), message: error.msg }
                }
                (e, _) => self.err(span.start, e.to_string()),
            })?;
            let prog = sys.code().programs().iter().find(|q| q.base == base).expect("just loaded").clone();
            loaded.push((base, span.start));
            // Leave a gap: a program ends by running off its last instruction.
            if prog.end() >= next {
                next = (prog.end() + 1).next_multiple_of(4096);
            }
            for label in &p.patchable {
                let at = prog.label(label.get_ref()).filter(|&a| a < prog.end());
                let ok = at.is_some_and(|a| sys.code_mut().mark_patchable(a));
                if !ok {
                    return Err(self.err(
                        label.span().start,
                        format!("no instruction at a label `{}` in this program", label.get_ref()),
                    ));
                }
            }
        }
        Ok(loaded)
    }

    /// Reserves the table pool and maps every `[[map]]`, defining `NAME` and `NAME_pte`; `data`
    /// is each `[[data]]` entry's (place, size).
    fn map_pages(&self, sys: &mut System, cfg: &Config, data: Vec<(usize, u64)>) -> Result<Tables, ScenarioError> {
        let tlb = &cfg.machine.tlb;
        tlb.validate().map_err(|e| self.err_file(format!("configuration: {e}")))?;
        if sys.symbol("PAGE_TABLES").is_some() {
            // Defined by the scenario, in [defines] or as data: shown there.
            let named = self.raw.defines.keys().chain(self.raw.data.iter().map(|d| &d.get_ref().name));
            let msg = "`PAGE_TABLES` names the page-table pool; choose another name";
            return Err(match named.into_iter().find(|n| n.get_ref() == "PAGE_TABLES") {
                Some(n) => self.err(n.span().start, msg),
                None => self.err_file(msg),
            });
        }
        let bytes = TABLE_POOL_PAGES * tlb.page_bytes;
        let pool = sys.alloc_aligned("PAGE_TABLES", bytes, tlb.page_bytes);
        let builder = PageTableBuilder::new(tlb, pool..pool + bytes, sys.memory_mut())
            .map_err(|e| self.err_file(format!("page tables: {e}")))?;
        let mut t = Tables { builder, maps: vec![], data_end: pool + bytes, data };
        for m in &self.raw.map {
            self.new_symbol(sys, &m.name)?;
            let va = self.eval(&m.va, sys.symbols())?;
            let pa = self.eval(&m.pa, sys.symbols())?;
            let pages = match &m.pages {
                Some(p) => self.eval_at_most(p, sys.symbols(), "pages", 1 << 20)?,
                None => 1,
            };
            if pages == 0 {
                return Err(self.err(m.name.span().start, "`pages` must be at least 1"));
            }
            let flags = PageFlags { user: m.user, read_only: m.read_only, global: m.global };
            let at = |v: &Spanned<Expr>| v.span().start;
            for (what, v, span) in [("va", va, at(&m.va)), ("pa", pa, at(&m.pa))] {
                if v % tlb.page_bytes != 0 {
                    return Err(
                        self.err(span, format!("{what} {v:#x} is not aligned to a {}-byte page", tlb.page_bytes))
                    );
                }
            }
            let mem = sys.memory_mut();
            t.builder
                .map_range(mem, va, pa, pages, flags)
                .map_err(|e| self.err(m.name.span().start, format!("map `{}`: {e}", m.name.get_ref())))?;
            let pte = t.builder.leaf_entry_addr(mem, va).expect("just mapped");
            let pte_name = format!("{}_pte", m.name.get_ref());
            if !sys.define(m.name.get_ref(), va) || !sys.define(&pte_name, pte) {
                return Err(self.err(m.name.span().start, format!("symbol `{pte_name}` is already defined")));
            }
            t.maps.push((m.name.get_ref().clone(), va, pa, pages, flags, m.name.span().start));
        }
        Ok(t)
    }

    /// Identity-maps the layout (kernel-only, global) under the scenario's maps; returns the root.
    /// `programs` are the scenario's programs' (base, place in the file). A region that cannot be
    /// mapped is shown at what made it: the CPU count, the largest data entry, the program.
    fn identity_map(
        &self,
        sys: &mut System,
        cfg: &Config,
        t: &mut Tables,
        cpus: usize,
        programs: &[(Addr, usize)],
    ) -> Result<Addr, ScenarioError> {
        let page = cfg.machine.tlb.page_bytes;
        let sym = |s: &str| sys.symbol(s).expect("layout symbol");
        let sgi = sym("SGI_TABLE");
        let cpus_at = self.raw.cpus.as_ref().map(|c| c.span().start);
        let largest = t.data.iter().max_by_key(|(at, n)| (*n, std::cmp::Reverse(*at))).map(|(at, _)| *at);
        let mut regions: Vec<(Range<Addr>, Option<usize>, &str)> = vec![
            (System::PERCPU_BASE..System::percpu(cpus), cpus_at, "the per-CPU areas"),
            (System::CFD_BASE..sgi, cpus_at, "the call-function descriptors"),
            (sgi..sgi + 8 * cpus as u64, cpus_at, "the SGI table"),
            (System::DATA_BASE..t.data_end, largest, "the data (this entry the largest) and the page tables"),
        ];
        // Code up to and including its end address: a CPU finishes by fetching there.
        for p in sys.code().programs() {
            let at = programs.iter().find(|(base, _)| *base == p.base).map(|(_, at)| *at);
            regions.push((p.base..p.end() + 1, at, "the program"));
        }
        for (r, at, what) in regions {
            let first = r.start / page * page;
            let pages = (r.end.max(r.start + 1) - first).div_ceil(page);
            t.builder.map_range(sys.memory_mut(), first, first, pages, PageFlags::KERNEL).map_err(|e| {
                let msg = format!("identity map of {what}, {:#x}..{:#x}: {e}", r.start, r.end);
                match at {
                    Some(at) => self.err(at, msg),
                    None => self.err_file(msg),
                }
            })?;
        }
        for (name, va, pa, pages, flags, at) in &t.maps {
            t.builder
                .map_range(sys.memory_mut(), *va, *pa, *pages, *flags)
                .map_err(|e| self.err(*at, format!("map `{name}`: {e}")))?;
        }
        Ok(t.builder.root())
    }

    /// Applies the `[[cpu]]` entries (a later entry overrides an earlier one for the same CPU);
    /// returns the CPUs that have one.
    fn start_cpus(&self, sys: &mut System, cpus: usize, root: Option<Addr>) -> Result<Vec<usize>, ScenarioError> {
        let mut entry: Vec<Option<&RawCpu>> = vec![None; cpus];
        for c in &self.raw.cpu {
            for cpu in self.cpu_set(&c.cpus, cpus)? {
                entry[cpu] = Some(c);
            }
        }
        let mut started = vec![];
        for (cpu, e) in entry.iter().enumerate() {
            let Some(c) = e else {
                if self.raw.kernel {
                    sys.start(cpu, "cpu_idle", 1, 0xf).expect("the kernel defines cpu_idle");
                }
                continue;
            };
            let el = match &c.el {
                None => 1,
                Some(el) if *el.get_ref() <= 1 => *el.get_ref(),
                Some(el) => {
                    return Err(self.err(el.span().start, format!("el = {}: only EL0 and EL1 exist", el.get_ref())));
                }
            };
            let daif = if c.irqs { 0xd } else { 0xf };
            sys.start(cpu, c.start.get_ref(), el, daif).map_err(|_| {
                self.err(
                    c.start.span().start,
                    format!("no program has an instruction at a label `{}`", c.start.get_ref()),
                )
            })?;
            let mut syms = sys.symbols().clone();
            syms.insert("CPU".to_string(), cpu as u64);
            for (name, value) in &c.regs {
                let reg = match asm::parse_reg(name.get_ref()) {
                    Some(op) if op.width == Width::X && !op.reg.is_zero() => op.reg,
                    _ => {
                        return Err(self.err(
                            name.span().start,
                            format!("`{}` is not a register to set (x0-x30, sp)", name.get_ref()),
                        ));
                    }
                };
                let v = self.eval(value, &syms)?;
                sys.set_reg(cpu, reg, v);
                if reg == Reg::SP && el == 1 {
                    sys.set_sysreg(cpu, SysReg::SpEl1, v);
                }
            }
            if c.mmu {
                let root = root.expect("tables are built when a CPU has the MMU on");
                sys.set_sysreg(cpu, SysReg::Ttbr0El1, root);
                sys.set_sysreg(cpu, SysReg::SctlrEl1, 1);
            }
            started.push(cpu);
        }
        Ok(started)
    }

    /// The CPUs of a `cpus` value: a number, or "0", "1-7", "1,3,5-6", "all".
    fn cpu_set(&self, v: &Spanned<Expr>, cpus: usize) -> Result<Vec<usize>, ScenarioError> {
        let span = v.span();
        let text = match v.get_ref() {
            Expr::Int(n) => n.to_string(),
            Expr::Text(t) => t.clone(),
        };
        let at = |col: usize, msg: String| match v.get_ref() {
            Expr::Int(_) => self.err(span.start, msg),
            Expr::Text(_) => self.err_in_str(&span, 1, col, msg),
        };
        if text.trim() == "all" {
            return Ok((0..cpus).collect());
        }
        let mut out = vec![];
        let mut col = 1;
        for item in text.split(',') {
            let icol = col + (item.len() - item.trim_start().len());
            col += item.len() + 1;
            let num = |s: &str, c: usize| -> Result<usize, ScenarioError> {
                let n: usize = s.trim().parse().map_err(|_| at(c, format!("`{}` is not a CPU number", s.trim())))?;
                if n >= cpus {
                    return Err(at(c, format!("CPU {n} does not exist ({cpus} CPUs)")));
                }
                Ok(n)
            };
            match item.split_once('-') {
                Some((a, b)) => {
                    let (lo, hi) = (num(a, icol)?, num(b, icol + a.len() + 1)?);
                    if lo > hi {
                        return Err(at(icol, format!("empty range `{}`", item.trim())));
                    }
                    out.extend(lo..=hi);
                }
                None => out.push(num(item, icol)?),
            }
        }
        Ok(out)
    }

    /// A `[report] regs` entry: `CPU:register`.
    fn report_reg(&self, r: &Spanned<String>, cpus: usize) -> Result<(usize, Reg), ScenarioError> {
        let span = r.span();
        let text = r.get_ref();
        let bad = || self.err_in_str(&span, 1, 1, format!("`{text}` is not CPU:register (e.g. \"1:x0\")"));
        let (cpu, reg) = text.split_once(':').ok_or_else(bad)?;
        let cpu: usize = cpu.trim().parse().map_err(|_| bad())?;
        if cpu >= cpus {
            return Err(self.err_in_str(&span, 1, 1, format!("CPU {cpu} does not exist ({cpus} CPUs)")));
        }
        match asm::parse_reg(reg.trim()) {
            Some(op) if op.width == Width::X => Ok((cpu, op.reg)),
            _ => Err(self.err_in_str(
                &span,
                1,
                cpu.to_string().len() + 2,
                format!("`{}` is not an X register", reg.trim()),
            )),
        }
    }
}

/// Page tables under construction.
struct Tables {
    builder: PageTableBuilder,
    /// The scenario's maps: name, va, pa, pages, flags, where the map's name is in the file.
    maps: Vec<(String, Addr, Addr, u64, PageFlags, usize)>,
    /// End of data memory (the table pool is the last allocation).
    data_end: Addr,
    /// Each `[[data]]` entry's size and where it is set in the file.
    data: Vec<(usize, u64)>,
}

impl Tables {
    /// The scenario's maps as (name, va, bytes), for naming addresses in reports.
    fn named(&self) -> Vec<(String, Addr, u64)> {
        let page = self.builder.config().page_bytes;
        self.maps.iter().map(|(name, va, _, pages, _, _)| (name.clone(), *va, pages * page)).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Running.

/// A scenario laid out in a [`System`], ready to run.
pub struct Prepared {
    scenario: String,
    system: System,
    cpus: usize,
    topology_cores: usize,
    finish: Vec<usize>,
    max_cycles: Cycle,
    defines: Vec<(String, u64)>,
    maps: Vec<(String, Addr, u64)>,
    words: Vec<(String, Addr)>,
    regs: Vec<(String, usize, Reg)>,
}

impl Prepared {
    /// The system as laid out (symbols, code, initial memory, start-up state).
    pub fn system(&self) -> &System {
        &self.system
    }

    /// CPUs whose completion ends the run.
    pub fn finish(&self) -> &[usize] {
        &self.finish
    }

    /// Runs the scenario on a machine configured by `cfg`; `config` says where `cfg` came from
    /// (for the report).
    pub fn run(self, cfg: &Config, config: &str) -> Result<Outcome, RunError> {
        self.run_traced(cfg, config, None).map(|(o, _)| o)
    }

    /// [`Prepared::run`], and the run as a Chrome/Perfetto trace of `window` when one is asked for
    /// ([`workloads::experiment::chrome_trace::machine_trace`]).
    pub fn run_traced(
        self,
        cfg: &Config,
        config: &str,
        window: Option<TraceWindow>,
    ) -> Result<(Outcome, Option<ChromeTrace>), RunError> {
        let (engine, end) = self.system.run_until_done(&cfg.machine, self.finish.clone(), self.max_cycles)?;
        let m = engine.model();
        let trace = window.map(|w| {
            let names: Vec<String> = (0..self.cpus).map(|c| format!("{} CPU {c}", self.scenario)).collect();
            machine_trace(m, cfg.machine.clock_mhz, end, w, &names)
        });
        let s = m.state();
        let code = m.code();
        let names = Names { code, maps: &self.maps };

        let xlat = m.mmu().stale();
        let per_cpu = s
            .cores
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let done = c.is_done(code);
                let irqs = c.exceptions().iter().filter(|e| e.kind == ExceptionKind::Irq).count() as u64;
                CpuRow {
                    cpu: i,
                    el: c.el(),
                    done,
                    at: (!done).then(|| names.code(c.head_pc().unwrap_or(c.pc()))),
                    irqs,
                    sync_exceptions: c.exceptions().len() as u64 - irqs,
                    stale_instructions: c.stale_instructions().len() as u64,
                    stale_translations: xlat.iter().filter(|t| t.core as usize == i).count() as u64,
                    tlbi_disturbances: c.tlbi_disturbances(),
                }
            })
            .collect();
        let exceptions = s
            .cores
            .iter()
            .enumerate()
            .flat_map(|(i, c)| c.exceptions().iter().map(move |e| (i, e)))
            .map(|(cpu, e)| ExceptionRow {
                cpu,
                kind: match e.kind {
                    ExceptionKind::Irq => "irq".to_string(),
                    ExceptionKind::Sync { class } => format!("sync (class {class:#x}: {})", class_name(class)),
                },
                from_el: e.from_el,
                taken_at: e.taken_at,
                returned_at: e.returned_at,
                return_pc: e.return_pc,
                return_to: names.code(e.return_pc),
            })
            .collect();
        let encoding = |pc: Addr, w: WriteId| -> String {
            let value = s.iside.slot(pc).and_then(|slot| {
                (0..=s.iside.latest(slot)).map(|k| s.iside.write(slot, k)).find(|(id, _)| *id == w).map(|(_, v)| v)
            });
            match value {
                Some(v) => names.disasm(&code.decode(v, pc)),
                None => "?".to_string(),
            }
        };
        let insns = s.cores.iter().flat_map(|c| {
            c.stale_instructions().iter().map(move |r| ((c.id() as usize, r.pc, r.executed, r.newest), r.at))
        });
        let stale_instructions = group(insns)
            .into_iter()
            .map(|((cpu, pc, executed, newest), times)| StaleInstructionRow {
                cpu,
                pc,
                at: names.code(pc),
                executed: encoding(pc, executed),
                executed_write: executed.to_string(),
                newest: encoding(pc, newest),
                newest_write: newest.to_string(),
                times,
            })
            .collect();
        let uses = xlat.iter().map(|t| {
            let access = if t.fetch {
                "fetch"
            } else if t.write {
                "store"
            } else {
                "load"
            };
            ((t.core as usize, t.va, access, t.filled_at, t.pte_changed_at, t.shootdown_completed_at), t.at)
        });
        let stale_translations = group(uses)
            .into_iter()
            .map(|((cpu, va, access, filled_at, pte_changed_at, shootdown_completed_at), times)| StaleTranslationRow {
                cpu,
                va,
                at: names.data(va),
                access: access.to_string(),
                filled_at,
                pte_changed_at,
                shootdown_completed_at,
                times,
            })
            .collect();
        let words = self
            .words
            .iter()
            .map(|(expr, addr)| {
                let value = s.mem.read(*addr).value;
                WordRow { expr: expr.clone(), addr: *addr, value, label: code.label_at(value).map(str::to_string) }
            })
            .collect();
        let regs = self
            .regs
            .iter()
            .map(|(name, cpu, reg)| {
                let value = s.cores[*cpu].reg(*reg);
                RegRow { name: name.clone(), value, label: code.label_at(value).map(str::to_string) }
            })
            .collect();
        Ok((
            Outcome {
                scenario: self.scenario,
                config: config.to_string(),
                mode: cfg.machine.mode,
                clock_mhz: cfg.machine.clock_mhz,
                cpus: self.cpus,
                topology_cores: self.topology_cores,
                defines: self.defines.into_iter().map(|(name, value)| Define { name, value }).collect(),
                finish: self.finish,
                end_cycle: end,
                end_ns: cfg.machine.ns(end),
                per_cpu,
                exceptions,
                stale_instructions,
                stale_translations,
                words,
                regs,
            },
            trace,
        ))
    }
}

/// Records with equal keys merged, in order of first appearance.
fn group<K: Ord + Clone>(records: impl Iterator<Item = (K, Cycle)>) -> Vec<(K, Times)> {
    let mut index: BTreeMap<K, usize> = BTreeMap::new();
    let mut out: Vec<(K, Times)> = vec![];
    for (k, at) in records {
        match index.get(&k) {
            Some(&i) => {
                let t = &mut out[i].1;
                t.count += 1;
                t.first = t.first.min(at);
                t.last = t.last.max(at);
            }
            None => {
                index.insert(k.clone(), out.len());
                out.push((k, Times { count: 1, first: at, last: at }));
            }
        }
    }
    out
}

/// How often and when something happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Times {
    /// How many times.
    pub count: u64,
    /// Cycle of the first time.
    pub first: Cycle,
    /// Cycle of the last time.
    pub last: Cycle,
}

impl fmt::Display for Times {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.count == 1 {
            write!(f, "1× at cycle {}", self.first)
        } else {
            write!(f, "{}× from cycle {} to {}", self.count, self.first, self.last)
        }
    }
}

/// Names addresses for reports: code by its nearest label, data by the scenario's maps.
struct Names<'a> {
    code: &'a CodeSpace,
    maps: &'a [(String, Addr, u64)],
}

impl Names<'_> {
    /// `label` or `label+0x8` for an address in (or just past) a program; hex otherwise.
    fn code(&self, a: Addr) -> String {
        let prog = self.code.programs().iter().find(|p| p.base <= a && a <= p.end());
        // The nearest labelled address at or below `a`, with every label it has.
        let at = prog.and_then(|p| p.labels.values().copied().filter(|&l| l <= a).max().map(|l| (p, l)));
        match at {
            Some((p, l)) => {
                let names: Vec<&str> = p.labels.iter().filter(|(_, v)| **v == l).map(|(n, _)| n.as_str()).collect();
                let names = names.join("/");
                if l == a { names } else { format!("{names}+{:#x}", a - l) }
            }
            None => format!("{a:#x}"),
        }
    }

    /// The map holding a virtual address, as `name` or `name+0x8`.
    fn data(&self, va: Addr) -> Option<String> {
        self.maps
            .iter()
            .find(|(_, base, len)| (*base..base + len).contains(&va))
            .map(|(n, base, _)| if va == *base { n.clone() } else { format!("{n}+{:#x}", va - base) })
    }

    fn disasm(&self, inst: &cpu_model::isa::Inst) -> String {
        Disasm { inst, label: |a| self.code.label_at(a).map(str::to_string) }.to_string()
    }
}

/// What an ESR_EL1 exception class means.
fn class_name(class: u8) -> &'static str {
    match class {
        0x00 => "undefined instruction",
        0x15 => "SVC",
        0x20 | 0x21 => "instruction abort",
        0x24 | 0x25 => "data abort",
        _ => "other",
    }
}

/// Where the run's CPUs ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CpuRow {
    /// CPU number.
    pub cpu: usize,
    /// Exception level at the end.
    pub el: u8,
    /// Finished (ran off its program and drained), rather than still running.
    pub done: bool,
    /// Where a running CPU is (its oldest instruction in flight, else its next fetch address), by
    /// label.
    pub at: Option<String>,
    /// Interrupts taken.
    pub irqs: u64,
    /// Synchronous exceptions taken (SVC, aborts, undefined instructions).
    pub sync_exceptions: u64,
    /// Patched instructions executed from a stale copy.
    pub stale_instructions: u64,
    /// Uses of translations that the page tables or an invalidation said were gone.
    pub stale_translations: u64,
    /// Broadcast TLB invalidations received.
    pub tlbi_disturbances: u64,
}

/// One exception taken.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExceptionRow {
    /// CPU.
    pub cpu: usize,
    /// `irq`, or `sync` with the exception class.
    pub kind: String,
    /// Exception level it was taken from.
    pub from_el: u8,
    /// Cycle of entry.
    pub taken_at: Cycle,
    /// Cycle its ERET retired, if it did.
    pub returned_at: Option<Cycle>,
    /// Address the exception returns to (for an abort: the faulting instruction).
    pub return_pc: Addr,
    /// The same, by label.
    pub return_to: String,
}

/// A patched instruction executed from a stale copy (every execution of the same copy at the
/// same address by the same CPU, merged).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StaleInstructionRow {
    /// CPU.
    pub cpu: usize,
    /// Address.
    pub pc: Addr,
    /// Address by label.
    pub at: String,
    /// The instruction executed.
    pub executed: String,
    /// The write that put it there (`init`: the program as loaded).
    pub executed_write: String,
    /// The newest instruction at that address when it retired.
    pub newest: String,
    /// The write that put the newest one there.
    pub newest_write: String,
    /// Executions (cycles of retirement).
    pub times: Times,
}

/// Uses of a stale translation (every access of the same kind by the same CPU to the same
/// address through the same TLB entry, merged).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StaleTranslationRow {
    /// CPU.
    pub cpu: usize,
    /// Virtual address.
    pub va: Addr,
    /// The `[[map]]` holding it.
    pub at: Option<String>,
    /// `load`, `store` or `fetch`.
    pub access: String,
    /// When the TLB entry was filled.
    pub filled_at: Cycle,
    /// When the page-table entry was written after that fill, if it was.
    pub pte_changed_at: Option<Cycle>,
    /// When an invalidation covering the entry completed after the fill, if one did.
    pub shootdown_completed_at: Option<Cycle>,
    /// Accesses (their cycles).
    pub times: Times,
}

/// A memory cell of `[report] words`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WordRow {
    /// The expression as written.
    pub expr: String,
    /// Its address.
    pub addr: Addr,
    /// The value at the end.
    pub value: u64,
    /// The label at that value, if it is a code address.
    pub label: Option<String>,
}

/// A register of `[report] regs`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RegRow {
    /// `CPU:register` as written.
    pub name: String,
    /// The value at the end.
    pub value: u64,
    /// The label at that value, if it is a code address.
    pub label: Option<String>,
}

/// A define as the programs saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Define {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: u64,
}

/// Everything `isolsim exec` reports about a run. The same scenario and configuration always
/// give the same outcome.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Outcome {
    /// The scenario file.
    pub scenario: String,
    /// Where the configuration came from.
    pub config: String,
    /// Memory model.
    pub mode: Mode,
    /// Core clock, MHz.
    pub clock_mhz: u64,
    /// CPUs simulated.
    pub cpus: usize,
    /// Cores of the configuration's topology.
    pub topology_cores: usize,
    /// The `[defines]` as used (command-line overrides applied), in file order.
    pub defines: Vec<Define>,
    /// CPUs whose completion ended the run.
    pub finish: Vec<usize>,
    /// Cycle at which the run ended.
    pub end_cycle: Cycle,
    /// The same in nanoseconds.
    #[serde(with = "sim::float")]
    pub end_ns: f64,
    /// Per CPU.
    pub per_cpu: Vec<CpuRow>,
    /// Every exception taken, by CPU and time.
    pub exceptions: Vec<ExceptionRow>,
    /// Stale instructions executed, by CPU and first time.
    pub stale_instructions: Vec<StaleInstructionRow>,
    /// Stale translations used, by first time.
    pub stale_translations: Vec<StaleTranslationRow>,
    /// `[report] words`.
    pub words: Vec<WordRow>,
    /// `[report] regs`.
    pub regs: Vec<RegRow>,
}

fn time(ns: f64) -> String {
    if ns >= 1000.0 { format!("{:.3} µs", ns / 1000.0) } else { format!("{ns:.1} ns") }
}

fn opt(c: Option<Cycle>) -> String {
    c.map_or("-".to_string(), |c| c.to_string())
}

fn value(v: u64, label: &Option<String>) -> String {
    match label {
        Some(l) => format!("{v} ({v:#x} <{l}>)"),
        None => format!("{v} ({v:#x})"),
    }
}

impl Outcome {
    /// The report as text.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "scenario  {}", self.scenario);
        let _ = writeln!(o, "config    {} (mode {}, {} MHz)", self.config, self.mode, self.clock_mhz);
        if !self.defines.is_empty() {
            let d: Vec<String> = self.defines.iter().map(|d| format!("{}={}", d.name, d.value)).collect();
            let _ = writeln!(o, "defines   {}", d.join(" "));
        }
        let _ = writeln!(o, "cpus      {} of {} in the topology", self.cpus, self.topology_cores);
        let f: Vec<String> = self.finish.iter().map(|c| c.to_string()).collect();
        let (cpus, are) = if f.len() == 1 { ("CPU", "is") } else { ("CPUs", "are") };
        let _ = writeln!(o, "finish    when {cpus} {} {are} done", f.join(", "));
        let _ = writeln!(o, "end       cycle {} ({})", self.end_cycle, time(self.end_ns));
        let _ = writeln!(o);
        let _ = writeln!(o, "cpu  el  state    irq  sync  stale-insn  stale-xlat  tlbi-recv  at");
        for c in &self.per_cpu {
            let _ = writeln!(
                o,
                "{:>3}  {:>2}  {:<7}  {:>3}  {:>4}  {:>10}  {:>10}  {:>9}  {}",
                c.cpu,
                c.el,
                if c.done { "done" } else { "running" },
                c.irqs,
                c.sync_exceptions,
                c.stale_instructions,
                c.stale_translations,
                c.tlbi_disturbances,
                c.at.as_deref().unwrap_or("-")
            );
        }
        section(&mut o, "exceptions", &self.exceptions, |e| {
            format!(
                "P{}  {}  from EL{}  taken at {}  returned at {}  to {}",
                e.cpu,
                e.kind,
                e.from_el,
                e.taken_at,
                opt(e.returned_at),
                e.return_to
            )
        });
        section(&mut o, "stale instructions", &self.stale_instructions, |r| {
            format!(
                "P{}  {:#x} <{}>  executed `{}` ({}), newest `{}` ({}): {}",
                r.cpu, r.pc, r.at, r.executed, r.executed_write, r.newest, r.newest_write, r.times
            )
        });
        section(&mut o, "stale translations", &self.stale_translations, |t| {
            let at = t.at.as_ref().map_or(String::new(), |n| format!(" <{n}>"));
            format!(
                "P{}  {} {:#x}{at}  TLB entry filled at {}, PTE written at {}, invalidation completed at {}: {}",
                t.cpu,
                t.access,
                t.va,
                t.filled_at,
                opt(t.pte_changed_at),
                opt(t.shootdown_completed_at),
                t.times
            )
        });
        if !self.words.is_empty() || !self.regs.is_empty() {
            let _ = writeln!(o, "\nreport");
            let width = self.words.iter().map(|w| w.expr.len()).chain(self.regs.iter().map(|r| r.name.len())).max();
            let width = width.unwrap_or(0);
            for w in &self.words {
                let _ = writeln!(o, "  {:<width$} = {}", w.expr, value(w.value, &w.label));
            }
            for r in &self.regs {
                let _ = writeln!(o, "  {:<width$} = {}", r.name, value(r.value, &r.label));
            }
        }
        o
    }
}

/// A titled list, at most [`TEXT_RECORDS`] lines of it.
fn section<T>(o: &mut String, title: &str, rows: &[T], line: impl Fn(&T) -> String) {
    if rows.is_empty() {
        let _ = writeln!(o, "\n{title}: none");
        return;
    }
    let _ = writeln!(o, "\n{title} ({})", rows.len());
    for r in rows.iter().take(TEXT_RECORDS) {
        let _ = writeln!(o, "  {}", line(r));
    }
    if rows.len() > TEXT_RECORDS {
        let _ = writeln!(o, "  … {} more (--json lists them all)", rows.len() - TEXT_RECORDS);
    }
}

// ---------------------------------------------------------------------------------------------
// The whole command.

/// Parses a command-line definition `NAME=VALUE` (VALUE: an integer or a constant expression,
/// evaluated when the scenario is laid out).
pub fn parse_define(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((n, v)) if !n.trim().is_empty() && !v.trim().is_empty() => {
            Ok((n.trim().to_string(), v.trim().to_string()))
        }
        _ => Err(format!("`{arg}` is not NAME=VALUE")),
    }
}

/// `isolsim exec`: reads the configuration (`preset`, overridden by `config_file`) and the
/// scenario, lays it out with `defines` and runs it.
pub fn exec(
    scenario: &Path,
    preset: Option<&str>,
    config_file: Option<&Path>,
    sets: &[String],
    defines: &[(String, String)],
    window: Option<TraceWindow>,
) -> Result<(Outcome, Option<ChromeTrace>), ExecError> {
    let (cfg, sources) = config::load_with_sources(preset, config_file, sets).map_err(ExecError::Config)?;
    // The report gives times in ns: cycles divided by the clock.
    workloads::experiment::ExperimentConfig::check_clock(cfg.machine.clock_mhz)
        .map_err(|k| ExecError::Config(config::invalid_error(&sources, &k)))?;
    let sc = Scenario::load(scenario)?;
    let prepared = sc.prepare(&cfg, defines)?;
    let mut source = match (preset, config_file) {
        (None, None) => "defaults".to_string(),
        (Some(p), None) => format!("preset {p}"),
        (None, Some(f)) => format!("defaults + {}", f.display()),
        (Some(p), Some(f)) => format!("preset {p} + {}", f.display()),
    };
    for s in sets {
        source += &format!(" + {s}");
    }
    prepared.run_traced(&cfg, &source, window).map_err(|error| ExecError::Run { file: sc.name.clone(), error })
}

/// Byte offset where the contents of the string literal at `span` start, if its contents
/// appear verbatim in the file (no escapes), so that positions inside it map 1:1.
fn string_contents_start(text: &str, span: Range<usize>) -> Option<usize> {
    let raw = text.get(span.clone())?;
    let delim = ["\"\"\"", "'''", "\"", "'"].into_iter().find(|d| raw.starts_with(d) && raw.len() >= 2 * d.len())?;
    let body = &raw[delim.len()..raw.len() - delim.len()];
    if delim.starts_with('"') && body.contains('\\') {
        return None;
    }
    let mut start = span.start + delim.len();
    if delim.len() == 3 {
        // A newline right after the opening delimiter is not part of the string.
        start += [("\r\n", 2), ("\n", 1)].into_iter().find(|(p, _)| body.starts_with(p)).map_or(0, |(_, n)| n);
    }
    Some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse("s.toml", Path::new("."), text)
    }

    fn prepare(text: &str) -> Result<Prepared, ScenarioError> {
        parse(text)?.prepare(&Config::default(), &[])
    }

    fn prepare_err(text: &str) -> String {
        match prepare(text) {
            Ok(_) => panic!("no error for\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    const MIN: &str = "[[program]]\ntext = \"main: NOP\"\n[[cpu]]\ncpus = 0\nstart = \"main\"\n";

    #[test]
    fn unknown_keys_name_the_key_with_its_position() {
        let e = parse("kernel = true\n[[cpu]]\ncpus = 0\nstrt = \"main\"\n").unwrap_err();
        assert_eq!(e.pos, Some((4, 1)), "{e}");
        assert!(e.message.starts_with("unknown key `cpu[0].strt`"), "{e}");
        assert!(e.message.contains("did you mean `start`?"), "{e}");
        let e = parse("[report]\nword = []\n").unwrap_err();
        assert_eq!((e.pos, e.message.contains("`report.word`")), (Some((2, 1)), true), "{e}");
    }

    #[test]
    fn wrong_types_name_the_key_with_its_position() {
        let e = parse("kernel = 1\n").unwrap_err();
        assert_eq!(e.to_string(), "s.toml:1:10: wrong type for `kernel`: expected a boolean, found integer `1`");
        let e = parse("[[cpu]]\ncpus = 0\nstart = \"m\"\nregs = { x0 = true }\n").unwrap_err();
        assert_eq!(e.pos, Some((4, 15)), "{e}");
        assert!(e.message.starts_with("wrong type for `cpu[0].regs.x0`"), "{e}");
    }

    #[test]
    fn expression_errors_point_inside_the_string() {
        let e = prepare_err(&format!("{MIN}[defines]\nA = \"1 + NOPE\"\n"));
        assert_eq!(e, "s.toml:7:10: undefined symbol `NOPE`");
    }

    #[test]
    fn inline_program_errors_are_positioned_in_the_scenario_file() {
        let e = prepare_err(
            "[[program]]\ntext = \"\"\"\nmain: NOP\n   FOO X1\n\"\"\"\n[[cpu]]\ncpus = 0\nstart = \"main\"\n",
        );
        assert_eq!(e, "s.toml:4:4: unsupported instruction `FOO`");
        let e = prepare_err("[[program]]\ntext = \"main: B nowhere\"\n");
        assert_eq!(e, "s.toml:2:17: undefined label `nowhere`");
    }

    #[test]
    fn layout_errors_point_at_the_value() {
        let e = prepare_err(&MIN.replace("cpus = 0", "cpus = \"0,9\""));
        assert_eq!(e, "s.toml:4:11: CPU 9 does not exist (8 CPUs)");
        let e = prepare_err(&MIN.replace("start = \"main\"", "start = \"mian\""));
        assert_eq!(e, "s.toml:5:9: no program has an instruction at a label `mian`");
        let e = prepare_err(&format!("cpus = 9\n{MIN}"));
        assert_eq!(e, "s.toml:1:8: cpus = 9, but the configuration's topology has 8 cores");
        let e = prepare_err(&format!("{MIN}[[data]]\nname = \"NR_CPUS\"\nbytes = 8\n"));
        assert_eq!(e, "s.toml:7:8: symbol `NR_CPUS` is already defined");
        let e = prepare_err(&MIN.replace("text = \"main: NOP\"", "text = \"main: NOP\"\npatchable = [\"nope\"]"));
        assert_eq!(e, "s.toml:3:14: no instruction at a label `nope` in this program");
    }

    #[test]
    fn command_line_defines_override_and_reject_typos() {
        let text = format!("{MIN}[defines]\nSYNC = 1\n");
        let p = parse(&text).unwrap().prepare(&Config::default(), &[("SYNC".into(), "1 - 1".into())]).unwrap();
        assert_eq!(p.system().symbol("SYNC"), Some(0));
        let e = parse(&text).unwrap().prepare(&Config::default(), &[("SYNCC".into(), "0".into())]).err().unwrap();
        assert_eq!(e.to_string(), "s.toml: --define SYNCC=0: the scenario's [defines] has no `SYNCC` (it has: SYNC)");
    }

    #[test]
    fn cpu_sets_and_overrides() {
        let text = "[[program]]\ntext = \"a: NOP\\nb: NOP\"\n[[cpu]]\ncpus = \"all\"\nstart = \"a\"\n\
                    [[cpu]]\ncpus = \"1, 3-4\"\nstart = \"b\"\nregs = { x1 = \"CPU * 8\", sp = 0x9000 }\n";
        let p = prepare(text).unwrap();
        let t = p.system().threads();
        let a = p.system().symbol("a").unwrap();
        assert_eq!((t[0].pc, t[1].pc, t[2].pc, t[4].pc), (a, a + 4, a, a + 4));
        assert!(t[4].regs.contains(&(Reg::x(1), 32)) && t[4].regs.contains(&(Reg::SP, 0x9000)));
        assert_eq!(p.finish(), (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn maps_define_the_va_and_its_descriptor() {
        let text = format!(
            "{MIN}[[data]]\nname = \"page\"\nwords = [42]\nalign = 4096\n\
             [[map]]\nname = \"buf\"\nva = 0x40000000\npa = \"page\"\n"
        );
        let p = prepare(&text.replace("start = \"main\"", "start = \"main\"\nmmu = true")).unwrap();
        let sys = p.system();
        let pte = sys.symbol("buf_pte").unwrap();
        let page = sys.symbol("page").unwrap();
        assert_eq!(page % 4096, 0);
        assert_eq!(sys.memory().read(pte).value & !0xfff & ((1 << 48) - 1), page);
        assert_eq!(sys.threads()[0].sysregs.iter().find(|(r, _)| *r == SysReg::SctlrEl1), Some(&(SysReg::SctlrEl1, 1)));
        let e = prepare_err(&text.replace("va = 0x40000000", "va = 0x40000010"));
        assert_eq!(e, "s.toml:12:6: va 0x40000010 is not aligned to a 4096-byte page");
    }

    #[test]
    fn encodings_are_symbols() {
        let text = "[[encode]]\nname = \"NEW\"\ninsn = \"MOV X0, #2\"\n\
                    [[program]]\ntext = \"main: MOV W1, #NEW\"\n[[cpu]]\ncpus = 0\nstart = \"main\"\n";
        let p = prepare(text).unwrap();
        let v = p.system().symbol("NEW").unwrap();
        assert_eq!(p.system().code().decode(v, 0).to_string(), "MOV X0,#2");
        let e = prepare_err(&text.replace("MOV X0, #2", "MOV X0, #2 junk"));
        assert_eq!(e, "s.toml:3:20: unexpected `junk`");
        let e = prepare_err(&text.replace("MOV X0, #2", "B .+8"));
        assert!(e.starts_with("s.toml:3:8: `insn` may not be a branch or ADR"), "{e}");
    }
}
