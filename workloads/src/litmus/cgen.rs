//! The C code generator: herd7-C litmus threads and kernel-C protocol
//! functions, to assembler text with the arm64 kernel mapping (see
//! [`super::compile`] for the table). One generator serves both: a litmus
//! thread's text is assembled on its own, a protocol file's with the rest of
//! the kernel, whose constants (`ISOL_*`, `CT_*`, `PCPU_*`, `TLB_SCHEME`)
//! it names as assembler symbols.
//!
//! Kernel C adds to what litmus threads may say: loops, `return`,
//! short-circuit `&&`/`||`, shifts, `*` and `~`, per-CPU variables, the
//! arm64 helpers (`isb()`, `dsb(opt)`, `dmb(opt)`, `__tlbi(vmalle1)`,
//! `local_flush_tlb_all()`) and `atomic_fetch_or`/`_andnot`/`try_cmpxchg`.
//! Named constants and literals are immediates where the instruction has an
//! immediate form; in litmus threads literals go through a register, as
//! they always did, so that their instruction streams stay as recorded.

use std::collections::{BTreeMap, BTreeSet};

use cpu_model::isa::{Cond, Operand, Reg, Width};
use memory_model::Addr;

use super::ast::{AtomicOp, AtomicOrder, BinOp, CFence, CFunction, Expr, Helper, Pos, Stmt, UnOp};
use super::compile::CompileError;

fn err<T>(pos: Pos, msg: impl Into<String>) -> Result<T, CompileError> {
    Err(CompileError { pos, msg: msg.into() })
}

/// What kernel C may name besides its locals.
#[derive(Clone, Debug, Default)]
pub struct KernelEnv {
    /// Assembler symbols usable as constants (`ISOL_ISOLATED`, `TLB_SCHEME`, ...).
    pub constants: BTreeSet<String>,
    /// Per-CPU variables: the kernel's name → the symbol of its offset in the per-CPU area.
    pub per_cpu: Vec<(String, String)>,
    /// The symbols of the per-CPU areas' layout: area of CPU n = `base + (n << shift)`.
    pub percpu_base: String,
    /// See `percpu_base`.
    pub percpu_shift: String,
}

/// One line of generated assembler: an instruction or a label, with the C
/// line it comes from (0: none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsmLine {
    /// The line's text (`        LDR X10, [X9]`, `name:`).
    pub text: String,
    /// Its C line.
    pub c_line: usize,
    /// A label definition, not an instruction.
    pub label: bool,
}

/// An instruction operand that may be an immediate.
enum Opnd {
    Reg(Reg),
    /// An assembler constant expression (a number or a symbol).
    Imm(String),
}

impl Opnd {
    fn text(&self) -> String {
        match self {
            Opnd::Reg(r) => rx(*r),
            Opnd::Imm(s) => format!("#{s}"),
        }
    }
}

/// The register as the assembler writes it (`X9`, `XZR`).
fn rx(r: Reg) -> String {
    Operand { reg: r, width: Width::X }.to_string()
}

/// A memory operand's offset.
enum Off {
    None,
    Reg(Reg),
    Sym(String),
}

fn mem_text(base: Reg, off: &Off) -> String {
    match off {
        Off::None => format!("[{}]", rx(base)),
        Off::Reg(i) => format!("[{}, {}]", rx(base), rx(*i)),
        Off::Sym(s) => format!("[{}, #{s}]", rx(base)),
    }
}

/// Registers of a generated function.
pub(crate) struct Regs {
    /// Parameter or local name → register.
    pub names: BTreeMap<String, Reg>,
    /// Names declared with a pointer type.
    pub pointers: Vec<String>,
    /// Parameters.
    pub params: Vec<String>,
}

/// The code generator of one litmus thread or protocol function.
pub(crate) struct CGen<'a> {
    out: Vec<AsmLine>,
    pub regs: Regs,
    /// Litmus: shared location name → address (`&x`).
    locations: &'a BTreeMap<String, Addr>,
    /// Kernel C: what it may name; `None` for litmus threads.
    kernel: Option<&'a KernelEnv>,
    /// Registers locals take from the front, temporaries from the back.
    pool: Vec<Reg>,
    next_local: usize,
    next_temp: usize,
    labels: u32,
    /// Prefix of generated labels (unique in the assembled unit).
    prefix: String,
    /// `P0` or the function's name, for messages.
    who: String,
    /// The C line being compiled.
    line: usize,
    /// Kernel C: the register holding this CPU's per-CPU area.
    this_cpu: Option<Reg>,
    /// Innermost loop last: (continue label, break label).
    loops: Vec<(String, String)>,
    /// Kernel C: where `return` goes (the function's end, or an inlined call's).
    ret: Option<Ret>,
    /// Kernel C: the file's functions, which calls inline.
    functions: &'a [CFunction],
    /// Kernel C: the calls being inlined, outermost first.
    inlining: Vec<String>,
    /// Kernel C: `if (c) return K;` of the function itself, out of line after
    /// its `RET`: (label, K's immediate, C line).
    stubs: Vec<(String, String, usize)>,
    /// Kernel C: the per-CPU area of a parameter CPU the function never
    /// assigns, computed once on entry.
    param_areas: BTreeMap<String, Reg>,
}

/// Deepest chain of inlined calls.
const MAX_INLINE_DEPTH: usize = 16;

/// Most lines a protocol function may compile to (inlining multiplies code).
const MAX_FUNCTION_LINES: usize = 20_000;

/// Where a `return` of the code being compiled goes.
#[derive(Clone)]
struct Ret {
    /// The label after the body.
    label: String,
    /// The register its value goes to (`None`: a `void` function).
    value: Option<Reg>,
}

impl<'a> CGen<'a> {
    /// A generator for litmus thread `tid`: parameters (locations) in X0
    /// upwards, locals after them, temporaries from X30 down.
    pub fn litmus(tid: usize, locations: &'a BTreeMap<String, Addr>) -> Self {
        CGen {
            out: vec![],
            regs: Regs { names: BTreeMap::new(), pointers: vec![], params: vec![] },
            locations,
            kernel: None,
            pool: (0..=30).map(Reg).collect(),
            next_local: 0,
            next_temp: 30,
            labels: 0,
            prefix: ".L".to_string(),
            who: format!("P{tid}"),
            line: 0,
            this_cpu: None,
            loops: vec![],
            ret: None,
            functions: &[],
            inlining: vec![],
            stubs: vec![],
            param_areas: BTreeMap::new(),
        }
    }

    /// Declares litmus parameter `name` (the next register).
    pub fn litmus_param(&mut self, name: &str, pos: Pos) -> Result<Reg, CompileError> {
        let r = self.pool[self.next_local];
        if self.regs.names.insert(name.to_string(), r).is_some() {
            return err(pos, format!("parameter `{name}` declared twice"));
        }
        self.next_local += 1;
        self.regs.params.push(name.to_string());
        self.regs.pointers.push(name.to_string());
        Ok(r)
    }

    /// The generated lines.
    pub fn lines(&self) -> &[AsmLine] {
        &self.out
    }

    fn emit(&mut self, text: impl Into<String>) {
        self.out.push(AsmLine { text: format!("        {}", text.into()), c_line: self.line, label: false });
    }

    fn fresh_label(&mut self) -> String {
        self.labels += 1;
        format!("{}{}", self.prefix, self.labels)
    }

    fn place(&mut self, label: &str) {
        self.out.push(AsmLine { text: format!("{label}:"), c_line: self.line, label: true });
    }

    fn temp(&mut self, pos: Pos) -> Result<Reg, CompileError> {
        if self.next_temp <= self.next_local {
            return err(pos, format!("{}: too many registers needed{}", self.who, self.register_rule()));
        }
        let r = self.pool[self.next_temp];
        self.next_temp -= 1;
        Ok(r)
    }

    fn register_rule(&self) -> &'static str {
        if self.kernel.is_some() { " (protocol code may use X0-X1 and X9-X15 only)" } else { "" }
    }

    fn declare(&mut self, name: &str, ptr: bool, pos: Pos) -> Result<Reg, CompileError> {
        if let Some(r) = self.regs.names.get(name) {
            if self.kernel.is_none() && self.regs.params.iter().any(|p| p == name) {
                return err(pos, format!("`{name}` is a parameter"));
            }
            return Ok(*r);
        }
        if self.next_local >= self.next_temp {
            return err(pos, format!("{}: too many locals{}", self.who, self.register_rule()));
        }
        let r = self.pool[self.next_local];
        self.next_local += 1;
        self.regs.names.insert(name.to_string(), r);
        if ptr {
            self.regs.pointers.push(name.to_string());
        }
        Ok(r)
    }

    /// Kernel C: the temporaries taken since `saved` held operands that the
    /// next instruction reads before it writes its result, which may reuse
    /// one of them. (Litmus threads keep their registers as they always had.)
    fn release_operands(&mut self, saved: usize) {
        if self.kernel.is_some() {
            self.next_temp = saved;
        }
    }

    fn target(&mut self, dst: Option<Reg>, pos: Pos) -> Result<Reg, CompileError> {
        match dst {
            Some(r) => Ok(r),
            None => self.temp(pos),
        }
    }

    fn is_constant(&self, name: &str) -> bool {
        !self.regs.names.contains_key(name) && self.kernel.is_some_and(|k| k.constants.contains(name))
    }

    /// `e` as an immediate if it is a constant (kernel C); else `Opnd::Reg(ZR)`,
    /// computing nothing.
    fn constant(&self, e: &Expr) -> Opnd {
        match e {
            Expr::Int(v, _) if self.kernel.is_some() => Opnd::Imm(v.to_string()),
            Expr::Var(n, _) if self.is_constant(n) => Opnd::Imm(n.clone()),
            _ => Opnd::Reg(Reg::ZR),
        }
    }

    /// `e` as an instruction's second operand: an immediate for a constant
    /// (kernel C), else a register.
    fn operand(&mut self, e: &Expr) -> Result<Opnd, CompileError> {
        if self.kernel.is_some() {
            match e {
                Expr::Int(v, _) => return Ok(Opnd::Imm(v.to_string())),
                Expr::Var(n, _) if self.is_constant(n) => return Ok(Opnd::Imm(n.clone())),
                _ => {}
            }
        }
        Ok(Opnd::Reg(self.expr(e, None)?))
    }

    /// Computes `e` into a register (`dst` if given, written last, after
    /// every operand is read) and returns it. Temporaries stay allocated
    /// until the end of the statement.
    pub fn expr(&mut self, e: &Expr, dst: Option<Reg>) -> Result<Reg, CompileError> {
        match e {
            Expr::Int(v, pos) => {
                let r = self.target(dst, *pos)?;
                self.emit(format!("MOV {}, #{v}", rx(r)));
                Ok(r)
            }
            Expr::Var(name, pos) => {
                if self.is_constant(name) {
                    let r = self.target(dst, *pos)?;
                    self.emit(format!("MOV {}, #{name}", rx(r)));
                    return Ok(r);
                }
                let Some(&src) = self.regs.names.get(name) else {
                    return err(*pos, self.unknown_name(name));
                };
                match dst {
                    Some(d) if d != src => {
                        self.emit(format!("MOV {}, {}", rx(d), rx(src)));
                        Ok(d)
                    }
                    _ => Ok(src),
                }
            }
            Expr::AddrOf(name, pos) => {
                if self.kernel.is_some() {
                    return err(
                        *pos,
                        format!(
                            "unsupported: `&{name}` (only `atomic_try_cmpxchg(p, &{name}, new)` takes a local's \
                             address; per-CPU variables: this_cpu_ptr(&var), per_cpu_ptr(&var, cpu))"
                        ),
                    );
                }
                let Some(&a) = self.locations.get(name) else {
                    return err(*pos, format!("unknown location `{name}`"));
                };
                let r = self.target(dst, *pos)?;
                self.emit(format!("MOV {}, #{}", rx(r), a as i64));
                Ok(r)
            }
            Expr::PerCpu { var, cpu, pos } => {
                let saved = self.next_temp;
                let (base, off) = self.per_cpu(var, cpu.as_deref(), *pos)?;
                self.release_operands(saved);
                let r = self.target(dst, *pos)?;
                self.emit(format!("ADD {}, {}, #{off}", rx(r), rx(base)));
                Ok(r)
            }
            Expr::ReadOnce(addr, pos) | Expr::LoadAcquire(addr, pos) => {
                let acquire = matches!(e, Expr::LoadAcquire(..));
                let saved = self.next_temp;
                let (base, off) = self.address(addr, acquire)?;
                self.release_operands(saved);
                let r = self.target(dst, *pos)?;
                self.emit(format!("{} {}, {}", if acquire { "LDAR" } else { "LDR" }, rx(r), mem_text(base, &off)));
                Ok(r)
            }
            Expr::Atomic { op: AtomicOp::TryCmpxchg, pos, .. } => {
                let (t, old) = self.try_cmpxchg(e)?;
                let r = self.target(dst, *pos)?;
                self.emit(format!("CMP {}, {}", rx(t), rx(old)));
                self.emit(format!("CSET {}, EQ", rx(r)));
                self.emit(format!("MOV {}, {}", rx(old), rx(t)));
                Ok(r)
            }
            Expr::Atomic { op, order, addr, value, expected, pos } => {
                let suffix = order_suffix(*order);
                let base = self.expr(addr, None)?;
                let v = self.expr(value, None)?;
                // The old value lands in a fresh register, so that no operand
                // is overwritten before the instruction reads it.
                let old = self.temp(*pos)?;
                let rmw = |m: &str, rs: Reg, rt: Reg| format!("{m}{suffix} {}, {}, [{}]", rx(rs), rx(rt), rx(base));
                match op {
                    AtomicOp::Xchg => self.emit(rmw("SWP", v, old)),
                    AtomicOp::Cmpxchg => {
                        let e = expected.as_deref().expect("cmpxchg has an expected value");
                        self.expr(e, Some(old))?;
                        self.emit(rmw("CAS", old, v));
                    }
                    AtomicOp::Add { .. } => self.emit(rmw("LDADD", v, old)),
                    AtomicOp::FetchOr => self.emit(rmw("LDSET", v, old)),
                    AtomicOp::FetchAndnot => self.emit(rmw("LDCLR", v, old)),
                    AtomicOp::TryCmpxchg => unreachable!("handled above"),
                }
                if let AtomicOp::Add { fetch: false } = op {
                    let r = self.target(dst, *pos)?;
                    self.emit(format!("ADD {}, {}, {}", rx(r), rx(old), rx(v)));
                    return Ok(r);
                }
                match dst {
                    Some(d) => {
                        self.emit(format!("MOV {}, {}", rx(d), rx(old)));
                        Ok(d)
                    }
                    None => Ok(old),
                }
            }
            Expr::Call { .. } => Ok(self.call(e, dst, true)?.expect("a value was asked for")),
            Expr::Unary(op, a, pos) => {
                let saved = self.next_temp;
                let ra = self.expr(a, None)?;
                self.release_operands(saved);
                let r = self.target(dst, *pos)?;
                match op {
                    UnOp::Neg => self.emit(format!("SUB {}, XZR, {}", rx(r), rx(ra))),
                    UnOp::BitNot => self.emit(format!("EOR {}, {}, #-1", rx(r), rx(ra))),
                    UnOp::Not => {
                        self.emit(format!("CMP {}, #0", rx(ra)));
                        self.emit(format!("CSET {}, EQ", rx(r)));
                    }
                }
                Ok(r)
            }
            Expr::Binary(op @ (BinOp::LAnd | BinOp::LOr), _, _, pos) if self.kernel.is_some() => {
                // C's short circuit: the right operand only when the left does not decide.
                let _ = op;
                let (f, end) = (self.fresh_label(), self.fresh_label());
                let t = self.temp(*pos)?;
                self.branch(e, false, &f)?;
                self.emit(format!("MOV {}, #1", rx(t)));
                self.emit(format!("B {end}"));
                self.place(&f);
                self.emit(format!("MOV {}, #0", rx(t)));
                self.place(&end);
                match dst {
                    Some(d) => {
                        self.emit(format!("MOV {}, {}", rx(d), rx(t)));
                        Ok(d)
                    }
                    None => Ok(t),
                }
            }
            Expr::Binary(op, a, b, pos) => {
                let saved = self.next_temp;
                let ra = self.expr(a, None)?;
                let ob = if *op == BinOp::Mul { Opnd::Reg(self.expr(b, None)?) } else { self.operand(b)? };
                if !matches!(op, BinOp::LAnd | BinOp::LOr) {
                    self.release_operands(saved);
                }
                let r = self.target(dst, *pos)?;
                let alu = |m: &str| format!("{m} {}, {}, {}", rx(r), rx(ra), ob.text());
                match op {
                    BinOp::Add => self.emit(alu("ADD")),
                    BinOp::Sub => self.emit(alu("SUB")),
                    BinOp::Mul => self.emit(alu("MUL")),
                    BinOp::Shl => self.emit(alu("LSL")),
                    BinOp::Shr => self.emit(alu("LSR")),
                    BinOp::Xor => self.emit(alu("EOR")),
                    BinOp::And => self.emit(alu("AND")),
                    BinOp::Or => self.emit(alu("ORR")),
                    BinOp::LAnd | BinOp::LOr => {
                        // herd7's C threads: both operands, as this compiler always did.
                        let t = self.temp(*pos)?;
                        self.emit(format!("CMP {}, #0", rx(ra)));
                        self.emit(format!("CSET {}, NE", rx(t)));
                        self.emit(format!("CMP {}, #0", ob.text()));
                        self.emit(format!("CSET {}, NE", rx(r)));
                        let m = if *op == BinOp::LAnd { "AND" } else { "ORR" };
                        self.emit(format!("{m} {}, {}, {}", rx(r), rx(r), rx(t)));
                    }
                    cmp => {
                        self.emit(format!("CMP {}, {}", rx(ra), ob.text()));
                        self.emit(format!("CSET {}, {}", rx(r), cond_name(cond_of(*cmp))));
                    }
                }
                Ok(r)
            }
        }
    }

    fn unknown_name(&self, name: &str) -> String {
        match self.kernel {
            None => format!("unknown variable `{name}`"),
            Some(k) if k.per_cpu.iter().any(|(v, _)| v == name) => format!(
                "`{name}` is a per-CPU variable: read it with this_cpu_read({name}) or per_cpu({name}, cpu), write \
                 it with this_cpu_write({name}, v) or WRITE_ONCE(per_cpu({name}, cpu), v)"
            ),
            Some(_) => format!("unknown variable or kernel constant `{name}`"),
        }
    }

    /// Inlines the call `e` of a function of the file: its arguments are
    /// computed into fresh registers, its body compiled with only its
    /// parameters in scope, its `return`s branch past it with the value in
    /// `dst` (or a temporary) when `want` a value. Returns that register.
    fn call(&mut self, e: &Expr, dst: Option<Reg>, want: bool) -> Result<Option<Reg>, CompileError> {
        let Expr::Call { name, args, pos } = e else { unreachable!("a call") };
        let functions = self.functions;
        let Some(f) = functions.iter().find(|f| f.name == *name) else {
            return err(
                *pos,
                format!("unsupported: call to `{name}` (a call is inlined: define `{name}` in this file)"),
            );
        };
        if self.inlining.contains(name) || self.who == *name {
            return err(*pos, format!("unsupported: recursive call of `{name}` (calls are inlined)"));
        }
        if self.inlining.len() >= MAX_INLINE_DEPTH {
            return err(*pos, format!("calls nested deeper than {MAX_INLINE_DEPTH} (each is inlined)"));
        }
        if self.out.len() > MAX_FUNCTION_LINES {
            return err(*pos, format!("`{}` compiles to more than {MAX_FUNCTION_LINES} instructions", self.who));
        }
        if args.len() != f.params.len() {
            return err(*pos, format!("`{name}` takes {} argument(s), not {}", f.params.len(), args.len()));
        }
        if want && !f.returns_value {
            return err(*pos, format!("`{name}` returns void: its call has no value"));
        }
        // The value's register first: a temporary outlives the callee's locals and temporaries.
        let value = if f.returns_value { Some(self.target(dst, *pos)?) } else { None };
        let saved_local = self.next_local;
        let mut bound = BTreeMap::new();
        for (p, a) in f.params.iter().zip(args) {
            if self.next_local >= self.next_temp {
                return err(a.pos(), format!("{}: too many registers needed{}", self.who, self.register_rule()));
            }
            let r = self.pool[self.next_local];
            self.next_local += 1;
            self.expr(a, Some(r))?;
            bound.insert(p.name.clone(), r);
        }
        let end = self.fresh_label();
        let names = std::mem::replace(&mut self.regs.names, bound);
        let loops = std::mem::take(&mut self.loops);
        let ret = self.ret.replace(Ret { label: end.clone(), value });
        self.inlining.push(name.clone());
        let mut r = Ok(());
        for s in &f.body {
            r = self.stmt(s);
            if r.is_err() {
                break;
            }
        }
        self.inlining.pop();
        self.ret = ret;
        self.loops = loops;
        self.regs.names = names;
        self.next_local = saved_local;
        r?;
        self.line = pos.line;
        self.place(&end);
        Ok(value)
    }

    /// `MOV t, old; CAS t, new, [p]`: returns `t`, the value found, and
    /// `old`'s register; the swap happened if they are equal, and `old` must
    /// then be given `t` (the caller orders that against its branch).
    fn try_cmpxchg(&mut self, e: &Expr) -> Result<(Reg, Reg), CompileError> {
        let Expr::Atomic { order, addr, value, expected, pos, .. } = e else { unreachable!("an atomic") };
        let Some(Expr::AddrOf(name, npos)) = expected.as_deref() else {
            return err(*pos, "atomic_try_cmpxchg's second argument must be `&local`, the expected value's local");
        };
        let Some(&old) = self.regs.names.get(name) else {
            return err(*npos, format!("unknown local `{name}`"));
        };
        let base = self.expr(addr, None)?;
        let v = self.expr(value, None)?;
        let t = self.temp(*pos)?;
        self.emit(format!("MOV {}, {}", rx(t), rx(old)));
        self.emit(format!("CAS{} {}, {}, [{}]", order_suffix(*order), rx(t), rx(v), rx(base)));
        Ok((t, old))
    }

    /// The base register and offset symbol of per-CPU variable `var` of
    /// `cpu` (this CPU if `None`).
    fn per_cpu(&mut self, var: &str, cpu: Option<&Expr>, pos: Pos) -> Result<(Reg, String), CompileError> {
        let Some(k) = self.kernel else {
            return err(pos, format!("unsupported: per-CPU variable `{var}` in a litmus test"));
        };
        let Some((_, off)) = k.per_cpu.iter().find(|(v, _)| v == var) else {
            let known: Vec<&str> = k.per_cpu.iter().map(|(v, _)| v.as_str()).collect();
            return err(pos, format!("unknown per-CPU variable `{var}` (known: {})", known.join(", ")));
        };
        let off = off.clone();
        match cpu {
            None => Ok((self.this_cpu.expect("this_cpu is loaded when the function uses it"), off)),
            Some(Expr::Var(n, _)) if self.inlining.is_empty() && self.param_areas.contains_key(n) => {
                Ok((self.param_areas[n], off))
            }
            Some(c) => {
                let rc = self.expr(c, None)?;
                let t = self.temp(pos)?;
                self.emit(format!("LSL {}, {}, #{}", rx(t), rx(rc), k.percpu_shift));
                self.emit(format!("ADD {}, {}, #{}", rx(t), rx(t), k.percpu_base));
                Ok((t, off))
            }
        }
    }

    /// Base register and offset of the access `*addr` (`ordered`: an LDAR or
    /// STLR, which take only `[Xn]`).
    fn address(&mut self, addr: &Expr, ordered: bool) -> Result<(Reg, Off), CompileError> {
        match (ordered, addr) {
            (false, Expr::Binary(BinOp::Add, a, b, _)) => {
                let ra = self.expr(a, None)?;
                let rb = self.expr(b, None)?;
                Ok((ra, Off::Reg(rb)))
            }
            (false, Expr::PerCpu { var, cpu, pos }) => {
                let (base, off) = self.per_cpu(var, cpu.as_deref(), *pos)?;
                Ok((base, Off::Sym(off)))
            }
            _ => Ok((self.expr(addr, None)?, Off::None)),
        }
    }

    /// Branches to `label` when `e` is true (`when`) or false (`!when`), in
    /// C's short-circuit order (kernel C).
    fn branch(&mut self, e: &Expr, when: bool, label: &str) -> Result<(), CompileError> {
        let saved = self.next_temp;
        match e {
            Expr::Unary(UnOp::Not, a, _) => self.branch(a, !when, label)?,
            Expr::Binary(op @ (BinOp::LAnd | BinOp::LOr), a, b, _) => {
                // `a && b` is false as soon as `a` is; `a || b` true as soon as `a` is.
                let decides = *op == BinOp::LOr;
                if when == decides {
                    self.branch(a, when, label)?;
                    self.branch(b, when, label)?;
                } else {
                    let skip = self.fresh_label();
                    self.branch(a, decides, &skip)?;
                    self.branch(b, when, label)?;
                    self.place(&skip);
                }
            }
            Expr::Binary(op @ (BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Gt | BinOp::Le | BinOp::Ge), a, b, _) => {
                let ra = self.expr(a, None)?;
                let ob = self.operand(b)?;
                self.emit(format!("CMP {}, {}", rx(ra), ob.text()));
                let c = if when { cond_of(*op) } else { invert(cond_of(*op)) };
                self.emit(format!("B.{} {label}", cond_name(c)));
            }
            Expr::Atomic { op: AtomicOp::TryCmpxchg, .. } => {
                // `old` takes the value found only when the swap failed (it is that value
                // otherwise): on the failure path, after the branch.
                let (t, old) = self.try_cmpxchg(e)?;
                self.emit(format!("CMP {}, {}", rx(t), rx(old)));
                if when {
                    self.emit(format!("B.EQ {label}"));
                    self.emit(format!("MOV {}, {}", rx(old), rx(t)));
                } else {
                    let swapped = self.fresh_label();
                    self.emit(format!("B.EQ {swapped}"));
                    self.emit(format!("MOV {}, {}", rx(old), rx(t)));
                    self.emit(format!("B {label}"));
                    self.place(&swapped);
                }
            }
            Expr::Int(v, _) => {
                if (*v != 0) == when {
                    self.emit(format!("B {label}"));
                }
            }
            _ => {
                let r = self.expr(e, None)?;
                self.emit(format!("{} {}, {label}", if when { "CBNZ" } else { "CBZ" }, rx(r)));
            }
        }
        self.next_temp = saved;
        Ok(())
    }

    /// Where `body` jumps, if it is only a jump (kernel C): `return;` in a
    /// void function, `break;`, `continue;`.
    fn jump_target(&self, body: &[Stmt]) -> Option<String> {
        self.kernel?;
        match body {
            [Stmt::Return(None, _)] => self.ret.as_ref().filter(|r| r.value.is_none()).map(|r| r.label.clone()),
            [Stmt::Break(_)] => self.loops.last().map(|l| l.1.clone()),
            [Stmt::Continue(_)] => self.loops.last().map(|l| l.0.clone()),
            _ => None,
        }
    }

    /// Compiles one statement; its temporaries are free again afterwards.
    pub fn stmt(&mut self, s: &Stmt) -> Result<(), CompileError> {
        let saved = self.next_temp;
        if let Some(p) = stmt_pos(s) {
            self.line = p.line;
        }
        let r = self.stmt_inner(s);
        self.next_temp = saved;
        r
    }

    fn stmt_inner(&mut self, s: &Stmt) -> Result<(), CompileError> {
        match s {
            Stmt::Decl { name, ty, init, pos } => {
                let r = self.declare(name, ty.is_ptr(), *pos)?;
                if let Some(e) = init {
                    self.expr(e, Some(r))?;
                }
            }
            Stmt::Assign { name, value, pos } => {
                let r = match self.regs.names.get(name) {
                    Some(&r) => r,
                    // herd7 takes a name assigned without a declaration (and not a location) as a
                    // register declared there; kernel C declares its locals.
                    None if self.kernel.is_none() && !self.locations.contains_key(name.as_str()) => {
                        self.declare(name, false, *pos)?
                    }
                    None => return err(*pos, format!("assignment to undeclared `{name}`")),
                };
                if self.kernel.is_none() && self.regs.params.iter().any(|p| p == name) {
                    return err(*pos, format!("unsupported: assignment to parameter `{name}`"));
                }
                self.expr(value, Some(r))?;
            }
            Stmt::WriteOnce { addr, value, .. } | Stmt::StoreRelease { addr, value, .. } => {
                let release = matches!(s, Stmt::StoreRelease { .. });
                let v = match value {
                    Expr::Int(0, _) if self.kernel.is_some() => Reg::ZR,
                    _ => self.expr(value, None)?,
                };
                let (base, off) = self.address(addr, release)?;
                self.emit(format!("{} {}, {}", if release { "STLR" } else { "STR" }, rx(v), mem_text(base, &off)));
            }
            Stmt::AtomicAdd { addr, value, .. } => {
                let base = self.expr(addr, None)?;
                let v = self.expr(value, None)?;
                self.emit(format!("STADD {}, [{}]", rx(v), rx(base)));
            }
            Stmt::Fence(f, _) => self.emit(match f {
                CFence::Mb => "DMB ISH",
                CFence::Rmb => "DMB ISHLD",
                CFence::Wmb => "DMB ISHST",
            }),
            Stmt::Helper(h, _) => match h {
                Helper::Isb => self.emit("ISB"),
                Helper::Dsb(o) => self.emit(format!("DSB {}", o.asm())),
                Helper::Dmb(o) => self.emit(format!("DMB {}", o.asm())),
                Helper::TlbiVmalle1 => self.emit("TLBI VMALLE1"),
                Helper::LocalFlushTlbAll => {
                    self.emit("TLBI VMALLE1");
                    self.emit("DSB NSH");
                    self.emit("ISB");
                }
            },
            Stmt::If { cond, then, els, pos } => {
                // `if (c) return;`, `if (c) break;`, `if (c) continue;`: one branch.
                if let (Some(target), true) = (self.jump_target(then), els.is_empty()) {
                    return self.branch(cond, true, &target);
                }
                // `if (c) return K;` of the function itself: a branch to `MOV X0, #K; RET` after its body.
                if let ([Stmt::Return(Some(k), _)], true) = (then.as_slice(), els.is_empty())
                    && self.inlining.is_empty()
                    && self.ret.as_ref().is_some_and(|r| r.value.is_some())
                    && let Opnd::Imm(imm) = self.constant(k)
                {
                    let stub = self.fresh_label();
                    self.branch(cond, true, &stub)?;
                    self.stubs.push((stub, imm, k.pos().line));
                    return Ok(());
                }
                let else_l = self.fresh_label();
                let end_l = self.fresh_label();
                let saved = self.next_temp;
                if self.kernel.is_some() {
                    self.branch(cond, false, &else_l)?;
                } else {
                    match cond {
                        Expr::Binary(
                            op @ (BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Gt | BinOp::Le | BinOp::Ge),
                            a,
                            b,
                            _,
                        ) => {
                            let ra = self.expr(a, None)?;
                            let rb = self.expr(b, None)?;
                            self.emit(format!("CMP {}, {}", rx(ra), rx(rb)));
                            self.emit(format!("B.{} {else_l}", cond_name(invert(cond_of(*op)))));
                        }
                        e => {
                            let r = self.expr(e, None)?;
                            self.emit(format!("CMP {}, #0", rx(r)));
                            self.emit(format!("B.EQ {else_l}"));
                        }
                    }
                }
                self.next_temp = saved;
                for s in then {
                    self.stmt(s)?;
                }
                if !els.is_empty() {
                    self.line = pos.line;
                    self.emit(format!("B {end_l}"));
                }
                self.place(&else_l);
                for s in els {
                    self.stmt(s)?;
                }
                self.place(&end_l);
            }
            Stmt::Loop { cond, body, step, do_while, pos } => {
                let (top, cont, end) = (self.fresh_label(), self.fresh_label(), self.fresh_label());
                self.place(&top);
                if let (Some(c), false) = (cond, do_while) {
                    self.branch(c, false, &end)?;
                }
                self.loops.push((cont.clone(), end.clone()));
                for s in body {
                    self.stmt(s)?;
                }
                self.loops.pop();
                self.place(&cont);
                for s in step {
                    self.stmt(s)?;
                }
                self.line = pos.line;
                match (cond, do_while) {
                    (Some(c), true) => self.branch(c, true, &top)?,
                    _ => self.emit(format!("B {top}")),
                }
                self.place(&end);
            }
            Stmt::Break(pos) | Stmt::Continue(pos) => {
                let brk = matches!(s, Stmt::Break(_));
                let Some((cont, end)) = self.loops.last().cloned() else {
                    return err(*pos, format!("`{}` outside a loop", if brk { "break" } else { "continue" }));
                };
                self.emit(format!("B {}", if brk { end } else { cont }));
            }
            Stmt::Return(value, pos) => {
                let Some(Ret { label, value: to }) = self.ret.clone() else {
                    return err(*pos, "unsupported: return");
                };
                let who = self.inlining.last().unwrap_or(&self.who).clone();
                match (value, to) {
                    (Some(v), Some(r)) => {
                        self.expr(v, Some(r))?;
                    }
                    (None, None) => {}
                    (Some(v), None) => {
                        return err(v.pos(), format!("`{who}` returns void: `return` takes no value"));
                    }
                    (None, Some(_)) => return err(*pos, format!("`{who}` returns a value: `return` needs one")),
                }
                self.emit(format!("B {label}"));
            }
            Stmt::Expr(e, _) => {
                if let Expr::Atomic { op: AtomicOp::TryCmpxchg, .. } = e {
                    let (t, old) = self.try_cmpxchg(e)?;
                    self.emit(format!("MOV {}, {}", rx(old), rx(t)));
                } else if let Expr::Call { .. } = e {
                    self.call(e, None, false)?;
                } else {
                    self.expr(e, None)?;
                }
            }
        }
        Ok(())
    }
}

fn order_suffix(order: AtomicOrder) -> &'static str {
    match order {
        AtomicOrder::Relaxed => "",
        AtomicOrder::Acquire => "A",
        AtomicOrder::Release => "L",
        AtomicOrder::Full => "AL",
    }
}

fn stmt_pos(s: &Stmt) -> Option<Pos> {
    Some(match s {
        Stmt::Decl { pos, .. }
        | Stmt::Assign { pos, .. }
        | Stmt::WriteOnce { pos, .. }
        | Stmt::StoreRelease { pos, .. }
        | Stmt::AtomicAdd { pos, .. }
        | Stmt::If { pos, .. }
        | Stmt::Loop { pos, .. } => *pos,
        Stmt::Fence(_, pos)
        | Stmt::Helper(_, pos)
        | Stmt::Break(pos)
        | Stmt::Continue(pos)
        | Stmt::Return(_, pos)
        | Stmt::Expr(_, pos) => *pos,
    })
}

pub(crate) fn cond_of(op: BinOp) -> Cond {
    match op {
        BinOp::Eq => Cond::Eq,
        BinOp::Ne => Cond::Ne,
        BinOp::Lt => Cond::Lt,
        BinOp::Gt => Cond::Gt,
        BinOp::Le => Cond::Le,
        BinOp::Ge => Cond::Ge,
        _ => unreachable!("not a comparison"),
    }
}

/// The condition as the assembler writes it (the comparisons C has).
fn cond_name(c: Cond) -> &'static str {
    match c {
        Cond::Eq => "EQ",
        Cond::Ne => "NE",
        Cond::Lt => "LT",
        Cond::Ge => "GE",
        Cond::Gt => "GT",
        Cond::Le => "LE",
        _ => unreachable!("C's comparisons only"),
    }
}

pub(crate) fn invert(c: Cond) -> Cond {
    match c {
        Cond::Eq => Cond::Ne,
        Cond::Ne => Cond::Eq,
        Cond::Lt => Cond::Ge,
        Cond::Ge => Cond::Lt,
        Cond::Gt => Cond::Le,
        Cond::Le => Cond::Gt,
        other => other,
    }
}

/// Whether `s` assigns local `name` (a declaration of that name counts).
fn stmt_assigns(s: &Stmt, name: &str) -> bool {
    match s {
        Stmt::Decl { name: n, .. } | Stmt::Assign { name: n, .. } => n == name,
        Stmt::If { then, els, .. } => then.iter().chain(els).any(|s| stmt_assigns(s, name)),
        Stmt::Loop { body, step, .. } => body.iter().chain(step).any(|s| stmt_assigns(s, name)),
        _ => false,
    }
}

/// Whether any expression of `stmts` satisfies `f`.
fn stmts_any(stmts: &[Stmt], f: &dyn Fn(&Expr) -> bool) -> bool {
    stmts.iter().any(|s| stmt_any(s, f))
}

fn stmt_any(s: &Stmt, f: &dyn Fn(&Expr) -> bool) -> bool {
    match s {
        Stmt::Decl { init, .. } => init.as_ref().is_some_and(|e| expr_any(e, f)),
        Stmt::Assign { value, .. } => expr_any(value, f),
        Stmt::WriteOnce { addr, value, .. }
        | Stmt::StoreRelease { addr, value, .. }
        | Stmt::AtomicAdd { addr, value, .. } => expr_any(addr, f) || expr_any(value, f),
        Stmt::If { cond, then, els, .. } => expr_any(cond, f) || stmts_any(then, f) || stmts_any(els, f),
        Stmt::Loop { cond, body, step, .. } => {
            cond.as_ref().is_some_and(|e| expr_any(e, f)) || stmts_any(body, f) || stmts_any(step, f)
        }
        Stmt::Return(Some(e), _) | Stmt::Expr(e, _) => expr_any(e, f),
        Stmt::Return(None, _) | Stmt::Fence(..) | Stmt::Helper(..) | Stmt::Break(_) | Stmt::Continue(_) => false,
    }
}

fn expr_any(e: &Expr, f: &dyn Fn(&Expr) -> bool) -> bool {
    if f(e) {
        return true;
    }
    match e {
        Expr::Int(..) | Expr::Var(..) | Expr::AddrOf(..) => false,
        Expr::ReadOnce(a, _) | Expr::LoadAcquire(a, _) | Expr::Unary(_, a, _) => expr_any(a, f),
        Expr::PerCpu { cpu, .. } => cpu.as_deref().is_some_and(|c| expr_any(c, f)),
        Expr::Atomic { addr, value, expected, .. } => {
            expr_any(addr, f) || expr_any(value, f) || expected.as_deref().is_some_and(|x| expr_any(x, f))
        }
        Expr::Binary(_, a, b, _) => expr_any(a, f) || expr_any(b, f),
        Expr::Call { args, .. } => args.iter().any(|a| expr_any(a, f)),
    }
}

/// The functions of `functions` that `f` calls, directly or through others
/// (each body walked once).
fn called<'f>(f: &CFunction, functions: &'f [CFunction]) -> Vec<&'f CFunction> {
    let by_name: BTreeMap<&str, &CFunction> = functions.iter().map(|g| (g.name.as_str(), g)).collect();
    let mut out: Vec<&CFunction> = vec![];
    let mut seen: BTreeSet<&str> = BTreeSet::from([f.name.as_str()]);
    let mut todo = vec![&f.body];
    while let Some(body) = todo.pop() {
        let names = std::cell::RefCell::new(vec![]);
        stmts_any(body, &|e| {
            if let Expr::Call { name, .. } = e {
                names.borrow_mut().push(name.clone());
            }
            false
        });
        for n in names.into_inner() {
            if let Some(g) = by_name.get(n.as_str())
                && seen.insert(g.name.as_str())
            {
                out.push(g);
                todo.push(&g.body);
            }
        }
    }
    out
}

/// The label that ends `name`'s body, if the kernel probes it
/// (`enter_from_user_mode`'s return is `entry_hook_done`).
fn end_label(name: &str) -> Option<&'static str> {
    (name == "enter_from_user_mode").then_some("entry_hook_done")
}

/// Compiles one protocol function to assembler lines: its label, its body
/// under the protocol files' register rules (arguments in X0-X1, result in
/// X0, X9-X15 scratch; nothing else touched), `RET`.
pub fn compile_function(f: &CFunction, env: &KernelEnv, functions: &[CFunction]) -> Result<Vec<AsmLine>, CompileError> {
    if f.params.len() > 2 {
        return err(f.params[2].pos, "a protocol function takes at most two arguments (X0, X1)");
    }
    let empty = BTreeMap::new();
    let params: Vec<Reg> = (0..f.params.len() as u8).map(Reg).collect();
    // X0 carries the result; a free argument register is one more scratch one.
    let spare = (f.params.len() as u8..2).map(Reg).filter(|r| !(f.returns_value && *r == Reg(0)));
    let pool: Vec<Reg> = params.iter().copied().chain((9..=15).map(Reg)).chain(spare).collect();
    let ret = end_label(&f.name).map_or_else(|| format!(".L{}_return", f.name), str::to_string);
    let mut g = CGen {
        out: vec![],
        regs: Regs { names: BTreeMap::new(), pointers: vec![], params: vec![] },
        locations: &empty,
        kernel: Some(env),
        next_temp: pool.len() - 1,
        pool,
        next_local: 0,
        labels: 0,
        prefix: format!(".L{}_", f.name),
        who: f.name.clone(),
        line: f.pos.line,
        this_cpu: None,
        loops: vec![],
        ret: Some(Ret { label: ret.clone(), value: f.returns_value.then_some(Reg(0)) }),
        functions,
        inlining: vec![],
        stubs: vec![],
        param_areas: BTreeMap::new(),
    };
    for p in &f.params {
        let r = g.pool[g.next_local];
        if g.regs.names.insert(p.name.clone(), r).is_some() {
            return err(p.pos, format!("parameter `{}` declared twice", p.name));
        }
        g.next_local += 1;
        g.regs.params.push(p.name.clone());
    }
    g.place(&f.name);
    // This CPU's area, if the body or a function it calls uses it.
    let this_cpu = |body: &[Stmt]| stmts_any(body, &|e| matches!(e, Expr::PerCpu { cpu: None, .. }));
    if this_cpu(&f.body) || called(f, functions).iter().any(|g| this_cpu(&g.body)) {
        let r = g.declare("this CPU's per-CPU area", true, f.pos)?;
        g.emit(format!("MRS {}, TPIDR_EL1", rx(r)));
        g.this_cpu = Some(r);
    }
    // The per-CPU area of each parameter CPU that `per_cpu(var, cpu)` names and nothing assigns.
    for p in &f.params {
        let names_area = |e: &Expr| matches!(e, Expr::PerCpu { cpu: Some(c), .. } if matches!(&**c, Expr::Var(n, _) if *n == p.name));
        let assigned = f.body.iter().any(|s| stmt_assigns(s, &p.name))
            || stmts_any(&f.body, &|e| matches!(e, Expr::AddrOf(n, _) if *n == p.name));
        if stmts_any(&f.body, &names_area) && !assigned {
            let r = g.declare(&format!("the per-CPU area of {}", p.name), true, f.pos)?;
            let (cpu, k) = (g.regs.names[&p.name], env);
            g.emit(format!("LSL {}, {}, #{}", rx(r), rx(cpu), k.percpu_shift));
            g.emit(format!("ADD {}, {}, #{}", rx(r), rx(r), k.percpu_base));
            g.param_areas.insert(p.name.clone(), r);
        }
    }
    for s in &f.body {
        g.stmt(s)?;
    }
    g.line = f.end.line;
    g.place(&ret);
    g.emit("RET");
    for (label, imm, line) in std::mem::take(&mut g.stubs) {
        g.line = line;
        g.place(&label);
        g.emit(format!("MOV X0, #{imm}"));
        g.emit("RET");
    }
    // A branch to the very next instruction is dropped (a `return` at the end, an empty `else`).
    let mut out: Vec<AsmLine> = vec![];
    for (i, l) in g.out.iter().enumerate() {
        if let Some(target) = l.text.trim_start().strip_prefix("B ")
            && g.out[i + 1..].iter().take_while(|n| n.label).any(|n| n.text.strip_suffix(':') == Some(target))
        {
            continue;
        }
        out.push(l.clone());
    }
    // Labels at one address are one: branches name the last of them (the
    // function's own labels come last), and generated labels no branch names
    // are dropped (timelines name code by its nearest label).
    let mut alias: BTreeMap<String, String> = BTreeMap::new();
    let mut i = 0;
    while i < out.len() {
        let group = out[i..].iter().take_while(|l| l.label).count();
        if group > 1 {
            let last = out[i + group - 1].text.trim_end_matches(':').to_string();
            for l in &out[i..i + group - 1] {
                alias.insert(l.text.trim_end_matches(':').to_string(), last.clone());
            }
        }
        i += group.max(1);
    }
    for l in out.iter_mut().filter(|l| !l.label) {
        if let Some((head, target)) = l.text.rsplit_once(' ')
            && let Some(to) = alias.get(target)
        {
            l.text = format!("{head} {to}");
        }
    }
    let used: BTreeSet<String> =
        out.iter().filter(|l| !l.label).filter_map(|l| l.text.split_whitespace().last()).map(str::to_string).collect();
    let keep = |l: &AsmLine| !l.label || !l.text.starts_with(".L") || used.contains(l.text.trim_end_matches(':'));
    Ok(out.iter().filter(|l| keep(l)).cloned().collect())
}

/// A protocol file compiled from kernel C.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledProtocol {
    /// The assembler text, assembled with the rest of the kernel.
    pub asm: String,
    /// The C line of each line of `asm` (index: line - 1; 0 for none).
    pub c_lines: Vec<usize>,
}

/// Parses and compiles the kernel-C protocol file `text` (named `path` in
/// errors): every function must be one of `functions`.
pub fn compile_protocol(
    path: &str,
    text: &str,
    env: &KernelEnv,
    functions: &[&str],
) -> Result<CompiledProtocol, super::parse::ParseError> {
    let at =
        |pos: Pos, msg: String| super::parse::ParseError { path: path.to_string(), line: pos.line, col: pos.col, msg };
    let fs = super::cparse::parse_kernel_c(path, text)?;
    let source: Vec<&str> = text.lines().collect();
    let name = std::path::Path::new(path).file_name().and_then(|n| n.to_str()).unwrap_or(path);
    let mut asm = format!("// Compiled by isolsim from {name}: each instruction's comment is its C line.\n");
    let mut c_lines = vec![0];
    // The protocol's functions are compiled; the others are inlined where they are called.
    let entries: Vec<&CFunction> = fs.iter().filter(|f| functions.contains(&f.name.as_str())).collect();
    let reached: BTreeSet<&str> = entries.iter().flat_map(|e| called(e, &fs)).map(|g| g.name.as_str()).collect();
    for f in fs.iter().filter(|f| !functions.contains(&f.name.as_str())) {
        if !reached.contains(f.name.as_str()) {
            return Err(at(
                f.pos,
                format!("`{}` is neither a protocol function ({}) nor called by one", f.name, functions.join(", ")),
            ));
        }
    }
    for f in entries {
        let lines = compile_function(f, env, &fs).map_err(|e| at(e.pos, e.msg))?;
        asm.push('\n');
        c_lines.push(0);
        let mut last = 0;
        for l in lines {
            asm.push_str(&l.text);
            if !l.label && l.c_line != last && l.c_line > 0 {
                let src = source.get(l.c_line - 1).map_or(String::new(), |s| s.trim().replace('\t', " "));
                let pad = 48usize.saturating_sub(l.text.chars().count()).max(1);
                asm.push_str(&format!("{:pad$}// {}: {src}", "", l.c_line));
                last = l.c_line;
            }
            asm.push('\n');
            c_lines.push(l.c_line);
        }
    }
    Ok(CompiledProtocol { asm, c_lines })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpu_model::asm::{Symbols, assemble_with};
    use cpu_model::isa::{Index, Inst, Src2, SysReg, compare_flags};
    use memory_model::RmwOp;

    const PERCPU: u64 = 0x10_0000;
    const SHIFT: u64 = 12;

    fn env() -> KernelEnv {
        KernelEnv {
            constants: ["LIMIT", "BIT"].iter().map(|s| s.to_string()).collect(),
            per_cpu: vec![("flag".into(), "PCPU_FLAG".into()), ("word".into(), "PCPU_WORD".into())],
            percpu_base: "PERCPU_BASE".into(),
            percpu_shift: "PERCPU_SHIFT".into(),
        }
    }

    /// Compiles the kernel-C function `name` of `text` and runs it on CPU `cpu` with arguments
    /// `args` over `mem` (sequentially: what a single core computes): its X0.
    fn run(text: &str, name: &str, cpu: u64, args: &[u64], mem: &mut BTreeMap<u64, u64>) -> u64 {
        let fs = super::super::cparse::parse_kernel_c("t.c", text).unwrap_or_else(|e| panic!("{e}"));
        let f = fs.iter().find(|f| f.name == name).expect("the function");
        let lines =
            compile_function(f, &env(), &fs).unwrap_or_else(|e| panic!("{}:{}: {}", e.pos.line, e.pos.col, e.msg));
        let asm: String = lines.iter().map(|l| format!("{}\n", l.text)).collect();
        let mut syms = Symbols::new();
        for (n, v) in [("PERCPU_BASE", PERCPU), ("PERCPU_SHIFT", SHIFT), ("PCPU_FLAG", 0), ("PCPU_WORD", 8)] {
            syms.insert(n.into(), v);
        }
        syms.insert("LIMIT".into(), 5);
        syms.insert("BIT".into(), 4);
        let p = assemble_with(&asm, 0x1000, &syms).unwrap_or_else(|e| panic!("{e}\n{asm}"));
        let mut x = [0u64; 32];
        x[..args.len()].copy_from_slice(args);
        let (mut pc, mut nzcv) = (p.label(name).unwrap(), 0);
        let get = |x: &[u64; 32], r: Reg| if r.is_zero() { 0 } else { x[r.0 as usize] };
        for _ in 0..100_000 {
            let inst = *p.at(pc).unwrap_or_else(|| panic!("ran off the code at {pc:#x}\n{asm}"));
            let mut next = pc + Inst::BYTES;
            let src = |x: &[u64; 32], s: Src2| match s {
                Src2::Imm(v) => v,
                Src2::Reg(o) | Src2::Shifted(o, ..) | Src2::Extended(o, ..) => s.value(get(x, o.reg)),
            };
            let addr = |x: &[u64; 32], base: Reg, index: Index| match index {
                Index::Imm(o) => get(x, base).wrapping_add(o as u64),
                Index::Reg(o, _) => get(x, base).wrapping_add(get(x, o.reg)),
            };
            let mut write: Option<(Reg, u64)> = None;
            let mut set = |r: Reg, v: u64| write = Some((r, v));
            match inst {
                Inst::Mov { rd, src: s } => set(rd.reg, src(&x, s)),
                Inst::Alu { op, rd, rn, src: s, flags } => {
                    let (a, b) = (get(&x, rn.reg), src(&x, s));
                    if flags {
                        nzcv = op.flags(Width::X, a, b);
                    }
                    set(rd.reg, op.apply(Width::X, a, b))
                }
                Inst::Cmp { rn, src: s } => nzcv = compare_flags(Width::X, get(&x, rn.reg), src(&x, s)),
                Inst::Cset { rd, cond } => set(rd.reg, cond.holds(nzcv) as u64),
                Inst::Csel { op, rd, rn, rm, cond } => {
                    set(rd.reg, op.select(Width::X, cond.holds(nzcv), get(&x, rn.reg), get(&x, rm.reg)))
                }
                Inst::B { target } => next = target,
                Inst::BCond { cond, target } if cond.holds(nzcv) => next = target,
                Inst::Cbz { rt, nonzero, bit, target }
                    if (bit.map_or(get(&x, rt.reg), |b| get(&x, rt.reg) & (1 << b)) != 0) == nonzero =>
                {
                    next = target
                }
                Inst::BCond { .. } | Inst::Cbz { .. } | Inst::Dmb(_) | Inst::Dsb(_) | Inst::Isb => {}
                Inst::Tlbi { .. } => {}
                Inst::Mrs { rt, reg: SysReg::TpidrEl1 } => set(rt.reg, PERCPU + (cpu << SHIFT)),
                Inst::Load { rt, base, index, .. } => {
                    let a = addr(&x, base, index);
                    set(rt.reg, inst.loaded_value(*mem.get(&a).unwrap_or(&0)));
                }
                Inst::Store { rt, base, index, .. } => {
                    let (a, v) = (addr(&x, base, index), inst.stored_value(get(&x, rt.reg)));
                    mem.insert(a, v);
                }
                Inst::Rmw { op, rs, rt, base, .. } => {
                    let a = get(&x, base);
                    let old = *mem.get(&a).unwrap_or(&0);
                    let rmw = inst.rmw().expect("an RMW");
                    let (operand, compare) =
                        if op == RmwOp::Cas { (get(&x, rt.reg), get(&x, rs.reg)) } else { (get(&x, rs.reg), 0) };
                    if let Some(v) = rmw.apply(old, operand, compare) {
                        mem.insert(a, v);
                    }
                    set(if op == RmwOp::Cas { rs.reg } else { rt.reg }, old);
                }
                Inst::Ret { .. } => return x[0],
                other => panic!("unexpected {other}"),
            }
            if let Some((r, v)) = write.filter(|(r, _)| !r.is_zero()) {
                x[r.0 as usize] = v;
            }
            pc = next;
        }
        panic!("{name} does not return\n{asm}");
    }

    fn area(cpu: u64) -> u64 {
        PERCPU + (cpu << SHIFT)
    }

    #[test]
    fn loops_break_continue_and_compound_assignments_compute_what_c_does() {
        let text = "int sum(int n, int skip)\n{\n\tint i, s = 0;\n\tfor (i = 0; i < n; i++) {\n\t\tif (i == skip)\n\
                    \t\t\tcontinue;\n\t\tif (i >= LIMIT * 2)\n\t\t\tbreak;\n\t\ts += i * 3;\n\t}\n\twhile (s > 100)\n\
                    \t\ts -= 7;\n\treturn s;\n}\n";
        let c = |n: i64, skip: i64| {
            let mut s = 0;
            for i in 0..n {
                if i == skip {
                    continue;
                }
                if i >= 10 {
                    break;
                }
                s += i * 3;
            }
            while s > 100 {
                s -= 7;
            }
            s
        };
        for (n, skip) in [(0, 0), (1, 0), (4, 2), (8, 9), (30, 3), (12, 11)] {
            let got = run(text, "sum", 0, &[n as u64, skip as u64], &mut BTreeMap::new());
            assert_eq!(got as i64, c(n, skip), "sum({n}, {skip})");
        }
    }

    #[test]
    fn bit_operations_and_shifts_compute_what_c_does() {
        let text = "unsigned long f(unsigned long a, unsigned long b)\n{\n\treturn ((~a & 0xff) << BIT >> 2) ^ (b | 1) - -a;\n}\n";
        for (a, b) in [(0u64, 0u64), (5, 9), (0xf0, 3), (u64::MAX, 12)] {
            let want = ((!a & 0xff) << 4 >> 2) ^ (b | 1).wrapping_sub(a.wrapping_neg());
            assert_eq!(run(text, "f", 0, &[a, b], &mut BTreeMap::new()), want, "f({a}, {b})");
        }
    }

    #[test]
    fn and_and_or_short_circuit_their_right_operand() {
        // The right operand sets this CPU's flag: it runs only when the left one does not decide.
        let text = "bool f(int a, int b)\n{\n\tbool x = a || atomic_fetch_or(1, this_cpu_ptr(&flag));\n\
                    \tif (b && atomic_fetch_or(2, this_cpu_ptr(&flag)) == 0)\n\t\treturn x;\n\treturn !x;\n}\n";
        for (a, b) in [(0u64, 0u64), (0, 1), (1, 0), (1, 1)] {
            let mut mem = BTreeMap::new();
            let r = run(text, "f", 1, &[a, b], &mut mem);
            let flag = *mem.get(&area(1)).unwrap_or(&0);
            let ran_left = a == 0;
            let x = a != 0; // the fetch_or returns 0: the flag was clear
            let want_flag = (ran_left as u64) | if b != 0 { 2 } else { 0 };
            assert_eq!(flag, want_flag, "f({a}, {b}) flag");
            let second_zero = b != 0 && !ran_left; // fetch_or(2) sees 0 only if fetch_or(1) did not run
            assert_eq!(r, if b != 0 && second_zero { x as u64 } else { !x as u64 }, "f({a}, {b})");
        }
    }

    #[test]
    fn per_cpu_variables_and_try_cmpxchg_loops_reach_the_right_cpu() {
        let text = "bool set_bit(int cpu, unsigned long bits)\n{\n\tatomic_t *w = per_cpu_ptr(&word, cpu);\n\
                    \tunsigned long old = atomic_read(w);\n\n\tif (!per_cpu(flag, cpu))\n\t\treturn false;\n\tdo {\n\
                    \t\tif (old & BIT)\n\t\t\treturn false;\n\t} while (!atomic_try_cmpxchg(w, &old, old | bits));\n\
                    \tthis_cpu_write(flag, READ_ONCE(per_cpu(flag, cpu)) + 1);\n\treturn true;\n}\n";
        let mut mem = BTreeMap::from([(area(2), 1), (area(2) + 8, 0x21)]);
        assert_eq!(run(text, "set_bit", 0, &[2, 0x2], &mut mem), 1);
        assert_eq!((mem[&(area(2) + 8)], mem[&area(0)]), (0x23, 2), "the word of CPU 2; this CPU's flag");
        let mut mem = BTreeMap::from([(area(3), 1), (area(3) + 8, 0x4)]);
        assert_eq!(run(text, "set_bit", 0, &[3, 0x2], &mut mem), 0, "BIT already set");
        assert_eq!(mem[&(area(3) + 8)], 0x4);
        let mut mem = BTreeMap::from([(area(3) + 8, 0x1)]);
        assert_eq!(run(text, "set_bit", 0, &[3, 0x2], &mut mem), 0, "flag clear");
    }

    #[test]
    fn calls_are_inlined_with_their_arguments_and_return_values() {
        let text = "static unsigned long twice(unsigned long v)\n{\n\tif (v > 100)\n\t\treturn v;\n\treturn v * 2;\n}\n\
                    static void mark(int cpu)\n{\n\tWRITE_ONCE(per_cpu(flag, cpu), twice(this_cpu_read(word)));\n}\n\
                    int f(int cpu, int x)\n{\n\tint v = 1;\n\tmark(cpu);\n\treturn twice(x) + twice(x + v) + v;\n}\n";
        for (x, word) in [(3u64, 7u64), (150, 200), (100, 1)] {
            let mut mem = BTreeMap::from([(area(0) + 8, word)]);
            let twice = |v: u64| if v > 100 { v } else { v * 2 };
            assert_eq!(run(text, "f", 0, &[2, x], &mut mem), twice(x) + twice(x + 1) + 1, "f(2, {x})");
            assert_eq!(mem[&area(2)], twice(word), "the flag of CPU 2");
        }
        let compile = |text: &str| {
            let fs = super::super::cparse::parse_kernel_c("t.c", text).unwrap();
            let f = fs.iter().find(|f| f.name == "f").unwrap();
            compile_function(f, &env(), &fs).map(|_| ()).map_err(|e| e.msg)
        };
        let e = compile("int g(int a)\n{\n\treturn f(a);\n}\nint f(int a)\n{\n\treturn g(a);\n}\n").unwrap_err();
        assert!(e.contains("recursive call of `g`") || e.contains("recursive call of `f`"), "{e}");
        let e = compile("void g(void)\n{\n}\nint f(int a)\n{\n\treturn g();\n}\n").unwrap_err();
        assert!(e.contains("`g` returns void"), "{e}");
        let e = compile("int f(int a)\n{\n\treturn h(a);\n}\n").unwrap_err();
        assert!(e.contains("call to `h` (a call is inlined: define `h` in this file)"), "{e}");
        // Hostile call graphs: a long chain, and calls that double the code at each level.
        let chain: String = (0..5000).map(|i| format!("void g{i}(void)\n{{\n\tg{}();\n}}\n", i + 1)).collect();
        let e = compile(&format!("{chain}void g5000(void)\n{{\n}}\nint f(int a)\n{{\n\tg0();\n\treturn a;\n}}\n"));
        assert!(e.unwrap_err().contains("calls nested deeper than 16"));
        let doubling: String =
            (0..15).map(|i| format!("void g{i}(void)\n{{\n\tg{0}();\n\tg{0}();\n}}\n", i + 1)).collect();
        let e = compile(&format!(
            "{doubling}void g15(void)\n{{\n\tsmp_mb();\n}}\nint f(int a)\n{{\n\tg0();\n\treturn a;\n}}\n"
        ));
        assert!(e.unwrap_err().contains("compiles to more than 20000 instructions"));
    }

    #[test]
    fn register_rules_and_bad_functions_are_refused() {
        let compile = |text: &str| {
            let fs = super::super::cparse::parse_kernel_c("t.c", text).map_err(|e| e.msg)?;
            compile_function(&fs[0], &env(), &fs).map(|_| ()).map_err(|e| e.msg)
        };
        let e = compile("int f(int a, int b, int c)\n{\n\treturn a;\n}\n").unwrap_err();
        assert!(e.contains("at most two arguments"), "{e}");
        let many = (0..9).map(|i| format!("\tint v{i} = {i};\n")).collect::<String>();
        let e = compile(&format!("void f(void)\n{{\n{many}}}\n")).unwrap_err();
        assert!(e.contains("X0-X1 and X9-X15"), "{e}");
        let e = compile("void f(void)\n{\n\tx = 1;\n}\n").unwrap_err();
        assert!(e.contains("undeclared `x`"), "{e}");
        let e = compile("void f(void)\n{\n\tint y = flag;\n}\n").unwrap_err();
        assert!(e.contains("is a per-CPU variable"), "{e}");
        let e = compile("void f(void)\n{\n\tint y = this_cpu_read(nope);\n}\n").unwrap_err();
        assert!(e.contains("unknown per-CPU variable `nope` (known: flag, word)"), "{e}");
    }
}
