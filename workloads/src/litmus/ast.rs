//! The parsed form of a litmus test, common to the C, AArch64 and x86 dialects (an x86 test's
//! threads are held as the AArch64 instructions they become).

use serde::{Deserialize, Serialize};

/// A position in the source file (1-based).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Pos {
    /// Line.
    pub line: usize,
    /// Column.
    pub col: usize,
}

/// Source dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Arch {
    /// herd7's C dialect as used by the kernel's tools/memory-model.
    C,
    /// herd7's AArch64 assembly dialect.
    AArch64,
    /// herd7's `X86` dialect (Intel syntax, 32-bit registers), read as AArch64 instructions that
    /// mean the same under `tso` and `sc` (`litmus::x86parse`).
    X86,
    /// herd7's `X86_64` dialect (AT&T syntax), read likewise.
    X86_64,
}

impl Arch {
    /// An x86 dialect: the test runs under `tso` or `sc` only.
    pub fn is_x86(self) -> bool {
        matches!(self, Arch::X86 | Arch::X86_64)
    }
}

/// A declared type in the init block or a parameter/local declaration.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Type {
    /// `int`, `intptr_t`, `uint64_t`, `long`, … (any integer type).
    Int(String),
    /// A pointer to the given type (`int *`, `int **`, `ins_t *`).
    Ptr(Box<Type>),
    /// `ins_t`: an instruction.
    Instr,
    /// Any other named type (`spinlock_t`, `atomic_t`, …).
    Other(String),
}

impl Type {
    /// True for pointer types.
    pub fn is_ptr(&self) -> bool {
        matches!(self, Type::Ptr(_))
    }
}

/// A value in the init block or in a condition atom.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Value {
    /// An integer.
    Int(i64),
    /// The address of a shared location (`x`, `&x`).
    Loc(String),
    /// The code address of a label of a thread (`P1:L0`).
    Label {
        /// Thread number.
        tid: usize,
        /// Label name.
        label: String,
    },
    /// An instruction as a value (`NOP`, `instr:"B L1"`): its text.
    Instr(String),
    /// A whole array's value in a condition (`v={1,2}`): its elements', in order.
    Array(Vec<Value>),
}

/// What the init block or a condition names.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Loc {
    /// Register `name` of thread `tid` (`0:r0`, `1:X3`).
    Reg {
        /// Thread number.
        tid: usize,
        /// Register or local variable name, as written.
        name: String,
    },
    /// Shared location (`x`, `[x]`).
    Mem(String),
}

/// One item of the init block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitItem {
    /// What is initialised or declared.
    pub loc: Loc,
    /// Declared type, if any (`int x;`, `ins_t *1:X1;`).
    pub ty: Option<Type>,
    /// Initial value, if any (otherwise 0).
    pub value: Option<Value>,
    /// Where the item starts.
    pub pos: Pos,
    /// An array's declaration (`int64_t v[2] = {1,2}`): its number of elements, `ty` the
    /// elements' type. Its elements follow as items of their own, named `v[0]`, `v[1]`
    /// ([`element_name`]), each with the elements' type and its initial value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array: Option<u32>,
}

impl InitItem {
    /// The array this item declares and its number of elements (`int64_t v[2]`), if it is a
    /// declaration.
    pub fn declared_array(&self) -> Option<(&str, u32)> {
        match (&self.loc, self.array) {
            (Loc::Mem(n), Some(len)) => Some((n, len)),
            _ => None,
        }
    }
}

/// The name of element `index` of array `array`, as herd7 writes and prints it: `v[1]`. An
/// element is a location of its own ([`Loc::Mem`] of this name) at its offset in the array.
pub fn element_name(array: &str, index: u32) -> String {
    format!("{array}[{index}]")
}

/// Memory location `name` as herd7 prints it in a state or a condition: `[x]`, and an array's
/// element bare, `v[1]`.
pub fn memory_text(name: &str) -> String {
    if split_element(name).is_some() { name.to_string() } else { format!("[{name}]") }
}

/// The array and index an element's name ([`element_name`]) stands for; `None` for another
/// location.
pub fn split_element(name: &str) -> Option<(&str, u32)> {
    let (array, rest) = name.split_once('[')?;
    Some((array, rest.strip_suffix(']')?.parse().ok()?))
}

/// Binary operators of C register expressions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*` (kernel C only)
    Mul,
    /// `<<` (kernel C only)
    Shl,
    /// `>>` (kernel C only; logical, the protocols' words are unsigned)
    Shr,
    /// `^`
    Xor,
    /// `&`
    And,
    /// `|`
    Or,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `>=`
    Ge,
    /// `&&`
    LAnd,
    /// `||`
    LOr,
}

/// Unary operators of C register expressions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UnOp {
    /// `!`
    Not,
    /// `-`
    Neg,
    /// `~` (kernel C only)
    BitNot,
}

/// Ordering of a kernel atomic read-modify-write: the suffix of its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AtomicOrder {
    /// `_relaxed`: no ordering.
    Relaxed,
    /// `_acquire`: the read is an acquire.
    Acquire,
    /// `_release`: the write is a release.
    Release,
    /// No suffix: fully ordered (as if `smp_mb()` came before and after).
    Full,
}

/// A kernel atomic read-modify-write that returns a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AtomicOp {
    /// `xchg`, `atomic_xchg`: stores the value, returns the old one.
    Xchg,
    /// `cmpxchg`, `atomic_cmpxchg`: stores the new value if the location
    /// holds the expected one; returns the old value either way.
    Cmpxchg,
    /// `atomic_add_return` (`fetch` false: returns the new value) and
    /// `atomic_fetch_add` (`fetch`: the old value), and their sub, inc and
    /// dec forms (the operand negated or 1 or -1).
    Add {
        /// Returns the old value rather than the new one.
        fetch: bool,
    },
    /// `atomic_fetch_or`: sets the operand's bits, returns the old value.
    FetchOr,
    /// `atomic_fetch_andnot`: clears the operand's bits, returns the old value.
    FetchAndnot,
    /// `atomic_try_cmpxchg(p, &old, new)`: stores `new` if the location holds
    /// `old`; returns whether it did, and leaves the value found in `old`
    /// (the expected value is the local's address, [`Expr::AddrOf`]).
    TryCmpxchg,
}

/// A C expression.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expr {
    /// Integer literal.
    Int(i64, Pos),
    /// A local (register) or a parameter (the address of a shared location).
    Var(String, Pos),
    /// `&x`: address of shared location `x`.
    AddrOf(String, Pos),
    /// `READ_ONCE(*addr)`: the operand is the address expression.
    ReadOnce(Box<Expr>, Pos),
    /// `smp_load_acquire(addr)`.
    LoadAcquire(Box<Expr>, Pos),
    /// An atomic read-modify-write of `*addr` with its result.
    Atomic {
        /// What it does.
        op: AtomicOp,
        /// Its ordering.
        order: AtomicOrder,
        /// Address expression.
        addr: Box<Expr>,
        /// The value stored or added (negated for sub, 1 or -1 for inc and
        /// dec), or the new value of a cmpxchg.
        value: Box<Expr>,
        /// cmpxchg: the expected value.
        expected: Option<Box<Expr>>,
        /// Position.
        pos: Pos,
    },
    /// The address of a per-CPU variable (kernel C only): `this_cpu_ptr(&var)`
    /// (`cpu` absent) or `per_cpu_ptr(&var, cpu)`; `this_cpu_read(var)` and
    /// `per_cpu(var, cpu)` are reads through it.
    PerCpu {
        /// The variable, by the kernel's name (`ll_isol_flags`, `context`, ...).
        var: String,
        /// The CPU; this CPU if absent.
        cpu: Option<Box<Expr>>,
        /// Position.
        pos: Pos,
    },
    /// A call of another function of the same protocol file (kernel C only):
    /// compiled inline.
    Call {
        /// The function.
        name: String,
        /// Its arguments.
        args: Vec<Expr>,
        /// Position.
        pos: Pos,
    },
    /// Unary operation.
    Unary(UnOp, Box<Expr>, Pos),
    /// Binary operation.
    Binary(BinOp, Box<Expr>, Box<Expr>, Pos),
}

impl Expr {
    /// Where the expression starts.
    pub fn pos(&self) -> Pos {
        match self {
            Expr::Int(_, p)
            | Expr::Var(_, p)
            | Expr::AddrOf(_, p)
            | Expr::ReadOnce(_, p)
            | Expr::LoadAcquire(_, p)
            | Expr::Atomic { pos: p, .. }
            | Expr::PerCpu { pos: p, .. }
            | Expr::Call { pos: p, .. }
            | Expr::Unary(_, _, p)
            | Expr::Binary(_, _, _, p) => *p,
        }
    }
}

/// Kernel barriers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CFence {
    /// `smp_mb()`
    Mb,
    /// `smp_rmb()`
    Rmb,
    /// `smp_wmb()`
    Wmb,
}

/// A C statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stmt {
    /// `int r0;` or `int r0 = e;` (also `intptr_t`, `int *`).
    Decl {
        /// Local name.
        name: String,
        /// Declared type.
        ty: Type,
        /// Initializer.
        init: Option<Expr>,
        /// Position of the declaration.
        pos: Pos,
    },
    /// `r = e;`
    Assign {
        /// Local assigned.
        name: String,
        /// Value.
        value: Expr,
        /// Position.
        pos: Pos,
    },
    /// `WRITE_ONCE(*addr, value);`
    WriteOnce {
        /// Address expression (the operand of `*`).
        addr: Expr,
        /// Value stored.
        value: Expr,
        /// Position.
        pos: Pos,
    },
    /// `smp_store_release(addr, value);`
    StoreRelease {
        /// Address expression.
        addr: Expr,
        /// Value stored.
        value: Expr,
        /// Position.
        pos: Pos,
    },
    /// `smp_mb();` and friends (`smp_mb__before_atomic()` and
    /// `smp_mb__after_atomic()` are `smp_mb()`, as on arm64).
    Fence(CFence, Pos),
    /// `atomic_add(v, p);`, `atomic_sub`, `atomic_inc`, `atomic_dec`: a
    /// relaxed atomic add without a result.
    AtomicAdd {
        /// Address expression.
        addr: Expr,
        /// The value added (negated for sub, 1 or -1 for inc and dec).
        value: Expr,
        /// Position.
        pos: Pos,
    },
    /// `if (cond) then else els`.
    If {
        /// Condition.
        cond: Expr,
        /// Taken branch.
        then: Vec<Stmt>,
        /// Else branch (empty if absent).
        els: Vec<Stmt>,
        /// Position.
        pos: Pos,
    },
    /// An expression evaluated for its effect (`READ_ONCE(*x);`).
    Expr(Expr, Pos),
    /// `while (cond) body`, `do body while (cond);` and `for (init; cond;
    /// step) body` (kernel C only; a `for`'s init precedes the loop):
    /// `continue` goes to `step`, or to the test of a `do`.
    Loop {
        /// Condition, tested before each iteration; absent: forever.
        cond: Option<Expr>,
        /// Body.
        body: Vec<Stmt>,
        /// A `for`'s step, run after the body and on `continue`.
        step: Vec<Stmt>,
        /// `do body while (cond);`: the condition is tested after each iteration.
        do_while: bool,
        /// Position.
        pos: Pos,
    },
    /// `break;` (kernel C only).
    Break(Pos),
    /// `continue;` (kernel C only).
    Continue(Pos),
    /// `return;` or `return e;` (kernel C only).
    Return(Option<Expr>, Pos),
    /// An arm64 kernel helper that is one instruction or a fixed sequence
    /// (kernel C only): `isb()`, `dsb(ish)`, `local_flush_tlb_all()`, ...
    Helper(Helper, Pos),
}

/// The arm64 kernel helpers protocol files may call (`asm/barrier.h`,
/// `asm/tlbflush.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Helper {
    /// `isb()`, `instr_sync()`: ISB.
    Isb,
    /// `dsb(opt)`: DSB with the option (`ish`, `ishld`, `ishst`, `nsh`, `sy`, ...).
    Dsb(DomainOpt),
    /// `dmb(opt)`: DMB with the option.
    Dmb(DomainOpt),
    /// `__tlbi(vmalle1)`: TLBI VMALLE1, this CPU's whole TLB.
    TlbiVmalle1,
    /// `local_flush_tlb_all()`: TLBI VMALLE1, DSB NSH, ISB.
    LocalFlushTlbAll,
}

/// The option of a `dsb()`/`dmb()`: which accesses, which domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DomainOpt {
    /// `ish`: all accesses, inner shareable.
    Ish,
    /// `ishld`: loads before, inner shareable.
    IshLd,
    /// `ishst`: stores, inner shareable.
    IshSt,
    /// `nsh`: all accesses, this CPU only.
    Nsh,
    /// `sy`: all accesses, full system.
    Sy,
}

impl DomainOpt {
    /// The option as written in C (`dsb(ish)`).
    pub fn by_name(s: &str) -> Option<DomainOpt> {
        Some(match s {
            "ish" => DomainOpt::Ish,
            "ishld" => DomainOpt::IshLd,
            "ishst" => DomainOpt::IshSt,
            "nsh" => DomainOpt::Nsh,
            "sy" => DomainOpt::Sy,
            _ => return None,
        })
    }

    /// The option as the assembler writes it.
    pub fn asm(self) -> &'static str {
        match self {
            DomainOpt::Ish => "ISH",
            DomainOpt::IshLd => "ISHLD",
            DomainOpt::IshSt => "ISHST",
            DomainOpt::Nsh => "NSH",
            DomainOpt::Sy => "SY",
        }
    }
}

/// A function of a protocol file in kernel C.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CFunction {
    /// Name (`enter_from_user_mode`, ...).
    pub name: String,
    /// Whether it returns a value (`bool`, `int`, ...) rather than `void`.
    pub returns_value: bool,
    /// Parameters (integers: a CPU number, work bits).
    pub params: Vec<Param>,
    /// Body.
    pub body: Vec<Stmt>,
    /// Position of the name.
    pub pos: Pos,
    /// Position of the body's closing `}` (where it returns when it runs off its end).
    pub end: Pos,
}

/// A parameter of a C thread: `int *x` names shared location `x`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Param {
    /// Name (= the shared location).
    pub name: String,
    /// Declared type.
    pub ty: Type,
    /// Position.
    pub pos: Pos,
}

/// A C thread `P<n>(params) { body }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CThread {
    /// Thread number.
    pub tid: usize,
    /// Parameters.
    pub params: Vec<Param>,
    /// Body.
    pub body: Vec<Stmt>,
    /// Position of `P<n>`.
    pub pos: Pos,
}

/// One line of an AArch64 thread: labels, then maybe an instruction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsmLine {
    /// Labels defined on this line, with positions.
    pub labels: Vec<(String, Pos)>,
    /// Instruction text, with the position of its first character.
    pub inst: Option<(String, Pos)>,
}

/// An AArch64 thread: its column of the instruction table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsmThread {
    /// Thread number.
    pub tid: usize,
    /// Lines in order.
    pub lines: Vec<AsmLine>,
}

/// Thread code in either dialect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Threads {
    /// C threads.
    C(Vec<CThread>),
    /// AArch64 threads.
    Asm(Vec<AsmThread>),
}

/// A condition atom `loc = value`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Atom {
    /// Left-hand side.
    pub loc: Loc,
    /// Right-hand side.
    pub value: Value,
    /// Position.
    pub pos: Pos,
}

/// A proposition over the final state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prop {
    /// `true`
    True,
    /// `false`
    False,
    /// `loc = value`
    Atom(Atom),
    /// `~p`, `not p`, or `loc != v`
    Not(Box<Prop>),
    /// `p /\ q`
    And(Box<Prop>, Box<Prop>),
    /// `p \/ q`
    Or(Box<Prop>, Box<Prop>),
    /// `p => q`
    Implies(Box<Prop>, Box<Prop>),
}

impl Prop {
    /// Its atoms (`loc = value`), left to right.
    pub fn atoms(&self) -> Vec<&Atom> {
        fn walk<'a>(p: &'a Prop, out: &mut Vec<&'a Atom>) {
            match p {
                Prop::True | Prop::False => {}
                Prop::Atom(a) => out.push(a),
                Prop::Not(q) => walk(q, out),
                Prop::And(a, b) | Prop::Or(a, b) | Prop::Implies(a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }
}

/// Quantifier of the final condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Quantifier {
    /// `exists`: some final state satisfies the proposition.
    Exists,
    /// `~exists`: no final state does.
    NotExists,
    /// `forall`: every final state does.
    Forall,
}

/// The final condition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// Quantifier.
    pub quantifier: Quantifier,
    /// Proposition.
    pub prop: Prop,
    /// Position of the quantifier keyword.
    pub pos: Pos,
}

/// A whole litmus test.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LitmusTest {
    /// Dialect.
    pub arch: Arch,
    /// Test name from the header.
    pub name: String,
    /// Init block.
    pub init: Vec<InitItem>,
    /// Thread code.
    pub threads: Threads,
    /// `locations [...]`: extra locations to show in final states.
    pub locations: Vec<Loc>,
    /// `filter`: final states not satisfying it are discarded.
    pub filter: Option<Prop>,
    /// The final condition (`forall (true)` when the file has none).
    pub condition: Condition,
}
