//! The assembler: AArch64-subset text with labels to [`Program`]s.
//!
//! ```text
//! // kernel entry hook, simplified
//!         .equ  ISOLATED, 1
//! enter:  LDR   W1, [X0]          // ll_isol_flags
//!         CMP   W1, #ISOLATED
//!         B.NE  out
//!         MOV   W2, #(ISOLATED + 1)
//!         STR   W2, [X0]
//!         DMB   ISH
//!         ISB
//! out:    work  200
//! ```
//!
//! One instruction per line; `label:` may stand alone or precede an
//! instruction; `//` starts a comment; mnemonics and registers are
//! case-insensitive. Besides the AArch64 subset there is one
//! pseudo-instruction, `work N`: N cycles of computation, one event.
//!
//! Immediates are constant expressions: numbers (decimal or `0x` hex),
//! symbols, `( )`, unary `-`, and `* / + - << >> & |` with C's precedence.
//! Symbols come from `.equ NAME, EXPR` (or `.set`) earlier in the text, or
//! from the caller ([`assemble_with`]: a loader's per-CPU data addresses,
//! sizes, command-line definitions). Labels are code addresses and are used
//! by branches and `ADR`.
//!
//! `.if EXPR` … `.else` … `.endif` assemble the lines of one branch only (EXPR non-zero: the
//! first), as in GNU as; blocks nest, and the lines of a branch not taken are not parsed.
//!
//! Layout directives pad with `UDF #0` (an undefined instruction, so that
//! running into padding takes an exception, as on hardware):
//! `.org OFFSET` moves to `base + OFFSET`; `.align N` to the next multiple of
//! 2^N bytes; `.balign BYTES` to the next multiple of BYTES. A vector table
//! is written with them:
//!
//! ```
//! let text = "vectors:\n .org 0x280\n  B irq\n .org 0x800\nirq: ERET";
//! let p = cpu_model::asm::assemble(text, 0x10000).unwrap();
//! assert_eq!(p.label("vectors"), Some(0x10000));
//! assert_eq!(p.label("irq"), Some(0x10800));
//! ```
//!
//! **Pre- and post-indexed loads and stores** (`LDR X0, [X1, #8]!`, `STR W2, [X3], #4`) are
//! split into the access and an `ADD` (or `SUB`) of the base register, as a core's decoder
//! splits them into two micro-operations: pre-indexed, the update and then the access at the new
//! `Xn`; post-indexed, the access at `Xn` and then the update. The two are two instructions of
//! the program, one after the other at consecutive addresses, both of the source line. What that
//! changes is only what no program can see: the addresses of the code after it and the count of
//! instructions. The dependencies are the Arm
//! architecture's (herd7's too): the update reads only the base, so nothing later that uses the
//! new base depends on what the load read. The forms the Arm ARM makes CONSTRAINED
//! UNPREDICTABLE (the transfer register is the base) are refused, and so is writeback to `SP`.
//!
//! **Pairs** (`LDP`, `STP`, `LDPSW`, each also pre- or post-indexed) are split the same way into
//! their two accesses, the first register's then the second's, at consecutive addresses: the
//! architecture makes a pair two single-copy-atomic accesses with no order between them, and two
//! accesses to different locations with no dependency between them are not ordered by the `arm`
//! model either (herd7 agrees on the catalogue's pair tests). Under `tso` and `sc` the split
//! orders them, where herd7's `sc.cat` run on the AArch64 file does not: a reader of the second
//! half first may see it without the first there, not here (x86 has no pairs). An `LDP` whose first
//! register is its base (allowed without writeback) is refused: its second load would use the
//! loaded base.
//!
//! ```
//! let p = cpu_model::asm::assemble("LDR X0, [X1], #8\nloop: B loop", 0x1000).unwrap();
//! assert_eq!(p.insts.len(), 3);
//! assert_eq!(p.insts[1].to_string(), "ADD X1,X1,#8");
//! assert_eq!(p.label("loop"), Some(0x1008));
//! ```
//!
//! Errors carry the line and column of what is wrong.

use std::collections::BTreeMap;

use memory_model::{Addr, Fence, RmwOp, TlbiScope};

use crate::isa::{AluOp, Cond, CselOp, Extend, Index, Inst, Narrow, Operand, Reg, Src2, SysReg, Width};

/// A syntax or support error in assembler text, with its position (1-based).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{col}: {msg}")]
pub struct AsmError {
    /// Line number.
    pub line: usize,
    /// Column number.
    pub col: usize,
    /// What is wrong.
    pub msg: String,
}

const UNDEFINED_LABEL: &str = "undefined label";

impl AsmError {
    /// The label, if this is a branch to a label defined nowhere.
    pub fn undefined_label(&self) -> Option<&str> {
        self.msg.strip_prefix(UNDEFINED_LABEL)?.strip_prefix(" `")?.strip_suffix('`')
    }
}

/// An instruction whose branch target may still be a label.
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed {
    /// The instruction (branch target 0 until resolved).
    pub inst: Inst,
    /// Label the branch target refers to, with its column.
    pub target: Option<(String, usize)>,
    /// A pre- or post-indexed access's update of its base register: `inst` is then the access
    /// alone, at `[Xn]` (see the [module](self) docs).
    pub writeback: Option<Writeback>,
    /// A pair's second access (`LDP`, `STP`, `LDPSW`), after `inst`, the first.
    pub second: Option<Inst>,
}

impl Parsed {
    /// One instruction, as most lines are.
    pub fn single(inst: Inst) -> Parsed {
        Parsed { inst, target: None, writeback: None, second: None }
    }

    /// True if the line runs as more than one instruction (a pair, or an access with writeback).
    pub fn is_split(&self) -> bool {
        self.writeback.is_some() || self.second.is_some()
    }

    /// The instructions the line runs as, in program order: a pre-indexed update, the access
    /// (or a pair's two), a post-indexed update.
    pub fn insts(&self) -> Vec<Inst> {
        let (pre, post) = match self.writeback {
            Some(w) if w.pre => (Some(w.update()), None),
            Some(w) => (None, Some(w.update())),
            None => (None, None),
        };
        pre.into_iter().chain([self.inst]).chain(self.second).chain(post).collect()
    }
}

/// The base register update of a pre-indexed (`[Xn, #imm]!`) or post-indexed (`[Xn], #imm`)
/// load or store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Writeback {
    /// The base register, `Xn`.
    pub base: Reg,
    /// What is added to it.
    pub imm: i64,
    /// Pre-indexed: the access is at the updated base. Post-indexed: at the base before it.
    pub pre: bool,
}

impl Writeback {
    /// The update as an instruction: `ADD Xn, Xn, #imm` (`SUB` for a negative one).
    pub fn update(self) -> Inst {
        let x = Operand { reg: self.base, width: Width::X };
        let op = if self.imm < 0 { AluOp::Sub } else { AluOp::Add };
        Inst::Alu { op, rd: x, rn: x, src: Src2::Imm(self.imm.unsigned_abs()), flags: false }
    }
}

/// An assembled program: instructions at consecutive addresses from `base`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Program {
    /// Address of the first instruction.
    pub base: Addr,
    /// The instructions.
    pub insts: Vec<Inst>,
    /// Label → address (a label after the last instruction names the end).
    pub labels: BTreeMap<String, Addr>,
    /// Source line of each instruction.
    pub lines: Vec<usize>,
    /// Constants the text defined with `.equ`/`.set`.
    pub constants: Symbols,
}

impl Program {
    /// Address one past the last instruction.
    pub fn end(&self) -> Addr {
        self.base + self.insts.len() as Addr * Inst::BYTES
    }

    /// The instruction at `pc`, if `pc` lies inside the program.
    pub fn at(&self, pc: Addr) -> Option<&Inst> {
        if pc < self.base || !(pc - self.base).is_multiple_of(Inst::BYTES) {
            return None;
        }
        self.insts.get(((pc - self.base) / Inst::BYTES) as usize)
    }

    /// Address of `label`.
    pub fn label(&self, label: &str) -> Option<Addr> {
        self.labels.get(label).copied()
    }

    /// The label naming `addr`, if any (first in name order).
    pub fn label_at(&self, addr: Addr) -> Option<&str> {
        self.labels.iter().find(|(_, a)| **a == addr).map(|(n, _)| n.as_str())
    }
}

/// Named constants usable in immediates.
pub type Symbols = BTreeMap<String, u64>;

/// Assembles `text` to a program starting at `base`.
pub fn assemble(text: &str, base: Addr) -> Result<Program, AsmError> {
    assemble_with(text, base, &Symbols::new())
}

/// Assembles `text` to a program starting at `base`, with `symbols`
/// defined for immediates (a `.equ` in the text may not redefine one).
pub fn assemble_with(text: &str, base: Addr, symbols: &Symbols) -> Result<Program, AsmError> {
    let mut b = Builder::new(base);
    let mut syms = symbols.clone();
    // Open `.if` blocks, innermost last.
    let mut conds: Vec<Conditional> = vec![];
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let code = raw.find("//").map_or(raw, |i| &raw[..i]);
        let (labels, rest, rest_col) = split_labels(code).map_err(|(col, msg)| AsmError { line, col, msg })?;
        let at = |(col, msg)| AsmError { line, col, msg };
        let active = conds.last().is_none_or(|c| c.active);
        let conditional = conditional_directive(rest, rest_col, &syms, active).map_err(at)?;
        if !active && conditional.is_none() {
            continue;
        }
        // As in GNU as, labels name the address before a directive on
        // their line takes effect.
        if active {
            for (label, col) in labels {
                b.label(&label, line, col)?;
            }
        }
        if let Some((directive, col)) = conditional {
            match directive {
                CondDirective::If(holds) => conds.push(Conditional {
                    enclosing: active,
                    holds,
                    active: active && holds,
                    line,
                    col,
                    in_else: false,
                }),
                CondDirective::Else => {
                    let Some(c) = conds.last_mut() else {
                        return Err(AsmError { line, col, msg: "`.else` without `.if`".into() });
                    };
                    if c.in_else {
                        return Err(AsmError {
                            line,
                            col,
                            msg: format!("second `.else` for the `.if` on line {}", c.line),
                        });
                    }
                    c.in_else = true;
                    c.active = c.enclosing && !c.holds;
                }
                CondDirective::Endif => {
                    if conds.pop().is_none() {
                        return Err(AsmError { line, col, msg: "`.endif` without `.if`".into() });
                    }
                }
            }
            continue;
        }
        if rest.trim_start().starts_with('.') {
            directive(&mut b, &mut syms, rest, rest_col, line).map_err(at)?;
        } else if !rest.trim().is_empty() {
            let parsed = parse_inst_with(rest, rest_col, &syms).map_err(at)?;
            b.push(parsed, line);
        }
    }
    if let Some(c) = conds.last() {
        return Err(AsmError { line: c.line, col: c.col, msg: "`.if` without `.endif`".into() });
    }
    b.finish_with(symbols)
}

/// An open `.if` block.
struct Conditional {
    /// The text around the block is assembled.
    enclosing: bool,
    /// The `.if`'s expression is non-zero.
    holds: bool,
    /// The lines here are assembled.
    active: bool,
    /// Where the `.if` is.
    line: usize,
    col: usize,
    /// Past the block's `.else`.
    in_else: bool,
}

/// Conditional assembly, as in GNU as.
enum CondDirective {
    /// `.if EXPR`: whether EXPR is non-zero (false, unevaluated, inside a block not assembled).
    If(bool),
    Else,
    Endif,
}

/// The conditional directive on a line, if it holds one, and its column.
fn conditional_directive(
    s: &str,
    col0: usize,
    syms: &Symbols,
    active: bool,
) -> PResult<Option<(CondDirective, usize)>> {
    let t = s.trim_start();
    let word = t.split(|c: char| c.is_whitespace()).next().unwrap_or("").to_ascii_lowercase();
    if !matches!(word.as_str(), ".if" | ".else" | ".endif") {
        return Ok(None);
    }
    let mut c = Cur { s, pos: 0, col0, syms, depth: 0 };
    let (_, col) = c.word()?;
    let directive = match word.as_str() {
        ".if" if active => CondDirective::If(c.expr()? != 0),
        // The expression of an `.if` inside a block that is not assembled may use symbols that
        // block would have defined: it is not evaluated.
        ".if" => return Ok(Some((CondDirective::If(false), col))),
        ".else" => CondDirective::Else,
        _ => CondDirective::Endif,
    };
    c.end()?;
    Ok(Some((directive, col)))
}

/// Evaluates a constant expression (the syntax of immediates, without the
/// `#`) over `symbols`; errors carry the 1-based column in `text`.
///
/// ```
/// let mut syms = cpu_model::asm::Symbols::new();
/// syms.insert("BASE".into(), 0x1000);
/// assert_eq!(cpu_model::asm::eval("BASE + 2 * 0x40", &syms), Ok(0x1080));
/// assert!(cpu_model::asm::eval("BASE +", &syms).is_err());
/// ```
pub fn eval(text: &str, symbols: &Symbols) -> Result<u64, (usize, String)> {
    let mut c = Cur { s: text, pos: 0, col0: 1, syms: symbols, depth: 0 };
    let v = c.expr()?;
    c.end()?;
    Ok(v)
}

/// Applies one directive line (source line `line`).
fn directive(b: &mut Builder, syms: &mut Symbols, s: &str, col0: usize, line: usize) -> PResult<()> {
    let mut c = Cur { s, pos: 0, col0, syms, depth: 0 };
    let (name, col) = c.word()?;
    match name.to_ascii_lowercase().as_str() {
        ".equ" | ".set" => {
            let (sym, scol) = c.word()?;
            c.comma()?;
            let v = c.expr()?;
            c.end()?;
            if is_reserved(&sym) {
                return Err((scol, format!("`{sym}` is a register name and cannot be a symbol")));
            }
            if syms.contains_key(&sym) {
                return Err((scol, format!("symbol `{sym}` defined twice")));
            }
            syms.insert(sym.clone(), v);
            b.prog.constants.insert(sym, v);
            Ok(())
        }
        ".org" | ".align" | ".p2align" | ".balign" => {
            c.ws();
            let vcol = c.col();
            let v = c.expr()?;
            c.end()?;
            let here = b.prog.end();
            let target = match name.to_ascii_lowercase().as_str() {
                ".org" => b.prog.base.checked_add(v).ok_or((vcol, "offset out of range".to_string()))?,
                dir => {
                    let bytes = if dir == ".balign" {
                        v
                    } else {
                        1u64.checked_shl(v as u32)
                            .filter(|_| v < 32)
                            .ok_or((vcol, "alignment too large".to_string()))?
                    };
                    if bytes == 0 || !bytes.is_power_of_two() {
                        return Err((vcol, format!("alignment {bytes} is not a power of two")));
                    }
                    here.next_multiple_of(bytes.max(Inst::BYTES))
                }
            };
            if target < here {
                return Err((vcol, format!("`.org` moves backwards ({target:#x} < {here:#x})")));
            }
            if !(target - b.prog.base).is_multiple_of(Inst::BYTES) {
                return Err((vcol, format!("{target:#x} is not instruction-aligned")));
            }
            if target - here > 1 << 24 {
                return Err((vcol, "padding larger than 16 MiB".into()));
            }
            // Padding belongs to the directive's line: code that reaches too far is blamed there.
            while b.prog.end() < target {
                b.push(Parsed::single(Inst::Udf(0)), line);
            }
            Ok(())
        }
        _ => Err((col, format!("unsupported directive `{name}`"))),
    }
}

/// Register-like names that cannot be symbols (`#X1` would be ambiguous).
fn is_reserved(name: &str) -> bool {
    parse_reg(name).is_some()
}

/// Accumulates instructions and labels, then resolves branch targets.
pub struct Builder {
    prog: Program,
    pending: Vec<(usize, String, usize, usize)>,
}

impl Builder {
    /// An empty program at `base`.
    pub fn new(base: Addr) -> Self {
        Builder { prog: Program { base, ..Program::default() }, pending: vec![] }
    }

    /// Defines `name` at the next instruction's address.
    pub fn label(&mut self, name: &str, line: usize, col: usize) -> Result<(), AsmError> {
        let addr = self.prog.end();
        if self.prog.labels.insert(name.to_string(), addr).is_some() {
            return Err(AsmError { line, col, msg: format!("label `{name}` defined twice") });
        }
        Ok(())
    }

    /// Appends an instruction from source line `line` (more for a pair or an access with
    /// writeback, [`Parsed::insts`]).
    pub fn push(&mut self, p: Parsed, line: usize) {
        let insts = p.insts();
        if let Some((label, col)) = p.target {
            self.pending.push((self.prog.insts.len(), label, line, col));
        }
        self.prog.insts.extend(insts);
        self.prog.lines.resize(self.prog.insts.len(), line);
    }

    /// Resolves labels; fails on an undefined one.
    pub fn finish(self) -> Result<Program, AsmError> {
        self.finish_with(&Symbols::new())
    }

    /// Resolves labels, looking up those the program does not define in
    /// `external` (code addresses of programs loaded before it); fails on
    /// one defined nowhere.
    pub fn finish_with(mut self, external: &Symbols) -> Result<Program, AsmError> {
        for (i, label, line, col) in self.pending {
            let here = self.prog.base + i as Addr * Inst::BYTES;
            let Some(addr) = relative_target(&label, here)
                .or_else(|| self.prog.labels.get(&label).or_else(|| external.get(&label)).copied())
            else {
                return Err(AsmError { line, col, msg: format!("{UNDEFINED_LABEL} `{label}`") });
            };
            match &mut self.prog.insts[i] {
                Inst::B { target }
                | Inst::BCond { target, .. }
                | Inst::Cbz { target, .. }
                | Inst::Bl { target }
                | Inst::Adr { target, .. } => *target = addr,
                _ => unreachable!("only branches and ADR carry labels"),
            }
        }
        Ok(self.prog)
    }
}

/// The address `.+N` / `.-N` names from an instruction at `here`; `None` for a label.
pub fn relative_target(label: &str, here: Addr) -> Option<Addr> {
    let n: Addr = label.get(2..)?.parse().ok()?;
    match label.get(..2)? {
        ".+" => Some(here.wrapping_add(n)),
        ".-" => Some(here.wrapping_sub(n)),
        _ => None,
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '.'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '$'
}

/// Labels with their columns, the rest of the line, and the rest's column.
pub type SplitLine<'a> = (Vec<(String, usize)>, &'a str, usize);

/// Splits leading `label:` definitions off a line. Returns the labels with
/// their columns, the rest of the line and the rest's column (1-based).
pub fn split_labels(code: &str) -> Result<SplitLine<'_>, (usize, String)> {
    let mut labels = vec![];
    let mut pos = 0;
    loop {
        let rest = &code[pos..];
        let trimmed = rest.trim_start();
        let start = pos + (rest.len() - trimmed.len());
        let ident_len = trimmed.char_indices().find(|&(_, c)| !is_ident(c)).map_or(trimmed.len(), |(i, _)| i);
        if ident_len > 0 && trimmed.starts_with(is_ident_start) && trimmed[ident_len..].trim_start().starts_with(':') {
            labels.push((trimmed[..ident_len].to_string(), start + 1));
            let after = &trimmed[ident_len..];
            let colon = after.find(':').expect("checked above");
            pos = start + ident_len + colon + 1;
            continue;
        }
        return Ok((labels, rest, pos + 1));
    }
}

/// A cursor over one instruction's text, tracking the column for errors.
struct Cur<'a> {
    s: &'a str,
    pos: usize,
    col0: usize,
    syms: &'a Symbols,
    /// Open parentheses around the expression being parsed.
    depth: usize,
}

/// Deepest parenthesis nesting an expression may have: each level is a few
/// stack frames of the recursive parser, so hostile input must not choose it.
pub const MAX_EXPR_DEPTH: usize = 100;

type PResult<T> = Result<T, (usize, String)>;

impl<'a> Cur<'a> {
    fn col(&self) -> usize {
        self.col0 + self.pos
    }
    fn ws(&mut self) {
        while self.s[self.pos..].starts_with([' ', '\t']) {
            self.pos += 1;
        }
    }
    fn at_end(&mut self) -> bool {
        self.ws();
        self.pos >= self.s.len()
    }
    fn peek(&mut self) -> Option<char> {
        self.ws();
        self.s[self.pos..].chars().next()
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: char) -> PResult<()> {
        if self.eat(c) { Ok(()) } else { Err(self.err(format!("expected `{c}`"))) }
    }
    fn err(&self, msg: String) -> (usize, String) {
        (self.col(), msg)
    }
    fn word(&mut self) -> PResult<(String, usize)> {
        self.ws();
        let col = self.col();
        let rest = &self.s[self.pos..];
        let len = rest.char_indices().find(|&(_, c)| !is_ident(c)).map_or(rest.len(), |(i, _)| i);
        if len == 0 {
            return Err(self.err("expected a name".into()));
        }
        self.pos += len;
        Ok((rest[..len].to_string(), col))
    }
    fn reg(&mut self) -> PResult<Operand> {
        let (w, col) = self.word()?;
        parse_reg(&w).ok_or((col, format!("expected a register, found `{w}`")))
    }
    /// Rs or Rt of an RMW: `Wn`, `Xn` or the zero register (not SP).
    fn rmw_reg(&mut self) -> PResult<Operand> {
        self.ws();
        let col = self.col();
        let op = self.reg()?;
        if op.reg == Reg::SP {
            return Err((col, "SP is not allowed here".into()));
        }
        Ok(op)
    }
    fn xreg(&mut self) -> PResult<Reg> {
        self.ws();
        let col = self.col();
        let op = self.reg()?;
        if op.width != Width::X {
            return Err((col, "base register must be an X register".into()));
        }
        Ok(op.reg)
    }
    /// An immediate: `#EXPR`, or a bare expression.
    fn imm(&mut self) -> PResult<u64> {
        self.eat('#');
        self.expr()
    }
    /// A constant expression (C precedence: `|` < `&` < shifts < `+ -` < `* /`).
    fn expr(&mut self) -> PResult<u64> {
        self.binary(0)
    }
    fn binary(&mut self, level: usize) -> PResult<u64> {
        const LEVELS: [&[&str]; 5] = [&["|"], &["&"], &["<<", ">>"], &["+", "-"], &["*", "/"]];
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut v = self.binary(level + 1)?;
        loop {
            self.ws();
            let rest = &self.s[self.pos..];
            let Some(op) = LEVELS[level].iter().find(|op| rest.starts_with(**op)) else { return Ok(v) };
            let col = self.col();
            self.pos += op.len();
            let r = self.binary(level + 1)?;
            v = match *op {
                "|" => v | r,
                "&" => v & r,
                "<<" => v.checked_shl(r as u32).filter(|_| r < 64).ok_or((col, "shift out of range".to_string()))?,
                ">>" => v.checked_shr(r as u32).filter(|_| r < 64).ok_or((col, "shift out of range".to_string()))?,
                "+" => v.wrapping_add(r),
                "-" => v.wrapping_sub(r),
                "*" => v.wrapping_mul(r),
                _ => v.checked_div(r).ok_or((col, "division by zero".to_string()))?,
            };
        }
    }
    fn unary(&mut self) -> PResult<u64> {
        // Signs are counted in a loop, not by recursion: any run of them costs no stack.
        let mut negate = false;
        loop {
            if self.eat('-') {
                negate = !negate;
            } else if !self.eat('+') {
                break;
            }
        }
        let v = self.primary()?;
        Ok(if negate { v.wrapping_neg() } else { v })
    }
    fn primary(&mut self) -> PResult<u64> {
        self.ws();
        let col = self.col();
        if self.eat('(') {
            if self.depth >= MAX_EXPR_DEPTH {
                return Err((col, format!("parentheses nested deeper than {MAX_EXPR_DEPTH} levels")));
            }
            self.depth += 1;
            let v = self.expr()?;
            self.depth -= 1;
            self.expect(')')?;
            return Ok(v);
        }
        let rest = &self.s[self.pos..];
        if rest.starts_with(|c: char| c.is_ascii_digit()) {
            let (digits, radix, prefix) = match rest.get(..2) {
                Some("0x" | "0X") => (&rest[2..], 16, 2),
                Some("0b" | "0B") => (&rest[2..], 2, 2),
                _ => (rest, 10, 0),
            };
            let len =
                digits.char_indices().find(|&(_, c)| !c.is_digit(radix) && c != '_').map_or(digits.len(), |(i, _)| i);
            let text: String = digits[..len].chars().filter(|&c| c != '_').collect();
            if text.is_empty() {
                return Err((col, "expected a number".into()));
            }
            let v = u64::from_str_radix(&text, radix).map_err(|e| (col, format!("bad immediate: {e}")))?;
            self.pos += prefix + len;
            return Ok(v);
        }
        if rest.starts_with(is_ident_start) {
            let (name, col) = self.word()?;
            return match self.syms.get(&name) {
                Some(&v) => Ok(v),
                None if parse_reg(&name).is_some() => {
                    Err((col, format!("expected an immediate, found register `{name}`")))
                }
                None => Err((col, format!("undefined symbol `{name}`"))),
            };
        }
        Err((col, "expected an immediate".into()))
    }
    fn end(&mut self) -> PResult<()> {
        if self.at_end() { Ok(()) } else { Err(self.err(format!("unexpected `{}`", self.s[self.pos..].trim_end()))) }
    }
    fn src2(&mut self) -> PResult<Src2> {
        match self.peek() {
            Some('#') | Some('-') | Some('(') => Ok(Src2::Imm(self.imm()?)),
            Some(c) if c.is_ascii_digit() => Ok(Src2::Imm(self.imm()?)),
            _ => Ok(Src2::Reg(self.reg()?)),
        }
    }
    /// `, Rn` where Rn must be of `width`: else `msg`, at the register.
    fn next_reg_of(&mut self, width: Width, msg: &str) -> PResult<Operand> {
        self.comma()?;
        self.ws();
        let col = self.col();
        let r = self.reg()?;
        if r.width != width {
            return Err((col, msg.to_string()));
        }
        Ok(r)
    }
    /// The second operand of an ALU instruction or CMP: [`Cursor::src2`], optionally shifted
    /// (`X2, LSL #3`, `ASR`, `LSR`, and `ROR` if `logical`, as the logical operations take;
    /// an immediate only `LSL`, folded into it), or, for the arithmetic ones, extended
    /// (`W2, SXTB {#2}`).
    fn shifted_src2(&mut self, logical: bool) -> PResult<Src2> {
        let src = self.src2()?;
        if !self.eat(',') {
            return Ok(src);
        }
        let (w, col) = self.word()?;
        if let Some(ext) = Narrow::extension(&w) {
            let Src2::Reg(r) = src else { return Err((col, "an immediate takes only LSL".into())) };
            if logical {
                let name = ext.extension_name();
                return Err((col, format!("only an arithmetic operation takes a {name} operand")));
            }
            self.ws();
            let acol = self.col();
            let amount = if self.at_end() || self.peek() == Some(',') { 0 } else { self.imm()? };
            if amount > 4 {
                return Err((acol, format!("an extended register is shifted by 0 to 4, not {amount}")));
            }
            return Ok(Src2::Extended(r, ext, amount as u8));
        }
        let shift = match w.to_ascii_uppercase().as_str() {
            "LSL" => AluOp::Lsl,
            "LSR" => AluOp::Lsr,
            "ASR" => AluOp::Asr,
            "ROR" if logical => AluOp::Ror,
            "ROR" => return Err((col, "only a logical operation takes a ROR operand".into())),
            _ => return Err((col, format!("unsupported operand shift `{w}` (LSL, LSR, ASR or ROR)"))),
        };
        self.ws();
        let acol = self.col();
        let amount = self.imm()?;
        match src {
            Src2::Reg(r) => {
                if amount >= r.width.bits() {
                    return Err((acol, format!("shift by {amount} is outside {r}")));
                }
                Ok(Src2::Shifted(r, shift, amount as u8))
            }
            Src2::Imm(v) if shift == AluOp::Lsl => match amount {
                0..64 => Ok(Src2::Imm(v << amount)),
                _ => Err((acol, format!("shift by {amount} is outside the immediate"))),
            },
            _ => Err((col, "an immediate takes only LSL".into())),
        }
    }
    fn mem(&mut self) -> PResult<(Reg, Index)> {
        self.expect('[')?;
        let base = self.xreg()?;
        let index = if self.eat(',') {
            if matches!(self.peek(), Some('#') | Some('-') | Some('('))
                || self.peek().is_some_and(|c| c.is_ascii_digit())
            {
                Index::Imm(self.imm()? as i64)
            } else {
                let r = self.reg()?;
                let ext = if self.eat(',') {
                    let (e, col) = self.word()?;
                    match e.to_ascii_uppercase().as_str() {
                        "SXTW" => Extend::Sxtw,
                        "UXTW" => Extend::Uxtw,
                        "LSL" => Extend::Lsl(self.imm()? as u8),
                        _ => return Err((col, format!("unsupported extension `{e}`"))),
                    }
                } else {
                    Extend::Lsl(0)
                };
                Index::Reg(r, ext)
            }
        } else {
            Index::Imm(0)
        };
        self.expect(']')?;
        Ok((base, index))
    }
    /// [`Cur::mem`] of a load or store that may be pre-indexed (`[Xn, #imm]!`) or post-indexed
    /// (`[Xn], #imm`): the address operand as the access alone sees it, and the update.
    fn mem_writeback(&mut self) -> PResult<(Reg, Index, Option<Writeback>)> {
        self.ws();
        let col = self.col();
        let (base, index) = self.mem()?;
        let pre = self.eat('!');
        let imm = if pre {
            match index {
                Index::Imm(imm) => imm,
                Index::Reg(..) => return Err(self.err("pre-indexed addressing takes an immediate offset".into())),
            }
        } else if self.eat(',') {
            if index != Index::Imm(0) {
                return Err(self.err("post-indexed addressing takes [Xn] before its offset".into()));
            }
            self.ws();
            let col = self.col();
            match self.peek() {
                Some('#') | Some('-') | Some('(') => {}
                Some(c) if c.is_ascii_digit() => {}
                _ => return Err((col, "expected an immediate offset after `[Xn],`".into())),
            }
            self.imm()? as i64
        } else {
            return Ok((base, index, None));
        };
        if base == Reg::SP {
            return Err((col, "unsupported: writeback to SP".into()));
        }
        Ok((base, Index::Imm(0), Some(Writeback { base, imm, pre })))
    }
    fn comma(&mut self) -> PResult<()> {
        self.expect(',')
    }
    /// A branch or `ADR` target: a label, or `.+N` / `.-N`, N bytes from the instruction
    /// itself (as herd7 prints an instruction read from code).
    fn label(&mut self) -> PResult<(String, usize)> {
        let (w, col) = self.word()?;
        if w != "." {
            return Ok((w, col));
        }
        let sign = match self.peek() {
            Some(c @ ('+' | '-')) => c,
            _ => return Err((col, "expected `.+N` or `.-N` after `.`".into())),
        };
        self.pos += 1;
        let n = self.primary()?;
        if !n.is_multiple_of(Inst::BYTES) {
            return Err((col, format!("`.{sign}{n}` is not instruction-aligned")));
        }
        Ok((format!(".{sign}{n}"), col))
    }
}

/// Parses a register name: `Xn`, `Wn`, `XZR`, `WZR`, `SP`, `WSP`.
pub fn parse_reg(w: &str) -> Option<Operand> {
    let u = w.to_ascii_uppercase();
    match u.as_str() {
        "SP" => return Some(Operand { reg: Reg::SP, width: Width::X }),
        "WSP" => return Some(Operand { reg: Reg::SP, width: Width::W }),
        _ => {}
    }
    let (width, rest) = match u.as_bytes().first()? {
        b'X' => (Width::X, &u[1..]),
        b'W' => (Width::W, &u[1..]),
        _ => return None,
    };
    if rest == "ZR" {
        return Some(Operand { reg: Reg::ZR, width });
    }
    let n: u8 = rest.parse().ok()?;
    (n <= 30 && !(rest.len() > 1 && rest.starts_with('0'))).then_some(Operand { reg: Reg(n), width })
}

fn fence_option(c: &mut Cur, dsb: bool) -> PResult<Fence> {
    let (w, col) = c.word()?;
    let u = w.to_ascii_uppercase();
    if dsb {
        return match u.as_str() {
            "ISH" | "SY" | "OSH" => Ok(Fence::Sync),
            "ISHLD" | "LD" | "OSHLD" => Ok(Fence::SyncLoad),
            "ISHST" | "ST" | "OSHST" => Ok(Fence::SyncStore),
            "NSH" | "NSHLD" | "NSHST" => Ok(Fence::LocalSync),
            _ => Err((col, format!("unsupported barrier option `{w}`"))),
        };
    }
    match u.as_str() {
        "ISH" | "SY" | "OSH" => Ok(Fence::Full),
        "ISHLD" | "LD" | "OSHLD" => Ok(Fence::Load),
        "ISHST" | "ST" | "OSHST" => Ok(Fence::Store),
        "NSH" | "NSHLD" | "NSHST" => Ok(Fence::Local),
        _ => Err((col, format!("unsupported barrier option `{w}`"))),
    }
}

/// Parses one instruction; `col0` is the column of `s` in its line.
/// Errors are `(column, message)`.
pub fn parse_inst(s: &str, col0: usize) -> Result<Parsed, (usize, String)> {
    parse_inst_with(s, col0, &Symbols::new())
}

/// Parses one instruction with `syms` defined for its immediates.
pub fn parse_inst_with(s: &str, col0: usize, syms: &Symbols) -> Result<Parsed, (usize, String)> {
    let mut c = Cur { s, pos: 0, col0, syms, depth: 0 };
    let (mn, mcol) = c.word()?;
    let upper = mn.to_ascii_uppercase();
    let mut target = None;
    let mut writeback = None;
    let mut second = None;
    let inst = match upper.as_str() {
        "LDP" | "STP" | "LDPSW" => {
            let store = upper == "STP";
            let rcol = {
                c.ws();
                c.col()
            };
            let rt = c.reg()?;
            c.comma()?;
            let rcol2 = {
                c.ws();
                c.col()
            };
            let rt2 = c.reg()?;
            c.comma()?;
            let mcol2 = {
                c.ws();
                c.col()
            };
            let (base, index, wb) = c.mem_writeback()?;
            writeback = wb;
            if rt.reg == Reg::SP || rt2.reg == Reg::SP {
                return Err((if rt.reg == Reg::SP { rcol } else { rcol2 }, "SP is not allowed here".into()));
            }
            if rt.width != rt2.width {
                return Err((rcol2, format!("{upper}: both registers must be W or both X")));
            }
            let signed = upper == "LDPSW";
            if signed && rt.width != Width::X {
                return Err((rcol, "LDPSW takes X registers".into()));
            }
            let bytes: i64 = if signed || rt.width == Width::W { 4 } else { 8 };
            let Index::Imm(offset) = index else {
                return Err((mcol2, format!("{upper} takes an immediate offset")));
            };
            let imm = writeback.map_or(offset, |w| w.imm);
            if imm % bytes != 0 || !(-64 * bytes..64 * bytes).contains(&imm) {
                return Err((
                    mcol2,
                    format!(
                        "{upper}'s offset is a multiple of {bytes} from {} to {}, not {imm}",
                        -64 * bytes,
                        63 * bytes
                    ),
                ));
            }
            // The Arm ARM makes these CONSTRAINED UNPREDICTABLE.
            if !store && rt.reg == rt2.reg {
                return Err((rcol2, format!("{upper}'s two registers must differ")));
            }
            if writeback.is_some() {
                if rt.reg == base || rt2.reg == base {
                    return Err((rcol, format!("{upper} with writeback: the registers must differ from the base")));
                }
            } else if !store && rt.reg == base {
                // (Run as two loads, the second would use the base the first loaded.)
                return Err((rcol, format!("unsupported: {upper} whose first register is its base")));
            }
            let narrow = signed.then_some(Narrow { bytes: 4, signed: true });
            let access = |rt: Operand, k: i64| {
                let index = Index::Imm(k);
                if store {
                    Inst::Store { rt, base, index, release: false, narrow: None, status: None }
                } else {
                    Inst::Load { rt, base, index, acquire: false, exclusive: false, narrow, rcpc: false }
                }
            };
            second = Some(access(rt2, offset + bytes));
            access(rt, offset)
        }
        "LDR" | "LDAR" | "LDXR" | "LDAXR" | "STR" | "STLR" | "STXR" | "STLXR" | "LDRB" | "LDRH" | "LDRSB" | "LDRSH"
        | "LDRSW" | "LDARB" | "LDARH" | "STRB" | "STRH" | "STLRB" | "STLRH" | "LDXRB" | "LDXRH" | "LDAXRB"
        | "LDAXRH" | "STXRB" | "STXRH" | "STLXRB" | "STLXRH" | "LDAPR" | "LDAPRB" | "LDAPRH" | "LDUR" | "LDURB"
        | "LDURH" | "LDURSB" | "LDURSH" | "LDURSW" | "STUR" | "STURB" | "STURH" => {
            let exclusive = upper.contains("XR");
            let store = upper.starts_with("ST");
            // A store-exclusive's first operand is its status register, a W register.
            let status = if exclusive && store {
                let scol = {
                    c.ws();
                    c.col()
                };
                let s = c.reg()?;
                if s.width != Width::W || s.reg == Reg::SP {
                    return Err((scol, format!("{upper} takes a W register for its status")));
                }
                c.comma()?;
                Some(s)
            } else {
                None
            };
            let rcol = {
                c.ws();
                c.col()
            };
            let rt = c.reg()?;
            c.comma()?;
            let mcol2 = c.col();
            let (base, index, wb) = c.mem_writeback()?;
            writeback = wb;
            // The mnemonic without its size letter (LDXRB → LDXR).
            let (name, size) = match upper.strip_suffix(['B', 'H']) {
                Some(name) if exclusive || name.ends_with("AR") || name.ends_with("LR") || name == "LDAPR" => {
                    (name, &upper[name.len()..])
                }
                _ => (upper.as_str(), ""),
            };
            let rcpc = name == "LDAPR";
            let ordered = matches!(name, "LDAR" | "LDAXR" | "STLR" | "STLXR") || rcpc;
            if (ordered || exclusive) && index != Index::Imm(0) {
                return Err((mcol2, format!("{upper} takes only [Xn]")));
            }
            if let Some(s) = status
                && (s.reg == rt.reg || s.reg == base)
                && !s.reg.is_zero()
            {
                // The Arm ARM makes this CONSTRAINED UNPREDICTABLE.
                return Err((rcol, format!("{upper}'s status register must differ from its other registers")));
            }
            // LDUR, STUR and their sizes: an unscaled offset, which is the same access.
            let unscaled = upper.starts_with("LDUR") || upper.starts_with("STUR");
            if unscaled && !matches!(index, Index::Imm(-256..=255)) {
                return Err((mcol2, format!("{upper} takes [Xn] or [Xn, #-256..255]")));
            }
            if let Some(w) = writeback {
                if ordered || exclusive || unscaled {
                    return Err((mcol2, format!("{upper} has no pre- or post-indexed form")));
                }
                if !(-256..=255).contains(&w.imm) {
                    return Err((mcol2, format!("a pre- or post-indexed offset is -256..255, not {}", w.imm)));
                }
                if rt.reg == base {
                    // The Arm ARM makes this CONSTRAINED UNPREDICTABLE.
                    return Err((
                        rcol,
                        format!("{upper} with writeback: the transfer register must differ from the base"),
                    ));
                }
            }
            // The size letter after the base mnemonic, and S for a sign-extending load.
            let stem = if exclusive || rcpc {
                size
            } else if ordered || unscaled {
                &upper[4..]
            } else {
                &upper[3..]
            };
            let signed = stem.starts_with('S');
            let narrow = match stem.trim_start_matches('S') {
                "B" => Some(Narrow { bytes: 1, signed }),
                "H" => Some(Narrow { bytes: 2, signed }),
                "W" => Some(Narrow { bytes: 4, signed }),
                _ => None,
            };
            // A narrow access moves a W register, but a sign-extending load may fill an X one
            // (LDRSW only an X one: a W register already is the word).
            let fits = match narrow {
                None => true,
                Some(Narrow { bytes: 4, .. }) => rt.width == Width::X,
                Some(n) => n.signed || rt.width == Width::W,
            };
            if !fits {
                return Err((
                    rcol,
                    format!("{upper} takes a{} register", if rt.width == Width::X { " W" } else { "n X" }),
                ));
            }
            if upper.starts_with("LD") {
                Inst::Load { rt, base, index, acquire: ordered, exclusive, narrow, rcpc }
            } else {
                Inst::Store { rt, base, index, release: ordered, narrow, status }
            }
        }
        "MOV" => {
            let rd = c.reg()?;
            c.comma()?;
            Inst::Mov { rd, src: c.src2()? }
        }
        // MOVZ is MOV of the shifted immediate; MOVK keeps the other bits of Rd.
        "MOVZ" | "MOVK" => {
            let rd = c.reg()?;
            c.comma()?;
            c.ws();
            let icol = c.col();
            let imm = c.imm()?;
            if imm > 0xffff {
                return Err((icol, format!("{upper} takes a 16-bit immediate, not {imm:#x}")));
            }
            let shift = if c.eat(',') {
                let (w, col) = c.word()?;
                if !w.eq_ignore_ascii_case("LSL") {
                    return Err((col, format!("expected `LSL`, found `{w}`")));
                }
                c.ws();
                let scol = c.col();
                let shift = c.imm()?;
                let bits = rd.width.bits();
                if shift % 16 != 0 || shift >= bits {
                    return Err((
                        scol,
                        format!("{upper} shifts by 0, 16{}", if bits == 64 { ", 32 or 48" } else { "" }),
                    ));
                }
                shift as u8
            } else {
                0
            };
            if upper == "MOVZ" {
                Inst::Mov { rd, src: Src2::Imm(imm << shift) }
            } else {
                Inst::Alu { op: AluOp::Movk(shift), rd, rn: rd, src: Src2::Imm(imm), flags: false }
            }
        }
        // NEG Rd, Rm is SUB Rd, ZR, Rm; MVN Rd, Rm is ORN Rd, ZR, Rm; NEGS sets the flags.
        "NEG" | "MVN" | "NEGS" => {
            let rd = c.reg()?;
            c.comma()?;
            c.ws();
            let scol = c.col();
            let src = c.shifted_src2(upper == "MVN")?;
            if matches!(src, Src2::Imm(_)) {
                return Err((scol, format!("{upper} takes a register")));
            }
            let zr = Operand { reg: Reg::ZR, width: rd.width };
            let op = if upper == "MVN" { AluOp::Orn } else { AluOp::Sub };
            Inst::Alu { op, rd, rn: zr, src, flags: upper == "NEGS" }
        }
        // The bit-field moves and their aliases (the Arm ARM's alias conditions).
        "UBFM" | "SBFM" | "UBFX" | "SBFX" | "UBFIZ" | "SBFIZ" | "UXTB" | "UXTH" | "SXTB" | "SXTH" | "SXTW" => {
            let signed = upper.starts_with('S');
            let rd = c.reg()?;
            c.comma()?;
            let rn = c.reg()?;
            let bits = rd.width.bits();
            let (immr, imms) = match upper.as_str() {
                "UXTB" | "SXTB" => (0, 7),
                "UXTH" | "SXTH" => (0, 15),
                "SXTW" => (0, 31),
                _ => {
                    c.comma()?;
                    c.ws();
                    let col1 = c.col();
                    let a = c.imm()?;
                    c.comma()?;
                    c.ws();
                    let col2 = c.col();
                    let b = c.imm()?;
                    let (immr, imms) = match upper.as_str() {
                        "UBFM" | "SBFM" => (a, b),
                        // #lsb, #width
                        _ if a >= bits => return Err((col1, format!("{upper}'s bit {a} is past the register"))),
                        _ if b == 0 || a + b > bits => {
                            return Err((col2, format!("{upper}'s field of {b} bits from bit {a} does not fit")));
                        }
                        "UBFX" | "SBFX" => (a, a + b - 1),
                        _ => ((bits - a) % bits, b - 1),
                    };
                    if immr >= bits {
                        return Err((col1, format!("{upper} rotates by 0 to {}, not {immr}", bits - 1)));
                    }
                    if imms >= bits {
                        return Err((col2, format!("{upper}'s field ends at bit 0 to {}, not {imms}", bits - 1)));
                    }
                    (immr, imms)
                }
            };
            // (UXTB and UXTH write a W register; SXTW an X one; the extensions read a W one.)
            let op = AluOp::Bfm { signed, immr: immr as u8, imms: imms as u8 };
            Inst::Alu { op, rd, rn, src: Src2::Imm(0), flags: false }
        }
        // The operations of one register.
        "REV" | "REV16" | "REV32" | "REV64" | "RBIT" | "ABS" | "CLZ" | "CLS" => {
            c.ws();
            let dcol = c.col();
            let rd = c.reg()?;
            let rn = c.next_reg_of(rd.width, &format!("{upper}: both registers must be W or both X"))?;
            let op = match upper.as_str() {
                "REV16" => AluOp::Rev(2),
                "REV32" | "REV64" if rd.width == Width::W => {
                    return Err((dcol, format!("{upper} takes X registers")));
                }
                "REV32" => AluOp::Rev(4),
                "REV" | "REV64" => AluOp::Rev(rd.width.bits() as u8 / 8),
                "RBIT" => AluOp::Rbit,
                "ABS" => AluOp::Abs,
                "CLZ" => AluOp::Clz,
                _ => AluOp::Cls,
            };
            Inst::Alu { op, rd, rn, src: Src2::Imm(0), flags: false }
        }
        "SMULH" | "UMULH" => {
            c.ws();
            let dcol = c.col();
            let rd = c.reg()?;
            if rd.width != Width::X {
                return Err((dcol, format!("{upper} takes X registers")));
            }
            let msg = format!("{upper} takes X registers");
            let (rn, rm) = (c.next_reg_of(Width::X, &msg)?, c.next_reg_of(Width::X, &msg)?);
            Inst::Alu { op: AluOp::MulHigh { signed: upper == "SMULH" }, rd, rn, src: Src2::Reg(rm), flags: false }
        }
        "MADD" | "MSUB" | "MNEG" | "SMADDL" | "SMSUBL" | "UMADDL" | "UMSUBL" | "SMULL" | "UMULL" | "SMNEGL"
        | "UMNEGL" => {
            let long = match upper.as_bytes()[0] {
                b'S' => Some(true),
                b'U' => Some(false),
                _ => None,
            };
            let sub = upper.contains("SUB") || upper.contains("NEG");
            c.ws();
            let dcol = c.col();
            let rd = c.reg()?;
            if long.is_some() && rd.width != Width::X {
                return Err((dcol, format!("{upper} writes an X register")));
            }
            // The factors of the long forms are W registers, the rest one width.
            let factor_width = if long.is_some() { Width::W } else { rd.width };
            let mut operand = |width: Width| {
                let which = if width == Width::W { "a W register" } else { "an X register" };
                c.next_reg_of(width, &format!("{upper} takes {which} here"))
            };
            let rn = operand(factor_width)?;
            let rm = operand(factor_width)?;
            let ra = if matches!(upper.as_str(), "MADD" | "MSUB" | "SMADDL" | "SMSUBL" | "UMADDL" | "UMSUBL") {
                operand(rd.width)?
            } else {
                Operand { reg: Reg::ZR, width: rd.width }
            };
            Inst::MulAdd { rd, rn, rm, ra, sub, long }
        }
        // CMN Rn, src is ADDS ZR, Rn, src; TST Rn, src is ANDS ZR, Rn, src.
        "CMN" | "TST" => {
            let rn = c.reg()?;
            c.comma()?;
            let zr = Operand { reg: Reg::ZR, width: rn.width };
            let op = if upper == "CMN" { AluOp::Add } else { AluOp::And };
            Inst::Alu { op, rd: zr, rn, src: c.shifted_src2(upper == "TST")?, flags: true }
        }
        // EXTR Rd, Rn, Rm, #lsb: bits lsb.. of the pair Rn:Rm (ROR Rd, Rs, #n is EXTR Rd, Rs, Rs, #n).
        "EXTR" => {
            let rd = c.reg()?;
            let msg = "EXTR: the registers must be W or all X";
            let (rn, rm) = (c.next_reg_of(rd.width, msg)?, c.next_reg_of(rd.width, msg)?);
            c.comma()?;
            c.ws();
            let col = c.col();
            let lsb = c.imm()?;
            if lsb >= rd.width.bits() {
                return Err((col, format!("EXTR's bit {lsb} is outside {rd}")));
            }
            Inst::Alu { op: AluOp::Extr(lsb as u8), rd, rn, src: Src2::Reg(rm), flags: false }
        }
        "ADD" | "SUB" | "AND" | "ORR" | "EOR" | "LSL" | "LSR" | "MUL" | "ASR" | "BIC" | "ORN" | "ADDS" | "SUBS"
        | "ANDS" | "BICS" | "ROR" | "LSLV" | "LSRV" | "ASRV" | "RORV" => {
            let flags = upper.ends_with('S') && upper != "ORN";
            let op = match upper.trim_end_matches('S') {
                "ADD" => AluOp::Add,
                "SUB" => AluOp::Sub,
                "AND" => AluOp::And,
                "ORR" => AluOp::Orr,
                "EOR" => AluOp::Eor,
                "LSL" => AluOp::Lsl,
                "LSR" => AluOp::Lsr,
                "ASR" => AluOp::Asr,
                "BIC" => AluOp::Bic,
                "ORN" => AluOp::Orn,
                "ROR" | "RORV" => AluOp::Ror,
                "LSLV" => AluOp::Lsl,
                "LSRV" => AluOp::Lsr,
                "ASRV" => AluOp::Asr,
                _ => AluOp::Mul,
            };
            let rd = c.reg()?;
            c.comma()?;
            let rn = c.reg()?;
            c.comma()?;
            c.ws();
            let scol = c.col();
            let src = if matches!(op, AluOp::Mul | AluOp::Lsl | AluOp::Lsr | AluOp::Asr | AluOp::Ror) {
                c.src2()?
            } else {
                c.shifted_src2(!matches!(op, AluOp::Add | AluOp::Sub))?
            };
            if (op == AluOp::Mul || upper.ends_with('V')) && matches!(src, Src2::Imm(_)) {
                return Err((scol, format!("{upper} takes registers only")));
            }
            Inst::Alu { op, rd, rn, src, flags }
        }
        "CMP" => {
            let rn = c.reg()?;
            c.comma()?;
            Inst::Cmp { rn, src: c.shifted_src2(false)? }
        }
        "CSET" => {
            let rd = c.reg()?;
            c.comma()?;
            let (w, col) = c.word()?;
            let cond = parse_cond(&w).ok_or((col, format!("unknown condition `{w}`")))?;
            Inst::Cset { rd, cond }
        }
        "CSEL" | "CSINC" | "CSINV" | "CSNEG" | "CSETM" | "CINC" | "CINV" | "CNEG" => {
            let op = match upper.as_str() {
                "CSEL" => CselOp::Sel,
                "CSINC" | "CINC" => CselOp::Inc,
                "CSINV" | "CINV" | "CSETM" => CselOp::Inv,
                _ => CselOp::Neg,
            };
            let rd = c.reg()?;
            c.comma()?;
            // The aliases name fewer registers and the condition under which they transform.
            let (rn, rm) = match upper.as_str() {
                "CSETM" => {
                    let zr = Operand { reg: Reg::ZR, width: rd.width };
                    (zr, zr)
                }
                "CINC" | "CINV" | "CNEG" => {
                    let rn = c.reg()?;
                    c.comma()?;
                    (rn, rn)
                }
                _ => {
                    let rn = c.reg()?;
                    c.comma()?;
                    let rm = c.reg()?;
                    c.comma()?;
                    (rn, rm)
                }
            };
            let (w, col) = c.word()?;
            let mut cond = parse_cond(&w).ok_or((col, format!("unknown condition `{w}`")))?;
            if matches!(upper.as_str(), "CSETM" | "CINC" | "CINV" | "CNEG") {
                cond = cond.inverse().ok_or((col, format!("{upper} takes a condition other than AL")))?;
            }
            Inst::Csel { op, rd, rn, rm, cond }
        }
        "B" => {
            target = Some(c.label()?);
            Inst::B { target: 0 }
        }
        "CBZ" | "CBNZ" => {
            let rt = c.reg()?;
            c.comma()?;
            target = Some(c.label()?);
            Inst::Cbz { rt, nonzero: upper == "CBNZ", bit: None, target: 0 }
        }
        "TBZ" | "TBNZ" => {
            let rt = c.reg()?;
            c.comma()?;
            c.ws();
            let bcol = c.col();
            let bit = c.imm()?;
            if bit >= rt.width.bits() {
                return Err((bcol, format!("bit {bit} is outside {rt}")));
            }
            c.comma()?;
            target = Some(c.label()?);
            Inst::Cbz { rt, nonzero: upper == "TBNZ", bit: Some(bit as u8), target: 0 }
        }
        "DMB" => Inst::Dmb(fence_option(&mut c, false)?),
        "DSB" => Inst::Dsb(fence_option(&mut c, true)?),
        "DC" => {
            let (op, col) = c.word()?;
            if !op.eq_ignore_ascii_case("CVAU") {
                return Err((col, format!("unsupported: DC {op} (only DC CVAU)")));
            }
            c.comma()?;
            Inst::DcCvau { rt: c.xreg()? }
        }
        "IC" => {
            let (op, col) = c.word()?;
            match op.to_ascii_uppercase().as_str() {
                "IVAU" => {
                    c.comma()?;
                    Inst::IcIvau { rt: c.xreg()? }
                }
                "IALLU" | "IALLUIS" => Inst::IcIallu,
                _ => return Err((col, format!("unsupported: IC {op}"))),
            }
        }
        "TLBI" => {
            let (op, col) = c.word()?;
            let u = op.to_ascii_uppercase();
            let (base, broadcast) = match u.strip_suffix("IS") {
                Some(b) => (b, true),
                None => (u.as_str(), false),
            };
            let scope = match base {
                "VAE1" | "VALE1" => TlbiScope::Va,
                "VAAE1" | "VAALE1" => TlbiScope::VaAllAsids,
                "ASIDE1" => TlbiScope::Asid,
                "VMALLE1" => TlbiScope::All,
                _ => return Err((col, format!("unsupported: TLBI {op}"))),
            };
            let rt = if scope == TlbiScope::All {
                None
            } else {
                c.comma()?;
                Some(c.xreg()?)
            };
            Inst::Tlbi { scope, broadcast, rt }
        }
        "SVC" => Inst::Svc(c.imm()? as u16),
        "ERET" => Inst::Eret,
        "MRS" => {
            let rt = c.reg()?;
            c.comma()?;
            let (name, col) = c.word()?;
            let reg = SysReg::parse(&name).ok_or((col, format!("unsupported system register `{name}`")))?;
            Inst::Mrs { rt, reg }
        }
        "MSR" => {
            let (name, col) = c.word()?;
            c.comma()?;
            match name.to_ascii_uppercase().as_str() {
                "DAIFSET" => Inst::MsrDaif { set: true, imm: c.imm()? as u8 & 0xf },
                "DAIFCLR" => Inst::MsrDaif { set: false, imm: c.imm()? as u8 & 0xf },
                _ => {
                    let reg = SysReg::parse(&name).ok_or((col, format!("unsupported system register `{name}`")))?;
                    Inst::Msr { reg, rt: c.reg()? }
                }
            }
        }
        "BL" => {
            target = Some(c.label()?);
            Inst::Bl { target: 0 }
        }
        "BR" | "BLR" => Inst::Br { rn: c.xreg()?, link: upper == "BLR" },
        "RET" => Inst::Ret { rn: if c.at_end() { Reg::LR } else { c.xreg()? } },
        "ADR" => {
            let rd = c.reg()?;
            c.comma()?;
            target = Some(c.label()?);
            Inst::Adr { rd, target: 0 }
        }
        "ISB" => Inst::Isb,
        "NOP" => Inst::Nop,
        "WFI" => Inst::Wfi,
        "WFE" => Inst::Wfe,
        "SEVL" => Inst::Sevl,
        "WORK" => {
            // A register operand (`work X10`) or a constant expression.
            let save = c.pos;
            match c.word().ok().and_then(|(w, _)| parse_reg(&w)) {
                Some(op) if op.width == Width::X && !op.reg.is_zero() && op.reg != Reg::SP => Inst::WorkReg(op.reg),
                _ => {
                    c.pos = save;
                    Inst::Work(c.imm()?)
                }
            }
        }
        _ if rmw_mnemonic(&upper).is_some() => {
            let (op, acquire, release, alias, narrow) = rmw_mnemonic(&upper).expect("checked");
            c.ws();
            let rcol = c.col();
            let rs = c.rmw_reg()?;
            if narrow.is_some() && rs.width != Width::W {
                return Err((rcol, format!("{upper} takes W registers")));
            }
            c.comma()?;
            let rt = if alias {
                Operand { reg: Reg::ZR, width: rs.width }
            } else {
                c.ws();
                let col = c.col();
                let rt = c.rmw_reg()?;
                if rt.width != rs.width {
                    return Err((col, format!("{upper}: both registers must be W or both X")));
                }
                c.comma()?;
                rt
            };
            c.ws();
            let mcol2 = c.col();
            let (base, index) = c.mem()?;
            if index != Index::Imm(0) {
                return Err((mcol2, format!("{upper} takes only [Xn]")));
            }
            Inst::Rmw { op, rs, rt, base, acquire, release, narrow }
        }
        _ if upper.starts_with("B.") => {
            let cond = parse_cond(&upper[2..]).ok_or((mcol, format!("unknown condition in `{mn}`")))?;
            target = Some(c.label()?);
            Inst::BCond { cond, target: 0 }
        }
        _ => return Err((mcol, format!("unsupported instruction `{mn}`"))),
    };
    if !c.at_end() {
        return Err(c.err(format!("unexpected `{}`", c.s[c.pos..].trim_end())));
    }
    Ok(Parsed { inst, target, writeback, second })
}

/// An atomic read-modify-write mnemonic: the operation, acquire, release, whether it is the
/// `ST<op>` alias (no destination register), and the byte or halfword size of the `B` and `H`
/// forms (`CASB`, `SWPALH`, `STADDLB`). The pair forms (`CASP`) are not among them.
fn rmw_mnemonic(upper: &str) -> Option<(RmwOp, bool, bool, bool, Option<Narrow>)> {
    const OPS: [(&str, RmwOp); 10] = [
        ("CAS", RmwOp::Cas),
        ("SWP", RmwOp::Swp),
        ("LDADD", RmwOp::Add),
        ("LDCLR", RmwOp::Clr),
        ("LDEOR", RmwOp::Eor),
        ("LDSET", RmwOp::Set),
        ("LDSMAX", RmwOp::Smax),
        ("LDSMIN", RmwOp::Smin),
        ("LDUMAX", RmwOp::Umax),
        ("LDUMIN", RmwOp::Umin),
    ];
    for (name, op) in OPS {
        let (rest, alias) = match upper.strip_prefix(name) {
            Some(rest) => (rest, false),
            None => match (name.strip_prefix("LD"), upper.strip_prefix("ST")) {
                (Some(base), Some(after)) => match after.strip_prefix(base) {
                    Some(rest) => (rest, true),
                    None => continue,
                },
                _ => continue,
            },
        };
        let (rest, narrow) = match rest.strip_suffix('B') {
            Some(rest) => (rest, Some(Narrow { bytes: 1, signed: false })),
            None => match rest.strip_suffix('H') {
                Some(rest) => (rest, Some(Narrow { bytes: 2, signed: false })),
                None => (rest, None),
            },
        };
        let (acquire, release) = match rest {
            "" => (false, false),
            "A" if !alias => (true, false),
            "L" => (false, true),
            "AL" if !alias => (true, true),
            _ => continue,
        };
        return Some((op, acquire, release, alias, narrow));
    }
    None
}

fn parse_cond(s: &str) -> Option<Cond> {
    let u = s.to_ascii_uppercase();
    Cond::NAMES.iter().find(|(n, _)| *n == u).map(|(_, c)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembles_labels_and_branches() {
        let p = assemble(
            "start: LDR W1, [X0]\n  cmp w1,#1 // compare\n  B.NE out\n  STR W2,[X0, #8]\nout:\n  work 100\n",
            0x1000,
        )
        .unwrap();
        assert_eq!(p.insts.len(), 5);
        assert_eq!(p.label("out"), Some(0x1010));
        assert_eq!(p.insts[2], Inst::BCond { cond: Cond::Ne, target: 0x1010 });
        assert_eq!(p.insts[4], Inst::Work(100));
        assert_eq!(p.lines, [1, 2, 3, 4, 6]);
        assert_eq!(p.at(0x1004).unwrap().to_string(), "CMP W1,#1");
        assert_eq!(p.at(0x1014), None);
    }

    #[test]
    fn parses_every_addressing_form_and_barrier() {
        for (text, shown) in [
            ("LDR X0,[X1,W2,SXTW]", "LDR X0,[X1,W2,SXTW]"),
            ("ldr x0, [x1, x2, lsl #3]", "LDR X0,[X1,X2,LSL #3]"),
            ("STR W0,[X1,#-8]", "STR W0,[X1,#-8]"),
            ("LDAR W0,[X1]", "LDAR W0,[X1]"),
            ("STLR W0,[X1]", "STLR W0,[X1]"),
            ("EOR W3,W2,W2", "EOR W3,W2,W2"),
            ("MOV X1,#0x10", "MOV X1,#16"),
            ("DMB SY", "DMB ISH"),
            ("DMB ISHLD", "DMB ISHLD"),
            ("DMB ST", "DMB ISHST"),
            ("DSB ISH", "DSB ISH"),
            ("CSET W0,EQ", "CSET W0,EQ"),
            ("DSB LD", "DSB ISHLD"),
            ("dc cvau, x1", "DC CVAU,X1"),
            ("IC IVAU,X3", "IC IVAU,X3"),
            ("IC IALLUIS", "IC IALLU"),
            ("TLBI VAE1IS, X0", "TLBI VAE1IS,X0"),
            ("TLBI VMALLE1", "TLBI VMALLE1"),
            ("SVC #0", "SVC #0"),
            ("ERET", "ERET"),
            ("MRS X0, ICC_IAR1_EL1", "MRS X0,ICC_IAR1_EL1"),
            ("MSR ICC_SGI1R_EL1, X1", "MSR ICC_SGI1R_EL1,X1"),
            ("MSR DAIFSet, #2", "MSR DAIFSet,#2"),
            ("BLR X3", "BLR X3"),
            ("RET", "RET"),
            ("LSL X1, X2, #6", "LSL X1,X2,#6"),
            ("lsr w1, w2, w3", "LSR W1,W2,W3"),
            ("MUL X1, X2, X3", "MUL X1,X2,X3"),
            ("WFI", "WFI"),
            ("wfe", "WFE"),
            ("SEVL", "SEVL"),
            ("LDXR X1, [X0]", "LDXR X1,[X0]"),
            ("ldaxr w2, [x3, #0]", "LDAXR W2,[X3]"),
            ("LDXRH W1,[X0]", "LDXRH W1,[X0]"),
            ("ldapr x1, [x0]", "LDAPR X1,[X0]"),
            ("LDAPRB W1,[X0,#0]", "LDAPRB W1,[X0]"),
            ("ldaxrb w1, [x0]", "LDAXRB W1,[X0]"),
            ("STXR W5,X1,[X0]", "STXR W5,X1,[X0]"),
            ("stlxr w5, w1, [x0, #0]", "STLXR W5,W1,[X0]"),
            ("STXRB W5,W1,[X0]", "STXRB W5,W1,[X0]"),
            ("STLXRH WZR,W1,[X0]", "STLXRH WZR,W1,[X0]"),
            ("MOV X0, #(1 << 4) | 3", "MOV X0,#19"),
            ("ADD X0, X0, #-(2 * 3)", "ADD X0,X0,#-6"),
            ("LDR X0, [X1, #(8 + 8) * 2]", "LDR X0,[X1,#32]"),
            ("work 0b1_000", "work 8"),
            ("CAS X0, X1, [X2]", "CAS X0,X1,[X2]"),
            ("casal w3, w4, [sp]", "CASAL W3,W4,[SP]"),
            ("SWPA X0,X1,[X2]", "SWPA X0,X1,[X2]"),
            ("LDADDL W0,W1,[X2,#0]", "LDADDL W0,W1,[X2]"),
            ("LDCLRAL X0,X1,[X2]", "LDCLRAL X0,X1,[X2]"),
            ("STADD W0,[X1]", "STADD W0,[X1]"),
            ("LDADD W0,WZR,[X1]", "STADD W0,[X1]"),
            ("steorl x0, [x1]", "STEORL X0,[X1]"),
            ("LDSETA X5,XZR,[X2]", "LDSETA X5,XZR,[X2]"),
            ("SWPL X0,XZR,[X1]", "SWPL X0,XZR,[X1]"),
        ] {
            let p = parse_inst(text, 1).unwrap_or_else(|e| panic!("{text}: {e:?}"));
            assert_eq!(p.inst.to_string(), shown);
        }
        // A store-exclusive writes its status register and reads its address and data.
        let stxr = parse_inst("STXR W5,X1,[X0]", 1).unwrap().inst;
        assert_eq!(stxr.dest(), Some(Reg::x(5)));
        assert_eq!(stxr.sources().map(|o| o.map(|o| o.reg)), [Some(Reg::x(0)), None, Some(Reg::x(1))]);
    }

    #[test]
    fn work_takes_a_register_or_a_constant() {
        let p = assemble(".equ N, 7\nwork X10\nwork N*2\nwork #3", 0).unwrap();
        assert_eq!(p.insts, vec![Inst::WorkReg(Reg::x(10)), Inst::Work(14), Inst::Work(3)]);
        assert_eq!(p.insts[0].to_string(), "work X10");
        assert!(assemble("work SP", 0).is_err());
    }

    #[test]
    fn conditional_assembly_keeps_one_branch() {
        let text = ".equ WFE_WAIT, 1
.if WFE_WAIT
        WFE
  .if WFE_WAIT - 1
        NOP
        UNDEFINED_MNEMONIC  // not parsed: the branch is not taken
  .else
        SEVL
  .endif
.else
spin:   B spin
.endif
done:   ERET";
        let p = assemble(text, 0).unwrap();
        assert_eq!(p.insts, vec![Inst::Wfe, Inst::Sevl, Inst::Eret]);
        assert_eq!(
            (p.label("spin"), p.label("done")),
            (None, Some(8)),
            "labels of the branch not taken are not defined"
        );
        let mut syms = Symbols::new();
        syms.insert("WFE_WAIT".into(), 0);
        let p = assemble_with(&text.replacen(".equ WFE_WAIT, 1\n", "", 1), 0, &syms).unwrap();
        assert_eq!(p.insts, vec![Inst::B { target: 0 }, Inst::Eret]);
        // An `.if` inside a branch not taken is not evaluated.
        assert!(assemble(".if 0\n.if UNDEFINED\n.endif\n.endif\nNOP", 0).is_ok());
        // Its errors are with the other directives' (`symbols_come_from_equ_and_from_the_caller`).
    }

    #[test]
    fn move_wide_negate_not_and_arithmetic_shift() {
        // Each instruction, then X1's value after it (registers start at 0).
        let steps = [
            ("MOVZ X1,#0xbeef,LSL #32", 0xbeef_0000_0000),
            ("MOVK X1,#0x1234,LSL #16", 0xbeef_1234_0000),
            ("MOVK X1,#0xffff", 0xbeef_1234_ffff),
            ("NEG X1,X1", 0xbeef_1234_ffffu64.wrapping_neg()),
            ("MVN W1,W1", !0xbeef_1234_ffffu64.wrapping_neg() & 0xffff_ffff),
            ("MOVZ W1,#0x8000,LSL #16", 0x8000_0000),
            ("ASR W1,W1,#4", 0xf800_0000),
            ("ASR X1,X1,#4", 0x0f80_0000),
            ("BIC X1,X1,X1", 0),
            ("ORN X1,XZR,X1", u64::MAX),
            ("MOVZ X1,#0x8001", 0x8001),
            ("ADD X1,X1,X1,LSL #4", 0x8001 * 17),
            ("SUB W1,W1,W1,LSR #1", 0x8001 * 17 - ((0x8001 * 17) >> 1)),
            ("ORR X1,XZR,#3,LSL #12", 0x3000),
            ("NEG W1,W1,ASR #13", 0u64.wrapping_sub(1) & 0xffff_ffff),
        ];
        let mut x1 = 0u64;
        for (text, want) in steps {
            let inst = parse_inst(text, 1).unwrap_or_else(|e| panic!("{text}: {e:?}")).inst;
            x1 = match inst {
                Inst::Mov { rd, src: Src2::Imm(v) } => rd.width.mask(v),
                Inst::Alu { op, rd, rn, src, .. } => {
                    let a = if rn.reg.is_zero() { 0 } else { x1 };
                    let b = src.value(x1);
                    rd.width.mask(op.apply(rd.width, rn.width.mask(a), b))
                }
                other => panic!("{text}: {other:?}"),
            };
            assert_eq!(x1, want, "{text}: {x1:#x}");
            // Printed, it reads back as the same instruction.
            assert_eq!(parse_inst(&inst.to_string(), 1).unwrap().inst, inst, "{text} printed {inst}");
        }
    }

    /// The flag-setting forms read and print back, and set NZCV as the Arm ARM's
    /// `AddWithCarry(x, y, carry_in)` does (`SUBS` is `x + NOT(y) + 1`; the logical forms set N
    /// and Z from the result and clear C and V), computed here from wide sums, the way the
    /// pseudocode defines the flags, rather than from the bit tricks `AluOp::flags` uses.
    #[test]
    fn flag_setting_forms_set_nzcv_as_add_with_carry_does() {
        use crate::isa::flags;
        fn add_with_carry(bits: u32, x: u64, y: u64, carry_in: u64) -> u64 {
            let mask = if bits == 64 { u64::MAX } else { (1 << bits) - 1 };
            let (x, y) = (x & mask, y & mask);
            let signed = |v: u64| ((v << (64 - bits)) as i64 >> (64 - bits)) as i128;
            let unsigned_sum = x as u128 + y as u128 + carry_in as u128;
            let signed_sum = signed(x) + signed(y) + carry_in as i128;
            let result = (unsigned_sum as u64) & mask;
            let mut f = 0;
            if result >> (bits - 1) & 1 == 1 {
                f |= flags::N;
            }
            if result == 0 {
                f |= flags::Z;
            }
            if result as u128 != unsigned_sum {
                f |= flags::C;
            }
            if signed(result) != signed_sum {
                f |= flags::V;
            }
            f
        }
        let values = test_values();
        for width in [Width::W, Width::X] {
            let bits = width.bits() as u32;
            for &a in &values {
                for &b in &values {
                    let (ma, mb) = (width.mask(a), width.mask(b));
                    assert_eq!(AluOp::Add.flags(width, a, b), add_with_carry(bits, a, b, 0), "ADDS {ma:#x}, {mb:#x}");
                    assert_eq!(AluOp::Sub.flags(width, a, b), add_with_carry(bits, a, !b, 1), "SUBS {ma:#x}, {mb:#x}");
                    for op in [AluOp::And, AluOp::Bic] {
                        let r = width.mask(op.apply(width, a, b));
                        let want =
                            if r == 0 { flags::Z } else { 0 } | if r >> (bits - 1) & 1 == 1 { flags::N } else { 0 };
                        assert_eq!(op.flags(width, a, b), want, "{op:?} {ma:#x}, {mb:#x}");
                    }
                }
            }
        }
        let zr = |width| Operand { reg: Reg::ZR, width };
        let (x1, w2) = (parse_reg("X1").unwrap(), parse_reg("W2").unwrap());
        for (text, want, printed) in [
            (
                "ADDS X1,X1,#1",
                Inst::Alu { op: AluOp::Add, rd: x1, rn: x1, src: Src2::Imm(1), flags: true },
                "ADDS X1,X1,#1",
            ),
            (
                "subs w2,w2,w2,lsl #2",
                Inst::Alu { op: AluOp::Sub, rd: w2, rn: w2, src: Src2::Shifted(w2, AluOp::Lsl, 2), flags: true },
                "SUBS W2,W2,W2,LSL #2",
            ),
            (
                "ANDS X1,X1,#0xff",
                Inst::Alu { op: AluOp::And, rd: x1, rn: x1, src: Src2::Imm(0xff), flags: true },
                "ANDS X1,X1,#255",
            ),
            (
                "BICS W2,W2,W2",
                Inst::Alu { op: AluOp::Bic, rd: w2, rn: w2, src: Src2::Reg(w2), flags: true },
                "BICS W2,W2,W2",
            ),
            (
                "CMN X1,#3",
                Inst::Alu { op: AluOp::Add, rd: zr(Width::X), rn: x1, src: Src2::Imm(3), flags: true },
                "CMN X1,#3",
            ),
            (
                "TST W2,#1",
                Inst::Alu { op: AluOp::And, rd: zr(Width::W), rn: w2, src: Src2::Imm(1), flags: true },
                "TST W2,#1",
            ),
            (
                "NEGS X1,X1",
                Inst::Alu { op: AluOp::Sub, rd: x1, rn: zr(Width::X), src: Src2::Reg(x1), flags: true },
                "NEGS X1,X1",
            ),
            (
                "SUBS XZR,X1,#2",
                Inst::Alu { op: AluOp::Sub, rd: zr(Width::X), rn: x1, src: Src2::Imm(2), flags: true },
                "SUBS XZR,X1,#2",
            ),
        ] {
            let inst = parse_inst(text, 1).unwrap_or_else(|e| panic!("{text}: {e:?}")).inst;
            assert_eq!(inst, want, "{text}");
            assert!(inst.writes_flags(), "{text}");
            assert_eq!(inst.to_string(), printed, "{text}");
            assert_eq!(parse_inst(printed, 1).unwrap().inst, inst, "{printed}");
        }
        // ORR and EOR have no flag-setting form; ORN's S is its own.
        for text in ["ORRS X1,X1,X1", "EORS X1,X1,X1"] {
            let e = parse_inst(text, 1).unwrap_err();
            assert!(e.1.contains("unsupported instruction"), "{text}: {e:?}");
        }
        assert!(!parse_inst("ORN X1,X1,X1", 1).unwrap().inst.writes_flags());
    }

    #[test]
    fn narrow_accesses_read_print_back_and_extend() {
        prints_back(&[
            "LDRB W0,[X1]",
            "LDRH W0,[X1,#2]",
            "LDRSB X0,[X1]",
            "LDRSB W0,[X1]",
            "LDRSH X0,[X1,X2]",
            "LDRSW X0,[X1]",
            "STRB W0,[X1]",
            "STRH W0,[X1,#6]",
            "LDARB W0,[X1]",
            "STLRH W0,[X1]",
        ]);
        let load = |text: &str| parse_inst(text, 1).unwrap().inst;
        // The cell's low bytes, zero- or sign-extended to the register.
        assert_eq!(load("LDRB W0,[X1]").loaded_value(0x1234_56f0), 0xf0);
        assert_eq!(load("LDRSB W0,[X1]").loaded_value(0x1234_56f0), 0xffff_fff0);
        assert_eq!(load("LDRSB X0,[X1]").loaded_value(0x1234_56f0), (-16i64) as u64);
        assert_eq!(load("LDRSH X0,[X1]").loaded_value(0x7ff0), 0x7ff0);
        assert_eq!(load("LDRSW X0,[X1]").loaded_value(0x1_8000_0000), 0xffff_ffff_8000_0000);
        assert_eq!(load("LDR W0,[X1]").loaded_value(u64::MAX), 0xffff_ffff);
        assert_eq!(load("STRH W0,[X1]").stored_value(0x1_2345), 0x2345);
        assert_eq!(load("STR W0,[X1]").stored_value(0x1_2345), 0x1_2345);
        // An unscaled offset is the same access.
        assert_eq!(load("LDUR X0,[X1,#-8]"), load("LDR X0,[X1,#-8]"));
        assert_eq!(load("LDURSH W0,[X1,#3]"), load("LDRSH W0,[X1,#3]"));
        assert_eq!(load("STURB W0,[X1]"), load("STRB W0,[X1]"));
    }

    /// `UBFM`/`SBFM` against the Arm ARM's own formulation (`DecodeBitMasks`, then rotate and
    /// mask), for every `immr`, `imms` at both widths; the aliases read as the moves they stand
    /// for.
    #[test]
    fn bitfield_moves_follow_the_arm_pseudocode() {
        use crate::isa::bitfield_move;
        fn reference(bits: u32, signed: bool, immr: u32, imms: u32, src: u64) -> u64 {
            let ones = |n: u32| if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
            let mask = ones(bits);
            let ror = |v: u64, r: u32| if r == 0 { v } else { ((v >> r) | (v << (bits - r))) & mask };
            // DecodeBitMasks with esize = the register's size: S = imms, R = immr.
            let d = imms.wrapping_sub(immr) & (bits - 1);
            let wmask = ror(ones(imms + 1), immr);
            let tmask = ones(d + 1);
            let bot = ror(src & mask, immr) & wmask;
            let top = if signed && (src >> imms) & 1 == 1 { mask } else { 0 };
            if signed { (top & !tmask) | (bot & tmask) } else { bot & tmask }
        }
        let mut values = test_values().into_iter().cycle();
        for (width, bits) in [(Width::W, 32), (Width::X, 64)] {
            for immr in 0..bits {
                for imms in 0..bits {
                    for signed in [false, true] {
                        for _ in 0..3 {
                            let src = width.mask(values.next().expect("a cycle"));
                            assert_eq!(
                                bitfield_move(width, signed, immr as u8, imms as u8, src),
                                reference(bits, signed, immr, imms, src),
                                "{}BFM {width:?} #{immr},#{imms} of {src:#x}",
                                if signed { "S" } else { "U" }
                            );
                        }
                    }
                }
            }
        }
        for (alias, canonical) in [
            ("UBFX X0,X1,#4,#8", "UBFM X0,X1,#4,#11"),
            ("SBFX W0,W1,#31,#1", "SBFM W0,W1,#31,#31"),
            ("UBFIZ X0,X1,#4,#8", "UBFM X0,X1,#60,#7"),
            ("SBFIZ W0,W1,#0,#3", "SBFM W0,W1,#0,#2"),
            ("UXTB W0,W1", "UBFM W0,W1,#0,#7"),
            ("UXTH W0,W1", "UBFM W0,W1,#0,#15"),
            ("SXTB X0,W1", "SBFM X0,W1,#0,#7"),
            ("SXTH W0,W1", "SBFM W0,W1,#0,#15"),
            ("SXTW X0,W1", "SBFM X0,W1,#0,#31"),
        ] {
            let inst = parse_inst(alias, 1).unwrap_or_else(|e| panic!("{alias}: {e:?}")).inst;
            assert_eq!(inst.to_string(), canonical, "{alias}");
            assert_eq!(parse_inst(canonical, 1).unwrap().inst, inst, "{canonical}");
        }
    }

    /// Each text reads as an instruction that prints as the same text.
    fn prints_back(texts: &[&str]) {
        for text in texts {
            let inst = parse_inst(text, 1).unwrap_or_else(|e| panic!("{text}: {e:?}")).inst;
            assert_eq!(inst.to_string(), *text);
        }
    }

    /// A reproducible stream of test values: edge cases, then xorshift.
    fn test_values() -> Vec<u64> {
        let mut values = vec![0, 1, 2, 0xff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x0123_4567_89ab_cdef];
        values.extend([0x1_0000_0000, 0x8000_0000_0000_0000, 0x7fff_ffff_ffff_ffff, u64::MAX, 0x00fe_dcba_8765_4321]);
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        values.extend((0..80).map(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        }));
        values
    }

    /// `REV16`/`REV32`/`REV`, `RBIT`, `CLZ`, `CLS`, `ABS`, `ROR` and `EXTR` against the Arm
    /// ARM's definitions written out byte by byte and bit by bit, at both widths; and the text
    /// of each form read and printed back.
    #[test]
    fn reversals_rotations_and_counts_follow_the_arm_pseudocode() {
        let values = test_values();
        for (width, bits) in [(Width::W, 32u32), (Width::X, 64)] {
            for (k, &v) in values.iter().enumerate() {
                let v = width.mask(v);
                let bit = |x: u64, i: u32| (x >> i) & 1;
                let from_bits = |f: &dyn Fn(u32) -> u64| (0..bits).fold(0, |acc, i| acc | f(i) << i);
                // Byte i of a container of c bytes comes from byte c - 1 - i of it.
                for c in [2, 4, 8].into_iter().filter(|&c| c * 8 <= bits) {
                    let want = (0..bits / 8).fold(0, |acc, i| {
                        let from = i / c * c + (c - 1 - i % c);
                        acc | ((v >> (8 * from)) & 0xff) << (8 * i)
                    });
                    assert_eq!(AluOp::Rev(c as u8).apply(width, v, 0), want, "REV in {c} bytes of {v:#x}");
                }
                assert_eq!(AluOp::Rbit.apply(width, v, 0), from_bits(&|i| bit(v, bits - 1 - i)), "RBIT {v:#x}");
                let clz = (0..bits).rev().take_while(|&i| bit(v, i) == 0).count() as u64;
                assert_eq!(AluOp::Clz.apply(width, v, 0), clz, "CLZ {v:#x}");
                let cls = (0..bits - 1).rev().take_while(|&i| bit(v, i) == bit(v, bits - 1)).count() as u64;
                assert_eq!(AluOp::Cls.apply(width, v, 0), cls, "CLS {v:#x}");
                let negative = bit(v, bits - 1) == 1;
                let abs = if negative { width.mask((!v).wrapping_add(1)) } else { v };
                assert_eq!(width.mask(AluOp::Abs.apply(width, v, 0)), abs, "ABS {v:#x}");
                for n in [0, 1, 7, bits - 1, bits, bits + 3] {
                    let want = from_bits(&|i| bit(v, (i + n) % bits));
                    assert_eq!(AluOp::Ror.apply(width, v, u64::from(n)), want, "ROR {v:#x} by {n}");
                }
                // EXTR: bit i of the result is bit lsb + i of the pair Rn:Rm.
                let m = width.mask(values[(k + 1) % values.len()]);
                for lsb in [0, 1, 13, bits - 1] {
                    let want = from_bits(&|i| if i + lsb < bits { bit(m, i + lsb) } else { bit(v, i + lsb - bits) });
                    assert_eq!(AluOp::Extr(lsb as u8).apply(width, v, m), want, "EXTR {v:#x}:{m:#x} from {lsb}");
                }
            }
        }
        prints_back(&[
            "REV W0,W1",
            "REV X0,X1",
            "REV16 W2,W3",
            "REV16 X2,X3",
            "REV32 X4,X5",
            "RBIT W0,W1",
            "ABS X0,X1",
            "CLZ W0,W1",
            "CLS X0,X1",
            "ROR X0,X1,#3",
            "ROR W0,W1,W2",
            "EXTR W0,W1,W2,#31",
            "ORR X8,XZR,X0,ROR #8",
            "EOR W1,W2,W3,ROR #31",
        ]);
        for (alias, canonical) in
            [("REV64 X0,X1", "REV X0,X1"), ("RORV X0,X1,X2", "ROR X0,X1,X2"), ("ASRV W0,W1,W2", "ASR W0,W1,W2")]
        {
            assert_eq!(parse_inst(alias, 1).unwrap().inst.to_string(), canonical, "{alias}");
        }
    }

    /// An extended register operand keeps its low bytes, extends them as a signed or unsigned
    /// integer, and shifts the result left: checked in 128-bit arithmetic for every extension
    /// and shift; and the text of each form read and printed back.
    #[test]
    fn extended_register_operands_extend_their_low_bytes_then_shift() {
        for &v in &test_values() {
            for signed in [false, true] {
                for bytes in [1u8, 2, 4, 8] {
                    for amount in 0..=4u8 {
                        let ext = Narrow { bytes, signed };
                        let bits = 8 * u32::from(bytes);
                        let low = i128::from(v) & ((1i128 << bits) - 1);
                        let value = if signed && low >> (bits - 1) == 1 { low - (1i128 << bits) } else { low };
                        let want = (value * (1i128 << amount)) as u64;
                        let x2 = Operand { reg: Reg(2), width: Width::X };
                        assert_eq!(Src2::Extended(x2, ext, amount).value(v), want, "{v:#x},{ext:?} #{amount}");
                    }
                }
            }
        }
        prints_back(&[
            "ADD X0,X1,W2,SXTB #2",
            "SUB W0,W1,W2,UXTH",
            "ADDS X0,X1,X2,UXTX #4",
            "CMP X0,W1,SXTW",
            "CMN W0,W1,UXTB #1",
        ]);
        assert_eq!(parse_inst("ADD X0,X1,W2,SXTB 2", 1).unwrap().inst.to_string(), "ADD X0,X1,W2,SXTB #2");
    }

    /// `MADD`, `MSUB` and the long forms against arithmetic in 128 bits; `UMULH` against
    /// schoolbook multiplication in 32-bit limbs and `SMULH` derived from it (the high half of
    /// a signed product is the unsigned one less each negative operand's partner).
    #[test]
    fn multiply_adds_and_high_products_follow_the_arm_pseudocode() {
        let values = test_values();
        let umulh = |a: u64, b: u64| {
            let (a0, a1, b0, b1) = (a & 0xffff_ffff, a >> 32, b & 0xffff_ffff, b >> 32);
            let mid = ((a0 * b0) >> 32) + ((a1 * b0) & 0xffff_ffff) + ((a0 * b1) & 0xffff_ffff);
            a1 * b1 + ((a1 * b0) >> 32) + ((a0 * b1) >> 32) + (mid >> 32)
        };
        let inst = |text: &str| parse_inst(text, 1).unwrap_or_else(|e| panic!("{text}: {e:?}")).inst;
        for (i, &a) in values.iter().enumerate() {
            let (b, c) = (values[(i + 7) % values.len()], values[(i + 31) % values.len()]);
            assert_eq!(AluOp::MulHigh { signed: false }.apply(Width::X, a, b), umulh(a, b), "UMULH {a:#x},{b:#x}");
            let smulh = umulh(a, b).wrapping_sub(if (a as i64) < 0 { b } else { 0 }).wrapping_sub(if (b as i64) < 0 {
                a
            } else {
                0
            });
            assert_eq!(AluOp::MulHigh { signed: true }.apply(Width::X, a, b), smulh, "SMULH {a:#x},{b:#x}");
            let wide = |v: u64, signed: bool, bits: u32| -> i128 {
                let v = if bits == 32 { v & 0xffff_ffff } else { v };
                match (signed, bits) {
                    (true, 32) => i128::from(v as u32 as i32),
                    (true, _) => i128::from(v as i64),
                    _ => i128::from(v),
                }
            };
            let low = |x: i128, bits: u32| (x as u64) & if bits == 32 { 0xffff_ffff } else { u64::MAX };
            for (text, signed, factor_bits, bits, sub) in [
                ("MADD W0,W1,W2,W3", false, 32, 32, false),
                ("MSUB X0,X1,X2,X3", false, 64, 64, true),
                ("SMADDL X0,W1,W2,X3", true, 32, 64, false),
                ("SMSUBL X0,W1,W2,X3", true, 32, 64, true),
                ("UMADDL X0,W1,W2,X3", false, 32, 64, false),
                ("UMSUBL X0,W1,W2,X3", false, 32, 64, true),
            ] {
                let product = wide(a, signed, factor_bits).wrapping_mul(wide(b, signed, factor_bits));
                let addend = i128::from(c & if bits == 32 { 0xffff_ffff } else { u64::MAX });
                let want = low(if sub { addend - product } else { addend + product }, bits);
                assert_eq!(inst(text).multiply_add([a, b, c]), want, "{text} of {a:#x},{b:#x},{c:#x}");
            }
        }
        prints_back(&[
            "MADD W0,W1,W2,W3",
            "MSUB X0,X1,X2,X3",
            "MNEG X0,X1,X2",
            "SMADDL X0,W1,W2,X3",
            "SMSUBL X0,W1,W2,X3",
            "UMADDL X0,W1,W2,X3",
            "UMSUBL X0,W1,W2,X3",
            "SMULL X0,W1,W2",
            "UMULL X0,W1,W2",
            "SMNEGL X0,W1,W2",
            "UMNEGL X0,W1,W2",
            "SMULH X0,X1,X2",
            "UMULH X0,X1,X2",
        ]);
        // The aliases are their forms with the zero register as the addend.
        assert_eq!(inst("SMULL X0,W1,W2"), inst("SMADDL X0,W1,W2,XZR"));
        assert_eq!(inst("MNEG W0,W1,W2"), inst("MSUB W0,W1,W2,WZR"));
        assert_eq!(inst("SMULL X0,W1,W2").sources(), inst("SMADDL X0,W1,W2,XZR").sources());
    }

    #[test]
    fn relative_targets_count_from_the_instruction() {
        let p = assemble("NOP\nB .+8\nCBZ X0,.-4\nADR X1,.+0\nTBNZ X3,#63,.-8\n", 0x1000).unwrap();
        let x3 = parse_reg("X3").unwrap();
        assert_eq!(p.insts[4], Inst::Cbz { rt: x3, nonzero: true, bit: Some(63), target: 0x1008 });
        assert_eq!(p.insts[4].to_string(), "TBNZ X3,#63,0x1008");
        assert_eq!(p.insts[1], Inst::B { target: 0x100c });
        assert_eq!(p.insts[2], Inst::Cbz { rt: parse_reg("X0").unwrap(), nonzero: false, bit: None, target: 0x1004 });
        assert_eq!(p.insts[3], Inst::Adr { rd: parse_reg("X1").unwrap(), target: 0x100c });
    }

    /// The program's instructions as text, and the text of `access` parsed alone.
    fn split_text(p: &Program) -> Vec<String> {
        p.insts.iter().map(|i| i.to_string()).collect()
    }
    fn access(s: &str) -> String {
        parse_inst(s, 1).unwrap().inst.to_string()
    }

    /// A pre- or post-indexed access is the access and the base's update, in the order the
    /// addressing mode says, both of its line; the code after it follows them.
    #[test]
    fn writeback_is_the_access_and_the_update_of_the_base() {
        let p = assemble("LDR W0,[X1],#4\nSTRB W2,[X3,#-1]!\nLDRSW X4,[X5,#8]!\nl: B l", 0x1000).unwrap();
        assert_eq!(
            split_text(&p),
            [
                access("LDR W0,[X1]"),
                "ADD X1,X1,#4".to_string(),
                "SUB X3,X3,#1".to_string(),
                access("STRB W2,[X3]"),
                "ADD X5,X5,#8".to_string(),
                access("LDRSW X4,[X5]"),
                "B 0x1018".to_string(),
            ]
        );
        assert_eq!(p.lines, [1, 1, 2, 2, 3, 3, 4]);
        assert_eq!(p.label("l"), Some(0x1018));
        let w = parse_inst("STR X0, [X1], #-16", 1).unwrap().writeback;
        assert_eq!(w, Some(Writeback { base: Reg::x(1), imm: -16, pre: false }));
        // Without writeback, the offset stays the access's own.
        let plain = parse_inst("LDR X0,[X1,#8]", 1).unwrap();
        assert_eq!((plain.writeback, plain.inst.to_string()), (None, access("LDR X0,[X1,#8]")));
    }

    /// A pair is its two accesses at consecutive addresses, the first register's first, with
    /// the base's update before or after them when it is pre- or post-indexed.
    #[test]
    fn a_pair_is_its_two_accesses() {
        let p = assemble("LDP X0,X1,[X2,#16]\nSTP W3,W4,[X5],#8\nLDPSW X6,X7,[X8,#-8]!\nSTP XZR,XZR,[X9]", 0).unwrap();
        assert_eq!(
            split_text(&p),
            [
                access("LDR X0,[X2,#16]"),
                access("LDR X1,[X2,#24]"),
                access("STR W3,[X5]"),
                access("STR W4,[X5,#4]"),
                "ADD X5,X5,#8".to_string(),
                "SUB X8,X8,#8".to_string(),
                access("LDRSW X6,[X8]"),
                access("LDRSW X7,[X8,#4]"),
                access("STR XZR,[X9]"),
                access("STR XZR,[X9,#8]"),
            ]
        );
        assert_eq!(p.lines, [1, 1, 2, 2, 2, 3, 3, 3, 4, 4]);
        let parsed = parse_inst("LDP W0,W1,[X2]", 1).unwrap();
        assert_eq!(parsed.insts().len(), 2);
        assert!(parsed.is_split() && !parse_inst("LDR W0,[X2]", 1).unwrap().is_split());
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = assemble("  NOP\n  STXP W0,X1,X2,[X3]\n", 0).unwrap_err();
        assert_eq!((e.line, e.col), (2, 3));
        assert!(e.msg.contains("unsupported instruction `STXP`"), "{e}");
        for (text, col, msg) in [
            ("CASP X0,X1,X2,X3,[X4]", 1, "unsupported instruction `CASP`"),
            ("LDSMAXP W0,W1,[X2]", 1, "unsupported instruction `LDSMAXP`"),
            ("REV32 W0,W1", 7, "REV32 takes X registers"),
            ("ABS W0,X1", 8, "ABS: both registers must be W or both X"),
            ("SMULL W0,W1,W2", 7, "SMULL writes an X register"),
            ("SMULL X0,X1,W2", 10, "SMULL takes a W register here"),
            ("MADD X0,X1,W2,X3", 12, "MADD takes an X register here"),
            ("SMULH W0,X1,X2", 7, "SMULH takes X registers"),
            ("LSLV X0,X1,#3", 12, "LSLV takes registers only"),
            ("EXTR X0,X1,X2,#64", 15, "EXTR's bit 64 is outside X0"),
            ("EXTR X0,X1,W2,#4", 12, "EXTR: the registers must be W or all X"),
            ("ADD X0,X1,W2,SXTB #5", 19, "an extended register is shifted by 0 to 4, not 5"),
            ("ORR X0,X1,W2,UXTW", 14, "only an arithmetic operation takes a UXTW operand"),
            ("ADD X0,X1,#2,UXTW", 14, "an immediate takes only LSL"),
            ("LDADDH X0,X1,[X2]", 8, "LDADDH takes W registers"),
            ("CASPAL W0,W1,W2,W3,[X4]", 1, "unsupported instruction `CASPAL`"),
            ("STADDA W0,[X1]", 1, "unsupported instruction `STADDA`"),
            ("STXR X0,X1,[X2]", 6, "STXR takes a W register for its status"),
            ("STXR W1,X1,[X2]", 9, "STXR's status register must differ from its other registers"),
            ("STLXR W2,X1,[X2]", 10, "STLXR's status register must differ from its other registers"),
            ("STXR W0,X1,[X2,#8]", 12, "STXR takes only [Xn]"),
            ("STXRB W0,X1,[X2]", 10, "STXRB takes a W register"),
            ("CAS W0, X1, [X2]", 9, "CAS: both registers must be W or both X"),
            ("SWP X0,X1,[X2,#8]", 11, "SWP takes only [Xn]"),
            ("LDXR X0,[X1,#8]", 9, "LDXR takes only [Xn]"),
            ("LDADD SP,X1,[X2]", 7, "SP is not allowed here"),
            ("STADD W0,[W1]", 11, "base register must be an X register"),
            ("B .+3", 3, "`.+3` is not instruction-aligned"),
            ("MOVZ X0,#0x10000", 9, "MOVZ takes a 16-bit immediate, not 0x10000"),
            ("MOVK W0,#1,LSL #32", 16, "MOVK shifts by 0, 16"),
            ("MOVZ X0,#1,LSL #8", 16, "MOVZ shifts by 0, 16, 32 or 48"),
            ("MOVK X0,#1,LSR #16", 12, "expected `LSL`, found `LSR`"),
            ("TBZ W0,#32,.+8", 8, "bit 32 is outside W0"),
            ("ADD X0,X1,X2,ROR #3", 14, "only a logical operation takes a ROR operand"),
            ("ORR X0,X1,X2,MSL #3", 14, "unsupported operand shift `MSL` (LSL, LSR, ASR or ROR)"),
            ("ADD W0,W1,W2,LSL #32", 18, "shift by 32 is outside W2"),
            ("AND X0,X1,#1,ASR #2", 14, "an immediate takes only LSL"),
            ("ADD X0,X1,#1,LSL #64", 18, "shift by 64 is outside the immediate"),
            ("NEG X0,#1", 8, "NEG takes a register"),
            ("LDRB X0,[X1]", 6, "LDRB takes a W register"),
            ("STRH X0,[X1]", 6, "STRH takes a W register"),
            ("LDRSW W0,[X1]", 7, "LDRSW takes an X register"),
            ("LDARB W0,[X1,#1]", 10, "LDARB takes only [Xn]"),
            ("LDUR X0,[X1,#256]", 9, "LDUR takes [Xn] or [Xn, #-256..255]"),
            ("STURB W0,[X1,X2]", 10, "STURB takes [Xn] or [Xn, #-256..255]"),
            ("UBFM W0,W1,#32,#0", 12, "UBFM rotates by 0 to 31, not 32"),
            ("SBFM X0,X1,#0,#64", 15, "SBFM's field ends at bit 0 to 63, not 64"),
            ("UBFX W0,W1,#30,#4", 16, "UBFX's field of 4 bits from bit 30 does not fit"),
            ("B .", 3, "expected `.+N` or `.-N` after `.`"),
            ("LDR X1,[X1],#8", 5, "LDR with writeback: the transfer register must differ from the base"),
            ("STRB W2,[X2,#1]!", 6, "STRB with writeback: the transfer register must differ from the base"),
            ("LDAR X0,[X1],#8", 9, "LDAR has no pre- or post-indexed form"),
            ("LDXR X0,[X1,#0]!", 9, "LDXR has no pre- or post-indexed form"),
            ("LDUR X0,[X1],#8", 9, "LDUR has no pre- or post-indexed form"),
            ("LDR X0,[X1,#256]!", 8, "a pre- or post-indexed offset is -256..255, not 256"),
            ("STR X0,[X1],#-257", 8, "a pre- or post-indexed offset is -256..255, not -257"),
            ("LDR X0,[SP],#16", 8, "unsupported: writeback to SP"),
            ("STP X0,X1,[SP,#-16]!", 11, "unsupported: writeback to SP"),
            ("LDR X0,[X1,X2]!", 16, "pre-indexed addressing takes an immediate offset"),
            ("LDR X0,[X1,#8],#8", 16, "post-indexed addressing takes [Xn] before its offset"),
            ("LDR X0,[X1],X2", 13, "expected an immediate offset after `[Xn],`"),
            ("CAS X0,X1,[X2]!", 15, "unexpected `!`"),
            ("LDP X0,X0,[X1]", 8, "LDP's two registers must differ"),
            ("LDP X0,W1,[X2]", 8, "LDP: both registers must be W or both X"),
            ("LDPSW W0,W1,[X2]", 7, "LDPSW takes X registers"),
            ("LDP X0,X1,[X2,#4]", 11, "LDP's offset is a multiple of 8 from -512 to 504, not 4"),
            ("STP W0,W1,[X2,#256]", 11, "STP's offset is a multiple of 4 from -256 to 252, not 256"),
            ("LDP X0,X1,[X2,X3]", 11, "LDP takes an immediate offset"),
            ("LDP X2,X1,[X2],#16", 5, "LDP with writeback: the registers must differ from the base"),
            ("STP X0,X2,[X2,#16]!", 5, "STP with writeback: the registers must differ from the base"),
            ("LDP X2,X1,[X2]", 5, "unsupported: LDP whose first register is its base"),
            ("LDP X0,SP,[X2]", 8, "SP is not allowed here"),
        ] {
            let e = assemble(text, 0).unwrap_err();
            assert_eq!((e.line, e.col, e.msg.as_str()), (1, col, msg), "{text}");
        }
        let e = assemble("B nowhere", 0).unwrap_err();
        assert_eq!((e.line, e.col, e.msg.as_str()), (1, 3, "undefined label `nowhere`"));
        assert_eq!(e.undefined_label(), Some("nowhere"));
        let e = assemble("LDR W0,[W1]", 0).unwrap_err();
        assert_eq!(e.col, 9);
        let e = assemble("MOV X0,#1 junk", 0).unwrap_err();
        assert_eq!(e.col, 11);
        let e = assemble("a:\na: NOP", 0).unwrap_err();
        assert_eq!((e.line, e.msg.as_str()), (2, "label `a` defined twice"));
        assert!(parse_reg("X31").is_none() && parse_reg("X07").is_none() && parse_reg("wzr").is_some());
    }

    #[test]
    fn symbols_come_from_equ_and_from_the_caller() {
        let mut syms = Symbols::new();
        syms.insert("PERCPU".into(), 0x8000);
        let p = assemble_with(
            ".equ STRIDE, 0x40\n.set FLAGS, STRIDE - 8\n MOV X0,#PERCPU + 2*STRIDE\n LDR W1,[X0,#FLAGS]",
            0,
            &syms,
        )
        .unwrap();
        assert_eq!(p.insts[0].to_string(), "MOV X0,#32896");
        assert_eq!(p.insts[1].to_string(), "LDR W1,[X0,#56]");
        for (text, line, col, msg) in [
            ("MOV X0,#NOPE", 1, 9, "undefined symbol `NOPE`"),
            (".equ A, 1\n.equ A, 2", 2, 6, "symbol `A` defined twice"),
            (".equ PERCPU, 1", 1, 6, "symbol `PERCPU` defined twice"),
            (".equ X1, 1", 1, 6, "`X1` is a register name and cannot be a symbol"),
            ("MOV X0,#(1", 1, 11, "expected `)`"),
            ("MOV X0,#4/0", 1, 10, "division by zero"),
            ("MUL X0,X1,#2", 1, 11, "MUL takes registers only"),
            (".fill 4", 1, 1, "unsupported directive `.fill`"),
            ("NOP\n  .if 1\nNOP", 2, 3, "`.if` without `.endif`"),
            (".else", 1, 1, "`.else` without `.if`"),
            ("NOP\n.endif", 2, 1, "`.endif` without `.if`"),
            (".if 1\n.else\n.else\n.endif", 3, 1, "second `.else` for the `.if` on line 1"),
            (".if UNDEFINED\n.endif", 1, 5, "undefined symbol `UNDEFINED`"),
            (".endif 3", 1, 8, "unexpected `3`"),
        ] {
            let e = assemble_with(text, 0, &syms).unwrap_err();
            assert_eq!((e.line, e.col, e.msg.as_str()), (line, col, msg), "{text}");
        }
    }

    #[test]
    fn hostile_expressions_are_a_positioned_error_or_a_value_not_a_stack_overflow() {
        let syms = Symbols::new();
        // 10,000 nested parentheses: refused at the first one past the limit, in .equ and immediates.
        let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        let e = assemble(&format!(".equ D, {deep}"), 0).unwrap_err();
        let msg = format!("parentheses nested deeper than {MAX_EXPR_DEPTH} levels");
        assert_eq!((e.line, e.col, e.msg.as_str()), (1, 9 + MAX_EXPR_DEPTH, msg.as_str()));
        let e = assemble(&format!("MOV X0,#{deep}"), 0).unwrap_err();
        assert_eq!((e.col, e.msg.as_str()), (9 + MAX_EXPR_DEPTH, msg.as_str()));
        assert_eq!(eval(&deep, &syms).unwrap_err(), (1 + MAX_EXPR_DEPTH, msg));
        // At the limit it still evaluates.
        let ok = format!("{}7{}", "(".repeat(MAX_EXPR_DEPTH), ")".repeat(MAX_EXPR_DEPTH));
        assert_eq!(eval(&ok, &syms), Ok(7));
        // 100,000 unary minuses (an even number) and pluses cost no stack at all.
        assert_eq!(eval(&format!("{}5", "-".repeat(100_000)), &syms), Ok(5));
        assert_eq!(eval(&format!("{}5", "-".repeat(99_999)), &syms), Ok(5u64.wrapping_neg()));
        assert_eq!(eval(&format!("{}(-5)", "+-".repeat(50_000)), &syms), Ok(5u64.wrapping_neg()));
        let p = assemble(&format!(".equ M, {}3\nMOV X0,#{}M", "-".repeat(100_000), "-".repeat(100_000)), 0).unwrap();
        assert_eq!(p.insts[0].to_string(), "MOV X0,#3");
    }

    #[test]
    fn layout_directives_pad_with_undefined_instructions() {
        let p = assemble("NOP\nvectors: .align 7\n B irq\n .org 0x280\nirq: ERET\n.balign 16\nend:", 0x1000).unwrap();
        assert_eq!(p.label("vectors"), Some(0x1004), "a label names the address before its line's directive");
        assert_eq!(p.at(0x1004), Some(&Inst::Udf(0)));
        assert_eq!(p.at(0x1080), Some(&Inst::B { target: 0x1280 }));
        assert_eq!(p.label("irq"), Some(0x1280));
        assert_eq!(p.label("end"), Some(0x1290));
        let e = assemble("NOP\nNOP\n.org 4", 0).unwrap_err();
        assert_eq!((e.line, e.col), (3, 6));
        assert!(e.msg.contains("moves backwards"), "{e}");
        let e = assemble(".balign 12", 0).unwrap_err();
        assert_eq!(e.msg, "alignment 12 is not a power of two");
    }
}
