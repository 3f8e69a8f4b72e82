//! herd7's x86 dialects read as programs for the simulated cores: `X86` (Intel syntax, 32-bit
//! registers: `MOV [x],$1`, `MOV EAX,[y]`) and `X86_64` (AT&T syntax: `movl $1,(x)`,
//! `movl (y),%eax`). They run under the `tso` and `sc` models, whose cores give the AArch64
//! instructions each x86 one becomes the x86 meaning (`memory_model::lsq`: under TSO a load
//! or store is a plain x86 access, `DMB ISH` is `MFENCE`, an RMW is a locked instruction); the
//! reverse of [`super::x86`], which writes an AArch64 test in `X86_64` for herd7.
//!
//! | x86 (Intel order: destination first) | AArch64 |
//! |---|---|
//! | `MOV r,r'` / `MOV r,$n` / `MOV r,[a]` / `MOV [a],r` / `MOV [a],$n` | `MOV`, `LDR`, `STR` (an immediate stored through a scratch register) |
//! | `MFENCE` | `DMB ISH` |
//! | `LFENCE`, `SFENCE` | nothing (TSO already orders what they order) |
//! | `XCHG [a],r` (locked whether written or not) | `SWPAL` |
//! | `LOCK XADD [a],r` | `LDADDAL` |
//! | `CMPXCHG [a],r`, with `LOCK` or not as herd7 reads it (compares with `EAX`/`rax`, which gets the old value) | `CASAL` |
//! | `LOCK ADD`/`SUB`/`INC`/`DEC`/`XOR`/`OR` `[a],…` | `LDADDAL`/`LDEORAL`/`LDSETAL` into the zero register |
//! | `ADD`, `SUB`, `INC`, `DEC`, `AND`, `XOR`, `OR` on registers (a memory operand: a load, the operation, a store) | `ADDS`, `SUBS`, `ANDS`; `EOR`/`ORR` then `CMP r,#0` (the flags a `Jcc` may read) |
//! | `SHL`, `SAL`, `SHR`, `SAR` of a register by an immediate | `LSL`, `LSL`, `LSR`, `ASR`, then `CMP r,#0` |
//! | `CMP a,b`, `Jcc`, `JMP`, `NOP` (and `NOPL`/`NOPW` with their operands, `ENDBR64`) | `CMP`, `B.cond` (`JB` is `B.LO`, `JA` `B.HI`, `JL` `B.LT`, ...), `B`, `NOP` |
//! | `RET` | a jump to the thread's end (herd7's threads may end with one) |
//!
//! Registers: `EAX`/`rax`, `EBX`, `ECX`, `EDX`, `ESI`, `EDI`, `EBP`, `ESP` are `X0`–`X7`, and
//! `r8`–`r15` `X8`–`X15`, at 64 bits (the tests' small non-negative values mean the same at
//! either width); the init block and the condition name them as the file does. `X16`, `X17` are
//! scratch, and each location a thread names in a memory operand has its address in one of
//! `X19`–`X28`. Anything else (8- and 16-bit registers, scaled or offset addresses, `LOCK AND`,
//! a `XADD` without `LOCK`) is refused at its position.

use std::collections::BTreeMap;

use super::asmparse::parse_table;
use super::ast::{Arch, AsmLine, AsmThread, InitItem, LitmusTest, Loc, Pos, Threads, Value};
use super::cond::{parse_constraints, parse_init_block};
use super::lex::{Lexer, Mode, TokenStream, error};
use super::parse::ParseError;

type Result<T> = std::result::Result<T, ParseError>;

/// The label at the end of a thread, where `RET` goes (herd7's threads end with it).
const END_LABEL: &str = "isolsim_x86_end";
/// Scratch registers of the translation.
const SCRATCH: u8 = 16;
const SCRATCH2: u8 = 17;
/// The first register holding a location's address, and how many there are.
const FIRST_ADDR: u8 = 19;
const ADDR_REGS: u8 = 10;

/// The AArch64 register an x86 register name stands for (`EAX`, `eax`, `rax`, `%rax`, `r9d`).
pub(crate) fn x86_reg(arch: Arch, name: &str) -> Option<u8> {
    let n = name.strip_prefix('%').unwrap_or(name).to_ascii_lowercase();
    const LEGACY: [&str; 8] = ["ax", "bx", "cx", "dx", "si", "di", "bp", "sp"];
    if let Some(i) = n.strip_prefix('e').and_then(|r| LEGACY.iter().position(|l| *l == r)) {
        return Some(i as u8);
    }
    if arch != Arch::X86_64 {
        return None;
    }
    if let Some(i) = n.strip_prefix('r').and_then(|r| LEGACY.iter().position(|l| *l == r)) {
        return Some(i as u8);
    }
    let num = n.strip_prefix('r')?;
    let num = num.strip_suffix('d').unwrap_or(num);
    let k: u8 = num.parse().ok()?;
    (8..=15).contains(&k).then_some(k)
}

/// A register's name as herd7 prints it: `X86`'s in capitals (`EAX`), `X86_64`'s as its 64-bit
/// register in small letters (`eax`, `%RAX` -> `rax`; `r9d` -> `r9`). Other names as written.
pub(crate) fn herd_reg_name(arch: Arch, name: &str) -> String {
    match x86_reg(arch, name) {
        Some(r) if arch == Arch::X86 => {
            ["EAX", "EBX", "ECX", "EDX", "ESI", "EDI", "EBP", "ESP"][usize::from(r)].to_string()
        }
        Some(r) if r < 8 => ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp"][usize::from(r)].to_string(),
        Some(r) => format!("r{r}"),
        None => name.to_string(),
    }
}

/// Parses an `X86` or `X86_64` test whose init block starts at `lex` (the header is done).
pub(crate) fn parse_x86(lex: Lexer, name: String, arch: Arch) -> Result<LitmusTest> {
    let path = lex.path;
    let mut ts = TokenStream::new(lex);
    let mut init = parse_init_block(&mut ts, arch)?;
    let (threads, rest) = parse_table(path, ts.lex.cur)?;
    let mut ts = TokenStream::new(Lexer::new(rest, Mode::Ocaml, path));
    let c = parse_constraints(&mut ts, arch)?;
    let mut out = vec![];
    for t in &threads {
        let mut tr = Translator { path, arch, tid: t.tid, locs: BTreeMap::new(), lines: vec![], returns: false };
        for line in &t.lines {
            tr.line(line)?;
        }
        if tr.returns {
            tr.lines.push(AsmLine { labels: vec![(END_LABEL.to_string(), Pos::default())], inst: None });
        }
        for (loc, r) in &tr.locs {
            init.push(InitItem {
                loc: Loc::Reg { tid: t.tid, name: format!("X{r}") },
                ty: None,
                value: Some(Value::Loc(loc.clone())),
                pos: Pos::default(),
                array: None,
            });
        }
        out.push(AsmThread { tid: t.tid, lines: tr.lines });
    }
    Ok(LitmusTest {
        arch,
        name,
        init,
        threads: Threads::Asm(out),
        locations: c.locations,
        filter: c.filter,
        condition: c.condition,
    })
}

/// An operand, as the instruction names it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Operand {
    Reg(u8),
    Imm(u64),
    /// The location named, or the register holding the address.
    Mem(Address),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Address {
    Loc(String),
    Reg(u8),
}

/// One thread's translation.
struct Translator<'a> {
    path: &'a str,
    arch: Arch,
    tid: usize,
    /// Each location named in a memory operand, and the register holding its address.
    locs: BTreeMap<String, u8>,
    lines: Vec<AsmLine>,
    /// A `RET` jumps to [`END_LABEL`].
    returns: bool,
}

impl Translator<'_> {
    fn fail<T>(&self, pos: Pos, msg: impl Into<String>) -> Result<T> {
        Err(error(self.path, pos, msg))
    }

    /// Translates one line (its labels go to the first instruction it becomes).
    fn line(&mut self, line: &AsmLine) -> Result<()> {
        let mut labels = line.labels.clone();
        let Some((text, pos)) = &line.inst else {
            self.lines.push(AsmLine { labels, inst: None });
            return Ok(());
        };
        let insts = self.inst(text, *pos)?;
        if insts.is_empty() {
            // (`LFENCE`, `SFENCE`: nothing, but their labels stay.)
            self.lines.push(AsmLine { labels, inst: None });
            return Ok(());
        }
        for i in insts {
            self.lines.push(AsmLine { labels: std::mem::take(&mut labels), inst: Some((i, *pos)) });
        }
        Ok(())
    }

    /// The AArch64 instructions x86 instruction `text` (at `pos`) becomes.
    fn inst(&mut self, text: &str, pos: Pos) -> Result<Vec<String>> {
        let text = text.trim();
        let (first, rest) = split_word(text);
        let (lock, mnemonic, rest) = if first.eq_ignore_ascii_case("lock") {
            let (m, r) = split_word(rest);
            (true, m, r)
        } else {
            (false, first, rest)
        };
        let at_t = self.arch == Arch::X86_64;
        let m = mnemonic.to_ascii_lowercase();
        let m = if at_t { strip_size_suffix(&m) } else { m };
        // Each operand's text and position (`rest` is the tail of `text`).
        let mut ops = vec![];
        let rest_at = text.len() - rest.len();
        if !rest.trim().is_empty() {
            for (offset, part) in split_operands(rest) {
                let lead = part.len() - part.trim_start().len();
                let col = pos.col + text[..rest_at + offset + lead].chars().count();
                ops.push((part.trim().to_string(), Pos { line: pos.line, col }));
            }
        }
        if m.starts_with('j') {
            return self.jump(&m, mnemonic, &ops, pos);
        }
        // The multi-byte no-operations name an address they never access (`nopl 0(%rax)`), and
        // `ENDBR64` marks a branch target.
        if matches!(m.as_str(), "nopw" | "nopl" | "nopq" | "endbr64" | "endbr32") || (m == "nop" && !ops.is_empty()) {
            return Ok(vec!["NOP".into()]);
        }
        // AT&T writes the source first.
        if at_t {
            ops.reverse();
        }
        let mut parsed = vec![];
        for (o, p) in &ops {
            parsed.push(self.operand(o, *p)?);
        }
        let arity = |n: usize| -> Result<()> {
            if parsed.len() == n {
                Ok(())
            } else {
                self.fail(pos, format!("`{mnemonic}` takes {n} operand{}", if n == 1 { "" } else { "s" }))
            }
        };
        if lock && !matches!(m.as_str(), "add" | "sub" | "inc" | "dec" | "xor" | "or" | "xadd" | "cmpxchg" | "xchg") {
            return self.fail(pos, format!("`lock` before `{mnemonic}`: isolsim reads it on ADD, SUB, INC, DEC, XOR, OR, XADD, CMPXCHG and XCHG"));
        }
        if lock && !matches!(parsed.first(), Some(Operand::Mem(_))) {
            return self.fail(pos, "a locked instruction writes memory: its destination must be a memory operand");
        }
        let mut out = vec![];
        match m.as_str() {
            "nop" => {
                arity(0)?;
                out.push("NOP".into());
            }
            "mfence" => {
                arity(0)?;
                out.push("DMB ISH".into());
            }
            "lfence" | "sfence" => arity(0)?,
            "mov" => {
                arity(2)?;
                match (&parsed[0], &parsed[1]) {
                    (Operand::Reg(d), Operand::Reg(s)) => out.push(format!("MOV X{d},X{s}")),
                    (Operand::Reg(d), Operand::Imm(v)) => out.push(format!("MOV X{d},#{v}")),
                    (Operand::Reg(d), Operand::Mem(a)) => {
                        let a = self.address(a, ops[1].1)?;
                        out.push(format!("LDR X{d},[X{a}]"));
                    }
                    (Operand::Mem(a), src) => {
                        let a = self.address(a, ops[0].1)?;
                        let s = self.value(src, SCRATCH, &mut out, ops[1].1)?;
                        out.push(format!("STR X{s},[X{a}]"));
                    }
                    (Operand::Imm(_), _) => return self.fail(ops[0].1, "an immediate cannot be a destination"),
                }
            }
            "xchg" => {
                arity(2)?;
                match (&parsed[0], &parsed[1]) {
                    (Operand::Mem(a), Operand::Reg(r)) | (Operand::Reg(r), Operand::Mem(a)) => {
                        let p = if matches!(parsed[0], Operand::Mem(_)) { ops[0].1 } else { ops[1].1 };
                        let a = self.address(a, p)?;
                        out.push(format!("SWPAL X{r},X{r},[X{a}]"));
                    }
                    (Operand::Reg(a), Operand::Reg(b)) => {
                        out.push(format!("MOV X{SCRATCH},X{a}"));
                        out.push(format!("MOV X{a},X{b}"));
                        out.push(format!("MOV X{b},X{SCRATCH}"));
                    }
                    _ => return self.fail(pos, "`xchg` exchanges a register with a register or a memory operand"),
                }
            }
            "xadd" | "cmpxchg" => {
                arity(2)?;
                // (herd7's x86 reads a `CMPXCHG` as locked, and refuses the prefix on it in
                // `X86`; a `XADD` without it would not be atomic.)
                if !lock && m == "xadd" {
                    return self.fail(pos, "`xadd` without `lock` is not atomic; isolsim reads it locked only");
                }
                let (Operand::Mem(a), Operand::Reg(r)) = (&parsed[0], &parsed[1]) else {
                    return self.fail(pos, format!("`{mnemonic}` takes a memory destination and a register"));
                };
                let a = self.address(a, ops[0].1)?;
                out.push(if m == "xadd" {
                    format!("LDADDAL X{r},X{r},[X{a}]")
                } else {
                    format!("CASAL X0,X{r},[X{a}]")
                });
            }
            "add" | "sub" | "and" | "xor" | "or" | "inc" | "dec" => {
                let unary = matches!(m.as_str(), "inc" | "dec");
                arity(if unary { 1 } else { 2 })?;
                let (op, src) = match m.as_str() {
                    "inc" => ("add", Operand::Imm(1)),
                    "dec" => ("sub", Operand::Imm(1)),
                    o => (o, parsed[1].clone()),
                };
                let src_pos = ops.get(1).map_or(pos, |o| o.1);
                if lock {
                    let Operand::Mem(a) = &parsed[0] else { unreachable!("checked above") };
                    let a = self.address(a, ops[0].1)?;
                    let rmw = match op {
                        "add" | "sub" => "LDADDAL",
                        "xor" => "LDEORAL",
                        "or" => "LDSETAL",
                        _ => return self.fail(pos, "`lock and` has no counterpart (LDCLR clears the bits set)"),
                    };
                    let s = match (op, &src) {
                        ("sub", Operand::Imm(v)) => {
                            out.push(format!("MOV X{SCRATCH},#{}", v.wrapping_neg()));
                            SCRATCH
                        }
                        ("sub", _) => {
                            let s = self.value(&src, SCRATCH, &mut out, src_pos)?;
                            out.push(format!("NEG X{SCRATCH},X{s}"));
                            SCRATCH
                        }
                        _ => self.value(&src, SCRATCH, &mut out, src_pos)?,
                    };
                    out.push(format!("{rmw} X{s},XZR,[X{a}]"));
                } else {
                    // The destination in a register: its own, or a scratch one loaded and stored.
                    let (d, mem) = match &parsed[0] {
                        Operand::Reg(d) => (*d, None),
                        Operand::Mem(a) => {
                            let a = self.address(a, ops[0].1)?;
                            out.push(format!("LDR X{SCRATCH},[X{a}]"));
                            (SCRATCH, Some(a))
                        }
                        Operand::Imm(_) => return self.fail(ops[0].1, "an immediate cannot be a destination"),
                    };
                    let s = self.value(&src, SCRATCH2, &mut out, src_pos)?;
                    match op {
                        "add" => out.push(format!("ADDS X{d},X{d},X{s}")),
                        "sub" => out.push(format!("SUBS X{d},X{d},X{s}")),
                        "and" => out.push(format!("ANDS X{d},X{d},X{s}")),
                        o => {
                            out.push(format!("{} X{d},X{d},X{s}", if o == "xor" { "EOR" } else { "ORR" }));
                            out.push(format!("CMP X{d},#0"));
                        }
                    }
                    if let Some(a) = mem {
                        out.push(format!("STR X{d},[X{a}]"));
                    }
                }
            }
            "shl" | "sal" | "shr" | "sar" => {
                arity(2)?;
                let (Operand::Reg(d), Operand::Imm(n)) = (&parsed[0], &parsed[1]) else {
                    return self.fail(pos, format!("`{mnemonic}` shifts a register by an immediate"));
                };
                if *n > 63 {
                    return self.fail(ops[1].1, format!("shift by {n}: at most 63"));
                }
                let op = match m.as_str() {
                    "shl" | "sal" => "LSL",
                    "shr" => "LSR",
                    _ => "ASR",
                };
                out.push(format!("{op} X{d},X{d},#{n}"));
                out.push(format!("CMP X{d},#0"));
            }
            "ret" => {
                arity(0)?;
                self.returns = true;
                out.push(format!("B {END_LABEL}"));
            }
            "cmp" => {
                arity(2)?;
                let a = self.value(&parsed[0], SCRATCH, &mut out, ops[0].1)?;
                match &parsed[1] {
                    Operand::Imm(v) => out.push(format!("CMP X{a},#{v}")),
                    b => {
                        let b = self.value(b, SCRATCH2, &mut out, ops[1].1)?;
                        out.push(format!("CMP X{a},X{b}"));
                    }
                }
            }
            _ => return self.fail(pos, format!("unsupported x86 instruction `{mnemonic}`")),
        }
        Ok(out)
    }

    /// A jump: `JMP`, or a conditional one on the flags of the last `CMP` or arithmetic.
    fn jump(&self, m: &str, mnemonic: &str, ops: &[(String, Pos)], pos: Pos) -> Result<Vec<String>> {
        let [(label, label_pos)] = ops else { return self.fail(pos, format!("`{mnemonic}` takes a label")) };
        if !label.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '.')
            || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return self.fail(*label_pos, format!("expected a label, found `{label}`"));
        }
        let cond = match m {
            "jmp" => return Ok(vec![format!("B {label}")]),
            "je" | "jz" => "EQ",
            "jne" | "jnz" => "NE",
            "jl" | "jnge" => "LT",
            "jle" | "jng" => "LE",
            "jg" | "jnle" => "GT",
            "jge" | "jnl" => "GE",
            "jb" | "jc" | "jnae" => "LO",
            "jae" | "jnb" | "jnc" => "HS",
            "ja" | "jnbe" => "HI",
            "jbe" | "jna" => "LS",
            "js" => "MI",
            "jns" => "PL",
            _ => return self.fail(pos, format!("unsupported x86 instruction `{mnemonic}`")),
        };
        Ok(vec![format!("B.{cond} {label}")])
    }

    /// Reads one operand.
    fn operand(&self, text: &str, pos: Pos) -> Result<Operand> {
        let at_t = self.arch == Arch::X86_64;
        if let Some(v) = text.strip_prefix('$') {
            return parse_imm(v)
                .map(Operand::Imm)
                .ok_or_else(|| error(self.path, pos, format!("bad immediate `{text}`")));
        }
        let inner = if at_t {
            text.strip_prefix('(').and_then(|t| t.strip_suffix(')'))
        } else {
            text.strip_prefix('[').and_then(|t| t.strip_suffix(']'))
        };
        if let Some(inner) = inner {
            let inner = inner.trim();
            if let Some(r) = x86_reg(self.arch, inner).filter(|_| !at_t || inner.starts_with('%')) {
                return Ok(Operand::Mem(Address::Reg(r)));
            }
            if !inner.is_empty()
                && inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !inner.starts_with(|c: char| c.is_ascii_digit())
            {
                return Ok(Operand::Mem(Address::Loc(inner.to_string())));
            }
            return self.fail(pos, format!("unsupported address `{text}`: a location or a register"));
        }
        if let Some(r) = x86_reg(self.arch, text).filter(|_| !at_t || text.starts_with('%')) {
            return Ok(Operand::Reg(r));
        }
        // (herd7 reads a bare number as an immediate in AT&T syntax too: `shl 2,%eax`.)
        if let Some(v) = parse_imm(text) {
            return Ok(Operand::Imm(v));
        }
        self.fail(pos, format!("unknown register or operand `{text}`"))
    }

    /// The register holding address `a`.
    fn address(&mut self, a: &Address, pos: Pos) -> Result<u8> {
        match a {
            Address::Reg(r) => Ok(*r),
            Address::Loc(l) => {
                if let Some(&r) = self.locs.get(l) {
                    return Ok(r);
                }
                let n = self.locs.len() as u8;
                if n == ADDR_REGS {
                    return self.fail(pos, format!("thread {} names more than {ADDR_REGS} locations", self.tid));
                }
                self.locs.insert(l.clone(), FIRST_ADDR + n);
                Ok(FIRST_ADDR + n)
            }
        }
    }

    /// A register holding the operand's value: its own, or `scratch` loaded with it.
    fn value(&mut self, o: &Operand, scratch: u8, out: &mut Vec<String>, pos: Pos) -> Result<u8> {
        match o {
            Operand::Reg(r) => Ok(*r),
            Operand::Imm(v) => {
                out.push(format!("MOV X{scratch},#{v}"));
                Ok(scratch)
            }
            Operand::Mem(a) => {
                let a = self.address(a, pos)?;
                out.push(format!("LDR X{scratch},[X{a}]"));
                Ok(scratch)
            }
        }
    }
}

/// The first word of `s` and the rest.
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

/// Operands separated by commas outside brackets, each with its byte offset in `s`.
fn split_operands(s: &str) -> Vec<(usize, &str)> {
    let mut parts = vec![];
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push((start, &s[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push((start, &s[start..]));
    parts
}

/// An AT&T mnemonic without its size suffix (`movl` -> `mov`); others as they are.
fn strip_size_suffix(m: &str) -> String {
    const BASE: [&str; 16] = [
        "mov", "add", "sub", "and", "xor", "or", "inc", "dec", "cmp", "xchg", "xadd", "cmpxchg", "shl", "sal", "shr",
        "sar",
    ];
    if BASE.contains(&m) {
        return m.to_string();
    }
    match m.strip_suffix(['b', 'w', 'l', 'q']) {
        Some(b) if BASE.contains(&b) => b.to_string(),
        _ => m.to_string(),
    }
}

/// An integer, decimal or `0x` hexadecimal, maybe negative (two's complement at 64 bits).
fn parse_imm(s: &str) -> Option<u64> {
    let s = s.trim();
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let v: u64 = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok()?,
        None => s.parse().ok()?,
    };
    Some(if negative { v.wrapping_neg() } else { v })
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse;
    use super::*;

    /// The AArch64 text thread 0 of a one-thread test becomes.
    fn translated(arch: &str, code: &str) -> Vec<String> {
        let rows: String = code.lines().map(|l| format!(" {l} ;\n")).collect();
        let text = format!("{arch} t\n{{}}\n P0 ;\n{rows}exists (x=0)\n");
        let test = parse("t.litmus", &text).unwrap_or_else(|e| panic!("{e}"));
        let Threads::Asm(threads) = test.threads else { panic!("asm threads") };
        threads[0].lines.iter().filter_map(|l| l.inst.as_ref().map(|(t, _)| t.clone())).collect()
    }

    #[test]
    fn each_x86_instruction_becomes_what_means_the_same_under_tso() {
        let cases: &[(&str, &[&str])] = &[
            ("MOV [x],$1", &["MOV X16,#1", "STR X16,[X19]"]),
            ("MOV EAX,[x]", &["LDR X0,[X19]"]),
            ("MOV EAX,$-1", &["MOV X0,#18446744073709551615"]),
            ("MOV [ECX],EBX", &["STR X1,[X2]"]),
            ("MFENCE", &["DMB ISH"]),
            ("XCHG [x],EAX", &["SWPAL X0,X0,[X19]"]),
            ("LOCK XADD [x],EDX", &["LDADDAL X3,X3,[X19]"]),
            ("CMPXCHG [x],EBX", &["CASAL X0,X1,[X19]"]),
            ("LOCK DEC [x]", &["MOV X16,#18446744073709551615", "LDADDAL X16,XZR,[X19]"]),
            ("LOCK SUB [x],EAX", &["NEG X16,X0", "LDADDAL X16,XZR,[X19]"]),
            ("INC [x]", &["LDR X16,[X19]", "MOV X17,#1", "ADDS X16,X16,X17", "STR X16,[X19]"]),
            ("XOR EAX,EBX", &["EOR X0,X0,X1", "CMP X0,#0"]),
            ("CMP EAX,$2", &["CMP X0,#2"]),
            ("JB L0", &["B.LO L0"]),
        ];
        for (x86, want) in cases {
            let text = format!("{x86}\nL0: NOP");
            let mut got = translated("X86", &text);
            assert_eq!(got.pop().as_deref(), Some("NOP"));
            assert_eq!(got, *want, "{x86}");
        }
        // AT&T: the source first, size suffixes, `%` registers, `(x)` addresses.
        assert_eq!(
            translated("X86_64", "movl $1,(x)\nmovq (y),%r9\ncmpq %rbx,%rax"),
            ["MOV X16,#1", "STR X16,[X19]", "LDR X9,[X20]", "CMP X0,X1"]
        );
    }
}
