//! From a parsed litmus test to a machine set-up: code, registers, memory,
//! and the locations the final condition observes.
//!
//! C threads are compiled with the arm64 kernel mapping:
//!
//! | C                        | AArch64                    |
//! |--------------------------|----------------------------|
//! | `READ_ONCE(*p)`          | `LDR`                      |
//! | `WRITE_ONCE(*p, v)`      | `STR`                      |
//! | `smp_load_acquire(p)`    | `LDAR`                     |
//! | `smp_store_release(p,v)` | `STLR`                     |
//! | `smp_mb()`               | `DMB ISH`                  |
//! | `smp_rmb()`              | `DMB ISHLD`                |
//! | `smp_wmb()`              | `DMB ISHST`                |
//! | `smp_mb__before_atomic()`, `smp_mb__after_atomic()` | `DMB ISH` |
//! | `xchg(p, v)`, `atomic_xchg` | `SWPAL`                 |
//! | `cmpxchg(p, old, new)`, `atomic_cmpxchg` | `CASAL`    |
//! | `atomic_add_return(v, p)`, `atomic_fetch_add`, … | `LDADDAL` (+ `ADD` for the new value) |
//! | `atomic_add(v, p)`, `atomic_inc(p)`, … | `STADD`      |
//! | `atomic_read(p)`, `atomic_set(p, v)` | `LDR`, `STR`   |
//! | `if (a == b)` …          | `CMP` + `B.cond`           |
//! | `r ^ r`, `r + 1`, …      | `EOR`, `ADD`, … (kept, so false dependencies stay dependencies) |
//!
//! Kernel C (protocol files, [`super::cgen`]) adds `atomic_fetch_or` →
//! `LDSET`, `atomic_fetch_andnot` → `LDCLR`, `atomic_try_cmpxchg` → `CAS` +
//! `CMP`, `dsb(opt)` → `DSB`, `isb()`/`instr_sync()` → `ISB`,
//! `local_flush_tlb_all()` → `TLBI VMALLE1; DSB NSH; ISB`, per-CPU variables
//! → `[Xarea, #PCPU_…]`, kernel constants as assembler symbols, and control
//! flow with short-circuit `&&`/`||`.
//!
//! The atomics follow arm64's LSE mapping: fully ordered (no suffix) is the
//! `AL` form, `_acquire` `A`, `_release` `L`, `_relaxed` none; sub negates
//! the operand, inc and dec add 1 and -1.
//!
//! Each parameter `int *x` lives in a register holding the address of `x`;
//! each local lives in its own register, which is what `0:r0` in the final
//! condition reads. `*(x + e)` addresses become `[Xx, Xe]` register-offset
//! accesses, so an address dependency is a real one.

use std::collections::BTreeMap;
use std::sync::Arc;

use cpu_model::asm::{Builder, Parsed, parse_inst, relative_target};
use cpu_model::code::{CodeSpace, relocated};
use cpu_model::isa::{Inst, Reg};
use cpu_model::machine::ThreadInit;
use memory_model::Addr;
use memory_model::memory::FlatMemory;

use super::ast::{self, Arch, LitmusTest, Loc, Pos, Prop, Threads, Value};
use super::cgen::{CGen, Regs};

/// A compile error at a source position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileError {
    /// Where.
    pub pos: Pos,
    /// What.
    pub msg: String,
}

fn err<T>(pos: Pos, msg: impl Into<String>) -> Result<T, CompileError> {
    Err(CompileError { pos, msg: msg.into() })
}

/// Address of the first shared location; locations are a cache line apart.
pub const DATA_BASE: Addr = 0x10_0000;
/// Distance between shared locations (one per cache line).
pub const DATA_STRIDE: Addr = 0x40;
/// Array elements one test may declare in all (each is a location of its own).
const MAX_ELEMENTS: u32 = 4096;
/// How herd7 numbers code: thread `i`'s first instruction is at `HERD_CODE_STRIDE * (i + 1)`.
const HERD_CODE_STRIDE: u64 = 10_000;

/// Address of thread 0's code; thread `i` starts at `CODE_BASE * (i + 1)`.
pub const CODE_BASE: Addr = 0x100_0000;

/// How an observed value prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// As an integer of the location's type.
    Int(IntType),
    /// As a location or label name when it is one, else as an integer.
    Symbolic,
}

/// The integer type of a location or register as a test declares it (`int64_t 0:X0;`,
/// `uint32_t x;`): how herd7 prints its value and compares it with a condition's. herd7 holds an
/// undeclared one as an `int` (32 bits, signed): a W register's `-1` prints `-1` there and
/// `4294967295` in a declared `int64_t`, and `1 << 31` in an X register prints `-2147483648`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IntType {
    /// Width in bits: 8, 16, 32 or 64.
    pub bits: u8,
    /// Printed signed.
    pub signed: bool,
}

impl IntType {
    /// herd7's `int`, what an undeclared location is.
    pub const INT: IntType = IntType { bits: 32, signed: true };
    /// 64 bits, signed: how a type this does not know prints (every bit of the value).
    pub const I64: IntType = IntType { bits: 64, signed: true };

    /// The type a declaration names: C's integer types by name (`char`, `short`, `int`,
    /// `long`, `[u]intN_t`, `intptr_t`, …); `None` for another.
    pub fn of(name: &str) -> Option<IntType> {
        let name = name.trim();
        let unsigned = name.starts_with('u') || name.starts_with("unsigned") || name == "size_t";
        let bare = name.trim_start_matches("unsigned").trim_start_matches("signed").trim();
        let bits = match bare.trim_start_matches('u') {
            "int8_t" | "char" => 8,
            "int16_t" | "short" | "short int" => 16,
            "int32_t" | "int" | "" => 32,
            "int64_t" | "long" | "long int" | "long long" | "long long int" | "intptr_t" | "size_t" => 64,
            _ => return None,
        };
        Some(IntType { bits, signed: !unsigned })
    }

    /// The bits of a value the type keeps.
    pub fn mask(self) -> u64 {
        if self.bits >= 64 { u64::MAX } else { (1 << self.bits) - 1 }
    }

    /// `v` as herd7 prints a value of this type.
    pub fn show(self, v: u64) -> String {
        let v = v & self.mask();
        if self.signed && self.bits < 64 && v >> (self.bits - 1) & 1 == 1 {
            (v as i64 - (1i64 << self.bits)).to_string()
        } else if self.signed {
            (v as i64).to_string()
        } else {
            v.to_string()
        }
    }
}

/// Where an observed value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Register of a thread.
    Reg(usize, Reg),
    /// Memory location.
    Mem(Addr),
}

/// One location displayed in final states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// How it is named in the test (`0:r0`, `x`).
    pub loc: Loc,
    /// Where the value is read.
    pub source: Source,
    /// How it prints.
    pub kind: Kind,
    /// An element shown as part of its whole array (`locations [v]`, a condition's `v={1,2}`):
    /// the array's name. The array's elements are consecutive and print as one location,
    /// `v={1,2}` ([`super::report`]).
    pub whole: Option<String>,
}

impl Observed {
    /// The name as herd7 prints it: `0:r0`, `1:X3`, `[x]`.
    pub fn display_name(&self) -> String {
        match &self.loc {
            Loc::Reg { tid, name } => format!("{tid}:{name}"),
            Loc::Mem(n) => ast::memory_text(n),
        }
    }
}

/// Names of addresses, for printing and for condition values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Symbols {
    /// Shared location name → address.
    pub locations: BTreeMap<String, Addr>,
    /// (thread, label) → code address.
    pub labels: BTreeMap<(usize, String), Addr>,
    /// Instruction encoding → how herd7 prints it (`NOP`, `instr:"B .+8"`).
    pub instructions: BTreeMap<u64, String>,
    /// Each thread's code: (thread, first address, end), to name a code address no label
    /// names as herd7 numbers it.
    pub code: Vec<(usize, Addr, Addr)>,
}

impl Symbols {
    /// The printed form of `v` for a symbolic location.
    pub fn name_of(&self, v: u64) -> Option<String> {
        self.address_name(v).or_else(|| self.instructions.get(&v).cloned())
    }

    /// The name of `v` if it is a location's or a label's address (`x`, `P1:L0`), as herd7
    /// names such a value wherever it was read from; an address past a location's or an array
    /// element's, within the [`DATA_STRIDE`] that separates it from the next, as herd7 names an
    /// offset from a symbol (`x+4`, `t+96`). A code address no label names (a link register's
    /// return address) is herd7's number for it: thread `t`'s instruction `i` is
    /// `10000 × (t + 1) + 4i`, printed in decimal.
    pub fn address_name(&self, v: u64) -> Option<String> {
        // The nearest location at or below `v` (an element reaches as far as a location does),
        // named as herd7 names it: from its array if it is an element (`t+96`, `b`), so that
        // an element of an earlier array does not name a later one's address.
        if let Some((n, _)) = self
            .locations
            .iter()
            .filter(|(_, a)| **a <= v && v - **a < DATA_STRIDE)
            .max_by_key(|(n, a)| (**a, !n.contains('[')))
        {
            let n = ast::split_element(n).map_or(n.as_str(), |(array, _)| array);
            let a = self.locations[n];
            return Some(if a == v { n.to_string() } else { format!("{n}+{}", v - a) });
        }
        if let Some(((t, l), _)) = self.labels.iter().find(|(_, a)| **a == v) {
            return Some(format!("P{t}:{l}"));
        }
        let &(t, base, _) = self.code.iter().find(|&&(_, base, end)| base <= v && v < end)?;
        Some((HERD_CODE_STRIDE * (t as u64 + 1) + (v - base)).to_string())
    }

    /// The machine value of a condition or init value; instruction values
    /// are encoded in `code`.
    pub fn value(&mut self, v: &Value, pos: Pos, code: &mut CodeSpace) -> Result<u64, CompileError> {
        match v {
            Value::Int(i) => Ok(*i as u64),
            Value::Loc(n) => match self.locations.get(n) {
                Some(a) => Ok(*a),
                None => err(pos, format!("unknown location `{n}`")),
            },
            Value::Label { tid, label } => match self.labels.get(&(*tid, label.clone())) {
                Some(a) => Ok(*a),
                None => err(pos, format!("unknown label `P{tid}:{label}`")),
            },
            Value::Array(_) => err(pos, "an array's value `{...}` where one value goes (it is a whole array's)"),
            Value::Instr(text) => {
                let parsed = parse_inst(text, pos.col)
                    .map_err(|(_, msg)| CompileError { pos, msg: format!("instruction value `{text}`: {msg}") })?;
                if parsed.is_split() {
                    // (Run as two or more instructions, which one word of code cannot hold.)
                    return err(
                        pos,
                        format!(
                            "unsupported: a pre- or post-indexed access or a pair as an instruction value (`{text}`)"
                        ),
                    );
                }
                // A value is not stored anywhere yet: its target can only be relative (`B .+8`),
                // which its encoding holds as is (see [`CodeSpace`]).
                let inst = match &parsed.target {
                    None => parsed.inst,
                    Some((label, _)) => match relative_target(label, 0) {
                        Some(offset) => relocated(parsed.inst, |_| offset),
                        None => return err(pos, format!("unsupported: instruction value with a label (`{text}`)")),
                    },
                };
                let enc = code.encode(inst, 0);
                let name = if parsed.inst == Inst::Nop { "NOP".to_string() } else { format!("instr:\"{text}\"") };
                self.instructions.insert(enc, name);
                Ok(enc)
            }
        }
    }
}

/// A test ready to run.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// Test name.
    pub name: String,
    /// Dialect it came from.
    pub arch: Arch,
    /// All threads' code.
    pub code: Arc<CodeSpace>,
    /// Entry point and initial registers of each thread.
    pub threads: Vec<ThreadInit>,
    /// Initial memory.
    pub mem: FlatMemory,
    /// Displayed locations, in herd7's order.
    pub observed: Vec<Observed>,
    /// Names of addresses.
    pub symbols: Symbols,
    /// The final condition with its values resolved.
    pub condition: ast::Condition,
    /// Filter on final states.
    pub filter: Option<Prop>,
    /// Condition and filter in resolved form.
    pub cond: CProp,
    /// Resolved filter.
    pub filt: Option<CProp>,
    /// The test holds a code address in a register (a label value, `ADR`, a link register),
    /// so it may read or write code as data: herd7 runs it with `-variant ifetch`.
    pub code_as_data: bool,
}

/// A proposition over observed values (indices into `Compiled::observed`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CProp {
    /// Constant.
    Const(bool),
    /// `observed[i] == v` in the bits `mask` keeps (the observed location's type's, for an
    /// integer).
    Eq(usize, u64, u64),
    /// Negation.
    Not(Box<CProp>),
    /// Conjunction.
    And(Box<CProp>, Box<CProp>),
    /// Disjunction.
    Or(Box<CProp>, Box<CProp>),
}

impl CProp {
    /// Evaluates the proposition on a final state's observed values.
    pub fn eval(&self, vals: &[u64]) -> bool {
        match self {
            CProp::Const(b) => *b,
            CProp::Eq(i, v, mask) => (vals[*i] ^ *v) & *mask == 0,
            CProp::Not(p) => !p.eval(vals),
            CProp::And(a, b) => a.eval(vals) && b.eval(vals),
            CProp::Or(a, b) => a.eval(vals) || b.eval(vals),
        }
    }
}

fn prop_locs(p: &Prop, out: &mut Vec<(Loc, Pos)>) {
    out.extend(p.atoms().into_iter().map(|a| (a.loc.clone(), a.pos)));
}

/// How herd7 prints the instruction at `addr` read as a value: `NOP`, or its text with branch
/// targets relative to `addr` (`instr:"CBNZ W1,.-12"`).
fn instruction_name(code: &CodeSpace, addr: Addr) -> String {
    let text = code.disasm_relative(addr);
    if text == "NOP" { text } else { format!("instr:\"{text}\"") }
}

/// Compiles a parsed test.
pub fn compile(test: &LitmusTest) -> Result<Compiled, CompileError> {
    let mut symbols = Symbols::default();
    let mut pointer_locs: Vec<String> = vec![];
    // Shared locations, in order of first mention: init block, then parameters.
    let mut loc_names: Vec<String> = vec![];
    // (An element is laid out with its array: the array is the location.)
    let add_loc = |n: &str, names: &mut Vec<String>| {
        let n = ast::split_element(n).map_or(n, |(array, _)| array);
        if !names.iter().any(|x| x == n) {
            names.push(n.to_string());
        }
    };
    // Declared arrays: their elements and the bytes of each.
    let mut arrays: BTreeMap<String, (u32, Addr)> = BTreeMap::new();
    let mut elements = 0;
    for item in &test.init {
        let Some((n, len)) = item.declared_array() else { continue };
        if let Threads::C(_) = test.threads {
            return err(item.pos, "unsupported: arrays in a C test");
        }
        elements += len;
        if elements > MAX_ELEMENTS {
            return err(item.pos, format!("more than {MAX_ELEMENTS} array elements in one test"));
        }
        let bytes = match &item.ty {
            Some(ast::Type::Int(name)) => IntType::of(name).map_or(8, |t| Addr::from(t.bits / 8)),
            _ => 8,
        };
        if arrays.insert(n.to_string(), (len, bytes)).is_some() {
            return err(item.pos, format!("`{n}` is declared twice"));
        }
    }
    for item in &test.init {
        if let Loc::Mem(n) = &item.loc {
            add_loc(n, &mut loc_names);
        }
        if let Some(Value::Loc(n)) = &item.value {
            add_loc(n, &mut loc_names);
        }
    }
    if let Threads::C(ts) = &test.threads {
        for t in ts {
            for p in &t.params {
                add_loc(&p.name, &mut loc_names);
            }
        }
    }
    let mut cond_locs = vec![];
    prop_locs(&test.condition.prop, &mut cond_locs);
    if let Some(f) = &test.filter {
        prop_locs(f, &mut cond_locs);
    }
    for l in cond_locs.iter().map(|(l, _)| l).chain(&test.locations) {
        if let Loc::Mem(n) = l {
            add_loc(n, &mut loc_names);
        }
    }
    // A location takes DATA_STRIDE bytes, an array as many of those as its elements need; an
    // element is at its offset.
    let mut slot = 0;
    for n in &loc_names {
        let base = DATA_BASE + slot * DATA_STRIDE;
        symbols.locations.insert(n.clone(), base);
        match arrays.get(n) {
            Some(&(len, bytes)) => {
                for i in 0..len {
                    symbols.locations.insert(ast::element_name(n, i), base + Addr::from(i) * bytes);
                }
                slot += (Addr::from(len) * bytes).div_ceil(DATA_STRIDE);
            }
            None => slot += 1,
        }
    }
    // Every element named is one of a declared array's.
    let named = test
        .init
        .iter()
        .map(|i| (&i.loc, i.pos))
        .chain(cond_locs.iter().map(|(l, p)| (l, *p)))
        .chain(test.locations.iter().map(|l| (l, test.condition.pos)));
    for (loc, pos) in named {
        let Loc::Mem(n) = loc else { continue };
        if let Some((array, i)) = ast::split_element(n)
            && !symbols.locations.contains_key(n)
        {
            return err(
                pos,
                match arrays.get(array) {
                    Some((len, _)) => format!("`{n}` is past the {len} elements of `{array}`"),
                    None => format!("`{n}`: `{array}` is not declared as an array (`int64_t {array}[{}]`)", i + 1),
                },
            );
        }
    }

    let mut code = CodeSpace::new();
    let mut threads = vec![];
    let mut c_regs: Vec<Regs> = vec![];
    // A test that holds a code address in a register (a label value, `ADR`, a link register)
    // may read code as data, as herd7 lets it: every instruction is then in memory too.
    let mut code_as_data = test.init.iter().any(|i| matches!(i.value, Some(Value::Label { .. } | Value::Instr(_))));
    let mut adr_targets = vec![];
    match &test.threads {
        Threads::C(ts) => {
            for t in ts {
                let base = CODE_BASE * (t.tid as Addr + 1);
                let (prog, regs, init) = compile_c_thread(t, &symbols, base)?;
                code.add(prog);
                threads.push(ThreadInit { pc: base, regs: init, ..ThreadInit::default() });
                c_regs.push(regs);
            }
        }
        Threads::Asm(ts) => {
            // Labels first: init values and other threads may name them.
            let mut progs = vec![];
            for t in ts {
                let base = CODE_BASE * (t.tid as Addr + 1);
                let prog = assemble_thread(t, base)?;
                for (l, a) in &prog.labels {
                    symbols.labels.insert((t.tid, l.clone()), *a);
                }
                progs.push((base, prog));
            }
            for (base, prog) in progs {
                symbols.code.push(((base / CODE_BASE - 1) as usize, base, prog.end()));
                // What `ADR` names may be written (herd7 -variant ifetch: code is memory).
                for inst in &prog.insts {
                    if let Inst::Adr { target, .. } = *inst {
                        adr_targets.push(target);
                    }
                }
                code_as_data |= prog
                    .insts
                    .iter()
                    .any(|i| matches!(i, Inst::Adr { .. } | Inst::Bl { .. } | Inst::Br { link: true, .. }));
                code.add(prog);
                threads.push(ThreadInit { pc: base, ..ThreadInit::default() });
            }
        }
    }
    for target in adr_targets {
        code.mark_patchable(target);
    }

    // Init block.
    let mut mem = FlatMemory::new();
    for n in &loc_names {
        mem.init(symbols.locations[n], 0);
        for i in 0..arrays.get(n).map_or(0, |a| a.0) {
            mem.init(symbols.locations[&ast::element_name(n, i)], 0);
        }
    }
    for item in &test.init {
        let v = match &item.value {
            Some(v) => symbols.value(v, item.pos, &mut code)?,
            None => 0,
        };
        // A label used as a value is code that may be patched.
        if let Some(Value::Label { .. }) = item.value {
            code.mark_patchable(v);
        }
        let ptr = matches!(item.value, Some(Value::Loc(_) | Value::Label { .. } | Value::Instr(_)))
            || item.ty.as_ref().is_some_and(|t| t.is_ptr() || *t == ast::Type::Instr);
        match &item.loc {
            Loc::Mem(n) => {
                mem.init(symbols.locations[n], v);
                if ptr {
                    pointer_locs.push(n.clone());
                }
            }
            Loc::Reg { tid, name } => {
                let Some(t) = threads.get_mut(*tid) else {
                    return err(item.pos, format!("no thread P{tid}"));
                };
                let reg = match &test.threads {
                    Threads::C(_) => match c_regs[*tid].names.get(name) {
                        Some(r) => *r,
                        None => return err(item.pos, format!("unknown register `{tid}:{name}`")),
                    },
                    Threads::Asm(_) => test_reg(test.arch, name, item.pos, false)?,
                };
                t.regs.retain(|(r, _)| *r != reg);
                t.regs.push((reg, v));
                if ptr {
                    pointer_locs.push(format!("{tid}:{name}"));
                }
            }
        }
    }

    // A mixed-size test is refused where an access makes it one (see `sizes`).
    {
        let progs: Vec<(&cpu_model::asm::Program, &[(Reg, u64)])> = threads
            .iter()
            .map(|t| {
                let p = code.programs().iter().find(|p| p.base == t.pc).expect("each thread's code was added");
                (p, &t.regs[..])
            })
            .collect();
        let pos_of = |tid: usize, line: usize| match &test.threads {
            Threads::Asm(ts) => ts[tid]
                .lines
                .iter()
                .find_map(|l| l.inst.as_ref().filter(|(_, p)| p.line == line).map(|(_, p)| *p))
                .unwrap_or(Pos { line, col: 1 }),
            Threads::C(ts) => ts[tid].pos,
        };
        let element_bytes = |n: &str| ast::split_element(n).and_then(|(array, _)| arrays.get(array)).map(|a| a.1);
        super::sizes::check(&progs, &symbols.locations, element_bytes, pos_of)?;
    }

    // Displayed locations: `locations [...]` plus the condition's, registers
    // first (by thread, then name), then memory by name — herd7's order.
    let mut shown: Vec<(Loc, Pos)> = test.locations.iter().map(|l| (l.clone(), test.condition.pos)).collect();
    shown.extend(cond_locs.iter().cloned());
    // (Sort key: registers, locations, elements; thread; name; number) → (location, where it is
    // named, the whole array it shows a part of).
    type Shown = (Loc, Pos, Option<String>);
    let mut keyed: BTreeMap<(u8, usize, String, u32), Shown> = BTreeMap::new();
    for (l, pos) in shown {
        // A whole array is shown as its elements, among the other locations by its name.
        if let Loc::Mem(n) = &l
            && let Some(&(len, _)) = arrays.get(n)
        {
            for i in 0..len {
                keyed.entry((1, 0, n.clone(), i)).or_insert((Loc::Mem(ast::element_name(n, i)), pos, Some(n.clone())));
            }
            continue;
        }
        let key = match &l {
            Loc::Reg { tid, name } => {
                let order = match test.arch {
                    // (herd7 shows the zero register first.)
                    Arch::AArch64 | Arch::X86 | Arch::X86_64 => {
                        let r = test_reg(test.arch, name, pos, true)?;
                        if r.is_zero() { 0 } else { u32::from(r.0) + 1 }
                    }
                    Arch::C => 0,
                };
                (0, *tid, if test.arch == Arch::C { name.clone() } else { String::new() }, order)
            }
            // (herd7 shows an array's elements after the other locations, by array and index.)
            Loc::Mem(n) => match ast::split_element(n) {
                Some((array, i)) => (2, 0, array.to_string(), i),
                None => (1, 0, n.clone(), 0),
            },
        };
        keyed.entry(key).or_insert((l, pos, None));
    }
    // Declared integer types; an undeclared location is herd7's `int`, a type this does not
    // know prints whole.
    let int_type = |loc: &Loc| {
        let declared = test.init.iter().filter(|i| i.loc == *loc).find_map(|i| i.ty.as_ref());
        match declared {
            None => IntType::INT,
            Some(ast::Type::Int(name)) => IntType::of(name).unwrap_or(IntType::I64),
            Some(_) => IntType::I64,
        }
    };
    let mut observed = vec![];
    for (_, (loc, pos, whole)) in keyed {
        let (source, kind) = match &loc {
            Loc::Reg { tid, name } => {
                if *tid >= threads.len() {
                    return err(pos, format!("no thread P{tid}"));
                }
                let (reg, sym) = match &test.threads {
                    Threads::C(_) => match c_regs[*tid].names.get(name) {
                        Some(r) => (*r, c_regs[*tid].pointers.contains(name)),
                        None => return err(pos, format!("unknown register `{tid}:{name}`")),
                    },
                    Threads::Asm(_) => {
                        (test_reg(test.arch, name, pos, true)?, pointer_locs.contains(&format!("{tid}:{name}")))
                    }
                };
                (Source::Reg(*tid, reg), if sym { Kind::Symbolic } else { Kind::Int(int_type(&loc)) })
            }
            Loc::Mem(n) => {
                let kind = if pointer_locs.contains(n) { Kind::Symbolic } else { Kind::Int(int_type(&loc)) };
                (Source::Mem(symbols.locations[n]), kind)
            }
        };
        observed.push(Observed { loc, source, kind, whole });
    }
    // Code read as data: patchable instructions are memory already (the machine keeps them
    // there); the others are readable, never written (a store to them is refused as it runs).
    let mut code_cells = vec![];
    if !code_as_data {
        // No register holds a code address, so no value is one (an integer that happens to be
        // one stays an integer).
        symbols.code.clear();
    } else {
        for p in code.programs() {
            for (i, inst) in p.insts.iter().enumerate() {
                let addr = p.base + i as Addr * Inst::BYTES;
                if !code.is_patchable(addr) {
                    code_cells.push((addr, *inst));
                }
            }
        }
    }
    for (addr, inst) in code_cells {
        let enc = code.encode(inst, addr);
        mem.init(addr, enc);
        symbols.instructions.entry(enc).or_insert_with(|| instruction_name(&code, addr));
    }
    for &(addr, enc) in code.patchable() {
        symbols.instructions.entry(enc).or_insert_with(|| instruction_name(&code, addr));
    }
    let cond = resolve_prop(&test.condition.prop, &observed, &mut symbols, &mut code)?;
    let filt = match &test.filter {
        Some(f) => Some(resolve_prop(f, &observed, &mut symbols, &mut code)?),
        None => None,
    };
    Ok(Compiled {
        name: test.name.clone(),
        arch: test.arch,
        code: Arc::new(code),
        threads,
        mem,
        observed,
        symbols,
        condition: test.condition.clone(),
        filter: test.filter.clone(),
        cond,
        filt,
        code_as_data,
    })
}

fn resolve_prop(p: &Prop, obs: &[Observed], sym: &mut Symbols, code: &mut CodeSpace) -> Result<CProp, CompileError> {
    let mut go = |q: &Prop| resolve_prop(q, obs, sym, code).map(Box::new);
    Ok(match p {
        Prop::True => CProp::Const(true),
        Prop::False => CProp::Const(false),
        // `v={1,2}`: each element equals its value.
        Prop::Atom(a) if matches!(&a.loc, Loc::Mem(n) if obs.iter().any(|o| o.whole.as_ref() == Some(n))) => {
            let Loc::Mem(n) = &a.loc else { unreachable!("matched above") };
            let parts: Vec<usize> = (0..obs.len()).filter(|&i| obs[i].whole.as_ref() == Some(n)).collect();
            let ast::Value::Array(values) = &a.value else {
                return err(a.pos, format!("`{n}` is an array: its value is written `{{…}}`, one value per element"));
            };
            if values.len() != parts.len() {
                return err(a.pos, format!("`{n}` has {} elements, the value {}", parts.len(), values.len()));
            }
            let mut all = CProp::Const(true);
            for (&i, v) in parts.iter().zip(values) {
                let mask = match (obs[i].kind, v) {
                    (Kind::Int(t), ast::Value::Int(_)) => t.mask(),
                    _ => u64::MAX,
                };
                all = CProp::And(Box::new(all), Box::new(CProp::Eq(i, sym.value(v, a.pos, code)?, mask)));
            }
            all
        }
        Prop::Atom(a) => {
            let i = obs.iter().position(|o| o.loc == a.loc).expect("condition locations are observed");
            // An integer compares as the location's type holds it; an address, a label or an
            // instruction compares whole.
            let mask = match (obs[i].kind, &a.value) {
                (Kind::Int(t), ast::Value::Int(_)) => t.mask(),
                _ => u64::MAX,
            };
            CProp::Eq(i, sym.value(&a.value, a.pos, code)?, mask)
        }
        Prop::Not(q) => CProp::Not(go(q)?),
        Prop::And(a, b) => CProp::And(go(a)?, go(b)?),
        Prop::Or(a, b) => CProp::Or(go(a)?, go(b)?),
        Prop::Implies(a, b) => CProp::Or(Box::new(CProp::Not(go(a)?)), go(b)?),
    })
}

/// Register named `Xn`/`Wn` in an AArch64 test.
fn asm_reg(name: &str, pos: Pos) -> Result<Reg, CompileError> {
    match cpu_model::asm::parse_reg(name) {
        Some(op) if !op.reg.is_zero() => Ok(op.reg),
        _ => err(pos, format!("unknown register `{name}`")),
    }
}

/// A register a condition or `locations` may name: any [`asm_reg`], and the zero register,
/// which reads 0 (herd7 takes `0:XZR=0`).
fn asm_observed_reg(name: &str, pos: Pos) -> Result<Reg, CompileError> {
    match cpu_model::asm::parse_reg(name) {
        Some(op) => Ok(op.reg),
        None => err(pos, format!("unknown register `{name}`")),
    }
}

/// A register the init block (`observed` false) or a condition names, in the test's dialect:
/// an x86 test's registers stand for the AArch64 ones its instructions became
/// (`x86parse`), and it may also name those (the translation's address registers).
fn test_reg(arch: Arch, name: &str, pos: Pos, observed: bool) -> Result<Reg, CompileError> {
    if arch.is_x86()
        && let Some(r) = super::x86parse::x86_reg(arch, name)
    {
        return Ok(Reg(r));
    }
    if observed { asm_observed_reg(name, pos) } else { asm_reg(name, pos) }
}

fn assemble_thread(t: &ast::AsmThread, base: Addr) -> Result<cpu_model::asm::Program, CompileError> {
    let mut b = Builder::new(base);
    for line in &t.lines {
        for (l, pos) in &line.labels {
            b.label(l, pos.line, pos.col).map_err(|e| CompileError { pos: *pos, msg: e.msg })?;
        }
        if let Some((text, pos)) = &line.inst {
            let parsed: Parsed = parse_inst(text, pos.col)
                .map_err(|(col, msg)| CompileError { pos: Pos { line: pos.line, col }, msg })?;
            b.push(parsed, pos.line);
        }
    }
    b.finish().map_err(|e| CompileError { pos: Pos { line: e.line, col: e.col }, msg: e.msg })
}

type CThreadOut = (cpu_model::asm::Program, Regs, Vec<(Reg, u64)>);

/// Compiles a C thread with the shared generator ([`super::cgen`]) and
/// assembles its text: parameters and locals take registers from X0
/// upwards, expression temporaries from X30 downwards.
fn compile_c_thread(t: &ast::CThread, symbols: &Symbols, base: Addr) -> Result<CThreadOut, CompileError> {
    let mut g = CGen::litmus(t.tid, &symbols.locations);
    let mut init = vec![];
    for p in &t.params {
        let r = g.litmus_param(&p.name, p.pos)?;
        init.push((r, symbols.locations[&p.name]));
    }
    for s in &t.body {
        g.stmt(s)?;
    }
    let mut text = String::new();
    for l in g.lines() {
        text.push_str(&l.text);
        text.push('\n');
    }
    let prog = cpu_model::asm::assemble(&text, base).map_err(|e| CompileError { pos: t.pos, msg: e.msg })?;
    Ok((prog, g.regs, init))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::litmus::parse::parse;

    /// The instructions of thread `tid` of a C test, as text.
    fn code_of(text: &str, tid: usize) -> Vec<String> {
        let c = compile(&parse("t", text).unwrap()).unwrap();
        c.code.programs()[tid].insts.iter().map(|i| i.to_string()).collect()
    }

    /// An address is named from the nearest location at or below it, an element from its
    /// array: a second array's base is that array (`b`), not an offset from the first array's
    /// last element (the catalogue's L058 holds a register pointing at `b`), and an address far
    /// into an array is an offset from it (`t+96`), as herd7 prints them.
    #[test]
    fn addresses_are_named_from_their_own_location() {
        let text = "AArch64 t\n{ int64_t a[2]; int64_t b[2]; int x; 0:X0=b; }\n P0 ;\n NOP ;\nexists (x=0)\n";
        let c = compile(&parse("t", text).unwrap()).unwrap();
        let at = |n: &str| c.symbols.locations[n];
        let name = |v: u64| c.symbols.address_name(v).unwrap();
        assert!(at("b") > at("a[1]"));
        assert_eq!(name(at("b")), "b");
        assert_eq!(name(at("b") + 8), "b+8");
        assert_eq!(name(at("a") + 8), "a+8");
        assert_eq!(name(at("x")), "x");
        // Far into an array, past the first DATA_STRIDE bytes, as herd7 prints it.
        let big = "AArch64 t\n{ int64_t t[16]; int x; 0:X0=t; }\n P0 ;\n NOP ;\nexists (x=0)\n";
        let c = compile(&parse("t", big).unwrap()).unwrap();
        assert_eq!(c.symbols.address_name(c.symbols.locations["t"] + 96).unwrap(), "t+96");
        assert_eq!(c.symbols.address_name(c.symbols.locations["t"] + 127).unwrap(), "t+127");
        assert_eq!(c.symbols.address_name(c.symbols.locations["x"]).unwrap(), "x");
    }

    #[test]
    fn declared_integer_types_keep_their_bits_and_sign() {
        for (name, bits, signed) in [
            ("int", 32, true),
            ("int32_t", 32, true),
            ("uint32_t", 32, false),
            ("unsigned int", 32, false),
            ("unsigned", 32, false),
            ("int64_t", 64, true),
            ("uint64_t", 64, false),
            ("long", 64, true),
            ("unsigned long", 64, false),
            ("intptr_t", 64, true),
            ("size_t", 64, false),
            ("uint8_t", 8, false),
            ("char", 8, true),
            ("short", 16, true),
            ("uint16_t", 16, false),
        ] {
            assert_eq!(IntType::of(name), Some(IntType { bits, signed }), "{name}");
        }
        assert_eq!(IntType::of("atomic_t"), None);
        let all_ones = u64::MAX;
        for (t, v, shown) in [
            (IntType::INT, all_ones, "-1"),
            (IntType::INT, 0xffff_ffff, "-1"),
            (IntType::INT, 1 << 31, "-2147483648"),
            (IntType::INT, (1 << 31) - 1, "2147483647"),
            (IntType::INT, 1 << 32, "0"),
            (IntType::I64, 0xffff_ffff, "4294967295"),
            (IntType::I64, all_ones, "-1"),
            (IntType { bits: 64, signed: false }, all_ones, "18446744073709551615"),
            (IntType { bits: 32, signed: false }, all_ones, "4294967295"),
            (IntType { bits: 8, signed: true }, 0x80, "-128"),
            (IntType { bits: 8, signed: false }, 0x1ff, "255"),
        ] {
            assert_eq!(t.show(v), shown, "{t:?} {v:#x}");
        }
    }

    #[test]
    fn atomics_use_the_arm64_lse_mapping() {
        let text = "C T\n{}\nP0(int *x, atomic_t *v) {\n int r0 = xchg(x, 1);\n int r1 = cmpxchg_acquire(x, 1, r0);\n\
                    r1 = atomic_add_return_release(3, v);\n r1 = atomic_fetch_inc_relaxed(v);\n atomic_sub(r0, v);\n\
                    smp_mb__after_atomic();\n}\nexists (0:r0=0)";
        // Fully ordered is AL, _acquire A, _release L, _relaxed none; the
        // old value goes to a fresh register (X29, X30 are temporaries).
        let expected = [
            "MOV X30,#1",
            "SWPAL X30,X29,[X0]",
            "MOV X2,X29",
            "MOV X30,#1",
            "CASA X30,X2,[X0]",
            "MOV X3,X30",
            "MOV X30,#3",
            "LDADDL X30,X29,[X1]",
            "ADD X3,X29,X30",
            "MOV X30,#1",
            "LDADD X30,X29,[X1]",
            "MOV X3,X29",
            "SUB X30,XZR,X2",
            "STADD X30,[X1]",
            "DMB ISH",
        ];
        assert_eq!(code_of(text, 0), expected);
    }
}
